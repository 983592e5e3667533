"""Windows Firewall ``pfirewall.log`` (and the XP ICF log it grew from).

The header's ``#Fields:`` names the columns (``path`` and ``pid`` are optional
trailing fields on newer Windows); values are separated by single spaces with
``-`` for none.  pyarrow's CSV reader splits the file with a space delimiter;
lines with the wrong number of fields are reported with their line number.
Only ``DROP`` lines become drops; ``ALLOW`` lines (Vista and later) are observed permitted traffic
(:attr:`FirewallRows.allowed`, the ``allowed`` dataset); every other action is counted (blank lines are not).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from ..issues import IssueLog
from .textfile import (
    LineBatch,
    TextBlock,
    as_text,
    decode_text,
    line_cut,
    parse_block,
    read_blocks,
    read_line,
    sniff_layout,
)

#: The Windows Firewall fields, as XP SP2 writes them (log-formats.md §3).
DEFAULT_FIELDS = [
    "date", "time", "action", "protocol", "src-ip", "dst-ip", "src-port", "dst-port", "size",
    "tcpflags", "tcpsyn", "tcpack", "tcpwin", "icmptype", "icmpcode", "info", "path",
]

#: The fields a drop row is built from.
NEEDED = ("date", "time", "action", "protocol", "src-ip", "dst-ip", "src-port", "dst-port", "path", "pid",
          "icmptype", "icmpcode")


@dataclass
class FirewallState:
    fields: list[str] | None = None
    lines: int = 0


@dataclass
class FirewallRows:
    """A batch of DROP lines: string columns named after the fields, ``_line`` and the raw ``_text``."""

    table: pa.Table
    bytes_done: int
    other_lines: int = 0  # lines that are not DROP lines (ALLOW lines included)
    #: the ALLOW lines in the same columns and ``size`` (None: none in the batch)
    allowed: pa.Table | None = None


def read_header(path: str | os.PathLike[str]) -> tuple[list[str] | None, int, int]:
    """The ``#Fields:`` of the header, the byte offset of the first data line and its line number."""
    layout = sniff_layout(path)
    fields = None
    offset = layout.bom_length
    line_no = 1
    with open(path, "rb") as fh:
        fh.seek(offset)
        while True:
            raw = read_line(fh, layout)
            if not raw or line_cut(raw, layout):
                break  # a line too long to be a directive: read (and reported) as data
            text = raw.decode(layout.encoding, errors="replace").strip("\r\n\x00")
            if not text.startswith("#"):
                break
            key, _, value = text[1:].partition(":")
            if key.strip().lower() == "fields":
                fields = value.split()
            offset += len(raw)
            line_no += 1
    return fields, offset, line_no


def read_pfirewall(
    path: str | os.PathLike[str],
    issues: IssueLog,
    *,
    start: int = 0,
    first_line: int = 1,
    state: FirewallState | None = None,
    block_size: int | None = None,
    include_tail: bool = True,
) -> Iterator[FirewallRows]:
    """Yield DROP lines of a pfirewall.log from byte ``start`` on (``block_size``, ``include_tail``: see
    :func:`.read_rows`).

    Directive lines (``#...``) further down are never data: a ``#Fields:`` with other fields
    (logs of two Windows versions appended to one file) applies to the lines after it.
    """
    state = state if state is not None else FirewallState()
    layout = sniff_layout(path)
    if state.fields is None or start <= layout.bom_length:
        fields, data_start, data_line = read_header(path)
        if not fields:  # none, or one naming no field (nothing to read the lines by)
            issues.warning("line 1", f"{'no' if fields is None else 'an empty'} #Fields: header; assuming the "
                           "Windows Firewall field list")
            fields = list(DEFAULT_FIELDS)
        state.fields = fields
        if start < data_start:
            start, first_line = data_start, data_line
    state.lines = first_line - 1  # the lines before: the header (a later run goes on after it)
    start = max(start, layout.bom_length)
    stop = layout.size if include_tail else layout.complete_end
    if stop <= start:
        return
    for block in read_blocks(path, layout, start=start, stop=stop, block_size=block_size):
        block.first_line = state.lines + 1
        for piece in _split_at_directives(block):
            if isinstance(piece, tuple):
                _apply_directive(*piece, state, issues)
                continue
            batch = parse_block(piece, column_names=[f"c{i}" for i in range(len(state.fields))], delimiter=" ",
                                quoted=False, issues=issues, skip_rejected=_is_blank)
            state.lines = batch.last_line
            rows = _drop_lines(batch, state.fields, issues)
            if rows is None:
                return
            yield rows


