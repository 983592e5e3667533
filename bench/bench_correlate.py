"""Correlation benchmark (issue 5): correlate N drops over F distinct flows against a 2,000-filter policy.

    python bench/bench_correlate.py                       # 10 M drops, 200 k flows, 2,000 filters
    python bench/bench_correlate.py --drops 1000000 --flows 20000

Writes a synthetic warehouse (bench/out/correlate-<drops>-<flows>/: drops Parquet over 30 days,
a netsh script of 2,000 filters and its config), then times, each in a fresh process (so the
peak RSS is the phase's own): a plain DuckDB GROUP BY scan of the same drops (the baseline)
and pipeline.correlate.flows (the whole flows view; the policy snapshot is loaded into the
warehouse at generation, as the nightly ``policy load --all`` would, so parsing netsh is not
timed), alternating, a warm-up pair first. Prints one JSON line per phase (with the load average)
and the ratio of the medians. Results: BENCHMARKS.md, "Correlation (issue 5)".
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

OUT = Path(__file__).resolve().parent / "out"
ME = "10.0.0.1"
DAYS = 30
ROW_GROUP_ROWS = 128 * 1024  # as the warehouse writes them (pipeline.warehouse.store)
SCAN_SQL = ("SELECT host, direction, protocol, src_ip, src_port, dst_ip, dst_port, local_ip, remote_ip, drop_kind, "
            "count(*) AS events, sum(packets) AS packets, min(event_time), max(event_time) "
            "FROM read_parquet($glob, hive_partitioning = true) GROUP BY ALL")


def _ip(rng: np.random.Generator, n: int, first: int) -> np.ndarray:
    b = rng.integers(0, 256, size=(n, 3))
    return np.array([f"{first}.{x}.{y}.{z}" for x, y, z in b])


def write_policy(folder: Path, rng: np.random.Generator, filters: int = 2000) -> None:
    """A netsh -f script with ``filters`` filters: port filters of every kind, port-less ones and a block-all."""
    lines = ["pushd ipsec static", "add filteraction name=Permit action=permit",
             "add filteraction name=Block action=block", "add filteraction name=Secure action=negotiate",
             "add policy name=Bench activatedefaultrule=no"]
    n = 0

    def add(kind: str, spec: str, action: str) -> None:
        nonlocal n
        lines.append(f"add filter filterlist=L{n} {spec}")
        lines.append(f"add rule name=R{n}-{kind} policy=Bench filterlist=L{n} filteraction={action}")
        n += 1

    add("all", "srcaddr=any dstaddr=any protocol=any mirrored=yes", "Block")
    ports = rng.choice(np.arange(1, 10000), size=300, replace=False)
    while n < filters:
        r = rng.random()
        a, b, c = rng.integers(0, 256, size=3)
        port = int(rng.choice(ports))
        action = ("Permit", "Block", "Secure")[int(rng.integers(0, 3))]
        if r < 0.45:  # a subnet to one of our services
            add("in", f"srcaddr={int(rng.choice([10, 172, 198]))}.{a}.{b}.0 srcmask=24 dstaddr=me protocol=tcp "
                      f"dstport={port} mirrored=yes", action)
        elif r < 0.65:  # us to a remote service
            add("out", f"srcaddr=me dstaddr={int(rng.choice([10, 203]))}.{a}.0.0 dstmask=16 protocol=udp "
                       f"dstport={port} mirrored=no", action)
        elif r < 0.75:  # from a source port
            add("sport", f"srcaddr=any srcport={port} dstaddr=me protocol=tcp mirrored=no", action)
        elif r < 0.95:  # one peer, any protocol
            add("peer", f"srcaddr={int(rng.choice([10, 203]))}.{a}.{b}.{c} dstaddr=me protocol=any mirrored=yes",
                action)
        else:  # a network, ICMP
            add("icmp", f"srcaddr=10.{a}.0.0 srcmask=16 dstaddr=me protocol=icmp mirrored=yes", action)
    lines += ["set policy name=Bench assign=yes", "popd"]
    (folder / "bench.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "ipsec-drops.toml").write_text(
        f'[hosts.BENCH]\naddresses = ["{ME}"]\npolicy = "bench.txt"\n', encoding="utf-8")
    # what the nightly `policy load --all` does: the snapshot is in the warehouse before correlating
    from pipeline.config import load_config
    from pipeline.policy import analyse_script
    from pipeline.policy.store import load_snapshot
    from pipeline.warehouse import Warehouse

    config = load_config(folder / "ipsec-drops.toml")
    load_snapshot(analyse_script(folder / "bench.txt", host="BENCH", config=config), Warehouse(folder / "warehouse"))


def write_drops(folder: Path, drops: int, flows: int, rng: np.random.Generator, days: int = DAYS) -> None:
    """``drops`` rows over ``flows`` distinct 5-tuples, ``days`` daily partitions (the ingest's layout)."""
    from pipeline.schema import DROPS_SCHEMA

    half = flows // 2
    remote = np.concatenate([_ip(rng, flows - half, 10), _ip(rng, half, 203)])
    inbound = rng.random(flows) < 0.7
    service = rng.choice(np.concatenate([np.arange(1, 10000, 37), [22, 53, 80, 443, 445, 3389]]), size=flows)
    ephemeral = rng.integers(1025, 65535, size=flows)
    proto = rng.choice([6, 17, 1], size=flows, p=[0.7, 0.25, 0.05])
    src = np.where(inbound, remote, ME)
    dst = np.where(inbound, ME, remote)
    sport = np.where(proto == 1, -1, np.where(inbound, ephemeral, ephemeral))
    dport = np.where(proto == 1, -1, service)
    start = np.datetime64("2026-10-01T00:00:00", "us")
    per_day = drops // days
    for day in range(days):
        n = per_day if day < days - 1 else drops - per_day * (days - 1)
        pick = np.minimum(rng.zipf(1.3, size=n) - 1, flows - 1)
        pick = np.where(rng.random(n) < 0.5, rng.integers(0, flows, size=n), pick)
        times = np.sort(start + np.timedelta64(day * 86400, "s").astype("timedelta64[us]")
                        + rng.integers(0, 86_400_000_000, size=n).astype("timedelta64[us]"))
        sp, dp = sport[pick], dport[pick]
        cols = {
            "event_time": pa.array(times, pa.timestamp("us", tz="UTC")),
            "host": pa.array(np.full(n, "BENCH")),
            "source_format": pa.array(np.full(n, "evtx")),
            "source_file": pa.array(np.full(n, "bench.evtx")),
            "source_record": pa.array(np.arange(n, dtype=np.int64)),
            "event_id": pa.array(np.where(inbound[pick], 4290, 4291).astype(np.int32)),
            "drop_kind": pa.array(np.full(n, "packet-dropped")),
            "direction": pa.array(np.where(inbound[pick], "inbound", "outbound")),
            "protocol": pa.array(proto[pick].astype(np.int16)),
            "src_ip": pa.array(src[pick]), "src_port": pa.array(sp.astype(np.int32), mask=sp < 0),
            "dst_ip": pa.array(dst[pick]), "dst_port": pa.array(dp.astype(np.int32), mask=dp < 0),
            "local_ip": pa.array(np.full(n, ME)), "remote_ip": pa.array(remote[pick]),
            "packets": pa.array(np.ones(n, dtype=np.int64)),
        }
        table = pa.table({f.name: cols.get(f.name, pa.nulls(n, f.type)) for f in DROPS_SCHEMA}, schema=DROPS_SCHEMA)
        part = folder / "warehouse" / "drops" / f"date={(start + np.timedelta64(day, 'D')).astype('M8[D]')}"
        part.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, part / "part-bench.parquet", compression="zstd", row_group_size=ROW_GROUP_ROWS)


