"""Correlation: which rule and filter of the host's policy explains each stored drop.

The SQL is in ``queries/`` (``flows.sql``, ``explain.sql``, ``macro_ip_number.sql``); this
module opens a DuckDB connection with the warehouse registered as relations, binds
parameters and runs them.

    >>> from pipeline.correlate import flows, explain
    >>> flows("warehouse", load_config("ipsec-drops.toml"), host="WEB01").to_pandas()
    >>> explain("warehouse", config, host="WEB01", src="203.0.113.7", dst="198.51.100.10", proto=6, dport=3389)

Relations every query (and ``ipsec-drops sql``) sees:

* ``drops``: the drops dataset (``warehouse/drops/date=*/*.parquet``, with its Hive ``date``);
* ``filters``, ``policies``, ``rules``, ``filter_actions``, ``settings``, ``issues``,
  ``snapshots``: the policy tables (``warehouse/policy/<table>/*.parquet``), plus the
  filters of config scripts that were never loaded (analysed in memory);
* ``policy_periods(host, snapshot, valid_from, valid_until, source_file)``: which snapshot is
  in force on a host when. From the config when the host has a ``policy`` (and
  ``policy_history``: each earlier script until its ``until``); else the host's current
  snapshot in the warehouse, for all time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .config import Config
from .policy import analyse_script
from .policy.addresses import ip_number
from .policy.store import SCHEMAS, TABLES, current_snapshots, policy_dir, snapshot_files
from .policy.store import table as policy_table
from .policy.weights import CLASS_ORDER, Weight
from .queries import query
from .schema import DROPS_SCHEMA
from .warehouse import Warehouse

VERDICTS = ("blocked-by-rule", "negotiation-required", "permitted-by-policy", "no-matching-filter",
            "boot-or-block-mode")
FLOW_COLUMNS = ("host", "direction", "protocol", "local_ip", "local_port", "remote_ip", "remote_port", "packets",
                "events", "first_seen", "last_seen", "days_seen", "verdict", "rule", "filter_list", "action",
                "source_line")
PERIODS_SCHEMA = pa.schema([
    pa.field("host", pa.string()), pa.field("snapshot", pa.string()),
    pa.field("valid_from", pa.timestamp("us", tz="UTC")), pa.field("valid_until", pa.timestamp("us", tz="UTC")),
    pa.field("source_file", pa.string()),
])
#: Seconds after a 4292 (Block mode) event in which drops no block filter explains are put down to it.
BOOT_WINDOW = 300


@dataclass
class Session:
    """A DuckDB connection with the warehouse's relations registered, and what could not be read."""

    con: duckdb.DuckDBPyConnection
    periods: pa.Table
    notes: list[str] = field(default_factory=list)

    def run(self, name: str, params: dict | None = None) -> pa.Table:
        """Run ``queries/<name>.sql`` with named parameters bound; the result as an Arrow table."""
        return self.con.sql(query(name), params=params or {}).to_arrow_table()

    def close(self) -> None:
        self.con.close()


def _root(warehouse: Warehouse | str | os.PathLike[str]) -> Path:
    return warehouse.root if isinstance(warehouse, Warehouse) else Path(warehouse)


def _policy_table(root: Path, name: str) -> pa.Table:
    folder = policy_dir(root) / name
    files = sorted(p for p in folder.glob("*.parquet")) if folder.is_dir() else []
    tables = [pq.read_table(p, schema=SCHEMAS[name]) for p in files]
    return pa.concat_tables(tables) if tables else SCHEMAS[name].empty_table()


def _periods(root: Path, config: Config | None, notes: list[str]) -> tuple[list[dict], list[pa.Table]]:
    """Policy periods per host, and the filters of config scripts whose snapshot is not in the warehouse."""
    rows: list[dict] = []
    extra: list[pa.Table] = []
    covered: set[str] = set()
    seen: set[tuple[str, str]] = set()
    for name, host in (config.hosts.items() if config else []):
        scripts: list[tuple[Path, datetime | None, datetime | None]] = []
        start = None
        for period in host.policy_history:
            scripts.append((period.script, start, period.until))
            start = period.until
        if host.policy is not None:
            scripts.append((host.policy, start, None))
        if not scripts:
            continue
        covered.add(name.lower())
        for script, since, until in scripts:
            try:
                analysis = analyse_script(script, host=host, config=config)
            except (OSError, ValueError) as exc:
                notes.append(f"{name}: policy script {script} cannot be read ({exc}); "
                             f"its period is correlated as having no policy")
                rows.append({"host": name, "snapshot": None, "valid_from": since, "valid_until": until,
                             "source_file": str(script)})
                continue
            snap = analysis.snapshot
            rows.append({"host": name, "snapshot": snap, "valid_from": since, "valid_until": until,
                         "source_file": str(script)})
            if (name, snap) not in seen and not snapshot_files(root, name, snap)["filters"].exists():
                extra.append(policy_table(analysis, "filters"))
            seen.add((name, snap))
    for host, snap in sorted(current_snapshots(root).items()):
        if host.lower() not in covered:
            rows.append({"host": host, "snapshot": snap, "valid_from": None, "valid_until": None,
                         "source_file": None})
    return rows, extra


