"""Suggestions: least-privilege permit filters for recurring blocked flows, proven by replaying the stored drops.

In the spirit of SELinux ``audit2allow``, for netsh ipsec: the flows the correlation
found blocked become concrete, reviewable, ready-to-run ``netsh`` commands, with their
evidence, and ``verify`` parses the generated text with the project's own policy parser,
applies it to the host's current script and judges every stored drop again.

**Candidates** are flows whose verdict is ``blocked-by-rule`` or ``no-matching-filter``,
and ``no-policy`` flows that the Windows Firewall made (pfirewall ``DROP``, WFP 5152/5157),
which get ``netsh advfirewall`` rules.  Never ``negotiation-required`` (an IPsec negotiation
problem, not a missing permit), ``boot-or-block-mode`` or ``permitted-by-policy``; never a
flow without protocol or remote address (nothing a filter could name).

**One suggestion per (host, direction, protocol, service port)**, the remote addresses
collapsed into the fewest CIDR blocks, then widened up to ``max_prefix`` (default /24) only
where that merges blocks and the wider block holds no address that the host's scans,
exposures or ignored traffic came from (nor an ignored network).  ``any`` only with
``allow_any`` and evidence from at least ``min_sources`` distinct /24 (or /64) networks.

**Recurrence**: at least ``min_days`` distinct UTC days, or (inbound) at least
``min_sources`` distinct internal sources to the one local service port.

**Never suggested** (``not_suggested``, with the reason and the evidence):

* ``scan`` — a remote that touched ``scan_ports`` (20) or more local ports of the host in one
  UTC day; every flow of that remote;
* ``exposure`` — inbound from a public address (not private, shared, loopback or
  link-local) to a risky service port (``risky_ports``); from internal sources such flows
  are suggested, with a risk note;
* ``ignored`` — the remote is inside an ``ignore`` network, or the service port is excluded;
* ``blocked-on-purpose`` — the filter that blocks it is at least as specific as the permit
  that would be added (the admin blocked exactly this flow: e.g. a rogue resolver), so a
  permit could not win and should not try;
* ``rare`` — below the recurrence thresholds.

**Replay** (``verify``): the suggestions' netsh text is parsed with the project's parser
after the host's current script (as running the suggestion script after the policy script
would), and the period's stored drops are judged again against the amended policy and
against the current one — from the same grouped tuples, never re-reading the drops.  Both
sides use the *current* script for every drop, so a verdict that changes changes because of
the suggestions.  Windows Firewall rules are not modelled by the correlation: an
``advfirewall`` suggestion's replay matches the rule's own criteria against the stored
firewall drops.
"""

from __future__ import annotations

import bisect
import ipaddress
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from .config import Config, SuggestConfig
from .correlate import Session, WarehouseLike, analyse_config_script, open_session
from .policy import PolicyAnalysis, analyse_amended
from .policy.addresses import INTERNAL_NETWORKS
from .policy.weights import weight as filter_weight
from .queries import query
from .schema import protocol_name

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

CANDIDATE_VERDICTS = frozenset({"blocked-by-rule", "no-matching-filter", "no-policy"})
#: Drop kinds the Windows Firewall (not the IPSec driver) makes.
FIREWALL_KINDS = frozenset({"firewall-drop", "wfp-packet-blocked", "wfp-connection-blocked", "wfp-bind-blocked"})
#: How the flows view keys a flow (a 5-tuple with service ports).
CHANGE_KEYS = ("host", "direction", "protocol", "local_ip", "local_port", "remote_ip", "remote_port")
#: Verdicts after which a stored drop still counts as blocked.
BLOCKED = frozenset({"blocked-by-rule", "negotiation-required", "no-matching-filter", "no-policy",
                     "boot-or-block-mode"})

#: Names for suggestion names and risk notes (service by port).
SERVICES: dict[int, str] = {
    20: "FTP data", 21: "FTP", 22: "SSH", 23: "Telnet", 25: "SMTP", 53: "DNS", 67: "DHCP", 69: "TFTP", 80: "HTTP",
    88: "Kerberos", 110: "POP3", 111: "RPC portmapper", 123: "NTP", 135: "RPC", 137: "NetBIOS name",
    138: "NetBIOS datagram", 139: "NetBIOS session", 143: "IMAP", 161: "SNMP", 162: "SNMP trap", 389: "LDAP",
    443: "HTTPS", 445: "SMB", 500: "IKE", 514: "syslog", 593: "RPC over HTTP", 636: "LDAPS", 1433: "SQL Server",
    1434: "SQL Browser", 1521: "Oracle", 2049: "NFS", 3268: "Global Catalog", 3306: "MySQL", 3389: "RDP",
    5432: "PostgreSQL", 5900: "VNC", 5985: "WinRM", 5986: "WinRM HTTPS", 6379: "Redis", 8080: "HTTP proxy",
    10000: "backup agent", 27017: "MongoDB",
}


