"""Bad input is normal input: hand-written hostile files, each read without losing the rest.

Each test names the input and what must happen; the expected rows and line numbers are
counted by hand from the bytes written.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from pipeline import Warehouse, ingest, parse_config
from pipeline.issues import IssueLog
from pipeline.readers.logparser_csv import read_csv_export
from pipeline.readers.logparser_w3c import read_w3c
from pipeline.readers.pfirewall import read_pfirewall
from pipeline.readers.textfile import _Dialect, parse_lines, read_rows, sniff_layout

FW_HEADER = (b"#Version: 1.5\n#Software: Microsoft Windows Firewall\n#Time Format: Local\n"
             b"#Fields: date time action protocol src-ip dst-ip src-port dst-port size tcpflags tcpsyn tcpack "
             b"tcpwin icmptype icmpcode info path\n")  # 4 lines: data starts on line 5
W3C_HEADER = b"#Fields: RecordNumber TimeGenerated EventID SourceName Strings ComputerName Message\n"
CSV_HEADER = b"RecordNumber,TimeGenerated,EventID,SourceName,Strings,ComputerName,Message\n"


def fw(second: int, info: bytes = b"-", path: bytes = b"RECEIVE") -> bytes:
    return (b"2026-06-01 10:00:%02d DROP TCP 192.0.2.7 198.51.100.10 4000 22 48 S 1 0 65535 - - %s %s\n"
            % (second, info, path))


def w3c(record: int, message: bytes = b"dropped") -> bytes:
    return b"%d 2026-06-01 10:00:00 4290 IPSEC 192.0.2.7|198.51.100.10|6|4000|22 WEB01 %s\n" % (record, message)


def csv_row(record: int, message: bytes = b"dropped") -> bytes:
    return b'%d,2026-06-01 10:00:00,4290,IPSEC,192.0.2.7|198.51.100.10|6|4000|22,WEB01,"%s"\n' % (record, message)


READERS = {"pfirewall": read_pfirewall, "w3c": read_w3c, "csv": read_csv_export}


def read(kind: str, path: Path, **kwargs) -> tuple[list[dict], IssueLog]:
    issues = IssueLog(str(path))
    rows = [row for batch in READERS[kind](path, issues, **kwargs) for row in batch.table.to_pylist()]
    return rows, issues


def written(tmp_path: Path, data: bytes, name: str = "export.log") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- a NUL byte --------------------------------------------------------------------------------


def test_nul_bytes_stay_in_their_values_and_lines_keep_their_numbers(tmp_path):
    rows, issues = read("pfirewall", written(tmp_path, FW_HEADER + fw(1, b"a\x00b") + fw(2)))
    assert [(r["_line"], r["_text"].split(" ")[15]) for r in rows] == [(5, "a\x00b"), (6, "-")]
    assert issues.details == []
    rows, issues = read("w3c", written(tmp_path, W3C_HEADER + w3c(1, b"nul \x00 here") + w3c(2)))
    assert [(r["_line"], r["Message"]) for r in rows] == [(2, "nul \x00 here"), (3, "dropped")]
    rows, issues = read("csv", written(tmp_path, CSV_HEADER + csv_row(1, b"\x00") + csv_row(2), "e.csv"))
    assert [(r["_line"], r["Message"]) for r in rows] == [(2, "\x00"), (3, "dropped")]


def test_a_nul_byte_in_an_address_makes_that_drop_malformed_only(tmp_path):
    path = written(tmp_path, FW_HEADER + fw(1).replace(b"192.0.2.7", b"192.0.2.\x007") + fw(2))
    report = ingest([path], Warehouse(tmp_path / "W"), parse_config('[hosts.H]\ntimezone = "UTC"\n',
                                                                      tmp_path / "c.toml"), host="H")
    assert (report.files[0].drops_stored, report.files[0].skipped) == (1, 1)
    assert [(i.location, i.reason) for i in report.issues] == [("line 5", "src-ip is not an IP address")]


# --- a 1 MB line -------------------------------------------------------------------------------


def test_a_1_mb_line_of_junk_with_a_bad_byte_is_named_and_clipped(tmp_path):
    """Longer than pyarrow's parse piece (1 MiB), wrong number of fields and not UTF-8: all three at once."""
    junk = b"\xff" + b"x" * (1 << 20)
    rows, issues = read("pfirewall", written(tmp_path, FW_HEADER + fw(1) + junk + b"\n" + fw(3)))
    assert [r["_line"] for r in rows] == [5, 7]
    [issue] = issues.details
    assert (issue.location, issue.reason) == ("line 6", "expected 17 fields, found 1")
    assert issue.text == "\u00ff" + "x" * 399 + "\u2026"  # the first 400 characters, then an ellipsis