def open_session(warehouse: Warehouse | str | os.PathLike[str], config: Config | None = None) -> Session:
    """A connection with ``drops``, the policy tables, ``policy_periods`` and ``ip_number()`` registered."""
    root = _root(warehouse)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(query("macro_ip_number"))
    notes: list[str] = []
    drops_dir = root / "drops"
    if drops_dir.is_dir() and any(drops_dir.glob("date=*/*.parquet")):
        con.read_parquet(str(drops_dir / "date=*" / "*.parquet"), hive_partitioning=True).create_view("drops")
    else:
        empty = DROPS_SCHEMA.empty_table().append_column("date", pa.array([], pa.date32()))
        con.register("drops", empty)
    period_rows, extra = _periods(root, config, notes)
    for name in TABLES:
        data = _policy_table(root, name)
        if name == "filters" and extra:
            data = pa.concat_tables([data, *extra])
        con.register(name, data)
    periods = pa.Table.from_pylist(period_rows, schema=PERIODS_SCHEMA)
    con.register("policy_periods", periods)
    return Session(con, periods, notes)


def _instant(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def flows(warehouse: Warehouse | str | os.PathLike[str], config: Config | None = None, *, host: str | None = None,
          since: datetime | str | None = None, until: datetime | str | None = None, verdict: str | None = None,
          top: int | None = None, boot_window: int = BOOT_WINDOW, session: Session | None = None) -> pa.Table:
    """The flows view (``queries/flows.sql``): one row per flow and winning filter, most packets first.

    ``since``/``until`` are instants (naive = UTC; ``until`` exclusive); ``verdict`` one of
    :data:`VERDICTS`; ``top`` the number of rows.
    """
    if verdict is not None and verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}; one of {', '.join(VERDICTS)}")
    if top is not None and top < 0:
        raise ValueError("top must be 0 or more")
    own = session is None
    session = session or open_session(warehouse, config)
    try:
        days = session.run("drop_days").to_pylist()[0]
        return session.run("flows", {"host": host, "since": _instant(since), "until": _instant(until),
                                     "boot_window": boot_window, "verdict": verdict, "top": top,
                                     "day0": days["day0"], "day1": days["day1"]})
    finally:
        if own:
            session.close()


@dataclass
class Explanation:
    """Every filter of the snapshot in force that matches a packet, best first, and why the winner wins."""

    host: str
    snapshot: str | None
    matches: pa.Table  # explain.sql's rows: in-force filters first, by weight
    winner: dict | None
    runner_up: dict | None
    reason: str
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.winner is None:
            return "no-matching-filter"
        return {"block": "blocked-by-rule", "negotiate": "negotiation-required"}.get(self.winner["action"],
                                                                                     "permitted-by-policy")


_PART_NAMES = {"tunnel": "tunnel rule over transport rule", "class_rank": "address class",
               "port_level": "protocol and ports", "dst_bits": "destination mask bits",
               "src_bits": "source mask bits", "action": "the more restrictive action on a tie"}


def why(winner: dict, other: dict | None) -> str:
    """Why ``winner`` beats ``other``: the most significant part of the weight in which they differ."""
    w = Weight.decode(winner["weight"])
    if other is None:
        return f"the only matching filter in force ({w})"
    o = Weight.decode(other["weight"])
    for part in ("tunnel", "class_rank", "port_level", "dst_bits", "src_bits", "action"):
        a, b = getattr(w, part), getattr(o, part)
        if a != b:
            if part == "class_rank":
                a, b = "->".join(CLASS_ORDER[a - 1]), "->".join(CLASS_ORDER[b - 1])
            elif part == "port_level":
                names = ("any protocol", "protocol", "protocol+srcport", "protocol+dstport", "protocol+both ports")
                a, b = names[a], names[b]
            return (f"{_PART_NAMES[part]}: {a} beats {b} (rule {other['rule']!r}, line {other['source_line']})")
    return (f"same weight as rule {other['rule']!r} (line {other['source_line']}): the first in the script wins")


def explain(warehouse: Warehouse | str | os.PathLike[str], config: Config | None = None, *, host: str, src: str,
            dst: str, proto: int | None, sport: int | None = None, dport: int | None = None,
            at: datetime | str | None = None, session: Session | None = None) -> Explanation:
    """Which filters of ``host``'s policy (in force at ``at``, default: now) match a packet, and which wins."""
    fam_s, _ = ip_number(src)
    fam_d, _ = ip_number(dst)
    if fam_s != fam_d:
        raise ValueError(f"{src} and {dst} are not of the same IP version")
    own = session is None
    session = session or open_session(warehouse, config)
    try:
        when = _instant(at) or datetime.now(UTC)
        rows = session.run("explain", {"host": host, "src": src, "dst": dst, "proto": proto, "sport": sport,
                                       "dport": dport, "at": when})
        snaps = session.run("snapshot_at", {"host": host, "at": when}).to_pylist()
        notes = list(session.notes)
    finally:
        if own:
            session.close()
    live = [r for r in rows.to_pylist() if r["in_force"]]
    winner = live[0] if live else None
    runner = live[1] if len(live) > 1 else None
    snapshot = snaps[0]["snapshot"] if snaps else None
    if snapshot is None:
        notes.append(f"no policy snapshot of {host} is in force at {when.isoformat()}: "
                     "load one (ipsec-drops policy load) or give the host a policy in the config")
    reason = why(winner, runner) if winner else "no filter in force matches: the default response applies"
    return Explanation(host, snapshot, rows, winner, runner, reason, notes)


def sql(warehouse: Warehouse | str | os.PathLike[str], text: str, config: Config | None = None) -> pa.Table:
    """Run ad-hoc SQL with the warehouse's relations registered (see the module docstring)."""
    session = open_session(warehouse, config)
    try:
        result = session.con.sql(text)
        return result.to_arrow_table() if result is not None else pa.table({})
    finally:
        session.close()
