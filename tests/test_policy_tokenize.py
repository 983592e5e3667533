"""Script lines -> netsh commands: cmd.exe batch syntax and netsh -f context scripts (netsh-ipsec.md §4)."""

from __future__ import annotations

import codecs
import random
from pathlib import Path

from pipeline.config import parse_config
from pipeline.policy import analyse_text, parse_text
from pipeline.policy.grammar import Word
from pipeline.policy.model import ANY, ME, Address, Filter
from pipeline.policy.tokenize import (
    decode_script,
    expand_percent,
    physical_lines,
    script_kind,
    split_batch_commands,
    split_words,
    tokenize,
)

DATA = Path(__file__).parent / "data"
FUZZ_CONFIG = parse_config('[hosts.H]\naddresses = ["10.0.0.1", "2001:db8::1"]\ndns = ["10.0.0.2"]\n')


def fixture(name: str) -> str:
    return decode_script((DATA / name).read_bytes())


def line_of(name: str, fragment: str) -> int:
    """1-based number of the first line of fixture ``name`` that holds ``fragment``."""
    for number, line in enumerate(fixture(name).splitlines(), 1):
        if fragment in line:
            return number
    raise AssertionError(f"{fragment!r} is not in {name}")


def codes(issues) -> list[tuple[int, str, str]]:
    return [(i.line, i.severity, i.code) for i in issues]


# --- batch files -----------------------------------------------------------------------------------------

BATCH = "policy-batch-syntax.cmd"
RELAYS = {"1": "192.0.2.25", "2": '"192.0.2.26"'}


def test_batch_file_model():
    model, issues, kind = parse_text(fixture(BATCH), BATCH, RELAYS)
    assert kind == "batch"
    assert list(model.stores) == ["local"]  # "netsh -r otherhost ... delete all" was not applied
    store = model.stores["local"]
    policy = store.policies["batch policy"]
    # set "POL=..." (quotes around the assignment), %% -> %, the unquoted word "tested" joined to description
    assert (policy.name, policy.description, policy.assigned) == ("Batch Policy", "100% tested", True)
    assert [(r.name, r.filter_list, r.filter_action) for r in policy.rules] == [
        ("Mail", "Mail", "Permit"), ("Web", "Web", "Block")]
    # netsh.exe with a redirection, a full path to netsh.exe, and "%SystemRoot%\...\netsh.exe" -c ipsec
    assert {a.name: a.action for a in store.filter_actions.values()} == {"Permit": "permit", "Block": "block"}
    assert list(store.filter_lists) == ["mail", "web"]
    # %1 and %~2 (quotes removed) from the defines; a ^ continuation joins the next line
    assert store.filter_lists["mail"].filters == [
        Filter(Address("ip", "192.0.2.25"), ME, protocol=6, dst_port=25),
        Filter(Address("ip", "192.0.2.26"), ME, protocol=6, dst_port=110),
    ]
    web = store.filter_lists["web"].filters
    # || echo, | find (dropped), 8^080 (escaped), the if line passed over, 9999 skipped by goto, %RELAY% unresolved
    assert [f.dst_port for f in web] == [80, 8080, 8443, 2525]
    assert all(f.src == ANY for f in web[:3])
    assert web[3].src == Address("variable", "%RELAY%")
    assert model.settings == {}


def test_batch_file_problems_name_their_line():
    _, issues, _ = parse_text(fixture(BATCH), BATCH, RELAYS)
    line = lambda fragment: line_of(BATCH, fragment)  # noqa: E731
    assert codes(issues) == [
        (line("description=100%%"), "warning", "unquoted-text"),
        (line("filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=80 "), "info", "filterlist-created"),
        (line('if "%3"'), "warning", "unresolved-variable"),
        (line('if "%3"'), "warning", "not-evaluated"),
        (line("netsh -r"), "warning", "remote-computer"),
        (line("netsh -f"), "warning", "script-not-followed"),
        (line("# a netsh comment"), "warning", "comment-style"),
        (line("foo.exe"), "warning", "not-netsh"),
        (line("netsh firewall"), "warning", "not-ipsec"),
        (line("%RELAY%"), "warning", "unresolved-variable"),
    ]
    by_code = {i.code: i for i in issues}
    assert by_code["unresolved-variable"].file == BATCH
    assert by_code["not-netsh"].text == "foo.exe --do-something"
    assert "--define RELAY=value" in [i for i in issues if "%RELAY%" in i.message][0].message


