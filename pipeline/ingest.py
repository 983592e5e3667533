"""Ingest: exports in, de-duplicated drops out, safe to run every night.

For each file one job (:class:`_FileJob`): recognise the file by content (skip it
if unchanged, continue it if it grew, read it again if rows it refused can now be
placed), pick its reader, stream batches through the extractor into the run
writer, and record what happened.  What differs by format sits behind
:class:`_Source` (text exports: :class:`_TextSource`; EVTX: :class:`_EvtxSource`).
The run is published atomically at the end (see :mod:`pipeline.warehouse.store`).

Nothing here raises on bad input: every problem is an :class:`~pipeline.issues.Issue`
in the report.  A warehouse that cannot be written raises
:class:`~pipeline.warehouse.WarehouseError` (nothing is published).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .config import Config, shown
from .exit_codes import EXIT_FAILED, EXIT_LOCKED, EXIT_OK, EXIT_SKIPPED, EXIT_USAGE  # noqa: F401 - re-exported
from .extract import Extracted, OccurrenceCounter, SourceContext
from .extract.evtx_events import extract_evtx
from .extract.firewall import extract_firewall
from .extract.iis import extract_iis
from .extract.ipsec_driver import FIELDS_USED, extract_ipsec_driver
from .issues import Issue, IssueLog
from .localtime import FoldState
from .output import CsvSink
from .readers import detect_format
from .readers.evtx import ENGINES, EvtxEvent, EvtxUnreadable, check_header, expected_records, peek_identity, read_evtx
from .readers.iis import IisState, read_iis
from .readers.logparser_csv import CSVState, read_csv_export
from .readers.logparser_w3c import EvtRows, W3CState, read_w3c
from .readers.pfirewall import FirewallState, read_pfirewall
from .readers.textfile import TextLayout, sniff_layout
from .warehouse import FileEntry, Manifest, RunWriter, Warehouse, WarehouseError, hash_file, hash_identities
from .warehouse.errors import describe_os_error, wrap_os_error
from .warehouse.store import data_path_of, keys_path_of

#: Extensions never taken for exports when a folder is walked (configs, policies, docs).
NOT_EXPORTS = {".toml", ".md", ".json", ".py", ".cmd", ".bat", ".ps1", ".parquet", ".ipynb"}


@dataclass
class FileResult:
    """What happened to one input file."""

    path: str
    format: str | None
    host: str | None = None
    status: str = "ingested"  # ingested | resumed | reread | unchanged | refused | ignored | failed
    rows_read: int = 0
    drops_found: int = 0
    drops_stored: int = 0
    duplicates: int = 0
    #: observed permitted events (IIS requests, pfirewall ALLOW, WFP 5156/5158): found, newly stored
    allowed_found: int = 0
    allowed_stored: int = 0
    issues: IssueLog | None = None
    note: str = ""
    size: int = 0
    seconds: float = 0.0

    @property
    def skipped(self) -> int:
        return self.issues.skipped if self.issues else 0


@dataclass
class IngestReport:
    run_id: str
    files: list[FileResult] = field(default_factory=list)
    recovered: str | None = None
    skipped_csv: str | None = None
    #: bytes of all the input files (the progress bar's total)
    input_bytes: int = 0
    #: data parts this run published (paths relative to the warehouse)
    parts: list[str] = field(default_factory=list)
    #: damage met in the warehouse (e.g. keys whose data part is gone): rows this run could not store
    damage: list[str] = field(default_factory=list)

    def total(self, attr: str) -> int:
        return sum(getattr(f, attr) for f in self.files)

    @property
    def issues(self) -> list[Issue]:
        return [i for f in self.files if f.issues for i in f.issues.details]

    @property
    def refused_files(self) -> list[FileResult]:
        return [f for f in self.files if f.status in ("refused", "failed")]

    @property
    def exit_code(self) -> int:
        refused_parts = any(f.issues.refused for f in self.files if f.issues)  # e.g. a #Fields: block without EventID
        return EXIT_SKIPPED if self.total("skipped") or self.refused_files or refused_parts or self.damage else EXIT_OK

    def allowed_summary(self) -> str | None:
        """What the run did with observed permitted traffic (the ``allowed`` dataset); None when it met none."""
        found, stored = self.total("allowed_found"), self.total("allowed_stored")
        if not found:
            return None
        if not stored:
            return f"permitted traffic: {found:,} connection(s) found, all already stored"
        return f"permitted traffic: {stored:,} connection(s) stored" + (
            f", {found - stored:,} already stored" if found > stored else "")

    def summary(self) -> str:
        """The run's outcome in one line, saying what really happened (what the CLI prints).

        "nothing new" only when every file was already ingested; files read without a
        single drop event say so; drops all held already are "found, all already stored".
        """
        files = [f for f in self.files if f.status != "ignored"]
        passed_over = len(self.files) - len(files)
        if not files:
            return "no export files found" + (f" ({passed_over} other file(s) passed over)" if passed_over else "")
        unchanged = sum(1 for f in files if f.status == "unchanged")
        refused = len(self.refused_files)
        read = [f for f in files if f.status not in ("unchanged", "refused")]
        if unchanged == len(files):
            line = f"nothing new: every file was already ingested ({unchanged} file(s) unchanged)"
        else:
            found, stored, dups = self.total("drops_found"), self.total("drops_stored"), self.total("duplicates")
            parts = [f"{len(files)} file(s)", f"{self.total('rows_read'):,} records read"]
            if not read:
                pass
            elif found == 0:
                parts.append("no drop events among them")
            elif stored == 0:
                parts.append(f"{found:,} drop(s) found, all already stored")
            else:
                parts.append(f"{stored:,} drops stored")
                if dups:
                    parts.append(f"{dups:,} duplicates avoided")
            if self.total("skipped"):
                parts.append(f"{self.total('skipped'):,} skipped")
            if unchanged:
                parts.append(f"{unchanged} unchanged file(s) not read again")
            if refused:
                parts.append(f"{refused} file(s) refused")
            line = ", ".join(parts)
        if self.damage:
            line += f"; warehouse damaged ({len(self.damage)} problem(s)): run `ipsec-drops repair`"
        return line


ProgressHook = Callable[[str, int, int], None]  # (file, bytes done in file, file size)


@dataclass(frozen=True)
class InputFile:
    path: Path
    explicit: bool  # named on the command line (a file that is not an export is refused, not passed over)
    size: int
    mtime_ns: int = 0


@dataclass
class IngestPlan:
    """The input files of a run with their sizes: walked once, for the progress bar and for :func:`ingest`."""

    files: list[InputFile]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def plan_inputs(paths: Iterable[str | os.PathLike[str]], exclude: Iterable[str | os.PathLike[str]] = ()) -> IngestPlan:
    """The files to ingest (folders walked, sorted) with their sizes; pass the result to :func:`ingest`."""
    files = []
    for path, explicit in expand_inputs(paths, [Path(e) for e in exclude]):
        try:
            stat = path.stat()
            size, mtime = stat.st_size, stat.st_mtime_ns
        except OSError:
            size, mtime = 0, 0  # refused with its reason when the run reaches it
        files.append(InputFile(path, explicit, size, mtime))
    return IngestPlan(files)


def expand_inputs(paths: Iterable[str | os.PathLike[str]], exclude: Iterable[Path] = ()) -> list[tuple[Path, bool]]:
    """Files to ingest, each with whether it was named explicitly (folders are walked, sorted)."""
    excluded = [p.resolve() for p in exclude]
    out: list[tuple[Path, bool]] = []
    for raw in paths:
        p = Path(raw)
        try:
            is_dir = p.is_dir()
        except OSError:  # e.g. a name too long: the run refuses it with the reason
            is_dir = False
        if is_dir:
            for child in sorted(p.rglob("*")):
                if not child.is_file() or any(part.startswith(".") for part in child.relative_to(p).parts):
                    continue
                resolved = child.resolve()
                if any(resolved == e or e in resolved.parents for e in excluded):
                    continue
                if child.suffix.lower() in NOT_EXPORTS:
                    continue
                out.append((child, False))
        else:
            out.append((p, True))
    return out


def ingest(
    paths: Iterable[str | os.PathLike[str]] | IngestPlan,
    warehouse: Warehouse | str | os.PathLike[str],
    config: Config | None = None,
    *,
    host: str | None = None,
    source_tz: str | None = None,
    engine: str = "evtx",
    progress: ProgressHook | None = None,
    reread: bool = False,
) -> IngestReport:
    """Ingest files and folders (or an :func:`plan_inputs` plan) into the warehouse; returns the report.

    ``engine`` reads EVTX files: ``evtx`` (Rust, fast) or ``python-evtx`` (pure Python).
    ``reread`` reads every file again from its start, whatever the manifest says (the
    identity keys keep it from storing anything twice): after a ``repair``, or to be sure.
    ``host`` (``--host``) is the host of every file, over the inbox owner and the file's own name.

    Raises ValueError for a bad ``source_tz`` or ``engine``, :class:`WarehouseLocked` when another
    writer holds the lock, :class:`WarehouseError` when the warehouse cannot be read or written
    (nothing is published then).
    """
    wh = warehouse if isinstance(warehouse, Warehouse) else Warehouse(warehouse)
    config = config or Config()
    check_options(source_tz, engine)
    if isinstance(paths, IngestPlan):
        root = wh.root.resolve()
        plan = IngestPlan([f for f in paths.files if f.explicit or root not in f.path.resolve().parents])
    else:
        plan = plan_inputs(paths, exclude=[wh.root])
    lock = wh.lock()
    try:
        return _ingest_locked(plan, wh, config, host, source_tz, engine, progress, reread)
    finally:
        lock.release()


def _ingest_locked(plan: IngestPlan, wh: Warehouse, config: Config, host: str | None, source_tz: str | None,
                   engine: str, progress: ProgressHook | None, reread: bool) -> IngestReport:
    try:
        recovered = wh.recover()
    except OSError as exc:
        raise wrap_os_error(exc, "cannot clean up after an interrupted run: failed on") from exc
    manifest = wh.manifest()
    writer = wh.writer()
    report = IngestReport(writer.run_id, recovered=recovered, input_bytes=plan.total_bytes)
    skipped = _SkippedList(writer.skipped_csv_path)
    con = duckdb.connect()
    run = _Run(wh, writer, manifest, config, con, host, source_tz, engine, progress, skipped.write, reread)
    try:
        for item in plan.files:
            report.files.append(_ingest_file(item, run))
        report.damage = _damage(wh, manifest, writer)
        skipped_csv = skipped.close()
        manifest.runs.append(
            {
                "run": writer.run_id,
                "finished": datetime.now(UTC).isoformat(timespec="seconds"),
                "files": len(report.files),
                "rows_read": report.total("rows_read"),
                "drops_stored": report.total("drops_stored"),
                "duplicates": report.total("duplicates"),
                "allowed_stored": report.total("allowed_stored"),
                "skipped": report.total("skipped"),
                "refused_files": len(report.refused_files),
                "parts": len(writer.part_info),
                "reread": reread,
            }
        )
        report.parts = writer.publish(manifest, skipped_csv)
    except BaseException as exc:
        skipped.discard()
        writer.abandon()
        if isinstance(exc, OSError):  # not expected here (writes raise WarehouseError), but never a traceback
            raise _failed(wrap_os_error(exc, "cannot write"), writer) from exc
        if isinstance(exc, WarehouseError):
            raise _failed(exc, writer) from exc
        raise
    finally:
        con.close()
    if skipped_csv:
        report.skipped_csv = str(wh.runs_dir / skipped_csv.name)
    return report


def check_options(source_tz: str | None, engine: str) -> None:
    """``ValueError`` naming the option when ``--source-tz`` is not a zone or ``--engine`` not an EVTX engine
    (checked before anything is read, by every engine of ingest)."""
    if source_tz:
        try:
            ZoneInfo(source_tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"--source-tz {source_tz!r} is not an IANA zone name (e.g. 'Europe/Berlin')") from exc
    if engine not in ENGINES:
        raise ValueError(f"unknown EVTX engine {engine!r}; choose one of {', '.join(ENGINES)}")


def _damage(wh: Warehouse, manifest: Manifest, writer: RunWriter) -> list[str]:
    """Data parts gone behind the warehouse's back: the manifest's (one stat each, cheap enough for every run)
    and those whose key files this run loaded.  Their rows count as stored, so no ingest restores them."""
    found: dict[str, str] = {}
    for name, part in (manifest.parts or {}).items():
        if not (wh.root / name).exists():
            found[name] = f"{wh.root / name}: data part missing ({part.rows:,} rows lost"
    for keys, n in writer.keys.orphans:
        name = data_path_of(wh.rel(keys))
        found.setdefault(name, f"{wh.root / name}: data part missing ({n:,} rows lost")
    return [f"{text}; its keys keep them from being stored again)" if (wh.root / keys_path_of(name)).exists()
            else f"{text})" for name, text in sorted(found.items())]


def _failed(exc: WarehouseError, writer: RunWriter) -> WarehouseError:
    """The error of a failed run, saying what became of its output."""
    if writer.committed:
        return exc  # its message says the next run completes the publish
    return WarehouseError(f"{exc}; nothing was published (the run's staging files were removed)", exc.path)


class _SkippedList:
    """The run's CSV of every issue (skipped lines, refused files, warnings), written as they happen.

    It lives in the run's staging folder, so a failed run leaves none behind.
    """

    COLUMNS = ("file", "location", "kind", "reason", "rows", "text")
    BATCH = 1000

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sink: CsvSink | None = None
        self._pending: list[dict] = []

    def write(self, issue: Issue) -> None:
        self._pending.append({"file": issue.file, "location": issue.location, "kind": issue.kind,
                              "reason": issue.reason, "rows": issue.count, "text": issue.text})
        if len(self._pending) >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        try:
            if self._sink is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._sink = CsvSink(self.path, self.COLUMNS)
            self._sink.write_rows(self._pending)
        except OSError as exc:
            raise wrap_os_error(exc, "cannot write", self.path) from exc
        self._pending = []

    def close(self) -> Path | None:
        """The file's path, or None when nothing was written."""
        self._flush()
        if self._sink is None:
            return None
        try:
            self._sink.close()
        except OSError as exc:
            raise wrap_os_error(exc, "cannot write", self.path) from exc
        self._sink = None
        return self.path

    def discard(self) -> None:
        """Close without writing more (the run failed; its staging folder is removed)."""
        self._pending = []
        if self._sink is not None:
            with contextlib.suppress(OSError):
                self._sink.close()
            self._sink = None


