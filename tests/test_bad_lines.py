"""A bad line is skipped and named, never the end of the file: every text format, every place in a block.

The defect this guards against: a line with the wrong number of fields that also held a byte
that is not valid UTF-8 made pyarrow's CSV parser fail to hand the line to our handler (it
decodes the text first), and then give up on the whole input: the file was lost with 0 rows
read, on every rerun.  Now the line is reported (file, line number, its text decoded as values
are: UTF-8, else Windows-1252, with U+FFFD for the bytes Windows-1252 has no character for) and
every other line is read.

Every data line of a test file has the same length, so a block size of ``PER_BLOCK`` lines
makes blocks of exactly that many lines (checked), and a bad line can be put at the start, in
the middle or at the end of a block.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

import pipeline.readers.textfile as textfile
from pipeline import Warehouse, ingest, parse_config
from pipeline.issues import IssueLog
from pipeline.readers.logparser_csv import read_csv_export
from pipeline.readers.logparser_w3c import read_w3c
from pipeline.readers.pfirewall import read_pfirewall
from pipeline.readers.textfile import read_blocks, sniff_layout

#: pyarrow's failure showed as "Exception ignored in ... UnicodeDecodeError" first: that must not happen either.
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
INGEST = importlib.import_module("pipeline.ingest")  # the module (pipeline.ingest is the function)
LINES = 32  # data lines in a test file
PER_BLOCK = 8  # lines in each read block
WIDTH = 120  # bytes of every data line, line end excluded
#: What each encoding's bad line holds that is not UTF-8, and how it is shown: in a UTF-8 file
#: 0xFF reads as its Windows-1252 letter and 0x81 (no Windows-1252 character) as U+FFFD; in a
#: Windows-1252 file every byte is a character.
BAD_BYTES = {"utf-8": (b"\xff\x81", "\u00ff\ufffd"), "cp1252": (b"\xe9\xe8", "\u00e9\u00e8")}


def fill(head: bytes, tail: bytes = b"", filler: bytes = b"x") -> bytes:
    """``head + filler... + tail``, WIDTH bytes long (the filler lengthens a field, adds none)."""
    gap = WIDTH - len(head) - len(tail)
    assert gap >= 0, head
    return head + filler * gap + tail


@dataclass(frozen=True)
class Format:
    """How to write a file of one format, and what reading it must give."""

    name: str
    header: list[bytes]
    good: Callable[[int, str], bytes]  # data line i (0-based), written in an encoding
    bad: Callable[[int, bytes], bytes]  # line i with the wrong number of fields and the given non-UTF-8 bytes
    bad_text: Callable[[int, str], str]  # how that line is shown, decoded by hand
    reason: str
    read: Callable[..., object]
    key: Callable[[dict], str]  # what identifies a row's line among the good lines (from good())
    good_key: Callable[[int, str], str]

    def write(self, path: Path, bad_at: set[int], *, crlf: bool, encoding: str = "utf-8") -> None:
        eol = b"\r\n" if crlf else b"\n"
        raw = BAD_BYTES[encoding][0]
        data = [self.bad(i, raw) if i in bad_at else self.good(i, encoding) for i in range(LINES)]
        assert {len(line) for line in data} == {WIDTH}
        path.write_bytes(b"".join(line + eol for line in [*self.header, *data]))

    def line_number(self, i: int) -> int:
        """The physical line number of data line i (header lines count)."""
        return len(self.header) + 1 + i


# --- pfirewall.log: 17 fields; the bad line has 7 -------------------------------------------


def fw_good(i: int, encoding: str) -> bytes:
    head = b"2026-10-24 09:%02d:%02d DROP TCP 192.0.2.220 10.1.0.20 %d 3389 48 S 1 0 65535 - - " % (
        i // 60, i % 60, 40000 + i)
    return fill(head + "caf\u00e9".encode(encoding), b" RECEIVE", b"_")  # info: a non-ASCII value


FIREWALL = Format(
    name="pfirewall",
    header=[b"#Version: 1.5", b"#Software: Microsoft Windows Firewall", b"#Time Format: Local",
            b"#Fields: date time action protocol src-ip dst-ip src-port dst-port size tcpflags tcpsyn tcpack "
            b"tcpwin icmptype icmpcode info path"],
    good=fw_good,
    # 2026-10-24 | 09:00:ss | DROP | TCP | 192.0.2.<bad> | 10.1.0.20 | xxx...: 7 fields
    bad=lambda i, raw: fill(b"2026-10-24 09:00:%02d DROP TCP 192.0.2.%s 10.1.0.20 " % (i % 60, raw)),
    bad_text=lambda i, shown: f"2026-10-24 09:00:{i % 60:02d} DROP TCP 192.0.2.{shown} 10.1.0.20 " + "x" * 70,
    reason="expected 17 fields, found 7",
    read=read_pfirewall,
    key=lambda row: row["_text"],
    good_key=lambda i, encoding: fw_good(i, encoding).decode(encoding),
)

# --- Log Parser W3C: the bad line holds the byte pyarrow splits W3C lines on ------------------


def w3c_good(i: int, encoding: str) -> bytes:
    head = b"%06d 2026-10-26 11:%02d:%02d 4290 IPSEC 203.0.113.8|198.51.100.10|6|%d|3389 WEB01 " % (
        100000 + i, i // 60, i % 60, 4000 + i)
    return fill(head + "Caf\u00e9 ".encode(encoding))


W3C = Format(
    name="logparser-w3c",
    # The W3C reader reads its directives in the blocks too: a header of one block's worth of lines
    # keeps the data lines aligned on blocks (directives are padded with spaces, which they ignore).
    header=[fill(line, filler=b" ") for line in (
        b"#Software: Microsoft Log Parser", b"#Version: 1.0", b"#Date: 2026-10-26 11:00:00",
        b"#Remark: test file", b"#Remark: every line has the same length", b"#Remark: so that",
        b"#Remark: blocks align",
        b"#Fields: RecordNumber TimeGenerated EventID SourceName Strings ComputerName Message")],
    good=w3c_good,
    # W3C lines are read as one field split by 0x1F (it never occurs in an export): two fields here
    bad=lambda i, raw: fill(b"%06d 2026-10-26 11:00:%02d 4290 IPSEC a\x1fb%s " % (100000 + i, i % 60, raw)),
    bad_text=lambda i, shown: f"{100000 + i:06d} 2026-10-26 11:00:{i % 60:02d} 4290 IPSEC a\x1fb{shown} "
    + "x" * 76,
    reason="expected 1 fields, found 2",
    read=read_w3c,
    key=lambda row: row["RecordNumber"],
    good_key=lambda i, encoding: f"{100000 + i:06d}",
)

# --- Log Parser CSV: 6 fields; the bad line has 7 -------------------------------------------


def csv_good(i: int, encoding: str) -> bytes:
    head = b'%06d,2026-10-26 11:%02d:%02d,4290,IPSEC,"203.0.113.8|198.51.100.10|6|%d|3389",WEB01,"Caf' % (
        100000 + i, i // 60, i % 60, 4000 + i)
    return fill(head + "\u00e9, ".encode(encoding), b'"')


CSV = Format(
    name="logparser-csv",
    header=[b"RecordNumber,TimeGenerated,EventID,SourceName,Strings,ComputerName,Message"],
    good=csv_good,
    bad=lambda i, raw: fill(b"%06d,2026-10-26 11:00:%02d,4290,IPSEC,%s,x,WEB01," % (100000 + i, i % 60, raw)),
    bad_text=lambda i, shown: f"{100000 + i:06d},2026-10-26 11:00:{i % 60:02d},4290,IPSEC,{shown},x,WEB01,"
    + "x" * 71,
    reason="expected 7 fields, found 8",
    read=read_csv_export,
    key=lambda row: row["RecordNumber"],
    good_key=lambda i, encoding: f"{100000 + i:06d}",
)

FORMATS = [FIREWALL, W3C, CSV]
#: Where the bad lines go: blocks are data lines 0-7, 8-15, 16-23, 24-31.
PLACES = {
    "start of a block": {8},
    "middle of a block": {12},
    "end of a block": {15},
    "first line of the file": {0},
    "last line of the file": {31},
    "several, two of them adjacent, across blocks": {0, 7, 8, 12, 20, 21, 31},
}


def read(fmt: Format, path: Path, block_size: int) -> tuple[list[dict], IssueLog]:
    issues = IssueLog(str(path))
    rows: list[dict] = []
    for batch in fmt.read(path, issues, block_size=block_size):
        rows.extend(batch.table.to_pylist())
    return rows, issues


def block_size_for(fmt: Format, path: Path, *, crlf: bool) -> int:
    """Bytes of PER_BLOCK data lines; checks that the file is then read in blocks of exactly PER_BLOCK lines."""
    size = PER_BLOCK * (WIDTH + (2 if crlf else 1))
    layout = sniff_layout(path)
    # The W3C reader reads from the start of the file; the others read their header first.
    start = 0 if fmt is W3C else sum(len(h) + (2 if crlf else 1) for h in fmt.header)
    blocks = [bytes(b.data) for b in read_blocks(path, layout, start=start, stop=layout.size, block_size=size)]
    in_blocks = LINES + (len(fmt.header) if fmt is W3C else 0)
    assert [b.count(b"\n") for b in blocks] == [PER_BLOCK] * (in_blocks // PER_BLOCK)
    return size


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
@pytest.mark.parametrize("crlf", [False, True], ids=["LF", "CRLF"])
@pytest.mark.parametrize("place", list(PLACES))
@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
def test_bad_lines_are_named_and_every_other_line_is_read(tmp_path, fmt, place, crlf, encoding):
    bad_at = PLACES[place]
    path = tmp_path / "export.log"
    fmt.write(path, bad_at, crlf=crlf, encoding=encoding)
    rows, issues = read(fmt, path, block_size_for(fmt, path, crlf=crlf))

    good = [i for i in range(LINES) if i not in bad_at]
    assert [row["_line"] for row in rows] == [fmt.line_number(i) for i in good]
    assert [fmt.key(row) for row in rows] == [fmt.good_key(i, encoding) for i in good]
    shown = BAD_BYTES[encoding][1]
    assert [(i.location, i.kind, i.reason, i.text) for i in issues.details] == [
        (f"line {fmt.line_number(i)}", "malformed", fmt.reason, fmt.bad_text(i, shown)) for i in sorted(bad_at)
    ]
    assert issues.counts["malformed"] == len(bad_at) == issues.skipped


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
def test_values_of_windows_1252_rows_beside_a_bad_line_are_decoded_as_windows_1252(tmp_path, fmt):
    path = tmp_path / "ansi.log"
    fmt.write(path, {3}, crlf=True, encoding="cp1252")
    rows, issues = read(fmt, path, block_size_for(fmt, path, crlf=True))
    text = rows[0].get("_text") or rows[0].get("Message")
    assert "caf\u00e9" in text.lower() and "\ufffd" not in text
    assert len(rows) == LINES - 1 and issues.counts["malformed"] == 1


def test_a_bad_line_in_a_parse_piece_of_a_larger_block_is_named(tmp_path, monkeypatch):
    """pyarrow parses a block in pieces: the bad line may fall in any of them."""
    monkeypatch.setattr(textfile, "PARSE_PIECE", 3 * (WIDTH + 1))
    path = tmp_path / "pieces.log"
    FIREWALL.write(path, {4, 13, 30}, crlf=False)
    rows, issues = read(FIREWALL, path, 1 << 20)  # one block, eleven pieces
    assert [row["_line"] for row in rows] == [FIREWALL.line_number(i) for i in range(LINES) if i not in {4, 13, 30}]
    assert [i.location for i in issues.details] == ["line 9", "line 18", "line 35"]


# --- end to end: ingest() stores the other lines and counts the bad one -----------------------

CONFIG = """
[hosts.WEB01]
timezone = "Europe/Berlin"
addresses = ["198.51.100.10", "10.1.0.20"]
"""


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
def test_ingest_stores_every_other_line_and_names_the_bad_ones_on_every_run(tmp_path, monkeypatch, fmt, encoding):
    # Small read blocks everywhere, so that the bad lines fall in the middle of a multi-block file.
    monkeypatch.setattr(textfile, "BLOCK_SIZE", PER_BLOCK * (WIDTH + 2))
    monkeypatch.setattr(INGEST, "W3C_BLOCK_SIZE", PER_BLOCK * (WIDTH + 2))
    path = tmp_path / "exports" / "export.log"
    path.parent.mkdir()
    bad_at = {5, 12, 19}
    fmt.write(path, bad_at, crlf=True, encoding=encoding)
    config = parse_config(CONFIG, tmp_path / "ipsec-drops.toml")
    wh = tmp_path / "W"

    report = ingest([path], Warehouse(wh), config, host="WEB01")
    result = report.files[0]
    assert (result.format, result.status) == (fmt.name, "ingested")
    assert result.rows_read == LINES - len(bad_at)
    assert result.drops_stored == LINES - len(bad_at)
    assert result.skipped == len(bad_at) and report.exit_code == 1
    assert [(i.file, i.location, i.kind, i.text) for i in report.issues] == [
        (str(path), f"line {fmt.line_number(i)}", "malformed", fmt.bad_text(i, BAD_BYTES[encoding][1]))
        for i in sorted(bad_at)]
    stored = duckdb.sql(f"select source_record, remote_ip, dst_port, message "
                        f"from read_parquet('{wh}/drops/**/*.parquet') order by source_record").fetchall()
    good = [i for i in range(LINES) if i not in bad_at]
    if fmt is FIREWALL:  # the line number is the record; inbound from 192.0.2.220 to port 3389
        assert stored == [(fmt.line_number(i), "192.0.2.220", 3389, None) for i in good]
    else:  # the RecordNumber; 4290 is inbound from 203.0.113.8; the message decoded from either encoding
        assert [row[:3] for row in stored] == [(100000 + i, "203.0.113.8", 3389) for i in good]
        assert all(row[3].startswith("Caf\u00e9") for row in stored)

    again = ingest([path], Warehouse(wh), config, host="WEB01")
    assert again.files[0].status == "unchanged" and again.total("drops_stored") == 0
