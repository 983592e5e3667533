"""Policy lint: the weaknesses an admin would want pointed at, each with a severity and the line to fix.

Checks (codes in brackets):

* a filter that never decides any packet, because filters of higher weight
  cover all of it [shadowed-filter, warning, when one of them has another
  action; redundant-filter, info, when they all do the same];
* a rule whose filter list is empty [empty-filter-list]; a filter action or
  filter list no rule uses — usually a rule that was meant and not written
  [unused-filter-action, unused-filter-list];
* no assigned policy [no-assigned-policy];
* the settings "Scripting IPSec Policies" warns about: ``ipsecexempt`` 0 or 1
  on an Internet-facing host — "Kerberos exemptions let attackers use source
  port 88 to completely bypass all other port restrictions" [ipsecexempt];
  value 2 exempts Kerberos too by [S4] (an error as well, although the
  article names 0 and 1); ``bootmode permit`` (everything passes until the
  policy is applied) [bootmode-permit]; ``ipsecdiagnostics`` 0, which logs no
  drops at all [no-drop-logging];
* a block rule that blocks what the host needs: DNS to its configured DNS
  servers (and WINS, DHCP when configured) [blocks-needed-service];
* negotiate with ``soft=yes`` (falls back to clear text) [soft-negotiate],
  inactive rules and preshared keys [inactive-rule, preshared-key] (info).

Internet-facing means the host has an address outside the private, shared,
loopback and link-local ranges (documentation ranges such as 198.51.100.0/24
stand for public addresses in examples, so they count as public).  Without a
host the address checks are skipped and the exemption check assumes the worst.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict

from ..config import HostConfig
from .addresses import INTERNAL_NETWORKS, is_internal  # noqa: F401 - INTERNAL_NETWORKS re-exported
from .effective import EffectiveFilter, decide
from .model import Origin, PolicyIssue, PolicyModel, issue_at

#: A client's source port for probes of services it needs (Windows Server 2003 uses 1025-5000).
EPHEMERAL_PORT = 1025
#: Box subtraction gives up past this many pieces (the answer is then "not shown to be shadowed").
MAX_PIECES = 20_000

Box = tuple[tuple[int, int], ...]


def internet_facing(host: HostConfig | None) -> bool | None:
    """True when the host has a public address, False when all are internal, None when unknown."""
    if host is None or not host.addresses:
        return None
    return any(not is_internal(a) for a in host.addresses)


def lint(model: PolicyModel, rows: list[EffectiveFilter], host: HostConfig | None,
         file: str) -> list[PolicyIssue]:
    """Everything worth fixing in a parsed script, in line order."""
    found: list[PolicyIssue] = []
    found += _objects(model)
    found += _settings(model, host, file)
    by_policy: dict[tuple[str, str], list[EffectiveFilter]] = defaultdict(list)
    for row in rows:
        if row.rule_active:
            by_policy[(row.store, row.policy)].append(row)
    for policy_rows in by_policy.values():
        found += _shadowing(policy_rows)
    assigned = [r for r in rows if r.assigned and r.rule_active and r.store in ("local", "persistent")]
    if host is not None:
        found += _needed_services(assigned, host)
    return sorted(found, key=lambda i: (i.line, ("error", "warning", "info").index(i.severity)))


def _at(origin: Origin | None, severity: str, code: str, message: str, file: str = "") -> PolicyIssue:
    if origin is None:
        return PolicyIssue(file, 0, severity, code, message)
    return issue_at(origin, severity, code, message)


# --- objects ---------------------------------------------------------------------------------------------

def _objects(model: PolicyModel) -> list[PolicyIssue]:
    out = []
    for location, store in model.stores.items():
        used_lists = {r.filter_list.lower() for p in store.policies.values() for r in p.rules}
        used_actions = {r.filter_action.lower() for p in store.policies.values() for r in p.rules}
        for policy in store.policies.values():
            for rule in policy.rules:
                flist = store.filter_lists.get(rule.filter_list.lower())
                if flist is not None and not flist.filters:
                    out.append(_at(rule.origin, "warning", "empty-filter-list",
                                   f"rule {rule.name!r} of policy {policy.name!r} uses filter list "
                                   f"{flist.name!r}, which has no filters: the rule does nothing"))
                if not rule.active:
                    out.append(_at(rule.origin, "info", "inactive-rule",
                                   f"rule {rule.name!r} of policy {policy.name!r} is not active (activate=no)"))
                if rule.psk:
                    out.append(_at(rule.origin, "info", "preshared-key",
                                   f"rule {rule.name!r} authenticates with a preshared key, kept in clear text in "
                                   "the script and the policy store"))
        for action in store.filter_actions.values():
            if action.name.lower() not in used_actions:
                out.append(_at(action.origin, "warning", "unused-filter-action",
                               f"filter action {action.name!r} ({action.action}) is used by no rule: "
                               "a rule meant to use it is missing, or it can go"))
            elif action.action == "negotiate" and action.soft:
                out.append(_at(action.origin, "warning", "soft-negotiate",
                               f"filter action {action.name!r} negotiates with soft=yes: peers without IPSec "
                               "talk in clear text"))
        for flist in store.filter_lists.values():
            if flist.name.lower() not in used_lists:
                out.append(_at(flist.origin, "warning", "unused-filter-list",
                               f"filter list {flist.name!r} is used by no rule: its filters do nothing"))
        if location == "local" and store.policies and not any(p.assigned for p in store.policies.values()):
            last = list(store.policies.values())[-1]
            out.append(_at(last.origin, "warning", "no-assigned-policy",
                           "no policy is assigned: none of these filters is in force "
                           f"(set policy name={last.name!r} assign=yes)"))
    return out


# --- settings --------------------------------------------------------------------------------------------

EXEMPT_MEANING = {
    0: "multicast, broadcast, RSVP, Kerberos and ISAKMP traffic bypass the filters",
    1: "multicast, broadcast and ISAKMP traffic bypass the filters",
    2: "RSVP, Kerberos and ISAKMP traffic bypass the filters",
}


def _settings(model: PolicyModel, host: HostConfig | None, file: str) -> list[PolicyIssue]:
    out = []
    exempt = model.settings.get("ipsecexempt")
    if exempt is not None and int(exempt.value) in EXEMPT_MEANING:
        value = int(exempt.value)
        facing = internet_facing(host)
        kerberos = value in (0, 2)
        why = EXEMPT_MEANING[value] + (
            " — Kerberos exemption lets attackers use source port 88 to bypass all other port restrictions"
            if kerberos else "")
        if facing is False:
            severity, where = "info", f"{host.name} has only internal addresses"  # type: ignore[union-attr]
        elif facing:
            severity, where = ("error" if kerberos else "warning"), f"{host.name} is Internet-facing"  # type: ignore
        else:
            severity, where = "warning", "on an Internet-facing host this is unsafe"
        out.append(_at(exempt.origin, severity, "ipsecexempt",
                       f"ipsecexempt {value}: {why}; {where}: use 3 and explicit filters for what must pass"))
    boot = model.settings.get("bootmode")
    if boot is not None and boot.value == "permit":
        out.append(_at(boot.origin, "warning", "bootmode-permit",
                       "bootmode permit lets all traffic through until the policy is applied at startup "
                       "(use block, or stateful with bootexemptions)"))
    diag = model.settings.get("ipsecdiagnostics")
    if diag is not None and diag.value == "0":
        out.append(_at(diag.origin, "info", "no-drop-logging",
                       "ipsecdiagnostics 0: dropped packets are not logged (7 logs them all)"))
    return out


# --- shadowing -------------------------------------------------------------------------------------------

def _box(row: EffectiveFilter) -> Box:
    def span(value: int | None, hi: int) -> tuple[int, int]:
        return (0, hi) if value is None else (value, value)
    return ((row.src_lo, row.src_hi), (row.dst_lo, row.dst_hi), span(row.protocol, 255),  # type: ignore[return-value]
            span(row.src_port, 65535), span(row.dst_port, 65535))


def _intersects(a: Box, b: Box) -> bool:
    return all(alo <= bhi and blo <= ahi for (alo, ahi), (blo, bhi) in zip(a, b, strict=True))


def _subtract(a: Box, b: Box) -> list[Box]:
    """``a`` minus ``b`` as disjoint boxes (``a`` when they do not meet)."""
    if not _intersects(a, b):
        return [a]
    pieces: list[Box] = []
    cur = list(a)
    for d, ((alo, ahi), (blo, bhi)) in enumerate(zip(a, b, strict=True)):
        if alo < blo:
            pieces.append(tuple(cur[:d] + [(alo, blo - 1)] + cur[d + 1:]))
        if ahi > bhi:
            pieces.append(tuple(cur[:d] + [(bhi + 1, ahi)] + cur[d + 1:]))
        cur[d] = (max(alo, blo), min(ahi, bhi))
    return pieces


def covered_by(row: EffectiveFilter, higher: list[EffectiveFilter]) -> list[EffectiveFilter] | None:
    """The rows of ``higher`` (by weight, highest first) that together cover ``row``; None if they do not."""
    remaining = [_box(row)]
    used = []
    for other in higher:
        ob = _box(other)
        hit = False
        nxt: list[Box] = []
        for piece in remaining:
            if _intersects(piece, ob):
                hit = True
                nxt.extend(_subtract(piece, ob))
            else:
                nxt.append(piece)
        if hit:
            used.append(other)
            remaining = nxt
        if not remaining:
            return used
        if len(remaining) > MAX_PIECES:
            return None
    return None


def _shadowing(rows: list[EffectiveFilter]) -> list[PolicyIssue]:
    resolved = sorted((r for r in rows if r.family is not None), key=lambda r: -r.weight)
    filters: dict[tuple, list[EffectiveFilter]] = defaultdict(list)
    for row in rows:
        filters[(row.rule, row.filter_list, row.filter_index)].append(row)
    out = []
    for key, frows in filters.items():
        rule, flist, _ = key
        if any(r.family is None for r in frows):
            continue
        covering: list[EffectiveFilter] = []
        for row in frows:
            # Other filters only: a filter's own reversed copy never makes it pointless.
            higher = [r for r in resolved if r.weight > row.weight and r.family == row.family
                      and (r.rule, r.filter_list, r.filter_index) != key]
            cover = covered_by(row, higher)
            if cover is None:
                break
            covering += cover
        else:
            first = frows[0]
            others = [r for r in covering if r.action != first.action]
            by = sorted({(r.source_line, r.rule, r.action) for r in (others or covering)})
            names = "; ".join(f"line {line} (rule {r!r}, {a})" for line, r, a in by)
            origin = Origin(first.source_file, first.source_line, first.source_text)
            if others:
                out.append(_at(origin, "warning", "shadowed-filter",
                               f"filter {first.filter_index + 1} of {flist!r} (rule {rule!r}, {first.action}) never "
                               f"applies: more specific filters decide all its traffic: {names}"))
            else:
                out.append(_at(origin, "info", "redundant-filter",
                               f"filter {first.filter_index + 1} of {flist!r} (rule {rule!r}) never applies: "
                               f"filters with the same action cover it: {names}"))
    return out


# --- services the host needs -----------------------------------------------------------------------------

def _services(host: HostConfig) -> list[tuple[str, str, int, int, int]]:
    """(service, server, protocol, client port, server port) the host needs to reach."""
    out = []
    out += [("DNS", s, 17, EPHEMERAL_PORT, 53) for s in host.dns]
    out += [("WINS", s, 17, 137, 137) for s in host.wins]
    out += [("DHCP", s, 17, 68, 67) for s in host.dhcp]
    return out


def _needed_services(rows: list[EffectiveFilter], host: HostConfig) -> list[PolicyIssue]:
    out = []
    for service, server, proto, cport, sport in _services(host):
        fam = ipaddress.ip_address(server).version
        srv = int(ipaddress.ip_address(server))
        mine = [int(ipaddress.ip_address(a)) for a in host.addresses if ipaddress.ip_address(a).version == fam]
        if not mine:
            continue
        verdicts = []
        for me in mine:
            query = decide(rows, fam, me, srv, proto, cport, sport)
            reply = decide(rows, fam, srv, me, proto, sport, cport)
            verdicts.append((query, reply))
        blocked = [(q, r) for q, r in verdicts if (q and q.action == "block") or (r and r.action == "block")]
        if len(blocked) < len(verdicts):
            continue  # at least one of the host's addresses gets through
        query, reply = blocked[0]
        culprit = query if query is not None and query.action == "block" else reply
        if culprit is None:
            continue  # cannot happen: a blocked pair has a blocking verdict
        what = "queries" if culprit is query else "replies"
        origin = Origin(culprit.source_file, culprit.source_line, culprit.source_text)
        out.append(_at(origin, "warning", "blocks-needed-service",
                       f"{service} {what} between {host.name} and its {service} server {server} (UDP {sport}) are "
                       f"blocked by rule {culprit.rule!r} ({culprit.src}->{culprit.dst}): add a permit rule for "
                       f"{service} (e.g. srcaddr=me dstaddr={service} protocol=udp dstport={sport} mirrored=yes)"))
    return out
