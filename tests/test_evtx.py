"""EVTX ingestion: both engines, damage tolerance, real WFP orientation, incremental re-exports."""

from __future__ import annotations

import os
import re
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pipeline import Warehouse, ingest, parse_config
from pipeline.extract import SourceContext
from pipeline.extract.evtx_events import extract_evtx
from pipeline.extract.ipsec_driver import extract_ipsec_driver
from pipeline.issues import IssueLog
from pipeline.readers.evtx import EvtxEvent, read_evtx

DATA = Path(__file__).parent / "data"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "evtx"
SECURITY = DATA / "Security_short_selected.evtx"
BAD_CHUNK = DATA / "sample_with_a_bad_chunk_magic.evtx"


def read_all(path: Path, engine: str) -> tuple[int, IssueLog, list]:
    issues = IssueLog(str(path))
    records, events = 0, []
    for batch in read_evtx(path, issues, engine):
        records += batch.records
        events.extend(batch.events)
    return records, issues, events


def stored(wh: Path) -> list[tuple]:
    return duckdb.sql(
        f"""select event_id, drop_kind, direction, protocol, src_ip, src_port, dst_ip, dst_port, local_ip,
                   remote_ip, host, source_record, wfp_filter_id, wfp_layer, process_id, application,
                   strftime(event_time, '%Y-%m-%dT%H:%M:%S.%f')
            from read_parquet('{wh}/drops/**/*.parquet') order by source_record, event_id"""
    ).fetchall()


def test_real_wfp_drops_have_the_packets_real_orientation(tmp_path: Path) -> None:
    report = ingest([SECURITY], Warehouse(tmp_path / "W"))
    assert report.exit_code == 0 and report.files[0].rows_read == 7
    rows = stored(tmp_path / "W")
    # log-formats.md §7: 5152 gives the packet as it travelled, 5157 gives local then remote.
    assert [r[:10] for r in rows] == [
        (5152, "wfp-packet-blocked", "inbound", 6, "23.94.153.202", 59639, "169.46.6.101", 3389,
         "169.46.6.101", "23.94.153.202"),
        (5152, "wfp-packet-blocked", "inbound", 1, "169.46.118.42", 0, "169.46.6.101", 8,
         "169.46.6.101", "169.46.118.42"),
        (5157, "wfp-connection-blocked", "inbound", 1, "169.46.118.42", 0, "169.46.6.101", 8,
         "169.46.6.101", "169.46.118.42"),
    ]
    first = rows[0]
    assert first[10] == "temporal" and first[12] == 67607 and first[13] == "Transport"
    assert first[14] == 0 and first[15] is None  # ProcessId 0, Application "-"
    assert first[16] == "2016-06-29T15:24:34.346000"
    assert rows[2][13] == "Receive/Accept" and rows[2][15] == "System"


def test_both_engines_store_the_same_rows(tmp_path: Path) -> None:
    fast = ingest([SECURITY], Warehouse(tmp_path / "A"), engine="evtx")
    slow = ingest([SECURITY], Warehouse(tmp_path / "B"), engine="python-evtx")
    assert fast.total("drops_stored") == slow.total("drops_stored") == 3
    assert stored(tmp_path / "A") == stored(tmp_path / "B")


def test_damaged_chunks_are_skipped_counted_and_named(tmp_path: Path) -> None:
    records, issues, _ = read_all(BAD_CHUNK, "evtx")
    assert (records, issues.counts["read-error"]) == (270, 2)
    locations = [i.location for i in issues.details]
    assert [re.sub(r" \(after record \d+\)", "", loc) for loc in locations] == ["chunk 6", "chunk 10"]
    report = ingest([BAD_CHUNK], Warehouse(tmp_path / "W"))
    assert report.exit_code == 1 and report.files[0].skipped == 2 and report.files[0].rows_read == 270
    # python-evtx does not stop at the damage either
    slow_records, slow_issues, _ = read_all(BAD_CHUNK, "python-evtx")
    assert slow_records + slow_issues.counts["read-error"] >= 270


def test_a_file_that_is_not_evtx_is_refused_and_the_run_goes_on(tmp_path: Path) -> None:
    fake = tmp_path / "not-really.evtx"
    fake.write_bytes(b"ElfFilX\x00" + os.urandom(5000))
    report = ingest([fake, SECURITY], Warehouse(tmp_path / "W"))
    assert report.files[0].status == "refused" and "not a recognised export" in report.files[0].issues.details[0].reason
    assert report.files[1].drops_stored == 3 and report.exit_code == 1


