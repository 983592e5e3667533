"""Round trips of the synthetic EVTX writer (pipeline.synthetic.evtx) through both engines.

The writer is the ground truth the EVTX reader is tested against, so every field it
writes must come back exactly from the Rust engine (``evtx``) and from python-evtx,
the file structure must pass both engines' checks (CRCs included), and files of many
chunks must read back completely.  python-evtx renders only a few hundred records a
second, so it renders every record of the small files and a spread of records of the
big one (all of whose headers it still walks).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import struct
import sys
import xml.etree.ElementTree as ET
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import Evtx.Evtx as PyEvtx
import pytest
from evtx import PyEvtxParser

from pipeline.synthetic.evtx import (
    AUDIT_FAILURE,
    CHUNK_SIZE,
    ClassicEvent,
    EvtxWriter,
    Guid,
    Hex64,
    ManifestEvent,
    Sid,
    UInt32,
    classic_event,
    filetime,
    from_evt_record,
    ipsec_audit_drop,
    ipsec_system_event,
    logon_event,
    security_event,
    service_state_event,
    wfp_5152,
    wfp_5153,
    wfp_5157,
    wfp_5159,
)
from pipeline.synthetic.logparser import io_error_log_data, ipsec_count_drop, ipsec_packet_drop

ROOT = Path(__file__).resolve().parent.parent
NS = {"e": "http://schemas.microsoft.com/win/2004/08/events/event"}
T0 = datetime(2026, 10, 26, 3, 12, 40, 123456)
NON_ASCII = "Zürich – Ωmega 日本"  # python-evtx cannot split string arrays holding U+xx00 characters


# --------------------------------------------------------------------------- helpers


def rust_read(path: Path, validate: bool = True) -> tuple[list[dict], list[str]]:
    """All records (header number, written time, parsed JSON) and the errors, Rust engine."""
    out, errors = [], []
    records = PyEvtxParser(str(path), validate_checksums=validate).records_json()
    while True:
        try:
            r = next(records)
        except StopIteration:
            break
        except RuntimeError as exc:
            errors.append(str(exc))
            continue
        out.append({"number": r["event_record_id"], "timestamp": r["timestamp"], **json.loads(r["data"])["Event"]})
    return out, errors


def py_read(path: Path, render=lambda i: True) -> list[tuple[int, ET.Element | None]]:
    """(header number, parsed XML or None) of every record, python-evtx; XML only where ``render(i)``."""
    out = []
    with PyEvtx.Evtx(str(path)) as log:
        for i, record in enumerate(log.records()):
            xml = ET.fromstring(record.xml()) if render(i) else None
            out.append((record.record_num(), xml))
    return out


def py_system(xml: ET.Element) -> dict[str, object]:
    """The System fields of a python-evtx record."""
    s = xml.find("e:System", NS)
    assert s is not None
    eid = s.find("e:EventID", NS)
    return {
        "provider": s.find("e:Provider", NS).get("Name"),
        "guid": s.find("e:Provider", NS).get("Guid"),
        "event_id": int(eid.text),
        "qualifiers": eid.get("Qualifiers"),
        "level": int(s.find("e:Level", NS).text),
        "task": int(s.find("e:Task", NS).text),
        "keywords": s.find("e:Keywords", NS).text,
        "time": _utc(datetime.fromisoformat(s.find("e:TimeCreated", NS).get("SystemTime"))),
        "record_id": int(s.find("e:EventRecordID", NS).text),
        "channel": s.find("e:Channel", NS).text,
        "computer": s.find("e:Computer", NS).text,
        "user": s.find("e:Security", NS).get("UserID"),
    }


def _utc(t: datetime) -> datetime:
    """python-evtx renders ``+00:00``; a caller that swaps its FILETIME parser may render naive UTC."""
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def py_strings(xml: ET.Element) -> list[str] | None:
    """Classic insertion strings from python-evtx: ONE <Data> holding ``<string>v</string>`` lines."""
    data = xml.find("e:EventData/e:Data", NS)
    if not data.text:
        return None
    return re.findall(r"<string>(.*?)</string>\n", data.text, re.S)


def py_named(xml: ET.Element) -> dict[str, str]:
    return {d.get("Name"): d.text or "" for d in xml.findall("e:EventData/e:Data", NS)}


def write(path: Path, events, **kw) -> Path:
    with EvtxWriter(path, **kw) as w:
        w.write_many(events)
    return path


def rust_text(v: object) -> object:
    """How the Rust engine's JSON shows a written EventData value."""
    if v is None:
        return ""
    if isinstance(v, Hex64):
        return f"0x{v:x}"
    if isinstance(v, Guid):
        return v.strip("{}").upper()
    if isinstance(v, bytes):
        return v.hex().upper()
    if isinstance(v, int):
        return int(v)
    return str(v)


