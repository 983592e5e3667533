"""Extractors: IPSec driver event rows and pfirewall DROP lines -> normalised drop rows.

Rows are built by hand as the readers hand them out (string columns plus ``_line``);
a few tests go through the real readers and the fixtures in tests/data.  Expected
UTC times are worked out by hand: Europe/Berlin is +02:00 (CEST) until 2026-10-25
03:00 local, America/Chicago is -05:00 (CDT) until 2026-11-01.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from pipeline.config import parse_config
from pipeline.extract import Extracted, OccurrenceCounter, SourceContext
from pipeline.extract.firewall import extract_firewall
from pipeline.extract.ipsec_driver import extract_ipsec_driver
from pipeline.issues import IssueLog
from pipeline.readers.logparser_csv import read_csv_export
from pipeline.readers.logparser_w3c import read_w3c
from pipeline.readers.pfirewall import read_pfirewall
from pipeline.schema import DROPS_SCHEMA

DATA = Path(__file__).parent / "data"

CONFIG = parse_config(
    """
[hosts.WEB01]
timezone = "Europe/Berlin"
addresses = ["198.51.100.10", "10.1.0.10"]

[hosts.DB01]
timezone = "America/Chicago"
addresses = ["10.1.0.20", "2001:DB8:0:0::20"]

