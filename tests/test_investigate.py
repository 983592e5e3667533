"""The notebook API: one call, DataFrames with integer columns kept integer, protocols by name, read-only."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import SAMPLE, SAMPLE_CONFIG

from pipeline import open_warehouse


@pytest.fixture(scope="module")
def inv(sample_warehouse):
    with open_warehouse(sample_warehouse, SAMPLE_CONFIG) as investigation:
        yield investigation


def test_flows_keep_ports_and_protocol_integer_and_accept_times_as_people_write_them(inv):
    flows = inv.flows()
    assert len(flows) == 215  # sample_logs/expected.json flows total
    assert str(flows["local_port"].dtype) == "Int32" and str(flows["protocol"].dtype) == "Int16"
    assert flows["local_port"].isna().any() and 3389 in set(flows["local_port"].dropna())
    assert str(flows["first_seen"].dtype).startswith("datetime64") and "UTC" in str(flows["first_seen"].dtype)
    web = inv.flows(host="web01", verdict="blocked-by-rule", since="2026-10-28", until="2026-11-01")
    assert set(web["host"]) == {"WEB01"} and (web["last_seen"] >= pd.Timestamp("2026-10-27T22:00Z")).all()
    with pytest.raises(LookupError, match="unknown host"):
        inv.flows(host="NOPE")


def test_explain_accepts_protocol_names_and_explains_a_flow_row(inv):
    by_name = inv.explain("WEB01", "10.40.1.9", "10.1.0.10", "tcp", 50000, 5985, at="2026-10-29")
    by_number = inv.explain("WEB01", "10.40.1.9", "10.1.0.10", 6, 50000, 5985, at="2026-10-29")
    assert by_name.attrs["verdict"] == by_number.attrs["verdict"] == "blocked-by-rule"
    assert by_name.attrs["winner"]["rule"] == "Block everything"
    flows = inv.flows(host="WEB01")
    row = flows[(flows["remote_ip"] == "10.1.0.3")].iloc[0]
    explained = inv.explain_flow(row)
    assert explained.attrs["verdict"] == row["verdict"] == "blocked-by-rule"
    assert explained.attrs["winner"]["rule"] == row["rule"]


def test_suggest_whatif_timeline_and_sql_return_frames(inv, tmp_path):
    suggestions = inv.suggest(verify=True)
    assert set(suggestions["host"]) == {"WEB01", "DB01", "APP03"} and len(suggestions) == 4
    assert str(suggestions["events"].dtype) == "Int64"
    assert (suggestions["drops_permitted"] == suggestions["events"]).all()
    assert "netsh ipsec static add filter" in suggestions.attrs["script"]
    script = tmp_path / "s.cmd"
    script.write_text(suggestions.attrs["script"], encoding="utf-8")
    changed = inv.whatif("WEB01", script=script)
    assert changed.attrs["summary"]["newly_permitted"] == len(changed) > 0
    timeline = inv.timeline("WEB01", freq="1D")
    assert int(timeline.to_numpy().sum()) == 452  # WEB01's distinct drops (expected.json by_host)
    assert "blocked-by-rule" in timeline.columns
    top = inv.sql("select host, count(*) as n from flows group by host order by host")
    assert top.to_dict("records") == [{"host": "APP03", "n": 3}, {"host": "DB01", "n": 31}, {"host": "WEB01", "n": 181}]
    assert str(top["n"].dtype) == "Int64"
    with pytest.raises(ValueError, match="refused"):
        inv.sql(f"COPY (select 1) TO '{tmp_path}/x.csv'")
    counts = {name: inv.con.sql(f"select count(*) from {name}").fetchall()[0][0]
              for name in ("drops", "flows", "filters", "rules", "policies", "snapshots", "policy_periods",
                           "suggestions")}
    assert (counts["drops"], counts["flows"], counts["suggestions"]) == (794, 215, 4)
    assert counts["policy_periods"] == 2  # WEB01 and DB01 have policies (their config scripts), APP03 none
    assert counts["filters"] > 0 and counts["rules"] > 0 and counts["policies"] == 2 and counts["snapshots"] == 2


def test_the_investigation_shows_itself_in_jupyter_and_helps(inv):
    page = inv._repr_html_()
    assert "WEB01" in page and "794" in page  # expected.json total
    import pipeline

    assert "read-only" in (pipeline.open_warehouse.__doc__ or "")


def test_a_missing_warehouse_is_an_error(tmp_path):
    with pytest.raises(LookupError, match="no warehouse"):
        open_warehouse(tmp_path / "none", SAMPLE_CONFIG)
    assert SAMPLE.exists()


def test_an_open_investigation_neither_blocks_a_real_ingest_nor_sees_half_of_it(tmp_path):
    """A notebook open during a nightly run keeps the view it opened with; refresh() sees the new run."""
    import subprocess
    import sys
    import time

    root = tmp_path / "W"
    first = subprocess.run([sys.executable, "-m", "pipeline", "-q", "--config", str(SAMPLE_CONFIG), "ingest",
                            str(SAMPLE / "exports" / "web01"), "--warehouse", str(root)],
                           capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    with open_warehouse(root, SAMPLE_CONFIG) as investigation:
        before = int(investigation.sql("select count(*) as n from drops")["n"][0])
        ingest = subprocess.Popen([sys.executable, "-m", "pipeline", "-q", "--config", str(SAMPLE_CONFIG), "ingest",
                                   str(SAMPLE / "exports"), "--warehouse", str(root)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = set()
        while ingest.poll() is None:  # query all along while the other process writes and publishes
            seen.add(int(investigation.sql("select count(*) as n from drops")["n"][0]))
            time.sleep(0.05)
        out, err = ingest.communicate()
        assert ingest.returncode == 0, err  # not blocked: the investigation holds no lock
        seen.add(int(investigation.sql("select count(*) as n from drops")["n"][0]))
        assert seen == {before}
        assert len(investigation.flows()) > 0
        investigation.refresh()
        after = int(investigation.sql("select count(*) as n from drops")["n"][0])
    assert before < after == 794