def test_batch_continuation_keeps_first_line_and_both_texts():
    model, _, _ = parse_text(fixture(BATCH), BATCH, RELAYS)
    first = model.stores["local"].filter_lists["mail"].filters[0]
    assert first.origin.line == line_of(BATCH, "dstaddr=me ^")
    assert first.origin.text == ("netsh ipsec static add filter filterlist=%LIST% srcaddr=%1 dstaddr=me ^\n"
                                 "    protocol=tcp dstport=25")


def test_batch_arguments_left_unresolved_without_defines():
    model, issues, _ = parse_text(fixture(BATCH), BATCH)
    mail = model.stores["local"].filter_lists["mail"].filters
    assert [f.src for f in mail] == [Address("variable", "%1"), Address("variable", "%~2")]
    unresolved = [i.message.split()[0] for i in issues if i.code == "unresolved-variable"]
    assert unresolved == ["%1", "%~2", "%3", "%RELAY%"]


def test_defines_override_nothing_set_later_in_the_script():
    # cmd.exe semantics: "set LIST=Mail" in the script wins over the environment from --define
    model, _, _ = parse_text(fixture(BATCH), BATCH, {**RELAYS, "LIST": "Other", "RELAY": "192.0.2.99"})
    store = model.stores["local"]
    assert list(store.filter_lists) == ["mail", "web"]
    assert store.filter_lists["web"].filters[3].src == Address("ip", "192.0.2.99")


def test_goto_backwards_and_missing_label_stop_reading():
    text = "netsh ipsec static add policy A\n:again\nnetsh ipsec static add policy B\ngoto again\n" \
           "netsh ipsec static add policy C\n"
    model, issues, _ = parse_text(text, "loop.cmd")
    assert list(model.stores["local"].policies) == ["a", "b"]
    assert codes(issues) == [(4, "warning", "goto-backwards")]
    model, issues, _ = parse_text("netsh ipsec static add policy A\ngoto nowhere\nnetsh ipsec static add policy B\n",
                                  "label.cmd")
    assert list(model.stores["local"].policies) == ["a"]
    assert codes(issues) == [(2, "error", "goto-missing-label")]


def test_exit_b_ends_a_batch_file():
    model, _, _ = parse_text("@netsh ipsec static add policy A\nexit /b 0\nnetsh ipsec static add policy B\n", "x.cmd")
    assert list(model.stores["local"].policies) == ["a"]


def test_set_with_spaces_is_read_without_them_and_warned():
    model, issues, _ = parse_text("set NAME = Spaced\nnetsh ipsec static add policy %NAME%\n", "set.cmd")
    assert list(model.stores["local"].policies) == ["spaced"]
    assert codes(issues) == [(1, "warning", "set-spaces")]


def test_open_quote_runs_to_the_end_of_the_line():
    model, issues, _ = parse_text('netsh ipsec static add policy name="Open ended\n', "q.cmd")
    assert [p.name for p in model.stores["local"].policies.values()] == ["Open ended"]
    assert codes(issues) == [(1, "warning", "open-quote")]


def test_pushd_in_a_batch_file_is_not_a_netsh_context():
    model, issues, _ = parse_text("pushd ipsec static\nnetsh ipsec static add policy A\n", "p.cmd")
    assert list(model.stores["local"].policies) == ["a"]
    assert codes(issues) == [(1, "warning", "context-in-batch")]


# --- netsh -f scripts ------------------------------------------------------------------------------------

