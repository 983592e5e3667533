"""Log Parser ``-o:W3C`` reader: field splitting, NULLs, #Fields blocks, line numbers, encodings.

Expected values are read off the fixture files in tests/data by hand (line numbers
count every physical line of the file, directives and blank lines included).
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa

from pipeline.issues import IssueLog
from pipeline.readers import detect_format
from pipeline.readers.logparser_w3c import W3CState, read_w3c
from pipeline.readers.textfile import sniff_layout

DATA = Path(__file__).parent / "data"


def read_all(path: Path, **kwargs) -> tuple[list[dict], int, IssueLog, list[pa.Table]]:
    """All rows of all batches (as dicts), the other-event count, the issues and the raw tables."""
    issues = IssueLog(str(path))
    rows: list[dict] = []
    other = 0
    tables = []
    for batch in read_w3c(path, issues, **kwargs):
        rows.extend(batch.table.to_pylist())
        other += batch.other_events
        tables.append(batch.table)
    return rows, other, issues, tables


def malformed_locations(issues: IssueLog) -> list[str]:
    return [i.location for i in issues.details if i.kind == "malformed"]


# --- SELECT * in plain mode ------------------------------------------------------------------


def test_select_star_plain_splits_values_with_spaces():
    rows, other, issues, _ = read_all(DATA / "w3c-select-star-plain.log")
    # Lines 5 (Service Control Manager) and 7 (EventLog) are not IPSec: counted, not split.
    assert other == 2
    assert [r["_line"] for r in rows] == [6, 8, 9]
    assert issues.details == [] and sum(issues.counts.values()) == 0

    drop = rows[0]
    assert drop == {
        "EventLog": "System",
        "RecordNumber": "104234",
        "TimeGenerated": "2026-10-23 08:11:12",
        "TimeWritten": "2026-10-23 08:11:13",
        "EventID": "4290",
        "EventType": "4",
        "EventTypeName": "Information event",
        "EventCategory": "0",
        "EventCategoryName": "None",
        "SourceName": "IPSEC",
        "Strings": "\\Driver\\IPSEC|192.0.2.201|198.51.100.10|6|39185|139",
        "ComputerName": "WEB01",
        "SID": None,
        "Message": (
            "The IPSec driver has dropped the following inbound packet:  Source IP Address: 192.0.2.201  "
            "Destination IP Address: 198.51.100.10  Protocol: 6  Source Port:  39185  Destination Port: 139  "
            "Offset for IPSec status code:                  0x14  "
            "Offset for Offload status code:                0x10  "
            "Offset for Offload flags(0=no offload):        0x20  "
            "Offset for packet start:                       0x28 "
        ),
        "Data": "0000040001002C00",
        "_line": 6,
    }

    count = rows[1]
    assert count["EventTypeName"] == "Error event"
    assert count["SourceName"] == "IPSec"
    assert count["Strings"] == "\\Driver\\IPSEC|24|10.1.0.50"
    assert count["ComputerName"] == "WEB01"
    assert count["Message"] == (
        "Received 24 packet(s) in the clear from 10.1.0.50 which should have been secured.  "
        "This could be a temporary glitch; if it persists please stop and restart the IPSec Policy "
        "Agent service on this machine. "
    )
    assert count["Data"] is None

    block = rows[2]
    assert (block["EventID"], block["Strings"], block["SID"], block["Data"]) == ("4292", None, None, None)
    assert block["Message"] == "The IPSec driver has entered Block mode. "


def test_plain_columns_are_strings_and_line_is_int64():
    _, _, _, tables = read_all(DATA / "w3c-select-star-plain.log")
    table = pa.concat_tables(tables)
    assert table.schema.field("_line").type == pa.int64()
    assert table.schema.field("Message").type == pa.string()
    assert table.schema.field("RecordNumber").type == pa.string()


def test_detect_format_recognises_w3c_fixtures():
    for name in ("w3c-select-star-plain.log", "w3c-subset-fields.log", "w3c-dquotes.log", "w3c-encodedelim.log",
                 "w3c-two-fields-blocks.log"):
        assert detect_format(DATA / name) == "logparser-w3c", name


# --- field subsets and orders ----------------------------------------------------------------


def test_subset_without_sourcename_splits_every_row():
    rows, other, issues, _ = read_all(DATA / "w3c-subset-fields.log")
    assert other == 0  # without SourceName nothing can be set aside as "not IPSec"
    assert rows == [
        {"TimeGenerated": "2026-10-26 08:41:40", "EventID": "4291",
         "Strings": "198.51.100.10|198.18.0.53|UDP|3282|53", "_line": 5},
        {"TimeGenerated": "2026-10-26 08:45:07", "EventID": "7036", "Strings": "Windows Update|stopped", "_line": 6},
        {"TimeGenerated": "2026-10-26 08:47:00", "EventID": "4292", "Strings": None, "_line": 7},
    ]
    assert issues.details == []


def test_reordered_fields_follow_the_fields_directive():
    rows, other, issues, tables = read_all(DATA / "w3c-reordered-fields.log")
    assert tables[0].column_names == ["ComputerName", "EventID", "Strings", "RecordNumber", "TimeGenerated", "_line"]
    assert rows == [
        {"ComputerName": "WEB01", "EventID": "4290", "Strings": "203.0.113.40|198.51.100.10|TCP|44395|23",
         "RecordNumber": "104400", "TimeGenerated": "2026-10-26 08:45:07", "_line": 5},
        {"ComputerName": "DB01", "EventID": "4284", "Strings": "\\Driver\\IPSEC|3|10.1.0.50",
         "RecordNumber": "58200", "TimeGenerated": "2026-10-26 09:00:00", "_line": 6},
    ]
    assert other == 0 and issues.details == []


def test_field_names_are_matched_case_insensitively(tmp_path):
    path = tmp_path / "lower.log"
    path.write_text("#Fields: timegenerated eventid strings\n2026-10-26 08:41:40 4292 -\n", encoding="ascii")
    rows, _, _, _ = read_all(path)
    assert rows == [{"TimeGenerated": "2026-10-26 08:41:40", "EventID": "4292", "Strings": None, "_line": 2}]


# --- -oDQuotes:ON and -encodeDelim:ON --------------------------------------------------------


def test_dquotes_values_are_unquoted_and_inner_quotes_undoubled():
    rows, other, issues, _ = read_all(DATA / "w3c-dquotes.log")
    assert other == 1  # the quoted "Service Control Manager" row
    assert [r["_line"] for r in rows] == [6, 7]
    first = rows[0]
    assert first["EventLog"] == "System"
    assert first["EventTypeName"] == "Information event"
    assert first["EventCategoryName"] == "None"
    assert first["SourceName"] == "IPSEC"
    assert first["Strings"] == "192.0.2.238|198.51.100.10|TCP|62159|23"
    assert first["ComputerName"] == "WEB01"
    assert first["SID"] is None  # unquoted - is NULL
    assert first["Message"].startswith("The IPSec driver has dropped the following inbound packet:  Source IP")
    assert first["Message"].endswith("Destination Port: 23 ")
    second = rows[1]
    assert second["SourceName"] == "IPSec"
    assert second["Strings"] is None
    assert second["Message"] == (
        'The IPSec driver is starting in Block mode. To see them type "netsh ipsec dynamic set config /?" '
    )
    assert issues.details == []


def test_dquotes_spaces_dashes_and_quotes_inside_values(tmp_path):
    path = tmp_path / "dq.log"
    path.write_text(
        "#Fields: RecordNumber TimeGenerated EventID SourceName Strings ComputerName Message Data\n"
        '1 2026-10-25 01:30:00 4292 "IPSEC" "a b|c ""d""" "WEB01" "He said ""a"" - ""b""" -\n'
        '2 2026-10-25 01:30:00 4292 "IPSEC" "" "WEB01" "x ""y"" z" 00FF\n'
        '3 2026-10-25 01:30:00 4292 "IPSEC" - "WEB01" """" -\n',
        encoding="ascii",
    )
    rows, _, issues, _ = read_all(path)
    assert [(r["Strings"], r["Message"], r["Data"], r["_line"]) for r in rows] == [
        ('a b|c "d"', 'He said "a" - "b"', None, 2),
        ("", 'x "y" z', "00FF", 3),  # "" is an empty string, not NULL
        (None, '"', None, 4),
    ]
    assert issues.details == []


