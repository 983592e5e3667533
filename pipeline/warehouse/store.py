"""The warehouse folder: Parquet drops, their keys, the manifest, the lock.

Layout::

    warehouse/
      drops/date=YYYY-MM-DD/part-<run>-<n>.parquet  the drops (zstd), Hive-partitioned by UTC date
      _keys/date=YYYY-MM-DD/part-<run>-<n>.parquet  their de-duplication keys (same names)
      _manifest.json                             what was ingested (written last)
      _runs/<run>-skipped.csv                    every skipped line of a run that skipped any
      .lock                                      held by the one ingest that may write

Crash safety.  A run writes everything into ``.staging/<run>/`` first.  When all
of it is written and flushed, a journal (``_publish.json``) listing the moves is
written atomically: that is the commit point.  The files are then renamed into
place and the manifest replaced; the journal is removed last.  A run killed
before the commit point left only staging files, which the next run deletes:
the warehouse is as it was.  A run killed after it is completed by the next
writer (the moves are idempotent): the warehouse is as if the run had finished.
Published files are never rewritten, so readers need no lock and never see a
partial file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import filelock
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..schema import DROPS_SCHEMA
from .keys import KEYS_SCHEMA, KeyIndex
from .manifest import Manifest, fsync_dir, write_atomically

ROW_GROUP_ROWS = 128 * 1024
MAX_OPEN_WRITERS = 4
#: Row groups handed to the writer thread and not yet written (each up to ROW_GROUP_ROWS rows).
WRITES_IN_FLIGHT = 1
CRASH_ENV = "IPSEC_DROPS_TEST_KILL_AT"  # test hook: simulate a kill at a named point of publishing


class WarehouseLocked(RuntimeError):
    """Another ingest holds the warehouse lock."""


def _maybe_crash(point: str) -> None:
    if os.environ.get(CRASH_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


class Warehouse:
    """A warehouse folder.  Reading needs nothing; writing goes through :meth:`writer`."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.drops_dir = self.root / "drops"
        self.keys_dir = self.root / "_keys"
        self.manifest_path = self.root / "_manifest.json"
        self.journal_path = self.root / "_publish.json"
        self.staging_dir = self.root / ".staging"
        self.runs_dir = self.root / "_runs"
        self.lock_path = self.root / ".lock"
        self.lock_info_path = self.root / ".lock.info"

    # -- reading ---------------------------------------------------------------------------
    def manifest(self) -> Manifest:
        return Manifest.load(self.manifest_path)

    def drop_files(self) -> list[Path]:
        return sorted(self.drops_dir.glob("date=*/*.parquet")) if self.drops_dir.is_dir() else []

    def drops_glob(self) -> str:
        """The glob a reader (DuckDB, pyarrow) uses for the drops dataset."""
        return str(self.drops_dir / "**" / "*.parquet")

    # -- writing ---------------------------------------------------------------------------
    def lock(self) -> filelock.FileLock:
        """Take the writer lock or raise :class:`WarehouseLocked` naming the holder."""
        self.root.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(self.lock_path), timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            holder = ""
            try:
                info = json.loads(self.lock_info_path.read_text(encoding="utf-8"))
                holder = f" (pid {info.get('pid')} on {info.get('host')}, since {info.get('since')})"
            except (OSError, ValueError):
                pass
            raise WarehouseLocked(
                f"another ingest is writing to {self.root}{holder}; wait for it to finish and run again"
            ) from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": _now()}
        self.lock_info_path.write_text(json.dumps(info), encoding="utf-8")
        return lock

    def recover(self) -> str | None:
        """Finish a publish that passed its commit point, drop staging files of runs that did not.

        Call with the lock held.  Returns what was done, for the run summary.
        """
        done = None
        if self.journal_path.exists():
            journal = json.loads(self.journal_path.read_text(encoding="utf-8"))
            self._apply_moves(journal)
            done = f"completed the interrupted publish of run {journal['run']}"
        if self.staging_dir.exists():
            leftovers = [p.name for p in self.staging_dir.iterdir()]
            shutil.rmtree(self.staging_dir, ignore_errors=True)
            if leftovers and done is None:
                done = f"discarded the unpublished output of interrupted run(s) {', '.join(leftovers)}"
        return done

    def _apply_moves(self, journal: dict) -> None:
        for src, dst in journal["moves"]:
            src_p, dst_p = self.root / src, self.root / dst
            if src_p.exists():
                dst_p.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src_p, dst_p)
                _maybe_crash("mid-publish")
        for folder in {(self.root / dst).parent for _, dst in journal["moves"]}:
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

    def writer(self) -> RunWriter:
        return RunWriter(self)