def py_text(v: object) -> str:
    """How python-evtx's XML shows a written EventData value."""
    if v is None:
        return ""
    if isinstance(v, Hex64):
        return f"0x{v:016x}"
    if isinstance(v, Guid):
        return v.lower()
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    return str(v)


# --------------------------------------------------------------------------- classic events


def classic_events() -> list[ClassicEvent]:
    data = bytes.fromhex(io_error_log_data(0x400010C2, bytes(range(48)), n_strings=5, sequence=7))
    return [
        ipsec_system_event(
            104233,
            T0,
            "WEB01",
            4290,
            ["203.0.113.9", "198.51.100.10", "TCP", "51234", "22"],
            binary=data,
            provider="IPSEC",
        ),
        ipsec_system_event(
            104234, T0 + timedelta(microseconds=1), "WEB01", 4284, ["\\Driver\\IPSEC", "12", "10.1.0.50"]
        ),
        ipsec_system_event(104235, T0 + timedelta(seconds=3), "WEB01", 4292, None),
        classic_event(
            104236,
            T0 + timedelta(seconds=4, microseconds=999999),
            "web01",
            "Application Popup",
            26,
            ["w3wp.exe - Application Error", f'memory at "0x28" <&> {NON_ASCII}'],
        ),
        service_state_event(104237, T0 + timedelta(minutes=1), "WEB01", "IPSEC Services", "running"),
        classic_event(
            104238,
            T0 + timedelta(minutes=2),
            "WEB01",
            "EventLog",
            6005,
            ["only"],
            qualifiers=32768,
            user_sid="S-1-5-21-1004336348-1177238915-682003330-500",
            level=3,
        ),
        classic_event(104239, T0 + timedelta(minutes=3), "WEB01", "Tcpip", 4226, None, qualifiers=None),
    ]


def test_classic_events_round_trip_exactly_through_the_rust_engine(tmp_path):
    events = classic_events()
    got, errors = rust_read(write(tmp_path / "s.evtx", events))
    assert errors == [] and len(got) == len(events)
    for ev, r in zip(events, got, strict=True):
        s = r["System"]
        assert r["number"] == s["EventRecordID"] == ev.record_id
        assert s["Provider"]["#attributes"] == {"Name": ev.provider}
        if ev.qualifiers is None:
            assert s["EventID"] == ev.event_id
        else:
            assert s["EventID"] == {"#attributes": {"Qualifiers": ev.qualifiers}, "#text": ev.event_id}
        assert (s["Level"], s["Task"], s["Keywords"]) == (ev.level, ev.task, "0x80000000000000")
        assert s["TimeCreated"]["#attributes"]["SystemTime"] == f"{ev.when:%Y-%m-%dT%H:%M:%S.%f}Z"
        assert (s["Channel"], s["Computer"]) == ("System", ev.computer)
        assert s["Security"] == (None if ev.user_sid is None else {"#attributes": {"UserID": ev.user_sid}})
        data = r["EventData"]["Data"]["#text"]
        if ev.strings is None:
            assert data == ""
        elif len(ev.strings) == 1:
            assert data == ev.strings[0]  # a single value is not a list
        else:
            assert data == list(ev.strings)
        assert r["EventData"]["Binary"] == (ev.binary.hex().upper() if ev.binary else None)


