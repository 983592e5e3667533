"""Policy snapshots in the warehouse: tables, address halves DuckDB can range-join, one snapshot per script."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipeline.config import HostConfig, load_config, parse_config
from pipeline.policy import analyse_script, analyse_text
from pipeline.policy.store import MAX_NAME, TABLES, current_snapshots, load_snapshot, safe_name, snapshot_files
from pipeline.warehouse import Warehouse, WarehouseLocked

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_logs"
REQUIRED_FILTER_COLUMNS = ["host", "snapshot", "policy", "assigned", "rule", "filter_list", "action", "src_lo",
                           "src_hi", "dst_lo", "dst_hi", "protocol", "src_port", "dst_port", "mirror", "weight",
                           "source_file", "source_line"]


@pytest.fixture
def site(tmp_path):
    """A copy of the sample site's config and policies (scripts may be edited by a test)."""
    shutil.copy(SAMPLE / "ipsec-drops.toml", tmp_path / "ipsec-drops.toml")
    shutil.copytree(SAMPLE / "policies", tmp_path / "policies")
    return tmp_path


def web01(site: Path):
    config = load_config(site / "ipsec-drops.toml")
    return analyse_script(site / "policies" / "web01.cmd", host="web01", config=config)


def glob(wh: Path, table: str) -> str:
    return str(wh / "policy" / table / "*.parquet")


def test_snapshot_tables(site, tmp_path):
    wh = tmp_path / "wh"
    analysis = web01(site)
    result = load_snapshot(analysis, Warehouse(wh))
    assert (result.host, result.status) == ("WEB01", "stored")
    files = snapshot_files(wh, "WEB01", analysis.snapshot)
    assert sorted(files) == sorted(TABLES) and all(p.exists() for p in files.values())
    filters = pq.read_table(files["filters"])
    assert set(REQUIRED_FILTER_COLUMNS) <= set(filters.column_names)
    # 1 any<->any block (2 directions) + 6 lists of me<->x filters, mirrored, on two host addresses:
    # web server 2x2x2, internal admin 2x2x2, DNS client 2x2x2 (one DNS server), ISP 1x2x2, rogue 1x2x2,
    # web client 2x2x2
    assert filters.num_rows == 2 + 8 + 8 + 8 + 4 + 4 + 8
    assert set(filters.column("host").to_pylist()) == {"WEB01"}
    assert set(filters.column("assigned").to_pylist()) == {True}
    policies = pq.read_table(files["policies"]).to_pylist()
    assert [(p["policy"], p["assigned"], p["rules"], p["activatedefaultrule"]) for p in policies] == [
        ("WEB01 lockdown", True, 7, False)]
    actions = {a["filter_action"]: (a["action"], a["used"]) for a in pq.read_table(files["filter_actions"]).to_pylist()}
    assert actions == {"Permit": ("permit", True), "Block": ("block", True), "Require Security": ("negotiate", False)}
    settings = {s["property"]: (s["value"], s["explicit"]) for s in pq.read_table(files["settings"]).to_pylist()}
    assert settings == {"ipsecdiagnostics": ("7", True), "ipsecloginterval": ("60", True), "ipsecexempt": ("0", True),
                        "bootmode": ("block", True)}
    rules = pq.read_table(files["rules"]).to_pylist()
    assert [(r["rule_id"], r["rule"], r["action"]) for r in rules][:2] == [(1, "Block everything", "block"),
                                                                          (2, "Web server", "permit")]
    snap = pq.read_table(files["snapshots"]).to_pylist()[0]
    assert (snap["host"], snap["snapshot"], snap["script_sha256"], snap["kind"], snap["filters"]) == (
        "WEB01", analysis.snapshot, analysis.script_sha256, "batch", 42)


def test_duckdb_range_join_on_address_halves(site, tmp_path):
    wh = tmp_path / "wh"
    load_snapshot(web01(site), Warehouse(wh))
    rogue = int(ipaddress.ip_address("198.18.0.53"))
    me = int(ipaddress.ip_address("10.1.0.10"))
    winner = duckdb.sql(f"""
        select rule, action, source_line from read_parquet('{glob(wh, "filters")}')
        where {{'hi': 0::UBIGINT, 'lo': {me}::UBIGINT}} between src_lo and src_hi
          and {{'hi': 0::UBIGINT, 'lo': {rogue}::UBIGINT}} between dst_lo and dst_hi
          and family = 4 and coalesce(protocol, 17) = 17 and coalesce(dst_port, 53) = 53
        order by weight desc limit 1""").fetchall()
    assert winner == [("Block rogue resolver", "block", 63)]
    widths = duckdb.sql(f"""
        select min((src_hi.hi::UHUGEINT << 64) + src_hi.lo - (src_lo.hi::UHUGEINT << 64) - src_lo.lo)::VARCHAR,
               max((dst_hi.hi::UHUGEINT << 64) + dst_hi.lo)::VARCHAR
        from read_parquet('{glob(wh, "filters")}')""").fetchall()
    assert widths == [("0", str(2**32 - 1))]  # single addresses .. the whole IPv4 space


