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
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ._lazy import lazy_module

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
else:  # loaded on first use: the command line imports this module before it knows it will print rows
    pa = lazy_module("pyarrow")
    pc = lazy_module("pyarrow.compute")
    pacsv = lazy_module("pyarrow.csv")

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
    """A string array with :func:`spreadsheet_safe` applied to every value (nulls stay null).

    The first character of each value looked up in :data:`FORMULA_PREFIXES` (a quarter of the time of
    the regular expression ``_FORMULA_RE``, which says the same), and the array returned as it is when no
    value is risky: most columns (addresses, verdicts) never are.
    """
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return array
    prefixes = pa.array(FORMULA_PREFIXES, array.type)
    risky = pc.is_in(pc.utf8_slice_codeunits(array, 0, 1), value_set=prefixes)
    if not pc.any(risky).as_py():
        return array
    quote, empty = pa.scalar("'", array.type), pa.scalar("", array.type)  # large_string too
    return pc.if_else(risky, pc.binary_join_element_wise(quote, array, empty), array)


def iso_text(array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Timestamps as ISO 8601 text in UTC (``2026-11-11T15:10:00Z``; fractions only when there are any).

    Arrow's cast of a zone-less timestamp to text (``2026-11-11 15:10:00.000000``, always six digits of
    microseconds), the blank made a ``T`` and a zero fraction cut: a tenth of the time of ``strftime``,
    which converted every value through the zone database (80 % of writing the flows as CSV).
    """
    text = array.cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us")).cast(pa.string())
    text = pc.replace_substring(text, pattern=" ", replacement="T", max_replacements=1)
    text = pc.if_else(pc.ends_with(text, pattern=".000000"), pc.utf8_slice_codeunits(text, 0, -7), text)
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


# -- JSON and NDJSON -----------------------------------------------------------------------------------------

def json_value(value: Any) -> Any:
    """A value as JSON wants it: times as ISO 8601 (UTC with ``Z``), other objects as text."""
    import datetime as _dt

    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.UTC)
            text = value.replace(tzinfo=None).isoformat()
            return text + "Z"
        return value.isoformat()
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return str(value)


def json_text(data: Any, *, indent: int | None = 1) -> str:
    """``data`` as JSON text (UTF-8 characters kept, times as ISO 8601)."""
    import json

    return json.dumps(data, default=json_value, indent=indent, ensure_ascii=False)


def _batches(source: pa.Table | pa.RecordBatchReader | Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
    if isinstance(source, pa.Table):
        return source.to_batches(max_chunksize=16 * 1024)
    return source


def _json_ready(batch: pa.RecordBatch) -> pa.Table:
    """Times as ISO 8601 text (UTC, ``Z``); everything else as it is (DuckDB's ``to_json`` renders the rest)."""
    table = pa.Table.from_batches([batch])
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type):
            table = table.set_column(i, f.name, iso_text(table.column(i)))
        elif pa.types.is_dictionary(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(f.type.value_type))
    return table


def write_json(source: pa.Table | pa.RecordBatchReader | Iterable[pa.RecordBatch], out: IO[str], *,
               lines: bool = False) -> int:
    """Rows as one JSON array (``lines=False``) or one JSON object per line (NDJSON); streamed batch by batch.

    Each batch is turned into JSON text by DuckDB's ``to_json`` (vectorised: a per-row
    ``json.dumps`` costs 30 times more), so memory holds one batch at a time.
    """
    import duckdb

    con = duckdb.connect()
    rows = 0
    if not lines:
        out.write("[")
    try:
        for batch in _batches(source):
            if batch.num_rows == 0:
                continue
            con.register("json_batch", _json_ready(batch))
            texts = con.sql("SELECT to_json(r)::VARCHAR AS j FROM json_batch r").to_arrow_table().column(0)
            con.unregister("json_batch")
            items = texts.to_pylist()
            if lines:
                out.write("\n".join(items) + "\n")
            else:
                out.write(("\n " if rows == 0 else ",\n ") + ",\n ".join(items))
            rows += len(items)
    finally:
        con.close()
    if not lines:
        out.write("\n]\n" if rows else "]\n")
    out.flush()
    return rows


