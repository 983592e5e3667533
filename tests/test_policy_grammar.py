"""Tags, keywords and values as netsh matches them (netsh-ipsec.md §1.0-1.5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.policy import parse_text
from pipeline.policy.grammar import (
    STATIC_SPECS,
    Ambiguous,
    Word,
    bind,
    match_keyword,
    parse_bool,
    parse_bootexemptions,
    parse_mmsec,
    parse_port,
    parse_protocol,
    parse_qmsec,
)
from pipeline.policy.model import ANY, ME, Address, Filter, FilterAction, Origin, Rule
from pipeline.policy.tokenize import decode_script

DATA = Path(__file__).parent / "data"
TAGS = "policy-tags-and-values.cmd"


def fixture(name: str) -> str:
    return decode_script((DATA / name).read_bytes())


def line_of(fragment: str, exact: bool = False) -> int:
    lines = fixture(TAGS).splitlines()
    return next(n for n, line in enumerate(lines, 1) if (line == fragment if exact else fragment in line))


def test_tags_prefixes_positions_and_values():
    model, _, _ = parse_text(fixture(TAGS), TAGS)
    store = model.stores["local"]
    policy = store.policies["tag policy (2026)"]
    assert policy.name == "Tag Policy (2026)"  # positional, quoted, spaces and parentheses
    assert policy.description == "quoted name with spaces and (parentheses)"  # desc=
    assert policy.mmsecmethods == ("3DES-SHA1-2", "3DES-MD5-3")  # mmsec=, any case, normalised
    assert policy.default_rule.active is False  # activatedefaultrule=NO
    assert policy.pollinginterval == 60  # "pollinginterval = 60"
    assert policy.assigned is True  # "set pol ... assign=y"
    assert store.filter_actions == {
        "permit": FilterAction("Permit", action="permit"),  # positional name, PERMIT
        "secure": FilterAction("Secure", qmpfs=True, inpass=False, soft=False, action="negotiate",
                               qmsecmethods=("ESP[3DES,SHA1]:100000k/2000s", "AH[MD5]")),
    }  # "Drop" was added ("description=Block all traffic" joined) and deleted with "del"
    assert list(store.filter_lists) == ["web", "moved"]
    assert store.filter_lists["moved"].description == "moved"
    assert store.filter_lists["web"].filters == [
        Filter(ANY, ME, protocol=6, dst_port=80, mirrored=True, description="HTTP"),  # srca= dsta= proto= mir= desc=
        Filter(ANY, ME, protocol=6, dst_port=443, mirrored=False, description="HTTPS"),  # all positional
        Filter(Address("ip", "10.0.0.0"), ME, src_mask=24, protocol=6, dst_port=8080, mirrored=False),
    ]
    assert policy.rules == [
        Rule("Web in", "Web", "Permit", conntype="lan", active=True, kerberos=True),  # con= act= kerb=
        Rule("Web secure", "Web", "Secure", psk="pre shared key",
             rootca=("C=US, O=Example CA certmap:yes excludecaname:no", "C=US, O=Second CA")),  # rootca twice
    ]


def test_refused_commands_and_warnings():
    model, issues, _ = parse_text(fixture(TAGS), TAGS)
    assert [(i.line, i.severity, i.code) for i in issues] == [
        (line_of("description=Block all traffic"), "warning", "unquoted-text"),
        (line_of("filterlist=web filteraction=Secure"), "warning", "name-case"),
        (line_of('description="moved" Moved'), "warning", "positional-moved"),
        (line_of(" s=any"), "error", "ambiguous-tag"),
        (line_of("colour=red"), "error", "unknown-tag"),
        (line_of("srcaddr=any srcaddr=me"), "error", "tag-repeated"),
        (line_of("mirrored=maybe"), "error", "bad-value"),
        (line_of("dstport=65536"), "error", "bad-value"),
        (line_of("netsh ipsec static add filter filterlist=Web srcaddr=any", exact=True), "error", "missing-tag"),
        (line_of("assign=yes extra"), "error", "bad-value"),
        (line_of("add filterlist A B C"), "error", "unexpected-word"),
        (line_of("static s policy"), "error", "ambiguous-command"),
        (line_of("policyfoo"), "error", "unknown-command"),
    ]
    messages = {i.code: i.message for i in issues}
    assert messages["ambiguous-tag"] == "tag s= is ambiguous: 's' could be srcaddr or srcmask or srcport"
    assert messages["missing-tag"] == "add filter needs dstaddr="
    assert messages["unexpected-word"] == "untagged 'C' fits no tag of add filterlist"
    # the refused "add policy Other" and "add filterlist A" changed nothing
    assert set(model.stores["local"].policies) == {"tag policy (2026)"}
    assert "a" not in model.stores["local"].filter_lists


def test_match_keyword():
    assert match_keyword("FILTER", ("filterlist", "filter", "filteraction")) == "filter"  # exact beats prefix
    assert match_keyword("filterl", ("filterlist", "filter", "filteraction")) == "filterlist"
    assert match_keyword("x", ("add", "set")) is None
    with pytest.raises(Ambiguous, match="filterlist or filteraction"):
        match_keyword("filte", ("filterlist", "filteraction"))


@pytest.mark.parametrize(("text", "value"), [("y", True), ("YES", True), ("Ye", True), ("n", False), ("No", False)])
def test_yes_no(text, value):
    assert parse_bool(text) is value


@pytest.mark.parametrize("text", ["", "true", "yess", "0"])
def test_not_yes_no(text):
    with pytest.raises(ValueError):
        parse_bool(text)


def test_protocols_and_ports():
    assert [parse_protocol(p) for p in ("ANY", "any", "0", "ICMP", "tcp", "Udp", "RAW", "47")] == [
        None, None, None, 1, 6, 17, 255, 47]
    assert [parse_port(p) for p in ("0", "80", "65535")] == [None, 80, 65535]
    for bad in ("256",):
        with pytest.raises(ValueError):
            parse_protocol(bad)
    for bad in ("-1", "http", "65536"):
        with pytest.raises(ValueError):
            parse_port(bad)


def test_security_methods():
    assert parse_qmsec("esp[3des,sha1] AH[md5]:204800k/300s ah[sha1]+esp[des,none]:1k/2s") == (
        "ESP[3DES,SHA1]", "AH[MD5]:204800k/300s", "AH[SHA1]+ESP[DES,NONE]:1k/2s")
    assert parse_mmsec("3des-sha1-2 DES-MD5-1") == ("3DES-SHA1-2", "DES-MD5-1")
    for bad in ("ESP[3DES]", "ESP[3DES,SHA1]:100k", "ESP[FOO,SHA1]"):
        with pytest.raises(ValueError):
            parse_qmsec(bad)
    with pytest.raises(ValueError):
        parse_mmsec("3DES-SHA1 DHGroup2")  # the malformed example of the current docs


def test_bootexemptions():
    assert parse_bootexemptions("NONE") == "none"
    assert parse_bootexemptions("tcp:0:80:Inbound 17:0:53:outbound") == "TCP:0:80:inbound 17:0:53:outbound"
    for bad in ("tcp:0:80", "tcp:0:70000:inbound", "tcp:0:80:sideways"):
        with pytest.raises(ValueError):
            parse_bootexemptions(bad)


ORIGIN = Origin("t.cmd", 1, "")


def words(*items: str) -> list[Word]:
    out = []
    for item in items:
        tag, eq, value = item.partition("=")
        out.append(Word(item, tag if eq else None, value if eq else item))
    return out


def test_positional_value_fills_its_documented_position():
    # [S10]: "add filter filterlist=block any srcmask=32 ... dstaddr=me": any is srcaddr (position 2)
    args, _, issues = bind(STATIC_SPECS[("add", "filter")], words("filterlist=block", "any", "srcmask=32",
                                                                   "dstaddr=me"), ORIGIN)
    assert args == {"filterlist": "block", "srcaddr": ANY, "srcmask": 32, "dstaddr": ME}
    assert issues == []


def test_all_in_place_of_a_name():
    args, _, _ = bind(STATIC_SPECS[("delete", "rule")], words("all", "ipsec_base_config"), ORIGIN)
    assert args == {"all": True, "policy": "ipsec_base_config"}
    args, _, _ = bind(STATIC_SPECS[("delete", "policy")], [Word("all", None, "all", quoted=True)], ORIGIN)
    assert args == {"name": "all"}  # a quoted "all" is a name


def test_unquoted_description_takes_following_words_until_a_tag():
    args, _, issues = bind(STATIC_SPECS[("add", "filteraction")],
                           words("name=X", "description=Permit", "yes", "no", "action=permit"), ORIGIN)
    assert args == {"name": "X", "description": "Permit yes no", "action": "permit"}
    assert [i.code for i in issues] == ["unquoted-text"]
