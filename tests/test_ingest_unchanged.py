"""A rerun with nothing new recognises unchanged files by path, size and modification time, before hashing."""

from __future__ import annotations

import os
import shutil

import pytest
from conftest import SAMPLE, SAMPLE_CONFIG

import pipeline.ingest as ingest_module
from pipeline import Warehouse, ingest, load_config

CONFIG = load_config(SAMPLE_CONFIG)


def test_unchanged_files_are_neither_read_nor_hashed_and_a_touched_one_is_hashed_again(tmp_path, monkeypatch):
    exports = tmp_path / "exports"
    shutil.copytree(SAMPLE / "exports" / "web01", exports)
    wh = Warehouse(tmp_path / "W")
    first = ingest([exports], wh, CONFIG, host="WEB01")
    assert first.total("drops_stored") > 0

    def no_hashing(*args, **kwargs):
        raise AssertionError("an unchanged file was hashed")

    with monkeypatch.context() as m:
        m.setattr(ingest_module, "hash_file", no_hashing)
        m.setattr(ingest_module, "detect_format", no_hashing)
        again = ingest([exports], wh, CONFIG, host="WEB01")
    assert {f.status for f in again.files} == {"unchanged"} and again.exit_code == 0
    assert again.summary().startswith("nothing new")
    # the same content with a new modification time: hashed, recognised, still nothing stored
    victim = sorted(exports.glob("*.log"))[0]
    stat = victim.stat()
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    touched = ingest([exports], wh, CONFIG, host="WEB01")
    assert touched.total("drops_stored") == 0
    assert {f.status for f in touched.files if f.path == str(victim)} == {"unchanged"}
    # and the next run knows the new stamp: no hashing at all again
    with monkeypatch.context() as m:
        m.setattr(ingest_module, "hash_file", no_hashing)
        assert ingest([exports], wh, CONFIG, host="WEB01").total("drops_stored") == 0


def test_a_rewritten_file_of_the_same_size_is_read_again(tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir()
    source = SAMPLE / "exports" / "db01" / "pfirewall.log"
    target = exports / "pfirewall.log"
    shutil.copy(source, target)
    wh = Warehouse(tmp_path / "W")
    first = ingest([target], wh, CONFIG, host="DB01")
    stored = first.total("drops_stored")
    data = bytearray(target.read_bytes())
    at = data.rindex(b"DROP")
    data[at - 3:at - 1] = b"59" if data[at - 3:at - 1] != b"59" else b"58"  # the last drop's seconds
    stamp = target.stat()
    target.write_bytes(bytes(data))
    os.utime(target, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1))
    again = ingest([target], wh, CONFIG, host="DB01")
    assert again.files[0].status != "unchanged" and again.total("drops_stored") == 1
    assert stored > 1


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])