@dataclass
class _Run:
    """What every file of one run shares."""

    wh: Warehouse
    writer: RunWriter
    manifest: Manifest
    config: Config
    con: duckdb.DuckDBPyConnection
    host_opt: str | None
    source_tz: str | None
    engine: str
    progress: ProgressHook | None
    sink: Callable[[Issue], None] | None = None
    reread: bool = False


# -- host attribution ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _AssignedHost:
    """The host a file's rows are stored under when the file itself does not decide it, and why."""

    name: str
    why: str  # "--host X was given" / "the file lies in the inbox of config host X"


def _assigned_host(path: Path, run: _Run) -> _AssignedHost | None:
    """One rule for every format: ``--host`` > the config host whose inbox holds the file > (None) the
    name the file gives itself (ComputerName / Computer, canonicalised through the config)."""
    if run.host_opt:
        cfg = run.config.host(run.host_opt)
        return _AssignedHost(cfg.name if cfg else run.host_opt, f"--host {run.host_opt} was given")
    owner = run.config.host_for_file(path)
    if owner is not None:
        return _AssignedHost(owner.name, f"the file lies in the inbox of config host {owner.name}")
    return None


def _same_host(name: str, assigned: str, config: Config) -> bool:
    cfg = config.host(name)
    if cfg is not None:
        return cfg.name == assigned
    return name.strip().lower().split(".", 1)[0] == assigned.strip().lower().split(".", 1)[0]


