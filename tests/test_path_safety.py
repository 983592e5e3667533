"""Host names and file names that try to leave the warehouse or the reports folder never do.

A host name comes from the config or from a log's ``Computer`` / ``ComputerName`` field, so
it is attacker-influenced.  Every place one becomes part of a path goes through one function,
:func:`pipeline.policy.store.safe_name` (report folders per host, policy snapshot files); the
warehouse's own paths (``drops/date=.../part-<run>-<n>.parquet``, ``_keys``, ``_runs``, the
manifest) are made of dates and run ids only.  These tests run the whole job on hostile names
and walk the disk afterwards: every file written is inside the warehouse or the reports folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.cli import cli
from pipeline.policy.store import MAX_NAME, safe_name
from pipeline.report.writer import host_folders

#: Names that try to be a path, a device, or another host's name.
HOSTILE = [
    "..\\..\\x", "../../etc", "a/b", "C:\\x", "C:x", "nul\x00host", "x" * 5000, "y" * 5000,
    "\u0412\u0415\u0412\u041e1",  # "WEB01" in Cyrillic lookalikes
    "CON", "NUL", "aux.corp", "COM1", "LPT9.x", "trailing.", "trailing..", "trailing ", ".", "..", "...",
    "%2E%2E", "~", "a\\..\\..\\b", "/etc/passwd", "\\\\server\\share", "tab\there", "semi;colon", "star*?",
]

HOSTILE_FILE_NAME = "=cmd|' ..\\..\\evil\n~" + "y" * 200 + ".log"  # (a name starting with "." is hidden: passed over)

#: Names no computer has: the config refuses them (exit 2); from a log they are made safe like any other.
REFUSED_IN_CONFIG = ["nul\x00host", "trailing ", " leading", "\ttab", "line\nbreak", "cr\rhost", "", " ",
                     "esc\x1b[31m", "c1\x85"]
CONFIG_HOSTS = [n for n in HOSTILE if n not in REFUSED_IN_CONFIG]

FW_HEADER = ("#Version: 1.5\n#Software: Microsoft Windows Firewall\n#Time Format: Local\n"
             "#Fields: date time action protocol src-ip dst-ip src-port dst-port size tcpflags tcpsyn tcpack "
             "tcpwin icmptype icmpcode info path\n")
BLOCK_ALL = ("netsh ipsec static add filteraction B action=block\n"
             "netsh ipsec static add filter filterlist=L srcaddr=any dstaddr=me\n"
             "netsh ipsec static add policy P assign=yes\n"
             "netsh ipsec static add rule R P L B\n")


def _toml_key(name: str) -> str:
    return json.dumps(name)  # a JSON string is a TOML basic string (\\, \", \u0000 ...)


def _site(root: Path) -> Path:
    """A config of hostile hosts, each with an inbox holding a pfirewall.log and a policy script."""
    lines = ['[nightly]', 'warehouse = "wh"', 'reports = "reports"', ""]
    for i, name in enumerate(CONFIG_HOSTS):
        inbox = root / "inbox" / f"h{i}"
        inbox.mkdir(parents=True)
        (inbox / "pfirewall.log").write_text(
            FW_HEADER + f"2026-06-01 10:00:{i % 60:02d} DROP TCP 192.0.2.{i + 1} 10.0.0.1 4000 22 48 S 1 0 65535 "
            "- - - RECEIVE\n", encoding="utf-8")
        (root / "policies").mkdir(exist_ok=True)
        (root / "policies" / f"h{i}.cmd").write_text(BLOCK_ALL, encoding="utf-8")
        lines += [f"[hosts.{_toml_key(name)}]", 'timezone = "UTC"', 'addresses = ["10.0.0.1"]',
                  f'policy = "policies/h{i}.cmd"', f'inbox = ["inbox/h{i}/*"]', ""]
    # a file name that tries too: separators of the other system, a line break, a formula, 200 characters
    (root / "inbox" / "h0" / HOSTILE_FILE_NAME).write_text(
        FW_HEADER + "2026-06-01 11:00:00 DROP UDP 192.0.2.200 10.0.0.1 53 53 60 - - - - - - - RECEIVE\n",
        encoding="utf-8")
    config = root / "ipsec-drops.toml"
    config.write_text("\n".join(lines), encoding="utf-8")
    return config


def _csv_export(path: Path) -> None:
    """A Log Parser CSV export whose rows name hostile computers (not in the config)."""
    rows = ["RecordNumber,TimeGenerated,EventID,SourceName,Strings,ComputerName,Message"]
    for i, name in enumerate(HOSTILE):
        quoted = '"' + name.replace('"', '""') + '"'
        rows.append(f'{i + 1},2026-06-02 10:00:00,4290,IPSEC,192.0.2.{i + 1}|10.0.0.1|6|4000|22,{quoted},dropped')
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def _files_under(root: Path) -> list[Path]:
    return [Path(folder) / f for folder, _, files in os.walk(root) for f in files]


def test_hostile_host_names_write_only_inside_the_warehouse_and_the_reports(tmp_path, monkeypatch):
    outer = tmp_path / "a" / "b"
    site = outer / "site"
    site.mkdir(parents=True)
    config = _site(site)
    _csv_export(site / "named-by-the-log.csv")
    inputs = set(_files_under(tmp_path))
    monkeypatch.chdir(site)
    runner = CliRunner()
    night = runner.invoke(cli, ["--config", str(config), "nightly"])
    assert night.exit_code == 0, night.output
    ingest = runner.invoke(cli, ["--config", str(config), "ingest", "named-by-the-log.csv", "--source-tz", "UTC"])
    assert ingest.exit_code == 0, ingest.output
    report = runner.invoke(cli, ["--config", str(config), "report", "--out", "reports2"])
    assert report.exit_code == 0, report.output
    allowed = [site / "wh", site / "reports", site / "reports2"]
    written = [p for p in _files_under(tmp_path) if p not in inputs]
    assert written
    outside = [p for p in written if not any(p.resolve().is_relative_to(a.resolve()) for a in allowed)]
    assert outside == []
    assert sorted(os.listdir(tmp_path)) == ["a"] and sorted(os.listdir(outer)) == ["site"]
    runs = json.loads(next((site / "wh" / "_runs").glob("*-nightly.json")).read_text())
    assert [f["status"] for f in runs["files"] if f["path"].endswith(HOSTILE_FILE_NAME)] == ["ingested"]
    # every host has its own folder, directly inside the reports folder, in every report
    for folder in ("reports", "reports2"):
        isa = [p for p in written if p.is_relative_to(site / folder) and p.name.startswith("ISALOG_")]
        assert {p.parent.parent for p in isa} == {site / folder}
        hosts = len(HOSTILE) if folder == "reports2" else len(CONFIG_HOSTS)  # the log names the refused ones
        assert len({p.parent.name.lower() for p in isa}) == hosts, folder  # distinct, even case-insensitively
    # one policy snapshot file per host and table, each inside the warehouse's policy folder
    snapshots = [p for p in written if p.is_relative_to(site / "wh" / "policy")]
    assert len([p for p in snapshots if p.parent.name == "snapshots"]) == len(CONFIG_HOSTS)
    assert {p.parent.parent for p in snapshots} == {site / "wh" / "policy"}


def test_names_no_computer_has_are_refused_by_the_config_with_exit_2(tmp_path):
    for name in REFUSED_IN_CONFIG:
        config = tmp_path / "c.toml"
        config.write_text(f'[hosts.{_toml_key(name)}]\ntimezone = "UTC"\n', encoding="utf-8")
        result = CliRunner().invoke(cli, ["--config", str(config), "status", "--warehouse", str(tmp_path)])
        assert result.exit_code == 2, (name, result.output)
        assert "a host name cannot be empty, start or end with a blank, or hold control characters" in result.output
        assert "Traceback" not in result.output


def test_the_names_of_the_test_are_made_safe_one_by_one():
    for name in HOSTILE:
        safe = safe_name(name)
        assert 0 < len(safe) <= MAX_NAME and safe.isascii(), name
        assert not set(safe) & set('/\\:*?"<>|\x00 \t') and safe not in (".", "..")
        assert not safe.startswith(".") and not safe.endswith("."), name  # Windows drops a trailing dot
        assert safe.split(".", 1)[0].lower() not in ("con", "nul", "aux", "com1", "lpt9")
    assert safe_name("trailing.") == "trailing%2E" and safe_name("trailing..") == "trailing.%2E"
    assert safe_name("WEB01.") != safe_name("WEB01")
    assert len(set(map(safe_name, HOSTILE))) == len(HOSTILE)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.text(st.characters(codec="utf-8"), max_size=300), min_size=1, max_size=8, unique=True))
def test_any_names_give_distinct_safe_folders_that_stay_inside(names):
    folders = host_folders(names)
    assert len({f.lower() for f in folders.values()}) == len(set(names))
    base = Path("/reports")
    for folder in folders.values():
        assert folder.isascii() and "/" not in folder and "\\" not in folder and "\x00" not in folder
        assert folder not in (".", "..") and not folder.endswith(".") and len(folder) <= MAX_NAME + 8
        assert (base / folder).parent == base
