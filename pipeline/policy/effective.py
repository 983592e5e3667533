"""Effective filters: every rule's filters, per direction, with addresses resolved on a host and weights.

One row per direction (a mirrored filter gives two: the filter as written and
its reversed copy, ``mirror=True``) and per resolved address pair (``me`` on
a host with two addresses gives two rows).  A filter whose address cannot be
resolved keeps one row per direction with empty ranges and the reason in
``unresolved``.  These rows are the ``filters`` table of the warehouse and
what ``policy show`` prints; :func:`decide` finds the filter that wins for a
packet, as the IPSec driver would (highest weight).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import HostConfig
from .addresses import Resolved, pair_ranges, resolve, spec_bits
from .model import Filter, Origin, PolicyIssue, PolicyModel, issue_at
from .weights import weight


@dataclass(frozen=True)
class EffectiveFilter:
    """One direction of one filter of one rule, resolved."""

    store: str
    policy: str
    assigned: bool
    rule: str
    rule_active: bool
    filter_list: str
    filter_index: int  # position of the filter in its list (0-based)
    action: str  # permit | block | negotiate
    inpass: bool
    soft: bool
    tunnel: str | None
    mirror: bool  # this row is the reversed copy of a mirrored filter
    src: str  # the source as written: me, any, DNS, 10.1.0.0, wsus.example.net ...
    dst: str
    src_mask: int | None
    dst_mask: int | None
    family: int | None  # 4 or 6; None when unresolved
    src_lo: int | None
    src_hi: int | None
    dst_lo: int | None
    dst_hi: int | None
    protocol: int | None
    src_port: int | None
    dst_port: int | None
    weight: int
    unresolved: str | None
    description: str
    source_file: str
    source_line: int
    source_text: str = ""  # the script line, for reports (not a table column)

    def matches(self, family: int, src: int, dst: int, protocol: int, src_port: int | None,
                dst_port: int | None) -> bool:
        """Does this row match a packet (ports None = not TCP/UDP, matches only port-less rows)?"""
        if (self.family != family or self.src_lo is None or self.src_hi is None or self.dst_lo is None
                or self.dst_hi is None):
            return False  # unresolved: matches nothing
        return (self.src_lo <= src <= self.src_hi and self.dst_lo <= dst <= self.dst_hi
                and (self.protocol is None or self.protocol == protocol)
                and (self.src_port is None or self.src_port == src_port)
                and (self.dst_port is None or self.dst_port == dst_port))


def _directions(f: Filter) -> list[tuple[bool, tuple]]:
    forward = (f.src, f.dst, f.src_mask, f.dst_mask, f.src_port, f.dst_port)
    rows = [(False, forward)]
    if f.mirrored:
        rows.append((True, (f.dst, f.src, f.dst_mask, f.src_mask, f.dst_port, f.src_port)))
    return rows


def effective_filters(model: PolicyModel, host: HostConfig | None,
                      names: dict[str, tuple[str, ...]] | None = None) -> tuple[list[EffectiveFilter],
                                                                              list[PolicyIssue]]:
    """Every active or inactive rule's filters of every policy, resolved on ``host``; and what did not resolve."""
    names = names or {}
    rows: list[EffectiveFilter] = []
    issues: dict[tuple, PolicyIssue] = {}
    cache: dict[tuple, Resolved] = {}

    def resolved(addr, mask) -> Resolved:
        key = (addr, mask)
        if key not in cache:
            cache[key] = resolve(addr, mask, host, names)
        return cache[key]

    for location, policy in model.policies():
        store = model.stores[location]
        for rule in policy.rules:
            flist = store.filter_lists.get(rule.filter_list.lower())
            action = store.filter_actions.get(rule.filter_action.lower())
            if flist is None or action is None:
                continue  # the interpreter never leaves a rule dangling; a hand-built model might
            for index, f in enumerate(flist.filters):
                origin = f.origin or Origin("", 0, "")
                for mirror, (src, dst, smask, dmask, sport, dport) in _directions(f):
                    w = weight(spec_bits(src, smask), spec_bits(dst, dmask), f.protocol, sport, dport,
                               action.action, rule.tunnel is not None).value
                    base = dict(store=location, policy=policy.name, assigned=policy.assigned, rule=rule.name,
                                rule_active=rule.active, filter_list=flist.name, filter_index=index,
                                action=action.action, inpass=action.inpass, soft=action.soft, tunnel=rule.tunnel,
                                mirror=mirror, src=str(src), dst=str(dst), src_mask=smask, dst_mask=dmask,
                                protocol=f.protocol, src_port=sport, dst_port=dport, weight=w,
                                description=f.description, source_file=origin.file, source_line=origin.line,
                                source_text=origin.text)
                    rs, rd = resolved(src, smask), resolved(dst, dmask)
                    problem = rs.problem or rd.problem
                    pairs = [] if problem else pair_ranges(rs, rd)
                    if not problem and not pairs:
                        problem = f"{src} and {dst} have no addresses of the same IP version"
                    if problem:
                        issues.setdefault((origin.line, problem), issue_at(origin, "warning", "unresolved-address",
                                                                           f"filter kept unresolved: {problem}"))
                        rows.append(EffectiveFilter(family=None, src_lo=None, src_hi=None, dst_lo=None,
                                                    dst_hi=None, unresolved=problem, **base))
                        continue
                    for family, (slo, shi), (dlo, dhi) in pairs:
                        rows.append(EffectiveFilter(family=family, src_lo=slo, src_hi=shi, dst_lo=dlo, dst_hi=dhi,
                                                    unresolved=None, **base))
    return rows, list(issues.values())


def decide(rows: list[EffectiveFilter], family: int, src: int, dst: int, protocol: int,
           src_port: int | None = None, dst_port: int | None = None) -> EffectiveFilter | None:
    """The row that decides a packet: the highest weight among the matching rows (None: no filter, permitted)."""
    best = None
    for row in rows:
        if row.matches(family, src, dst, protocol, src_port, dst_port) and (best is None or row.weight > best.weight):
            best = row
    return best


def in_force(rows: list[EffectiveFilter]) -> list[EffectiveFilter]:
    """The rows that filter traffic: active rules of the assigned policies of the local and persistent stores.

    A persistent-store policy stays in force with the local one on Windows
    Server 2003 [S26]; a domain-store policy is a GPO's and is not applied by
    this host's script.
    """
    return [r for r in rows if r.assigned and r.rule_active and r.store in ("local", "persistent")]
