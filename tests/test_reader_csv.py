"""Log Parser ``-o:CSV`` reader: header, RFC-4180 quoting, NULLs, repeated headers, bad rows."""

from __future__ import annotations

from pathlib import Path

from pipeline.issues import IssueLog
from pipeline.readers import detect_format
from pipeline.readers.logparser_csv import CSVState, read_csv_export

DATA = Path(__file__).parent / "data"


def read_all(path: Path, **kwargs) -> tuple[list[dict], IssueLog]:
    issues = IssueLog(str(path))
    rows: list[dict] = []
    for batch in read_csv_export(path, issues, **kwargs):
        rows.extend(batch.table.to_pylist())
    return rows, issues


def test_select_star_csv_rows_lines_and_values():
    state = CSVState()
    rows, issues = read_all(DATA / "csv-select-star.csv", state=state)
    # line 1 header, 5 the header again, 7 has two values too many
    assert [(r["RecordNumber"], r["_line"]) for r in rows] == [
        ("104331", 2), ("104333", 3), ("104334", 4), ("104335", 6), ("104337", 8),
    ]
    assert state.fields == ["EventLog", "RecordNumber", "TimeGenerated", "TimeWritten", "EventID", "EventType",
                            "EventTypeName", "EventCategory", "EventCategoryName", "SourceName", "Strings",
                            "ComputerName", "SID", "Message", "Data"]
    assert state.lines == 8

    scm = rows[0]
    assert scm["SourceName"] == "Service Control Manager"
    assert scm["EventTypeName"] == "Information event"
    assert scm["Strings"] == "Background Intelligent Transfer Service|running"

    drop = rows[1]
    assert drop == {
        "EventLog": "System", "RecordNumber": "104333", "TimeGenerated": "2026-10-25 01:22:41",
        "TimeWritten": "2026-10-25 01:22:41", "EventID": "4290", "EventType": "4",
        "EventTypeName": "Information event", "EventCategory": "0", "EventCategoryName": "None",
        "SourceName": "IPSEC", "Strings": "192.0.2.238|198.51.100.10|TCP|62159|23", "ComputerName": "WEB01",
        "SID": None,
        # comma and doubled quote inside a quoted value
        "Message": 'The IPSec driver has dropped the following inbound packet:  Source IP Address: 192.0.2.238, '
                   '"quoted" ',
        "Data": None, "_line": 3,
    }


def test_empty_and_dash_are_null():
    rows, _ = read_all(DATA / "csv-select-star.csv")
    by_record = {r["RecordNumber"]: r for r in rows}
    assert by_record["104334"]["Message"] is None  # written "-"
    assert by_record["104334"]["SID"] is None  # written as nothing
    assert by_record["104335"]["Strings"] is None  # empty
    assert by_record["104337"]["Message"] is None and by_record["104337"]["Data"] is None
    assert by_record["104334"]["Strings"] == "\\Driver\\IPSEC|12|10.1.0.50"


def test_repeated_header_skipped_and_too_many_fields_reported():
    rows, issues = read_all(DATA / "csv-select-star.csv")
    assert "EventLog" not in [r["EventLog"] for r in rows]
    assert [(i.location, i.kind) for i in issues.details] == [("line 7", "malformed")]
    assert issues.counts["malformed"] == 1
    assert issues.details[0].reason == "expected 15 fields, found 17"
    assert issues.details[0].text.startswith("System,104336,")


def test_subset_with_bom_and_crlf(tmp_path):
    path = tmp_path / "subset.csv"
    path.write_bytes(
        b"\xef\xbb\xbfTimeGenerated,EventID,SourceName,Strings\r\n"
        b"2026-10-25 01:22:41,4290,IPSEC,192.0.2.1|198.51.100.10|6|1025|445\r\n"
        b"2026-10-25 01:22:42,4292,IPSEC,\r\n"
    )
    assert detect_format(path) == "logparser-csv"
    rows, issues = read_all(path)
    assert rows == [
        {"TimeGenerated": "2026-10-25 01:22:41", "EventID": "4290", "SourceName": "IPSEC",
         "Strings": "192.0.2.1|198.51.100.10|6|1025|445", "_line": 2},
        {"TimeGenerated": "2026-10-25 01:22:42", "EventID": "4292", "SourceName": "IPSEC", "Strings": None,
         "_line": 3},
    ]
    assert issues.details == []


def test_utf16_with_bom(tmp_path):
    path = tmp_path / "utf16.csv"
    text = "TimeGenerated,EventID,Strings\r\n2026-10-25 01:22:41,4290,a|b\r\n2026-10-25 01:22:42,4291,c|\u00e9\r\n"
    path.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    rows, issues = read_all(path)
    assert rows == [
        {"TimeGenerated": "2026-10-25 01:22:41", "EventID": "4290", "Strings": "a|b", "_line": 2},
        {"TimeGenerated": "2026-10-25 01:22:42", "EventID": "4291", "Strings": "c|\u00e9", "_line": 3},
    ]
    assert issues.details == []


def test_windows_1252_value(tmp_path):
    path = tmp_path / "ansi.csv"
    path.write_bytes(b"EventID,Message\n4292,R\xe9seau bloqu\xe9\n")
    rows, _ = read_all(path)
    assert rows == [{"EventID": "4292", "Message": "R\u00e9seau bloqu\u00e9", "_line": 2}]


def test_resume_with_header_from_state(tmp_path):
    path = tmp_path / "grow.csv"
    head = b"TimeGenerated,EventID,Strings\n2026-10-25 01:22:41,4290,a|b\n"
    path.write_bytes(head + b"2026-10-25 01:22:42,4291,c|d\n")
    state = CSVState(fields=["TimeGenerated", "EventID", "Strings"])
    rows, issues = read_all(path, start=len(head), first_line=3, state=state)
    assert rows == [{"TimeGenerated": "2026-10-25 01:22:42", "EventID": "4291", "Strings": "c|d", "_line": 3}]
    assert issues.details == []


def test_file_without_header_is_refused(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"\n")
    rows, issues = read_all(path)
    assert rows == []
    assert issues.counts["refused-file"] == 1
