"""Windows Firewall ``DROP`` lines -> drop rows; ``ALLOW`` lines -> allowed events (:mod:`.allowed`).

``path`` (``RECEIVE`` / ``SEND``) gives the direction where the log has it; the
old ICF log has no ``path``, so the direction is inferred from the host's
configured addresses (destination is one of them: inbound; source: outbound).
The log names no host and has no record number: the host comes from the
context, ``source_record`` is the line number and the identity of a line is
(host, its exact text, occurrence).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..issues import IssueLog
from ..localtime import local_to_utc
from ..schema import DROPS_SCHEMA, FIREWALL_DROP_KIND, FIREWALL_LOG
from . import Extracted, SourceContext
from .allowed import allowed_table, service_ports
from .values import RowChecks, normalise_ip, parse_int, parse_local_timestamp, parse_protocol, single

# pa.nulls, not pa.scalar: building an array from Python values makes pyarrow import pandas (0.2 s)
_NULL_STR = pa.nulls(1, pa.string())[0]
_NULL_INT = pa.nulls(1, pa.int64())[0]


def extract_firewall(rows: pa.Table, ctx: SourceContext, issues: IssueLog) -> Extracted:
    """Drops of the DROP lines in ``rows`` (pfirewall field columns, ``_line``, ``_text``)."""
    n = rows.num_rows
    if n == 0:
        return Extracted.empty()
    host = ctx.default_host
    zone = ctx.zone(host) if host else None
    if host is None or zone is None:  # checked per file before reading; kept for library callers
        issues.add("", "refused-rows", "no host or no time zone for this firewall log", count=n)
        return Extracted.empty()

    def col(name: str) -> pa.Array:
        if name not in rows.column_names:
            return pa.nulls(n, pa.string())
        c = rows.column(name)
        return single(c)

    lines = col("_line").to_numpy(zero_copy_only=False)
    text = col("_text")
    checks = RowChecks(n)
    ok, reasons, reject = checks.ok, checks.reasons, checks.reject

    local = parse_local_timestamp(pc.binary_join_element_wise(col("date"), col("time"), " "))
    reject(pc.is_null(local).to_numpy(zero_copy_only=False), "date/time is not yyyy-MM-dd hh:mm:ss")
    protocol, bad = parse_protocol(col("protocol"))
    reject(bad | pc.is_null(protocol).to_numpy(zero_copy_only=False), "protocol is not a number or name")
    src_ip, bad = normalise_ip(col("src-ip"))
    reject(bad | pc.is_null(src_ip).to_numpy(zero_copy_only=False), "src-ip is not an IP address")
    dst_ip, bad = normalise_ip(col("dst-ip"))
    reject(bad | pc.is_null(dst_ip).to_numpy(zero_copy_only=False), "dst-ip is not an IP address")
    src_port, bad = parse_int(col("src-port"), 0, 65535)
    reject(bad, "src-port is not a port number")
    dst_port, bad = parse_int(col("dst-port"), 0, 65535)
    reject(bad, "dst-port is not a port number")
    pid, bad = parse_int(col("pid"), 0, 2**62)
    reject(bad, "pid is not a number")

    path = pc.utf8_upper(col("path"))
    mine = pa.array(list(ctx.host_addresses(host)), pa.string())
    to_me = pc.is_in(dst_ip, value_set=mine)
    from_me = pc.is_in(src_ip, value_set=mine)
    direction = pc.case_when(
        pc.make_struct(pc.equal(path, "RECEIVE"), pc.equal(path, "SEND"), to_me, from_me),
        pa.scalar("inbound"), pa.scalar("outbound"), pa.scalar("inbound"), pa.scalar("outbound"), _NULL_STR,
    )
    inbound = pc.fill_null(pc.equal(direction, "inbound"), False)
    outbound = pc.fill_null(pc.equal(direction, "outbound"), False)
    with ctx.in_order("time"):
        utc = local_to_utc(local, zone, ctx.fold_state(host))

    for i in np.flatnonzero(~ok).tolist():
        issues.malformed(int(lines[i]), reasons[i] or "bad value", text[i].as_py() or "")
    is_allow = pc.fill_null(pc.equal(pc.utf8_upper(col("action")), "ALLOW"), False).to_numpy(zero_copy_only=False)
    allow_ok = ok & is_allow
    ok = ok & ~is_allow
    keep = pa.array(ok)
    table = pa.table(
        {
            "event_time": utc,
            "host": pa.repeat(host, n),
            "source_format": pa.repeat(ctx.source_format, n),
            "source_file": pa.repeat(ctx.source_file, n),
            "source_record": pa.array(lines, pa.int64()),
            "event_id": pa.nulls(n, pa.int32()),
            "drop_kind": pa.repeat(FIREWALL_DROP_KIND, n),
            "direction": direction,
            "protocol": protocol,
            "src_ip": src_ip,
            "src_port": src_port,
            "dst_ip": dst_ip,
            "dst_port": dst_port,
            "local_ip": pc.case_when(pc.make_struct(inbound, outbound), dst_ip, src_ip, _NULL_STR),
            "remote_ip": pc.case_when(pc.make_struct(inbound, outbound), src_ip, dst_ip, _NULL_STR),
            "packets": pa.repeat(pa.scalar(1, pa.int64()), n),
            "wfp_filter_id": pa.nulls(n, pa.int64()),
            "wfp_layer": pa.nulls(n, pa.string()),
            "process_id": pid,
            "application": pa.nulls(n, pa.string()),
            "message": pa.nulls(n, pa.string()),
        }
    ).filter(keep)
    table = table.cast(DROPS_SCHEMA)
    # drop and allow lines are numbered together, in line order (one counter for the file's identical lines)
    both = pa.array(ok | allow_ok)
    kept_text = text.filter(both)
    times = single(utc).filter(both).cast(pa.int64()).to_numpy(zero_copy_only=False)
    base = pc.binary_join_element_wise(pa.repeat(host, len(kept_text)), pa.repeat(FIREWALL_LOG, len(kept_text)),
                                       kept_text, "\x1f")
    with ctx.in_order("occurrences"):
        occ = ctx.occurrences.number(base, times)
    all_keys = pc.binary_join_element_wise(base, pa.array(occ).cast(pa.string()), "\x1f")
    is_drop_kept = pa.array(ok[ok | allow_ok])
    keys = all_keys.filter(is_drop_kept)
    if not allow_ok.any():
        return Extracted(table, keys, 0)
    a = pa.array(allow_ok)
    local_is_dst = pc.case_when(pc.make_struct(inbound, outbound), pa.scalar(True), pa.scalar(False),
                                pa.scalar(None, pa.bool_()))
    lport, rport = service_ports(src_port, dst_port, local_is_dst)
    size, _ = parse_int(col("size"), 0, 2**62)
    allowed = allowed_table(
        event_time=single(utc).filter(a), host=host, direction=direction.filter(a), protocol=protocol.filter(a),
        local_ip=pc.case_when(pc.make_struct(inbound, outbound), dst_ip, src_ip, _NULL_STR).filter(a),
        local_port=lport.filter(a),
        remote_ip=pc.case_when(pc.make_struct(inbound, outbound), src_ip, dst_ip, _NULL_STR).filter(a),
        remote_port=rport.filter(a), source_format=ctx.source_format, allow_kind="firewall-allow",
        nbytes=size.filter(a))
    return Extracted(table, keys, 0, allowed, all_keys.filter(pc.invert(is_drop_kept)))
