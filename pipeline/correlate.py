"""Correlation: which rule and filter of the host's policy explains each stored drop.

The SQL is in ``queries/`` (``flows.sql``, ``explain.sql``, ``macro_ip_number.sql`` ...);
this module opens a DuckDB connection with the warehouse registered as relations, binds
parameters and runs them.  Every function takes ``(warehouse, config, ...)`` in that order,
then keyword options; a :class:`Session` does the same work on one connection (several
questions, policy overrides for what-if replay)::

    >>> from pipeline.correlate import open_session
    >>> with open_session("warehouse", load_config("ipsec-drops.toml")) as s:
    ...     s.flows(host="WEB01").to_pandas()
    ...     s.explain(host="WEB01", src="203.0.113.7", dst="198.51.100.10", proto="tcp", dport=3389)

Relations every query (and ``ipsec-drops sql``) sees:

* ``drops``: the drops dataset (``warehouse/drops/date=*/*.parquet``, with its Hive ``date``);
* ``allowed``: the observed permitted traffic (``warehouse/allowed/date=*/*.parquet``), judged by the
  same matcher (``tuple_verdicts.sql``) through ``allowed_tuples.sql`` (:meth:`Session.allowed_flows`);
* ``filters``, ``policies``, ``rules``, ``filter_actions``, ``settings``, ``issues``,
  ``snapshots``: the policy tables (``warehouse/policy/<table>/*.parquet``), plus the
  filters of config scripts that were never loaded (analysed in memory, cached by file);
* ``policy_periods(host, snapshot, valid_from, valid_until, source_file)``: which snapshot is
  in force on a host when. From the config when the host has a ``policy`` (and
  ``policy_history``: each earlier script until its ``until``); else the host's current
  snapshot in the warehouse, for all time; a policy override replaces both.

A host with no period at a drop's time has no policy then: its flows get the verdict
``no-policy`` (not ``no-matching-filter``, which means a policy exists and nothing matched).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .config import Config, HostConfig
from .policy import PolicyAnalysis, analyse_script
from .policy.addresses import ip_number
from .policy.store import DATA_TABLES, SCHEMAS, TABLES, current_snapshots, policy_dir, snapshot_files, snapshot_row
from .policy.store import table as policy_table
from .policy.weights import CLASS_ORDER, Weight
from .queries import query
from .schema import ALLOWED_SCHEMA, DROPS_SCHEMA, GROUP_KEYS, VERDICTS, protocol_number  # noqa: F401 - re-exported
from .warehouse import Warehouse

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
#: Statement types ``sql`` runs: reading only (DDL, COPY, ATTACH, SET, INSTALL/LOAD ... are refused).
READ_ONLY_STATEMENTS = frozenset({"SELECT"})

WarehouseLike = Warehouse | str | os.PathLike[str]


GROUP_COUNTS = ("flows", "events", "packets", "hosts", "remotes", "first_seen", "last_seen")
#: The relations ``sql`` offers (``flows`` is computed only when a query names it).
RELATIONS = ("drops", "flows", *TABLES, "policy_periods", "allowed")
#: Columns of the allowed flows view (``queries/allowed_flows.sql``) that tables show first.
ALLOWED_FLOW_COLUMNS = ("host", "direction", "protocol", "local_ip", "local_port", "remote_ip", "remote_port",
                        "events", "bytes", "first_seen", "last_seen", "days_seen", "verdict", "rule",
                        "policy_blocks", "allow_kinds", "source_formats")


class QueryRefused(ValueError):
    """``sql`` was given a statement that is not a read-only query."""


class NoWarehouse(LookupError):
    """The warehouse folder does not exist (or holds nothing a run wrote)."""


class UnknownHost(LookupError):
    """A host name neither the warehouse nor the config knows."""


def require_warehouse(warehouse: WarehouseLike) -> Path:
    """The warehouse's root, or :class:`NoWarehouse` when nothing was ever ingested or loaded there."""
    root = _root(warehouse)
    markers = ("_manifest.json", "drops", "policy")
    if not root.is_dir() or not any((root / m).exists() for m in markers):
        raise NoWarehouse(f"no warehouse at {root}: run `ipsec-drops ingest` first (or give --warehouse)")
    return root


def _root(warehouse: WarehouseLike) -> Path:
    return warehouse.root if isinstance(warehouse, Warehouse) else Path(warehouse)