class RunWriter:
    """Writes one run's new drops to staging, de-duplicated, and publishes them atomically."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.wh = warehouse
        self.run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        self.stage = warehouse.staging_dir / self.run_id
        self.keys = KeyIndex(warehouse.keys_dir)
        self._buffers: dict[str, list[tuple[pa.Table, np.ndarray]]] = {}
        self._buffered: dict[str, int] = {}
        self._writers: dict[str, _PartWriters] = {}  # least recently used first
        self._parts: dict[str, int] = {}
        self.rows_written = 0
        # Parquet encoding and compression release the GIL: they run on one thread of their own,
        # in order, while the next batches are read and extracted.  At most WRITES_IN_FLIGHT
        # row groups wait, so memory stays bounded.
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-writer")
        self._in_flight: deque[Future] = deque()
        self._write_error: BaseException | None = None  # sticky: a failed write fails the whole run

    def add(self, drops: pa.Table, key_hashes: np.ndarray) -> tuple[int, int]:
        """Stage the drops not yet stored; returns (stored, duplicates)."""
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
                self._buffer(date, drops, key_hashes)
            elif keep[-1] - keep[0] + 1 == len(keep):  # a run of rows (logs are in time order): no copy
                self._buffer(date, drops.slice(int(keep[0]), len(keep)), key_hashes[keep])
            else:
                self._buffer(date, drops.take(pa.array(keep)), key_hashes[keep])
            stored += len(keep)
        self.rows_written += stored
        return stored, drops.num_rows - stored

    def _buffer(self, date: str, table: pa.Table, keys: np.ndarray) -> None:
        self._buffers.setdefault(date, []).append((table, keys))
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
                                               self.stage / "_keys" / f"date={date}" / name)
        else:
            self._writers[date] = self._writers.pop(date)  # most recently used last
        # Rows go out in arrival order: logs are written in time order, so row-group statistics
        # on event_time stay tight without a sort (which would copy every message once more).
        self._submit(_write_part, self._writers[date], [t for t, _ in parts], np.concatenate([k for _, k in parts]))

    def _submit(self, fn, *args) -> None:
        """Queue ``fn(*args)`` on the writer thread; wait while too many writes are queued."""
        self._in_flight.append(self._io.submit(fn, *args))
        while len(self._in_flight) > WRITES_IN_FLIGHT:
            self._wait(self._in_flight.popleft())

    def _drain(self) -> None:
        while self._in_flight:
            self._wait(self._in_flight.popleft())
        if self._write_error is not None:
            raise OSError(f"writing the run's Parquet files failed: {self._write_error}") from self._write_error

    def _wait(self, future: Future) -> None:
        try:
            future.result()
        except Exception as exc:
            self._write_error = self._write_error or exc
            raise

    def publish(self, manifest: Manifest, skipped_csv: Path | None = None) -> None:
        """Make the run visible: commit through the journal, move files, replace the manifest."""
        for date in list(self._buffers):
            self._flush(date)
        for writers in self._writers.values():
            self._submit(_close_writers, writers)
        self._writers.clear()
        self._drain()
        self._io.shutdown(wait=True)
        self.stage.mkdir(parents=True, exist_ok=True)
        moves = []
        for path in sorted(self.stage.rglob("*.parquet")):
            rel = path.relative_to(self.stage)
            moves.append([str(path.relative_to(self.wh.root)), str(rel)])
            _fsync_file(path)
        if skipped_csv is not None and skipped_csv.exists():
            target = Path("_runs") / skipped_csv.name
            staged = self.stage / target
            staged.parent.mkdir(parents=True, exist_ok=True)
            os.replace(skipped_csv, staged)
            moves.append([str(staged.relative_to(self.wh.root)), str(target)])
        manifest_stage = self.stage / "_manifest.json"
        write_atomically(manifest_stage, manifest.to_json())
        _maybe_crash("before-commit")
        journal = {"run": self.run_id, "moves": moves, "manifest": str(manifest_stage.relative_to(self.wh.root))}
        write_atomically(self.wh.journal_path, json.dumps(journal))
        _maybe_crash("after-commit")
        self.wh._apply_moves(journal)

    def abandon(self) -> None:
        for writers in self._writers.values():
            self._in_flight.append(self._io.submit(_close_writers, writers))
        self._writers.clear()
        for future in self._in_flight:
            with contextlib.suppress(Exception):  # best effort while giving up
                future.result()
        self._in_flight.clear()
        self._io.shutdown(wait=True)
        shutil.rmtree(self.stage, ignore_errors=True)


#: Columns worth a dictionary: not the message, the times or record numbers (unique per row: a
#: dictionary would be built for every row group and then abandoned).
_DICTIONARY = [name for name in DROPS_SCHEMA.names if name not in ("message", "event_time", "source_record")]


class _PartWriters:
    """The two Parquet files of one staged part (drops and their keys), opened on first write."""

    def __init__(self, drops_path: Path, keys_path: Path) -> None:
        self.drops_path, self.keys_path = drops_path, keys_path
        self.drops: pq.ParquetWriter | None = None
        self.keys: pq.ParquetWriter | None = None


def _write_part(part: _PartWriters, tables: list[pa.Table], keys: np.ndarray) -> None:
    """Append one row group of drops and their keys (runs on the writer thread)."""
    if part.drops is None:
        part.drops_path.parent.mkdir(parents=True, exist_ok=True)
        part.keys_path.parent.mkdir(parents=True, exist_ok=True)
        part.drops = pq.ParquetWriter(part.drops_path, DROPS_SCHEMA, compression="zstd", use_dictionary=_DICTIONARY)
        part.keys = pq.ParquetWriter(part.keys_path, KEYS_SCHEMA, compression="zstd")
    part.drops.write_table(pa.concat_tables(tables), row_group_size=ROW_GROUP_ROWS)
    part.keys.write_table(pa.table({"key": pa.array(keys, pa.uint64())}, schema=KEYS_SCHEMA))


def _close_writers(part: _PartWriters) -> None:
    for writer in (part.drops, part.keys):
        if writer is not None:
            writer.close()


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


__all__ = ["Warehouse", "RunWriter", "WarehouseLocked"]