def test_classic_events_round_trip_through_python_evtx(tmp_path):
    events = classic_events()
    got = py_read(write(tmp_path / "s.evtx", events))
    assert len(got) == len(events)
    for ev, (number, xml) in zip(events, got, strict=True):
        s = py_system(xml)
        assert number == s["record_id"] == ev.record_id
        assert (s["provider"], s["guid"], s["event_id"]) == (ev.provider, None, ev.event_id)
        assert s["qualifiers"] == ("" if ev.qualifiers is None else str(ev.qualifiers))
        assert (s["level"], s["task"], s["keywords"]) == (ev.level, ev.task, "0x0080000000000000")
        assert abs(s["time"] - ev.when.replace(tzinfo=UTC)) <= timedelta(microseconds=2)  # rendered via a float
        assert (s["channel"], s["computer"], s["user"]) == ("System", ev.computer, ev.user_sid or "")
        assert py_strings(xml) == (None if ev.strings is None else list(ev.strings))
        binary = xml.find("e:EventData/e:Binary", NS).text
        assert (base64.b64decode(binary) if binary else None) == ev.binary


def test_python_evtx_misreads_string_arrays_that_rust_reads(tmp_path):
    # Documented engine quirk: python-evtx splits a string array with a regex that
    # moves a leading empty string behind the next value, and cannot split characters
    # whose UTF-16 low byte is zero.  Rust reads both exactly.
    events = [
        ipsec_system_event(1, T0, "DB01", 4284, ["", "12", "10.1.0.50"]),
        classic_event(2, T0, "DB01", "X", 1, ["a", "Ā一"]),
    ]
    path = write(tmp_path / "q.evtx", events)
    got, errors = rust_read(path)
    assert errors == [] and [r["EventData"]["Data"]["#text"] for r in got] == [["", "12", "10.1.0.50"], ["a", "Ā一"]]
    first = py_read(path, render=lambda i: i == 0)[0][1]
    assert py_strings(first) == ["12", "", "10.1.0.50"]
    with PyEvtx.Evtx(str(path)) as log, pytest.raises(Exception, match="NULLs"):
        list(log.records())[1].xml()


def test_from_evt_record_is_the_same_event_as_the_log_parser_row(tmp_path):
    rec = ipsec_packet_drop(
        104300,
        datetime(2026, 10, 26, 4, 12, 40),
        "WEB01",
        True,
        "192.0.2.150",
        "198.51.100.10",
        6,
        55555,
        445,
        with_driver_name=False,
        protocol_as_name=True,
        source="IPSEC",
    )
    count = ipsec_count_drop(58200, datetime(2026, 10, 27, 9, 17, 3), "DB01", 4284, 12, "10.1.0.50", driver_name="")
    utc = datetime(2026, 10, 26, 3, 12, 40)
    events = [from_evt_record(rec, utc), from_evt_record(count, utc + timedelta(hours=1))]
    assert events[0].qualifiers == 0x4000 and events[0].level == 4
    assert events[1].qualifiers == 0xC000 and events[1].level == 2
    got, errors = rust_read(write(tmp_path / "e.evtx", events, renumber=True))  # two hosts' logs: renumber
    assert errors == []
    for src, r in zip((rec, count), got, strict=True):
        s = r["System"]
        assert s["EventRecordID"] == src.RecordNumber and s["Provider"]["#attributes"]["Name"] == src.SourceName
        assert "|".join(r["EventData"]["Data"]["#text"]) == src.Strings
        assert r["EventData"]["Binary"] == src.Data  # Log Parser's hex == Rust's hex, byte for byte


# --------------------------------------------------------------------------- Security events


