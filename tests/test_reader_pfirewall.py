"""pfirewall.log reader: the three headers, DROP lines only, bad lines and exact line numbers."""

from __future__ import annotations

from pathlib import Path

import pipeline.readers.textfile as textfile
from pipeline.issues import IssueLog
from pipeline.readers import detect_format
from pipeline.readers.pfirewall import DEFAULT_FIELDS, FirewallState, read_header, read_pfirewall

DATA = Path(__file__).parent / "data"
XPSP2_FIELDS = ["date", "time", "action", "protocol", "src-ip", "dst-ip", "src-port", "dst-port", "size", "tcpflags",
                "tcpsyn", "tcpack", "tcpwin", "icmptype", "icmpcode", "info", "path"]


def read_all(path: Path, **kwargs) -> tuple[list[dict], int, IssueLog]:
    issues = IssueLog(str(path))
    rows: list[dict] = []
    other = 0
    for batch in read_pfirewall(path, issues, **kwargs):
        rows.extend(batch.table.to_pylist())
        other += batch.other_lines
    return rows, other, issues


def physical_lines(path: Path) -> list[str]:
    return path.read_text(encoding="ascii").split("\n")


def test_xpsp2_header_with_path():
    path = DATA / "pfirewall-xpsp2-header.log"
    assert detect_format(path) == "pfirewall"
    fields, offset, line = read_header(path)
    assert fields == XPSP2_FIELDS
    assert line == 5  # the blank line after the header
    assert offset == len("\n".join(physical_lines(path)[:4])) + 1

    state = FirewallState()
    rows, other, issues = read_all(path, state=state)
    assert [r["_line"] for r in rows] == [7, 9, 12]
    # OPEN (6), CLOSE (8), ALLOW (11); the blank line 5 is no log line; line 10 is malformed
    assert other == 3
    assert rows[0] == {
        "date": "2026-10-24", "time": "09:00:01", "action": "DROP", "protocol": "TCP", "src-ip": "192.0.2.220",
        "dst-ip": "10.1.0.20", "src-port": "3841", "dst-port": "3389", "icmptype": None, "icmpcode": None,
        "path": "RECEIVE",
        "_text": "2026-10-24 09:00:01 DROP TCP 192.0.2.220 10.1.0.20 3841 3389 48 S 1640769051 0 65535 - - - RECEIVE",
        "_line": 7,
    }
    assert rows[1]["path"] == "SEND" and rows[1]["protocol"] == "UDP"
    icmp = rows[2]
    assert (icmp["src-port"], icmp["dst-port"], icmp["icmptype"], icmp["icmpcode"]) == (None, None, "8", "0")
    assert state.fields == XPSP2_FIELDS
    assert state.lines == 12


def test_line_numbers_match_the_physical_lines():
    path = DATA / "pfirewall-xpsp2-header.log"
    lines = physical_lines(path)
    rows, _, _ = read_all(path)
    for row in rows:
        assert lines[row["_line"] - 1] == row["_text"]


def test_too_few_fields_reported_with_its_line_number():
    rows, _, issues = read_all(DATA / "pfirewall-xpsp2-header.log")
    assert [(i.location, i.kind, i.reason) for i in issues.details] == [
        ("line 10", "malformed", "expected 17 fields, found 10"),
    ]
    assert issues.details[0].text == "2026-10-24 09:00:04 DROP TCP 192.0.2.221 10.1.0.20 3842 3389 48 S"
    assert "192.0.2.221" not in [r["src-ip"] for r in rows]


def test_pid_variant():
    path = DATA / "pfirewall-pid-header.log"
    fields, _, _ = read_header(path)
    assert fields == [*XPSP2_FIELDS, "pid"]
    rows, other, issues = read_all(path)
    assert [(r["_line"], r["pid"]) for r in rows] == [(6, "4"), (8, None)]
    assert rows[1]["src-ip"] == "2001:DB8:0:0::1"  # the reader does not normalise; the extractor does
    assert other == 1  # the ALLOW line
    assert issues.details == []


def test_icf_header_without_path():
    path = DATA / "pfirewall-icf-header.log"
    assert detect_format(path) == "pfirewall"
    fields, _, line = read_header(path)
    assert fields == XPSP2_FIELDS[:-1]
    assert line == 5
    rows, other, issues = read_all(path)
    assert [r["_line"] for r in rows] == [7, 8, 9, 10]
    assert "path" not in rows[0]
    assert rows[0]["_text"] == rows[1]["_text"]  # two identical lines stay two rows
    assert other == 1  # OPEN-INBOUND
    assert issues.details == []
    lines = physical_lines(path)
    assert all(lines[r["_line"] - 1] == r["_text"] for r in rows)


