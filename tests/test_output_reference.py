"""CSV and JSON bytes against renderings worked out independently of ``pipeline.output`` (issue 15, target 5).

The writer formats times with Arrow's cast and finds formula prefixes by a first-character lookup (both
vectorised, for speed); these tests hold it to a hand-checked rendering of hostile values and to a
plain-Python reference (``datetime`` text, the OWASP prefix rule, Arrow's quoting of every string) over
random rows, byte for byte, and the flows command's CSV to the same reference.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline.output import csv_text, iso_text, safe_strings, write_csv, write_json

U = dt.UTC


def hostile() -> pa.Table:
    return pa.table({
        "host": ['=HYPERLINK("x")', "a,b", None, "\tx", "é=", "-"],
        "n": pa.array([-2, 0, None, 5, 1, 7], pa.int64()),
        "at": pa.array([dt.datetime(2026, 11, 11, 15, 10, tzinfo=U),
                        dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=U), None,
                        dt.datetime(2026, 11, 11, 15, 10, 0, 1, tzinfo=U),
                        dt.datetime(2000, 1, 1, 0, 0, 0, 500000, tzinfo=U), dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=U)],
                       pa.timestamp("us", tz="UTC")),
        "ids": [[3, 1], None, None, [], [7], [0]],
        "kinds": [["-a", "b"], [], None, ["@x"], ["x", "=y"], ["\r"]],
        "ok": [True, False, None, True, False, True],
    })


def test_hostile_values_render_as_worked_out_by_hand():
    # every string quoted (Arrow's "needed" style), quotes doubled; a leading = + - @ TAB CR gets a ' (also
    # in a joined list); times in UTC with Z, microseconds only when not zero; nulls empty; numbers bare
    assert csv_text(hostile()) == (
        '"host","n","at","ids","kinds","ok"\n'
        '"\'=HYPERLINK(""x"")",-2,"2026-11-11T15:10:00Z","3 1","\'-a b",true\n'
        '"a,b",0,"1969-12-31T23:59:59.999999Z",,"",false\n'
        ',,,,,\n'
        '"\'\tx",5,"2026-11-11T15:10:00.000001Z","","\'@x",true\n'
        '"é=",1,"2000-01-01T00:00:00.500000Z","7","x =y",false\n'
        '"\'-",7,"2026-01-02T03:04:05Z","0","\'\r",true\n')
    out = io.StringIO()
    write_json(hostile(), out)
    assert out.getvalue() == (
        '[\n'
        ' {"host":"=HYPERLINK(\\"x\\")","n":-2,"at":"2026-11-11T15:10:00Z","ids":[3,1],"kinds":["-a","b"],"ok":true},\n'
        ' {"host":"a,b","n":0,"at":"1969-12-31T23:59:59.999999Z","ids":null,"kinds":[],"ok":false},\n'
        ' {"host":null,"n":null,"at":null,"ids":null,"kinds":null,"ok":null},\n'
        ' {"host":"\\tx","n":5,"at":"2026-11-11T15:10:00.000001Z","ids":[],"kinds":["@x"],"ok":true},\n'
        ' {"host":"é=","n":1,"at":"2000-01-01T00:00:00.500000Z","ids":[7],"kinds":["x","=y"],"ok":false},\n'
        ' {"host":"-","n":7,"at":"2026-01-02T03:04:05Z","ids":[0],"kinds":["\\r"],"ok":true}\n'
        ']\n')


def ref_time(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    value = value.astimezone(U)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{value.microsecond:06d}" if value.microsecond else "") + "Z"


def ref_safe(value: str | None) -> str | None:
    return "'" + value if value is not None and value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def ref_cell(value: object) -> str:
    """A cell as the writer renders it: strings quoted (quotes doubled), numbers and booleans bare, null empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    assert isinstance(value, str)
    return '"' + value.replace('"', '""') + '"'