def test_a_drop_with_a_1_mb_message_is_read_whole(tmp_path):
    message = b"m" * (1 << 20)
    rows, issues = read("w3c", written(tmp_path, W3C_HEADER + w3c(1) + w3c(2, message) + w3c(3)))
    assert [(r["_line"], len(r["Message"])) for r in rows] == [(2, 7), (3, 1 << 20), (4, 7)]
    assert issues.details == []


# --- a carriage return inside a line ------------------------------------------------------------


def test_a_lone_carriage_return_is_part_of_the_line_not_a_line_end(tmp_path):
    """pyarrow ends a row at a lone CR: the rest of the line became a row of its own and every later
    line was numbered one too high.  A line ends at LF (CR LF or LF)."""
    rows, issues = read("w3c", written(tmp_path, W3C_HEADER + w3c(1, b"one\rtwo") + w3c(2)))
    assert [(r["_line"], r["Message"]) for r in rows] == [(2, "one\rtwo"), (3, "dropped")]
    assert issues.details == []
    rows, issues = read("pfirewall", written(tmp_path, FW_HEADER + fw(1, b"a\rb") + fw(2)))
    assert [(r["_line"], r["_text"].split(" ")[15]) for r in rows] == [(5, "a\rb"), (6, "-")]
    assert issues.details == []
    rows, issues = read("csv", written(tmp_path, CSV_HEADER + csv_row(1, b"a\rb") + csv_row(2), "e.csv"))
    assert [(r["_line"], r["Message"]) for r in rows] == [(2, "a\rb"), (3, "dropped")]
    assert issues.details == []


def test_crlf_line_ends_beside_a_lone_carriage_return_are_still_line_ends(tmp_path):
    data = (W3C_HEADER + w3c(1, b"x\ry") + w3c(2)).replace(b"\n", b"\r\n")
    rows, issues = read("w3c", written(tmp_path, data))
    assert [(r["_line"], r["Message"]) for r in rows] == [(2, "x\ry"), (3, "dropped")]
    assert issues.details == []


def test_a_lone_carriage_return_in_binary_junk_holding_every_ascii_byte_makes_its_line_malformed():
    """With no free byte to stand in for the CR, the line cannot be kept whole: it is named instead."""
    junk = bytes(b for b in range(1, 128) if b not in (0x0A, 0x0D, 0x20))
    data = b"a b\n" + junk + b"\r" + junk + b"\nc d\n"
    table, rejects = parse_lines(data, _Dialect(("x", "y"), " ", False))
    assert table.column("x").to_pylist() == [b"a", b"c"]
    assert [(number, reason) for number, reason, _ in rejects] == [(2, "a carriage return inside the line")]


# --- a quote left open (CSV) --------------------------------------------------------------------


def test_a_quote_left_open_does_not_swallow_the_next_lines(tmp_path):
    """pyarrow reads a quoted value on past the line end even with newlines_in_values off."""
    bad = b'3,2026-06-01 10:00:00,4290,IPSEC,"never closed,WEB01,x\n'
    path = written(tmp_path, CSV_HEADER + csv_row(1) + bad + csv_row(4) + csv_row(5), "e.csv")
    rows, issues = read("csv", path)
    assert [(r["_line"], r["RecordNumber"]) for r in rows] == [(2, "1"), (4, "4"), (5, "5")]
    assert [(i.location, i.reason, i.text) for i in issues.details] == [
        ("line 3", "a quoted value is not closed on its line", bad.decode().rstrip("\n"))]


