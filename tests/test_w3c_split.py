"""The fast ways of splitting W3C lines must agree with the general patterns on every line they take.

``split_lines`` tries token layouts first (plain, then ``-encodeDelim:ON``), cuts a hex
``Data`` field off by trimming, and leaves any line they do not fit to the general
RE2 patterns (``split_lines_by_pattern``).  Lines are generated from realistic and
awkward values of each ``SELECT *`` field: whatever the mix, both must find the same
lines well-formed and the same values in them.
"""

from __future__ import annotations

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.readers.w3c_split import split_lines, split_lines_by_pattern

FIELDS = ["EventLog", "RecordNumber", "TimeGenerated", "TimeWritten", "EventID", "EventType", "EventTypeName",
          "EventCategory", "EventCategoryName", "SourceName", "Strings", "ComputerName", "SID", "Message", "Data"]
TIMES = ["2026-10-01 00:00:01", "2026-10-25 02:30:00", "2026-10-01T00:00:01", "2026-10-01+00:00:01",
         "2026-10-01 00:00:01.123", "-", "2026-1-01 00:00:01", "2026-10-01 0:00:01"]
VALUES = {
    "EventLog": ["System", "C:\\logs\\my system.evt", "-", "Sys+tem"],
    "RecordNumber": ["1", "4294967295", "-", "-5", "12a", "007"],
    "TimeGenerated": TIMES,
    "TimeWritten": TIMES,
    "EventID": ["4290", "4284", "-", "0xC00010C4", "42 90"],
    "EventType": ["4", "1", "-"],
    "EventTypeName": ["Information event", "Error event", "Warning event", "Success Audit event", "-",
                      "Information+event", "Informational event"],
    "EventCategory": ["0", "-", "x"],
    "EventCategoryName": ["None", "(12)", "Devices", "-", "Two words"],
    "SourceName": ["IPSEC", "IPSec", "ipsec", "Service Control Manager", "-"],
    "Strings": ["\\Driver\\IPSEC|192.0.2.7|198.51.100.10|6|4000|22", "46|10.1.0.56", "a b|c", "-", "x|y+z"],
    "ComputerName": ["WEB01", "-", "db01.example.net"],
    "SID": ["-", "S-1-5-18"],
    "Message": ["The IPSec driver has dropped the following inbound packet:  Source IP Address: 192.0.2.7  "
                "Offset for packet start:   0x28  ", "", "ends in hex ABCDEF", "x", "a  b", "Received 46 packet(s)"],
    "Data": ["000030000500580000000000C210", "-", "GHIJ", "00 11", "", "abcdef0123456789"],
}


@st.composite
def lines(draw) -> list[str]:
    count = draw(st.integers(1, 40))
    common = draw(st.sampled_from([0, 0, 1, 2]))  # mostly lines like Windows writes, sometimes anything
    out = []
    for _ in range(count):
        values = [VALUES[name][0] if common == 0 and draw(st.booleans())
                  else draw(st.sampled_from(VALUES[name])) for name in FIELDS]
        out.append(" ".join(values))
    return out


def agree(texts: list[str], wanted: set[int] | None) -> None:
    array = pa.array(texts, pa.string())
    fast, fast_fits = split_lines(array, FIELDS, False, wanted)
    slow, slow_fits = split_lines_by_pattern(array, FIELDS, False)
    fits = slow_fits.to_pylist()
    assert fast_fits.to_pylist() == fits
    for i, values in fast.items():
        got = [v for v, ok in zip(values.to_pylist(), fits, strict=True) if ok]
        expected = [v for v, ok in zip(slow[i].to_pylist(), fits, strict=True) if ok]
        assert got == expected, (FIELDS[i], texts)
    if wanted is not None:
        assert set(fast) >= wanted


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines())
def test_fast_split_agrees_with_the_general_patterns(texts):
    agree(texts, None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines())
def test_fast_split_of_the_fields_ingest_uses_agrees_too(texts):
    agree(texts, {1, 2, 3, 4, 9, 10, 11, 13})


def test_the_usual_line_is_split_by_the_fast_path_into_the_right_values():
    line = ("System 17 2026-10-01 00:00:02 2026-10-01 00:00:03 4290 4 Information event 0 None IPSEC "
            "\\Driver\\IPSEC|192.0.2.7|198.51.100.10|6|4000|22 WEB01 - The IPSec driver dropped it:  0x28  "
            "000030000500580000000000C210")
    values, fits = split_lines(pa.array([line]), FIELDS, False)
    assert fits.to_pylist() == [True]
    got = {FIELDS[i]: v[0].as_py() for i, v in values.items()}
    assert got["TimeGenerated"] == "2026-10-01 00:00:02" and got["TimeWritten"] == "2026-10-01 00:00:03"
    assert got["EventTypeName"] == "Information event" and got["SourceName"] == "IPSEC"
    assert got["Message"] == "The IPSec driver dropped it:  0x28 " and got["Data"] == "000030000500580000000000C210"
