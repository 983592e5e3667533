"""Model -> netsh script -> model: printing a model and parsing it again gives the same model."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.policy import parse_text, render_script
from pipeline.policy.model import (
    ANY,
    ME,
    SERVER_TYPES,
    Address,
    DefaultRule,
    Filter,
    FilterAction,
    FilterList,
    Policy,
    PolicyModel,
    Rule,
    Setting,
    Store,
)
from pipeline.policy.render import RenderError
from pipeline.policy.tokenize import decode_script

DATA = Path(__file__).parent / "data"

# Names and texts: anything printable but a double quote (netsh cannot escape one), not blank.
TEXT_CHARS = st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters='"')
names = st.text(TEXT_CHARS, min_size=1, max_size=12).filter(lambda s: s.strip() != "")
texts = st.text(TEXT_CHARS, max_size=20)
QMSEC = ("ESP[3DES,SHA1]", "AH[MD5]:100000k/300s", "AH[SHA1]+ESP[DES,MD5]", "ESP[DES,NONE]:5000k/600s")
MMSEC = ("3DES-SHA1-2", "DES-MD5-1", "3DES-SHA1-3")
DNS_NAMES = ("wsus.example.net", "db-1.corp.example", "x.example")


def unique_by_case(items: list, key=lambda x: x) -> list:
    seen, out = set(), []
    for item in items:
        if key(item).lower() not in seen:
            seen.add(key(item).lower())
            out.append(item)
    return out


@st.composite
def ends(draw):
    """(src, src_mask, dst, dst_mask) as netsh stores them."""
    if draw(st.booleans()) and draw(st.booleans()):
        server = Address("server", draw(st.sampled_from(SERVER_TYPES)))
        return (server, None, ME, None) if draw(st.booleans()) else (ME, None, server, None)
    family = draw(st.sampled_from([4, 6]))

    def one():
        kind = draw(st.sampled_from(["me", "any", "ip", "range", "dns"]))
        if kind == "me":
            return ME, None
        if kind == "any":
            return ANY, None
        if kind == "dns":
            return Address("dns", draw(st.sampled_from(DNS_NAMES))), None
        ip = draw(st.ip_addresses(v=family))
        if kind == "ip":
            return Address("ip", str(ip)), draw(st.none() | st.integers(0, ip.max_prefixlen))
        other = draw(st.ip_addresses(v=family))
        lo, hi = sorted((ip, other), key=int)
        return Address("range", f"{lo}-{hi}"), None

    (src, smask), (dst, dmask) = one(), one()
    return src, smask, dst, dmask


@st.composite
def filters(draw):
    src, smask, dst, dmask = draw(ends())
    port = st.none() | st.integers(1, 65535)
    return Filter(src, dst, smask, dmask, protocol=draw(st.none() | st.integers(1, 255)), src_port=draw(port),
                  dst_port=draw(port), mirrored=draw(st.booleans()), description=draw(texts))


auth = st.tuples(st.none() | st.booleans(), st.none() | texts, st.lists(texts, max_size=2).map(tuple))


@st.composite
def stores(draw):
    lists = unique_by_case(draw(st.lists(st.builds(FilterList, names, texts, st.lists(filters(), max_size=3)),
                                         max_size=4)), key=lambda f: f.name)
    actions = unique_by_case(draw(st.lists(st.builds(
        FilterAction, names, texts, st.sampled_from(["permit", "block", "negotiate"]), st.booleans(), st.booleans(),
        st.booleans(), st.lists(st.sampled_from(QMSEC), max_size=2).map(tuple)), max_size=3)), key=lambda a: a.name)
    policies = []
    for name in unique_by_case(draw(st.lists(names, max_size=3))):
        rules = []
        if lists and actions:
            for rule_name in unique_by_case(draw(st.lists(names, max_size=3))):
                kerberos, psk, rootca = draw(auth)
                rules.append(Rule(rule_name, draw(st.sampled_from(lists)).name, draw(st.sampled_from(actions)).name,
                                  description=draw(texts),
                                  tunnel=draw(st.none() | st.ip_addresses(v=4).map(str)),
                                  conntype=draw(st.sampled_from(["lan", "dialup", "all"])), active=draw(st.booleans()),
                                  kerberos=kerberos, psk=psk, rootca=rootca))
        kerberos, psk, rootca = draw(auth)
        default = DefaultRule(draw(st.booleans()), draw(st.booleans()),
                              draw(st.lists(st.sampled_from(QMSEC), max_size=2).map(tuple)), kerberos, psk, rootca)
        policies.append(Policy(name, draw(texts), draw(st.booleans()), draw(st.integers(0, 1000)),
                               draw(st.integers(1, 100000)), draw(st.integers(1, 100000)), False,
                               draw(st.lists(st.sampled_from(MMSEC), max_size=3).map(tuple)), default, rules))
    if policies and draw(st.booleans()):
        draw(st.sampled_from(policies)).assigned = True
    return Store({p.name.lower(): p for p in policies}, {f.name.lower(): f for f in lists},
                 {a.name.lower(): a for a in actions})


SETTINGS = {"ipsecdiagnostics": st.integers(0, 7).map(str), "ikelogging": st.integers(0, 1).map(str),
            "strongcrlcheck": st.integers(0, 2).map(str), "ipsecloginterval": st.integers(60, 86400).map(str),
            "ipsecexempt": st.integers(0, 3).map(str), "bootmode": st.sampled_from(["stateful", "block", "permit"]),
            "bootexemptions": st.sampled_from(["none", "TCP:0:80:inbound", "UDP:0:53:outbound TCP:0:3389:inbound"])}


@st.composite
def models(draw):
    model = PolicyModel(stores={"local": draw(stores())})
    if draw(st.booleans()):
        persistent = draw(stores())
        if not persistent.is_empty():
            model.stores["persistent"] = persistent
    for prop in draw(st.lists(st.sampled_from(sorted(SETTINGS)), unique=True)):
        model.settings[prop] = Setting(prop, draw(SETTINGS[prop]))
    return model


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models())
def test_render_then_parse_gives_the_same_model(model):
    script = render_script(model)
    parsed, issues, kind = parse_text(script, "rendered.txt")
    assert kind == "netsh"
    assert parsed == model
    assert [i for i in issues if i.severity == "error"] == []


# Scripts made of real commands, valid or not: whatever they leave, printing it and reading it back changes nothing.
WORDS = ("P", "Q", '"Web Server"', "L", "M", "A", "B", "all")
COMMANDS = (
    "add policy {w} assign={yn}", "add policy name={w} activatedefaultrule={yn}", "add filterlist {w}",
    "add filter filterlist={w} srcaddr={addr} dstaddr={addr} protocol={proto} dstport={port} mirrored={yn}",
    "add filter {w} {addr} {addr}", "add filteraction {w} action={action} soft={yn}",
    "add rule {w} {w} {w} {w}", "set policy {w} assign={yn}", "set filterlist {w} newname={w}",
    "set filteraction name={w} action={action}", "set rule name={w} policy={w} activate={yn}",
    "delete filter filterlist={w} srcaddr={addr} dstaddr={addr}", "delete rule {w} {w}", "delete policy {w}",
    "delete filterlist {w}", "delete filteraction {w}", "delete all", "set store location={store}",
    "set defaultrule policy={w} activate={yn}",
)
ADDRS = ("me", "any", "DNS", "10.0.0.1", "10.0.0.0/24", "192.0.2.1-192.0.2.9", "wsus.example.net", "2001:db8::1")


@st.composite
def command_scripts(draw):
    lines = ["pushd ipsec static"]
    for _ in range(draw(st.integers(0, 25))):
        template = draw(st.sampled_from(COMMANDS))
        lines.append(template.format_map(_Fill(draw)))
    return "\n".join(lines) + "\n"


class _Fill(dict):
    def __init__(self, draw) -> None:
        super().__init__()
        self.draw = draw

    def __missing__(self, key: str) -> str:
        choices = {"w": WORDS, "yn": ("yes", "no", "y", "N"), "addr": ADDRS, "proto": ("ANY", "TCP", "udp", "47"),
                   "port": ("0", "80", "53"), "action": ("permit", "block", "negotiate"),
                   "store": ("local", "persistent")}[key]
        return self.draw(st.sampled_from(choices))


@settings(max_examples=150, deadline=None)
@given(command_scripts())
def test_any_script_result_survives_printing(script):
    model, _, _ = parse_text(script, "random.txt")
    again, issues, _ = parse_text(render_script(model), "rendered.txt")
    assert again == model
    assert [i for i in issues if i.severity == "error"] == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=60), max_size=8))
def test_garbage_never_raises(lines):
    for prefix in ("", "netsh ipsec static ", "pushd ipsec static\n"):
        text = "\n".join(prefix + line for line in lines)
        model, issues, _ = parse_text(text, "garbage.cmd")
        assert all(i.file == "garbage.cmd" and i.severity in ("error", "warning", "info") for i in issues)


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("policy-*")))
def test_every_fixture_survives_printing(name):
    defines = {"1": "192.0.2.25", "2": "192.0.2.26", "RELAY": "192.0.2.27"}
    model, _, _ = parse_text(decode_script((DATA / name).read_bytes()), name, defines)
    again, _, _ = parse_text(render_script(model), "rendered.txt")
    assert again == model


def test_rendered_text():
    model = PolicyModel(stores={"local": Store(
        policies={"p": Policy("P", assigned=True, rules=[Rule("R", "L", "A")])},
        filter_lists={"l": FilterList("L", filters=[Filter(ANY, ME, protocol=6, dst_port=80)])},
        filter_actions={"a": FilterAction("A", action="permit")})}, settings={"ipsecexempt": Setting("ipsecexempt",
                                                                                                       "3")})
    assert render_script(model, "test").splitlines() == [
        "# netsh -f script test",
        "pushd ipsec static",
        'add filterlist name="L"',
        'add filter filterlist="L" srcaddr=any dstaddr=me protocol=6 srcport=0 dstport=80 mirrored=yes',
        'add filteraction name="A" qmpfs=no inpass=no soft=no action=permit',
        'add policy name="P" mmpfs=no qmpermm=0 mmlifetime=480 activatedefaultrule=yes pollinginterval=180',
        'add rule name="R" policy="P" filterlist="L" filteraction="A" conntype=all activate=yes',
        'set policy name="P" assign=yes',
        "popd",
        "pushd ipsec dynamic",
        'set config property=ipsecexempt value="3"',
        "popd",
    ]


def test_a_double_quote_cannot_be_rendered():
    model = PolicyModel(stores={"local": Store(filter_lists={"x": FilterList('say "hi"')})})
    with pytest.raises(RenderError, match="double quote"):
        render_script(model)


def test_ipv6_rendering_is_canonical():
    ip = str(ipaddress.ip_address("2001:db8::1"))
    model = PolicyModel(stores={"local": Store(filter_lists={"v6": FilterList("v6", filters=[
        Filter(Address("ip", ip), Address("range", "2001:db8::5-2001:db8::9"), src_mask=64)])})})
    assert parse_text(render_script(model), "v6.txt")[0] == model
