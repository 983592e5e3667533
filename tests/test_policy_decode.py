"""Script bytes -> text: BOMs, UTF-8, an explicit or per-host code page, and the Windows-1252 default.

The fixtures are one Chinese lockdown script (rule names, comments, trailing
words in Chinese) saved four ways: GBK (what Simplified Chinese Windows'
Notepad writes as "ANSI"), UTF-8 without and with a BOM, UTF-16 LE with a BOM.
"""

from __future__ import annotations

import codecs
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import ConfigError, HostConfig, parse_config, text_encoding
from pipeline.correlate import flows
from pipeline.policy import analyse_script, analyse_text, read_script
from pipeline.policy.decode import MAX_LINE_REPORTS, decode_bytes, looks_double_byte
from pipeline.policy.model import ME, Address, Filter
from pipeline.schema import DROPS_SCHEMA

DATA = Path(__file__).resolve().parent / "data"
GBK = DATA / "policy-gbk-comments.cmd"
UNICODE = {"policy-utf8-comments.cmd": ("utf-8", "utf-8"), "policy-utf8-bom-comments.cmd": ("utf-8", "bom"),
           "policy-utf16le-bom-comments.cmd": ("utf-16-le", "bom")}
POLICY = "服务器安全策略"


def codes(issues, prefix: str = "encoding-") -> list[tuple[int, str, str]]:
    return [(i.line, i.severity, i.code) for i in issues if i.code.startswith(prefix)]


def test_the_fixtures_hold_the_same_text_in_four_encodings():
    text = GBK.read_bytes().decode("gbk")
    assert "rem 远程桌面" in text.splitlines()
    assert (DATA / "policy-utf8-comments.cmd").read_bytes() == text.encode("utf-8")
    assert (DATA / "policy-utf8-bom-comments.cmd").read_bytes() == codecs.BOM_UTF8 + text.encode("utf-8")
    assert (DATA / "policy-utf16le-bom-comments.cmd").read_bytes() == codecs.BOM_UTF16_LE + text.encode("utf-16-le")


def check_model(analysis) -> None:
    store = analysis.model.stores["local"]
    policy = store.policies[POLICY]
    assert (policy.name, policy.description, policy.assigned) == (POLICY, "关闭危险端口", True)
    assert [(r.name, r.filter_list, r.filter_action) for r in policy.rules] == [
        ("允许远程桌面", "远程桌面", "允许"), ("允许网站", "网站", "允许"), ("阻止危险端口", "危险端口", "阻止")]
    assert store.filter_lists["远程桌面"].filters == [
        Filter(Address("ip", "10.0.0.0"), ME, src_mask=8, protocol=6, dst_port=3389, description="内网远程桌面")]
    assert [f.dst_port for f in store.filter_lists["危险端口"].filters] == [135, 139, 445]
    # the Chinese comments after the three dangerous-port filters are trailing words, not refusals
    assert [i.line for i in analysis.issues if i.code == "trailing-words"] == [14, 15, 16]
    assert analysis.errors == 0


@pytest.mark.parametrize("name", sorted(UNICODE))
def test_unicode_files_are_detected(name):
    analysis = analyse_script(DATA / name)
    assert (analysis.encoding, analysis.encoding_source) == UNICODE[name]
    check_model(analysis)
    assert codes(analysis.issues) == []  # nothing to say: the file said what it is


def test_gbk_with_the_encoding_given():
    analysis = analyse_script(GBK, encoding="gbk")
    assert (analysis.encoding, analysis.encoding_source) == ("gbk", "argument")
    check_model(analysis)
    assert codes(analysis.issues) == []
    # a Windows code page number is the same codec
    assert analyse_script(GBK, encoding="936").model == analysis.model


def test_gbk_read_as_windows_1252_is_garbled_and_says_so():
    analysis = analyse_script(GBK)
    assert (analysis.encoding, analysis.encoding_source) == ("cp1252", "default")
    garbled = POLICY.encode("gbk").decode("cp1252")
    assert list(analysis.model.stores["local"].policies) == [garbled.lower()]  # what it used to do silently
    # every GBK byte here is defined in Windows-1252, so only the shape of the bytes gives it away
    assert codes(analysis.issues) == [(2, "warning", "encoding-guessed")]
    (issue,) = [i for i in analysis.issues if i.code == "encoding-guessed"]
    assert issue.file == str(GBK) and issue.text.startswith("rem ")
    assert "read as cp1252" in issue.message and "--encoding gbk" in issue.message
    assert 'encoding = "gbk" in [hosts.<host>]' in issue.message