def test_encodedelim_plus_is_decoded_and_both_timestamp_forms_read():
    rows, other, issues, _ = read_all(DATA / "w3c-encodedelim.log")
    assert other == 1  # Service+Control+Manager on line 6
    assert [r["_line"] for r in rows] == [5, 7]
    out, count = rows
    # Timestamps written 2026-10-25+02:15:03 come out with a space.
    assert out["TimeGenerated"] == "2026-10-25 02:15:03"
    assert out["TimeWritten"] == "2026-10-25 02:15:04"
    assert out["EventTypeName"] == "Information event"
    assert out["SourceName"] == "IPSEC"
    assert out["Strings"] == "198.51.100.10|198.18.0.53|UDP|3282|53"
    assert out["ComputerName"] == "web01"
    assert out["Message"] == (
        "The IPSec driver has dropped the following outbound packet:  Source IP Address: 198.51.100.10  "
        "Destination IP Address: 198.18.0.53  Protocol: UDP  Source Port:  3282  Destination Port: 53 "
    )
    # Line 7: plain-space timestamps, + inside the other values, a NULL Message.
    assert count["TimeGenerated"] == "2026-10-25 02:20:00"
    assert count["TimeWritten"] == "2026-10-25 02:20:01"
    assert count["EventTypeName"] == "Error event"
    assert count["Strings"] == "-|7|10.1.0.50"  # a "-" inside a value is not NULL
    assert count["Message"] is None
    assert issues.details == []


