"""The manifest's indexed lookups answer like a scan of every entry, fast; versions are checked on load."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from pipeline.warehouse import ManifestVersionError, WarehouseError
from pipeline.warehouse.manifest import MANIFEST_VERSION, FileEntry, Manifest, PartEntry


def entries(n: int, seed: int) -> list[FileEntry]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        size = rng.choice([100, 200, 300, 1000, rng.randrange(1, 5000)])
        consumed = rng.choice([size, max(0, size - rng.randrange(0, 50)), 0])
        out.append(FileEntry(path=f"/in/f{i}", size=size, sha256=f"h{rng.randrange(40)}", consumed=consumed,
                             consumed_sha256=f"p{rng.randrange(40)}", format=rng.choice(["pfirewall", "evtx"]),
                             host=None, run=f"r{i}"))
    return out


def scan_unchanged(files: list[FileEntry], size: int, sha: str) -> FileEntry | None:
    return next((e for e in reversed(files) if e.size == size and e.sha256 == sha), None)


def scan_resume(files: list[FileEntry], size: int, fmt: str | None) -> set[int]:
    return {e.consumed for e in files if 0 < e.consumed < size and fmt in (None, e.format)}


def scan_grown(files: list[FileEntry], prefixes: dict[int, str], fmt: str) -> FileEntry | None:
    best = None
    for e in files:  # the longest match; of equal ones the latest
        if e.format == fmt and prefixes.get(e.consumed) == e.consumed_sha256 and (
                best is None or e.consumed >= best.consumed):
            best = e
    return best


@pytest.mark.parametrize("seed", range(5))
def test_indexed_lookups_answer_like_a_scan(seed: int) -> None:
    files = entries(400, seed)
    manifest = Manifest()
    rng = random.Random(seed + 100)
    for entry in files:  # recorded one by one, as a run does, with lookups in between
        manifest.record(entry)
        seen = manifest.files
        size, sha = rng.choice([100, 200, 300, 1000, 4999]), f"h{rng.randrange(40)}"
        assert manifest.unchanged(size, sha) is scan_unchanged(seen, size, sha)
        assert manifest.seen_size(size) == any(e.size == size for e in seen)
        fmt = rng.choice(["pfirewall", "evtx", None])
        assert manifest.resume_offsets(size, fmt) == scan_resume(seen, size, fmt)
        prefixes = {o: f"p{rng.randrange(40)}" for o in rng.sample(range(0, 5000), 30)} | {
            e.consumed: e.consumed_sha256 for e in rng.sample(seen, min(3, len(seen)))}
        fmt = rng.choice(["pfirewall", "evtx"])
        assert manifest.grown_from(prefixes, fmt) is scan_grown(seen, prefixes, fmt)
    gone = manifest.forget_files(lambda e: e.size == 100)
    assert gone and all(e.size != 100 for e in manifest.files) and not manifest.seen_size(100)
    assert manifest.unchanged(100, gone[-1].sha256) is None


def test_lookups_do_not_scan_every_entry() -> None:
    manifest = Manifest()
    for entry in entries(50_000, 7):
        manifest.record(entry)
    start = time.perf_counter()
    for i in range(5_000):
        manifest.unchanged(i, "h1")
        manifest.seen_size(i)
        manifest.resume_offsets(i, "pfirewall")
        manifest.grown_from({i: "p1", i // 2: "p2"}, "pfirewall")
    # A scan of 50,000 entries per lookup would take minutes; the index takes milliseconds.
    assert time.perf_counter() - start < 3


def test_version_1_is_read_and_written_back_as_the_current_version(tmp_path: Path) -> None:
    path = tmp_path / "_manifest.json"
    path.write_text(json.dumps({"version": 1, "files": [], "runs": [{"run": "a"}], "watermarks": {}}))
    old = Manifest.load(path)
    assert old.loaded_version == 1 and old.parts is None  # parts not recorded: adopted at the next publish
    old.parts = {"drops/date=2026-01-01/part-a-1.parquet": PartEntry(rows=3, run="a", sources=["/x"])}
    path.write_text(old.to_json())
    new = Manifest.load(path)
    assert new.loaded_version == MANIFEST_VERSION == 2
    assert new.parts == old.parts and new.runs == [{"run": "a"}]


def test_a_manifest_without_version_is_version_1_and_unknown_versions_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "_manifest.json"
    path.write_text(json.dumps({"files": []}))
    assert Manifest.load(path).loaded_version == 1
    for version in (0, 3, "2", True, None):
        path.write_text(json.dumps({"version": version, "files": []}))
        with pytest.raises(ManifestVersionError, match=f"version {version!r}"):
            Manifest.load(path)


def test_an_unreadable_manifest_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "_manifest.json"
    path.write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(WarehouseError, match=f"{path} cannot be read.*ipsec-drops repair"):
        Manifest.load(path)
