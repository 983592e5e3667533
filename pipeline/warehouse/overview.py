"""What an admin asks of a warehouse kept by the nightly job: is every host still arriving, how big
is it, how clean is its input, and how did the last nights go (the rest of ``ipsec-drops status``).

* **hosts**: per host the drops stored, the newest drop (how far behind the exports are) and the
  last file read from it (when the manifest last saw a new export of that host);
* **partitions**: date partitions, data files and bytes (compaction keeps one file a day);
* **quality**: rows read, skipped, refused and duplicated over every ingested file;
* **nightly**: the last run records (:mod:`pipeline.warehouse.runs`).

Only the ``host`` and ``event_time`` columns are read (DuckDB, a second or so for a year of
drops); everything else comes from the manifest and the file system.  Takes no lock.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import WarehouseError
from .runs import last_records
from .store import Warehouse


@dataclass
class HostLag:
    host: str
    drops: int = 0
    first_drop: str | None = None
    newest_drop: str | None = None
    last_file: str | None = None  # the newest export of the host read (by the time it was ingested)
    last_file_ingested: str | None = None
    files: int = 0  # ingested file records of the host


@dataclass
class Overview:
    hosts: list[HostLag] = field(default_factory=list)
    partitions: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)
    nightly: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def overview(warehouse: Warehouse | str | os.PathLike[str]) -> Overview:
    """Hosts' lag, partitions, data quality and the last nightly runs; never raises for what it finds."""
    wh = warehouse if isinstance(warehouse, Warehouse) else Warehouse(warehouse)
    out = Overview()
    if not wh.root.is_dir():
        return out
    hosts: dict[str, HostLag] = {}
    _stored(wh, hosts, out)
    _files(wh, hosts, out)
    out.hosts = sorted(hosts.values(), key=lambda h: h.host.lower())
    out.partitions = _partitions(wh)
    out.nightly = [_condensed(r) for r in last_records(wh)]
    return out


def _stored(wh: Warehouse, hosts: dict[str, HostLag], out: Overview) -> None:
    if not wh.drop_files():
        return
    import duckdb

    con = duckdb.connect()
    try:
        rows = con.execute("SELECT host, count(*), min(event_time), max(event_time) FROM read_parquet($g) "
                           "GROUP BY host", {"g": wh.drops_glob()}).fetchall()
    except duckdb.Error as exc:  # a damaged part: check() names it; the figures are left out
        out.notes.append(f"the drops could not be read for the per-host figures: {exc}")
        return
    finally:
        con.close()
    for host, count, first, newest in rows:
        name = host if host is not None else "(no host)"
        lag = hosts.setdefault(name.lower(), HostLag(name))
        lag.drops += int(count)
        lag.first_drop = _stamp(first)
        lag.newest_drop = _stamp(newest)


def _files(wh: Warehouse, hosts: dict[str, HostLag], out: Overview) -> None:
    counted = ("files", "rows_read", "drops_stored", "duplicates", "skipped", "refused")
    totals: dict[str, Any] = dict.fromkeys(counted, 0)
    with_skips: list[dict] = []
    try:
        manifest = wh.manifest()
    except WarehouseError as exc:
        out.notes.append(str(exc))
        out.quality = totals
        return
    for entry in manifest.files:
        totals["files"] += 1
        for key in ("rows_read", "drops_stored", "duplicates", "skipped"):
            totals[key] += int(getattr(entry, key) or 0)
        totals["refused"] += entry.refused_rows
        if entry.skipped:
            with_skips.append({"path": entry.path, "skipped": entry.skipped, "host": entry.host})
        if entry.host:
            lag = hosts.setdefault(entry.host.lower(), HostLag(entry.host))
            lag.files += 1
            if entry.ingested_at and (lag.last_file_ingested is None or entry.ingested_at > lag.last_file_ingested):
                lag.last_file, lag.last_file_ingested = entry.path, entry.ingested_at
    read = totals["rows_read"]
    totals["skipped_share"] = round(totals["skipped"] / read, 6) if read else 0.0
    totals["files_with_skips"] = sorted(with_skips, key=lambda f: -f["skipped"])[:10]
    out.quality = totals


def _partitions(wh: Warehouse) -> dict[str, Any]:
    per_date: dict[str, list[int]] = {}
    for path in wh.drop_files():
        try:
            size = path.stat().st_size
        except OSError:
            continue
        per_date.setdefault(path.parent.name.removeprefix("date="), []).append(size)
    files = sum(len(v) for v in per_date.values())
    return {"dates": len(per_date), "files": files, "bytes": sum(sum(v) for v in per_date.values()),
            "first_date": min(per_date) if per_date else None, "last_date": max(per_date) if per_date else None,
            "most_files_a_date": max((len(v) for v in per_date.values()), default=0),
            "dates_with_several_files": sum(len(v) > 1 for v in per_date.values())}


def _condensed(record: dict) -> dict:
    hosts = record.get("hosts") or {}
    return {"run": record.get("run_id"), "started": record.get("started"), "exit_code": record.get("exit_code"),
            "stage": record.get("stage"), "seconds": record.get("seconds"),
            "new_drops": sum(int(h.get("new_drops") or 0) for h in hosts.values() if isinstance(h, dict)),
            "new_days": record.get("new_days") or [], "nothing_new": record.get("nothing_new"),
            "pending_days": record.get("pending_days") or [], "problems": len(record.get("problems") or [])}


def _stamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
