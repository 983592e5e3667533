"""W3C blocks are split and extracted as jobs on worker threads: none may leave the others waiting.

The stateful steps of extraction (the DST fold of local times, numbering identical events)
pass turnstiles in job order.  Two ways to stop every later job for good were found: a batch
holding rows of two hosts entered the time step once per host (the second entry waited for a
turn already gone), and a job whose split raised never reached the turnstiles at all.  Either
hung the nightly ingest with the warehouse lock held.  The ingest runs here in a child process
with a timeout, so that a regression fails the test instead of hanging the suite.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pipeline.config import Config
from pipeline.extract import SourceContext

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
CONFIG = """
[hosts.WEB01]
timezone = "Europe/Berlin"
[hosts.DB01]
timezone = "America/Chicago"
"""


def run_child(code: str, tmp_path: Path) -> dict:
    """Run ``code`` (which prints one JSON object last) in a fresh interpreter; fail after 60 s."""
    (tmp_path / "ipsec-drops.toml").write_text(CONFIG)
    try:
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                             timeout=60, cwd=REPO, check=True)
    except subprocess.TimeoutExpired:
        pytest.fail("ingest hung (worker jobs waiting for each other)")
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_batch_with_rows_of_two_hosts_is_ingested(tmp_path):
    # WEB01 08:45:07 Berlin on 2026-10-26 is CET (+01:00): 07:45:07Z; DB01 09:00:00 Chicago is CDT (-05:00): 14:00Z.
    code = f"""
import json, sys
from pathlib import Path
import duckdb
from pipeline import Warehouse, ingest, load_config
tmp = Path(sys.argv[1])
export = {str(DATA / "w3c-reordered-fields.log")!r}
report = ingest([export], Warehouse(tmp / "W"), load_config(tmp / "ipsec-drops.toml"))
rows = duckdb.sql(f"select host, strftime(event_time at time zone 'UTC', '%H:%M:%S'), event_id "
                  f"from read_parquet('{{tmp}}/W/drops/**/*.parquet') order by host").fetchall()
print(json.dumps({{"status": report.files[0].status, "rows": rows}}))
"""
    result = run_child(code, tmp_path)
    assert result == {"status": "ingested", "rows": [["DB01", "14:00:00", 4284], ["WEB01", "07:45:07", 4290]]}


def test_a_job_whose_split_fails_gives_a_read_error_not_a_hang(tmp_path):
    # Many small blocks; the split of the third segment raises (as a bug would).
    lines = "".join(f"{100 + i} 2026-06-01 10:00:{i % 60:02d} 4292 IPSEC - WEB01 -\n" for i in range(200))
    path = tmp_path / "many.log"
    path.write_text("#Fields: RecordNumber TimeGenerated EventID SourceName Strings ComputerName Message\n" + lines)
    code = f"""
import importlib, json, sys
from pathlib import Path
import pipeline.readers.logparser_w3c as w3c
from pipeline import Warehouse, ingest, load_config
importlib.import_module("pipeline.ingest").W3C_BLOCK_SIZE = 512
real, calls = w3c._split_segment, []
def failing(*args):
    calls.append(1)
    if len(calls) == 3:
        raise ValueError("split failed")
    return real(*args)
w3c._split_segment = failing
tmp = Path(sys.argv[1])
report = ingest([{str(path)!r}], Warehouse(tmp / "W"), load_config(tmp / "ipsec-drops.toml"))
f = report.files[0]
print(json.dumps({{"status": f.status, "issues": [[i.kind, i.reason] for i in report.issues], "calls": len(calls)}}))
"""
    result = run_child(code, tmp_path)
    assert result["status"] == "failed" and result["calls"] >= 3
    assert result["issues"] == [["read-error", "stopped reading: ValueError: split failed"]]


def in_thread(target) -> list[BaseException]:
    """Run ``target`` on a daemon thread (a hang cannot keep the suite from ending); its exceptions."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            errors.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "the job is waiting for a turn that will never come"
    return errors


def test_entering_a_stateful_step_twice_in_one_job_raises_and_the_next_job_still_passes():
    ctx = SourceContext("logparser-w3c", "x.log", Config())

    def twice() -> None:
        with ctx.job(0):
            with ctx.in_order("time"):
                pass
            with ctx.in_order("time"):
                pass

    def next_job() -> None:
        with ctx.job(1), ctx.in_order("time"), ctx.in_order("occurrences"):
            pass

    errors = in_thread(twice)
    assert [str(e) for e in errors] == ["stateful step 'time' entered twice by job 0"]
    assert in_thread(next_job) == []