@dataclass(frozen=True)
class SuggestOptions:
    """The thresholds; from ``[suggest]`` of the config, each overridable (the command-line options)."""

    min_days: int = 2
    min_sources: int = 3
    max_prefix: int = 24
    allow_any: bool = False
    ignore: tuple[str, ...] = ()
    exclude_ports: tuple[int, ...] = ()
    risky_ports: tuple[int, ...] = SuggestConfig().risky_ports
    scan_ports: int = 20
    max_networks: int = 8

    @classmethod
    def from_config(cls, config: Config | None, **overrides: Any) -> SuggestOptions:
        base = config.suggest if config is not None else SuggestConfig()
        options = cls(min_days=base.min_days, min_sources=base.min_sources, max_prefix=base.max_prefix,
                      ignore=base.ignore, exclude_ports=base.exclude_ports, risky_ports=base.risky_ports,
                      scan_ports=base.scan_ports, max_networks=base.max_networks)
        given = {k: v for k, v in overrides.items() if v is not None}
        if "exclude_ports" in given:  # the command line adds to the config's list
            given["exclude_ports"] = tuple(sorted({*options.exclude_ports, *given["exclude_ports"]}))
        if "ignore" in given:
            given["ignore"] = tuple(dict.fromkeys([*options.ignore, *given["ignore"]]))
        options = replace(options, **given)
        if not 0 <= options.max_prefix <= 32:
            raise ValueError(f"max_prefix {options.max_prefix} is not between 0 and 32")
        if options.min_days < 1 or options.min_sources < 1 or options.scan_ports < 2 or options.max_networks < 1:
            raise ValueError("min_days, min_sources and max_networks must be at least 1, scan_ports at least 2")
        return options

    def networks_ignored(self) -> list[IPNetwork]:
        return [ipaddress.ip_network(n, strict=False) for n in self.ignore]


# -- addresses -------------------------------------------------------------------------------------------------

def _blocks_of_run(lo: int, hi: int, bits: int) -> list[tuple[int, int]]:
    """The fewest aligned blocks (start, prefix length) covering ``lo..hi``."""
    out = []
    while lo <= hi:
        size = (lo & -lo) if lo else 1 << bits
        while size > hi - lo + 1:
            size >>= 1
        out.append((lo, bits - size.bit_length() + 1))
        lo += size
    return out


def _collapse_ints(values: Sequence[int], bits: int) -> list[tuple[int, int]]:
    """``values`` (addresses as integers) as the fewest CIDR blocks (start, prefix length), in order."""
    out: list[tuple[int, int]] = []
    ordered = sorted(set(values))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out += _blocks_of_run(ordered[i], ordered[j], bits)
        i = j + 1
    return out


def _network(version: int, start: int, prefix: int) -> IPNetwork:
    return ipaddress.IPv4Network((start, prefix)) if version == 4 else ipaddress.IPv6Network((start, prefix))


def collapse(remotes: Iterable[IPAddress]) -> list[IPNetwork]:
    """The fewest CIDR blocks that hold exactly ``remotes`` (per family, IPv4 first)."""
    out: list[IPNetwork] = []
    for version, bits in ((4, 32), (6, 128)):
        ints = [int(a) for a in remotes if a.version == version]
        out += [_network(version, start, prefix) for start, prefix in _collapse_ints(ints, bits)]
    return out


def widen(blocks: Sequence[IPNetwork], max_prefix: int, forbidden: Sequence[IPAddress | IPNetwork]
          ) -> list[IPNetwork]:
    """Merge blocks into wider ones, down to ``max_prefix`` bits (IPv6: ``max_prefix`` + 40), where that
    lowers the number of blocks and the wider block holds no forbidden address (nor overlaps a forbidden
    network).  Integer arithmetic: a suggestion's sources can be hundreds of addresses."""
    out: list[IPNetwork] = []
    for version, bits in ((4, 32), (6, 128)):
        current = [(int(n.network_address), n.prefixlen) for n in blocks if n.version == version]
        if current:
            merged = _widen_ints(current, bits, _floor(version, max_prefix), _bad_ranges(forbidden, version))
            out += [_network(version, start, prefix) for start, prefix in merged]
    return out


def _floor(version: int, max_prefix: int) -> int:
    return max_prefix if version == 4 else min(128, max_prefix + 40)


def _bad_ranges(forbidden: Iterable[IPAddress | IPNetwork], version: int) -> list[tuple[int, int]]:
    """Forbidden addresses and networks of one family as sorted (first, last) integer ranges."""
    return sorted((int(f.network_address), int(f.broadcast_address)) if isinstance(
        f, (ipaddress.IPv4Network, ipaddress.IPv6Network)) else (int(f), int(f))
        for f in forbidden if f.version == version)


def _widen_ints(current: list[tuple[int, int]], bits: int, floor: int, bad: list[tuple[int, int]]
                ) -> list[tuple[int, int]]:
    """:func:`widen` on (start, prefix length) blocks of one family; the result sorted."""
    for prefix in range(bits - 1, floor - 1, -1):
        shift = bits - prefix
        groups: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for start, plen in current:
            if plen >= prefix:
                groups[start >> shift].append((start, plen))
        merged = {key: members for key, members in groups.items()
                  if len(members) >= 2 and _clean(bad, key << shift, ((key + 1) << shift) - 1)}
        if not merged:
            continue
        gone = {m for members in merged.values() for m in members}
        current = [b for b in current if b not in gone] + [(key << shift, prefix) for key in merged]
        current = _recollapse(current, bits)  # blocks inside a merged one, or adjacent halves
    return sorted(current)


def _clean(bad: list[tuple[int, int]], lo: int, hi: int) -> bool:
    """No forbidden range (sorted by start) overlaps ``lo..hi``."""
    return not any(b_hi >= lo for _, b_hi in bad[:bisect.bisect_right(bad, (hi, 1 << 130))])


def _recollapse(blocks: list[tuple[int, int]], bits: int) -> list[tuple[int, int]]:
    """Drop blocks inside others and join aligned halves (``ipaddress.collapse_addresses`` on integers)."""
    ranges = sorted((start, start + (1 << (bits - plen)) - 1) for start, plen in blocks)
    joined: list[list[int]] = []
    for lo, hi in ranges:
        if joined and lo <= joined[-1][1] + 1:
            joined[-1][1] = max(joined[-1][1], hi)
        else:
            joined.append([lo, hi])
    out: list[tuple[int, int]] = []
    for lo, hi in joined:
        out += _blocks_of_run(lo, hi, bits)
    return out


