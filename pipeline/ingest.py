"""Ingest: exports in, de-duplicated drops out, safe to run every night.

For each file: recognise it by content (skip it if unchanged, continue it if it
grew), pick its reader, stream batches through the extractor into the run
writer, and record what happened.  The run is published atomically at the end
(see :mod:`pipeline.warehouse.store`).  Nothing here raises on bad input: every
problem is an :class:`~pipeline.issues.Issue` in the report.
"""

from __future__ import annotations

import os
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import numpy as np
import pyarrow as pa

from .config import Config
from .exit_codes import EXIT_LOCKED, EXIT_OK, EXIT_SKIPPED, EXIT_USAGE  # noqa: F401 - re-exported
from .extract import Extracted, OccurrenceCounter, SourceContext
from .extract.evtx_events import extract_evtx
from .extract.firewall import extract_firewall
from .extract.ipsec_driver import FIELDS_USED, extract_ipsec_driver
from .issues import Issue, IssueLog
from .localtime import FoldState
from .output import CsvSink
from .readers import detect_format
from .readers.evtx import ENGINES, expected_records, peek_identity, read_evtx
from .readers.logparser_csv import CSVState, read_csv_export
from .readers.logparser_w3c import EvtRows, W3CState, read_w3c
from .readers.pfirewall import FirewallState, read_pfirewall
from .readers.textfile import sniff_layout
from .warehouse import FileEntry, Manifest, RunWriter, Warehouse, hash_file, hash_identities

#: Extensions never taken for exports when a folder is walked (configs, policies, docs).
NOT_EXPORTS = {".toml", ".md", ".json", ".py", ".cmd", ".bat", ".ps1", ".parquet", ".ipynb"}



@dataclass
class FileResult:
    """What happened to one input file."""

    path: str
    format: str | None
    host: str | None = None
    status: str = "ingested"  # ingested | resumed | unchanged | refused | ignored | failed
    rows_read: int = 0
    drops_found: int = 0
    drops_stored: int = 0
    duplicates: int = 0
    issues: IssueLog | None = None
    note: str = ""

    @property
    def skipped(self) -> int:
        return self.issues.skipped if self.issues else 0


@dataclass
class IngestReport:
    run_id: str
    files: list[FileResult] = field(default_factory=list)
    recovered: str | None = None
    skipped_csv: str | None = None

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
        return EXIT_SKIPPED if self.total("skipped") or self.refused_files else EXIT_OK


ProgressHook = Callable[[str, int, int], None]  # (file, bytes done in file, file size)


def expand_inputs(paths: Iterable[str | os.PathLike[str]], exclude: Iterable[Path] = ()) -> list[tuple[Path, bool]]:
    """Files to ingest, each with whether it was named explicitly (folders are walked, sorted)."""
    excluded = [p.resolve() for p in exclude]
    out: list[tuple[Path, bool]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
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
    paths: Iterable[str | os.PathLike[str]],
    warehouse: Warehouse | str | os.PathLike[str],
    config: Config | None = None,
    *,
    host: str | None = None,
    source_tz: str | None = None,
    engine: str = "evtx",
    progress: ProgressHook | None = None,
) -> IngestReport:
    """Ingest files and folders into the warehouse; returns the report (raises only if the lock is held).

    ``engine`` reads EVTX files: ``evtx`` (Rust, fast) or ``python-evtx`` (pure Python).
    """
    wh = warehouse if isinstance(warehouse, Warehouse) else Warehouse(warehouse)
    config = config or Config()
    if source_tz:
        try:
            ZoneInfo(source_tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"--source-tz {source_tz!r} is not an IANA zone name (e.g. 'Europe/Berlin')") from exc
    if engine not in ENGINES:
        raise ValueError(f"unknown EVTX engine {engine!r}; choose one of {', '.join(ENGINES)}")
    inputs = expand_inputs(paths, exclude=[wh.root])
    lock = wh.lock()
    try:
        recovered = wh.recover()
        writer = wh.writer()
        report = IngestReport(writer.run_id, recovered=recovered)
        manifest = wh.manifest()
        con = duckdb.connect()
        skipped = _SkippedList(wh.staging_dir / f"{writer.run_id}-skipped.csv")
        try:
            for path, explicit in inputs:
                run = _Run(wh, writer, manifest, config, con, host, source_tz, engine, progress, skipped.write)
                result = _ingest_file(path, explicit, run)
                report.files.append(result)
        except BaseException:
            skipped.close()
            writer.abandon()
            raise
        finally:
            con.close()
        skipped_csv = skipped.close()
        if skipped_csv:
            report.skipped_csv = str(wh.runs_dir / skipped_csv.name)
        manifest.runs.append(
            {
                "run": writer.run_id,
                "finished": datetime.now(UTC).isoformat(timespec="seconds"),
                "files": len(report.files),
                "rows_read": report.total("rows_read"),
                "drops_stored": report.total("drops_stored"),
                "duplicates": report.total("duplicates"),
                "skipped": report.total("skipped"),
                "refused_files": len(report.refused_files),
            }
        )
        writer.publish(manifest, skipped_csv)
        return report
    finally:
        lock.release()


