"""IPSec driver events (System log, source ``IPSec``/``IPSEC``) -> drop rows.

The events and their insertion strings (log-formats.md §1.2-1.4):

* 4283-4288: ``%2`` packets from remote address ``%3`` (bad SPI, clear text that
  should have been secured, ...): one row with ``packets = %2``, inbound;
* 4289: negotiation with ``%2`` failed because no filter exists: outbound, one row;
* 4290 / 4291: one inbound / outbound packet: ``%2`` source, ``%3`` destination,
  ``%4`` protocol (number or name), ``%5`` source port, ``%6`` destination port;
* 4292: the driver entered Block mode: no addresses at all.

``Strings`` holds the insertion strings joined by ``|``; whether the driver name
(``%1``) is among them is not documented, so values are counted from the end.
When ``Strings`` was not exported the values are read out of ``Message``.
Rows from Log Parser exports are identified by (host, System, RecordNumber); an
export without RecordNumber falls back to the content of the event.

:func:`extract_ipsec_driver` runs the steps in order, each a function below: keep
the drop events, name their hosts, convert their times, read their insertion
strings, check the values, lay them out as drop columns, key each drop.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..issues import IssueLog
from ..localtime import local_to_utc
from ..schema import DROPS_SCHEMA, IPSEC_DRIVER_DROP_KINDS, SYSTEM_LOG
from . import Extracted, SourceContext
from .values import RowChecks, last_items, normalise_ip, parse_int, parse_local_timestamp, parse_protocol, single

_MESSAGE_PATTERNS = {
    "count": r"(?P<count>\d+) packet\(s\)\D*?from (?P<ip>[0-9A-Fa-f:.]*[0-9A-Fa-f])",
    "packet": (r"Source IP Address:\s*(?P<src>\S+)\s+Destination IP Address:\s*(?P<dst>\S+)\s+"
               r"Protocol:\s*(?P<proto>\S+)\s+Source Port:\s*(?P<sport>\S+)\s+Destination Port:\s*(?P<dport>\S+)"),
    "negotiation": r"negotiation with (?P<ip>\S+) since",
}

#: Each value a drop is made of: (the events that have it, how many insertion strings those
#: events have after the driver name, which of them counting from the first, the group of
#: ``_MESSAGE_PATTERNS[kind]`` that finds it in the message).
_VALUES = {
    "count": ("count", 2, 0, "count"),
    "count_ip": ("count", 2, 1, "ip"),
    "src": ("packet", 5, 0, "src"),
    "dst": ("packet", 5, 1, "dst"),
    "proto": ("packet", 5, 2, "proto"),
    "sport": ("packet", 5, 3, "sport"),
    "dport": ("packet", 5, 4, "dport"),
    "nego_ip": ("negotiation", 1, 0, "ip"),
}

#: The EVT fields this extractor reads; readers need not clean the others.
FIELDS_USED = frozenset(
    {"EventID", "SourceName", "ComputerName", "TimeGenerated", "TimeWritten", "Strings", "Message", "RecordNumber"}
)

# pa.nulls, not pa.scalar: building an array from Python values makes pyarrow import pandas (0.2 s)
_NULL_STR = pa.nulls(1, pa.string())[0]
_NULL_INT = pa.nulls(1, pa.int64())[0]



@functools.cache
def _drop_ids() -> pa.Array:
    """The drop event ids as an Arrow array, built on first use (not at import: see _NULL_STR)."""
    return pa.array(list(IPSEC_DRIVER_DROP_KINDS), pa.int64())


Reject = Callable[[np.ndarray, str], None]


def _col(table: pa.Table, name: str) -> pa.Array | None:
    if name not in table.column_names:
        return None
    col = table.column(name)
    return single(col)


def extract_ipsec_driver(rows: pa.Table, ctx: SourceContext, issues: IssueLog) -> Extracted:
    """Drops of the IPSec driver events among ``rows`` (EVT field columns plus ``_line``)."""
    if rows.num_rows == 0:
        return Extracted.empty()
    events = _drop_events(rows, issues)
    if events is None:
        return Extracted.empty()
    if events.rows.num_rows == 0:
        return Extracted.empty(events.other)
    checks = RowChecks(events.rows.num_rows)
    host, canon = _hosts(events.rows, ctx, issues, checks)
    utc = _event_times(events.rows, host, canon, ctx, issues, checks)
    if utc is None:
        issues.add("", "refused-file", "the export has no TimeGenerated or TimeWritten field",
                   count=events.rows.num_rows)
        return Extracted.empty(events.other)
    kinds = _Kinds.of(events.event_id)
    values = _checked_values(_insertion_strings(events.rows, kinds, issues, checks), kinds, checks.reject)
    record_no = _record_numbers(events.rows)
    table = _drop_table(events, kinds, values, host, utc, record_no, ctx)
    _report_rejected(events, kinds, checks, issues)
    keep = pa.array(checks.ok)
    if not checks.ok.all():
        table = table.filter(keep)
    table = table.cast(DROPS_SCHEMA)
    return Extracted(table, _event_keys(events, table, host, record_no, keep, ctx), events.other)


@dataclass
class _DropEvents:
    """The rows that are IPSec driver drop events, their event IDs (low 16 bits) and line numbers."""

    rows: pa.Table
    event_id: pa.Array
    lines: np.ndarray
    other: int  # rows read that are not drop events


def _drop_events(rows: pa.Table, issues: IssueLog) -> _DropEvents | None:
    """Keep the rows of source IPSec with a drop event ID; None (file refused) without an EventID field.

    Event IDs may be full codes (``-fullEventCode:ON`` writes 0xC00010C4 for 4292): only
    their low 16 bits count.  A filter copies every column, messages included: it is
    skipped when every row is a drop.
    """
    n = rows.num_rows
    lines = single(rows.column("_line")).to_numpy(zero_copy_only=False)
    raw_id = _col(rows, "EventID")
    if raw_id is None:
        issues.add("", "refused-file", "the export has no EventID field", count=n)
        return None
    event_id, bad_id = parse_int(raw_id, 0, 2**32 - 1)
    event_id = pc.bit_wise_and(event_id, 0xFFFF)
    for i in np.flatnonzero(bad_id | pc.is_null(raw_id).to_numpy(zero_copy_only=False))[:1000].tolist():
        issues.malformed(int(lines[i]), f"EventID {raw_id[i].as_py()!r} is not a number")
    source = _col(rows, "SourceName")
    is_ipsec = (pc.equal(pc.utf8_lower(pc.utf8_trim_whitespace(source)), "ipsec") if source is not None
                else pa.array(np.ones(n, dtype=bool)))
    is_drop = pc.fill_null(pc.and_(is_ipsec, pc.is_in(event_id, value_set=_drop_ids())), False)
    n_drop = pc.sum(is_drop).as_py() or 0
    if n_drop == 0:
        return _DropEvents(rows.slice(0, 0), event_id.slice(0, 0), lines[:0], n)
    if n_drop < n:
        mask = is_drop.to_numpy(zero_copy_only=False)
        return _DropEvents(rows.filter(is_drop), event_id.filter(is_drop), lines[mask], n - n_drop)
    return _DropEvents(rows, event_id, lines, 0)


def _hosts(rows: pa.Table, ctx: SourceContext, issues: IssueLog, checks: RowChecks) -> tuple[pa.Array, dict]:
    """Each row's host: the exported ComputerName (as the config names it), else the file's host.

    Rows with neither are refused.  Also returns the names as exported -> as the config names them.
    """
    n = rows.num_rows
    computer = _col(rows, "ComputerName")
    host = computer if computer is not None else pa.nulls(n, pa.string())
    if ctx.default_host:
        host = pc.fill_null(host, ctx.default_host)
    uniq_hosts = pc.unique(host.drop_null()).to_pylist()
    canon = {h: ctx.canonical_host(h) for h in uniq_hosts}
    if canon and any(k != v for k, v in canon.items()):
        host = pc.take(pa.array([canon[h] for h in uniq_hosts], pa.string()),
                       pc.index_in(host, value_set=pa.array(uniq_hosts, pa.string())))
    no_host = pc.is_null(host).to_numpy(zero_copy_only=False)
    if no_host.any():
        issues.add("", "refused-rows", "no host: the export has no ComputerName and no --host was given "
                   "nor does a config host's inbox match this file", count=int(no_host.sum()))
        checks.ok[no_host] = False
    return host, canon


def _event_times(rows: pa.Table, host: pa.Array, canon: dict, ctx: SourceContext, issues: IssueLog,
                 checks: RowChecks) -> pa.Array | None:
    """UTC times: EVTX gives them (``_utc``); Log Parser the local wall clock of the exporting machine."""
    given_utc = _col(rows, "_utc")
    if given_utc is None:
        return _local_times_to_utc(rows, host, canon, ctx, issues, checks.ok, checks.reject)
    utc = given_utc.cast(pa.timestamp("us", tz="UTC"))
    checks.reject(pc.is_null(utc).to_numpy(zero_copy_only=False), "no TimeCreated")
    return utc


@dataclass(frozen=True)
class _Kinds:
    """Which events have which insertion strings: packet counts (4283-4288), one packet (4290/4291),
    a failed negotiation (4289); 4292 has none."""

    eid: np.ndarray
    count: np.ndarray
    packet: np.ndarray
    negotiation: np.ndarray

    @classmethod
    def of(cls, event_id: pa.Array) -> _Kinds:
        eid = event_id.to_numpy(zero_copy_only=False)
        return cls(eid, (eid >= 4283) & (eid <= 4288), (eid == 4290) | (eid == 4291), eid == 4289)

    def having(self, kind: str) -> np.ndarray:
        return {"count": self.count, "packet": self.packet, "negotiation": self.negotiation}[kind]

    @property
    def with_values(self) -> np.ndarray:
        return self.count | self.packet | self.negotiation


def _insertion_strings(rows: pa.Table, kinds: _Kinds, issues: IssueLog, checks: RowChecks) -> dict[str, pa.Array]:
    """The raw text of each of ``_VALUES``, from ``Strings`` (counted from the end), else from ``Message``.

    Each value is kept only for the events that have it: other rows would read a neighbouring
    string and send every parser down its slow path for values that are then discarded anyway.
    """
    n = rows.num_rows
    strings = _col(rows, "Strings")
    message = _col(rows, "Message")
    values = {name: pa.nulls(n, pa.string()) for name in _VALUES}
    if strings is not None:
        parts = pc.split_pattern(pc.fill_null(strings, ""), "|")
        last = {k: last_items(parts, k) for k in (1, 2, 5)}
        values = {name: last[k][i] for name, (_, k, i, _) in _VALUES.items()}
    if message is not None:
        values = _values_from_message(values, strings, message)
    elif strings is None:
        issues.add("", "refused-rows", "neither Strings nor Message was exported: the drops' addresses are "
                   "unknown", count=int(kinds.with_values.sum()))
        checks.ok[kinds.with_values] = False
    for name, (kind, _, _, _) in _VALUES.items():
        has = kinds.having(kind)
        if not has.all():
            values[name] = pc.if_else(pa.array(has), values[name], _NULL_STR)
    return values


def _values_from_message(values: dict[str, pa.Array], strings: pa.Array | None,
                         message: pa.Array) -> dict[str, pa.Array]:
    """``values`` with the rows whose Strings is missing or empty read from Message instead (only those are parsed)."""
    if strings is None:
        need_msg = np.ones(len(message), dtype=bool)
    else:
        no_strings = pc.or_(pc.is_null(strings), pc.equal(pc.utf8_trim_whitespace(strings), ""))
        need_msg = pc.fill_null(no_strings, True).to_numpy(zero_copy_only=False)
    if not need_msg.any():
        return values
    text = pc.fill_null(message.take(pa.array(np.flatnonzero(need_msg))), "")
    found = {kind: pc.extract_regex(text, pattern) for kind, pattern in _MESSAGE_PATTERNS.items()}
    mask = pa.array(need_msg)
    return {name: pc.replace_with_mask(values[name], mask, pc.struct_field(found[kind], group))
            for name, (kind, _, _, group) in _VALUES.items()}


@dataclass
class _Values:
    """The checked values: canonical addresses, numbers (NULL where a value was missing or bad)."""

    packets: pa.Array
    count_ip: pa.Array
    src_ip: pa.Array
    dst_ip: pa.Array
    protocol: pa.Array
    src_port: pa.Array
    dst_port: pa.Array
    nego_ip: pa.Array


def _checked_values(raw: dict[str, pa.Array], kinds: _Kinds, reject: Reject) -> _Values:
    """Parse each value; a drop whose value is missing or not what it claims to be is rejected, with the reason."""

    def missing(values: pa.Array) -> np.ndarray:
        return pc.is_null(values).to_numpy(zero_copy_only=False)

    packets, bad = parse_int(raw["count"], 1, 2**62)
    reject(kinds.count & (bad | missing(packets)), "packet count is not a number ≥ 1")
    count_ip, bad = normalise_ip(raw["count_ip"])
    reject(kinds.count & (bad | missing(count_ip)), "remote address is not an IP")
    src_ip, bad = normalise_ip(raw["src"])
    reject(kinds.packet & (bad | missing(src_ip)), "source address is not an IP")
    dst_ip, bad = normalise_ip(raw["dst"])
    reject(kinds.packet & (bad | missing(dst_ip)), "destination address is not an IP")
    protocol, bad = parse_protocol(raw["proto"])
    reject(kinds.packet & (bad | missing(protocol)), "protocol is not a number or name")
    src_port, bad = parse_int(raw["sport"], 0, 65535)
    reject(kinds.packet & bad, "source port is not a port number")
    dst_port, bad = parse_int(raw["dport"], 0, 65535)
    reject(kinds.packet & bad, "destination port is not a port number")
    nego_ip, bad = normalise_ip(raw["nego_ip"])
    reject(kinds.negotiation & (bad | missing(nego_ip)), "peer address is not an IP")
    return _Values(packets, count_ip, src_ip, dst_ip, protocol, src_port, dst_port, nego_ip)


def _record_numbers(rows: pa.Table) -> pa.Array:
    """Log Parser's RecordNumber of each row (NULL when not exported or not a number)."""
    record = _col(rows, "RecordNumber")
    if record is None:
        return pa.nulls(rows.num_rows, pa.int64())
    return parse_int(record, 0, 2**62)[0]


