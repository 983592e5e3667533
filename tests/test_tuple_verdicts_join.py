"""queries/tuple_verdicts.sql's winners against a brute-force matcher (issue 15, target 6).

The query joins port-less filters on an address block (/16 of IPv4, /32 of IPv6) of their narrower side
instead of trying every filter on every tuple. Here random filters of every width (single addresses, blocks
just under and over the 256-block limit, any to any, IPv6 prefixes) and tuples near their edges, some
without a port or an address, are judged by the query and by the matching rule written out in Python
(every in-force filter tried on every tuple; highest weight wins, the first filter on a tie), which must
give the same filter for every tuple.
"""

from __future__ import annotations

import ipaddress
import random

import duckdb
import pyarrow as pa
import pytest

from pipeline.policy.store import SCHEMAS
from pipeline.queries import query

HOST, SNAP = "H1", "snap-1"


def bounds(network: str) -> tuple[int, int, int]:
    net = ipaddress.ip_network(network, strict=False)
    return net.version, int(net.network_address), int(net.broadcast_address)


def half(number: int) -> dict:
    return {"hi": number >> 64, "lo": number & (2**64 - 1)}


def random_network(rng: random.Random, family: int) -> str:
    if family == 4:
        base = rng.choice(["10.0.0.0", "10.1.0.0", "10.200.7.0", "203.0.113.0", "0.0.0.0", "10.255.255.255"])
        # /32, /24, /16, /9 (128 blocks), /8 (256 blocks: the limit), /7 (512 blocks: too wide), any
        bits = rng.choice([32, 24, 16, 9, 8, 7, 0])
    else:
        base = rng.choice(["2001:db8::", "2001:db8:1::", "fe80::", "::"])
        # /128, /48, /32 (one block), /25 (128), /24 (256), /23 (512), any
        bits = rng.choice([128, 48, 32, 25, 24, 23, 0])
    return str(ipaddress.ip_network(f"{base}/{bits}", strict=False))


def filters_table(rng: random.Random, count: int) -> tuple[pa.Table, list[dict]]:
    rows = []
    for i in range(count):
        family = 4 if rng.random() < 0.7 else 6
        _, slo, shi = bounds(random_network(rng, family))
        _, dlo, dhi = bounds(random_network(rng, family))
        ported = rng.random()
        rows.append({
            "host": HOST, "snapshot": SNAP, "store": "local", "policy": "P", "assigned": True,
            "rule": f"R{i}", "rule_active": rng.random() < 0.95, "filter_list": f"L{i}", "filter_index": 0,
            "action": rng.choice(["permit", "block", "negotiate"]), "soft": False, "mirror": False,
            "family": family, "src_lo": half(slo), "src_hi": half(shi), "dst_lo": half(dlo), "dst_hi": half(dhi),
            "protocol": rng.choice([None, 6, 17, 1]),
            "src_port": rng.choice([53, 1234]) if 0.8 < ported < 0.9 else None,
            "dst_port": rng.choice([80, 443]) if ported > 0.6 and not 0.8 < ported < 0.9 else None,
            "weight": rng.randrange(1, 6),  # few weights: ties, decided by the first filter
            "source_file": "p.cmd", "source_line": i + 1,
        })
    fields = SCHEMAS["filters"]
    table = pa.table({f.name: pa.array([r.get(f.name) for r in rows], f.type) for f in fields}, schema=fields)
    return table, rows


def near(rng: random.Random, lo: int, hi: int, family: int) -> str:
    top = 2**32 - 1 if family == 4 else 2**128 - 1
    pick = rng.choice([lo, hi, lo - 1, hi + 1, rng.randint(lo, hi), lo + 65536, hi - 65536])
    pick = min(max(pick, 0), top)
    return str(ipaddress.ip_address(pick) if family == 6 else ipaddress.IPv4Address(pick))


