"""End-to-end ingest: the sample site, re-runs, growing files, bad lines, refusals."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import duckdb
import pytest

from pipeline import Warehouse, ingest, load_config, parse_config
from pipeline.ingest import EXIT_OK, EXIT_SKIPPED

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_logs"

FW_HEADER = (
    "#Version: 1.5\r\n#Software: Microsoft Windows Firewall\r\n#Time Format: Local\r\n"
    "#Fields: date time action protocol src-ip dst-ip src-port dst-port size tcpflags tcpsyn tcpack tcpwin "
    "icmptype icmpcode info path pid\r\n\r\n"
)
CONFIG = """
[hosts.FS01]
timezone = "America/Chicago"
addresses = ["10.9.0.5"]
inbox = ["inbox/fs01/*"]
"""


def fw_line(second: int, port: int, action: str = "DROP") -> str:
    return (f"2026-06-01 10:{second // 60:02d}:{second % 60:02d} {action} TCP 203.0.113.7 10.9.0.5 "
            f"{40000 + port} {port} 48 S 1 0 65535 - - - RECEIVE 4\r\n")


def drops(wh: Path, where: str = "true") -> list[tuple]:
    glob = str(wh / "drops" / "**" / "*.parquet")
    if not list((wh / "drops").glob("date=*/*.parquet")):
        return []
    return duckdb.sql(f"select * from read_parquet('{glob}') where {where} order by all").fetchall()


def count(wh: Path) -> int:
    return len(drops(wh))


@pytest.fixture
def site(tmp_path: Path):
    (tmp_path / "inbox" / "fs01").mkdir(parents=True)
    cfg = tmp_path / "ipsec-drops.toml"
    cfg.write_text(CONFIG)
    return tmp_path, parse_config(CONFIG, cfg)


def test_sample_site_stores_exactly_the_planted_drops(tmp_path: Path) -> None:
    expected = json.loads((SAMPLES / "expected.json").read_text())
    wh = tmp_path / "W"
    report = ingest([SAMPLES], Warehouse(wh), load_config(SAMPLES / "ipsec-drops.toml"))
    assert report.exit_code == EXIT_OK, [str(i) for i in report.issues]
    assert report.total("drops_stored") == expected["total_drops"]
    assert report.total("duplicates") == expected["duplicate_rows"]

    # Every planted drop, field by field (the generator's own record of what it planted).
    con = duckdb.connect()
    con.sql(f"""create view got as select host, event_time t, event_id, direction, protocol, src_ip, src_port,
                dst_ip, dst_port, remote_ip, packets from read_parquet('{wh}/drops/**/*.parquet')""")
    con.sql(f"""create view want as select host, cast(event_time_utc as timestamptz) t, event_id, direction,
                protocol, src_ip, src_port, dst_ip, dst_port, remote_ip, coalesce(packets, 1) packets
                from read_csv('{SAMPLES / "expected-drops.csv"}')""")
    assert con.sql("select * from want except all select * from got").fetchall() == []
    assert con.sql("select * from got except all select * from want").fetchall() == []
    by_host = dict(con.sql("select host, count(*) from got group by host").fetchall())
    assert by_host == expected["by_host"]


def test_second_run_adds_nothing_and_skips_unchanged_files(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "W")
    config = load_config(SAMPLES / "ipsec-drops.toml")
    first = ingest([SAMPLES], wh, config)
    files_before = sorted(p.name for p in wh.drop_files())
    second = ingest([SAMPLES], wh, config)
    assert second.total("drops_stored") == 0
    assert second.total("rows_read") == 0
    assert {f.status for f in second.files if f.status != "ignored"} == {"unchanged"}
    assert sorted(p.name for p in wh.drop_files()) == files_before
    assert count(wh.root) == first.total("drops_stored")


def test_same_content_under_another_name_is_recognised(site) -> None:
    root, config = site
    a = root / "inbox" / "fs01" / "pfirewall.log"
    a.write_text(FW_HEADER + fw_line(1, 22) + fw_line(2, 23), newline="")
    wh = Warehouse(root / "W")
    ingest([a], wh, config)
    b = root / "inbox" / "fs01" / "pfirewall-copy.log"
    b.write_bytes(a.read_bytes())
    report = ingest([b], wh, config)
    assert report.files[0].status == "unchanged"
    assert count(wh.root) == 2


def test_file_that_grows_is_read_only_past_what_was_read(site) -> None:
    root, config = site
    log = root / "inbox" / "fs01" / "pfirewall.log"
    log.write_text(FW_HEADER + "".join(fw_line(s, 22) for s in range(10)), newline="")
    wh = Warehouse(root / "W")
    first = ingest([log], wh, config)
    assert first.files[0].drops_stored == 10
    with open(log, "a", newline="") as fh:
        fh.write("".join(fw_line(s, 23) for s in range(10, 15)))
    second = ingest([log], wh, config)
    result = second.files[0]
    assert result.status == "resumed"
    assert result.rows_read == 5  # only the new lines were read
    assert result.drops_stored == 5 and result.duplicates == 0
    rows = drops(wh.root)
    assert len(rows) == 15
    # Line numbers continue across runs: header is 5 lines, so data lines are 6..20.
    lines = duckdb.sql(f"select source_record from read_parquet('{wh.root}/drops/**/*.parquet') order by 1")
    assert [r[0] for r in lines.fetchall()] == list(range(6, 21))


def test_unterminated_last_line_is_not_duplicated_when_completed(site) -> None:
    root, config = site
    log = root / "inbox" / "fs01" / "pfirewall.log"
    full = fw_line(5, 3389)
    log.write_text(FW_HEADER + fw_line(1, 22) + full[:30], newline="")  # writer cut mid-line
    wh = Warehouse(root / "W")
    first = ingest([log], wh, config)
    assert first.files[0].drops_stored == 1
    assert any(i.kind == "held-back" for i in first.files[0].issues.details)
    with open(log, "a", newline="") as fh:
        fh.write(full[30:] + fw_line(6, 445))
    second = ingest([log], wh, config)
    assert second.files[0].drops_stored == 2
    ports = [r[0] for r in duckdb.sql(
        f"select dst_port from read_parquet('{wh.root}/drops/**/*.parquet') order by event_time").fetchall()]
    assert ports == [22, 3389, 445]


def test_malformed_line_in_the_middle_is_skipped_named_and_the_rest_is_read(site) -> None:
    root, config = site
    log = root / "inbox" / "fs01" / "pfirewall.log"
    body = fw_line(1, 22) + fw_line(2, 23) + "2026-06-01 10:00:03 DROP TCP 203.0.113.7\r\n" + fw_line(4, 25)
    log.write_text(FW_HEADER + body, newline="")
    wh = Warehouse(root / "W")
    report = ingest([log], wh, config)
    assert report.exit_code == EXIT_SKIPPED
    result = report.files[0]
    assert result.skipped == 1 and result.drops_stored == 3
    bad = [i for i in result.issues.details if i.kind == "malformed"]
    assert [(i.location, i.text) for i in bad] == [("line 8", "2026-06-01 10:00:03 DROP TCP 203.0.113.7")]
    # The run's skipped-lines file names it too, for the admin at 2 a.m.
    with open(report.skipped_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["file"], r["location"], r["kind"]) for r in rows] == [(str(log), "line 8", "malformed")]
    assert [r[0] for r in duckdb.sql(
        f"select source_record from read_parquet('{wh.root}/drops/**/*.parquet') order by 1").fetchall()] == [6, 7, 9]


def test_bad_value_in_a_drop_line_is_skipped_with_its_line(site) -> None:
    root, config = site
    log = root / "inbox" / "fs01" / "pfirewall.log"
    bad = fw_line(2, 23).replace("203.0.113.7", "203.0.113.999")
    log.write_text(FW_HEADER + fw_line(1, 22) + bad, newline="")
    report = ingest([log], Warehouse(root / "W"), config)
    issue = next(i for i in report.files[0].issues.details if i.kind == "malformed")
    assert issue.location == "line 7" and "src-ip" in issue.reason
    assert report.files[0].drops_stored == 1


def test_pfirewall_without_host_is_refused_and_the_run_goes_on(tmp_path: Path, monkeypatch) -> None:
    elsewhere = tmp_path / "loose"
    elsewhere.mkdir()
    lost = elsewhere / "pfirewall.log"
    lost.write_text(FW_HEADER + fw_line(1, 22), newline="")
    config = parse_config(CONFIG, tmp_path / "ipsec-drops.toml")
    wh = Warehouse(tmp_path / "W")
    ingest_module = sys.modules["pipeline.ingest"]
    hashed = []
    real_hash = ingest_module.hash_file
    monkeypatch.setattr(ingest_module, "hash_file", lambda *a: hashed.append(a[0]) or real_hash(*a))
    report = ingest([lost], wh, config)
    assert report.exit_code == EXIT_SKIPPED
    assert report.files[0].status == "refused"
    assert "--host" in report.files[0].issues.details[0].reason
    assert count(wh.root) == 0
    assert hashed == []  # refused before the (possibly large) file is read at all
    # Named explicitly, it is read; the refusal left no manifest entry behind.
    again = ingest([lost], wh, config, host="fs01")
    assert again.files[0].status == "ingested" and again.files[0].host == "FS01"
    assert count(wh.root) == 1


def test_no_time_zone_is_refused_rather_than_guessed(tmp_path: Path) -> None:
    log = tmp_path / "pfirewall.log"
    log.write_text(FW_HEADER + fw_line(1, 22), newline="")
    config = parse_config('[hosts.X]\naddresses = ["10.9.0.5"]\n', tmp_path / "c.toml")
    report = ingest([log], Warehouse(tmp_path / "W"), config, host="X")
    assert report.files[0].status == "refused"
    assert "time zone" in report.files[0].issues.details[0].reason
    ok = ingest([log], Warehouse(tmp_path / "W"), config, host="X", source_tz="Europe/Berlin")
    assert ok.files[0].drops_stored == 1
    ((t,),) = duckdb.sql(f"select event_time from read_parquet('{tmp_path}/W/drops/**/*.parquet')").fetchall()
    assert t.isoformat().startswith("2026-06-01T08:00:01")  # 10:00:01 CEST = 08:00:01 UTC


def test_duplicate_lines_are_two_packets_but_a_re_export_is_not(site) -> None:
    root, config = site
    log = root / "inbox" / "fs01" / "pfirewall.log"
    twice = fw_line(1, 22) * 2
    log.write_text(FW_HEADER + twice, newline="")
    wh = Warehouse(root / "W")
    ingest([log], wh, config)
    assert count(wh.root) == 2
    # Tomorrow's copy of the log holds the same two lines and one more.
    copy = root / "inbox" / "fs01" / "pfirewall-next.log"
    copy.write_text(FW_HEADER + "#Software: restarted\r\n" + twice + fw_line(9, 80), newline="")
    report = ingest([copy], wh, config)
    assert report.files[0].duplicates == 2 and report.files[0].drops_stored == 1
    assert count(wh.root) == 3


def test_unrecognised_file_named_explicitly_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "notes.log"
    junk.write_text("hello\r\n")
    report = ingest([junk], Warehouse(tmp_path / "W"), None)
    assert report.files[0].status == "refused" and report.exit_code == EXIT_SKIPPED


def test_every_skipped_line_is_named_even_past_the_summary_limit(site) -> None:
    from pipeline.issues import DETAIL_LIMIT

    root, config = site
    log = root / "inbox" / "fs01" / "pfirewall.log"
    bad = DETAIL_LIMIT + 500
    body = "".join(fw_line(i % 3600, 22) if i % 2 else "2026-06-01 10:00:00 DROP TCP\r\n" for i in range(2 * bad))
    log.write_text(FW_HEADER + body, newline="")
    report = ingest([log], Warehouse(root / "W"), config)
    result = report.files[0]
    assert result.skipped == bad and result.drops_stored == bad
    assert len(result.issues.details) == DETAIL_LIMIT  # the summary keeps the first ones...
    with open(report.skipped_csv, newline="") as fh:
        named = [r["location"] for r in csv.DictReader(fh)]
    assert named == [f"line {6 + 2 * i}" for i in range(bad)]  # ...the run's list names every one


def test_every_bad_w3c_line_is_named_in_order_across_worker_threads(tmp_path: Path) -> None:
    from pipeline.issues import DETAIL_LIMIT

    header = ("#Software: Microsoft Log Parser\r\n#Fields: TimeGenerated EventID SourceName Strings ComputerName\r\n")
    good = "2026-06-01 10:00:00 4290 IPSec |203.0.113.7|10.9.0.5|6|4000|22 FS01\r\n"
    broken = "2026-06-01 10:00:00 4290 IPSec |203.0.113.7|10.9.0.5|6|4000|99999 FS01\r\n"  # port out of range
    n = DETAIL_LIMIT + 200
    log = tmp_path / "system.log"
    log.write_text(header + (broken + good) * n, newline="")
    config = parse_config(CONFIG, tmp_path / "c.toml")
    report = ingest([log], Warehouse(tmp_path / "W"), config)
    with open(report.skipped_csv, newline="") as fh:
        named = [r["location"] for r in csv.DictReader(fh) if r["kind"] == "malformed"]
    assert named == [f"line {3 + 2 * i}" for i in range(n)]
