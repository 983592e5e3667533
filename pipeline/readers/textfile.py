"""Streaming access to the text exports: encodings, resume offsets, line numbers.

Every text reader needs the same few things done right, once:

* start at a byte offset (a file that grew since the last run is read only past
  what was consumed) and stop at the last complete line (a file still being
  written has an unterminated last line, which is read again next time);
* cope with the encodings Windows tools write: UTF-8 with or without BOM, the
  ANSI code page (Windows-1252) and UTF-16 with BOM (``-oCodepage:-1``);
* hand out Arrow batches built by pyarrow's multi-threaded CSV parser, with the
  physical line number of every row, and report rows the parser rejects with
  their line number and text instead of failing.
"""

from __future__ import annotations

import codecs
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..issues import IssueLog

#: Bytes of whole lines read and parsed at once.
BLOCK_SIZE = 4 << 20
#: Bytes pyarrow's CSV parser takes at a time within a block.
PARSE_PIECE = 1 << 20


@dataclass(frozen=True)
class TextLayout:
    """What the first bytes of a file say about how to read it."""

    encoding: str  # python codec name: "utf-8" or "utf-16-le" / "utf-16-be"
    bom_length: int
    size: int
    #: byte offset just past the last line terminator: the complete part of the file
    complete_end: int

    @property
    def has_partial_tail(self) -> bool:
        return self.complete_end < self.size

    @property
    def newline(self) -> bytes:
        return "\n".encode(self.encoding)


def sniff_layout(path: str | os.PathLike[str]) -> TextLayout:
    """Read the BOM and find the end of the last complete line without reading the whole file."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(4)
        if head.startswith(codecs.BOM_UTF8):
            encoding, bom = "utf-8", 3
        elif head.startswith(codecs.BOM_UTF16_LE):
            encoding, bom = "utf-16-le", 2
        elif head.startswith(codecs.BOM_UTF16_BE):
            encoding, bom = "utf-16-be", 2
        elif len(head) >= 4 and head[1:2] == b"\x00" and head[3:4] == b"\x00":
            encoding, bom = "utf-16-le", 0  # UTF-16 without BOM: ASCII text with NUL high bytes
        else:
            encoding, bom = "utf-8", 0
        newline = "\n".encode(encoding)
        end = size
        step = 1 << 16
        while end > bom:
            start = max(bom, end - step)
            fh.seek(start)
            chunk = fh.read(end - start)
            pos = chunk.rfind(newline)
            while pos >= 0 and (start + pos - bom) % len(newline):
                pos = chunk.rfind(newline, 0, pos)
            if pos >= 0:
                return TextLayout(encoding, bom, size, start + pos + len(newline))
            end = start
        return TextLayout(encoding, bom, size, bom)


class _Window(io.RawIOBase):
    """A read-only view of bytes [start, stop) of a file, re-encoded to UTF-8 if needed."""

    def __init__(self, path: str | os.PathLike[str], start: int, stop: int, encoding: str) -> None:
        self._fh = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._fh.seek(start)
        self._left = stop - start
        self._decoder = codecs.getincrementaldecoder(encoding)("replace") if encoding != "utf-8" else None
        self._pending = b""
        self.consumed = 0  # raw bytes of the file read so far (for progress)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        want = len(buffer)
        if self._decoder is None:
            data = self._fh.read(min(want, self._left)) if self._left > 0 else b""
            self._left -= len(data)
            self.consumed += len(data)
        else:
            while len(self._pending) < want and self._left > 0:
                raw = self._fh.read(min(1 << 20, self._left))
                self._left -= len(raw)
                self.consumed += len(raw)
                self._pending += self._decoder.decode(raw, final=self._left <= 0).encode("utf-8")
            data, self._pending = self._pending[:want], self._pending[want:]
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._fh.close()
        super().close()


def as_text(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Binary column -> string column; invalid UTF-8 values are decoded as Windows-1252.

    Log Parser writes the ANSI code page unless told otherwise, so a non-UTF-8
    byte is most likely a Windows-1252 character, not damage.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    try:
        return column.cast(pa.string())
    except pa.ArrowInvalid:
        values = []
        for raw in column.to_pylist():
            if raw is None:
                values.append(None)
                continue
            try:
                values.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                values.append(raw.decode("cp1252", errors="replace"))
        return pa.array(values, pa.string())


def null_where(values: pa.Array, mask: pa.Array) -> pa.Array:
    """``values`` with NULL where ``mask`` is true, reusing the values' buffers (no string copies)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    mask = pc.fill_null(mask, False)
    if not pc.any(mask).as_py():
        return values
    if values.offset != 0:
        return pc.if_else(mask, pa.scalar(None, values.type), values)
    valid = pc.and_(pc.is_valid(values), pc.invert(mask))  # no nulls, offset 0: its data is a validity bitmap
    return pa.Array.from_buffers(values.type, len(values), [valid.buffers()[1], *values.buffers()[1:]])