class _HostMismatch:
    """Names a file gives itself that disagree with its assigned host, counted (from any thread)."""

    def __init__(self, assigned: _AssignedHost, config: Config, field_name: str) -> None:
        self.assigned, self.config, self.field_name = assigned, config, field_name
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._agree: dict[str, bool] = {}

    def see(self, name: str, rows: int) -> None:
        agree = self._agree.get(name)
        if agree is None:
            agree = self._agree[name] = _same_host(name, self.assigned.name, self.config)
        if not agree:
            with self._lock:
                self.counts[name] = self.counts.get(name, 0) + rows

    def report(self, issues: IssueLog) -> None:
        for name, rows in sorted(self.counts.items()):
            issues.add("", "warning", f"the file names its host {shown(name)!r} ({self.field_name}) but "
                       f"{self.assigned.why}: its rows are stored under {self.assigned.name}", count=rows)


# -- refused rows the manifest remembers -------------------------------------------------------------------------

_NO_ZONE = re.compile(r"^host (?P<host>.+?): no time zone")


class _Refusals:
    """Refused rows of one file by reason, seen as they pass to the run's list: what the manifest remembers,
    so that a later run whose config can place them reads the file again."""

    def __init__(self, downstream: Callable[[Issue], None] | None) -> None:
        self.downstream = downstream
        self.rows: dict[str, int] = {}
        self._lock = threading.Lock()

    def sink(self, issue: Issue) -> None:
        if issue.kind == "refused-rows":
            with self._lock:
                self.rows[issue.reason] = self.rows.get(issue.reason, 0) + issue.count
        if self.downstream is not None:
            self.downstream(issue)

    def entries(self, carried: list[dict] | None = None) -> list[dict]:
        """For the manifest: this reading's refusals plus ``carried`` (those of the part read before)."""
        totals: dict[str, dict] = {r["reason"]: dict(r) for r in carried or []}
        for reason, rows in self.rows.items():
            entry = totals.setdefault(reason, {"reason": reason, "rows": 0, **_needs(reason)})
            entry["rows"] = int(entry.get("rows", 0)) + rows
        return list(totals.values())


