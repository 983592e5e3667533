"""ipsec-drops flows / explain / sql on the sample site: each planted scenario with its rule.

Expectations come from sample_logs/EXPECTED.md (the scenarios) and the scripts in
sample_logs/policies/ (which rule each scenario meets), not from this code.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli

SAMPLE = Path(__file__).resolve().parent.parent / "sample_logs"
CONFIG = str(SAMPLE / "ipsec-drops.toml")
EXPECTED = json.loads((SAMPLE / "expected.json").read_text())


@pytest.fixture(scope="module")
def warehouse(sample_warehouse):
    return sample_warehouse


def run(*args: str):
    return CliRunner().invoke(cli, ["--config", CONFIG, *args])


@pytest.fixture(scope="module")
def flows(warehouse):
    result = run("flows", "--warehouse", str(warehouse), "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def events_by(flows, **want) -> dict:
    out = defaultdict(int)
    for f in flows:
        if all(f[k] == v for k, v in want.items()):
            out[(f["verdict"], f["rule"])] += f["events"]
    return dict(out)


def test_every_stored_drop_is_in_a_flow(flows):
    assert sum(f["events"] for f in flows) == EXPECTED["total_drops"]  # EXPECTED.md total


def test_scenario_a_and_c_scans_and_terminal_services_at_web01(flows):
    inbound = events_by(flows, host="WEB01", direction="inbound")
    # a + c at WEB01 (203.0.113.77 and .140), and the late i (WinRM), m (wide scan), n (3389), o (8080):
    # every inbound drop at WEB01 is under the block-all rule
    at_web01 = {sc: hosts.get("WEB01", 0) for sc, hosts in EXPECTED["by_scenario_host"].items()}
    assert inbound == {("blocked-by-rule", "Block everything"): sum(at_web01[sc] for sc in "acimno")}
    ts = [f for f in flows if f["host"] == "WEB01" and f["remote_ip"] in ("203.0.113.77", "203.0.113.140")]
    assert {(f["local_port"], f["remote_port"], f["source_line"]) for f in ts} == {(3389, None, 38)}


def test_scenario_b_dns_to_the_rogue_resolver(flows):
    [f] = [f for f in flows if f["remote_ip"] == "198.18.0.53"]
    assert (f["verdict"], f["rule"], f["action"], f["events"], f["remote_port"], f["local_port"], f["protocol"]) == (
        "blocked-by-rule", "Block rogue resolver", "block", 30, 53, None, 17)


def test_scenario_d_and_h_clear_text_from_app02_needs_ipsec(flows):
    clear = [f for f in flows if f["remote_ip"] == "10.1.0.50" and f["protocol"] is None]
    # 31 events 4284 + 3 events 4963: one flow without a 5-tuple
    assert [(f["verdict"], f["rule"], f["events"]) for f in clear] == [("negotiation-required", "APP02 secured", 34)]


def test_scenario_e_block_mode_at_web01(flows):
    assert events_by(flows, host="WEB01", verdict="boot-or-block-mode") == {("boot-or-block-mode", None): 1}


def test_scenario_g_and_h_at_db01(flows):
    sql = [f for f in flows if f["remote_ip"] == "10.1.0.50" and f["local_port"] == 1433]
    assert [(f["verdict"], f["rule"]) for f in sql] == [("blocked-by-rule", "APP02 not to SQL")]
    icmp = [f for f in flows if f["remote_ip"] == "10.1.0.50" and f["protocol"] == 1]
    assert [(f["verdict"], f["rule"], f["events"]) for f in icmp] == [("negotiation-required", "APP02 secured", 8)]
    wfp = [f for f in flows if f["wfp_filter_ids"]]
    assert {(f["rule"], tuple(f["wfp_filter_ids"])) for f in wfp} == {("Block all", (67607,)), ("Block all", (67249,))}
    assert sum(f["events"] for f in wfp) == 29  # 24 WFP 5152 + 5 WFP 5157
    out = [f for f in wfp if f["direction"] == "outbound"]
    assert [(f["remote_ip"], f["remote_port"], f["local_port"]) for f in out] == [("203.0.113.80", 443, None)]


def test_flows_options_and_csv_is_spreadsheet_safe(warehouse):
    result = run("flows", "--warehouse", str(warehouse), "--host", "db01", "--verdict", "negotiation-required",
                 "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert {(r["host"], r["rule"]) for r in rows} == {("DB01", "APP02 secured")}
    result = run("flows", "--warehouse", str(warehouse), "--top", "1", "--since", "2026-10-27")
    since = sum(n for day, n in EXPECTED["flows"]["by_last_utc_day"].items() if day >= "2026-10-27")
    assert result.exit_code == 0 and f"flows ({since})" in result.output
    assert f"… {since - 1} more; --all or --top N" in result.output
    result = run("sql", "--warehouse", str(warehouse), "--format", "csv",
                 "select '=HYPERLINK(1)' as a, '-2' as b, '@x' as c, '+1' as d, 'ok' as e, -2 as n, "
                 "chr(9) || '=1+1' as t, 'x' || chr(13) || 'y' as r")
    assert list(csv.reader(io.StringIO(result.output, newline=""))) == [
        ["a", "b", "c", "d", "e", "n", "t", "r"],
        ["'=HYPERLINK(1)", "'-2", "'@x", "'+1", "ok", "-2", "'\t=1+1", "x\ry"]]


def test_explain_on_the_sample_policy(warehouse):
    result = run("explain", "--warehouse", str(warehouse), "--host", "WEB01", "--src", "203.0.113.77",
                 "--dst", "198.51.100.10", "--proto", "tcp", "--sport", "3000", "--dport", "443")
    assert result.exit_code == 0, result.output
    assert "verdict: permitted-by-policy; winner: 'Web server'" in result.output
    result = run("explain", "--warehouse", str(warehouse), "--host", "WEB01", "--src", "10.1.0.99",
                 "--dst", "10.1.0.10", "--proto", "6", "--sport", "3000", "--dport", "3389", "--format", "json")
    doc = json.loads(result.output)
    assert [r["rule"] for r in doc["matches"] if r["in_force"]][:2] == ["Internal admin", "Block everything"]
    assert (doc["verdict"], doc["winner"]["rule"], doc["runner_up"]["rule"]) == (
        "permitted-by-policy", "Internal admin", "Block everything")
    assert "Block everything" in doc["reason"]
    result = run("explain", "--warehouse", str(warehouse), "--host", "WEB01", "--src", "10.1.0.99",
                 "--dst", "2001:db8::1", "--proto", "6")
    assert result.exit_code == 2 and "same IP version" in result.output
    result = run("sql", "--warehouse", str(warehouse), "select * from nowhere")
    assert result.exit_code == 2
