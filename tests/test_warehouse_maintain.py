"""Compaction and retention: fewer files, the same rows and keys, atomic for readers, crash-safe."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
from conftest import SAMPLE, SAMPLE_CONFIG

from pipeline import Warehouse, ingest, load_config
from pipeline.warehouse import CRASH_ENV, check, maintain, repair

CONFIG = load_config(SAMPLE_CONFIG)
EXPORTS = sorted(p for p in (SAMPLE / "exports").rglob("*") if p.is_file())


def rows(wh: Warehouse) -> list[tuple]:
    return duckdb.sql(f"select host, source_file, source_record, event_time, drop_kind from "
                      f"read_parquet('{wh.drops_glob()}') order by all").fetchall()


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    """The sample site ingested one file per run: many small parts per day, as nightly runs leave them."""
    warehouse = Warehouse(tmp_path / "W")
    for path in EXPORTS:
        ingest([path], warehouse, CONFIG)
    return warehouse


def test_compaction_leaves_one_part_a_day_with_the_same_rows_and_keys(wh: Warehouse):
    before, files_before = rows(wh), len(wh.drop_files())
    report = maintain(wh)
    assert report.compacted and files_before > len(wh.drop_files()) == len({p.parent for p in wh.drop_files()})
    assert rows(wh) == before
    status = check(wh)
    assert status.ok, [f.message for f in status.findings]
    assert len(wh.key_files()) == len(wh.drop_files())
    # keys still de-duplicate: everything again stores nothing
    again = ingest([SAMPLE / "exports"], wh, CONFIG, reread=True)
    assert again.total("drops_stored") == 0 and rows(wh) == before
    # rows are clustered by host inside a day
    for path in wh.drop_files():
        hosts = duckdb.sql(f"select host from read_parquet('{path}')").fetchall()
        assert hosts == sorted(hosts)
    assert maintain(wh).compacted == {}  # nothing left to do


def test_retention_removes_whole_old_days_and_nothing_else(wh: Warehouse):
    before = rows(wh)
    report = maintain(wh, retention_days=3, today=date(2026, 10, 31))
    kept = rows(wh)
    assert report.retired == ["2026-10-23", "2026-10-24", "2026-10-25", "2026-10-26", "2026-10-27"]
    assert [r for r in before if r[3].date() >= date(2026, 10, 28)] == kept
    assert report.rows_retired == len(before) - len(kept)
    assert check(wh).ok
    assert not list(wh.drops_dir.glob(".retired-*")) and not list(wh.drops_dir.glob("date=2026-10-2[3-7]"))


@pytest.mark.parametrize("point", ["before-commit", "after-commit", "mid-exchange", "mid-retire", "before-manifest"])
def test_a_kill_at_any_point_of_maintenance_is_completed_or_undone_by_the_next_writer(wh: Warehouse, point: str):
    before = rows(wh)
    code = (f"from datetime import date; from pipeline.warehouse import maintain; "
            f"maintain({str(wh.root)!r}, retention_days=6, today=date(2026, 10, 31))")
    killed = subprocess.run([sys.executable, "-c", code], env={**os.environ, CRASH_ENV: point})
    assert killed.returncode == -9
    # a reader in between sees the old or the new partition of every day, never a mix: no duplicates
    mid = rows(wh)
    assert len(mid) == len(set(mid))
    maintain(wh, retention_days=6, today=date(2026, 10, 31))  # the next writer recovers, then does the rest
    after = rows(wh)
    assert after == [r for r in before if r[3].date() >= date(2026, 10, 25)]
    assert check(wh).ok


def test_a_part_deleted_after_compaction_is_repaired_and_reread(wh: Warehouse, tmp_path: Path):
    maintain(wh)
    before = rows(wh)
    victim = sorted(wh.drop_files())[2]
    victim.unlink()
    assert not check(wh).ok
    repaired = repair(wh)
    assert repaired.lost and repaired.reread  # the compacted part's sources are known
    ingest([SAMPLE / "exports"], wh, CONFIG)
    assert rows(wh) == before and check(wh).ok
    shutil.rmtree(tmp_path / "W")


def test_an_open_investigation_keeps_answering_across_a_compaction(wh: Warehouse):
    from pipeline import open_warehouse

    with open_warehouse(wh.root, CONFIG) as investigation:
        before = int(investigation.sql("select count(*) as n from drops")["n"][0])
        flows = len(investigation.flows())
        maintain(wh)  # every file it listed is gone now
        assert int(investigation.sql("select count(*) as n from drops")["n"][0]) == before
        investigation.session._tuples.clear()  # a new question about the period: the drops are read again
        assert len(investigation.flows()) == flows
