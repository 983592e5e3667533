"""``report.html``: the one-page summary, static and self-contained, so the single file can be mailed.

Rendered by Jinja2 from ``templates/report.html.j2`` (package data) with autoescaping on for every
value: host names, rule names, file names and log lines are attacker-influenced, and none of them can
become markup.  The page loads nothing: no scripts, styles inline, images embedded as ``data:`` URIs,
and a Content-Security-Policy that forbids every other source.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from .. import __version__
from ..schema import protocol_name
from .charts import VERDICT_COLOURS

TEMPLATE = "report.html.j2"


def _environment() -> jinja2.Environment:
    folder = resources.files("pipeline.report") / "templates"
    env = jinja2.Environment(loader=jinja2.FunctionLoader(lambda name: (folder / name).read_text(encoding="utf-8")),
                             autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["count"] = lambda v: "" if v is None else f"{int(v):,}"
    env.filters["protocol"] = lambda v: "" if v is None else protocol_name(v)
    env.filters["dash"] = lambda v: "-" if v is None or v == "" else v
    return env


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render(context: Mapping[str, Any]) -> str:
    """The page for ``context`` (see :func:`page_context`)."""
    return _environment().get_template(TEMPLATE).render(**context)


def page_context(*, period: Mapping[str, Any], hosts: Sequence[str], totals: Sequence[Mapping[str, Any]],
                 top_flows: Sequence[Mapping[str, Any]], rules: Sequence[Mapping[str, Any]],
                 suggestions: Sequence[Mapping[str, Any]], not_suggested: Sequence[Mapping[str, Any]],
                 quality: Mapping[str, Any], charts: Sequence[tuple[str, bytes]], files: Sequence[str],
                 zone: str) -> dict[str, Any]:
    """Everything the template shows, as plain data (images as ``data:`` URIs)."""
    return {
        "version": __version__, "period": period, "hosts": list(hosts), "totals": list(totals),
        "total_events": sum(int(t["events"]) for t in totals), "top_flows": list(top_flows), "rules": list(rules),
        "suggestions": list(suggestions), "not_suggested": list(not_suggested), "quality": quality,
        "charts": [{"title": title, "src": data_uri(png)} for title, png in charts], "files": list(files),
        "zone": zone, "colours": VERDICT_COLOURS,
    }


def write_page(context: Mapping[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(context), encoding="utf-8", newline="\n")
    return path