def ref_csv(table: pa.Table) -> bytes:
    lines = [",".join(ref_cell(name) for name in table.column_names)]
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        values = column.to_pylist()
        if pa.types.is_timestamp(field.type):
            values = [ref_time(v) for v in values]
        elif pa.types.is_list(field.type):
            values = [ref_safe(" ".join(str(x) for x in v)) if v is not None else None for v in values]
        elif pa.types.is_string(field.type):
            values = [ref_safe(v) for v in values]
        columns.append(values)
    for row in zip(*columns, strict=True):
        lines.append(",".join(ref_cell(v) for v in row))
    return ("\n".join(lines) + "\n").encode("utf-8")


def random_table(rng: random.Random, rows: int) -> pa.Table:
    pieces = ["=", "+", "-", "@", "\t", "\r", "\n", '"', ",", "'", " ", "a", "é", "1", "10.0.0.1", "=SUM(A1)", ""]

    def text() -> str | None:
        return None if rng.random() < 0.1 else "".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))

    def when() -> dt.datetime | None:
        if rng.random() < 0.1:
            return None
        us = rng.randrange(-2_000_000_000, 7_000_000_000) * 1_000_000
        us += rng.choice([0, 0, 1, 500_000, 999_999, rng.randrange(1_000_000)])
        return dt.datetime(1970, 1, 1, tzinfo=U) + dt.timedelta(microseconds=us)

    return pa.table({
        "s": pa.array([text() for _ in range(rows)], pa.string()),
        "n": pa.array([None if rng.random() < 0.1 else rng.randint(-10**12, 10**12) for _ in range(rows)], pa.int64()),
        "t": pa.array([when() for _ in range(rows)], pa.timestamp("us", tz="UTC")),
        "l": pa.array([None if rng.random() < 0.1 else [text() or "x" for _ in range(rng.randint(0, 3))]
                       for _ in range(rows)], pa.list_(pa.string())),
        "b": pa.array([None if rng.random() < 0.1 else rng.random() < 0.5 for _ in range(rows)], pa.bool_()),
    })


@pytest.mark.parametrize("seed", range(5))
def test_random_rows_match_the_reference_byte_for_byte(seed):
    table = random_table(random.Random(seed), 3000)
    buf = io.BytesIO()
    assert write_csv(table, buf) == table.num_rows
    assert buf.getvalue() == ref_csv(table)
    # streamed in small batches: the same bytes (the header once)
    streamed = io.BytesIO()
    write_csv(pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=97)), streamed)
    assert streamed.getvalue() == buf.getvalue()


def test_time_and_prefix_kernels_against_python():
    rng = random.Random(9)
    table = random_table(rng, 5000)
    assert iso_text(table.column("t")).to_pylist() == [ref_time(v) for v in table.column("t").to_pylist()]
    assert safe_strings(table.column("s")).to_pylist() == [ref_safe(v) for v in table.column("s").to_pylist()]
    # other units and zones are shown in UTC to the microsecond as well
    for unit, zone in (("s", "Europe/Berlin"), ("ms", None), ("ns", "America/New_York")):
        array = pa.array([1_700_000_000 * {"s": 1, "ms": 1000, "ns": 10**9}[unit], None], pa.timestamp(unit, tz=zone))
        assert iso_text(array).to_pylist() == ["2023-11-14T22:13:20Z", None]
    # a large_string column, a column with no risky value, and one with nothing but nulls
    big = pa.array(["=x", "y", None], pa.large_string())
    assert safe_strings(big).to_pylist() == ["'=x", "y", None] and safe_strings(big).type == pa.large_string()
    plain = pa.array(["10.0.0.1", "x=1"])
    assert safe_strings(plain) is plain
    assert safe_strings(pa.array([None, None], pa.string())).to_pylist() == [None, None]


def test_flows_csv_of_the_sample_site_is_the_reference_rendering(sample_warehouse: Path):
    from click.testing import CliRunner

    from pipeline.cli import cli
    from pipeline.correlate import flows

    config = str(Path(__file__).resolve().parent.parent / "sample_logs" / "ipsec-drops.toml")
    result = CliRunner().invoke(cli, ["--config", config, "flows", "--warehouse", str(sample_warehouse),
                                      "--format", "csv"])
    assert result.exit_code == 0, result.output
    from pipeline.config import load_config

    table = flows(sample_warehouse, load_config(config))
    assert table.num_rows > 100
    assert result.stdout_bytes == ref_csv(table)