def _needs(reason: str) -> dict:
    """What would let refused rows be placed: a host's time zone, a host for the file, or nothing we know."""
    m = _NO_ZONE.match(reason)
    if m:
        return {"needs": "timezone", "host": m.group("host")}
    if reason.startswith("no host"):
        return {"needs": "host", "host": None}
    return {"needs": None, "host": None}


def _placeable(entry: FileEntry, path: Path, run: _Run) -> list[dict]:
    """The refusals of ``entry`` this run's config (or options) can now place."""
    out = []
    for r in entry.refused:
        if r.get("needs") == "timezone":
            cfg = run.config.host(r.get("host"))
            ok = bool(run.source_tz or (cfg is not None and cfg.timezone))
        elif r.get("needs") == "host":
            ok = bool(run.host_opt or run.config.host_for_file(path))
        else:
            ok = False
        if ok:
            out.append(r)
    return out


# -- one file ----------------------------------------------------------------------------------------------------


@dataclass
class _Batch:
    """One batch of a file, extracted and keyed, ready for the writer."""

    drops: pa.Table
    key_hashes: np.ndarray
    rows_read: int
    bytes_done: int
    allowed: pa.Table | None = None  # observed permitted events (ALLOWED_EVENT_SCHEMA)
    allowed_hashes: np.ndarray | None = None


@dataclass
class _Finished:
    """What a source adds to its manifest entry once read to the end."""

    consumed: int
    consumed_sha256: str
    state: dict
    last_record: int | None


class _Source(Protocol):
    """The format-specific half of a file job."""

    fmt: str
    size: int

    def prepare(self) -> bool:
        """Settle the host and the size; False when the file is refused (the reason is in the issues)."""

    def hash_offsets(self) -> set[int]:
        """Prefix lengths whose SHA-256 is wanted besides the whole file's."""

    def hash_decides(self) -> bool:
        """Whether the file's hash must be known before reading (it may be unchanged or have grown)."""

    def continues(self, prefixes: dict[int, str]) -> FileEntry | None:
        """The earlier entry whose consumed part this file begins with (it grew), if any."""

    def start(self, earlier: FileEntry | None) -> None:
        """Position the reader: past ``earlier``'s consumed part, or at the start."""

    def batches(self) -> Iterator[_Batch]: ...

    def finish(self, full_hash: str, prefixes: dict[int, str], last_record: int | None) -> _Finished: ...


def _ingest_file(item: InputFile, run: _Run) -> FileResult:
    began = time.monotonic()
    result = None
    try:
        result = _recognise_and_ingest(item, run)
        return result
    finally:
        if result is not None:
            result.seconds = round(time.monotonic() - began, 3)
        if run.progress:  # every file reaches its size, read or not, so the bar ends full
            run.progress(str(item.path), item.size, item.size)


def _recognise_and_ingest(item: InputFile, run: _Run) -> FileResult:
    path, name = item.path, str(item.path)
    refusals = _Refusals(run.sink)
    issues = IssueLog(name, sink=refusals.sink)
    result = FileResult(name, None, issues=issues, size=item.size)
    if not run.reread and item.mtime_ns:
        # path, size and modification time as when it was read whole: unchanged, without reading or hashing it
        seen = run.manifest.same_file(str(path.resolve()), item.size, item.mtime_ns)
        if seen is not None and not _placeable(seen, path, run):
            result.format, result.status, result.host, result.note = seen.format, "unchanged", seen.host, \
                "already ingested (same size and modification time)"
            return result
    try:
        fmt = detect_format(path)
    except OSError as exc:
        issues.add("", "refused-file", f"cannot read: {describe_os_error(exc)}")
        result.status = "refused"
        return result
    result.format = fmt
    if fmt is None:
        if item.explicit:
            issues.add("", "refused-file", "not a recognised export (Log Parser W3C/CSV, pfirewall.log, EVTX, IIS log)")
            result.status = "refused"
        else:
            result.status = "ignored"
            result.note = "not an export"
        return result
    source: _Source = _EvtxSource(path, result, run) if fmt == "evtx" else _TextSource(path, fmt, result, run)
    return _FileJob(path, result, run, source, refusals).execute()