def manifest_events() -> list[ManifestEvent]:
    t = datetime(2026, 10, 27, 14, 3, 11, 274367, tzinfo=UTC)
    return [
        wfp_5152(
            1204551, t, "DB01.example.net", src_ip="192.0.2.44", src_port=51234, dst_ip="10.1.0.20", dst_port=3389
        ),
        wfp_5152(
            1204552,
            t + timedelta(seconds=1),
            "DB01.example.net",
            src_ip="192.0.2.45",
            src_port=0,
            dst_ip="10.1.0.20",
            dst_port=8,
            protocol=1,
            application="System",
            process_id=4,
            layer="%%14610",
            layer_rtid=44,
        ),
        wfp_5157(
            1204553,
            t + timedelta(seconds=2),
            "DB01.example.net",
            direction="outbound",
            local_ip="10.1.0.20",
            local_port=49711,
            remote_ip="203.0.113.80",
            remote_port=443,
            application=f"\\device\\harddiskvolume2\\programme\\{NON_ASCII}.exe",
            process_id=1508,
        ),
        wfp_5153(
            1204554,
            t + timedelta(seconds=3),
            "DB01.example.net",
            src_ip="192.0.2.46",
            src_port=40000,
            dst_ip="10.1.0.20",
            dst_port=445,
        ),
        wfp_5159(1204555, t + timedelta(seconds=4), "DB01.example.net", local_ip="0.0.0.0", local_port=1434),
        ipsec_audit_drop(1204556, t + timedelta(seconds=5), "DB01.example.net", 4963, "10.1.0.50"),
        logon_event(
            1204557,
            t + timedelta(seconds=6),
            "DB01.example.net",
            user="svc_web",
            domain="EXAMPLE",
            user_sid="S-1-5-21-1004336348-1177238915-682003330-1107",
            logon_id=0x1A2B3C,
            ip="10.1.0.10",
            port="1290",
        ),
        security_event(
            1204558,
            t + timedelta(seconds=7),
            "DB01.example.net",
            4999,
            {
                "Text": "a<b&c>\"d'",
                "Empty": "",
                "Null": None,
                "Number": UInt32(7),
                "Big": 2**63 + 5,
                "Sid": Sid("S-1-5-18"),
                "Guid": Guid("{AABBCCDD-1122-3344-5566-778899AABBCC}"),
                "Raw": b"\x01\xab\x00",
                "Unicode": NON_ASCII,
            },
            keywords=AUDIT_FAILURE,
            version=2,
            task=12345,
            thread_id=4456,
        ),
    ]


def test_security_events_round_trip_exactly_through_the_rust_engine(tmp_path):
    events = manifest_events()
    got, errors = rust_read(write(tmp_path / "sec.evtx", events))
    assert errors == [] and len(got) == len(events)
    for ev, r in zip(events, got, strict=True):
        s = r["System"]
        assert r["number"] == s["EventRecordID"] == ev.record_id
        assert s["Provider"]["#attributes"] == {
            "Name": "Microsoft-Windows-Security-Auditing",
            "Guid": "54849625-5478-4994-A5BA-3E3B0328C30D",
        }
        assert s["EventID"] == ev.event_id  # no Qualifiers attribute
        assert (s["Version"], s["Level"], s["Task"], s["Opcode"]) == (ev.version, 0, ev.task, 0)
        assert s["Keywords"] == f"0x{ev.keywords:x}"
        assert s["TimeCreated"]["#attributes"]["SystemTime"] == ev.when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert s["Execution"]["#attributes"] == {"ProcessID": 4, "ThreadID": ev.thread_id}
        assert (s["Channel"], s["Computer"]) == ("Security", "DB01.example.net")
        assert r["EventData"] == {name: rust_text(v) for name, v in ev.data}


def test_security_events_round_trip_through_python_evtx(tmp_path):
    events = manifest_events()
    got = py_read(write(tmp_path / "sec.evtx", events))
    for ev, (number, xml) in zip(events, got, strict=True):
        s = py_system(xml)
        assert number == s["record_id"] == ev.record_id
        assert s["guid"] == "{54849625-5478-4994-a5ba-3e3b0328c30d}" and s["qualifiers"] == ""
        assert (s["event_id"], s["task"], s["keywords"]) == (ev.event_id, ev.task, f"0x{ev.keywords:016x}")
        assert abs(s["time"] - ev.when) <= timedelta(microseconds=2)
        assert (s["channel"], s["computer"]) == ("Security", "DB01.example.net")
        assert py_named(xml) == {name: py_text(v) for name, v in ev.data}