def _network_of(address: IPAddress) -> IPNetwork:
    return ipaddress.ip_network(f"{address}/{24 if address.version == 4 else 64}", strict=False)


# -- the plan --------------------------------------------------------------------------------------------------

@dataclass
class _Group:
    """One service of a host (direction, protocol, service port, kind) and its remotes, as suggest_groups.sql
    gives them: per remote its address, family, 128-bit number, internal or not, events, packets, days."""

    host: str
    direction: str
    protocol: int
    local_port: int | None
    remote_port: int | None
    kind: str  # ipsec | advfirewall
    entries: list[dict] = field(default_factory=list)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    blocked_by: str = ""

    @property
    def service_port(self) -> int | None:
        return self.local_port if self.direction == "inbound" else self.remote_port

    def remotes(self) -> list[IPAddress]:
        return [ipaddress.ip_address(e["ip"]) for e in self.entries]

    def days(self) -> set[int]:
        return {d for e in self.entries for d in (e["days"] or ())}

    def total(self, key: str) -> int:
        return sum(int(e[key] or 0) for e in self.entries)

    def internal_sources(self) -> int:
        return sum(1 for e in self.entries if e["internal"])

    def evidence(self) -> dict:
        return {"host": self.host, "direction": self.direction, "protocol": self.protocol,
                "local_port": self.local_port, "remote_port": self.remote_port,
                "remotes": [e["ip"] for e in self.entries], "events": self.total("events"),
                "packets": self.total("packets"), "days": len(self.days()),
                "first_seen": self.first_seen, "last_seen": self.last_seen}


def _num(entry: dict) -> int:
    """A remote of suggest_groups.sql as one integer (it comes as two 64-bit halves)."""
    return (int(entry["hi"]) << 64) | int(entry["lo"])


def _keep_busiest(group: _Group, blocks: list[tuple[int, int, int]], limit: int
                  ) -> tuple[_Group, list[tuple[int, int, int]], list[dict]]:
    """The ``limit`` blocks (family, start, prefix) with the most events, the group of their remotes,
    and the remotes left out."""
    ordered = sorted(blocks)
    starts = [(v, start) for v, start, _ in ordered]
    events: Counter[tuple[int, int, int]] = Counter()
    home: list[tuple[int, int, int]] = []
    for e in group.entries:
        block = ordered[bisect.bisect_right(starts, (e["family"], _num(e))) - 1]
        events[block] += int(e["events"] or 0)
        home.append(block)
    kept = set(sorted(ordered, key=lambda b: (-events[b], b))[:limit])
    inside = [e for e, block in zip(group.entries, home, strict=True) if block in kept]
    outside = [e for e, block in zip(group.entries, home, strict=True) if block not in kept]
    return replace(group, entries=inside), sorted(kept), outside


def _service(port: int | None, protocol: int) -> str:
    if port is None:
        return protocol_name(protocol)
    return SERVICES.get(port, f"{protocol_name(protocol)} {port}")


def _permit_weights(protocols: Iterable[int]) -> list[dict]:
    """What a permit for one remote address would weigh, per protocol and with or without a service port:
    a blocking filter at least as heavy blocked that flow on purpose (``blocked-on-purpose``)."""
    return [{"protocol": p, "has_port": has_port,
             "weight": filter_weight(128, 128, p, None, 1 if has_port else None, "permit").value}
            for p in sorted(set(protocols)) for has_port in (True, False)]


def _ranges(networks: Iterable[IPNetwork]) -> list[dict]:
    return [{"family": n.version, "lo": str(n.network_address), "hi": str(n.broadcast_address)} for n in networks]


@dataclass
class _HostPolicy:
    """What the netsh text of a host's suggestions needs from its current policy."""

    analysis: PolicyAnalysis | None
    policy: str | None  # the assigned policy's name
    store: str
    permit_action: str | None  # an existing permit filter action
    names: set[str]  # existing filter list / rule names, lower case


def _host_policy(session: Session, config: Config | None, host: str) -> _HostPolicy:
    entry = config.host(host) if config else None
    analysis = None
    if entry is not None and entry.policy is not None:
        try:
            analysis = analyse_config_script(entry.policy, entry, config)  # type: ignore[arg-type]
        except (OSError, ValueError):
            analysis = None
    if analysis is None:
        rows = session.con.sql(
            "SELECT source_file FROM snapshots s JOIN policy_periods p ON p.snapshot = s.snapshot "
            "WHERE lower(s.host) = lower($h) ORDER BY loaded_at DESC LIMIT 1", params={"h": host}).fetchall()
        source = rows[0][0] if rows else None
        if source and Path(source).is_file() and entry is not None:
            try:
                analysis = analyse_config_script(Path(source), entry, config)  # type: ignore[arg-type]
            except (OSError, ValueError):
                analysis = None
    if analysis is None:
        return _HostPolicy(None, None, "local", None, set())
    every = analysis.model.policies()
    assigned = [(loc, p) for loc, p in every if p.assigned] or every
    loc, policy = assigned[0] if assigned else ("local", None)
    store = analysis.model.stores.get(loc)
    permit = None
    names: set[str] = set()
    if store is not None:
        permit = next((a.name for a in store.filter_actions.values() if a.action == "permit" and '"' not in a.name),
                      None)
        names = set(store.filter_lists) | {r.name.lower() for _, p in analysis.model.policies() for r in p.rules}
    return _HostPolicy(analysis, policy.name if policy is not None else None, loc, permit, names)


def _quoted(name: str) -> str:
    if '"' in name or "\n" in name or "\r" in name:
        raise ValueError(f"{name!r} cannot be quoted for netsh")
    return f'"{name}"'


