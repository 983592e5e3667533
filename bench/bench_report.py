"""Report benchmark (issue 12): ``write_report`` over N drops in 30 daily partitions, time and peak memory.

    python bench/bench_report.py                        # 1 M and 3 M drops, 20 k flows, 2,000 filters
    python bench/bench_report.py --drops 3000000 --days 3 10 30     # the same data, longer and longer periods

Reuses bench_correlate.py's synthetic warehouse (one host, a 2,000-filter policy).  Each size runs in
its own process, so the peak RSS is the report's own; the drops are read one day at a time, so peak
memory should stay flat as the period's drops grow.  Results: BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

OUT = Path(__file__).resolve().parent / "out"


def phase(folder: Path, only: str, days: int | None) -> dict:
    from datetime import UTC, datetime, timedelta

    from pipeline.config import load_config
    from pipeline.report import write_report

    start = datetime(2026, 10, 1, tzinfo=UTC)
    until = start + timedelta(days=days) if days else None
    t0 = time.perf_counter()
    result = write_report(folder / "warehouse", load_config(folder / "ipsec-drops.toml"), folder / "report",
                          only=only.split(","), since=start, until=until)
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = sum(f.rows or 0 for f in result.files if f.kind == "isa2000")
    return {"seconds": round(seconds, 2), "days": len(result.days), "isa2000_rows": rows,
            "files": len(result.files), "peak_rss_mb": round(peak_mb)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--drops", type=int, nargs="+", default=[1_000_000, 3_000_000])
    ap.add_argument("--flows", type=int, default=20_000)
    ap.add_argument("--only", default="isa2000,isa2004,csv,charts,html")
    ap.add_argument("--days", type=int, nargs="+", default=[0],
                    help="Report periods: the first N days of the 30 (0 = all); memory should not grow with N.")
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.folder:
        print(json.dumps(phase(args.folder, args.only, args.days[0] or None)))
        return
    from bench_correlate import write_drops, write_policy

    for drops in args.drops:
        folder = OUT / f"report-{drops}-{args.flows}"
        if not (folder / "ipsec-drops.toml").exists():
            folder.mkdir(parents=True, exist_ok=True)
            rng = np.random.default_rng(12)
            write_drops(folder, drops, args.flows, rng)
            write_policy(folder, rng, 2000)
        for days in args.days:
            out = subprocess.run([sys.executable, __file__, "--folder", str(folder), "--only", args.only,
                                  "--days", str(days)], check=True, capture_output=True, text=True).stdout
            print(json.dumps({"drops": drops, "flows": args.flows, "only": args.only, "period_days": days or 30,
                              **json.loads(out.strip().splitlines()[-1])}), flush=True)


if __name__ == "__main__":
    main()