class _FileJob:
    """One file, whatever its format: skip, continue or read; stream to the writer; record the entry."""

    def __init__(self, path: Path, result: FileResult, run: _Run, source: _Source, refusals: _Refusals) -> None:
        self.path, self.result, self.run, self.source, self.refusals = path, result, run, source, refusals
        assert result.issues is not None
        self.issues: IssueLog = result.issues

    def execute(self) -> FileResult:
        result, source = self.result, self.source
        try:  # the stamp before reading: a file changed while it is read then differs next time
            self.mtime_ns = self.path.stat().st_mtime_ns
        except OSError:
            self.mtime_ns = 0
        try:
            if not source.prepare():
                result.status = "refused"
                return result
        except OSError as exc:
            self.issues.add("", "refused-file", f"cannot read: {describe_os_error(exc)}")
            result.status = "refused"
            return result
        # The file is hashed on another core (hashlib releases the GIL) while it is read, unless the
        # hash decides what to read.
        hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")
        try:
            hashed = hashing.submit(hash_file, self.path, source.hash_offsets())
            return self._read(hashed)
        finally:
            hashing.shutdown(wait=True)

    def _read(self, hashed: Future) -> FileResult:
        result, source, run, manifest = self.result, self.source, self.run, self.run.manifest
        earlier: FileEntry | None = None
        if run.reread:
            result.status, result.note = "reread", "read again from the start (reread)"
        elif source.hash_decides():
            full_hash, prefixes = hashed.result()
            seen = manifest.unchanged(source.size, full_hash)
            if seen is not None:
                placeable = _placeable(seen, self.path, run)
                if not placeable:
                    result.status, result.host, result.note = "unchanged", seen.host, "already ingested"
                    manifest.restamp(seen, str(self.path.resolve()), self.mtime_ns)  # next time: no hashing
                    return result
                result.status, result.note = "reread", _placing_note(placeable)
            else:
                earlier = source.continues(prefixes)
                if earlier is not None and _placeable(earlier, self.path, run):
                    result.status, result.note = "reread", _placing_note(_placeable(earlier, self.path, run))
                    earlier = None
        last_record = earlier.last_record if earlier is not None else None
        source_name = str(self.path.resolve())
        try:
            source.start(earlier)
            for batch in source.batches():
                result.rows_read += batch.rows_read
                drops = batch.drops
                result.drops_found += drops.num_rows
                if drops.num_rows:
                    stored, dups = run.writer.add(drops, batch.key_hashes, source_name)
                    result.drops_stored += stored
                    result.duplicates += dups
                    top = pc.max(drops.column("source_record")).as_py()
                    if top is not None:
                        last_record = max(int(top), last_record or 0)
                if batch.allowed is not None and batch.allowed.num_rows:
                    assert batch.allowed_hashes is not None
                    result.allowed_found += batch.allowed.num_rows
                    stored, _ = run.writer.add_allowed(batch.allowed, batch.allowed_hashes, source_name)
                    result.allowed_stored += stored
                if run.progress:
                    run.progress(str(self.path), batch.bytes_done, source.size)
            changed = self._changed_while_read(source.size)
            if changed:
                # What was read is stored (the keys keep a re-read from storing it twice); recording the file
                # as read (or moving an EVTX watermark) would pass a restored copy of it for "unchanged", so
                # it is left for the next run.
                self.issues.add("", "read-error", f"the file {changed} while it was read: the "
                                f"{result.drops_stored:,} drops read are stored; the next run reads it again",
                                count=0)
                result.status, result.note = "failed", f"{changed} while it was read"
                return result
            if self.issues.refused and result.drops_found == 0:
                # The reader refused the file by its content (a header that cannot be read, a pfirewall.log with
                # no action field): nothing of it was read, and like any refused file it is not recorded, so the
                # next run says so again instead of passing it over as unchanged.
                result.status = "refused"
                return result
            full_hash, prefixes = hashed.result()
            done = source.finish(full_hash, prefixes, last_record)
        except WarehouseError:
            raise  # the warehouse, not this file: the run fails
        except EvtxUnreadable as exc:
            self.issues.add("", "refused-file", str(exc))
            result.status = "refused"
            return result
        except Exception as exc:  # noqa: BLE001 - a bug or I/O error in one file must not end the run
            self.issues.add("", "read-error", f"stopped reading: {type(exc).__name__}: {exc}",
                            traceback.format_exc(limit=3))
            result.status = "failed"
            return result  # no manifest entry: the next run reads the file again (keys prevent duplicates)
        carried = earlier.refused if earlier is not None else None
        manifest.record(FileEntry(
            path=str(self.path.resolve()), size=source.size, sha256=full_hash, consumed=done.consumed,
            consumed_sha256=done.consumed_sha256, format=source.fmt, host=result.host, state=done.state,
            rows_read=result.rows_read, drops_found=result.drops_found, drops_stored=result.drops_stored,
            duplicates=result.duplicates, skipped=result.skipped, last_record=done.last_record,
            allowed_found=result.allowed_found, allowed_stored=result.allowed_stored,
            run=run.writer.run_id, ingested_at=datetime.now(UTC).isoformat(timespec="seconds"),
            refused=self.refusals.entries(carried), resumed_from=earlier.path if earlier is not None else "",
            mtime_ns=self.mtime_ns,
        ))
        return result


    def _changed_while_read(self, size: int) -> str | None:
        """How the file changed since it was stamped before reading, if it did in a way that makes what was
        read uncertain: deleted, truncated, or rewritten in place (same size, new modification time).  A file
        that grew is fine: it was read up to the size it had, and the next run reads the rest."""
        try:
            now = self.path.stat()
        except OSError:
            return "was deleted"
        if now.st_size < size:
            return f"was truncated (from {size:,} to {now.st_size:,} bytes)"
        if now.st_size == size and self.mtime_ns and now.st_mtime_ns != self.mtime_ns:
            return "was rewritten"
        return None


def _placing_note(placeable: list[dict]) -> str:
    rows = sum(int(r.get("rows", 0)) for r in placeable)
    why = "; ".join(sorted({r["reason"].split(";")[0] for r in placeable}))
    return f"read again: {rows:,} row(s) refused before can now be placed ({why})"


# -- text exports: Log Parser W3C / CSV, pfirewall.log -----------------------------------------------------------


