"""The sample site's late scenarios (i-p, 28-31 Oct) through pipeline.correlate.flows: each with its verdict and rule.

The oracle is sample_logs/expected.json (``suggestions`` and ``not_suggested``, counted by generate.py from
what it wrote) and the scripts in sample_logs/policies/ (which rule blocks each flow), not this code.  These
are the flows the coming Suggestions feature turns into netsh permits (or must not).
"""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC

import pytest
from conftest import SAMPLE, SAMPLE_CONFIG

from pipeline.config import load_config
from pipeline.correlate import flows as flows_view
from pipeline.correlate import sql

EXPECTED = json.loads((SAMPLE / "expected.json").read_text())
ENTRIES = {e["scenario"]: e for e in EXPECTED["suggestions"] + EXPECTED["not_suggested"]}
#: Verdict and rule of each scenario's flows, from the policies: WEB01's "Block everything" and DB01's
#: "Block all" (its "Backup agent" rule has an empty filter list); APP03 has no IPSec policy at all.
JUDGED = {
    "i": ("blocked-by-rule", "Block everything"),  # WinRM from the admin /29
    "j": ("blocked-by-rule", "Block everything"),  # DNS to 10.1.0.3: the "DNS client" filters name dns = 10.1.0.2
    "k": ("blocked-by-rule", "Block all"),  # the backup agent
    "l": ("no-policy", None),  # APP03's monitoring agent, Windows Firewall drops
    "m": ("blocked-by-rule", "Block everything"),  # the wide scan
    "n": ("blocked-by-rule", "Block everything"),  # Terminal Services from 185.220.101.7
    "c": ("blocked-by-rule", "Block everything"),  # Terminal Services from 203.0.113.x (scenario c)
    "o": ("blocked-by-rule", "Block everything"),  # TCP 8080 from the ignored /24
    "p": ("blocked-by-rule", "Block all"),  # one attempt at TCP 5432
}
ADMIN_NET = ipaddress.ip_network(ENTRIES["i"]["remote_networks"][0])
IGNORED_NET = ipaddress.ip_network(EXPECTED["suggest_config"]["ignore"][0])


@pytest.fixture(scope="module")
def config():
    return load_config(SAMPLE_CONFIG)


@pytest.fixture(scope="module")
def flows(sample_warehouse, config) -> list[dict]:
    return flows_view(sample_warehouse, config).to_pylist()


def of(flows: list[dict], e: dict) -> list[dict]:
    """The flows of an expected entry: its host, direction, protocol and remotes (and ports when given)."""
    out = [f for f in flows if f["host"] == e["host"] and f["direction"] == e["direction"]
           and f["protocol"] == e["protocol"] and f["remote_ip"] in e["remotes"]]
    if "local_ports" in e:
        out = [f for f in out if f["local_port"] in e["local_ports"]]
    else:
        out = [f for f in out if (f["local_port"], f["remote_port"]) == (e["local_port"], e["remote_port"])]
    return out


def test_the_expected_entries_are_the_brief_s():
    assert [e["scenario"] for e in EXPECTED["suggestions"]] == ["i", "j", "k", "l"]
    assert {e["scenario"]: e["reason"] for e in EXPECTED["not_suggested"]} == {
        "m": "scan", "n": "exposure", "c": "exposure", "o": "ignored", "p": "rare"}
    assert {e["scenario"]: e["kind"] for e in EXPECTED["suggestions"]} == {
        "i": "ipsec", "j": "ipsec", "k": "ipsec", "l": "advfirewall"}
    i, j, k, app = (ENTRIES[s] for s in "ijkl")
    assert (i["host"], i["local_port"], i["remote_networks"]) == ("WEB01", 5985, ["10.40.1.8/29"])
    assert (j["host"], j["remote_port"], j["remote_networks"], bool(j["risk"])) == ("WEB01", 53, ["10.1.0.3/32"], True)
    assert (k["host"], k["local_port"], k["remote_networks"]) == ("DB01", 10000, ["10.1.0.60/32"])
    assert (app["host"], app["local_port"], app["remotes"]) == ("APP03", 9100, ["10.1.0.81", "10.1.0.82", "10.1.0.83"])
    assert EXPECTED["suggest_config"] == {"ignore": ["91.240.118.0/24"]}


@pytest.mark.parametrize("scenario", list(JUDGED))
def test_each_scenario_s_flows_have_its_verdict_and_rule(flows, scenario):
    e = ENTRIES[scenario]
    mine = of(flows, e)
    assert {(f["verdict"], f["rule"]) for f in mine} == {JUDGED[scenario]}
    assert sorted({f["remote_ip"] for f in mine}) == sorted(e["remotes"])
    assert sum(f["events"] for f in mine) == e["events"]
    days = {d.isoformat() for f in mine for d in (f["first_seen"].astimezone(UTC).date(),
                                                  f["last_seen"].astimezone(UTC).date())}
    assert days <= set(e["days"]) and max(f["days_seen"] for f in mine) <= len(e["days"])


@pytest.mark.parametrize("scenario", ["i", "j", "k", "l", "n", "o"])
def test_recurrence_is_counted_in_distinct_utc_days(sample_warehouse, config, scenario):
    e = ENTRIES[scenario]
    service = e.get("local_port") or e.get("remote_port") or e["local_ports"][0]
    remotes = ", ".join(f"'{r}'" for r in e["remotes"])
    # the service port is each drop's destination port here (no replies)
    table = sql(sample_warehouse, config, f"""
        select distinct strftime(event_time at time zone 'UTC', '%Y-%m-%d') as day
        from drops where host = '{e['host']}' and remote_ip in ({remotes}) and dst_port = {service}
        order by day""")
    assert table.column("day").to_pylist() == e["days"]


def test_app03_has_no_policy_and_its_drops_are_windows_firewall_drops(flows, config):
    assert config.host("APP03").policy is None
    app = [f for f in flows if f["host"] == "APP03"]
    assert app and {f["verdict"] for f in app} == {"no-policy"}
    assert sum(f["events"] for f in app) == EXPECTED["by_host"]["APP03"]


def test_the_scan_touches_30_ports_in_one_utc_day(flows):
    e = ENTRIES["m"]
    scan = of(flows, e)
    assert len({f["local_port"] for f in scan}) >= 30 and len(e["days"]) == 1
    assert not {80, 443} & {f["local_port"] for f in scan}  # ports WEB01 permits would not be drops


def test_the_admin_subnet_and_the_ignored_network_hold_only_their_scenario(flows):
    inside = lambda net: {f["remote_ip"] for f in flows  # noqa: E731
                          if f["remote_ip"] and ipaddress.ip_address(f["remote_ip"]) in net}
    assert inside(ADMIN_NET) == set(ENTRIES["i"]["remotes"])
    assert inside(IGNORED_NET) == set(ENTRIES["o"]["remotes"])
    for e in EXPECTED["suggestions"]:  # a legitimate remote has no drop outside its scenario (no attack from it)
        assert sum(f["events"] for f in flows if f["remote_ip"] in e["remotes"]) == e["events"]


def test_every_late_drop_is_in_an_expected_entry():
    late = "ijklmnop"
    assert sum(ENTRIES[s]["events"] for s in late) == sum(EXPECTED["by_scenario"][s] for s in late)
