"""Tests of the synthetic export writers (pipeline.synthetic), the sample site and bench generator.

The writers are the ground truth the readers are tested against, so their output format
is pinned here: quoting, delimiters, headers, NULLs, message folding, the binary Data.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import re
import struct
import sys
from datetime import datetime
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from pipeline.synthetic import (
    EVT_FIELDS,
    CSVWriter,
    FirewallLine,
    PfirewallWriter,
    W3CWriter,
    ipsec_block_mode,
    ipsec_count_drop,
    ipsec_packet_drop,
    other_event,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_logs"
T = datetime(2026, 10, 26, 8, 0, 5)
QUOTED = 'The instruction at "0x77f8e1a2" referenced memory, "read", failed'


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ in sample_logs/
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    return module


def _records():
    return [
        ipsec_packet_drop(10, T, "WEB01", True, "203.0.113.5", "198.51.100.10", 6, 51234, 22),
        ipsec_count_drop(11, T, "DB01", 4284, 12, "10.1.0.50", driver_name=""),
        ipsec_block_mode(12, T, "WEB01"),
        other_event(13, T, "WEB01", "Application Popup", 26, ["w3wp.exe - Application Error", QUOTED]),
        other_event(14, T, "WEB01", "EventLog", 6005, None),
    ]


def _w3c(mode: str, fields=None) -> str:
    buf = io.StringIO(newline="")
    w = W3CWriter(buf, fields, mode, created=datetime(2026, 10, 27, 0, 1, 2))
    w.write_many(_records())
    return buf.getvalue()


def _data_lines(text: str) -> list[str]:
    return [ln for ln in text.split("\r\n") if ln and not ln.startswith("#")]


# --------------------------------------------------------------------------- messages


def test_4290_message_is_the_template_folded_onto_one_line():
    r = _records()[0]
    expected = (
        "The IPSec driver has dropped the following inbound packet:  "
        "Source IP Address: 203.0.113.5  "
        "Destination IP Address: 198.51.100.10  "
        "Protocol: 6  "
        "Source Port:  51234  "
        "Destination Port: 22  "
        "Offset for IPSec status code:                  0x14  "
        "Offset for Offload status code:                0x10  "
        "Offset for Offload flags(0=no offload):        0x20  "
        "Offset for packet start:                       0x28 "
    )
    assert r.Message == expected
    assert r.EventType == 4 and r.EventTypeName == "Information event"


def test_count_event_message_and_severity():
    r = _records()[1]
    assert r.Message.startswith(
        "Received 12 packet(s) in the clear from 10.1.0.50 which should have been secured. "
    )
    assert "\r" not in r.Message and "\n" not in r.Message
    assert (r.EventType, r.EventTypeName, r.EventCategory, r.EventCategoryName) == (
        1,
        "Error event",
        0,
        "None",
    )
    with pytest.raises(ValueError):
        ipsec_count_drop(1, T, "DB01", 4290, 1, "10.1.0.50")


def test_strings_layouts():
    args = (1, T, "WEB01", False, "198.51.100.10", "198.18.0.53", 17, 1033, 53)
    assert ipsec_packet_drop(*args).Strings == "\\Driver\\IPSEC|198.51.100.10|198.18.0.53|17|1033|53"
    assert ipsec_packet_drop(*args, with_driver_name=False, protocol_as_name=True).Strings == (
        "198.51.100.10|198.18.0.53|UDP|1033|53"
    )
    assert ipsec_packet_drop(*args, driver_name="").Strings == "|198.51.100.10|198.18.0.53|17|1033|53"
    assert ipsec_packet_drop(*args, with_driver_name=False).EventID == 4291
    # The message is rendered from the true values whatever the Strings layout.
    assert ipsec_packet_drop(*args).Message == ipsec_packet_drop(*args, with_driver_name=False).Message
    assert _records()[2].Strings is None


def test_data_holds_io_error_log_header_then_the_ip_packet():
    r = _records()[0]
    raw = bytes.fromhex(r.Data)
    assert struct.unpack_from("<I", raw, 0x0C)[0] == 0x400010C2  # ErrorCode = message id
    ip = raw[0x28:]
    assert ip[0] == 0x45 and ip[9] == 6
    assert ip[12:16] == IPv4Address("203.0.113.5").packed and ip[16:20] == IPv4Address("198.51.100.10").packed
    assert struct.unpack_from("!HH", ip, 20) == (51234, 22)
    assert struct.unpack_from("<H", raw, 2)[0] == len(ip)  # DumpDataSize
    # A valid IPv4 header checksums to zero.
    total = sum(struct.unpack("!10H", ip[:20]))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    assert total == 0xFFFF


# --------------------------------------------------------------------------- W3C


def test_w3c_header_crlf_and_nulls_plain():
    text = _w3c("plain")
    assert text.startswith(
        "#Software: Microsoft Log Parser\r\n#Version: 1.0\r\n#Date: 2026-10-27 00:01:02\r\n"
        "#Fields: " + " ".join(EVT_FIELDS) + "\r\n"
    )
    assert "\n" not in text.replace("\r\n", "")
    lines = _data_lines(text)
    assert len(lines) == 5
    block = lines[2].split(" ")
    # EventLog RecordNumber <date time> <date time> EventID EventType "Error" "event" ...
    assert block[:8] == ["System", "12", "2026-10-26", "08:00:05", "2026-10-26", "08:00:05", "4292", "1"]
    assert " IPSec - WEB01 - The IPSec driver has entered Block mode." in lines[2]  # NULL Strings, NULL SID
    assert lines[4].endswith(" -")  # NULL Data


_DQ_TOKEN = re.compile(r'"(?:[^"]|"")*"|\S+')


def test_w3c_dquotes_quotes_strings_and_doubles_inner_quotes():
    lines = _data_lines(_w3c("dquotes"))
    popup = lines[3]
    assert '""0x77f8e1a2""' in popup
    tokens = _DQ_TOKEN.findall(popup)
    assert len(tokens) == len(EVT_FIELDS) + 2  # each timestamp is two unquoted tokens
    values = [t[1:-1].replace('""', '"') if t.startswith('"') else t for t in tokens]
    rec = _records()[3]
    assert values[0] == "System" and tokens[1] == "13" and tokens[6] == "26"
    assert values[12] == rec.Strings
    assert values[14] == "-" and tokens[14] == "-"  # NULL SID stays an unquoted dash
    assert values[15] == rec.Message
    assert popup.endswith(" -")


def test_w3c_encodedelim_has_no_space_inside_values():
    fields = ["TimeGenerated", "EventID", "SourceName", "Strings", "ComputerName", "Message"]
    recs = _records()
    for line, rec in zip(_data_lines(_w3c("encodedelim", fields)), recs, strict=True):
        tokens = line.split(" ")
        assert len(tokens) == len(fields) and all(tokens)
        assert tokens[0] == "2026-10-26+08:00:05"
        for name, tok in zip(fields[1:], tokens[1:], strict=True):
            value = getattr(rec, name)
            assert tok == ("-" if value is None else str(value).replace(" ", "+"))
            if value is not None:
                assert tok.replace("+", " ") == str(value)


def test_w3c_new_block_switches_field_list():
    buf = io.StringIO(newline="")
    w = W3CWriter(buf, created=datetime(2026, 10, 27))
    w.write(_records()[0])
    w.new_block(["EventLog", "RecordNumber", "TimeGenerated", "EventID"], created=datetime(2026, 10, 28))
    w.write(_records()[1])
    text = buf.getvalue()
    assert text.count("#Software: Microsoft Log Parser\r\n") == 2
    assert "#Date: 2026-10-28 00:00:00\r\n#Fields: EventLog RecordNumber TimeGenerated EventID\r\n" in text
    assert text.endswith("\r\nSystem 11 2026-10-26 08:00:05 4284\r\n")
    assert w.rows_written == 2


def test_w3c_rejects_unknown_mode_and_field():
    with pytest.raises(ValueError):
        W3CWriter(io.StringIO(), mode="tabs")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        W3CWriter(io.StringIO(), ["EventID", "Bogus"])


# --------------------------------------------------------------------------- CSV


def test_csv_round_trips_through_the_csv_module():
    buf = io.StringIO(newline="")
    w = CSVWriter(buf)
    w.write_many(_records())
    text = buf.getvalue()
    assert text.startswith(",".join(EVT_FIELDS) + "\r\n")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == list(EVT_FIELDS)
    assert len(rows) == 6
    for row, rec in zip(rows[1:], _records(), strict=True):
        assert len(row) == len(EVT_FIELDS)
        for name, cell in zip(EVT_FIELDS, row, strict=True):
            value = getattr(rec, name)
            if value is None:
                assert cell == ""
            elif isinstance(value, datetime):
                assert cell == "2026-10-26 08:00:05"
            else:
                assert cell == str(value)
    assert '"w3wp.exe - Application Error|The instruction at ""0x77f8e1a2"" referenced' in text


# --------------------------------------------------------------------------- pfirewall


def _fw(variant: str) -> str:
    buf = io.StringIO(newline="")
    w = PfirewallWriter(buf, variant)  # type: ignore[arg-type]
    w.write(
        FirewallLine(
            T,
            "DROP",
            "TCP",
            "192.0.2.7",
            "10.1.0.20",
            1172,
            3389,
            48,
            "S",
            1640769051,
            0,
            65535,
            path="RECEIVE",
        )
    )
    w.write(
        FirewallLine(
            T,
            "DROP",
            "ICMP",
            "10.1.0.50",
            "10.1.0.20",
            None,
            None,
            60,
            icmptype=8,
            icmpcode=0,
            path="RECEIVE",
            pid=4,
        )
    )
    return buf.getvalue()


@pytest.mark.parametrize(
    ("variant", "head", "last_fields"),
    [
        ("xpsp2", "#Version: 1.5\r\n#Software: Microsoft Windows Firewall\r\n", "info path"),
        ("with-pid", "#Version: 1.5\r\n#Software: Microsoft Windows Firewall\r\n", "info path pid"),
        ("icf", "#Verson: 1.0\r\n#Software: Microsoft Internet Connection Firewall\r\n", "icmpcode info"),
    ],
)
def test_pfirewall_header_variants(variant, head, last_fields):
    text = _fw(variant)
    lines = text.split("\r\n")
    assert text.startswith(head + "#Time Format: Local\r\n#Fields: date time action protocol src-ip ")
    assert lines[3].endswith(last_fields)
    assert lines[4] == ""  # blank line after the header
    n_fields = len(lines[3].split(" ")) - 1
    assert [len(ln.split(" ")) for ln in lines[5:7]] == [n_fields, n_fields]
    assert lines[7] == "" and len(lines) == 8


def test_pfirewall_values():
    lines = _fw("with-pid").split("\r\n")
    assert (
        lines[5]
        == "2026-10-26 08:00:05 DROP TCP 192.0.2.7 10.1.0.20 1172 3389 48 S 1640769051 0 65535 - - - "
        "RECEIVE -"
    )
    assert lines[6] == "2026-10-26 08:00:05 DROP ICMP 10.1.0.50 10.1.0.20 - - 60 - - - - 8 0 - RECEIVE 4"
    assert _fw("icf").split("\r\n")[5].endswith("65535 - - -")


# --------------------------------------------------------------------------- sample site


def test_sample_site_is_regenerated_byte_for_byte(tmp_path):
    gen = _load(SAMPLE / "generate.py", "sample_generate")
    gen.main(["--out", str(tmp_path)])
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert written, "generator wrote nothing"
    for rel in written:
        assert (SAMPLE / rel).read_bytes() == (tmp_path / rel).read_bytes(), (
            f"{rel} is stale: rerun generate.py"
        )
    total = sum((tmp_path / rel).stat().st_size for rel in written) + (SAMPLE / "generate.py").stat().st_size
    assert total < 1_000_000


def _w3c_drop_rows(path: Path) -> list[tuple[str | None, str]]:
    """(RecordNumber or None, EventID) of drop rows, read with a minimal independent parser."""
    encode = "encodedelim" in path.name
    out, fields = [], []
    for line in path.read_bytes().decode("ascii").split("\r\n"):
        if line.startswith("#Fields: "):
            fields = line[9:].split(" ")
            continue
        if not line or line.startswith("#"):
            continue
        tokens = _DQ_TOKEN.findall(line)
        pos, at = 0, {}
        for name in fields[: fields.index("EventID") + 1]:
            at[name] = pos
            pos += 1 if encode or not name.startswith("Time") else 2
        event_id = tokens[at["EventID"]]
        rn = tokens[at["RecordNumber"]] if "RecordNumber" in at else None
        if 4283 <= int(event_id) <= 4292:
            out.append((rn, event_id))
    return out


_SECURITY_DROPS = {5152, 5153, 5157, 5159, 4960, 4961, 4962, 4963, 4965}


def _evtx_drop_rows(path: Path) -> list[tuple[str, str]]:
    """(EventRecordID, EventID) of drop records, read with the Rust engine (independently of the pipeline)."""
    from evtx import PyEvtxParser

    out = []
    for r in PyEvtxParser(str(path)).records_json():
        s = json.loads(r["data"])["Event"]["System"]
        eid = s["EventID"]["#text"] if isinstance(s["EventID"], dict) else s["EventID"]
        provider = s["Provider"]["#attributes"]["Name"].lower()
        if (provider == "ipsec" and 4283 <= eid <= 4292) or (
            provider == "microsoft-windows-security-auditing" and eid in _SECURITY_DROPS
        ):
            out.append((str(s["EventRecordID"]), str(eid)))
    return out


def test_expected_counts_agree_with_the_files():
    exp = json.loads((SAMPLE / "expected.json").read_text())
    assert exp["total_drops"] == sum(exp["by_host"].values()) == sum(exp["by_event_id"].values())
    assert exp["total_drops"] == sum(exp["by_file"].values()) - exp["duplicate_rows"]
    rows: dict[str, list] = {}
    for rel in exp["by_file"]:
        path = SAMPLE / rel
        if path.name.startswith("pfirewall"):
            rows[rel] = [ln for ln in path.read_bytes().decode("ascii").split("\r\n") if " DROP " in ln]
        elif path.suffix == ".csv":
            with path.open(newline="") as f:
                rows[rel] = [
                    (r["RecordNumber"], r["EventID"])
                    for r in csv.DictReader(f)
                    if 4283 <= int(r["EventID"]) <= 4292
                ]
        elif path.suffix == ".evtx":
            rows[rel] = _evtx_drop_rows(path)
        else:
            rows[rel] = _w3c_drop_rows(path)
        assert len(rows[rel]) == exp["by_file"][rel], rel
    dq = set(rows["exports/web01/system-20261025-dquotes.log"])
    cs = set(rows["exports/web01/system-20261025.csv"])
    ev = set(rows["exports/web01/system-20261026.evtx"])  # EventRecordID = RecordNumber of the CSV rows
    assert dq < cs and len(cs - dq) > 0 and ev <= cs and not ev & dq
    assert exp["duplicate_rows"] == len(dq) + len(ev)
    assert [e["pass"] for e in exp["repeated_hour_web01"]] == sorted(
        e["pass"] for e in exp["repeated_hour_web01"]
    )
    assert {1, 2} <= {e["pass"] for e in exp["repeated_hour_web01"]}


def test_expected_drops_csv_has_one_line_per_drop():
    exp = json.loads((SAMPLE / "expected.json").read_text())
    with (SAMPLE / "expected-drops.csv").open(newline="") as f:
        drops = list(csv.DictReader(f))
    assert len(drops) == exp["total_drops"]
    keys = {
        (d["host"], d["record_number"] or d["event_time_utc"] + d["src_ip"] + d["src_port"]) for d in drops
    }
    assert len(keys) == len(drops)


# --------------------------------------------------------------------------- bench


@pytest.mark.parametrize(
    ("kind", "extra", "header_lines"),
    [
        ("w3c", ["--mode", "plain"], 4),
        ("w3c", ["--mode", "dquotes"], 4),
        ("w3c", ["--mode", "encodedelim"], 4),
        ("csv", [], 1),
        ("pfirewall", [], 5),
    ],
)
def test_bench_generator_writes_exactly_n_rows(tmp_path, kind, extra, header_lines):
    bench = _load(ROOT / "bench" / "generate.py", "bench_generate")
    out = tmp_path / "out.txt"
    assert bench.main([kind, str(out), "--lines", "3000", "--drop-share", "0.5", *extra]) == 0
    lines = out.read_bytes().split(b"\r\n")
    assert lines[-1] == b""
    assert len(lines) - 1 == 3000 + header_lines
    data = [ln.decode() for ln in lines[header_lines:-1]]
    if kind == "pfirewall":
        drops = sum(" DROP " in ln for ln in data)
    elif kind == "csv":
        drops = sum(r[9] == "IPSEC" for r in csv.reader(data))
    else:
        drops = sum("IPSEC" in ln for ln in data)
    assert 1200 < drops < 1800
