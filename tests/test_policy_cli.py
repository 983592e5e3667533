"""``ipsec-drops policy show|lint|load``: output formats, exit codes, spreadsheet-safe CSV, no secrets printed."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.output import spreadsheet_safe
from pipeline.policy.show import FILTER_COLUMNS, address_text

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "sample_logs" / "ipsec-drops.toml"
WEB01 = REPO / "sample_logs" / "policies" / "web01.cmd"
DB01 = REPO / "sample_logs" / "policies" / "db01.cmd"
DATA = REPO / "tests" / "data"


def run(*args: str):
    return CliRunner().invoke(cli, ["--config", str(CONFIG), *args], catch_exceptions=False)


def test_show_csv_lists_effective_filters_most_specific_first():
    result = run("policy", "show", str(WEB01), "--host", "web01", "--format", "csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == FILTER_COLUMNS
    assert len(rows) == 42
    weights = [int(r["weight"]) for r in rows]
    assert weights == sorted(weights, reverse=True)
    assert (rows[0]["rule"], rows[0]["action"], rows[0]["dst_range"]) == ("Block rogue resolver", "block",
                                                                          "198.18.0.53")
    assert {(r["rule"], r["src_range"], r["dst_range"]) for r in rows if r["rule"] == "Block everything"} == {
        ("Block everything", "0.0.0.0/0", "0.0.0.0/0")}
    ts = [r for r in rows if r["dst_port"] == "3389" and r["mirror"] == "false"]
    assert {(r["src_range"], r["dst"], r["dst_range"], r["action"]) for r in ts} == {
        ("10.1.0.0/24", "me", "198.51.100.10", "permit"), ("10.1.0.0/24", "me", "10.1.0.10", "permit")}
    dns = [r for r in rows if r["rule"] == "DNS client" and r["mirror"] == "false"]
    assert {(r["dst"], r["dst_range"], r["protocol"]) for r in dns} == {("DNS", "10.1.0.2", "UDP"),
                                                                        ("DNS", "10.1.0.2", "TCP")}


def test_show_json_and_table():
    result = run("policy", "show", str(DB01), "--host", "DB01", "--format", "json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert (doc["host"], doc["kind"]) == ("DB01", "netsh")
    assert [(r["rule"], r["action"], r["filters"]) for r in doc["rules"]] == [
        ("SQL from web tier", "permit", 1), ("APP02 not to SQL", "block", 1), ("APP02 secured", "negotiate", 1),
        ("Backup agent", "permit", 0), ("Block all", "block", 1)]
    assert doc["rules"][2]["inpass"] is False and doc["rules"][2]["authentication"] == "kerberos"
    assert {s["property"]: s["value"] for s in doc["settings"]} == {"ipsecdiagnostics": "7", "ipsecexempt": "3",
                                                                   "bootmode": "permit"}
    table = run("policy", "show", str(DB01), "--host", "DB01")
    assert table.exit_code == 0
    for text in ("DB01 SQL lockdown", "APP02 secured", "effective filters, most specific first", "10.1.0.50"):
        assert text in table.stdout


def test_show_without_host_keeps_addresses_unresolved():
    result = run("policy", "show", str(WEB01), "--format", "json")
    doc = json.loads(result.stdout)
    assert doc["host"] is None
    assert {f["unresolved"] is None for f in doc["filters"] if f["src"] != "any" or f["dst"] != "any"} == {False}
    assert [f["src_range"] for f in doc["filters"] if f["rule"] == "Block everything"] == ["0.0.0.0/0"] * 2


def test_csv_is_spreadsheet_safe_and_secrets_are_not_printed(tmp_path):
    script = tmp_path / "evil.cmd"
    script.write_text('netsh ipsec static add policy P assign=yes\n'
                      'netsh ipsec static add filteraction A action=permit\n'
                      'netsh ipsec static add filter filterlist="=HYPERLINK(""x"")" srcaddr=any dstaddr=me '
                      'description="+cmd|calc"\n'
                      'netsh ipsec static add filter filterlist=@list srcaddr=any dstaddr=me description=-1\n'
                      'netsh ipsec static add rule R1 P "=HYPERLINK(""x"")" A psk="hunter2-secret"\n'
                      'netsh ipsec static add rule R2 P @list A\n', encoding="utf-8")
    result = run("policy", "show", str(script), "--host", "WEB01", "--format", "csv")
    cells = [cell for row in csv.reader(io.StringIO(result.stdout)) for cell in row]
    for cell in cells:
        assert cell[:1] not in ("=", "+", "-", "@"), cell
    assert "'+cmd|calc" in cells and "'@list" in cells and "'-1" in cells
    for fmt in ("csv", "json", "table"):
        out = run("policy", "show", str(script), "--host", "WEB01", "--format", fmt).stdout
        assert "hunter2" not in out


def test_show_exit_code_1_when_netsh_would_refuse_commands(tmp_path):
    script = tmp_path / "bad.cmd"
    script.write_text("netsh ipsec static add rule R P L A\n", encoding="utf-8")
    result = run("policy", "show", str(script))
    assert result.exit_code == 1
    assert "bad.cmd:1: error: policy 'P' does not exist [no-such-policy]" in result.stderr


def test_lint_reports_the_planted_weaknesses_and_exits_1():
    result = run("policy", "lint", str(WEB01), "--host", "WEB01")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert [line.split(" [")[1].split("]")[0] for line in lines if " [" in line] == [
        "ipsecexempt", "unused-filter-action", "shadowed-filter"]
    # 7 notes: the 7 filter lists "add filter" created
    assert lines[-1].endswith("web01.cmd: 1 error(s), 2 warning(s), 7 note(s) (notes shown with -v)")
    as_csv = list(csv.DictReader(io.StringIO(run("policy", "lint", str(DB01), "--host", "DB01", "--format",
                                                 "csv").stdout)))
    assert [(r["severity"], r["code"]) for r in as_csv] == [
        ("warning", "unused-filter-action"), ("warning", "blocks-needed-service"), ("warning", "empty-filter-list"),
        ("warning", "bootmode-permit")]


def test_lint_clean_script_exits_0(tmp_path):
    script = tmp_path / "clean.txt"
    script.write_text("pushd ipsec static\nadd policy P assign=yes\nadd filteraction Block action=block\n"
                      "add filterlist L\nadd filter filterlist=L srcaddr=any dstaddr=me protocol=tcp dstport=23\n"
                      "add rule R P L Block\npopd\n", encoding="utf-8")
    result = run("policy", "lint", str(script), "--host", "DB01")
    assert result.exit_code == 0, result.stdout
    assert result.stdout.strip().endswith("0 error(s), 0 warning(s), 0 note(s)")


def test_load_all_then_nothing_new(tmp_path):
    wh = tmp_path / "wh"
    first = run("policy", "load", "--all", "--warehouse", str(wh))
    assert first.exit_code == 0, first.stderr
    status = lambda out: [(line.split(":")[0], line.split()[3].rstrip(",")) for line in out.splitlines()]  # noqa
    assert status(first.stdout) == [("WEB01", "stored"), ("DB01", "stored")]
    again = run("policy", "load", "--all", "--warehouse", str(wh))
    assert status(again.stdout) == [("WEB01", "unchanged"), ("DB01", "unchanged")]
    assert len(list((wh / "policy" / "filters").glob("*.parquet"))) == 2


@pytest.mark.parametrize("args", [
    ("policy", "load", str(WEB01)),  # no --host
    ("policy", "load", str(WEB01), "--host", "WEB01", "--all"),
    ("policy", "show", str(WEB01), "--host", "NOPE"),
    ("policy", "lint", str(WEB01), "--define", "NOEQUALS"),
])
def test_usage_errors_exit_2(args):
    assert run(*args).exit_code == 2


def test_define_resolves_batch_variables(tmp_path):
    script = tmp_path / "vars.cmd"
    script.write_text("netsh ipsec static add policy P assign=yes\nnetsh ipsec static add filteraction B action=block\n"
                      "netsh ipsec static add filter filterlist=L srcaddr=%1 dstaddr=me\n"
                      "netsh ipsec static add rule R P L B\n", encoding="utf-8")
    without = json.loads(run("policy", "show", str(script), "--host", "DB01", "--format", "json").stdout)
    assert without["filters"][0]["unresolved"] == "%1 is an unexpanded batch variable (give it with --define)"
    with_define = json.loads(run("policy", "show", str(script), "--host", "DB01", "-D", "1=192.0.2.7",
                                 "--format", "json").stdout)
    assert [(f["src_range"], f["dst_range"]) for f in with_define["filters"]] == [
        ("192.0.2.7", "10.1.0.20"), ("10.1.0.20", "192.0.2.7")]


def test_address_text_and_spreadsheet_safe_values():
    assert address_text("any", "0.0.0.0/0") == "any"
    assert address_text("me", "10.1.0.10") == "me 10.1.0.10"
    assert address_text("DNS", "10.1.0.2") == "DNS 10.1.0.2"
    assert address_text("10.1.0.0", "10.1.0.0/24") == "10.1.0.0/24"
    assert address_text("2001:db8::", "2001:db8::/32") == "2001:db8::/32"
    assert address_text("wsus.example.net", None) == "wsus.example.net (unresolved)"
    assert [spreadsheet_safe(v) for v in ("=1+1", "+x", "-2", "@SUM", "\tx", "ok", 5, None)] == [
        "'=1+1", "'+x", "'-2", "'@SUM", "'\tx", "ok", 5, None]


def test_load_all_goes_on_past_a_missing_script(tmp_path):
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "a.cmd").write_text("netsh ipsec static add policy A assign=yes\n", encoding="utf-8")
    config = tmp_path / "site.toml"
    config.write_text('[hosts.A]\naddresses = ["10.0.0.1"]\npolicy = "policies/a.cmd"\n'
                      '[hosts.B]\naddresses = ["10.0.0.2"]\npolicy = "policies/missing.cmd"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), "policy", "load", "--all", "-w", str(tmp_path / "wh")])
    assert result.exit_code == 1
    assert "B: cannot read" in result.stderr and "missing.cmd" in result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["A"]
    assert len(list((tmp_path / "wh" / "policy" / "snapshots").glob("*.parquet"))) == 1


def test_lint_takes_the_host_from_the_config_and_lints_every_host_with_all():
    with_host = run("policy", "lint", str(WEB01), "--host", "WEB01")
    without = run("policy", "lint", str(WEB01))
    assert without.stdout == with_host.stdout  # WEB01's policy: the Internet-facing checks ran
    assert "ipsecexempt" in without.stdout
    everyone = run("policy", "lint", "--all")
    assert everyone.exit_code == 1
    assert str(WEB01) in everyone.stdout and str(DB01) in everyone.stdout
    assert run("policy", "lint", str(WEB01), "--all").exit_code == 2


def test_show_a_host_s_stored_snapshot_from_the_warehouse(tmp_path):
    wh = tmp_path / "wh"
    assert run("policy", "load", "--all", "--warehouse", str(wh)).exit_code == 0
    table = run("policy", "show", "--host", "web01", "--warehouse", str(wh))
    assert table.exit_code == 0, table.output
    assert "stored snapshot" in table.stdout and "Block rogue resolver" in table.stdout
    doc = json.loads(run("policy", "show", "--host", "WEB01", "--warehouse", str(wh), "--format", "json").stdout)
    assert doc["host"] == "WEB01" and len(doc["filters"]) == 42
    weights = [f["weight"] for f in doc["filters"]]
    assert weights == sorted(weights, reverse=True)
    missing = run("policy", "show", "--host", "WEB01", "--warehouse", str(tmp_path / "empty"))
    assert missing.exit_code == 2 and "no warehouse" in missing.stderr
    assert run("policy", "show", "--host", "NOPE", "--warehouse", str(wh)).exit_code == 2


def test_encoding_option_reads_a_gbk_script(tmp_path):
    script = DATA / "policy-gbk-comments.cmd"
    guessed = json.loads(run("policy", "show", str(script), "--format", "json").stdout)
    given = json.loads(run("policy", "show", str(script), "--encoding", "gbk", "--format", "json").stdout)
    assert given["encoding"] == "gbk"
    assert "远程桌面" in {r["filter_list"] for r in given["rules"]}
    assert [p["policy"] for p in given["policies"]] == ["服务器安全策略"]
    assert run("policy", "show", str(script), "--encoding", "klingon").exit_code == 2
    assert guessed["encoding"] in ("gbk", "cp1252")
