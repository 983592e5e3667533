"""W3C blocks are split, extracted and keyed on worker threads: the result must not depend on it.

Small read blocks make many jobs run at once; the stateful steps (DST fold of local
times, numbering identical events) must still happen in file order, and a failed
Parquet write must fail the run instead of being lost.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest

import pipeline.warehouse.store as store
from pipeline import Warehouse, ingest, parse_config
from pipeline.warehouse import WarehouseError

INGEST = sys.modules["pipeline.ingest"]  # (``pipeline.ingest`` the attribute is the function)
CONFIG = """
[hosts.WEB01]
timezone = "Europe/Berlin"
addresses = ["198.51.100.10"]
"""
HEADER = "#Software: Microsoft Log Parser\r\n#Fields: TimeGenerated EventID SourceName Strings ComputerName\r\n"


def line(local: str, port: int) -> str:
    return f"{local} 4290 IPSEC \\Driver\\IPSEC|192.0.2.7|198.51.100.10|6|40000|{port} WEB01\r\n"


def fold_export() -> str:
    """The night Berlin leaves summer time (2026-10-25): 02:00-02:59 local happens twice."""
    rows = [line(f"2026-10-25 01:{m:02d}:00", 1000 + m) for m in range(0, 60, 5)]
    rows += [line(f"2026-10-25 02:{m:02d}:00", 2000 + m) for m in range(60)]  # summer time (UTC+2)
    rows += [line(f"2026-10-25 02:{m:02d}:00", 3000 + m) for m in range(60)]  # again, winter time (UTC+1)
    rows += [line(f"2026-10-25 03:{m:02d}:00", 4000 + m) for m in range(0, 60, 5)]
    return HEADER + "".join(rows)


def stored(wh: Path, sql: str) -> list[tuple]:
    glob = str(wh / "drops" / "**" / "*.parquet")
    return duckdb.sql(sql.replace("DROPS", f"read_parquet('{glob}')")).fetchall()


def run(tmp_path: Path, name: str, text: str, block: int, monkeypatch) -> Path:
    monkeypatch.setattr(INGEST, "W3C_BLOCK_SIZE", block)
    export = tmp_path / f"{name}.log"
    export.write_text(text, newline="")
    wh = tmp_path / f"W-{name}"
    report = ingest([export], Warehouse(wh), parse_config(CONFIG, tmp_path / "c.toml"))
    assert report.total("skipped") == 0
    return wh


def test_dst_fold_is_resolved_in_file_order_across_many_parallel_blocks(tmp_path, monkeypatch):
    text = fold_export()
    whole = run(tmp_path, "whole", text, 1 << 24, monkeypatch)  # one block: one job
    split = run(tmp_path, "split", text, 512, monkeypatch)  # ~7 lines a block: dozens of jobs
    query = "SELECT dst_port, strftime(event_time, '%H:%M') FROM DROPS ORDER BY dst_port"
    assert stored(split, query) == stored(whole, query)
    # and both are right: the first 02:xx is 00:xx UTC, the repeated one 01:xx UTC
    times = dict(stored(split, query))
    assert times[2030] == "00:30" and times[3030] == "01:30"
    assert times[1055] == "23:55" and times[4005] == "02:05"


def test_identical_events_in_many_blocks_are_numbered_in_order(tmp_path, monkeypatch):
    # No RecordNumber: an event's identity is its content and its occurrence in the file.
    body = line("2026-06-01 10:00:00", 22) * 300 + line("2026-06-01 10:00:01", 22) * 300
    wh = run(tmp_path, "same", HEADER + body, 600, monkeypatch)  # ~5 lines a block
    assert stored(wh, "SELECT count(*) FROM DROPS") == [(600,)]
    # Another export with one more event first, read as one block: the 600 get the same
    # occurrence numbers, so they are recognised; only the new one is stored.
    monkeypatch.setattr(INGEST, "W3C_BLOCK_SIZE", 1 << 24)
    again = tmp_path / "again.log"
    again.write_text(HEADER + line("2026-06-01 09:59:59", 23) + body, newline="")
    report = ingest([again], Warehouse(wh), parse_config(CONFIG, tmp_path / "c.toml"))
    assert (report.total("drops_stored"), report.total("duplicates")) == (1, 600)


def test_a_failed_parquet_write_fails_the_run_and_leaves_the_warehouse_as_it_was(tmp_path, monkeypatch):
    text = HEADER + "".join(line(f"2026-06-01 10:{m:02d}:00", m) for m in range(60))
    good = run(tmp_path, "first", text, 1 << 24, monkeypatch)
    before = stored(good, "SELECT count(*) FROM DROPS")
    calls = []

    def failing(*args):
        calls.append(args)
        raise OSError("No space left on device")

    monkeypatch.setattr(store, "_write_part", failing)
    more = tmp_path / "second.log"
    more.write_text(HEADER + "".join(line(f"2026-06-02 10:{m:02d}:00", m) for m in range(60)), newline="")
    with pytest.raises(WarehouseError, match="No space left.*nothing was published"):
        ingest([more], Warehouse(good), parse_config(CONFIG, tmp_path / "c.toml"))
    assert calls, "the write was attempted"
    assert not (good / ".staging").exists()
    assert stored(good, "SELECT count(*) FROM DROPS") == before
    monkeypatch.undo()
    report = ingest([more], Warehouse(good), parse_config(CONFIG, tmp_path / "c.toml"))
    assert report.total("drops_stored") == 60
