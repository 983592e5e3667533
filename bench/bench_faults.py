#!/usr/bin/env python3
"""The long fault bench of the nightly job: SIGKILL at random points, then a rerun; a real full disk.

    python bench/bench_faults.py --trials 120 --seed 1            # kills (needs nothing special)
    python bench/bench_faults.py --trials 0 --disk-full 12        # full disks (root: mounts tmpfs)
    python bench/bench_faults.py --trials 30 --reports --out bench/out/faults-reports   # kills in reports too

Site: :mod:`pipeline.synthetic.site` (``--hosts`` hosts, one of every export format among the first
five, ``--drops-per-day`` drops a day), ``retention_days = 2`` counted from ``--today`` = the day after
the night's logs, so every night ingests, publishes, compacts the days it touched and retires a
day (and with ``--reports`` writes the reports: most of a small night's time, so a run of its own).
Two nights are run into a base warehouse; the third night's exports are then dropped into the
inboxes, and:

* the **reference**: a copy of the base, the third night run without interruption (its progress
  lines time each stage);
* each **kill trial**: a fresh copy of the base, the third night run and killed (SIGKILL) either at a
  random moment of a stage (start-up, ingest, policies, [reports,] maintenance: a delay drawn within
  the stage's duration in the reference run, counted from the stage's progress line) or at a named
  point of a publish through the test hook ``IPSEC_DROPS_TEST_KILL_AT`` (``point#n``: the n-th time):
  the ingest's commit, its moves, the manifest replace; the maintenance commit, the partition
  exchanges of compaction and the renames of retention.  While it lies killed, a reader counts the
  drops it sees (no drop may show twice).  Then the night is run again to its end and the warehouse
  compared with the reference's (:func:`pipeline.synthetic.site.warehouse_state`: the drops as a
  multiset, parts per date, manifest files, parts and watermarks, policy snapshots, no litter), and
  the reports written with the reference's (file names);
* each **disk-full trial** (``--disk-full N``, needs root): the base copied onto a tmpfs of a size
  between the base's and the finished night's (so the disk fills in different stages), the night run
  (it must exit 4 with a one-line message and no traceback, or 0 if it fitted), the drops present
  checked (the base's, or the base's plus the night's when the ingest was published before the disk
  filled), then the tmpfs grown (``mount -o remount``) and the night run again: equal to the reference.

Prints one JSON line per trial and a summary: trials per stage, kills, mismatches (must be 0).
Results: BENCHMARKS.md, "Nightly and faults (issue 14)".
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline.synthetic.site import Site, differences, warehouse_state  # noqa: E402
from pipeline.warehouse import CRASH_ENV  # noqa: E402

OUT = ROOT / "bench" / "out"
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
ENV.pop(CRASH_ENV, None)
NIGHT = 2  # the faulted night (0 and 1 are the base)
STAGES = ("start", "ingest", "policies", "reports", "maintenance")  # (reports: with --reports)
#: Named kill points: (hook value without the count, what it interrupts, how many times it is reached: a key
#: of the reference's counts).  The ingest publishes first, the maintenance (compaction + retention) second.
HOOKS = (
    ("before-commit", "ingest publish: before the commit point", None),
    ("after-commit", "ingest publish: after the commit point", None),
    ("mid-publish", "ingest publish: between moves", "moves"),
    ("before-manifest", "ingest publish: before the manifest", None),
    ("before-commit#2", "maintenance: before the commit point", None),
    ("after-commit#2", "maintenance: after the commit point", None),
    ("mid-exchange", "compaction: between partition exchanges", "exchanges"),
    ("mid-retire", "retention: between partition renames", "retired"),
    ("before-manifest#2", "maintenance: before the manifest", None),
)


#: Whether the nights write reports (``--reports``): off by default, as they take most of a small night's time.
REPORTS = False


def nightly_cmd(site: Site, config: Path, warehouse: Path, reports: Path, night: int) -> list[str]:
    today = site.day(night) + timedelta(days=1)
    return [sys.executable, "-m", "pipeline", "--config", str(config), "nightly", "--warehouse", str(warehouse),
            *(["--reports", str(reports)] if REPORTS else []), "--today", today.isoformat(), "--log-format", "json"]


def timed_run(cmd: list[str], env: dict | None = None, kill_stage: str | None = None,
              delay: float = 0.0) -> dict:
    """Run ``cmd``, noting when each progress line arrives; with ``kill_stage``, SIGKILL it ``delay`` seconds
    after that stage's line (``start``: after the process started).  Returns code, stage times, stderr."""
    began = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
                            env={**ENV, **(env or {})}, cwd=ROOT)
    events: list[tuple[str, float]] = []
    seen = threading.Condition()
    lines: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            try:
                event = json.loads(line).get("event")
            except (ValueError, AttributeError):
                continue
            with seen:
                events.append((event, time.monotonic() - began))
                seen.notify_all()
        with seen:
            events.append(("<eof>", time.monotonic() - began))
            seen.notify_all()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    killed_in = None
    if kill_stage is not None:
        with seen:
            if kill_stage != "start":
                seen.wait_for(lambda: any(e in (kill_stage, "<eof>", "done", "failed") for e, _ in events))
        if not any(e == "<eof>" for e, _ in events):
            target = (dict(events).get(kill_stage, 0.0) if kill_stage != "start" else 0.0) + delay
            time.sleep(max(0.0, target - (time.monotonic() - began)))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                killed_in = [e for e, _ in events if e != "<eof>"][-1:] or ["start"]
    assert proc.stdout is not None
    out = proc.stdout.read()  # (not communicate(): it would read standard error too, beside the reader)
    proc.wait()
    reader.join()
    return {"code": proc.returncode, "events": [(e, round(t, 3)) for e, t in events if e != "<eof>"],
            "stderr": "".join(lines), "stdout": out, "killed_in": killed_in[0] if killed_in else None,
            "seconds": round(time.monotonic() - began, 3)}