def _mask(net: IPNetwork) -> str:
    return str(net.netmask) if net.version == 4 else str(net.prefixlen)


def _ipsec_lines(name: str, group: _Group, networks: Sequence[IPNetwork], hp: _HostPolicy,
                 needs_action: bool) -> list[str]:
    """netsh ipsec static commands (batch form, the source article's style) for one suggestion."""
    proto = protocol_name(group.protocol) if group.protocol in (1, 6, 17) else str(group.protocol)
    port = group.service_port
    lines = []
    if hp.store != "local":  # the host's assigned policy lives in another store
        lines.append(f"netsh ipsec static set store location={hp.store}")
    if needs_action:
        lines.append(f"netsh ipsec static add filteraction name={_quoted(hp.permit_action or 'Permit')} "
                     "action=permit")
    lines.append(f"netsh ipsec static add filterlist name={_quoted(name)} "
                 f"description={_quoted('ipsec-drops suggestion')}")
    for net in networks:
        remote = "any" if net.prefixlen == 0 else str(net.network_address)
        remote_mask = "" if net.prefixlen in (0, net.max_prefixlen) else None
        if group.direction == "inbound":
            ends = f"srcaddr={remote}" + (f" srcmask={_mask(net)}" if remote_mask is None else "") + " dstaddr=me"
            ports = f" dstport={port}" if port is not None else ""
        else:
            ends = "srcaddr=me " + f"dstaddr={remote}" + (f" dstmask={_mask(net)}" if remote_mask is None else "")
            ports = f" dstport={port}" if port is not None else ""
        lines.append(f"netsh ipsec static add filter filterlist={_quoted(name)} {ends} protocol={proto}{ports} "
                     f"mirrored=yes description={_quoted(str(net))}")
    lines.append(f"netsh ipsec static add rule name={_quoted(name)} policy={_quoted(hp.policy or '')} "
                 f"filterlist={_quoted(name)} filteraction={_quoted(hp.permit_action or 'Permit')}")
    return lines


def _advfirewall_lines(name: str, group: _Group, networks: Sequence[IPNetwork]) -> list[str]:
    proto = {1: "ICMPv4", 6: "TCP", 17: "UDP", 58: "ICMPv6"}.get(group.protocol, str(group.protocol))
    direction = "in" if group.direction == "inbound" else "out"
    port = group.service_port
    ports = ""
    if port is not None:
        ports = f" localport={port}" if group.direction == "inbound" else f" remoteport={port}"
    remote = "any" if any(n.prefixlen == 0 for n in networks) else ",".join(
        str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n) for n in networks)
    return [f"netsh advfirewall firewall add rule name={_quoted(name)} dir={direction} action=allow "
            f"protocol={proto}{ports} remoteip={remote}"]


def _risks(group: _Group, networks: Sequence[IPNetwork], options: SuggestOptions, config: Config | None,
           remotes: Sequence[str]) -> list[str]:
    out = []
    port = group.service_port
    service = _service(port, group.protocol)
    if group.direction == "inbound" and port in options.risky_ports:
        out.append(f"{service} ({protocol_name(group.protocol)} {port}) is a risky service port: opened to "
                   "internal sources only")
    entry = config.host(group.host) if config else None
    if group.direction == "outbound" and port == 53:
        dns = set(entry.dns) if entry else set()
        others = [str(a) for a in remotes if str(a) not in dns]
        if others:
            out.append(f"outbound DNS to {', '.join(others)}, which is not the host's configured dns "
                       f"({', '.join(sorted(dns)) or 'none configured'})")
    covered = sum(n.num_addresses for n in networks)
    if any(n.prefixlen == 0 for n in networks):
        out.append("opens the port to any address")
    elif covered > len(remotes):
        out.append(f"widened beyond the observed addresses: {', '.join(map(str, networks))} cover {covered:,} "
                   f"addresses, {len(remotes)} observed")
    if any(n.version == 4 and 0 < n.prefixlen < 24 or n.version == 6 and 0 < n.prefixlen < 64 for n in networks):
        out.append("a network wider than /24")
    if group.kind == "ipsec" and any(n.version == 6 for n in networks):
        out.append("an IPv6 filter: netsh ipsec on Windows Server 2003 filters IPv4 only")
    return out


def _name(group: _Group, networks: Sequence[IPNetwork], taken: set[str]) -> str:
    service = _service(group.service_port, group.protocol)
    way = "from" if group.direction == "inbound" else "to"
    first = "any" if networks and networks[0].prefixlen == 0 else (
        str(networks[0].network_address) if networks[0].prefixlen == networks[0].max_prefixlen else str(networks[0]))
    more = f" +{len(networks) - 1}" if len(networks) > 1 else ""
    name = f"Suggested: {service} {way} {first}{more}"
    candidate, n = name, 2
    while candidate.lower() in taken:
        candidate = f"{name} ({n})"
        n += 1
    taken.add(candidate.lower())
    return candidate


def _rem(text: str) -> str:
    """A ``rem`` line cmd.exe cannot mistake for more (no line breaks, no redirection or command characters)."""
    clean = "".join(c if c.isprintable() and c not in "&|<>^%" else " " for c in text)
    return "rem " + clean


# -- the public API --------------------------------------------------------------------------------------------

