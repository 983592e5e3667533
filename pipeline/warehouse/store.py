"""The warehouse folder: Parquet drops, their keys, the manifest, the lock, the publish journal.

Layout::

    warehouse/
      drops/date=YYYY-MM-DD/part-<run>-<n>.parquet  the drops (zstd), Hive-partitioned by UTC date
      _keys/date=YYYY-MM-DD/part-<run>-<n>.parquet  their de-duplication keys (same names)
      allowed/date=YYYY-MM-DD/part-<run>-1.parquet  observed permitted traffic, aggregated per day and flow
      _allowed_keys/date=YYYY-MM-DD/part-<run>-1.parquet  the keys of every event those rows count
      _manifest.json                             what was ingested and published (written last)
      _runs/<run>-skipped.csv                    every skipped line of a run that skipped any
      _quarantine/<repair>/...                   data parts a repair set aside (no keys: not de-duplicable)
      .lock, .lock.info                          held by the one writer; who holds it
      _publish.json                              the journal of a publish in progress (commit point)
      .staging/<run>/                            a run's files before they are published

Crash safety.  A run writes everything into ``.staging/<run>/`` first.  When all
of it is written and flushed, a journal (``_publish.json``) listing the moves and
deletions is written atomically: that is the commit point.  The files are then
renamed into place, the deletions done and the manifest replaced; the journal is
removed last.  A run killed before the commit point left only staging files,
which the next run deletes: the warehouse is as it was.  A run killed after it is
completed by the next writer (moves and deletions are idempotent: a move whose
source is gone and a deletion whose file is gone were done): the warehouse is as
if the run had finished.  Published files are never rewritten, so readers need no
lock and never see a partial file.

Failures.  Any error writing the warehouse (disk full, read-only, a refused name)
raises :class:`WarehouseError` naming the file; a run that fails before its commit
point removes its staging files, one that fails after it leaves the journal for
the next writer to complete.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import socket
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import filelock
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..schema import DROPS_SCHEMA
from .errors import WarehouseError, WarehouseLocked, wrap_os_error
from .keys import KEYS_SCHEMA, KeyIndex
from .manifest import Manifest, PartEntry, fsync_dir, write_atomically

ROW_GROUP_ROWS = 128 * 1024
MAX_OPEN_WRITERS = 4
#: Row groups handed to the writer thread and not yet written (each up to ROW_GROUP_ROWS rows).
WRITES_IN_FLIGHT = 1
CRASH_ENV = "IPSEC_DROPS_TEST_KILL_AT"  # test hook: simulate a kill at a named point of publishing
#: How long a writer refused by the lock waits for the holder to name itself (it writes ``.lock.info``
#: right after taking the lock, so only a race of a few milliseconds needs it), or for the lock to be free.
LOCK_INFO_WAIT = 2.0


_crash_seen: dict[str, int] = {}


def _maybe_crash(point: str) -> None:
    """The test hook: ``IPSEC_DROPS_TEST_KILL_AT=point`` kills the process the first time it reaches
    ``point``, ``point#n`` the n-th time (e.g. ``after-commit#2``: at the second commit of the process)."""
    wanted = os.environ.get(CRASH_ENV)
    if not wanted:
        return
    name, _, nth = wanted.partition("#")
    if name != point:
        return
    _crash_seen[point] = seen = _crash_seen.get(point, 0) + 1
    if seen >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def keys_path_of(data_rel: str) -> str:
    """``drops/date=D/x.parquet`` -> ``_keys/date=D/x.parquet`` (a part's keys have its name)."""
    parts = PurePosixPath(data_rel).parts
    return str(PurePosixPath("_keys", *parts[1:]))


def data_path_of(keys_rel: str) -> str:
    parts = PurePosixPath(keys_rel).parts
    return str(PurePosixPath("drops", *parts[1:]))


