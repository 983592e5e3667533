"""Log Parser ``-o:CSV`` output of the EVT input format.

A header row names the fields (any subset, any order); values follow RFC 4180
(commas and quotes inside double quotes, ``""`` for a quote).  An empty value or
``-`` is NULL.  A header row repeated further down (runs appended to one file)
is recognised and skipped.  Parsing is pyarrow's CSV reader, streaming.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from ..issues import IssueLog
from .evt_fields import canonical_field
from .logparser_w3c import EvtRows
from .textfile import as_text, decode_text, line_cut, max_line_text, read_line, read_rows, sniff_layout


@dataclass
class CSVState:
    """Resume state: the header of the file (absent from the part read later)."""

    fields: list[str] | None = None
    lines: int = 0


def _header_fields(text: str) -> list[str]:
    return [canonical_field(f) for f in next(csv.reader([text]))]


def read_csv_export(
    path: str | os.PathLike[str],
    issues: IssueLog,
    *,
    start: int = 0,
    first_line: int = 1,
    state: CSVState | None = None,
    block_size: int | None = None,
    include_tail: bool = True,
) -> Iterator[EvtRows]:
    """Yield :class:`EvtRows` batches from a Log Parser CSV export, from byte ``start`` on.

    ``block_size``: bytes of whole lines parsed at once; ``include_tail``: see :func:`.read_rows`.
    """
    state = state if state is not None else CSVState()
    layout = sniff_layout(path)
    start = max(start, layout.bom_length)
    if state.fields is None:
        with open(path, "rb") as fh:
            fh.seek(start)
            header = read_line(fh, layout)
        if line_cut(header, layout):
            issues.add("line 1", "refused-file", f"the CSV header row is longer than {max_line_text()}: not a "
                       "Log Parser export", decode_text(header[:400]))
            return
        text = header.decode(layout.encoding, errors="replace").rstrip("\r\n")
        if not text.strip():
            issues.add("line 1", "refused-file", "no CSV header row")
            return
        try:
            state.fields = _header_fields(text)
        except csv.Error as exc:  # e.g. a carriage return inside an unquoted name: no field list to read by
            issues.add("line 1", "refused-file", f"the CSV header row cannot be read: {exc}", text)
            return
        start += len(header)
        first_line += 1
    state.lines = first_line - 1  # the lines before: the header (a later run goes on after it)
    fields = state.fields
    internal = [f"c{i}" for i in range(len(fields))]

    def repeated_header(line: int, text: str) -> bool:
        if "EventID" in text and "TimeGenerated" in text:
            issues.warning(f"line {line}", "header row with other fields than the first: rows after it "
                           "that do not fit the first header are reported as malformed", text)
            return True
        return False

    for batch in read_rows(
        path,
        layout,
        start=start,
        first_line=first_line,
        column_names=internal,
        delimiter=",",
        quoted=True,
        issues=issues,
        skip_rejected=repeated_header,
        block_size=block_size,
        include_tail=include_tail,
    ):
        table = batch.table
        numbers = batch.lines
        state.lines = batch.last_line
        columns: dict[str, pa.Array] = {}
        for name, col in zip(fields, internal, strict=True):
            value = as_text(table.column(col))
            value = pc.if_else(pc.or_(pc.equal(value, ""), pc.equal(value, "-")),
                               pa.scalar(None, pa.string()), value)
            columns.setdefault(name, value)
        columns["_line"] = pa.array(numbers, pa.int64())
        out = pa.table(columns)
        # A header row repeated mid-file (same fields): drop it.
        probe = fields[0]
        is_header = pc.fill_null(pc.equal(out.column(probe), probe), False)
        blank = pc.and_(*(pc.is_null(out.column(f)) for f in fields[:2])) if len(fields) > 1 else \
            pc.is_null(out.column(probe))
        drop = pc.or_(is_header, blank)
        if pc.any(drop).as_py():
            out = out.filter(pc.invert(drop))
        yield EvtRows(out, batch.bytes_done)