def reports_of(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) \
        if folder.is_dir() else []


def visible_twice(warehouse: Path) -> int:
    """Drops a reader would see more than once right now (the identity of a drop: host, file, record)."""
    import duckdb

    files = [str(p) for p in (warehouse / "drops").glob("date=*/*.parquet")]
    if not files:
        return 0
    con = duckdb.connect()
    try:
        return con.execute("SELECT count(*) - count(DISTINCT (host, source_file, source_record, event_time)) FROM "
                           "read_parquet($f, hive_partitioning = false)", {"f": files}).fetchall()[0][0]
    finally:
        con.close()


def copy_base(base: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(base / "warehouse", target / "warehouse", symlinks=True)
    if (base / "reports").is_dir():
        shutil.copytree(base / "reports", target / "reports", symlinks=True)


def setup(out: Path, hosts: int, drops: int, seed: int) -> tuple[Site, Path, Path]:
    """The site, its config, and the base (warehouse + reports after nights 0 and 1); night 2's files written."""
    site = Site(out / "site", hosts=hosts, drops_per_day=drops, seed=seed)
    config = site.write_config(warehouse="../unused", retention_days=2)
    base = out / "base"
    if not (base / "done").exists():
        shutil.rmtree(base, ignore_errors=True)
        for f in (out / "site" / "inbox").rglob("*"):
            if f.is_file():
                f.unlink()
        for night in range(NIGHT):
            site.write_day(night)
            r = timed_run(nightly_cmd(site, config, base / "warehouse", base / "reports", night))
            if r["code"] != 0:
                raise SystemExit(f"base night {night} exited {r['code']}: {r['stderr'][-3000:]}")
        (base / "done").write_text("")
    site.write_day(NIGHT)
    return site, config, base


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=120, help="kill trials")
    ap.add_argument("--disk-full", type=int, default=0, help="disk-full trials (root: mounts a tmpfs)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hosts", type=int, default=5)
    ap.add_argument("--drops-per-day", type=int, default=4000)
    ap.add_argument("--hook-share", type=float, default=0.5, help="share of kill trials at a named point")
    ap.add_argument("--out", type=Path, default=OUT / "faults")
    ap.add_argument("--keep", action="store_true", help="keep every trial's folder (default: only mismatches)")
    ap.add_argument("--reports", action="store_true", help="the nights write reports (a stage to kill in)")
    args = ap.parse_args()
    global REPORTS
    REPORTS = args.reports
    rng = random.Random(args.seed)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    site, config, base = setup(out, args.hosts, args.drops_per_day, args.seed)
    base_state = warehouse_state(base / "warehouse")

    # the reference: the night uninterrupted (twice, for the stage timings)
    timings: dict[str, list[float]] = {s: [] for s in STAGES}
    ref = out / "reference"
    for _ in range(2):
        copy_base(base, ref)
        r = timed_run(nightly_cmd(site, config, ref / "warehouse", ref / "reports", NIGHT))
        if r["code"] != 0:
            raise SystemExit(f"reference night exited {r['code']}: {r['stderr'][-3000:]}")
        marks = dict(r["events"])
        ends = [marks.get(s) for s in ("ingest", "policies", "reports", "maintenance", "done")]
        timings["start"].append(marks["ingest"])
        for stage, (a, b) in zip(STAGES[1:], zip(ends, ends[1:], strict=False), strict=False):
            if a is not None and b is not None:
                timings[stage].append(b - a)
            elif a is not None:  # e.g. no reports line: the stage ran into the next one
                nxt = next((x for x in ends[ends.index(a) + 1:] if x is not None), None)
                timings[stage].append((nxt or a) - a)
    want = warehouse_state(ref / "warehouse")
    want_reports = reports_of(ref / "reports")
    record = json.loads(Path(json.loads(r["stderr"].splitlines()[-1])["record"]).read_text())
    compacted = record["maintenance"]
    counts = {"moves": 2 * len(record["new_days"]),  # data + keys of each date the ingest touched
              "exchanges": 2 * int(re.search(r"compacted (\d+) day", compacted or "compacted 1 day").group(1)),
              "retired": 2 * int(re.search(r"removed (\d+) day", compacted or "removed 1 day").group(1))}
    durations = {s: round(sum(v) / len(v), 3) for s, v in timings.items() if v}
    print(json.dumps({"reference": {"rows": want["rows"], "base_rows": base_state["rows"], "stages": durations,
                                    "maintenance": compacted, "seconds": r["seconds"]}}), flush=True)
    if want["rows"] <= base_state["rows"] or "retention removed" not in compacted or "compacted" not in compacted:
        raise SystemExit("the reference night must add drops, compact and retire (check --drops-per-day)")

    by_stage: Counter = Counter()
    kills = mismatches = twice = hooks_done = 0
    results = []
    for trial in range(args.trials):
        folder = out / f"trial-{trial:04d}"
        copy_base(base, folder)
        cmd = nightly_cmd(site, config, folder / "warehouse", folder / "reports", NIGHT)
        if rng.random() < args.hook_share:
            hook, what, counted = HOOKS[hooks_done % len(HOOKS)]  # each point in turn, its count at random
            hooks_done += 1
            if counted:
                hook = f"{hook}#{rng.randint(1, max(1, counts[counted]))}"
            r = timed_run(cmd, env={CRASH_ENV: hook})
            plan = {"hook": hook, "where": what}
            stage = what.split(":")[0]
        else:
            stage = rng.choice([s for s in STAGES if s != "reports" or REPORTS])
            delay = rng.uniform(0, max(durations.get(stage, 0.05), 0.01))
            r = timed_run(cmd, kill_stage=stage, delay=delay)
            plan = {"stage": stage, "delay": round(delay, 3), "landed": r["killed_in"]}
            if r["killed_in"] is not None:  # the stage whose progress line came last before the kill
                stage = {"done": "after the run record (summary)"}.get(r["killed_in"], r["killed_in"])
        killed = r["code"] == -signal.SIGKILL
        kills += killed
        seen_twice = visible_twice(folder / "warehouse") if killed else 0
        twice += seen_twice > 0
        again = timed_run(cmd)
        got = warehouse_state(folder / "warehouse")
        diff = differences(got, want)
        got_reports = reports_of(folder / "reports")
        if got_reports != want_reports:
            diff.append(f"reports: {sorted(set(want_reports) ^ set(got_reports))[:10]}")
        if again["code"] != 0:
            diff.append(f"rerun exited {again['code']}: {again['stderr'][-500:]}")
        if seen_twice:
            diff.append(f"a reader saw {seen_twice} drop(s) twice while the run lay killed")
        label = f"{stage} (killed)" if killed else f"{stage} (finished before the kill)"
        by_stage[label] += 1
        mismatches += bool(diff)
        line = {"trial": trial, **plan, "code": r["code"], "rerun": again["code"], "mismatch": diff}
        results.append(line)
        print(json.dumps(line), flush=True)
        if not diff and not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    full = disk_full(args, rng, site, config, base, base_state, want, want_reports) if args.disk_full else None
    summary = {"trials": args.trials, "kills": kills, "mismatches": mismatches, "reader_saw_twice": twice,
               "by_stage": dict(sorted(by_stage.items())), "disk_full": full, "load": os.getloadavg(),
               "hosts": args.hosts, "drops_per_day": args.drops_per_day, "seed": args.seed}
    (out / "summary.json").write_text(json.dumps({"summary": summary, "trials": results}, indent=1))
    print(json.dumps({"summary": summary}), flush=True)
    if mismatches or (full and full["mismatches"]):
        sys.exit(1)


