"""The one-line outcome says what really happened: nothing new, no drops among the records, or drops stored."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import shared_path

from pipeline import Warehouse, ingest, load_config
from pipeline.ingest import plan_inputs

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_logs"


def test_security_logs_with_only_permitted_connections_say_no_drops_not_nothing_new(tmp_path: Path) -> None:
    folder = shared_path("corpus", "realworld", "evtx")
    truth = json.loads(shared_path("corpus", "realworld", "truth.json").read_text())["evtx"]
    records = sum(t["rows_read_expected"] for t in truth.values())
    wh = Warehouse(tmp_path / "W")
    first = ingest([folder], wh, None)
    assert first.total("rows_read") == records and first.total("drops_found") == 0
    assert first.summary() == f"{len(truth)} file(s), {records:,} records read, no drop events among them"
    assert "nothing new" not in first.summary()
    second = ingest([folder], wh, None)
    assert second.summary() == f"nothing new: every file was already ingested ({len(truth)} file(s) unchanged)"


def test_drops_stored_and_drops_already_held(tmp_path: Path) -> None:
    expected = json.loads((SAMPLES / "expected.json").read_text())
    config = load_config(SAMPLES / "ipsec-drops.toml")
    wh = Warehouse(tmp_path / "W")
    first = ingest([SAMPLES], wh, config)
    exports = len(expected["by_file"]) + len(expected["allowed"]["iis_files"])  # every export file of the sample site
    assert first.summary() == (f"{exports} file(s), {first.total('rows_read'):,} records read, "
                               f"{expected['total_drops']:,} drops stored, "
                               f"{expected['duplicate_rows']:,} duplicates avoided")
    copy = tmp_path / "copy.log"  # the same export again, one line in front: read again, all drops held
    source = SAMPLES / "exports" / "web01" / "system-20261027-encodedelim.log"
    copy.write_bytes(b"#Software: Microsoft Log Parser\r\n" + source.read_bytes())
    again = ingest([copy], wh, config, host="WEB01")
    found = again.total("drops_found")
    assert found > 0 and again.summary() == f"1 file(s), {again.total('rows_read'):,} records read, " \
                                            f"{found:,} drop(s) found, all already stored"


def test_no_exports_at_all(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("hello")
    report = ingest([tmp_path / "in"], Warehouse(tmp_path / "W"), None)
    assert report.summary() == "no export files found (1 other file(s) passed over)"


def test_a_plan_carries_the_input_sizes_into_the_run(tmp_path: Path) -> None:
    plan = plan_inputs([SAMPLES])
    sizes = {str(f.path): f.size for f in plan.files}
    assert plan.total_bytes == sum(p.stat().st_size for p in map(Path, sizes))
    seen: dict[str, int] = {}

    def progress(name: str, done: int, total: int) -> None:
        assert total == sizes[name]  # the same sizes: the CLI need not walk the inputs itself
        seen[name] = max(seen.get(name, 0), done)

    report = ingest(plan, Warehouse(tmp_path / "W"), load_config(SAMPLES / "ipsec-drops.toml"), progress=progress)
    assert report.input_bytes == plan.total_bytes
    assert seen == sizes  # every file reaches its full size, read or not
    assert [f.path for f in report.files] == [str(f.path) for f in plan.files]


def test_a_plan_never_reads_the_warehouse_itself(tmp_path: Path) -> None:
    shutil.copytree(SAMPLES / "exports", tmp_path / "exports")
    wh = Warehouse(tmp_path / "exports" / "W")
    config = load_config(SAMPLES / "ipsec-drops.toml")
    ingest([tmp_path / "exports"], wh, config, host="WEB01", source_tz="UTC")
    report = ingest(plan_inputs([tmp_path / "exports"]), wh, config, host="WEB01", source_tz="UTC")
    assert not any("/W/" in f.path for f in report.files)
