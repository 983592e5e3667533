"""Repair: make the manifest and the keys agree with the Parquet actually present, and say what was lost.

Which repair is sound follows from what a drop row carries.  Its identity key is
the MD5 of an identity text computed at ingest (for a pfirewall line: the raw line
and its occurrence), and the rows do not keep that text: a data part's keys
cannot be recomputed from the part.  So:

* **data part lost, keys present**: the keys still say "stored" for rows that are
  gone, so no ingest would ever store them again.  The key file is deleted, the
  part leaves the manifest, and the manifest entries of the source files that fed
  it are forgotten (with the entries that continued them, and the EVTX
  watermarks of their hosts): the next ingest reads those files again and stores
  exactly the lost rows (the keys of every other part keep the rest out).
* **data part present, keys lost** (or unreadable, or of another length): its rows
  cannot be de-duplicated, so a re-read would store them twice.  The part is moved
  out of the dataset into ``_quarantine/<repair>/`` and its remaining keys deleted;
  its sources are forgotten as above, so a re-read stores its rows once, with keys.
  If the exports are gone, the rows are still in the quarantined file (a plain
  Parquet file DuckDB reads), outside the de-duplicated dataset.
* **data and keys present and of the same length** but unknown to the manifest (no
  manifest, a version 1 manifest, a damaged one): adopted as they are.
* **manifest unreadable**: set aside in the quarantine folder and rebuilt from the
  parts present; it then knows no ingested file, so the next ingest reads every
  export again (the keys keep that from storing anything twice).

When a lost part's sources are unknown (it was adopted, or the manifest was
rebuilt), every file entry and watermark is forgotten: only reading every export
again can restore its rows.  ``ingest(..., reread=True)`` reads every file again
in any case, which also restores rows whose export was later re-exported under
another name.

Repair takes the writer lock and publishes through the journal like an ingest
(moves to the quarantine, deletions of key files, then the manifest): a kill at
any point leaves the warehouse as before or as after once the next writer ran.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from .errors import ManifestVersionError, WarehouseError, wrap_os_error
from .manifest import Manifest, PartEntry
from .status import PartState, scan_parts
from .store import Warehouse, keys_path_of


@dataclass
class LostPart:
    """A data part whose rows are no longer in the de-duplicated dataset."""

    path: str
    rows: int
    reason: str
    sources: list[str] = field(default_factory=list)  # files to read again (empty: unknown)
    quarantined_to: str | None = None  # where its data file was set aside, if it was present


@dataclass
class RepairReport:
    run_id: str
    recovered: str | None = None  # an interrupted publish completed first
    lost: list[LostPart] = field(default_factory=list)
    removed_keys: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)  # good parts the manifest did not list
    corrected: list[str] = field(default_factory=list)  # parts whose row count the manifest had wrong
    reread: list[str] = field(default_factory=list)  # source files forgotten by the manifest: read again
    reread_all: bool = False  # every file entry was forgotten: the next ingest reads every export
    manifest_rebuilt: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def rows_lost(self) -> int:
        return sum(p.rows for p in self.lost)

    @property
    def changed(self) -> bool:
        return bool(self.lost or self.removed_keys or self.adopted or self.corrected or self.manifest_rebuilt
                    or self.reread or self.reread_all or self.notes)

    def summary(self) -> str:
        if not self.changed:
            return "nothing to repair: the manifest, the data parts and the keys agree"
        parts = []
        if any("_publish.json" in note for note in self.notes):
            parts.append("the damaged publish journal set aside in _quarantine/ (what its run published is adopted "
                         "or read again by the next ingest)")
        if self.manifest_rebuilt:
            parts.append("manifest rebuilt from the parts present")
        if self.lost:
            parts.append(f"{len(self.lost)} part(s) with {self.rows_lost:,} rows lost from the dataset")
        quarantined = [p for p in self.lost if p.quarantined_to]
        if quarantined:
            parts.append(f"{len(quarantined)} set aside in _quarantine/ (no keys)")
        if self.removed_keys:
            parts.append(f"{len(self.removed_keys)} key file(s) without data removed")
        if self.adopted:
            parts.append(f"{len(self.adopted)} part(s) adopted")
        if self.corrected:
            parts.append(f"{len(self.corrected)} row count(s) corrected")
        if self.reread_all:
            parts.append("every export must be read again: run `ipsec-drops ingest --reread` on them")
        elif self.reread:
            parts.append(f"{len(self.reread)} source file(s) must be read again (the next ingest reads them; "
                         "`ingest --reread` also finds their rows in other exports)")
        return "repaired: " + "; ".join(parts)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["rows_lost"] = self.rows_lost
        out["summary"] = self.summary()
        return out


def repair(warehouse: Warehouse | str | os.PathLike[str]) -> RepairReport:
    """Rebuild the manifest's parts and the keys from the Parquet present (see the module); takes the lock.

    Raises :class:`WarehouseLocked` when another writer holds the lock and :class:`WarehouseError`
    when the warehouse cannot be written or its manifest is of a newer version.
    """
    wh = warehouse if isinstance(warehouse, Warehouse) else Warehouse(warehouse)
    if not wh.root.is_dir():
        raise WarehouseError(f"{wh.root} is not a warehouse (no such folder): nothing to repair", wh.root)
    lock = wh.lock()
    try:
        return _repair(wh)
    finally:
        lock.release()


def _repair(wh: Warehouse) -> RepairReport:
    run_id = "repair-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    report = RepairReport(run_id)
    quarantine = f"_quarantine/{run_id}"
    try:
        _settle_journal(wh, report, quarantine)
    except OSError as exc:
        raise wrap_os_error(exc, "cannot complete the interrupted publish: failed on") from exc
    moves: list[list[str]] = []
    deletes: list[str] = []
    try:
        manifest = wh.manifest()
    except ManifestVersionError:
        raise
    except WarehouseError as exc:
        report.manifest_rebuilt = True
        report.notes.append(f"{exc} -> set aside as {quarantine}/_manifest.json")
        moves.append([wh.rel(wh.manifest_path), f"{quarantine}/_manifest.json"])
        manifest = Manifest(parts={})
    if manifest.loaded_version is None and wh.drop_files():
        report.manifest_rebuilt = True
    tracked = manifest.parts is not None
    states = scan_parts(wh, manifest.parts)
    kept: dict[str, PartEntry] = {}
    lost_sources: set[str] = set()
    duplicating = _duplicating(wh, states)
    for s in states:
        if s.good and s.path not in duplicating:
            assert s.data_rows is not None
            entry = s.listed or PartEntry(rows=s.data_rows, run="", sources=[])
            if s.listed is None:
                report.adopted.append(s.path)
            elif s.listed.rows != s.data_rows:
                report.corrected.append(s.path)
                entry = PartEntry(rows=s.data_rows, run=entry.run, sources=entry.sources)
            kept[s.path] = entry
            continue
        rows = s.listed.rows if s.listed else (s.data_rows or s.key_rows or 0)
        target = None
        if s.data_present:
            target = f"{quarantine}/{s.path}"
            moves.append([s.path, target])
            if s.path in duplicating:
                reason = (f"not in the manifest and {duplicating[s.path]:,} of its rows are held by other parts "
                          "(a copy?): set aside")
            elif s.data_error:
                reason = f"data file unreadable ({s.data_error}): set aside"
            elif not s.keys_present:
                reason = "key file lost: rows cannot be de-duplicated, set aside"
            elif s.key_error:
                reason = f"key file unreadable ({s.key_error}): set aside"
            else:
                reason = f"{s.data_rows} rows but {s.key_rows} keys: set aside"
        else:
            reason = "data file lost" + (": its keys removed" if s.keys_present else "")
        if s.keys_present:
            deletes.append(keys_path_of(s.path))
            report.removed_keys.append(keys_path_of(s.path))
        report.lost.append(LostPart(s.path, rows, reason, s.sources, target))
        if s.sources:
            lost_sources.update(s.sources)
        else:
            report.reread_all = True
    if report.lost and (report.reread_all or not tracked):
        report.reread_all = True
        report.reread = sorted({e.path for e in manifest.files})
        manifest.forget_files(lambda e: True)
        manifest.watermarks.clear()
    elif lost_sources:
        gone = _forget_sources(manifest, lost_sources)
        report.reread = sorted({e.path for e in gone} | lost_sources)
    manifest.parts = kept
    if not report.changed and not moves and not deletes and tracked:
        return report
    manifest.runs.append({
        "run": run_id, "repair": True, "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "parts_lost": len(report.lost), "rows_lost": report.rows_lost, "keys_removed": len(report.removed_keys),
        "parts_adopted": len(report.adopted), "files_forgotten": len(report.reread),
        "files": 0, "rows_read": 0, "drops_stored": 0, "duplicates": 0, "skipped": 0, "refused_files": 0,
    })
    wh.commit(run_id, wh.staging_dir / run_id, manifest, moves, deletes)
    return report


def _duplicating(wh: Warehouse, states: list[PartState]) -> dict[str, int]:
    """Good parts the manifest does not list whose keys other parts hold too (a copied part): adopting one
    would show its rows twice.  Returns part -> keys held elsewhere.  Parts the manifest lists never overlap
    (an ingest stores a key once per date), so only unlisted ones are compared, in name order."""
    unlisted = [s for s in states if s.good and s.listed is None]
    out: dict[str, int] = {}
    held: dict[str, np.ndarray] = {}
    for date in sorted({_date(s.path) for s in unlisted}):
        held[date] = np.concatenate([np.zeros(0, np.uint64)] + [
            _keys(wh, s.path) for s in states if s.good and s.listed is not None and _date(s.path) == date])
    for s in unlisted:
        date = _date(s.path)
        keys = _keys(wh, s.path)
        overlap = int(np.isin(keys, held[date]).sum())
        if overlap:
            out[s.path] = overlap
        else:
            held[date] = np.concatenate([held[date], keys])
    return out


def _date(part: str) -> str:
    return part.split("/")[1]


def _keys(wh: Warehouse, part: str) -> np.ndarray:
    return pq.read_table(wh.root / keys_path_of(part), columns=["key"]).column("key").to_numpy()


def _settle_journal(wh: Warehouse, report: RepairReport, quarantine: str) -> None:
    """Complete an interrupted publish; a journal that cannot be read is set aside instead."""
    if wh.journal_path.exists():
        try:
            journal = wh.read_journal()
        except WarehouseError as exc:
            aside = wh.root / quarantine / "_publish.json"
            aside.parent.mkdir(parents=True, exist_ok=True)
            os.replace(wh.journal_path, aside)
            report.notes.append(f"{exc} -> set aside as {wh.rel(aside)}")
        else:
            wh.apply_journal(journal)
            report.recovered = f"completed the interrupted publish of run {journal['run']}"
    if wh.staging_dir.exists():
        shutil.rmtree(wh.staging_dir, ignore_errors=True)
    with contextlib.suppress(OSError):
        (wh.root / quarantine).rmdir()  # only if nothing was set aside


def _forget_sources(manifest: Manifest, sources: set[str]) -> list:
    """Forget the entries of ``sources``, those that continued them, and the EVTX watermarks of their hosts."""
    paths = set(sources)
    while True:  # entries that continued a forgotten one (a grown file under another name) go too
        more = {e.path for e in manifest.files if e.resumed_from in paths and e.path not in paths}
        if not more:
            break
        paths |= more
    gone = manifest.forget_files(lambda e: e.path in paths)
    hosts = {e.host for e in gone if e.format == "evtx" and e.host}
    for key in [k for k in manifest.watermarks if k.split("|", 1)[0] in hosts]:
        del manifest.watermarks[key]
    return gone


def quarantined_files(wh: Warehouse) -> list[Path]:
    """Data parts set aside by repairs (readable Parquet, outside the dataset)."""
    return sorted(wh.quarantine_dir.glob("*/drops/date=*/*.parquet")) if wh.quarantine_dir.is_dir() else []