class _TextSource:
    """A Log Parser or pfirewall.log export, from the start or from where an earlier ingestion stopped."""

    def __init__(self, path: Path, fmt: str, result: FileResult, run: _Run) -> None:
        self.path, self.fmt, self.result, self.run = path, fmt, result, run
        assert result.issues is not None
        self.issues: IssueLog = result.issues
        self.size = 0
        self.layout: TextLayout | None = None
        self.resume_at: set[int] = set()
        self.assigned: _AssignedHost | None = None
        self.mismatch: _HostMismatch | None = None
        self.before_tail: tuple[dict, dict] | None = None  # the stateful steps' state before a last line cut short

    def prepare(self) -> bool:
        """Host first (a pfirewall.log names neither its host nor its zone), before the file is hashed or read."""
        run, issues = self.run, self.issues
        self.assigned = _assigned_host(self.path, run)
        file_host = self.assigned.name if self.assigned else None
        self.result.host = file_host
        if self.fmt == "pfirewall":
            if file_host is None:
                issues.add("", "refused-file", "a pfirewall.log does not name its host: pass --host H or add the "
                           "file's folder to a host's inbox in the config")
                return False
            cfg = run.config.host(file_host)
            if not (run.source_tz or (cfg and cfg.timezone)):
                issues.add("", "refused-file", f"no time zone for host {file_host}: set [hosts.{file_host}] "
                           "timezone in the config or pass --source-tz")
                return False
        elif self.fmt == "iis-w3c":
            if file_host is None and not _iis_names_host(self.path):
                issues.add("", "refused-file", "this IIS log does not name its host (no s-computername field): "
                           "pass --host H or add the file's folder to a host's inbox in the config")
                return False
        elif self.assigned is not None:
            self.mismatch = _HostMismatch(self.assigned, run.config, "ComputerName")
        self.layout = sniff_layout(self.path)
        self.size = self.layout.size
        if not run.reread:
            self.resume_at = run.manifest.resume_offsets(self.size, self.fmt)
        return True

    def hash_offsets(self) -> set[int]:
        assert self.layout is not None
        return self.resume_at | {self.layout.complete_end}

    def hash_decides(self) -> bool:
        # A file of a size seen before may be unchanged; one longer than an earlier ingestion may have grown.
        return bool(self.resume_at) or self.run.manifest.seen_size(self.size)

    def continues(self, prefixes: dict[int, str]) -> FileEntry | None:
        return self.run.manifest.grown_from(prefixes, self.fmt)

    def start(self, earlier: FileEntry | None) -> None:
        state = dict(earlier.state) if earlier else {}
        self.state = state
        self.ctx = SourceContext(
            source_format=self.fmt,
            source_file=str(self.path),
            config=self.run.config,
            default_host=self.result.host,
            source_tz=self.run.source_tz,
            fold_states={h: FoldState.from_json(s) for h, s in state.get("fold", {}).items()},
            occurrences=OccurrenceCounter.from_json(state.get("occurrences")),
        )
        self.offset = earlier.consumed if earlier else 0
        self.first_line = state.get("next_line", 1) if earlier else 1
        if earlier:
            self.result.status = "resumed"
            self.result.note = f"grown since {Path(earlier.path).name} was read: reading from line {self.first_line}"

    def batches(self) -> Iterator[_Batch]:
        layout = self.layout
        assert layout is not None
        self.before_tail = None
        if layout.has_partial_tail and layout.complete_end <= max(self.offset, layout.bom_length):
            self.before_tail = self._stateful()  # nothing complete to read: the whole read is the tail
        elif layout.has_partial_tail:
            return self._complete_then_tail(layout)
        self.reader_state, batches = self._open_reader()
        return batches

    def _stateful(self) -> tuple[dict, dict]:
        """What numbering identical events and the DST fold remember, as the manifest keeps it."""
        return self.ctx.occurrences.to_json(), {h: s.to_json() for h, s in self.ctx.fold_states.items()}

    def _complete_then_tail(self, layout: TextLayout) -> Iterator[_Batch]:
        """The complete lines, then the last line (no line end yet) on its own.

        The last line is read now and again once the file has grown (its identity keys keep it from
        being stored twice), so what the manifest remembers for the next run must be the state before
        it: numbered once more, an event without a record number would get a new occurrence, a new
        key, and be stored a second time.
        """
        self.reader_state, complete = self._open_reader(include_tail=False)
        yield from complete
        self.before_tail = self._stateful()
        if self.issues.refused:
            return
        self.ctx.next_pass()
        _, tail = self._open_reader(start=layout.complete_end, first_line=self.reader_state.lines + 1,
                                    reader_state=self.reader_state)
        yield from tail

    def finish(self, full_hash: str, prefixes: dict[int, str], last_record: int | None) -> _Finished:
        layout = self.layout
        assert layout is not None
        if self.mismatch is not None:
            self.mismatch.report(self.issues)
        if layout.has_partial_tail:
            self.issues.add("end of file", "held-back", "the last line has no line end (file still being written?): "
                            "read now if complete, and read again when the file grows")
        lines_done = self.reader_state.lines
        next_line = lines_done if layout.has_partial_tail else lines_done + 1
        state = {
            "next_line": max(next_line, self.first_line),
            "fields": getattr(self.reader_state, "fields", None),
            **({"iis": self.reader_state.extra} if isinstance(self.reader_state, IisState) else {}),
            "fold": self.before_tail[1] if self.before_tail else {h: s.to_json() for h, s in
                                                                  self.ctx.fold_states.items()},
            "occurrences": self.before_tail[0] if self.before_tail else self.ctx.occurrences.to_json(),
        }
        return _Finished(layout.complete_end, prefixes.get(layout.complete_end, ""), state, last_record)

    def _open_reader(self, *, include_tail: bool = True, start: int | None = None, first_line: int | None = None,
                     reader_state: FirewallState | CSVState | W3CState | IisState | None = None,
                     ) -> tuple[FirewallState | CSVState | W3CState | IisState, Iterator[_Batch]]:
        """The reader's state object and a generator of batches (from where the run starts, unless told).

        W3C batches are split, extracted and keyed on the reader's worker threads; the
        other formats are extracted here, in gathered batches.
        """
        fmt, path, issues, ctx, con = self.fmt, self.path, self.issues, self.ctx, self.run.con
        start = self.offset if start is None else start
        first_line = self.first_line if first_line is None else first_line
        fields = self.state.get("fields")
        if fmt == "pfirewall":
            fw_state = reader_state if isinstance(reader_state, FirewallState) else FirewallState(fields=fields)
            rows = _rows(read_pfirewall(path, issues, start=start, first_line=first_line, state=fw_state,
                                        include_tail=include_tail), "other_lines")
            return fw_state, self._extract_here(rows)
        if fmt == "iis-w3c":
            iis = self.state.get("iis") or {}
            iis_state = reader_state if isinstance(reader_state, IisState) else \
                IisState(fields=fields, date=iis.get("date"), last_seconds=iis.get("last_seconds"))
            rows = _rows(read_iis(path, issues, start=start, first_line=first_line, state=iis_state,
                                  include_tail=include_tail), "other_lines")
            return iis_state, self._extract_here(rows)
        if fmt == "logparser-csv":
            csv_state = reader_state if isinstance(reader_state, CSVState) else CSVState(fields=fields)
            rows = _rows(read_csv_export(path, issues, start=start, first_line=first_line, state=csv_state,
                                         include_tail=include_tail), "other_events")
            return csv_state, self._extract_here(rows)
        w3c_state = reader_state if isinstance(reader_state, W3CState) else W3CState(fields=fields)
        cursor_lock = threading.Lock()
        mismatch = self.mismatch

        def extract_on_worker(rows: EvtRows | None, log: IssueLog, ticket: int) -> _Batch | None:
            with ctx.job(ticket):
                if rows is None:
                    return None
                table = _assign_host(rows.table, mismatch)
                extracted = extract_ipsec_driver(table, ctx, log)
                hashes = np.zeros(0, dtype=np.uint64)
                if extracted.drops.num_rows:
                    with cursor_lock:  # a DuckDB connection is not thread-safe; a cursor of it is, per thread
                        cursor = con.cursor()
                    try:
                        hashes = hash_identities(cursor, extracted.event_keys)
                    finally:
                        cursor.close()
                return _Batch(extracted.drops, hashes, rows.table.num_rows + rows.other_events, rows.bytes_done)

        batches = read_w3c(path, issues, start=start, first_line=first_line, state=w3c_state, wanted=FIELDS_USED,
                           then=extract_on_worker, block_size=W3C_BLOCK_SIZE, include_tail=include_tail)
        return w3c_state, cast(Iterator[_Batch], batches)  # (None results are dropped by read_w3c)

    def _extract_here(self, batches: Iterator) -> Iterator[_Batch]:
        for raw, bytes_done, other in batches:
            table = _assign_host(raw, self.mismatch) if self.fmt not in ("pfirewall", "iis-w3c") else raw
            extracted = _extract(self.fmt, table, self.ctx, self.issues)
            hashes = (hash_identities(self.run.con, extracted.event_keys) if extracted.drops.num_rows
                      else np.zeros(0, dtype=np.uint64))
            yield _Batch(extracted.drops, hashes, raw.num_rows + other, bytes_done, *_allowed_of(extracted, self.run))


