"""The data-quality figures of a report: which files the ingest runs read, and which rows they skipped and why.

Read from the warehouse's manifest (``Warehouse(root).manifest()``: its ``files`` entries and its
``runs`` list) and the runs' ``_runs/<run>-skipped.csv`` lists.  Only documented attributes are used,
each read defensively: a warehouse written by another version (or none at all) gives what it has,
and what could not be read is said in ``notes``, never raised.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

#: Lines of skipped-row lists read at most (the figures say when the lists were longer).
MAX_SKIPPED_LINES = 200_000
EXAMPLE_CHARS = 160
_COUNTS = ("rows_read", "drops_found", "drops_stored", "duplicates", "skipped")


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _plain(text: Any) -> str:
    """A cell of a skipped-row list as it was before spreadsheet-proofing (the leading ``'`` removed)."""
    value = "" if text is None else str(text)
    return value[1:] if value.startswith("'") and value[1:2] in ("=", "+", "-", "@", "\t", "\r") else value


def data_quality(root: Path, host: str | None = None) -> dict[str, Any]:
    """Files read (per file and in all), the ingest runs, and the skipped rows grouped by kind and reason."""
    from ..warehouse import Warehouse

    out: dict[str, Any] = {"files": [], "totals": dict.fromkeys(_COUNTS, 0), "runs": [], "skipped": [],
                           "notes": []}
    try:
        manifest = Warehouse(root).manifest()
    except Exception as exc:  # noqa: BLE001 - a report must not fail on a manifest it cannot read
        out["notes"].append(f"the warehouse manifest could not be read: {exc}")
        return out
    wanted = host.lower() if host else None
    for entry in getattr(manifest, "files", None) or []:
        entry_host = getattr(entry, "host", None)
        if wanted and entry_host is not None and str(entry_host).lower() != wanted:
            continue
        row = {"path": str(getattr(entry, "path", "")), "format": getattr(entry, "format", None),
               "host": entry_host, "run": getattr(entry, "run", None)}
        for key in _COUNTS:
            row[key] = _int(getattr(entry, key, 0))
            out["totals"][key] += row[key]
        out["files"].append(row)
    runs = list(getattr(manifest, "runs", None) or [])
    out["runs"] = [{k: r.get(k) for k in ("run", "finished", "files", "rows_read", "drops_stored", "duplicates",
                                          "skipped", "refused_files")} for r in runs if isinstance(r, dict)]
    if not out["files"] and not runs:
        out["notes"].append("the warehouse has no record of ingest runs (no manifest)")
    out["skipped"], more = _skipped(root / "_runs")
    if more:
        out["notes"].append(f"the skipped-row lists hold more than {MAX_SKIPPED_LINES:,} lines; "
                            "the reasons below count the first ones")
    return out


def _skipped(folder: Path) -> tuple[list[dict[str, Any]], bool]:
    """Skipped rows by kind and reason (with one example line), from every run's ``-skipped.csv`` (all hosts)."""
    counts: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], tuple[str, str]] = {}
    read = 0
    try:
        lists = sorted(folder.glob("*-skipped.csv")) if folder.is_dir() else []
    except OSError:
        return [], False
    for path in lists:
        try:
            with open(path, encoding="utf-8-sig", newline="") as fh:
                for row in csv.DictReader(fh):
                    read += 1
                    if read > MAX_SKIPPED_LINES:
                        break
                    key = (_plain(row.get("kind")), _plain(row.get("reason")))
                    counts[key] += max(_int(row.get("rows")), 1)
                    if key not in examples:
                        where = f"{_plain(row.get('file'))} {_plain(row.get('location'))}".strip()
                        examples[key] = (where, _plain(row.get("text"))[:EXAMPLE_CHARS])
        except (OSError, csv.Error, UnicodeDecodeError):
            continue
        if read > MAX_SKIPPED_LINES:
            break
    rows = [{"kind": k, "reason": r, "rows": n, "where": examples[(k, r)][0], "example": examples[(k, r)][1]}
            for (k, r), n in counts.most_common()]
    return rows, read > MAX_SKIPPED_LINES
