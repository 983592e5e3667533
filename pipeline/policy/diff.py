"""Two versions of a host's policy compared by what they do, not by their text.

Filters are compared as effective filters in force (:func:`~pipeline.policy.effective.in_force`): one
row per direction as written (a mirrored filter's reversed copy is its ``mirrored`` flag) and resolved
address pair, keyed by what it matches (addresses as resolved ranges, protocol, ports, tunnel).  So a
script that only renames a variable, reorders lines or writes ``255.255.255.0`` as ``24`` changes
nothing, and a filter whose match stayed the same but whose rule or action changed is *changed*.
Rules are compared by name (case-insensitive, as netsh compares them): filter list, action, active.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from . import PolicyAnalysis
from .effective import EffectiveFilter, in_force


def _key(f: EffectiveFilter) -> tuple:
    return (f.family, f.src_lo, f.src_hi, f.dst_lo, f.dst_hi, f.protocol, f.src_port, f.dst_port, f.tunnel,
            f.unresolved is not None and (f.src, f.dst))


def _range(family: int | None, lo: int | None, hi: int | None, written: str) -> str:
    if family is None or lo is None or hi is None:
        return written
    if lo == 0 and hi == (2**32 - 1 if family == 4 else 2**128 - 1):
        return "any"
    make = IPv4Address if family == 4 else IPv6Address
    first, last = make(lo), make(hi)
    return str(first) if lo == hi else f"{first}-{last}"


@dataclass
class _Side:
    row: EffectiveFilter
    mirrored: bool


def _sides(analysis: PolicyAnalysis) -> dict[tuple, _Side]:
    rows = in_force(analysis.filters)
    mirrored = {(r.rule, r.filter_list, r.filter_index) for r in rows if r.mirror}
    out: dict[tuple, _Side] = {}
    for r in sorted((r for r in rows if not r.mirror), key=lambda r: -r.weight):
        out.setdefault(_key(r), _Side(r, (r.rule, r.filter_list, r.filter_index) in mirrored))
    return out


def _describe(side: _Side) -> dict:
    f = side.row
    return {"rule": f.rule, "action": f.action, "filter_list": f.filter_list,
            "src": _range(f.family, f.src_lo, f.src_hi, f.src), "dst": _range(f.family, f.dst_lo, f.dst_hi, f.dst),
            "protocol": f.protocol, "src_port": f.src_port, "dst_port": f.dst_port, "mirrored": side.mirrored,
            "weight": f.weight, "source_line": f.source_line}


def diff_policies(old: PolicyAnalysis, new: PolicyAnalysis) -> dict:
    """``{"filters": {"added", "removed", "changed"}, "rules": {"added", "removed", "changed"}}``.

    A changed filter has ``before`` and ``after`` (rule, action, mirrored and source line of each).
    """
    a, b = _sides(old), _sides(new)
    filters: dict[str, list] = {"added": [], "removed": [], "changed": []}
    def order(side: dict[tuple, _Side]):  # most specific first, then by script line and destination
        return lambda k: (-side[k].row.weight, side[k].row.source_line, str(k))

    for key in sorted(b.keys() - a.keys(), key=order(b)):
        filters["added"].append(_describe(b[key]))
    for key in sorted(a.keys() - b.keys(), key=order(a)):
        filters["removed"].append(_describe(a[key]))
    for key in sorted(a.keys() & b.keys(), key=order(b)):
        x, y = a[key], b[key]
        if (x.row.rule.lower(), x.row.action, x.row.soft, x.row.inpass, x.mirrored) != (
                y.row.rule.lower(), y.row.action, y.row.soft, y.row.inpass, y.mirrored):
            filters["changed"].append({**_describe(y), "before": _describe(x), "after": _describe(y)})
    rules: dict[str, list] = {"added": [], "removed": [], "changed": []}
    ra, rb = _rules(old), _rules(new)
    for name in sorted(rb.keys() - ra.keys()):
        rules["added"].append(rb[name])
    for name in sorted(ra.keys() - rb.keys()):
        rules["removed"].append(ra[name])
    for name in sorted(ra.keys() & rb.keys()):
        before, after = ra[name], rb[name]
        if {k: v for k, v in before.items() if k not in ("source_line", "filters")} != {
                k: v for k, v in after.items() if k not in ("source_line", "filters")} or _rule_filters(
                old, name) != _rule_filters(new, name):
            rules["changed"].append({"rule": after["rule"], "before": before, "after": after})
    return {"filters": filters, "rules": rules}


def _rules(analysis: PolicyAnalysis) -> dict[str, dict]:
    """The rules of the assigned policies, by lower-case name."""
    out: dict[str, dict] = {}
    for store_name, store in analysis.model.stores.items():
        for policy in store.policies.values():
            if not policy.assigned:
                continue
            for rule in policy.rules:
                actions = {k.lower(): v for k, v in store.filter_actions.items()}
                action = actions.get(rule.filter_action.lower())
                out[rule.name.lower()] = {
                    "rule": rule.name, "policy": policy.name, "store": store_name, "filter_list": rule.filter_list,
                    "filter_action": rule.filter_action, "action": action.action if action else None,
                    "active": rule.active, "filters": len(_rule_filters(analysis, rule.name)),
                    "source_line": rule.origin.line if rule.origin else 0}
    return out


def _rule_filters(analysis: PolicyAnalysis, rule: str) -> set[tuple]:
    return {_key(r) for r in in_force(analysis.filters) if r.rule.lower() == rule.lower() and not r.mirror}
