"""EVTX read by worker processes (``pipeline.readers.evtx_workers``) is EVTX read by one process.

Every corpus file (damaged ones included), a damaged chunk inside a piece, a file cut short,
``skip_through`` inside a piece, many small batches: the same batches, counts, issues and
watermarks, piece by piece down to one chunk.  The workers die with the ingest.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from pipeline import Warehouse, ingest
from pipeline.issues import IssueLog
from pipeline.readers import evtx as evtx_reader
from pipeline.readers import evtx_workers
from pipeline.readers.evtx import read_evtx_rust

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "evtx"
DATA = REPO / "tests" / "data"
CORPUS_FILES = sorted(p.name for p in CORPUS.glob("*.evtx")) if CORPUS.is_dir() else []
CHUNK, HEADER = 65536, 4096


def read(path: Path, **kw) -> tuple[list, list, dict]:
    issues = IssueLog(str(path))
    batches = [(b.events, b.records, b.bytes_done) for b in read_evtx_rust(path, issues, **kw)]
    return batches, issues.details, dict(issues.counts)


def in_workers(piece_chunks: int = 1, **kw) -> dict:
    return {"workers": 2, "min_bytes": 0, "piece_chunks": piece_chunks, **kw}


@pytest.fixture
def workers_only(monkeypatch):
    """Fail the test if a piece is read by this process instead of a worker (a worker that failed)."""

    def here(*args):
        raise AssertionError(f"piece {args[1:3]} read in the parent: a worker failed")

    monkeypatch.setattr(evtx_workers, "scan_piece", here)


def assert_same(path: Path, skip_through: int | None = None, **kw) -> tuple[list, list, dict]:
    one = read(path, skip_through=skip_through, workers=1)
    many = read(path, skip_through=skip_through, **kw)
    assert many[2] == one[2], "issue counts"
    assert many[1] == one[1], "issues (locations, messages, order)"
    assert [b[1:] for b in many[0]] == [b[1:] for b in one[0]], "batch records and progress"
    assert many[0] == one[0], "events"
    return one


@pytest.mark.skipif(not CORPUS_FILES, reason=f"EVTX corpus not found at {CORPUS}")
@pytest.mark.parametrize("name", CORPUS_FILES)
def test_every_corpus_file_reads_the_same_one_chunk_per_piece(name: str, workers_only) -> None:
    assert_same(CORPUS / name, **in_workers())


@pytest.mark.skipif(not CORPUS_FILES, reason=f"EVTX corpus not found at {CORPUS}")
@pytest.mark.parametrize("name", ["sample_with_a_bad_chunk_magic.evtx", "sysmon.evtx",
                                  "2-vss_0-Microsoft-Windows-RemoteDesktopServices-RdpCoreTS%4Operational.evtx"])
def test_damage_inside_a_piece_is_named_as_in_one_process(name: str, workers_only) -> None:
    batches, issues, counts = assert_same(CORPUS / name, **in_workers(piece_chunks=3))
    assert counts["read-error"] > 0
    if name.startswith("sample_with"):  # chunks 6 and 10: inside pieces [6, 9) and [9, 12)
        assert [i.location.split(" (")[0] for i in issues] == ["chunk 6", "chunk 10"]
        assert all("(after record" in i.location for i in issues)


# -- a generated log of 50 chunks ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def security_log(tmp_path_factory) -> Path:
    """A Security log of 6,000 records (50 chunks), one in four a WFP drop."""
    from pipeline.synthetic.evtx import EvtxWriter, logon_event, wfp_5152

    path = tmp_path_factory.mktemp("evtx-parallel") / "Security.evtx"
    start = datetime(2026, 10, 27, 8, 0, 0)
    with EvtxWriter(path) as out:
        for rid in range(1, 6001):
            when = start + timedelta(seconds=rid)
            if rid % 4 == 0:
                out.write(wfp_5152(rid, when, "DB01.example.net", src_ip="192.0.2.9", src_port=1024 + rid % 60000,
                                   dst_ip="10.1.0.20", dst_port=3389))
            else:
                out.write(logon_event(rid, when, "DB01.example.net", user="svc", domain="EXAMPLE",
                                      user_sid="S-1-5-21-1-2-3-1001", logon_id=0x3E7 + rid))
    assert (path.stat().st_size - HEADER) // CHUNK >= 40
    return path


def chunk_records(path: Path, n: int) -> tuple[int, int]:
    head = path.read_bytes()[HEADER + n * CHUNK: HEADER + n * CHUNK + 40]
    return int.from_bytes(head[24:32], "little"), int.from_bytes(head[32:40], "little")


def test_a_whole_log_reads_the_same_in_pieces_of_any_size(security_log: Path, workers_only) -> None:
    for piece_chunks in (1, 7, 64):
        batches, issues, _ = assert_same(security_log, **in_workers(piece_chunks))
        assert sum(b[1] for b in batches) == 6000 and sum(len(b[0]) for b in batches) == 1500 and not issues


def test_a_damaged_chunk_and_a_damaged_record_in_the_middle(security_log: Path, tmp_path: Path, workers_only) -> None:
    data = bytearray(security_log.read_bytes())
    data[HEADER + 10 * CHUNK: HEADER + 10 * CHUNK + 8] = b"\0" * 8  # chunk 10's magic
    record = data.index(b"**\0\0", HEADER + 21 * CHUNK + 3000)  # a record in the middle of chunk 21
    data[record: record + 4] = b"XXXX"
    damaged = tmp_path / "damaged.evtx"
    damaged.write_bytes(bytes(data))
    batches, issues, counts = assert_same(damaged, **in_workers(piece_chunks=4))  # chunks 10, 21 inside pieces
    assert counts["read-error"] >= 2
    assert issues[0].location.startswith("chunk 10 (after record ")
    assert int(issues[0].location.split()[-1].rstrip(")")) == chunk_records(security_log, 9)[1]
    assert_same(damaged, **in_workers(piece_chunks=1))  # the damaged chunk is a piece of its own


@pytest.mark.parametrize("cut", [HEADER + 20 * CHUNK + 30000, HEADER + 33 * CHUNK, HEADER + 100])
def test_a_file_cut_short(security_log: Path, tmp_path: Path, cut: int, workers_only) -> None:
    short = tmp_path / "short.evtx"
    short.write_bytes(security_log.read_bytes()[:cut])
    batches, _, _ = assert_same(short, **in_workers(piece_chunks=3))
    assert sum(b[1] for b in batches) == sum(
        last - first + 1 for first, last in (chunk_records(security_log, n) for n in range((cut - HEADER) // CHUNK)))


def test_skip_through_inside_a_piece(security_log: Path, workers_only) -> None:
    first, last = chunk_records(security_log, 13)
    middle = (first + last) // 2  # pieces of 4 chunks: [12, 16) holds chunk 13
    batches, _, _ = assert_same(security_log, skip_through=middle, **in_workers(piece_chunks=4))
    assert sum(b[1] for b in batches) == 6000 - middle
    assert min(e.record_id for b in batches for e in b[0]) > middle


def test_batches_end_where_they_end_in_one_process(security_log: Path, monkeypatch, workers_only) -> None:
    monkeypatch.setattr(evtx_reader, "BATCH_RECORDS", 777)
    batches, _, _ = assert_same(security_log, **in_workers(piece_chunks=2))
    assert len(batches) > 7
    monkeypatch.setattr(evtx_reader, "BATCH_EVENTS", 50)
    batches, _, _ = assert_same(security_log, **in_workers(piece_chunks=5))
    assert max(len(b[0]) for b in batches) == 50


def test_small_files_stay_in_one_process(security_log: Path, monkeypatch) -> None:
    def no_workers(*args, **kwargs):
        raise AssertionError("workers started for a small file")

    monkeypatch.setattr(evtx_workers, "scan_in_workers", no_workers)
    read(security_log, workers=2)  # below the default threshold
    read(security_log, workers=1, min_bytes=0)  # one worker: none
    assert evtx_workers.settings(None, None, None)[1] == evtx_workers.PARALLEL_MIN_BYTES
    monkeypatch.setenv(evtx_workers.ENV_WORKERS, "3")
    monkeypatch.setenv(evtx_workers.ENV_MIN_BYTES, "0")
    monkeypatch.setenv(evtx_workers.ENV_PIECE_CHUNKS, "2")
    assert evtx_workers.settings(None, None, None) == (3, 0, 2)


def test_a_worker_that_fails_leaves_its_pieces_to_the_parent(security_log: Path, monkeypatch) -> None:
    real = evtx_workers._Pool.result
    here: list[int] = []
    scan_piece = evtx_workers.scan_piece

    def count(path, first, end, skip):
        here.append(first)
        return scan_piece(path, first, end, skip)

    def kill_worker_1(self, i):
        if i == 5 and self.procs[1] is not None:
            self.procs[1].kill()  # worker 1 dies: pieces 5, 7, ... are read here
            self.procs[1].wait()
        return real(self, i)

    monkeypatch.setattr(evtx_workers, "scan_piece", count)
    monkeypatch.setattr(evtx_workers._Pool, "result", kill_worker_1)
    assert_same(security_log, **in_workers(piece_chunks=4))
    assert here and all(first // 4 % 2 == 1 for first in here) and min(here) // 4 >= 3
    here.clear()
    monkeypatch.setattr(evtx_workers._Pool, "result", real)
    monkeypatch.setattr(evtx_workers.sys, "executable", str(REPO / "no-such-python"))  # workers cannot start
    assert_same(security_log, **in_workers(piece_chunks=4))
    assert len(here) == 13


def test_a_file_put_in_its_place_meanwhile_is_not_read(security_log: Path, tmp_path: Path, monkeypatch) -> None:
    """A copy renamed over the file being read (rsync does that): what is read is the file that was opened."""
    path = tmp_path / "Security.evtx"
    path.write_bytes(security_log.read_bytes())
    other = tmp_path / "other.evtx"
    data = bytearray(security_log.read_bytes())
    data[HEADER + 5 * CHUNK: HEADER + 30 * CHUNK] = b"\0" * (25 * CHUNK)  # chunks 5..29 empty: other records
    other.write_bytes(bytes(data))
    expected = read(path, workers=1)
    real_init = evtx_workers._Pool.__init__
    here: list[int] = []
    scan_piece = evtx_workers.scan_piece

    def replace_then_start(self, *args, **kwargs):
        os.replace(other, path)  # after the parent opened the file, before any worker did
        real_init(self, *args, **kwargs)

    def count(source, first, end, skip):
        here.append(first)
        return scan_piece(source, first, end, skip)

    monkeypatch.setattr(evtx_workers._Pool, "__init__", replace_then_start)
    monkeypatch.setattr(evtx_workers, "scan_piece", count)
    assert read(path, **in_workers(piece_chunks=8)) == expected
    assert here  # the workers refused the new file: its pieces were read here, from the file opened
    assert read(path, workers=1) != expected  # the new file is another file


# -- whole ingests ---------------------------------------------------------------------------------------------------


def stored(wh: Path) -> list[tuple]:
    return duckdb.sql(f"select * from read_parquet('{wh}/drops/**/*.parquet') "
                      "order by source_record").fetchall()


def test_ingest_stores_and_records_the_same(security_log: Path, tmp_path: Path, monkeypatch) -> None:
    _, last = chunk_records(security_log, 29)
    earlier = tmp_path / "earlier.evtx"  # the same log, saved while it held 30 chunks: the later one resumes
    earlier.write_bytes(security_log.read_bytes()[: HEADER + 30 * CHUNK])
    results = {}
    for mode, env in {"one": {evtx_workers.ENV_WORKERS: "1"},
                      "many": {evtx_workers.ENV_WORKERS: "2", evtx_workers.ENV_MIN_BYTES: "0",
                               evtx_workers.ENV_PIECE_CHUNKS: "3"}}.items():
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        wh = Warehouse(tmp_path / mode)
        a = ingest([earlier], wh, None, host="DB01")
        b = ingest([security_log], wh, None, host="DB01")
        manifest = wh.manifest()
        results[mode] = (
            [(f.status, f.rows_read, f.drops_found, f.drops_stored, f.duplicates, f.skipped, f.note)
             for f in (*a.files, *b.files)],
            manifest.watermarks, [(f.last_record, f.rows_read, f.drops_stored) for f in manifest.files],
            stored(wh.root))
        for name in env:
            monkeypatch.delenv(name)
    assert results["many"] == results["one"]
    files, watermarks, _, rows = results["one"]
    assert files[1][0] == "resumed" and files[1][1] == 6000 - last and len(rows) == 1500
    assert list(watermarks.values())[0]["record"] == 6000


# -- the workers die with the ingest --------------------------------------------------------------------------------

STALLING_INGEST = """
import sys, time
from pathlib import Path
import pipeline.readers.evtx_workers as w
real = w.scan_in_workers
def stalling(*args, **kwargs):
    items = real(*args, **kwargs)
    yield next(items)
    print("reading", flush=True)
    time.sleep(120)
    yield from items
w.scan_in_workers = stalling
from pipeline import Warehouse, ingest
ingest([Path(sys.argv[1])], Warehouse(Path(sys.argv[2])), None, host="DB01")
print("finished", flush=True)
"""


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", ["SIGKILL", "Ctrl-C"])
def test_workers_end_with_a_killed_or_interrupted_ingest_and_nothing_is_published(
        security_log: Path, tmp_path: Path, how: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), evtx_workers.ENV_WORKERS: "2", evtx_workers.ENV_MIN_BYTES: "0",
           evtx_workers.ENV_PIECE_CHUNKS: "1"}
    wh = tmp_path / "W"
    proc = subprocess.Popen([sys.executable, "-c", STALLING_INGEST, str(security_log), str(wh)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "reading"
        workers = children(proc.pid)
        assert len(workers) == 2
        if how == "SIGKILL":
            proc.kill()
        else:  # a terminal's Ctrl-C: SIGINT to the whole process group
            os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while not all(gone(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(gone(w) for w in workers), "worker processes outlived the ingest"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert not list(wh.glob("drops/**/*.parquet")) and not (wh / "_manifest.json").exists()