@dataclass
class LineBatch:
    """One batch of parsed rows with their physical line numbers."""

    table: pa.Table  # binary columns as named by the reader
    lines: np.ndarray  # int64 line number of each row (1-based, in the whole file)
    bytes_done: int  # bytes of the file consumed so far (for progress)
    line_count: int = 0  # physical lines the batch came from (its rows and the rejected ones)


def read_rows(
    path: str | os.PathLike[str],
    layout: TextLayout,
    *,
    start: int,
    first_line: int,
    column_names: list[str],
    delimiter: str,
    quoted: bool,
    issues: IssueLog,
    include_tail: bool = True,
    skip_rejected: callable = None,  # type: ignore[valid-type]
    block_size: int | None = None,
) -> Iterator[LineBatch]:
    """Stream rows of ``path`` from byte ``start`` (which is line ``first_line``).

    Rows with the wrong number of fields are handed to ``skip_rejected(line, text)``
    when given (so a reader can recognise directives) and otherwise logged as
    malformed.  Empty lines come out as rows of empty values and keep the line
    numbering exact.

    The file is cut into blocks of whole lines here and each block is parsed by
    pyarrow's CSV parser on its own (a newline always ends a row: no format read
    here allows one inside a value).  Arrow's streaming reader would read ahead on
    a thread of its own, dozens of blocks deep, so that memory grew with the input
    whenever parsing was the slower side.
    """
    start = max(start, layout.bom_length)
    stop = layout.size if include_tail else layout.complete_end
    if stop <= start:
        return
    line = first_line
    for block in read_blocks(path, layout, start=start, stop=stop, block_size=block_size):
        block.first_line = line
        batch = parse_block(block, column_names=column_names, delimiter=delimiter, quoted=quoted, issues=issues,
                            skip_rejected=skip_rejected)
        line += batch.line_count
        yield batch


