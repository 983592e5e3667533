"""One piece of an EVTX file, as a worker process reads it (see :mod:`.evtx_workers`).

This module is all a worker imports besides the reader (:mod:`.evtx`) and the ``evtx``
package, so that a worker starts in a few tens of milliseconds.
"""

from __future__ import annotations

import os
import pickle
import sys
from typing import BinaryIO

from .evtx import EVENT, HEADER_SIZE, EvtxEvent, scan_records

CHUNK_SIZE = 65536


#: What a file is, whatever its name: (device, inode).  A worker reads a piece only from the file the
#: parent opened; a file put in its place meanwhile (a copy renamed over it) is not read.
Identity = tuple[int, int]


def identity_of(fd: int) -> Identity:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


class ChunkSlice:
    """A read-only file of the file header of ``source`` followed by its chunks ``[first, end)``.

    To the engine this is an EVTX file of ``end - first`` chunks: chunk ``n`` of the view is chunk
    ``first + n`` of the file.  The header is the file's own; the engine does not go by its chunk count.
    The engine reads a chunk in a few parts: each chunk is read from the file once, whole.

    ``source`` is a path (opened here; ``identity``, if given, must be the file's) or an open binary
    file (read with ``pread`` where there is one, and left open).
    """

    def __init__(self, source: str | os.PathLike[str] | BinaryIO, first: int, end: int,
                 identity: Identity | None = None) -> None:
        if isinstance(source, str | os.PathLike):
            self._file: BinaryIO = open(source, "rb", buffering=0)  # noqa: SIM115 - closed by close()
            self._own = True
            if identity is not None and identity_of(self._file.fileno()) != identity:
                self._file.close()
                raise OSError(f"{os.fspath(source)} is no longer the file being read (replaced meanwhile)")
        else:
            self._file, self._own = source, False
        self._fd = self._file.fileno()
        self._first = first
        self._length = HEADER_SIZE + (end - first) * CHUNK_SIZE
        self._pos = 0
        self._chunk = -1  # the chunk (of the view) in _data
        self._data = b""

    def _pread(self, n: int, offset: int) -> bytes:
        if _pread is not None:
            return _pread(self._fd, n, offset)
        self._file.seek(offset)
        return self._file.read(n)

    def read(self, n: int | None = -1) -> bytes:
        pos = self._pos
        left = self._length - pos
        if n is None or n < 0 or n > left:
            n = left
        if n <= 0:
            return b""
        if pos < HEADER_SIZE:
            data = self._pread(min(n, HEADER_SIZE - pos), pos)
            self._pos = pos + len(data)
            if len(data) == n or self._pos < HEADER_SIZE:
                return data
            return data + self.read(n - len(data))
        parts = []
        while n > 0:
            chunk, at = divmod(pos - HEADER_SIZE, CHUNK_SIZE)
            if chunk != self._chunk:
                self._data = self._pread(CHUNK_SIZE, HEADER_SIZE + (self._first + chunk) * CHUNK_SIZE)
                self._chunk = chunk
            part = self._data[at : at + n]
            if not part:  # the file is shorter than it was
                break
            parts.append(part)
            pos += len(part)
            n -= len(part)
        self._pos = pos
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 1:
            offset += self._pos
        elif whence == 2:
            offset += self._length
        if offset < 0:
            raise OSError(22, "negative seek position")
        self._pos = offset
        return offset

    def tell(self) -> int:
        return self._pos

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def close(self) -> None:
        self._data = b""
        if self._own:
            self._file.close()


_pread = getattr(os, "pread", None)


def scan_piece(source: str | os.PathLike[str] | BinaryIO, first: int, end: int, skip_through: int | None,
               identity: Identity | None = None) -> list[tuple]:
    """What :func:`.evtx.scan_records` reports of chunks ``[first, end)``, positions counted from the piece."""
    from evtx import PyEvtxParser

    view = ChunkSlice(source, first, end, identity)
    try:
        return list(scan_records(PyEvtxParser(view).records_json(), skip_through, chunk_base=first))
    finally:
        view.close()


def packed(items: list[tuple]) -> list[tuple]:
    """``items`` with each event as a tuple whose repeated strings are shared (see :func:`unpacked`).

    A pickle writes an object it has written before as a reference: the names of the values
    and the values that recur (provider, channel, computer, ``%%14592``, ``-``, ports) then
    cross the pipe once per piece, and a fifth of the bytes are unpickled four times faster.
    """
    layouts: dict[tuple, tuple] = {}
    shared: dict = {}
    same = shared.setdefault
    out = []
    for seen, kind, a, b in items:
        if kind == EVENT:
            data = a.data
            names: tuple | None = None
            if isinstance(data, dict):
                layout = tuple(data)
                names = layouts.setdefault(layout, layout)
                values = tuple([same(v, v) for v in data.values()])
            else:
                values = tuple([same(v, v) for v in data])
            a = (a.record_id, a.event_id, same(a.provider, a.provider), same(a.channel, a.channel),
                 same(a.computer, a.computer), a.time_created, names, values, a.written, a.header_record)
        out.append((seen, kind, a, b))
    return out


def unpacked(event: tuple) -> EvtxEvent:
    """The :class:`EvtxEvent` of a tuple of :func:`packed`."""
    record_id, event_id, provider, channel, computer, created, names, values, written, header = event
    data = dict(zip(names, values, strict=True)) if names is not None else list(values)
    return EvtxEvent(record_id, event_id, provider, channel, computer, created, data, written, header)


# -- the worker process -------------------------------------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before that took effect
        os._exit(1)


def worker_main(parent: int) -> None:
    """Read pieces named on stdin, write what their scans report to stdout (pickles), until stdin ends."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops us
    _die_with_parent(parent)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the results
    tasks = sys.stdin.buffer
    while True:
        try:
            path, identity, first, end, skip_through = pickle.load(tasks)
        except (EOFError, OSError, pickle.UnpicklingError):
            return
        try:
            message: tuple = ("ok", packed(scan_piece(path, first, end, skip_through, identity)))
        except BaseException as exc:  # noqa: BLE001 - the parent reads the piece again and meets it itself
            message = ("failed", f"{type(exc).__name__}: {exc}")
        try:
            pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()
        except OSError:
            return