def test_host_encoding_from_the_config_is_used_for_its_scripts(tmp_path):
    config = parse_config(f'[hosts.CN01]\naddresses = ["10.0.0.1"]\nencoding = "GBK"\npolicy = "{GBK.as_posix()}"\n')
    assert config.hosts["CN01"].encoding == "gbk"
    analysis = analyse_script(GBK, host="CN01", config=config)
    assert (analysis.encoding, analysis.encoding_source) == ("gbk", "config")
    check_model(analysis)
    assert codes(analysis.issues) == []
    # an explicit encoding wins over the host's
    wrong = analyse_script(GBK, host="CN01", config=config, encoding="cp1252")
    assert (wrong.encoding, wrong.encoding_source) == ("cp1252", "argument")
    assert POLICY not in wrong.model.stores["local"].policies
    # a UTF-8 script of the same host is still read as UTF-8 (noted), a BOM still wins
    utf8 = analyse_script(DATA / "policy-utf8-comments.cmd", host="CN01", config=config)
    assert (utf8.encoding, utf8.encoding_source) == ("utf-8", "utf-8")
    check_model(utf8)
    assert codes(utf8.issues) == [(2, "info", "encoding-utf8")]
    assert "[hosts.CN01] encoding" in [i for i in utf8.issues if i.code == "encoding-utf8"][0].message
    wide = analyse_script(DATA / "policy-utf16le-bom-comments.cmd", host="CN01", config=config)
    assert (wide.encoding, wide.encoding_source) == ("utf-16-le", "bom")
    assert codes(wide.issues) == []  # a BOM against a host default is no news


def test_a_bom_wins_over_an_explicit_encoding():
    analysis = analyse_script(DATA / "policy-utf8-bom-comments.cmd", encoding="gbk")
    assert (analysis.encoding, analysis.encoding_source) == ("utf-8", "bom")
    check_model(analysis)
    assert codes(analysis.issues) == [(1, "info", "encoding-bom")]
    assert analyse_script(DATA / "policy-utf16le-bom-comments.cmd", encoding="utf-16").issues == \
        analyse_script(DATA / "policy-utf16le-bom-comments.cmd").issues  # the same family: nothing to note


def test_policy_history_scripts_are_read_in_the_host_encoding(tmp_path):
    # correlation reads the host's history scripts itself: the host's encoding must reach them
    config = parse_config(
        '[hosts.H]\naddresses = ["10.0.0.1"]\nencoding = "gbk"\n'
        f'policy = "{(DATA / "correlate-new.txt").as_posix()}"\n'
        f'policy_history = [{{script = "{GBK.as_posix()}", until = 2026-10-25T12:00:00Z}}]\n')
    event = {"event_time": datetime(2026, 10, 24, 8, tzinfo=UTC), "host": "H", "source_format": "evtx",
             "source_file": "x.evtx", "source_record": 1, "event_id": 4290, "drop_kind": "packet-dropped",
             "direction": "inbound", "protocol": 6, "src_ip": "10.200.0.2", "src_port": 1234, "dst_ip": "10.0.0.1",
             "dst_port": 445, "local_ip": "10.0.0.1", "remote_ip": "10.200.0.2", "packets": 1, "wfp_filter_id": None}
    part = tmp_path / "drops" / "date=2026-10-24"
    part.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([event], schema=DROPS_SCHEMA), part / "part-1.parquet")
    (row,) = flows(tmp_path, config).to_pylist()
    assert (row["verdict"], row["rule"]) == ("blocked-by-rule", "阻止危险端口")


def test_bytes_that_do_not_decode_are_replaced_and_reported_per_line():
    # line 2: a GBK lead byte cut off by the line end; line 3: clean; line 4: 0xFF is never valid GBK
    data = ("rem 好\r\n".encode("gbk") + b"rem \xba\r\n" + "netsh ipsec static add policy 策略\r\n".encode("gbk")
            + b"rem \xff\xff\r\n")
    decoded = decode_bytes(data, "bad.cmd", encoding="gbk")
    assert decoded.text.splitlines() == [
        "rem 好", "rem \ufffd", "netsh ipsec static add policy 策略", "rem \ufffd\ufffd"]
    assert codes(decoded.issues) == [(2, "warning", "encoding-invalid-bytes"), (4, "warning", "encoding-invalid-bytes")]
    first, second = decoded.issues
    assert first.file == "bad.cmd" and first.text == "rem \ufffd"
    assert first.message.startswith("1 byte sequence(s) not valid in gbk (as given (--encoding)) replaced by U+FFFD")
    assert second.message.startswith("2 byte sequence(s)")
    # through the analysis: the policy is read, the warnings carry file:line
    analysis = analyse_text(decoded.text, "bad.cmd")
    assert list(analysis.model.stores["local"].policies) == ["策略"]


def test_windows_1252_undefined_bytes_are_reported():
    # a Western script: "Müller" is fine, 0x81 and 0x9D are undefined in Windows-1252
    data = 'netsh ipsec static add policy name=P description="Müller"\r\nrem \x81 x \x9d\r\n'.encode("latin-1")
    decoded = decode_bytes(data, "w.cmd")
    assert (decoded.encoding, decoded.source) == ("cp1252", "default")
    assert decoded.text.splitlines()[1] == "rem \ufffd x \ufffd"
    assert codes(decoded.issues) == [(1, "info", "encoding-ansi"), (2, "warning", "encoding-invalid-bytes")]
    assert "2 byte sequence(s) not valid in cp1252 (the default ANSI code page" in decoded.issues[1].message
    assert "--encoding" in decoded.issues[1].message