def test_ipv6_ranges_use_both_halves(tmp_path):
    config = parse_config('[hosts.V6]\naddresses = ["2001:db8::10"]\n')
    analysis = analyse_text("netsh ipsec static add policy P assign=yes\n"
                            "netsh ipsec static add filteraction B action=block\n"
                            "netsh ipsec static add filter filterlist=L srcaddr=2001:db8:1:: srcmask=48 dstaddr=me\n"
                            "netsh ipsec static add rule R P L B\n", "v6.cmd", host="V6", config=config)
    load_snapshot(analysis, Warehouse(tmp_path))
    rows = duckdb.sql(f"select family, src_lo, src_hi, mirror from read_parquet('{glob(tmp_path, 'filters')}') "
                      "order by mirror").fetchall()
    assert rows[0] == (6, {"hi": 0x20010DB800010000, "lo": 0}, {"hi": 0x20010DB80001FFFF, "lo": 2**64 - 1}, False)
    assert rows[1][1] == rows[1][2] == {"hi": 0x20010DB800000000, "lo": 0x10}  # the reversed copy starts at me


def test_one_snapshot_per_script_and_current_again(site, tmp_path):
    wh = Warehouse(tmp_path / "wh")
    first = web01(site)
    assert load_snapshot(first, wh).status == "stored"
    files = snapshot_files(wh.root, "WEB01", first.snapshot)
    before = {t: p.stat().st_mtime_ns for t, p in files.items()}
    assert load_snapshot(web01(site), wh).status == "unchanged"
    assert {t: p.stat().st_mtime_ns for t, p in files.items()} == before
    script = site / "policies" / "web01.cmd"
    script.write_bytes(script.read_bytes().replace(b"ipsecexempt 0", b"ipsecexempt 3"))
    second = web01(site)
    assert second.snapshot != first.snapshot
    assert load_snapshot(second, wh).status == "stored"
    assert current_snapshots(wh.root) == {"WEB01": second.snapshot}
    assert load_snapshot(first, wh).status == "current-again"  # the old script is back in force
    assert current_snapshots(wh.root) == {"WEB01": first.snapshot}
    assert duckdb.sql(f"select count(*) from read_parquet('{glob(wh.root, 'snapshots')}')").fetchall() == [(2,)]
    assert not list((wh.root / "policy").rglob(".*tmp*"))  # no temporary file left behind


def test_snapshot_follows_the_config_facts(site):
    config = load_config(site / "ipsec-drops.toml")
    before = analyse_script(site / "policies" / "web01.cmd", host="WEB01", config=config)
    toml = site / "ipsec-drops.toml"
    toml.write_text(toml.read_text().replace('dns = ["10.1.0.2"]', 'dns = ["10.1.0.2", "10.1.0.3"]', 1))
    after = analyse_script(site / "policies" / "web01.cmd", host="WEB01", config=load_config(toml))
    assert after.script_sha256 == before.script_sha256
    assert after.snapshot != before.snapshot
    assert len(after.filters) == len(before.filters) + 8  # 2 DNS filters x 2 directions x 2 addresses


def test_host_names_are_escaped_in_file_names(tmp_path):
    assert safe_name("WEB01") == "WEB01"
    assert safe_name("../evil host") == "%2E.%2Fevil%20host"
    config = parse_config('[hosts."../../x y"]\naddresses = ["10.0.0.1"]\n')
    analysis = analyse_text("netsh ipsec static add policy P\n", "p.cmd", host="../../x y", config=config)
    load_snapshot(analysis, Warehouse(tmp_path / "wh"))
    written = [p for p in tmp_path.rglob("*.parquet")]
    assert written and all(p.parent.parent == tmp_path / "wh" / "policy" for p in written)
    assert {p.name for p in written} == {f"%2E.%2F..%2Fx%20y-{analysis.snapshot}.parquet"}


HOSTILE_HOSTS = ["..\\x", "/", "a/../../b", "nul\x00byte", "x" * 300, "x" * 299 + "y", "主机" * 150, "CON.corp",
                 "%2E", ".", "", "trailing. "]