def _drop_table(events: _DropEvents, kinds: _Kinds, values: _Values, host: pa.Array, utc: pa.Array,
                record_no: pa.Array, ctx: SourceContext) -> pa.Table:
    """The drop columns of every event (rejected ones included), each filled as its kind fills it (README table)."""
    n = events.rows.num_rows
    inbound = pa.array(kinds.eid == 4290)
    outbound_pkt = pa.array(kinds.eid == 4291)
    count_m, packet_m, nego_m = pa.array(kinds.count), pa.array(kinds.packet), pa.array(kinds.negotiation)
    direction = pc.case_when(
        pc.make_struct(pc.or_(count_m, inbound), pc.or_(outbound_pkt, nego_m)),
        pa.scalar("inbound"), pa.scalar("outbound"), _NULL_STR,
    )
    src_ip, dst_ip = values.src_ip, values.dst_ip
    col_src = pc.case_when(pc.make_struct(packet_m, count_m), src_ip, values.count_ip, _NULL_STR)
    col_dst = pc.case_when(pc.make_struct(packet_m, nego_m), dst_ip, values.nego_ip, _NULL_STR)
    col_local = pc.case_when(pc.make_struct(inbound, outbound_pkt), dst_ip, src_ip, _NULL_STR)
    col_remote = pc.case_when(pc.make_struct(inbound, outbound_pkt, count_m, nego_m),
                              src_ip, dst_ip, values.count_ip, values.nego_ip, _NULL_STR)
    drop_kind = pc.take(pa.array(list(IPSEC_DRIVER_DROP_KINDS.values()), pa.string()),
                        pc.index_in(events.event_id, value_set=_drop_ids()))
    message = _col(events.rows, "Message")
    return pa.table(
        {
            "event_time": utc,
            "host": host,
            "source_format": pa.repeat(ctx.source_format, n),
            "source_file": pa.repeat(ctx.source_file, n),
            "source_record": pc.coalesce(record_no, pa.array(events.lines, pa.int64())),
            "event_id": events.event_id,
            "drop_kind": drop_kind,
            "direction": direction,
            "protocol": pc.if_else(packet_m, values.protocol, _NULL_INT),
            "src_ip": col_src,
            "src_port": pc.if_else(packet_m, values.src_port, _NULL_INT),
            "dst_ip": col_dst,
            "dst_port": pc.if_else(packet_m, values.dst_port, _NULL_INT),
            "local_ip": col_local,
            "remote_ip": col_remote,
            "packets": pc.if_else(count_m, values.packets, pa.scalar(1, pa.int64())),
            "wfp_filter_id": pa.nulls(n, pa.int64()),
            "wfp_layer": pa.nulls(n, pa.string()),
            "process_id": pa.nulls(n, pa.int64()),
            "application": pa.nulls(n, pa.string()),
            "message": message if message is not None else pa.nulls(n, pa.string()),
        }
    )


