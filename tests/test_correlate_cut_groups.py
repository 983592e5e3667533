"""Drops of one tuple on one day that a policy change or a boot window cuts in two.

queries/flows.sql decides the policy period and the boot window per (tuple, day) group and goes
drop by drop only in the groups such a boundary falls within: these are those groups.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from test_correlate import ME, config_text, drop, find, write_drops

from pipeline.config import parse_config
from pipeline.correlate import flows


def test_policy_change_within_one_day_splits_the_flow(tmp_path: Path) -> None:
    # The old policy (Proxy permits) is in force until 2026-10-25 12:00 UTC, the new one (Proxy blocks) after.
    rows_in = [drop(f"2026-10-25T{h}", "10.3.3.3", 1234, ME, 8080) for h in ("08:00:00", "11:59:59", "12:00:00",
                                                                              "15:00:00", "15:00:01")]
    write_drops(tmp_path, rows_in)
    rows = find(flows(tmp_path, parse_config(config_text())).to_pylist(), remote_ip="10.3.3.3")
    by_verdict = {r["verdict"]: r for r in rows}
    assert set(by_verdict) == {"permitted-by-policy", "blocked-by-rule"}
    before, after = by_verdict["permitted-by-policy"], by_verdict["blocked-by-rule"]
    assert (before["events"], before["last_seen"]) == (2, datetime(2026, 10, 25, 11, 59, 59, tzinfo=UTC))
    assert (after["events"], after["first_seen"]) == (3, datetime(2026, 10, 25, 12, tzinfo=UTC))
    assert before["rule"] == after["rule"] == "Proxy" and before["snapshot"] != after["snapshot"]


def test_boot_window_within_one_day_splits_the_flow(tmp_path: Path) -> None:
    rows_in = [
        drop("2026-10-24T09:00:00", "10.9.1.1", 40000, ME, 80),  # before Block mode: the /16 block explains it
        drop("2026-10-24T10:00:00", kind="block-mode", proto=None),  # 4292
        drop("2026-10-24T10:00:30", "10.1.1.1", 40000, ME, 80),  # /8 permit, but 30 s after Block mode: boot
        drop("2026-10-24T10:04:59", "10.1.1.1", 40000, ME, 80),  # still inside the 300 s window
        drop("2026-10-24T10:05:01", "10.1.1.1", 40000, ME, 80),  # outside: the policy permits it
        drop("2026-10-24T14:00:00", "10.1.1.1", 40000, ME, 80),
    ]
    write_drops(tmp_path, rows_in)
    rows = find(flows(tmp_path, parse_config(config_text())).to_pylist(), remote_ip="10.1.1.1")
    by_verdict = {r["verdict"]: (r["events"], r["first_seen"], r["last_seen"]) for r in rows}
    assert by_verdict == {
        "boot-or-block-mode": (2, datetime(2026, 10, 24, 10, 0, 30, tzinfo=UTC),
                               datetime(2026, 10, 24, 10, 4, 59, tzinfo=UTC)),
        "permitted-by-policy": (2, datetime(2026, 10, 24, 10, 5, 1, tzinfo=UTC),
                                datetime(2026, 10, 24, 14, 0, tzinfo=UTC)),
    }


def test_boot_windows_that_overlap_count_each_drop_once(tmp_path: Path) -> None:
    rows_in = [
        drop("2026-10-24T10:00:00", kind="block-mode", proto=None),
        drop("2026-10-24T10:02:00", kind="block-mode", proto=None),  # a second 4292 inside the first window
        drop("2026-10-24T10:03:00", "10.1.1.1", 40000, ME, 80),  # inside both windows: one boot drop
        drop("2026-10-24T10:07:00", "10.1.1.1", 40000, ME, 80),  # exactly 300 s after the second: still boot
        drop("2026-10-24T10:07:01", "10.1.1.1", 40000, ME, 80),  # after both windows
    ]
    write_drops(tmp_path, rows_in)
    rows = find(flows(tmp_path, parse_config(config_text())).to_pylist(), remote_ip="10.1.1.1")
    assert {r["verdict"]: r["events"] for r in rows} == {"boot-or-block-mode": 2, "permitted-by-policy": 1}
