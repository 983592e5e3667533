"""The one way rows leave the project: CSV (spreadsheet-safe, RFC 4180), JSON, NDJSON and terminal tables.

Log contents, host names and rule names are attacker-influenced, and the CSV
files end up in Excel.  A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return is run as a formula by some spreadsheet, so every *string*
cell that does gets a leading ``'`` (numbers stay numbers: ``-2`` is written
``-2``).  Every CSV the project writes goes through :func:`write_csv` or
:class:`CsvSink`, which apply :func:`safe_strings` (the vectorised form of
:func:`spreadsheet_safe`) and quote with Arrow's CSV writer, so a field holding
a comma, a quote, a CR or an LF is always quoted.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

#: First characters that make a spreadsheet treat a cell as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_RE = "^[=+\\-@\t\r]"
UTF8_BOM = b"\xef\xbb\xbf"


def spreadsheet_safe(value: Any) -> Any:
    """``value`` with a leading ``'`` if it is a string a spreadsheet would run as a formula; else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_strings(array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A string array with :func:`spreadsheet_safe` applied to every value (nulls stay null)."""
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return array
    risky = pc.match_substring_regex(array, _FORMULA_RE)
    return pc.if_else(risky, pc.binary_join_element_wise("'", array, ""), array)


def iso_text(array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Timestamps as ISO 8601 text in UTC (``2026-11-11T15:10:00Z``; fractions only when there are any)."""
    text = pc.strftime(array.cast(pa.timestamp("us", tz="UTC")), format="%Y-%m-%dT%H:%M:%S")
    text = pc.replace_substring_regex(text, pattern="\\.0+$", replacement="")
    return pc.binary_join_element_wise(text, "Z", "")


def _csv_column(array: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    t = array.type
    if pa.types.is_timestamp(t):
        return iso_text(array)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        joined = pc.binary_join(array.cast(pa.list_(pa.string())), " ")
        return safe_strings(joined)
    if pa.types.is_dictionary(t):
        return safe_strings(array.cast(t.value_type))
    if pa.types.is_struct(t) or pa.types.is_map(t):
        return safe_strings(pa.array([None if v is None else str(v) for v in array.to_pylist()], pa.string()))
    return safe_strings(array)


def csv_ready(table: pa.Table | pa.RecordBatch) -> pa.Table:
    """``table`` with every column in a form a spreadsheet reads safely (see the module docstring)."""
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    columns = [_csv_column(table.column(i)) for i in range(table.num_columns)]
    return pa.table(columns, names=table.column_names)


def _open_binary(target: str | os.PathLike[str] | IO[bytes]) -> tuple[IO[bytes], bool]:
    if isinstance(target, (str, os.PathLike)):
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "wb"), True  # noqa: SIM115 - closed by the caller
    return target, False


class CsvSink:
    """A CSV file written batch by batch: spreadsheet-safe, quoted where needed, the header once.

    ``columns`` fixes the header even when no row comes; rows may be dicts
    (:meth:`write_rows`) or Arrow batches (:meth:`write`).
    """

    def __init__(self, target: str | os.PathLike[str] | IO[bytes], columns: Sequence[str] | None = None, *,
                 bom: bool = False) -> None:
        self._fh, self._owned = _open_binary(target)
        self.columns = list(columns) if columns is not None else None
        self._writer: pacsv.CSVWriter | None = None
        self._schema: pa.Schema | None = None
        self.rows = 0
        if bom:
            self._fh.write(UTF8_BOM)

    def write(self, batch: pa.Table | pa.RecordBatch) -> None:
        ready = csv_ready(batch)
        if self.columns is not None and ready.column_names != self.columns:
            ready = ready.select(self.columns)
        if self._writer is None:
            self._schema = ready.schema
            self._writer = pacsv.CSVWriter(self._fh, ready.schema,
                                           write_options=pacsv.WriteOptions(quoting_style="needed"))
        elif ready.schema != self._schema:
            ready = ready.cast(self._schema)
        self._writer.write_table(ready)
        self.rows += ready.num_rows

    def write_rows(self, rows: Iterable[Mapping[str, Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        columns = self.columns or list(rows[0])
        self.columns = columns
        data = {c: [_plain(r.get(c)) for r in rows] for c in columns}
        types = self._schema
        if types is not None:
            self.write(pa.table({c: pa.array(v, types.field(c).type) for c, v in data.items()}))
        else:
            self.write(pa.table({c: _array(v) for c, v in data.items()}))

    def close(self) -> None:
        if self._writer is None and self.columns is not None:
            # no rows: the header alone
            header = pa.schema([pa.field(c, pa.string()) for c in self.columns])
            self._writer = pacsv.CSVWriter(self._fh, header, write_options=pacsv.WriteOptions(quoting_style="needed"))
        if self._writer is not None:
            self._writer.close()
        if self._owned:
            self._fh.close()
        else:
            self._fh.flush()

    def __enter__(self) -> CsvSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plain(value: Any) -> Any:
    """A Python value Arrow can type: lists joined, other objects as text."""
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    if value is None or isinstance(value, (str, int, float, bool)) or hasattr(value, "isoformat"):
        return value
    return str(value)


def _array(values: list) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def write_csv(source: pa.Table | pa.RecordBatchReader | Iterable[pa.RecordBatch],
              target: str | os.PathLike[str] | IO[bytes], *, columns: Sequence[str] | None = None,
              bom: bool = False) -> int:
    """Write ``source`` (a table, or batches streamed one at a time) as CSV; returns the rows written."""
    sink = CsvSink(target, columns, bom=bom)
    try:
        if isinstance(source, pa.Table):
            for batch in source.to_batches(max_chunksize=64 * 1024):
                sink.write(batch)
            if source.num_rows == 0:
                sink.columns = sink.columns or source.column_names
        else:
            for batch in source:
                sink.write(batch)
    finally:
        sink.close()
    return sink.rows


def csv_text(rows: pa.Table | Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """CSV of a table or of dict rows, as text (small outputs: policy tables, issue lists)."""
    buf = io.BytesIO()
    if isinstance(rows, pa.Table):
        write_csv(rows, buf, columns=columns)
    else:
        sink = CsvSink(buf, columns)
        sink.write_rows(rows)
        sink.close()
    return buf.getvalue().decode("utf-8")