def test_plain_line_with_a_plus_but_spaces_in_values_is_not_decoded(tmp_path):
    # 4 fields, 2 of them free text with spaces: the space count (5) is not fields-1 (+1 per
    # timestamp), so the "+" is a real character.
    path = tmp_path / "plus.log"
    path.write_text(
        "#Fields: TimeGenerated EventID SourceName Message\n"
        "2026-10-26 08:41:40 4292 IPSEC Block mode: C++ and a+b stay\n",
        encoding="ascii",
    )
    rows, _, _, _ = read_all(path)
    assert rows[0]["Message"] == "Block mode: C++ and a+b stay"


def test_dash_is_null_everywhere(tmp_path):
    path = tmp_path / "nulls.log"
    path.write_text(
        "#Fields: RecordNumber TimeGenerated EventID SourceName Strings ComputerName SID Message Data\n"
        "7 2026-10-26 08:41:40 4292 IPSEC - - - - -\n",
        encoding="ascii",
    )
    rows, _, _, _ = read_all(path)
    assert rows == [{"RecordNumber": "7", "TimeGenerated": "2026-10-26 08:41:40", "EventID": "4292",
                     "SourceName": "IPSEC", "Strings": None, "ComputerName": None, "SID": None,
                     "Message": None, "Data": None, "_line": 2}]


# --- #Fields blocks, malformed lines ---------------------------------------------------------


def test_two_fields_blocks_each_apply_to_their_rows():
    state = W3CState()
    rows, other, issues, tables = read_all(DATA / "w3c-two-fields-blocks.log", state=state)
    assert [t.column_names for t in tables] == [
        ["RecordNumber", "TimeGenerated", "EventID", "SourceName", "Strings", "ComputerName", "_line"],
        ["TimeGenerated", "ComputerName", "EventID", "Strings", "_line"],
    ]
    assert rows == [
        {"RecordNumber": "104400", "TimeGenerated": "2026-10-25 23:50:00", "EventID": "4290", "SourceName": "IPSEC",
         "Strings": "203.0.113.7|198.51.100.10|6|4000|445", "ComputerName": "WEB01", "_line": 5},
        {"RecordNumber": "104401", "TimeGenerated": "2026-10-25 23:55:00", "EventID": "4284", "SourceName": "IPSec",
         "Strings": "5|10.1.0.50", "ComputerName": "WEB01", "_line": 6},
        # line 7 is blank, lines 8-11 the second header
        {"TimeGenerated": "2026-10-26 00:10:00", "ComputerName": "WEB01", "EventID": "4291",
         "Strings": "198.51.100.10|198.18.0.53|17|3300|53", "_line": 12},
        {"TimeGenerated": "2026-10-26 00:11:00", "ComputerName": "WEB01", "EventID": "4292", "Strings": None,
         "_line": 13},
    ]
    assert other == 0 and issues.details == []
    # The state left behind describes the end of the file: the second block's fields.
    assert state.fields == ["TimeGenerated", "ComputerName", "EventID", "Strings"]
    assert state.lines == 13


