"""Policy lint: shadowed filters, objects that do nothing, risky settings, blocked services, with their lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_config, parse_config
from pipeline.policy import analyse_script, analyse_text
from pipeline.policy.lint import internet_facing
from pipeline.policy.tokenize import decode_script

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
CONFIG = parse_config("""
[hosts.WEB01]
addresses = ["198.51.100.10", "10.1.0.10"]
dns = ["10.1.0.2", "10.1.0.3"]
wins = ["10.1.0.4"]
[hosts.DB01]
addresses = ["10.1.0.20"]
""")


def text_of(name: str) -> str:
    return decode_script((DATA / name).read_bytes())


def line_of(name: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text_of(name).splitlines(), 1) if fragment in line)


def findings(name: str, host: str | None = "WEB01"):
    return analyse_text(text_of(name), name, host=host, config=CONFIG).lint()


def summary(found) -> list[tuple[int, str, str]]:
    return [(i.line, i.severity, i.code) for i in found]


def test_shadowed_and_redundant_filters():
    name = "policy-lint-shadowed.txt"
    found = findings(name)
    vendor = line_of(name, "filterlist=Vendor srcaddr")
    web = line_of(name, "filterlist=Web srcaddr")
    resolver = line_of(name, "filterlist=Resolver srcaddr")
    halves = (line_of(name, "srcaddr=0.0.0.0"), line_of(name, "srcaddr=128.0.0.0"))
    scanners = (line_of(name, "srcaddr=203.0.113.0 srcmask=25"), line_of(name, "srcaddr=203.0.113.128"))
    assert summary(found) == [(vendor, "warning", "shadowed-filter"), (web, "info", "redundant-filter"),
                              (resolver, "warning", "shadowed-filter")]
    assert found[0].message == (
        "filter 1 of 'Vendor' (rule 'Vendor', permit) never applies: more specific filters decide all its traffic: "
        f"line {scanners[0]} (rule 'Scanners', block); line {scanners[1]} (rule 'Scanners', block)")
    assert found[1].message.endswith(f"line {halves[0]} (rule 'Web halves', permit); "
                                     f"line {halves[1]} (rule 'Web halves', permit)")
    assert "rule 'Resolver permit', permit" in found[2].message
    assert found[2].message.endswith(f"line {resolver} (rule 'Resolver block', block)")
    assert found[0].text.startswith("add filter filterlist=Vendor")  # the line to fix, as written


def test_objects_that_do_nothing():
    name = "policy-lint-objects.txt"
    line = lambda fragment: line_of(name, fragment)  # noqa: E731
    assert summary(findings(name)) == [
        (line("add policy name=Objects"), "warning", "no-assigned-policy"),
        (line("name=Unused"), "warning", "unused-filter-action"),
        (line("name=Maybe"), "warning", "soft-negotiate"),
        (line("add rule name=Placeholder"), "warning", "empty-filter-list"),
        (line("name=Orphan"), "warning", "unused-filter-list"),
        (line("add rule name=Partners"), "info", "preshared-key"),
        (line("add rule name=Off"), "info", "inactive-rule"),
    ]


def test_block_all_without_the_services_the_host_needs():
    name = "policy-lint-services.cmd"
    found = findings(name)
    block_all = line_of(name, "filterlist=All srcaddr")
    assert summary(found) == [(block_all, "warning", "blocks-needed-service")] * 2
    assert [f.message.split(" between ")[0] for f in found] == ["DNS queries", "WINS queries"]
    assert "DNS server 10.1.0.3 (UDP 53)" in found[0].message  # 10.1.0.2 is permitted by rule "DNS one"
    assert "WINS server 10.1.0.4 (UDP 137)" in found[1].message
    assert findings(name, host=None) == []  # without a host, nothing is known about its servers


EXEMPT = "netsh ipsec dynamic set config ipsecexempt {}\n"


@pytest.mark.parametrize(("value", "host", "severity"), [
    (0, "WEB01", "error"), (1, "WEB01", "warning"), (2, "WEB01", "error"), (3, "WEB01", None),
    (0, "DB01", "info"), (1, "DB01", "info"), (2, "DB01", "info"), (3, "DB01", None),
    (0, None, "warning"), (1, None, "warning"), (3, None, None),
])
def test_ipsecexempt(value, host, severity):
    found = analyse_text(EXEMPT.format(value), "x.cmd", host=host, config=CONFIG).lint()
    assert [(i.line, i.severity, i.code) for i in found] == ([(1, severity, "ipsecexempt")] if severity else [])
    if value in (0, 2) and host == "WEB01":
        assert "source port 88" in found[0].message


@pytest.mark.parametrize(("line", "expected"), [
    ("netsh ipsec dynamic set config bootmode permit", [(1, "warning", "bootmode-permit")]),
    ("netsh ipsec dynamic set config bootmode block", []),
    ("netsh ipsec dynamic set config ipsecdiagnostics 0", [(1, "info", "no-drop-logging")]),
    ("netsh ipsec dynamic set config ipsecdiagnostics 7", []),
])
def test_boot_and_logging_settings(line, expected):
    assert summary(analyse_text(line + "\n", "x.cmd").lint()) == expected


def test_internet_facing():
    assert internet_facing(CONFIG.hosts["WEB01"]) is True  # 198.51.100.10 stands for a public address
    assert internet_facing(CONFIG.hosts["DB01"]) is False
    assert internet_facing(None) is None
    assert internet_facing(parse_config('[hosts.V6]\naddresses = ["fd00::1", "2001:db8::1"]\n').hosts["V6"]) is True


# --- the sample site -------------------------------------------------------------------------------------

SAMPLE = REPO / "sample_logs"


def sample_lint(host: str):
    config = load_config(SAMPLE / "ipsec-drops.toml")
    analysis = analyse_script(config.host(host).policy, host=host, config=config)
    return analysis, analysis.lint()


def sample_line(host: str, fragment: str) -> int:
    text = (SAMPLE / "policies" / f"{host.lower()}.cmd").read_text(encoding="utf-8")
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_sample_web01_planted_weaknesses():
    analysis, found = sample_lint("WEB01")
    assert analysis.errors == analysis.warnings == 0  # a clean script: only notes (lists created by add filter)
    line = lambda fragment: sample_line("WEB01", fragment)  # noqa: E731
    assert summary(found) == [
        (line("set config ipsecexempt 0"), "error", "ipsecexempt"),  # Internet-facing, Kerberos bypass
        (line('name="Require Security"'), "warning", "unused-filter-action"),
        (line('filterlist="ISP resolver" srcaddr'), "warning", "shadowed-filter"),  # the block on the rogue resolver
    ]


def test_sample_db01_planted_weaknesses():
    analysis, found = sample_lint("DB01")
    assert analysis.errors == analysis.warnings == 0
    line = lambda fragment: sample_line("DB01", fragment)  # noqa: E731
    assert summary(found) == [
        (line('name="Request IPSec"'), "warning", "unused-filter-action"),
        (line('filterlist="All traffic" srcaddr=any'), "warning", "blocks-needed-service"),  # no DNS to 10.1.0.2
        (line('add rule name="Backup agent"'), "warning", "empty-filter-list"),  # dummy filter deleted
        (line("value=permit"), "warning", "bootmode-permit"),
    ]
