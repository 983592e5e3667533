"""Which filter wins: the specificity order of netsh-ipsec.md §2.2 and the assumptions of weights.py."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from pipeline.config import parse_config
from pipeline.policy import analyse_text, decide
from pipeline.policy.addresses import ip_number, spec_bits
from pipeline.policy.model import Address
from pipeline.policy.tokenize import decode_script
from pipeline.policy.weights import ACTION_RANK, CLASS_ORDER, Weight, weight

DATA = Path(__file__).parent / "data"


def analysed(name: str, **kw):
    return analyse_text(decode_script((DATA / name).read_bytes()), name, **kw)


def weights_by_rule(name: str) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for row in analysed(name).filters:
        out.setdefault(row.rule, []).append(row.weight)
    return out


def test_sec505_address_classes_in_order():
    w = weights_by_rule("policy-specificity.txt")
    classes = ["single-single", "range-single", "single-range", "range-range", "any-single", "single-any",
               "any-range", "range-any", "any-any"]
    assert [w[c][0] for c in classes] == sorted((w[c][0] for c in classes), reverse=True)
    assert len({w[c][0] for c in classes}) == 9
    assert w["single-single"] == [Weight(False, 1, 0, 128, 128, "permit").value] == [16908800]


def test_protocol_and_port_steps_within_a_class_and_below_a_better_class():
    w = weights_by_rule("policy-specificity.txt")
    both, dport, sport, proto = w["ports"]  # any -> single, in the file's order
    assert both > dport > sport > proto > w["any-single"][0]
    assert w["range-range"][0] > both  # the address class comes first


def test_mask_bits_after_protocol_and_ports():
    w = weights_by_rule("policy-specificity.txt")
    wide_ssh, narrow_ssh, narrow_any = w["bits"]
    assert narrow_ssh > wide_ssh > narrow_any  # /24 beats /16; TCP 22 on a /16 beats anything on a /24
    assert narrow_any == w["range-single"][0]  # the same filter in another list weighs the same


def test_more_restrictive_action_wins_a_tie_and_tunnel_outranks_transport():
    w = weights_by_rule("policy-specificity.txt")
    assert w["tie-block"][0] == w["tie-negotiate"][0] + 1 == w["tie-permit"][0] + 2
    assert w["tunnel"][0] > max(v for k, values in w.items() if k != "tunnel" for v in values)


def test_mirrored_copy_has_the_reversed_class():
    rows = [r for r in analysed("policy-specificity.txt").filters if r.rule == "mirrored"]
    assert [(r.mirror, str(Weight.decode(r.weight))) for r in rows] == [
        (False, "range->single, protocol+dstport, dst 128 bits, src 120 bits, permit"),
        (True, "single->range, protocol+srcport, dst 120 bits, src 128 bits, permit"),
    ]
    assert rows[0].weight > rows[1].weight


def test_decide_picks_the_most_specific_matching_filter():
    config = parse_config('[hosts.H]\naddresses = ["10.0.0.5"]\n')
    a = analyse_text(
        "pushd ipsec static\nadd policy P assign=yes\nadd filteraction Permit action=permit\n"
        "add filteraction Block action=block\n"
        "add filter filterlist=all srcaddr=any dstaddr=any\n"
        "add filter filterlist=lan srcaddr=10.0.0.0 srcmask=8 dstaddr=me\n"
        "add filter filterlist=ssh srcaddr=any dstaddr=me protocol=tcp dstport=22\n"
        "add rule all P all Block\nadd rule lan P lan Permit\nadd rule ssh P ssh Block\n", "d.txt",
        host="H", config=config)

    def verdict(src, dst, proto, sport=None, dport=None):
        fam, s = ip_number(src)
        _, d = ip_number(dst)
        row = decide(a.in_force(), fam, s, d, proto, sport, dport)
        return row.rule if row else None

    assert verdict("10.9.9.9", "10.0.0.5", 6, 4000, 22) == "lan"  # range->single beats any->single+port
    assert verdict("192.0.2.1", "10.0.0.5", 6, 4000, 22) == "ssh"
    assert verdict("192.0.2.1", "10.0.0.5", 17, 4000, 53) == "all"
    assert verdict("10.0.0.5", "10.9.9.9", 6, 22, 4000) == "lan"  # the mirrored copy
    assert verdict("2001:db8::1", "2001:db8::2", 6, 1, 2) is None  # no IPv6 filter: not filtered


@given(st.booleans(), st.integers(1, 9), st.integers(0, 4), st.integers(0, 128), st.integers(0, 128),
       st.sampled_from(list(ACTION_RANK)))
def test_weight_parts_round_trip(tunnel, rank, level, dst_bits, src_bits, action):
    parts = Weight(tunnel, rank, level, dst_bits, src_bits, action)
    assert Weight.decode(parts.value) == parts


@st.composite
def nested_filters(draw):
    """A filter and a second one that matches a subset of its packets (same family, IPv4)."""
    def end():
        prefix = draw(st.integers(0, 32))
        inner = draw(st.integers(prefix, 32))
        addr = draw(st.integers(0, 2**32 - 1))
        outer_net = ipaddress.ip_network((addr, prefix), strict=False)
        inner_net = ipaddress.ip_network((addr, inner), strict=False)
        return (outer_net, prefix), (inner_net, inner)
    (src_b, src_a), (dst_b, dst_a) = end(), end()
    proto_b = draw(st.sampled_from([None, 6]))
    proto_a = proto_b if proto_b is not None else draw(st.sampled_from([None, 6]))
    ports_b = [draw(st.sampled_from([None, 80])) for _ in range(2)]
    ports_a = [p if p is not None else draw(st.sampled_from([None, 443])) for p in ports_b]
    return (src_b, dst_b, proto_b, ports_b), (src_a, dst_a, proto_a, ports_a)


def _weight(src, dst, proto, ports, action="permit") -> int:
    def bits(net_prefix):
        net, prefix = net_prefix
        if prefix == 0:
            return spec_bits(Address("any"), None)
        return spec_bits(Address("ip", str(net.network_address)), None if prefix == 32 else prefix)
    return weight(bits(src), bits(dst), proto, ports[0], ports[1], action).value


@given(nested_filters(), st.sampled_from(list(ACTION_RANK)))
def test_a_filter_inside_another_never_weighs_less(pair, action):
    outer, inner = pair
    assert _weight(*inner, action) >= _weight(*outer, action)
    if inner == outer:
        assert _weight(*inner, action) == _weight(*outer, action)


def test_class_table_is_the_sec505_table():
    assert CLASS_ORDER == (("single", "single"), ("range", "single"), ("single", "range"), ("range", "range"),
                           ("any", "single"), ("single", "any"), ("any", "range"), ("range", "any"), ("any", "any"))
