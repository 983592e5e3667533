"""Lint a policy script against the traffic the warehouse saw (``policy lint --warehouse W``).

Two findings the script alone cannot give, judged with the correlation's matcher on both datasets:

* ``unused-permit`` (warning): a permit filter in force that no observed permitted traffic (the
  ``allowed`` dataset: IIS, pfirewall ALLOW, WFP 5156/5158) was decided by in the last ``days`` days.
  The window ends at the host's newest stored observation (permitted or dropped), so an archived
  warehouse reads the same tomorrow.  Not checked (an ``info`` note says so) when the host has no
  permitted traffic in the window at all: with no evidence every permit would look unused.
* ``hot-block`` (warning): a block filter that drops a recurring flow (seen on ``min_days`` distinct UTC
  days or more) from an internal source (private, shared, loopback, link-local: the remote end of the
  flow): legitimate traffic being refused, usually (``ipsec-drops suggest`` proposes the permit).

Filters are told apart by their script line and filter list (a mirrored filter's copy is the same filter).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .config import Config
from .correlate import WarehouseLike, open_session
from .policy import PolicyAnalysis
from .policy.addresses import is_internal
from .policy.effective import in_force
from .policy.model import PolicyIssue
from .schema import protocol_name

DEFAULT_DAYS = 30
MIN_DAYS = 2


def _flow_text(f: dict) -> str:
    arrow = "->" if f["direction"] != "outbound" else "<-"
    local = f"{f['local_ip'] or '*'}" + (f":{f['local_port']}" if f["local_port"] is not None else "")
    remote = f"{f['remote_ip'] or '*'}" + (f":{f['remote_port']}" if f["remote_port"] is not None else "")
    return f"{f['direction'] or '-'} {protocol_name(f['protocol']) or 'any'} {remote} {arrow} {local}"


def traffic_lint(warehouse: WarehouseLike, config: Config | None, analysis: PolicyAnalysis, *,
                 days: int = DEFAULT_DAYS, min_days: int = MIN_DAYS, session: Any = None) -> list[PolicyIssue]:
    """The ``unused-permit`` and ``hot-block`` findings of ``analysis`` (a host's script) on the stored traffic."""
    if days < 1:
        raise ValueError("days must be 1 or more")
    if analysis.host is None:
        raise ValueError("linting against traffic needs the script's host (--host)")
    if session is None:
        with open_session(warehouse, config) as own:
            return traffic_lint(warehouse, config, analysis, days=days, min_days=min_days, session=own)
    host = analysis.host.name
    newest = session.run("host_newest", {"host": host}).to_pylist()[0]["newest"]
    file = analysis.file
    if newest is None:
        return [PolicyIssue(file, 0, "info", "unused-permit", f"the warehouse holds no traffic of {host}: "
                            "unused permits and hot blocks not checked")]
    since = newest - timedelta(days=days)
    window = f"the {days} day(s) up to {newest:%Y-%m-%d %H:%M} UTC"
    period = {"host": host, "since": since, "until": newest + timedelta(seconds=1)}
    found: list[PolicyIssue] = []
    allowed = session.replay_allowed({host: analysis}, **period).to_pylist()
    if not allowed:
        found.append(PolicyIssue(file, 0, "info", "unused-permit", f"no permitted traffic of {host} observed in "
                                 f"{window}: unused permits not checked"))
    else:
        used = {(f["filter_list"], f["source_line"]) for f in allowed if f["action"] == "permit"}
        seen: set[tuple[str, int]] = set()
        for f in sorted(in_force(analysis.filters), key=lambda r: r.source_line):
            key = (f.filter_list, f.source_line)
            if f.action != "permit" or key in used or key in seen:
                continue
            seen.add(key)
            found.append(PolicyIssue(
                file, f.source_line, "warning", "unused-permit",
                f"permit filter of rule {f.rule!r} (list {f.filter_list!r}) decided none of the {len(allowed)} "
                f"permitted flow(s) of {host} observed in {window}: it opens what nobody used", f.source_text))
    drops = session.replay({host: analysis}, **period).to_pylist()
    hot: dict[tuple[str, int], list[dict]] = {}
    for f in drops:
        if (f["verdict"] == "blocked-by-rule" and f["remote_ip"] and is_internal(f["remote_ip"])
                and (f["days_seen"] or 0) >= min_days):
            hot.setdefault((f["filter_list"], f["source_line"]), []).append(f)
    texts = {(r.filter_list, r.source_line): r for r in analysis.filters}
    for (filter_list, line), flows in sorted(hot.items(), key=lambda kv: kv[0][1]):
        flows.sort(key=lambda f: (-f["events"], str(f["remote_ip"])))
        top = flows[0]
        rule = texts[(filter_list, line)].rule if (filter_list, line) in texts else top["rule"]
        found.append(PolicyIssue(
            file, line, "warning", "hot-block",
            f"block filter of rule {rule!r} drops {len(flows)} recurring flow(s) from internal sources "
            f"({sum(f['events'] for f in flows):,} events in {window}), e.g. {_flow_text(top)} on "
            f"{top['days_seen']} day(s): legitimate traffic? (ipsec-drops suggest proposes permits)",
            texts[(filter_list, line)].source_text if (filter_list, line) in texts else ""))
    return found
