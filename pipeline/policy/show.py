"""What ``policy show`` prints, as data: policies, rules and effective filters with resolved addresses.

The command line formats these rows as a table, JSON or CSV; a notebook can
use them directly.  Filters come most specific first (highest weight), the
order in which the IPSec driver looks for the filter that decides a packet.
CSV is spreadsheet-safe: a text value starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return gets a leading ``'`` so no spreadsheet
runs it as a formula (scripts and logs are untrusted input).
"""

from __future__ import annotations

import json

from ..output import csv_text
from ..schema import PROTOCOL_NUMBERS
from . import PolicyAnalysis
from .addresses import range_text
from .effective import EffectiveFilter
from .weights import Weight

PROTOCOL_NAMES = {number: name for name, number in PROTOCOL_NUMBERS.items()}

FILTER_COLUMNS = ("policy", "assigned", "rule", "rule_active", "filter_list", "filter", "action", "mirror",
                  "src", "src_range", "dst", "dst_range", "protocol", "src_port", "dst_port", "weight",
                  "specificity", "unresolved", "description", "source_file", "source_line")


def protocol_text(protocol: int | None) -> str:
    if protocol is None:
        return "any"
    return PROTOCOL_NAMES.get(protocol, str(protocol))


def _range(row: EffectiveFilter, end: str) -> str | None:
    lo, hi = getattr(row, f"{end}_lo"), getattr(row, f"{end}_hi")
    return None if lo is None or row.family is None else range_text(row.family, lo, hi)


def address_text(spec: str, resolved: str | None) -> str:
    """One end of a filter for people: ``any``, ``10.1.0.0/24``, ``me 10.1.0.10``, ``DNS 10.1.0.2``."""
    if resolved is None:
        return f"{spec} (unresolved)"
    if spec == "any" or spec[:1].isdigit() or ":" in spec:
        return "any" if spec == "any" else resolved
    return f"{spec} {resolved}"


def filter_rows(analysis: PolicyAnalysis) -> list[dict]:
    """The effective filters, most specific first, with addresses as text."""
    ordered = sorted(analysis.filters, key=lambda r: (not r.assigned, -r.weight, r.source_line, r.mirror))
    return [{
        "policy": r.policy, "assigned": r.assigned, "rule": r.rule, "rule_active": r.rule_active,
        "filter_list": r.filter_list, "filter": r.filter_index + 1, "action": r.action, "mirror": r.mirror,
        "src": r.src, "src_range": _range(r, "src"), "dst": r.dst, "dst_range": _range(r, "dst"),
        "protocol": protocol_text(r.protocol), "src_port": r.src_port, "dst_port": r.dst_port,
        "weight": r.weight, "specificity": str(Weight.decode(r.weight)), "unresolved": r.unresolved,
        "description": r.description, "source_file": r.source_file, "source_line": r.source_line,
    } for r in ordered]


def policy_rows(analysis: PolicyAnalysis) -> list[dict]:
    return [{"store": loc, "policy": p.name, "assigned": p.assigned, "rules": len(p.rules),
             "default_rule": p.default_rule.active, "description": p.description,
             "source_line": p.origin.line if p.origin else None} for loc, p in analysis.model.policies()]


def rule_rows(analysis: PolicyAnalysis) -> list[dict]:
    out = []
    for loc, p in analysis.model.policies():
        store = analysis.model.stores[loc]
        for r in p.rules:
            action = store.filter_actions.get(r.filter_action.lower())
            flist = store.filter_lists.get(r.filter_list.lower())
            out.append({"policy": p.name, "assigned": p.assigned, "rule": r.name, "filter_list": r.filter_list,
                        "filter_action": r.filter_action, "action": action.action if action else None,
                        "inpass": action.inpass if action else None, "soft": action.soft if action else None,
                        "active": r.active, "filters": len(flist.filters) if flist else 0, "tunnel": r.tunnel,
                        "authentication": _auth(r.kerberos, r.psk, r.rootca),
                        "source_line": r.origin.line if r.origin else None})
    return out


def _auth(kerberos: bool | None, psk: str | None, rootca: tuple[str, ...]) -> str:
    parts = []
    if kerberos:
        parts.append("kerberos")
    if psk is not None:
        parts.append("psk")  # the key itself is a secret: never printed
    parts += ["certificate"] * bool(rootca)
    return ", ".join(parts) or "default"


def setting_rows(analysis: PolicyAnalysis) -> list[dict]:
    return [{"property": s.property, "value": s.value, "source_line": s.origin.line if s.origin else None}
            for s in analysis.model.settings.values()]


def as_json(analysis: PolicyAnalysis, lint: list | None = None) -> str:
    host = analysis.host.name if analysis.host else None
    doc = {"file": analysis.file, "host": host, "kind": analysis.kind, "encoding": analysis.encoding,
           "encoding_source": analysis.encoding_source, "snapshot": analysis.snapshot,
           "script_sha256": analysis.script_sha256, "settings": setting_rows(analysis),
           "policies": policy_rows(analysis), "rules": rule_rows(analysis), "filters": filter_rows(analysis),
           "issues": [i.as_dict() for i in analysis.issues]}
    if lint is not None:
        doc["lint"] = [i.as_dict() for i in lint]
    return json.dumps(doc, indent=1, ensure_ascii=False)


def as_csv(rows: list[dict], columns: tuple[str, ...] | None = None) -> str:
    """Rows as CSV text (header first), spreadsheet-safe (:mod:`pipeline.output`)."""
    cols = list(columns or (rows[0].keys() if rows else ()))
    return csv_text([{c: row.get(c) for c in cols} for row in rows], cols)


ISSUE_COLUMNS = ("file", "line", "severity", "code", "message", "text")


def issues_csv(issues: list) -> str:
    return as_csv([i.as_dict() for i in issues], ISSUE_COLUMNS)