def test_no_fields_header_assumes_default_fields_and_warns(tmp_path):
    path = tmp_path / "pfirewall.log"
    line = "2026-10-24 09:00:01 DROP TCP 192.0.2.220 10.1.0.20 3841 3389 48 S 1 0 65535 - - - RECEIVE"
    path.write_text(line + "\n", encoding="ascii")
    rows, _, issues = read_all(path)
    assert [(i.location, i.kind) for i in issues.details] == [("line 1", "warning")]
    assert [(r["_line"], r["path"]) for r in rows] == [(1, "RECEIVE")]
    assert list(DEFAULT_FIELDS) == XPSP2_FIELDS


def test_crlf_and_utf16(tmp_path):
    text = (DATA / "pfirewall-xpsp2-header.log").read_text(encoding="ascii").replace("\n", "\r\n")
    for name, data in (("crlf.log", text.encode("ascii")), ("utf16.log", b"\xff\xfe" + text.encode("utf-16-le"))):
        path = tmp_path / name
        path.write_bytes(data)
        rows, other, issues = read_all(path)
        assert [r["_line"] for r in rows] == [7, 9, 12], name
        assert rows[0]["path"] == "RECEIVE" and rows[0]["_text"].endswith("65535 - - - RECEIVE"), name
        assert other == 3, name
        assert [i.location for i in issues.details] == ["line 10"], name


def test_mid_file_directive_and_blank_lines_do_not_shift_lines(tmp_path):
    header = (DATA / "pfirewall-icf-header.log").read_text(encoding="ascii").split("\n")[:5]
    drop = "2026-10-23 18:18:{:02d} DROP TCP 192.0.2.220 10.1.0.20 3841 3389 48 S 1 0 65535 - - -"
    lines = [*header, drop.format(1), "", header[3], drop.format(2), "", "", drop.format(3)]
    path = tmp_path / "pfirewall.log"
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    rows, other, issues = read_all(path)
    assert [r["_line"] for r in rows] == [6, 9, 12]
    assert [r["time"] for r in rows] == ["18:18:01", "18:18:02", "18:18:03"]
    assert other == 0
    assert issues.details == []  # the repeated, identical #Fields: is not worth a warning


def test_line_numbers_across_many_batches(tmp_path, monkeypatch):
    monkeypatch.setattr(textfile, "BLOCK_SIZE", 300)  # many pyarrow blocks
    lines = (DATA / "pfirewall-xpsp2-header.log").read_text(encoding="ascii").split("\n")[:5]
    bad = []
    for i in range(40):
        if i % 7 == 3:
            bad.append(len(lines) + 1)
            lines.append(f"2026-10-24 09:01:{i:02d} DROP TCP 192.0.2.{i} 10.1.0.20 1 2")
        else:
            lines.append(f"2026-10-24 09:01:{i:02d} DROP TCP 192.0.2.{i} 10.1.0.20 {1000 + i} 3389 48 S 1 0 65535 "
                         "- - - RECEIVE")
    path = tmp_path / "big.log"
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    issues = IssueLog(str(path))
    batches = list(read_pfirewall(path, issues))
    assert len(batches) > 3
    rows = [r for b in batches for r in b.table.to_pylist()]
    assert bad == [9, 16, 23, 30, 37, 44]
    assert [i.location for i in issues.details] == [f"line {n}" for n in bad]
    expected = [n for n in range(6, 46) if n not in bad]
    assert [r["_line"] for r in rows] == expected
    for r in rows:
        assert lines[r["_line"] - 1] == r["_text"]


def test_resume_from_an_offset(tmp_path):
    path = tmp_path / "pfirewall.log"
    source = (DATA / "pfirewall-xpsp2-header.log").read_bytes()
    path.write_bytes(source)
    offset = source.index(b"2026-10-24 09:00:03")  # line 9
    state = FirewallState(fields=list(XPSP2_FIELDS))
    rows, other, issues = read_all(path, start=offset, first_line=9, state=state)
    assert [r["_line"] for r in rows] == [9, 12]
    assert other == 1  # ALLOW on line 11
    assert [i.location for i in issues.details] == ["line 10"]
    assert state.lines == 12