def test_wfp_builders_follow_the_measured_orientation():
    t = datetime(2026, 10, 27, 14, 0, 0)
    inbound = wfp_5152(1, t, "DB01", src_ip="192.0.2.9", src_port=4000, dst_ip="10.1.0.20", dst_port=445)
    d = inbound.data_dict()
    assert (d["SourceAddress"], d["DestAddress"], d["Direction"]) == ("192.0.2.9", "10.1.0.20", "%%14592")
    assert "ProcessId" in d and "ProcessID" not in d
    for direction, token in (("inbound", "%%14592"), ("outbound", "%%14593")):
        conn = wfp_5157(
            2,
            t,
            "DB01",
            direction=direction,
            local_ip="10.1.0.20",
            local_port=1433,
            remote_ip="192.0.2.9",
            remote_port=4000,
        ).data_dict()
        assert (conn["SourceAddress"], conn["SourcePort"], conn["DestAddress"], conn["DestPort"]) == (
            "10.1.0.20",
            "1433",
            "192.0.2.9",
            "4000",
        )  # local end first, whatever the direction
        assert conn["Direction"] == token and "ProcessID" in conn and "ProcessId" not in conn
    assert list(ipsec_audit_drop(3, t, "DB01", 4963, "10.1.0.50").data_dict()) == ["RemoteAddress", "SPI"]
    with pytest.raises(ValueError):
        ipsec_audit_drop(3, t, "DB01", 4964, "10.1.0.50")
    with pytest.raises(ValueError):
        wfp_5152(1, t, "DB01", src_ip="a", src_port=1, dst_ip="b", dst_port=2, direction="sideways")


# --------------------------------------------------------------------------- file structure


def big_events(n: int):
    """``n`` mixed System/Security events (two hosts, so several templates per chunk)."""
    for i in range(n):
        t = T0 + timedelta(seconds=i, microseconds=i % 997)
        k = i % 4
        if k == 0:
            yield ipsec_system_event(
                1000 + i, t, "WEB01", 4290, ["192.0.2.1", "198.51.100.10", "6", str(i), "445"], binary=bytes(88)
            )
        elif k == 1:
            yield service_state_event(1000 + i, t, "WEB01", f"Dienst {NON_ASCII} {i}", "running")
        elif k == 2:
            yield wfp_5152(
                1000 + i, t, "DB01", src_ip="192.0.2.7", src_port=i % 65536, dst_ip="10.1.0.20", dst_port=3389
            )
        else:
            yield wfp_5157(
                1000 + i,
                t,
                "DB01",
                local_ip="10.1.0.20",
                local_port=1433,
                remote_ip="203.0.113.5",
                remote_port=i % 65536,
            )


def check_crcs(path: Path) -> int:
    """Recompute every CRC the format defines (independently of the writer); return the chunk count."""
    raw = path.read_bytes()
    assert raw[:8] == b"ElfFile\0" and len(raw) % CHUNK_SIZE == 4096
    first, last, next_record, hsize, minor, major, block, count = struct.unpack_from("<QQQIHHHH", raw, 8)
    assert (first, hsize, minor, major, block) == (0, 128, 1, 3, 4096)
    assert count == (len(raw) - 4096) // CHUNK_SIZE and last == count - 1
    assert struct.unpack_from("<I", raw, 0x7C)[0] == zlib.crc32(raw[:0x78])
    last_number = None
    for c in range(count):
        chunk = raw[4096 + c * CHUNK_SIZE : 4096 + (c + 1) * CHUNK_SIZE]
        assert chunk[:8] == b"ElfChnk\0"
        f_first, f_last, l_first, l_last, hsize, last_off, free = struct.unpack_from("<QQQQIII", chunk, 8)
        assert (f_first, f_last) == (l_first, l_last) and hsize == 128 and f_first == (last_number or f_first - 1) + 1
        assert struct.unpack_from("<I", chunk, 0x34)[0] == zlib.crc32(chunk[0x200:free])
        assert struct.unpack_from("<I", chunk, 0x7C)[0] == zlib.crc32(chunk[:0x78] + chunk[0x80:0x200])
        pos, numbers = 0x200, []
        while pos < free:  # walk the records: magic, size at both ends, consecutive numbers
            magic, size, number = struct.unpack_from("<IIQ", chunk, pos)
            assert magic == 0x2A2A and size % 8 == 0 and struct.unpack_from("<I", chunk, pos + size - 4)[0] == size
            numbers.append(number)
            last_record = pos
            pos += size
        assert pos == free and last_record == last_off and numbers == list(range(f_first, f_last + 1))
        last_number = f_last
    assert next_record == last_number + 1
    return count


