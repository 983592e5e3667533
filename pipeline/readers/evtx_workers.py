"""EVTX on several cores: the Rust engine reads pieces of one file in worker processes.

The engine's record iterator holds the GIL and runs on one core, but an EVTX file is a
4 KiB file header followed by independent 64 KiB chunks (each with its own string and
template tables).  A worker is given a view of the file that holds the header and one
piece of consecutive chunks (:class:`ChunkSlice`): to the engine, that is a whole EVTX
file.  It scans the piece exactly as one process scans a file (:func:`.evtx.scan_records`:
the same filter, ``skip_through`` and per-record error handling) and sends back only what
the scan reports — candidate events (a few percent of the records), undecodable
candidates and read errors — each with its position among the records counted.

The parent takes the pieces' reports in file order and renumbers them as one scan of the
whole file (positions, the chunk numbers in messages, the last record before an error), so
:func:`.evtx.batches_of` makes the same batches, counts and issues as from one process.

Workers are plain ``python -c`` processes on pipes (no ``multiprocessing``: nothing of the
parent's ``__main__`` is imported again, and start-up stays at the interpreter, this
module and the ``evtx`` package).  They die with the parent (Linux: ``PR_SET_PDEATHSIG``;
everywhere: their pipe closes and they exit), ignore Ctrl-C (the parent stops them) and
are killed when the scan ends or is abandoned.  A worker that fails or cannot be started
leaves its pieces to the parent, which reads them itself: the result is the same.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .evtx import END, EVENT, HEADER_SIZE, READ_ERROR
from .evtx_piece import CHUNK_SIZE, ChunkSlice, Identity, identity_of, packed, scan_piece, unpacked

__all__ = ["ChunkSlice", "packed", "pieces_of", "scan_in_workers", "scan_piece", "settings", "unpacked"]

#: Files smaller than this are read in one process: starting the workers costs more than they save.
PARALLEL_MIN_BYTES = 64 << 20
#: Chunks per piece (4 MiB, ~7,500 records of a Security log): small enough to balance the workers
#: and keep what is in flight small, large enough that a piece's fixed cost does not show.
PIECE_CHUNKS = 64
#: Worker processes at most (fewer on fewer cores; one means no workers).
MAX_WORKERS = 4
#: Pieces queued per worker, so that none waits while the parent takes a result or is not on a core
#: (a busy machine): what is in flight stays a few MiB at most.
DEPTH = 8
#: The pipe a worker writes its results to, enlarged (Linux) to hold several pieces' results.
PIPE_BYTES = 1 << 20

ENV_WORKERS = "IPSEC_DROPS_EVTX_WORKERS"
ENV_MIN_BYTES = "IPSEC_DROPS_EVTX_PARALLEL_MIN"
ENV_PIECE_CHUNKS = "IPSEC_DROPS_EVTX_PIECE_CHUNKS"

log = logging.getLogger(__name__)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _env_int(name: str) -> int | None:
    text = os.environ.get(name, "").strip()
    try:
        return int(text) if text else None
    except ValueError:
        return None


def settings(workers: int | None = None, min_bytes: int | None = None,
             piece_chunks: int | None = None) -> tuple[int, int, int]:
    """Worker processes, the smallest file they read, chunks per piece: as given, else the environment
    (:data:`ENV_WORKERS`, :data:`ENV_MIN_BYTES`, :data:`ENV_PIECE_CHUNKS`), else the defaults."""
    if workers is None:
        workers = _env_int(ENV_WORKERS)
    if workers is None:
        workers = min(_cores(), MAX_WORKERS)
    if min_bytes is None:
        min_bytes = _env_int(ENV_MIN_BYTES)
    if min_bytes is None:
        min_bytes = PARALLEL_MIN_BYTES
    if piece_chunks is None:
        piece_chunks = _env_int(ENV_PIECE_CHUNKS) or PIECE_CHUNKS
    return max(workers, 1), max(min_bytes, 0), max(piece_chunks, 1)


def pieces_of(path: str | os.PathLike[str], size: int, piece_chunks: int) -> list[tuple[int, int]]:
    """The chunk ranges ``[first, end)`` the engine reads in a file of ``size`` bytes, ``piece_chunks`` each.

    The engine reads chunk ``n`` at ``4096 + n * 65536`` for every ``n`` below the file's size less its
    header block size, in chunks (it reads past a stale chunk count): those are split.  A header
    block size other than 4 KiB gives [] (read in one process, as it always was).
    """
    with open(path, "rb") as fh:
        header = fh.read(HEADER_SIZE)
    if len(header) < HEADER_SIZE or int.from_bytes(header[40:42], "little") != HEADER_SIZE:
        return []
    chunks = (size - HEADER_SIZE) // CHUNK_SIZE
    return [(first, min(first + piece_chunks, chunks)) for first in range(0, chunks, piece_chunks)]


def scan_in_workers(path: str | os.PathLike[str], pieces: list[tuple[int, int]], skip_through: int | None,
                    workers: int) -> Iterator[tuple]:
    """The items of one scan of the whole file (as :func:`.evtx.scan_records` gives them), read in pieces.

    The file is held open throughout: the workers read only the file it is (see :data:`.evtx_piece.Identity`),
    and the pieces read here are read from it.
    """
    held = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below
    try:
        yield from _scan_held(held, str(path), pieces, skip_through, workers)
    finally:
        held.close()


def _scan_held(held: BinaryIO, path: str, pieces: list[tuple[int, int]], skip_through: int | None,
               workers: int) -> Iterator[tuple]:
    pool = _Pool(path, identity_of(held.fileno()), pieces, skip_through, min(workers, len(pieces)))
    try:
        base = 0  # records counted in the pieces before
        last = None  # the last record read in the pieces before
        for i, (first, end) in enumerate(pieces):
            items = pool.result(i)
            if items is None:  # no worker for it: read it here
                items = scan_piece(held, first, end, skip_through)
            else:
                items = [(seen, kind, unpacked(a) if kind == EVENT else a, b) for seen, kind, a, b in items]
            for seen, kind, a, b in items:
                if kind == END:
                    base += seen
                    if a is not None:
                        last = a
                    break
                if kind == READ_ERROR and b is None:
                    b = last
                yield seen + base, kind, a, b
        yield base, END, last, None
    finally:
        pool.close()


class _Pool:
    """Worker processes, piece ``i`` going to worker ``i % n``; results are taken in piece order."""

    def __init__(self, path: str, identity: Identity, pieces: list[tuple[int, int]], skip_through: int | None,
                 n: int) -> None:
        self.path, self.identity, self.pieces, self.skip_through = path, identity, pieces, skip_through
        self.procs: list[subprocess.Popen | None] = []
        self.results: list[queue.Queue] = []
        self.threads: list[threading.Thread] = []
        for _ in range(n):
            self._start()
        for i in range(min(len(pieces), len(self.procs) * DEPTH)):
            self._send(i)

    def _start(self) -> None:
        root = str(Path(__file__).resolve().parents[2])  # the folder that holds this ``pipeline``
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        results: queue.Queue = queue.Queue()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", "import sys; from pipeline.readers.evtx_piece import worker_main; "
                 "worker_main(int(sys.argv[1]))", str(os.getpid())],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        except OSError as exc:
            log.warning("cannot start an EVTX worker process (%s): reading in this process", exc)
            proc = None
        self.procs.append(proc)
        self.results.append(results)
        if proc is not None:
            _enlarge_pipe(proc)
            thread = threading.Thread(target=_drain, args=(proc, results), name="evtx-worker-results", daemon=True)
            thread.start()
            self.threads.append(thread)

    def _send(self, i: int) -> None:
        w = i % len(self.procs)
        proc = self.procs[w]
        if proc is None:
            return
        first, end = self.pieces[i]
        try:
            assert proc.stdin is not None
            pickle.dump((self.path, self.identity, first, end, self.skip_through), proc.stdin,
                        protocol=pickle.HIGHEST_PROTOCOL)
            proc.stdin.flush()
        except OSError:
            self._lost(w, "its pipe closed")

    def _lost(self, w: int, why: str) -> None:
        proc = self.procs[w]
        if proc is not None:
            log.warning("EVTX worker process %s stopped (%s): its pieces are read in this process", proc.pid, why)
            _stop(proc)
            self.procs[w] = None

    def result(self, i: int) -> list[tuple] | None:
        """The items of piece ``i``; None when its worker is gone (the caller reads the piece itself)."""
        if not self.procs:
            return None
        w = i % len(self.procs)
        if self.procs[w] is None:
            return None
        message = self.results[w].get()
        if message is None or message[0] != "ok":
            self._lost(w, "it ended" if message is None else message[1])
            return None
        if i + len(self.procs) * DEPTH < len(self.pieces):
            self._send(i + len(self.procs) * DEPTH)
        return message[1]

    def close(self) -> None:
        for w, proc in enumerate(self.procs):
            if proc is not None:
                _stop(proc)
                self.procs[w] = None
        for thread in self.threads:
            thread.join(timeout=5)


def _enlarge_pipe(proc: subprocess.Popen) -> None:
    """Let a worker write several results ahead of the parent (Linux; elsewhere pipes stay as they are)."""
    try:
        import fcntl

        assert proc.stdout is not None
        fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass


def _stop(proc: subprocess.Popen) -> None:
    """Stop a worker now (it may be in the middle of a piece nobody wants any more) and reap it."""
    for pipe in (proc.stdin, proc.stdout):
        try:
            if pipe is not None:
                pipe.close()
        except OSError:
            pass
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _drain(proc: subprocess.Popen, results: queue.Queue) -> None:
    """Move a worker's results from its pipe to ``results`` (None once it has ended)."""
    try:
        assert proc.stdout is not None
        while True:
            results.put(pickle.load(proc.stdout))
    except Exception:  # noqa: BLE001 - EOF, a closed pipe, a cut message: the worker is gone
        results.put(None)
