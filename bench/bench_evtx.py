"""Benchmark: EVTX ``ingest`` against the raw engine iterating the same file, in one process.

A Security log of ``--records`` records with ``--drop-share`` WFP drops is generated
(bench/generate.py, kept in bench/out/).  The reference is the engine alone:
``PyEvtxParser(path).records_json()`` iterated to the end without decoding the
JSON (Rust, single-threaded), or python-evtx's ``records()`` with ``xml()`` per record (its own
parse).  The ratio printed is ingest records/s ÷ reference records/s.

The Rust engine's ingest is timed two ways, alternating with the reference ``--runs`` times
(medians): with the EVTX worker processes (the default on two cores or more; target ≥ 1.0)
and in one process (``IPSEC_DROPS_EVTX_WORKERS=1``, target ≥ 0.5).  CPU seconds (this
process and its workers) are printed beside each, and the load average before and after:
two processes cannot beat one while other work holds the cores.

python-evtx is about a thousand times slower, so its ratio is measured on a
smaller file (``--python-records``).  Peak memory (VmHWM of a fresh process) of
``ingest`` is measured for several sizes to show it stays flat.

    python bench/bench_evtx.py                          # 1 M records, memory at 1 M and 4 M
    python bench/bench_evtx.py --records 100000 --memory-sizes 50000,100000 --python-records 2000
    python bench/bench_evtx.py --runs 7 --python-records 0 --memory-sizes ""   # the Rust ratios only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "out"


def generated(records: int, drop_share: float) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"security-{records}-{drop_share}.evtx"
    if not path.exists():
        subprocess.run([sys.executable, str(BENCH / "generate.py"), "evtx", str(path), "--lines", str(records),
                        "--drop-share", str(drop_share)], check=True)
    return path


def cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended (the EVTX workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@contextmanager
def evtx_workers(n: int | None):
    """Ingest with ``n`` EVTX worker processes (None: the default; 1: one process)."""
    name = "IPSEC_DROPS_EVTX_WORKERS"
    before = os.environ.get(name)
    if n is not None:
        os.environ[name] = str(n)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def raw_rust(path: Path) -> tuple[float, int]:
    from evtx import PyEvtxParser

    start = time.perf_counter()
    n = 0
    records = PyEvtxParser(str(path)).records_json()
    while True:
        try:
            next(records)
            n += 1
        except StopIteration:
            break
        except RuntimeError:
            continue
    return time.perf_counter() - start, n


def raw_python(path: Path) -> tuple[float, int]:
    from Evtx.Evtx import Evtx

    start = time.perf_counter()
    n = 0
    with Evtx(str(path)) as log:
        for record in log.records():
            record.xml()
            n += 1
    return time.perf_counter() - start, n


def ingest_once(path: Path, engine: str, workers: int | None = None) -> dict:
    from pipeline import Warehouse, ingest

    work = Path(tempfile.mkdtemp(prefix="bench-evtx-"))
    try:
        with evtx_workers(workers):
            cpu = cpu_seconds()
            start = time.perf_counter()
            report = ingest([path], Warehouse(work / "W"), engine=engine)
            seconds = time.perf_counter() - start
            cpu = cpu_seconds() - cpu
        return {"seconds": seconds, "cpu_s": cpu, "records": report.total("rows_read"),
                "drops": report.total("drops_stored"), "skipped": report.total("skipped")}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def median_run(runs: list[dict]) -> dict:
    ordered = sorted(runs, key=lambda r: r["seconds"])
    middle = dict(ordered[len(ordered) // 2])
    middle["seconds"] = statistics.median(r["seconds"] for r in runs)
    middle["cpu_s"] = statistics.median(r["cpu_s"] for r in runs)
    middle["all_s"] = [round(r["seconds"], 3) for r in runs]
    return middle


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


#: Run in a fresh process: an ingest, with the peak RSS of the process and of its EVTX workers (their
#: VmHWM, sampled: a child's own rusage would count the parent's pages it held between fork and exec).
PEAK_RSS = """
import json, os, sys, threading, time
sys.path.insert(0, sys.argv[2])
from bench_evtx import ingest_once
from pathlib import Path