def _is_blank(line: int, text: str) -> bool:
    """A rejected line that is only blank is no line of the log: skipped without a word."""
    return not text.strip()


def _split_at_directives(block: TextBlock) -> Iterator[TextBlock | tuple[int, str]]:
    """The block as runs of data lines (blocks) and directive lines (line number, text), in order.

    pfirewall lines hold no ``#``: a block without one (a memchr away) is one run.
    """
    raw, end = block.raw, block.end
    if raw.find(b"#", 0, end) < 0:
        yield block
        return
    line, pos = block.first_line, 0
    while pos < end:
        if raw.startswith(b"#", pos):
            at = pos
        else:
            newline = raw.find(b"\n#", pos, end)
            at = end if newline < 0 else newline + 1
        if at > pos:
            yield TextBlock(raw[pos:at], at - pos, block.bytes_done, line)
            line += raw.count(b"\n", pos, at)
        if at == end:
            return
        stop = raw.find(b"\n", at, end)
        stop = end if stop < 0 else stop + 1
        yield line, decode_text(raw[at:stop]).rstrip("\r\n")
        line += 1
        pos = stop


def _apply_directive(line: int, text: str, state: FirewallState, issues: IssueLog) -> None:
    key, _, value = text[1:].partition(":")
    fields = value.split()
    if key.strip().lower() == "fields" and not fields:
        issues.warning(f"line {line}", "a #Fields: directive naming no field: ignored, the lines after it are read "
                       "by the fields before it", text)
    elif key.strip().lower() == "fields" and fields != state.fields:
        issues.warning(f"line {line}", "a #Fields: directive with other fields mid-file: the lines after it "
                       "are read by it", text)
        state.fields = fields
    state.lines = line


def _drop_lines(batch: LineBatch, fields: list[str], issues: IssueLog) -> FirewallRows | None:
    """The DROP lines of a batch by field name, with their text and line; None (file refused) without ``action``."""
    table = batch.table
    names = [f"c{i}" for i in range(len(fields))]
    if "action" not in fields:
        issues.add("", "refused-file", "the #Fields: header has no 'action' field")
        return None
    action = as_text(table.column(names[fields.index("action")]))
    upper = pc.utf8_upper(action)
    is_drop = pc.equal(upper, "DROP")
    is_allow = pc.equal(upper, "ALLOW")
    n_drop = pc.sum(is_drop).as_py() or 0
    n_allow = pc.sum(is_allow).as_py() or 0
    # An empty line comes out as a row of empty values: not a line of the log.
    blank = pc.sum(pc.equal(pc.utf8_trim_whitespace(action), "")).as_py() or 0
    other = len(action) - n_drop - blank
    allowed = _lines_of(table, is_allow, batch, fields, names, ("size",)) if n_allow else None
    if n_drop == 0:
        return FirewallRows(pa.table({"_line": pa.array([], pa.int64())}), batch.bytes_done, other, allowed)
    return FirewallRows(_lines_of(table, is_drop, batch, fields, names), batch.bytes_done, other, allowed)


def _lines_of(table: pa.Table, wanted: pa.Array, batch: LineBatch, fields: list[str], names: list[str],
              extra: tuple[str, ...] = ()) -> pa.Table:
    """The wanted lines by field name (:data:`NEEDED` and ``extra``), with their text and line number."""
    rows = table.filter(wanted)
    columns = {}
    for name, col in zip(fields, names, strict=True):
        if (name in NEEDED or name in extra) and name not in columns:
            value = as_text(rows.column(col))
            columns[name] = pc.if_else(pc.equal(value, "-"), pa.scalar(None, pa.string()), value)
    # The exact line text is the identity of a firewall event (there is no record number).
    parts = [as_text(rows.column(c)) for c in names]
    columns["_text"] = pc.binary_join_element_wise(*parts, " ")
    columns["_line"] = pa.array(batch.lines[wanted.to_numpy(zero_copy_only=False)], pa.int64())
    return pa.table(columns)
