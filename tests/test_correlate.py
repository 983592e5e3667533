"""Correlation of drops to policy rules (queries/flows.sql, explain.sql through pipeline.correlate).

A small warehouse is written by hand: drops of host H against tests/data/correlate-old.txt
(in force until 2026-10-25 12:00 UTC) and correlate-new.txt (from then on; only the "Proxy"
rule differs: permit -> block).  Every expected rule below was worked out from the scripts.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import parse_config
from pipeline.correlate import FLOW_COLUMNS, explain, flows, open_session, sql
from pipeline.policy import analyse_script, decide
from pipeline.policy.addresses import ip_number
from pipeline.schema import DROPS_SCHEMA

DATA = Path(__file__).resolve().parent / "data"
ME, ME6 = "10.0.0.1", "2001:db8::10"


def config_text(history: bool = True) -> str:
    lines = ['[hosts.H]', f'addresses = ["{ME}", "{ME6}"]', 'dns = ["10.0.0.53"]',
             f'policy = "{(DATA / "correlate-new.txt").as_posix()}"']
    if history:
        lines.append(f'policy_history = [{{script = "{(DATA / "correlate-old.txt").as_posix()}", '
                     'until = 2026-10-25T12:00:00Z}]')
    return "\n".join(lines) + "\n"


def drop(t: str, src=None, sport=None, dst=None, dport=None, proto=6, kind="packet-dropped", packets=1,
         wfp=None) -> dict:
    inbound = dst in (ME, ME6) or dst is None
    local, remote = (dst, src) if inbound else (src, dst)
    return {"event_time": datetime.fromisoformat(t).replace(tzinfo=UTC), "host": "H", "source_format": "evtx",
            "source_file": "x.evtx", "source_record": 1, "event_id": 4290, "drop_kind": kind,
            "direction": None if src is None and dst is None else ("inbound" if inbound else "outbound"),
            "protocol": proto, "src_ip": src, "src_port": sport, "dst_ip": dst, "dst_port": dport,
            "local_ip": local, "remote_ip": remote, "packets": packets, "wfp_filter_id": wfp}


DROPS = [
    drop("2026-10-24T08:00:00", "10.9.1.1", 40000, ME, 80),  # /16 block beats /8 permit (mask bits)
    drop("2026-10-24T08:00:01", "10.9.1.1", 40001, ME, 80),  # same flow, another source port
    drop("2026-10-24T08:01:00", "10.9.9.9", 40000, ME, 80),  # single permit beats /16 block
    drop("2026-10-24T15:00:00", "10.1.1.1", 40000, ME, 80),  # /8 permit: not explained by the policy
    drop("2026-10-24T08:02:00", ME, 80, "10.9.1.1", 40000),  # reply: the mirrored copy of the /16 block
    drop("2026-10-24T08:03:00", ME, 1500, "10.0.0.53", 53, proto=17),  # dstaddr=DNS block
    drop("2026-10-24T08:04:00", ME, 1500, "10.7.7.7", 53, proto=17),  # permit and block tie: block wins
    drop("2026-10-24T08:05:00", "10.200.0.1", 1234, ME, 22),  # any/any protocol any: Block all
    drop("2026-10-24T08:06:00", "10.5.5.5", kind="clear-text-should-be-secured", proto=None, packets=7),
    drop("2026-10-24T08:07:00", "2001:db8:1::5", 50000, ME6, 443),  # IPv6 /48 permit
    drop("2026-10-24T08:08:00", "2001:db8:2::5", 50000, ME6, 443),  # IPv6, no filter (any<->any is IPv4)
    drop("2026-10-24T10:00:00", kind="block-mode", proto=None),  # 4292
    drop("2026-10-24T10:01:00", "10.1.1.1", 40002, ME, 80),  # a minute after Block mode: boot
    drop("2026-10-24T09:00:00", "10.3.3.3", 1234, ME, 8080),  # old policy: Proxy permits
    drop("2026-10-26T09:00:00", "10.3.3.3", 1235, ME, 8080),  # new policy: Proxy blocks
    drop("2026-10-27T09:00:00", "10.3.3.3", 1236, ME, 8080),
    drop("2026-10-24T08:09:00", "10.200.0.2", 1234, ME, 445, kind="wfp-packet-blocked", wfp=67607),
]


def write_drops(root: Path, rows: list[dict]) -> None:
    table = pa.Table.from_pylist(rows, schema=DROPS_SCHEMA)
    for day in sorted({r["event_time"].date() for r in rows}):
        part = root / "drops" / f"date={day.isoformat()}"
        part.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.filter(pa.compute.equal(pa.compute.cast(table["event_time"], pa.date32()), day)),
                       part / "part-1.parquet")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("wh")
    write_drops(root, DROPS)
    return root, parse_config(config_text())


@pytest.fixture(scope="module")
def rows(site):
    root, config = site
    return flows(root, config).to_pylist()


def find(rows, **want) -> list[dict]:
    return [r for r in rows if all(r[k] == v for k, v in want.items())]


def one(rows, **want) -> dict:
    found = find(rows, **want)
    assert len(found) == 1, (want, found)
    return found[0]


def test_columns_come_first_in_the_documented_order(site):
    root, config = site
    assert tuple(flows(root, config).column_names[:len(FLOW_COLUMNS)]) == FLOW_COLUMNS


def test_most_specific_filter_wins_across_overlapping_filters(rows):
    r = one(rows, remote_ip="10.9.1.1", direction="inbound")
    assert (r["verdict"], r["rule"], r["filter_list"], r["action"]) == ("blocked-by-rule", "Block 10.9/16", "Sub",
                                                                          "block")
    assert (r["local_port"], r["remote_port"], r["events"], r["packets"], r["protocol"]) == (80, None, 2, 2, 6)
    assert r["source_line"] == 11  # the "add filter" line of list Sub
    r = one(rows, remote_ip="10.9.9.9")
    assert (r["verdict"], r["rule"], r["source_line"]) == ("permitted-by-policy", "Allow 10.9.9.9", 13)
    r = one(rows, remote_ip="10.1.1.1", verdict="permitted-by-policy")
    assert (r["rule"], r["action"], r["events"]) == ("Web from 10/8", "permit", 1)


def test_mirrored_filter_matches_the_reverse_direction(rows):
    r = one(rows, remote_ip="10.9.1.1", direction="outbound")
    assert (r["verdict"], r["rule"], r["mirror"]) == ("blocked-by-rule", "Block 10.9/16", True)
    assert (r["local_ip"], r["local_port"], r["remote_port"]) == (ME, 80, None)  # a reply from our port 80


def test_server_type_address_and_block_beats_permit_tie(rows):
    r = one(rows, remote_ip="10.0.0.53")
    assert (r["verdict"], r["rule"], r["remote_port"], r["local_port"]) == ("blocked-by-rule", "No DNS", 53, None)
    r = one(rows, remote_ip="10.7.7.7")
    assert (r["verdict"], r["rule"], r["action"]) == ("blocked-by-rule", "Resolver bad", "block")


def test_protocol_and_port_wildcards_and_wfp_filter_id(rows):
    r = one(rows, remote_ip="10.200.0.1")
    assert (r["verdict"], r["rule"], r["local_port"]) == ("blocked-by-rule", "Block all", 22)
    r = one(rows, remote_ip="10.200.0.2")
    assert (r["rule"], r["wfp_filter_ids"], r["drop_kinds"]) == ("Block all", [67607], ["wfp-packet-blocked"])


def test_clear_text_drop_without_a_5_tuple_needs_negotiation(rows):
    r = one(rows, remote_ip="10.5.5.5")
    assert (r["verdict"], r["rule"], r["action"], r["packets"], r["events"]) == (
        "negotiation-required", "App secured", "negotiate", 7, 1)
    assert (r["local_ip"], r["protocol"], r["local_port"]) == (None, None, None)


def test_ipv6_matches_its_range_and_falls_to_no_matching_filter_outside_it(rows):
    r = one(rows, remote_ip="2001:db8:1::5")
    assert (r["verdict"], r["rule"], r["local_port"]) == ("permitted-by-policy", "V6 web", 443)
    r = one(rows, remote_ip="2001:db8:2::5")
    assert (r["verdict"], r["rule"], r["action"], r["source_line"]) == ("no-matching-filter", None, None, None)


def test_block_mode_event_and_the_drops_right_after_it(rows):
    r = one(rows, verdict="boot-or-block-mode", remote_ip=None)
    assert (r["rule"], r["drop_kinds"], r["events"]) == (None, ["block-mode"], 1)
    r = one(rows, verdict="boot-or-block-mode", remote_ip="10.1.1.1")
    assert (r["first_seen"], r["events"]) == (datetime(2026, 10, 24, 10, 1, tzinfo=UTC), 1)


def test_policy_change_mid_period_uses_the_snapshot_in_force(rows):
    before = one(rows, remote_ip="10.3.3.3", verdict="permitted-by-policy")
    after = one(rows, remote_ip="10.3.3.3", verdict="blocked-by-rule")
    assert (before["rule"], before["events"], before["days_seen"]) == ("Proxy", 1, 1)
    assert (after["rule"], after["events"], after["days_seen"]) == ("Proxy", 2, 2)
    assert before["snapshot"] != after["snapshot"]
    assert after["first_seen"] == datetime(2026, 10, 26, 9, tzinfo=UTC)


def test_every_drop_is_in_exactly_one_flow(rows):
    assert sum(r["events"] for r in rows) == len(DROPS)
    assert sum(r["packets"] for r in rows) == sum(d["packets"] for d in DROPS)


def test_filters_host_time_verdict_and_top(site):
    root, config = site
    blocked = flows(root, config, verdict="blocked-by-rule").to_pylist()
    assert {r["rule"] for r in blocked} == {"Block 10.9/16", "No DNS", "Resolver bad", "Block all", "Proxy"}
    late = flows(root, config, since="2026-10-26T00:00:00").to_pylist()
    assert [(r["remote_ip"], r["events"]) for r in late] == [("10.3.3.3", 2)]
    early = flows(root, config, until=datetime(2026, 10, 24, 8, 0, 30, tzinfo=UTC)).to_pylist()
    assert [(r["remote_ip"], r["events"]) for r in early] == [("10.9.1.1", 2)]
    assert flows(root, config, host="nobody").num_rows == 0
    assert flows(root, config, host="h").num_rows == flows(root, config).num_rows
    top = flows(root, config, top=2).to_pylist()
    assert [r["packets"] for r in top] == [7, 2]  # most packets first
    with pytest.raises(ValueError):
        flows(root, config, verdict="maybe")


def test_without_history_the_current_policy_covers_all_time(tmp_path):
    write_drops(tmp_path, [d for d in DROPS if d["dst_port"] == 8080])
    got = flows(tmp_path, parse_config(config_text(history=False))).to_pylist()
    assert [(r["verdict"], r["events"]) for r in got] == [("blocked-by-rule", 3)]


def test_empty_warehouse_gives_no_flows(tmp_path):
    table = flows(tmp_path, parse_config(config_text()))
    assert table.num_rows == 0 and tuple(table.column_names[:len(FLOW_COLUMNS)]) == FLOW_COLUMNS


def test_sql_matches_python_decide_on_random_packets(tmp_path):
    """The SQL winner is pipeline.policy.decide's on packets spread over every filter's edges."""
    config = parse_config(config_text(history=False))
    in_force = analyse_script(DATA / "correlate-new.txt", host="H", config=config).in_force()
    rng = random.Random(5)
    peers = ["10.9.1.1", "10.9.9.9", "10.9.255.255", "10.0.0.53", "10.7.7.7", "10.5.5.5", "10.255.0.1", "11.0.0.1",
             "10.3.3.3", "9.255.255.255"]
    ports = [None, 22, 53, 80, 443, 8080, 1234]
    rows, expected = [], {}
    for i in range(300):
        peer, proto = rng.choice(peers), rng.choice([6, 17, 1])
        sport, dport = (None, None) if proto == 1 else (rng.choice(ports) or 1024 + i, rng.choice(ports) or 2000 + i)
        src, dst = (peer, ME) if rng.random() < 0.6 else (ME, peer)
        rows.append(drop(f"2026-10-24T08:{i // 60:02d}:{i % 60:02d}", src, sport, dst, dport, proto=proto))
        f = decide(in_force, 4, ip_number(src)[1], ip_number(dst)[1], proto, sport, dport)
        expected[(src, sport, dst, dport, proto)] = (f.rule, f.source_line) if f else (None, None)
    write_drops(tmp_path, rows)
    session = open_session(tmp_path, config)
    try:
        got = session.con.sql(
            "SELECT src_ip, src_port, dst_ip, dst_port, protocol FROM drops ORDER BY event_time").fetchall()
        table = flows(tmp_path, config, session=session).to_pylist()
    finally:
        session.close()
    assert len(got) == 300
    # every flow row's rule is the one decide() gives for each of its packets
    want_rules = {}
    for key, value in expected.items():
        want_rules.setdefault(key[0] if key[0] != ME else key[2], set()).add(value[0])
    for r in table:
        assert r["rule"] in want_rules[r["remote_ip"]]
    assert {(r["remote_ip"], r["rule"]) for r in table} == {
        (k[0] if k[0] != ME else k[2], v[0]) for k, v in expected.items()}


def test_explain_lists_matches_by_weight_and_says_why(site):
    root, config = site
    e = explain(root, config, host="H", src="10.9.9.9", dst=ME, proto=6, sport=40000, dport=80,
                at="2026-10-24T00:00:00")
    rules = [r["rule"] for r in e.matches.to_pylist() if r["in_force"]]
    # any<->any matches as written and as its mirrored copy: two rows
    assert rules == ["Allow 10.9.9.9", "Block 10.9/16", "Web from 10/8", "Block all", "Block all"]
    assert e.verdict == "permitted-by-policy"
    assert "address class" in e.reason and "single->single beats range->single" in e.reason
    e = explain(root, config, host="H", src=ME, dst="10.7.7.7", proto=17, sport=1500, dport=53,
                at="2026-10-24T00:00:00")
    assert (e.winner["rule"], e.verdict) == ("Resolver bad", "blocked-by-rule")
    assert "more restrictive action" in e.reason
    e = explain(root, config, host="H", src="10.9.1.1", dst=ME, proto=6, sport=40000, dport=80,
                at="2026-10-24T00:00:00")
    assert "destination mask bits" in e.reason or "source mask bits" in e.reason
    # the snapshot in force decides: Proxy permits before the change, blocks after
    old = explain(root, config, host="H", src="10.3.3.3", dst=ME, proto=6, sport=1, dport=8080, at="2026-10-24")
    new = explain(root, config, host="H", src="10.3.3.3", dst=ME, proto=6, sport=1, dport=8080, at="2026-10-26")
    assert (old.winner["action"], new.winner["action"]) == ("permit", "block")
    none = explain(root, config, host="H", src="2001:db8:2::5", dst=ME6, proto=6, sport=1, dport=443)
    assert (none.winner, none.verdict) == (None, "no-matching-filter")


def test_ad_hoc_sql_sees_the_warehouse_relations(site):
    root, config = site
    got = sql(root, "SELECT count(*) AS n, count(DISTINCT snapshot) AS s FROM policy_periods", config).to_pylist()
    assert got == [{"n": 2, "s": 2}]
    assert sql(root, "SELECT sum(packets) AS p FROM drops", config).to_pylist() == [{"p": 23}]


@pytest.mark.parametrize(("text", "number"), [
    ("10.1.0.10", 167837706), ("0.0.0.0", 0), ("255.255.255.255", 4294967295),
    ("2001:db8::1", 0x20010DB8000000000000000000000001), ("::", 0), ("::1", 1), ("1::", 1 << 112),
    ("::ffff:1.2.3.4", 0xFFFF01020304), ("1:2:3:4:5:6:7:8", 0x00010002000300040005000600070008),
    ("FE80::A", 0xFE80000000000000000000000000000A),
    ("1.2.3", None), ("1.2.3.256", None), ("x", None), ("", None), (None, None), ("1::2::3", None),
    ("1:2:3:4:5:6:7:8:9", None), ("::ffff:1.2.3.400", None), ("12345::", None),
])
def test_ip_number_macro_gives_the_policy_tables_halves(text, number):
    session = open_session(Path("/nonexistent-warehouse"))
    try:
        [(got,)] = session.con.execute("SELECT ip_number($ip)", {"ip": text}).fetchall()
    finally:
        session.close()
    assert got == (None if number is None else {"hi": number >> 64, "lo": number & ((1 << 64) - 1)})


# -- the session API (Foundation repair): context manager, policy overrides, script cache, no-policy --------

def test_a_host_without_policy_gets_no_policy_not_no_matching_filter(tmp_path):
    rows = [drop("2026-10-24T08:00:00", "10.9.1.1", 40000, ME, 80),
            {**drop("2026-10-24T08:00:00", "10.9.1.1", 40000, "10.0.0.99", 80), "host": "NOPOLICY",
             "local_ip": "10.0.0.99", "direction": "inbound"}]
    write_drops(tmp_path, rows)
    config = parse_config(config_text(history=False))
    by_host = {r["host"]: r["verdict"] for r in flows(tmp_path, config).to_pylist()}
    assert by_host == {"H": "blocked-by-rule", "NOPOLICY": "no-policy"}
    e = explain(tmp_path, config, host="NOPOLICY", src="10.9.1.1", dst="10.0.0.99", proto="tcp", dport=80)
    assert (e.verdict, e.snapshot, e.winner) == ("no-policy", None, None)
    assert "no policy" in e.reason


def test_session_is_a_context_manager_and_replays_a_candidate_policy(site, tmp_path):
    root, config = site
    from pipeline.policy import analyse_text

    base = (DATA / "correlate-new.txt").read_text(encoding="utf-8")
    # a candidate that permits TCP 22 from 10.200.0.0/16 ahead of "Block all"
    extra = ("add filterlist name=Ssh\n"
             "add filter filterlist=Ssh srcaddr=10.200.0.0 srcmask=16 dstaddr=me protocol=tcp dstport=22 mirrored=yes\n"
             'add rule name="Ssh in" policy=P filterlist=Ssh filteraction=Permit\n')
    candidate = analyse_text(base.replace("popd", "") + extra, "candidate.txt", host="H", config=config)
    assert not [i for i in candidate.issues if i.severity == "error"]
    with open_session(root, config) as before, open_session(root, config, policies={"H": candidate}) as after:
        old = {(r["remote_ip"], r["local_port"], r["verdict"]) for r in before.flows(host="H").to_pylist()}
        new = {(r["remote_ip"], r["local_port"], r["verdict"]) for r in after.flows(host="H").to_pylist()}
        assert after.run("snapshot_at", {"host": "h", "at": datetime(2026, 10, 24, tzinfo=UTC)}).to_pylist()[0][
            "snapshot"] == candidate.snapshot
    # the SSH flow is now permitted; the override replaces the history too, so the old Proxy permit
    # (before 2026-10-25) is gone: all Proxy drops meet the new block
    assert old - new == {("10.200.0.1", 22, "blocked-by-rule"), ("10.3.3.3", 8080, "permitted-by-policy")}
    assert new - old == {("10.200.0.1", 22, "permitted-by-policy")}
    with pytest.raises(Exception):  # noqa: B017 - any DuckDB error: the connection is closed
        before.con.sql("select 1")


def test_config_scripts_are_parsed_once_per_file_version(tmp_path):
    from pipeline.correlate import analyse_config_script

    script = tmp_path / "p.txt"
    script.write_text((DATA / "correlate-new.txt").read_text(encoding="utf-8"), encoding="utf-8")
    config = parse_config(config_text(history=False).replace((DATA / "correlate-new.txt").as_posix(),
                                                             script.as_posix()))
    host = config.host("H")
    first = analyse_config_script(script, host, config)
    assert analyse_config_script(script, host, config) is first
    script.write_text(script.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    assert analyse_config_script(script, host, config) is not first


def test_protocol_names_are_accepted_and_the_runner_up_is_another_filter(site):
    root, config = site
    by_name = explain(root, config, host="H", src=ME, dst="10.7.7.7", proto="udp", sport=1500, dport=53,
                      at="2026-10-26T00:00:00")
    by_number = explain(root, config, host="H", src=ME, dst="10.7.7.7", proto=17, sport=1500, dport=53,
                        at="2026-10-26T00:00:00")
    assert by_name.winner == by_number.winner and by_name.winner["rule"] == "Resolver bad"
    with pytest.raises(ValueError, match="unknown protocol"):
        explain(root, config, host="H", src=ME, dst="10.7.7.7", proto="tcpp")
    # any<->any is matched as written and as its mirror: the runner-up is never the winner's own copy
    e = explain(root, config, host="H", src="10.200.0.1", dst=ME, proto=6, sport=1234, dport=22,
                at="2026-10-26T00:00:00")
    assert e.winner["rule"] == "Block all"
    assert e.runner_up is None or e.runner_up["rule"] != "Block all"
    assert e.reason.startswith("the only matching filter")


def test_replay_judges_the_same_tuples_against_a_candidate_without_reading_the_drops_again(site):
    root, config = site
    from pipeline.policy import analyse_text

    base = (DATA / "correlate-new.txt").read_text(encoding="utf-8").replace("popd", "")
    extra = ("add filterlist name=Ssh\n"
             "add filter filterlist=Ssh srcaddr=10.200.0.0 srcmask=16 dstaddr=me protocol=tcp dstport=22 mirrored=yes\n"
             'add rule name="Ssh in" policy=P filterlist=Ssh filteraction=Permit\n')
    candidate = analyse_text(base + extra, "candidate.txt", host="H", config=config)
    with open_session(root, config) as session:
        before = session.flows(host="H")
        replayed = session.replay({"H": candidate}, host="H")
        assert len(session._tuples) == 1  # one grouping of the drops served both questions
        again = session.flows(host="H")
    with open_session(root, config, policies={"H": candidate}) as direct:
        expected = direct.flows(host="H")
    key = ["remote_ip", "local_port", "remote_port", "verdict", "rule", "events"]
    assert sorted(replayed.select(key).to_pylist(), key=str) == sorted(expected.select(key).to_pylist(), key=str)
    assert again.select(key).to_pylist() == before.select(key).to_pylist()  # the replay left the session as it was
