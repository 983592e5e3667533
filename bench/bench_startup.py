"""Start-up and nothing-new reruns, as whole processes (issue 15, targets 1 and 2).

    python bench/bench_startup.py                 # 30 daily W3C exports of 20 k lines, 7 rounds
    python bench/bench_startup.py --files 30 --lines 20000 --rounds 7

What the admin waits on every night when nothing (or one day) is new, beside the floor any
Python program on the same engines pays:

* ``ipsec-drops --version`` and ``--help`` against ``python -c "import duckdb"`` (target: <= 2x);
* ``ipsec-drops ingest INBOX`` and ``ipsec-drops nightly`` with every file already ingested,
  against ``python -c "import duckdb, pyarrow.parquet"`` (target: <= 2x);
* one new day: the rerun with a 31st file, against ingesting that file alone into an empty
  warehouse (the new day should cost about what the day costs, not what the history costs).

Commands alternate within each round, so load on a shared machine hits all of them alike;
medians of the rounds.  Prints one JSON line per measurement and a table of ratios.
Results: BENCHMARKS.md, "Start-up and nothing-new reruns".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
CLI = [PY, "-m", "pipeline"]


#: As an installed wheel runs: pip byte-compiles the package at install, so no run compiles its sources
#: (this workplace sets PYTHONDONTWRITEBYTECODE, which would make every run compile every module).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"COLUMNS": "100"}


def run(cmd: list[str], cwd: Path) -> float:
    began = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{cmd} exited {done.returncode}: {done.stderr[-500:]}")
    return seconds


def make_site(base: Path, files: int, lines: int) -> Path:
    inbox = base / "inbox"
    inbox.mkdir(parents=True)
    for i in range(files + 1):  # the last one is the "new day", kept aside
        name = inbox / f"system-day{i:02d}.log" if i < files else base / "new-day.log"
        subprocess.run([PY, str(ROOT / "bench" / "generate.py"), "w3c", str(name), "--lines", str(lines),
                        "--drop-share", "0.3", "--seed", str(100 + i)], check=True)
    config = base / "ipsec-drops.toml"
    config.write_text('[hosts.WEB01]\ntimezone = "Europe/Berlin"\naddresses = ["198.51.100.10", "10.1.0.10"]\n'
                      'inbox = ["inbox/*"]\n\n[nightly]\nwarehouse = "warehouse"\n', encoding="utf-8")
    (base / "warehouse").mkdir()
    run([*CLI, "-q", "--config", str(config), "ingest", str(inbox)], base)
    run([*CLI, "-q", "--config", str(config), "nightly"], base)  # its first run records the fingerprint
    return config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=30)
    ap.add_argument("--lines", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    subprocess.run([PY, "-m", "compileall", "-q", str(ROOT / "pipeline")], check=True, env=ENV)
    base = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        config = make_site(base, args.files, args.lines)
        cfg = ["--config", str(config)]
        cases = {
            "import duckdb": [PY, "-c", "import duckdb"],
            "ipsec-drops --version": [*CLI, "--version"],
            "ipsec-drops --help": [*CLI, "--help"],
            "import duckdb, pyarrow.parquet": [PY, "-c", "import duckdb, pyarrow.parquet"],
            "ingest, nothing new": [*CLI, "-q", *cfg, "ingest", str(base / "inbox")],
            "nightly, nothing new": [*CLI, "-q", *cfg, "nightly"],
        }
        times: dict[str, list[float]] = {k: [] for k in cases}
        new_day: dict[str, list[float]] = {"rerun with one new file": [], "that file alone, fresh warehouse": []}
        for _ in range(args.rounds):
            for name, cmd in cases.items():
                times[name].append(run(cmd, base))
            # one new day: on a copy of the warehouse, so every round starts from the same history
            work = base / "round"
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(base / "warehouse", work / "warehouse")
            shutil.copy(base / "new-day.log", work / "new-day.log")
            new_day["rerun with one new file"].append(
                run([*CLI, "-q", *cfg, "ingest", str(base / "inbox"), str(work / "new-day.log"),
                     "--warehouse", str(work / "warehouse")], base))
            (work / "fresh").mkdir()
            new_day["that file alone, fresh warehouse"].append(
                run([*CLI, "-q", *cfg, "ingest", str(work / "new-day.log"), "--warehouse", str(work / "fresh")], base))
        med = {k: statistics.median(v) for k, v in {**times, **new_day}.items()}
        for name, value in med.items():
            print(json.dumps({"case": name, "median_seconds": round(value, 3),
                              "runs": [round(x, 3) for x in {**times, **new_day}[name]]}))
        ratios = [
            ("--version / import duckdb", med["ipsec-drops --version"] / med["import duckdb"], 2.0),
            ("--help / import duckdb", med["ipsec-drops --help"] / med["import duckdb"], 2.0),
            ("ingest nothing new / import duckdb+pyarrow.parquet",
             med["ingest, nothing new"] / med["import duckdb, pyarrow.parquet"], 2.0),
            ("nightly nothing new / import duckdb+pyarrow.parquet",
             med["nightly, nothing new"] / med["import duckdb, pyarrow.parquet"], 2.0),
            ("one new file: rerun / that file alone",
             med["rerun with one new file"] / med["that file alone, fresh warehouse"], None),
        ]
        print(f"\n{args.files} files x {args.lines:,} lines, {args.rounds} rounds, load {os.getloadavg()[0]:.1f}")
        print(f"{'ratio':55} {'value':>6} {'target':>7}")
        for name, value, target in ratios:
            print(f"{name:55} {value:6.2f} {('<= ' + str(target)) if target else '':>7}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
