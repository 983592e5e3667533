"""Local wall-clock time -> UTC, with the autumn fold and the spring gap.

Expected values are worked out by hand:

* Europe/Berlin, 2026-10-25 (last Sunday of October): 03:00 CEST (+02:00) becomes
  02:00 CET (+01:00), so 02:00-02:59 local happens twice: first pass = local - 2 h,
  second pass = local - 1 h.
* Europe/Berlin, 2026-03-29 (last Sunday of March): 02:00 CET becomes 03:00 CEST;
  02:30 does not exist and is read with the offset before the change (+01:00).
* America/Chicago: CST -06:00 in winter, CDT -05:00 from 2026-03-08 to 2026-11-01.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pyarrow as pa

from pipeline.localtime import FoldState, local_to_utc

BERLIN = ZoneInfo("Europe/Berlin")
CHICAGO = ZoneInfo("America/Chicago")


def local(*stamps: str | None) -> pa.Array:
    values = [datetime.fromisoformat(s) if s else None for s in stamps]
    return pa.array(values, pa.timestamp("s"))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def convert(stamps: list[str | None], zone: ZoneInfo, state: FoldState) -> list[datetime | None]:
    out = local_to_utc(local(*stamps), zone, state)
    assert out.type == pa.timestamp("us", tz="UTC")
    return out.to_pylist()


def test_berlin_fold_first_pass_then_second_pass_after_step_back():
    state = FoldState()
    got = convert(
        ["2026-10-25 01:50:00", "2026-10-25 02:10:00", "2026-10-25 02:40:00", "2026-10-25 02:59:00",
         "2026-10-25 02:05:00", "2026-10-25 02:30:00", "2026-10-25 03:10:00"],
        BERLIN, state,
    )
    assert got == [
        utc("2026-10-24 23:50:00"),  # 01:50 CEST
        utc("2026-10-25 00:10:00"),  # 02:10 CEST, first pass
        utc("2026-10-25 00:40:00"),
        utc("2026-10-25 00:59:00"),
        utc("2026-10-25 01:05:00"),  # 02:05 CET: the clock stepped back
        utc("2026-10-25 01:30:00"),  # 02:30 CET
        utc("2026-10-25 02:10:00"),  # 03:10 CET
    ]
    assert state.second_pass_rows == 2
    assert state.gap_rows == 0


def test_berlin_fold_without_step_back_stays_first_pass():
    state = FoldState()
    got = convert(["2026-10-25 02:10:00", "2026-10-25 02:40:00", "2026-10-25 02:59:00"], BERLIN, state)
    assert got == [utc("2026-10-25 00:10:00"), utc("2026-10-25 00:40:00"), utc("2026-10-25 00:59:00")]
    assert state.second_pass_rows == 0


def test_equal_times_in_the_fold_are_not_a_step_back():
    state = FoldState()
    got = convert(["2026-10-25 02:40:00", "2026-10-25 02:40:00"], BERLIN, state)
    assert got == [utc("2026-10-25 00:40:00"), utc("2026-10-25 00:40:00")]


def test_fold_state_carries_over_between_calls():
    state = FoldState()
    first = convert(["2026-10-25 02:10:00", "2026-10-25 02:40:00", "2026-10-25 02:59:00"], BERLIN, state)
    second = convert(["2026-10-25 02:05:00", "2026-10-25 02:30:00"], BERLIN, state)
    assert first == [utc("2026-10-25 00:10:00"), utc("2026-10-25 00:40:00"), utc("2026-10-25 00:59:00")]
    assert second == [utc("2026-10-25 01:05:00"), utc("2026-10-25 01:30:00")]
    # the same second call with a fresh state sees no step back
    fresh = convert(["2026-10-25 02:05:00", "2026-10-25 02:30:00"], BERLIN, FoldState())
    assert fresh == [utc("2026-10-25 00:05:00"), utc("2026-10-25 00:30:00")]


def test_fold_state_round_trips_through_json():
    state = FoldState()
    convert(["2026-10-25 02:10:00", "2026-10-25 02:59:00"], BERLIN, state)
    saved = json.loads(json.dumps(state.to_json()))
    restored = FoldState.from_json(saved)
    assert restored.windows == state.windows
    assert convert(["2026-10-25 02:05:00", "2026-10-25 02:30:00"], BERLIN, restored) == [
        utc("2026-10-25 01:05:00"), utc("2026-10-25 01:30:00"),
    ]
    # once in the second pass, that is remembered too
    saved_again = json.loads(json.dumps(restored.to_json()))
    assert convert(["2026-10-25 02:45:00"], BERLIN, FoldState.from_json(saved_again)) == [
        utc("2026-10-25 01:45:00"),
    ]
    assert FoldState.from_json(None).windows == {}


def test_spring_gap_reads_with_offset_before_change_and_is_counted():
    state = FoldState()
    got = convert(
        ["2026-03-29 01:59:59", "2026-03-29 02:30:00", "2026-03-29 02:00:00", "2026-03-29 03:00:00"], BERLIN, state,
    )
    assert got == [
        utc("2026-03-29 00:59:59"),  # CET
        utc("2026-03-29 01:30:00"),  # does not exist: +01:00
        utc("2026-03-29 01:00:00"),  # does not exist: +01:00
        utc("2026-03-29 01:00:00"),  # 03:00 CEST
    ]
    assert state.gap_rows == 2
    assert state.second_pass_rows == 0


def test_chicago_ordinary_times():
    state = FoldState()
    got = convert(["2026-07-01 12:00:00", "2026-01-15 08:30:00", "2026-10-23 18:18:23", "2026-12-31 23:59:59"],
                  CHICAGO, state)
    assert got == [
        utc("2026-07-01 17:00:00"),  # CDT
        utc("2026-01-15 14:30:00"),  # CST
        utc("2026-10-23 23:18:23"),  # CDT
        utc("2027-01-01 05:59:59"),  # CST, across the year
    ]
    assert (state.gap_rows, state.second_pass_rows) == (0, 0)


def test_chicago_fold_on_first_of_november():
    # 2026-11-01: 02:00 CDT -> 01:00 CST, 01:00-01:59 twice
    state = FoldState()
    got = convert(["2026-11-01 01:20:00", "2026-11-01 01:50:00", "2026-11-01 01:10:00"], CHICAGO, state)
    assert got == [utc("2026-11-01 06:20:00"), utc("2026-11-01 06:50:00"), utc("2026-11-01 07:10:00")]


def test_nulls_stay_null():
    state = FoldState()
    got = convert([None, "2026-07-01 12:00:00", None, "2026-10-25 02:10:00", None], BERLIN, state)
    assert got == [None, utc("2026-07-01 10:00:00"), None, utc("2026-10-25 00:10:00"), None]
    assert convert([], BERLIN, state) == []
    assert convert([None], BERLIN, state) == [None]


def test_fold_windows_are_per_date():
    # a step back on the autumn night does not put the next year's fold in the second pass
    state = FoldState()
    convert(["2026-10-25 02:50:00", "2026-10-25 02:10:00"], BERLIN, state)
    # 2027-10-31 is the last Sunday of October 2027
    assert convert(["2027-10-31 02:10:00"], BERLIN, state) == [utc("2027-10-31 00:10:00")]