def suggest(warehouse: WarehouseLike, config: Config | None = None, *, host: str | None = None,
            since: datetime | str | None = None, until: datetime | str | None = None, verify: bool = False,
            session: Session | None = None, **options: Any) -> dict:
    """Suggestions for the period's blocked flows, as plain data (see the module docstring).

    ``options`` override ``[suggest]`` of the config: ``min_days``, ``min_sources``,
    ``max_prefix``, ``allow_any``, ``ignore``, ``exclude_ports``, ``risky_ports``,
    ``scan_ports``.  Returns ``{"suggestions": [...], "not_suggested": [...]}`` and, with
    ``verify``, ``"replay"``; each suggestion carries its ``netsh`` lines (and ``rem``, the
    comment line of the script).
    """
    opts = SuggestOptions.from_config(config, **options)
    if session is None:
        with open_session(warehouse, config) as own:
            return suggest(warehouse, config, host=host, since=since, until=until, verify=verify, session=own,
                           **options)
    period: dict[str, Any] = {"host": host, "since": since, "until": until}
    con = session.con
    session.flows(**period)  # the flows of the period, judged: flows_result (with the day bitmaps)
    day0 = session.day0(**period)
    scans = session.scan_sources(opts.scan_ports, **period)
    ignored_nets = opts.networks_ignored()
    protocols = [r[0] for r in con.sql("SELECT DISTINCT protocol FROM flows_result WHERE protocol IS NOT NULL")
                 .fetchall()]
    tables = {"scan_remotes": scans,
              "ignore_ranges": pa.Table.from_pylist(_ranges(ignored_nets), schema=_RANGES),
              "internal_ranges": pa.Table.from_pylist(_ranges(INTERNAL_NETWORKS), schema=_RANGES),
              "permit_weights": pa.Table.from_pylist(_permit_weights(protocols), schema=_WEIGHTS)}
    for name, table in tables.items():
        con.register(name, table)
    kinds = sorted(FIREWALL_KINDS)
    con.execute("CREATE OR REPLACE TEMP TABLE suggest_flows AS " + query("suggest_flows"),
                {"firewall_kinds": kinds, "risky_ports": list(opts.risky_ports),
                 "excluded_ports": list(opts.exclude_ports)})
    forbidden: dict[str, list[Any]] = defaultdict(list)
    for h, family, num in con.sql(query("suggest_forbidden")).fetchall():
        forbidden[h].append(ipaddress.IPv4Address(int(num)) if family == 4 else ipaddress.IPv6Address(int(num)))
    refused: dict[tuple, dict] = {}
    for r in con.sql(query("suggest_refused"), params={"excluded_ports": list(opts.exclude_ports)}).to_arrow_table() \
            .to_pylist():
        if r["reason"] == "scan":
            detail = f"touched {r['scan_ports']} local ports on {r['scan_day']}"
        elif r["reason"] == "ignored":
            detail = "excluded port" if r["excluded"] else "ignored network"
        elif r["reason"] == "exposure":
            detail = f"public sources to the risky port {r['local_port']}"
        else:
            detail = (f"rule {r['rule']!r} (line {r['source_line']}) blocks exactly this traffic; a permit could "
                      "not outweigh it")
        key = (r["host"].lower(), r["reason"], r["direction"], r["protocol"], r["local_port"], r["remote_port"],
               r["rule"], tuple(r["remotes"]) if r["reason"] == "scan" else ())
        refused[key] = {"host": r["host"], "reason": r["reason"], "direction": r["direction"],
                        "protocol": r["protocol"], "local_port": r["local_port"], "remote_port": r["remote_port"],
                        "remotes": r["remotes"], "events": r["events"], "packets": r["packets"], "days": r["days"],
                        "detail": detail}
    groups = [_Group(g["host"], g["direction"], g["protocol"], g["local_port"], g["remote_port"], g["kind"],
                     g["remotes"], g["first_seen"], g["last_seen"], g["blocked_by"])
              for g in con.sql(query("suggest_groups"), params={"day0": day0}).to_arrow_table().to_pylist()]

    bad: dict[str, dict[int, list[tuple[int, int]]]] = {}
    host_policies: dict[str, _HostPolicy] = {}
    suggestions: list[dict] = []
    taken: dict[str, set[str]] = {}
    actions_added: set[str] = set()
    for group in groups:
        days = group.days()
        internal = group.internal_sources()
        recurrent = len(days) >= opts.min_days or (group.direction == "inbound" and internal >= opts.min_sources)
        evidence = group.evidence()
        if not recurrent:
            refused[(group.host.lower(), "rare", group.direction, group.protocol, group.local_port,
                     group.remote_port, None, ())] = {
                "host": group.host, "reason": "rare", "direction": group.direction, "protocol": group.protocol,
                "local_port": group.local_port, "remote_port": group.remote_port, "remotes": evidence["remotes"],
                "events": evidence["events"], "packets": evidence["packets"], "days": len(days),
                "detail": f"seen on {len(days)} day(s) from {internal} internal source(s); needs "
                          f"{opts.min_days} days or {opts.min_sources} internal sources"}
            continue
        host_bad = bad.get(group.host.lower())
        if host_bad is None:
            host_bad = bad[group.host.lower()] = {v: _bad_ranges([*forbidden[group.host.lower()], *ignored_nets], v)
                                                  for v in (4, 6)}
        blocks: list[tuple[int, int, int]] = []
        for version, bits in ((4, 32), (6, 128)):
            nums = [_num(e) for e in group.entries if e["family"] == version]
            if nums:
                merged = _widen_ints(_collapse_ints(nums, bits), bits, _floor(version, opts.max_prefix),
                                     host_bad[version])
                blocks += [(version, start, prefix) for start, prefix in merged]
        sources_24 = {(e["family"], _num(e) >> (8 if e["family"] == 4 else 64)) for e in group.entries}
        if opts.allow_any and len(sources_24) >= opts.min_sources:
            blocks = [(group.entries[0]["family"], 0, 0)]  # any
        rest: list[dict] = []
        if len(blocks) > opts.max_networks:
            group, blocks, rest = _keep_busiest(group, blocks, opts.max_networks)
            days, evidence = group.days(), group.evidence()
        networks = [_network(*b) for b in blocks]
        remotes = [e["ip"] for e in group.entries]
        if rest:
            refused[(group.host.lower(), "scattered", group.direction, group.protocol, group.local_port,
                     group.remote_port, None, ())] = {
                "host": group.host, "reason": "scattered", "direction": group.direction, "protocol": group.protocol,
                "local_port": group.local_port, "remote_port": group.remote_port,
                "remotes": [e["ip"] for e in rest], "events": sum(int(e["events"]) for e in rest),
                "packets": sum(int(e["packets"]) for e in rest),
                "days": len({d for e in rest for d in (e["days"] or ())}),
                "detail": f"the other sources of this service are spread over too many networks for one "
                          f"least-privilege rule (at most {opts.max_networks}): review them, or widen with "
                          "--max-prefix / --allow-any"}
        hp = host_policies.get(group.host.lower())
        if hp is None and group.kind == "ipsec":
            hp = host_policies[group.host.lower()] = _host_policy(session, config, group.host)
        names = taken.setdefault(group.host.lower(), set(hp.names) if hp else set())
        name = _name(group, networks, names)
        risks = _risks(group, networks, opts, config, remotes)
        if group.kind == "ipsec":
            assert hp is not None
            if hp.policy is None:
                risks.append("the host's current policy script is not known (no policy in the config): the rule "
                             "line names no policy; add policy=\"...\" before running it")
            needs_action = hp.permit_action is None and group.host.lower() not in actions_added
            if needs_action:
                actions_added.add(group.host.lower())
            lines = _ipsec_lines(name, group, networks, hp, needs_action)
        else:
            lines = _advfirewall_lines(name, group, networks)
        first, last = evidence["first_seen"], evidence["last_seen"]
        blocked_by = group.blocked_by
        rem = _rem(f"{name}: {evidence['packets']} packets in {evidence['events']} events from "
                   f"{len(remotes)} address(es) on {len(days)} day(s), {first:%Y-%m-%d} to {last:%Y-%m-%d}; "
                   f"blocked today by {blocked_by}" + (f"; risks: {'; '.join(risks)}" if risks else ""))
        suggestions.append({
            "host": group.host, "kind": group.kind, "name": name, "direction": group.direction,
            "protocol": group.protocol, "local_port": group.local_port, "remote_port": group.remote_port,
            "remote_networks": [str(n) if n.prefixlen else "any" for n in networks],
            "remotes": evidence["remotes"], "packets": evidence["packets"], "events": evidence["events"],
            "days": len(days), "first_seen": first, "last_seen": last, "blocked_by": blocked_by,
            "risks": risks, "rem": rem, "netsh": lines, "_networks": networks,
        })
    not_suggested = sorted(refused.values(), key=lambda e: (e["host"], e["reason"], -e["events"]))
    result: dict[str, Any] = {"suggestions": suggestions, "not_suggested": not_suggested}
    if verify:
        result["replay"] = _verify(session, config, suggestions, host_policies, period)
    for s in suggestions:
        s.pop("_networks")
    return result