CONTEXT = "policy-context-script.txt"


def test_context_script_model():
    model, issues, kind = parse_text(fixture(CONTEXT), CONTEXT)
    assert kind == "netsh"
    store = model.stores["local"]
    policy = store.policies["context policy"]
    # activatedefaultrule=no, assigned from the root context with a full path, description set after ".." + "static"
    assert (policy.assigned, policy.default_rule.active, policy.description) == (
        True, False, "reached by .. then static")
    assert [(r.name, r.filter_list, r.filter_action) for r in policy.rules] == [("No telnet", "Telnet", "Block")]
    assert store.filter_lists["telnet"].filters == [Filter(ANY, ME, protocol=6, dst_port=23)]  # inline comment cut
    # netsh -f does not expand %: the list is literally named %LIST%
    assert store.filter_lists["%list%"].filters == [Filter(ANY, ME)]
    # set config from "ipsec dynamic" (bare context name) and from pushd ipsec dynamic; nothing after "exit"
    assert {k: s.value for k, s in model.settings.items()} == {"ipsecdiagnostics": "7", "ipsecexempt": "3"}


def test_context_script_problems():
    _, issues, _ = parse_text(fixture(CONTEXT), CONTEXT)
    line = lambda fragment: line_of(CONTEXT, fragment)  # noqa: E731
    filter_line = line('add filter filterlist="%LIST%"')
    assert codes(issues) == [
        (line("# inline comment"), "warning", "inline-comment"),
        (line("REM a batch comment"), "warning", "comment-style"),
        (filter_line, "warning", "percent-in-netsh-script"),
        (filter_line, "info", "filterlist-created"),
        (filter_line + 1, "warning", "popd-empty"),
        (filter_line + 2, "warning", "popd-empty"),
    ]


def test_unknown_context_is_an_error_and_commands_stay_in_the_root():
    model, issues, _ = parse_text("pushd ipsec statik\nadd policy X\n", "ctx.txt")
    assert codes(issues) == [(1, "error", "unknown-context"), (2, "error", "unknown-command")]
    assert model.stores["local"].policies == {}


def test_context_commands_and_contexts_are_prefixes():
    model, _, _ = parse_text("pushd ipsec st\nadd policy X\npopd\npushd ipsec dyn\nset config ipsecexempt 3\n", "p.txt")
    assert list(model.stores["local"].policies) == ["x"]
    assert model.settings["ipsecexempt"].value == "3"


# --- the pieces ------------------------------------------------------------------------------------------

def test_script_kind():
    assert script_kind(["@echo off", "@NETSH.EXE ipsec static add policy X"]) == "batch"
    assert script_kind(['"C:\\Windows\\system32\\netsh" ipsec static show all']) == "batch"
    assert script_kind(["# run with netsh -f", "pushd ipsec static", "add policy X"]) == "netsh"


def test_split_words_quotes_and_spaces_around_equals():
    words, open_quote = split_words('add policy name = "Allow HTTP" desc= action=block "a=b" x= "y z" =v')
    assert not open_quote
    assert words == [
        Word("add", None, "add"), Word("policy", None, "policy"),
        Word("name=Allow HTTP", "name", "Allow HTTP", True),
        Word("desc=", "desc", ""),  # followed by a tagged word: stays empty
        Word("action=block", "action", "block"),
        Word("a=b", None, "a=b", True),  # a quoted = is not a tag separator
        Word("x=y z", "x", "y z", True),
        Word("=v", "", "v"),  # nothing untagged before it to attach to
    ]


def test_expand_percent():
    text, unresolved = expand_percent("%%1 %1 %~2 %* %Pol% %pol:~0,2% %UNDEF% 50% done",
                                      {"pol": "Web"}, {"1": "a", "2": '"b c"', "*": "a b"})
    assert text == "%1 a b c a b Web %pol:~0,2% %UNDEF% 50% done"
    assert unresolved == ["%pol:~0,2%", "%UNDEF%"]


