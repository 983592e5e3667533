"""The Spark engine (issue 17): Spark 4 reads the warehouse as it is, and ``flows --engine spark`` gives the
rows DuckDB gives, on the sample site and on a cut of the correlation benchmark's data.

PySpark runs in local mode (``local[2]``), one session for the whole test session.  Without PySpark or
Java these tests are skipped with the reason printed; in CI (``CI`` set, as ``.ci/run`` does, which
installs Java when missing) they fail instead, so they never vanish silently.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import REPO, SAMPLE_CONFIG, in_ci

from pipeline.cli import cli
from pipeline.config import load_config
from pipeline.correlate import flows as duckdb_flows

pytestmark = pytest.mark.spark


def _missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("sqlglot") is None:
        return "PySpark/sqlglot not installed (pip install -e '.[dev]' or '.[spark]')"
    from pipeline.spark.session import _java_found

    if not _java_found():
        return "no Java runtime (apt-get install openjdk-17-jre-headless)"
    return None


@pytest.fixture(scope="session")
def spark():
    """One local[2] SparkSession for every Spark test (Spark takes long to start on a busy machine)."""
    reason = _missing()
    if reason:
        if in_ci():
            pytest.fail(f"the Spark tests cannot run in CI: {reason}")
        pytest.skip(reason)
    from pipeline.spark.session import spark_session

    session = spark_session("local[2]", {
        # a short-lived test JVM: quick JIT, small heap work, no whole-stage code generation for tiny data
        "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
        "spark.sql.codegen.wholeStage": "false",
        "spark.sql.adaptive.enabled": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.default.parallelism": "2",
    })
    yield session
    session.stop()


def _rows(table: pa.Table) -> list[dict]:
    return table.to_pylist()


def test_spark_reads_the_warehouse_as_it_is(spark, sample_warehouse, tmp_path):
    """drops/ with its Hive date, UTC instants, and the policy tables' UINT64 address halves as DECIMAL(20,0)."""
    from pipeline.spark.correlate import drops_frame

    root = tmp_path / "wh"
    shutil.copytree(sample_warehouse, root)
    result = CliRunner().invoke(cli, ["-q", "--config", str(SAMPLE_CONFIG), "policy", "load", "--all",
                                      "--warehouse", str(root)])
    assert result.exit_code in (0, 1), result.output
    # drops: Spark discovers the partitions itself (no schema given), date as DATE, event_time as an instant
    plain = spark.read.parquet(str(root / "drops"))
    types = dict(plain.dtypes)
    assert types["date"] == "date" and types["event_time"] == "timestamp" and types["protocol"] == "smallint"
    expected = pa.concat_tables([pq.read_table(p) for p in sorted((root / "drops").glob("date=*/*.parquet"))])
    got = drops_frame(spark, root).select("event_time", "date", "host", "source_record").toArrow()
    want = sorted(zip(expected.column("event_time").to_pylist(), expected.column("host").to_pylist(),
                      expected.column("source_record").to_pylist(), strict=True), key=str)
    have = sorted(zip(got.column("event_time").to_pylist(), got.column("host").to_pylist(),
                      got.column("source_record").to_pylist(), strict=True), key=str)
    assert have == want and len(have) == 794
    assert all(d == t.date() for t, d in zip(got.column("event_time").to_pylist(), got.column("date").to_pylist(),
                                             strict=True))  # the partition is the UTC date
    # the allowed dataset (observed permitted traffic), where the site has it: the same layout
    if (root / "allowed").is_dir():
        allowed = spark.read.parquet(str(root / "allowed"))
        assert dict(allowed.dtypes)["date"] == "date"
        assert allowed.count() == sum(pq.read_metadata(p).num_rows for p in (root / "allowed").glob("date=*/*.parquet"))
    # policy tables: every one readable; the address bounds as DECIMAL(20,0) with the stored values
    for name in ("filters", "policies", "rules", "filter_actions", "settings", "issues", "snapshots"):
        assert spark.read.parquet(str(root / "policy" / name)).dtypes  # the footers read, every type mapped
    filters = spark.read.parquet(str(root / "policy" / "filters"))
    assert dict(filters.dtypes)["src_lo"] == "struct<hi:decimal(20,0),lo:decimal(20,0)>"
    stored = pa.concat_tables([pq.read_table(p) for p in sorted((root / "policy" / "filters").glob("*.parquet"))])
    want_bounds = sorted((r["hi"], r["lo"]) for r in stored.column("dst_hi").to_pylist())
    have_bounds = sorted((int(r["hi"]), int(r["lo"])) for r in filters.select("dst_hi").toArrow()
                         .column("dst_hi").to_pylist())
    assert have_bounds == want_bounds and max(lo for _, lo in want_bounds) == 2**32 - 1  # IPv4 "any"
    # the README's table definitions (pipeline.spark.tables), run as they are
    from pipeline.spark.tables import ddl

    spark.sql("CREATE DATABASE IF NOT EXISTS readme_ddl")
    spark.catalog.setCurrentDatabase("readme_ddl")
    try:
        for name in ("drops", "filters"):
            spark.sql(ddl(name, root.as_uri()))
        spark.sql("ALTER TABLE drops RECOVER PARTITIONS")
        counted = spark.sql("SELECT count(*) AS n, count(DISTINCT date) AS days FROM readme_ddl.drops").collect()[0]
        assert (counted.n, counted.days) == (794, 9)
        assert spark.sql("SELECT count(*) AS n FROM readme_ddl.filters").collect()[0].n == stored.num_rows
    finally:
        spark.catalog.setCurrentDatabase("default")
        spark.sql("DROP DATABASE readme_ddl CASCADE")