def _report_rejected(events: _DropEvents, kinds: _Kinds, checks: RowChecks, issues: IssueLog) -> None:
    """Name every rejected drop with its line, the first reason and the row (refused rows have no reason: counted)."""
    for i in np.flatnonzero(~checks.ok).tolist():
        if checks.reasons[i]:
            issues.malformed(int(events.lines[i]), f"event {kinds.eid[i]}: {checks.reasons[i]}",
                             _row_text(events.rows, i))


def _event_keys(events: _DropEvents, table: pa.Table, host: pa.Array, record_no: pa.Array, keep: pa.Array,
                ctx: SourceContext) -> pa.Array:
    """The identity of each kept drop: (host, System, RecordNumber); without RecordNumber, content + occurrence.

    The content is (host, System, time, event ID, insertion strings or else message); the
    n-th identical event of the file gets occurrence n (numbered in batch order).
    """
    host_k = host.filter(keep)
    rn = record_no.filter(keep)
    by_record = pc.binary_join_element_wise(host_k, pa.repeat(SYSTEM_LOG, len(host_k)), rn.cast(pa.string()), "\x1f")
    if not pc.any(pc.is_null(by_record)).as_py():
        return by_record
    content = pc.binary_join_element_wise(
        host_k, pa.repeat(SYSTEM_LOG, len(host_k)), pc.cast(table.column("event_time"), pa.string()),
        events.event_id.filter(keep).cast(pa.string()),
        _content_text(_col(events.rows, "Strings"), _col(events.rows, "Message"), keep), "\x1f")
    content = content.combine_chunks() if isinstance(content, pa.ChunkedArray) else content
    by_record = by_record.combine_chunks() if isinstance(by_record, pa.ChunkedArray) else by_record
    times = single(table.column("event_time")).cast(pa.int64()).to_numpy(zero_copy_only=False)
    need = pc.is_null(by_record)
    with ctx.in_order("occurrences"):
        occ = ctx.occurrences.number(content.filter(need), times[need.to_numpy(zero_copy_only=False)])
    with_occ = pc.binary_join_element_wise(content.filter(need), pa.array(occ).cast(pa.string()), "\x1f")
    return pc.replace_with_mask(by_record, need, with_occ)


