"""Rows refused once (no time zone for their host, no host) are stored by the first run that can place them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb

from pipeline import Warehouse, ingest, parse_config
from pipeline.ingest import EXIT_OK, EXIT_SKIPPED

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_logs"
HEADER = ("#Software: Microsoft Log Parser\r\n"
          "#Fields: RecordNumber TimeGenerated EventID SourceName Strings ComputerName\r\n")


def line(record: int, local: str, port: int, computer: str) -> str:
    return f"{record} {local} 4290 IPSec |192.0.2.7|10.1.0.20|6|40000|{port} {computer}\r\n"


def stored(wh: Path) -> list[tuple]:
    if not list((wh / "drops").glob("date=*/*.parquet")):
        return []
    return duckdb.sql(f"select host, source_record, event_time from read_parquet('{wh}/drops/**/*.parquet') "
                      "order by all").fetchall()


def csv_line(record: int, local: str, port: int, computer: str) -> str:
    return f"{record},{local},4290,IPSec,|192.0.2.7|10.1.0.20|6|40000|{port},{computer}\r\n"


def test_rows_refused_for_want_of_a_time_zone_are_stored_once_the_config_has_one(tmp_path: Path) -> None:
    export = tmp_path / "system.csv"
    # Two hosts in one export (a collector's query): DB01 has a zone from the start, APP02 only later.
    # (CSV: a W3C export of two hosts with zones hangs in extract/ipsec_driver's time turnstile, reported.)
    export.write_text("RecordNumber,TimeGenerated,EventID,SourceName,Strings,ComputerName\r\n"
                      + csv_line(1, "2026-06-01 10:00:00", 22, "DB01") + csv_line(2, "2026-06-01 10:00:01", 23, "APP02")
                      + csv_line(3, "2026-06-01 10:00:02", 24, "APP02"), newline="")
    wh = Warehouse(tmp_path / "W")
    before = parse_config('[hosts.DB01]\ntimezone = "America/Chicago"\n', tmp_path / "c.toml")
    first = ingest([export], wh, before)
    assert first.exit_code == EXIT_SKIPPED
    assert first.files[0].drops_stored == 1 and first.files[0].skipped == 2
    # The manifest remembers which rows were refused, why and how many.
    (entry,) = json.loads(wh.manifest_path.read_text())["files"]
    assert entry["refused"] == [{"reason": entry["refused"][0]["reason"], "rows": 2, "needs": "timezone",
                                 "host": "APP02"}]
    assert "APP02" in entry["refused"][0]["reason"]

    # Same config again: nothing can be placed, the file is unchanged.
    again = ingest([export], wh, before)
    assert again.files[0].status == "unchanged" and again.total("rows_read") == 0

    # The config now knows APP02's zone: the file is read again and only the refused rows are new.
    after = parse_config('[hosts.DB01]\ntimezone = "America/Chicago"\n[hosts.APP02]\ntimezone = "Europe/Berlin"\n',
                         tmp_path / "c.toml")
    fixed = ingest([export], wh, after)
    result = fixed.files[0]
    assert result.status == "reread" and "2 row(s) refused before can now be placed" in result.note
    assert (result.drops_stored, result.duplicates, result.skipped) == (2, 1, 0)
    assert fixed.exit_code == EXIT_OK
    rows = stored(wh.root)
    assert [(h, r) for h, r, _ in rows] == [("APP02", 2), ("APP02", 3), ("DB01", 1)]
    assert rows[0][2].isoformat().startswith("2026-06-01T08:00:01")  # Berlin summer time, UTC+2

    # Placed now: the latest entry has no refused rows, the next run skips the file.
    assert ingest([export], wh, after).files[0].status == "unchanged"


def test_source_tz_on_the_command_line_places_them_too(tmp_path: Path) -> None:
    export = tmp_path / "system.log"
    export.write_text(HEADER + line(7, "2026-06-01 10:00:00", 22, "APP02"), newline="")
    wh = Warehouse(tmp_path / "W")
    assert ingest([export], wh, None).total("drops_stored") == 0
    report = ingest([export], wh, None, source_tz="Europe/Berlin")
    assert report.files[0].status == "reread" and report.total("drops_stored") == 1


def test_refusals_of_the_part_read_before_are_remembered_when_the_file_grows(tmp_path: Path) -> None:
    export = tmp_path / "system.csv"
    export.write_text("RecordNumber,TimeGenerated,EventID,SourceName,Strings,ComputerName\r\n"
                      + csv_line(1, "2026-06-01 10:00:00", 22, "APP02"), newline="")
    wh = Warehouse(tmp_path / "W")
    db01 = '[hosts.DB01]\ntimezone = "America/Chicago"\n'
    ingest([export], wh, parse_config(db01, tmp_path / "c.toml"))
    with open(export, "a", newline="") as fh:  # the log grows with a row of a host that has a zone
        fh.write(csv_line(2, "2026-06-01 10:00:05", 23, "DB01"))
    grown = ingest([export], wh, parse_config(db01, tmp_path / "c.toml"))
    assert grown.files[0].status == "resumed" and grown.files[0].drops_stored == 1
    # APP02's row came from the part read before; its refusal is still remembered.
    fixed = ingest([export], wh, parse_config(db01 + '[hosts.APP02]\ntimezone = "UTC"\n', tmp_path / "c.toml"))
    assert fixed.files[0].status == "reread"
    assert (fixed.files[0].drops_stored, fixed.files[0].duplicates) == (1, 1)
    assert [(h, r) for h, r, _ in stored(wh.root)] == [("APP02", 1), ("DB01", 2)]


def test_rows_with_no_host_are_stored_once_a_host_is_given(tmp_path: Path) -> None:
    header = "#Software: Microsoft Log Parser\r\n#Fields: RecordNumber TimeGenerated EventID SourceName Strings\r\n"
    export = tmp_path / "system.log"
    export.write_text(header + "5 2026-06-01 10:00:00 4290 IPSec |192.0.2.7|10.1.0.20|6|40000|22\r\n", newline="")
    wh = Warehouse(tmp_path / "W")
    assert ingest([export], wh, None, source_tz="UTC").files[0].skipped == 1
    report = ingest([export], wh, None, source_tz="UTC", host="DB01")
    assert report.files[0].status == "reread" and report.total("drops_stored") == 1


def test_reread_reads_every_file_again_and_stores_nothing_twice(tmp_path: Path) -> None:
    from pipeline import load_config

    config = load_config(SAMPLES / "ipsec-drops.toml")
    wh = Warehouse(tmp_path / "W")
    first = ingest([SAMPLES], wh, config)
    again = ingest([SAMPLES], wh, config, reread=True)
    files = [f for f in again.files if f.status != "ignored"]
    assert {f.status for f in files} == {"reread"}
    assert again.total("rows_read") == first.total("rows_read")  # every row read again, EVTX watermarks too
    assert again.total("drops_stored") == 0
    assert again.total("duplicates") == first.total("drops_stored") + first.total("duplicates")
    assert len(stored(wh.root)) == first.total("drops_stored")


def test_an_evtx_file_is_read_past_its_watermark_unless_reread(tmp_path: Path) -> None:
    from pipeline import load_config

    config = load_config(SAMPLES / "ipsec-drops.toml")
    wh = Warehouse(tmp_path / "W")
    evtx = SAMPLES / "exports" / "web01" / "system-20261026.evtx"
    copy = tmp_path / "inbox" / "system-copy.evtx"
    copy.parent.mkdir()
    ingest([evtx], wh, config)
    shutil.copy(evtx, copy)
    with open(copy, "ab") as fh:  # same records, other bytes: not "unchanged", but behind the watermark
        fh.write(b"\0" * 16)
    behind = ingest([copy], wh, config, host="WEB01")
    assert behind.files[0].status == "resumed" and behind.files[0].drops_found == 0
    reread = ingest([copy], wh, config, host="WEB01", reread=True)
    assert reread.files[0].drops_found > 0 and reread.files[0].drops_stored == 0
