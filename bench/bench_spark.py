"""Spark benchmark (issue 17): the flows view on N drops, DuckDB vs Spark local[2] on this machine, and the
projected time on N executors from the measured per-partition time.

    python bench/bench_spark.py                         # 2 M drops, 40 k flows, 2,000 filters
    python bench/bench_spark.py --drops 10000000 --flows 200000

The data are the correlation benchmark's (bench/bench_correlate.py: a synthetic warehouse of 30 daily
partitions and a 2,000-filter policy, loaded into policy/). Each phase runs in a fresh process:

* ``duckdb``: pipeline.correlate.flows (the whole flows view);
* ``spark``: the SparkSession start, then pipeline.spark.correlate.flows timed in its two stages: the
  drops stage (flow_tuples.sql: the scan and grouping of every drop, over P input partitions: what more
  executors divide) and the rest (tuple_verdicts.sql and flows.sql over the distinct tuples: small, broadcast
  filters), run twice (the second in a warm JVM).

Projection: the drops stage on E executors of C cores each takes ceil(P' / (E*C)) x t_p, where t_p is the
measured per-partition time (drops-stage seconds x 2 cores / P on local[2]) and P' the partitions the data
would have (one per 128 MiB, at least one per file); the rest stays as measured. Prints one JSON line per
phase and a summary; results: BENCHMARKS.md, "Spark (issue 17)".
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_correlate import site  # noqa: E402


def phase(kind: str, folder: Path, partition_mb: int) -> dict:
    root = folder / "warehouse"
    if kind == "duckdb":
        from pipeline.correlate import flows

        t0 = time.perf_counter()
        rows = flows(root).num_rows
        return {"phase": "duckdb", "seconds": round(time.perf_counter() - t0, 2), "rows": rows}
    from pipeline.spark.correlate import BOOT_WINDOW, SparkCorrelation, to_flows_table
    from pipeline.spark.session import spark_session

    t0 = time.perf_counter()
    spark = spark_session("local[2]", {"spark.sql.files.maxPartitionBytes": f"{partition_mb}m",
                                       "spark.driver.memory": "2g"})
    started = time.perf_counter() - t0
    runs = []
    for _ in range(2):
        t1 = time.perf_counter()
        engine = SparkCorrelation(root, spark=spark)
        partitions = spark.sql("SELECT * FROM drops").rdd.getNumPartitions()
        t2 = time.perf_counter()
        tuples = engine.sql("flow_tuples", host=None, since=None, until=None, boot_window=BOOT_WINDOW,
                            day0=0, day1=0).localCheckpoint(eager=True)
        t3 = time.perf_counter()
        tuples.createOrReplaceTempView("flow_tuples")
        engine.sql("tuple_verdicts").createOrReplaceTempView("tuple_verdicts")
        rows = to_flows_table(engine.sql("flows", verdict=None, top=2**31 - 1).drop("days").toArrow()).num_rows
        t4 = time.perf_counter()
        runs.append({"setup": round(t2 - t1, 2), "drops_stage": round(t3 - t2, 2), "rest": round(t4 - t3, 2),
                     "seconds": round(t4 - t1, 2), "rows": rows, "partitions": partitions,
                     "tuples": tuples.count()})
    spark.stop()
    return {"phase": "spark", "start_seconds": round(started, 2), "runs": runs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--drops", type=int, default=2_000_000)
    ap.add_argument("--flows", type=int, default=40_000)
    ap.add_argument("--filters", type=int, default=2000)
    ap.add_argument("--partition-mb", type=int, default=16, help="spark.sql.files.maxPartitionBytes (MiB)")
    ap.add_argument("--phase", choices=["duckdb", "spark"], help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.folder, args.partition_mb)))
        return
    folder = site(args.drops, args.flows, args.filters)
    results = {}
    for kind in ("duckdb", "spark", "duckdb"):
        out = subprocess.run([sys.executable, __file__, "--phase", kind, "--folder", str(folder),
                              "--partition-mb", str(args.partition_mb)],
                             check=True, capture_output=True, text=True).stdout
        results[kind] = json.loads(out.strip().splitlines()[-1])
        print(out.strip(), flush=True)
    warm = results["spark"]["runs"][-1]
    cold = results["spark"]["runs"][0]
    duck = results["duckdb"]["seconds"]
    assert warm["rows"] == results["duckdb"]["rows"], "Spark and DuckDB disagree on the number of flows"
    per_partition = warm["drops_stage"] * 2 / warm["partitions"]
    data_mb = sum(p.stat().st_size for p in (folder / "warehouse" / "drops").glob("date=*/*.parquet")) / 2**20
    files = len(list((folder / "warehouse" / "drops").glob("date=*/*.parquet")))
    projection = {}
    for scale in (1, 10):  # this data, and ten times as much (on 128 MiB partitions)
        parts = max(files * scale, math.ceil(data_mb * scale / 128))
        t_p = per_partition * (data_mb * scale / parts) / (data_mb / warm["partitions"])
        projection[f"x{scale}"] = {
            f"{n}x4": round(math.ceil(parts / (n * 4)) * t_p + warm["rest"] + warm["setup"], 1)
            for n in (1, 4, 16, 64)}
    print(json.dumps({
        "drops": args.drops, "flows": args.flows, "filters": args.filters, "data_mb": round(data_mb, 1),
        "duckdb_seconds": duck, "spark_start_seconds": results["spark"]["start_seconds"],
        "spark_cold_seconds": cold["seconds"], "spark_warm_seconds": warm["seconds"],
        "spark_warm_over_duckdb": round(warm["seconds"] / duck, 1),
        "spark_with_start_over_duckdb": round((results["spark"]["start_seconds"] + cold["seconds"]) / duck, 1),
        "partitions": warm["partitions"], "seconds_per_partition": round(per_partition, 3),
        "projected_seconds_executors_x_cores": projection}))


if __name__ == "__main__":
    main()
