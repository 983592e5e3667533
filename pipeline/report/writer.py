"""The report job: :func:`write_report` and its result (see the package docstring)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..config import Config
from ..correlate import BOOT_WINDOW, Session, WarehouseLike, _instant, open_session, require_warehouse
from ..output import endpoint_text
from ..policy.store import safe_name
from ..queries import query
from ..timespec import zone_named
from . import ISA_STYLES, OUTPUTS, isa, tables  # noqa: F401 - defined in the package, light for the command line

#: Rows of the top-flows and rules tables of the page.
TOP_FLOWS = 20
TOP_RULES = 15
#: Rows a day's drops are read in.
BATCH_ROWS = 64 * 1024
#: Verdicts that count as "blocked" on the page (all but permitted-by-policy, which the policy does not explain).
BLOCKED_VERDICTS = ("blocked-by-rule", "negotiation-required", "no-matching-filter", "no-policy", "boot-or-block-mode")

ProgressHook = Callable[[int, int, str], None]  # (days done, days in all, what is being written)


@dataclass
class ReportFile:
    """One file the report wrote: its path (relative to the report folder), kind, host, day and rows."""

    path: str
    kind: str  # isa2000 | isa2004 | drops-csv | flows-csv | suggestions-csv | chart | html
    host: str | None = None
    day: str | None = None
    rows: int | None = None


@dataclass
class ReportResult:
    """What :func:`write_report` did, as plain data."""

    out: str
    zone: str
    since: str | None
    until: str | None
    days: list[str]
    hosts: list[str]
    files: list[ReportFile] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)  # drops (events) per verdict
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def paths(self, kind: str | None = None) -> list[Path]:
        return [Path(self.out) / f.path for f in self.files if kind is None or f.kind == kind]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def host_folders(hosts: Iterable[str]) -> dict[str, str]:
    """Each host's folder name: :func:`safe_name` of it, made distinct where two names differ only in case."""
    folders: dict[str, str] = {}
    taken: set[str] = set()
    for host in sorted(set(hosts)):
        name = safe_name(host)
        base, n = name, 2
        while name.lower() in taken:  # WEB01 and web01 on a case-insensitive file system
            name = f"{base}~{n}"
            n += 1
        taken.add(name.lower())
        folders[host] = name
    return folders


def _day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    following = day + timedelta(days=1)
    return start, datetime(following.year, following.month, following.day, tzinfo=zone).astimezone(UTC)


def _local_days(session: Session, host: str | None, since: datetime | None, until: datetime | None,
                zone: tzinfo) -> list[date]:
    rows = session.con.execute(
        "SELECT DISTINCT CAST(timezone($zone, event_time) AS DATE) AS day FROM drops "
        "WHERE ($host IS NULL OR lower(host) = lower($host)) AND ($since IS NULL OR event_time >= $since) "
        "AND ($until IS NULL OR event_time < $until) ORDER BY day",
        {"zone": isa.zone_key(zone), "host": host, "since": since, "until": until}).fetchall()
    return [r[0] for r in rows]


def _hosts_of(batch: pa.Table) -> list[tuple[str, pa.Table]]:
    """The rows of each host in a batch ordered by host (slices, no copies)."""
    hosts = batch.column("host").to_pylist()
    out: list[tuple[str, pa.Table]] = []
    start = 0
    for i in range(1, len(hosts) + 1):
        if i == len(hosts) or hosts[i] != hosts[start]:
            out.append((hosts[start], batch.slice(start, i - start)))
            start = i
    return out


class _Hourly:
    """Drops per local hour and verdict, summed over the stream (the input of the hourly charts)."""

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self.counts: dict[tuple[str, str], int] = {}

    def add(self, rows: pa.Table) -> None:
        if rows.num_rows == 0:
            return
        hours = isa.local_times(rows["event_time"], self.zone, "%Y-%m-%d %H:00:00")
        grouped = pa.table({"hour": hours, "verdict": pc.fill_null(rows["verdict"], "unknown")}) \
            .group_by(["hour", "verdict"]).aggregate([([], "count_all")])
        for h, v, n in zip(*(grouped.column(c).to_pylist() for c in ("hour", "verdict", "count_all")), strict=True):
            self.counts[(h, v)] = self.counts.get((h, v), 0) + n

    def table(self) -> pa.Table:
        keys = sorted(self.counts)
        return pa.table({"hour": pa.array([datetime.fromisoformat(h) for h, _ in keys], pa.timestamp("s")),
                         "verdict": pa.array([v for _, v in keys], pa.string()),
                         "drops": pa.array([self.counts[k] for k in keys], pa.int64())})


def _zone_name(zone: tzinfo) -> str:
    return isa.zone_key(zone)