def _content_text(strings: pa.Array | None, message: pa.Array | None, keep: pa.Array) -> pa.Array:
    """What an event without RecordNumber says, for its identity: Strings, else Message, else nothing.

    A 4292 (Block mode) has no values, so it is kept even when neither was exported.
    """
    text = strings if strings is not None else message
    if text is None:
        return pa.repeat(pa.scalar("", pa.string()), pc.sum(keep).as_py() or 0)
    return pc.fill_null(text.filter(keep), "")


def _local_times_to_utc(rows: pa.Table, host: pa.Array, canon: dict, ctx: SourceContext, issues: IssueLog,
                        ok: np.ndarray, reject: Reject) -> pa.Array | None:
    """Log Parser's local TimeGenerated (else TimeWritten) -> UTC, per host zone; None without a time field."""
    n = rows.num_rows
    generated = _col(rows, "TimeGenerated")
    written = _col(rows, "TimeWritten")
    stamp = generated if generated is not None else written
    if stamp is None:
        return None
    local = parse_local_timestamp(stamp)
    if written is not None and generated is not None and local.null_count:
        local = pc.coalesce(local, parse_local_timestamp(written))
    reject(pc.is_null(local).to_numpy(zero_copy_only=False), "TimeGenerated is not yyyy-MM-dd hh:mm:ss")
    utc = pa.nulls(n, pa.timestamp("us", tz="UTC"))
    zoned = []  # (host, zone, its rows)
    for name in sorted(set(canon.values()) | ({ctx.default_host} if ctx.default_host else set())):
        mask = pc.fill_null(pc.equal(host, name), False).to_numpy(zero_copy_only=False)
        if not mask.any():
            continue
        zone = ctx.zone(name)
        if zone is None:
            issues.add("", "refused-rows", f"host {name}: no time zone for its local times; set "
                       f"[hosts.{name}] timezone in the config or pass --source-tz", count=int(mask.sum()))
            ok[mask] = False
            continue
        zoned.append((name, zone, mask))
    # One pass of the stateful step for every host of the batch: a job passes each step once.
    with ctx.in_order("time"):
        for name, zone, mask in zoned:
            converted = local_to_utc(local.take(pa.array(np.flatnonzero(mask))), zone, ctx.fold_state(name))
            utc = pc.replace_with_mask(utc, pa.array(mask), converted)
    return utc


def _row_text(rows: pa.Table, i: int) -> str:
    row = rows.slice(i, 1).to_pylist()[0]
    return " ".join(f"{k}={v}" for k, v in row.items() if k != "_line" and v is not None)
