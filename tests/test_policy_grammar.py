"""Tags, keywords and values as netsh matches them (netsh-ipsec.md §1.0-1.5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.policy import analyse_text, parse_text
from pipeline.policy.grammar import (
    STATIC_SPECS,
    Ambiguous,
    Word,
    bind,
    mask_secrets,
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
        (line_of('"Other action" maybe'), "error", "bad-value"),  # untagged, invalid, a tag follows: refused
        (line_of("add filterlist A B C"), "error", "unexpected-word"),  # C fits no position, a tag follows
        (line_of("static s policy"), "error", "ambiguous-command"),
        (line_of("policyfoo"), "error", "unknown-command"),
    ]
    messages = {i.code: i.message for i in issues}
    assert messages["ambiguous-tag"] == "tag s= is ambiguous: 's' could be srcaddr or srcmask or srcport"
    assert messages["missing-tag"] == "add filter needs dstaddr="
    assert messages["unexpected-word"] == "untagged 'C' fits no tag of add filterlist"
    assert messages["bad-value"] == "untagged 'maybe' in the place of qmpfs=: 'maybe' is not yes or no"
    # the refused "add filteraction Other" and "add filterlist A" changed nothing
    assert "other" not in model.stores["local"].filter_actions
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


# --- trailing words: comments after a complete command ----------------------------------------------------

TRAILING = "policy-trailing-words.cmd"


def trailing_line(fragment: str) -> int:
    return next(n for n, line in enumerate(fixture(TRAILING).splitlines(), 1) if fragment in line)


def test_trailing_words_keep_the_command_and_are_reported():
    model, issues, _ = parse_text(fixture(TRAILING), TRAILING)
    store = model.stores["local"]
    policy = store.policies["服务器锁定"]
    assert (policy.description, policy.mmpfs, policy.assigned) == ("", False, True)  # "启用" is not a description
    assert {a.name: a.action for a in store.filter_actions.values()} == {"允许": "permit", "阻止": "block"}
    assert store.filter_lists["远程桌面"].filters == [Filter(ANY, ME, protocol=6, dst_port=3389)]
    assert store.filter_lists["网站"].filters == [
        Filter(ANY, ME, protocol=6, dst_port=80),  # "网站 HTTP" dropped, not mirrored=网站
        Filter(ANY, ME, protocol=6, dst_port=8443, description="HTTPS alt"),  # positional, then a tag
        Filter(Address("ip", "10.0.0.0"), ME, src_mask=24, protocol=6, description="内网"),  # all positional
    ]
    assert store.filter_lists["所有"].filters == [Filter(ANY, ANY)]  # "所有流量" is no description
    assert [(r.name, r.filter_list, r.filter_action, r.tunnel) for r in policy.rules] == [
        ("远程桌面", "远程桌面", "允许", None), ("网站", "网站", "允许", None), ("所有", "所有", "阻止", None)]
    assert model.settings["ipsecexempt"].value == "3"
    trailing = [(i.line, i.severity, i.message.split(" ignored ")[0]) for i in issues if i.code == "trailing-words"]
    assert trailing == [
        (trailing_line("服务器锁定策略"), "warning", "trailing '服务器锁定策略'"),
        (trailing_line("允许通过"), "warning", "trailing '允许通过'"),
        (trailing_line("阻止所有"), "warning", "trailing '阻止所有'"),
        (trailing_line("dstport=3389 远程桌面"), "warning", "trailing '远程桌面'"),
        (trailing_line("网站 HTTP"), "warning", "trailing '网站 HTTP'"),
        (trailing_line("所有流量"), "warning", "trailing '所有流量'"),
        (trailing_line("远程桌面规则"), "warning", "trailing '远程桌面规则'"),
        (trailing_line("-- web"), "warning", "trailing '-- web'"),
        (trailing_line("# block the rest"), "warning", "trailing '# block the rest'"),
        (trailing_line("启用"), "warning", "trailing '启用'"),
        (trailing_line("只豁免IKE"), "warning", "trailing '只豁免IKE'"),
    ]
    assert all(i.file == TRAILING and i.text for i in issues)
    assert not [i for i in issues if i.severity == "error"]
    by_line = {i.line: i.message for i in issues if i.code == "trailing-words"}
    assert "(after tagged values, not read as mirrored=)" in by_line[trailing_line("dstport=3389 远程桌面")]
    assert "(no value for tunnel=: '--' is not" in by_line[trailing_line("-- web")]
    assert "(every position is taken)" in by_line[trailing_line("只豁免IKE")]


def test_trailing_words_without_the_fix_would_lose_the_filter():
    # the exact line from the issue: the filter exists, with a warning naming the words
    line = words("filterlist=RDP", "srcaddr=any", "dstaddr=me", "protocol=TCP", "dstport=3389", "远程桌面")
    args, _, issues = bind(STATIC_SPECS[("add", "filter")], line, ORIGIN)
    assert args == {"filterlist": "RDP", "srcaddr": ANY, "dstaddr": ME, "protocol": 6, "dstport": 3389}
    assert [(i.severity, i.code) for i in issues] == [("warning", "trailing-words")]


@pytest.mark.parametrize(("items", "expected", "codes"), [
    # positional values before a tag, or starting the command, are positional as ever
    (("filterlist=L", "any", "dstaddr=me"), {"filterlist": "L", "srcaddr": ANY, "dstaddr": ME}, []),
    (("L", "any", "me"), {"filterlist": "L", "srcaddr": ANY, "dstaddr": ME}, []),
    (("L", "any", "me", "web"), {"filterlist": "L", "srcaddr": ANY, "dstaddr": ME, "description": "web"}, []),
    # a required position still takes a word after a tag
    (("filterlist=L", "srcaddr=any", "me"), {"filterlist": "L", "srcaddr": ANY, "dstaddr": ME}, []),
    # a forgotten "dstport=": 3389 is trailing, the filter is kept (any port) and the warning says so
    (("filterlist=L", "srcaddr=any", "dstaddr=me", "protocol=TCP", "3389"),
     {"filterlist": "L", "srcaddr": ANY, "dstaddr": ME, "protocol": 6}, ["trailing-words"]),
    # every word after the first trailing one is trailing too, valid or not
    (("L", "any", "me", "description=d", "protocol=tcp", "rem", "yes", "24"),
     {"filterlist": "L", "srcaddr": ANY, "dstaddr": ME, "description": "d", "protocol": 6}, ["trailing-words"]),
    # dropping the trailing words cannot make a command complete: a missing dstaddr is still an error
    (("filterlist=L", "srcaddr=any", "远程桌面"), None, ["trailing-words", "missing-tag"]),
    # an invalid untagged word before a tag is no comment: refused as before
    (("filterlist=L", "远程桌面", "srcaddr=any", "dstaddr=me"), None, ["bad-value"]),
])
def test_which_words_are_trailing(items, expected, codes):
    args, _, issues = bind(STATIC_SPECS[("add", "filter")], words(*items), ORIGIN)
    assert args == expected
    assert [i.code for i in issues] == codes


def test_a_long_trailing_comment_is_reported_shortened():
    comment = ["很长的注释"] * 30_000
    args, _, issues = bind(STATIC_SPECS[("add", "filterlist")], words("name=L", *comment), ORIGIN)
    assert args == {"name": "L"}
    (issue,) = issues
    assert "... (30000 words)" in issue.message and len(issue.message) < 300


# --- preshared keys never reach a report -----------------------------------------------------------------

SECRET_SCRIPT = (
    "netsh ipsec static add policy P\r\n"
    "netsh ipsec static add filterlist L\r\n"
    "netsh ipsec static add filter filterlist=L srcaddr=any dstaddr=me\r\n"
    "netsh ipsec static add filteraction A\r\n"
    'netsh ipsec static add rule name=R1 policy=P filterlist=L filteraction=A psk="hunter1 key" kerberos=maybe\r\n'
    "netsh ipsec static add rule name=R2 policy=P filterlist=L filteraction=A psk=hunter2 secret words\r\n"
    "netsh ipsec static add rule R3 P L A 10.0.0.9 all yes d yes hunter3\r\n"
    "netsh ipsec static set defaultrule P ps = hunter4 colour=red\r\n"
    "netsh ipsec static add rule name=R5 policy=P filterlist=L filteraction=A psk=hunter5\x00 \x1a\r\n")


def test_preshared_keys_are_masked_in_every_report():
    analysis = analyse_text(SECRET_SCRIPT, "keys.cmd")
    everything = analysis.issues + analysis.lint()
    assert {i.code for i in everything} >= {"bad-value", "unquoted-text", "unknown-tag", "preshared-key",
                                            "nul-characters"}
    for issue in everything:
        assert "hunter" not in str(issue) and "hunter" not in issue.text and "secret" not in issue.message, issue
    rules = analysis.model.stores["local"].policies["p"].rules
    assert [(r.name, r.psk) for r in rules] == [("R2", "hunter2 secret words"), ("R3", "hunter3"), ("R5", "hunter5")]
    assert all("hunter" not in r.origin.text for r in rules)
    assert mask_secrets('add rule R psk="a b" kerberos=yes') == "add rule R psk=*** kerberos=yes"
    assert mask_secrets("add rule R PSK = a b kerberos=yes") == "add rule R PSK = *** kerberos=yes"
    assert mask_secrets("description=no-psk=x apsk=y") == "description=no-psk=x apsk=y"  # not a psk tag