def _policy_table(root: Path, name: str) -> pa.Table:
    folder = policy_dir(root) / name
    files = sorted(p for p in folder.glob("*.parquet")) if folder.is_dir() else []
    tables = [pq.read_table(p, schema=SCHEMAS[name]) for p in files]
    return pa.concat_tables(tables) if tables else SCHEMAS[name].empty_table()


@lru_cache(maxsize=64)
def _analyse_cached(path: str, mtime_ns: int, size: int, host: HostConfig,
                    names: tuple[tuple[str, tuple[str, ...]], ...]) -> PolicyAnalysis:
    """A config script analysed once per content version (file stamp) and host facts."""
    return analyse_script(path, host=host, config=Config(hosts={host.name: host}, names=dict(names)))


def analyse_config_script(script: Path, host: HostConfig, config: Config) -> PolicyAnalysis:
    """``analyse_script`` for a host's config script, cached until the file or the host's facts change."""
    stat = Path(script).stat()
    names = tuple(sorted(config.names.items()))
    return _analyse_cached(str(script), stat.st_mtime_ns, stat.st_size, host, names)


def _periods(root: Path, config: Config | None, overrides: Mapping[str, PolicyAnalysis],
             notes: list[str]) -> tuple[list[dict], dict[str, list[pa.Table]]]:
    """Policy periods per host, and the policy tables of scripts whose snapshot is not in the warehouse."""
    rows: list[dict] = []
    extra: dict[str, list[pa.Table]] = {name: [] for name in TABLES}
    covered: set[str] = set()
    seen: set[tuple[str, str]] = set()

    def add_filters(host_name: str, analysis: PolicyAnalysis) -> None:
        snap = analysis.snapshot
        if (host_name, snap) not in seen and not snapshot_files(root, host_name, snap)["filters"].exists():
            for name in DATA_TABLES:
                extra[name].append(policy_table(analysis, name))
            extra["snapshots"].append(snapshot_row(analysis, datetime.now(UTC)))
        seen.add((host_name, snap))

    for name, analysis in overrides.items():
        host_name = analysis.host.name if analysis.host else name
        covered.add(host_name.lower())
        rows.append({"host": host_name, "snapshot": analysis.snapshot, "valid_from": None, "valid_until": None,
                     "source_file": analysis.file})
        add_filters(host_name, analysis)
    for name, host in (config.hosts.items() if config else []):
        if name.lower() in covered:
            continue
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
                assert config is not None
                analysis = analyse_config_script(script, host, config)
            except (OSError, ValueError) as exc:
                notes.append(f"{name}: policy script {script} cannot be read ({exc}); "
                             f"its period is correlated as having no policy")
                rows.append({"host": name, "snapshot": None, "valid_from": since, "valid_until": until,
                             "source_file": str(script)})
                continue
            rows.append({"host": name, "snapshot": analysis.snapshot, "valid_from": since, "valid_until": until,
                         "source_file": str(script)})
            add_filters(name, analysis)
    for host_name, snap in sorted(current_snapshots(root).items()):
        if host_name.lower() not in covered:
            rows.append({"host": host_name, "snapshot": snap, "valid_from": None, "valid_until": None,
                         "source_file": None})
    return rows, extra


