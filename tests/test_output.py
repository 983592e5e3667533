"""The one CSV path: spreadsheet-safe strings, numbers left alone, RFC 4180 quoting (Foundation defect 8)."""

import csv
import io

import pyarrow as pa

from pipeline.output import CsvSink, csv_text, spreadsheet_safe, write_csv


def parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_strings_that_start_like_formulas_get_a_quote_and_numbers_do_not():
    table = pa.table({"n": [-2, 7], "t": ["\t=1+1", "\r=cmd"], "p": ["+1", "@SUM(A1)"], "m": ["-x", "ok"]})
    assert parse(csv_text(table)) == [["n", "t", "p", "m"], ["-2", "'\t=1+1", "'+1", "'-x"],
                                      ["7", "'\r=cmd", "'@SUM(A1)", "ok"]]
    assert [spreadsheet_safe(v) for v in ("=1", "-2", -2, None, "a=b", "\tx", "\rx")] == [
        "'=1", "'-2", -2, None, "a=b", "'\tx", "'\rx"]


def test_cr_lf_quote_and_comma_inside_a_field_round_trip():
    values = ["a\rb", "c\nd", 'q"z', "x,y", "a\r\nb"]
    rows = parse(csv_text(pa.table({"v": values})))
    assert [r[0] for r in rows[1:]] == values


def test_lists_timestamps_nulls_and_an_empty_result_keep_their_header():
    import datetime as dt

    when = dt.datetime(2026, 11, 11, 15, 10, tzinfo=dt.UTC)
    table = pa.table({"ids": [[3, 1], None], "at": pa.array([when, None], pa.timestamp("us", tz="UTC"))})
    assert parse(csv_text(table)) == [["ids", "at"], ["3 1", "2026-11-11T15:10:00Z"], ["", ""]]
    assert parse(csv_text(table.slice(0, 0))) == [["ids", "at"]]
    assert parse(csv_text([], columns=["a", "b"])) == [["a", "b"]]


def test_sink_streams_batches_and_writes_a_bom_on_request(tmp_path):
    path = tmp_path / "out.csv"
    with CsvSink(path, ["a", "b"], bom=True) as sink:
        sink.write_rows([{"a": "=1", "b": 2}])
        sink.write_rows([{"a": "x", "b": 3}])
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert parse(raw[3:].decode()) == [["a", "b"], ["'=1", "2"], ["x", "3"]]
    reader = pa.RecordBatchReader.from_batches(pa.schema([("v", pa.string())]),
                                               [pa.record_batch([pa.array(["-1"])], names=["v"])] * 3)
    buf = io.BytesIO()
    assert write_csv(reader, buf) == 3
    assert parse(buf.getvalue().decode()) == [["v"], ["'-1"], ["'-1"], ["'-1"]]


def test_json_and_ndjson_carry_types_times_in_utc_and_escape_text():
    import datetime as dt
    import json

    when = dt.datetime(2026, 11, 11, 16, 10, 0, 250000, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    table = pa.table({"n": [3, None], "s": ['a"b\n', "é"], "ids": [[1, 2], None],
                      "t": pa.array([when, None], pa.timestamp("us", tz="UTC")), "ok": [True, False]})
    buf = io.StringIO()
    assert __import__("pipeline.output", fromlist=["write_json"]).write_json(table, buf) == 2
    assert json.loads(buf.getvalue()) == [
        {"n": 3, "s": 'a"b\n', "ids": [1, 2], "t": "2026-11-11T15:10:00.250000Z", "ok": True},
        {"n": None, "s": "é", "ids": None, "t": None, "ok": False}]
    from pipeline.output import write_json

    lines = io.StringIO()
    write_json(table.to_batches(max_chunksize=1), lines, lines=True)
    assert [json.loads(x) for x in lines.getvalue().splitlines()] == json.loads(buf.getvalue())
    empty = io.StringIO()
    write_json(table.slice(0, 0), empty)
    assert json.loads(empty.getvalue()) == []
