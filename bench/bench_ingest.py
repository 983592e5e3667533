"""Benchmark: ``ingest`` of large text exports against DuckDB's own ``read_csv`` -> Parquet.

For each format a file of ``--lines`` lines is generated (bench/generate.py,
kept in bench/out/ between runs).  In one process, the reference is DuckDB
reading the same file with ``read_csv`` and writing it to zstd Parquet, then
``ingest`` of the file into an empty warehouse.  The ratio printed is our
rows/s divided by DuckDB's (1.0 = as fast as DuckDB; the target is 0.5).

The DuckDB reference for pfirewall.log and IIS logs parses all columns (space separated);
for W3C, whose plain values contain spaces and so cannot be parsed by
``read_csv``, it reads each line into one column.  Both are what a DuckDB user
would do to get the file into Parquet; neither extracts drops.

Peak memory (VmHWM) of ``ingest`` is measured in a fresh process for several
file sizes, to show it does not grow with the input.

    python bench/bench_ingest.py                       # 2 M lines, both formats, memory at 0.5/1/2 M
    python bench/bench_ingest.py --formats iis --lines 10000000 --memory-sizes 1000000,10000000
    python bench/bench_ingest.py --lines 200000 --memory-sizes 100000,200000
    python bench/bench_ingest.py --formats w3c --drop-share 1.0 --sources distinct --memory-sizes "" --profile
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
CONFIG = """
[hosts.WEB01]
timezone = "Europe/Berlin"
addresses = ["198.51.100.10", "10.1.0.10"]
[hosts.DB01]
timezone = "America/Chicago"
addresses = ["10.1.0.20"]
"""
DUCKDB_SQL = {
    "pfirewall": "COPY (SELECT * FROM read_csv('{src}', delim=' ', header=false, comment='#', quote='', "
                 "escape='')) TO '{dst}' (FORMAT parquet, COMPRESSION zstd)",
    "iis": "COPY (SELECT * FROM read_csv('{src}', delim=' ', header=false, comment='#', quote='', "
           "escape='')) TO '{dst}' (FORMAT parquet, COMPRESSION zstd)",
    "w3c": "COPY (SELECT * FROM read_csv('{src}', delim='\\t', header=false, comment='#', quote='', escape='', "
           "columns={{'line': 'VARCHAR'}})) TO '{dst}' (FORMAT parquet, COMPRESSION zstd)",
}


IIS_HEADER = ("#Software: Microsoft Internet Information Services 6.0\r\n#Version: 1.0\r\n"
              "#Date: 2026-11-10 00:00:00\r\n#Fields: date time s-sitename s-ip cs-method cs-uri-stem cs-uri-query "
              "s-port cs-username c-ip cs(User-Agent) sc-status sc-substatus sc-win32-status sc-bytes cs-bytes\r\n")


def write_iis(path: Path, lines: int) -> None:
    """An IIS 6 web log of ``lines`` requests over one UTC day: 5,000 clients, 40 pages, ports 80 and 443."""
    import random

    rng = random.Random(7)
    clients = [f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
               for _ in range(5000)]
    pages = [f"/site/page{i}.htm" for i in range(40)]
    agent = "Mozilla/4.0+(compatible;+MSIE+6.0;+Windows+NT+5.1)"
    step = 86_400 / lines
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="ascii", newline="") as fh:
        fh.write(IIS_HEADER)
        chunk = []
        for i in range(lines):
            sec = int(i * step)
            port = 443 if i % 3 == 0 else 80
            chunk.append(f"2026-11-10 {sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d} W3SVC1 10.1.0.10 GET "
                         f"{pages[i % 40]} id={i} {port} - {clients[(i * 7919) % 5000]} {agent} 200 0 0 "
                         f"{1000 + i % 5000} {300 + i % 200}\r\n")
            if len(chunk) >= 100_000:
                fh.write("".join(chunk))
                chunk = []
        fh.write("".join(chunk))
    tmp.replace(path)


def generated(fmt: str, lines: int, drop_share: float, sources: str = "pool") -> Path:
    """The benchmark input for ``fmt`` (generated once, then reused).

    ``sources="distinct"`` gives every drop line its own remote address, as a scan from the
    internet looks (``pool`` draws them from a few thousand, which is friendlier to any cache).
    """
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{fmt}-{lines}-{drop_share}{'-distinct' if sources == 'distinct' else ''}.log"
    if fmt == "iis":
        if not path.exists():
            write_iis(path, lines)
        return path
    if not path.exists():
        subprocess.run([sys.executable, str(BENCH / "generate.py"), fmt, str(path), "--lines", str(lines),
                        "--drop-share", str(drop_share), "--sources", sources], check=True)
    return path


def warm(path: Path) -> None:
    with open(path, "rb") as fh:
        while fh.read(1 << 24):
            pass


def ingest_once(path: Path, fmt: str) -> dict:
    """Ingest ``path`` into a fresh warehouse; returns seconds and counts (runs in this process)."""
    from pipeline import Warehouse, ingest, parse_config

    work = Path(tempfile.mkdtemp(prefix="bench-wh-"))
    try:
        config = parse_config(CONFIG, work / "ipsec-drops.toml")
        start = time.perf_counter()
        host = {"pfirewall": "DB01", "iis": "WEB01"}.get(fmt)
        report = ingest([path], Warehouse(work / "W"), config, host=host)
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "rows": report.total("rows_read"), "drops": report.total("drops_stored"),
                "allowed": report.total("allowed_stored"), "skipped": report.total("skipped")}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def duckdb_once(path: Path, fmt: str) -> float:
    import duckdb

    work = Path(tempfile.mkdtemp(prefix="bench-duck-"))
    try:
        start = time.perf_counter()
        duckdb.sql(DUCKDB_SQL[fmt].format(src=path, dst=work / "out.parquet"))
        return time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)


def peak_rss_mib(path: Path, fmt: str) -> float:
    """Peak RSS (VmHWM) of a fresh process that ingests ``path``.

    VmHWM, not ``ru_maxrss``: the latter survives fork+exec and would report this
    (parent) process's peak.
    """
    code = (
        "import json, resource, sys; sys.path.insert(0, sys.argv[3]);"
        "from bench_ingest import ingest_once; from pathlib import Path;"
        "r = ingest_once(Path(sys.argv[1]), sys.argv[2]);"
        "st = open('/proc/self/status').read().split('VmHWM:')[1].split()[0];"
        "r['rss_kib'] = int(st); print(json.dumps(r))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path), fmt, str(BENCH)], check=True,
                         capture_output=True, text=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])["rss_kib"] / 1024


def stage_profile(path: Path, fmt: str) -> dict[str, float]:
    """CPU seconds of each stage of one ingest (thread CPU time, summed over the threads that ran it).

    On two cores the wall time can be no less than half the sum: the floor the ratio meets.
    Stages nested in another (the address checks inside extraction) are listed with ``of which``.
    """
    import collections
    import threading

    import pipeline.extract.ipsec_driver as driver
    import pipeline.extract.values as values
    import pipeline.ingest as ingest_module
    import pipeline.readers.logparser_w3c as w3c
    import pipeline.readers.textfile as textfile
    import pipeline.warehouse.store as store

    spent: collections.Counter = collections.Counter()
    lock = threading.Lock()
    wrapped = []

    def wrap(module, name: str, label: str) -> None:
        original = getattr(module, name, None)
        if original is None:  # (not imported by that module)
            return

        def timed(*args, **kwargs):
            start = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                with lock:
                    spent[label] += time.thread_time() - start

        setattr(module, name, timed)
        wrapped.append((module, name, original))

    wrap(textfile, "parse_lines", "lines found (Arrow CSV parser)")
    wrap(w3c, "_split_segment", "W3C split into fields")
    wrap(ingest_module, "extract_ipsec_driver", "extraction (checks, times, table)")
    wrap(ingest_module, "_extract", "extraction (checks, times, table)")
    wrap(driver, "normalise_ip", "  of which: address checks")
    wrap(values, "normalise_ip", "  of which: address checks")
    wrap(ingest_module, "hash_identities", "identity keys (DuckDB md5)")
    wrap(store, "_write_part", "Parquet write (drops + keys)")
    wrap(ingest_module, "hash_file", "SHA-256 of the file (own thread)")
    try:
        cpu = time.process_time()
        run = ingest_once(path, fmt)
        spent["whole process (CPU)"] = time.process_time() - cpu
        spent["whole process (wall)"] = run["seconds"]
    finally:
        for module, name, original in wrapped:
            setattr(module, name, original)
    order = ["lines found (Arrow CSV parser)", "W3C split into fields", "extraction (checks, times, table)",
             "  of which: address checks", "identity keys (DuckDB md5)", "Parquet write (drops + keys)",
             "SHA-256 of the file (own thread)", "whole process (CPU)", "whole process (wall)"]
    return {name: spent[name] for name in order if name in spent}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--drop-share", type=float, default=0.3)
    parser.add_argument("--formats", default="pfirewall,w3c")
    parser.add_argument("--memory-sizes", default="500000,1000000,2000000")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side; the best counts")
    parser.add_argument("--sources", choices=("pool", "distinct"), default="pool",
                        help="remote addresses of the drop lines: a pool of a few thousand, or one per line")
    parser.add_argument("--profile", action="store_true",
                        help="also print the CPU seconds of each stage of one ingest (the floor two cores give)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    results = {}
    for fmt in args.formats.split(","):
        path = generated(fmt, args.lines, args.drop_share, args.sources)
        size_mb = path.stat().st_size / 1e6
        warm(path)
        # Best of --repeat runs each, on a warm page cache, so that neither side pays for a cold read;
        # the two alternate, so that both meet the same moments of a shared machine.
        refs, runs = [], []
        for _ in range(args.repeat):
            refs.append(duckdb_once(path, fmt))
            runs.append(ingest_once(path, fmt))
        ref = min(refs)
        ours = min(runs, key=lambda r: r["seconds"])
        ratio = ref / ours["seconds"]
        results[fmt] = {"ratio": ratio, "duckdb_s": ref, **ours}
        print(f"{fmt}: {args.lines:,} lines ({size_mb:,.0f} MB, {args.drop_share:.0%} drops, {args.sources} sources, "
              f"load {os.getloadavg()[0]:.1f}): "
              f"DuckDB read_csv->Parquet {ref:.2f} s ({args.lines / ref:,.0f} lines/s); "
              f"ingest {ours['seconds']:.2f} s ({args.lines / ours['seconds']:,.0f} lines/s, "
              f"{ours['drops']:,} drops, {ours['allowed']:,} permitted events stored); "
              f"ratio {ratio:.2f} (target: 0.5; IPSec-heavy W3C 0.6)")
        if args.profile:
            stages = stage_profile(path, fmt)
            results[fmt]["stages_cpu_s"] = stages
            named = sum(v for k, v in stages.items() if not k.startswith(("whole", "  ")))
            print(f"  CPU seconds by stage (one ingest, load {os.getloadavg()[0]:.1f}):")
            for name, seconds in stages.items():
                print(f"    {seconds:6.2f}  {name}")
            print(f"    {named:6.2f}  the stages named: at best {named / 2:.2f} s on two cores, "
                  f"ratio <= {ref / (named / 2):.2f}")
        for n in [int(x) for x in args.memory_sizes.split(",") if x]:
            mib = peak_rss_mib(generated(fmt, n, args.drop_share, args.sources), fmt)
            results[fmt].setdefault("peak_rss_mib", {})[n] = mib
            print(f"  peak RSS of ingest, {n:,} lines: {mib:,.0f} MiB")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