[hosts.NOTZ]
addresses = ["10.1.0.99"]
"""
)

TAIL = ("This could be a temporary glitch; if it persists please stop and restart the IPSec Policy Agent "
        "service on this machine.")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def evt(rows: list[dict], lines: list[int] | None = None) -> pa.Table:
    """A reader-style table: every EVT column a string, plus ``_line``."""
    names = list(rows[0])
    columns = {name: pa.array([r.get(name) for r in rows], pa.string()) for name in names}
    columns["_line"] = pa.array(lines or list(range(10, 10 + len(rows))), pa.int64())
    return pa.table(columns)


def ctx(fmt: str = "logparser-w3c", host: str | None = None, **kwargs) -> SourceContext:
    return SourceContext(source_format=fmt, source_file=f"{fmt}.log", config=CONFIG, default_host=host, **kwargs)


def run(rows: pa.Table, context: SourceContext | None = None) -> tuple[Extracted, IssueLog]:
    issues = IssueLog("test")
    out = extract_ipsec_driver(rows, context or ctx(), issues)
    assert out.drops.schema == DROPS_SCHEMA
    assert len(out.event_keys) == out.drops.num_rows
    return out, issues


def packet_row(event_id: str, strings: str, record: str = "500", **extra: str) -> dict:
    row = {"RecordNumber": record, "TimeGenerated": "2026-10-20 10:00:00", "EventID": event_id,
           "SourceName": "IPSEC", "Strings": strings, "ComputerName": "WEB01"}
    row.update(extra)
    return row


# --- 4290 / 4291: one packet each --------------------------------------------------------------

INBOUND_EXPECTED = {
    "event_time": utc(2026, 10, 20, 8, 0, 0),  # 10:00 CEST
    "host": "WEB01",
    "source_format": "logparser-w3c",
    "source_file": "logparser-w3c.log",
    "source_record": 500,
    "event_id": 4290,
    "drop_kind": "packet-dropped",
    "direction": "inbound",
    "protocol": 6,
    "src_ip": "203.0.113.5",
    "src_port": 4000,
    "dst_ip": "198.51.100.10",
    "dst_port": 445,
    "local_ip": "198.51.100.10",
    "remote_ip": "203.0.113.5",
    "packets": 1,
    "wfp_filter_id": None,
    "wfp_layer": None,
    "process_id": None,
    "application": None,
    "message": None,
}


@pytest.mark.parametrize(
    "strings",
    [
        "\\Driver\\IPSEC|203.0.113.5|198.51.100.10|6|4000|445",
        "203.0.113.5|198.51.100.10|6|4000|445",
        "203.0.113.5|198.51.100.10|TCP|4000|445",
        "|203.0.113.5|198.51.100.10|tcp|4000|445",
        "\\Driver\\IPSEC|203.0.113.5|198.51.100.10|TCP|4000|445",
    ],
)
def test_4290_with_or_without_driver_name_and_protocol_number_or_name(strings):
    out, issues = run(evt([packet_row("4290", strings)]))
    assert out.drops.to_pylist() == [INBOUND_EXPECTED]
    assert issues.details == []


@pytest.mark.parametrize(
    "strings",
    [
        "\\Driver\\IPSEC|198.51.100.10|198.18.0.53|17|3300|53",
        "198.51.100.10|198.18.0.53|UDP|3300|53",
        "198.51.100.10|198.18.0.53|17|3300|53",
    ],
)
def test_4291_is_outbound_with_source_local(strings):
    out, issues = run(evt([packet_row("4291", strings)]))
    row = out.drops.to_pylist()[0]
    assert {k: row[k] for k in ("event_id", "direction", "protocol", "src_ip", "src_port", "dst_ip", "dst_port",
                                "local_ip", "remote_ip", "packets", "drop_kind")} == {
        "event_id": 4291, "direction": "outbound", "protocol": 17,
        "src_ip": "198.51.100.10", "src_port": 3300, "dst_ip": "198.18.0.53", "dst_port": 53,
        "local_ip": "198.51.100.10", "remote_ip": "198.18.0.53", "packets": 1, "drop_kind": "packet-dropped",
    }
    assert issues.details == []


# --- 4283-4288: counts; 4292: block mode -------------------------------------------------------

COUNT_KINDS = {
    "4283": "bad-spi",
    "4284": "clear-text-should-be-secured",
    "4285": "auth-failed",
    "4286": "invalid-syntax",
    "4287": "bad-protocol-id",
    "4288": "ipsec-failed-unknown",
}


@pytest.mark.parametrize("event_id", sorted(COUNT_KINDS))
@pytest.mark.parametrize("strings", ["\\Driver\\IPSEC|24|10.1.0.50", "24|10.1.0.50"])
def test_count_events_give_packets_and_remote_ip_inbound(event_id, strings):
    out, issues = run(evt([packet_row(event_id, strings)]))
    row = out.drops.to_pylist()[0]
    assert {k: row[k] for k in ("event_id", "drop_kind", "direction", "packets", "remote_ip", "src_ip", "dst_ip",
                                "local_ip", "protocol", "src_port", "dst_port")} == {
        "event_id": int(event_id), "drop_kind": COUNT_KINDS[event_id], "direction": "inbound", "packets": 24,
        "remote_ip": "10.1.0.50", "src_ip": "10.1.0.50", "dst_ip": None, "local_ip": None,
        "protocol": None, "src_port": None, "dst_port": None,
    }
    assert issues.details == []


@pytest.mark.parametrize("strings", [None, "", "\\Driver\\IPSEC"])
def test_4292_block_mode_has_no_tuple_and_one_packet(strings):
    out, issues = run(evt([packet_row("4292", strings)]))
    row = out.drops.to_pylist()[0]
    assert row["drop_kind"] == "block-mode"
    assert row["event_id"] == 4292
    assert row["packets"] == 1
    assert row["event_time"] == utc(2026, 10, 20, 8, 0, 0)
    for name in ("direction", "protocol", "src_ip", "src_port", "dst_ip", "dst_port", "local_ip", "remote_ip"):
        assert row[name] is None, name
    assert issues.details == []


# --- values out of Message when Strings is absent ------------------------------------------------

MESSAGES = {
    # templates of log-formats.md §1.2, every line break (\r\n and %n) folded to one space
    "4290": ("The IPSec driver has dropped the following inbound packet:  Source IP Address: 203.0.113.5  "
             "Destination IP Address: 198.51.100.10  Protocol: 6  Source Port:  4000  Destination Port: 445  "
             "Offset for IPSec status code:                  0x14  Offset for Offload status code:                "
             "0x10  Offset for Offload flags(0=no offload):        0x20  Offset for packet start:                   "
             "    0x28 "),
    "4291": ("The IPSec driver has dropped the following outbound packet:  Source IP Address: 198.51.100.10  "
             "Destination IP Address: 198.18.0.53  Protocol: UDP  Source Port:  3300  Destination Port: 53  "
             "Offset for IPSec status code:    0x14  Offset for Offload status code:  0x10  "
             "Offset for Offload flags:        0x20  Offset for packet start:         0x28 "),
    "4283": f"Received 2 packet(s) with a bad Security Parameters Index from 10.1.0.52. {TAIL} ",
    "4284": f"Received 24 packet(s) in the clear from 10.1.0.50 which should have been secured. {TAIL} ",
    "4285": f"Failed to authenticate the hash for 5 packet(s) received from 10.1.0.53. {TAIL} ",
    "4286": f"Received 6 packet(s) from 10.1.0.54 with invalid packet syntax. {TAIL} ",
    "4287": f"Received 7 packet(s) from 10.1.0.55 with inproper protocol identifier. {TAIL} ",
    "4288": f"Received 3 packet(s) from 10.1.0.51 that failed the IPSec processing for an unknown reason. {TAIL}. ",
    "4292": ("The IPSec driver has entered Block mode. IPSec will discard all inbound and outbound TCP/IP network "
             "traffic that is not permitted by boot-time IPSec Policy exemptions. User Action: To restore full "
             "unsecured TCP/IP connectivity, disable the IPSec services, and then restart the computer. For "
             "detailed troubleshooting information, review the events in the Security event log. "),
}
MESSAGE_EXPECTED = {  # event id -> (packets, src_ip, dst_ip, protocol, src_port, dst_port)
    "4290": (1, "203.0.113.5", "198.51.100.10", 6, 4000, 445),
    "4291": (1, "198.51.100.10", "198.18.0.53", 17, 3300, 53),
    "4283": (2, "10.1.0.52", None, None, None, None),
    "4284": (24, "10.1.0.50", None, None, None, None),
    "4285": (5, "10.1.0.53", None, None, None, None),
    "4286": (6, "10.1.0.54", None, None, None, None),
    "4287": (7, "10.1.0.55", None, None, None, None),
    "4288": (3, "10.1.0.51", None, None, None, None),
    "4292": (1, None, None, None, None, None),
}


def _tuples(drops: pa.Table) -> dict[str, tuple]:
    return {str(r["event_id"]): (r["packets"], r["src_ip"], r["dst_ip"], r["protocol"], r["src_port"],
                                 r["dst_port"]) for r in drops.to_pylist()}


def test_values_from_message_when_strings_not_exported():
    rows = [{"RecordNumber": str(600 + i), "TimeGenerated": "2026-10-20 10:00:00", "EventID": eid,
             "SourceName": "IPSec", "ComputerName": "WEB01", "Message": MESSAGES[eid]}
            for i, eid in enumerate(MESSAGES)]
    out, issues = run(evt(rows))
    assert _tuples(out.drops) == MESSAGE_EXPECTED
    assert out.drops.column("message").to_pylist() == list(MESSAGES.values())
    assert issues.details == []


def test_message_fallback_per_row_when_strings_is_null():
    rows = [
        packet_row("4290", None, record="1", Message=MESSAGES["4290"]),
        packet_row("4284", "\\Driver\\IPSEC|9|10.1.0.60", record="2", Message=MESSAGES["4284"]),
        packet_row("4284", "", record="3", Message=MESSAGES["4284"]),
    ]
    out, issues = run(evt(rows))
    got = [(r["source_record"], r["packets"], r["src_ip"], r["dst_port"]) for r in out.drops.to_pylist()]
    assert got == [(1, 1, "203.0.113.5", 445), (2, 9, "10.1.0.60", None), (3, 24, "10.1.0.50", None)]
    assert issues.details == []


def test_encodedelim_w3c_file_end_to_end():
    # tests/data/w3c-encodedelim.log, WEB01 (ComputerName "web01") on the night of the fold:
    # 02:15:03 and 02:20:00 with no step back are first pass (+02:00).
    issues = IssueLog("w3c")
    context = ctx()
    drops = []
    other = 0
    for batch in read_w3c(DATA / "w3c-encodedelim.log", issues):
        out = extract_ipsec_driver(batch.table, context, issues)
        drops.extend(out.drops.to_pylist())
        other += batch.other_events + out.other_events
    assert other == 1
    assert [(d["event_id"], d["host"], d["event_time"], d["direction"], d["src_ip"], d["dst_ip"], d["packets"])
            for d in drops] == [
        (4291, "WEB01", utc(2026, 10, 25, 0, 15, 3), "outbound", "198.51.100.10", "198.18.0.53", 1),
        (4284, "WEB01", utc(2026, 10, 25, 0, 20, 0), "inbound", "10.1.0.50", None, 7),
    ]
    # no RecordNumber in this export: source_record is the line number
    assert [d["source_record"] for d in drops] == [5, 7]
    assert issues.details == []


# --- event codes and sources -----------------------------------------------------------------


def test_full_event_codes_are_reduced_to_the_friendly_id():
    assert 0xC00010C0 == 3221229760 and 0xC00010C0 & 0xFFFF == 4288
    assert 0x400010C2 == 1073746114 and 0x400010C2 & 0xFFFF == 4290
    rows = [packet_row("3221229760", "\\Driver\\IPSEC|3|10.1.0.51", record="1"),
            packet_row("1073746114", "203.0.113.5|198.51.100.10|6|4000|445", record="2")]
    out, issues = run(evt(rows))
    assert out.drops.column("event_id").to_pylist() == [4288, 4290]
    assert out.drops.column("drop_kind").to_pylist() == ["ipsec-failed-unknown", "packet-dropped"]
    assert out.drops.column("packets").to_pylist() == [3, 1]
    assert issues.details == []


def test_ipsec_source_matched_case_insensitively_other_sources_not_stored():
    strings = "203.0.113.5|198.51.100.10|6|4000|445"
    rows = [packet_row("4290", strings, record="1", SourceName="IPSEC"),
            packet_row("4290", strings, record="2", SourceName="ipsec"),
            packet_row("4290", strings, record="3", SourceName="IPSec"),
            packet_row("4290", strings, record="4", SourceName="Tcpip"),
            packet_row("4284", "3|10.1.0.50", record="5", SourceName="IPSec Policy Agent"),
            packet_row("4292", None, record="6", SourceName=None),
            packet_row("7036", "IPSEC Services|running", record="7", SourceName="Service Control Manager")]
    out, issues = run(evt(rows))
    assert out.drops.column("source_record").to_pylist() == [1, 2, 3]
    assert out.other_events == 4
    assert issues.details == []


def test_mis_split_service_control_manager_row_is_not_a_drop(tmp_path):
    # Plain W3C cannot tell where "Service Control Manager" ends when the line mentions IPSEC;
    # whatever the split, the row must not become a drop.
    path = tmp_path / "scm.log"
    path.write_text(
        "#Fields: EventLog RecordNumber TimeGenerated TimeWritten EventID EventType EventTypeName EventCategory "
        "EventCategoryName SourceName Strings ComputerName SID Message Data\n"
        "System 1 2026-10-23 08:20:00 2026-10-23 08:20:00 7036 4 Information event 0 None Service Control "
        "Manager IPSEC Services|running WEB01 - The IPSEC Services service entered the running state.  -\n",
        encoding="ascii",
    )
    issues = IssueLog("w3c")
    (batch,) = read_w3c(path, issues)
    out, _ = run(batch.table)
    assert out.drops.num_rows == 0
    assert batch.other_events + out.other_events == 1
    assert issues.details == []


# --- damaged values --------------------------------------------------------------------------


def test_invalid_values_are_malformed_with_their_line_and_not_stored():
    rows = [
        packet_row("4290", "203.0.113.5|198.51.100.10|6|4000|445", record="1"),
        packet_row("4290", "203.0.113.999|198.51.100.10|6|4000|445", record="2"),
        packet_row("4290", "203.0.113.5|198.51.100.10|6|70000|445", record="3"),
        packet_row("4291", "198.51.100.10|198.18.0.53|FOO|3300|53", record="4"),
        packet_row("4284", "many|10.1.0.50", record="5"),
        packet_row("4284", "3|not-an-ip", record="6"),
        packet_row("4290", "203.0.113.5|198.51.100.10|6|4000|445", record="7", TimeGenerated="2026-13-45 10:00:00"),
        packet_row("4291", "198.51.100.10|198.18.0.53|17|3300|53", record="8"),
    ]
    out, issues = run(evt(rows, lines=[21, 22, 23, 24, 25, 26, 27, 28]))
    assert out.drops.column("source_record").to_pylist() == [1, 8]
    assert [(i.location, i.kind) for i in issues.details] == [
        ("line 22", "malformed"), ("line 23", "malformed"), ("line 24", "malformed"),
        ("line 25", "malformed"), ("line 26", "malformed"), ("line 27", "malformed"),
    ]
    reasons = [i.reason for i in issues.details]
    assert "source address" in reasons[0]
    assert "source port" in reasons[1]
    assert "protocol" in reasons[2]
    assert "packet count" in reasons[3]
    assert "remote address" in reasons[4]
    assert "TimeGenerated" in reasons[5]
    assert issues.counts["malformed"] == 6
    assert "203.0.113.999" in issues.details[0].text


def test_ipv6_addresses_are_normalised():
    rows = [packet_row("4290", "2001:DB8:0:0::1|2001:0db8::0:10|6|4000|445", record="1"),
            packet_row("4284", "2|FE80:0000::0001", record="2")]
    out, issues = run(evt(rows))
    got = [(r["src_ip"], r["dst_ip"], r["remote_ip"]) for r in out.drops.to_pylist()]
    assert got == [("2001:db8::1", "2001:db8::10", "2001:db8::1"), ("fe80::1", None, "fe80::1")]
    assert issues.details == []


# --- hosts and time zones ----------------------------------------------------------------------


def test_rows_without_time_zone_are_refused_naming_the_host():
    rows = [packet_row("4290", "203.0.113.5|198.51.100.10|6|4000|445", record="1", ComputerName="NOTZ"),
            packet_row("4290", "203.0.113.5|198.51.100.10|6|4000|445", record="2", ComputerName="FILESRV"),
            packet_row("4290", "203.0.113.5|198.51.100.10|6|4000|445", record="3", ComputerName="FILESRV"),
            packet_row("4290", "203.0.113.5|198.51.100.10|6|4000|445", record="4", ComputerName="WEB01")]
    out, issues = run(evt(rows))
    assert out.drops.column("source_record").to_pylist() == [4]
    refused = sorted((i.reason.split(":")[0], i.count) for i in issues.details if i.kind == "refused-rows")
    assert refused == [("host FILESRV", 2), ("host NOTZ", 1)]
    assert issues.counts["refused-rows"] == 3
    assert issues.counts["malformed"] == 0


def test_source_tz_overrides_and_unknown_host_is_kept_as_written():
    rows = [packet_row("4290", "203.0.113.5|198.51.100.10|6|4000|445", ComputerName="FILESRV",
                       TimeGenerated="2026-07-01 12:00:00")]
    out, issues = run(evt(rows), ctx(source_tz="America/Chicago"))
    row = out.drops.to_pylist()[0]
    assert (row["host"], row["event_time"]) == ("FILESRV", utc(2026, 7, 1, 17, 0, 0))
    assert issues.details == []


def test_host_names_are_canonicalised_and_default_host_fills_missing_computer_name():
    rows = [packet_row("4290", "203.0.113.5|198.51.100.10|6|4000|445", record="1", ComputerName="web01"),
            packet_row("4290", "203.0.113.5|198.51.100.10|6|4000|445", record="2",
                       ComputerName="web01.corp.example.net"),
            packet_row("4290", "203.0.113.5|198.51.100.10|6|4000|445", record="3", ComputerName=None)]
    out, issues = run(evt(rows), ctx(host="WEB01"))
    assert out.drops.column("host").to_pylist() == ["WEB01", "WEB01", "WEB01"]
    assert issues.details == []


def test_chicago_host_times():
    rows = [packet_row("4284", "3|10.1.0.50", record="1", ComputerName="DB01", TimeGenerated="2026-10-23 18:18:23"),
            packet_row("4284", "3|10.1.0.50", record="2", ComputerName="DB01", TimeGenerated="2026-12-01 06:00:00")]
    out, _ = run(evt(rows))
    # CDT -05:00 in October, CST -06:00 in December
    assert out.drops.column("event_time").to_pylist() == [utc(2026, 10, 23, 23, 18, 23), utc(2026, 12, 1, 12, 0, 0)]


# --- identity keys -----------------------------------------------------------------------------


def test_event_keys_same_record_exported_twice_equal_different_records_differ():
    w3c_issues = IssueLog("w3c")
    w3c_rows = pa.concat_tables(
        [b.table for b in read_w3c(DATA / "w3c-dquotes.log", w3c_issues)], promote_options="default")
    csv_issues = IssueLog("csv")
    csv_rows = pa.concat_tables(
        [b.table for b in read_csv_export(DATA / "csv-select-star.csv", csv_issues)], promote_options="default")
    from_w3c, _ = run(w3c_rows, ctx("logparser-w3c"))
    from_csv, _ = run(csv_rows, ctx("logparser-csv"))
    w3c_keys = dict(zip(from_w3c.drops.column("source_record").to_pylist(), from_w3c.event_keys.to_pylist(),
                        strict=True))
    csv_keys = dict(zip(from_csv.drops.column("source_record").to_pylist(), from_csv.event_keys.to_pylist(),
                        strict=True))
    # record 104333 (4290 from 192.0.2.238) is in both exports
    assert set(w3c_keys) == {104333}
    assert set(csv_keys) == {104333, 104334, 104335, 104337}
    assert w3c_keys[104333] == csv_keys[104333]
    assert len(set(csv_keys.values())) == 4


def test_event_keys_ignore_host_case_and_differ_by_host():
    strings = "203.0.113.5|198.51.100.10|6|4000|445"
    a, _ = run(evt([packet_row("4290", strings, record="77", ComputerName="WEB01")]))
    b, _ = run(evt([packet_row("4290", strings, record="77", ComputerName="web01")]))
    c, _ = run(evt([packet_row("4290", strings, record="77", ComputerName="DB01")]))
    d, _ = run(evt([packet_row("4290", strings, record="78", ComputerName="WEB01")]))
    assert a.event_keys.to_pylist() == b.event_keys.to_pylist()
    assert len({a.event_keys[0].as_py(), c.event_keys[0].as_py(), d.event_keys[0].as_py()}) == 3


def _keys_of(path: Path, host: str | None) -> tuple[list[str], IssueLog]:
    issues = IssueLog(str(path))
    context = ctx(host=host)
    keys: list[str] = []
    for batch in read_w3c(path, issues):
        keys.extend(extract_ipsec_driver(batch.table, context, issues).event_keys.to_pylist())
    return keys, issues


def test_event_keys_without_record_number_repeat_across_exports():
    # w3c-subset-fields.log has neither RecordNumber nor ComputerName: the host comes from the context
    # and the identity from the content.
    first, _ = _keys_of(DATA / "w3c-subset-fields.log", "WEB01")
    again, _ = _keys_of(DATA / "w3c-subset-fields.log", "WEB01")
    assert len(first) == 2  # 4291 and 4292; 7036 is not a drop
    assert first == again
    assert first[0] != first[1]
    assert all(k.startswith("WEB01\x1fSystem\x1f") and k.endswith("\x1f1") for k in first)


def test_4292_without_strings_message_or_record_number_is_stored_and_keyed_by_its_time():
    """Such an export (``SELECT TimeGenerated, EventID, SourceName``) used to fail the whole file.

    A 4292 needs no values, so it is kept; with no RecordNumber its identity is (host, System,
    time, event ID, no text, occurrence).  The 4290 beside it has no addresses: refused.
    """
    rows = evt([{"TimeGenerated": "2026-10-20 10:00:00", "EventID": "4292", "SourceName": "IPSEC"},
                {"TimeGenerated": "2026-10-20 10:00:00", "EventID": "4292", "SourceName": "IPSEC"},
                {"TimeGenerated": "2026-10-20 10:00:01", "EventID": "4290", "SourceName": "IPSEC"}])
    out, issues = run(rows, ctx(host="WEB01"))
    assert out.event_keys.to_pylist() == [
        "WEB01\x1fSystem\x1f2026-10-20 08:00:00.000000Z\x1f4292\x1f\x1f1",
        "WEB01\x1fSystem\x1f2026-10-20 08:00:00.000000Z\x1f4292\x1f\x1f2",
    ]
    assert out.drops.column("drop_kind").to_pylist() == ["block-mode", "block-mode"]
    assert out.drops.column("source_record").to_pylist() == [10, 11]  # the line numbers
    assert [(i.kind, i.count) for i in issues.details] == [("refused-rows", 1)]


def test_rows_without_any_host_are_refused():
    keys, issues = _keys_of(DATA / "w3c-subset-fields.log", None)
    assert keys == []
    assert issues.counts["refused-rows"] == 2
    assert "no host" in issues.details[0].reason


# --- pfirewall ---------------------------------------------------------------------------------


def firewall(path: Path, host: str, **kwargs) -> tuple[list[Extracted], IssueLog, SourceContext]:
    issues = IssueLog(str(path))
    context = ctx("pfirewall", host=host, **kwargs)
    outs = [extract_firewall(b.table, context, issues) for b in read_pfirewall(path, issues)]
    return outs, issues, context


def test_firewall_direction_from_path():
    outs, issues, _ = firewall(DATA / "pfirewall-xpsp2-header.log", "DB01")
    rows = [r for o in outs for r in o.drops.to_pylist()]
    got = [(r["source_record"], r["event_time"], r["direction"], r["protocol"], r["src_ip"], r["src_port"],
            r["dst_ip"], r["dst_port"], r["local_ip"], r["remote_ip"]) for r in rows]
    assert got == [
        (7, utc(2026, 10, 24, 14, 0, 1), "inbound", 6, "192.0.2.220", 3841, "10.1.0.20", 3389, "10.1.0.20",
         "192.0.2.220"),
        (9, utc(2026, 10, 24, 14, 0, 3), "outbound", 17, "10.1.0.20", 3300, "198.18.0.53", 53, "10.1.0.20",
         "198.18.0.53"),
        (12, utc(2026, 10, 24, 14, 0, 6), "inbound", 1, "192.0.2.9", None, "10.1.0.20", None, "10.1.0.20",
         "192.0.2.9"),
    ]
    assert all(r["host"] == "DB01" and r["drop_kind"] == "firewall-drop" and r["packets"] == 1
               and r["event_id"] is None for r in rows)
    assert [i.location for i in issues.details] == ["line 10"]  # the reader's too-short line


def test_firewall_direction_without_path_from_host_addresses():
    outs, issues, _ = firewall(DATA / "pfirewall-icf-header.log", "DB01")
    rows = [r for o in outs for r in o.drops.to_pylist()]
    got = [(r["source_record"], r["direction"], r["local_ip"], r["remote_ip"]) for r in rows]
    assert got == [
        (7, "inbound", "10.1.0.20", "192.0.2.220"),
        (8, "inbound", "10.1.0.20", "192.0.2.220"),
        (9, "outbound", "10.1.0.20", "198.18.0.53"),
        (10, None, None, None),  # neither end is DB01's
    ]
    assert rows[0]["event_time"] == utc(2026, 10, 23, 23, 18, 23)
    assert issues.details == []


def test_firewall_path_wins_over_addresses_and_ipv6_is_normalised(tmp_path):
    outs, issues, _ = firewall(DATA / "pfirewall-pid-header.log", "DB01")
    rows = [r for o in outs for r in o.drops.to_pylist()]
    assert [(r["src_ip"], r["process_id"], r["direction"]) for r in rows] == [
        ("192.0.2.30", 4, "inbound"), ("2001:db8::1", None, "inbound"),
    ]
    # ICF-style line (no path) whose destination is DB01's IPv6 address written long-hand
    path = tmp_path / "icf6.log"
    header = (DATA / "pfirewall-icf-header.log").read_text(encoding="ascii").split("\n")[:5]
    path.write_text("\n".join([*header, "2026-10-23 18:30:00 DROP TCP 2001:DB8::99 2001:0DB8:0:0:0:0:0:20 "
                               "5000 445 60 S 1 0 8192 - - -"]) + "\n", encoding="ascii")
    outs, issues, _ = firewall(path, "DB01")
    rows = [r for o in outs for r in o.drops.to_pylist()]
    assert [(r["src_ip"], r["dst_ip"], r["direction"], r["local_ip"]) for r in rows] == [
        ("2001:db8::99", "2001:db8::20", "inbound", "2001:db8::20"),
    ]
    assert issues.details == []


def test_firewall_bad_values_are_malformed_with_line(tmp_path):
    header = (DATA / "pfirewall-xpsp2-header.log").read_text(encoding="ascii").split("\n")[:5]
    lines = [
        "2026-10-24 09:00:01 DROP TCP 192.0.2.1 10.1.0.20 3841 70000 48 S 1 0 65535 - - - RECEIVE",
        "2026-10-24 09:00:02 DROP XYZ 192.0.2.1 10.1.0.20 3841 3389 48 S 1 0 65535 - - - RECEIVE",
        "2026-10-24 09:00:03 DROP TCP 192.0.2.300 10.1.0.20 3841 3389 48 S 1 0 65535 - - - RECEIVE",
        "2026-10-24 09:00:04 DROP TCP 192.0.2.1 10.1.0.20 3841 3389 48 S 1 0 65535 - - - RECEIVE",
    ]
    path = tmp_path / "pfirewall.log"
    path.write_text("\n".join(header + lines) + "\n", encoding="ascii")
    outs, issues, _ = firewall(path, "DB01")
    assert [r["source_record"] for o in outs for r in o.drops.to_pylist()] == [9]
    assert [(i.location, i.kind) for i in issues.details] == [
        ("line 6", "malformed"), ("line 7", "malformed"), ("line 8", "malformed"),
    ]
    assert "dst-port" in issues.details[0].reason
    assert "protocol" in issues.details[1].reason
    assert "src-ip" in issues.details[2].reason


def test_firewall_without_time_zone_is_refused():
    outs, issues, _ = firewall(DATA / "pfirewall-icf-header.log", "NOTZ")
    assert sum(o.drops.num_rows for o in outs) == 0
    assert issues.counts["refused-rows"] == 4


# --- occurrences of identical lines ------------------------------------------------------------


def test_identical_firewall_lines_are_numbered_1_and_2():
    outs, _, _ = firewall(DATA / "pfirewall-icf-header.log", "DB01")
    keys = [k for o in outs for k in o.event_keys.to_pylist()]
    line7 = "2026-10-23 18:18:23 DROP TCP 192.0.2.220 10.1.0.20 3841 3389 48 S 1640769051 0 65535 - - -"
    assert keys[0] == f"DB01\x1fpfirewall\x1f{line7}\x1f1"
    assert keys[1] == f"DB01\x1fpfirewall\x1f{line7}\x1f2"
    assert keys[2].endswith("\x1f1") and keys[3].endswith("\x1f1")
    assert len(set(keys)) == 4


def test_identical_firewall_lines_numbered_across_batches_and_runs():
    issues = IssueLog("fw")
    rows = pa.concat_tables(b.table for b in read_pfirewall(DATA / "pfirewall-icf-header.log", issues))
    whole = extract_firewall(rows, ctx("pfirewall", host="DB01"), issues).event_keys.to_pylist()

    context = ctx("pfirewall", host="DB01")
    split = (extract_firewall(rows.slice(0, 1), context, issues).event_keys.to_pylist()
             + extract_firewall(rows.slice(1), context, issues).event_keys.to_pylist())
    assert split == whole

    # across runs: the counter goes through the manifest as JSON
    first = ctx("pfirewall", host="DB01")
    keys = extract_firewall(rows.slice(0, 1), first, issues).event_keys.to_pylist()
    saved = first.occurrences.to_json()
    second = ctx("pfirewall", host="DB01", occurrences=OccurrenceCounter.from_json(saved))
    keys += extract_firewall(rows.slice(1), second, issues).event_keys.to_pylist()
    assert keys == whole


def test_occurrence_counter_directly():
    counter = OccurrenceCounter()
    keys = pa.array(["a", "b", "a", "a"], pa.string())
    times = np.array([5, 5, 5, 5], dtype=np.int64)
    assert counter.number(keys, times).tolist() == [1, 1, 2, 3]
    # next batch, same second: numbering goes on
    assert counter.number(pa.array(["a", "c"], pa.string()), np.array([5, 5])).tolist() == [4, 1]
    # a later second forgets the earlier one
    assert counter.number(pa.array(["d"], pa.string()), np.array([6])).tolist() == [1]
    assert counter.counts == {"d": 1} and counter.latest_time == 6
    assert counter.number(pa.array(["d", "a"], pa.string()), np.array([6, 6])).tolist() == [2, 1]


@pytest.mark.parametrize("chunked", [False, True])
def test_normalise_ip_keeps_dotted_quads_and_canonicalises_the_rest(chunked):
    """Plain dotted quads pass as they are; others go through ipaddress; junk is NULL and flagged."""
    from pipeline.extract.values import normalise_ip

    given = ["198.51.100.7", None, "FE80::0001", "[::1]", " 10.0.0.1 ", "010.1.2.3", "256.1.1.1", "abc", "",
             "0.0.0.0", "255.255.255.255", "FE80::0001", "1.2.3"]
    want = ["198.51.100.7", None, "fe80::1", "::1", "10.0.0.1", None, None, None, None,
            "0.0.0.0", "255.255.255.255", "fe80::1", None]
    bad = [False, False, False, False, False, True, True, True, True, False, False, False, True]
    values = pa.chunked_array([given[:5], given[5:]]) if chunked else pa.array(given)
    out, flagged = normalise_ip(values)
    assert out.to_pylist() == want
    assert flagged.tolist() == bad
    all_plain, none_bad = normalise_ip(pa.array(["1.2.3.4", None, "9.9.9.9"]))
    assert all_plain.to_pylist() == ["1.2.3.4", None, "9.9.9.9"] and not none_bad.any()