def test_split_batch_commands():
    assert split_batch_commands('a x & b && c || d | find "x" & e ^& f > out.txt 2>&1 "g & h" <in.txt') == [
        "a x", "b", "c", "d", 'e & f   "g & h"']
    assert split_batch_commands("netsh ipsec static add policy X>nul 2>nul") == ["netsh ipsec static add policy X"]


def test_encodings_give_the_same_model():
    text = fixture(BATCH)
    reference, _, _ = parse_text(text, BATCH, RELAYS)
    for data in (codecs.BOM_UTF16_LE + text.encode("utf-16-le"), codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
                 codecs.BOM_UTF8 + text.encode("utf-8"), text.replace("\r\n", "\n").encode("cp1252")):
        model, _, _ = parse_text(decode_script(data), BATCH, RELAYS)
        assert model == reference


def test_ansi_script_decodes_as_windows_1252():
    data = 'netsh ipsec static add policy name=P description="Müller’s policy"\r\n'.encode("cp1252")
    model, _, _ = parse_text(decode_script(data), "ansi.cmd")
    assert model.stores["local"].policies["p"].description == "Müller’s policy"


def test_tokenize_reports_context_of_each_line():
    tokens = tokenize("pushd ipsec dynamic\nset config ipsecexempt 3\npopd\nipsec static add policy X\n", "c.txt")
    assert [(line.origin.line, line.context, line.words[0].text) for line in tokens.lines] == [
        (2, ("ipsec", "dynamic"), "set"), (4, (), "ipsec")]


def test_netsh_c_takes_a_context_path_and_rootca_keeps_escaped_quotes():
    model, issues, _ = parse_text(
        'netsh -c "ipsec static" add policy P\n'
        'netsh -c ipsec static add filteraction A action=negotiate\n'
        'netsh ipsec static add filterlist L\n'
        "netsh ipsec static add rule R P L A rootca=\"CN=O\\'Reilly CA certmap:yes excludecaname:no\"\n", "c.cmd")
    rule = model.stores["local"].policies["p"].rules[0]
    assert rule.rootca == ("CN=O\\'Reilly CA certmap:yes excludecaname:no",)
    assert issues == []


# --- hostile and unusual input: nothing raises, everything not applied is reported with its line -------

HOSTILE = "policy-hostile-input.cmd"


def test_hostile_lines_are_each_reported_and_the_rest_applied():
    model, issues, kind = parse_text(fixture(HOSTILE), HOSTILE)
    assert kind == "batch"
    assert [(i.line, i.severity, i.code) for i in issues] == [
        (3, "error", "unknown-command"),  # unknown netsh syntax
        (4, "error", "unknown-command"),
        (5, "warning", "open-quote"),  # the policy is still added, its name runs to the end of the line
        (6, "warning", "dynamic-not-modelled"),
        (7, "warning", "dynamic-not-modelled"),
        (8, "warning", "not-ipsec"),  # netsh advfirewall
        (9, "warning", "not-ipsec"),  # netsh firewall
        (10, "warning", "not-ipsec"),
        (11, "warning", "script-not-followed"),  # netsh exec: used to be "not a netsh ipsec command"
        (12, "error", "bad-value"),  # Arabic-Indic digits are no port (str.isdigit said they were: port 445)
        (13, "error", "bad-value"),  # 5000 digits: out of range, without int() choking on them
        (14, "error", "bad-value"),  # /٢٤
        (15, "error", "bad-value"),  # srcmask=٣٢
        (16, "error", "bad-value"),  # tcp:٠:٨٠:inbound
        (18, "warning", "interactive-netsh"),
        (19, "error", "tag-repeated"),
        (20, "error", "bad-value"),  # srcport= with nothing after it
    ]
    assert all(i.file == HOSTILE and i.text for i in issues)
    assert all(len(i.message) <= 300 for i in issues)  # the 5000-digit value is not repeated whole
    store = model.stores["local"]
    assert list(store.policies) == ["unterminated"] and list(store.filter_lists) == ["kept"]
    assert model.settings == {}


