"""Address forms and their resolution from the host's config entry (netsh-ipsec.md §1.3, §2.4)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from pipeline.config import parse_config
from pipeline.policy import parse_text
from pipeline.policy.addresses import (
    halves,
    pair_ranges,
    parse_address,
    parse_mask,
    range_text,
    resolve,
    spec_bits,
)
from pipeline.policy.model import ANY, ME, Address
from pipeline.policy.tokenize import decode_script

DATA = Path(__file__).parent / "data"
CONFIG = parse_config("""
[hosts.WEB01]
addresses = ["198.51.100.10", "10.1.0.10", "2001:db8::10"]
dns = ["10.1.0.2", "10.1.0.3"]
wins = ["10.1.0.4"]
gateway = ["10.1.0.1"]
[names]
"wsus.example.net" = ["10.1.0.30"]
""")
HOST = CONFIG.hosts["WEB01"]


def resolved_pairs(f) -> list[tuple[int, str, str]] | str:
    src = resolve(f.src, f.src_mask, HOST, CONFIG.names)
    dst = resolve(f.dst, f.dst_mask, HOST, CONFIG.names)
    if src.problem or dst.problem:
        return src.problem or dst.problem
    return [(fam, range_text(fam, *s), range_text(fam, *d)) for fam, s, d in pair_ranges(src, dst)]


def test_every_address_form_resolves_on_the_host():
    text = decode_script((DATA / "policy-addresses.cmd").read_bytes())
    model, _, _ = parse_text(text, "policy-addresses.cmd")
    lists = model.stores["local"].filter_lists
    got = {name: resolved_pairs(flist.filters[0]) for name, flist in lists.items()}
    me4 = ["198.51.100.10", "10.1.0.10"]
    assert got == {
        "me-any": [(4, "198.51.100.10", "0.0.0.0/0"), (4, "10.1.0.10", "0.0.0.0/0"), (6, "2001:db8::10", "::/0")],
        "me-dns": [(4, m, d) for m in me4 for d in ("10.1.0.2", "10.1.0.3")],
        "wins-any": [(4, "10.1.0.4", m) for m in me4],  # a server type forces me on the other end
        "dhcp-me": "host WEB01 has no dhcp servers in the config (set [hosts.WEB01] dhcp = [...])",
        "gateway-me": [(4, "10.1.0.1", m) for m in me4],
        "dotted": [(4, "10.1.0.0/24", m) for m in me4],
        "hostbits": [(4, "10.1.0.0/24", m) for m in me4],  # 10.1.0.77 with mask 24 is the network
        "cidr": [(4, "192.0.2.0/25", m) for m in me4],
        "range": [(4, "192.0.2.10-192.0.2.20", m) for m in me4],
        "name": [(4, m, "10.1.0.30") for m in me4],  # WSUS.example.net from [names], any case
        "unknown-name": "DNS name unknown.example.net is not in the config's [names] table "
                        "(names are never looked up live)",
        "v6": [(6, "2001:db8::/32", "2001:db8::10")],
        "me-mask": [(4, "198.51.100.10", "0.0.0.0/0"), (4, "10.1.0.10", "0.0.0.0/0"), (6, "2001:db8::10", "::/0")],
        "any-mask": [(4, "0.0.0.0/0", "198.51.100.10"), (4, "0.0.0.0/0", "10.1.0.10"), (6, "::/0", "2001:db8::10")],
        "any-any": [(4, "0.0.0.0/0", "0.0.0.0/0")],  # the Windows Server 2003 driver filters IPv4 only
    }
    assert "bad" not in lists  # every filter of the refused lines was refused


def test_me_and_servers_need_a_host():
    assert resolve(ME, None, None, {}).problem == "'me' needs a host (--host) to know its addresses"
    assert resolve(Address("server", "WINS"), None, None, {}).problem.startswith("server type WINS needs a host")
    assert resolve(Address("variable", "%IP%"), None, HOST, {}).problem == (
        "%IP% is an unexpanded batch variable (give it with --define)")
    no_addresses = parse_config("[hosts.X]\n").hosts["X"]
    assert resolve(ME, None, no_addresses, {}).problem == "host X has no addresses in the config: 'me' is unknown"


@pytest.mark.parametrize(("text", "expected"), [
    ("Me", (ME, None)), ("ANY", (ANY, None)), ("dns", (Address("server", "DNS"), None)),
    ("Gateway", (Address("server", "GATEWAY"), None)), ("10.1.0.5", (Address("ip", "10.1.0.5"), None)),
    ("2001:DB8:0::1", (Address("ip", "2001:db8::1"), None)), ("10.1.0.0/24", (Address("ip", "10.1.0.0"), 24)),
    ("10.0.0.1-10.0.0.9", (Address("range", "10.0.0.1-10.0.0.9"), None)),
    ("WSUS.Example.NET.", (Address("dns", "wsus.example.net"), None)),
    ("%SERVER%", (Address("variable", "%SERVER%"), None)),
])
def test_parse_address(text, expected):
    addr, prefix, _ = parse_address(text)
    assert (addr, prefix) == expected


@pytest.mark.parametrize("text", ["10.1.0.300", "10.1.0", "10.0.0.9-10.0.0.1", "10.0.0.1-2001:db8::1",
                                  "10.0.0.0/33", "fe80::zz", "bad name!"])
def test_parse_address_refuses(text):
    with pytest.raises(ValueError):
        parse_address(text)


@pytest.mark.parametrize(("text", "prefix"), [("24", 24), ("0", 0), ("255.255.255.0", 24), ("0.0.0.0", 0),
                                              ("255.255.255.255", 32), ("ffff:ffff::", 32), ("128", 128)])
def test_parse_mask(text, prefix):
    assert parse_mask(text) == prefix


@pytest.mark.parametrize("text", ["255.0.255.0", "129", "/24", "255.255.255.1"])
def test_parse_mask_refuses(text):
    with pytest.raises(ValueError):
        parse_mask(text)


@pytest.mark.parametrize(("addr", "mask", "bits"), [
    (ANY, None, 0), (ME, None, 128), (Address("server", "DNS"), None, 128), (Address("dns", "x.example"), None, 128),
    (Address("ip", "10.0.0.1"), None, 128), (Address("ip", "10.0.0.0"), 24, 120), (Address("ip", "10.0.0.0"), 0, 0),
    (Address("ip", "2001:db8::"), 64, 64), (Address("range", "10.0.0.0-10.0.0.255"), None, 120),
    (Address("range", "10.0.0.1-10.0.0.1"), None, 128), (Address("range", "10.0.0.0-10.0.0.2"), None, 126),
])
def test_specificity_bits(addr, mask, bits):
    assert spec_bits(addr, mask) == bits


def test_range_text_and_halves():
    assert range_text(4, int(ipaddress.ip_address("10.0.0.0")), int(ipaddress.ip_address("10.0.0.255"))) == \
        "10.0.0.0/24"
    assert range_text(4, int(ipaddress.ip_address("10.0.0.1")), int(ipaddress.ip_address("10.0.0.3"))) == \
        "10.0.0.1-10.0.0.3"
    v6 = int(ipaddress.ip_address("2001:db8::1"))
    assert halves(v6) == {"hi": 0x20010DB800000000, "lo": 1}
    assert halves(int(ipaddress.ip_address("10.1.0.10"))) == {"hi": 0, "lo": 167837706}
    assert halves(None) is None
