"""The long fuzz run: many examples per target, each watched for crashes, hangs and memory blow-ups.

    python bench/fuzz_long.py --minutes 20                 # every target, the time split evenly
    python bench/fuzz_long.py --minutes 5 --targets evtx,netsh --seed 7
    python bench/fuzz_long.py --list

The targets and their checks are ``tests/fuzzing.py``'s (the same the CI tests run under
hypothesis, with a bounded example count).  Each target runs in a worker subprocess that
draws mutations from ``random.Random(seed)`` and reports every example before and after it
runs; the parent kills a worker whose example runs past ``--timeout`` seconds (a hang: no
alarm can interrupt the Rust EVTX parser) and starts a new one after that example.  After
each example the worker reports its peak RSS; an example that takes it over ``--rss-limit``
MiB is a memory failure.  Every failing input is written to ``--out`` with its mutations, to
be kept as a regression fixture.  Prints a table: target, examples, failures by kind, peak
memory, examples per second.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import select
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def worker(target_name: str, seed: int, first: int, seconds: float) -> None:
    """Run examples ``first, first+1, ...`` of one target for ``seconds``; one JSON line per event on stdout."""
    sys.path[:0] = [str(REPO), str(REPO / "tests")]
    import fuzzing

    target = fuzzing.TARGETS[target_name]
    seeds = target.seeds()
    out = sys.stdout
    ends = time.monotonic() + seconds
    i = first
    while time.monotonic() < ends:
        rng = random.Random(f"{seed}:{target_name}:{i}")  # example i is the same whatever ran before it
        name, data = seeds[rng.randrange(len(seeds))]
        ops = fuzzing.random_ops(rng)
        out.write(json.dumps({"event": "start", "i": i, "seed": name, "ops": ops}) + "\n")
        out.flush()
        began = time.monotonic()
        failure = None
        mutant = target.mutator(data, ops)
        with tempfile.TemporaryDirectory(prefix="fuzz-") as folder:
            try:
                target.check(mutant, Path(folder))
            except fuzzing.FuzzFailure as exc:
                failure = ("property", str(exc)[:2000])
            except Exception as exc:  # noqa: BLE001 - a crash: recorded, and the run goes on
                failure = ("crash", f"{type(exc).__name__}: {exc}"[:500] + "\n" + traceback.format_exc()[-3000:])
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        out.write(json.dumps({"event": "done", "i": i, "seconds": round(time.monotonic() - began, 3), "rss": rss,
                              "failure": failure}) + "\n")
        out.flush()
        i += 1


class Tally:
    def __init__(self, name: str) -> None:
        self.name = name
        self.examples = 0
        self.failures: dict[str, int] = {"crash": 0, "property": 0, "hang": 0, "memory": 0}
        self.peak_rss = 0
        self.slowest = 0.0
        self.seconds = 0.0


def _save(out: Path, target: str, i: int, start: dict, kind: str, detail: str) -> None:
    sys.path[:0] = [str(REPO), str(REPO / "tests")]
    import fuzzing

    seeds = dict(fuzzing.TARGETS[target].seeds())
    mutant = fuzzing.TARGETS[target].mutator(seeds[start["seed"]], [tuple(op) for op in start["ops"]])
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{target}-{i}.bin").write_bytes(mutant)
    (out / f"{target}-{i}.json").write_text(json.dumps({"target": target, "example": i, "kind": kind,
                                                        "seed": start["seed"], "ops": start["ops"],
                                                        "detail": detail}, indent=1))


def run_target(name: str, seconds: float, seed: int, timeout: float, rss_limit: int, out: Path) -> Tally:
    tally = Tally(name)
    began = time.monotonic()
    next_example = 0
    while time.monotonic() - began < seconds:
        left = seconds - (time.monotonic() - began)
        proc = subprocess.Popen([sys.executable, __file__, "--worker", name, "--seed", str(seed),
                                 "--first", str(next_example), "--seconds", str(left)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO)
        assert proc.stdout is not None
        start: dict | None = None
        started_at = time.monotonic()
        while True:
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
            if ready:
                line = proc.stdout.readline()
                if not line:
                    break
                event = json.loads(line)
                if event["event"] == "start":
                    start, started_at = event, time.monotonic()
                    continue
                tally.examples += 1
                tally.slowest = max(tally.slowest, event["seconds"])
                grew = event["rss"] > rss_limit >= tally.peak_rss
                tally.peak_rss = max(tally.peak_rss, event["rss"])
                failure = event["failure"] or (("memory", f"peak RSS {event['rss']} MiB") if grew else None)
                if failure:
                    kind, detail = failure
                    tally.failures[kind] += 1
                    print(f"  {name} example {event['i']}: {kind}: {detail.splitlines()[0][:200]}", flush=True)
                    _save(out, name, event["i"], start or {}, kind, detail)
                next_example = event["i"] + 1
                start = None
            elif start is not None and time.monotonic() - started_at > timeout:
                proc.kill()
                tally.failures["hang"] += 1
                tally.examples += 1
                print(f"  {name} example {start['i']}: hang (over {timeout:.0f} s)", flush=True)
                _save(out, name, start["i"], start, "hang", f"over {timeout} s")
                next_example = start["i"] + 1
                start = None
                break
            if proc.poll() is not None and not ready:
                break
        proc.wait()
        if start is not None:  # the worker died inside an example (a segfault, the OOM killer)
            tally.failures["crash"] += 1
            tally.examples += 1
            print(f"  {name} example {start['i']}: worker died (exit {proc.returncode})", flush=True)
            _save(out, name, start["i"], start, "crash", f"worker exit {proc.returncode}")
            next_example = start["i"] + 1
    tally.seconds = time.monotonic() - began
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="total time, split evenly over the targets")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--targets", default="", help="comma-separated targets (default: all; --list names them)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds one example may take (a hang beyond)")
    parser.add_argument("--rss-limit", type=int, default=1536, help="MiB of peak RSS a worker may reach")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "ipsec-drops-fuzz",
                        help="where failing inputs are written")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.seed, args.first, args.seconds)
        return
    sys.path[:0] = [str(REPO), str(REPO / "tests")]
    import fuzzing

    if args.list:
        for name, target in fuzzing.TARGETS.items():
            print(f"{name:18} {len(target.seeds())} seeds")
        return
    names = [n for n in args.targets.split(",") if n] or list(fuzzing.TARGETS)
    unknown = [n for n in names if n not in fuzzing.TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; --list names them")
    each = args.minutes * 60 / len(names)
    print(f"fuzzing {len(names)} target(s), {each:.0f} s each, seed {args.seed}, failures to {args.out}", flush=True)
    tallies = [run_target(n, each, args.seed, args.timeout, args.rss_limit, args.out) for n in names]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"\nmachine: {machine}; seed {args.seed}; per-example timeout {args.timeout:.0f} s; "
          f"RSS limit {args.rss_limit} MiB")
    print(f"{'target':18} {'examples':>9} {'crash':>6} {'property':>9} {'hang':>5} {'memory':>7} {'peak MiB':>9} "
          f"{'slowest s':>10} {'ex/s':>6}")
    for t in tallies:
        f = t.failures
        print(f"{t.name:18} {t.examples:>9,} {f['crash']:>6} {f['property']:>9} {f['hang']:>5} {f['memory']:>7} "
              f"{t.peak_rss:>9} {t.slowest:>10.2f} {t.examples / max(t.seconds, 1e-9):>6.1f}")
    total = sum(t.examples for t in tallies)
    failed = sum(sum(t.failures.values()) for t in tallies)
    print(f"{'total':18} {total:>9,}  failures: {failed}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "seed": args.seed, "minutes": args.minutes,
                                         "targets": [vars(t) for t in tallies]}, indent=1))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
