"""A kill at any point of publishing, and two ingests at once, never lose or duplicate a row."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipeline import Warehouse, ingest, load_config
from pipeline.warehouse import CRASH_ENV

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_logs"
CONFIG = SAMPLES / "ipsec-drops.toml"
EXPECTED = json.loads((SAMPLES / "expected.json").read_text())["total_drops"]


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "--config", str(CONFIG), *args],
        capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=REPO, timeout=300,
    )


def stored(wh: Path) -> tuple[int, int]:
    """(rows, distinct identities) visible to a reader globbing the dataset."""
    if not list((wh / "drops").glob("date=*/*.parquet")):
        return 0, 0
    rows = duckdb.sql(f"""select count(*), count(distinct (host, source_format, source_file, source_record))
                         from read_parquet('{wh}/drops/**/*.parquet')""").fetchall()
    return rows[0]


@pytest.mark.parametrize("point", ["before-commit", "after-commit", "mid-publish", "before-manifest"])
def test_kill_while_publishing_leaves_before_or_after_never_between(tmp_path: Path, point: str) -> None:
    wh = tmp_path / "W"
    killed = cli("ingest", str(SAMPLES), "--warehouse", str(wh), env={CRASH_ENV: point})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    rows, distinct = stored(wh)
    if point == "before-commit":
        # Killed after writing the data but before the commit point: nothing is visible.
        assert rows == 0
        assert not (wh / "_manifest.json").exists()
    else:
        # Past the commit point: whatever a reader sees is whole rows, never a duplicate.
        assert rows == distinct
    # The next run completes (or discards) the interrupted one, and the result is exact.
    again = cli("ingest", str(SAMPLES), "--warehouse", str(wh))
    assert again.returncode == 0, again.stdout + again.stderr
    expect_note = "discarded" if point == "before-commit" else "completed the interrupted publish"
    assert expect_note in again.stderr
    assert stored(wh) == (EXPECTED, EXPECTED)
    assert not (wh / ".staging").exists() and not (wh / "_publish.json").exists()
    third = cli("ingest", str(SAMPLES), "--warehouse", str(wh))
    assert "nothing new" in third.stdout
    assert stored(wh) == (EXPECTED, EXPECTED)


def test_second_ingest_is_refused_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    wh = tmp_path / "W"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pipeline import Warehouse; lock = Warehouse(sys.argv[1]).lock(); "
         "print('locked', flush=True); time.sleep(60)", str(wh)],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        blocked = cli("ingest", str(SAMPLES), "--warehouse", str(wh))
        assert blocked.returncode == 3
        assert "another ingest is writing" in blocked.stderr and f"pid {holder.pid}" in blocked.stderr
        assert stored(wh) == (0, 0)
    finally:
        holder.kill()
        holder.wait()
    # Lock released (the holder died): the next ingest runs normally.
    ok = cli("ingest", str(SAMPLES), "--warehouse", str(wh))
    assert ok.returncode == 0 and stored(wh) == (EXPECTED, EXPECTED)


def test_two_concurrent_ingests_store_each_drop_once(tmp_path: Path) -> None:
    wh = tmp_path / "W"
    procs = [subprocess.Popen([sys.executable, "-m", "pipeline", "--config", str(CONFIG), "ingest", str(SAMPLES),
                               "--warehouse", str(wh)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=REPO) for _ in range(2)]
    codes = sorted(p.wait(timeout=300) for p in procs)
    # Either the second waited for nothing and was refused (3), or it ran after the first (0).
    assert codes in ([0, 0], [0, 3])
    assert stored(wh) == (EXPECTED, EXPECTED)


def test_a_reader_is_not_blocked_by_a_running_ingest(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "W")
    ingest([SAMPLES], wh, load_config(CONFIG))
    lock = wh.lock()  # an ingest is "running"
    try:
        start = time.monotonic()
        rows = duckdb.sql(f"select count(*) from read_parquet('{wh.drops_glob()}')").fetchall()[0][0]
        assert rows == EXPECTED and time.monotonic() - start < 10
    finally:
        lock.release()


def test_the_lock_names_its_holder_even_the_instant_after_it_was_taken(tmp_path: Path) -> None:
    import socket

    from pipeline.warehouse import WarehouseLocked

    wh = tmp_path / "W"
    wh.mkdir()
    # A holder killed earlier left its information behind; its pid is dead now.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (wh / ".lock.info").write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname(),
                                               "since": "2026-01-01T00:00:00+00:00"}))
    # The new holder has the lock but is slow to say so (as any holder is, for an instant).
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; import pipeline.warehouse.store as s; real = s._write_lock_info\n"
         "def slow(path, text):\n    print('acquired', flush=True); time.sleep(0.8); real(path, text)\n"
         "s._write_lock_info = slow; lock = s.Warehouse(sys.argv[1]).lock(); time.sleep(60)", str(wh)],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    )
    try:
        assert holder.stdout.readline().strip() == "acquired"
        with pytest.raises(WarehouseLocked) as caught:
            Warehouse(wh).lock()
        assert f"pid {holder.pid} on {socket.gethostname()}" in str(caught.value)
    finally:
        holder.kill()
        holder.wait()
    Warehouse(wh).lock().release()  # the dead holder's lock is free again
    assert not (wh / ".lock.info").exists()  # a released lock leaves no stale information


def _damaged_site(wh: Path) -> tuple[list[str], list[str]]:
    """The sample site with two data parts lost (their keys remain) and one key file lost (its data remains)."""
    warehouse = Warehouse(wh)
    ingest([SAMPLES], warehouse, load_config(CONFIG))
    parts = sorted(warehouse.manifest().parts or {})
    lost_data, lost_keys = parts[:2], parts[2:3]
    for name in lost_data:
        (wh / name).unlink()
    for name in lost_keys:
        (wh / name.replace("drops/", "_keys/", 1)).unlink()
    return lost_data, lost_keys


@pytest.mark.parametrize("point", ["before-commit", "after-commit", "mid-publish", "mid-delete", "before-manifest"])
def test_kill_while_repairing_leaves_before_or_after(tmp_path: Path, point: str) -> None:
    from pipeline.warehouse import check

    wh = tmp_path / "W"
    lost_data, lost_keys = _damaged_site(wh)
    orphan_keys = [wh / n.replace("drops/", "_keys/", 1) for n in lost_data]
    killed = subprocess.run([sys.executable, "-c", "import sys; from pipeline.warehouse import repair; "
                             "repair(sys.argv[1])", str(wh)], env={**os.environ, CRASH_ENV: point}, cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    if point == "mid-delete":  # killed between the two deletions
        assert sum(p.exists() for p in orphan_keys) == 1 and (wh / "_publish.json").exists()
    if point == "before-commit":
        assert all(p.exists() for p in orphan_keys) and not (wh / "_publish.json").exists()
    rows, distinct = stored(wh)
    assert rows == distinct  # whatever a reader sees meanwhile, never a row twice
    # The next writer completes (or, before the commit point, simply redoes) the repair.
    from pipeline.warehouse import repair

    again = repair(Warehouse(wh))
    if point != "before-commit":
        assert again.recovered and not again.lost
    assert not any(p.exists() for p in orphan_keys) and not (wh / "_publish.json").exists()
    assert check(Warehouse(wh)).ok
    ingest([SAMPLES], Warehouse(wh), load_config(CONFIG), reread=True)
    assert stored(wh) == (EXPECTED, EXPECTED)


def test_retention_deletes_partitions_through_the_journal_and_survives_a_kill(tmp_path: Path) -> None:
    """What a later retention feature does: delete whole date partitions (data and keys) in one commit."""
    from pipeline.warehouse import check

    wh = tmp_path / "W"
    ingest([SAMPLES], Warehouse(wh), load_config(CONFIG))
    script = (
        "import sys; from pipeline.warehouse import Warehouse\n"
        "wh = Warehouse(sys.argv[1]); lock = wh.lock(); m = wh.manifest(); old = sorted(m.parts)[:2]\n"
        "gone = [p for p in old] + [p.replace('drops/', '_keys/', 1) for p in old]\n"
        "m.parts = {k: v for k, v in m.parts.items() if k not in old}\n"
        "wh.commit('retention-1', wh.staging_dir / 'retention-1', m, [], gone)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script, str(wh)], env={**os.environ, CRASH_ENV: "mid-delete"},
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (wh / "_publish.json").exists()
    recovered = Warehouse(wh)
    lock = recovered.lock()
    try:
        assert recovered.recover() == "completed the interrupted publish of run retention-1"
    finally:
        lock.release()
    status = check(recovered)
    assert status.ok and status.parts == len(recovered.drop_files()) and status.rows == stored(wh)[0] < EXPECTED
    folders = [*(wh / "drops").iterdir(), *(wh / "_keys").iterdir()]
    assert len(folders) == 2 * status.dates and all(any(f.iterdir()) for f in folders)  # emptied dates removed
