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
from ..warehouse import Warehouse, WarehouseLocked

#: Blocked flows listed per host in the summary.
TOP_NEW = 3
BLOCKED = ("blocked-by-rule", "no-matching-filter", "no-policy", "negotiation-required")


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
            head = (f"{sum(h.new_drops for h in self.hosts.values()):,} new drops on {len(self.new_days)} day(s) "
                    f"({', '.join(self.new_days)})")
        lines = [head]
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
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-nightly"
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
        _run(config, wh, report_dir, today, out, emit)
    finally:
        guard.release()
    out.seconds = round(time.monotonic() - began, 2)
    out.record = _write_record(wh, out)
    return out


def _run(config: Config, wh: Warehouse, report_dir: Path | None, today: date | None, out: NightlyReport,
         emit: Any) -> None:
    from ..correlate import open_session
    from ..ingest import ingest, plan_inputs
    from ..policy.jobs import host_scripts, load_policies
    from ..warehouse import maintain

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
        night.files_read += f.status not in ("unchanged", "ignored")
        night.new_drops += f.drops_stored
        night.skipped += f.skipped
        night.last_file = f.path
        out.files.append({"path": f.path, "host": f.host, "format": f.format, "status": f.status,
                          "rows": f.rows_read, "drops": f.drops_stored, "duplicates": f.duplicates,
                          "skipped": f.skipped, "seconds": f.seconds})
    out.problems += [str(i) for i in report.issues if i.kind not in ("held-back", "warning")][:20]
    out.problems += report.damage
    new_days = sorted({Path(p).parent.name.removeprefix("date=") for p in report.parts})
    out.new_days = new_days
    emit("policies", hosts=len(host_scripts(config)))
    loads = load_policies(host_scripts(config), wh, config)
    for load in loads.loads:
        if load.error:
            out.problems.append(f"{load.host}: {load.error}")
        elif load.result is not None and load.result.status != "unchanged":
            out.policies.append(f"{load.host}: snapshot {load.result.snapshot} {load.result.status}")
    if loads.has_problems:
        exit_code = max(exit_code, EXIT_SKIPPED)
    if new_days and (wh.drops_dir.is_dir()):
        first = datetime.fromisoformat(new_days[0]).replace(tzinfo=UTC)
        last = datetime.fromisoformat(new_days[-1]).replace(tzinfo=UTC) + timedelta(days=1)
        with open_session(wh, config) as session:
            _new_flows(session, out, report.parts)
            if report_dir is not None:
                emit("reports", days=len(new_days))
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
    emit("maintenance", days=len(new_days))
    done = maintain(wh, dates=new_days, retention_days=config.nightly.retention_days, today=today)
    out.maintenance = done.summary() if done.changed else ""
    _lag(wh, out)
    out.exit_code = int(exit_code)


def _new_flows(session: Any, out: NightlyReport, parts: list[str]) -> None:
    """Per host: the flows first seen in this run's drops, and the top blocked ones among them."""
    from ..output import endpoint_text
    from ..schema import protocol_name

    files = [str(session.root / p) for p in parts]
    if not files:
        return
    earliest = dict(session.con.sql("SELECT lower(host), min(event_time) FROM read_parquet($f) GROUP BY 1",
                                    params={"f": files}).fetchall())
    for flow in session.flows().to_pylist():
        since = earliest.get(flow["host"].lower())
        if since is None or flow["first_seen"] < since:
            continue
        night = out.hosts.setdefault(flow["host"].lower(), HostNight(flow["host"]))
        night.new_flows += 1
        if flow["verdict"] in BLOCKED and len(night.top_new_blocked) < TOP_NEW:  # flows come most packets first
            night.top_new_blocked.append({
                "direction": flow["direction"], "protocol": flow["protocol"],
                "protocol_name": protocol_name(flow["protocol"]) or "-",
                "local": endpoint_text(flow["local_ip"], flow["local_port"]),
                "remote": endpoint_text(flow["remote_ip"], flow["remote_port"]), "packets": flow["packets"],
                "verdict": flow["verdict"], "rule": flow["rule"]})


def _lag(wh: Warehouse, out: NightlyReport) -> None:
    """Per host the newest drop stored (how far behind the warehouse is)."""
    import duckdb

    if not wh.drop_files():
        return
    con = duckdb.connect()
    try:
        rows = con.execute("SELECT lower(host), max(event_time) FROM read_parquet($g) GROUP BY 1",
                           {"g": wh.drops_glob()}).fetchall()
    finally:
        con.close()
    for host, newest in rows:
        if host in out.hosts:
            out.hosts[host].newest_drop = newest.isoformat() if newest else None


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


def last_records(wh: Warehouse, count: int = 10) -> list[dict]:
    """The latest nightly run records, oldest first (what ``status`` shows)."""
    paths = sorted(wh.runs_dir.glob("*-nightly.json")) if wh.runs_dir.is_dir() else []
    out = []
    for path in paths[-count:]:
        try:
            out.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return out


__all__ = ["EXIT_FAILED", "EXIT_LOCKED", "HostNight", "NightlyReport", "inbox_files", "last_records", "nightly"]
