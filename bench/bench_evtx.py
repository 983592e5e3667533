"""Benchmark: EVTX ``ingest`` against the raw engine iterating the same file, in one process.

A Security log of ``--records`` records with ``--drop-share`` WFP drops is generated
(bench/generate.py, kept in bench/out/).  The reference is the engine alone:
``PyEvtxParser(path).records_json()`` iterated to the end without decoding the
JSON (Rust), or python-evtx's ``records()`` with ``xml()`` per record (its own
parse).  The ratio printed is ingest records/s ÷ reference records/s (target ≥ 0.5).

python-evtx is about a thousand times slower, so its ratio is measured on a
smaller file (``--python-records``).  Peak memory (VmHWM of a fresh process) of
``ingest`` is measured for several sizes to show it stays flat.

    python bench/bench_evtx.py                          # 1 M records, memory at 1 M and 4 M
    python bench/bench_evtx.py --records 100000 --memory-sizes 50000,100000 --python-records 2000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
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


def ingest_once(path: Path, engine: str) -> dict:
    from pipeline import Warehouse, ingest

    work = Path(tempfile.mkdtemp(prefix="bench-evtx-"))
    try:
        start = time.perf_counter()
        report = ingest([path], Warehouse(work / "W"), engine=engine)
        return {"seconds": time.perf_counter() - start, "records": report.total("rows_read"),
                "drops": report.total("drops_stored"), "skipped": report.total("skipped")}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def peak_rss_mib(path: Path) -> float:
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[2]);"
        "from bench_evtx import ingest_once; from pathlib import Path;"
        "r = ingest_once(Path(sys.argv[1]), 'evtx');"
        "r['rss_kib'] = int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0]); print(json.dumps(r))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path), str(BENCH)], check=True, capture_output=True,
                         text=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])["rss_kib"] / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--drop-share", type=float, default=0.02)
    parser.add_argument("--python-records", type=int, default=5_000)
    parser.add_argument("--memory-sizes", default="1000000,4000000")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    results: dict = {}
    path = generated(args.records, args.drop_share)
    ref_s, ref_n = min(raw_rust(path), raw_rust(path))
    ours = min((ingest_once(path, "evtx") for _ in range(2)), key=lambda r: r["seconds"])
    results["evtx"] = {"reference_s": ref_s, "records": ref_n, **ours, "ratio": ref_s / ours["seconds"]}
    print(f"evtx engine, {ref_n:,} records ({path.stat().st_size / 1e6:,.0f} MB, {args.drop_share:.0%} drops): "
          f"raw iteration {ref_s:.2f} s ({ref_n / ref_s:,.0f} rec/s); ingest {ours['seconds']:.2f} s "
          f"({ours['records'] / ours['seconds']:,.0f} rec/s, {ours['drops']:,} drops); "
          f"ratio {ref_s / ours['seconds']:.2f} (target 0.5)")
    small = generated(args.python_records, args.drop_share)
    ref_s, ref_n = raw_python(small)
    ours = ingest_once(small, "python-evtx")
    results["python-evtx"] = {"reference_s": ref_s, "records": ref_n, **ours, "ratio": ref_s / ours["seconds"]}
    print(f"python-evtx engine, {ref_n:,} records: records()+xml() {ref_s:.2f} s ({ref_n / ref_s:,.0f} rec/s); "
          f"ingest {ours['seconds']:.2f} s ({ours['records'] / ours['seconds']:,.0f} rec/s, {ours['drops']:,} drops); "
          f"ratio {ref_s / ours['seconds']:.2f}")
    for n in [int(x) for x in args.memory_sizes.split(",") if x]:
        mib = peak_rss_mib(generated(n, args.drop_share))
        results["evtx"].setdefault("peak_rss_mib", {})[n] = mib
        print(f"  peak RSS of ingest (evtx engine), {n:,} records: {mib:,.0f} MiB")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