_RANGES = pa.schema([("family", pa.int8()), ("lo", pa.string()), ("hi", pa.string())])
_WEIGHTS = pa.schema([("protocol", pa.int16()), ("has_port", pa.bool_()), ("weight", pa.int64())])


def netsh_script(result: dict, *, header: str | None = None) -> str:
    """The ``.cmd`` of the suggestions (IPSec and advfirewall), in the source article's style, CRLF line ends."""
    lines = ["@echo off",
             _rem(header or "Filters suggested by ipsec-drops: review each before running this script"),
             _rem("Each rule permits traffic the stored drop logs show blocked; run on the host it names.")]
    for host in sorted({s["host"] for s in result["suggestions"]}, key=str.lower):
        lines += ["", _rem(f"=== {host} ===")]
        for s in result["suggestions"]:
            if s["host"] != host:
                continue
            lines += [s["rem"], *s["netsh"]]
    return "\r\n".join(lines) + "\r\n"


# -- replay ----------------------------------------------------------------------------------------------------

def _replay_ranges(suggestions: list[dict]) -> pa.Table:
    rows = [{"host": s["host"], "kind": s["kind"], "direction": s["direction"], "protocol": s["protocol"],
             "local_port": s["local_port"], "remote_port": s["remote_port"],
             "service_port": s["local_port"] if s["direction"] == "inbound" else s["remote_port"], "suggestion": i,
             "family": n.version, "lo": str(n.network_address), "hi": str(n.broadcast_address)}
            for i, s in enumerate(suggestions) for n in s["_networks"]]
    return pa.Table.from_pylist(rows, schema=_SUGGESTION_RANGES)


_SUGGESTION_RANGES = pa.schema([
    ("host", pa.string()), ("kind", pa.string()), ("direction", pa.string()), ("protocol", pa.int16()),
    ("local_port", pa.int32()), ("remote_port", pa.int32()), ("service_port", pa.int32()),
    ("suggestion", pa.int64()), ("family", pa.int8()), ("lo", pa.string()), ("hi", pa.string())])