def test_a_truncated_file_keeps_its_complete_chunks(tmp_path: Path) -> None:
    whole = BAD_CHUNK.read_bytes()
    exact, cut = tmp_path / "three-chunks.evtx", tmp_path / "cut-in-chunk-four.evtx"
    exact.write_bytes(whole[: 4096 + 65536 * 3])
    cut.write_bytes(whole[: 4096 + 65536 * 3 + 1000])
    for engine in ("evtx", "python-evtx"):
        kept, _, kept_events = read_all(exact, engine)
        partial, _, partial_events = read_all(cut, engine)
        # The partial fourth chunk is dropped; the complete ones are read in full, nothing is invented.
        assert kept > 0 and partial == kept and partial_events == kept_events, engine
    full_records, _, _ = read_all(BAD_CHUNK, "evtx")
    assert kept < full_records


def test_second_run_and_re_export_add_nothing(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "W")
    ingest([SECURITY], wh)
    again = ingest([SECURITY], wh)
    assert again.files[0].status == "unchanged" and again.total("drops_stored") == 0
    # A re-export of the same log (different bytes, same records) is read past what was stored.
    reexport = tmp_path / "Security-reexport.evtx"
    data = bytearray(SECURITY.read_bytes())
    data[4096 - 1] ^= 0xFF  # a byte of the header block's padding: another file, same records
    reexport.write_bytes(bytes(data))
    third = ingest([reexport], wh)
    result = third.files[0]
    assert result.status == "resumed" and result.drops_stored == 0
    assert "already stored" in result.note
    assert len(stored(wh.root)) == 3


def test_evtx_and_text_export_of_the_same_event_are_stored_once(tmp_path: Path) -> None:
    """A System event exported as EVTX and by Log Parser shares (host, System, record number)."""
    config = parse_config('[hosts.WEB01]\ntimezone = "UTC"\n')
    event = EvtxEvent(record_id=104342, event_id=4290, provider="IPSec", channel="System", computer="web01",
                      time_created=datetime(2026, 10, 25, 0, 10), data=["", "203.0.113.7", "198.51.100.10", "6",
                                                                       "4000", "3389"])
    issues = IssueLog("x")
    from_evtx = extract_evtx([event], SourceContext("evtx", "a.evtx", config), issues, 1)
    rows = pa.table({"EventID": ["4290"], "SourceName": ["IPSec"], "ComputerName": ["WEB01"],
                     "RecordNumber": ["104342"], "TimeGenerated": ["2026-10-25 00:10:00"],
                     "Strings": ["|203.0.113.7|198.51.100.10|6|4000|3389"], "_line": pa.array([5], pa.int64())})
    from_text = extract_ipsec_driver(rows, SourceContext("logparser-w3c", "a.log", config), issues)
    assert from_evtx.event_keys.to_pylist() == from_text.event_keys.to_pylist() == ["WEB01\x1fSystem\x1f104342"]
    for column in ("event_time", "host", "direction", "protocol", "src_ip", "src_port", "dst_ip", "dst_port",
                   "local_ip", "remote_ip", "drop_kind"):
        assert from_evtx.drops.column(column).to_pylist() == from_text.drops.column(column).to_pylist(), column


CORPUS_FILES = sorted(p.name for p in CORPUS.glob("*.evtx")) if CORPUS.is_dir() else []


