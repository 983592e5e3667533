"""Commands applied in order with netsh's semantics; a refused command changes nothing and the script goes on."""

from __future__ import annotations

from pathlib import Path

from pipeline.policy import parse_text
from pipeline.policy.grammar import CONFIG_SPEC, DYNAMIC, STATIC, STATIC_SPECS
from pipeline.policy.interpret import HANDLERS
from pipeline.policy.model import ANY, ME, Address, DefaultRule, Filter, FilterAction, Policy, Rule
from pipeline.policy.tokenize import decode_script

DATA = Path(__file__).parent / "data"


def fixture(name: str) -> str:
    return decode_script((DATA / name).read_bytes())


def run(name: str):
    return parse_text(fixture(name), name)


def line_of(name: str, fragment: str) -> int:
    return next(n for n, line in enumerate(fixture(name).splitlines(), 1) if fragment in line)


SEMANTICS = "policy-semantics.cmd"


def test_semantics_final_model():
    model, _, _ = run(SEMANTICS)
    local = model.stores["local"]
    assert list(local.policies) == ["p1", "p2"]  # "p1" refused as a duplicate, Doomed deleted
    p1 = local.policies["p1"]
    assert p1.assigned and not local.policies["p2"].assigned  # one assigned policy at a time
    assert p1.default_rule == DefaultRule(active=False, kerberos=True)
    assert p1.rules == [
        Rule("R1", "SSH", "A1"),  # the list renamed by "set filterlist newname=" is followed
        Rule("R3b", "L1", "A1", active=False, description="second rule"),  # set rule newname, then id=2
    ]
    assert local.filter_actions == {"a1": FilterAction("A1", action="block")}  # A2 deleted once unused
    assert list(local.filter_lists) == ["l1", "ssh"]
    assert local.filter_lists["l1"].filters == []
    assert local.filter_lists["ssh"].filters == [  # the UDP filter deleted, the in-use list kept
        Filter(ANY, ME, protocol=6, dst_port=22),
        Filter(Address("ip", "10.0.0.1"), ME),
    ]
    assert list(model.stores) == ["local", "persistent"]
    assert model.stores["persistent"].policies == {"boot": Policy("Boot", assigned=True)}


def test_semantics_errors_are_reported_once_each_with_their_line():
    _, issues, _ = run(SEMANTICS)
    line = lambda fragment: line_of(SEMANTICS, fragment)  # noqa: E731
    assert [(i.line, i.severity, i.code) for i in issues] == [
        (line("name=p1"), "error", "already-exists"),
        (line("name=L1") + 1, "error", "already-exists"),
        (line("filterlist=L2 srcaddr=any dstaddr=me protocol=tcp"), "info", "filterlist-created"),
        (line("name=A1 action=permit"), "error", "already-exists"),
        (line("name=R1") + 1, "error", "already-exists"),
        (line("policy=Missing"), "error", "no-such-policy"),
        (line("policy=Missing"), "error", "no-such-filterlist"),
        (line("policy=Missing"), "error", "no-such-filteraction"),
        (line("policy=Missing"), "error", "rule-refused"),
        (line("set policy name=P1 assign=yes"), "info", "unassigned"),
        (line("guid="), "error", "guid-unknown"),
        (line("protocol=icmp"), "error", "no-such-filter"),
        (line("delete filterlist name=SSH"), "error", "in-use"),
        (line("id=2"), "warning", "rule-id"),
        (line("location=persistent"), "info", "store"),
        (line("importpolicy"), "warning", "import-not-followed"),
    ]
    texts = {i.code: i.text for i in issues}
    assert texts["guid-unknown"] == ("netsh ipsec static set filteraction "
                                     "guid={11E6E97E-0031-49f5-AC7D-5F2FE99BABAF} inpass=y")