def test_five_thousand_records_span_many_chunks_and_read_back_completely(tmp_path):
    n = 5000
    path = tmp_path / "big.evtx"
    with EvtxWriter(path) as w:
        for i, ev in enumerate(big_events(n)):
            w.write(ev)
            if i == 2500:  # chunks go to disk as they fill: memory stays flat
                assert path.stat().st_size == 4096 + w.chunks_written * CHUNK_SIZE and w.chunks_written >= 5
    chunks = check_crcs(path)
    assert chunks >= 10
    got, errors = rust_read(path, validate=True)
    assert errors == [] and [r["System"]["EventRecordID"] for r in got] == list(range(1000, 1000 + n))
    expected = list(big_events(n))
    for ev, r in zip(expected, got, strict=True):
        data = r["EventData"]
        if isinstance(ev, ClassicEvent):
            assert data["Data"]["#text"] == list(ev.strings)
        else:
            assert data == {name: rust_text(v) for name, v in ev.data}
        assert r["System"]["TimeCreated"]["#attributes"]["SystemTime"] == f"{ev.when:%Y-%m-%dT%H:%M:%S.%f}Z"
    # python-evtx: every record header, and the XML of a spread of records including each
    # chunk's first and last record (chunk-local templates and names are re-defined).
    with PyEvtx.Evtx(str(path)) as log:
        firsts = [ch.log_first_record_number() for ch in log.chunks()]
    edges = {f - 1000 for f in firsts} | {f - 1001 for f in firsts[1:]} | {n - 1}
    assert len(firsts) == chunks and len(edges) == 2 * chunks
    py = py_read(path, render=lambda i: i in edges or i % 97 == 0)
    assert [number for number, _ in py] == list(range(1000, 1000 + n))
    for i, (_, xml) in enumerate(py):
        if xml is None:
            continue
        ev = expected[i]
        assert py_system(xml)["record_id"] == ev.record_id
        if isinstance(ev, ClassicEvent):
            assert py_strings(xml) == list(ev.strings)
        else:
            assert py_named(xml) == {name: py_text(v) for name, v in ev.data}


def test_large_records_fill_several_chunks_rendered_entirely_by_python_evtx(tmp_path):
    events = [
        classic_event(
            10 + i,
            T0 + timedelta(seconds=i),
            "WEB01",
            "Big",
            1,
            [f"{i}:" + "x" * 9000, NON_ASCII],
            binary=bytes([i]) * 5000,
        )
        for i in range(24)
    ]
    path = write(tmp_path / "large.evtx", events)
    assert check_crcs(path) >= 4
    got = py_read(path)
    assert [py_strings(xml) for _, xml in got] == [list(ev.strings) for ev in events]
    rust, errors = rust_read(path)
    assert errors == [] and [r["EventData"]["Binary"] for r in rust] == [ev.binary.hex().upper() for ev in events]
    with PyEvtx.Evtx(str(path)) as log:
        assert log.get_file_header().verify() and all(ch.verify() for ch in log.chunks())