def write_report(warehouse: WarehouseLike, config: Config | None, out: str | os.PathLike[str], *,
                 host: str | None = None, since: datetime | str | None = None, until: datetime | str | None = None,
                 tz: str | tzinfo | None = None, only: Iterable[str] = OUTPUTS, isa_style: str = "w3c",
                 progress: ProgressHook | None = None, session: Session | None = None,
                 suggestions: dict | None = None) -> ReportResult:
    """Write the report of the period's drops into ``out``; returns what was written.

    ``since``/``until`` are instants (naive = UTC; ``until`` exclusive; None = from the first / to the
    last stored drop); ``tz`` an IANA or Windows zone name (or a ``tzinfo``) for the days and the times
    written; ``only`` a subset of :data:`OUTPUTS`; ``isa_style`` ``w3c`` or ``native`` (the ISA 2000
    file); ``progress(days_done, days, label)`` is called as each day is written; ``suggestions`` (the
    result of :func:`pipeline.suggest.suggest`) replaces the suggestions of the period (the nightly job
    passes those of a longer window: recurrence needs more than one night).
    """
    wanted = tuple(dict.fromkeys(only))
    unknown = [o for o in wanted if o not in OUTPUTS]
    if unknown or not wanted:
        raise ValueError(f"unknown output {', '.join(unknown) or '(none)'}; choose from {', '.join(OUTPUTS)}")
    if isa_style not in ISA_STYLES:
        raise ValueError(f"unknown ISA style {isa_style!r}; one of {', '.join(ISA_STYLES)}")
    zone = tz if isinstance(tz, tzinfo) else zone_named(tz)
    isa.zone_key(zone)  # a zone the files can name, or ValueError now
    start, end = _instant(since), _instant(until)
    if start is not None and end is not None and end <= start:
        raise ValueError("--until must be after --since")
    root = require_warehouse(warehouse)
    if session is None:
        with open_session(root, config) as own:
            return write_report(root, config, out, host=host, since=start, until=end, tz=zone, only=wanted,
                                isa_style=isa_style, progress=progress, session=own, suggestions=suggestions)
    began = time.monotonic()
    session.check_host(host)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    period: dict[str, Any] = {"host": host, "since": start, "until": end}
    flows = session.flows(**period)
    days = _local_days(session, host, start, end, zone)
    hosts = sorted({h for h in flows.column("host").to_pylist() if h}, key=str.lower)
    result = ReportResult(str(folder), _zone_name(zone), start.isoformat() if start else None,
                          end.isoformat() if end else None, [d.isoformat() for d in days], hosts,
                          notes=list(session.notes))
    hourly = _stream_days(session, folder, days, zone, wanted, isa_style, period, result, progress)
    needs_suggestions = "csv" in wanted or "html" in wanted
    if suggestions is None:
        suggestions = _suggestions(session, config, period) if needs_suggestions else {"suggestions": []}
    if "csv" in wanted:
        rows = tables.write_flows(flows, folder / "flows.csv", zone)
        result.files.append(ReportFile("flows.csv", "flows-csv", rows=rows))
        rows = tables.write_suggestions(suggestions, folder / "suggestions.csv", zone)
        result.files.append(ReportFile("suggestions.csv", "suggestions-csv", rows=rows))
    pictures: list[tuple[str, str, bytes]] = []
    if "charts" in wanted or "html" in wanted:
        pictures = _charts(flows, hourly, zone)
    if "charts" in wanted:
        (folder / "charts").mkdir(exist_ok=True)
        for name, _title, png in pictures:
            (folder / "charts" / name).write_bytes(png)
            result.files.append(ReportFile(f"charts/{name}", "chart"))
    result.totals = _totals(flows)
    if "html" in wanted:
        from .html import page_context, write_page
        from .quality import data_quality

        result.files.append(ReportFile("report.html", "html"))
        context = page_context(
            period={"first_day": result.days[0] if result.days else "-",
                    "last_day": result.days[-1] if result.days else "-", "days": len(result.days),
                    "since": result.since, "until": result.until},
            hosts=hosts, totals=_verdict_rows(flows), top_flows=_top_flows(flows, zone), rules=_rules(session, flows),
            suggestions=[_page_suggestion(s) for s in suggestions["suggestions"]],
            not_suggested=[_page_refusal(n) for n in suggestions.get("not_suggested", [])],
            quality=data_quality(root, host), charts=[(title, png) for _n, title, png in pictures],
            files=[f.path for f in result.files], zone=result.zone)
        write_page(context, folder / "report.html")
    result.seconds = round(time.monotonic() - began, 3)
    return result


