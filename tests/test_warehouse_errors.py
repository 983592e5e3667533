"""Disk full, read-only, damaged manifests, long names: one clear WarehouseError, nothing published, no leftovers."""

from __future__ import annotations

import errno
import json
import os
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

import pipeline.warehouse.store as store
from pipeline import Warehouse, ingest, load_config, parse_config
from pipeline.warehouse import ManifestVersionError, WarehouseError, check, repair

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_logs"
CONFIG = load_config(SAMPLES / "ipsec-drops.toml")
EXPECTED = json.loads((SAMPLES / "expected.json").read_text())["total_drops"]
DAY_ONE = SAMPLES / "exports" / "web01" / "system-20261024-plain.log"
ENOSPC = OSError(errno.ENOSPC, "No space left on device")


def rows(wh: Warehouse) -> int:
    if not wh.drop_files():
        return 0
    return duckdb.sql(f"select count(*) from read_parquet('{wh.drops_glob()}')").fetchall()[0][0]


def snapshot(wh: Warehouse) -> dict[str, bytes]:
    """Every published file's bytes (what a failed run must leave as it was)."""
    return {str(p.relative_to(wh.root)): p.read_bytes() for p in sorted(wh.root.rglob("*"))
            if p.is_file() and not p.name.startswith(".lock")}


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    warehouse = Warehouse(tmp_path / "W")
    ingest([DAY_ONE], warehouse, CONFIG)
    assert rows(warehouse) > 0
    return warehouse


def failing_writer(exc: OSError):
    class Failing(pq.ParquetWriter):
        def write_table(self, *args, **kwargs):
            raise exc

    return Failing


def fail_when_named(name: str, exc: OSError):
    real = store.write_atomically

    def write(path: Path, text: str) -> None:
        if path.name == name:
            raise exc
        real(path, text)

    return write


@pytest.mark.parametrize("point", ["data", "fsync", "manifest", "journal"])
def test_disk_full_fails_the_run_names_the_file_and_cleans_staging(wh: Warehouse, monkeypatch, point: str) -> None:
    before = snapshot(wh)
    if point == "data":
        monkeypatch.setattr(store.pq, "ParquetWriter", failing_writer(ENOSPC))
    elif point == "fsync":
        monkeypatch.setattr(store, "_fsync_file", lambda path: (_ for _ in ()).throw(
            OSError(errno.ENOSPC, "No space left on device", str(path))))
    elif point == "manifest":
        monkeypatch.setattr(store, "write_atomically", fail_when_named("_manifest.json", ENOSPC))
    else:
        monkeypatch.setattr(store, "write_atomically", fail_when_named("_publish.json", ENOSPC))
    with pytest.raises(WarehouseError) as caught:
        ingest([SAMPLES], wh, CONFIG)
    message = str(caught.value)
    assert "No space left on device (disk full)" in message and "nothing was published" in message
    assert str(wh.root) in message  # names the file (inside the warehouse)
    if point == "data":
        assert ".parquet" in message
    assert not wh.staging_dir.exists(), "the failed run's staging files fill the disk"
    assert not wh.journal_path.exists()
    assert snapshot(wh) == before
    monkeypatch.undo()
    ingest([SAMPLES], wh, CONFIG)  # space again: the run goes through
    assert rows(wh) == EXPECTED and check(wh).ok


def test_failure_after_the_commit_point_is_completed_by_the_next_run(wh: Warehouse, monkeypatch) -> None:
    def read_only(self, journal):
        raise OSError(errno.EROFS, "Read-only file system", str(self.root / journal["moves"][0][1]))

    monkeypatch.setattr(store.Warehouse, "apply_journal", read_only)
    with pytest.raises(WarehouseError, match="committed but could not be put in place.*next ingest"):
        ingest([SAMPLES], wh, CONFIG)
    assert wh.journal_path.exists() and wh.staging_dir.exists()  # kept for the next writer
    monkeypatch.undo()
    report = ingest([SAMPLES], wh, CONFIG)
    assert report.recovered and "completed the interrupted publish" in report.recovered
    assert rows(wh) == EXPECTED and check(wh).ok


