"""Output benchmark (issue 15, target 5): ``flows --format csv|json`` against the same command printing no row.

    python bench/bench_output.py                       # 10 M drops, 200 k flows (bench_correlate.py's warehouse)
    python bench/bench_output.py --drops 1000000 --flows 20000 --pairs 3

Whole processes, as the user waits on them, output to /dev/null: ``flows --format csv`` (every flow, spreadsheet-
safe), ``--format json``, and the reference: the same command with ``--top 0`` (the same session, query and
flows table, only the header written). Runs alternate (reference, csv, json, reference, ...) so that other work
on the machine falls on all of them alike; prints each run (wall seconds, CPU seconds of the process, peak
RSS, the load average) and the medians' ratios to the reference. Results: BENCHMARKS.md, "Output (issue 15, target 5)".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_correlate import site  # noqa: E402

MEASURE = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
           "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
           "r = resource.getrusage(resource.RUSAGE_CHILDREN); "
           "print(time.perf_counter() - t, r.ru_utime + r.ru_stime, r.ru_maxrss, p.returncode)")


def timed(cmd: list[str], cwd: str) -> dict:
    out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True, check=True,
                         cwd=cwd).stdout.split()
    if int(out[3]) != 0:
        raise SystemExit(f"{cmd} exited {out[3]}")
    return {"seconds": round(float(out[0]), 2), "cpu_seconds": round(float(out[1]), 2),
            "peak_rss_mb": round(int(out[2]) / 1024), "load": round(os.getloadavg()[0], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--drops", type=int, default=10_000_000)
    ap.add_argument("--flows", type=int, default=200_000)
    ap.add_argument("--filters", type=int, default=2000)
    ap.add_argument("--pairs", type=int, default=5, help="rounds of (reference, csv, json)")
    args = ap.parse_args()
    wh = str(site(args.drops, args.flows, args.filters) / "warehouse")
    flows = [sys.executable, "-m", "pipeline", "flows", "--warehouse", wh]
    runs = {"no_rows": [*flows, "--format", "csv", "--top", "0"], "csv": [*flows, "--format", "csv"],
            "json": [*flows, "--format", "json"]}
    results: dict[str, list[dict]] = {name: [] for name in runs}
    with tempfile.TemporaryDirectory() as cwd:  # no ipsec-drops.toml: the warehouse's own snapshot is in force
        for _ in range(args.pairs):
            for name, cmd in runs.items():
                run = timed(cmd, cwd)
                results[name].append(run)
                print(json.dumps({"drops": args.drops, "run": name, **run}), flush=True)
    median = {name: {k: statistics.median(r[k] for r in rs) for k in ("seconds", "cpu_seconds", "peak_rss_mb")}
              for name, rs in results.items()}
    ref = median["no_rows"]
    print(json.dumps({"drops": args.drops, "medians": median,
                      "ratio_csv_to_no_rows": round(median["csv"]["seconds"] / ref["seconds"], 3),
                      "ratio_csv_to_no_rows_cpu": round(median["csv"]["cpu_seconds"] / ref["cpu_seconds"], 3),
                      "ratio_json_to_no_rows": round(median["json"]["seconds"] / ref["seconds"], 3),
                      "ratio_json_to_no_rows_cpu": round(median["json"]["cpu_seconds"] / ref["cpu_seconds"], 3)}))


if __name__ == "__main__":
    main()