def test_safe_name_is_bounded_one_to_one_and_never_a_path():
    names = [safe_name(h) for h in HOSTILE_HOSTS]
    assert len(set(names)) == len(HOSTILE_HOSTS)  # distinct hosts, distinct files (also the two 300-char ones)
    for name in names:
        assert 0 < len(name) <= MAX_NAME and name.isascii()
        assert not set(name) & set('/\\:*?"<>|\x00 ') and not name.startswith(".")
    assert safe_name("..\\x") == "%2E.%5Cx"
    assert safe_name("nul\x00byte") == "nul%00byte"
    assert safe_name("CON.corp") == "%43ON.corp"  # Windows would open the console for CON.<anything>
    assert safe_name("%2E") == "%252E" and safe_name(".") == "%2E"  # "%" is escaped too: one-to-one
    long = safe_name("x" * 300)
    # cut to 79 characters, then "~" and 16 hex digits of the SHA-256 of the name
    assert long == "x" * 79 + "~" + hashlib.sha256(b"x" * 300).hexdigest()[:16]
    assert safe_name("主机" * 150).startswith("%E4%B8%BB%E6%9C%BA")
    assert "~" in safe_name("主机" * 150) and len(safe_name("主机" * 150)) <= MAX_NAME
    assert all("%" not in n.rsplit("~", 1)[0][-2:] for n in names if "~" in n)  # no escape cut in half


BLOCK_ALL = ("netsh ipsec static add filteraction B action=block\n"
             "netsh ipsec static add filter filterlist=L srcaddr=any dstaddr=me\n"
             "netsh ipsec static add policy P assign=yes\n"
             "netsh ipsec static add rule R P L B\n")


def test_hostile_host_names_round_trip_through_the_warehouse(tmp_path):
    # The config refuses names no computer has (empty, spaces around, NUL: see tests/test_path_safety.py); the
    # store takes any name, as a host named by a log's Computer field may be.
    accepted = [h for h in HOSTILE_HOSTS if h and h == h.strip() and "\x00" not in h]
    toml = "".join(f'[hosts."{json.dumps(h)[1:-1]}"]\naddresses = ["10.0.0.{i + 1}"]\n'
                   for i, h in enumerate(accepted))
    config = parse_config(toml)
    assert sorted(config.hosts) == sorted(accepted) and len(accepted) < len(HOSTILE_HOSTS)
    for host in HOSTILE_HOSTS:
        config.hosts.setdefault(host, HostConfig(name=host, addresses=("10.0.0.99",)))
    wh = tmp_path / "wh"
    snaps = {}
    for host in HOSTILE_HOSTS:
        analysis = analyse_text(BLOCK_ALL, "p.cmd", host=config.hosts[host], config=config)
        assert load_snapshot(analysis, Warehouse(wh)).status == "stored"
        snaps[host] = analysis.snapshot
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.parent != wh]  # (the warehouse's own lock file)
    assert len(files) == len(HOSTILE_HOSTS) * len(TABLES)  # nothing overwrote anything, no temp file left
    assert all(p.parent.parent == wh / "policy" for p in files)  # nothing escaped the policy folder
    assert all(len(p.name.encode()) < 150 for p in files)
    assert current_snapshots(wh) == snaps  # read back under the real host names
    # each host's rows carry the host as written, whatever its file is called
    for host in HOSTILE_HOSTS:
        rows = pq.read_table(snapshot_files(wh, host, snaps[host])["filters"]).to_pylist()
        assert {r["host"] for r in rows} == {host} and len(rows) == 2
    # loading again: unchanged (the files are found under the same safe names)
    again = analyse_text(BLOCK_ALL, "p.cmd", host=config.hosts["x" * 300], config=config)
    assert load_snapshot(again, Warehouse(wh)).status == "unchanged"


def test_issues_table_keeps_every_problem(tmp_path):
    config = parse_config('[hosts.H]\naddresses = ["10.0.0.1"]\n')
    analysis = analyse_text("netsh ipsec static add rule R P L A\n"
                            "netsh ipsec static add filterlist X Y Z description=D\n", "bad.cmd",
                            host="H", config=config)
    load_snapshot(analysis, Warehouse(tmp_path))
    rows = duckdb.sql(f"select source_line, severity, code, text from read_parquet('{glob(tmp_path, 'issues')}') "
                      "order by all").fetchall()
    assert rows == [
        (1, "error", "no-such-filteraction", "netsh ipsec static add rule R P L A"),
        (1, "error", "no-such-filterlist", "netsh ipsec static add rule R P L A"),
        (1, "error", "no-such-policy", "netsh ipsec static add rule R P L A"),
        (1, "error", "rule-refused", "netsh ipsec static add rule R P L A"),
        (2, "error", "unexpected-word", "netsh ipsec static add filterlist X Y Z description=D"),
    ]


def test_load_waits_for_no_one_when_the_lock_is_held(site, tmp_path):
    wh = Warehouse(tmp_path / "wh")
    lock = wh.lock()
    try:
        with pytest.raises(WarehouseLocked):
            load_snapshot(web01(site), wh)
    finally:
        lock.release()
    assert not (tmp_path / "wh" / "policy").exists()


def test_a_snapshot_needs_a_host(tmp_path):
    with pytest.raises(ValueError, match="belongs to a host"):
        load_snapshot(analyse_text("netsh ipsec static add policy P\n", "p.cmd"), Warehouse(tmp_path))