def _instant(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass
class Explanation:
    """Every filter of the snapshot in force that matches a packet, best first, and why the winner wins."""

    host: str
    snapshot: str | None
    matches: pa.Table  # explain.sql's rows: in-force filters first, by weight
    winner: dict | None
    runner_up: dict | None  # the best in-force match that is a different filter (not the winner's mirror)
    reason: str
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.snapshot is None:
            return "no-policy"
        if self.winner is None:
            return "no-matching-filter"
        return {"block": "blocked-by-rule", "negotiate": "negotiation-required"}.get(self.winner["action"],
                                                                                     "permitted-by-policy")

    def as_dict(self) -> dict:
        """Plain data (JSON output, notebooks): the verdict, winner and reason first, then every match."""
        return {"host": self.host, "snapshot": self.snapshot, "verdict": self.verdict, "winner": self.winner,
                "runner_up": self.runner_up, "reason": self.reason, "matches": self.matches.to_pylist(),
                "notes": list(self.notes)}


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


def _same_filter(a: dict, b: dict) -> bool:
    """Two rows of one filter (a mirrored filter's two directions, or one filter resolved twice)."""
    return all(a.get(k) == b.get(k) for k in ("rule", "filter_list", "filter_index", "source_file", "source_line"))


class Session:
    """A DuckDB connection with the warehouse's relations registered; several questions on one connection.

    ``policies`` maps host names to a :class:`~pipeline.policy.PolicyAnalysis` that replaces
    the host's policy for all time (what-if replay of a candidate script).  ``pinned`` binds
    ``drops`` to the data files present when the session opens (a notebook's consistent view while
    a nightly run publishes); otherwise every query sees what is published at its start.  Use as a context
    manager, or call :meth:`close`.  Config scripts are parsed once per file version
    (:func:`analyse_config_script`), not on every session.
    """

    def __init__(self, warehouse: WarehouseLike, config: Config | None = None, *,
                 policies: Mapping[str, PolicyAnalysis] | None = None, pinned: bool = False) -> None:
        self.root = _root(warehouse)
        self.config = config
        self.notes: list[str] = []
        self.sandboxed = False
        self._registered: set[str] = set()
        self.con = duckdb.connect()
        con = self.con
        con.execute("SET TimeZone = 'UTC'")
        con.execute(query("macro_ip_number"))
        self._pinned = pinned
        self._bind_drops()
        self._bind_allowed()
        period_rows, extra = _periods(self.root, config, dict(policies or {}), self.notes)
        self._tuples: dict[tuple, str] = {}
        self._day0: dict[str, int] = {}
        self._candidates: set[tuple[str, str]] = set()
        self._judged: set[str] = set()
        for name in TABLES:
            data = _policy_table(self.root, name)
            if extra[name]:
                data = pa.concat_tables([data, *extra[name]])
            if name == "filters":
                self._filters = data
            con.register(name, data)
        self.periods = pa.Table.from_pylist(period_rows, schema=PERIODS_SCHEMA)
        con.register("policy_periods", self.periods)

    def _bind_drops(self) -> None:
        """The ``drops`` view: the data files of the warehouse (those present now when pinned)."""
        con, drops_dir = self.con, self.root / "drops"
        files = sorted(str(p) for p in drops_dir.resolve().glob("date=*/*.parquet")) if drops_dir.is_dir() else []
        if self._pinned and files:  # a later publish neither adds to nor changes what is seen
            con.read_parquet(files, hive_partitioning=True).create_view("drops", replace=True)
        elif files:
            con.read_parquet(str(drops_dir.resolve() / "date=*" / "*.parquet"),
                             hive_partitioning=True).create_view("drops", replace=True)
        else:
            empty = DROPS_SCHEMA.empty_table().append_column("date", pa.array([], pa.date32()))
            con.register("drops", empty)

    def _bind_allowed(self) -> None:
        """The ``allowed`` view: the allowed dataset's data files (an empty table when there are none)."""
        con, folder = self.con, self.root / "allowed"
        files = sorted(str(p) for p in folder.resolve().glob("date=*/*.parquet")) if folder.is_dir() else []
        if files:
            con.read_parquet(files, hive_partitioning=True).create_view("allowed", replace=True)
        else:
            con.register("allowed", ALLOWED_SCHEMA.empty_table().append_column("date", pa.array([], pa.date32())))

    def _retrying(self, work: Any) -> Any:
        """``work()``, once more on the files present now if a compaction swapped those it had listed.

        Compaction and retention replace a partition's files in one step; a query that had already
        listed the old ones finds them gone, and is simply run again on the new (the same rows).
        """
        try:
            return work()
        except duckdb.IOException as exc:
            text = str(exc)
            if not any(m in text for m in ("No such file", "No files found", "Cannot open file", "not exist")):
                raise
            self._bind_drops()
            self._bind_allowed()
            return work()

    # -- plumbing ---------------------------------------------------------------------------
    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    def run(self, name: str, params: dict | None = None) -> pa.Table:
        """Run ``queries/<name>.sql`` with named parameters bound; the result as an Arrow table."""
        return self._retrying(lambda: self.con.sql(query(name), params=params or {}).to_arrow_table())

    def sandbox(self) -> None:
        """From now on the connection reads the warehouse folder only and can change nothing (irreversible).

        External access is switched off except for reading under the warehouse folder, and the
        configuration is locked so a query cannot switch it back on.  :meth:`sql` also refuses
        every statement that is not a query (COPY, CREATE, ATTACH, INSTALL ...), so nothing is
        written even inside the warehouse folder.
        """
        if self.sandboxed:
            return
        root = str(self.root.resolve()) + os.sep
        self.con.execute("SET allowed_directories = $dirs", {"dirs": [root]})
        self.con.execute("SET enable_external_access = false")
        self.con.execute("SET lock_configuration = true")
        self.sandboxed = True

    # -- questions --------------------------------------------------------------------------
    def known_hosts(self) -> list[str]:
        """Hosts of the config, of the stored drops and of the stored policy snapshots."""
        names = {h for h in (self.config.hosts if self.config else {})}
        names |= {r[0] for r in self.con.sql("SELECT DISTINCT host FROM drops").fetchall() if r[0]}
        names |= {r[0] for r in self.con.sql("SELECT DISTINCT host FROM allowed").fetchall() if r[0]}
        names |= {r[0] for r in self.con.sql("SELECT DISTINCT host FROM snapshots").fetchall() if r[0]}
        return sorted(names, key=str.lower)

    def check_host(self, host: str | None) -> None:
        """:class:`UnknownHost` (with the known hosts listed) when ``host`` is given and nobody knows it."""
        if host is None:
            return
        known = self.known_hosts()
        wanted = host.strip().lower()
        if any(k.lower() == wanted or k.lower() == wanted.split(".", 1)[0] for k in known):
            return
        from .config import host_list, shown

        raise UnknownHost(f"unknown host {shown(host)!r}: the warehouse and the config know "
                          f"{host_list(known) if known else 'no host at all'}")

    def flow_groups(self, by: str, *, host: str | None = None, since: datetime | str | None = None,
                    until: datetime | str | None = None, verdict: str | None = None,
                    rows: pa.Table | None = None) -> pa.Table:
        """The flows summarised by ``by`` (one of :data:`GROUP_KEYS`): flows, events, packets, first/last seen."""
        import ipaddress

        if by not in GROUP_KEYS:
            raise ValueError(f"unknown grouping {by!r}; one of {', '.join(GROUP_KEYS)}")
        if rows is None:
            rows = self.flows(host=host, since=since, until=until, verdict=verdict)
        networks: dict[str, str] = {}
        if by == "remote-network":
            for ip in set(rows.column("remote_ip").to_pylist()) - {None}:
                address = ipaddress.ip_address(ip)
                networks[ip] = str(ipaddress.ip_network(f"{ip}/{24 if address.version == 4 else 64}", strict=False))
        self.con.register("flow_rows", rows)
        self.con.register("flow_networks", pa.table({"remote_ip": pa.array(list(networks), pa.string()),
                                                     "remote_network": pa.array(list(networks.values()), pa.string())}))
        try:
            result = self.run("flow_groups", {"by": by})
        finally:
            self.con.unregister("flow_rows")
            self.con.unregister("flow_networks")
        return result.select([*GROUP_KEYS[by], *GROUP_COUNTS])

    def tuples(self, *, host: str | None = None, since: datetime | str | None = None,
               until: datetime | str | None = None, boot_window: int = BOOT_WINDOW) -> str:
        """Group the period's drops into distinct tuples (``queries/flow_tuples.sql``), once per period.

        The result is a temporary table of the connection; its name is returned.  Every later
        question about the same period (flows, groups, what-if replays) starts from it, so
        the drops are read once per session and period.
        """
        key = (host.lower() if host else None, _instant(since), _instant(until), boot_window)
        name = self._tuples.get(key)
        if name is None:
            name = f"flow_tuples_{len(self._tuples) + 1}"
            days = self.run("drop_days").to_pylist()[0]
            self._retrying(lambda: self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {name} AS " + query("flow_tuples"),
                {"host": host, "since": key[1], "until": key[2], "boot_window": boot_window,
                 "day0": days["day0"], "day1": days["day1"]}))
            self._tuples[key] = name
            self._day0[name] = days["day0"]
        return name

    def flows(self, *, host: str | None = None, since: datetime | str | None = None,
              until: datetime | str | None = None, verdict: str | None = None, top: int | None = None,
              boot_window: int = BOOT_WINDOW, judge: Mapping[str, str] | None = None,
              with_days: bool = False) -> pa.Table:
        """The flows view (``queries/flows.sql``): one row per flow and winning filter, most packets first.

        ``since``/``until`` are instants (naive = UTC; ``until`` exclusive); ``verdict`` one of
        :data:`VERDICTS`; ``top`` the number of rows.  ``judge`` (host -> snapshot) judges those
        hosts' drops by another snapshot than the one in force (what-if replay; see :meth:`replay`).
        ``with_days`` adds ``seen_days``, the list of UTC dates the flow was seen on.
        """
        if verdict is not None and verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {verdict!r}; one of {', '.join(VERDICTS)}")
        if top is not None and top < 0:
            raise ValueError("top must be 0 or more")
        tuples = self.tuples(host=host, since=since, until=until, boot_window=boot_window)
        self._judge(tuples, judge)
        self.con.execute("CREATE OR REPLACE TEMP TABLE flows_result AS " + query("flows"),
                         {"verdict": verdict, "top": top})
        if not with_days:
            return self.con.sql("SELECT * EXCLUDE (days) FROM flows_result").to_arrow_table()
        day0 = self._day0[tuples]
        return self.con.sql(
            "SELECT * EXCLUDE (days), list_transform(list_filter(range(bit_length(days)), "
            "lambda i: get_bit(days, i::INTEGER) = 1), lambda i: DATE '1970-01-01' + ($day0 + i)::INTEGER) "
            "AS seen_days FROM flows_result", params={"day0": day0}).to_arrow_table()

    def allowed_tuples(self, *, host: str | None = None, since: datetime | str | None = None,
                       until: datetime | str | None = None) -> str:
        """The period's permitted traffic as tuples (``queries/allowed_tuples.sql``), once per period: a temp table."""
        key = ("allowed", host.lower() if host else None, _instant(since), _instant(until))
        name = self._tuples.get(key)
        if name is None:
            name = f"allowed_tuples_{len(self._tuples) + 1}"
            days = self.run("allowed_days").to_pylist()[0]
            self._retrying(lambda: self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {name} AS " + query("allowed_tuples"),
                {"host": host, "since": key[2], "until": key[3], "day0": days["day0"], "day1": days["day1"]}))
            self._tuples[key] = name
            self._day0[name] = days["day0"]
        return name

    def allowed_flows(self, *, host: str | None = None, since: datetime | str | None = None,
                      until: datetime | str | None = None, verdict: str | None = None, top: int | None = None,
                      judge: Mapping[str, str] | None = None) -> pa.Table:
        """The observed permitted flows with the filter that decides each (``queries/allowed_flows.sql``).

        The same matcher as :meth:`flows` (``tuple_verdicts.sql``) over the allowed dataset; ``judge``
        as there (what-if replay).  ``policy_blocks`` flags traffic seen permitted that the policy blocks.
        """
        if verdict is not None and verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {verdict!r}; one of {', '.join(VERDICTS)}")
        tuples = self.allowed_tuples(host=host, since=since, until=until)
        self._judge(tuples, judge)
        return self._retrying(lambda: self.con.sql(query("allowed_flows"), params={"verdict": verdict, "top": top})
                              .to_arrow_table()).drop_columns(["days"])

    def replay_allowed(self, policies: Mapping[str, PolicyAnalysis], **period: Any) -> pa.Table:
        """The permitted flows of the period judged as if each host of ``policies`` had had that policy."""
        judge = {host: self.add_policy(analysis) for host, analysis in policies.items()}
        return self.allowed_flows(judge=judge, **period)

    def _judge(self, tuples: str, judge: Mapping[str, str] | None) -> None:
        """Point the views ``flow_tuples`` and ``tuple_verdicts`` at a period's tuples, judged by ``judge``."""
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW flow_tuples AS SELECT * FROM {tuples}")
        judged = pa.table({"host": pa.array(list(judge or {}), pa.string()),
                           "snapshot": pa.array(list((judge or {}).values()), pa.string())})
        self.con.register("judge_snapshots", judged)
        self.con.execute("CREATE OR REPLACE TEMP VIEW tuple_verdicts AS " + query("tuple_verdicts"))

    def tuple_verdicts(self, *, host: str | None = None, since: datetime | str | None = None,
                       until: datetime | str | None = None, boot_window: int = BOOT_WINDOW) -> str:
        """The period's tuples judged by the policy in force (``queries/tuple_verdicts.sql``), once per period.

        A temporary table of the connection (its name is returned): one row per distinct tuple
        of :meth:`tuples` with the winning filter and the verdict, the rows :meth:`flows` groups.
        Reports join each stored drop to its tuple's row (``queries/report_drops.sql``).
        """
        tuples = self.tuples(host=host, since=since, until=until, boot_window=boot_window)
        name = f"{tuples}_judged"
        if name not in self._judged:
            self._judge(tuples, None)
            self.con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM tuple_verdicts")
            self._judged.add(name)
        return name

    def day0(self, **period: Any) -> int:
        """The day number of bit 0 of the period's day bitmaps (the ``days`` of flow_tuples / flows_result)."""
        return self._day0[self.tuples(**period)]

    def scan_sources(self, scan_ports: int, **period: Any) -> pa.Table:
        """Remotes that touched ``scan_ports`` or more local ports of a host in one UTC day (``scan_sources.sql``)."""
        tuples = self.tuples(**period)
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW flow_tuples AS SELECT * FROM {tuples}")
        return self.run("scan_sources", {"scan_ports": scan_ports, "day0": self._day0[tuples]})

    def periods_of(self, host: str) -> list[dict]:
        """The policy periods of ``host`` (which snapshot is in force when)."""
        return [r for r in self.periods.to_pylist() if r["host"].lower() == host.lower()]

    def add_policy(self, analysis: PolicyAnalysis) -> str:
        """Make a candidate policy's filters available to :meth:`flows` ``judge=``; returns its snapshot id."""
        snap = analysis.snapshot
        host_name = analysis.host.name if analysis.host else ""
        if (host_name, snap) not in self._candidates:
            if analysis.amends is not None:  # the base's rows once (relabelled), then only the added ones
                from dataclasses import replace

                base = policy_table(analysis.amends, "filters")
                base = base.set_column(base.schema.get_field_index("snapshot"), "snapshot",
                                       pa.array([snap] * base.num_rows, pa.string()))
                added = policy_table(replace(analysis, filters=analysis.filters[analysis.base_rows:]), "filters")
                table = pa.concat_tables([base, added])
            else:
                table = policy_table(analysis, "filters")
            self._filters = pa.concat_tables([self._filters, table])
            self.con.register("filters", self._filters)
            self._candidates.add((host_name, snap))
        return snap

    def replay(self, policies: Mapping[str, PolicyAnalysis], **period: Any) -> pa.Table:
        """The flows of the period if each host of ``policies`` had had that policy all along.

        The drops are not read again: the period's tuples (:meth:`tuples`) are judged against
        the candidate filters.
        """
        judge = {host: self.add_policy(analysis) for host, analysis in policies.items()}
        return self.flows(judge=judge, **period)

    def explain(self, *, host: str, src: str, dst: str, proto: int | str | None, sport: int | None = None,
                dport: int | None = None, at: datetime | str | None = None) -> Explanation:
        """Which filters of ``host``'s policy (in force at ``at``, default: now) match a packet, and which wins.

        ``proto`` is a number or a name (``tcp``, ``UDP``, ``icmp`` ...).
        """
        number = protocol_number(proto) if proto is not None else None
        fam_s, _ = ip_number(src)
        fam_d, _ = ip_number(dst)
        if fam_s != fam_d:
            raise ValueError(f"{src} and {dst} are not of the same IP version")
        when = _instant(at) or datetime.now(UTC)
        rows = self.run("explain", {"host": host, "src": src, "dst": dst, "proto": number, "sport": sport,
                                    "dport": dport, "at": when})
        snaps = self.run("snapshot_at", {"host": host, "at": when}).to_pylist()
        notes = list(self.notes)
        live = [r for r in rows.to_pylist() if r["in_force"]]
        winner = live[0] if live else None
        runner = next((r for r in live[1:] if winner is not None and not _same_filter(r, winner)), None)
        snapshot = snaps[0]["snapshot"] if snaps else None
        if snapshot is None:
            notes.append(f"no policy of {host} is in force at {when.isoformat()}: "
                         "load one (ipsec-drops policy load) or give the host a policy in the config")
            reason = "the host has no policy in force at that time"
        elif winner is None:
            reason = "no filter in force matches: the default response applies"
        else:
            reason = why(winner, runner)
        return Explanation(host, snapshot, rows, winner, runner, reason, notes)

    def _statements(self, text: str) -> list:
        statements = self.con.extract_statements(text)
        if not statements:
            raise QueryRefused("no SQL statement given")
        for statement in statements:
            kind = statement.type.name
            if kind not in READ_ONLY_STATEMENTS:
                raise QueryRefused(f"only queries are run here (SELECT, WITH ... SELECT); refused a {kind} "
                                   "statement: the warehouse is read-only to sql")
        return statements

    def sql_reader(self, text: str, *, host: str | None = None, since: datetime | str | None = None,
                   until: datetime | str | None = None, batch_rows: int = 64 * 1024) -> pa.RecordBatchReader:
        """Run read-only SQL (see :meth:`sql`) and stream the last statement's rows in batches.

        A query that names ``flows`` gets the flows view of ``host``/``since``/``until`` (computed
        once, before the sandbox is closed).
        """
        import re

        statements = self._statements(text)
        if re.search(r"\bflows\b", text, re.IGNORECASE) and "flows" not in self._registered:
            self.con.register("flows", self.flows(host=host, since=since, until=until))
            self._registered.add("flows")
        self.sandbox()
        try:
            for statement in statements[:-1]:
                self.con.execute(statement.query)
            return self._retrying(lambda: self.con.sql(statements[-1].query).to_arrow_reader(batch_rows))
        except duckdb.CatalogException as exc:
            if "does not exist" in str(exc):
                raise UnknownRelation(f"{exc}; the relations are {', '.join(RELATIONS)} "
                                      "(and the macro ip_number(text))") from exc
            raise

    def sql(self, text: str, **bind: Any) -> pa.Table:
        """Run read-only SQL over the relations (see the module docstring); the last statement's result.

        Sandboxed first (:meth:`sandbox`); a statement that is not a query raises :class:`QueryRefused`.
        """
        return self.sql_reader(text, **bind).read_all()


