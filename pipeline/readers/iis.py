"""IIS logs in the W3C extended format: the web service (IIS 5/6 and later) and the FTP service.

Header lines (``#Software: Microsoft Internet Information Services 6.0``, ``#Version: 1.0``,
``#Date: 2026-10-28 00:00:00``, ``#Fields: date time s-ip cs-method cs-uri-stem ...``) may come
again further down (IIS writes a new header when the service restarts); a ``#Fields:`` applies to the
lines after it, in any order and any subset.  Values are separated by one space (IIS writes spaces
inside values as ``+``), ``-`` is none.  Lines with another number of values than the fields are
skipped, counted and named with their line.  A log without a ``date`` field (the FTP service's
default layout: ``time c-ip cs-method cs-uri-stem sc-status``) takes the date of the last ``#Date:``,
and a day later each time the clock goes back (midnight passed without a new header).

Times are UTC: IIS writes W3C extended logs in UTC whatever the server's zone (only the file names
may follow local time).  Rows come out as string columns named after the fields, with ``_line``,
``_text`` (the line, the event's identity), and ``_date`` (the date of a row without a ``date`` field).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..issues import IssueLog
from .pfirewall import _split_at_directives
from .textfile import LineBatch, TextBlock, _LineSpans, as_text, parse_block, read_blocks, sniff_layout

#: The fields a row of permitted traffic is built from.
NEEDED = ("date", "time", "s-sitename", "s-computername", "s-ip", "s-port", "c-ip", "cs-method", "sc-bytes",
          "cs-bytes", "x-session")


@dataclass
class IisState:
    """What reading goes on with after a batch, and in a later run of a grown file."""

    fields: list[str] | None = None
    lines: int = 0
    #: date of the last ``#Date:`` directive (ISO), and the time of day (seconds) of the last row read
    date: str | None = None
    last_seconds: int | None = None

    @property
    def extra(self) -> dict:
        return {"date": self.date, "last_seconds": self.last_seconds}


@dataclass
class IisRows:
    table: pa.Table
    bytes_done: int
    other_lines: int = 0


def read_iis(
    path: str | os.PathLike[str],
    issues: IssueLog,
    *,
    start: int = 0,
    first_line: int = 1,
    state: IisState | None = None,
    block_size: int | None = None,
    include_tail: bool = True,
) -> Iterator[IisRows]:
    """Yield the request lines of an IIS W3C log from byte ``start`` (line ``first_line``) on.

    ``include_tail=False`` stops at the end of the last complete line (the ingest reads a last line
    without a line end in a pass of its own, see :func:`.read_rows`)."""
    state = state if state is not None else IisState()
    layout = sniff_layout(path)
    start = max(start, layout.bom_length)
    state.lines = first_line - 1
    stop = layout.size if include_tail else layout.complete_end
    for block in read_blocks(path, layout, start=start, stop=stop, block_size=block_size):
        block.first_line = state.lines + 1
        for piece in _split_at_directives(block):
            if isinstance(piece, tuple):
                _apply_directive(*piece, state)
                continue
            if state.fields is None:
                lines = piece.raw[: piece.end].count(b"\n") or 1
                issues.add(f"line {piece.first_line}", "malformed", f"{lines} line(s) that no #Fields: header "
                           "names the fields of (none before them, or an empty one)", count=lines)
                state.lines = piece.first_line + lines - 1
                continue
            names = [f"c{i}" for i in range(len(state.fields))]
            batch = parse_block(piece, column_names=names, delimiter=" ", quoted=False, issues=issues,
                                skip_rejected=_is_blank)
            state.lines = batch.last_line
            yield _rows(batch, state, issues, piece)


def _is_blank(line: int, text: str) -> bool:
    return not text.strip()


def _apply_directive(line: int, text: str, state: IisState) -> None:
    key, _, value = text[1:].partition(":")
    key = key.strip().lower()
    if key == "fields":
        state.fields = value.split() or None  # an empty #Fields: names nothing: its lines cannot be read
    elif key == "date":
        try:
            state.date = date.fromisoformat(value.strip()[:10]).isoformat()
            state.last_seconds = None
        except ValueError:
            pass  # a damaged #Date: keeps the date before it
    state.lines = line


def _seconds(times: pa.Array) -> np.ndarray:
    """Seconds of the day of ``hh:mm:ss`` values (-1 where not such a time)."""
    parsed = pc.strptime(pc.utf8_slice_codeunits(pc.fill_null(times, ""), 0, 8), format="%H:%M:%S", unit="s",
                         error_is_null=True)
    secs = parsed.cast(pa.int64()).to_numpy(zero_copy_only=False)
    mask = pc.is_null(parsed).to_numpy(zero_copy_only=False)
    out = np.where(mask, -1, np.nan_to_num(secs.astype("float64"), nan=-1).astype(np.int64) % 86_400)
    return out.astype(np.int64)


def _line_texts(piece: TextBlock, rows: np.ndarray) -> pa.Array:
    """The text of the block's lines ``rows`` (0-based within it), without their line ends."""
    data = bytes(piece.data) if not isinstance(piece.raw, bytes) or piece.end != len(piece.raw) else piece.raw
    lines = _LineSpans.of(data).as_array(data).take(pa.array(rows))
    # A line that is not UTF-8 but has the right number of values is read (as Windows-1252, like its values):
    # casting it to text would fail the whole file.
    return pc.utf8_rtrim(as_text(lines.cast(pa.binary())), characters="\r\n")


def _rows(batch: LineBatch, state: IisState, issues: IssueLog, piece: TextBlock) -> IisRows:
    table = batch.table
    assert state.fields is not None
    fields = [f.lower() for f in state.fields]
    names = [f"c{i}" for i in range(len(fields))]
    n = table.num_rows
    blank = np.zeros(n, dtype=bool)
    if n and names:
        first = as_text(table.column(names[0]))
        blank = pc.equal(pc.utf8_trim_whitespace(first), "").to_numpy(zero_copy_only=False)
        if len(names) > 1:
            blank &= pc.is_null(table.column(names[1])).to_numpy(zero_copy_only=False) | pc.equal(
                as_text(table.column(names[1])), "").to_numpy(zero_copy_only=False)
    keep = ~blank
    columns: dict[str, pa.Array] = {}
    for name, col in zip(fields, names, strict=True):
        if name in NEEDED and name not in columns:
            value = as_text(table.column(col))
            columns[name] = pc.if_else(pc.equal(value, "-"), pa.scalar(None, pa.string()), value)
    columns["_text"] = _line_texts(piece, batch.lines - piece.first_line)
    columns["_line"] = pa.array(batch.lines, pa.int64())
    if "date" not in columns:
        # the date of the #Date: header, a day later each time the clock goes back
        base = date.fromisoformat(state.date) if state.date else None
        secs = _seconds(columns["time"]) if "time" in columns else np.full(n, -1, dtype=np.int64)
        dates: list[str | None] = []
        last = state.last_seconds
        for i, sec in enumerate(secs.tolist()):
            if not keep[i] or sec < 0 or base is None:
                dates.append(None)
                continue
            if last is not None and sec < last:
                base += timedelta(days=1)
                state.date = base.isoformat()
            last = sec
            dates.append(base.isoformat())
        state.last_seconds = last
        columns["_date"] = pa.array(dates, pa.string())
    out = pa.table(columns).filter(pa.array(keep))
    return IisRows(out, batch.bytes_done, 0)


def is_iis_software(text: str) -> bool:
    return "internet information services" in text.lower()
