"""Investigation in Jupyter: one call opens a warehouse, every answer is a pandas DataFrame.

    >>> from pipeline import open_warehouse
    >>> inv = open_warehouse("warehouse", "ipsec-drops.toml")
    >>> inv.flows(host="WEB01", verdict="blocked-by-rule").head()
    >>> inv.explain_flow(inv.flows(host="WEB01").iloc[0])
    >>> inv.suggest(host="WEB01")
    >>> inv.sql("select drop_kind, count(*) n from drops group by all")
    >>> inv.plot.drops_over_time(inv.drops(since="7d"))

Read-only: the investigation never takes the warehouse lock, so it neither blocks nor
breaks a nightly ingest; published files are never rewritten, and the relations are
bound when the investigation is opened (``refresh()`` sees what was published since).

DataFrames keep integer columns integer (pandas' nullable ``Int64``/``Int32`` ..., so a
missing port is ``<NA>``, not ``NaN`` turning ``3389`` into ``3389.0``); times are UTC.
Protocols are accepted by name everywhere (``"tcp"``, ``"UDP"``) or number.
"""

from __future__ import annotations

import html
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from .config import Config, load_config
from .correlate import Session, require_warehouse
from .schema import protocol_number
from .timespec import parse_instant, zone_named

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_INTEGERS = {
    pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(), pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(), pa.bool_(): pd.BooleanDtype(),
}


def to_frame(table: pa.Table) -> pd.DataFrame:
    """An Arrow table as a DataFrame whose integer and boolean columns stay integer and boolean (nullable)."""
    return table.to_pandas(types_mapper=_INTEGERS.get)


class Plots:
    """The report's charts (:mod:`pipeline.report.charts`) for this investigation; each returns a Figure.

    Called without data, a chart fetches its own for the period (``host``, ``since``, ``until``,
    ``tz``); given a DataFrame (``inv.flows(...)``) it draws that::

        inv.plot.drops_per_hour(host="WEB01", since="7d")
        inv.plot.top_sources(inv.flows(verdict="blocked-by-rule"))
    """

    def __init__(self, inv: Investigation) -> None:
        self._inv = inv

    @staticmethod
    def _charts() -> Any:
        from .report import charts

        return charts

    def _hourly(self, host: str | None, since: Any, until: Any, tz: str | None) -> pd.DataFrame:
        wide = self._inv.timeline(host, "1h", since, until, tz=tz)
        if wide.empty:
            return pd.DataFrame({"hour": [], "verdict": [], "drops": []})
        long = wide.reset_index().melt(id_vars="time", var_name="verdict", value_name="drops")
        long["drops"] = long["drops"].astype("int64")
        long["time"] = long["time"].dt.tz_localize(None)  # the charts draw local wall time, the zone in the title
        return long.rename(columns={"time": "hour"})

    def drops_per_hour(self, data: Any = None, *, host: str | None = None, since: Any = None, until: Any = None,
                       tz: str | None = None) -> Figure:
        """Drops per hour stacked by verdict (``data``: hour, verdict, drops)."""
        data = self._hourly(host, since, until, tz) if data is None else data
        return self._charts().drops_per_hour(data, zone=tz or "UTC")

    drops_over_time = drops_per_hour

    def hour_day_heatmap(self, data: Any = None, *, host: str | None = None, since: Any = None, until: Any = None,
                         tz: str | None = None) -> Figure:
        """Drops by hour of day and day (``data``: hour, verdict, drops)."""
        data = self._hourly(host, since, until, tz) if data is None else data
        return self._charts().hour_day_heatmap(data, zone=tz or "UTC")

    def _flows_chart(self, name: str, data: Any, host: str | None, since: Any, until: Any, **kw: Any) -> Figure:
        if data is None:
            data = self._inv.flows(host, since, until)
        return getattr(self._charts(), name)(data, **kw)

    def top_ports(self, data: Any = None, *, host: str | None = None, since: Any = None, until: Any = None,
                  top: int = 10) -> Figure:
        """The local service ports blocked most (``data``: flows)."""
        return self._flows_chart("top_ports", data, host, since, until, top=top)

    def top_sources(self, data: Any = None, *, host: str | None = None, since: Any = None, until: Any = None,
                    top: int = 10) -> Figure:
        """The remote sources dropped most, with their networks (``data``: flows)."""
        return self._flows_chart("top_sources", data, host, since, until, top=top)

    def drops_per_rule(self, data: Any = None, *, host: str | None = None, since: Any = None, until: Any = None,
                       top: int = 15) -> Figure:
        """Drops per deciding rule (``data``: flows)."""
        return self._flows_chart("drops_per_rule", data, host, since, until, top=top)

    def names(self) -> list[str]:
        return ["drops_per_hour", "drops_over_time", "hour_day_heatmap", "top_ports", "top_sources",
                "drops_per_rule"]


