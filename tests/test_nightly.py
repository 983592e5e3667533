"""The nightly job: a fresh warehouse, the same night again, a new day of logs, faults, two jobs at once.

Expectations come from ``sample_logs/expected.json`` (worked out by the generator from the scenarios it
planted, not by this code) and from the hand-written day of logs below.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import filelock
import pytest
from click.testing import CliRunner
from conftest import SAMPLE

from pipeline import Warehouse, load_config
from pipeline.cli import cli
from pipeline.jobs.nightly import NightlyFailed, nightly
from pipeline.warehouse import check
from pipeline.warehouse.runs import last_records

EXPECTED = json.loads((SAMPLE / "expected.json").read_text(encoding="utf-8"))

#: A day of APP03's firewall log (Europe/London, GMT on 1 November): one flow seen before
#: (10.1.0.81 -> :9100, from another source port) and two new ones, 10.1.0.99 -> :445 (3 drops)
#: and 10.1.0.98 -> :3389 (1 drop); one ALLOW line, which is not a drop.
FIELDS = ("#Fields: date time action protocol src-ip dst-ip src-port dst-port size tcpflags tcpsyn tcpack tcpwin "
          "icmptype icmpcode info path pid")
NEW_DAY = """#Version: 1.5\r
#Software: Microsoft Windows Firewall\r
#Time Format: Local\r
""" + FIELDS + """\r
\r
2026-11-01 10:00:01 DROP TCP 10.1.0.81 10.1.0.70 40001 9100 52 S 1234 0 8192 - - - RECEIVE -\r
2026-11-01 10:05:00 DROP TCP 10.1.0.99 10.1.0.70 50001 445 52 S 99 0 8192 - - - RECEIVE -\r
2026-11-01 10:05:03 DROP TCP 10.1.0.99 10.1.0.70 50001 445 52 S 99 0 8192 - - - RECEIVE -\r
2026-11-01 11:20:00 ALLOW TCP 10.1.0.70 10.1.0.2 3000 53 0 - 0 0 0 - - - SEND 1044\r
2026-11-01 12:00:09 DROP TCP 10.1.0.99 10.1.0.70 50002 445 52 S 99 0 8192 - - - RECEIVE -\r
2026-11-01 23:30:00 DROP TCP 10.1.0.98 10.1.0.70 50100 3389 52 S 7 0 8192 - - - RECEIVE -\r
"""


def make_site(where: Path) -> Path:
    """A copy of the sample site (config, policies, exports) with a ``[nightly]`` section; returns the config."""
    site = where / "site"
    site.mkdir()
    for name in ("exports", "policies"):
        shutil.copytree(SAMPLE / name, site / name)
    text = (SAMPLE / "ipsec-drops.toml").read_text(encoding="utf-8")
    text += '\n[nightly]\nwarehouse = "../warehouse"\nreports = "../reports"\nretention_days = 0\n'
    (site / "ipsec-drops.toml").write_text(text, encoding="utf-8")
    return site / "ipsec-drops.toml"


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def stored(root: Path) -> list[tuple]:
    return duckdb.sql(f"SELECT host, event_time, src_ip, dst_ip, dst_port, source_file FROM "
                      f"read_parquet('{root}/drops/**/*.parquet') ORDER BY ALL").fetchall()


def files_and_times(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def first_night(tmp_path_factory) -> tuple[Path, int, str, str]:
    """The sample site after one nightly run on a fresh warehouse (the config, exit code, stdout, stderr)."""
    config = make_site(tmp_path_factory.mktemp("nightly"))
    code, out, err = run_cli("--config", str(config), "nightly", "--log-format", "json")
    return config, code, out, err


def test_a_fresh_night_stores_every_drop_reports_the_days_and_summarises_per_host(first_night):
    config, code, out, err = first_night
    root = config.parent.parent / "warehouse"
    assert code == 0, out + err
    assert f"{EXPECTED['total_drops']} new drops on 9 day(s)" in out
    record = last_records(Warehouse(root), 1)[-1]
    assert record["exit_code"] == 0 and record["stage"] == "done" and not record["pending_days"]
    hosts = record["hosts"]
    assert {h["host"]: h["new_drops"] for h in hosts.values()} == EXPECTED["by_host"]
    # every flow is new on the first night: the flows view's rows per host
    assert {h["host"]: h["new_flows"] for h in hosts.values()} == EXPECTED["flows"]["by_host"]
    wanted: dict[str, int] = {}
    for s in EXPECTED["suggestions"]:
        wanted[s["host"]] = wanted.get(s["host"], 0) + 1
    assert {h["host"]: h["suggestions"] for h in hosts.values() if h["suggestions"]} == wanted
    for host in EXPECTED["by_host"]:
        assert f"  {host}: " in out
    # the record has per-file figures that add up
    assert sum(f["drops"] for f in record["files"]) == EXPECTED["total_drops"]
    assert sum(f["duplicates"] for f in record["files"]) == EXPECTED["duplicate_rows"]
    assert all(f["seconds"] >= 0 for f in record["files"])
    assert record["new_days"] == sorted(EXPECTED["flows"]["by_last_utc_day"])
    # the reports of the days, the page and the suggestions
    reports = config.parent.parent / "reports"
    assert (reports / "report.html").is_file() and (reports / "suggestions.csv").is_file()
    assert (reports / "WEB01" / "ISALOG_20261031_FWS_000.w3c").is_file()
    assert (reports / "DB01" / "IPPEXTD20261023.log").is_file()
    # compacted: one data file a day; consistent
    files = Warehouse(root).drop_files()
    assert len(files) == len({p.parent for p in files}) == 9
    assert check(root).ok
    # progress lines on stderr are JSON objects, one a line, for schedulers
    events = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert [e["event"] for e in events][0] == "ingest" and events[-1]["event"] == "done"
    assert events[-1]["exit_code"] == 0


def test_the_same_night_again_does_nothing_and_says_so(first_night, tmp_path):
    config, *_ = first_night
    root, reports = config.parent.parent / "warehouse", config.parent.parent / "reports"
    before, reports_before = files_and_times(root / "drops"), files_and_times(reports)
    rows_before = stored(root)
    began = time.monotonic()
    code, out, err = run_cli("--config", str(config), "nightly")
    assert code == 0, out + err
    assert out.startswith("nothing new: 20 file(s) in the inboxes, all already ingested")
    assert files_and_times(root / "drops") == before and files_and_times(reports) == reports_before
    assert stored(root) == rows_before
    record = last_records(Warehouse(root), 1)[-1]
    assert record["nothing_new"] is True and record["exit_code"] == 0
    assert time.monotonic() - began < 10  # (the under-a-second figure is measured in bench/bench_nightly.py)
    # status --config finds the warehouse through [nightly] warehouse and shows the runs and the hosts' lag
    code, out, err = run_cli("--config", str(config), "status")
    assert code == 0, out + err
    assert "nightly runs:" in out and "nothing new" in out
    assert "WEB01: 452 drops, newest 2026-10-31" in out
    code, out, _ = run_cli("--config", str(config), "status", "--format", "json")
    data = json.loads(out)
    assert [h["host"] for h in data["hosts"]] == ["APP03", "DB01", "WEB01"]
    assert {h["host"]: h["drops"] for h in data["hosts"]} == EXPECTED["by_host"]
    assert data["partitions"]["dates"] == 9 and data["partitions"]["dates_with_several_files"] == 0
    assert data["quality"]["duplicates"] == EXPECTED["duplicate_rows"]
    assert data["nightly"][-1]["nothing_new"] is True


def copy_night(first_night, tmp_path: Path) -> Path:
    """A copy of the site and warehouse after the first night (tests that change them work on a copy)."""
    config, *_ = first_night
    base = config.parent.parent
    for name in ("site", "warehouse", "reports"):
        shutil.copytree(base / name, tmp_path / name)
    return tmp_path / "site" / "ipsec-drops.toml"


def test_a_new_day_of_logs_gives_its_drops_its_new_flows_and_its_report(first_night, tmp_path):
    config = copy_night(first_night, tmp_path)
    (config.parent / "exports" / "app03" / "pfirewall-20261101.log").write_bytes(NEW_DAY.encode("ascii"))
    code, out, err = run_cli("--config", str(config), "nightly")
    assert code == 0, out + err
    assert out.splitlines()[0] == "5 new drops on 1 day(s) (2026-11-01)"
    record = last_records(Warehouse(tmp_path / "warehouse"), 1)[-1]
    app03 = record["hosts"]["app03"]
    assert (app03["new_drops"], app03["files_read"], app03["new_flows"]) == (5, 1, 2)
    assert {(f["remote"], f["local"], f["packets"]) for f in app03["top_new_blocked"]} == {
        ("10.1.0.99", "10.1.0.70:445", 3), ("10.1.0.98", "10.1.0.70:3389", 1)}
    assert app03["newest_drop"] == "2026-11-01T23:30:00+00:00"  # GMT = UTC on 1 November
    assert app03["last_file"].endswith("pfirewall-20261101.log")
    assert record["hosts"]["web01"]["new_drops"] == record["hosts"]["web01"]["new_flows"] == 0
    assert record["hosts"]["web01"]["newest_drop"].startswith("2026-10-31T21:03")  # carried from the first night
    assert "new: inbound TCP 10.1.0.99 -> 10.1.0.70:445: 3 packets, no-policy" in out
    isa = tmp_path / "reports" / "APP03" / "ISALOG_20261101_FWS_000.w3c"
    assert isa.is_file() and sum(1 for line in isa.read_text(encoding="utf-8").splitlines()
                                 if line and not line.startswith("#")) == 5
    assert len(stored(tmp_path / "warehouse")) == EXPECTED["total_drops"] + 5
    assert len(list((tmp_path / "warehouse" / "drops" / "date=2026-11-01").glob("*.parquet"))) == 1


def test_a_night_across_the_autumn_clock_change_places_each_drop_once_at_its_utc_time(tmp_path):
    """APP03 (Europe/London) logs 00:30-02:30 local on 25 October 2026: 01:00-02:00 happens twice (BST, then GMT)."""
    config = make_site(tmp_path)
    app03 = config.parent / "exports" / "app03"
    for p in app03.iterdir():
        p.unlink()
    head = NEW_DAY.split("\r\n\r\n")[0] + "\r\n\r\n"
    lines = [("2026-10-25 00:30:00", 50001), ("2026-10-25 01:10:00", 50002), ("2026-10-25 01:50:00", 50003),
             ("2026-10-25 01:05:00", 50004), ("2026-10-25 01:40:00", 50005), ("2026-10-25 02:20:00", 50006)]
    body = "".join(f"{t} DROP TCP 10.1.0.99 10.1.0.70 {port} 445 52 S 1 0 8192 - - - RECEIVE -\r\n"
                   for t, port in lines)
    (app03 / "pfirewall.log").write_text(head + body, encoding="ascii", newline="")
    code, out, err = run_cli("--config", str(config), "nightly", "--reports", str(tmp_path / "r"))
    assert code == 0, out + err
    times = duckdb.sql(f"SELECT strftime(event_time AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M') FROM "
                       f"read_parquet('{tmp_path}/warehouse/drops/**/*.parquet') WHERE host = 'APP03' "
                       "ORDER BY src_port").fetchall()
    assert [t for (t,) in times] == ["2026-10-24 23:30", "2026-10-25 00:10", "2026-10-25 00:50",
                                     "2026-10-25 01:05", "2026-10-25 01:40", "2026-10-25 02:20"]
    record = last_records(Warehouse(tmp_path / "warehouse"), 1)[-1]
    assert "2026-10-24" in record["new_days"] and "2026-10-25" in record["new_days"]
    # the same night again: nothing new, nothing twice
    code, out, _ = run_cli("--config", str(config), "nightly", "--reports", str(tmp_path / "r"))
    assert code == 0 and out.startswith("nothing new")


def test_two_nightly_jobs_started_together_one_runs_the_other_exits_3(first_night, tmp_path):
    config = copy_night(first_night, tmp_path)
    (config.parent / "exports" / "app03" / "pfirewall-20261101.log").write_bytes(NEW_DAY.encode("ascii"))
    command = [sys.executable, "-m", "pipeline", "--config", str(config), "nightly"]
    env = {**os.environ, "COLUMNS": "120"}
    jobs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for _ in range(2)]
    results = [(job.wait(timeout=300), *job.communicate()) for job in jobs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 3], results
    refused = next(r for r in results if r[0] == 3)
    assert "another nightly job is running" in refused[2]
    assert len(stored(tmp_path / "warehouse")) == EXPECTED["total_drops"] + 5


def test_a_job_finding_the_lock_held_exits_3_at_once_and_changes_nothing(first_night, tmp_path):
    config = copy_night(first_night, tmp_path)
    root = tmp_path / "warehouse"
    before = files_and_times(root)
    with filelock.FileLock(str(root / ".nightly.lock")):
        began = time.monotonic()
        code, out, err = run_cli("--config", str(config), "nightly")
        assert time.monotonic() - began < 5
    assert code == 3, out + err
    assert files_and_times(root) == before


ENOSPC = OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_during_the_ingest_exits_4_and_loses_nothing(first_night, tmp_path, monkeypatch):
    from pipeline.warehouse import store

    config = copy_night(first_night, tmp_path)
    (config.parent / "exports" / "app03" / "pfirewall-20261101.log").write_bytes(NEW_DAY.encode("ascii"))
    root = tmp_path / "warehouse"
    rows_before = stored(root)

    class Full:
        def __init__(self, *args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device", str(args[0]) if args else None)

    monkeypatch.setattr(store.pq, "ParquetWriter", Full)
    code, out, err = run_cli("--config", str(config), "nightly")
    assert code == 4, out + err
    assert "nightly failed during ingest" in err and "disk full" in err and "nothing was published" in err
    assert "Traceback" not in out + err
    monkeypatch.undo()
    assert stored(root) == rows_before and check(root).ok
    record = last_records(Warehouse(root), 1)[-1]
    assert record["exit_code"] == 4 and record["stage"] == "ingest"
    code, out, err = run_cli("--config", str(config), "nightly")  # the disk has room again: it catches up
    assert code == 0, out + err
    assert out.startswith("5 new drops on 1 day(s) (2026-11-01)")


def test_disk_full_while_writing_reports_keeps_the_drops_and_the_next_run_writes_the_owed_reports(
        first_night, tmp_path, monkeypatch):
    from pipeline.report import tables

    config = copy_night(first_night, tmp_path)
    (config.parent / "exports" / "app03" / "pfirewall-20261101.log").write_bytes(NEW_DAY.encode("ascii"))
    root, reports = tmp_path / "warehouse", tmp_path / "reports"
    real = tables.write_flows

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(reports / "flows.csv"))

    monkeypatch.setattr(tables, "write_flows", full)
    code, out, err = run_cli("--config", str(config), "nightly")
    assert code == 4, out + err
    assert "nightly failed during reports" in err and "the next run writes the reports of 2026-11-01" in err
    assert len(stored(root)) == EXPECTED["total_drops"] + 5  # the ingest was published before the reports
    assert last_records(Warehouse(root), 1)[-1]["pending_days"] == ["2026-11-01"]
    monkeypatch.setattr(tables, "write_flows", real)
    flows_before = (reports / "flows.csv").stat().st_mtime_ns
    code, out, err = run_cli("--config", str(config), "nightly")
    assert code == 0, out + err
    assert out.startswith("nothing new")  # no new drops, but the owed day is reported
    assert (reports / "flows.csv").stat().st_mtime_ns != flows_before
    assert "2026-11-01" in (reports / "flows.csv").read_text(encoding="utf-8-sig")
    assert last_records(Warehouse(root), 1)[-1]["pending_days"] == []


def test_a_job_killed_after_its_ingest_leaves_the_day_owed_and_the_next_run_reports_it(first_night, tmp_path):
    config = copy_night(first_night, tmp_path)
    (config.parent / "exports" / "app03" / "pfirewall-20261101.log").write_bytes(NEW_DAY.encode("ascii"))
    root, reports = tmp_path / "warehouse", tmp_path / "reports"
    # kill the job as it starts writing the reports (the ingest is published, the record says what is owed)
    script = ("import os, signal, sys\n"
              "import pipeline.report.writer as w\n"
              "def die(*a, **k): os.kill(os.getpid(), signal.SIGKILL)\n"
              "w.write_report = die\n"
              "from pipeline.cli import cli\n"
              f"sys.exit(cli(['--config', {str(config)!r}, 'nightly']))\n")
    job = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert job.returncode == -9, job.stderr
    assert last_records(Warehouse(root), 1)[-1]["pending_days"] == ["2026-11-01"]
    isa = reports / "APP03" / "ISALOG_20261101_FWS_000.w3c"
    assert not isa.exists()
    code, out, err = run_cli("--config", str(config), "nightly")
    assert code == 0, out + err
    assert isa.is_file()
    assert len(stored(root)) == EXPECTED["total_drops"] + 5 and check(root).ok
    assert len(list((root / "drops" / "date=2026-11-01").glob("*.parquet"))) == 1


def test_nightly_without_hosts_or_with_a_bad_config_exits_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[nightly]\nretention_days = -1\n", encoding="utf-8")
    code, _, err = run_cli("--config", str(bad), "nightly")
    assert code == 2 and "retention_days" in err
    empty = tmp_path / "empty.toml"
    empty.write_text("[nightly]\nretention_days = 30\n", encoding="utf-8")
    code, _, err = run_cli("--config", str(empty), "nightly")
    assert code == 2 and "no hosts" in err


def test_library_call_raises_nightly_failed_with_what_was_done(first_night, tmp_path, monkeypatch):
    import pipeline.warehouse

    config = copy_night(first_night, tmp_path)
    (config.parent / "exports" / "app03" / "pfirewall-20261101.log").write_bytes(NEW_DAY.encode("ascii"))

    def full(*args, **kwargs):
        raise ENOSPC

    monkeypatch.setattr(pipeline.warehouse, "maintain", full)
    with pytest.raises(NightlyFailed) as failed:
        nightly(load_config(config))
    assert failed.value.report.stage == "maintenance" and failed.value.report.pending_days == ["2026-11-01"]
    assert failed.value.report.report_files > 0


def nightly_events(config: Path, *extra: str) -> tuple[int, str, list[str]]:
    """Run nightly with JSON progress lines; (exit code, stdout, the events' names)."""
    code, out, err = run_cli("--config", str(config), "nightly", "--log-format", "json", *extra)
    return code, out, [json.loads(line)["event"] for line in err.splitlines() if line.startswith("{")]


@pytest.fixture
def settled_night(first_night, tmp_path) -> Path:
    """A copy of the first night whose last run record was written here (the copy moved the inboxes)."""
    config = copy_night(first_night, tmp_path)
    code, out, events = nightly_events(config)
    assert code == 0 and out.startswith("nothing new") and "policies" in events  # the full path: paths moved
    return config


def test_a_rerun_with_nothing_new_decides_from_file_stamps_without_the_ingest_machinery(settled_night):
    code, out, events = nightly_events(settled_night)
    assert code == 0 and out.startswith("nothing new: 20 file(s) in the inboxes, all already ingested")
    assert events == ["ingest", "nothing-new", "done"]
    record = last_records(Warehouse(settled_night.parent.parent / "warehouse"), 1)[-1]
    assert record["nothing_new"] and record["stage"] == "done" and len(record["files"]) == 14 + 6  # + WEB01's IIS logs
    assert record["hosts"]["web01"]["newest_drop"].startswith("2026-10-31T21:03")  # the lag, carried forward
    # in a process of its own: neither the ingest nor DuckDB's SQL layer for Parquet is loaded
    probe = ("import sys; from pipeline import load_config; from pipeline.jobs.nightly import nightly; "
             f"r = nightly(load_config({str(settled_night)!r})); "
             "print(r.nothing_new, 'pipeline.ingest' in sys.modules, 'pyarrow.dataset' in sys.modules, "
             "'pandas' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "False", "False", "False"], done.stderr


@pytest.mark.parametrize("change", ["touched file", "edited config", "edited policy", "deleted data part",
                                    "interrupted publish"])
def test_anything_the_stamps_cannot_vouch_for_takes_the_full_path(settled_night, change):
    config = settled_night
    root = config.parent.parent / "warehouse"
    if change == "touched file":
        target = next((config.parent / "exports" / "web01").iterdir())
        os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    elif change == "edited config":
        config.write_text(config.read_text(encoding="utf-8") + "\n# a comment\n", encoding="utf-8")
    elif change == "edited policy":
        script = config.parent / "policies" / "web01.cmd"
        script.write_bytes(script.read_bytes() + b"\r\nREM a comment\r\n")
    elif change == "deleted data part":
        next(iter(Warehouse(root).drop_files())).unlink()
    else:
        (root / "_publish.json").write_text("{}", encoding="utf-8")  # what a kill after the commit leaves
    code, out, events = nightly_events(config)
    assert "nothing-new" not in events and ("policies" in events or events[-1] == "failed"), (change, events)
    if change == "deleted data part":
        assert code == 1 and "data part missing" in out + "".join(last_records(Warehouse(root), 1)[-1]["problems"])
    elif change == "interrupted publish":
        assert code == 4 and "_publish.json" in out + "".join(last_records(Warehouse(root), 1)[-1]["problems"])
        assert events[-1] == "failed"  # a journal that says nothing: the full path refuses it, names the file
    else:
        assert code == 0 and out.startswith("nothing new")
        assert nightly_events(config)[2] == ["ingest", "nothing-new", "done"]  # settled again


def test_a_quiet_night_still_retires_the_days_past_retention(first_night, tmp_path):
    from datetime import date

    config = copy_night(first_night, tmp_path)
    text = config.read_text(encoding="utf-8").replace("retention_days = 0", "retention_days = 30")
    config.write_text(text, encoding="utf-8")
    root = tmp_path / "warehouse"
    loaded = load_config(config)
    assert nightly(loaded, today=date(2026, 11, 5)).exit_code == 0  # full path: the config changed
    assert nightly(loaded, today=date(2026, 11, 6)).files[0]["status"] == "unchanged"
    assert len({p.parent.name for p in Warehouse(root).drop_files()}) == 9
    later = nightly(loaded, today=date(2026, 11, 27))  # 2026-10-23 .. 2026-10-27 are now past 30 days
    assert later.exit_code == 0 and later.maintenance
    assert sorted({p.parent.name for p in Warehouse(root).drop_files()}) == [
        "date=2026-10-28", "date=2026-10-29", "date=2026-10-30", "date=2026-10-31"]