class _SkippedList:
    """The run's CSV of every issue (skipped lines, refused files, warnings), written as they happen."""

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
        if self._sink is None:
            self._sink = CsvSink(self.path, self.COLUMNS)
        self._sink.write_rows(self._pending)
        self._pending = []

    def close(self) -> Path | None:
        """The file's path, or None when nothing was written."""
        self._flush()
        if self._sink is None:
            return None
        self._sink.close()
        self._sink = None
        return self.path


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


def _ingest_file(path: Path, explicit: bool, run: _Run) -> FileResult:
    manifest, progress = run.manifest, run.progress
    name = str(path)
    issues = IssueLog(name, sink=run.sink)
    result = FileResult(name, None, issues=issues)
    try:
        fmt = detect_format(path)
    except OSError as exc:
        issues.add("", "refused-file", f"cannot read: {exc}")
        result.status = "refused"
        return result
    result.format = fmt
    if fmt is None:
        if explicit:
            issues.add("", "refused-file", "not a recognised export (Log Parser W3C/CSV, pfirewall.log, EVTX)")
            result.status = "refused"
        else:
            result.status = "ignored"
            result.note = "not an export"
        return result
    if fmt == "evtx":
        return _ingest_evtx(path, result, run)

    if not _text_host(path, fmt, result, run):
        return result
    layout = sniff_layout(path)
    resume_at = manifest.resume_offsets(layout.size, fmt)
    hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")
    try:
        # The file is hashed on another core (hashlib releases the GIL) while it is read, unless the
        # hashes decide what to read: a file of a size seen before may be unchanged, and a file
        # longer than an earlier ingestion of the same format may have grown from it.
        hashed = hashing.submit(hash_file, path, resume_at | {layout.complete_end})
        earlier = None
        if resume_at or any(entry.size == layout.size for entry in manifest.files):
            full_hash, prefixes = hashed.result()
            seen = manifest.unchanged(layout.size, full_hash)
            if seen:
                result.status = "unchanged"
                result.host = seen.host
                result.note = "already ingested"
                if progress:
                    progress(name, layout.size, layout.size)
                return result
            earlier = manifest.grown_from(prefixes, fmt)
        return _ingest_text(path, fmt, layout, earlier, hashed, result, run)
    finally:
        hashing.shutdown(wait=True)


def _text_host(path: Path, fmt: str, result: FileResult, run: _Run) -> bool:
    """Set the file's host (--host, else the config host whose inbox matches); False if the file is refused.

    Decided before the file is hashed or read: a pfirewall.log names neither its host nor its zone.
    """
    config, host_opt, issues = run.config, run.host_opt, result.issues
    cfg_host = config.host(host_opt) if host_opt else config.host_for_file(path)
    file_host = (cfg_host.name if cfg_host else host_opt) if host_opt or cfg_host else None
    result.host = file_host
    if fmt != "pfirewall":
        return True
    if file_host is None:
        issues.add("", "refused-file", "a pfirewall.log does not name its host: pass --host H or add the "
                   "file's folder to a host's inbox in the config")
    elif not (run.source_tz or (cfg_host and cfg_host.timezone)):
        issues.add("", "refused-file", f"no time zone for host {file_host}: set [hosts.{file_host}] "
                   "timezone in the config or pass --source-tz")
    else:
        return True
    result.status = "refused"
    return False


