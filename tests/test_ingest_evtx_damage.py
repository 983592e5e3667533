"""An EVTX file cut inside its 4 KiB header is refused with a message; the rest of the run is stored."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipeline import Warehouse, ingest, load_config
from pipeline.ingest import EXIT_SKIPPED

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
SAMPLES = REPO / "sample_logs"
GOOD = SAMPLES / "exports" / "web01" / "system-20261026.evtx"  # holds IPSec driver drops


@pytest.mark.parametrize("engine", ["evtx", "python-evtx"])
def test_evtx_cut_inside_its_header_is_refused_and_the_good_file_is_stored(tmp_path: Path, engine: str) -> None:
    real = (DATA / "Security_short_selected.evtx").read_bytes()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    cuts = [8, 9, 128, 1000, 4095]  # 8: just the magic; below 8 bytes a file is not recognised as EVTX at all
    for n in cuts:
        (inbox / f"cut-{n:04d}.evtx").write_bytes(real[:n])
    (inbox / "zz-good.evtx").write_bytes(GOOD.read_bytes())
    wh = Warehouse(tmp_path / "W")
    report = ingest([inbox], wh, load_config(SAMPLES / "ipsec-drops.toml"), engine=engine)
    by_name = {Path(f.path).name: f for f in report.files}
    for n in cuts:
        cut = by_name[f"cut-{n:04d}.evtx"]
        assert cut.status == "refused", (n, cut.status)
        (issue,) = cut.issues.details
        assert issue.kind == "refused-file" and f"({n} of 4096 bytes)" in issue.reason
        assert str(issue).startswith(str(inbox / f"cut-{n:04d}.evtx"))  # named
    good = by_name["zz-good.evtx"]
    assert good.status == "ingested" and good.drops_stored > 0
    assert report.exit_code == EXIT_SKIPPED and len(report.refused_files) == len(cuts)
    ((rows,),) = duckdb.sql(f"select count(*) from read_parquet('{wh.drops_glob()}')").fetchall()
    assert rows == good.drops_stored
    # Refused files leave no manifest entry: once copied again in full, they are read.
    (inbox / "cut-0008.evtx").write_bytes(real)
    again = ingest([inbox / "cut-0008.evtx"], wh, None, engine=engine)
    assert again.files[0].status == "ingested" and again.files[0].rows_read > 0


def test_evtx_cut_inside_a_chunk_says_records_are_missing(tmp_path: Path) -> None:
    cut = tmp_path / "cut.evtx"
    cut.write_bytes(GOOD.read_bytes()[: 4096 + 30000])  # whole header, the only chunk cut in the middle
    report = ingest([cut], Warehouse(tmp_path / "W"), None)
    result = report.files[0]
    assert result.status == "ingested" and result.rows_read == 0
    (warning,) = [i for i in result.issues.details if i.kind == "warning"]
    assert "0 of the 9 records the chunk headers list were read" in warning.reason
