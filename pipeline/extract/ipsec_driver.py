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
"""

from __future__ import annotations

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

#: The EVT fields this extractor reads; readers need not clean the others.
FIELDS_USED = frozenset(
    {"EventID", "SourceName", "ComputerName", "TimeGenerated", "TimeWritten", "Strings", "Message", "RecordNumber"}
)

_NULL_STR = pa.scalar(None, pa.string())
_NULL_INT = pa.scalar(None, pa.int64())


def _col(table: pa.Table, name: str) -> pa.Array | None:
    if name not in table.column_names:
        return None
    col = table.column(name)
    return single(col)


def extract_ipsec_driver(rows: pa.Table, ctx: SourceContext, issues: IssueLog) -> Extracted:
    """Drops of the IPSec driver events among ``rows`` (EVT field columns plus ``_line``)."""
    n = rows.num_rows
    if n == 0:
        return Extracted.empty()
    lines = _col(rows, "_line").to_numpy(zero_copy_only=False)
    raw_id = _col(rows, "EventID")
    if raw_id is None:
        issues.add("", "refused-file", "the export has no EventID field", count=n)
        return Extracted.empty()
    event_id, bad_id = parse_int(raw_id, 0, 2**32 - 1)
    event_id = pc.bit_wise_and(event_id, 0xFFFF)  # -fullEventCode:ON writes 0xC00010C4 for 4292
    for i in np.flatnonzero(bad_id | pc.is_null(raw_id).to_numpy(zero_copy_only=False))[:1000].tolist():
        issues.malformed(int(lines[i]), f"EventID {raw_id[i].as_py()!r} is not a number")

    source = _col(rows, "SourceName")
    is_ipsec = (pc.equal(pc.utf8_lower(pc.utf8_trim_whitespace(source)), "ipsec") if source is not None
                else pa.array(np.ones(n, dtype=bool)))
    kinds = pa.array(list(IPSEC_DRIVER_DROP_KINDS), pa.int64())
    is_drop = pc.fill_null(pc.and_(is_ipsec, pc.is_in(event_id, value_set=kinds)), False)
    n_drop = pc.sum(is_drop).as_py() or 0
    other = n - n_drop
    if n_drop == 0:
        return Extracted.empty(other)
    if other:  # (a filter copies every column, messages included: not when all rows are drops)
        rows = rows.filter(is_drop)
        event_id = event_id.filter(is_drop)
        lines = lines[is_drop.to_numpy(zero_copy_only=False)]
    n = rows.num_rows
    checks = RowChecks(n)
    ok, reasons, reject = checks.ok, checks.reasons, checks.reject

    # Host: the exported ComputerName, else the file's host (--host / inbox).
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
        ok[no_host] = False

    # Time: EVTX gives UTC (`_utc`); Log Parser the local wall clock of the exporting machine.
    given_utc = _col(rows, "_utc")
    if given_utc is not None:
        utc = given_utc.cast(pa.timestamp("us", tz="UTC"))
        reject(pc.is_null(utc).to_numpy(zero_copy_only=False), "no TimeCreated")
    else:
        utc = _local_times_to_utc(rows, host, canon, ctx, issues, ok, reject)
        if utc is None:
            issues.add("", "refused-file", "the export has no TimeGenerated or TimeWritten field", count=n)
            return Extracted.empty(other)

    # Insertion strings (or the message when Strings was not exported).
    strings = _col(rows, "Strings")
    message = _col(rows, "Message")
    eid = event_id.to_numpy(zero_copy_only=False)
    is_count = (eid >= 4283) & (eid <= 4288)
    is_packet = (eid == 4290) | (eid == 4291)
    is_nego = eid == 4289
    # values[name]: the insertion string each field comes from; fields are counted from the end
    fields = {"count": ("count", 2, 0), "count_ip": ("count", 2, 1), "src": ("packet", 5, 0),
              "dst": ("packet", 5, 1), "proto": ("packet", 5, 2), "sport": ("packet", 5, 3),
              "dport": ("packet", 5, 4), "nego_ip": ("negotiation", 1, 0)}
    groups = {"count": "count", "count_ip": "ip", "src": "src", "dst": "dst", "proto": "proto",
              "sport": "sport", "dport": "dport", "nego_ip": "ip"}
    values = {name: pa.nulls(n, pa.string()) for name in fields}
    if strings is not None:
        parts = pc.split_pattern(pc.fill_null(strings, ""), "|")
        last = {k: last_items(parts, k) for k in (1, 2, 5)}
        values = {name: last[k][i] for name, (_, k, i) in fields.items()}
    if message is not None:
        # Values come from Message only where Strings is missing or empty: parse just those rows.
        if strings is None:
            need_msg = np.ones(n, dtype=bool)
        else:
            no_strings = pc.or_(pc.is_null(strings), pc.equal(pc.utf8_trim_whitespace(strings), ""))
            need_msg = pc.fill_null(no_strings, True).to_numpy(zero_copy_only=False)
        if need_msg.any():
            text = pc.fill_null(message.take(pa.array(np.flatnonzero(need_msg))), "")
            found = {key: pc.extract_regex(text, pattern) for key, pattern in _MESSAGE_PATTERNS.items()}
            mask = pa.array(need_msg)
            values = {name: pc.replace_with_mask(values[name], mask, pc.struct_field(found[kind], groups[name]))
                      for name, (kind, _, _) in fields.items()}
    elif strings is None:
        issues.add("", "refused-rows", "neither Strings nor Message was exported: the drops' addresses are "
                   "unknown", count=int((is_count | is_packet | is_nego).sum()))
        ok[is_count | is_packet | is_nego] = False
    # Each field only for the events that have it: other rows would read a neighbouring string and
    # send every parser down its slow path for values that are then discarded anyway.
    has_field = {"count": is_count, "packet": is_packet, "negotiation": is_nego}
    for name, (kind, _, _) in fields.items():
        if not has_field[kind].all():
            values[name] = pc.if_else(pa.array(has_field[kind]), values[name], _NULL_STR)
    cnt_count, cnt_ip, src, dst = values["count"], values["count_ip"], values["src"], values["dst"]
    proto, sport, dport, nego_ip = values["proto"], values["sport"], values["dport"], values["nego_ip"]

    packets, bad = parse_int(cnt_count, 1, 2**62)
    reject(is_count & (bad | pc.is_null(packets).to_numpy(zero_copy_only=False)), "packet count is not a number ≥ 1")
    remote_count, bad = normalise_ip(cnt_ip)
    reject(is_count & (bad | pc.is_null(remote_count).to_numpy(zero_copy_only=False)), "remote address is not an IP")
    src_ip, bad = normalise_ip(src)
    reject(is_packet & (bad | pc.is_null(src_ip).to_numpy(zero_copy_only=False)), "source address is not an IP")
    dst_ip, bad = normalise_ip(dst)
    reject(is_packet & (bad | pc.is_null(dst_ip).to_numpy(zero_copy_only=False)), "destination address is not an IP")
    protocol, bad = parse_protocol(proto)
    reject(is_packet & (bad | pc.is_null(protocol).to_numpy(zero_copy_only=False)), "protocol is not a number or name")
    src_port, bad = parse_int(sport, 0, 65535)
    reject(is_packet & bad, "source port is not a port number")
    dst_port, bad = parse_int(dport, 0, 65535)
    reject(is_packet & bad, "destination port is not a port number")
    nego, bad = normalise_ip(nego_ip)
    reject(is_nego & (bad | pc.is_null(nego).to_numpy(zero_copy_only=False)), "peer address is not an IP")

    inbound = pa.array(eid == 4290)
    outbound_pkt = pa.array(eid == 4291)
    count_m, packet_m, nego_m = pa.array(is_count), pa.array(is_packet), pa.array(is_nego)
    direction = pc.case_when(
        pc.make_struct(pc.or_(count_m, inbound), pc.or_(outbound_pkt, nego_m)),
        pa.scalar("inbound"), pa.scalar("outbound"), _NULL_STR,
    )
    col_src = pc.case_when(pc.make_struct(packet_m, count_m), src_ip, remote_count, _NULL_STR)
    col_dst = pc.case_when(pc.make_struct(packet_m, nego_m), dst_ip, nego, _NULL_STR)
    col_local = pc.case_when(pc.make_struct(inbound, outbound_pkt), dst_ip, src_ip, _NULL_STR)
    col_remote = pc.case_when(pc.make_struct(inbound, outbound_pkt, count_m, nego_m),
                              src_ip, dst_ip, remote_count, nego, _NULL_STR)
    col_packets = pc.if_else(count_m, packets, pa.scalar(1, pa.int64()))
    record = _col(rows, "RecordNumber")
    record_no, _bad_rn = parse_int(record, 0, 2**62) if record is not None else (pa.nulls(n, pa.int64()), None)
    source_record = pc.coalesce(record_no, pa.array(lines, pa.int64()))
    drop_kind = pc.take(pa.array(list(IPSEC_DRIVER_DROP_KINDS.values()), pa.string()),
                        pc.index_in(event_id, value_set=kinds))

    for i in np.flatnonzero(~ok).tolist():
        if reasons[i]:
            issues.malformed(int(lines[i]), f"event {eid[i]}: {reasons[i]}", _row_text(rows, i))
    keep = pa.array(ok)
    table = pa.table(
        {
            "event_time": utc,
            "host": host,
            "source_format": pa.repeat(ctx.source_format, n),
            "source_file": pa.repeat(ctx.source_file, n),
            "source_record": source_record,
            "event_id": event_id,
            "drop_kind": drop_kind,
            "direction": direction,
            "protocol": pc.if_else(packet_m, protocol, _NULL_INT),
            "src_ip": col_src,
            "src_port": pc.if_else(packet_m, src_port, _NULL_INT),
            "dst_ip": col_dst,
            "dst_port": pc.if_else(packet_m, dst_port, _NULL_INT),
            "local_ip": col_local,
            "remote_ip": col_remote,
            "packets": col_packets,
            "wfp_filter_id": pa.nulls(n, pa.int64()),
            "wfp_layer": pa.nulls(n, pa.string()),
            "process_id": pa.nulls(n, pa.int64()),
            "application": pa.nulls(n, pa.string()),
            "message": message if message is not None else pa.nulls(n, pa.string()),
        }
    )
    if not ok.all():
        table = table.filter(keep)
    table = table.cast(DROPS_SCHEMA)

    # Identity: (host, System, RecordNumber); without RecordNumber, the event's content + occurrence.
    host_k = host.filter(keep)
    rn = record_no.filter(keep)
    by_record = pc.binary_join_element_wise(host_k, pa.repeat(SYSTEM_LOG, len(host_k)), rn.cast(pa.string()), "\x1f")
    if pc.any(pc.is_null(by_record)).as_py():
        content = pc.binary_join_element_wise(
            host_k, pa.repeat(SYSTEM_LOG, len(host_k)), pc.cast(table.column("event_time"), pa.string()),
            event_id.filter(keep).cast(pa.string()),
            _content_text(strings, message, keep), "\x1f")
        content = content.combine_chunks() if isinstance(content, pa.ChunkedArray) else content
        by_record = by_record.combine_chunks() if isinstance(by_record, pa.ChunkedArray) else by_record
        times = single(table.column("event_time")).cast(pa.int64()).to_numpy(zero_copy_only=False)
        need = pc.is_null(by_record)
        with ctx.in_order("occurrences"):
            occ = ctx.occurrences.number(content.filter(need), times[need.to_numpy(zero_copy_only=False)])
        with_occ = pc.binary_join_element_wise(content.filter(need), pa.array(occ).cast(pa.string()), "\x1f")
        by_record = pc.replace_with_mask(by_record, need, with_occ)
    return Extracted(table, by_record, other)


def _content_text(strings: pa.Array | None, message: pa.Array | None, keep: pa.Array) -> pa.Array:
    """What an event without RecordNumber says, for its identity: Strings, else Message, else nothing.

    A 4292 (Block mode) has no values, so it is kept even when neither was exported.
    """
    text = strings if strings is not None else message
    if text is None:
        return pa.repeat(pa.scalar("", pa.string()), pc.sum(keep).as_py() or 0)
    return pc.fill_null(text.filter(keep), "")


def _local_times_to_utc(rows: pa.Table, host: pa.Array, canon: dict, ctx: SourceContext, issues: IssueLog,
                        ok: np.ndarray, reject) -> pa.Array | None:
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
        idx = pa.array(np.flatnonzero(mask))
        with ctx.in_order("time"):
            converted = local_to_utc(local.take(idx), zone, ctx.fold_state(name))
        utc = pc.replace_with_mask(utc, pa.array(mask), converted)

    return utc


def _row_text(rows: pa.Table, i: int) -> str:
    row = rows.slice(i, 1).to_pylist()[0]
    return " ".join(f"{k}={v}" for k, v in row.items() if k != "_line" and v is not None)