def _ingest_text(path: Path, fmt: str, layout, earlier, hashed: Future, result: FileResult, run: _Run) -> FileResult:
    """A Log Parser or pfirewall.log export, from the start or from where an earlier ingestion stopped."""
    writer, manifest, config, con = run.writer, run.manifest, run.config, run.con
    source_tz, progress = run.source_tz, run.progress
    name, issues = str(path), result.issues

    file_host = result.host
    state = dict(earlier.state) if earlier else {}
    ctx = SourceContext(
        source_format=fmt,
        source_file=name,
        config=config,
        default_host=file_host,
        source_tz=source_tz,
        fold_states={h: FoldState.from_json(s) for h, s in state.get("fold", {}).items()},
        occurrences=OccurrenceCounter.from_json(state.get("occurrences")),
    )
    start = earlier.consumed if earlier else 0
    first_line = state.get("next_line", 1) if earlier else 1
    if earlier:
        result.status = "resumed"
        result.note = f"grown since {Path(earlier.path).name} was read: reading from line {first_line}"

    reader_state, batches = _open_reader(fmt, path, issues, start, first_line, state, ctx, con)
    last_record = earlier.last_record if earlier else None
    try:
        for batch in batches:
            extracted, bytes_done = batch.extracted, batch.bytes_done
            result.rows_read += batch.rows_read
            result.drops_found += extracted.drops.num_rows
            if extracted.drops.num_rows:
                stored, dups = writer.add(extracted.drops, batch.key_hashes)
                result.drops_stored += stored
                result.duplicates += dups
                rec = extracted.drops.column("source_record")
                top = rec.combine_chunks().to_numpy(zero_copy_only=False).max() if len(rec) else None
                if top is not None:
                    last_record = max(int(top), last_record or 0)
            if progress:
                progress(name, bytes_done, layout.size)
    except Exception as exc:  # noqa: BLE001 - a bug or I/O error in one file must not end the run
        issues.add("", "read-error", f"stopped reading: {type(exc).__name__}: {exc}",
                   traceback.format_exc(limit=3))
        result.status = "failed"
        return result  # no manifest entry: the next run reads the file again (keys prevent duplicates)

    if layout.has_partial_tail:
        issues.add("end of file", "held-back", "the last line has no line end (file still being written?): "
                   "read now if complete, and read again when the file grows")
    lines_done = reader_state.lines
    next_line = lines_done if layout.has_partial_tail else lines_done + 1
    full_hash, prefixes = hashed.result()
    new_state = {
        "next_line": max(next_line, first_line),
        "fields": getattr(reader_state, "fields", None),
        "fold": {h: s.to_json() for h, s in ctx.fold_states.items()},
        "occurrences": ctx.occurrences.to_json(),
    }
    manifest.record(
        FileEntry(
            path=str(path.resolve()),
            size=layout.size,
            sha256=full_hash,
            consumed=layout.complete_end,
            consumed_sha256=prefixes.get(layout.complete_end, ""),
            format=fmt,
            host=file_host,
            state=new_state,
            rows_read=result.rows_read,
            drops_found=result.drops_found,
            drops_stored=result.drops_stored,
            duplicates=result.duplicates,
            skipped=result.skipped,
            last_record=last_record,
            run=writer.run_id,
            ingested_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
    )
    return result


@dataclass
class _Extracted:
    """One batch of a text export, extracted and keyed, ready for the writer."""

    extracted: Extracted
    key_hashes: np.ndarray
    rows_read: int
    bytes_done: int


def _open_reader(fmt: str, path: Path, issues: IssueLog, start: int, first_line: int, state: dict,
                 ctx: SourceContext, con: duckdb.DuckDBPyConnection):
    """The reader's state object and a generator of :class:`_Extracted` batches.

    W3C batches are split, extracted and keyed on the reader's worker threads; the
    other formats are extracted here, in gathered batches.
    """
    fields = state.get("fields")
    if fmt == "pfirewall":
        fw_state = FirewallState(fields=fields)
        rows = _rows(read_pfirewall(path, issues, start=start, first_line=first_line, state=fw_state),
                     "other_lines")
        return fw_state, _extract_here(fmt, rows, ctx, issues, con)
    if fmt == "logparser-csv":
        csv_state = CSVState(fields=fields)
        rows = _rows(read_csv_export(path, issues, start=start, first_line=first_line, state=csv_state),
                     "other_events")
        return csv_state, _extract_here(fmt, rows, ctx, issues, con)
    w3c_state = W3CState(fields=fields)
    cursor_lock = threading.Lock()

    def extract_on_worker(rows: EvtRows | None, log: IssueLog, ticket: int) -> _Extracted | None:
        with ctx.job(ticket):
            if rows is None:
                return None
            extracted = extract_ipsec_driver(rows.table, ctx, log)
            hashes = np.zeros(0, dtype=np.uint64)
            if extracted.drops.num_rows:
                with cursor_lock:  # a DuckDB connection is not thread-safe; a cursor of it is, per thread
                    cursor = con.cursor()
                try:
                    hashes = hash_identities(cursor, extracted.event_keys)
                finally:
                    cursor.close()
            return _Extracted(extracted, hashes, rows.table.num_rows + rows.other_events, rows.bytes_done)

    return w3c_state, read_w3c(path, issues, start=start, first_line=first_line, state=w3c_state,
                               wanted=FIELDS_USED, then=extract_on_worker, block_size=W3C_BLOCK_SIZE)


def _extract_here(fmt: str, batches: Iterator, ctx: SourceContext, issues: IssueLog,
                  con: duckdb.DuckDBPyConnection) -> Iterator[_Extracted]:
    for raw, bytes_done, other in batches:
        extracted = _extract(fmt, raw, ctx, issues)
        hashes = (hash_identities(con, extracted.event_keys) if extracted.drops.num_rows
                  else np.zeros(0, dtype=np.uint64))
        yield _Extracted(extracted, hashes, raw.num_rows + other, bytes_done)


#: Read block of W3C exports: each block is split and extracted as one job on a worker thread,
#: and extraction has a fixed cost per batch, so blocks are larger than the other readers'.
W3C_BLOCK_SIZE = 12 << 20

#: Rows handed to the extractor at once: each batch has a fixed cost (a few dozen kernel calls),
#: so the reader's small batches are gathered first.
EXTRACT_ROWS = 64 * 1024


def _rows(batches: Iterator, other_attr: str) -> Iterator:
    """(table, bytes done, other rows) in batches of about EXTRACT_ROWS rows of the same columns."""
    pending: list = []
    rows = other = 0
    done = 0
    for batch in batches:
        table = batch.table
        if pending and table.schema != pending[0].schema:
            yield pa.concat_tables(pending), done, other
            pending, rows, other = [], 0, 0
        pending.append(table)
        rows += table.num_rows
        other += getattr(batch, other_attr)
        done = batch.bytes_done
        if rows >= EXTRACT_ROWS:
            yield pa.concat_tables(pending).combine_chunks(), done, other
            pending, rows, other = [], 0, 0
    if pending or other:
        yield (pa.concat_tables(pending).combine_chunks() if pending else pa.table({"_line": pa.array([], pa.int64())}),
               done, other)


def _extract(fmt: str, raw, ctx: SourceContext, issues: IssueLog) -> Extracted:
    if fmt == "pfirewall":
        return extract_firewall(raw, ctx, issues)
    return extract_ipsec_driver(raw, ctx, issues)


def _ingest_evtx(path: Path, result: FileResult, run: _Run) -> FileResult:
    """One EVTX file: skip it if unchanged; else read records past the host/channel watermark."""
    size = path.stat().st_size
    hashing = ThreadPoolExecutor(max_workers=1)
    try:
        return _ingest_evtx_hashed(path, result, run, size, hashing.submit(hash_file, path, set()))
    finally:
        hashing.shutdown(wait=True)


def _ingest_evtx_hashed(path: Path, result: FileResult, run: _Run, size: int, hashed: Future) -> FileResult:
    """EVTX ingestion while the file's hash is computed on another core (hashlib releases the GIL)."""
    name, issues = str(path), result.issues
    if any(entry.size == size for entry in run.manifest.files):  # maybe seen before: settle that first
        seen = run.manifest.unchanged(size, hashed.result()[0])
        if seen:
            result.status, result.host, result.note = "unchanged", seen.host, "already ingested"
            return result
    identity = peek_identity(path)
    skip_through = stored_through = None
    if identity is not None:
        result.host = run.config.host(identity.computer).name if run.config.host(identity.computer) else \
            identity.computer
        mark = run.manifest.watermarks.get(f"{result.host}|{identity.channel}")
        if mark and identity.record_id is not None and identity.record_id <= mark["record"]:
            if identity.time_created is None or identity.time_created.isoformat() <= mark["time"]:
                stored_through = mark["record"]
                # Header numbers equal EventRecordIDs in a saved log, so earlier records need not even be
                # decoded; a query export renumbers its headers, so there only decoded events are compared.
                if identity.header_record == identity.record_id:
                    skip_through = stored_through
                result.status = "resumed"
                result.note = f"records up to {stored_through} of {result.host}/{identity.channel} already stored"
            else:
                issues.warning("", "record numbers restart below what was stored before (log cleared?): "
                               "reading every record")
    ctx = SourceContext(source_format="evtx", source_file=name, config=run.config, default_host=result.host)
    errors_before = issues.counts["read-error"]
    records = 0
    top: dict[str, tuple[int, str]] = {}
    try:
        for batch in read_evtx(path, issues, run.engine, skip_through=skip_through):
            if stored_through is not None and skip_through is None:
                batch.events = [e for e in batch.events if e.record_id is None or e.record_id > stored_through]
            records += batch.records
            result.rows_read += batch.records
            extracted = extract_evtx(batch.events, ctx, issues, batch.records)
            result.drops_found += extracted.drops.num_rows
            if extracted.drops.num_rows:
                stored, dups = run.writer.add(extracted.drops, hash_identities(run.con, extracted.event_keys))
                result.drops_stored += stored
                result.duplicates += dups
            for event in batch.events:
                key = f"{ctx.canonical_host(event.computer or '')}|{event.channel}"
                when = (event.time_created or event.written)
                if event.record_id is not None and (key not in top or event.record_id > top[key][0]):
                    top[key] = (event.record_id, when.isoformat() if when else "")
            if run.progress:
                run.progress(name, batch.bytes_done, size)
    except Exception as exc:  # noqa: BLE001 - one file must not end the run
        issues.add("", "read-error", f"stopped reading: {type(exc).__name__}: {exc}")
        result.status = "failed"
        return result
    errors = issues.counts["read-error"] - errors_before
    if errors:
        result.note = f"{errors} damaged record(s) or chunk(s) skipped"
    if run.engine == "python-evtx" and skip_through is None:
        listed = expected_records(path)
        if records + errors < listed:
            issues.warning("", f"python-evtx recovered {records} of the {listed} records the chunk headers list; "
                           "--engine evtx reads damaged files more completely")
    for key, (record, when) in top.items():
        mark = run.manifest.watermarks.get(key)
        if mark is None or record > mark["record"]:
            run.manifest.watermarks[key] = {"record": record, "time": when}
    full_hash = hashed.result()[0]
    run.manifest.record(
        FileEntry(path=str(path.resolve()), size=size, sha256=full_hash, consumed=size, consumed_sha256=full_hash,
                  format="evtx", host=result.host, state={"engine": run.engine}, rows_read=result.rows_read,
                  drops_found=result.drops_found, drops_stored=result.drops_stored, duplicates=result.duplicates,
                  skipped=result.skipped, last_record=max((r for r, _ in top.values()), default=None),
                  run=run.writer.run_id, ingested_at=datetime.now(UTC).isoformat(timespec="seconds"))
    )
    return result


from ._callable import callable_module  # noqa: E402

callable_module(__name__, ingest)
