"""Real public files (not written by this project) read as ``truth.json`` says they must be.

The files and ``truth.json`` live in ``../shared/corpus/realworld/`` and are used from there,
never copied in (some are GPL-3.0; see SOURCES.md there).  ``truth.json``'s figures were derived
without ipsec-drops (EVTX with the evtx package's ``records_json()``, pfirewall.log with a separate
split of its ``#Fields:`` header); pfirewall.log has local times and no zone, and the figures
assume Europe/Berlin.  Every figure it gives that this project computes is asserted: rows read,
drops, skipped lines, drops by path (direction) and protocol, sample rows, and for EVTX the
hosts.  Besides, every DROP line is checked field by field against a plain line split done here
(an oracle that shares no code with the readers).
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
from conftest import shared_path

from pipeline import Warehouse, ingest, parse_config
from pipeline.issues import IssueLog
from pipeline.readers.pfirewall import read_pfirewall

CONFIG = """
[hosts.FW01]
timezone = "Europe/Berlin"
"""
BERLIN = ZoneInfo("Europe/Berlin")
PROTOCOLS = {"TCP": 6, "UDP": 17, "ICMP": 1}  # the ones these files hold
PFIREWALL = ["BetaHydri+ParseFirewallLog.pfirewall.log", "log2timeline+plaso.test_data.firewall.log"]
EVTX = ["DE_1102_security_log_cleared.evtx", "DE_RDP_Tunnel_5156.evtx", "ID2003-4950-Firewall_disabled.evtx",
        "ID4688-5447-4950-Firewall_disabled_command.evtx", "ID4964-Login_special_group.evtx",
        "dicovery_4661_net_group_domain_admins_target.evtx", "python-evtx_security.evtx", "python-evtx_system.evtx"]


def truth() -> dict:
    return json.loads(shared_path("corpus", "realworld", "truth.json").read_text(encoding="utf-8"))


def test_truth_lists_exactly_the_files_tested_here():
    figures = truth()
    assert sorted(figures["pfirewall"]) == sorted(PFIREWALL)
    assert sorted(figures["evtx"]) == sorted(EVTX)


def ingest_one(path: Path, tmp_path: Path, **kwargs):
    config = parse_config(CONFIG, tmp_path / "ipsec-drops.toml")
    wh = tmp_path / "W"
    report = ingest([path], Warehouse(wh), config, **kwargs)
    assert len(report.files) == 1
    return report, wh


def stored(wh: Path) -> list[dict]:
    """The stored drops as plain Python values (times as UTC datetimes), by record (line) number."""
    if not list(wh.glob("drops/date=*/*.parquet")):
        return []
    query = duckdb.sql(f"""select source_record, event_time, host, source_format, drop_kind, direction, protocol,
                                  src_ip, src_port, dst_ip, dst_port, local_ip, remote_ip, packets
                           from read_parquet('{wh}/drops/**/*.parquet') order by source_record""")
    rows = [dict(zip(query.columns, values, strict=True)) for values in query.fetchall()]
    for row in rows:
        row["event_time"] = row["event_time"].astimezone(UTC)
    return rows


# --- pfirewall.log ---------------------------------------------------------------------------


def oracle(path: Path) -> tuple[list[dict], Counter, int]:
    """Every DROP line as a drop row, worked out by a plain split of each line by the #Fields: header.

    Also the count of each action and of data lines (non-directive, non-blank lines).
    """
    fields: list[str] = []
    drops, actions, data_lines = [], Counter(), 0
    for number, line in enumerate(path.read_text(encoding="ascii").splitlines(), start=1):
        if line.startswith("#Fields:"):
            fields = line.split()[1:]
            continue
        if line.startswith("#") or not line.strip():
            continue
        data_lines += 1
        v = dict(zip(fields, line.split(" "), strict=True))
        actions[v["action"]] += 1
        if v["action"] != "DROP":
            continue
        local = datetime.strptime(f"{v['date']} {v['time']}", "%Y-%m-%d %H:%M:%S").replace(tzinfo=BERLIN)
        src, dst = str(ipaddress.ip_address(v["src-ip"])), str(ipaddress.ip_address(v["dst-ip"]))
        direction = {"RECEIVE": "inbound", "SEND": "outbound"}[v["path"]]
        drops.append({
            "source_record": number, "event_time": local.astimezone(UTC), "host": "FW01",
            "source_format": "pfirewall", "drop_kind": "firewall-drop", "direction": direction,
            "protocol": PROTOCOLS[v["protocol"]], "src_ip": src, "dst_ip": dst,
            "src_port": None if v["src-port"] == "-" else int(v["src-port"]),
            "dst_port": None if v["dst-port"] == "-" else int(v["dst-port"]),
            "local_ip": dst if direction == "inbound" else src, "remote_ip": src if direction == "inbound" else dst,
            "packets": 1,
        })
    return drops, actions, data_lines


@pytest.mark.parametrize("name", PFIREWALL)
def test_pfirewall_every_drop_line_is_stored_with_its_fields(tmp_path, name):
    path = shared_path("corpus", "realworld", "pfirewall", name)
    want = truth()["pfirewall"][name]
    report, wh = ingest_one(path, tmp_path, host="FW01")
    result = report.files[0]
    assert (result.format, result.status, result.host) == ("pfirewall", "ingested", "FW01")
    assert [str(i) for i in report.issues] == []  # has_fields_header: no warning; no invalid address
    assert want["has_fields_header"] and want["drop_lines_with_invalid_address"] == 0
    assert want["invalid_address_lines"] == [] and result.skipped == 0
    assert result.rows_read == want["data_lines"]
    assert result.drops_found == result.drops_stored == want["drops"] == want["drop_lines"]
    assert result.duplicates == 0  # identical lines are separate packets
    assert want["drops"] == want["actions"]["DROP"]

    rows = stored(wh)
    assert dict(Counter(r["direction"] for r in rows)) == {
        {"RECEIVE": "inbound", "SEND": "outbound"}[p]: n for p, n in want["drops_by_path"].items()}
    assert dict(Counter(r["protocol"] for r in rows)) == {
        PROTOCOLS[p]: n for p, n in want["drops_by_protocol"].items()}
    by_line = {r["source_record"]: r for r in rows}
    for sample in want["sample_rows"]:
        row = by_line[sample["line"]]
        assert row["event_time"] == datetime.fromisoformat(sample["event_time_utc_if_Europe/Berlin"])
        assert row["event_time"] == datetime.fromisoformat(sample["local_time"]).replace(tzinfo=BERLIN)
        assert (row["protocol"], row["src_ip"], row["src_port"], row["dst_ip"], row["dst_port"], row["direction"]) == (
            PROTOCOLS[sample["protocol"]], sample["src_ip"], int(sample["src_port"]), sample["dst_ip"],
            int(sample["dst_port"]), sample["direction"])

    expected, actions, data_lines = oracle(path)
    assert dict(actions) == want["actions"] and data_lines == want["data_lines"]
    assert rows == expected


@pytest.mark.parametrize("name", PFIREWALL)
def test_pfirewall_reader_counts_the_other_actions(name):
    """What is not a DROP is counted as read, not stored: ALLOW, OPEN, CLOSE, INFO-EVENTS-LOST."""
    path = shared_path("corpus", "realworld", "pfirewall", name)
    want = truth()["pfirewall"][name]
    issues = IssueLog(str(path))
    drops = other = 0
    for batch in read_pfirewall(path, issues):
        drops += batch.table.num_rows
        other += batch.other_lines
    assert drops == want["actions"]["DROP"]
    assert other == sum(n for action, n in want["actions"].items() if action != "DROP")
    assert issues.details == []


# --- EVTX ------------------------------------------------------------------------------------


#: python-evtx cannot decode any record of this file: its own ``records()`` + ``xml()`` fail on each
#: (AttributeError 'NullTypeNode'... on the first, OverrunBufferException on the others).
PYTHON_EVTX_CANNOT = "ID2003-4950-Firewall_disabled.evtx"
ENGINE_CASES = [(name, "evtx") for name in EVTX] + [
    (name, "python-evtx") for name in EVTX if name != PYTHON_EVTX_CANNOT]


@pytest.mark.parametrize(("name", "engine"), ENGINE_CASES)
def test_evtx_without_drop_events_reads_every_record_and_stores_none(tmp_path, name, engine):
    path = shared_path("corpus", "realworld", "evtx", name)
    want = truth()["evtx"][name]
    report, wh = ingest_one(path, tmp_path, engine=engine)
    result = report.files[0]
    assert (result.format, result.status) == ("evtx", "ingested")
    assert [str(i) for i in report.issues] == [] and report.exit_code == 0  # no refusal, read-error or warning
    assert result.rows_read == want["records"] == want["rows_read_expected"]
    assert result.drops_found == result.drops_stored == want["drops"] == 0
    assert stored(wh) == []
    assert result.host in want["computers"]  # the computer of the file's first record


def test_python_evtx_names_each_record_it_cannot_decode(tmp_path):
    """The file is read to its end and each record python-evtx fails on is a read-error, named; nothing is lost
    silently (``--engine evtx`` reads all 6: the test above)."""
    path = shared_path("corpus", "realworld", "evtx", PYTHON_EVTX_CANNOT)
    records = truth()["evtx"][PYTHON_EVTX_CANNOT]["records"]
    report, _ = ingest_one(path, tmp_path, engine="python-evtx")
    result = report.files[0]
    assert (result.status, result.rows_read, result.drops_found) == ("ingested", 0, 0)
    assert [(i.location, i.kind) for i in report.issues] == [
        (f"chunk 0 record {n}", "read-error") for n in range(1, records + 1)]
    assert all(i.reason.startswith("undecodable record: ") for i in report.issues)
    assert result.skipped == records and report.exit_code == 1