def _assign_host(table: pa.Table, mismatch: _HostMismatch | None) -> pa.Table:
    """Rows of a Log Parser export under the file's assigned host (when it has one): the exported
    ComputerName is counted where it disagrees, then dropped, so the extractor takes the assigned host."""
    if mismatch is None or "ComputerName" not in table.column_names:
        return table
    names = table.column("ComputerName")
    if "SourceName" in table.column_names:
        # Only the IPSec driver's rows: the others are not stored, and a plain W3C line of another source
        # (values with spaces) may split so that ComputerName holds a word of its message.
        source = pc.utf8_lower(pc.utf8_trim_whitespace(table.column("SourceName")))
        names = names.filter(pc.fill_null(pc.equal(source, "ipsec"), False))
    counts = pc.value_counts(names.drop_null())
    for item in counts.to_pylist():
        mismatch.see(item["values"], item["counts"])
    return table.drop_columns(["ComputerName"])


#: Read block of W3C exports: each block is split and extracted as one job on a worker thread,
#: and extraction has a fixed cost per batch, so blocks are larger than the other readers'.
W3C_BLOCK_SIZE = 12 << 20

#: Rows handed to the extractor at once: each batch has a fixed cost (a few dozen kernel calls),
#: so the reader's small batches are gathered first.
EXTRACT_ROWS = 64 * 1024


def _rows(batches: Iterator, other_attr: str) -> Iterator:
    """(table, bytes done, other rows) in batches of about EXTRACT_ROWS rows of the same columns.

    A pfirewall batch's ALLOW lines (``allowed``) are merged into its table in line order (the extractor
    tells them apart by action): local times must be read in the order they were written (DST fold).
    """
    pending: list = []
    rows = other = 0
    done = 0
    for batch in batches:
        table = batch.table
        batch_other = getattr(batch, other_attr)
        allowed = getattr(batch, "allowed", None)
        if allowed is not None and allowed.num_rows:
            batch_other -= allowed.num_rows  # rows of the table now, no longer "other" lines
            merged = pa.concat_tables([table, allowed], promote_options="default") if table.num_rows else allowed
            table = merged.take(pc.sort_indices(merged.column("_line")))
        if pending and table.schema != pending[0].schema:
            yield pa.concat_tables(pending), done, other
            pending, rows, other = [], 0, 0
        pending.append(table)
        rows += table.num_rows
        other += batch_other
        done = batch.bytes_done
        if rows >= EXTRACT_ROWS:
            yield pa.concat_tables(pending).combine_chunks(), done, other
            pending, rows, other = [], 0, 0
    if pending or other:
        yield (pa.concat_tables(pending).combine_chunks() if pending else pa.table({"_line": pa.array([], pa.int64())}),
               done, other)


def _allowed_of(extracted: Extracted, run: _Run) -> tuple[pa.Table | None, np.ndarray | None]:
    """The batch's permitted events and their keys (None when it has none)."""
    if extracted.allowed is None or extracted.allowed.num_rows == 0 or extracted.allowed_keys is None:
        return None, None
    return extracted.allowed, hash_identities(run.con, extracted.allowed_keys)


def _iis_names_host(path: Path) -> bool:
    """Whether the first ``#Fields:`` of an IIS log has ``s-computername`` (the host of each line)."""
    from .readers.textfile import file_head_lines

    for line in file_head_lines(path, 64):
        text = line.strip().lower()
        if text.startswith("#fields:"):
            return "s-computername" in text.split()
    return False


def _extract(fmt: str, raw: pa.Table, ctx: SourceContext, issues: IssueLog) -> Extracted:
    if fmt == "pfirewall":
        return extract_firewall(raw, ctx, issues)
    if fmt == "iis-w3c":
        return extract_iis(raw, ctx, issues)
    return extract_ipsec_driver(raw, ctx, issues)