def test_uint64_halves_order_right_on_spark(spark, tmp_path):
    """Parquet UINT64 read by Spark as DECIMAL(20,0): struct comparisons give the 128-bit order (no migration)."""
    rng = np.random.default_rng(17)
    edges = [0, 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**63 + 1, 2**64 - 2, 2**64 - 1]
    numbers = sorted({(int(h) << 64) | int(lo) for h in edges for lo in edges[::3]}
                     | {int.from_bytes(rng.bytes(16), "big") for _ in range(200)})
    address = pa.struct([("hi", pa.uint64()), ("lo", pa.uint64())])
    table = pa.table({"n": pa.array([str(n) for n in numbers]),
                      "a": pa.array([{"hi": n >> 64, "lo": n & (2**64 - 1)} for n in numbers], address)})
    pq.write_table(table, tmp_path / "bounds.parquet")
    frame = spark.read.parquet(str(tmp_path / "bounds.parquet"))
    assert dict(frame.dtypes)["a"] == "struct<hi:decimal(20,0),lo:decimal(20,0)>"
    ordered = [int(r.n) for r in frame.orderBy("a").select("n").collect()]
    assert ordered == numbers
    frame.createOrReplaceTempView("bounds")
    pairs = spark.sql("SELECT x.n AS x, y.n AS y, x.a < y.a AS lt, x.a BETWEEN y.a AND y.a AS eq "
                      "FROM bounds x CROSS JOIN (SELECT * FROM bounds TABLESAMPLE (20 ROWS)) y").collect()
    assert pairs and all(r.lt == (int(r.x) < int(r.y)) and r.eq == (r.x == r.y) for r in pairs)
    # ip_number() on Spark gives the same halves as the policy bounds (max IPv6, IPv4 in lo)
    from pipeline.spark.correlate import register_ip_number

    register_ip_number(spark)
    got = spark.sql("SELECT ip_number('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff') AS a, ip_number('10.1.0.10') AS b, "
                    "ip_number('') AS c, ip_number('not an address') AS d").collect()[0]
    assert (got.a.hi, got.a.lo) == (Decimal(2**64 - 1), Decimal(2**64 - 1))
    assert (got.b.hi, got.b.lo) == (0, 167837706) and got.c is None and got.d is None


def test_spark_flows_equal_duckdb_on_the_sample_site(spark, sample_warehouse):
    """Every column of every row, in the flows view's order (most packets first, then the key columns)."""
    from pipeline.spark.correlate import SparkCorrelation

    config = load_config(SAMPLE_CONFIG)
    want = duckdb_flows(sample_warehouse, config)
    engine = SparkCorrelation(sample_warehouse, config, spark=spark)
    got = engine.flows()
    assert got.schema == want.schema
    assert want.num_rows == 215 and _rows(got) == _rows(want)
    # a host, a period and a verdict bind the same way
    period = {"host": "web01", "since": "2026-10-28T00:00:00Z", "until": "2026-10-31T00:00:00Z",
              "verdict": "blocked-by-rule"}
    narrowed = engine.flows(**period)
    assert narrowed.num_rows and _rows(narrowed) == _rows(duckdb_flows(sample_warehouse, config, **period))


