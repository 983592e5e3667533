#!/usr/bin/env python3
"""A year of nightly runs: warehouse files, a one-host ``flows`` over the year and a nothing-new rerun,
with and without compaction.

    python bench/bench_nightly.py                       # 365 nights x 50 k drops over 20 hosts
    python bench/bench_nightly.py --days 10 --drops-per-day 5000 --hosts 5   # a quick look

The site (:mod:`pipeline.synthetic.site`): 20 hosts, each exporting one format (Log Parser W3C plain,
``-oDQuotes:ON`` and ``-encodeDelim:ON``, CSV, pfirewall.log with and without ``pid``, EVTX Security
logs), CRLF, local times in twelve zones (DST changes included), each into its own inbox; twelve
hosts have a netsh policy.  Every simulated day the day's exports are dropped into the inboxes and
``python -m pipeline nightly`` runs twice, alternately first: once with the config as shipped
(compaction of the touched partitions after every run) and once with ``[nightly] compact = false``
(the same job without compaction: the warehouse a nightly job leaves without it), each on its own
warehouse.  ``--reports`` also writes the nightly reports (ISA logs, CSV, charts, suggestions) for
the compacting run; off by default, as they take longer than the rest and touch neither
measurement.

Then, whole processes as cron would run them, the reference and the two warehouses alternated,
medians of ``--repeat`` runs: ``flows --host HOSTX --format csv`` (one host over the year) and a
``nightly`` with nothing new, beside ``python -c "import duckdb, pyarrow.parquet"``; file counts
and bytes; finally the uncompacted warehouse is compacted once (``maintain``) and measured again.
Progress is kept in ``OUT/state.json``: an interrupted bench resumes at the night it was on.
Prints JSON lines; the results go to BENCHMARKS.md ("Nightly and faults").
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline.synthetic.site import Site  # noqa: E402

OUT = ROOT / "bench" / "out"
#: As an installed wheel runs: byte-compiled (this workplace sets PYTHONDONTWRITEBYTECODE, under which every
#: run would compile every module of the project again; the modules are compiled once before measuring).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"PYTHONPATH": str(ROOT),
                                                                                  "COLUMNS": "120"}
CLI = [sys.executable, "-m", "pipeline"]
REFERENCE = [sys.executable, "-c", "import duckdb, pyarrow.parquet"]


def run(cmd: list[str], *, check: bool = True) -> tuple[float, subprocess.CompletedProcess]:
    began = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=ROOT)
    seconds = time.perf_counter() - began
    if check and done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return seconds, done


def files_of(warehouse: Path) -> dict:
    drops = sorted((warehouse / "drops").glob("date=*/*.parquet"))
    every = [p for p in warehouse.rglob("*") if p.is_file()]
    return {"drop_files": len(drops), "key_files": len(list((warehouse / "_keys").glob("date=*/*.parquet"))),
            "dates": len({p.parent for p in drops}), "files": len(every),
            "drops_bytes": sum(p.stat().st_size for p in drops), "bytes": sum(p.stat().st_size for p in every),
            "manifest_bytes": (warehouse / "_manifest.json").stat().st_size}


def median_times(commands: dict[str, list[str]], repeat: int) -> dict[str, float]:
    """Each command ``repeat`` times, alternated (a, b, c, a, b, c ...): the median of each."""
    seen: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(repeat):
        for name, cmd in commands.items():
            seen[name].append(run(cmd)[0])
    return {k: round(statistics.median(v), 3) for k, v in seen.items()} | {
        f"{k}_all": [round(x, 3) for x in v] for k, v in seen.items()}


def profile_rerun(config: Path, out: Path) -> dict:
    """Where a nothing-new rerun's time goes: ``-X importtime`` (slowest top-level imports) and cProfile
    (functions by cumulative time), the whole texts in ``OUT/rerun-importtime.txt`` and ``OUT/rerun-profile.txt``."""
    import pstats

    _, done = run([sys.executable, "-X", "importtime", "-m", "pipeline", "--config", str(config), "-q", "nightly"])
    (out / "rerun-importtime.txt").write_text(done.stderr)
    imports = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, name = (x.strip() for x in line.removeprefix("import time:").split("|"))
            if not name.startswith(" ") and "." not in name.strip():
                imports.append((int(cumulative), name.strip()))
    prof = out / "rerun.prof"
    began = time.perf_counter()
    run([sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "pipeline", "--config", str(config), "-q",
         "nightly"])
    profiled = time.perf_counter() - began
    buf = io.StringIO()
    stats = pstats.Stats(str(prof), stream=buf)
    stats.sort_stats("cumulative").print_stats(40)
    (out / "rerun-profile.txt").write_text(buf.getvalue())
    top = []
    for (file, line, fn), (_, _, tt, ct, _) in sorted(stats.stats.items(), key=lambda kv: -kv[1][3])[:60]:  # type: ignore[attr-defined]
        if "pipeline" in file and ct > 0.005:
            top.append({"function": f"{Path(file).name}:{line}:{fn}", "cumulative_s": round(ct, 3),
                        "own_s": round(tt, 3)})
    return {"imports_ms": [{"module": n, "cumulative_ms": round(c / 1000)} for c, n in sorted(imports)[::-1][:10]],
            "profiled_seconds": round(profiled, 2), "pipeline_functions": top[:15]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--drops-per-day", type=int, default=50_000)
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5, help="runs of each measurement (medians)")
    ap.add_argument("--reports", action="store_true", help="the compacting run writes the nightly reports too")
    ap.add_argument("--host", default="HOST01", help="the host of the flows measurement")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    name = f"nightly-{args.days}d-{args.drops_per_day}-{args.hosts}h" + ("-reports" if args.reports else "")
    out = args.out or OUT / name
    site = Site(out / "site", hosts=args.hosts, drops_per_day=args.drops_per_day, seed=args.seed)
    compact = site.write_config("compact.toml", warehouse="../wh-compact",
                                reports="../reports" if args.reports else None)
    plain = site.write_config("plain.toml", warehouse="../wh-plain", compact=False)
    state_path = out / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {"nights": []}
    wall = time.perf_counter()
    for day in range(len(state["nights"]), args.days):
        began = time.perf_counter()
        site.write_day(day)
        generated = time.perf_counter() - began
        night: dict = {"day": str(site.day(day)), "generate": round(generated, 2)}
        order = [("compact", compact), ("plain", plain)]
        for name, config in order if day % 2 == 0 else order[::-1]:
            seconds, _ = run([*CLI, "--config", str(config), "-q", "nightly"])
            night[name] = round(seconds, 2)
        state["nights"].append(night)
        state_path.write_text(json.dumps(state))
        if day % 10 == 0 or day == args.days - 1:
            print(json.dumps({"night": day + 1, **night, "elapsed": round(time.perf_counter() - wall)}), flush=True)
    results: dict = {"days": args.days, "drops_per_day": args.drops_per_day, "hosts": args.hosts,
                     "inputs": {"files": sum(1 for p in (out / "site" / "inbox").rglob("*") if p.is_file()),
                                "bytes": sum(p.stat().st_size for p in (out / "site" / "inbox").rglob("*")
                                             if p.is_file())}}
    nights = state["nights"]
    for name in ("compact", "plain"):
        results[f"night_seconds_{name}"] = {
            "first_10_median": statistics.median(n[name] for n in nights[:10]),
            "last_10_median": statistics.median(n[name] for n in nights[-10:]),
            "total": round(sum(n[name] for n in nights))}
    wh_compact, wh_plain = out / "wh-compact", out / "wh-plain"
    results["files_compact"], results["files_plain"] = files_of(wh_compact), files_of(wh_plain)
    print(json.dumps({"files": {"compact": results["files_compact"], "plain": results["files_plain"]}}), flush=True)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "pipeline")], check=True, env=ENV)
    flows = [*CLI, "flows", "--host", args.host, "--format", "csv"]
    results["flows"] = median_times({"compact": [*flows, "--config", str(compact)],
                                     "plain": [*flows, "--config", str(plain)]}, args.repeat)
    print(json.dumps({"flows": results["flows"]}), flush=True)
    rerun = [*CLI, "-q", "nightly"]
    results["rerun"] = median_times({"reference": REFERENCE, "compact": [*rerun, "--config", str(compact)],
                                     "plain": [*rerun, "--config", str(plain)]}, args.repeat)
    print(json.dumps({"rerun": results["rerun"]}), flush=True)
    _, last = run([*rerun, "--config", str(compact)])
    results["rerun_says"] = last.stdout.splitlines()[0] if last.stdout else ""
    results["rerun_profile"] = profile_rerun(compact, out)
    print(json.dumps({"rerun_profile": results["rerun_profile"]}), flush=True)
    # the uncompacted warehouse compacted once, after the year: the cost, and the same measurements again
    began = time.perf_counter()
    _, done = run([sys.executable, "-c", "import sys; from pipeline.warehouse import maintain; "
                   "print(maintain(sys.argv[1]).summary())", str(wh_plain)])
    results["compact_plain_once"] = {"seconds": round(time.perf_counter() - began, 1), "summary": done.stdout.strip()}
    results["files_plain_compacted"] = files_of(wh_plain)
    results["flows_after_one_compaction"] = median_times({"compact": [*flows, "--config", str(compact)],
                                                          "plain_compacted": [*flows, "--config", str(plain)]},
                                                         args.repeat)
    results["load"] = os.getloadavg()
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
