"""A file that grew is read on from the right line, whatever its last lines were.

A reader's state records the last line it consumed, and the next run numbers the new lines
from the one after it.  That number used to be the last line that became a *row*: a file
ending in a rejected line (wrong number of fields), or holding only its header, was
continued one or more lines too early, and every later line was stored under the wrong
line number (the record of a pfirewall drop, and of an export without RecordNumber).
Expected line numbers are counted by hand from the files below.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipeline import Warehouse, ingest, parse_config

CONFIG = """
[hosts.WEB01]
timezone = "Europe/Berlin"
addresses = ["198.51.100.10"]
"""
FW_HEADER = (b"#Version: 1.5\n#Software: Microsoft Windows Firewall\n#Time Format: Local\n"
             b"#Fields: date time action protocol src-ip dst-ip src-port dst-port size tcpflags tcpsyn tcpack "
             b"tcpwin icmptype icmpcode info path\n")
FORMATS = {
    # format: (header, a drop line at second s, a line with the wrong number of fields)
    "pfirewall": (FW_HEADER,
                  lambda s: b"2026-06-01 10:00:%02d DROP TCP 192.0.2.7 198.51.100.10 4000 22 48 S 1 0 65535 - - - "
                            b"RECEIVE\n" % s,
                  b"garbage line\n"),
    "logparser-w3c": (b"#Fields: TimeGenerated EventID SourceName Strings ComputerName\n",
                      lambda s: b"2026-06-01 10:00:%02d 4290 IPSEC 192.0.2.7|198.51.100.10|6|4000|22 WEB01\n" % s,
                      b"x\x1fy\n"),
    "logparser-csv": (b"TimeGenerated,EventID,SourceName,Strings,ComputerName\n",
                      lambda s: b"2026-06-01 10:00:%02d,4290,IPSEC,192.0.2.7|198.51.100.10|6|4000|22,WEB01\n" % s,
                      b"a,b\n"),
}


def run(path: Path, tmp_path: Path):
    config = parse_config(CONFIG, tmp_path / "ipsec-drops.toml")
    return ingest([path], Warehouse(tmp_path / "W"), config, host="WEB01")


def records(tmp_path: Path) -> list[tuple]:
    """(line number, second of the event time) of every stored drop."""
    return duckdb.sql(f"select source_record, second(event_time) from read_parquet('{tmp_path}/W/drops/**/*.parquet') "
                      "order by 1").fetchall()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_file_ending_in_a_rejected_line_goes_on_after_it(tmp_path, fmt):
    header, drop, bad = FORMATS[fmt]
    path = tmp_path / "export.log"
    path.write_bytes(header + drop(1) + bad)
    first = run(path, tmp_path)
    head = header.count(b"\n")  # the drop is line head+1, the bad line head+2
    assert [(i.location, i.kind) for i in first.issues] == [(f"line {head + 2}", "malformed")]

    with open(path, "ab") as fh:
        fh.write(drop(3))
    second = run(path, tmp_path)
    assert second.files[0].status == "resumed" and second.issues == []
    assert second.files[0].note.endswith(f"reading from line {head + 3}")
    assert records(tmp_path) == [(head + 1, 1), (head + 3, 3)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_header_only_file_that_grows_numbers_its_first_data_line_after_the_header(tmp_path, fmt):
    header, drop, _ = FORMATS[fmt]
    path = tmp_path / "export.log"
    path.write_bytes(header)
    first = run(path, tmp_path)
    result = first.files[0]
    assert (result.status, result.rows_read, result.drops_stored, first.exit_code) == ("ingested", 0, 0, 0)
    assert first.issues == []

    with open(path, "ab") as fh:
        fh.write(drop(5) + drop(6))
    second = run(path, tmp_path)
    assert second.files[0].status == "resumed" and second.issues == []
    head = header.count(b"\n")
    assert records(tmp_path) == [(head + 1, 5), (head + 2, 6)]