def test_read_only_warehouse(wh: Warehouse, monkeypatch) -> None:
    # Tests run as root here, where chmod does not stop writes: the refusal is injected where the OS gives it.
    def refuse(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", self.lock_file)

    monkeypatch.setattr(store.filelock.FileLock, "acquire", refuse)
    with pytest.raises(WarehouseError, match=r"cannot take the writer lock .*\.lock: Permission denied"):
        ingest([SAMPLES], wh, CONFIG)
    assert check(wh).ok  # status only reads
    monkeypatch.undo()
    monkeypatch.setattr(store.pq, "ParquetWriter", failing_writer(PermissionError(errno.EACCES, "Permission denied")))
    with pytest.raises(WarehouseError, match="Permission denied.*nothing was published"):
        ingest([SAMPLES], wh, CONFIG)
    assert not wh.staging_dir.exists()


def test_warehouse_folder_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(WarehouseError, match="cannot create the warehouse folder"):
        ingest([DAY_ONE], Warehouse(blocker / "W"), CONFIG)


def test_corrupt_manifest_says_how_to_recover(wh: Warehouse) -> None:
    wh.manifest_path.write_text('{"version": 2, "files": [', encoding="utf-8")
    with pytest.raises(WarehouseError) as caught:
        wh.manifest()
    assert str(wh.manifest_path) in str(caught.value) and "ipsec-drops repair" in str(caught.value)
    status = check(wh)
    assert status.exit_code == 4 and [f.kind for f in status.findings if f.damage] == ["manifest-unreadable"]
    assert "ipsec-drops repair" in status.findings[0].message
    with pytest.raises(WarehouseError, match="ipsec-drops repair"):
        ingest([SAMPLES], wh, CONFIG)
    report = repair(wh)
    assert report.manifest_rebuilt and not report.lost
    aside = wh.root / "_quarantine" / report.run_id / "_manifest.json"
    assert aside.read_text() == '{"version": 2, "files": ['
    before = rows(wh)
    again = ingest([SAMPLES], wh, CONFIG)  # every file is read again; the keys keep it exact
    assert again.total("duplicates") >= before and rows(wh) == EXPECTED and check(wh).ok


@pytest.mark.parametrize("text, what", [
    ("[]", "a JSON list instead of an object"),
    ('{"version": 2, "files": {}, "parts": {}}', "'files' is not a list"),
    ('{"version": 2, "files": [{"path": "x"}], "parts": {}}', "files[0] has no int 'size'"),
    ('{"version": 2, "files": [], "parts": []}', "'parts' is not an object"),
    ('{"version": 2, "files": [], "watermarks": {"A|System": 5}, "parts": {}}', "'watermarks'"),
])
def test_manifest_of_the_wrong_shape(wh: Warehouse, text: str, what: str) -> None:
    wh.manifest_path.write_text(text)
    with pytest.raises(WarehouseError, match="wrong shape") as caught:
        wh.manifest()
    assert what in str(caught.value) and "ipsec-drops repair" in str(caught.value)
    assert check(wh).exit_code == 4


def test_manifest_of_an_unknown_version_is_never_rewritten(wh: Warehouse) -> None:
    data = json.loads(wh.manifest_path.read_text())
    data["version"] = 3
    wh.manifest_path.write_text(json.dumps(data))
    before = wh.manifest_path.read_bytes()
    with pytest.raises(ManifestVersionError, match="version 3.*upgrade ipsec-drops"):
        ingest([SAMPLES], wh, CONFIG)
    with pytest.raises(ManifestVersionError):
        repair(wh)
    assert wh.manifest_path.read_bytes() == before


def test_unreadable_key_file_fails_the_run_and_repair_settles_it(wh: Warehouse) -> None:
    keys = wh.key_files()[0]
    keys.write_bytes(b"garbage")
    with pytest.raises(WarehouseError, match=f"the key file {keys} cannot be read.*ipsec-drops repair"):
        ingest([SAMPLES], wh, CONFIG, reread=True)
    assert not wh.staging_dir.exists()
    report = repair(wh)
    assert len(report.lost) == 1 and report.lost[0].quarantined_to
    ingest([SAMPLES], wh, CONFIG, reread=True)
    assert rows(wh) == EXPECTED and check(wh).ok


def test_damaged_journal_is_named_and_repair_sets_it_aside(wh: Warehouse) -> None:
    wh.journal_path.write_text("{nope")
    with pytest.raises(WarehouseError, match="publish journal .* cannot be read.*ipsec-drops repair"):
        ingest([SAMPLES], wh, CONFIG)
    report = repair(wh)
    assert any("_publish.json" in n for n in report.notes) and not wh.journal_path.exists()
    ingest([SAMPLES], wh, CONFIG)
    assert rows(wh) == EXPECTED


def test_journal_paths_outside_the_warehouse_are_refused(wh: Warehouse) -> None:
    wh.journal_path.write_text(json.dumps({"run": "x", "moves": [], "deletes": ["../../etc/passwd"],
                                           "manifest": ".staging/x/_manifest.json"}))
    with pytest.raises(WarehouseError, match="wrong shape"):
        ingest([SAMPLES], wh, CONFIG)


def test_a_300_character_host_name_goes_nowhere_near_a_path(tmp_path: Path) -> None:
    from pipeline.synthetic.evtx import EvtxWriter, wfp_5152

    long_host = "H" * 300
    fw = tmp_path / "pfirewall.log"
    fw.write_text("#Version: 1.5\r\n#Software: Microsoft Windows Firewall\r\n#Time Format: Local\r\n"
                  "#Fields: date time action protocol src-ip dst-ip src-port dst-port size tcpflags tcpsyn tcpack "
                  "tcpwin icmptype icmpcode info path\r\n"
                  "2026-06-01 10:00:01 DROP TCP 203.0.113.7 10.9.0.5 40022 22 48 S 1 0 65535 - - - RECEIVE\r\n",
                  newline="")
    w3c = tmp_path / "system.log"
    w3c.write_text("#Software: Microsoft Log Parser\r\n#Fields: TimeGenerated EventID SourceName Strings ComputerName"
                   f"\r\n2026-06-01 10:00:00 4290 IPSec |192.0.2.7|10.1.0.20|6|40000|22 {'W' * 300}.example.net\r\n",
                   newline="")
    evtx = tmp_path / "security.evtx"
    with EvtxWriter(evtx) as out:
        out.write(wfp_5152(1, datetime(2026, 6, 1, 8), "E" * 300, src_ip="192.0.2.9", src_port=40000,
                           dst_ip="10.1.0.20", dst_port=3389))
    wh = Warehouse(tmp_path / "W")
    first = ingest([fw], wh, parse_config("", tmp_path / "c.toml"), host=long_host, source_tz="UTC")
    rest = ingest([w3c, evtx], wh, None, source_tz="UTC")
    assert first.total("drops_stored") == 1 and rest.total("drops_stored") == 2, [str(i) for i in rest.issues]
    hosts = {h for (h,) in duckdb.sql(f"select host from read_parquet('{wh.drops_glob()}')").fetchall()}
    assert hosts == {long_host, "W" * 300 + ".example.net", "E" * 300}
    assert max(len(part) for p in wh.root.rglob("*") for part in p.relative_to(wh.root).parts) < 100
    assert check(wh).ok


def test_input_path_too_long_is_refused_not_raised(tmp_path: Path) -> None:
    report = ingest([tmp_path / ("x" * 300 + ".log")], Warehouse(tmp_path / "W"), None)
    assert report.files[0].status == "refused"
    assert "File name too long" in report.files[0].issues.details[0].reason


def test_skipped_lines_list_lives_in_staging_until_published(wh: Warehouse, monkeypatch) -> None:
    bad = wh.root.parent / "bad.log"
    bad.write_text(DAY_ONE.read_text(encoding="utf-8", errors="replace") + "garbage line\r\n", newline="")
    monkeypatch.setattr(store, "write_atomically", fail_when_named("_publish.json", ENOSPC))
    with pytest.raises(WarehouseError):
        ingest([bad], wh, CONFIG, source_tz="UTC", reread=True)
    assert not wh.staging_dir.exists() and not list(wh.root.glob("**/*skipped.csv"))
    monkeypatch.undo()
    report = ingest([bad], wh, CONFIG, reread=True)
    assert report.skipped_csv and Path(report.skipped_csv).exists()
    assert Path(report.skipped_csv).parent == wh.runs_dir
    assert not os.path.exists(wh.staging_dir)