def disk_full(args: argparse.Namespace, rng: random.Random, site: Site, config: Path, base: Path,
              base_state: dict, want: dict, want_reports: list[str]) -> dict:
    """Full-disk trials on a tmpfs (see the module docstring)."""
    if os.geteuid() != 0:
        raise SystemExit("--disk-full needs root (it mounts a tmpfs)")

    def used(mount: Path) -> int:
        fs = os.statvfs(mount)
        return (fs.f_blocks - fs.f_bfree) * fs.f_frsize

    calib = args.out / "tmpfs-calibration"
    calib.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512m", "tmpfs", str(calib)], check=True)
    try:
        copy_base(base, calib / "night")
        low = used(calib)
        shutil.rmtree(calib / "night")
        copy_base(args.out / "reference", calib / "night")
        high = used(calib)
    finally:
        subprocess.run(["umount", str(calib)], check=False)
        with_retry_rmdir(calib)
    cutoff = (site.day(NIGHT) + timedelta(days=1) - timedelta(days=2)).isoformat()  # --today - retention_days
    stages: Counter = Counter()
    problems = 0
    lines = []
    for trial in range(args.disk_full):
        mount = args.out / f"tmpfs-{trial}"
        mount.mkdir(exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512m", "tmpfs", str(mount)], check=True)
        night = mount / "night"  # (not the mount point itself: copy_base empties its target first)
        try:
            copy_base(base, night)
            # free space from none to three times what the night adds plus 512 KiB (the staged files, a second
            # manifest while it is replaced, the compacted partitions beside the old ones): full in different stages
            span = 3 * max(high - low, 4096) + (512 << 10)
            size = used(mount) + int(span * (trial + rng.random()) / args.disk_full)
            size = -(-size // 4096) * 4096
            subprocess.run(["mount", "-o", f"remount,size={size}", str(mount)], check=True)
            cmd = nightly_cmd(site, config, night / "warehouse", night / "reports", NIGHT)
            r = timed_run(cmd)
            issues = []
            err = r["stderr"]
            if r["code"] == 4:
                message = [ln for ln in err.splitlines() if ln.startswith("nightly failed")]  # (not the JSON line)
                stage = message[0].split("nightly failed during ")[1].split(":")[0] if message else "?"
                if "Traceback" in err + r["stdout"] or not message:
                    issues.append(f"not a clean message: {err[-800:]}")
                if "disk full" not in err and "No space" not in err:
                    issues.append(f"the message does not say the disk is full: {message}")
            elif r["code"] == 0:
                stage = "fitted"
            else:
                stage = f"exit {r['code']}"
                issues.append(f"exit {r['code']}: {err[-800:]}")
            now = warehouse_state(night / "warehouse")
            if (now["rows"], now["digest"]) != (base_state["rows"], base_state["digest"]):
                # the ingest was published before the disk filled: every drop the finished night keeps is
                # there, and any other is of a day the unfinished retention had still to retire
                lost, extra = compare_rows(args.out / "reference" / "warehouse", night / "warehouse", cutoff)
                if lost or extra:
                    issues.append(f"after the failure: {lost} drop(s) of the finished night missing, {extra} "
                                  "other drop(s) not of a retired day")
            subprocess.run(["mount", "-o", "remount,size=512m", str(mount)], check=True)
            again = timed_run(cmd)
            got = warehouse_state(night / "warehouse")
            issues += differences(got, want)
            if reports_of(night / "reports") != want_reports:
                issues.append("reports differ")
            if again["code"] != 0:
                issues.append(f"rerun exited {again['code']}")
            stages[stage] += 1
            problems += bool(issues)
            line = {"disk_full_trial": trial, "size": size, "code": r["code"], "stage": stage,
                    "message": next((ln for ln in err.splitlines() if ln.startswith("nightly failed")), "")[:300],
                    "rerun": again["code"], "mismatch": issues}
            lines.append(line)
            print(json.dumps(line), flush=True)
        finally:
            subprocess.run(["umount", str(mount)], check=False)
            with_retry_rmdir(mount)
    return {"trials": args.disk_full, "by_stage": dict(stages), "mismatches": problems,
            "sizes": [low, high], "examples": [ln["message"] for ln in lines if ln["code"] == 4][:3]}


def compare_rows(want: Path, got: Path, cutoff: str) -> tuple[int, int]:
    """(drops of ``want`` missing from ``got``, drops of ``got`` not in ``want`` dated on or after ``cutoff``)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        a, b = (f"read_parquet({[str(p) for p in (w / 'drops').glob('date=*/*.parquet')]!r}, "
                "hive_partitioning = false)" for w in (want, got))
        lost = con.execute(f"SELECT count(*) FROM (SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b})").fetchall()[0][0]
        extra = con.execute(f"SELECT count(*) FROM (SELECT * FROM {b} EXCEPT ALL SELECT * FROM {a}) "
                            "WHERE CAST(event_time AS DATE) >= CAST($c AS DATE)", {"c": cutoff}).fetchall()[0][0]
    finally:
        con.close()
    return lost, extra


def with_retry_rmdir(folder: Path) -> None:
    for _ in range(5):
        try:
            folder.rmdir()
            return
        except OSError:
            time.sleep(0.2)


if __name__ == "__main__":
    main()
