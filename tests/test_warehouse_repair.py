"""A lost or foreign Parquet file is noticed (check), settled (repair), and the rows come back (reread)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from pipeline import Warehouse, ingest, load_config
from pipeline.warehouse import WarehouseLocked, check, repair

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_logs"
CONFIG = load_config(SAMPLES / "ipsec-drops.toml")
EXPECTED = json.loads((SAMPLES / "expected.json").read_text())["total_drops"]


def stored(wh: Warehouse) -> tuple[int, int]:
    """(rows, distinct identities) a reader of the dataset sees."""
    if not wh.drop_files():
        return 0, 0
    return duckdb.sql(f"""select count(*), count(distinct (host, source_format, source_record, event_time))
                         from read_parquet('{wh.drops_glob()}')""").fetchall()[0]


@pytest.fixture
def site(tmp_path: Path) -> Warehouse:
    wh = Warehouse(tmp_path / "W")
    ingest([SAMPLES], wh, CONFIG)
    assert stored(wh) == (EXPECTED, EXPECTED)
    return wh


def biggest_part(wh: Warehouse) -> tuple[str, int]:
    parts = wh.manifest().parts
    assert parts
    name = max(parts, key=lambda p: parts[p].rows)
    return name, parts[name].rows


def test_a_fresh_warehouse_checks_clean_and_records_its_parts(site: Warehouse) -> None:
    status = check(site)
    assert status.ok and status.exit_code == 0, [f.message for f in status.findings]
    assert status.rows == EXPECTED and status.parts == len(site.drop_files())
    manifest = json.loads(site.manifest_path.read_text())
    assert manifest["version"] == 2
    assert sum(p["rows"] for p in manifest["parts"].values()) == EXPECTED
    assert all(p["sources"] and all(Path(s).is_absolute() for s in p["sources"]) for p in manifest["parts"].values())
    json.dumps(status.to_dict())  # plain data, for status --format json


def test_lost_data_part_is_noticed_repaired_and_its_rows_restored(site: Warehouse) -> None:
    name, rows = biggest_part(site)
    (site.root / name).unlink()
    sources = site.manifest().parts[name].sources  # type: ignore[index]

    # Before: an ingest believes the keys and stores nothing, but says the warehouse is damaged.
    blind = ingest([SAMPLES], site, CONFIG, reread=True)
    assert blind.total("drops_stored") == 0
    assert blind.damage == [f"{site.root / name}: data part missing ({rows:,} rows lost; its keys keep them from "
                            "being stored again)"]
    assert "run `ipsec-drops repair`" in blind.summary() and blind.exit_code == 1
    unchanged = ingest([SAMPLES], site, CONFIG)  # even when nothing is read, the missing part is noticed
    assert unchanged.damage == blind.damage and unchanged.summary().startswith("nothing new")

    status = check(site)
    assert not status.ok and status.exit_code == 1
    (finding,) = [f for f in status.findings if f.damage]
    assert (finding.kind, finding.path, finding.rows, finding.sources) == ("missing-data", name, rows, sources)

    report = repair(site)
    (lost,) = report.lost
    assert (lost.path, lost.rows, lost.sources) == (name, rows, sources)
    assert report.removed_keys == [name.replace("drops/", "_keys/", 1)]
    assert set(sources) <= set(report.reread) and not report.reread_all
    assert f"{rows:,} rows lost" in report.summary()
    assert check(site).ok

    # The next ingest reads those files again (their entries were forgotten) and stores exactly the lost rows.
    again = ingest([SAMPLES], site, CONFIG)
    assert again.total("drops_stored") == rows
    assert stored(site) == (EXPECTED, EXPECTED)
    assert check(site).ok
    assert ingest([SAMPLES], site, CONFIG, reread=True).total("drops_stored") == 0


def test_lost_data_part_and_deleted_manifest(site: Warehouse) -> None:
    name, rows = biggest_part(site)
    (site.root / name).unlink()
    site.manifest_path.unlink()
    assert ingest([SAMPLES], site, CONFIG).total("drops_stored") == 0  # the keys still say "stored"
    site.manifest_path.unlink()  # (that run wrote a new manifest; start again from none)
    kinds = {f.kind for f in check(site).findings if f.damage}
    assert kinds == {"manifest-missing", "orphan-keys"}
    report = repair(site)
    assert report.manifest_rebuilt and report.reread_all and [p.path for p in report.lost] == [name]
    assert len(report.adopted) == len(site.drop_files())
    assert check(site).ok
    ingest([SAMPLES], site, CONFIG, reread=True)
    assert stored(site) == (EXPECTED, EXPECTED)


def test_lost_key_file_sets_the_part_aside_and_a_reread_does_not_duplicate(site: Warehouse) -> None:
    name, rows = biggest_part(site)
    (site.root / name.replace("drops/", "_keys/", 1)).unlink()
    (finding,) = [f for f in check(site).findings if f.damage]
    assert finding.kind == "missing-keys" and finding.rows == rows
    report = repair(site)
    (lost,) = report.lost
    assert lost.quarantined_to == f"_quarantine/{report.run_id}/{name}"
    assert (site.root / lost.quarantined_to).exists() and not (site.root / name).exists()
    assert stored(site) == (EXPECTED - rows, EXPECTED - rows)
    ingest([SAMPLES], site, CONFIG, reread=True)
    assert stored(site) == (EXPECTED, EXPECTED)  # the set-aside rows are back once, with keys
    assert check(site).ok


def test_corrupt_data_part_and_row_counts_that_disagree(site: Warehouse) -> None:
    name, rows = biggest_part(site)
    (site.root / name).write_bytes(b"PAR1 not really")
    manifest = json.loads(site.manifest_path.read_text())
    other = next(p for p in manifest["parts"] if p != name)
    manifest["parts"][other]["rows"] += 5
    site.manifest_path.write_text(json.dumps(manifest))
    kinds = sorted(f.kind for f in check(site).findings if f.damage)
    assert kinds == ["rows-differ", "unreadable-part"]
    report = repair(site)
    assert [p.path for p in report.lost] == [name] and report.corrected == [other]
    assert check(site).ok
    ingest([SAMPLES], site, CONFIG, reread=True)
    assert stored(site) == (EXPECTED, EXPECTED)


def test_a_copied_part_is_not_adopted_twice(site: Warehouse) -> None:
    name, rows = biggest_part(site)
    copy = name.replace(".parquet", "-copy.parquet")
    shutil.copy(site.root / name, site.root / copy)
    shutil.copy(site.root / name.replace("drops/", "_keys/", 1), site.root / copy.replace("drops/", "_keys/", 1))
    assert [f.kind for f in check(site).findings if f.damage] == ["unknown-data"]
    assert stored(site)[0] == EXPECTED + rows
    report = repair(site)
    assert [p.path for p in report.lost] == [copy] and "held by other parts" in report.lost[0].reason
    assert stored(site) == (EXPECTED, EXPECTED) and check(site).ok


def test_orphan_key_file_and_unknown_part_without_keys(site: Warehouse) -> None:
    name, rows = biggest_part(site)
    keys = name.replace("drops/", "_keys/", 1)
    shutil.copy(site.root / keys, site.root / keys.replace(".parquet", "-orphan.parquet"))
    shutil.copy(site.root / name, site.root / name.replace(".parquet", "-stray.parquet"))
    kinds = sorted(f.kind for f in check(site).findings if f.damage)
    assert kinds == ["missing-keys", "orphan-keys"]
    report = repair(site)
    assert len(report.lost) == 2 and check(site).ok
    assert stored(site) == (EXPECTED, EXPECTED)


def test_nothing_to_repair_changes_nothing(site: Warehouse) -> None:
    before = site.manifest_path.read_bytes()
    report = repair(site)
    assert not report.changed and "nothing to repair" in report.summary()
    assert site.manifest_path.read_bytes() == before


def test_repair_takes_the_lock(site: Warehouse) -> None:
    lock = site.lock()
    try:
        with pytest.raises(WarehouseLocked):
            repair(site)
    finally:
        lock.release()


def test_version_1_warehouse_is_upgraded_by_the_next_ingest(site: Warehouse) -> None:
    manifest = json.loads(site.manifest_path.read_text())
    manifest["version"] = 1
    del manifest["parts"]
    site.manifest_path.write_text(json.dumps(manifest))
    status = check(site)
    assert status.ok and [f.kind for f in status.findings] == ["untracked-parts"]
    ingest([SAMPLES], site, CONFIG)
    upgraded = json.loads(site.manifest_path.read_text())
    assert upgraded["version"] == 2 and sum(p["rows"] for p in upgraded["parts"].values()) == EXPECTED
    assert check(site).ok and not check(site).findings


def test_no_warehouse_at_all(tmp_path: Path) -> None:
    from pipeline.warehouse import WarehouseError

    status = check(tmp_path / "none")
    assert not status.exists and "no warehouse here" in status.summary()
    with pytest.raises(WarehouseError, match="not a warehouse"):
        repair(tmp_path / "none")
    assert not (tmp_path / "none").exists()