def test_cleanup_sequence_with_all():
    model, issues, _ = run("policy-cleanup.cmd")
    assert model.stores["local"].is_empty()  # del ... all, then "delete all" after re-adding
    assert {k: s.value for k, s in model.settings.items()} == {"ipsecexempt": "3"}  # delete all keeps settings
    assert [(i.line, i.code) for i in issues] == [
        (line_of("policy-cleanup.cmd", "filterlist=blocklist"), "filterlist-created"),
        (line_of("policy-cleanup.cmd", "del filterlist all"), "in-use"),  # the rule still used it
    ]


def test_dynamic_config_forms():
    model, issues, _ = run("policy-dynamic-config.cmd")
    assert {k: s.value for k, s in model.settings.items()} == {
        "ipsecdiagnostics": "7", "ipsecloginterval": "60", "ipsecexempt": "2", "bootmode": "stateful",
        "bootexemptions": "TCP:0:3389:inbound UDP:0:53:outbound", "strongcrlcheck": "1", "ikelogging": "1"}
    assert model.settings["ipsecexempt"].origin.text == "netsh ipsec dynamic set config prop=ipsecexempt val=2"
    line = lambda fragment: line_of("policy-dynamic-config.cmd", fragment)  # noqa: E731
    assert [(i.line, i.severity, i.code) for i in issues] == [
        (line("ipsecexempt 4"), "error", "bad-value"),
        (line("ipsecloginterval 10"), "error", "bad-value"),
        (line("bootmode open"), "error", "bad-value"),
        (line("loglevel"), "error", "bad-value"),
        (line("dynamic delete all"), "warning", "dynamic-not-modelled"),
        (line("dynamic add rule"), "warning", "dynamic-not-modelled"),
    ]


def test_defaults_of_a_bare_script():
    model, issues, _ = parse_text("netsh ipsec static add policy name=netbc\n"
                                  "netsh ipsec static add filteraction name=A\n"
                                  "netsh ipsec static add filter filterlist=block srcaddr=any dstaddr=me\n", "d.cmd")
    store = model.stores["local"]
    # [S10] show output of "add policy name=netbc": Polling Interval 180 minutes, Master PFS NO; default rule yes [S20b]
    assert store.policies["netbc"] == Policy("netbc", mmpfs=False, pollinginterval=180, mmlifetime=480, qmpermm=0,
                                             assigned=False, default_rule=DefaultRule(active=True))
    assert store.filter_actions["a"] == FilterAction("A", action="negotiate", qmpfs=False, inpass=False, soft=False)
    assert store.filter_lists["block"].filters == [Filter(ANY, ME, protocol=None, src_port=None, dst_port=None,
                                                          mirrored=True)]
    assert [i.code for i in issues] == ["filterlist-created"]


def test_renaming_an_action_follows_into_rules_and_refuses_clashes():
    script = ("pushd ipsec static\nadd policy P\nadd filterlist L\nadd filteraction A action=block\n"
              "add filteraction B action=permit\nadd rule R P L A\nset filteraction A newname=Blocker\n"
              "set filteraction B newname=blocker\nset policy P newname=Q\n")
    model, issues, _ = parse_text(script, "r.txt")
    store = model.stores["local"]
    assert {k: a.name for k, a in store.filter_actions.items()} == {"blocker": "Blocker", "b": "B"}
    assert [(r.name, r.filter_action) for r in store.policies["q"].rules] == [("R", "Blocker")]
    assert [(i.line, i.code) for i in issues] == [(8, "already-exists")]
    model, issues, _ = parse_text(script + "delete filterlist L\ndelete policy Q\ndelete filterlist L\n", "r.txt")
    assert model.stores["local"].policies == {} and model.stores["local"].filter_lists == {}
    assert [(i.line, i.code) for i in issues] == [(8, "already-exists"), (10, "in-use")]


