"""``ipsec-drops sql "select * from drops"`` on a big warehouse: the table stops at --max-rows fast, CSV streams.

    python bench/bench_sql.py                 # 3 M drops (and 1 M, to show memory stays flat)
    python bench/bench_sql.py --drops 3000000 --small 1000000

Writes synthetic warehouses with the correlation benchmark's generator (bench/out/sql-<drops>-per-day-*/:
100 k drops a day, so the bigger warehouse is more days, as a real one grows),
then times whole processes, as the user waits on them: the table format (first 1,000 rows),
``--format csv`` and ``--format ndjson`` to /dev/null, beside DuckDB's own ``COPY ... TO`` CSV
of the same rows as the reference; peak RSS of each process. Prints one JSON line per run.
Results: BENCHMARKS.md, "sql output".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_correlate import OUT, write_drops  # noqa: E402

MEASURE = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
           "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
           "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode)")


def timed(cmd: list[str], env: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True, check=True,
                         env={**os.environ, **(env or {})}).stdout.split()
    seconds, rss_kb, code = float(out[0]), int(out[1]), int(out[2])
    if code != 0:
        raise SystemExit(f"{cmd} exited {code}")
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(rss_kb / 1024)}


#: Drops per daily partition: a bigger warehouse is more days of the same size, as one grows over time.
PER_DAY = 100_000


def warehouse(drops: int) -> Path:
    folder = OUT / f"sql-{drops}-per-day-{PER_DAY}"
    if not (folder / "warehouse" / "drops").is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        write_drops(folder, drops, max(drops // 50, 1000), np.random.default_rng(7), days=max(drops // PER_DAY, 1))
    return folder / "warehouse"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--drops", type=int, default=3_000_000)
    ap.add_argument("--small", type=int, default=1_000_000)
    args = ap.parse_args()
    cli = [sys.executable, "-m", "pipeline"]
    for drops in (args.small, args.drops):
        wh = warehouse(drops)
        glob = str(wh / "drops" / "date=*" / "*.parquet")
        copy = ("import duckdb, sys; duckdb.sql(f\"COPY (SELECT * FROM read_parquet('{sys.argv[1]}', "
                "hive_partitioning = true)) TO '/dev/null' (FORMAT csv, HEADER)\")")
        t0 = time.perf_counter()
        runs = {
            "table_first_1000": timed([*cli, "sql", "--warehouse", str(wh), "select * from drops"],
                                      {"COLUMNS": "200"}),
            "csv": timed([*cli, "sql", "--warehouse", str(wh), "--format", "csv", "select * from drops"]),
            "ndjson": timed([*cli, "sql", "--warehouse", str(wh), "--format", "ndjson", "select * from drops"]),
            "duckdb_copy_csv": timed([sys.executable, "-c", copy, glob]),
        }
        for name, run in runs.items():
            print(json.dumps({"drops": drops, "run": name, **run}), flush=True)
        print(json.dumps({"drops": drops, "ratio_csv_to_duckdb_copy": round(
            runs["csv"]["seconds"] / runs["duckdb_copy_csv"]["seconds"], 2),
            "bench_seconds": round(time.perf_counter() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main()