def _stream_days(session: Session, folder: Path, days: list[date], zone: tzinfo, wanted: tuple[str, ...],
                 isa_style: str, period: dict, result: ReportResult, progress: ProgressHook | None) -> pa.Table:
    """Read each day's drops once and write them to that day's ISA and CSV files; returns the hourly counts."""
    layouts = [o for o in ("isa2000", "isa2004") if o in wanted]
    hourly = _Hourly(zone)
    if not (layouts or "csv" in wanted or "charts" in wanted or "html" in wanted):
        return hourly.table()
    verdicts = session.tuple_verdicts(**period)
    session.con.execute(f"CREATE OR REPLACE TEMP VIEW report_verdicts AS SELECT * FROM {verdicts}")
    all_hosts = [r[0] for r in session.con.sql("SELECT DISTINCT host FROM drops WHERE host IS NOT NULL").fetchall()]
    names = host_folders(all_hosts)
    folder_of = {h: folder / n for h, n in names.items()}
    for done, day in enumerate(days):
        if progress:
            progress(done, len(days), day.isoformat())
        day_start, day_end = _day_bounds(day, zone)
        params = {"host": period["host"], "since": period["since"], "until": period["until"], "start": day_start,
                  "end": day_end, "boot_window": BOOT_WINDOW}
        writers = isa.IsaDay(folder_of, day, zone, layouts, isa_style) if layouts else None
        drops_csv = tables.DropsCsv(folder / tables.drops_name(day), zone) if "csv" in wanted else None
        try:
            reader = session.con.sql(query("report_drops"), params=params).to_arrow_reader(BATCH_ROWS)
            for batch in reader:
                rows = pa.Table.from_batches([batch])
                hourly.add(rows)
                if drops_csv is not None:
                    drops_csv.write(rows)
                if writers is not None:
                    for host, part in _hosts_of(rows):
                        writers.write(host, part)
        finally:
            if drops_csv is not None:
                drops_csv.close()
            written = writers.close() if writers is not None else []
        for f in written:
            result.files.append(ReportFile(f.path.relative_to(folder).as_posix(), f.layout, f.host,
                                           day.isoformat(), f.rows))
        if drops_csv is not None:
            result.files.append(ReportFile(tables.drops_name(day), "drops-csv", None, day.isoformat(), drops_csv.rows))
    if progress and days:
        progress(len(days), len(days), "done")
    return hourly.table()


def _suggestions(session: Session, config: Config | None, period: dict) -> dict:
    from ..suggest import suggest

    return suggest(session.root, config, session=session, **period)


def _charts(flows: pa.Table, hourly: pa.Table, zone: tzinfo) -> list[tuple[str, str, bytes]]:
    from . import charts

    inputs = {"flows": flows, "hourly": hourly}
    out = []
    for name, title, make, source in charts.CHARTS:
        kwargs = {"zone": _zone_name(zone)} if source == "hourly" else {}
        out.append((name, title, charts.png_bytes(make(inputs[source], **kwargs))))
    return out


def _totals(flows: pa.Table) -> dict[str, int]:
    return {r["verdict"]: r["events"] for r in _verdict_rows(flows)}


def _verdict_rows(flows: pa.Table) -> list[dict]:
    from ..correlate import VERDICTS

    if flows.num_rows == 0:
        return []
    grouped = flows.group_by("verdict").aggregate([("events", "sum"), ("packets", "sum"), ([], "count_all")])
    by = {r["verdict"]: r for r in grouped.to_pylist()}
    return [{"verdict": v, "events": by[v]["events_sum"], "packets": by[v]["packets_sum"],
             "flows": by[v]["count_all"]} for v in VERDICTS if v in by]


def _time_text(value: Any, zone: tzinfo) -> str:
    if not isinstance(value, datetime):
        return "-"
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def _top_flows(flows: pa.Table, zone: tzinfo) -> list[dict]:
    blocked = flows.filter(pc.is_in(flows["verdict"], pa.array(BLOCKED_VERDICTS)))
    order = blocked.sort_by([("events", "descending"), ("packets", "descending")]).slice(0, TOP_FLOWS)
    out = []
    for f in order.to_pylist():
        out.append({**f, "local": endpoint_text(f["local_ip"], f["local_port"]),
                    "remote": endpoint_text(f["remote_ip"], f["remote_port"]),
                    "first_seen": _time_text(f["first_seen"], zone), "last_seen": _time_text(f["last_seen"], zone)})
    return out


def _rules(session: Session, flows: pa.Table) -> list[dict]:
    groups = session.flow_groups("rule", rows=flows).to_pylist()
    blocking = [g for g in groups if g["verdict"] in ("blocked-by-rule", "negotiation-required")]
    blocking.sort(key=lambda g: (-int(g["events"]), str(g["host"]).lower(), str(g["rule"])))
    return blocking[:TOP_RULES]


def _page_suggestion(s: dict) -> dict:
    port = s["local_port"] if s.get("direction") == "inbound" else s.get("remote_port")
    return {**s, "port": port}


def _page_refusal(n: dict) -> dict:
    port = n.get("local_port") if n.get("direction") == "inbound" else n.get("remote_port")
    remotes = list(n.get("remotes") or [])
    shown = " ".join(remotes[:5]) + (f" +{len(remotes) - 5}" if len(remotes) > 5 else "")
    return {**n, "port": port, "remotes": shown}


__all__ = ["ISA_STYLES", "OUTPUTS", "ProgressHook", "ReportFile", "ReportResult", "host_folders", "write_report"]