workers = {}
done = threading.Event()

def hwm(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0

def watch():
    me = os.getpid()
    while not done.wait(0.05):
        for task in os.listdir(f"/proc/{me}/task"):
            try:
                for pid in open(f"/proc/{me}/task/{task}/children").read().split():
                    workers[pid] = max(workers.get(pid, 0), hwm(pid))
            except OSError:
                pass

threading.Thread(target=watch, daemon=True).start()
r = ingest_once(Path(sys.argv[1]), "evtx")
done.set()
r["rss_kib"] = hwm(os.getpid())
r["workers_kib"] = max(workers.values(), default=0)
print(json.dumps(r))
"""


def peak_rss_mib(path: Path) -> tuple[float, float]:
    """Peak RSS of an ingest in a fresh process, and the largest of its EVTX workers' (MiB)."""
    out = subprocess.run([sys.executable, "-c", PEAK_RSS, str(path), str(BENCH)], check=True, capture_output=True,
                         text=True, cwd=REPO)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["rss_kib"] / 1024, result["workers_kib"] / 1024


def threshold(args: argparse.Namespace, sizes: list[int]) -> None:
    """Ingest with workers (whatever the size) against one process, at each size: where workers start to pay."""
    rows = []
    ingest_once(generated(2_000, args.drop_share), "evtx")  # the ingest's imports, outside the timings
    for mib in sizes:
        records = mib * (1 << 20) // 541  # the generated Security records average 541 bytes
        path = generated(records, args.drop_share)
        raw_rust(path)
        before = load()
        with evtx_workers(None):
            os.environ["IPSEC_DROPS_EVTX_PARALLEL_MIN"] = "0"
            try:
                runs = [(ingest_once(path, "evtx"), ingest_once(path, "evtx", workers=1)) for _ in range(args.runs)]
            finally:
                os.environ.pop("IPSEC_DROPS_EVTX_PARALLEL_MIN", None)
        many = median_run([r[0] for r in runs])
        one = median_run([r[1] for r in runs])
        rows.append({"mib": mib, "records": records, "workers_s": many["seconds"], "one_process_s": one["seconds"],
                     "workers_cpu_s": many["cpu_s"], "one_process_cpu_s": one["cpu_s"], "load": f"{before}"})
        print(f"  {path.stat().st_size / (1 << 20):6.0f} MiB ({records:,} records): workers {many['seconds']:.3f} s "
              f"({many['cpu_s']:.2f} s CPU), one process {one['seconds']:.3f} s ({one['cpu_s']:.2f} s CPU): "
              f"{one['seconds'] / many['seconds']:.2f}x; load {before}", flush=True)
    print(json.dumps(rows, indent=1))


def profile(path: Path, runs: int) -> dict:
    """Where the CPU of an ingest with workers goes, in CPU seconds (each step alone, best of ``runs``).

    Two cores give at best (sum of the steps) / 2 of wall time: this is the floor the ratio meets.
    """
    import pickle

    from evtx import PyEvtxParser

    from pipeline.readers.evtx import EVENT, read_evtx_rust
    from pipeline.readers.evtx_workers import ChunkSlice, packed, pieces_of, scan_piece, unpacked
    from pipeline.warehouse import hash_file

    pieces = pieces_of(path, path.stat().st_size, 64)

    def best(step) -> float:
        times = []
        for _ in range(runs):
            cpu = time.process_time()
            step()
            times.append(time.process_time() - cpu)
        return min(times)

    def raw_path() -> None:
        for _ in PyEvtxParser(str(path)).records_json():
            pass

    def raw_pieces() -> None:
        for first, end in pieces:
            view = ChunkSlice(path, first, end)
            for _ in PyEvtxParser(view).records_json():
                pass
            view.close()

    def scan_pieces() -> None:
        # each piece's report dropped before the next, as a worker does: holding them all would make
        # the collector walk a growing heap and charge that to the scan
        for first, end in pieces:
            scan_piece(path, first, end, None)

    scans: list = [scan_piece(path, first, end, None) for first, end in pieces]  # for the next steps

    blobs: list = []

    def send() -> None:
        blobs[:] = [pickle.dumps(("ok", packed(items)), protocol=pickle.HIGHEST_PROTOCOL) for items in scans]

    def receive() -> None:
        for blob in blobs:
            [(s, k, unpacked(a) if k == EVENT else a, b) for s, k, a, b in pickle.loads(blob)[1]]

    def start_worker() -> None:
        subprocess.run([sys.executable, "-c", "import pipeline.readers.evtx_workers, evtx"], check=True, cwd=REPO)

    def children_cpu(step) -> float:
        times = []
        for _ in range(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            step()
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            times.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        return min(times)

    from pipeline.issues import IssueLog

    def one_process_read() -> None:
        for _ in read_evtx_rust(path, IssueLog(str(path)), workers=1):
            pass

    steps = {
        "raw iteration, path (the reference)": best(raw_path),
        "raw iteration, pieces of 64 chunks": best(raw_pieces),
        "scan of the pieces (filter, decode candidates)": best(scan_pieces),
        "pack + pickle the pieces' reports (workers)": best(send),
        "unpickle + unpack (parent)": best(receive),
        "worker start-up (each)": children_cpu(start_worker),
        "SHA-256 of the file (parent thread)": best(lambda: hash_file(path, set())),
        "one-process read (read_evtx_rust)": best(one_process_read),
        "one-process ingest (everything)": min(ingest_once(path, "evtx", workers=1)["cpu_s"] for _ in range(runs)),
    }
    return steps


def two_at_once(path: Path, runs: int) -> tuple[float, float]:
    """Wall time of one raw iteration in a fresh process, and of two at once (medians): the machine's two cores."""
    code = "import sys; from evtx import PyEvtxParser\nfor _ in PyEvtxParser(sys.argv[1]).records_json(): pass"
    alone, together = [], []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, str(path)], check=True)
        alone.append(time.perf_counter() - start)
        start = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", code, str(path)]) for _ in range(2)]
        for proc in procs:
            proc.wait()
        together.append(time.perf_counter() - start)
    return statistics.median(alone), statistics.median(together)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--drop-share", type=float, default=0.02)
    parser.add_argument("--python-records", type=int, default=5_000)
    parser.add_argument("--memory-sizes", default="1000000,4000000")
    parser.add_argument("--runs", type=int, default=5, help="alternating runs of each (medians)")
    parser.add_argument("--profile", action="store_true",
                        help="CPU seconds of each step of an ingest with workers, and the floor they make")
    parser.add_argument("--threshold-mib", default="",
                        help="file sizes (MiB, e.g. 8,16,32,64,128) at which to time the workers against one "
                             "process, to choose IPSEC_DROPS_EVTX_PARALLEL_MIN; nothing else is run")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    results: dict = {}
    if args.threshold_mib:
        threshold(args, [int(x) for x in args.threshold_mib.split(",")])
        return
    if args.profile:
        path = generated(args.records, args.drop_share)
        before = load()
        steps = profile(path, args.runs)
        print(f"CPU seconds, best of {args.runs}, {args.records:,} records; load {before} before, {load()} after:")
        for name, seconds in steps.items():
            print(f"  {seconds:6.2f}  {name}")
        parent = steps["one-process ingest (everything)"] - steps["one-process read (read_evtx_rust)"]
        workers = (steps["scan of the pieces (filter, decode candidates)"]
                   + steps["pack + pickle the pieces' reports (workers)"] + 2 * steps["worker start-up (each)"])
        total = workers + steps["unpickle + unpack (parent)"] + parent
        print(f"  {parent:6.2f}  parent: extract, keys, Parquet, publish, SHA-256 (one-process ingest less its read)")
        print(f"  {total:6.2f}  an ingest with two workers, all told: at best {total / 2:.2f} s on two cores, "
              f"ratio <= {steps['raw iteration, path (the reference)'] / (total / 2):.2f}")
        alone, together = two_at_once(path, args.runs)
        print(f"  what two cores give now: one raw iteration alone {alone:.2f} s, two at once (two processes) "
              f"{together:.2f} s: {2 * alone / together:.2f}x (2.00 on two free cores); load {load()}")
        return
    path = generated(args.records, args.drop_share)
    raw_rust(path)  # the file into the page cache
    ingest_once(generated(2_000, args.drop_share), "evtx")  # the ingest's imports, outside the timings
    before = load()
    refs, parallel, single = [], [], []
    for _ in range(args.runs):  # alternating, so that a change of load falls on all three alike
        cpu = cpu_seconds()
        ref_s, ref_n = raw_rust(path)
        refs.append({"seconds": ref_s, "cpu_s": cpu_seconds() - cpu, "records": ref_n})
        parallel.append(ingest_once(path, "evtx"))
        single.append(ingest_once(path, "evtx", workers=1))
    after = load()
    ref, ours, one = median_run(refs), median_run(parallel), median_run(single)
    ref_s, ref_n = ref["seconds"], ref["records"]
    results["evtx"] = {"reference_s": ref_s, "reference_cpu_s": ref["cpu_s"], "reference_all_s": ref["all_s"],
                       "records": ref_n, **ours, "ratio": ref_s / ours["seconds"],
                       "one_process": {**one, "ratio": ref_s / one["seconds"]},
                       "load_before": before, "load_after": after}
    print(f"evtx engine, {ref_n:,} records ({path.stat().st_size / 1e6:,.0f} MB, {args.drop_share:.0%} drops), "
          f"medians of {args.runs} alternating runs, load average {before} before, {after} after:")
    print(f"  raw iteration (one thread) {ref_s:.2f} s ({ref_n / ref_s:,.0f} rec/s, {ref['cpu_s']:.2f} s CPU)")
    for label, run, target in (("ingest, EVTX workers", ours, 1.0), ("ingest, one process", one, 0.5)):
        print(f"  {label}: {run['seconds']:.2f} s ({run['records'] / run['seconds']:,.0f} rec/s, "
              f"{run['drops']:,} drops, {run['cpu_s']:.2f} s CPU); ratio {ref_s / run['seconds']:.2f} "
              f"(target {target})")
    if args.python_records:
        small = generated(args.python_records, args.drop_share)
        ref_s, ref_n = raw_python(small)
        slow = ingest_once(small, "python-evtx")
        results["python-evtx"] = {"reference_s": ref_s, "records": ref_n, **slow, "ratio": ref_s / slow["seconds"]}
        print(f"python-evtx engine, {ref_n:,} records: records()+xml() {ref_s:.2f} s ({ref_n / ref_s:,.0f} rec/s); "
              f"ingest {slow['seconds']:.2f} s ({slow['records'] / slow['seconds']:,.0f} rec/s, "
              f"{slow['drops']:,} drops); ratio {ref_s / slow['seconds']:.2f}")
    for n in [int(x) for x in args.memory_sizes.split(",") if x]:
        mib, workers_mib = peak_rss_mib(generated(n, args.drop_share))
        results["evtx"].setdefault("peak_rss_mib", {})[n] = mib
        results["evtx"].setdefault("worker_peak_rss_mib", {})[n] = workers_mib
        print(f"  peak RSS of ingest (evtx engine), {n:,} records: {mib:,.0f} MiB, "
              f"each EVTX worker at most {workers_mib:,.0f} MiB")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
