"""Keeping a warehouse fast for years: compaction of date partitions and retention of old ones.

Every nightly run adds a part to each date partition it touches, so a year of nights would
leave thousands of small files.  **Compaction** rewrites a date partition's parts as one file
(or a few of at most :data:`TARGET_ROWS` rows), rows clustered by host and time so that row-group
statistics let a one-host query skip the rest; its keys are rewritten in the same order (row
*i* of the data part is key *i*).  The new partition is built beside the old one and swapped in
through the publish journal (``exchanges``: one ``renameat2(RENAME_EXCHANGE)`` per folder on
Linux), so a reader lists the old files or the new one, never both or neither, and a run
killed at any point is completed by the next writer.  **Retention** deletes whole partitions
older than ``retention_days`` the same way (``retire``: renamed out of sight in one step, then
deleted).  The manifest's part list follows; file entries stay, so old exports are not read
again (an ``ingest --reread`` of them would bring their rows back until the next retention).
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..schema import DROPS_SCHEMA
from .errors import wrap_os_error
from .keys import KEYS_SCHEMA
from .manifest import PartEntry
from .store import _DICTIONARY, ROW_GROUP_ROWS, Warehouse, _fsync_file, keys_path_of

#: Rows per compacted part: larger partitions are split (bounded memory, files of a useful size).
TARGET_ROWS = 2_000_000


@dataclass
class MaintenanceReport:
    """What compaction and retention did."""

    run_id: str
    compacted: dict[str, tuple[int, int]] = field(default_factory=dict)  # date -> (parts before, after)
    compacted_allowed: dict[str, tuple[int, int]] = field(default_factory=dict)  # the allowed dataset's
    retired: list[str] = field(default_factory=list)  # dates deleted
    rows_retired: int = 0
    recovered: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.compacted or self.compacted_allowed or self.retired)

    def summary(self) -> str:
        parts = []
        if self.compacted:
            before = sum(b for b, _ in self.compacted.values())
            after = sum(a for _, a in self.compacted.values())
            parts.append(f"compacted {len(self.compacted)} day(s): {before} part(s) -> {after}")
        if self.compacted_allowed:
            before = sum(b for b, _ in self.compacted_allowed.values())
            parts.append(f"permitted traffic of {len(self.compacted_allowed)} day(s): {before} part(s) -> "
                         f"{len(self.compacted_allowed)}")
        if self.retired:
            parts.append(f"retention removed {len(self.retired)} day(s) older than the limit "
                         f"({self.rows_retired:,} drops)")
        return "; ".join(parts) or "nothing to compact or retire"


def _dates_of(paths: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for rel in paths:
        folder = Path(rel).parent.name  # date=YYYY-MM-DD
        out.setdefault(folder.removeprefix("date="), []).append(rel)
    return out


def maintain(warehouse: Warehouse | str | os.PathLike[str], *, dates: list[str] | None = None,
             retention_days: int = 0, today: date | None = None, min_parts: int = 2) -> MaintenanceReport:
    """Compact ``dates`` (None: every date with ``min_parts`` or more parts) and apply retention.

    Takes the writer lock (:class:`~pipeline.warehouse.WarehouseLocked` when held) and publishes
    through the journal; :class:`~pipeline.warehouse.WarehouseError` when the warehouse cannot be
    written (nothing changed then).
    """
    wh = warehouse if isinstance(warehouse, Warehouse) else Warehouse(warehouse)
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8] + "-maint"
    report = MaintenanceReport(run_id)
    with wh.lock():
        report.recovered = wh.recover()
        manifest = wh.manifest()
        wh.adopt_untracked_parts(manifest)
        parts = manifest.parts or {}
        by_date = _dates_of(sorted(parts))
        allowed = manifest.allowed_parts or {}
        allowed_by_date = _dates_of(sorted(allowed))
        stage = wh.staging_dir / run_id
        exchanges: list[list[str]] = []
        retire: list[str] = []
        cutoff = None
        if retention_days > 0:
            cutoff = ((today or datetime.now(UTC).date()) - timedelta(days=retention_days)).isoformat()
        try:
            for day in sorted(set(by_date) | set(allowed_by_date)):
                names = by_date.get(day, [])
                seen = allowed_by_date.get(day, [])
                if cutoff is not None and day < cutoff:
                    report.retired.append(day)
                    report.rows_retired += sum(parts[n].rows for n in names)
                    retire += [folder for folder in (f"drops/date={day}", f"_keys/date={day}",
                                                     f"allowed/date={day}", f"_allowed_keys/date={day}")
                               if (wh.root / folder).is_dir()]
                    for n in names:
                        del parts[n]
                    for n in seen:
                        del allowed[n]
                    continue
                if dates is not None and day not in dates:
                    continue
                if len(seen) >= min_parts and all((wh.root / f / f"date={day}").is_dir()
                                                  for f in ("allowed", "_allowed_keys")):
                    name, info = _compact_allowed_day(wh, stage, run_id, day, seen, allowed)
                    report.compacted_allowed[day] = (len(seen), 1)
                    for folder in ("allowed", "_allowed_keys"):
                        exchanges.append([wh.rel(stage / folder / f"date={day}"), f"{folder}/date={day}", name])
                    for n in seen:
                        del allowed[n]
                    allowed[f"allowed/date={day}/{name}"] = info
                if len(names) < min_parts:
                    continue
                new = _compact_day(wh, stage, run_id, day, names, parts)
                report.compacted[day] = (len(names), len(new))
                for folder in ("drops", "_keys"):
                    exchanges.append([wh.rel(stage / folder / f"date={day}"), f"{folder}/date={day}",
                                      Path(next(iter(new))).name])
                sources = sorted({s for n in names for s in parts[n].sources})
                for n in names:
                    del parts[n]
                for rel, rows in new.items():
                    parts[rel] = PartEntry(rows=rows, run=run_id, sources=sources)
        except OSError as exc:
            shutil.rmtree(stage, ignore_errors=True)
            raise wrap_os_error(exc, "compaction failed on") from exc
        if not report.changed:
            shutil.rmtree(stage, ignore_errors=True)
            return report
        manifest.runs.append({"run": run_id, "finished": datetime.now(UTC).isoformat(timespec="seconds"),
                              "maintenance": True, "compacted": len(report.compacted),
                              "retired": len(report.retired), "files": 0, "drops_stored": 0, "duplicates": 0,
                              "skipped": 0})
        wh.commit(run_id, stage, manifest, [], (), exchanges=exchanges, retire=retire)
    return report


def _compact_day(wh: Warehouse, stage: Path, run_id: str, day: str, names: list[str],
                 parts: dict[str, PartEntry]) -> dict[str, int]:
    """Write the day's rows as new parts under ``stage`` (a whole partition folder); returns {rel: rows}."""
    tables, keys = [], []
    for rel in names:
        data = pq.read_table(wh.root / rel, schema=DROPS_SCHEMA)
        key = pq.read_table(wh.root / keys_path_of(rel), schema=KEYS_SCHEMA).column("key")
        if data.num_rows != len(key):
            raise OSError(f"{rel}: {data.num_rows} rows but {len(key)} keys; run `ipsec-drops repair` first")
        tables.append(data)
        keys.append(key.to_numpy())
    table = pa.concat_tables(tables)
    all_keys = np.concatenate(keys) if keys else np.zeros(0, dtype=np.uint64)
    # clustered by host, then time: a one-host query skips other hosts' row groups by their statistics
    order = pc.sort_indices(table, sort_keys=[("host", "ascending"), ("event_time", "ascending")])
    table = table.take(order)
    all_keys = all_keys[order.to_numpy()]
    out: dict[str, int] = {}
    for i, start in enumerate(range(0, max(table.num_rows, 1), TARGET_ROWS), 1):
        chunk = table.slice(start, TARGET_ROWS)
        name = f"part-{run_id}-{i}.parquet"
        data_path = stage / "drops" / f"date={day}" / name
        key_path = stage / "_keys" / f"date={day}" / name
        for path in (data_path, key_path):
            path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(chunk, data_path, compression="zstd", use_dictionary=_DICTIONARY,
                       row_group_size=ROW_GROUP_ROWS)
        pq.write_table(pa.table({"key": pa.array(all_keys[start:start + TARGET_ROWS], pa.uint64())},
                                schema=KEYS_SCHEMA), key_path, compression="zstd")
        for path in (data_path, key_path):
            _fsync_file(path)
        out[f"drops/date={day}/{name}"] = chunk.num_rows
    return out