def tuples_table(rng: random.Random, filters: list[dict], count: int) -> pa.Table:
    rows = []
    for tid in range(1, count + 1):
        f = rng.choice(filters)
        family = f["family"]
        s_lo = (f["src_lo"]["hi"] << 64) | f["src_lo"]["lo"]
        s_hi = (f["src_hi"]["hi"] << 64) | f["src_hi"]["lo"]
        d_lo = (f["dst_lo"]["hi"] << 64) | f["dst_lo"]["lo"]
        d_hi = (f["dst_hi"]["hi"] << 64) | f["dst_hi"]["lo"]
        src = None if rng.random() < 0.05 else near(rng, s_lo, s_hi, family)
        dst = None if rng.random() < 0.05 else near(rng, d_lo, d_hi, family)
        rows.append({"tid": tid, "host": HOST, "snapshot": SNAP, "drop_kind": "packet-dropped", "boot": False,
                     "protocol": rng.choice([6, 17, 1, None]), "src_ip": src, "dst_ip": dst,
                     "src_port": rng.choice([53, 1234, 40000, None]), "dst_port": rng.choice([80, 443, 8080, None]),
                     "family": family})
    return pa.Table.from_pylist(rows)


def brute_force(filters: list[dict], t: dict) -> str | None:
    """The rule of the winning in-force filter of one tuple (None: no filter matches)."""
    s = int(ipaddress.ip_address(t["src_ip"])) if t["src_ip"] else None
    d = int(ipaddress.ip_address(t["dst_ip"])) if t["dst_ip"] else None
    best = None
    for f in filters:  # in file order: on equal weights the first one stays
        if not f["rule_active"] or f["family"] != t["family"] or (s is None and d is None):
            continue
        s_lo = (f["src_lo"]["hi"] << 64) | f["src_lo"]["lo"]
        s_hi = (f["src_hi"]["hi"] << 64) | f["src_hi"]["lo"]
        d_lo = (f["dst_lo"]["hi"] << 64) | f["dst_lo"]["lo"]
        d_hi = (f["dst_hi"]["hi"] << 64) | f["dst_hi"]["lo"]
        if s is not None and not s_lo <= s <= s_hi or d is not None and not d_lo <= d <= d_hi:
            continue
        if f["protocol"] is not None and f["protocol"] != t["protocol"]:
            continue
        if f["dst_port"] is not None and f["dst_port"] != t["dst_port"]:
            continue
        if f["src_port"] is not None and f["src_port"] != t["src_port"]:
            continue
        if best is None or f["weight"] > best["weight"]:
            best = f
    return best["rule"] if best else None


@pytest.mark.parametrize("seed", range(6))
def test_block_join_finds_the_winner_every_filter_tried_finds(seed):
    rng = random.Random(seed)
    filters, rows = filters_table(rng, 120)
    tuples = tuples_table(rng, rows, 1500)
    con = duckdb.connect()
    con.execute(query("macro_ip_number"))
    con.register("filters", filters)
    con.register("tuples_in", tuples)
    con.execute("CREATE TABLE flow_tuples AS SELECT *, "
                "(ip_number(src_ip).hi::UHUGEINT << 64) | ip_number(src_ip).lo AS s, "
                "(ip_number(dst_ip).hi::UHUGEINT << 64) | ip_number(dst_ip).lo AS d FROM tuples_in")
    con.register("judge_snapshots", pa.table({"host": pa.array([], pa.string()),
                                              "snapshot": pa.array([], pa.string())}))
    got = dict(con.sql("SELECT tid, rule FROM (" + query("tuple_verdicts") + ")").fetchall())
    want = {t["tid"]: brute_force(rows, t) for t in tuples.to_pylist()}
    assert got == want
    # the data reach every branch: block joins on both sides, wide filters, tuples without an address
    matched = [r for r in want.values() if r is not None]
    assert len(matched) > len(want) // 3
    sides = {("src" if int(f["src_hi"]["lo"] >> 16) - int(f["src_lo"]["lo"] >> 16) < 256 else "wide")
             for f in rows if f["family"] == 4 and f["dst_port"] is None and f["src_port"] is None}
    assert sides == {"src", "wide"}
