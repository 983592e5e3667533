"""Check a warehouse against its manifest and keys: what ``ipsec-drops status`` reports.

The de-duplication keys decide what is "already stored", so a data part lost
behind the keys' back (deleted, restored from an old backup, a disk error) is
never noticed by an ingest: its rows stay marked as stored.  :func:`check`
compares the three records of the warehouse with each other:

* the manifest's list of published parts (path and rows),
* the data parts present (``drops/date=*/*.parquet``, their row counts from the footers),
* the key files present (``_keys/``, same names, one key per row).

and returns plain data (:class:`WarehouseStatus`, JSON-able with :meth:`~WarehouseStatus.to_dict`).
It reads only Parquet footers and takes no lock: it can run beside an ingest (it
may then see a publish half done, and says so).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from ..exit_codes import EXIT_FAILED, EXIT_OK, EXIT_SKIPPED
from .errors import WarehouseError
from .manifest import REPAIR_HINT, Manifest, PartEntry
from .store import Warehouse, data_path_of, keys_path_of

#: Findings that mean rows are lost, unaccounted for or not de-duplicable: ``repair`` settles them.
DAMAGE = frozenset({"missing-data", "orphan-keys", "missing-keys", "unknown-data", "rows-differ", "unreadable-part",
                    "manifest-unreadable", "manifest-missing", "journal-unreadable"})


@dataclass
class Finding:
    """One thing the check found.  ``kind`` is one of :data:`DAMAGE` or a note (``pending-publish``,
    ``staging-leftovers``, ``untracked-parts``, ``refused-rows``)."""

    kind: str
    path: str
    message: str
    rows: int | None = None
    sources: list[str] = field(default_factory=list)

    @property
    def damage(self) -> bool:
        return self.kind in DAMAGE


@dataclass
class WarehouseStatus:
    root: str
    manifest_version: int | None  # of the manifest file; None when there is none (or it is unreadable)
    files_ingested: int  # manifest entries
    parts: int  # data parts present whose keys agree with them
    rows: int  # rows in those parts
    dates: int  # date partitions holding them
    last_runs: list[dict] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    exists: bool = True  # False: no such folder (the CLI's "no warehouse where one was expected")

    @property
    def ok(self) -> bool:
        """No damage: every part listed is present with its keys, nothing unknown."""
        return not any(f.damage for f in self.findings)

    @property
    def exit_code(self) -> int:
        """0 sound; 1 damage found (``repair`` fixes it); 4 the manifest or the publish journal cannot be read
        at all (every writer fails until ``repair`` ran)."""
        if any(f.kind in ("manifest-unreadable", "journal-unreadable") for f in self.findings):
            return EXIT_FAILED
        return EXIT_OK if self.ok else EXIT_SKIPPED

    def summary(self) -> str:
        if not self.exists:
            return f"{self.root}: no warehouse here (no such folder)"
        damage = [f for f in self.findings if f.damage]
        head = (f"{self.root}: {self.parts} data part(s), {self.rows:,} drops in {self.dates} day(s), "
                f"{self.files_ingested} ingested file record(s)")
        if not damage:
            return head + "; consistent"
        lost = sum(f.rows or 0 for f in damage if f.kind in ("missing-data", "orphan-keys"))
        tail = f", {lost:,} rows lost" if lost else ""
        return head + f"; {len(damage)} problem(s){tail}: run `ipsec-drops repair`"

    def to_dict(self) -> dict:
        out = asdict(self)
        out["ok"] = self.ok
        out["summary"] = self.summary()
        return out


@dataclass
class PartState:
    """One part name as the manifest, the data folder and the keys folder see it."""

    path: str  # drops/date=D/part-*.parquet
    listed: PartEntry | None
    data_rows: int | None = None  # None: no data file (or unreadable: see data_error)
    key_rows: int | None = None
    data_error: str | None = None
    key_error: str | None = None
    data_present: bool = False
    keys_present: bool = False

    @property
    def good(self) -> bool:
        """Data and keys present, readable and of the same length (whatever the manifest says)."""
        return self.data_rows is not None and self.key_rows is not None and self.data_rows == self.key_rows

    @property
    def sources(self) -> list[str]:
        return list(self.listed.sources) if self.listed else []


def scan_parts(wh: Warehouse, parts: dict[str, PartEntry] | None) -> list[PartState]:
    """Every part name known to the manifest, the data folder or the keys folder, with what each holds."""
    states: dict[str, PartState] = {name: PartState(name, entry) for name, entry in (parts or {}).items()}
    for data in wh.drop_files():
        rel = wh.rel(data)
        state = states.setdefault(rel, PartState(rel, None))
        state.data_present = True
        state.data_rows, state.data_error = _rows(data)
    for keys in wh.key_files():
        rel = data_path_of(wh.rel(keys))
        state = states.setdefault(rel, PartState(rel, None))
        state.keys_present = True
        state.key_rows, state.key_error = _rows(keys)
    return [states[name] for name in sorted(states)]


def _rows(path: Path) -> tuple[int | None, str | None]:
    try:
        return pq.read_metadata(path).num_rows, None
    except (OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"


def part_findings(wh: Warehouse, states: list[PartState], tracked: bool) -> list[Finding]:
    """What is wrong with each part; ``tracked``: the manifest lists parts (else it predates that)."""
    out: list[Finding] = []
    for s in states:
        keys_rel = keys_path_of(s.path)
        src = s.sources
        if s.data_error or s.key_error:
            bad = s.path if s.data_error else keys_rel
            out.append(Finding("unreadable-part", bad, f"{bad} cannot be read ({s.data_error or s.key_error})",
                               s.listed.rows if s.listed else None, src))
        elif not s.data_present and s.keys_present:
            rows = s.listed.rows if s.listed else s.key_rows
            what = "the manifest lists it and its keys" if s.listed else "its keys"
            out.append(Finding("missing-data" if s.listed else "orphan-keys", s.path,
                               f"data part {s.path} is missing but {what} still mark its {rows:,} rows as stored: "
                               "an ingest would never store them again", rows, src))
        elif not s.data_present:
            rows = s.listed.rows if s.listed else 0
            out.append(Finding("missing-data", s.path, f"data part {s.path} is missing (with its keys): "
                               f"its {rows:,} rows are lost", rows, src))
        elif not s.keys_present:
            out.append(Finding("missing-keys", s.path, f"data part {s.path} has no key file {keys_rel}: its "
                               f"{s.data_rows:,} rows cannot be de-duplicated (a re-read would store them twice)",
                               s.data_rows, src))
        elif s.data_rows != s.key_rows:
            out.append(Finding("rows-differ", s.path, f"data part {s.path} holds {s.data_rows:,} rows but its key "
                               f"file {s.key_rows:,}", s.data_rows, src))
        elif s.listed is None:
            if tracked:
                out.append(Finding("unknown-data", s.path, f"data part {s.path} ({s.data_rows:,} rows) is not in "
                                   "the manifest", s.data_rows))
        elif s.listed.rows != s.data_rows:
            out.append(Finding("rows-differ", s.path, f"data part {s.path} holds {s.data_rows:,} rows; the manifest "
                               f"says {s.listed.rows:,}", s.data_rows, src))
    return out


def check(warehouse: Warehouse | str | Path) -> WarehouseStatus:
    """Compare the warehouse with its manifest and keys; never raises for what it finds."""
    wh = warehouse if isinstance(warehouse, Warehouse) else Warehouse(warehouse)
    if not wh.root.is_dir():
        return WarehouseStatus(str(wh.root), None, 0, 0, 0, 0, exists=False)
    findings: list[Finding] = []
    manifest: Manifest | None
    try:
        manifest = wh.manifest()
    except WarehouseError as exc:
        manifest = None
        findings.append(Finding("manifest-unreadable", str(wh.manifest_path), str(exc)))
    parts = manifest.parts if manifest else None
    states = scan_parts(wh, parts)
    tracked = manifest is not None and manifest.parts is not None
    if manifest is not None and manifest.loaded_version is None and any(s.data_present for s in states):
        findings.append(Finding("manifest-missing", str(wh.manifest_path),
                                f"the manifest {wh.manifest_path} is missing but the warehouse holds data; an ingest "
                                f"would read every export again; {REPAIR_HINT}"))
    elif manifest is not None and not tracked and states:
        findings.append(Finding("untracked-parts", str(wh.manifest_path),
                                f"the manifest (version {manifest.loaded_version}) does not list data parts: they "
                                "were checked against their key files only; the next ingest or repair records them"))
    findings.extend(part_findings(wh, states, tracked))
    if wh.journal_path.exists():
        try:
            wh.read_journal()
        except WarehouseError as exc:
            if wh.journal_path.exists():  # (not merely completed and removed meanwhile)
                findings.append(Finding("journal-unreadable", str(wh.journal_path), str(exc)))
        else:
            findings.append(Finding("pending-publish", str(wh.journal_path), "a publish is in progress or was "
                                    "interrupted; the next ingest or repair completes it"))
    elif wh.staging_dir.is_dir() and any(wh.staging_dir.iterdir()):
        findings.append(Finding("staging-leftovers", str(wh.staging_dir),
                                "unpublished files of a running or interrupted run; the next writer removes them"))
    for entry in manifest.latest_entries() if manifest else []:
        for r in entry.refused:
            findings.append(Finding("refused-rows", entry.path, f"{entry.path}: {r.get('rows', 0):,} rows refused: "
                                    f"{r.get('reason', '')}", int(r.get("rows", 0))))
    good = [s for s in states if s.good]
    return WarehouseStatus(
        root=str(wh.root),
        manifest_version=manifest.loaded_version if manifest else None,
        files_ingested=len(manifest.files) if manifest else 0,
        parts=len(good),
        rows=sum(s.data_rows or 0 for s in good),
        dates=len({s.path.split("/")[1] for s in good}),
        last_runs=list(manifest.runs[-10:]) if manifest else [],
        findings=findings,
    )