def parse_block(
    block: TextBlock,
    *,
    column_names: list[str],
    delimiter: str,
    quoted: bool,
    issues: IssueLog,
    skip_rejected: callable = None,  # type: ignore[valid-type]
) -> LineBatch:
    """The rows of one block (binary columns), with their line numbers; see :func:`read_rows`.

    Needs nothing but the block: it may run on any thread.
    """
    # The parser works through a block in 1 MiB pieces: measured faster than one piece (cache-sized).
    read_options = pacsv.ReadOptions(column_names=column_names, use_threads=False, encoding="utf8",
                                     block_size=PARSE_PIECE)
    convert_options = pacsv.ConvertOptions(
        column_types={name: pa.binary() for name in column_names},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    invalid: list[tuple[int, str, str]] = []  # handled after the block parsed (a retry must not log twice)

    def on_invalid(row: pacsv.InvalidRow) -> str:
        line = block.first_line + (row.number - 1 if row.number is not None else 0)
        invalid.append((line, f"expected {row.expected_columns} fields, found {row.actual_columns}", row.text))
        return "skip"

    parse_options = pacsv.ParseOptions(
        delimiter=delimiter,
        quote_char='"' if quoted else False,
        double_quote=quoted,
        escape_char=False,
        newlines_in_values=False,
        ignore_empty_lines=False,
        invalid_row_handler=on_invalid,
    )
    data = pa.py_buffer(block.data)
    try:
        table = pacsv.read_csv(pa.BufferReader(data), read_options=read_options,
                               parse_options=parse_options, convert_options=convert_options)
    except pa.ArrowInvalid as exc:  # a line longer than a parse piece: the block in one piece
        if "straddling" not in str(exc):
            raise
        invalid.clear()
        whole = pacsv.ReadOptions(column_names=column_names, use_threads=False, encoding="utf8",
                                  block_size=len(data) + 1)
        table = pacsv.read_csv(pa.BufferReader(data), read_options=whole,
                               parse_options=parse_options, convert_options=convert_options)
    rejected = [line for line, _, _ in invalid]
    for line, reason, text in invalid:
        if skip_rejected is None or not skip_rejected(line, text):
            issues.malformed(line, reason, text)
    # Map the k-th accepted row to its physical line: rejected lines are holes.
    rel = np.asarray(sorted(r - block.first_line for r in rejected), dtype=np.int64)
    idx = np.arange(table.num_rows, dtype=np.int64)
    if len(rel):
        idx = idx + np.searchsorted(rel - np.arange(len(rel)), idx, side="right")
    return LineBatch(table, idx + block.first_line, block.bytes_done, table.num_rows + len(rejected))


@dataclass
class TextBlock:
    """Whole lines of a file, re-encoded to UTF-8: ``raw[:end]``."""

    raw: bytes
    end: int
    bytes_done: int  # bytes of the file consumed so far (for progress)
    first_line: int = 0  # line number of the block's first line (set by whoever counts lines)

    @property
    def data(self) -> memoryview:
        return memoryview(self.raw)[: self.end]


def read_blocks(
    path: str | os.PathLike[str],
    layout: TextLayout,
    *,
    start: int,
    stop: int,
    block_size: int | None = None,
) -> Iterator[TextBlock]:
    """Bytes ``[start, stop)`` of the file as blocks of whole lines (the very last may lack its line end)."""
    if layout.encoding != "utf-8":
        yield from _decoded_blocks(path, layout, start=start, stop=stop, block_size=block_size)
        return
    size = block_size or BLOCK_SIZE
    pos = start
    with open(path, "rb", buffering=0) as fh:
        while pos < stop:
            fh.seek(pos)
            chunk = fh.read(min(size, stop - pos))
            if not chunk:
                return
            cut = len(chunk) if pos + len(chunk) >= stop else chunk.rfind(b"\n") + 1
            if cut == 0:  # a line longer than a block: read a longer block
                size *= 2
                continue
            # One copy (the read); the block is a view of it, and the next read starts after its last line.
            yield TextBlock(chunk, cut, pos + cut)
            pos += cut
            size = block_size or BLOCK_SIZE


def _decoded_blocks(
    path: str | os.PathLike[str], layout: TextLayout, *, start: int, stop: int, block_size: int | None,
) -> Iterator[TextBlock]:
    """:func:`read_blocks` for files re-encoded to UTF-8 on the way (UTF-16, with a line carried over)."""
    window = _Window(path, start, stop, layout.encoding)
    carry = b""
    try:
        while True:
            chunk = window.read(block_size or BLOCK_SIZE)
            if not chunk:
                if carry:
                    yield TextBlock(carry, len(carry), stop)
                return
            data = carry + chunk if carry else chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                carry = data
                continue
            carry = data[cut:]
            yield TextBlock(data, cut, min(stop, start + window.consumed))
    finally:
        window.close()


def read_line(fh, layout: TextLayout) -> bytes:
    """The raw bytes of one line (terminator included) from ``fh``'s position, in ``layout``'s encoding.

    ``readline()`` splits UTF-16 text inside the two-byte newline; this reads whole code units.
    """
    newline = layout.newline
    if len(newline) == 1:
        return fh.readline()
    out = bytearray()
    while True:
        unit = fh.read(len(newline))
        out += unit
        if len(unit) < len(newline) or unit == newline:
            return bytes(out)


def file_head_lines(path: str | os.PathLike[str], max_lines: int = 64) -> list[str]:
    """The first lines of a file, decoded leniently, for format sniffing and headers."""
    layout = sniff_layout(path)
    with open(path, "rb") as fh:
        fh.seek(layout.bom_length)
        raw = fh.read(64 * 1024)
    text = raw.decode(layout.encoding, errors="replace")
    return text.splitlines()[:max_lines]