def test_server_type_forces_me_on_the_other_end():
    model, issues, _ = parse_text("netsh ipsec static add filter filterlist=L srcaddr=10.0.0.1 dstaddr=DNS\n"
                                  "netsh ipsec static add filter filterlist=L srcaddr=dns dstaddr=me\n", "s.cmd")
    assert model.stores["local"].filter_lists["l"].filters == [
        Filter(ME, Address("server", "DNS")), Filter(Address("server", "DNS"), ME)]
    assert [i.code for i in issues] == ["server-implies-me", "filterlist-created"]


def test_delete_filter_with_only_required_tags_deletes_every_match():
    model, _, _ = parse_text(
        "netsh ipsec static add filter filterlist=L srcaddr=any dstaddr=me protocol=tcp dstport=80\n"
        "netsh ipsec static add filter filterlist=L srcaddr=any dstaddr=me protocol=tcp dstport=443\n"
        "netsh ipsec static add filter filterlist=L srcaddr=me dstaddr=any protocol=tcp dstport=443\n"
        "netsh ipsec static delete filter filterlist=L srcaddr=any dstaddr=me\n", "del.cmd")
    assert model.stores["local"].filter_lists["l"].filters == [Filter(ME, ANY, protocol=6, dst_port=443)]


def test_delete_filter_compares_a_missing_mask_as_a_full_mask():
    model, _, _ = parse_text(
        "netsh ipsec static add filter filterlist=L srcaddr=10.0.0.1 dstaddr=me\n"
        "netsh ipsec static add filter filterlist=L srcaddr=10.0.0.1 srcmask=24 dstaddr=me\n"
        "netsh ipsec static delete filter filterlist=L srcaddr=10.0.0.1 dstaddr=me srcmask=255.255.255.255\n",
        "mask.cmd")
    assert model.stores["local"].filter_lists["l"].filters == [Filter(Address("ip", "10.0.0.1"), ME, src_mask=24)]


def test_ports_without_tcp_or_udp_are_kept_with_a_warning():
    model, issues, _ = parse_text("netsh ipsec static add filter filterlist=L srcaddr=any dstaddr=me dstport=80\n",
                                  "p.cmd")
    assert model.stores["local"].filter_lists["l"].filters == [Filter(ANY, ME, dst_port=80)]
    assert [i.code for i in issues] == ["port-without-tcp-udp", "filterlist-created"]


def test_non_ipsec_and_unknown_netsh_commands():
    _, issues, _ = parse_text("netsh interface ip show address\nnetsh bogus thing\nnetsh ipsec frobnicate\n"
                              "netsh ipsec static show policy all\nnetsh ipsec static exportpolicy file=x.ipsec\n",
                              "n.cmd")
    assert [(i.line, i.severity, i.code) for i in issues] == [
        (1, "warning", "not-ipsec"), (2, "error", "unknown-command"), (3, "error", "unknown-command"),
        (5, "info", "export-ignored")]


def test_dispatch_table_covers_exactly_the_grammar():
    # every static command the grammar knows has one handler, and nothing else does; dynamic: set config only
    static = {(verb, noun) for (context, verb, noun) in HANDLERS if context == STATIC}
    assert static == set(STATIC_SPECS)
    assert {key for key in HANDLERS if key[0] == DYNAMIC} == {(DYNAMIC, "set", "config")}
    assert all(spec is STATIC_SPECS[(verb, noun)] for (context, verb, noun), (spec, _) in HANDLERS.items()
               if context == STATIC)
    assert HANDLERS[(DYNAMIC, "set", "config")][0] is CONFIG_SPEC


def test_dispatch_goes_through_the_table(monkeypatch):
    # replacing a table entry changes what the command does: the table, not method names, decides
    seen = []
    spec, _ = HANDLERS[(STATIC, "add", "policy")]
    monkeypatch.setitem(HANDLERS, (STATIC, "add", "policy"), (spec, lambda interp, c: seen.append(c.args)))
    model, issues, _ = parse_text("netsh ipsec static add policy P assign=y\n", "t.cmd")
    assert seen == [{"name": "P", "assign": True}]
    assert model.stores["local"].policies == {} and issues == []
