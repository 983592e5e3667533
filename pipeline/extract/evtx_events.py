"""EVTX events -> drop rows: IPSec driver events (System) and WFP / IPsec audit events (Security).

IPSec driver events go through the same extractor as Log Parser rows
(:mod:`.ipsec_driver`), with ``TimeCreated`` already in UTC.  Security-log
events are converted here, following log-formats.md §2 and §7:

* 5152 / 5153 (packet blocked) describe the packet as it travelled:
  ``SourceAddress`` is the packet's source, whatever the direction;
* 5157 (connection blocked) and the other ALE events describe the connection
  from this host's side: ``SourceAddress`` is the *local* end, ``DestAddress``
  the *remote* end, whatever the direction.  The packet's real source is the
  remote end for an inbound connection;
* 5159 (bind blocked) names only the local address and port;
* 5156 (connection permitted) and 5158 (bind permitted) are the permitted counterparts of 5157 and
  5159 (same fields): observed permitted traffic, the ``allowed`` dataset (:mod:`.allowed`); a bind to
  the unspecified address (``0.0.0.0``, ``::``) has no local address;
* 4960-4963, 4965 (IPsec dropped an inbound packet: integrity, replay, clear
  text, bad SPI) name the remote address; the EventData names are not
  documented, so ``RemoteAddress`` and close variants, or else the first value,
  are taken.

``Direction`` and ``LayerName`` arrive as ``%%NNNNN`` message tokens and are
stored as their meaning.  The identity of an event is (host, log, EventRecordID).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ..issues import IssueLog
from ..readers.evtx import EvtxEvent
from ..schema import DROPS_SCHEMA, IPSEC_DRIVER_DROP_KINDS, SECURITY_LOG
from . import Extracted, SourceContext
from .allowed import allowed_table, service_ports
from .ipsec_driver import extract_ipsec_driver
from .values import normalise_ip, parse_int, parse_protocol

#: msobjs.dll parameter messages (log-formats.md §2.4).
PARAMETER_MESSAGES = {
    "%%14592": "Inbound", "%%14593": "Outbound", "%%14594": "Forward", "%%14595": "Bidirectional",
    "%%14596": "IP Packet", "%%14597": "Transport", "%%14598": "Forward", "%%14599": "Stream",
    "%%14600": "Datagram Data", "%%14601": "ICMP Error", "%%14602": "MAC 802.3", "%%14603": "MAC Native",
    "%%14604": "vSwitch", "%%14608": "Resource Assignment", "%%14609": "Listen", "%%14610": "Receive/Accept",
    "%%14611": "Connect", "%%14612": "Flow Established", "%%14614": "Resource Release",
    "%%14615": "Endpoint Closure", "%%14616": "Connect Redirect", "%%14617": "Bind Redirect",
    "%%14624": "Stream Packet", "%%14625": "Accept Redirect",
}

WFP_DROP_KINDS = {
    5152: "wfp-packet-blocked",
    5153: "wfp-packet-blocked",
    5157: "wfp-connection-blocked",
    5159: "wfp-bind-blocked",
    4960: "ipsec-integrity-check-failed",
    4961: "ipsec-replay-check-failed",
    4962: "ipsec-replay-sequence-too-low",
    4963: "clear-text-should-be-secured",
    4965: "bad-spi",
}
#: Filtering Platform events of permitted traffic -> their allow_kind.
WFP_ALLOW_KINDS = {5156: "wfp-connection-permitted", 5158: "wfp-bind-permitted"}
_PACKET_EVENTS = {5152, 5153}
_CONNECTION_EVENTS = {5157}
_IPSEC_AUDIT = {4960, 4961, 4962, 4963, 4965}
_REMOTE_NAMES = ("RemoteAddress", "RemoteNetworkAddress", "Remote Network Address", "RemoteIPAddress", "PeerAddress")
_SECURITY_PROVIDER = "microsoft-windows-security-auditing"


def _direction(value: str | None) -> str | None:
    text = PARAMETER_MESSAGES.get((value or "").strip(), (value or "").strip()).lower()
    return text if text in ("inbound", "outbound") else None


def extract_evtx(events: list[EvtxEvent], ctx: SourceContext, issues: IssueLog, records: int) -> Extracted:
    """Drops among decoded EVTX events; ``records`` is how many records were read for them."""
    driver = [e for e in events if (e.provider or "").lower() == "ipsec" and e.event_id in IPSEC_DRIVER_DROP_KINDS]
    wfp = [e for e in events if (e.provider or "").lower() == _SECURITY_PROVIDER and e.event_id in WFP_DROP_KINDS]
    permitted = [e for e in events if (e.provider or "").lower() == _SECURITY_PROVIDER
                 and e.event_id in WFP_ALLOW_KINDS]
    parts = []
    if driver:
        parts.append(extract_ipsec_driver(_driver_table(driver), ctx, issues))
    if wfp:
        parts.append(_extract_wfp(wfp, ctx, issues))
    allowed, allowed_keys = _extract_permitted(permitted, ctx, issues) if permitted else (None, None)
    found = sum(p.drops.num_rows for p in parts)
    if not parts:
        return Extracted(Extracted.empty().drops, pa.array([], pa.string()), records, allowed, allowed_keys)
    return Extracted(
        pa.concat_tables([p.drops for p in parts]),
        pa.concat_arrays([p.event_keys for p in parts]),
        records - found,
        allowed,
        allowed_keys,
    )


def _extract_permitted(events: list[EvtxEvent], ctx: SourceContext, issues: IssueLog
                       ) -> tuple[pa.Table | None, pa.Array | None]:
    """5156 / 5158 events as allowed events (5156: Source = local end, Dest = remote end, as 5157)."""
    cols: dict[str, list] = {k: [] for k in ("time", "host", "direction", "kind", "local", "remote", "lport",
                                             "rport", "proto", "inbound")}
    keys: list[str] = []
    for e in events:
        data = e.data if isinstance(e.data, dict) else {}
        when = _when(e)
        if e.computer is None or when is None or e.record_id is None:
            issues.add(f"record {e.record_id}", "malformed", f"event {e.event_id} without Computer, time or "
                       "EventRecordID")
            continue
        host = ctx.canonical_host(e.computer)
        assert e.event_id is not None
        if e.event_id == 5158:
            direction, remote, rport = None, None, None
            local = data.get("SourceAddress")
            local = None if local in ("0.0.0.0", "::", "-", "") else local
        else:
            direction = _direction(data.get("Direction"))
            local, remote, rport = data.get("SourceAddress"), data.get("DestAddress"), data.get("DestPort")
        cols["time"].append(when)
        cols["host"].append(host)
        cols["direction"].append(direction)
        cols["kind"].append(WFP_ALLOW_KINDS[e.event_id])
        cols["local"].append(local or None)
        cols["remote"].append(remote or None)
        cols["lport"].append(None if data.get("SourcePort") is None else str(data.get("SourcePort")))
        cols["rport"].append(None if rport is None else str(rport))
        cols["proto"].append(None if data.get("Protocol") is None else str(data.get("Protocol")))
        cols["inbound"].append(None if direction is None else direction == "inbound")
        keys.append(f"{host}\x1f{SECURITY_LOG}\x1f{e.record_id}")
    if not keys:
        return None, None
    local_ip, bad = normalise_ip(pa.array(cols["local"], pa.string()))
    remote_ip, bad2 = normalise_ip(pa.array(cols["remote"], pa.string()))
    for i in (bad | bad2).nonzero()[0].tolist():
        issues.warning(f"record {keys[i].rsplit(chr(31), 1)[-1]}", "SourceAddress or DestAddress is not an IP address")
    lport, _ = parse_int(pa.array(cols["lport"], pa.string()), 0, 65535)
    rport, _ = parse_int(pa.array(cols["rport"], pa.string()), 0, 65535)
    protocol, _ = parse_protocol(pa.array(cols["proto"], pa.string()))
    inbound = pa.array(cols["inbound"], pa.bool_())
    # the packet as it travelled: from the remote end when inbound; the service port rule on (src, dst)
    src_port = pc.if_else(inbound, rport, lport)
    dst_port = pc.if_else(inbound, lport, rport)
    local_port, remote_port = service_ports(src_port, dst_port, inbound)
    is_bind = pa.array([k == "wfp-bind-permitted" for k in cols["kind"]])
    local_port = pc.if_else(is_bind, lport.cast(pa.int32()), local_port)  # a bind: its local port, always
    times = pa.array(cols["time"], pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))
    table = allowed_table(event_time=times, host=pa.array(cols["host"], pa.string()),
                          direction=pa.array(cols["direction"], pa.string()), protocol=protocol, local_ip=local_ip,
                          local_port=local_port, remote_ip=remote_ip, remote_port=remote_port,
                          source_format=ctx.source_format, allow_kind=pa.array(cols["kind"], pa.string()))
    return table, pa.array(keys, pa.string())


def _when(event: EvtxEvent):
    return event.time_created or event.written


def _strings(event: EvtxEvent) -> list[str]:
    """The insertion strings without empty ones.

    An empty driver name (%1) is the only empty value these events carry, and python-evtx
    moves a leading empty string behind the next value: dropping empties reads both engines,
    and both %1 layouts, the same way (values are counted from the end).
    """
    values = event.data if isinstance(event.data, list) else list(event.data.values())
    return [v for v in values if v != ""]


def _driver_table(events: list[EvtxEvent]) -> pa.Table:
    """IPSec driver events as the EVT-field rows the shared extractor reads (times already UTC)."""
    return pa.table(
        {
            "EventID": pa.array([str(e.event_id) for e in events], pa.string()),
            "SourceName": pa.array([e.provider for e in events], pa.string()),
            "ComputerName": pa.array([e.computer for e in events], pa.string()),
            "RecordNumber": pa.array([None if e.record_id is None else str(e.record_id) for e in events]),
            "Strings": pa.array(["|".join(_strings(e)) for e in events], pa.string()),
            "_utc": pa.array([_when(e) for e in events], pa.timestamp("us")),
            "_line": pa.array([e.record_id or 0 for e in events], pa.int64()),
        }
    )


def _extract_wfp(events: list[EvtxEvent], ctx: SourceContext, issues: IssueLog) -> Extracted:
    rows: dict[str, list] = {name: [] for name in DROPS_SCHEMA.names}
    keys: list[str] = []
    raw_src, raw_dst, raw_proto, raw_pid, raw_filter = [], [], [], [], []
    for e in events:
        data = e.data if isinstance(e.data, dict) else {}
        if not isinstance(e.data, dict) and e.data:  # positional values: only the IPsec audit events use them
            data = {"RemoteAddress": e.data[0]}
        if e.computer is None or _when(e) is None or e.record_id is None:
            issues.add(f"record {e.record_id}", "malformed", f"event {e.event_id} without Computer, time or "
                       "EventRecordID")
            continue
        host = ctx.canonical_host(e.computer)
        eid = e.event_id
        assert eid is not None  # extract_evtx passes only events of WFP_DROP_KINDS
        direction = _direction(data.get("Direction"))
        source, dest = data.get("SourceAddress"), data.get("DestAddress")
        sport, dport = data.get("SourcePort"), data.get("DestPort")
        if eid in _CONNECTION_EVENTS:  # Source = local end, Dest = remote end
            local, remote = source, dest
            if direction == "inbound":
                src, dst, sp, dp = dest, source, dport, sport
            else:
                src, dst, sp, dp = source, dest, sport, dport
        elif eid in _PACKET_EVENTS:  # the packet as it travelled
            src, dst, sp, dp = source, dest, sport, dport
            local, remote = (dest, source) if direction == "inbound" else (source, dest) if direction else (None, None)
        elif eid == 5159:  # bind: the local end only
            src, dst, sp, dp, local, remote = source, None, sport, None, source, None
        else:  # IPsec audit drops: a packet received from the remote address
            remote = next((data[n] for n in _REMOTE_NAMES if data.get(n)), None)
            src, dst, sp, dp, local = remote, None, None, None, None
            direction = "inbound"
        rows["event_time"].append(_when(e))
        rows["host"].append(host)
        rows["source_format"].append(ctx.source_format)
        rows["source_file"].append(ctx.source_file)
        rows["source_record"].append(e.record_id)
        rows["event_id"].append(eid)
        rows["drop_kind"].append(WFP_DROP_KINDS[eid])
        rows["direction"].append(direction)
        rows["packets"].append(1)
        rows["wfp_layer"].append(PARAMETER_MESSAGES.get(data.get("LayerName") or "", data.get("LayerName")))
        application = data.get("Application")
        rows["application"].append(None if application in (None, "", "-") else application)
        rows["message"].append(None)
        for name, value in (("src_ip", src), ("dst_ip", dst), ("local_ip", local), ("remote_ip", remote)):
            rows[name].append(value or None)
        raw_src.append(sp)
        raw_dst.append(dp)
        raw_proto.append(data.get("Protocol"))
        raw_pid.append(data.get("ProcessId", data.get("ProcessID")))
        raw_filter.append(data.get("FilterRTID"))
        keys.append(f"{host}\x1f{SECURITY_LOG}\x1f{e.record_id}")
    n = len(keys)
    if n == 0:
        return Extracted.empty()
    columns = {name: pa.array(values) if values else pa.nulls(n) for name, values in rows.items()}
    for name in ("src_ip", "dst_ip", "local_ip", "remote_ip"):
        columns[name], bad = normalise_ip(pa.array(rows[name], pa.string()))
        for i in bad.nonzero()[0].tolist():
            issues.warning(f"record {rows['source_record'][i]}", f"{name} {rows[name][i]!r} is not an IP address")
    columns["src_port"], _ = parse_int(pa.array(raw_src, pa.string()), 0, 65535)
    columns["dst_port"], _ = parse_int(pa.array(raw_dst, pa.string()), 0, 65535)
    columns["protocol"], _ = parse_protocol(pa.array(raw_proto, pa.string()))
    columns["process_id"], _ = parse_int(pa.array(raw_pid, pa.string()), 0, 2**62)
    columns["wfp_filter_id"], _ = parse_int(pa.array(raw_filter, pa.string()), 0, 2**62)
    columns["event_time"] = pa.array(rows["event_time"], pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))
    table = pa.table({name: columns[name] for name in DROPS_SCHEMA.names}).cast(DROPS_SCHEMA)
    return Extracted(table, pa.array(keys, pa.string()), 0)
