"""On the sample site the suggestions are exactly the planted legitimate flows, and none of the attacks.

Expectations: ``sample_logs/expected.json`` (``suggestions``, ``not_suggested``), written by the
sample generator from what it planted, with the networks worked out by hand (see its notes).
"""

from __future__ import annotations

import json

import pytest
from conftest import SAMPLE, SAMPLE_CONFIG

from pipeline.config import load_config
from pipeline.policy import parse_texts
from pipeline.suggest import netsh_script, suggest

EXPECTED = json.loads((SAMPLE / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def result(sample_warehouse):
    return suggest(sample_warehouse, load_config(SAMPLE_CONFIG), verify=True)


def key(entry: dict) -> tuple:
    return (entry["host"], entry["direction"], entry["protocol"], entry["local_port"], entry["remote_port"])


def test_the_suggestions_are_exactly_the_planted_legitimate_flows(result):
    got = {key(s): s for s in result["suggestions"]}
    want = {key(s): s for s in EXPECTED["suggestions"]}
    assert set(got) == set(want)
    for k, expected in want.items():
        s = got[k]
        assert (s["kind"], s["remote_networks"], s["remotes"], s["days"], s["events"], s["packets"]) == (
            expected["kind"], expected["remote_networks"], expected["remotes"], len(expected["days"]),
            expected["events"], expected["packets"]), k
        if expected["risk"]:
            assert any("not the host's configured dns" in r for r in s["risks"])


def test_no_attack_address_is_in_any_suggestion_and_each_gets_its_reason(result):
    suggested = {a for s in result["suggestions"] for a in s["remotes"]}
    for expected in EXPECTED["not_suggested"]:
        assert not set(expected["remotes"]) & suggested, expected["scenario"]
        entries = [n for n in result["not_suggested"]
                   if n["host"] == expected["host"] and n["reason"] == expected["reason"]]
        reported = {a for n in entries for a in n["remotes"]}
        assert set(expected["remotes"]) <= reported, expected["scenario"]


def test_replay_on_the_sample_permits_each_suggestion_s_drops_and_nothing_else(result):
    for s in result["suggestions"]:
        assert s["replay"]["drops_permitted"] == s["events"], s["name"]
    assert result["replay"]["opened_beyond_suggested"] == []
    assert result["replay"]["problems"] == []


def test_the_sample_script_runs_after_each_host_s_policy_without_a_complaint(result):
    script = netsh_script(result)
    for host in ("WEB01", "DB01"):
        policy = SAMPLE / "policies" / f"{host.lower()}.cmd"
        own = "\r\n".join(line for s in result["suggestions"] if s["host"] == host for line in s["netsh"])
        _, issues, _ = parse_texts([(policy.read_text(encoding="utf-8"), str(policy)), (own, "suggestions.cmd")])
        assert [i for i in issues if i.file == "suggestions.cmd"] == []
    assert 'netsh advfirewall firewall add rule name="Suggested: TCP 9100 from 10.1.0.80/30" dir=in action=allow ' \
           "protocol=TCP localport=9100 remoteip=10.1.0.80/30" in script