def test_a_western_ansi_script_gets_a_note_not_a_warning():
    decoded = decode_bytes('rem Zugriff für Büro\r\nnetsh ipsec static add policy Größe\r\n'.encode("cp1252"), "de.cmd")
    assert decoded.text.splitlines()[1] == "netsh ipsec static add policy Größe"
    assert codes(decoded.issues) == [(1, "info", "encoding-ansi")]


def test_many_bad_lines_are_capped():
    data = b"".join(b"rem \x81\r\n" for _ in range(MAX_LINE_REPORTS + 5))
    issues = decode_bytes(data, "many.cmd").issues
    bad = [i for i in issues if i.code == "encoding-invalid-bytes"]
    assert [i.line for i in bad] == list(range(1, MAX_LINE_REPORTS + 2))
    assert bad[-1].message.startswith("... and 5 more line(s)")


def test_utf16_without_a_bom_is_recognised():
    text = "netsh ipsec static add policy 策略\r\nnetsh ipsec static add filterlist L\r\n"
    for codec in ("utf-16-le", "utf-16-be"):
        decoded = decode_bytes(text.encode(codec), "w.cmd")
        assert (decoded.text, decoded.encoding, decoded.source) == (text, codec, "utf-16")
        assert codes(decoded.issues) == [(1, "info", "encoding-utf16-no-bom")]


def test_an_encoding_that_cannot_decode_falls_back_to_detection():
    decoded = decode_bytes("rem 好\r\n".encode(), "p.cmd", encoding="punycode")
    assert (decoded.text, decoded.encoding) == ("rem 好\r\n", "utf-8")
    assert codes(decoded.issues) == [(1, "warning", "encoding-unusable")]


def test_double_byte_heuristic():
    assert looks_double_byte("远程桌面 rem 网站".encode("gbk"))
    assert not looks_double_byte("Müller’s Büro".encode("cp1252"))  # single high bytes between ASCII ones
    assert not looks_double_byte(b"plain ascii")


@pytest.mark.parametrize(("name", "canonical"), [("GBK", "gbk"), ("cp936", "gbk"), ("936", "gbk"),
                                                 ("utf8", "utf-8"), ("1252", "cp1252"), (" latin-1 ", "iso8859-1")])
def test_encoding_names(name, canonical):
    assert text_encoding(name) == canonical


@pytest.mark.parametrize("name", ["klingon", "base64", "rot13", "undefined", ""])
def test_unknown_or_non_text_encodings_are_refused(name, tmp_path):
    with pytest.raises(ValueError):
        analyse_script(GBK, encoding=name)
    with pytest.raises(ConfigError, match=r"\[hosts\.H\] encoding"):
        parse_config(f'[hosts.H]\nencoding = "{name}"\n')


def test_config_encoding_must_be_a_string():
    with pytest.raises(ConfigError, match=r"\[hosts\.H\] encoding must be a string"):
        parse_config("[hosts.H]\nencoding = 936\n")


def test_read_script_uses_the_host_encoding():
    data, decoded = read_script(GBK, host=HostConfig("CN", encoding="gbk"))
    assert data == GBK.read_bytes() and decoded.source == "config" and POLICY in decoded.text


def test_snapshot_changes_when_the_encoding_changes_the_text(tmp_path):
    config = parse_config('[hosts.H]\naddresses = ["10.0.0.1"]\n')
    garbled = analyse_script(GBK, host="H", config=config)
    right = analyse_script(GBK, host="H", config=config, encoding="gbk")
    assert garbled.script_sha256 == right.script_sha256  # the same bytes ...
    assert garbled.snapshot != right.snapshot  # ... read differently: reloading them is not "unchanged"
    # an encoding that reads the same text as detection leaves the id as it was (older snapshots stay valid)
    utf8 = DATA / "policy-utf8-comments.cmd"
    assert analyse_script(utf8, host="H", config=config, encoding="utf-8").snapshot == \
        analyse_script(utf8, host="H", config=config).snapshot
    ascii_script = tmp_path / "a.cmd"
    ascii_script.write_bytes(b"netsh ipsec static add policy P\r\n")
    assert analyse_script(ascii_script, host="H", config=config, encoding="gbk").snapshot == \
        analyse_script(ascii_script, host="H", config=config).snapshot


def test_decoding_reports_do_not_quote_preshared_keys():
    data = b"netsh ipsec static add rule R P L A psk=hunter6 description=\x81\r\n"
    (issue,) = [i for i in decode_bytes(data, "k.cmd").issues if i.code == "encoding-invalid-bytes"]
    assert "hunter6" not in issue.text and "psk=***" in issue.text
