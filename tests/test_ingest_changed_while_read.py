"""An input file deleted, truncated or rewritten while it is read: what was read is stored once, the file
is not recorded as read (so a restored copy is not passed over as "unchanged"), and the run says so."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

import pipeline.ingest as ingest_module
from pipeline import Warehouse, ingest, load_config
from pipeline.warehouse import check

CONFIG_TEXT = '[hosts.APP03]\ntimezone = "UTC"\naddresses = ["10.1.0.70"]\ninbox = ["in/*"]\n'
HEAD = ("#Version: 1.5\r\n#Software: Microsoft Windows Firewall\r\n#Time Format: Local\r\n"
        "#Fields: date time action protocol src-ip dst-ip src-port dst-port size tcpflags tcpsyn tcpack tcpwin "
        "icmptype icmpcode info path pid\r\n\r\n")
LINES = 3000


def firewall_log(path: Path) -> None:
    """3,000 DROP lines of distinct sources and times, CRLF, as pfirewall.log writes them."""
    rows = [f"2026-11-02 {i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d} DROP TCP 10.{i // 250 % 250}.{i % 250}.7 "
            f"10.1.0.70 {40000 + i % 20000} 445 52 S {i} 0 8192 - - - RECEIVE -\r\n" for i in range(LINES)]
    path.write_text(HEAD + "".join(rows), encoding="ascii", newline="")


@pytest.fixture
def site(tmp_path: Path, monkeypatch) -> tuple[Path, Path, Path]:
    (tmp_path / "in").mkdir()
    config = tmp_path / "site.toml"
    config.write_text(CONFIG_TEXT, encoding="utf-8")
    log = tmp_path / "in" / "pfirewall.log"
    firewall_log(log)
    original = tmp_path / "original.log"
    shutil.copyfile(log, original)
    from pipeline.readers import textfile

    monkeypatch.setattr(ingest_module, "EXTRACT_ROWS", 200)  # many batches: the change lands mid-read
    monkeypatch.setattr(textfile, "BLOCK_SIZE", 16 << 10)
    return config, log, original


def count(wh: Warehouse) -> int:
    return duckdb.sql(f"SELECT count(*) FROM read_parquet('{wh.drops_glob()}')").fetchall()[0][0]


def ingest_changing(log: Path, wh: Warehouse, config, change) -> ingest_module.IngestReport:
    done = {"yes": False}

    def progress(path: str, done_bytes: int, total: int) -> None:
        if not done["yes"] and 0 < done_bytes < total:
            done["yes"] = True
            change()

    report = ingest([log], wh, config, progress=progress)
    assert done["yes"], "the file was read in one batch: the test did not change it mid-read"
    return report


def test_truncated_while_read_stores_what_was_read_and_reads_the_restored_file_later(site, tmp_path):
    config_path, log, original = site
    config, wh = load_config(config_path), Warehouse(tmp_path / "W")

    def truncate() -> None:
        with open(log, "r+b") as fh:
            fh.truncate(log.stat().st_size // 2)

    report = ingest_changing(log, wh, config, truncate)
    assert report.exit_code == 1
    [result] = report.files
    assert result.status == "failed" and "truncated" in result.note
    assert any("while it was read" in str(i) and str(log) in str(i) for i in report.issues)
    assert str(log.resolve()) not in {e.path for e in wh.manifest().files}
    first = count(wh)
    assert 0 < first <= LINES and check(wh).ok
    # the admin copies the whole export again: it is read, the rest stored, nothing twice
    shutil.copyfile(original, log)
    again = ingest([log], wh, config)
    assert again.exit_code == 0 and count(wh) == LINES
    assert again.total("drops_stored") == LINES - first
    assert ingest([log], wh, config).total("drops_stored") == 0  # recorded now: unchanged


def test_deleted_while_read_is_said_and_not_recorded(site, tmp_path):
    config_path, log, _ = site
    config, wh = load_config(config_path), Warehouse(tmp_path / "W")
    report = ingest_changing(log, wh, config, log.unlink)
    assert report.exit_code == 1 and report.files[0].status == "failed"
    assert "deleted" in report.files[0].note
    assert wh.manifest().files == [] and check(wh).ok
    assert count(wh) <= LINES


def test_rewritten_in_place_while_read_is_read_again_next_time(site, tmp_path):
    config_path, log, original = site
    config, wh = load_config(config_path), Warehouse(tmp_path / "W")

    def rewrite() -> None:
        data = original.read_bytes()
        last = f" 445 52 S {LINES - 1} ".encode()
        assert data.count(last) == 1
        log.write_bytes(data.replace(last, last.replace(b"445", b"446")))  # same size, the last line's port

    report = ingest_changing(log, wh, config, rewrite)
    assert report.files[0].status == "failed" and "rewritten" in report.files[0].note
    again = ingest([log], wh, config)
    assert again.exit_code == 0 and again.files[0].status != "unchanged"
    ports = dict(duckdb.sql(f"SELECT dst_port, count(*) FROM read_parquet('{wh.drops_glob()}') GROUP BY 1").fetchall())
    assert ports.get(446) == 1  # the rewritten line is stored after the re-read


def test_a_file_that_grows_while_read_is_recorded_up_to_its_size_and_resumed(site, tmp_path):
    config_path, log, _ = site
    config, wh = load_config(config_path), Warehouse(tmp_path / "W")
    extra = "2026-11-03 00:00:01 DROP TCP 10.9.9.9 10.1.0.70 40000 445 52 S 1 0 8192 - - - RECEIVE -\r\n"

    def grow() -> None:
        with open(log, "a", encoding="ascii", newline="") as fh:
            fh.write(extra)

    report = ingest_changing(log, wh, config, grow)
    assert report.exit_code == 0 and report.files[0].status == "ingested"
    assert count(wh) == LINES
    later = ingest([log], wh, config)
    assert later.files[0].status == "resumed" and later.total("drops_stored") == 1 and count(wh) == LINES + 1


def test_an_evtx_truncated_while_read_moves_no_watermark_and_is_read_whole_when_restored(tmp_path, monkeypatch):
    from conftest import shared_path

    real = shared_path("corpus", "evtx", "security.evtx")
    evtx = tmp_path / "in" / "security.evtx"
    evtx.parent.mkdir()
    shutil.copyfile(real, evtx)
    reader = ingest_module.read_evtx

    def truncating(path, *args, **kwargs):
        for n, batch in enumerate(reader(path, *args, **kwargs)):
            if n == 0:
                with open(evtx, "r+b") as fh:
                    fh.truncate(evtx.stat().st_size // 3)
            yield batch

    whole = Warehouse(tmp_path / "whole")
    expected = ingest([real], whole, None, host="H").total("rows_read")
    monkeypatch.setattr(ingest_module, "read_evtx", truncating)
    wh = Warehouse(tmp_path / "W")
    report = ingest([evtx], wh, None, host="H")
    assert report.exit_code == 1 and report.files[0].status == "failed" and "truncated" in report.files[0].note
    manifest = wh.manifest()
    assert manifest.files == [] and manifest.watermarks == {}
    monkeypatch.undo()
    shutil.copyfile(real, evtx)
    again = ingest([evtx], wh, None, host="H")
    assert again.exit_code == 0 and again.total("rows_read") == expected
