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


#: The huge inputs of issue 14, each ingested (or parsed) alone in a subprocess: (name, what, MiB).
HUGE = (
    ("w3c-200mb-line-no-newline", "a W3C export ending in a 200 MiB line without a line end", 200),
    ("w3c-50mb-field", "a W3C drop whose Message field is 50 MiB, good lines around it", 50),
    ("w3c-utf16-50mb-field", "the same in UTF-16 (re-encoded while read)", 50),
    ("csv-200mb-quote-never-closed", "a CSV row whose quoted value opens and runs 200 MiB", 200),
    ("pfirewall-200mb-line", "a pfirewall.log with a 200 MiB line of junk", 200),
    ("netsh-10mb-line", "a netsh -f script with a 10 MiB line, then a command", 10),
)

_HUGE_SCRIPT = r"""
import resource, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
name, folder, mib = sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
n = mib << 20
W3C = b"#Fields: RecordNumber TimeGenerated EventID SourceName Strings ComputerName Message\n"
def w3c(r, m=b"dropped"):
    return b"%d 2026-06-01 10:00:%02d 4290 IPSEC 192.0.2.7|198.51.100.10|6|4000|22 WEB01 %s\n" % (r, r, m)
FW = (b"#Version: 1.5\n#Software: Microsoft Windows Firewall\n#Time Format: Local\n#Fields: date time action "
      b"protocol src-ip dst-ip src-port dst-port size tcpflags tcpsyn tcpack tcpwin icmptype icmpcode info path\n")
def fw(s):
    return b"2026-06-01 10:00:%02d DROP TCP 192.0.2.7 198.51.100.10 4000 22 48 S 1 0 65535 - - - RECEIVE\n" % s
CSV = b"RecordNumber,TimeGenerated,EventID,SourceName,Strings,ComputerName,Message\n"
def csv(r):
    return b'%d,2026-06-01 10:00:%02d,4290,IPSEC,192.0.2.7|198.51.100.10|6|4000|22,WEB01,"x"\n' % (r, r)
def filler(fh, unit, total):  # ``total`` bytes of ``unit`` repeated
    piece = unit * ((1 << 20) // len(unit))
    for _ in range(total >> 20):
        fh.write(piece)
from pipeline import Warehouse, ingest, parse_config
from pipeline.policy import parse_text
path = folder / ("x.csv" if name.startswith("csv") else "x.txt" if name.startswith("netsh") else "x.log")
with open(path, "wb") as fh:
    if name == "w3c-200mb-line-no-newline":
        fh.write(W3C + w3c(1) + w3c(2) + b"3 ")
        filler(fh, b"x", n)
    elif name == "w3c-50mb-field":
        fh.write(W3C + w3c(1) + b"2 2026-06-01 10:00:02 4290 IPSEC 192.0.2.7|198.51.100.10|6|4000|22 WEB01 ")
        filler(fh, b"m", n)
        fh.write(b"\n" + w3c(3))
    elif name == "w3c-utf16-50mb-field":
        head = W3C + w3c(1) + b"2 2026-06-01 10:00:02 4290 IPSEC x WEB01 "
        fh.write(b"\xff\xfe" + head.decode().encode("utf-16-le"))
        filler(fh, "m".encode("utf-16-le"), n)
        fh.write(("\n" + w3c(3).decode()).encode("utf-16-le"))
    elif name == "csv-200mb-quote-never-closed":
        fh.write(CSV + csv(1) + b'2,2026-06-01 10:00:02,4290,IPSEC,"')
        filler(fh, b"q", n)
        fh.write(b"\n" + csv(3))
    elif name == "pfirewall-200mb-line":
        fh.write(FW + fw(1))
        filler(fh, b"y", n)
        fh.write(b"\n" + fw(3))
    elif name == "netsh-10mb-line":
        fh.write(b"pushd ipsec static\r\nadd filter ")
        filler(fh, b"& ", n)
        fh.write(b"\r\nadd filterlist Next\r\n")
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
began = time.monotonic()
if name.startswith("netsh"):
    model, issues, _ = parse_text(path.read_bytes().decode(), str(path))
    outcome = f"{len(model.stores['local'].filter_lists)} filter list(s) read; issues: {[i.code for i in issues]}"
else:
    config = parse_config('[hosts.WEB01]\ntimezone = "UTC"\n')
    r = ingest([path], Warehouse(folder / "W"), config, host="WEB01")
    f = r.files[0]
    skipped = [(i.location, i.reason) for i in f.issues.details if i.kind == "malformed"]
    outcome = f"{f.status}, {f.drops_stored} drop(s) stored, skipped {skipped}, exit {int(r.exit_code)}"
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"{time.monotonic() - began:.1f}|{base // 1024}|{peak // 1024}|{outcome}")
"""


def huge_inputs() -> list[dict]:
    """Each of :data:`HUGE` in a fresh subprocess: seconds, peak RSS before and after reading it, the outcome."""
    out = []
    for name, what, mib in HUGE:
        with tempfile.TemporaryDirectory(prefix="fuzz-huge-") as folder:
            run = subprocess.run([sys.executable, "-c", _HUGE_SCRIPT, str(REPO), name, folder, str(mib)],
                                 capture_output=True, text=True, timeout=600)
        if run.returncode:
            out.append({"name": name, "what": what, "failed": run.stderr[-2000:]})
            print(f"  {name}: FAILED\n{run.stderr[-2000:]}", flush=True)
            continue
        seconds, base, peak, outcome = run.stdout.strip().splitlines()[-1].split("|", 3)
        out.append({"name": name, "what": what, "seconds": float(seconds), "rss_before_mib": int(base),
                    "peak_rss_mib": int(peak), "outcome": outcome})
        print(f"  {name}: {seconds} s, peak RSS {peak} MiB (before reading: {base} MiB): {outcome}", flush=True)
    return out


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
    parser.add_argument("--huge", action="store_true", help="also ingest the huge inputs (200 MiB lines ...), "
                        "each in a subprocess, with time and peak RSS")
    parser.add_argument("--huge-only", action="store_true", help="only the huge inputs")
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
    huge = huge_inputs() if args.huge or args.huge_only else []
    if args.huge_only:
        sys.exit(1 if any("failed" in h for h in huge) else 0)
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
                                         "targets": [vars(t) for t in tallies], "huge": huge}, indent=1))
    sys.exit(1 if failed or any("failed" in h for h in huge) else 0)


if __name__ == "__main__":
    main()
