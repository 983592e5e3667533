"""Tables that fit the terminal, summaries first, row caps, honest errors (the Readable command line issue).

The sample warehouse (built once per session) has the flows and drops counted in
sample_logs/expected.json; the expectations about which flows come first are the sample site's
planted scenarios (sample_logs/EXPECTED.md).
"""

from __future__ import annotations

import ipaddress
import json
import re

import pytest
from click.testing import CliRunner
from conftest import SAMPLE, SAMPLE_CONFIG

from pipeline.cli import cli

EXPECTED = json.loads((SAMPLE / "expected.json").read_text())
FLOWS = EXPECTED["flows"]["total"]
HOSTS = tuple(EXPECTED["by_host"])  # APP03, DB01, WEB01
ANSI = re.compile(r"\x1b\[[0-9;]*m")
ADDRESS = re.compile(r"(?<![\w.:])(\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]*:[0-9a-f:]+:[0-9a-f]*)(?![\w.])", re.I)


def run(*args: str, columns: int | None = None, terminal: bool = False):
    env = {"NO_COLOR": "1"}
    if columns:
        env["COLUMNS"] = str(columns)
    if terminal:
        env["TTY_COMPATIBLE"] = "1"
    result = CliRunner(env=env).invoke(cli, ["--config", str(SAMPLE_CONFIG), *args])
    return result, ANSI.sub("", result.stdout)


@pytest.mark.parametrize("width", [80, 100, 120])
def test_flows_table_fits_the_width_keeps_addresses_whole_and_names_what_it_left_out(sample_warehouse, width):
    result, out = run("flows", "--warehouse", str(sample_warehouse), "--all", columns=width)
    assert result.exit_code == 0, result.output
    lines = out.splitlines()
    table_lines = lines[:lines.index("times in UTC")]
    assert max(len(line.rstrip()) for line in table_lines) <= width
    header = lines[1].split()
    assert header[:1] == ["host"] and "local" in header and "remote" in header and "packets" in header
    # every address printed is a whole, valid address (never broken across lines or cut)
    for line in table_lines[3:]:
        for text in ADDRESS.findall(line):
            ipaddress.ip_address(text)
    assert len([line for line in table_lines[3:] if line.strip()]) == FLOWS  # one line per flow
    assert all(line.startswith(HOSTS) for line in table_lines[3:])
    footer = [line for line in lines if line.startswith("not shown")]
    assert footer and "--wide shows every column" in " ".join(lines[lines.index(footer[0]):])
    assert all(len(line) <= width for line in lines[lines.index(footer[0]):])  # the footer wraps too
    if width >= 100:
        assert "verdict" in header and "rule" in header


def test_wide_shows_every_column(sample_warehouse):
    result, out = run("flows", "--warehouse", str(sample_warehouse), "--top", "3", "--wide", columns=80)
    header = out.splitlines()[1].split()
    assert {"filter_list", "action", "line", "first_seen", "last_seen", "events", "days"} <= set(header)
    assert "not shown" not in out


def test_a_terminal_shows_the_top_20_first_and_says_how_many_more(sample_warehouse):
    result, out = run("flows", "--warehouse", str(sample_warehouse), columns=120, terminal=True)
    assert result.exit_code == 0
    rows = [line for line in out.splitlines()[3:] if line.startswith(HOSTS)]
    assert len(rows) == 20
    assert f"… {FLOWS - 20} more; --all or --top N" in out
    # most packets first: the clear-text flood from 10.1.0.50 (720 packets) leads
    assert rows[0].split()[0] == "DB01" and "10.1.0.50" in rows[0] and "720" in rows[0]
    piped = json.loads(run("flows", "--warehouse", str(sample_warehouse), "--format", "json", terminal=True)[0].stdout)
    assert len(piped) == FLOWS  # machine formats always carry every row


def test_flows_by_verdict_and_by_rule_summarise(sample_warehouse):
    result, _ = run("flows", "--warehouse", str(sample_warehouse), "--by", "verdict", "--format", "json")
    groups = {g["verdict"]: g for g in json.loads(result.stdout)}
    assert sum(g["flows"] for g in groups.values()) == FLOWS
    assert sum(g["events"] for g in groups.values()) == EXPECTED["total_drops"]
    assert set(groups) == {"blocked-by-rule", "negotiation-required", "boot-or-block-mode", "no-policy"}
    result, _ = run("flows", "--warehouse", str(sample_warehouse), "--by", "rule", "--format", "json")
    rules = {(g["host"], g["rule"]): g["events"] for g in json.loads(result.stdout)}
    at_web01 = {sc: hosts.get("WEB01", 0) for sc, hosts in EXPECTED["by_scenario_host"].items()}
    # scans, Terminal Services, WinRM, the new resolver, TCP 8080: WEB01's block-all rule
    assert rules[("WEB01", "Block everything")] == sum(at_web01[sc] for sc in "acijmno")
    assert rules[("WEB01", "Block rogue resolver")] == 30
    result, _ = run("flows", "--warehouse", str(sample_warehouse), "--by", "remote-network", "--format", "json")
    nets = {g["remote_network"]: g for g in json.loads(result.stdout)}
    assert "203.0.113.0/24" in nets and nets["198.18.0.0/24"]["events"] == 30
    result, _ = run("flows", "--warehouse", str(sample_warehouse), "--by", "port", "--format", "json")
    ports = {(g["direction"], g["protocol"], g["port"]): g for g in json.loads(result.stdout)}
    # numbers, not names, in JSON; DNS to the rogue resolver (b) and to the new one (j)
    assert ports[("outbound", 17, 53)]["events"] == EXPECTED["by_scenario"]["b"] + EXPECTED["by_scenario"]["j"]