def expected_table() -> dict[str, tuple[int, int, int]]:
    rows = {}
    for line in (CORPUS / "EXPECTED.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].endswith(".evtx"):
            rows[cells[0]] = (int(cells[2]), int(cells[3]), int(cells[4]))
    return rows


def test_corpus_is_present_where_ci_has_it() -> None:
    """CI has ../shared beside the checkout: the corpus tests below must not silently vanish there."""
    if os.environ.get("CI"):
        assert CORPUS_FILES, f"CI run without the EVTX corpus at {CORPUS}"
    else:
        print(f"EVTX corpus {'found' if CORPUS_FILES else 'NOT found: corpus tests not run'} at {CORPUS}")


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_counts_match_expected_and_engines_agree(name: str, tmp_path: Path) -> None:
    ok, errors, drops = expected_table()[name]
    records, issues, events = read_all(CORPUS / name, "evtx")
    assert (records, issues.counts["read-error"]) == (ok, errors)
    assert sum(e.event_id in (5152, 5153, 5157) for e in events) == drops
    # python-evtx must not crash, and whatever it reads must agree with the Rust engine.
    slow_records, _, slow_events = read_all(CORPUS / name, "python-evtx")
    # python-evtx passes over non-candidate records without rendering them, so it may count a record
    # the Rust engine could not parse; it never sees more records than the file holds.
    assert slow_records <= ok + errors
    fast_by_id = {e.record_id: e for e in events}
    for event in slow_events:
        assert event == fast_by_id[event.record_id]


@pytest.mark.skipif(not CORPUS_FILES, reason=f"EVTX corpus not found at {CORPUS} (a user's clone has no ../shared)")
def test_corpus_full_ingest_skips_nothing_readable(tmp_path: Path) -> None:
    shutil.copytree(CORPUS, tmp_path / "corpus")
    report = ingest([tmp_path / "corpus"], Warehouse(tmp_path / "W"))
    expected = expected_table()
    by_name = {Path(f.path).name: f for f in report.files if f.format == "evtx"}
    for name, (ok, errors, _) in expected.items():
        f = by_name[name]
        if f.status == "unchanged":  # byte-identical to another corpus file
            continue
        assert (f.rows_read, f.skipped) == (ok, errors), name
    assert report.total("drops_stored") == 3


def _write_log(path: Path, ids: range, renumber: bool) -> None:
    from pipeline.synthetic.evtx import EvtxWriter, logon_event, wfp_5152

    with EvtxWriter(path, renumber=renumber) as out:
        for rid in ids:
            when = datetime(2026, 10, 27, 8, 0, rid % 60)
            if rid % 2:
                out.write(wfp_5152(rid, when, "DB01.example.net", src_ip="192.0.2.9", src_port=40000 + rid,
                                   dst_ip="10.1.0.20", dst_port=3389))
            else:
                out.write(logon_event(rid, when, "DB01.example.net", user="svc", domain="EXAMPLE",
                                      user_sid="S-1-5-21-1-2-3-1001", logon_id=0x3E7 + rid))


@pytest.mark.parametrize("renumber", [False, True], ids=["saved-log", "query-export"])
def test_grown_re_export_is_read_past_the_last_stored_record(tmp_path: Path, renumber: bool) -> None:
    config = parse_config('[hosts.DB01]\naddresses = ["10.1.0.20"]\n')
    wh = Warehouse(tmp_path / "W")
    first, second = tmp_path / "monday.evtx", tmp_path / "tuesday.evtx"
    _write_log(first, range(100, 110), renumber)
    _write_log(second, range(100, 120), renumber)  # the same log, exported a day later
    one = ingest([first], wh, config)
    assert one.files[0].drops_stored == 5 and one.files[0].host == "DB01"
    two = ingest([second], wh, config)
    result = two.files[0]
    assert result.status == "resumed" and "up to 109" in result.note
    # Records 100..109 are not stored again, nor even counted as duplicates: only 110..119 are new.
    assert (result.drops_stored, result.duplicates) == (5, 0)
    assert sorted(r[11] for r in stored(wh.root)) == list(range(101, 120, 2))
    if not renumber:  # a saved log's header numbers are its EventRecordIDs: earlier records are not even read
        assert result.rows_read == 10


SAMPLE_EVTX = sorted((Path(__file__).resolve().parent.parent / "sample_logs" / "exports").rglob("*.evtx"))


@pytest.mark.parametrize("path", SAMPLE_EVTX, ids=lambda p: p.name)
def test_both_engines_store_the_same_rows_from_the_sample_logs(path: Path, tmp_path: Path) -> None:
    config_path = path.parents[2] / "ipsec-drops.toml"
    from pipeline import load_config

    config = load_config(config_path)
    fast = ingest([path], Warehouse(tmp_path / "A"), config, engine="evtx")
    slow = ingest([path], Warehouse(tmp_path / "B"), config, engine="python-evtx")
    assert fast.exit_code == slow.exit_code == 0
    assert fast.total("drops_stored") == slow.total("drops_stored") > 0
    assert stored(tmp_path / "A") == stored(tmp_path / "B")


@pytest.mark.skipif(not (CORPUS / "system.evtx").exists(), reason=f"EVTX corpus not found at {CORPUS}")
def test_python_evtx_says_when_it_recovers_less(tmp_path: Path) -> None:
    report = ingest([CORPUS / "system.evtx"], Warehouse(tmp_path / "W"), engine="python-evtx")
    warning = next(i for i in report.files[0].issues.details if i.kind == "warning")
    assert re.search(r"python-evtx recovered \d+ of the 1881 records", warning.reason)
    assert "--engine evtx" in warning.reason
    fast = ingest([CORPUS / "system.evtx"], Warehouse(tmp_path / "F"), engine="evtx")
    assert not [i for i in fast.files[0].issues.details if i.kind == "warning"]


@pytest.mark.parametrize("text", [
    '{"a":"plain","n":5152}',
    '{"a":"\\ud800 lone surrogate"}',  # orjson refuses it, json reads it
    '{"n":18446744073709551615,"m":-9223372036854775808}',  # the widest integers of an EVTX record
    '{"a":NaN}',  # orjson refuses it, json reads it
    '{"a":1,"a":2}',
])
def test_decode_json_gives_what_json_gives(text):
    """The candidates' decoder (orjson first) returns exactly the values of ``json.loads``."""
    import json

    from pipeline.readers.evtx import decode_json

    assert decode_json(text) == json.loads(text)


@pytest.mark.parametrize("text", ['{"a":', '{"a":NaN', "", '{"a":"\\x"}'])
def test_decode_json_refuses_what_json_refuses_with_its_message(text):
    import json

    from pipeline.readers.evtx import decode_json

    with pytest.raises(ValueError) as ours:
        decode_json(text)
    with pytest.raises(ValueError) as theirs:
        json.loads(text)
    assert str(ours.value) == str(theirs.value)
