"""What fuzzing found, kept: each fixture in ``tests/data/fuzz/`` is named after what it exercises.

Also the huge inputs of issue 14: a line longer than :data:`pipeline.readers.textfile.MAX_LINE`
(16 MiB) is skipped and named without being held whole, in every text format and encoding,
and the lines after it are read; a netsh script line over the tokenizer's limit likewise.
The fixtures hold lines of a few KiB, read with the limit lowered; one test per kind of input
also runs at the real size, and one measures the memory of a 24 MiB line in a subprocess.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fuzzing import check_ingest, check_netsh, check_reader

from pipeline import Warehouse, ingest, parse_config
from pipeline.policy import parse_text
from pipeline.readers import textfile

netsh_tokenize = importlib.import_module("pipeline.policy.tokenize")  # the module (the package exports a function)
FUZZ = Path(__file__).resolve().parent / "data" / "fuzz"
REPO = Path(__file__).resolve().parents[1]
CONFIG = '[hosts.WEB01]\ntimezone = "UTC"\n'


def _ingest(tmp_path: Path, *paths: Path):
    config = parse_config(CONFIG, tmp_path / "c.toml")
    return ingest(list(paths), Warehouse(tmp_path / "W"), config, host="WEB01")


def _copy(src: Path, folder: Path, name: str | None = None, data: bytes | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or src.name)
    path.write_bytes(src.read_bytes() if data is None else data)
    return path


# --- crashers -------------------------------------------------------------------------------------


def test_csv_header_with_a_lone_carriage_return_is_refused_with_its_reason(tmp_path):
    """Python's csv module raised on it ("new-line character seen in unquoted field"): the file 'failed' with
    a stack trace in the skipped list.  Now it is refused, named, and the other files of the run are stored."""
    bad = _copy(FUZZ / "csv-header-with-a-lone-carriage-return.csv", tmp_path / "in")
    good = _copy(FUZZ / "csv-quote-never-closed-on-a-long-line.csv", tmp_path / "in", "good.csv")
    report = _ingest(tmp_path, bad, good)
    by_name = {Path(f.path).name: f for f in report.files}
    refused = by_name[bad.name]
    assert refused.status == "refused"
    [issue] = refused.issues.details
    assert (issue.location, issue.kind) == ("line 1", "refused-file")
    assert issue.reason.startswith("the CSV header row cannot be read: new-line character seen in unquoted field")
    assert by_name["good.csv"].drops_stored == 2 and report.exit_code == 1
    (tmp_path / "again").mkdir()
    check_ingest(bad.read_bytes(), tmp_path / "again", ".csv")  # the fuzz property holds on it


# --- a line longer than the limit, lowered for the fixtures -----------------------------------------


@pytest.fixture
def small_line_limit(monkeypatch):
    """The limit at 4 KiB, the blocks below it (as the real ones are below 16 MiB)."""
    import pipeline.ingest

    monkeypatch.setattr(textfile, "MAX_LINE", 4096)
    monkeypatch.setattr(textfile, "BLOCK_SIZE", 1024)
    monkeypatch.setattr(pipeline.ingest, "W3C_BLOCK_SIZE", 1024)
    return 4096


@pytest.mark.parametrize(("fixture", "long_line", "kept"), [
    ("w3c-line-longer-than-the-line-limit.log", 4, [3, 5]),
    ("pfirewall-line-longer-than-the-line-limit.log", 6, [5, 7]),
    ("csv-quote-never-closed-on-a-long-line.csv", 3, [2, 4]),
])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_line_longer_than_the_limit_is_skipped_named_and_the_next_lines_read(tmp_path, small_line_limit, fixture,
                                                                              long_line, kept, encoding):
    data = (FUZZ / fixture).read_bytes()
    if encoding == "utf-16":
        data = data.decode("utf-8").encode("utf-16")  # with a BOM: re-encoded to UTF-8 while read
    path = _copy(FUZZ / fixture, tmp_path / "in", data=data)
    report = _ingest(tmp_path, path)
    result = report.files[0]
    assert (result.status, result.drops_stored, result.skipped, report.exit_code) == ("ingested", 2, 1, 1)
    [issue] = [i for i in result.issues.details if i.kind == "malformed"]
    assert issue.location == f"line {long_line}"
    assert issue.reason.startswith("line longer than 4,096 bytes (") and issue.reason.endswith(" bytes): skipped")
    assert len(issue.text) <= 401  # its first characters, not the line
    kind = {".log": "w3c" if fixture.startswith("w3c") else "pfirewall", ".csv": "csv"}[path.suffix]
    rows = check_reader(kind, data, tmp_path)  # every line numbered once (small blocks, lines across them)
    assert rows.rows == len(kept)


def test_a_long_line_without_a_line_end_at_the_end_of_the_file(tmp_path, small_line_limit):
    data = (FUZZ / "w3c-line-longer-than-the-line-limit.log").read_bytes() + b"x" * 10000
    report = _ingest(tmp_path, _copy(FUZZ / "w3c-line-longer-than-the-line-limit.log", tmp_path / "in", data=data))
    result = report.files[0]
    assert result.drops_stored == 2
    assert [i.location for i in result.issues.details if i.kind == "malformed"] == ["line 4", "line 6"]


def test_a_header_line_longer_than_the_limit(tmp_path, small_line_limit):
    csv = tmp_path / "in" / "h.csv"
    csv.parent.mkdir()
    csv.write_bytes(b"RecordNumber,TimeGenerated,EventID," + b"h" * 5000 + b"\n1,2026-06-01 10:00:00,4290,x\n")
    report = _ingest(tmp_path, csv)
    [issue] = report.files[0].issues.details
    assert (report.files[0].status, issue.location) == ("refused", "line 1")
    assert issue.reason.startswith("the CSV header row is longer than 4,096 bytes")


# --- the real sizes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["w3c-line-longer-than-the-line-limit.log",
                                     "pfirewall-line-longer-than-the-line-limit.log",
                                     "csv-quote-never-closed-on-a-long-line.csv"])
def test_a_17_mib_line_is_skipped_at_the_real_limit(tmp_path, fixture):
    lines = (FUZZ / fixture).read_bytes().split(b"\n")
    long_at = max(range(len(lines)), key=lambda i: len(lines[i]))
    lines[long_at] = lines[long_at][:60] + b"z" * (17 << 20)
    path = _copy(FUZZ / fixture, tmp_path / "in", data=b"\n".join(lines))
    result = _ingest(tmp_path, path).files[0]
    assert (result.drops_stored, result.skipped) == (2, 1)
    [issue] = [i for i in result.issues.details if i.kind == "malformed"]
    assert issue.reason.startswith("line longer than 16 MiB (17,825,")


def test_a_24_mib_line_is_read_in_bounded_memory(tmp_path):
    """Before: the whole line was read into one block and parsed (peak ~8x the line: 480 MiB for 50 MiB)."""
    path = tmp_path / "big.log"
    data = (FUZZ / "w3c-line-longer-than-the-line-limit.log").read_bytes().split(b"\n")
    with open(path, "wb") as fh:
        fh.write(b"\n".join(data[:3]) + b"\n" + data[3][:60])
        for _ in range(24):
            fh.write(b"m" * (1 << 20))
        fh.write(b"\n" + b"\n".join(data[4:]))
    script = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {str(REPO)!r})
        from pipeline import Warehouse, ingest, parse_config
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        import pyarrow, duckdb  # loaded by any ingest: counted before
        config = parse_config({CONFIG!r})
        small = {str(FUZZ / "w3c-line-longer-than-the-line-limit.log")!r}
        ingest([small], Warehouse({str(tmp_path / "W0")!r}), config, host="WEB01")  # warm-up
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        r = ingest([{str(path)!r}], Warehouse({str(tmp_path / "W")!r}), config, host="WEB01")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(r.files[0].drops_stored, r.files[0].skipped, (peak - base) // 1024)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    stored, skipped, grew_mib = map(int, out)
    assert (stored, skipped) == (2, 1)
    assert grew_mib < 100, f"peak RSS grew by {grew_mib} MiB reading a 24 MiB line"


# --- netsh --------------------------------------------------------------------------------------------


def test_a_netsh_script_line_over_the_limit_is_skipped_and_the_next_read(monkeypatch):
    monkeypatch.setattr(netsh_tokenize, "SCRIPT_LINE_LIMIT", 1000)
    text = (FUZZ / "netsh-script-line-over-the-limit.txt").read_text()
    model, issues, kind = parse_text(text, "long.txt")
    assert kind == "netsh" and list(model.stores["local"].filter_lists) == ["next"]
    assert [(i.line, i.severity, i.code) for i in issues] == [(2, "error", "line-too-long")]
    assert "2,015 characters long, more than the 1,000 read" in issues[0].message


def test_a_3_mb_netsh_script_line_costs_little():
    """At 10 MB (the long run) it took 4-20 s and 1.2 GB before the limit: now ~1 s and under 100 MB."""
    data = b"pushd ipsec static\r\nadd filter " + b"& " * (3 << 19) + b"\r\nadd filterlist Next\r\n"
    began = time.monotonic()
    check_netsh(data)
    model, issues, _ = parse_text(data.decode(), "big.txt")
    assert time.monotonic() - began < 10
    assert list(model.stores["local"].filter_lists) == ["next"]
    assert [i.code for i in issues] == ["line-too-long"]


def test_pfirewall_fields_directive_naming_no_field(tmp_path):
    """Found by the long run (a UTF-16 log whose ``#Fields:`` lost its names): the lines were cut into zero
    columns, which pyarrow cannot do ("line numbering lost", the file failed).  An empty header is no header
    (the default field list, with a warning); an empty directive mid-file is ignored, with a warning."""
    fixture = FUZZ / "pfirewall-fields-directive-naming-no-field.log"
    for encoding in ("utf-8", "utf-16-le"):  # the crasher had no BOM: UTF-16 told by its NUL bytes
        data = fixture.read_bytes().decode().encode(encoding)
        result = _ingest(tmp_path / encoding, _copy(fixture, tmp_path / encoding / "in", data=data)).files[0]
        assert (result.status, result.drops_stored, result.skipped) == ("ingested", 3, 0)
        assert [(i.location, i.kind) for i in result.issues.details] == [("line 1", "warning"), ("line 7", "warning")]
        assert "an empty #Fields: header" in result.issues.details[0].reason
        check_reader("pfirewall", data, tmp_path / encoding)


@pytest.mark.parametrize(("fixture", "rest", "stored"), [
    # two identical packets in one second (occurrences 1 and 2), the second without its line end yet
    ("pfirewall-last-line-without-its-line-end-then-grown.log",
     b"\r\n2026-06-01 10:00:02 DROP TCP 192.0.2.7 198.51.100.10 4000 22 48 S 1 0 65535 - - - RECEIVE\r\n", (2, 1)),
    # no RecordNumber: the identity is the content (Strings) and its occurrence; the Message was cut
    ("w3c-last-line-cut-in-its-message-then-grown.log", b" inbound packet\r\n", (2, 0)),
])
def test_a_last_line_read_before_its_line_end_is_not_stored_again_once_complete(tmp_path, fixture, rest, stored):
    """Found by the long run (the file read half-written, then grown): the last line was read at once, as
    documented, but the occurrence numbering remembered for the next run counted it, so read again once
    complete it got occurrence 2, a new key, and the drop was stored twice."""
    path = _copy(FUZZ / fixture, tmp_path / "in")
    config = parse_config(CONFIG, tmp_path / "c.toml")
    wh = Warehouse(tmp_path / "W")
    first = ingest([path], wh, config, host="WEB01").files[0]
    assert [i.kind for i in first.issues.details] == ["held-back"]
    with open(path, "ab") as fh:
        fh.write(rest)
    then = ingest([path], wh, config, host="WEB01").files[0]
    assert then.status == "resumed"
    assert (first.drops_stored, then.drops_stored) == stored
    assert then.duplicates == 1  # the last line, read again
    whole = _copy(path, tmp_path / "whole")
    assert _ingest(tmp_path / "whole", whole).files[0].drops_stored == sum(stored)


def test_a_last_line_cut_where_it_still_parses_is_a_drop_of_its_own(tmp_path):
    """The documented trade-off of reading a last line before its line end ("read now if complete, and read
    again when the file grows"), kept visible: cut where it still has all its fields (here the ICF log's
    ``info`` lost its ``-``), the line is stored as it reads; once complete it is another line text, so the
    packet is stored again.  Found by the long run's grown-file target, which allows exactly this."""
    path = _copy(FUZZ / "pfirewall-last-line-cut-where-it-still-parses.log", tmp_path / "in")
    config = parse_config(CONFIG, tmp_path / "c.toml")
    wh = Warehouse(tmp_path / "W")
    first = ingest([path], wh, config, host="WEB01").files[0]
    assert (first.drops_stored, [i.kind for i in first.issues.details]) == (1, ["held-back"])
    with open(path, "ab") as fh:
        fh.write(b"-\n")
    then = ingest([path], wh, config, host="WEB01").files[0]
    assert (then.status, then.drops_stored, then.duplicates) == ("resumed", 1, 0)


def test_iis_line_not_utf_8_with_the_right_number_of_values_is_read(tmp_path):
    """Found by the long run in the IIS reader: a Windows-1252 byte in a line that has all its values made
    the line's text (its identity) fail to cast, and the whole file "stopped reading".  Read as
    Windows-1252, like the values of the other text formats."""
    from pipeline.issues import IssueLog
    from pipeline.readers.iis import read_iis

    fixture = FUZZ / "iis-line-not-utf-8-with-the-right-number-of-values.log"
    issues = IssueLog(str(fixture))
    rows = [r for batch in read_iis(fixture, issues) for r in batch.table.to_pylist()]
    assert [r["_line"] for r in rows] == [5, 6] and issues.details == []
    assert "/caf\u00e9.htm" in rows[1]["_text"]
    result = _ingest(tmp_path, _copy(fixture, tmp_path / "in")).files[0]
    assert (result.status, result.allowed_found, result.skipped) == ("ingested", 2, 0)
    (tmp_path / "again").mkdir()
    check_ingest(fixture.read_bytes(), tmp_path / "again")