def _verify(session: Session, config: Config | None, suggestions: list[dict], host_policies: dict[str, _HostPolicy],
            period: dict) -> dict:
    """The replay (see the module docstring), diffed in SQL so Python sees only the flows that change."""
    con = session.con
    con.execute("CREATE OR REPLACE TEMP TABLE suggest_before AS SELECT * FROM flows_result")
    con.register("suggestion_ranges", _replay_ranges(suggestions))
    problems: list[str] = []
    opened_beyond: list[dict] = []
    own: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # suggestion -> [drops, flows] permitted
    hosts = {s["host"].lower(): s["host"] for s in suggestions}
    amended: dict[str, PolicyAnalysis] = {}
    current: dict[str, PolicyAnalysis] = {}
    for key, host in hosts.items():
        ipsec = [s for s in suggestions if s["host"] == host and s["kind"] == "ipsec"]
        hp = host_policies.get(key)
        if not ipsec:
            continue
        if hp is None or hp.analysis is None:
            for s in ipsec:
                s["replay"] = {"drops_permitted": None, "flows_permitted": None,
                               "verified_by": "not verified: the host's current policy script is not known"}
            continue
        extra = "\r\n".join(line for s in ipsec for line in s["netsh"]) + "\r\n"
        amended[host] = analyse_amended(hp.analysis, extra, "suggestions.cmd", config=config)
        problems += [str(i) for i in amended[host].issues
                     if i.file == "suggestions.cmd" and i.severity in ("error", "warning")]
        periods = session.periods_of(host)
        if not (len(periods) == 1 and periods[0]["snapshot"] == hp.analysis.snapshot
                and periods[0]["valid_from"] is None):
            current[host] = hp.analysis  # drops of other policy periods: "before" is the current script too
    if current:
        session.replay(current, **period)
        con.execute("DELETE FROM suggest_before WHERE list_contains($hosts, lower(host))",
                    {"hosts": [h.lower() for h in current]})
        con.execute("INSERT INTO suggest_before SELECT * FROM flows_result WHERE list_contains($hosts, lower(host))",
                    {"hosts": [h.lower() for h in current]})
    replayed = {h.lower() for h in amended}
    if amended:
        # one judgement of the period's grouped drops, every amended host at once
        session.replay(amended, **period)
        rows = con.sql(query("replay_changes"), params={"hosts": sorted(replayed)}).to_arrow_table().to_pylist()
        for r in rows:
            if r["suggestion"] is None:
                opened_beyond.append({k: r[k] for k in CHANGE_KEYS} | {"events": int(r["events"]),
                                                                      "rule_after": r["rule_after"]})
            else:
                own[r["suggestion"]][0] += int(r["events"])
                own[r["suggestion"]][1] += 1
    for i, s in enumerate(suggestions):
        if s["kind"] == "ipsec" and s["host"].lower() in replayed:
            s["replay"] = {"drops_permitted": own[i][0], "flows_permitted": own[i][1],
                           "verified_by": "policy parser + correlation"}
    if any(s["kind"] == "advfirewall" for s in suggestions):
        for s in suggestions:
            if s["kind"] == "advfirewall":
                s["replay"] = {"drops_permitted": 0, "flows_permitted": 0,
                               "verified_by": "the rule's criteria matched against the stored firewall drops "
                                              "(the Windows Firewall itself is not modelled)"}
        seen: set[tuple] = set()
        for r in con.sql(query("advfirewall_replay"), params={"firewall_kinds": sorted(FIREWALL_KINDS)}) \
                .to_arrow_table().to_pylist():
            key = tuple(r[k] for k in CHANGE_KEYS)
            if key in seen:  # one flow opened by two rules: counted once, for the first
                continue
            seen.add(key)
            s = suggestions[r["suggestion"]]
            s["replay"]["drops_permitted"] += int(r["events"])
            s["replay"]["flows_permitted"] += 1
            if not r["own"]:
                opened_beyond.append({k: r[k] for k in CHANGE_KEYS} | {"events": int(r["events"]),
                                                                      "rule_after": s["name"]})
    before = con.sql(query("blocked_drops"), params={"hosts": sorted(hosts)}).fetchall()[0][0] or 0
    permitted = sum(int(s["replay"]["drops_permitted"] or 0) for s in suggestions if "replay" in s)
    permitted += sum(int(f["events"]) for f in opened_beyond)
    return {"drops_blocked_before": int(before), "drops_blocked_after": int(before) - permitted,
            "opened_beyond_suggested": opened_beyond, "problems": problems}


# -- what-if ---------------------------------------------------------------------------------------------------

#: Verdicts under which observed permitted traffic would no longer pass: blocked, or needing IPsec it was seen without.
BREAKS = frozenset({"blocked-by-rule", "negotiation-required"})


def whatif(warehouse: WarehouseLike, config: Config | None = None, *, host: str, script: str | os.PathLike[str]
           | None = None, replace_with: str | os.PathLike[str] | None = None, since: datetime | str | None = None,
           until: datetime | str | None = None, session: Session | None = None) -> dict:
    """What a candidate policy changes on ``host``, judged on both datasets: the stored drops and the observed
    permitted traffic (the ``allowed`` dataset), with the same matcher.

    ``script``: commands appended to the host's current script; ``replace_with``: a whole new
    script instead of it.  Both sides judge every stored flow of the period with one script
    (the current one, the candidate), from the same grouped tuples.  Returns::

        {"would_break": [...],   # observed permitted flows the candidate blocks (or makes need IPsec)
         "would_open": [...],    # dropped flows the candidate lets through
         "changed": [...],       # every flow of either dataset whose verdict or deciding rule changes
         "summary": {...}}

    Each flow has ``host, direction, protocol, local_ip, local_port, remote_ip, remote_port, events, days,
    first_seen, last_seen, verdict_before, rule_before, verdict_after, rule_after``, ``dataset``
    (``allowed``/``drops``) and ``impact`` (``would-break``, ``would-open`` or ``other``); would-break flows
    ``source_line_after`` the candidate script line of the filter that decides them after.
    """
    if (script is None) == (replace_with is None):
        raise ValueError("give script= (appended to the current script) or replace_with= (a whole new script)")
    if session is None:
        with open_session(warehouse, config) as own:
            return whatif(warehouse, config, host=host, script=script, replace_with=replace_with, since=since,
                          until=until, session=own)
    from .policy import analyse_script

    session.check_host(host)
    entry = config.host(host) if config else None
    hp = _host_policy(session, config, host)
    period: dict[str, Any] = {"host": host, "since": since, "until": until}
    if replace_with is not None:
        candidate = analyse_script(replace_with, host=entry or host, config=config)
    else:
        if hp.analysis is None:
            raise LookupError(f"{host} has no current policy script (config policy, or a stored snapshot whose "
                              "script is still on disk): use --replace with a whole script")
        text = Path(script).read_bytes().decode("utf-8-sig", errors="replace")  # type: ignore[arg-type]
        candidate = analyse_amended(hp.analysis, text, str(script), config=config)
    current = session.periods_of(host)
    one_script = hp.analysis is not None and not (len(current) == 1 and current[0]["snapshot"] == hp.analysis.snapshot
                                                  and current[0]["valid_from"] is None)
    return replay_impact(session, host, hp.analysis if one_script else None, candidate, period)