def test_protocol_names_in_tables_numbers_in_csv(sample_warehouse):
    first_days = ("--until", "2026-10-28")  # the top 5 of 23-27 Oct hold a UDP flow (DNS to 198.18.0.53)
    _, table = run("flows", "--warehouse", str(sample_warehouse), "--top", "5", *first_days, columns=120)
    assert " UDP " in table and " TCP " in table and " 17 " not in table
    result, _ = run("flows", "--warehouse", str(sample_warehouse), "--top", "5", *first_days, "--format", "csv")
    assert ",17," in result.stdout and "UDP" not in result.stdout


def test_sql_table_stops_at_max_rows_and_ndjson_streams_every_row(sample_warehouse):
    result, out = run("sql", "--warehouse", str(sample_warehouse), "--max-rows", "7", "select * from drops",
                      columns=200)
    assert result.exit_code == 0
    assert "stopped at --max-rows 7" in out and "7 row(s)" in out
    result, _ = run("sql", "--warehouse", str(sample_warehouse), "--max-rows", "7", "--format", "ndjson",
                    "select source_record, event_time from drops")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == EXPECTED["total_drops"] and rows[0]["event_time"].endswith("Z")


def test_sql_knows_flows_and_names_the_relations_when_one_is_unknown(sample_warehouse):
    result, _ = run("sql", "--warehouse", str(sample_warehouse), "--host", "WEB01", "--format", "json",
                    "select count(*) as n, count(distinct host) as h from flows")
    assert json.loads(result.stdout) == [{"n": EXPECTED["flows"]["by_host"]["WEB01"], "h": 1}]
    result, _ = run("sql", "--warehouse", str(sample_warehouse), "select * from flow")
    assert result.exit_code == 2
    assert "drops, flows, filters" in result.stderr


def test_time_forms_and_zones_on_the_command_line(sample_warehouse):
    def events(*args: str) -> int:
        result, _ = run("flows", "--warehouse", str(sample_warehouse), "--format", "json", *args)
        assert result.exit_code == 0, result.output
        return sum(f["events"] for f in json.loads(result.stdout))

    everything = events()
    utc_day = events("--since", "2026-10-27", "--until", "2026-10-28")
    berlin_day = events("--since", "2026-10-27", "--until", "2026-10-28", "--tz", "Europe/Berlin")
    windows_day = events("--since", "2026-10-27", "--until", "2026-10-28", "--tz", "W. Europe Standard Time")
    iso = events("--since", "2026-10-27T00:00:00Z", "--until", "2026-10-27T23:00:00+00:00")
    assert 0 < utc_day < everything and berlin_day == windows_day
    assert events("--since", "2026-10-26T23:00:00Z", "--until", "2026-10-27T23:00:00Z") == berlin_day
    assert iso <= utc_day
    assert events("--since", "1d") == 0  # the sample site's drops are from October 2026
    assert events("--until", "today") == everything
    result, _ = run("flows", "--warehouse", str(sample_warehouse), "--since", "last week")
    assert result.exit_code == 2 and "24h, 7d, yesterday" in result.stderr


def test_a_missing_warehouse_and_an_unknown_host_are_errors_not_empty_answers(tmp_path, sample_warehouse):
    for command in (["flows"], ["sql", "select 1"], ["explain", "--host", "WEB01", "--src", "1.1.1.1", "--dst",
                                                     "10.1.0.10", "--proto", "tcp"]):
        result, _ = run(*command, "--warehouse", str(tmp_path / "nowhere"))
        assert result.exit_code == 2, command
        assert "no warehouse at" in result.stderr and "run `ipsec-drops ingest` first" in result.stderr
    result, _ = run("flows", "--warehouse", str(sample_warehouse), "--host", "WEB99")
    assert result.exit_code == 2 and "unknown host 'WEB99'" in result.stderr and "APP03, DB01, WEB01" in result.stderr
    result, _ = run("flows", "--warehouse", str(sample_warehouse), "--host", "web01.example.net", "--format", "json")
    assert result.exit_code == 0  # an FQDN matches its first label
