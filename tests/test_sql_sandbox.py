"""``ipsec-drops sql`` is read-only and sandboxed (Foundation defect 3): each statement of the report is refused.

Every test runs against a copy of the sample warehouse and checks afterwards that every
stored drop is still there and no file was written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from conftest import SAMPLE, SAMPLE_CONFIG

from pipeline.cli import cli
from pipeline.correlate import QueryRefused, sql

EXPECTED_DROPS = json.loads((SAMPLE / "expected.json").read_text())["total_drops"]


@pytest.fixture
def warehouse(sample_warehouse, tmp_path) -> Path:
    root = tmp_path / "W"
    shutil.copytree(sample_warehouse, root)
    return root


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def stored(root: Path) -> int:
    return duckdb.sql(f"select count(*) from read_parquet('{root}/drops/*/*.parquet')").fetchall()[0][0]


def run_sql(root: Path, text: str):
    return CliRunner().invoke(cli, ["--config", str(SAMPLE_CONFIG), "sql", "--warehouse", str(root), text])


@pytest.mark.parametrize("statement", [
    # the report's own: overwrites the drops folder with one row
    "COPY (select 1 a, 2 b) TO '{W}/drops' (FORMAT parquet, PARTITION_BY (a), OVERWRITE true)",
    "COPY (select 1 a) TO '/tmp/ipsec-drops-sandbox-escape.csv'",
    "select * from read_text('/etc/passwd')",
    "select * from read_csv('/etc/passwd')",
    "ATTACH '{W}/evil.duckdb' AS evil",
    "CREATE TABLE t AS SELECT 1 AS a",
    "CREATE VIEW v AS SELECT 1 AS a",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "PRAGMA enable_profiling",
    "select 1; COPY (select 1) TO '{W}/x.csv'",
    "DROP VIEW drops",
    "EXPORT DATABASE '{W}/export'",
])
def test_writing_reading_outside_and_reconfiguring_are_refused(warehouse, statement):
    before = listing(warehouse)
    result = run_sql(warehouse, statement.replace("{W}", str(warehouse)))
    assert result.exit_code == 2, result.output
    assert "error" in result.stderr
    assert "Traceback" not in result.output
    assert listing(warehouse) == before
    assert stored(warehouse) == EXPECTED_DROPS
    assert not Path("/tmp/ipsec-drops-sandbox-escape.csv").exists()


def test_queries_still_read_the_warehouse_and_the_library_raises_a_clear_error(warehouse):
    result = run_sql(warehouse, "select count(*) as n from drops")
    assert result.exit_code == 0 and f"{EXPECTED_DROPS}" in result.stdout
    with pytest.raises(QueryRefused, match="refused a COPY statement"):
        sql(warehouse, None, "COPY (select 1) TO 'x.csv'")
    with pytest.raises(duckdb.PermissionException):
        sql(warehouse, None, "select * from read_text('/etc/passwd')")
    # a file inside the warehouse folder can be read (it is the warehouse)
    assert sql(warehouse, None, f"select count(*) n from read_json_auto('{warehouse}/_manifest.json')"
               ).column("n").to_pylist() == [1]