class Investigation:
    """A read-only view of a warehouse for notebooks (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], config: Config | str | os.PathLike[str] | None = None) -> None:
        self.root = require_warehouse(path)
        self.config = config if isinstance(config, Config) or config is None else load_config(config)
        self.plot = Plots(self)
        self._session: Session | None = None
        self._suggestions: pd.DataFrame | None = None

    # -- the connection -------------------------------------------------------------------------------------
    @property
    def session(self) -> Session:
        """The correlation session (one DuckDB connection) the answers come from."""
        if self._session is None:
            self._session = Session(self.root, self.config, pinned=True)
            self._derived: set[str] = set()
        return self._session

    def _ensure(self, names: set[str]) -> None:
        """Register the derived relations ``flows`` and ``suggestions`` (computed once, when first needed)."""
        session = self.session
        if "flows" in names and "flows" not in self._derived:
            session.con.register("flows", session.flows())
            self._derived.add("flows")
        if "suggestions" in names and "suggestions" not in self._derived:
            from .suggest import suggest

            session.con.register("suggestions", _suggestion_table(suggest(self.root, self.config, session=session)))
            self._derived.add("suggestions")

    @property
    def con(self) -> Any:
        """The DuckDB connection: ``drops``, ``flows``, ``filters``, ``rules``, ``policies``, ``snapshots``,
        ``policy_periods``, ``suggestions`` (and the other policy tables) registered."""
        self._ensure({"flows", "suggestions"})
        return self.session.con

    def refresh(self) -> Investigation:
        """See what was published since the investigation was opened (a new ingest, a policy load)."""
        self.close()
        self._suggestions = None
        return self

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> Investigation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- questions ------------------------------------------------------------------------------------------
    def _window(self, host: str | None, since: Any, until: Any, tz: str | None = None) -> dict:
        zone_name = tz
        if zone_name is None and host and self.config is not None and self.config.host(host):
            zone_name = self.config.host(host).timezone  # type: ignore[union-attr]
        zone = zone_named(zone_name)
        if host:
            self.session.check_host(host)
        return {"host": host, "since": parse_instant(since, zone), "until": parse_instant(until, zone)}

    def flows(self, host: str | None = None, since: str | datetime | None = None,
              until: str | datetime | None = None, verdict: str | None = None, *, tz: str | None = None,
              top: int | None = None) -> pd.DataFrame:
        """The flows view: one row per flow and winning filter, most packets first.

        ``since``/``until`` take every form of the command line (``"7d"``, ``"yesterday"``,
        ``"2026-11-11 08:00"`` in ``tz`` or the host's zone, ISO 8601).
        """
        return to_frame(self.session.flows(verdict=verdict, top=top, **self._window(host, since, until, tz)))

    def flow_groups(self, by: str, host: str | None = None, since: Any = None, until: Any = None,
                    verdict: str | None = None) -> pd.DataFrame:
        """The flows summarised by ``verdict``, ``rule``, ``host``, ``port`` or ``remote-network``."""
        return to_frame(self.session.flow_groups(by, verdict=verdict, **self._window(host, since, until)))

    def drops(self, host: str | None = None, since: Any = None, until: Any = None,
              columns: list[str] | None = None, limit: int | None = None) -> pd.DataFrame:
        """The stored drops of the period (all columns unless ``columns``), oldest first."""
        window = self._window(host, since, until)
        wanted = ", ".join(f'"{c}"' for c in columns) if columns else "*"
        for c in columns or ():
            if '"' in c:
                raise ValueError(f"not a column name: {c!r}")
        table = self.session.con.sql(
            f"SELECT {wanted} FROM drops WHERE ($host IS NULL OR lower(host) = lower($host)) "
            "AND ($since IS NULL OR event_time >= $since) AND ($until IS NULL OR event_time < $until) "
            "ORDER BY event_time LIMIT $limit", params={**window, "limit": limit}).to_arrow_table()
        return to_frame(table)

    def timeline(self, host: str | None = None, freq: str = "1h", since: Any = None, until: Any = None,
                 by: str = "verdict", *, tz: str | None = None) -> pd.DataFrame:
        """Drops per ``freq`` (a pandas frequency: ``"1h"``, ``"15min"``, ``"1D"``), one column per verdict
        (or per ``drop_kind``/``direction``/``host`` with ``by``); every bucket of the period is a row."""
        if by not in ("verdict", "drop_kind", "direction", "host"):
            raise ValueError("by must be verdict, drop_kind, direction or host")
        window = self._window(host, since, until, tz)
        self.session.flows(**window)
        if by == "verdict":
            # each drop with its flow's verdict: the drops of the period joined to flows_result by flow key
            table = self.session.con.sql(_DROP_VERDICTS, params=window).to_arrow_table()
        else:
            table = self.session.con.sql(
                f"SELECT event_time, coalesce({by}, '(none)') AS key, packets FROM drops "
                "WHERE ($host IS NULL OR lower(host) = lower($host)) AND ($since IS NULL OR event_time >= $since) "
                "AND ($until IS NULL OR event_time < $until)", params=window).to_arrow_table()
        frame = table.to_pandas()
        if frame.empty:
            return pd.DataFrame(dtype="Int64")
        zone = getattr(zone_named(tz), "key", "UTC") if tz else "UTC"
        delta = pd.tseries.frequencies.to_offset(freq)
        if pd.Timedelta(delta) < pd.Timedelta(days=1):
            # hours and less: buckets of UTC time, shown in the zone (the repeated hour of a DST change
            # stays two buckets)
            frame["bucket"] = frame["event_time"].dt.floor(freq).dt.tz_convert(zone)
            out = frame.pivot_table(index="bucket", columns="key", values="packets", aggfunc="count", fill_value=0)
            full = pd.date_range(out.index.min(), out.index.max(), freq=freq).tz_convert(zone)
        else:  # days and more: the zone's own days
            naive = frame["event_time"].dt.tz_convert(zone).dt.tz_localize(None)
            frame["bucket"] = naive.dt.floor(freq)
            out = frame.pivot_table(index="bucket", columns="key", values="packets", aggfunc="count", fill_value=0)
            full = pd.date_range(out.index.min(), out.index.max(), freq=freq)
        out = out.reindex(full, fill_value=0).astype("Int64")
        out.index.name = "time"
        out.columns.name = by
        return out

    def explain(self, host: str, src: str, dst: str, proto: int | str | None, sport: int | None = None,
                dport: int | None = None, at: str | datetime | None = None) -> pd.DataFrame:
        """Every filter that matches a packet, best first; ``attrs`` holds the verdict, winner and why."""
        entry = self.config.host(host) if self.config else None
        when = parse_instant(at, zone_named(entry.timezone if entry else None)) if at else None
        self.session.check_host(host)
        e = self.session.explain(host=host, src=src, dst=dst, proto=proto, sport=sport, dport=dport, at=when)
        frame = to_frame(e.matches)
        frame.attrs.update({"verdict": e.verdict, "winner": e.winner, "runner_up": e.runner_up, "reason": e.reason,
                            "snapshot": e.snapshot, "notes": e.notes})
        return frame

    def explain_flow(self, row: pd.Series | dict, at: str | datetime | None = None) -> pd.DataFrame:
        """:meth:`explain` for a row of :meth:`flows`: the packet as the flow's drops had it (at its last drop)."""
        get = row.get if isinstance(row, dict) else row.get

        def value(name: str) -> Any:
            v = get(name)
            return None if v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v)) else v

        inbound = value("direction") != "outbound"
        local, remote = value("local_ip"), value("remote_ip")
        lport, rport = value("local_port"), value("remote_port")
        src, dst = (remote, local) if inbound else (local, remote)
        sport, dport = (rport, lport) if inbound else (lport, rport)
        if src is None or dst is None:
            raise ValueError("this flow has no addresses to explain (e.g. a Block mode event)")
        when = at if at is not None else value("last_seen")
        return self.explain(value("host"), src, dst, value("protocol"),
                            int(sport) if sport is not None else None, int(dport) if dport is not None else None,
                            when)

    def suggest(self, host: str | None = None, since: Any = None, until: Any = None, *, verify: bool = False,
                **options: Any) -> pd.DataFrame:
        """Suggested permit filters, one row each (``netsh`` lines in a column); ``attrs`` has ``not_suggested``
        (a DataFrame), ``replay`` (with ``verify``) and ``script`` (the .cmd text)."""
        from .suggest import netsh_script, suggest

        result = suggest(self.root, self.config, verify=verify, session=self.session,
                         **self._window(host, since, until), **options)
        frame = to_frame(_suggestion_table(result))
        frame.attrs["not_suggested"] = pd.DataFrame(result["not_suggested"])
        frame.attrs["replay"] = result.get("replay")
        frame.attrs["script"] = netsh_script(result)
        return frame

    def whatif(self, host: str, script: str | os.PathLike[str] | None = None,
               replace_with: str | os.PathLike[str] | None = None, since: Any = None, until: Any = None
               ) -> pd.DataFrame:
        """Flows whose verdict or rule a candidate script changes (``attrs["summary"]`` has the totals)."""
        from .suggest import whatif

        result = whatif(self.root, self.config, script=script, replace_with=replace_with, session=self.session,
                        **self._window(host, since, until))
        frame = pd.DataFrame(result["changed"])
        for col in ("protocol", "local_port", "remote_port", "events", "packets", "days"):
            if col in frame:
                frame[col] = frame[col].astype("Int64")
        frame.attrs["summary"] = result["summary"]
        return frame

    def lint(self, host: str) -> pd.DataFrame:
        """The lint findings and parse problems of the host's policy script (config ``policy``)."""
        from .correlate import analyse_config_script
        from .policy.jobs import lint_script

        entry = self.config.host(host) if self.config else None
        if entry is None or entry.policy is None:
            raise LookupError(f"{host} has no policy script in the config")
        report = lint_script(analyse_config_script(entry.policy, entry, self.config))  # type: ignore[arg-type]
        return pd.DataFrame([i.as_dict() for i in report.everything],
                            columns=["file", "line", "severity", "code", "message", "text"])

    def sql(self, text: str) -> pd.DataFrame:
        """Read-only SQL over the relations (a query that writes or reads outside the warehouse is refused).

        The relations of :attr:`con`; ``flows`` and ``suggestions`` are computed when a query names them.
        """
        import re

        self._ensure({name for name in ("flows", "suggestions") if re.search(rf"\b{name}\b", text, re.I)})
        return to_frame(self.session.sql(text))

    # -- display --------------------------------------------------------------------------------------------
    def summary(self) -> dict:
        counts = self.session.con.sql(
            "SELECT host, count(*) AS drops, min(event_time) AS first, max(event_time) AS last "
            "FROM drops GROUP BY host ORDER BY host").fetchall()
        return {"warehouse": str(self.root), "hosts": {h: {"drops": n, "first": f, "last": la}
                                                       for h, n, f, la in counts},
                "drops": sum(n for _, n, _, _ in counts)}

    def _repr_html_(self) -> str:
        s = self.summary()
        rows = "".join(
            f"<tr><td>{html.escape(h)}</td><td style='text-align:right'>{v['drops']:,}</td>"
            f"<td>{html.escape(str(v['first']))}</td><td>{html.escape(str(v['last']))}</td></tr>"
            for h, v in s["hosts"].items())
        return (f"<div><b>ipsec-drops warehouse</b> {html.escape(s['warehouse'])}: {s['drops']:,} drops"
                f"<table><thead><tr><th>host</th><th>drops</th><th>first (UTC)</th><th>last (UTC)</th></tr>"
                f"</thead><tbody>{rows}</tbody></table></div>")

    def __repr__(self) -> str:
        return f"Investigation({str(self.root)!r})"


