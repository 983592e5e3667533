"""Suggestions: which blocked flows become permit filters, which never do, and the replay that proves them.

A warehouse is written by hand: host H (10.0.0.1) under tests/data/suggest-lockdown.cmd (block
everything but TCP 80, and a rogue resolver blocked on purpose).  Each group of drops below is a
scenario whose outcome was worked out from the script and the thresholds (min_days 2,
min_sources 3, max_prefix 24, scan_ports 20), not from this code.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import parse_config
from pipeline.policy import analyse_text, parse_text, parse_texts
from pipeline.schema import DROPS_SCHEMA
from pipeline.suggest import collapse, netsh_script, suggest, whatif, widen

DATA = Path(__file__).resolve().parent / "data"
ME = "10.0.0.1"
DAY = datetime(2026, 11, 11, 9, tzinfo=UTC)


def config_text(extra: str = "") -> str:
    return (f'[hosts.H]\naddresses = ["{ME}"]\ndns = ["10.0.0.53"]\n'
            f'policy = "{(DATA / "suggest-lockdown.cmd").as_posix()}"\n' + extra)


def drop(t: datetime, src: str, sport: int | None, dst: str, dport: int | None, proto: int = 6,
         kind: str = "packet-dropped", host: str = "H") -> dict:
    inbound = dst == ME
    return {"event_time": t, "host": host, "source_format": "evtx", "source_file": "x.evtx", "source_record": 1,
            "event_id": 4290 if inbound else 4291, "drop_kind": kind,
            "direction": "inbound" if inbound else "outbound", "protocol": proto, "src_ip": src, "src_port": sport,
            "dst_ip": dst, "dst_port": dport, "local_ip": dst if inbound else src, "remote_ip": src if inbound else dst,
            "packets": 1}


def scenario_drops() -> list[dict]:
    rows = []
    # 1. WinRM from four admin workstations of 10.40.1.8/29, on 3 days: suggested, widened to the /29
    for day in range(3):
        for i, src in enumerate(("10.40.1.9", "10.40.1.10", "10.40.1.11", "10.40.1.14")):
            rows.append(drop(DAY + timedelta(days=day, minutes=i), src, 50000 + i, ME, 5985))
    # 2. DNS to 10.0.0.99 (not the configured dns 10.0.0.53) on 2 days: suggested, with a risk note
    for day in (0, 4):
        rows.append(drop(DAY + timedelta(days=day, hours=1), ME, 1030 + day, "10.0.0.99", 53, proto=17))
    # 3. a scanner touching 25 ports in one day: never suggested, nor its TCP 8080 attempts on other days
    for p in range(25):
        rows.append(drop(DAY + timedelta(hours=2, seconds=p), "45.155.205.66", 40000, ME, 1000 + p))
    for day in (1, 2):
        rows.append(drop(DAY + timedelta(days=day, hours=3), "45.155.205.66", 40001, ME, 8080))
    # 4. RDP from the Internet on 3 days: exposure (public source, risky port)
    for day in range(3):
        rows.append(drop(DAY + timedelta(days=day, hours=4), "203.0.113.9", 41000, ME, 3389))
    # 5. RDP from three internal sources on ONE day: suggested (min_sources), with a risky-port note
    for i in range(3):
        rows.append(drop(DAY + timedelta(hours=5, minutes=i), f"10.7.0.{20 + i}", 42000, ME, 3389))
    # 6. an ignored network: never suggested
    for day in range(2):
        rows.append(drop(DAY + timedelta(days=day, hours=6), "91.240.118.5", 43000, ME, 8443))
    # 7. a one-off: rare
    rows.append(drop(DAY + timedelta(hours=7), "10.9.9.9", 44000, ME, 5432))
    # 8. the rogue resolver, recurring, blocked on purpose by its own rule
    for day in range(3):
        rows.append(drop(DAY + timedelta(days=day, hours=8), ME, 1100 + day, "198.18.0.53", 53, proto=17))
    # 9. clear text that should have been secured: never a candidate (negotiation problem)
    for day in range(3):
        rows.append({**drop(DAY + timedelta(days=day, hours=9), "10.5.5.5", None, ME, None, proto=None,
                            kind="clear-text-should-be-secured"), "src_port": None, "dst_port": None})
    return rows


def write_drops(root: Path, rows: list[dict]) -> None:
    table = pa.Table.from_pylist(rows, schema=DROPS_SCHEMA)
    days = pa.compute.cast(table["event_time"], pa.date32())
    for day in sorted(set(days.to_pylist())):
        part = root / "drops" / f"date={day.isoformat()}"
        part.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.filter(pa.compute.equal(days, day)), part / "part-1.parquet")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("suggest-wh")
    write_drops(root, scenario_drops())
    config = parse_config(config_text('[suggest]\nignore = ["91.240.118.0/24"]\n'))
    return root, config


@pytest.fixture(scope="module")
def result(site):
    root, config = site
    return suggest(root, config, verify=True)


def by_port(items: list[dict]) -> dict:
    return {(s["direction"], s["local_port"] if s["direction"] == "inbound" else s["remote_port"]): s for s in items}


def test_only_the_legitimate_recurring_flows_are_suggested(result):
    got = by_port(result["suggestions"])
    assert set(got) == {("inbound", 5985), ("outbound", 53), ("inbound", 3389)}
    winrm = got[("inbound", 5985)]
    assert winrm["remote_networks"] == ["10.40.1.8/29"]
    assert winrm["remotes"] == ["10.40.1.9", "10.40.1.10", "10.40.1.11", "10.40.1.14"]
    assert (winrm["events"], winrm["days"], winrm["blocked_by"], winrm["protocol"]) == (12, 3, "Block all", 6)
    assert winrm["name"] == "Suggested: WinRM from 10.40.1.8/29"
    assert any("widened beyond the observed addresses" in r for r in winrm["risks"])
    assert any("risky service port" in r for r in winrm["risks"])  # 5985 from internal sources: a note
    dns = got[("outbound", 53)]
    assert dns["remote_networks"] == ["10.0.0.99/32"] and dns["days"] == 2
    assert any("not the host's configured dns" in r for r in dns["risks"])
    rdp = got[("inbound", 3389)]
    assert rdp["remote_networks"] == ["10.7.0.20/31", "10.7.0.22/32"] or rdp["remote_networks"] == ["10.7.0.20/30"]


def test_scans_exposure_ignored_rare_and_deliberate_blocks_are_reported_not_suggested(result):
    reasons = {(n["reason"], tuple(n["remotes"])) for n in result["not_suggested"]}
    assert ("scan", ("45.155.205.66",)) in reasons  # its 8080 attempts on other days included
    scan = next(n for n in result["not_suggested"] if n["reason"] == "scan")
    assert scan["events"] == 27
    assert ("exposure", ("203.0.113.9",)) in reasons
    assert ("ignored", ("91.240.118.5",)) in reasons
    assert ("rare", ("10.9.9.9",)) in reasons
    assert ("blocked-on-purpose", ("198.18.0.53",)) in reasons
    everything = {a for s in result["suggestions"] for a in s["remotes"]}
    assert not everything & {"45.155.205.66", "203.0.113.9", "91.240.118.5", "198.18.0.53", "10.5.5.5"}


def test_widening_stops_at_attack_addresses_and_the_prefix_limit():
    ip = ipaddress.ip_address
    blocks = collapse([ip("10.40.1.9"), ip("10.40.1.10"), ip("10.40.1.11"), ip("10.40.1.14")])
    assert [str(b) for b in blocks] == ["10.40.1.9/32", "10.40.1.10/31", "10.40.1.14/32"]
    assert [str(n) for n in widen(blocks, 24, [])] == ["10.40.1.8/29"]
    # an attacker at .12 keeps the /29 (and the /30 holding it) out: .14 stays alone
    assert [str(n) for n in widen(blocks, 24, [ip("10.40.1.12")])] == ["10.40.1.8/30", "10.40.1.14/32"]
    # a limit of /30 stops before the /29
    assert [str(n) for n in widen(blocks, 30, [])] == ["10.40.1.8/30", "10.40.1.14/32"]
    # never wider than needed: one address stays a /32; two far apart are not merged across the limit
    assert [str(n) for n in widen(collapse([ip("10.1.0.1")]), 24, [])] == ["10.1.0.1/32"]
    assert [str(n) for n in widen(collapse([ip("10.1.0.1"), ip("10.2.0.1")]), 24, [])] == [
        "10.1.0.1/32", "10.2.0.1/32"]
    v6 = widen(collapse([ip("2001:db8::1"), ip("2001:db8::2:1")]), 24, [])
    assert [str(n) for n in v6] == ["2001:db8::/110"]


def test_the_netsh_text_parses_clean_and_binds_to_the_host_s_permit_action(result, site):
    _, config = site
    script = netsh_script(result)
    assert "\r\n" in script and script.startswith("@echo off")
    base = (DATA / "suggest-lockdown.cmd").read_text(encoding="utf-8")
    # run after the host's script, as it would be: the project's parser finds nothing wrong in it
    model, issues, kind = parse_texts([(base, "lockdown.cmd"), (script, "suggestions.cmd")])
    assert kind == "batch"
    assert [i for i in issues if i.file == "suggestions.cmd"] == []
    alone = parse_text(script, "suggestions.cmd")[1]  # alone, only the host's policy and action are missing
    missing = {"no-such-policy", "no-such-filteraction", "rule-refused"}
    assert {i.code for i in alone if i.severity == "error"} <= missing
    winrm = by_port(result["suggestions"])[("inbound", 5985)]
    assert winrm["netsh"] == [
        'netsh ipsec static add filterlist name="Suggested: WinRM from 10.40.1.8/29" '
        'description="ipsec-drops suggestion"',
        'netsh ipsec static add filter filterlist="Suggested: WinRM from 10.40.1.8/29" srcaddr=10.40.1.8 '
        'srcmask=255.255.255.248 dstaddr=me protocol=TCP dstport=5985 mirrored=yes description="10.40.1.8/29"',
        'netsh ipsec static add rule name="Suggested: WinRM from 10.40.1.8/29" policy="H lockdown" '
        'filterlist="Suggested: WinRM from 10.40.1.8/29" filteraction="Permit"',
    ]
    amended = analyse_text(base + script, "amended.cmd", host="H", config=config)
    assert [i for i in amended.issues if i.severity == "error"] == []


def test_replay_permits_exactly_the_suggested_flows_and_nothing_else(result):
    replay = result["replay"]
    got = by_port(result["suggestions"])
    assert got[("inbound", 5985)]["replay"]["drops_permitted"] == 12
    assert got[("inbound", 5985)]["replay"]["flows_permitted"] == 4
    assert got[("outbound", 53)]["replay"]["drops_permitted"] == 2
    assert got[("inbound", 3389)]["replay"]["drops_permitted"] == 3
    assert replay["drops_blocked_before"] - replay["drops_blocked_after"] == 12 + 2 + 3
    assert replay["opened_beyond_suggested"] == []
    assert replay["problems"] == []


def test_other_blocked_flows_a_suggestion_would_open_are_reported(tmp_path):
    rows = scenario_drops()
    # a WinRM reply to 10.40.1.12 (inside the /29), dropped once: not part of the suggestion's own flows,
    # but the mirrored permit filter lets it through
    rows.append(drop(DAY + timedelta(hours=10), ME, 5985, "10.40.1.12", 50100))
    write_drops(tmp_path, rows)
    out = suggest(tmp_path, parse_config(config_text()), verify=True)
    winrm = by_port(out["suggestions"])[("inbound", 5985)]
    assert winrm["remote_networks"] == ["10.40.1.8/29"]
    [opened] = out["replay"]["opened_beyond_suggested"]
    assert (opened["remote_ip"], opened["direction"], opened["events"]) == ("10.40.1.12", "outbound", 1)
    assert opened["rule_after"] == "Suggested: WinRM from 10.40.1.8/29"


def test_an_ignored_address_inside_the_network_keeps_it_narrow(tmp_path):
    write_drops(tmp_path, scenario_drops())
    out = suggest(tmp_path, parse_config(config_text()), verify=True, ignore=("10.40.1.12/32",))
    winrm = by_port(out["suggestions"])[("inbound", 5985)]
    nets = [ipaddress.ip_network(n) for n in winrm["remote_networks"]]
    assert not any(ipaddress.ip_address("10.40.1.12") in n for n in nets)
    assert winrm["remote_networks"] == ["10.40.1.8/30", "10.40.1.14/32"]
    assert winrm["replay"]["drops_permitted"] == 12


def test_thresholds_and_any(site):
    root, config = site
    strict = suggest(root, config, min_days=4, min_sources=5)
    assert by_port(strict["suggestions"]) == {}
    assert {n["reason"] for n in strict["not_suggested"]} >= {"rare", "scan", "exposure"}
    assert "any" not in {n for s in suggest(root, config)["suggestions"] for n in s["remote_networks"]}
    wide = suggest(root, config, allow_any=True, min_sources=2)
    # only WinRM's sources span... one /24: never any; nothing here has 2 distinct /24s except none
    assert all(s["remote_networks"] != ["any"] for s in wide["suggestions"] if s["local_port"] == 5985)
    excluded = suggest(root, config, exclude_ports=(5985,))
    assert ("inbound", 5985) not in by_port(excluded["suggestions"])
    assert any(n["reason"] == "ignored" and n["local_port"] == 5985 for n in excluded["not_suggested"])


def test_whatif_replace_with_a_stricter_script_reports_the_flows_it_newly_blocks(site, tmp_path):
    root, config = site
    stricter = tmp_path / "stricter.cmd"
    stricter.write_text((DATA / "suggest-lockdown.cmd").read_text(encoding="utf-8").replace(
        'add rule name="Web" policy="H lockdown" filterlist="Web" filteraction=Permit', "rem no web rule"),
        encoding="utf-8")
    rows = scenario_drops() + [drop(DAY + timedelta(hours=11), "10.3.3.3", 45000, ME, 80)]
    write_drops(tmp_path / "W", rows)
    out = whatif(tmp_path / "W", config, host="H", replace_with=stricter)
    assert out["summary"]["newly_blocked"] == 1
    [change] = out["changed"]
    assert (change["remote_ip"], change["local_port"]) == ("10.3.3.3", 80)
    assert (change["verdict_before"], change["rule_before"]) == ("permitted-by-policy", "Web")
    assert (change["verdict_after"], change["rule_after"]) == ("blocked-by-rule", "Block all")
    appended = tmp_path / "extra.cmd"
    appended.write_text(netsh_script(suggest(root, config)), encoding="utf-8")
    out = whatif(root, config, host="H", script=appended)
    assert out["summary"]["newly_permitted"] == 4 + 1 + 3  # the WinRM, DNS and internal RDP flows
    assert out["summary"]["newly_blocked"] == 0


def test_the_command_line_prints_netsh_json_and_tables_and_writes_the_script(site, tmp_path):
    import json

    from click.testing import CliRunner

    from pipeline.cli import cli

    root, _ = site
    cfg = tmp_path / "site.toml"
    cfg.write_text(config_text('[suggest]\nignore = ["91.240.118.0/24"]\n'), encoding="utf-8")
    run = CliRunner().invoke
    result = run(cli, ["--config", str(cfg), "suggest", "-w", str(root), "--verify", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {"suggestions", "not_suggested", "replay"}
    first = doc["suggestions"][0]
    assert {"host", "direction", "protocol", "local_port", "remote_port", "remote_networks", "remotes", "packets",
            "events", "days", "first_seen", "last_seen", "blocked_by", "risks", "netsh", "replay"} <= set(first)
    assert first["first_seen"].endswith("Z") and set(first["replay"]) >= {"drops_permitted", "flows_permitted"}
    assert set(doc["replay"]) >= {"drops_blocked_before", "drops_blocked_after", "opened_beyond_suggested"}
    assert {"host", "reason", "direction", "protocol", "local_port", "remote_port", "remotes", "events"} <= set(
        doc["not_suggested"][0])
    without = json.loads(run(cli, ["--config", str(cfg), "suggest", "-w", str(root), "--format", "json"]).stdout)
    assert "replay" not in without and all("replay" not in s for s in without["suggestions"])
    out = tmp_path / "suggested.cmd"
    result = run(cli, ["--config", str(cfg), "suggest", "-w", str(root), "--out", str(out), "--min-days", "3"])
    assert result.exit_code == 0 and out.read_bytes().startswith(b"@echo off\r\n")
    netsh = [line for line in out.read_text(encoding="utf-8").splitlines() if line.startswith("netsh")]
    by_json = [line for s in without["suggestions"] if s["days"] >= 3 or s["local_port"] == 3389 for line in s["netsh"]]
    assert netsh == by_json  # --min-days 3 keeps WinRM (3 days) and RDP (3 internal sources), not DNS (2 days)
    table = run(cli, ["--config", str(cfg), "suggest", "-w", str(root), "--format", "table", "--exclude-port", "5985"],
                env={"COLUMNS": "140"})
    assert "10.7.0.20/30" in table.stdout and "10.40.1.8/29" not in table.stdout and "ignored" in table.stdout
    what = run(cli, ["--config", str(cfg), "whatif", "-w", str(root), "--host", "H", "--script", str(out),
                     "--format", "json"])
    assert what.exit_code == 0, what.output
    changed = json.loads(what.stdout)["changed"]
    assert {c["verdict_after"] for c in changed} == {"permitted-by-policy"} and len(changed) == 4 + 3
    assert run(cli, ["--config", str(cfg), "whatif", "-w", str(root), "--host", "H"]).exit_code == 2


def test_a_service_blocked_from_too_many_networks_keeps_the_busiest_and_reports_the_rest(tmp_path):
    rows = []
    for k in range(12):  # 12 unrelated internal networks, the later ones busier
        for day in range(2):
            for _ in range(k + 1):
                rows.append(drop(DAY + timedelta(days=day, minutes=k), f"10.{100 + k}.0.5", 50000, ME, 8081))
    write_drops(tmp_path, rows)
    out = suggest(tmp_path, parse_config(config_text()), max_networks=8)
    [s] = out["suggestions"]
    assert len(s["remote_networks"]) == 8
    assert set(s["remotes"]) == {f"10.{100 + k}.0.5" for k in range(4, 12)}  # the 8 busiest
    [rest] = [n for n in out["not_suggested"] if n["reason"] == "scattered"]
    assert set(rest["remotes"]) == {f"10.{100 + k}.0.5" for k in range(4)}
    assert rest["events"] == 2 * (1 + 2 + 3 + 4)


def _reference_widen(blocks, max_prefix, forbidden):
    """The widening rule written with ipaddress objects (the integer version must give the same blocks)."""
    from collections import defaultdict

    current = list(blocks)
    bad = [f if isinstance(f, ipaddress.IPv4Network) else ipaddress.ip_network(f) for f in forbidden]
    for prefix in range(31, max_prefix - 1, -1):
        groups = defaultdict(list)
        for net in current:
            if net.prefixlen >= prefix:
                groups[net.supernet(new_prefix=prefix)].append(net)
        merged = {sup: m for sup, m in groups.items() if len(m) >= 2 and not any(b.overlaps(sup) for b in bad)}
        if merged:
            gone = {id(m) for ms in merged.values() for m in ms}
            current = list(ipaddress.collapse_addresses([n for n in current if id(n) not in gone] + list(merged)))
    return sorted(current, key=lambda n: n.network_address)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=400, deadline=None)
@given(st.lists(st.integers(0, 511), min_size=1, max_size=12),
       st.lists(st.tuples(st.integers(0, 511), st.sampled_from([32, 30, 28])), max_size=3),
       st.sampled_from([20, 24, 28, 30]))
def test_integer_collapse_and_widening_agree_with_ipaddress(offsets, bad, max_prefix):
    base = int(ipaddress.ip_address("10.40.0.0"))
    remotes = [ipaddress.IPv4Address(base + o) for o in offsets]
    forbidden = [ipaddress.ip_network(f"{ipaddress.IPv4Address(base + o)}/{p}", strict=False) for o, p in bad]
    blocks = collapse(remotes)
    assert blocks == sorted(ipaddress.collapse_addresses(ipaddress.ip_network(a) for a in remotes),
                            key=lambda n: n.network_address)
    assert widen(blocks, max_prefix, forbidden) == _reference_widen(blocks, max_prefix, forbidden)


def test_an_amendment_that_only_adds_keeps_the_base_filters_and_one_that_deletes_does_not(site):
    from pipeline.policy import analyse_amended, analyse_script

    _, config = site
    base = analyse_script(DATA / "suggest-lockdown.cmd", host="H", config=config)
    added = analyse_amended(base, 'netsh ipsec static add filter filterlist="New" srcaddr=10.1.1.1 dstaddr=me '
                                  'protocol=tcp dstport=22\r\nnetsh ipsec static add rule name="New" '
                                  'policy="H lockdown" filterlist="New" filteraction=Permit\r\n', "a.cmd",
                            config=config)
    full = analyse_amended(base, 'netsh ipsec static delete rule name="Web" policy="H lockdown"\r\n', "d.cmd",
                           config=config)
    assert len(added.filters) == len(base.filters) + 2 and added.filters[:len(base.filters)] == base.filters  # mirrored
    assert {f.rule for f in added.filters} == {f.rule for f in base.filters} | {"New"}
    assert "Web" not in {f.rule for f in full.filters} and len(full.filters) < len(base.filters)


def test_a_replay_candidate_s_filter_table_is_the_full_table(site):
    """Session.add_policy builds an amendment's table from the base's rows and the added ones: the same table."""
    from dataclasses import replace

    from pipeline.policy import analyse_amended, analyse_script
    from pipeline.policy.store import table

    root, config = site
    base = analyse_script(DATA / "suggest-lockdown.cmd", host="H", config=config)
    am = analyse_amended(base, netsh_script(suggest(root, config)), "s.cmd", config=config)
    assert am.amends is base and am.base_rows == len(base.filters)
    shortcut = table(am.amends, "filters")
    shortcut = shortcut.set_column(shortcut.schema.get_field_index("snapshot"), "snapshot",
                                   pa.array([am.snapshot] * shortcut.num_rows))
    shortcut = pa.concat_tables([shortcut, table(replace(am, filters=am.filters[am.base_rows:]), "filters")])
    assert shortcut.equals(table(am, "filters"))
