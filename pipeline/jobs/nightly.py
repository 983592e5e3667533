"""The nightly job: one unattended command from the inboxes to the reports, safe to run any number of times.

Steps, each the library function the command line also offers:

1. **ingest** every file of every configured host's ``inbox`` globs (:func:`pipeline.ingest.ingest`);
2. **policies**: load each host's ``policy`` script as a snapshot (unchanged scripts store nothing);
3. **reports** for the days that received new drops (:func:`pipeline.report.write_report`: ISA logs,
   CSV, charts, ``report.html``), with the suggestions of the last ``[nightly] suggest_days`` days
   (recurrence needs more than one night);
4. **maintenance**: compact the date partitions this run touched, apply ``retention_days``
   (:func:`pipeline.warehouse.maintain`);
5. a **run record** (``warehouse/_runs/<run>-nightly.json``: per file rows, drops, duplicates, skips,
   seconds; per host totals; the exit code) that ``status`` reads, and a one-screen summary.

A nightly lock (``.nightly.lock``) is held for the whole job: a second job started meanwhile
exits with code 3 at once.  A rerun with nothing new does nothing and says so; after missed
nights the next run catches up (every new file, a report of every day that received drops).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import filelock

from ..config import Config
from ..exit_codes import EXIT_FAILED, EXIT_LOCKED, EXIT_OK, EXIT_SKIPPED
from ..warehouse import Warehouse, WarehouseError, WarehouseLocked
from ..warehouse.errors import describe_os_error
from ..warehouse.runs import last_records

#: Blocked flows listed per host in the summary.
TOP_NEW = 3
BLOCKED = ("blocked-by-rule", "no-matching-filter", "no-policy", "negotiation-required")


class NightlyFailed(WarehouseError):
    """A step of the nightly job failed (exit 4).  ``report`` says what the run did before: the drops an
    ingest published stay published, and the days it owes (``pending_days``) are done by the next run."""

    def __init__(self, message: str, report: NightlyReport) -> None:
        super().__init__(message, report.warehouse)
        self.report = report


@dataclass
class HostNight:
    """What the night brought for one host."""

    host: str
    files: int = 0
    files_read: int = 0
    new_drops: int = 0
    skipped: int = 0
    new_flows: int = 0
    top_new_blocked: list[dict] = field(default_factory=list)
    suggestions: int = 0
    newest_drop: str | None = None
    last_file: str | None = None


@dataclass
class NightlyReport:
    run_id: str
    started: str
    warehouse: str
    reports: str | None
    exit_code: int = EXIT_OK
    seconds: float = 0.0
    ingest_summary: str = ""
    files: list[dict] = field(default_factory=list)
    hosts: dict[str, HostNight] = field(default_factory=dict)
    new_days: list[str] = field(default_factory=list)
    policies: list[str] = field(default_factory=list)
    report_files: int = 0
    maintenance: str = ""
    problems: list[str] = field(default_factory=list)
    record: str | None = None
    #: days whose reports or compaction are still owed (a run killed or failed after its ingest): the
    #: next run does them, so a report is never missing for a day that received drops
    pending_days: list[str] = field(default_factory=list)
    #: the step running or last done: ingest, policies, reports, maintenance, done
    stage: str = "ingest"
    #: the start (``YYYYmmddTHHMMSS``, UTC) of the earliest run whose ingest may have published drops
    #: without recording their days as owed (a run stopped during its ingest): the next run owes the days
    #: of every part published since then
    ingest_since: str | None = None
    #: the config file and the policy scripts as this run saw them (sizes, times, a hash of the config): a
    #: next run that finds them, and every inbox file, unchanged knows at once that it has nothing to do
    fingerprint: dict[str, Any] = field(default_factory=dict)

    @property
    def nothing_new(self) -> bool:
        return not self.new_days and not any(h.new_drops for h in self.hosts.values())

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["nothing_new"] = self.nothing_new
        return out

    def summary_lines(self) -> list[str]:
        """The one-screen summary: per host, then what the night did."""
        if self.nothing_new:
            head = f"nothing new: {len(self.files)} file(s) in the inboxes, all already ingested"
        else:
            days = self.new_days
            shown = ", ".join(days) if len(days) <= 4 else f"{days[0]} ... {days[-1]}"
            head = f"{sum(h.new_drops for h in self.hosts.values()):,} new drops on {len(days)} day(s) ({shown})"
        lines = [head]
        if not self.nothing_new and self.ingest_summary:
            lines.append(f"ingest: {self.ingest_summary}")
        for host in sorted(self.hosts.values(), key=lambda h: h.host.lower()):
            line = (f"  {host.host}: {host.files} file(s) ({host.files_read} read), {host.new_drops:,} new drops, "
                    f"{host.new_flows} new flow(s), {host.suggestions} suggestion(s)")
            if host.skipped:
                line += f", {host.skipped:,} skipped"
            lines.append(line)
            for f in host.top_new_blocked:
                lines.append(f"      new: {f['direction']} {f['protocol_name']} {f['remote']} -> {f['local']}: "
                             f"{f['packets']:,} packets, {f['verdict']} ({f['rule'] or '-'})")
        if self.report_files:
            lines.append(f"reports: {self.report_files} file(s) -> {self.reports}")
        if self.maintenance:
            lines.append(f"warehouse: {self.maintenance}")
        lines += [f"problem: {p}" for p in self.problems]
        return lines


def inbox_files(config: Config) -> list[tuple[str, Path]]:
    """(host, file) of every file the configured inbox globs match, each file once, sorted."""
    seen: dict[Path, str] = {}
    for host in config.hosts.values():
        for pattern in host.inbox:
            for match in sorted(glob.glob(str(config.base_dir / pattern), recursive=True)):
                path = Path(match)
                if path.is_file() and not path.name.startswith("."):
                    seen.setdefault(path, host.name)
    return sorted(((h, p) for p, h in seen.items()), key=lambda hp: str(hp[1]))


def nightly(config: Config, *, warehouse: str | os.PathLike[str] | None = None,
            reports: str | os.PathLike[str] | None = None, today: date | None = None,
            log: Any = None) -> NightlyReport:
    """Run the nightly job (see the module docstring); ``log(event, **fields)`` receives progress events.

    Raises :class:`~pipeline.warehouse.WarehouseLocked` when another nightly job (or a writer) holds the
    warehouse, :class:`~pipeline.warehouse.WarehouseError` when it cannot be written.
    """
    began = time.monotonic()
    wh = Warehouse(config.warehouse_path(warehouse))
    report_dir = Path(reports) if reports else config.nightly.reports
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f") + "-nightly"
    out = NightlyReport(run_id, datetime.now(UTC).isoformat(timespec="seconds"), str(wh.root),
                        str(report_dir) if report_dir else None)
    emit = log or (lambda event, **fields: None)
    wh.root.mkdir(parents=True, exist_ok=True)
    guard = filelock.FileLock(str(wh.root / ".nightly.lock"), timeout=0)
    try:
        guard.acquire()
    except filelock.Timeout:
        raise WarehouseLocked(f"another nightly job is running on {wh.root}; this one does nothing") from None
    try:
        previous = last_records(wh, 1)
        out.fingerprint = _fingerprint(config)
        if not _nothing_to_do(config, wh, out, previous, today, emit):
            _run(config, wh, report_dir, today, out, emit, previous)
    except (WarehouseError, OSError) as exc:  # recorded (when the disk still takes it), then raised
        reason = describe_os_error(exc) if isinstance(exc, OSError) and not exc.filename else str(exc)
        if isinstance(exc, OSError) and exc.filename:
            reason = f"{exc.filename}: {describe_os_error(exc)}"
        done = ("nothing was published" if out.stage == "ingest" else
                f"the drops ingested are stored; the next run writes the reports of {', '.join(out.pending_days)}"
                if out.pending_days else "the drops ingested are stored")
        message = f"nightly failed during {out.stage}: {reason}; {done}"
        out.exit_code = EXIT_FAILED
        out.problems.append(message)
        out.seconds = round(time.monotonic() - began, 2)
        out.record = _write_record(wh, out)
        raise NightlyFailed(message, out) from exc
    finally:
        guard.release()
    out.seconds = round(time.monotonic() - began, 2)
    out.record = _write_record(wh, out)
    return out


def _run(config: Config, wh: Warehouse, report_dir: Path | None, today: date | None, out: NightlyReport,
         emit: Any, previous: list[dict]) -> None:
    from ..correlate import open_session
    from ..ingest import ingest, plan_inputs
    from ..policy.jobs import host_scripts, load_policies
    from ..warehouse import maintain

    prior = previous[-1] if previous else {}
    owed = [d for d in prior.get("pending_days") or [] if _is_day(d)]
    # A run stopped during its ingest (killed, or failed after its commit point) may have published drops
    # whose days it never recorded as owed: the days of the parts published since it began are owed too.
    # They are looked up after this run's ingest, which first completes an interrupted publish.
    since = (prior.get("ingest_since") or str(prior.get("run_id", ""))[:15]) if prior.get("stage") == "ingest" \
        else None
    out.ingest_since = since or out.run_id[:15]
    out.pending_days = owed
    out.record = _write_record(wh, out)  # stage "ingest" until the next record: a kill leaves it behind
    files = inbox_files(config)
    for host in config.hosts.values():
        out.hosts[host.name.lower()] = HostNight(host.name)
    emit("ingest", files=len(files))
    plan = plan_inputs([p for _, p in files])
    owner = {str(p): h for h, p in files}
    report = ingest(plan, wh, config)
    out.ingest_summary = report.summary()
    exit_code = report.exit_code
    for f in report.files:
        name = f.host or owner.get(f.path) or "?"
        night = out.hosts.setdefault(name.lower(), HostNight(name))
        night.files += 1
        read = f.status not in ("unchanged", "ignored")
        night.files_read += read
        night.new_drops += f.drops_stored
        night.skipped += f.skipped
        if read:
            night.last_file = f.path
        out.files.append({"path": f.path, "host": f.host, "format": f.format, "status": f.status,
                          "rows": f.rows_read, "drops": f.drops_stored, "duplicates": f.duplicates,
                          "skipped": f.skipped, "seconds": f.seconds, **_stamp(Path(f.path))})
    out.problems += [str(i) for i in report.issues if i.kind not in ("held-back", "warning")][:20]
    out.problems += report.damage
    new_days = sorted({Path(p).parent.name.removeprefix("date=") for p in report.parts})
    out.new_days = new_days
    if since:
        owed += _days_published_since(wh, since)
    days = sorted(set(new_days) | set(owed))
    out.pending_days = days
    out.stage = "policies"
    if days or since:  # owed from now on, until the reports and the compaction are done (survives a kill)
        out.record = _write_record(wh, out)
    emit("policies", hosts=len(host_scripts(config)))
    loads = load_policies(host_scripts(config), wh, config)
    for load in loads.loads:
        if load.error:
            out.problems.append(f"{load.host}: {load.error}")
        elif load.result is not None and load.result.status != "unchanged":
            out.policies.append(f"{load.host}: snapshot {load.result.snapshot} {load.result.status}")
    if loads.has_problems:
        exit_code = max(exit_code, EXIT_SKIPPED)
    if days and wh.drops_dir.is_dir():
        out.stage = "reports"
        first = datetime.fromisoformat(days[0]).replace(tzinfo=UTC)
        last = datetime.fromisoformat(days[-1]).replace(tzinfo=UTC) + timedelta(days=1)
        with open_session(wh, config) as session:
            if new_days:
                _new_flows(session, out, report.parts, first, last)
            if report_dir is not None:
                emit("reports", days=len(days))
                from ..report import write_report
                from ..suggest import suggest

                suggestions = suggest(wh.root, config, session=session, until=last,
                                      since=last - timedelta(days=config.nightly.suggest_days))
                for s in suggestions["suggestions"]:
                    night = out.hosts.setdefault(s["host"].lower(), HostNight(s["host"]))
                    night.suggestions += 1
                result = write_report(wh.root, config, report_dir, since=first, until=last, session=session,
                                      suggestions=suggestions)
                out.report_files = len(result.files)
    _lag(wh, out, report.parts, previous)  # before maintenance: compaction replaces this run's parts
    out.stage = "maintenance"
    emit("maintenance", days=len(days))
    done = maintain(wh, dates=days if config.nightly.compact else [], retention_days=config.nightly.retention_days,
                    today=today)
    out.maintenance = done.summary() if done.changed else ""
    out.pending_days = []
    out.stage = "done"
    out.exit_code = int(exit_code)


def _stamp(path: Path) -> dict[str, int]:
    """Size and modification time of ``path`` (empty when it cannot be read)."""
    try:
        st = path.stat()
    except OSError:
        return {}
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _fingerprint(config: Config) -> dict[str, Any]:
    """What, besides the inbox files, decides a night's work: the config's bytes and the policy scripts."""
    import hashlib

    text = b""
    if config.path is not None:
        with contextlib.suppress(OSError):
            text = Path(config.path).read_bytes()
    scripts = sorted({str(p) for h in config.hosts.values()
                      for p in [h.policy, *(e.script for e in h.policy_history)] if p is not None})
    return {"config_sha256": hashlib.sha256(text).hexdigest(),
            "scripts": {p: _stamp(Path(p)) for p in scripts}}


def _nothing_to_do(config: Config, wh: Warehouse, out: NightlyReport, previous: list[dict], today: date | None,
                   emit: Any) -> bool:
    """The rerun of a night that has nothing new, decided from file stamps and JSON alone (no Parquet read,
    no ingest machinery imported): fills ``out`` as the full run would and says True, or says False.

    Nothing to do means: the last run finished cleanly (exit 0, nothing owed) with the same config and
    policy scripts (same bytes, sizes and times); no interrupted publish waits; every inbox file has the
    path, size and modification time with which it was read whole (or was found to be no export); every
    data part the manifest lists is there; and retention has no day to retire.  Anything else takes the
    full path, which handles it (and says so).
    """
    from ..warehouse.manifest import Manifest

    last = previous[-1] if previous else None
    if (last is None or last.get("stage") != "done" or last.get("exit_code") != EXIT_OK or last.get("pending_days")
            or last.get("fingerprint") != out.fingerprint or wh.journal_path.exists() or wh.staging_dir.exists()):
        return False
    try:
        manifest = Manifest.load(wh.manifest_path)
    except (WarehouseError, OSError, ValueError):
        return False
    not_exports = {f["path"]: (f.get("size"), f.get("mtime_ns")) for f in last.get("files", [])
                   if f.get("status") == "ignored"}
    files = inbox_files(config)
    records: list[tuple[dict[str, Any], str]] = []
    for owner, path in files:
        stamp = _stamp(path)
        if not stamp:
            return False
        seen = manifest.same_file(str(path.resolve()), stamp["size"], stamp["mtime_ns"])
        if seen is not None and not seen.refused:
            records.append(({"path": str(path), "host": seen.host, "format": seen.format, "status": "unchanged",
                             "rows": 0, "drops": 0, "duplicates": 0, "skipped": 0, "seconds": 0.0, **stamp}, owner))
        elif not_exports.get(str(path)) == (stamp["size"], stamp["mtime_ns"]):
            records.append(({"path": str(path), "host": None, "format": None, "status": "ignored", "rows": 0,
                             "drops": 0, "duplicates": 0, "skipped": 0, "seconds": 0.0, **stamp}, owner))
        else:
            return False
    if any(not (wh.root / name).exists() for name in manifest.parts or {}):
        return False  # damage: the full path names it
    if config.nightly.retention_days:
        horizon = ((today or datetime.now(UTC).date()) - timedelta(days=config.nightly.retention_days)).isoformat()
        if any(Path(name).parent.name.removeprefix("date=") < horizon for name in manifest.parts or {}):
            return False
    emit("ingest", files=len(files))
    known: dict[str, dict] = last.get("hosts", {})
    for host in config.hosts.values():
        before = known.get(host.name.lower()) or {}
        out.hosts[host.name.lower()] = HostNight(host.name, newest_drop=before.get("newest_drop"),
                                                 last_file=before.get("last_file"))
    for record, owner in records:
        name = str(record["host"] or owner)
        night = out.hosts.setdefault(name.lower(), HostNight(name))
        night.files += 1
        out.files.append(record)
    unchanged = sum(1 for r, _ in records if r["status"] == "unchanged")
    out.ingest_summary = (f"nothing new: every file was already ingested ({unchanged} file(s) unchanged)"
                          if unchanged else "no export files found")
    out.stage = "done"
    out.exit_code = EXIT_OK
    emit("nothing-new", files=len(files))
    return True


def _is_day(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except (TypeError, ValueError):
        return False
    return True


def _new_flows(session: Any, out: NightlyReport, parts: list[str], first: datetime, last: datetime) -> None:
    """Per host: the flows first seen in this run's drops (``queries/new_flows.sql``), top blocked ones listed.

    Only the days that received drops are correlated; the history is asked one question (was any
    drop of this flow stored before?), so a night costs the same in the first week and the third year.
    """
    from ..output import endpoint_text
    from ..schema import protocol_name

    files = [str(session.root / p) for p in parts]
    if not files:
        return
    starts = session.con.sql("SELECT lower(host) AS h, min(event_time) AS night_start FROM read_parquet($f) "
                             "GROUP BY 1", params={"f": files}).to_arrow_table()
    night = session.flows(since=first, until=last)
    con = session.con
    con.register("night_flows_raw", night)
    con.register("night_starts", starts)
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE night_flows AS SELECT f.*, s.night_start "
                    "FROM night_flows_raw f JOIN night_starts s ON s.h = lower(f.host)")
        rows = session.run("new_flows").to_pylist()
    finally:
        con.unregister("night_flows_raw")
        con.unregister("night_starts")
    for flow in rows:
        host = out.hosts.setdefault(flow["host"].lower(), HostNight(flow["host"]))
        host.new_flows += 1
        if flow["verdict"] in BLOCKED and len(host.top_new_blocked) < TOP_NEW:  # most packets first
            host.top_new_blocked.append({
                "direction": flow["direction"], "protocol": flow["protocol"],
                "protocol_name": protocol_name(flow["protocol"]) or "-",
                "local": endpoint_text(flow["local_ip"], flow["local_port"]),
                "remote": endpoint_text(flow["remote_ip"], flow["remote_port"]), "packets": flow["packets"],
                "verdict": flow["verdict"], "rule": flow["rule"]})


def _days_published_since(wh: Warehouse, since: str) -> list[str]:
    """The dates of the data parts published by runs that began at ``since`` (``YYYYmmddTHHMMSS``) or later."""
    try:
        parts = wh.manifest().parts or {}
    except WarehouseError:  # damaged: the ingest just said so; repair, then the next run
        return []
    return sorted({Path(rel).parent.name.removeprefix("date=") for rel, part in parts.items()
                   if part.run[:15] >= since and _is_day(Path(rel).parent.name.removeprefix("date="))})


def _lag(wh: Warehouse, out: NightlyReport, parts: list[str], previous: list[dict]) -> None:
    """Per host the newest drop stored and the last file seen (how far behind the warehouse is).

    Carried forward from the previous run record and updated from this run's new parts only, so a
    night with nothing new reads no Parquet; the first run (no record), and a run after one that
    stopped before its end, ask the whole warehouse.
    """
    import duckdb

    if previous and previous[-1].get("stage") != "done":
        previous = []
    known: dict[str, dict] = previous[-1].get("hosts", {}) if previous else {}
    for key, night in out.hosts.items():
        before = known.get(key) or {}
        night.newest_drop = night.newest_drop or before.get("newest_drop")
        night.last_file = night.last_file or before.get("last_file")
    files = [str(wh.root / p) for p in parts] if previous else ([wh.drops_glob()] if wh.drop_files() else [])
    files = [f for f in files if "*" in f or Path(f).exists()]
    if not files:
        return
    con = duckdb.connect()
    try:
        rows = con.execute("SELECT host, max(event_time) FROM read_parquet($g) GROUP BY 1", {"g": files}).fetchall()
    finally:
        con.close()
    for host, newest in rows:
        night = out.hosts.setdefault(host.lower(), HostNight(host))
        stamp = newest.astimezone(UTC).isoformat() if newest else None
        if stamp and (night.newest_drop is None or newest > datetime.fromisoformat(night.newest_drop)):
            night.newest_drop = stamp


def _write_record(wh: Warehouse, out: NightlyReport) -> str | None:
    """The run record, ``_runs/<run>-nightly.json`` (written whole, then renamed into place)."""
    from ..warehouse.manifest import write_atomically

    path = wh.runs_dir / f"{out.run_id}.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps(out.as_dict(), indent=1, default=str))
    except OSError:
        return None
    return str(path)


__all__ = ["EXIT_FAILED", "EXIT_LOCKED", "HostNight", "NightlyFailed", "NightlyReport", "inbox_files", "last_records",
           "nightly"]