@pytest.mark.parametrize(("line", "closed"), [
    (b'a,"b""c",d', True),  # "" is a quote inside
    (b'a,"b"x,d', True),  # after the closing quote the value runs on unquoted
    (b'a,b"c,d', True),  # a quote inside an unquoted value is a character
    (b'a,"b""', False),  # the last quote is half of a ""
    (b'a,"b', False),
    (b'"', False),
])
def test_which_lines_leave_a_quote_open(line, closed):
    table, rejects = parse_lines(line + b"\nx,y,z\n", _Dialect(("a", "b", "c"), ",", True))
    if closed:
        assert rejects == [] and table.num_rows == 2
    else:
        assert [reason for _, reason, _ in rejects] == ["a quoted value is not closed on its line"]
        assert table.column("a").to_pylist() == [b"x"]


# --- a character cut by a block boundary -------------------------------------------------------

TEXT = "1 caf\u00e9\n2 \u20ac\u20ac\u20ac\n3 \U0001f525x\n4 na\u00efve-and-long-enough-to-cross\n"


def values_by_block_size(path: Path, block_size: int) -> list[tuple[int, bytes]]:
    issues = IssueLog(str(path))
    rows = []
    for batch in read_rows(path, sniff_layout(path), start=0, first_line=1, column_names=["n", "v"], delimiter=" ",
                           quoted=False, issues=issues, block_size=block_size):
        rows += list(zip(batch.lines.tolist(), batch.table.column("v").to_pylist(), strict=True))
    assert issues.details == []
    return rows


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_multibyte_characters_cut_by_any_block_boundary_are_read_whole(tmp_path, encoding):
    """Every block size from 1 byte up: reads end inside 2-, 3- and 4-byte characters (UTF-16: surrogates)."""
    path = written(tmp_path, TEXT.encode(encoding))  # "utf-16" writes a BOM
    expected = [(i + 1, line.split(" ", 1)[1].encode("utf-8")) for i, line in enumerate(TEXT.splitlines())]
    for block_size in range(1, len(TEXT.encode(encoding)) + 2):
        assert values_by_block_size(path, block_size) == expected, block_size


def test_a_last_line_cut_inside_a_character_is_read_leniently_and_the_rest_whole(tmp_path):
    """A file still being written may stop mid-character: the complete lines are read as they are,
    the cut one as Windows-1252 (its bytes are not UTF-8), and nothing fails."""
    data = W3C_HEADER + w3c(1, "caf\u00e9".encode()) + w3c(2, "caf\u00e9".encode())[:-2]  # ends in 0xC3
    path = written(tmp_path, data)
    assert sniff_layout(path).has_partial_tail
    rows, issues = read("w3c", path)
    assert [(r["_line"], r["Message"]) for r in rows] == [(2, "caf\u00e9"), (3, "caf\u00c3")]
    assert issues.details == []


# --- a header and nothing else ------------------------------------------------------------------


@pytest.mark.parametrize("final_newline", [True, False])
@pytest.mark.parametrize("header", [FW_HEADER, W3C_HEADER, CSV_HEADER], ids=["pfirewall", "w3c", "csv"])
def test_a_header_only_file_is_ingested_with_nothing_read_and_nothing_skipped(tmp_path, header, final_newline):
    path = written(tmp_path, header if final_newline else header.rstrip(b"\n"))
    config = parse_config('[hosts.H]\ntimezone = "UTC"\n', tmp_path / "c.toml")
    report = ingest([path], Warehouse(tmp_path / "W"), config, host="H")
    result = report.files[0]
    assert (result.status, result.rows_read, result.drops_found, result.skipped) == ("ingested", 0, 0, 0)
    assert report.exit_code == 0
    kinds = [i.kind for i in report.issues]
    assert kinds == ([] if final_newline else ["held-back"])  # the last line has no line end yet


# --- #Fields: again, with other fields ----------------------------------------------------------


