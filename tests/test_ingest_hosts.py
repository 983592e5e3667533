"""One host rule for every format: --host > the inbox owner > the file's own name (through the config)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from pipeline import Warehouse, ingest, parse_config
from pipeline.synthetic.evtx import EvtxWriter, ipsec_system_event

CONFIG = """
[hosts.DB01]
timezone = "UTC"
addresses = ["10.1.0.20"]
inbox = ["inbox/db01/*"]
[hosts.WEB01]
timezone = "UTC"
addresses = ["198.51.100.10"]
"""
W3C_HEADER = ("#Software: Microsoft Log Parser\r\n"
              "#Fields: EventLog RecordNumber TimeGenerated EventID SourceName Strings ComputerName\r\n")
PACKET = ["\\Driver\\IPSEC", "192.0.2.7", "10.1.0.20", "6", "40000", "22"]


def w3c(path: Path, computer: str, records: range) -> None:
    lines = "".join(f"System {r} 2026-06-01 10:00:{r:02d} 4290 IPSec {'|'.join(PACKET)} {computer}\r\n"
                    for r in records)
    path.write_text(W3C_HEADER + lines, newline="")


def evtx(path: Path, computer: str, records: range) -> None:
    with EvtxWriter(path) as out:
        for r in records:
            out.write(ipsec_system_event(r, datetime(2026, 6, 1, 10, 0, r), computer, 4290, PACKET))


def hosts(wh: Warehouse) -> list[tuple]:
    return duckdb.sql(f"select source_format, host, count(*) from read_parquet('{wh.drops_glob()}') "
                      "group by all order by all").fetchall()


@pytest.fixture
def site(tmp_path: Path):
    (tmp_path / "inbox" / "db01").mkdir(parents=True)
    (tmp_path / "loose").mkdir()
    return tmp_path, parse_config(CONFIG, tmp_path / "ipsec-drops.toml")


def test_the_inbox_owner_wins_for_every_format_and_a_disagreeing_name_is_warned(site) -> None:
    root, config = site
    inbox = root / "inbox" / "db01"
    w3c(inbox / "system.log", "COLLECTOR7", range(1, 4))
    evtx(inbox / "system.evtx", "COLLECTOR7.example.net", range(11, 14))
    wh = Warehouse(root / "W")
    report = ingest([inbox], wh, config)
    assert hosts(wh) == [("evtx", "DB01", 3), ("logparser-w3c", "DB01", 3)]
    assert {f.host for f in report.files} == {"DB01"}
    warnings = sorted(str(i) for i in report.issues if i.kind == "warning")
    assert len(warnings) == 2
    assert "names its host 'COLLECTOR7' (ComputerName) but the file lies in the inbox of config host DB01" \
        in warnings[1] and "(3 rows)" in warnings[1]
    assert "'COLLECTOR7.example.net' (Computer)" in warnings[0] and "stored under DB01" in warnings[0]
    assert report.exit_code == 0  # a warning, not a skip


def test_an_event_exported_both_ways_from_an_inbox_is_stored_once(site) -> None:
    root, config = site
    inbox = root / "inbox" / "db01"
    # The W3C export names the host by its FQDN, the EVTX by another alias: both are DB01's, stored once.
    w3c(inbox / "system.log", "db01.example.net", range(1, 6))
    evtx(inbox / "system.evtx", "SQLNODE-A", range(1, 6))
    wh = Warehouse(root / "W")
    report = ingest([inbox], wh, config)
    assert report.total("drops_stored") == 5 and report.total("duplicates") == 5
    assert hosts(wh) == [("evtx", "DB01", 5)] or hosts(wh) == [("logparser-w3c", "DB01", 5)]
    # db01.example.net is DB01 through the config: no warning for it; SQLNODE-A disagrees.
    (warning,) = [i for i in report.issues if i.kind == "warning"]
    assert "'SQLNODE-A'" in warning.reason


def test_host_option_beats_the_inbox_owner(site) -> None:
    root, config = site
    w3c(root / "inbox" / "db01" / "system.log", "DB01", range(1, 3))
    wh = Warehouse(root / "W")
    report = ingest([root / "inbox"], wh, config, host="web01")
    assert hosts(wh) == [("logparser-w3c", "WEB01", 2)]
    (warning,) = [i for i in report.issues if i.kind == "warning"]
    assert "'DB01' (ComputerName) but --host web01 was given" in warning.reason


def test_outside_any_inbox_the_file_names_its_host_through_the_config(site) -> None:
    root, config = site
    w3c(root / "loose" / "system.log", "web01.example.net", range(1, 3))
    evtx(root / "loose" / "system.evtx", "WEB01.example.net", range(21, 23))
    wh = Warehouse(root / "W")
    report = ingest([root / "loose"], wh, config)
    assert hosts(wh) == [("evtx", "WEB01", 2), ("logparser-w3c", "WEB01", 2)]
    assert not [i for i in report.issues if i.kind == "warning"]