def test_nul_characters_are_removed_and_reported():
    model, issues, _ = parse_text("netsh ipsec static add policy Null\x00Name\r\n\x00\x00\r\n"
                                  "net\x00sh ipsec static add filterlist L\r\n", "nul.cmd")
    assert list(model.stores["local"].policies) == ["nullname"]
    assert list(model.stores["local"].filter_lists) == ["l"]  # "net<NUL>sh" is netsh once the NUL is gone
    assert [(i.line, i.code) for i in issues] == [(1, "nul-characters"), (2, "nul-characters"), (3, "nul-characters")]
    assert issues[1].message.startswith("2 NUL character(s) removed")
    assert "\x00" not in issues[0].text


def test_mixed_line_ends_are_line_breaks_and_lone_carriage_returns_are_reported():
    text = ("netsh ipsec static add policy A\r\nnetsh ipsec static add policy B\r"
            "netsh ipsec static add policy C\nnetsh ipsec static add policy D\rnetsh ipsec static add policy E\r\n")
    model, issues, _ = parse_text(text, "mixed.cmd")
    assert list(model.stores["local"].policies) == ["a", "b", "c", "d", "e"]
    assert [(i.line, i.severity, i.code) for i in issues] == [(2, "warning", "lone-cr")]
    assert issues[0].message.startswith("2 line(s) end in a carriage return without a line feed")
    assert parse_text(text.replace("\r\n", "\n").replace("\r", "\n"), "lf.cmd")[1] == []  # LF alone is fine


def test_text_after_ctrl_z_is_reported():
    model, issues, _ = parse_text("netsh ipsec static add policy A\r\n\x1anetsh ipsec static add policy B\r\n",
                                  "eof.cmd")
    assert list(model.stores["local"].policies) == ["a"]
    assert [(i.line, i.code) for i in issues] == [(2, "after-eof-mark")]
    assert "the 33 character(s) after it are not read" in issues[0].message
    assert parse_text("netsh ipsec static add policy A\r\n\x1a", "eof.cmd")[1] == []  # a bare final ^Z: nothing lost


def test_a_100k_character_line():
    long_name = "L" * 100_000
    # a batch file: cmd.exe does not run a line this long, so it is refused, and the next line is read
    model, issues, _ = parse_text(f"netsh ipsec static add filterlist {long_name}\r\n"
                                  "netsh ipsec static add filterlist Next\r\n", "long.cmd")
    assert list(model.stores["local"].filter_lists) == ["next"]
    assert [(i.line, i.severity, i.code) for i in issues] == [(1, "error", "line-too-long")]
    assert "100034 characters long" in issues[0].message  # 34 + 100 000
    # a netsh -f script has no such limit (netsh's own is unverified): read
    model, issues, kind = parse_text(f"pushd ipsec static\nadd filterlist {long_name}\n", "long.txt")
    assert kind == "netsh" and list(model.stores["local"].filter_lists) == [long_name.lower()] and issues == []
    # 50 000 untagged words after a complete command: one trailing-words warning, bounded
    model, issues, _ = parse_text("netsh ipsec static add filter filterlist=L srcaddr=any dstaddr=me "
                                  + "x " * 2000 + "\r\n", "words.cmd")
    assert [i.code for i in issues] == ["trailing-words", "filterlist-created"]
    assert "(2000 words)" in issues[0].message


def test_variables_cannot_grow_a_line_without_bound():
    # each line doubles %a%: cmd.exe refuses the line that passes 8191 characters, so %a% stops growing
    text = "set a=xx\r\n" + "set a=%a%%a%\r\n" * 60 + "netsh ipsec static add policy %a%\r\n"
    model, issues, _ = parse_text(text, "grow.cmd")
    (name,) = model.stores["local"].policies
    assert name == "x" * 4096  # 2 * 2**11: the twelfth doubling (8192 characters) was refused
    too_long = [i.line for i in issues if i.code == "line-too-long"]
    assert too_long == list(range(13, 62))  # lines 13..61, each refused, none applied
    assert expand_percent("%a%%a%%a%", {"a": "y" * 10}, {}, limit=15)[0] == "y" * 20  # stops past the limit