class UnknownRelation(LookupError):
    """A query named a table or view the warehouse does not have."""


def open_session(warehouse: WarehouseLike, config: Config | None = None, *,
                 policies: Mapping[str, PolicyAnalysis] | None = None) -> Session:
    """A :class:`Session`: ``drops``, the policy tables, ``policy_periods`` and ``ip_number()`` registered."""
    return Session(warehouse, config, policies=policies)


def flows(warehouse: WarehouseLike, config: Config | None = None, *, host: str | None = None,
          since: datetime | str | None = None, until: datetime | str | None = None, verdict: str | None = None,
          top: int | None = None, boot_window: int = BOOT_WINDOW, session: Session | None = None) -> pa.Table:
    """The flows view; see :meth:`Session.flows`."""
    if session is not None:
        return session.flows(host=host, since=since, until=until, verdict=verdict, top=top, boot_window=boot_window)
    with Session(warehouse, config) as own:
        return own.flows(host=host, since=since, until=until, verdict=verdict, top=top, boot_window=boot_window)


def explain(warehouse: WarehouseLike, config: Config | None = None, *, host: str, src: str, dst: str,
            proto: int | str | None, sport: int | None = None, dport: int | None = None,
            at: datetime | str | None = None, session: Session | None = None) -> Explanation:
    """Which filters match a packet and which wins; see :meth:`Session.explain`."""
    if session is not None:
        return session.explain(host=host, src=src, dst=dst, proto=proto, sport=sport, dport=dport, at=at)
    with Session(warehouse, config) as own:
        return own.explain(host=host, src=src, dst=dst, proto=proto, sport=sport, dport=dport, at=at)


def sql(warehouse: WarehouseLike, config: Config | str | None = None, text: str | Config | None = None) -> pa.Table:
    """Read-only, sandboxed SQL over the warehouse's relations; see :meth:`Session.sql`.

    Arguments in the order of :func:`flows` and :func:`explain`: ``sql(warehouse, config, text)``
    (the older ``sql(warehouse, text, config)`` is still understood).
    """
    if isinstance(config, str):  # the older argument order
        config, text = text, config
    if not isinstance(text, str):
        raise TypeError("sql() needs the query text")
    assert config is None or isinstance(config, Config)
    with Session(warehouse, config) as session:
        return session.sql(text)
