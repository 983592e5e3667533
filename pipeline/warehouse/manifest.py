"""The manifest: which files were ingested, how far, and with what result.

A file is known by its content (SHA-256 and size), not its name: the same export
copied under another name is recognised, a file that grew is recognised by the
hash of the part already consumed and read only past it, and a file rewritten in
place is read again (the de-duplication keys keep that from storing anything
twice).  The manifest is one JSON file, replaced atomically, written last in
every run.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

MANIFEST_VERSION = 1
MAX_RUNS_KEPT = 200


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
    run: str = ""
    ingested_at: str = ""


@dataclass
class Manifest:
    files: list[FileEntry] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)
    #: "host|channel" -> {"record": last EventRecordID stored, "time": its TimeCreated}: EVTX re-exports
    #: are read only past it.
    watermarks: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        if not path.exists():
            return cls()
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(files=[FileEntry(**f) for f in data.get("files", [])], runs=data.get("runs", []),
                   watermarks=data.get("watermarks", {}))

    def to_json(self) -> str:
        return json.dumps(
            {"version": MANIFEST_VERSION, "files": [asdict(f) for f in self.files],
             "runs": self.runs[-MAX_RUNS_KEPT:], "watermarks": self.watermarks},
            indent=1,
        )

    def unchanged(self, size: int, sha256: str) -> FileEntry | None:
        """The entry of a file with exactly this content, if it was ingested before."""
        for entry in reversed(self.files):
            if entry.size == size and entry.sha256 == sha256:
                return entry
        return None

    def resume_offsets(self, size: int, fmt: str | None = None) -> set[int]:
        """Offsets at which a grown file could continue (prefixes shorter than ``size``, of format ``fmt``)."""
        return {e.consumed for e in self.files if 0 < e.consumed < size and fmt in (None, e.format)}

    def grown_from(self, prefix_hashes: dict[int, str], fmt: str) -> FileEntry | None:
        """The longest earlier ingestion whose consumed part is a prefix of this file."""
        best = None
        for entry in self.files:
            if entry.format != fmt:
                continue
            if prefix_hashes.get(entry.consumed) == entry.consumed_sha256 and (
                best is None or entry.consumed > best.consumed
            ):
                best = entry
        return best

    def record(self, entry: FileEntry) -> None:
        self.files.append(entry)


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
    """Write ``text`` to ``path`` so that a reader sees the old or the new file, never a part."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
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
