"""The manifest: which files were ingested, how far, with what result, and which data parts were published.

A file is known by its content (SHA-256 and size), not its name: the same export
copied under another name is recognised, a file that grew is recognised by the
hash of the part already consumed and read only past it, and a file rewritten in
place is read again (the de-duplication keys keep that from storing anything
twice).  The manifest is one JSON file, replaced atomically, written last in
every run.

Besides the files, the manifest lists every published data part (path, rows, the
run and the source files that fed it), so a check can tell a lost or foreign
Parquet file from a good one and a repair can say which exports to read again.

Lookups are indexed (content, consumed prefix, sizes): a warehouse fed every
night for years holds tens of thousands of entries, and each input file asks
several questions of them.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from .errors import ManifestVersionError, WarehouseError, describe_os_error

#: Version 2 added ``parts`` and the per-file ``refused`` rows; version 1 manifests are read and upgraded.
MANIFEST_VERSION = 2
READABLE_VERSIONS = (1, 2)
MAX_RUNS_KEPT = 200
REPAIR_HINT = "run `ipsec-drops repair` to rebuild it from the Parquet files present"


@dataclass
class FileEntry:
    """What one ingestion of one file did."""

    path: str
    size: int
    sha256: str  # of the whole file as it was read
    consumed: int  # bytes read to the end of the last complete line (or record)
    consumed_sha256: str  # of those bytes: recognises the file when it has grown
    format: str
    host: str | None
    state: dict = field(default_factory=dict)  # reader state needed to resume after `consumed`
    rows_read: int = 0
    drops_found: int = 0
    drops_stored: int = 0
    duplicates: int = 0
    skipped: int = 0
    last_record: int | None = None
    allowed_found: int = 0  # observed permitted events read (the allowed dataset)
    allowed_stored: int = 0
    run: str = ""
    ingested_at: str = ""
    #: Rows of the consumed part that were refused for a reason the config can fix later, e.g.
    #: ``{"reason": ..., "rows": 12, "needs": "timezone", "host": "DB01"}`` (``needs``: ``timezone``,
    #: ``host``, or None when only a new export can help).  A later run that can place them reads the file again.
    refused: list[dict] = field(default_factory=list)
    #: path of the earlier entry this ingestion continued (a file that grew): a repair that forgets
    #: that entry forgets this one too, or the grown file would pass for already read.
    resumed_from: str = ""
    #: the file's modification time (ns) when it was read: with the path and size it recognises an
    #: unchanged file without hashing it (0: not known, hash it)
    mtime_ns: int = 0

    @property
    def refused_rows(self) -> int:
        return sum(int(r.get("rows", 0)) for r in self.refused)


@dataclass
class PartEntry:
    """One published data part (``drops/date=D/part-*.parquet``; its keys have the same name under ``_keys/``)."""

    rows: int
    run: str
    #: Resolved paths of the files whose drops it holds (empty: not known, e.g. adopted by a repair).
    sources: list[str] = field(default_factory=list)


_FILE_FIELDS = {f.name for f in fields(FileEntry)}
_REQUIRED = {"path": str, "size": int, "sha256": str, "consumed": int, "consumed_sha256": str, "format": str}


@dataclass
class Manifest:
    files: list[FileEntry] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)
    #: "host|channel" -> {"record": last EventRecordID stored, "time": its TimeCreated}: EVTX re-exports
    #: are read only past it.
    watermarks: dict[str, dict] = field(default_factory=dict)
    #: data part path (relative to the warehouse) -> what it holds; None: not recorded (no manifest, or
    #: version 1), the parts present are adopted at the next publish.
    parts: dict[str, PartEntry] | None = None
    #: parts of the ``allowed`` dataset (``allowed/date=D/part-*.parquet``) -> {"rows", "events" (= its keys),
    #: "run", "sources"}
    allowed_parts: dict[str, dict] = field(default_factory=dict)
    #: version of the file this was loaded from (None: there was no file)
    loaded_version: int | None = None

    def __post_init__(self) -> None:
        self._reindex()

    # -- loading and saving ------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path) -> Manifest:
        """The manifest at ``path`` (empty when there is none); :class:`WarehouseError` naming the file when
        it cannot be read, is not JSON, has the wrong shape or a version this code does not know."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls()
        except (OSError, UnicodeDecodeError) as exc:
            reason = describe_os_error(exc) if isinstance(exc, OSError) else str(exc)
            raise WarehouseError(f"the manifest {path} cannot be read: {reason}; {REPAIR_HINT}", path) from exc
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise WarehouseError(f"the manifest {path} is damaged (not valid JSON: {exc}); {REPAIR_HINT}",
                                 path) from exc
        return cls.from_dict(data, path)

    @classmethod
    def from_dict(cls, data: object, path: Path | str = "_manifest.json") -> Manifest:
        def wrong(what: str) -> WarehouseError:
            return WarehouseError(f"the manifest {path} has the wrong shape ({what}); {REPAIR_HINT}", path)

        if not isinstance(data, dict):
            raise wrong(f"a JSON {type(data).__name__} instead of an object")
        version = data.get("version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version not in READABLE_VERSIONS:
            raise ManifestVersionError(
                f"the manifest {path} has version {version!r}, which this ipsec-drops does not know (it reads "
                f"versions {', '.join(map(str, READABLE_VERSIONS))}): it was written by a newer ipsec-drops; "
                "upgrade ipsec-drops (a repair would discard what the newer version recorded)", path)
        files, runs = data.get("files", []), data.get("runs", [])
        watermarks, parts = data.get("watermarks", {}), data.get("parts")
        if not isinstance(files, list):
            raise wrong("'files' is not a list")
        if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
            raise wrong("'runs' is not a list of objects")
        if not isinstance(watermarks, dict) or not all(
                isinstance(w, dict) and isinstance(w.get("record"), int) for w in watermarks.values()):
            raise wrong("'watermarks' is not an object of {record, time}")
        entries = []
        for i, item in enumerate(files):
            if not isinstance(item, dict):
                raise wrong(f"files[{i}] is not an object")
            for name, kind in _REQUIRED.items():
                if not isinstance(item.get(name), kind):
                    raise wrong(f"files[{i}] has no {kind.__name__} '{name}'")
            entries.append(FileEntry(**{k: v for k, v in item.items() if k in _FILE_FIELDS}))
        part_map: dict[str, PartEntry] | None = None
        if version >= 2:
            if not isinstance(parts, dict):
                raise wrong("'parts' is not an object")
            part_map = {}
            for name, item in parts.items():
                if not isinstance(item, dict) or not isinstance(item.get("rows"), int):
                    raise wrong(f"parts[{name!r}] has no integer 'rows'")
                part_map[name] = PartEntry(rows=item["rows"], run=str(item.get("run", "")),
                                           sources=[str(s) for s in item.get("sources", [])])
        allowed = data.get("allowed_parts", {})
        if not isinstance(allowed, dict) or not all(isinstance(v, dict) and isinstance(v.get("rows"), int)
                                                    for v in allowed.values()):
            raise wrong("'allowed_parts' is not an object of parts with integer 'rows'")
        return cls(files=entries, runs=runs, watermarks=watermarks, parts=part_map, allowed_parts=dict(allowed),
                   loaded_version=version)

    def to_json(self) -> str:
        return json.dumps(
            {"version": MANIFEST_VERSION, "files": [asdict(f) for f in self.files],
             "runs": self.runs[-MAX_RUNS_KEPT:], "watermarks": self.watermarks,
             "parts": {name: asdict(p) for name, p in sorted((self.parts or {}).items())},
             **({"allowed_parts": dict(sorted(self.allowed_parts.items()))} if self.allowed_parts else {})},
            indent=1,
        )

    # -- indexed lookups ---------------------------------------------------------------------
    def _reindex(self) -> None:
        self._by_content: dict[tuple[int, str], FileEntry] = {}
        self._by_prefix: dict[tuple[str, int, str], FileEntry] = {}
        self._offsets: dict[str, list[int]] = {}  # format -> sorted distinct consumed offsets
        self._sizes: set[int] = set()
        self._by_stamp: dict[tuple[str, int, int], FileEntry] = {}
        for entry in self.files:
            self._index(entry)

    def _index(self, entry: FileEntry) -> None:
        # The latest entry wins: it describes the latest reading of that content (after a config fix, say).
        self._by_content[(entry.size, entry.sha256)] = entry
        prefix = (entry.format, entry.consumed, entry.consumed_sha256)
        self._by_prefix[prefix] = entry
        self._sizes.add(entry.size)
        if entry.mtime_ns and entry.consumed == entry.size:
            self._by_stamp[(entry.path, entry.size, entry.mtime_ns)] = entry
        offsets = self._offsets.setdefault(entry.format, [])
        at = bisect.bisect_left(offsets, entry.consumed)
        if at == len(offsets) or offsets[at] != entry.consumed:
            offsets.insert(at, entry.consumed)

    def seen_size(self, size: int) -> bool:
        """Whether any file of exactly this size was ingested (then its hash may show it unchanged)."""
        return size in self._sizes

    def same_file(self, path: str, size: int, mtime_ns: int) -> FileEntry | None:
        """The entry of this very file (resolved path), read whole at this size and modification time."""
        return self._by_stamp.get((path, size, mtime_ns)) if mtime_ns else None

    def restamp(self, entry: FileEntry, path: str, mtime_ns: int) -> None:
        """``path`` (now of modification time ``mtime_ns``) holds exactly ``entry``'s content: remember its stamp.

        The entry itself is updated when it is that path's; a copy under another name gets an entry of
        its own (so that a rerun recognises it without hashing too).
        """
        if not mtime_ns or entry.consumed != entry.size:
            return
        if entry.path == path:
            entry.mtime_ns = mtime_ns
            self._index(entry)
        else:
            self.record(replace(entry, path=path, mtime_ns=mtime_ns, drops_stored=0, duplicates=entry.drops_found))

    def unchanged(self, size: int, sha256: str) -> FileEntry | None:
        """The latest entry of a file with exactly this content, if it was ingested before."""
        return self._by_content.get((size, sha256))

    def resume_offsets(self, size: int, fmt: str | None = None) -> set[int]:
        """Offsets at which a grown file could continue (prefixes shorter than ``size``, of format ``fmt``)."""
        lists = [self._offsets.get(fmt, [])] if fmt is not None else list(self._offsets.values())
        out: set[int] = set()
        for offsets in lists:
            out.update(o for o in offsets[bisect.bisect_right(offsets, 0):bisect.bisect_left(offsets, size)])
        return out

    def grown_from(self, prefix_hashes: dict[int, str], fmt: str) -> FileEntry | None:
        """The longest earlier ingestion whose consumed part is a prefix of this file."""
        best = None
        for offset, digest in prefix_hashes.items():
            entry = self._by_prefix.get((fmt, offset, digest))
            if entry is not None and (best is None or entry.consumed > best.consumed):
                best = entry
        return best

    def record(self, entry: FileEntry) -> None:
        self.files.append(entry)
        self._index(entry)

    def forget_files(self, drop: Callable[[FileEntry], bool]) -> list[FileEntry]:
        """Remove the entries for which ``drop`` is true (their files will be read again); returns them."""
        gone = [e for e in self.files if drop(e)]
        if gone:
            self.files = [e for e in self.files if not drop(e)]
            self._reindex()
        return gone

    def latest_entries(self) -> list[FileEntry]:
        """One entry per distinct content, the latest (what a check of refused rows looks at)."""
        return list(self._by_content.values())


def hash_file(path: Path, offsets: set[int]) -> tuple[str, dict[int, str]]:
    """SHA-256 of the whole file and of its first ``o`` bytes for each ``o`` in offsets, in one pass.

    Read into one reused buffer: a fresh 1 MiB ``bytes`` per read would be a fresh
    mapping to fault in each time (measured: a third of a second of system time per GB).
    """
    whole = hashlib.sha256()
    prefixes: dict[int, str] = {}
    wanted = sorted(offsets)
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    pos = 0
    with open(path, "rb", buffering=0) as fh:
        while True:
            got = fh.readinto(buffer)
            if not got:
                break
            block = view[:got]
            end = pos + got
            while wanted and wanted[0] <= end:
                cut = wanted.pop(0)
                whole.update(block[: cut - pos])
                prefixes[cut] = whole.hexdigest()
                block = block[cut - pos :]
                pos = cut
            whole.update(block)
            pos = end
    return whole.hexdigest(), prefixes


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old or the new file, never a part.

    On failure (disk full, say) the temporary file is removed: a failed write leaves nothing behind.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename or new file in ``folder`` durable (best effort: not every platform can)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