def test_spark_flows_equal_duckdb_on_a_cut_of_the_benchmark(spark, tmp_path):
    """The correlation benchmark's generator (smaller: 40 k drops over 4 k flows, 300 filters), its snapshot
    loaded into policy/ (read by Spark from the Parquet files, broadcast)."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import bench_correlate
    finally:
        sys.path.remove(str(REPO / "bench"))
    from pipeline.spark.correlate import flows as spark_flows

    rng = np.random.default_rng(5)
    bench_correlate.write_drops(tmp_path, 40_000, 4_000, rng, days=6)
    bench_correlate.write_policy(tmp_path, rng, 300)
    root = tmp_path / "warehouse"
    assert any((root / "policy" / "filters").glob("*.parquet"))
    want = duckdb_flows(root)
    got = spark_flows(root, spark=spark)
    assert want.num_rows > 3000 and got.num_rows == want.num_rows
    assert _rows(got) == _rows(want)
    assert set(want.column("verdict").to_pylist()) >= {"blocked-by-rule", "permitted-by-policy"}


def test_cli_flows_engine_spark(spark, sample_warehouse):
    """``flows --engine spark`` prints what ``flows`` prints (every row as CSV; --by summarises these rows)."""
    runner = CliRunner()
    base = ["--config", str(SAMPLE_CONFIG), "flows", "--warehouse", str(sample_warehouse), "--format", "csv"]
    duck = runner.invoke(cli, base)
    on_spark = runner.invoke(cli, [*base, "--engine", "spark"])
    assert duck.exit_code == 0 and on_spark.exit_code == 0, on_spark.output
    assert on_spark.stdout == duck.stdout and duck.stdout.count("\n") == 216


def test_the_normal_commands_never_import_pyspark():
    code = ("import sys; from click.testing import CliRunner; from pipeline.cli import cli; "
            "r = CliRunner().invoke(cli, ['flows', '--help']); assert r.exit_code == 0, r.output; "
            "assert '--engine' in r.output; "
            "print(sorted(m for m in sys.modules if m.startswith(('pyspark', 'py4j', 'sqlglot', 'pipeline.spark'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _partition_rows(root: Path, folder: str) -> dict[str, list]:
    out = {}
    for part in sorted((root / folder).glob("date=*")):
        tables = [pq.read_table(p) for p in sorted(part.glob("*.parquet"))]
        rows = pa.concat_tables(tables).to_pylist() if tables else []
        out[part.name] = sorted(rows, key=lambda r: tuple(str(v) for v in r.values()))
    return out


def test_spark_ingest_gives_the_same_warehouse(spark, sample_warehouse, tmp_path):
    """The sample site ingested on Spark: the same drops per partition, keys, manifest entries and flows;
    read again (--reread), the anti-join against the stored keys finds every drop already stored."""
    from pipeline.spark.ingest import ingest as spark_ingest
    from pipeline.warehouse import Warehouse

    config = load_config(SAMPLE_CONFIG)
    root = tmp_path / "spark-warehouse"
    report = spark_ingest([REPO / "sample_logs" / "exports"], root, config, spark=spark)
    assert report.exit_code == 0, report.summary()
    assert (report.total("drops_stored"), report.total("duplicates"), len(report.files)) == (794, 40, 20)
    assert report.total("allowed_stored") > 0  # IIS logs and pfirewall ALLOW lines of the sample site
    assert _partition_rows(root, "drops") == _partition_rows(sample_warehouse, "drops")
    assert _partition_rows(root, "_keys") == _partition_rows(sample_warehouse, "_keys")
    for folder in ("allowed", "_allowed_keys"):  # the observed permitted traffic, where the site has it
        assert _partition_rows(root, folder) == _partition_rows(sample_warehouse, folder)
    fields = ("path", "size", "sha256", "consumed", "consumed_sha256", "format", "host", "state", "rows_read",
              "drops_found", "drops_stored", "duplicates", "skipped", "last_record", "refused", "allowed_found",
              "allowed_stored")

    def entries(wh: Path) -> list:
        return sorted(tuple(str(getattr(e, f)) for f in fields) for e in Warehouse(wh).manifest().files)

    assert entries(root) == entries(sample_warehouse)
    assert Warehouse(root).manifest().watermarks == Warehouse(sample_warehouse).manifest().watermarks
    assert _rows(duckdb_flows(root, config)) == _rows(duckdb_flows(sample_warehouse, config))
    again = spark_ingest([REPO / "sample_logs" / "exports"], root, config, spark=spark, reread=True)
    assert (again.total("drops_stored"), again.total("duplicates")) == (0, 834)
    assert _partition_rows(root, "drops") == _partition_rows(sample_warehouse, "drops")
