"""The command line over a damaged or failing warehouse: a clear message and the documented exit code.

0 stored / consistent, 1 skipped input / damage found, 2 usage (no warehouse), 3 locked,
4 failed (nothing published).  Never a traceback.
"""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import SAMPLE, SAMPLE_CONFIG

import pipeline.warehouse.store as store
from pipeline.cli import cli

DAY_ONE = SAMPLE / "exports" / "web01" / "system-20261024-plain.log"


def run(*args: str):
    return CliRunner().invoke(cli, ["--config", str(SAMPLE_CONFIG), *args])


def stored(root: Path) -> int:
    return duckdb.sql(f"select count(*) from read_parquet('{root}/drops/*/*.parquet')").fetchall()[0][0]


@pytest.fixture
def wh(tmp_path: Path) -> Path:
    root = tmp_path / "W"
    assert run("ingest", str(DAY_ONE), "-w", str(root)).exit_code == 0
    return root


def test_disk_full_is_exit_4_with_the_file_named_and_no_staging_left(wh: Path, monkeypatch):
    class Full(pq.ParquetWriter):
        def write_table(self, *args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

    before = stored(wh)
    monkeypatch.setattr(store.pq, "ParquetWriter", Full)
    result = run("ingest", str(SAMPLE / "exports" / "web01"), "-w", str(wh))
    assert result.exit_code == 4, result.output
    assert "No space left on device" in result.stderr and "nothing was published" in result.stderr
    assert "Traceback" not in result.output
    assert stored(wh) == before and not (wh / ".staging").exists()


def test_a_read_only_warehouse_is_exit_4(wh: Path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(wh / ".lock"))

    monkeypatch.setattr(store.filelock.FileLock, "acquire", refuse)
    result = run("ingest", str(DAY_ONE), "-w", str(wh))
    assert result.exit_code == 4 and "Permission denied" in result.stderr and "Traceback" not in result.output
    result = run("policy", "load", "--all", "-w", str(wh))
    assert result.exit_code == 4 and "Traceback" not in result.output


def test_a_corrupt_manifest_status_says_repair_and_repair_recovers(wh: Path):
    (wh / "_manifest.json").write_text('{"version": 2, "files": [', encoding="utf-8")
    result = run("status", "-w", str(wh))
    assert result.exit_code == 4, result.output
    assert "repair" in result.stdout and "Traceback" not in result.output
    result = run("repair", "-w", str(wh))
    assert result.exit_code == 0 and "manifest rebuilt" in result.stdout
    assert run("status", "-w", str(wh)).exit_code == 0


def test_a_lost_parquet_file_is_noticed_repaired_and_restored_by_reread(wh: Path):
    before = stored(wh)
    victim = sorted((wh / "drops").glob("date=*/*.parquet"))[0]
    lost = pq.read_metadata(victim).num_rows
    victim.unlink()
    result = run("status", "-w", str(wh), "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["ok"] is False and any(f["kind"] == "missing-data" for f in doc["findings"])
    # an ingest before the repair stores nothing (the keys still say "held") but says the warehouse is damaged
    again = run("ingest", str(DAY_ONE), "-w", str(wh))
    assert again.exit_code == 1 and "repair" in again.stdout
    result = run("repair", "-w", str(wh))
    assert result.exit_code == 0 and f"{lost:,} rows lost" in result.stdout
    assert stored(wh) == before - lost
    result = run("ingest", str(DAY_ONE), "-w", str(wh), "--reread")
    assert result.exit_code == 0, result.output
    assert stored(wh) == before
    assert run("status", "-w", str(wh)).exit_code == 0


def test_status_of_no_warehouse_is_exit_2_and_json_works(tmp_path: Path, wh: Path):
    result = run("status", "-w", str(tmp_path / "nowhere"))
    assert result.exit_code == 2 and "no warehouse" in result.stderr
    doc = json.loads(run("status", "-w", str(wh), "--format", "json").stdout)
    assert doc["ok"] is True and doc["rows"] == stored(wh) and doc["last_runs"]


def test_a_first_ingest_of_real_logs_without_drops_says_so(tmp_path: Path):
    from conftest import shared_path

    folder = shared_path("corpus", "realworld", "evtx")
    copy = tmp_path / "evtx"
    shutil.copytree(folder, copy)
    result = run("ingest", str(copy), "-w", str(tmp_path / "W"))
    assert result.exit_code == 0, result.output
    assert "no drop events among them" in result.stdout
    assert "nothing new" not in result.stdout