# -- terminal tables --------------------------------------------------------------------------------------------

#: Width used when neither ``COLUMNS`` nor a terminal says how wide the screen is.
DEFAULT_WIDTH = 120
#: A shrinkable column (rule names, messages) is never cut narrower than this ...
MIN_SHRUNK = 12
#: ... and less important columns make way for it up to this width.
SHRINK_CAP = 28
#: Characters between two columns of a borderless table (one of padding, one blank divider).
COLUMN_PADDING = 2


@dataclass(frozen=True)
class Column:
    """How a table column is shown: its priority when space is short, its kind of value.

    ``priority`` 0 is always shown; higher numbers are dropped first (right to left among
    equals) when the table does not fit the terminal.  ``kind``: ``text``, ``count`` (thousands
    separators), ``number``, ``address`` (never broken), ``time`` (UTC, to the second),
    ``protocol`` (``TCP``/``UDP``/``ICMP`` or the number), ``direction`` (``in``/``out``), ``list``,
    ``endpoint`` (an address and a port from the two ``source`` columns: ``10.1.0.2:53``,
    ``[2001:db8::1]:443``, the address alone when the port is NULL).  ``shrink``: may be cut with
    an ellipsis to make room (free text such as rule names).
    """

    name: str
    priority: int = 1
    kind: str = "text"
    shrink: bool = False
    header: str | None = None
    source: tuple[str, ...] = ()

    @property
    def sources(self) -> tuple[str, ...]:
        return self.source or (self.name,)

    @property
    def title(self) -> str:
        return self.header or self.name

    @property
    def right(self) -> bool:
        return self.kind in ("count", "number")