class WriterLock:
    """The held writer lock; :meth:`release` (or leaving a ``with`` block) gives it back."""

    def __init__(self, warehouse: Warehouse, lock: filelock.FileLock, token: str) -> None:
        self._wh, self._lock, self._token = warehouse, lock, token

    def release(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # the info is a courtesy: never fail a release over it
            info = json.loads(self._wh.lock_info_path.read_text(encoding="utf-8"))
            if info.get("token") == self._token:
                self._wh.lock_info_path.unlink()
        self._lock.release()

    def __enter__(self) -> WriterLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Warehouse:
    """A warehouse folder.  Reading needs nothing; writing goes through :meth:`writer`."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.drops_dir = self.root / "drops"
        self.keys_dir = self.root / "_keys"
        self.allowed_dir = self.root / "allowed"
        self.allowed_keys_dir = self.root / "_allowed_keys"
        self.manifest_path = self.root / "_manifest.json"
        self.journal_path = self.root / "_publish.json"
        self.staging_dir = self.root / ".staging"
        self.runs_dir = self.root / "_runs"
        self.quarantine_dir = self.root / "_quarantine"
        self.lock_path = self.root / ".lock"
        self.lock_info_path = self.root / ".lock.info"

    # -- reading ---------------------------------------------------------------------------
    def manifest(self) -> Manifest:
        """The manifest; :class:`WarehouseError` (naming the file and the way out) if it is damaged."""
        return Manifest.load(self.manifest_path)

    def drop_files(self) -> list[Path]:
        return sorted(self.drops_dir.glob("date=*/*.parquet")) if self.drops_dir.is_dir() else []

    def key_files(self) -> list[Path]:
        return sorted(self.keys_dir.glob("date=*/*.parquet")) if self.keys_dir.is_dir() else []

    def rel(self, path: Path) -> str:
        """``path`` relative to the root, with ``/`` (how the manifest and journal name files)."""
        return path.relative_to(self.root).as_posix()

    def allowed_files(self) -> list[Path]:
        return sorted(self.allowed_dir.glob("date=*/*.parquet")) if self.allowed_dir.is_dir() else []

    def drops_glob(self) -> str:
        """The glob a reader (DuckDB, pyarrow) uses for the drops dataset."""
        return str(self.drops_dir / "**" / "*.parquet")

    # -- the lock --------------------------------------------------------------------------
    def lock(self) -> WriterLock:
        """Take the writer lock, or raise :class:`WarehouseLocked` naming the holder.

        The holder writes who it is into ``.lock.info`` just after taking the lock.  A
        writer refused in between would find no (or a dead predecessor's) information,
        so it waits up to :data:`LOCK_INFO_WAIT` for a live holder to name itself; if the
        lock comes free meanwhile, it takes it.
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise wrap_os_error(exc, "cannot create the warehouse folder", self.root) from exc
        lock = filelock.FileLock(str(self.lock_path), timeout=0)
        deadline = time.monotonic() + LOCK_INFO_WAIT
        while True:
            try:
                lock.acquire()
                break
            except filelock.Timeout:
                holder = self._holder()
                if holder is not None or time.monotonic() >= deadline:
                    raise WarehouseLocked(
                        f"another ingest is writing to {self.root}{_describe_holder(holder)}; "
                        "wait for it to finish and run again") from None
                time.sleep(0.02)
            except OSError as exc:
                raise wrap_os_error(exc, "cannot take the writer lock", self.lock_path) from exc
        token = uuid.uuid4().hex
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": _now(), "token": token}
        try:
            _write_lock_info(self.lock_info_path, json.dumps(info))
        except OSError as exc:
            lock.release()
            raise wrap_os_error(exc, "cannot write", self.lock_info_path) from exc
        return WriterLock(self, lock, token)

    def _holder(self) -> dict | None:
        """Who holds the lock, from ``.lock.info``; None when it names nobody alive (yet)."""
        try:
            info = json.loads(self.lock_info_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(info, dict):
            return None
        pid = info.get("pid")
        if info.get("host") == socket.gethostname() and isinstance(pid, int) and not _alive(pid):
            return None  # left by a holder that was killed: the new one has not written yet
        return info

    # -- publishing ------------------------------------------------------------------------
    def recover(self) -> str | None:
        """Finish a publish that passed its commit point, drop staging files of runs that did not.

        Call with the lock held.  Returns what was done, for the run summary.
        """
        done = None
        if self.journal_path.exists():
            journal = self.read_journal()
            try:
                self.apply_journal(journal)
            except OSError as exc:
                raise wrap_os_error(
                    exc, f"cannot complete the interrupted publish of run {journal['run']}: failed on") from exc
            done = f"completed the interrupted publish of run {journal['run']}"
        if self.staging_dir.exists():
            leftovers = sorted(p.name for p in self.staging_dir.iterdir())
            shutil.rmtree(self.staging_dir, ignore_errors=True)
            if leftovers and done is None:
                done = f"discarded the unpublished output of interrupted run(s) {', '.join(leftovers)}"
        self.remove_dead_temporaries()
        return done

    def remove_dead_temporaries(self) -> list[Path]:
        """Delete the ``.<name>.tmp-<pid>`` files (see :func:`~.manifest.write_atomically`) of writers killed
        mid-write: in the root (manifest, journal, lock info), ``_runs/`` and the policy tables; only those
        whose process is gone, so a live writer's file is never touched.  Returns what was deleted."""
        gone = []
        folders = [self.root, self.runs_dir, *sorted((self.root / "policy").glob("*/"))]
        for folder in folders:
            try:
                names = list(folder.glob(".*.tmp-*"))
            except OSError:
                continue
            for path in names:
                pid = path.name.rpartition(".tmp-")[2]
                if pid.isdigit() and not _alive(int(pid)):
                    with contextlib.suppress(OSError):
                        path.unlink()
                        gone.append(path)
        return gone

    def read_journal(self) -> dict:
        """The publish journal, checked: every path relative and inside the warehouse."""
        path = self.journal_path
        try:
            journal = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise WarehouseError(f"the publish journal {path} cannot be read ({exc}); run `ipsec-drops repair` "
                                 "(it sets the journal aside and rebuilds the manifest from the files present)",
                                 path) from exc
        ok = isinstance(journal, dict) and isinstance(journal.get("run"), str) and isinstance(
            journal.get("manifest"), str)
        moves, deletes = (journal.get("moves", []), journal.get("deletes", [])) if ok else ([], [])
        swaps, retire = (journal.get("exchanges", []), journal.get("retire", [])) if ok else ([], [])
        ok = ok and isinstance(moves, list) and all(isinstance(m, list) and len(m) == 2 for m in moves)
        ok = ok and isinstance(deletes, list) and isinstance(retire, list)
        ok = ok and isinstance(swaps, list) and all(isinstance(x, list) and len(x) == 3 for x in swaps)
        paths = [journal["manifest"], *[p for m in moves for p in m], *deletes, *[p for x in swaps for p in x],
                 *retire] if ok else []
        if not ok or not all(isinstance(p, str) and _inside(p) for p in paths):
            raise WarehouseError(f"the publish journal {path} has the wrong shape; run `ipsec-drops repair`", path)
        return journal

    def write_journal(self, run_id: str, stage: Path, manifest: Manifest, moves: list[list[str]],
                      deletes: Iterable[str] = (), exchanges: Iterable[list[str]] = (),
                      retire: Iterable[str] = ()) -> dict:
        """Stage the new manifest and write the journal: the commit point.  Returns the journal."""
        manifest_stage = stage / "_manifest.json"
        try:
            stage.mkdir(parents=True, exist_ok=True)
            write_atomically(manifest_stage, manifest.to_json())
        except OSError as exc:
            raise wrap_os_error(exc, "cannot write", manifest_stage) from exc
        _maybe_crash("before-commit")
        journal = {"run": run_id, "moves": moves, "deletes": list(deletes), "manifest": self.rel(manifest_stage),
                   "exchanges": [list(x) for x in exchanges], "retire": list(retire)}
        try:
            write_atomically(self.journal_path, json.dumps(journal))
        except OSError as exc:
            raise wrap_os_error(exc, "cannot write", self.journal_path) from exc
        return journal

    def apply_journal(self, journal: dict) -> None:
        """Do what a committed journal says: moves, then deletions, then the manifest; idempotent.

        Moves come before deletions so that a later compaction (new part in, old parts out)
        can never lose a row, only briefly show one twice.
        """
        moves, deletes = journal.get("moves", []), journal.get("deletes", [])
        for staged, target, marker in journal.get("exchanges", []):
            # a partition rebuilt beside its folder (compaction) takes the folder's place in one step:
            # a reader lists the old files or the new one, never both or neither
            staged_p, target_p = self.root / staged, self.root / target
            if staged_p.exists() and not (target_p / marker).exists():
                _exchange(staged_p, target_p)
                _maybe_crash("mid-exchange")
            shutil.rmtree(staged_p, ignore_errors=True)  # now holds the old files
        for rel in journal.get("retire", []):
            # a whole partition out (retention): renamed out of sight in one step, then deleted
            folder = self.root / rel
            hidden = folder.with_name(".retired-" + folder.name)
            if folder.exists():
                os.replace(folder, hidden)
                _maybe_crash("mid-retire")
            shutil.rmtree(hidden, ignore_errors=True)
        for src, dst in moves:
            src_p, dst_p = self.root / src, self.root / dst
            if src_p.exists():
                dst_p.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src_p, dst_p)
                _maybe_crash("mid-publish")
        for rel in deletes:
            (self.root / rel).unlink(missing_ok=True)
            _maybe_crash("mid-delete")
        for folder in sorted({(self.root / rel).parent for rel in deletes} | {(self.root / s).parent
                                                                             for s, _ in moves}):
            if folder.name.startswith("date=") and folder.is_dir() and not any(folder.iterdir()):
                with contextlib.suppress(OSError):
                    folder.rmdir()
        for folder in {(self.root / dst).parent for _, dst in moves} | {(self.root / r).parent for r in deletes}:
            if folder.exists():
                fsync_dir(folder)
        _maybe_crash("before-manifest")
        manifest_src = self.root / journal["manifest"]
        if manifest_src.exists():
            os.replace(manifest_src, self.manifest_path)
            fsync_dir(self.root)
        self.journal_path.unlink(missing_ok=True)
        run_dir = self.staging_dir / journal["run"]
        shutil.rmtree(run_dir, ignore_errors=True)
        with contextlib.suppress(OSError):  # not empty (or already gone)
            self.staging_dir.rmdir()

    def commit(self, run_id: str, stage: Path, manifest: Manifest, moves: list[list[str]],
               deletes: Iterable[str] = (), on_commit: Callable[[], None] | None = None, *,
               exchanges: Iterable[list[str]] = (), retire: Iterable[str] = ()) -> None:
        """Publish moves and deletions with a new manifest, crash-safe through the journal (lock held).

        :class:`WarehouseError` on failure; before the commit point nothing changed, after it the
        next writer's :meth:`recover` completes the publish.
        """
        journal = self.write_journal(run_id, stage, manifest, moves, deletes, exchanges, retire)
        if on_commit is not None:
            on_commit()
        _maybe_crash("after-commit")
        try:
            self.apply_journal(journal)
        except OSError as exc:
            raise WarehouseError(
                f"run {run_id} was committed but could not be put in place ({exc}); the next ingest or "
                "`ipsec-drops repair` completes it once the warehouse is writable", exc.filename) from exc

    def writer(self) -> RunWriter:
        return RunWriter(self)

    def adopt_untracked_parts(self, manifest: Manifest) -> list[str]:
        """Record in ``manifest`` the parts present when it lists none (no manifest, or version 1).

        Only parts whose key file is present and has as many rows are taken; anything
        else is left for ``check`` to report and ``repair`` to settle.  Returns the parts adopted.
        """
        if manifest.parts is not None:
            return []
        manifest.parts = {}
        adopted = []
        for data in self.drop_files():
            rel = self.rel(data)
            keys = self.root / keys_path_of(rel)
            rows = _rows_or_none(data)
            if rows is not None and keys.exists() and _rows_or_none(keys) == rows:
                manifest.parts[rel] = PartEntry(rows=rows, run="", sources=[])
                adopted.append(rel)
        return adopted


def _exchange(a: Path, b: Path) -> None:
    """Swap two folders atomically (Linux ``renameat2(RENAME_EXCHANGE)``); elsewhere two renames.

    With the fallback a reader may, for an instant, find the partition missing (never doubled).
    """
    if _renameat2(a, b):
        return
    aside = b.with_name(".old-" + b.name)
    shutil.rmtree(aside, ignore_errors=True)
    if b.exists():
        os.replace(b, aside)
    os.replace(a, b)
    os.replace(aside, a)


def _renameat2(a: Path, b: Path) -> bool:
    if sys.platform != "linux":
        return False
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EXDEV, errno.ENOTSUP):
        return False  # the file system cannot exchange: the fallback
    raise OSError(err, os.strerror(err), str(b))


def _rows_or_none(path: Path) -> int | None:
    try:
        return pq.read_metadata(path).num_rows
    except (OSError, ValueError):
        return None


def _inside(rel: str) -> bool:
    p = PurePosixPath(rel)
    return bool(rel) and not p.is_absolute() and ".." not in p.parts and not rel.startswith("\\")


def _alive(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _describe_holder(info: dict | None) -> str:
    if info is None:
        return " (the holder has not said who it is)"
    return f" (pid {info.get('pid')} on {info.get('host')}, since {info.get('since')})"


def _write_lock_info(path: Path, text: str) -> None:
    write_atomically(path, text)


class RunWriter:
    """Writes one run's new drops to staging, de-duplicated, and publishes them atomically."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.wh = warehouse
        self.run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        self.stage = warehouse.staging_dir / self.run_id
        self.keys = KeyIndex(warehouse.keys_dir, warehouse.drops_dir)
        #: the allowed dataset's keys (one per event its rows count) and this run's days of it
        self.allowed_keys = KeyIndex(warehouse.allowed_keys_dir, warehouse.allowed_dir)
        self._allowed: dict[str, _AllowedDay] = {}
        self.allowed_events_written = 0
        self._buffers: dict[str, list[tuple[pa.Table, np.ndarray, str | None]]] = {}
        self._buffered: dict[str, int] = {}
        self._writers: dict[str, _PartWriters] = {}  # least recently used first
        self._parts: dict[str, int] = {}
        #: published path of each staged part -> [rows, source files]
        self.part_info: dict[str, tuple[list[int], set[str]]] = {}
        self.rows_written = 0
        self.committed = False
        # Parquet encoding and compression release the GIL: they run on one thread of their own,
        # in order, while the next batches are read and extracted.  At most WRITES_IN_FLIGHT
        # row groups wait, so memory stays bounded.
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-writer")
        self._in_flight: deque[Future] = deque()
        self._write_error: WarehouseError | None = None  # sticky: a failed write fails the whole run

    @property
    def skipped_csv_path(self) -> Path:
        """Where the run's list of skipped lines is written (inside its staging folder)."""
        return self.stage / "_runs" / f"{self.run_id}-skipped.csv"

    def add(self, drops: pa.Table, key_hashes: np.ndarray, source: str | None = None) -> tuple[int, int]:
        """Stage the drops not yet stored; returns (stored, duplicates).  ``source``: the file they came from."""
        if drops.num_rows == 0:
            return 0, 0
        times = drops.column("event_time")
        times = times.chunk(0) if times.num_chunks == 1 else times.combine_chunks()
        micros = times.cast(pa.int64()).to_numpy(zero_copy_only=False)
        days = micros // 86_400_000_000
        stored = 0
        for day in np.unique(days).tolist():
            date = str(np.datetime64(int(day), "D"))
            rows = np.flatnonzero(days == day)
            fresh = self.keys.for_date(date).fresh(key_hashes[rows])
            keep = rows[fresh]
            if len(keep) == 0:
                continue
            if len(keep) == drops.num_rows:  # the common case: one date, nothing seen before
                self._buffer(date, drops, key_hashes, source)
            elif keep[-1] - keep[0] + 1 == len(keep):  # a run of rows (logs are in time order): no copy
                self._buffer(date, drops.slice(int(keep[0]), len(keep)), key_hashes[keep], source)
            else:
                self._buffer(date, drops.take(pa.array(keep)), key_hashes[keep], source)
            stored += len(keep)
        self.rows_written += stored
        return stored, drops.num_rows - stored

    def add_allowed(self, events: pa.Table, key_hashes: np.ndarray, source: str | None = None) -> tuple[int, int]:
        """Stage observed permitted events not yet stored (``ALLOWED_EVENT_SCHEMA``); returns (stored, duplicates).

        The identity rules are the drops': an event's key is checked in its UTC date's keys; the fresh
        events' keys are written as they come (8 bytes each), the events themselves are folded into the
        day's aggregate every ``ROW_GROUP_ROWS`` events, so memory grows with the distinct flows of a day,
        not with the events.
        """
        if events.num_rows == 0:
            return 0, 0
        from ..extract.allowed import day_numbers

        days = day_numbers(events.column("event_time"))
        stored = 0
        for day in np.unique(days).tolist():
            date = str(np.datetime64(int(day), "D"))
            rows = np.flatnonzero(days == day)
            fresh = self.allowed_keys.for_date(date).fresh(key_hashes[rows])
            keep = rows[fresh]
            if len(keep) == 0:
                continue
            target = self._allowed.get(date)
            if target is None:
                name = f"part-{self.run_id}-1.parquet"
                target = self._allowed[date] = _AllowedDay(
                    self.stage / "allowed" / f"date={date}" / name,
                    self.stage / "_allowed_keys" / f"date={date}" / name, f"allowed/date={date}/{name}")
            rows_of_day = events if len(keep) == events.num_rows else events.take(pa.array(keep))
            target.add(rows_of_day, key_hashes[keep], source)
            stored += len(keep)
        self.allowed_events_written += stored
        return stored, events.num_rows - stored

    def _buffer(self, date: str, table: pa.Table, keys: np.ndarray, source: str | None) -> None:
        self._buffers.setdefault(date, []).append((table, keys, source))
        self._buffered[date] = self._buffered.get(date, 0) + table.num_rows
        if sum(self._buffered.values()) >= ROW_GROUP_ROWS:
            # One budget for all dates, so memory does not grow with the number of days in a file.
            for pending in list(self._buffers):
                self._flush(pending)

    def _flush(self, date: str) -> None:
        parts = self._buffers.pop(date, [])
        self._buffered.pop(date, None)
        if not parts:
            return
        if date not in self._writers:
            if len(self._writers) >= MAX_OPEN_WRITERS:
                # Each open writer holds encoders and buffers: keep a few (logs move forward in time).
                oldest = next(iter(self._writers))
                self._submit(_close_writers, self._writers.pop(oldest))
            self._parts[date] = self._parts.get(date, 0) + 1
            name = f"part-{self.run_id}-{self._parts[date]}.parquet"
            self._writers[date] = _PartWriters(self.stage / "drops" / f"date={date}" / name,
                                               self.stage / "_keys" / f"date={date}" / name,
                                               f"drops/date={date}/{name}")
        else:
            self._writers[date] = self._writers.pop(date)  # most recently used last
        part = self._writers[date]
        rows, sources = self.part_info.setdefault(part.published, ([0], set()))
        rows[0] += sum(t.num_rows for t, _, _ in parts)
        sources.update(s for _, _, s in parts if s is not None)
        # Rows go out in arrival order: logs are written in time order, so row-group statistics
        # on event_time stay tight without a sort (which would copy every message once more).
        self._submit(_write_part, part, [t for t, _, _ in parts], np.concatenate([k for _, k, _ in parts]))

    def _submit(self, fn: Callable[..., None], *args: Any) -> None:
        """Queue ``fn(*args)`` on the writer thread; wait while too many writes are queued."""
        if self._write_error is not None:
            raise self._write_error
        self._in_flight.append(self._io.submit(fn, *args))
        while len(self._in_flight) > WRITES_IN_FLIGHT:
            self._wait(self._in_flight.popleft())

    def _drain(self) -> None:
        while self._in_flight:
            self._wait(self._in_flight.popleft())
        if self._write_error is not None:
            raise self._write_error

    def _wait(self, future: Future) -> None:
        try:
            future.result()
        except WarehouseError as exc:
            self._write_error = self._write_error or exc
            raise self._write_error from exc
        except OSError as exc:
            self._write_error = self._write_error or wrap_os_error(exc, "cannot write the run's Parquet files in",
                                                                  exc.filename or self.stage)
            raise self._write_error from exc
        except Exception as exc:
            self._write_error = self._write_error or WarehouseError(
                f"writing the run's Parquet files failed: {type(exc).__name__}: {exc}")
            raise self._write_error from exc

    def publish(self, manifest: Manifest, skipped_csv: Path | None = None) -> list[str]:
        """Make the run visible: commit through the journal, move files, replace the manifest.

        Records each new part in ``manifest.parts`` and returns their paths.  On failure raises
        :class:`WarehouseError`; call :meth:`abandon` then (it keeps what a committed journal needs).
        """
        for date in list(self._buffers):
            self._flush(date)
        for writers in self._writers.values():
            self._submit(_close_writers, writers)
        self._writers.clear()
        self._drain()
        self._io.shutdown(wait=True)
        allowed_parts = {day.published: day.finish() for day in self._allowed.values()}
        self._allowed.clear()
        try:
            self.stage.mkdir(parents=True, exist_ok=True)
            moves = []
            for path in sorted(self.stage.rglob("*.parquet")):
                moves.append([self.wh.rel(path), path.relative_to(self.stage).as_posix()])
                _fsync_file(path)
            if skipped_csv is not None and skipped_csv.exists():
                target = Path("_runs") / skipped_csv.name
                staged = self.stage / target
                if skipped_csv != staged:
                    staged.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(skipped_csv, staged)
                _fsync_file(staged)
                moves.append([self.wh.rel(staged), target.as_posix()])
        except OSError as exc:
            raise wrap_os_error(exc, "cannot stage the run's files:") from exc
        if manifest.parts is None:
            self.wh.adopt_untracked_parts(manifest)
        assert manifest.parts is not None
        published = sorted(self.part_info)
        for name in published:
            rows, sources = self.part_info[name]
            manifest.parts[name] = PartEntry(rows=rows[0], run=self.run_id, sources=sorted(sources))
        for name, info in sorted(allowed_parts.items()):
            manifest.allowed_parts[name] = {**info, "run": self.run_id}
        self.wh.commit(self.run_id, self.stage, manifest, moves, on_commit=self._mark_committed)
        return published

    def _mark_committed(self) -> None:
        self.committed = True

    def abandon(self) -> None:
        """Give up the run: stop writing, remove its staging files (unless its journal was committed)."""
        for writers in self._writers.values():
            self._in_flight.append(self._io.submit(_close_writers, writers))
        self._writers.clear()
        for day in self._allowed.values():
            day.close()
        self._allowed.clear()
        for future in self._in_flight:
            with contextlib.suppress(Exception):  # best effort while giving up
                future.result()
        self._in_flight.clear()
        self._io.shutdown(wait=True)
        if not self.committed:
            shutil.rmtree(self.stage, ignore_errors=True)
            with contextlib.suppress(OSError):  # not empty (or already gone)
                self.wh.staging_dir.rmdir()


#: Columns worth a dictionary: not the message, the times or record numbers (unique per row: a
#: dictionary would be built for every row group and then abandoned).
_DICTIONARY = [name for name in DROPS_SCHEMA.names if name not in ("message", "event_time", "source_record")]
#: Columns with min/max statistics: not the message (long text no query filters on; its statistics
#: cost a tenth of the write and are truncated anyway).
_STATISTICS = [name for name in DROPS_SCHEMA.names if name != "message"]


class _PartWriters:
    """The two Parquet files of one staged part (drops and their keys), opened on first write."""

    def __init__(self, drops_path: Path, keys_path: Path, published: str) -> None:
        self.drops_path, self.keys_path, self.published = drops_path, keys_path, published
        self.drops: pq.ParquetWriter | None = None
        self.keys: pq.ParquetWriter | None = None


def _write_part(part: _PartWriters, tables: list[pa.Table], keys: np.ndarray) -> None:
    """Append one row group of drops and their keys (runs on the writer thread)."""
    path = part.drops_path
    try:
        if part.drops is None or part.keys is None:
            part.drops_path.parent.mkdir(parents=True, exist_ok=True)
            part.keys_path.parent.mkdir(parents=True, exist_ok=True)
            part.drops = pq.ParquetWriter(part.drops_path, DROPS_SCHEMA, compression="zstd",
                                          use_dictionary=_DICTIONARY, write_statistics=_STATISTICS)
            path = part.keys_path
            part.keys = pq.ParquetWriter(part.keys_path, KEYS_SCHEMA, compression="zstd")
        path = part.drops_path
        part.drops.write_table(pa.concat_tables(tables), row_group_size=ROW_GROUP_ROWS)
        path = part.keys_path
        part.keys.write_table(pa.table({"key": pa.array(keys, pa.uint64())}, schema=KEYS_SCHEMA))
    except OSError as exc:
        raise wrap_os_error(exc, "cannot write", path) from exc


class _AllowedDay:
    """One UTC day of a run's allowed events: their keys written as they come, the events aggregated."""

    def __init__(self, data_path: Path, keys_path: Path, published: str) -> None:
        self.data_path, self.keys_path, self.published = data_path, keys_path, published
        self.keys: pq.ParquetWriter | None = None
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.partial: pa.Table | None = None
        self.events = 0
        self.sources: set[str] = set()

    def add(self, events: pa.Table, keys: np.ndarray, source: str | None) -> None:
        path = self.keys_path
        try:
            if self.keys is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.keys = pq.ParquetWriter(path, KEYS_SCHEMA, compression="zstd")
            self.keys.write_table(pa.table({"key": pa.array(keys, pa.uint64())}, schema=KEYS_SCHEMA))
        except OSError as exc:
            raise wrap_os_error(exc, "cannot write", path) from exc
        self.pending.append(events)
        self.pending_rows += events.num_rows
        self.events += events.num_rows
        if source is not None:
            self.sources.add(source)
        if self.pending_rows >= ROW_GROUP_ROWS:
            self._fold()

    def _fold(self) -> None:
        from ..extract.allowed import aggregate

        if not self.pending:
            return
        folded = aggregate(pa.concat_tables(self.pending))
        self.partial = folded if self.partial is None else aggregate(pa.concat_tables([self.partial, folded]))
        self.pending, self.pending_rows = [], 0

    def finish(self) -> dict:
        """Write the day's aggregate and close its keys; what the manifest records of the part."""
        from ..schema import ALLOWED_SCHEMA

        self._fold()
        self.close()
        table = self.partial if self.partial is not None else ALLOWED_SCHEMA.empty_table()
        try:
            self.data_path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, self.data_path, compression="zstd")
        except OSError as exc:
            raise wrap_os_error(exc, "cannot write", self.data_path) from exc
        return {"rows": table.num_rows, "events": self.events, "sources": sorted(self.sources)}

    def close(self) -> None:
        if self.keys is not None:
            try:
                self.keys.close()
            except OSError as exc:
                raise wrap_os_error(exc, "cannot write", self.keys_path) from exc
            self.keys = None


def _close_writers(part: _PartWriters) -> None:
    for writer, path in ((part.drops, part.drops_path), (part.keys, part.keys_path)):
        if writer is not None:
            try:
                writer.close()
            except OSError as exc:
                raise wrap_os_error(exc, "cannot write", path) from exc


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


__all__ = ["RunWriter", "Warehouse", "WarehouseError", "WarehouseLocked", "WriterLock"]