def phase(kind: str, folder: Path) -> dict:
    import duckdb

    from pipeline.correlate import flows

    t0, c0 = time.perf_counter(), time.process_time()
    if kind == "scan":
        con = duckdb.connect()
        glob = str(folder / "warehouse" / "drops" / "date=*" / "*.parquet")
        rows = con.sql(SCAN_SQL, params={"glob": glob}).to_arrow_table().num_rows
    else:
        # no config: the host's current snapshot in the warehouse (loaded at generation) is in force
        table = flows(folder / "warehouse")
        rows = table.num_rows
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"phase": kind, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "rows": rows,
            "peak_rss_mb": round(peak_mb)}


def site(drops: int, flows: int, filters: int) -> Path:
    """The benchmark's warehouse and policy (bench/out/correlate-<drops>-<flows>-<filters>/), written when missing."""
    folder = OUT / f"correlate-{drops}-{flows}-{filters}"
    if not (folder / "ipsec-drops.toml").exists():
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(5)
        t0 = time.perf_counter()
        write_drops(folder, drops, flows, rng)
        write_policy(folder, rng, filters)
        print(json.dumps({"phase": "generate", "seconds": round(time.perf_counter() - t0, 1)}), flush=True)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--drops", type=int, default=10_000_000)
    ap.add_argument("--flows", type=int, default=200_000)
    ap.add_argument("--filters", type=int, default=2000)
    ap.add_argument("--pairs", type=int, default=3, help="(scan, correlate) pairs timed after a warm-up pair")
    ap.add_argument("--phase", choices=["scan", "correlate"], help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.folder)))
        return
    folder = site(args.drops, args.flows, args.filters)
    results: dict[str, list[dict]] = {"scan": [], "correlate": []}
    # alternating, in fresh processes; the first pair warms the page cache and is not counted
    for i in range(args.pairs + 1):
        for kind in ("scan", "correlate"):
            out = subprocess.run([sys.executable, __file__, "--phase", kind, "--folder", str(folder)],
                                 check=True, capture_output=True, text=True).stdout
            run = {**json.loads(out.strip().splitlines()[-1]), "load": round(os.getloadavg()[0], 2)}
            if i:
                results[kind].append(run)
            print(json.dumps(run), flush=True)
    median = {k: statistics.median(r["seconds"] for r in rs) for k, rs in results.items()}
    cpu = {k: statistics.median(r["cpu_seconds"] for r in rs) for k, rs in results.items()}
    print(json.dumps({"drops": args.drops, "flows": args.flows, "filters": args.filters, "median_seconds": median,
                      "peak_rss_mb": {k: max(r["peak_rss_mb"] for r in rs) for k, rs in results.items()},
                      "median_cpu_seconds": cpu,
                      "ratio_correlate_to_scan": round(median["correlate"] / median["scan"], 2),
                      "ratio_cpu": round(cpu["correlate"] / cpu["scan"], 2),
                      "ratios_per_pair": [round(c["seconds"] / s["seconds"], 2)
                                          for s, c in zip(results["scan"], results["correlate"], strict=True)]}))


if __name__ == "__main__":
    main()
