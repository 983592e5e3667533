"""``ipsec-drops.toml``: the documented layout, host lookup, inbox globs and errors."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pipeline.config import Config, ConfigError, load_config, parse_config

DOCUMENTED = """
[hosts.WEB01]
timezone = "Europe/Berlin"             # zone of Log Parser / pfirewall local times
addresses = ["198.51.100.10", "10.1.0.10"]
dns = ["10.1.0.2"]                      # also wins, dhcp, gateway: lists of addresses
wins = ["10.1.0.3"]
dhcp = ["10.1.0.4"]
gateway = ["10.1.0.1"]
policy = "policies/web1.cmd"           # netsh script, relative to this file
inbox = ["exports/web01/*"]            # where this host's exports land (globs, relative)
[hosts.db01]
timezone = "America/Chicago"
addresses = ["2001:DB8:0:0::20"]
[names]                                # DNS names used in policy scripts
"WSUS.example.net" = ["10.1.0.30"]
"""


def write_config(tmp_path: Path, text: str = DOCUMENTED) -> Path:
    path = tmp_path / "site" / "ipsec-drops.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_documented_layout_parses(tmp_path):
    path = write_config(tmp_path)
    config = load_config(path)
    assert list(config.hosts) == ["WEB01", "db01"]
    web = config.hosts["WEB01"]
    assert web.name == "WEB01"
    assert web.timezone == "Europe/Berlin"
    assert web.zone == ZoneInfo("Europe/Berlin")
    assert web.addresses == ("198.51.100.10", "10.1.0.10")
    assert (web.dns, web.wins, web.dhcp, web.gateway) == (("10.1.0.2",), ("10.1.0.3",), ("10.1.0.4",),
                                                           ("10.1.0.1",))
    assert web.policy == tmp_path.resolve() / "site" / "policies" / "web1.cmd"
    assert web.inbox == ("exports/web01/*",)
    db = config.hosts["db01"]
    assert db.addresses == ("2001:db8::20",)  # normalised
    assert (db.policy, db.inbox, db.dns) == (None, (), ())
    assert config.names == {"wsus.example.net": ("10.1.0.30",)}
    assert config.base_dir == tmp_path.resolve() / "site"


def test_utf8_bom_config_file(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + DOCUMENTED.encode("utf-8"))
    assert list(load_config(path).hosts) == ["WEB01", "db01"]


def test_host_lookup_case_insensitive_and_fqdn_first_label():
    config = parse_config(DOCUMENTED)
    for name in ("WEB01", "web01", "Web01", " web01 ", "web01.corp.example.net", "WEB01.CORP"):
        host = config.host(name)
        assert host is not None and host.name == "WEB01", name
    assert config.host("DB01").name == "db01"
    assert config.host("web02") is None
    assert config.host("web01x.corp") is None
    assert config.host("") is None and config.host(None) is None


def test_exact_fqdn_host_wins_over_first_label():
    config = parse_config('[hosts.web01]\ntimezone = "UTC"\n[hosts."web01.dmz.example.net"]\ntimezone = "UTC"\n')
    assert config.host("WEB01.DMZ.example.net").name == "web01.dmz.example.net"
    assert config.host("web01.lan.example.net").name == "web01"


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, Path("site.toml"))
    return str(info.value)


def test_bad_timezone_names_the_key():
    message = _error('[hosts.WEB01]\ntimezone = "Europe/Atlantis"\n')
    assert "[hosts.WEB01] timezone" in message and "Europe/Atlantis" in message
    assert message.startswith("site.toml:")


def test_bad_address_names_the_key():
    message = _error('[hosts.WEB01]\naddresses = ["198.51.100.300"]\n')
    assert "[hosts.WEB01] addresses" in message and "198.51.100.300" in message
    message = _error('[hosts.WEB01]\ndns = ["10.1.0.2", "dns.example.net"]\n')
    assert "[hosts.WEB01] dns" in message and "dns.example.net" in message
    message = _error('[names]\n"wsus.example.net" = ["10.1.0.300"]\n')
    assert "wsus.example.net" in message and "10.1.0.300" in message


def test_unknown_key_names_the_key():
    message = _error('[hosts.WEB01]\ntimezone = "Europe/Berlin"\naddress = ["10.1.0.1"]\n')
    assert "[hosts.WEB01] address: unknown key (did you mean addresses?)" in message


def test_unknown_top_level_table_names_the_key():
    message = _error('[host.WEB01]\ntimezone = "Europe/Berlin"\n')
    assert "host: unknown key (did you mean hosts?)" in message


def test_wrong_value_types_are_config_errors():
    assert "[hosts.WEB01] policy" in _error("[hosts.WEB01]\npolicy = 5\n")
    assert "[hosts.WEB01] inbox" in _error("[hosts.WEB01]\ninbox = [1]\n")
    assert "[hosts.WEB01] addresses" in _error("[hosts.WEB01]\naddresses = 5\n")
    assert "[hosts.WEB01]" in _error("[hosts]\nWEB01 = 5\n")
    assert "not valid TOML" in _error("[hosts.WEB01\n")


def test_duplicate_host_names_differing_in_case_are_rejected():
    message = _error('[hosts.WEB01]\ntimezone = "UTC"\n[hosts.web01]\ntimezone = "UTC"\n')
    assert "'web01' is defined twice" in message


def test_inbox_globs_are_relative_to_the_config_file(tmp_path, monkeypatch):
    path = write_config(tmp_path)
    export = tmp_path / "site" / "exports" / "web01" / "system.log"
    export.parent.mkdir(parents=True)
    export.write_text("x", encoding="ascii")
    other = tmp_path / "site" / "exports" / "db01" / "pfirewall.log"
    other.parent.mkdir(parents=True)
    other.write_text("x", encoding="ascii")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the working directory must not matter
    config = load_config(path)
    assert config.host_for_file(export).name == "WEB01"
    # the same file named through a relative path from another directory
    monkeypatch.chdir(tmp_path)
    assert config.host_for_file(Path("site/exports/web01/system.log")).name == "WEB01"
    assert config.host_for_file(other) is None


def test_inbox_naming_a_folder_matches_files_below_it(tmp_path):
    path = write_config(tmp_path, '[hosts.DB01]\ntimezone = "America/Chicago"\ninbox = ["exports/db01"]\n')
    export = tmp_path / "site" / "exports" / "db01" / "2026" / "pfirewall.log"
    export.parent.mkdir(parents=True)
    export.write_text("x", encoding="ascii")
    assert load_config(path).host_for_file(export).name == "DB01"
    assert load_config(path).host_for_file(tmp_path / "site" / "exports" / "db01x" / "a.log") is None


def test_missing_files():
    with pytest.raises(ConfigError, match="config file not found"):
        load_config("/nonexistent/ipsec-drops.toml")


def test_absent_default_file_is_an_empty_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(None)
    assert isinstance(config, Config) and config.hosts == {} and config.names == {}
    with pytest.raises(ConfigError):
        load_config(None, required=True)


# --- policy_history: dated policy snapshots -------------------------------------------------------------

HISTORY = """
[hosts.WEB01]
timezone = "Europe/Berlin"
policy = "policies/web1.cmd"
policy_history = [
  {script = "policies/web1-2026-08.cmd", until = 2026-09-01},
  {script = "policies/web1-2026-09.cmd", until = 2026-10-25T12:00:00Z},
  {script = "policies/web1-2026-10.cmd", until = "2026-11-02T08:30:00"},
]
[hosts.DB01]
policy_history = [{script = "db.cmd", until = 2026-09-01T00:00:00}]
"""


def test_policy_history_dates_are_read_in_the_host_zone(tmp_path):
    from datetime import UTC, datetime

    config = load_config(write_config(tmp_path, HISTORY))
    web = config.host("web01")
    base = tmp_path.resolve() / "site"
    assert [p.script for p in web.policy_history] == [base / "policies/web1-2026-08.cmd",
                                                      base / "policies/web1-2026-09.cmd",
                                                      base / "policies/web1-2026-10.cmd"]
    assert [p.until for p in web.policy_history] == [
        datetime(2026, 8, 31, 22, 0, tzinfo=UTC),  # midnight Berlin summer time
        datetime(2026, 10, 25, 12, 0, tzinfo=UTC),  # an offset is kept
        datetime(2026, 11, 2, 7, 30, tzinfo=UTC),  # ISO text, local winter time
    ]
    assert web.policy == base / "policies/web1.cmd"
    db = config.host("DB01")
    assert db.policy is None and db.policy_history[0].until == datetime(2026, 9, 1, tzinfo=UTC)  # no zone: UTC


@pytest.mark.parametrize(("entry", "message"), [
    ('[{script = "a.cmd"}]', "until is missing"),
    ('[{script = "a.cmd", until = 2026-09-01, why = "x"}]', "policy_history[0] why: unknown key"),
    ('[{until = 2026-09-01}]', "script must be a path"),
    ('[{script = "a.cmd", until = "soon"}]', "'soon' is not a date"),
    ('[{script = "a.cmd", until = 12:00:00}]', "must be a date or date-time"),
    ('"a.cmd"', "must be a list of"),
    ('[{script = "a.cmd", until = 2026-10-01}, {script = "b.cmd", until = 2026-09-01}]', "oldest first"),
])
def test_policy_history_errors_name_the_entry(entry, message):
    with pytest.raises(ConfigError) as info:
        parse_config(f"[hosts.H]\npolicy_history = {entry}\n")
    assert message in str(info.value)
    assert "[hosts.H] policy_history" in str(info.value)


def test_windows_zone_names_are_accepted_and_mapped_to_iana(tmp_path):
    config = parse_config('[hosts.A]\ntimezone = "W. Europe Standard Time"\n')
    assert config.host("A").timezone == "Europe/Berlin"
    with pytest.raises(ConfigError, match=r"\[hosts.A\] timezone: 'Mars Standard Time' is neither an IANA"):
        parse_config('[hosts.A]\ntimezone = "Mars Standard Time"\n')
    with pytest.raises(ConfigError, match=r"\[hosts.WEB01\] time_zone: unknown key \(did you mean timezone\?\)"):
        parse_config('[hosts.WEB01]\ntime_zone = "Europe/Berlin"\n')