def test_netsh_own_commands_in_a_batch_file():
    _, issues, _ = parse_text("netsh exec other.txt\r\nnetsh dump\r\nnetsh show helper\r\nnetsh pushd ipsec\r\n"
                              "netsh help\r\n", "g.cmd")
    assert [(i.line, i.severity, i.code) for i in issues] == [(1, "warning", "script-not-followed"),
                                                              (4, "info", "netsh-global")]


def test_other_contexts_in_a_netsh_f_script():
    model, issues, kind = parse_text(
        "pushd advfirewall\nfirewall add rule name=x dir=in action=block\npopd\nfirewall set opmode disable\n"
        "ipsec dynamic add rule srcaddr=any dstaddr=me\nipsec static add policy \"open\n"
        "pushd no such context\nadd policy InRoot\nipsec static frob\n", "f.txt")
    assert kind == "netsh"
    assert [(i.line, i.severity, i.code) for i in issues] == [
        (2, "warning", "not-ipsec"), (4, "warning", "not-ipsec"), (5, "warning", "dynamic-not-modelled"),
        (6, "warning", "open-quote"), (7, "error", "unknown-context"), (8, "error", "unknown-command"),
        (9, "error", "unknown-command")]
    assert list(model.stores["local"].policies) == ["open"]


ALPHABET = ["netsh", "ipsec", "static", "dynamic", "add", "filter", "policy", "rule", "filteraction", "=", '"',
            "^", "%", "&", "|", ">", "<", " ", "\n", "\r", "\r\n", "\x00", "\x1a", "srcaddr=", "me", "any",
            "1.2.3.4", "::1", "all", "del", "set", "filterlist=", "pushd", "popd", "#", "rem", ":", "goto", "x",
            "(", ")", "id=", "2", "assign=y", "mirrored=", "srcmask=", "::", "-", "/", "DNS", "exit", "call", "%1",
            "%x%", "set x=", "远程", "٣", "\t", "advfirewall", "-c", "-f", "-r", "exec", "description=", "all"]


def test_random_input_never_raises_and_issues_point_at_lines():
    rnd = random.Random(20261101)
    for _ in range(300):
        text = "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(1, 120)))
        lines = max(1, len(physical_lines(text)))
        for host in (None, "H"):
            analysis = analyse_text(text, "fuzz.cmd", host=host, config=FUZZ_CONFIG, defines={"1": "a"})
            analysis.lint()
            assert all(i.file == "fuzz.cmd" and 1 <= i.line <= lines for i in analysis.issues), text


def _reference_split(text: str):
    """The character-by-character split the regex split replaced (kept here as the reference)."""
    from pipeline.policy.tokenize import Word, _merge_equals

    raw, i, n, in_quote = [], 0, len(text), False
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        buf, tag, quoted, whole = [], None, False, []
        while i < n and (in_quote or text[i] not in " \t"):
            c = text[i]
            if c == '"':
                in_quote, quoted = not in_quote, True
            elif c == "=" and not in_quote and tag is None:
                tag, buf, quoted = "".join(buf), [], False
                whole.append(c)
            else:
                buf.append(c)
                whole.append(c)
            i += 1
        raw.append(Word("".join(whole), tag, "".join(buf), quoted))
    return _merge_equals(raw), in_quote


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=st.sampled_from(['a', 'b', '=', '"', ' ', '\t', 'x', '\u3000', '1', '%']), max_size=24))
def test_split_words_agrees_with_the_character_by_character_reference(text):
    from pipeline.policy.tokenize import split_words

    assert split_words(text) == _reference_split(text)