def test_pfirewall_fields_directive_with_other_fields_applies_to_the_lines_after_it(tmp_path):
    """An XP ICF log (16 fields, no path) with a newer log (18 fields, path and pid) appended to it."""
    icf = FW_HEADER.replace(b" path\n", b"\n")
    newer = b"#Fields: date time action protocol src-ip dst-ip src-port dst-port size tcpflags tcpsyn tcpack " \
            b"tcpwin icmptype icmpcode info path pid\n"
    old_drop = fw(1).replace(b" RECEIVE\n", b"\n")
    new_drop = fw(3, path=b"SEND 4")
    data = icf + old_drop + b"\n" + b"#Version: 1.5\n" + newer + new_drop + old_drop
    rows, issues = read("pfirewall", written(tmp_path, data))
    # lines 5 (old), 6 blank, 7 #Version, 8 #Fields, 9 new, 10 old (now one field short)
    assert [(r["_line"], r["time"], r.get("path"), r.get("pid")) for r in rows] == [
        (5, "10:00:01", None, None), (9, "10:00:03", "SEND", "4")]
    assert [(i.location, i.kind) for i in issues.details] == [("line 8", "warning"), ("line 10", "malformed")]
    assert issues.details[1].reason == "expected 18 fields, found 16"


def test_pfirewall_fields_directive_in_the_middle_of_a_block_and_across_blocks(tmp_path):
    newer = FW_HEADER.split(b"\n")[3] + b" pid\n"
    data = FW_HEADER + b"".join(fw(s) for s in range(10)) + newer + b"".join(fw(s, path=b"RECEIVE 8")
                                                                            for s in range(10, 20))
    for block_size in (150, 400, 1 << 20):
        rows, issues = read("pfirewall", written(tmp_path, data), block_size=block_size)
        assert [r["_line"] for r in rows] == [*range(5, 15), *range(16, 26)], block_size
        assert [r.get("pid") for r in rows] == [None] * 10 + ["8"] * 10, block_size
        assert [(i.location, i.kind) for i in issues.details] == [("line 15", "warning")], block_size


def test_w3c_fields_directive_with_another_count_applies_to_the_lines_after_it(tmp_path):
    data = W3C_HEADER + w3c(1) + b"#Fields: TimeGenerated EventID SourceName\n" + w3c(3) \
        + b"2026-06-01 10:00:04 4292 IPSEC\n"
    rows, issues = read("w3c", written(tmp_path, data))
    assert [(r["_line"], r.get("RecordNumber"), r["EventID"]) for r in rows] == [(2, "1", "4290"), (5, None, "4292")]
    assert [(i.location, i.kind) for i in issues.details] == [("line 4", "malformed")]  # a line of the old fields


def test_pyarrow_tables_of_both_field_lists_come_out_in_order(tmp_path):
    """Batches of different columns are kept apart, so the extractor sees each with its own fields."""
    newer = FW_HEADER.split(b"\n")[3] + b" pid\n"
    issues = IssueLog("x")
    batches = list(read_pfirewall(written(tmp_path, FW_HEADER + fw(1) + newer + fw(2, path=b"SEND 4")), issues))
    assert [b.table.column_names for b in batches if b.table.num_rows] == [
        ["date", "time", "action", "protocol", "src-ip", "dst-ip", "src-port", "dst-port", "icmptype", "icmpcode",
         "path", "_text", "_line"],
        ["date", "time", "action", "protocol", "src-ip", "dst-ip", "src-port", "dst-port", "icmptype", "icmpcode",
         "path", "pid", "_text", "_line"]]
    assert all(isinstance(b.table, pa.Table) for b in batches)


def test_a_lone_carriage_return_and_a_quote_left_open_in_one_block_do_not_cancel_out():
    """One adds a row and the other takes one away: the row count alone would look right.

    Lines: 1 ``a<CR>b`` (pyarrow: two rows), 2 ``"y`` (open: pyarrow reads on into line 3),
    3 ``z"`` (a quote inside an unquoted value), 4 ``e``: four rows either way.
    """
    table, rejects = parse_lines(b'a\rb\n"y\nz"\ne\n', _Dialect(("v",), ",", True))
    assert table.column("v").to_pylist() == [b"a\rb", b'z"', b"e"]
    assert [(number, reason) for number, reason, _ in rejects] == [(2, "a quoted value is not closed on its line")]