# -- EVTX --------------------------------------------------------------------------------------------------------


class _EvtxSource:
    """One EVTX file: read the records past the host/channel watermark (all of them when rereading)."""

    fmt = "evtx"

    def __init__(self, path: Path, result: FileResult, run: _Run) -> None:
        self.path, self.result, self.run = path, result, run
        assert result.issues is not None
        self.issues: IssueLog = result.issues
        self.size = 0
        self.skip_through: int | None = None
        self.stored_through: int | None = None
        self.records = 0
        self.top: dict[str, tuple[int, str]] = {}
        self.assigned: _AssignedHost | None = None
        self.mismatch: _HostMismatch | None = None

    def prepare(self) -> bool:
        self.size = self.path.stat().st_size
        try:
            check_header(self.path)
        except EvtxUnreadable as exc:
            self.issues.add("", "refused-file", str(exc))
            return False
        self.assigned = _assigned_host(self.path, self.run)
        if self.assigned is not None:
            self.mismatch = _HostMismatch(self.assigned, self.run.config, "Computer")
        return True

    def hash_offsets(self) -> set[int]:
        return set()

    def hash_decides(self) -> bool:
        return self.run.manifest.seen_size(self.size)  # maybe seen before: settle that first

    def continues(self, prefixes: dict[int, str]) -> FileEntry | None:
        return None  # a grown EVTX is read past its watermark instead

    def start(self, earlier: FileEntry | None) -> None:
        run, result = self.run, self.result
        identity = peek_identity(self.path)  # EvtxUnreadable: the job refuses the file
        if identity is not None:
            result.host = self.assigned.name if self.assigned else (
                _canonical(run.config, identity.computer) if identity.computer else None)
            mark = run.manifest.watermarks.get(f"{result.host}|{identity.channel}")
            if (not run.reread and mark and identity.record_id is not None
                    and identity.record_id <= mark["record"]):
                if identity.time_created is None or identity.time_created.isoformat() <= mark["time"]:
                    self.stored_through = mark["record"]
                    # Header numbers equal EventRecordIDs in a saved log, so earlier records need not even be
                    # decoded; a query export renumbers its headers, so there only decoded events are compared.
                    if identity.header_record == identity.record_id:
                        self.skip_through = self.stored_through
                    result.status = "resumed"
                    result.note = (f"records up to {self.stored_through} of {result.host}/{identity.channel} "
                                   "already stored")
                else:
                    self.issues.warning("", "record numbers restart below what was stored before (log cleared?): "
                                        "reading every record")
        elif self.assigned is not None:
            result.host = self.assigned.name
        self.ctx = SourceContext(source_format="evtx", source_file=str(self.path), config=run.config,
                                 default_host=result.host)
        self.errors_before = self.issues.counts["read-error"]

    def batches(self) -> Iterator[_Batch]:
        run, ctx, mismatch = self.run, self.ctx, self.mismatch
        stored_through = self.stored_through if self.skip_through is None else None
        for batch in read_evtx(self.path, self.issues, run.engine, skip_through=self.skip_through):
            if stored_through is not None:
                batch.events = [e for e in batch.events if e.record_id is None or e.record_id > stored_through]
            if mismatch is not None:
                _assign_event_host(batch.events, mismatch)
            self.records += batch.records
            extracted = extract_evtx(batch.events, ctx, self.issues, batch.records)
            hashes = (hash_identities(run.con, extracted.event_keys) if extracted.drops.num_rows
                      else np.zeros(0, dtype=np.uint64))
            allowed = _allowed_of(extracted, run)
            for event in batch.events:
                key = f"{ctx.canonical_host(event.computer or '')}|{event.channel}"
                when = event.time_created or event.written
                if event.record_id is not None and (key not in self.top or event.record_id > self.top[key][0]):
                    self.top[key] = (event.record_id, when.isoformat() if when else "")
            yield _Batch(extracted.drops, hashes, batch.records, batch.bytes_done, *allowed)

    def finish(self, full_hash: str, prefixes: dict[int, str], last_record: int | None) -> _Finished:
        run, issues = self.run, self.issues
        if self.mismatch is not None:
            self.mismatch.report(issues)
        errors = issues.counts["read-error"] - self.errors_before
        if errors:
            self.result.note = f"{errors} damaged record(s) or chunk(s) skipped"
        if self.skip_through is None and self.stored_through is None:
            listed = expected_records(self.path)
            if self.records + errors < listed and run.engine == "python-evtx":
                issues.warning("", f"python-evtx recovered {self.records} of the {listed} records the chunk headers "
                               "list; --engine evtx reads damaged files more completely")
            elif self.records + errors < listed:
                # A chunk cut short (an incomplete copy, a log still being written) yields nothing and no error.
                issues.warning("", f"{self.records} of the {listed} records the chunk headers list were read "
                               f"({errors} damaged): the rest are missing (file cut short or still being written?)")
        for key, (record, when) in self.top.items():
            mark = run.manifest.watermarks.get(key)
            if mark is None or record > mark["record"]:
                run.manifest.watermarks[key] = {"record": record, "time": when}
        return _Finished(self.size, full_hash, {"engine": run.engine},
                         max((r for r, _ in self.top.values()), default=None))


def _canonical(config: Config, name: str) -> str:
    cfg = config.host(name)
    return cfg.name if cfg else name


def _assign_event_host(events: list[EvtxEvent], mismatch: _HostMismatch) -> None:
    """Events of a file with an assigned host are stored under it; disagreeing Computer names are counted."""
    assigned = mismatch.assigned.name
    names: dict[str, int] = {}
    for event in events:
        if event.computer is not None and event.computer != assigned:
            names[event.computer] = names.get(event.computer, 0) + 1
        event.computer = assigned
    for name, rows in names.items():
        mismatch.see(name, rows)


from ._callable import callable_module  # noqa: E402

callable_module(__name__, ingest)