def replay_impact(session: Session, host: str, before_policy: PolicyAnalysis | None, candidate: PolicyAnalysis,
                  period: dict[str, Any]) -> dict:
    """:func:`whatif`'s answer for two policies of ``host``: ``before_policy`` (None: the policies in force at each
    flow's time) against ``candidate``, both datasets judged from the same tuples."""
    if before_policy is not None:
        before = session.replay({host: before_policy}, **period).to_pylist()
        allowed_before = session.replay_allowed({host: before_policy}, **period).to_pylist()
    else:
        before = session.flows(**period).to_pylist()
        allowed_before = session.allowed_flows(**period).to_pylist()
    after = session.replay({host: candidate}, **period).to_pylist()
    allowed_after = session.replay_allowed({host: candidate}, **period).to_pylist()
    drops_changed = [{**c, "dataset": "drops"} for c in compare_flows(before, after)]
    allowed_changed = [{**c, "dataset": "allowed"} for c in compare_flows(allowed_before, allowed_after)]
    for c in drops_changed:
        c["impact"] = ("would-open" if c["verdict_before"] in BLOCKED and c["verdict_after"] not in BLOCKED
                       else "other")
    for c in allowed_changed:
        c["impact"] = ("would-break" if c["verdict_after"] in BREAKS and c["verdict_before"] not in BREAKS
                       else "other")
    would_break = [c for c in allowed_changed if c["impact"] == "would-break"]
    would_open = [c for c in drops_changed if c["impact"] == "would-open"]
    newly_blocked = [c for c in drops_changed if c["verdict_after"] in BLOCKED and c["verdict_before"] not in BLOCKED]
    changed = sorted(would_break, key=lambda c: (-c["events"], str(c["remote_ip"]))) + drops_changed + [
        c for c in allowed_changed if c["impact"] != "would-break"]
    problems = [str(i) for i in candidate.issues if i.severity == "error"]
    summary = {"host": host, "candidate": candidate.file, "flows_before": len(before), "flows_after": len(after),
               "changed": len(drops_changed), "newly_blocked": len(newly_blocked), "newly_permitted": len(would_open),
               "events_newly_blocked": sum(c["events"] for c in newly_blocked),
               "events_newly_permitted": sum(c["events"] for c in would_open),
               "allowed_flows": len(allowed_before), "allowed_changed": len(allowed_changed),
               "would_break": len(would_break), "events_would_break": sum(c["events"] for c in would_break),
               "would_open": len(would_open), "events_would_open": sum(c["events"] for c in would_open),
               "unchanged": len(allowed_before) + len(before) - len(allowed_changed) - len(drops_changed),
               "script_errors": problems}
    return {"would_break": would_break, "would_open": would_open, "changed": changed, "summary": summary}


def compare_flows(before: list[dict], after: list[dict]) -> list[dict]:
    """Flows (by 5-tuple) whose verdict or deciding rule differs between two judgements, most events first."""
    def index(rows: list[dict]) -> dict[tuple, dict]:
        out: dict[tuple, dict] = {}
        for r in rows:
            key = tuple(r[k] for k in CHANGE_KEYS)
            cur = out.get(key)
            if cur is None or int(r["events"]) > int(cur["events"]):
                out[key] = {**r, "events_total": int(r["events"]) + (int(cur["events_total"]) if cur else 0)}
            else:
                cur["events_total"] = int(cur["events_total"]) + int(r["events"])
        return out

    b, a = index(before), index(after)
    changed = []
    for key in b.keys() | a.keys():
        x, y = b.get(key), a.get(key)
        vb, va = (x["verdict"] if x else None), (y["verdict"] if y else None)
        rb, ra = (x["rule"] if x else None), (y["rule"] if y else None)
        if (vb, rb) == (va, ra):
            continue
        ref = x or y
        assert ref is not None
        changed.append({**{k: ref[k] for k in CHANGE_KEYS}, "events": int(ref["events_total"]),
                        "packets": int(ref.get("packets", ref["events"])), "days": ref.get("days_seen"),
                        "first_seen": ref["first_seen"], "last_seen": ref["last_seen"],
                        "verdict_before": vb, "rule_before": rb, "verdict_after": va, "rule_after": ra,
                        **({"bytes": ref["bytes"]} if "bytes" in ref else {}),
                        "source_line_after": y["source_line"] if y else None})
    return sorted(changed, key=lambda c: (-c["events"], str(c["host"]), str(c["remote_ip"])))


from ._callable import callable_module  # noqa: E402

callable_module(__name__, suggest)
