"""The report's CSV files for Excel: ``flows.csv``, ``suggestions.csv``, ``drops-<yyyymmdd>.csv``.

Every file goes through :class:`pipeline.output.CsvSink` (the project's one CSV writer: RFC 4180
quoting, a leading ``'`` on every string cell a spreadsheet would run as a formula) with a UTF-8 BOM,
so Excel opens UTF-8 host and rule names right.  Times are ISO 8601 in the report's zone with its
offset (``2026-10-24T08:00:00Z`` in UTC, ``2026-10-24T10:00:00+02:00`` with ``--tz Europe/Berlin``),
so every cell says its zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, tzinfo
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..output import CsvSink, iso_text
from .isa import zone_key

#: Columns of ``drops-<yyyymmdd>.csv``: the drop as stored, then what the correlation says about it.
DROP_COLUMNS = ("event_time", "host", "drop_kind", "verdict", "rule", "direction", "protocol", "src_ip", "src_port",
                "dst_ip", "dst_port", "local_ip", "local_port", "remote_ip", "remote_port", "packets", "event_id",
                "filter_list", "action", "policy_file", "policy_line", "wfp_filter_id", "wfp_layer", "process_id",
                "application", "message", "source_format", "source_file", "source_record")
SUGGESTION_COLUMNS = ("host", "kind", "name", "direction", "protocol", "local_port", "remote_port", "remote_networks",
                      "remotes", "events", "packets", "days", "first_seen", "last_seen", "blocked_by", "risks", "rem",
                      "netsh")


def drops_name(day: date) -> str:
    return f"drops-{day:%Y%m%d}.csv"


def iso_in_zone(times: pa.Array | pa.ChunkedArray, zone: tzinfo) -> pa.Array | pa.ChunkedArray:
    """Instants as ISO 8601 text in ``zone`` with its offset (``Z`` for UTC); fractions only when there are any."""
    name = zone_key(zone)
    if name == "UTC":
        return iso_text(times)
    local = pc.cast(pc.cast(times, pa.timestamp("us", tz="UTC")), pa.timestamp("us", tz=name))
    text = pc.replace_substring_regex(pc.strftime(local, format="%Y-%m-%dT%H:%M:%S"), pattern="\\.0+$",
                                      replacement="")
    offset = pc.replace_substring_regex(pc.strftime(local, format="%z"), pattern="^([+-]\\d\\d)(\\d\\d)$",
                                        replacement="\\1:\\2")
    return pc.binary_join_element_wise(text, offset, "")


def zoned(table: pa.Table, zone: tzinfo) -> pa.Table:
    """``table`` with every timestamp column as ISO 8601 text in ``zone``."""
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            table = table.set_column(i, field.name, iso_in_zone(table.column(i), zone))
    return table


class DropsCsv:
    """``drops-<yyyymmdd>.csv`` of one day, written batch by batch (all hosts, in host and time order)."""

    def __init__(self, path: Path, zone: tzinfo) -> None:
        self.path = path
        self.zone = zone
        self._sink = CsvSink(path, DROP_COLUMNS, bom=True)

    def write(self, rows: pa.Table) -> None:
        if rows.num_rows:
            self._sink.write(zoned(rows.select(list(DROP_COLUMNS)), self.zone))

    @property
    def rows(self) -> int:
        return self._sink.rows

    def close(self) -> None:
        self._sink.close()


def write_flows(flows: pa.Table, path: Path, zone: tzinfo) -> int:
    """``flows.csv``: the flows view of the period (its columns, in its order), times in ``zone``."""
    table = flows.drop_columns([c for c in ("seen_days", "days") if c in flows.column_names])
    with CsvSink(path, table.column_names, bom=True) as sink:
        if table.num_rows:
            sink.write(zoned(table, zone))
        return sink.rows


def suggestion_rows(result: dict) -> list[dict[str, Any]]:
    """One plain row per suggestion of :func:`pipeline.suggest.suggest`, its netsh lines as one text."""
    rows = []
    for s in result.get("suggestions", []):
        rows.append({**{c: s.get(c) for c in SUGGESTION_COLUMNS},
                     "remote_networks": " ".join(s.get("remote_networks") or ()),
                     "remotes": " ".join(s.get("remotes") or ()),
                     "risks": "; ".join(s.get("risks") or ()),
                     "netsh": "\n".join(s.get("netsh") or ())})
    return rows


def write_suggestions(result: dict, path: Path, zone: tzinfo) -> int:
    """``suggestions.csv``: one row per suggestion, with the netsh commands that would make it (one cell)."""
    rows = suggestion_rows(result)
    types = {"local_port": pa.int32(), "remote_port": pa.int32(), "protocol": pa.int16(), "events": pa.int64(),
             "packets": pa.int64(), "days": pa.int64(), "first_seen": pa.timestamp("us", tz="UTC"),
             "last_seen": pa.timestamp("us", tz="UTC")}
    schema = pa.schema([pa.field(c, types.get(c, pa.string())) for c in SUGGESTION_COLUMNS])
    table = pa.Table.from_pylist(rows, schema=schema)
    with CsvSink(path, SUGGESTION_COLUMNS, bom=True) as sink:
        if table.num_rows:
            sink.write(zoned(table, zone))
        return sink.rows


__all__: Sequence[str] = ("DROP_COLUMNS", "DropsCsv", "drops_name", "iso_in_zone", "suggestion_rows",
                          "write_flows", "write_suggestions", "zoned")
