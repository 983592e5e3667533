"""The sample site's policy scripts explain its logs: every dropped packet meets a block filter of its host.

The oracle is ``sample_logs/expected-drops.csv`` (written by generate.py from what it planted), not this code.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.policy import analyse_script, decide
from pipeline.policy.addresses import ip_number

SAMPLE = Path(__file__).resolve().parent.parent / "sample_logs"
#: Events that carry a dropped packet's 5-tuple: IPSec driver 4290/4291, WFP 5152/5157.
PACKET_EVENTS = {"4290", "4291", "5152", "5157"}
#: Events that say clear text arrived where IPSec was required: IPSec driver 4284, IPsec audit 4963.
CLEAR_TEXT_EVENTS = {"4284", "4963"}


@pytest.fixture(scope="module")
def in_force():
    config = load_config(SAMPLE / "ipsec-drops.toml")
    return {name: analyse_script(host.policy, host=name, config=config).in_force()
            for name, host in config.hosts.items() if host.policy}  # APP03 has none: Windows Firewall only


def expected_drops() -> list[dict]:
    with open(SAMPLE / "expected-drops.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def port(text: str) -> int | None:
    return int(text) if text else None


def test_every_dropped_packet_meets_a_block_filter(in_force):
    verdicts = Counter()
    for drop in expected_drops():
        if drop["event_id"] not in PACKET_EVENTS:
            continue
        family, src = ip_number(drop["src_ip"])
        _, dst = ip_number(drop["dst_ip"])
        row = decide(in_force[drop["host"]], family, src, dst, int(drop["protocol"]), port(drop["src_port"]),
                     port(drop["dst_port"]))
        verdicts[(drop["host"], row.rule if row else None, row.action if row else None)] += 1
    assert set(verdicts) == {
        ("WEB01", "Block everything", "block"),  # scans, Terminal Services from outside, WinRM, DNS to 10.1.0.3
        ("WEB01", "Block rogue resolver", "block"),  # DNS to the unauthorised 198.18.0.53
        ("DB01", "APP02 not to SQL", "block"),  # 10.1.0.50 trying SQL
        ("DB01", "Block all", "block"),  # WFP drops from outside, sqlservr.exe out, backup agent, TCP 5432
    }
    assert sum(verdicts.values()) == sum(1 for d in expected_drops() if d["event_id"] in PACKET_EVENTS)


def test_clear_text_drops_come_from_a_peer_ipsec_is_required_for(in_force):
    sources = {(d["host"], d["src_ip"]) for d in expected_drops() if d["event_id"] in CLEAR_TEXT_EVENTS}
    assert sources == {("DB01", "10.1.0.50")}
    family, src = ip_number("10.1.0.50")
    _, db01 = ip_number("10.1.0.20")
    for proto, dport in ((6, 445), (17, 137), (1, None)):
        row = decide(in_force["DB01"], family, src, db01, proto, 1025 if dport else None, dport)
        assert (row.rule, row.action, row.inpass, row.soft) == ("APP02 secured", "negotiate", False, False)


def test_traffic_the_site_needs_is_permitted(in_force):
    def verdict(host, src, dst, proto, sport, dport):
        family, s = ip_number(src)
        _, d = ip_number(dst)
        row = decide(in_force[host], family, s, d, proto, sport, dport)
        return row.action if row else "permit"

    assert verdict("WEB01", "203.0.113.77", "198.51.100.10", 6, 3000, 443) == "permit"
    assert verdict("WEB01", "198.51.100.10", "203.0.113.77", 6, 80, 3000) == "permit"  # the mirrored reply
    assert verdict("WEB01", "10.1.0.99", "10.1.0.10", 6, 3000, 3389) == "permit"
    assert verdict("WEB01", "203.0.113.77", "198.51.100.10", 6, 3000, 3389) == "block"
    assert verdict("WEB01", "10.1.0.10", "10.1.0.2", 17, 1025, 53) == "permit"
    assert verdict("WEB01", "198.51.100.10", "93.184.216.34", 6, 1025, 80) == "permit"
    assert verdict("DB01", "10.1.0.10", "10.1.0.20", 6, 3000, 1433) == "permit"
    assert verdict("DB01", "10.1.0.11", "10.1.0.20", 6, 3000, 1433) == "block"


def test_web01_enters_block_mode_at_boot():
    # the 4292 "IPSec driver has entered Block mode" of the sample logs needs bootmode block
    config = load_config(SAMPLE / "ipsec-drops.toml")
    analysis = analyse_script(config.host("WEB01").policy, host="WEB01", config=config)
    assert analysis.model.settings["bootmode"].value == "block"
    assert any(d["event_id"] == "4292" and d["host"] == "WEB01" for d in expected_drops())