_DROP_VERDICTS = """
SELECT d.event_time, coalesce(f.verdict, 'unknown') AS key, d.packets
FROM drops d
LEFT JOIN (SELECT DISTINCT host, direction, protocol, local_ip, remote_ip, local_port, remote_port, verdict
           FROM flows_result) f
  ON f.host = d.host AND f.direction IS NOT DISTINCT FROM d.direction AND f.protocol IS NOT DISTINCT FROM d.protocol
 AND f.local_ip IS NOT DISTINCT FROM d.local_ip AND f.remote_ip IS NOT DISTINCT FROM d.remote_ip
 AND (f.local_port IS NULL OR f.local_port = CASE WHEN d.direction = 'outbound' THEN d.src_port ELSE d.dst_port END)
 AND (f.remote_port IS NULL OR f.remote_port = CASE WHEN d.direction = 'outbound' THEN d.dst_port ELSE d.src_port END)
WHERE ($host IS NULL OR lower(d.host) = lower($host)) AND ($since IS NULL OR d.event_time >= $since)
  AND ($until IS NULL OR d.event_time < $until)
QUALIFY row_number() OVER (PARTITION BY d.host, d.source_file, d.source_record, d.event_time ORDER BY f.verdict) = 1
"""


def _suggestion_table(result: dict) -> pa.Table:
    rows = [{k: v for k, v in s.items() if k not in ("rem",)} | {"netsh": "\n".join(s["netsh"]),
                                                                 "remote_networks": " ".join(s["remote_networks"]),
                                                                 "remotes": " ".join(s["remotes"]),
                                                                 "risks": "; ".join(s["risks"])}
            for s in result["suggestions"]]
    for row in rows:
        replay = row.pop("replay", None)
        if replay is not None:
            row["drops_permitted"] = replay.get("drops_permitted")
            row["flows_permitted"] = replay.get("flows_permitted")
    if not rows:
        return pa.table({c: pa.array([], pa.string()) for c in ("host", "kind", "name", "direction", "netsh")})
    return pa.Table.from_pylist(rows)


def open_warehouse(path: str | os.PathLike[str], config: Config | str | os.PathLike[str] | None = None
                   ) -> Investigation:
    """Open a warehouse for investigation (read-only; see :class:`Investigation`).

    ``config`` is the ``ipsec-drops.toml`` (a path or a loaded :class:`~pipeline.config.Config`):
    it supplies the hosts' policy scripts and zones.  Raises ``LookupError`` when there is no
    warehouse at ``path``.
    """
    return Investigation(Path(path), config)


def protocol(value: int | str) -> int:
    """The protocol number of a name or number (``"tcp"`` -> 6), as every method accepts."""
    return protocol_number(value)


__all__ = ["Investigation", "Plots", "open_warehouse", "to_frame"]