def test_data_before_any_fields_directive_is_malformed_with_line_numbers():
    rows, other, issues, _ = read_all(DATA / "w3c-data-before-fields.log")
    assert malformed_locations(issues) == ["line 1", "line 2"]
    assert issues.counts["malformed"] == 2
    assert all("before any #Fields" in i.reason for i in issues.details)
    assert issues.details[0].text.startswith("104399 2026-10-25 23:40:00 4290")
    assert [(r["RecordNumber"], r["_line"]) for r in rows] == [("104401", 5)]
    assert other == 0


def test_malformed_lines_in_the_middle_are_named_and_reading_goes_on():
    rows, other, issues, _ = read_all(DATA / "w3c-malformed-middle.log")
    # line 6 is cut short (no IPSEC in it), line 7 has no EventID.
    assert malformed_locations(issues) == ["line 6", "line 7"]
    assert issues.counts["malformed"] == 2
    assert issues.details[0].text == "104502 2026-10-26 10:00:0"
    assert issues.details[1].text.startswith("104503 2026-10-26 10:00:04 IPSEC")
    assert [(r["RecordNumber"], r["_line"]) for r in rows] == [("104500", 4), ("104501", 5), ("104505", 9)]
    assert rows[2]["Strings"] == "203.0.113.9|198.51.100.10|6|4101|3389"
    assert other == 1  # line 8, Service Control Manager


# --- encodings and line ends -----------------------------------------------------------------

ENCODING_TEXT = (
    "#Software: Microsoft Log Parser\n"
    "#Fields: RecordNumber TimeGenerated EventID SourceName Strings ComputerName Message\n"
    "104600 2026-10-26 11:00:00 4290 IPSEC 203.0.113.8|198.51.100.10|6|4100|3389 WEB01 Caf\u00e9  du r\u00e9seau\n"
    "104601 2026-10-26 11:00:05 4284 IPSEC 2|10.1.0.50 WEB01 -\n"
)
EXPECTED_ENCODING_ROWS = [
    {"RecordNumber": "104600", "TimeGenerated": "2026-10-26 11:00:00", "EventID": "4290", "SourceName": "IPSEC",
     "Strings": "203.0.113.8|198.51.100.10|6|4100|3389", "ComputerName": "WEB01",
     "Message": "Caf\u00e9  du r\u00e9seau", "_line": 3},
    {"RecordNumber": "104601", "TimeGenerated": "2026-10-26 11:00:05", "EventID": "4284", "SourceName": "IPSEC",
     "Strings": "2|10.1.0.50", "ComputerName": "WEB01", "Message": None, "_line": 4},
]


