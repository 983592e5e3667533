"""The allowed dataset: observed permitted traffic (IIS web and FTP logs, pfirewall ALLOW lines, WFP 5156/5158).

Host W (10.0.0.10, UTC) runs tests/data/allowed/web-ftp.cmd (block all; permit TCP 80, 443 and 21 to it, DNS
to 10.0.0.53).  The logs in tests/data/allowed were written by hand; every expected row below was worked
out from their lines (the service-port rule: the client's ephemeral port is dropped), not from this code.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from conftest import SAMPLE, shared_path

from pipeline import Warehouse, ingest
from pipeline.config import parse_config
from pipeline.readers import detect_format

DATA = Path(__file__).resolve().parent / "data" / "allowed"


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def config_text(policy: str = "web-ftp.cmd") -> str:
    return (f'[hosts.W]\ntimezone = "UTC"\naddresses = ["10.0.0.10"]\ndns = ["10.0.0.53"]\n'
            f'policy = "{(DATA / policy).as_posix()}"\n')


def rows(root: Path, where: str = "true") -> list[tuple]:
    return duckdb.sql(
        "SELECT CAST(date AS VARCHAR), host, direction, protocol, local_ip, local_port, remote_ip, remote_port, "
        "source_format, allow_kind, sum(events)::INT, sum(bytes)::INT, min(first_seen), max(last_seen) "
        f"FROM read_parquet('{root}/allowed/*/*.parquet', hive_partitioning=true) WHERE {where} "
        "GROUP BY ALL ORDER BY ALL").fetchall()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("allowed-wh")
    config = parse_config(config_text())
    logs = tmp_path_factory.mktemp("logs")
    for name in ("ex261110.log", "ex261111.log", "pfirewall.log"):
        shutil.copy(DATA / name, logs / name)
    shutil.copy(DATA / "ftp" / "ex261111.log", logs / "ftp-ex261111.log")
    first = ingest([logs], Warehouse(root), config, host="W")
    second = ingest([DATA / "u_ex261111.log"], Warehouse(root), config)  # names its host: s-computername
    return root, config, first, second, logs


def test_iis_logs_are_recognised_by_content():
    for name in ("ex261110.log", "ex261111.log", "u_ex261111.log", "ftp/ex261111.log"):
        assert detect_format(DATA / name) == "iis-w3c", name
    assert detect_format(DATA / "pfirewall.log") == "pfirewall"


def test_iis_web_requests_several_layouts_aggregate_per_day_and_flow(site):
    root, *_ = site
    web = rows(root, "allow_kind = 'iis-request'")
    assert web == [
        # IIS 6: four requests of 10.2.0.5 (two identical lines in one second are two requests)
        ("2026-11-10", "W", "inbound", 6, "10.0.0.10", 80, "10.2.0.5", None, "iis-w3c", "iis-request", 4, None,
         t("2026-11-10 00:00:01"), t("2026-11-10 10:00:00")),
        # 443: the 11:00 line, and the 13:00 POST under the second #Fields: header (other fields)
        ("2026-11-10", "W", "inbound", 6, "10.0.0.10", 443, "10.2.0.6", None, "iis-w3c", "iis-request", 2, None,
         t("2026-11-10 11:00:00"), t("2026-11-10 13:00:00")),
        # IIS 7.5, fields in another order, host from s-computername (W and w.example.net), bytes sc + cs
        ("2026-11-11", "W", "inbound", 6, "10.0.0.10", 80, "10.2.0.5", None, "iis-w3c", "iis-request", 2, 1800,
         t("2026-11-11 08:00:00"), t("2026-11-11 08:05:00")),
        # IIS 5 minimal layout: no s-ip (local address unknown), no s-port (80), date from #Date:
        ("2026-11-11", "W", "inbound", 6, None, 80, "10.2.0.8", None, "iis-w3c", "iis-request", 2, None,
         t("2026-11-11 10:00:00"), t("2026-11-11 10:00:05")),
    ]


def test_iis6_ftp_log_is_the_ftp_service_on_port_21_and_rolls_over_midnight(site):
    root, *_ = site
    assert rows(root, "allow_kind = 'iis-ftp'") == [
        ("2026-11-11", "W", "inbound", 6, None, 21, "10.2.0.7", None, "iis-w3c", "iis-ftp", 2, None,
         t("2026-11-11 23:58:10"), t("2026-11-11 23:58:11")),
        ("2026-11-12", "W", "inbound", 6, None, 21, "10.2.0.7", None, "iis-w3c", "iis-ftp", 2, None,
         t("2026-11-12 00:01:00"), t("2026-11-12 00:01:05")),
        ("2026-11-12", "W", "inbound", 6, None, 21, "10.2.0.9", None, "iis-w3c", "iis-ftp", 1, None,
         t("2026-11-12 10:00:00"), t("2026-11-12 10:00:00")),
    ]


def test_malformed_iis_lines_are_skipped_counted_and_named(site):
    _, _, first, *_ = site
    by_name = {Path(f.path).name: f for f in first.files}
    log = by_name["ex261110.log"]
    assert log.skipped == 2 and log.allowed_stored == 6 and log.status == "ingested"
    texts = [str(i) for i in log.issues.details]
    assert any("ex261110.log:line 10: malformed" in x and "too many values" in x for x in texts), texts
    assert any("line 11: malformed: c-ip is not an IP address" in x for x in texts), texts


def test_pfirewall_allow_lines_are_allowed_traffic_and_drop_lines_stay_drops(site):
    root, _, first, *_ = site
    assert rows(root, "source_format = 'pfirewall'") == [
        # two identical lines (two packets) and one from another source port: one flow, size = bytes
        ("2026-11-10", "W", "inbound", 6, "10.0.0.10", 80, "10.2.0.5", None, "pfirewall", "firewall-allow", 3, 172,
         t("2026-11-10 10:00:00"), t("2026-11-10 10:00:01")),
        # the DNS reply (53 -> 1030, inbound) keeps the service end: the remote port 53
        ("2026-11-10", "W", "inbound", 17, "10.0.0.10", None, "10.0.0.53", 53, "pfirewall", "firewall-allow", 1, 120,
         t("2026-11-10 10:00:03"), t("2026-11-10 10:00:03")),
        ("2026-11-10", "W", "outbound", 17, "10.0.0.10", None, "10.0.0.53", 53, "pfirewall", "firewall-allow", 1, 70,
         t("2026-11-10 10:00:02"), t("2026-11-10 10:00:02")),
    ]
    fw = {Path(f.path).name: f for f in first.files}["pfirewall.log"]
    assert fw.drops_stored == 1 and fw.skipped == 1 and fw.rows_read == 8  # 6 ALLOW + 1 DROP read, 1 OPEN counted
    assert first.allowed_summary() == "permitted traffic: 18 connection(s) stored"  # 6 + 5 + 2 IIS + 5 FTP
    assert "permitted" not in first.summary()  # the one-line result speaks of drops, as before


def test_identity_keeps_a_reread_or_a_copy_from_counting_twice(site, tmp_path):
    root, config, _, _, logs = site
    before = rows(root)
    again = ingest([logs], Warehouse(root), config, host="W", reread=True)
    assert again.total("allowed_stored") == 0 and again.total("allowed_found") == 6 + 2 + 5 + 5
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(DATA / "ex261110.log", copy / "renamed.txt")
    assert ingest([copy], Warehouse(root), config, host="W").total("allowed_stored") == 0
    assert rows(root) == before
    manifest = json.loads((root / "_manifest.json").read_text(encoding="utf-8"))
    events = sum(p["events"] for p in manifest["allowed_parts"].values())
    keys = duckdb.sql(f"SELECT count(*) FROM '{root}/_allowed_keys/*/*.parquet'").fetchall()[0][0]
    assert events == keys == 6 + 2 + 2 + 5 + 5  # one key per event counted
    from pipeline.warehouse import check

    assert check(root).ok  # the drops' check is not disturbed by the allowed dataset


def test_an_iis_log_that_names_no_host_needs_one(tmp_path):
    report = ingest([DATA / "ex261111.log"], Warehouse(tmp_path / "wh"), parse_config(config_text()))
    [f] = report.files
    assert f.status == "refused" and "does not name its host" in str(f.issues.details[0])
    assert int(report.exit_code) == 1


def test_real_5156_and_5158_events(tmp_path):
    """63 real 5156 and 9 real 5158 events (GPL-3.0 corpus file: read from ../shared, never copied in)."""
    real = shared_path("corpus", "realworld", "evtx", "DE_RDP_Tunnel_5156.evtx")
    report = ingest([real], Warehouse(tmp_path / "wh"))
    [f] = report.files
    assert f.allowed_found == 63 + 9 and f.allowed_stored == 72 and f.drops_found == 0
    got = rows(tmp_path / "wh")
    assert sum(r[10] for r in got) == 72
    by = {(r[2], r[3], r[4], r[5], r[6], r[7], r[9]): r[10] for r in got}
    # Kerberos from 10.0.2.17 to the DC 10.0.2.15:88, eleven connections from ephemeral ports: one flow
    assert by[("outbound", 6, "10.0.2.17", None, "10.0.2.15", 88, "wfp-connection-permitted")] == 11
    # RDP over the loopback tunnel: the inbound side (Source = local end 127.0.0.2:3389), two connections
    assert by[("inbound", 6, "127.0.0.2", 3389, "127.0.0.1", None, "wfp-connection-permitted")] == 2
    # the six inbound SSDP datagrams to 239.255.255.250:1900 (local end) from 127.0.0.1:55141
    assert by[("inbound", 17, "239.255.255.250", 1900, "127.0.0.1", None, "wfp-connection-permitted")] == 6
    # binds: the unspecified address is no local address; 3702 bound twice on 0.0.0.0 and twice on ::
    assert by[(None, 17, None, 3702, None, None, "wfp-bind-permitted")] == 4
    assert sum(v for k, v in by.items() if k[6] == "wfp-bind-permitted") == 9
    assert {r[1] for r in got} == {"PC01.example.corp"} and {r[0] for r in got} == {"2019-02-13"}


def test_whatif_replace_with_a_script_that_forgets_the_ftp_rule_lists_the_ftp_flows_as_would_break(site):
    from pipeline.suggest import whatif

    root, config, *_ = site
    out = whatif(root, config, host="W", replace_with=DATA / "web-no-ftp.cmd")
    breaks = out["would_break"]
    # the FTP service's flows (worked out above): 10.2.0.7 on two days (4 commands), 10.2.0.9 once
    assert [(b["remote_ip"], b["local_port"], b["events"], b["days"]) for b in breaks] == [
        ("10.2.0.7", 21, 4, 2), ("10.2.0.9", 21, 1, 1)]
    for b in breaks:
        assert (b["verdict_before"], b["rule_before"]) == ("permitted-by-policy", "FTP")
        assert (b["verdict_after"], b["rule_after"]) == ("blocked-by-rule", "Block all")
        assert b["dataset"] == "allowed" and b["impact"] == "would-break" and b["direction"] == "inbound"
        assert b["source_line_after"] == 7  # web-no-ftp.cmd line 7: the "All traffic" filter
    assert breaks[0]["last_seen"] == t("2026-11-12 00:01:05")
    assert out["would_open"] == []  # the one drop (telnet from 203.0.113.5) stays blocked
    assert out["summary"]["would_break"] == 2 and out["summary"]["events_would_break"] == 5
    # the web and DNS flows are unchanged: nothing else changes
    assert out["changed"] == breaks
    same = whatif(root, config, host="W", replace_with=DATA / "web-ftp.cmd")
    assert same["would_break"] == same["changed"] == [] and same["summary"]["unchanged"] > 0


def test_whatif_command_line_exit_1_and_json_keys(site, tmp_path):
    from click.testing import CliRunner

    from pipeline.cli import cli

    root, *_ = site
    cfg = tmp_path / "w.toml"
    cfg.write_text(config_text(), encoding="utf-8")
    run = CliRunner().invoke
    result = run(cli, ["--config", str(cfg), "whatif", "-w", str(root), "--host", "W", "--replace",
                       str(DATA / "web-no-ftp.cmd"), "--format", "json"])
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert {"would_break", "would_open", "changed", "summary"} <= set(doc)
    assert {"host", "direction", "protocol", "local_ip", "local_port", "remote_ip", "remote_port", "events", "days",
            "first_seen", "last_seen", "verdict_before", "rule_before", "verdict_after", "rule_after"} <= set(
        doc["would_break"][0])
    table = run(cli, ["--config", str(cfg), "whatif", "-w", str(root), "--host", "W", "--replace",
                      str(DATA / "web-no-ftp.cmd")], env={"COLUMNS": "160"})
    assert table.exit_code == 1
    head = table.stdout.index("WOULD BREAK")
    assert head < table.stdout.index("10.2.0.7") and "Block all" in table.stdout and "2 would break" in table.stdout
    fine = run(cli, ["--config", str(cfg), "whatif", "-w", str(root), "--host", "W", "--replace",
                     str(DATA / "web-ftp.cmd")])
    assert fine.exit_code == 0 and "WOULD BREAK" not in fine.stdout


def test_the_sample_site_stores_its_permitted_traffic_as_expected(sample_warehouse):
    """expected.json ``allowed`` is counted by sample_logs/generate.py from the files it wrote."""
    expected = json.loads((SAMPLE / "expected.json").read_text(encoding="utf-8"))["allowed"]
    glob = f"{sample_warehouse}/allowed/*/*.parquet"
    by_kind = dict(duckdb.sql(f"SELECT allow_kind, sum(events)::INT FROM '{glob}' GROUP BY 1").fetchall())
    by_host = dict(duckdb.sql(f"SELECT host, sum(events)::INT FROM '{glob}' GROUP BY 1").fetchall())
    assert by_kind == expected["by_kind"] and by_host == expected["by_host"]
    web = duckdb.sql(
        f"SELECT local_ip, local_port, remote_ip, allow_kind, sum(events)::INT, count(DISTINCT date)::INT "
        f"FROM read_parquet('{glob}', hive_partitioning=true) WHERE source_format = 'iis-w3c' GROUP BY ALL").fetchall()
    assert sorted(web, key=str) == sorted(((f["local_ip"], f["local_port"], f["remote_ip"], f["allow_kind"],
                                            f["events"], f["days"]) for f in expected["web01_flows"]), key=str)
    drops = duckdb.sql(f"SELECT count(*) FROM '{sample_warehouse}/drops/*/*.parquet'").fetchall()[0][0]
    assert drops == json.loads((SAMPLE / "expected.json").read_text(encoding="utf-8"))["total_drops"]


def test_whatif_replace_catches_the_planted_mistake_in_the_sample_site_new_script(sample_warehouse):
    from pipeline.config import load_config
    from pipeline.suggest import whatif

    expected = json.loads((SAMPLE / "expected.json").read_text(encoding="utf-8"))["allowed"]
    config = load_config(SAMPLE / "ipsec-drops.toml")
    out = whatif(sample_warehouse, config, host="WEB01", replace_with=SAMPLE / "policies" / "web01-new.cmd")
    got = [{k: b[k] for k in ("direction", "protocol", "local_ip", "local_port", "remote_ip", "remote_port", "events",
                              "days", "rule_before", "rule_after")} | {"last_seen": b["last_seen"].strftime(
                                  "%Y-%m-%dT%H:%M:%SZ")} for b in out["would_break"]]
    assert got == expected["web01_new_would_break"]
    # the rewrite also opens WinRM from the admin subnet: the four workstations' blocked flows would pass
    opened = {(o["remote_ip"], o["local_port"]) for o in out["would_open"]}
    assert opened == {(ip, 5985) for ip in ("10.40.1.9", "10.40.1.10", "10.40.1.11", "10.40.1.14")}


def test_policy_diff_compares_effective_filters_not_text(site, tmp_path):
    from pipeline.policy import analyse_script
    from pipeline.policy.diff import diff_policies

    _, config, *_ = site
    old = analyse_script(DATA / "web-ftp.cmd", host="W", config=config)
    new = analyse_script(DATA / "web-no-ftp.cmd", host="W", config=config)
    d = diff_policies(old, new)
    assert d["filters"]["added"] == [] and d["filters"]["changed"] == []
    [gone] = d["filters"]["removed"]
    assert (gone["rule"], gone["action"], gone["src"], gone["dst"], gone["protocol"], gone["dst_port"],
            gone["mirrored"]) == ("FTP", "permit", "any", "10.0.0.10", 6, 21, True)
    assert [r["rule"] for r in d["rules"]["removed"]] == ["FTP"] and d["rules"]["added"] == []
    # the same policy written differently (me spelled out, other case, lines reordered): nothing changed
    text = (DATA / "web-ftp.cmd").read_text(encoding="utf-8").splitlines()
    dns = [ln for ln in text if "DNS" in ln]
    other = [ln for ln in text if "DNS" not in ln]
    respelled = tmp_path / "respelled.cmd"
    respelled.write_text("\r\n".join(other[:6] + dns + other[6:]).replace("dstaddr=me", "dstaddr=10.0.0.10")
                         .replace("protocol=tcp", "PROTOCOL=TCP"), encoding="utf-8")
    same = diff_policies(old, analyse_script(respelled, host="W", config=config))
    assert same == {"filters": {"added": [], "removed": [], "changed": []},
                    "rules": {"added": [], "removed": [], "changed": []}}
    # the web rule turned into a block: its two filters changed (80, 443), the rule changed
    blocking = tmp_path / "blocking.cmd"
    blocking.write_text((DATA / "web-ftp.cmd").read_text(encoding="utf-8").replace(
        'filterlist="Web" filteraction=Permit', 'filterlist="Web" filteraction=Block'), encoding="utf-8")
    d = diff_policies(old, analyse_script(blocking, host="W", config=config))
    assert sorted(c["dst_port"] for c in d["filters"]["changed"]) == [80, 443]
    assert {(c["before"]["action"], c["after"]["action"]) for c in d["filters"]["changed"]} == {("permit", "block")}
    assert [r["rule"] for r in d["rules"]["changed"]] == ["Web"]


def test_policy_diff_command_line_lists_changes_then_the_traffic_impact(site, tmp_path):
    from click.testing import CliRunner

    from pipeline.cli import cli

    root, *_ = site
    cfg = tmp_path / "w.toml"
    cfg.write_text(config_text(), encoding="utf-8")
    args = ["--config", str(cfg), "policy", "diff", str(DATA / "web-ftp.cmd"), str(DATA / "web-no-ftp.cmd"),
            "--host", "W", "-w", str(root)]
    result = CliRunner().invoke(cli, args, env={"COLUMNS": "160"})
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "filters removed (1)" in out and "- permit TCP any -> 10.0.0.10:21 (mirrored)" in out
    assert "rules removed (1)" in out and out.index("filters removed") < out.index("WOULD BREAK") < out.index(
        "10.2.0.7")
    doc = json.loads(CliRunner().invoke(cli, [*args, "--format", "json"]).stdout)
    assert [(b["remote_ip"], b["events"]) for b in doc["impact"]["would_break"]] == [("10.2.0.7", 4), ("10.2.0.9", 1)]
    assert set(doc) >= {"filters", "rules", "impact"}


def test_policy_lint_against_the_sample_traffic_finds_unused_permits_and_the_hot_block(sample_warehouse):
    """WEB01's only permitted traffic in the sample is IIS: inbound 80/443 and the FTP upload (21).  So, by
    hand from web01.cmd: Terminal Services (49), DNS client (54, 55), ISP resolver (59) and Web client (67,
    68) are unused permits; "Block everything" (38) drops WinRM from the four admin workstations (2-3 days
    each) and DNS to the new resolver 10.1.0.3 (3 days): five recurring internal flows."""
    from click.testing import CliRunner

    from pipeline.cli import cli

    result = CliRunner().invoke(cli, ["--config", str(SAMPLE / "ipsec-drops.toml"), "policy", "lint",
                                      str(SAMPLE / "policies" / "web01.cmd"), "--host", "WEB01", "-w",
                                      str(sample_warehouse), "--format", "json"])
    assert result.exit_code == 1, result.output
    findings = json.loads(result.stdout)["lint"]
    unused = sorted(f["line"] for f in findings if f["code"] == "unused-permit")
    assert unused == [49, 54, 55, 59, 67, 68]
    [hot] = [f for f in findings if f["code"] == "hot-block"]
    assert hot["line"] == 38 and "drops 5 recurring flow(s) from internal sources" in hot["message"]
    # without --warehouse the script's own lint only
    plain = CliRunner().invoke(cli, ["--config", str(SAMPLE / "ipsec-drops.toml"), "policy", "lint",
                                     str(SAMPLE / "policies" / "web01.cmd"), "--host", "WEB01", "--format", "json"])
    assert not {f["code"] for f in json.loads(plain.stdout)["lint"]} & {"unused-permit", "hot-block"}


def test_flows_dataset_allowed_shows_the_permitting_filter_and_flags_what_the_policy_blocks(site, tmp_path):
    from click.testing import CliRunner

    from pipeline.cli import cli

    root, *_ = site
    run = CliRunner().invoke
    cfg = tmp_path / "w.toml"
    cfg.write_text(config_text(), encoding="utf-8")
    doc = json.loads(run(cli, ["--config", str(cfg), "flows", "--dataset", "allowed", "-w", str(root),
                               "--format", "json"]).stdout)
    by = {(f["direction"], f["protocol"], f["local_port"], f["remote_ip"], f["remote_port"]): f for f in doc}
    # 10.2.0.5 -> :80 on 10.0.0.10: 4 + 2 IIS requests and 3 pfirewall ALLOW packets, on two days
    web = by[("inbound", 6, 80, "10.2.0.5", None)]
    assert (web["events"], web["days_seen"], web["rule"], web["policy_blocks"]) == (9, 2, "Web", False)
    assert web["source_formats"] == ["iis-w3c", "pfirewall"]
    assert by[("inbound", 6, 21, "10.2.0.7", None)]["rule"] == "FTP"
    # the DNS reply is decided by the mirrored copy of the DNS filter
    assert by[("inbound", 17, None, "10.0.0.53", 53)]["rule"] == "DNS"
    assert not any(f["policy_blocks"] for f in doc)
    # had the policy been the one without the FTP rule, the FTP traffic seen would contradict it: flagged
    cfg.write_text(config_text("web-no-ftp.cmd"), encoding="utf-8")
    doc = json.loads(run(cli, ["--config", str(cfg), "flows", "--dataset", "allowed", "-w", str(root),
                               "--format", "json"]).stdout)
    flagged = sorted((f["remote_ip"], f["local_port"], f["verdict"], f["rule"]) for f in doc if f["policy_blocks"])
    assert flagged == [("10.2.0.7", 21, "blocked-by-rule", "Block all"), ("10.2.0.9", 21, "blocked-by-rule",
                                                                          "Block all")]


def test_hostile_iis_lines_are_skipped_counted_and_named_never_a_traceback(tmp_path):
    log = tmp_path / "ex261110.log"
    log.write_bytes(
        b"#Software: Microsoft Internet Information Services 6.0\r\n"
        b"2026-11-10 10:00:00 x y\r\n"                         # 2: before any #Fields:
        b"#Fields:\r\n"
        b"2026-11-10 10:00:00\r\n"                             # 4: an empty #Fields: names nothing
        b"#Fields: date time c-ip c-ip s-port\r\n"
        b"2026-11-10 10:00:00 10.0.0.1 10.0.0.2 80\r\n"        # 6: stored (the first c-ip counts)
        b"#Date: garbage\r\n"
        b"#Fields: time c-ip cs-method\r\n"
        b"10:00:00 10.0.0.1 GET\r\n"                           # 9: no date field and no usable #Date:
        b"#Fields: date time c-ip s-port cs-method\r\n"
        b"2026-13-45 10:00:00 10.0.0.1 80 GET\r\n"             # 11: no such date
        b"2026-11-10 10:00:00 ::1 99999 GET\r\n"               # 12: no such port
        b"2026-11-10 10:00:00 fe80::1 443 GET\r\n"             # 13: stored (IPv6 client)
        b"2026-11-10 25:61:00 10.0.0.1 80 GET\r\n"             # 14: no such time
        b"\x00\x00\x00 garbage \xff\xfe\r\n"                   # 15: three values, not five
        b"2026-11-10 10:00:00 =cmd|calc!A1 80 GET\r\n")        # 16: a formula is no address
    report = ingest([log], Warehouse(tmp_path / "wh"), parse_config(config_text()), host="W")
    [f] = report.files
    lines = sorted(int(i.location.split()[1]) for i in f.issues.details if i.kind == "malformed")
    assert lines == [2, 4, 9, 11, 12, 14, 15, 16] and f.skipped == 8 and int(report.exit_code) == 1
    assert rows(tmp_path / "wh") == [
        ("2026-11-10", "W", "inbound", 6, None, 80, "10.0.0.1", None, "iis-w3c", "iis-request", 1, None,
         t("2026-11-10 10:00:00"), t("2026-11-10 10:00:00")),
        ("2026-11-10", "W", "inbound", 6, None, 443, "fe80::1", None, "iis-w3c", "iis-request", 1, None,
         t("2026-11-10 10:00:00"), t("2026-11-10 10:00:00"))]


def test_an_iis_log_still_being_written_is_read_to_its_last_line_once(tmp_path):
    """The last line has no line end yet: read now, read again when the file has grown, stored once."""
    config = parse_config(config_text())
    log = tmp_path / "ex261112.log"
    head = ("#Software: Microsoft Internet Information Services 5.0\r\n#Version: 1.0\r\n"
            "#Date: 2026-11-12 10:00:00\r\n#Fields: time c-ip cs-method cs-uri-stem sc-status\r\n"
            "10:00:00 10.2.0.9 GET /a.htm 200\r\n10:00:01 10.2.0.9 GET /a.htm 200\r\n")
    log.write_bytes((head + "10:00:01 10.2.0.9 GET /a.htm 200").encode("ascii"))  # a third, unfinished
    root = tmp_path / "wh"
    ingest([log], Warehouse(root), config, host="W")
    log.write_bytes((head + "10:00:01 10.2.0.9 GET /a.htm 200\r\n10:00:02 10.2.0.9 GET /b.htm 200\r\n")
                    .encode("ascii"))
    ingest([log], Warehouse(root), config, host="W")
    ingest([log], Warehouse(root), config, host="W")
    (found,) = rows(root)
    assert found[2:11] == ("inbound", 6, None, 80, "10.2.0.9", None, "iis-w3c", "iis-request", 4)


def test_compaction_and_retention_keep_the_allowed_dataset_whole(tmp_path):
    """Two runs leave two parts of 2026-11-11; compaction merges them (same sums, keys kept, so a reread
    adds nothing); retention deletes the allowed days with the drops' days."""
    from datetime import date

    from pipeline.warehouse import check, maintain

    config = parse_config(config_text())
    root = tmp_path / "wh"
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(DATA / "ex261111.log", logs / "ex261111.log")
    ingest([logs / "ex261111.log"], Warehouse(root), config, host="W")
    shutil.copy(DATA / "ftp" / "ex261111.log", logs / "ftp-ex261111.log")
    ingest([logs / "ftp-ex261111.log"], Warehouse(root), config, host="W")
    shutil.copy(DATA / "ex261110.log", logs / "ex261110.log")
    ingest([logs / "ex261110.log"], Warehouse(root), config, host="W")
    before = rows(root)
    day = root / "allowed" / "date=2026-11-11"
    assert len(list(day.glob("*.parquet"))) == 2
    done = maintain(root, min_parts=2)
    assert done.compacted_allowed == {"2026-11-11": (2, 1)} and "permitted traffic" in done.summary()
    assert len(list(day.glob("*.parquet"))) == 1 and len(list((root / "_allowed_keys" / "date=2026-11-11")
                                                             .glob("*.parquet"))) == 1
    assert rows(root) == before
    assert check(root).ok
    manifest = json.loads((root / "_manifest.json").read_text(encoding="utf-8"))
    assert sorted(manifest["allowed_parts"]) == sorted(p.relative_to(root).as_posix()
                                                       for p in (root / "allowed").glob("*/*.parquet"))
    ingest([logs], Warehouse(root), config, host="W", reread=True)  # the merged keys still know every event
    assert rows(root) == before
    maintain(root, retention_days=30, today=date(2026, 12, 11))  # 2026-11-10 is past 30 days, 2026-11-11 not
    assert {r[0] for r in rows(root)} == {"2026-11-11", "2026-11-12"}  # the FTP log runs past midnight
    assert not (root / "allowed" / "date=2026-11-10").exists()
    assert not (root / "_allowed_keys" / "date=2026-11-10").exists()