def terminal_width(console_is_terminal: bool, console_width: int | None = None) -> int:
    """``COLUMNS`` when set, else the terminal's real width, else :data:`DEFAULT_WIDTH` (pipes, files)."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    if console_is_terminal and console_width:
        return console_width
    return DEFAULT_WIDTH


def cell_text(value: Any, kind: str = "text", tz: Any = None) -> str:
    """One value as a table shows it."""
    import datetime as _dt

    from .schema import protocol_name

    if value is None:
        return ""
    if kind == "protocol" and isinstance(value, int):
        return protocol_name(value)
    if kind == "direction" and isinstance(value, str):
        return {"inbound": "in", "outbound": "out"}.get(value, value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if kind == "count" and isinstance(value, (int, float)):
        return f"{value:,}"
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(tz or _dt.UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (list, tuple)):
        return " ".join(cell_text(v, "text", tz) for v in value)
    if isinstance(value, float):
        return f"{value:,.2f}" if kind == "count" else f"{value:g}"
    return str(value)


def endpoint_text(ip: str | None, port: int | None) -> str:
    """``10.1.0.2:53``, ``[2001:db8::1]:443``; the address alone without a port, ``*`` without an address."""
    if ip is None:
        return "*" if port is None else f"*:{port}"
    if port is None:
        return ip
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


@dataclass
class FittedTable:
    """A table laid out for a width: the columns kept, the ones dropped, the cell texts."""

    columns: list[Column]
    dropped: list[str]
    rows: list[list[str]]
    widths: list[int]

    def footer(self) -> str | None:
        if not self.dropped:
            return None
        return f"not shown: {', '.join(self.dropped)} (--wide shows every column)"


def fit_columns(table: pa.Table, columns: Sequence[Column] | None, width: int | None, *,
                tz: Any = None) -> FittedTable:
    """Choose the columns that fit ``width`` (None: all of them, uncut) and render their cells."""
    if columns is None:
        columns = [Column(name) for name in table.column_names]
    columns = [c for c in columns if all(s in table.column_names for s in c.sources)]
    texts: dict[str, list[str]] = {}
    for c in columns:
        if c.kind == "endpoint":
            ips, ports = (table.column(s).to_pylist() for s in c.sources)
            cells = [endpoint_text(ip, port) for ip, port in zip(ips, ports, strict=True)]
        else:
            cells = [cell_text(v, c.kind, tz) for v in table.column(c.name).to_pylist()]
        texts[c.name] = [t.replace("\n", " ").replace("\r", " ") for t in cells]
    natural = {c.name: max([len(c.title), *(len(t) for t in texts[c.name])]) for c in columns}
    keep = list(columns)

    def needed(cols: list[Column], shrunk: int) -> int:
        return sum((min(natural[c.name], shrunk) if c.shrink else natural[c.name]) + COLUMN_PADDING for c in cols)

    def drop_while(too_wide: Any, droppable: Any) -> None:
        while len(keep) > 1 and too_wide():
            candidates = [i for i, c in enumerate(keep) if c.priority > 0 and droppable(c)]
            if not candidates:
                return
            worst = max(candidates, key=lambda i: (keep[i].priority, i))
            dropped.append(keep.pop(worst))

    dropped: list[Column] = []
    if width is not None:
        # First drop what matters less than every free-text column, so names are shown whole (up to
        # SHRINK_CAP); only then cut the free text and drop by priority whatever still does not fit.
        drop_while(lambda: needed(keep, SHRINK_CAP) > width,
                   lambda c: not c.shrink and all(c.priority > k.priority for k in keep if k.shrink))
        drop_while(lambda: needed(keep, MIN_SHRUNK) > width, lambda c: True)
    widths = [min(natural[c.name], SHRINK_CAP) if c.shrink and width is not None else natural[c.name]
              for c in keep]
    if width is not None:
        spare = width - sum(w + COLUMN_PADDING for w in widths)
        if spare < 0:  # cut the shrinkable columns, widest first, down to MIN_SHRUNK
            for i in sorted((i for i, c in enumerate(keep) if c.shrink), key=lambda i: -widths[i]):
                cut = min(-spare, widths[i] - min(widths[i], MIN_SHRUNK))
                widths[i] -= cut
                spare += cut
                if spare >= 0:
                    break
    rows = [[texts[c.name][r] for c in keep] for r in range(table.num_rows)]
    dropped_names = [c.name for c in columns if c in dropped]
    return FittedTable(keep, dropped_names, rows, widths)


def render_table(console: Any, table: pa.Table, columns: Sequence[Column] | None = None, *,
                 title: str | None = None, wide: bool = False, width: int | None = None,
                 notes: Sequence[str] = (), tz: Any = None) -> FittedTable:
    """Print ``table`` on a rich ``console`` so that every row is one line of the terminal.

    Columns are dropped by priority until the table fits ``width`` (default: see
    :func:`terminal_width`), shrinkable ones cut with an ellipsis; a footer names what was
    left out.  ``wide`` shows every column whatever the width.
    """
    from rich import box
    from rich.table import Table
    from rich.text import Text

    if width is None:
        width = terminal_width(console.is_terminal, console.width)
    fitted = fit_columns(table, columns, None if wide else width, tz=tz)
    out = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, expand=False,
                show_edge=False, padding=(0, 1, 0, 0))
    for col, w in zip(fitted.columns, fitted.widths, strict=True):
        out.add_column(col.title, justify="right" if col.right else "left", no_wrap=True,
                       overflow="ellipsis", min_width=w if not col.shrink else None, max_width=w)
    for row in fitted.rows:
        out.add_row(*[Text(cell) for cell in row])
    total = sum(w + COLUMN_PADDING for w in fitted.widths) + 2
    console.print(out, width=max(total, 20) if wide else min(max(total, 20), max(width, 20)),
                  overflow="ellipsis", crop=not wide)
    footer = [*notes]
    dropped = fitted.footer()
    if dropped:
        footer.append(dropped)
    for line in footer:
        console.print(Text(line, style="dim"), width=max(width, 20), soft_wrap=False)
    return fitted
