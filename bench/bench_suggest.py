"""Suggestions benchmark: ``suggest --verify`` against ``flows`` on the correlation benchmark's warehouse.

    python bench/bench_suggest.py                       # 10 M drops, 200 k flows, 2,000 filters
    python bench/bench_suggest.py --drops 2000000 --flows 40000

Uses (and writes, when missing) the warehouse of bench/bench_correlate.py, then times whole
processes, as the user waits on them, each twice, alternating: ``ipsec-drops flows --format csv``
(the reference) and ``ipsec-drops suggest --verify --format json`` (candidates, scans, CIDR
widening, netsh text, and the replay of every stored drop against the amended 2,000-filter
policy), both with the benchmark's config. Prints one JSON line per run and the ratio of the
best runs (target: at most 2). Results: BENCHMARKS.md, "Suggestions".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_correlate import site  # noqa: E402
from bench_sql import timed  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--drops", type=int, default=10_000_000)
    ap.add_argument("--flows", type=int, default=200_000)
    ap.add_argument("--filters", type=int, default=2000)
    args = ap.parse_args()
    folder = site(args.drops, args.flows, args.filters)
    cli = [sys.executable, "-m", "pipeline", "--config", str(folder / "ipsec-drops.toml")]
    wh = str(folder / "warehouse")
    commands = {"flows": [*cli, "flows", "-w", wh, "--format", "csv"],
                "suggest_verify": [*cli, "suggest", "-w", wh, "--verify", "--format", "json"]}
    best: dict[str, dict] = {}
    for name in ("flows", "suggest_verify", "flows", "suggest_verify"):
        run = timed(commands[name])
        print(json.dumps({"run": name, **run}), flush=True)
        if name not in best or run["seconds"] < best[name]["seconds"]:
            best[name] = run
    out = subprocess.run(commands["suggest_verify"], capture_output=True, text=True, check=True).stdout
    doc = json.loads(out)
    print(json.dumps({"drops": args.drops, "flows": args.flows, "filters": args.filters,
                      "suggestions": len(doc["suggestions"]), "not_suggested": len(doc["not_suggested"]),
                      "replay_blocked_before": doc["replay"]["drops_blocked_before"],
                      "replay_blocked_after": doc["replay"]["drops_blocked_after"],
                      "ratio_suggest_verify_to_flows": round(best["suggest_verify"]["seconds"]
                                                             / best["flows"]["seconds"], 2)}), flush=True)


if __name__ == "__main__":
    main()