def _compact_allowed_day(wh: Warehouse, stage: Path, run_id: str, day: str, names: list[str],
                         allowed: dict[str, dict]) -> tuple[str, dict]:
    """The day's allowed parts as one (their rows merged per flow, their keys concatenated) under ``stage``.

    The allowed dataset's keys are one per event, not one per row, so they are only gathered; the rows
    of several runs are summed per flow, which is what every reader of the dataset did with them.
    """
    from ..extract.allowed import aggregate
    from ..schema import ALLOWED_SCHEMA

    tables = [pq.read_table(wh.root / rel, schema=ALLOWED_SCHEMA) for rel in names]
    keys = [pq.read_table(wh.root / _allowed_keys_of(rel), schema=KEYS_SCHEMA).column("key").to_numpy()
            for rel in names if (wh.root / _allowed_keys_of(rel)).exists()]
    table = aggregate(pa.concat_tables(tables))
    name = f"part-{run_id}-1.parquet"
    data_path = stage / "allowed" / f"date={day}" / name
    key_path = stage / "_allowed_keys" / f"date={day}" / name
    for path in (data_path, key_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, data_path, compression="zstd")
    all_keys = np.concatenate(keys) if keys else np.zeros(0, dtype=np.uint64)
    pq.write_table(pa.table({"key": pa.array(all_keys, pa.uint64())}, schema=KEYS_SCHEMA), key_path,
                   compression="zstd")
    for path in (data_path, key_path):
        _fsync_file(path)
    sources = sorted({src for n in names for src in allowed[n].get("sources", [])})
    return name, {"rows": table.num_rows, "events": sum(int(allowed[n].get("events", 0)) for n in names),
                  "sources": sources, "run": run_id}


def _allowed_keys_of(rel: str) -> str:
    """``allowed/date=D/part.parquet`` -> ``_allowed_keys/date=D/part.parquet``."""
    return "_allowed_keys/" + rel.removeprefix("allowed/")
