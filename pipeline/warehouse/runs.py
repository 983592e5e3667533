"""Run records: what each nightly job did, kept as ``_runs/<run>-nightly.json`` beside the warehouse.

A record is written whole and renamed into place as the job starts (stage ``ingest``), after the
ingest (with the days the run still owes: reports and compaction) and again at the end, so a job
killed half-way leaves a record that says where it stopped and what the next run must finish (a
job stopped during its ingest may have published drops: the next run owes the days of the parts
published since it began).  ``status`` and the next
nightly run read them; nothing else does, and a record that cannot be read is passed over.
"""

from __future__ import annotations

import json
from pathlib import Path

from .store import Warehouse

#: Records ``status`` shows.
RECORDS_SHOWN = 10


def record_paths(wh: Warehouse) -> list[Path]:
    """Every nightly run record, oldest first (the names sort by start time)."""
    try:
        return sorted(wh.runs_dir.glob("*-nightly.json")) if wh.runs_dir.is_dir() else []
    except OSError:
        return []


def last_records(wh: Warehouse, count: int = RECORDS_SHOWN) -> list[dict]:
    """The latest ``count`` readable nightly run records, oldest first."""
    out: list[dict] = []
    for path in reversed(record_paths(wh)):
        if len(out) == count:
            break
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict):
            out.append(record)
    return out[::-1]