def _check_encoded(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    rows, other, issues, _ = read_all(path)
    assert rows == EXPECTED_ENCODING_ROWS, name
    assert other == 0 and issues.details == [], name


def test_utf8_with_bom(tmp_path):
    _check_encoded(tmp_path, "bom.log", b"\xef\xbb\xbf" + ENCODING_TEXT.encode("utf-8"))
    assert sniff_layout(tmp_path / "bom.log").bom_length == 3


def test_windows_1252_bytes(tmp_path):
    data = ENCODING_TEXT.encode("cp1252")
    assert b"Caf\xe9" in data
    _check_encoded(tmp_path, "ansi.log", data)


def test_utf16le_with_bom(tmp_path):
    _check_encoded(tmp_path, "utf16.log", b"\xff\xfe" + ENCODING_TEXT.encode("utf-16-le"))
    layout = sniff_layout(tmp_path / "utf16.log")
    assert (layout.encoding, layout.bom_length, layout.has_partial_tail) == ("utf-16-le", 2, False)


def test_utf16le_with_bom_and_crlf(tmp_path):
    _check_encoded(tmp_path, "utf16crlf.log", b"\xff\xfe" + ENCODING_TEXT.replace("\n", "\r\n").encode("utf-16-le"))


def test_crlf_line_ends(tmp_path):
    _check_encoded(tmp_path, "crlf.log", ENCODING_TEXT.replace("\n", "\r\n").encode("utf-8"))


def test_final_line_without_line_end_is_read(tmp_path):
    data = ENCODING_TEXT.rstrip("\n").encode("utf-8")
    _check_encoded(tmp_path, "noeol.log", data)
    layout = sniff_layout(tmp_path / "noeol.log")
    assert layout.has_partial_tail
    # complete_end is just past the newline of line 3
    assert layout.complete_end == data.index(b"\n104601") + 1


def test_resume_from_the_complete_part_rereads_the_partial_line(tmp_path):
    path = tmp_path / "growing.log"
    path.write_bytes(ENCODING_TEXT.rstrip("\n").encode("utf-8"))
    state = W3CState()
    first, _, _, _ = read_all(path, state=state)
    assert [r["_line"] for r in first] == [3, 4]
    layout = sniff_layout(path)
    # What ingest does: continue from the complete part, at the line of the partial tail.
    with open(path, "ab") as fh:
        fh.write(b"\n104602 2026-10-26 11:00:09 4292 IPSEC - WEB01 -\n")
    resumed_state = W3CState(fields=list(state.fields))
    rows, _, issues, _ = read_all(path, start=layout.complete_end, first_line=state.lines, state=resumed_state)
    assert [(r["RecordNumber"], r["_line"]) for r in rows] == [("104601", 4), ("104602", 5)]
    assert resumed_state.lines == 5
    assert issues.details == []


def test_resume_mid_file_in_utf16(tmp_path):
    path = tmp_path / "utf16-grow.log"
    data = b"\xff\xfe" + ENCODING_TEXT.encode("utf-16-le")
    path.write_bytes(data)
    offset = data.index("104601".encode("utf-16-le"))
    assert offset % 2 == 0 and os.path.getsize(path) > offset
    state = W3CState(fields=["RecordNumber", "TimeGenerated", "EventID", "SourceName", "Strings", "ComputerName",
                             "Message"])
    rows, _, issues, _ = read_all(path, start=offset, first_line=4, state=state)
    assert rows == EXPECTED_ENCODING_ROWS[1:]
    assert issues.details == []


def test_ansi_bytes_in_other_events_and_a_cut_line_are_read_and_named(tmp_path):
    # Only lines that can be drops are decoded; others are counted, and a cut line is named with its text.
    header = ("#Software: Microsoft Log Parser\r\n"
              "#Fields: TimeGenerated EventID SourceName Strings ComputerName Message\r\n")
    ipsec = "2026-06-01 10:00:00 4290 IPSEC \\Driver\\IPSEC|192.0.2.4|198.51.100.8|6|1|2 WEB01 dropped\r\n"
    other = "2026-06-01 10:00:01 7036 Service Caf\xe9|running WEB01 Le service Caf\xe9 est d\xe9marr\xe9\r\n"
    cut = "2026-06-01 10:00:02 70\xe9\r\n"  # too few values for the fields
    path = tmp_path / "ansi-mixed.log"
    path.write_bytes((header + ipsec + other + cut + ipsec).encode("cp1252"))
    rows, other_events, issues, _ = read_all(path)
    assert [r["_line"] for r in rows] == [3, 6]
    assert rows[0]["Strings"] == "\\Driver\\IPSEC|192.0.2.4|198.51.100.8|6|1|2"
    assert other_events == 1
    assert [(i.location, i.kind) for i in issues.details] == [("line 5", "malformed")]
    assert issues.details[0].text.startswith("2026-06-01 10:00:02 70")