def test_crc_validation_catches_a_flipped_byte(tmp_path):
    # The CRCs the writer stores are the ones Rust checks: a damaged record drops its chunk.
    path = write(tmp_path / "ok.evtx", big_events(600))
    assert rust_read(path, validate=True)[1] == []
    raw = bytearray(path.read_bytes())
    raw[4096 + 0x400] ^= 0xFF  # inside the first chunk's records
    bad = tmp_path / "bad.evtx"
    bad.write_bytes(bytes(raw))
    records, errors = rust_read(bad, validate=True)
    assert errors and len(records) < 600


def test_renumbered_export_keeps_event_record_ids(tmp_path):
    events = [
        service_state_event(319457771 + 3 * i, T0 + timedelta(seconds=i), "WEB01", "x", "running") for i in range(5)
    ]
    path = write(tmp_path / "q.evtx", events, renumber=True)
    got, errors = rust_read(path)
    assert errors == [] and [r["number"] for r in got] == [1, 2, 3, 4, 5]
    assert [r["System"]["EventRecordID"] for r in got] == [ev.record_id for ev in events]
    assert [n for n, _ in py_read(path, render=lambda i: False)] == [1, 2, 3, 4, 5]
    assert check_crcs(path) == 1


def test_written_time_is_the_record_header_time(tmp_path):
    ev = wfp_5152(9, T0, "DB01", src_ip="192.0.2.1", src_port=1, dst_ip="10.1.0.20", dst_port=2)
    late = replace(ev, written=T0 + timedelta(seconds=11))
    path = write(tmp_path / "w.evtx", [late])
    raw = path.read_bytes()
    assert struct.unpack_from("<Q", raw, 4096 + 0x200 + 16)[0] == filetime(T0 + timedelta(seconds=11))
    (r,), _ = rust_read(path)
    assert r["System"]["TimeCreated"]["#attributes"]["SystemTime"] == f"{T0:%Y-%m-%dT%H:%M:%S.%f}Z"
    assert r["timestamp"].startswith(f"{T0 + timedelta(seconds=11):%Y-%m-%dT%H:%M:%S}")


def test_writer_refuses_decreasing_numbers_and_oversized_records(tmp_path):
    with EvtxWriter(tmp_path / "x.evtx") as w:
        w.write(service_state_event(5, T0, "WEB01", "a", "running"))
        with pytest.raises(ValueError, match="increase"):
            w.write(service_state_event(5, T0, "WEB01", "a", "running"))
        with pytest.raises(ValueError, match="fit"):
            w.write(classic_event(6, T0, "WEB01", "Big", 1, ["x" * 40000]))
        w.write(service_state_event(6, T0, "WEB01", "a", "stopped"))  # the failed write changed nothing
    got, errors = rust_read(tmp_path / "x.evtx")
    assert errors == [] and [r["System"]["EventRecordID"] for r in got] == [5, 6]


# --------------------------------------------------------------------------- bench generator


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_generate_evtx", ROOT / "bench" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_generate_evtx"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("log", "drop_ids"),
    [("security", {5152, 5153, 5157, 5159}), ("system", {4284, 4290, 4291})],
)
def test_bench_generator_writes_n_evtx_records(tmp_path, log, drop_ids):
    bench = _load_bench()
    out = tmp_path / "b.evtx"
    assert bench.main(["evtx", str(out), "--lines", "3000", "--drop-share", "0.5", "--log", log]) == 0
    got, errors = rust_read(out)
    assert errors == [] and len(got) == 3000
    ids = [r["System"]["EventID"] for r in got]
    ids = [i["#text"] if isinstance(i, dict) else i for i in ids]
    drops = sum(i in drop_ids for i in ids)
    assert 1200 < drops < 1800
    assert {r["System"]["Channel"] for r in got} == {"Security" if log == "security" else "System"}
    times = [r["System"]["TimeCreated"]["#attributes"]["SystemTime"] for r in got]
    assert times == sorted(times)
    if log == "security":
        assert 5156 in ids  # allowed connections: noise that looks like a drop
