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
from collections.abc import Callable, Iterator
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
#: The longest line read, in bytes (after re-encoding to UTF-8).  A longer line is never held whole: it is
#: skipped, reported as malformed with its line number, its length and its first characters, and the lines
#: after it are read.  No export format writes such lines (a W3C line of the longest EVT fields is a few KiB).
#: Exact as long as it is no smaller than the blocks read (a block always starts at a line's start).
MAX_LINE = 16 << 20


def max_line_text() -> str:
    """:data:`MAX_LINE` as people read it (``16 MiB``)."""
    return f"{MAX_LINE >> 20} MiB" if MAX_LINE >= 1 << 20 else f"{MAX_LINE:,} bytes"


#: Bytes read at a time while passing over the rest of a line longer than :data:`MAX_LINE`.
_SKIP_PIECE = 1 << 20


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

    def readinto(self, buffer) -> int:
        want = len(buffer)
        if self._decoder is None:
            data = self._fh.read(min(want, self._left)) if self._left > 0 else b""
            self._left -= len(data)
            self.consumed += len(data)
        else:
            while len(self._pending) < want and self._left > 0:
                raw = self._fh.read(min(1 << 20, self._left))
                if not raw:  # the file ended early (truncated while read): no more to come
                    self._left = 0
                self._left -= len(raw)
                self.consumed += len(raw)
                self._pending += self._decoder.decode(raw, final=self._left <= 0).encode("utf-8")
            data, self._pending = self._pending[:want], self._pending[want:]
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._fh.close()
        super().close()


def decode_text(raw: bytes) -> str:
    """UTF-8, else Windows-1252 (bytes Windows-1252 leaves undefined become U+FFFD).

    Log Parser writes the ANSI code page unless told otherwise, so a non-UTF-8
    byte is most likely a Windows-1252 character, not damage.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def as_text(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Binary column -> string column; invalid UTF-8 values are decoded as Windows-1252 (:func:`decode_text`)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    try:
        return column.cast(pa.string())
    except pa.ArrowInvalid:
        return pa.array([None if raw is None else decode_text(raw) for raw in column.to_pylist()], pa.string())


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
    first_line: int = 1  # the number of the first of them

    @property
    def last_line(self) -> int:
        """The number of the batch's last physical line, a row or not: where a later run goes on from."""
        return self.first_line + self.line_count - 1


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
    skip_rejected: Callable[[int, str], bool] | None = None,
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
    skip_rejected: Callable[[int, str], bool] | None = None,
) -> LineBatch:
    """The rows of one block (binary columns), with their line numbers; see :func:`read_rows`.

    Needs nothing but the block: it may run on any thread.
    """
    if block.too_long is not None:
        length, head = block.too_long
        issues.malformed(block.first_line, f"line longer than {max_line_text()} ({length:,} bytes): skipped",
                         decode_text(head))
        empty = pa.table({name: pa.array([], pa.binary()) for name in column_names})
        return LineBatch(empty, np.zeros(0, dtype=np.int64), block.bytes_done, 1, block.first_line)
    table, rejects = parse_lines(block.data, _Dialect(tuple(column_names), delimiter, quoted))
    rejected = []
    for number, reason, text in rejects:
        line = block.first_line + number - 1
        rejected.append(line)
        if skip_rejected is None or not skip_rejected(line, text):
            issues.malformed(line, reason, text)
    # Map the k-th accepted row to its physical line: rejected lines are holes.
    rel = np.asarray(sorted(r - block.first_line for r in rejected), dtype=np.int64)
    idx = np.arange(table.num_rows, dtype=np.int64)
    if len(rel):
        idx = idx + np.searchsorted(rel - np.arange(len(rel)), idx, side="right")
    return LineBatch(table, idx + block.first_line, block.bytes_done, table.num_rows + len(rejected),
                     block.first_line)


#: A line the parser rejected: (its number within the parsed data, from 1; why; its text).
Reject = tuple[int, str, str]


@dataclass(frozen=True)
class _Dialect:
    """How lines are cut into fields: pyarrow's CSV parser with a reader's columns and delimiter."""

    column_names: tuple[str, ...]
    delimiter: str
    quoted: bool

    def parse(self, data: bytes | memoryview, *, collect: bool = False,
              encoding: str = "utf8") -> tuple[pa.Table, list[Reject]]:
        """The rows of ``data``, and (``collect``) the rows with the wrong number of fields, which are skipped.

        Without ``collect`` the first such row raises ``ArrowInvalid``: no Python call is made
        for any row, and pyarrow cannot hand over a row that is not valid UTF-8 (it fails to
        decode the row's text before calling the handler, and then gives up on the whole input).
        The parser works through the data in PARSE_PIECE pieces (measured faster than one piece:
        cache-sized); a line longer than a piece makes it give up ("straddling"), and then the
        data is parsed in one piece.
        """
        buffer = pa.py_buffer(data)
        convert = pacsv.ConvertOptions(column_types={name: pa.binary() for name in self.column_names},
                                       strings_can_be_null=False, quoted_strings_can_be_null=False)
        for piece in (PARSE_PIECE, len(buffer) + 1):
            rejects: list[Reject] = []

            def on_invalid(row: pacsv.InvalidRow, rejects: list[Reject] = rejects) -> str:
                reason = f"expected {row.expected_columns} fields, found {row.actual_columns}"
                rejects.append((row.number if row.number is not None else 1, reason, row.text))
                return "skip"

            parse_options = pacsv.ParseOptions(
                delimiter=self.delimiter,
                quote_char='"' if self.quoted else False,
                double_quote=self.quoted,
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid if collect else None,
            )
            read_options = pacsv.ReadOptions(column_names=list(self.column_names), use_threads=False,
                                              encoding=encoding, block_size=piece)
            try:
                table = pacsv.read_csv(pa.BufferReader(buffer), read_options=read_options,
                                       parse_options=parse_options, convert_options=convert)
            except pa.ArrowInvalid as exc:
                if "straddling" not in str(exc) or piece != PARSE_PIECE:
                    raise
                continue
            return table, rejects
        raise AssertionError("unreachable: the second attempt parses in one piece")

    def stand_in(self) -> bytes:
        """A line the parser always rejects (one field too many) and can always decode."""
        return (self.delimiter * len(self.column_names)).encode("ascii")


def parse_lines(data: bytes | memoryview, dialect: _Dialect) -> tuple[pa.Table, list[Reject]]:
    """The rows of ``data``: exactly one row or one :data:`Reject` for every physical line.

    The usual block is parsed once, without a Python call per row.  A block with a
    line the parser rejects, or whose rows might not be its lines (a carriage return
    inside a line, which pyarrow takes for a line end; a quote left open, which makes
    it read on into the next lines), is parsed again with care (:func:`_parse_carefully`).
    """
    try:
        table, _ = dialect.parse(data)
    except pa.ArrowInvalid:
        return _parse_carefully(data, dialect)
    # A lone CR adds a row, an LF inside a quoted value (a quote left open) takes one away: with no
    # lone CR, the row count tells whether any line was read on into the next.
    cut = _has_lone_carriage_return(data) or (dialect.quoted and table.num_rows != _count_lines(data))
    return _parse_carefully(data, dialect) if cut else (table, [])


def _count_lines(data: bytes | memoryview) -> int:
    """Physical lines in ``data``: its LFs, and a last line without one."""
    count = int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == 0x0A))
    return count + 1 if len(data) and data[-1] != 0x0A else count


def _whole(data: bytes | memoryview) -> pa.Array:
    """``data`` as a one-value binary array (no copy), for compute kernels that scan it at C speed."""
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    return pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)])


def _has_lone_carriage_return(data: bytes | memoryview) -> bool:
    """Whether a CR is followed by anything but LF (RE2 skips to each CR with memchr: ~0.4 ms for 12 MiB)."""
    return bool(pc.match_substring_regex(_whole(data), r"\r[^\n]")[0].as_py())


def _is_utf8(data: bytes | memoryview) -> bool:
    try:
        _whole(data).cast(pa.large_string())
    except pa.ArrowInvalid:
        return False
    return True


@dataclass(frozen=True)
class _LineSpans:
    """Where each physical line of some data starts and ends (at its LF, or the data's end)."""

    starts: np.ndarray
    ends: np.ndarray

    @classmethod
    def of(cls, data: bytes | memoryview) -> _LineSpans:
        newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0x0A)
        ends = newlines if len(data) == 0 or data[-1] == 0x0A else np.append(newlines, len(data))
        starts = np.concatenate(([0], newlines + 1))[: len(ends)]
        return cls(starts.astype(np.int64), ends.astype(np.int64))

    def __len__(self) -> int:
        return len(self.ends)

    def text(self, data: bytes, i: int) -> bytes:
        """Line ``i`` without its LF."""
        return data[self.starts[i] : self.ends[i]]

    def containing(self, positions: np.ndarray) -> list[int]:
        """The lines that hold the bytes at ``positions``, each once, in order."""
        return np.unique(np.searchsorted(self.ends, positions)).tolist()

    def as_array(self, data: bytes) -> pa.Array:
        """Every line (with its line end) as a value of a binary array over ``data``, without copying."""
        offsets = np.append(self.starts, len(data)) if len(self) else np.zeros(1, dtype=np.int64)
        return pa.Array.from_buffers(pa.large_binary(), len(self), [None, pa.py_buffer(offsets),
                                                                    pa.py_buffer(data)])


#: Lines replaced before the careful parse: line index -> (why it is rejected, its original bytes).
_StandIns = dict[int, tuple[str, bytes]]


def _parse_carefully(data: bytes | memoryview, dialect: _Dialect) -> tuple[pa.Table, list[Reject]]:
    """:func:`parse_lines` for a block the quick parse could not take as it is.

    The block is prepared so that pyarrow sees one row per physical line and can hand
    over every line it rejects:

    * a CR inside a line becomes a byte the block does not hold, turned back into CR in
      the values afterwards (a line ends at LF; CR LF and LF are both line ends);
    * a line that leaves a quote open, and a line that is not valid UTF-8 and has the
      wrong number of fields, are replaced by a stand-in the parser rejects, and are
      reported with their own text (decoded as values are: :func:`decode_text`).

    Lines that are not valid UTF-8 but have the right number of fields are kept as
    they are (Windows-1252 exports are read that way).  Costs a few passes over the
    block and some Python per suspect line: only blocks with a bad line come here.
    """
    original = bytes(data)
    lines = _LineSpans.of(original)
    stand_ins: _StandIns = {}
    raw, placeholder = _hide_carriage_returns(original, lines, dialect, stand_ins)
    if dialect.quoted:
        _find_open_quotes(raw, original, lines, dialect, stand_ins)
    if not _is_utf8(raw):
        _find_undecodable_rejects(raw, original, lines, dialect, stand_ins)
    table, rejects = dialect.parse(_with_stand_ins(raw, lines, stand_ins, dialect.stand_in()), collect=True)
    cr = chr(placeholder) if placeholder is not None else None
    out: list[Reject] = []
    for number, reason, text in rejects:
        if number - 1 in stand_ins:
            reason, line = stand_ins[number - 1]
            text = decode_text(line)
        elif cr is not None:
            text = text.replace(cr, "\r")
        out.append((number, reason, text))
    if placeholder is not None:
        table = _restore_carriage_returns(table, placeholder)
    if table.num_rows + len(out) != len(lines):
        raise RuntimeError(f"line numbering lost: {len(lines)} lines gave {table.num_rows} rows "
                           f"and {len(out)} rejected lines")
    return table, out


def _hide_carriage_returns(original: bytes, lines: _LineSpans, dialect: _Dialect,
                           stand_ins: _StandIns) -> tuple[bytes, int | None]:
    """``original`` with each CR that is not followed by LF replaced by a byte it does not hold.

    Returns the data and that byte (None when nothing was replaced).  When every
    candidate byte occurs (binary junk), the lines holding such a CR get stand-ins instead.
    """
    octets = np.frombuffer(original, dtype=np.uint8)
    cr = np.flatnonzero(octets[:-1] == 0x0D)
    lone = cr[octets[cr + 1] != 0x0A]
    if not len(lone):
        return original, None
    special = {0x0A, 0x0D, ord(dialect.delimiter), ord('"')}
    free = next((b for b in range(1, 0x80) if b not in special and bytes([b]) not in original), None)
    if free is None:
        for i in lines.containing(lone):
            stand_ins[i] = ("a carriage return inside the line", lines.text(original, i))
        return original, None
    hidden = octets.copy()
    hidden[lone] = free
    return hidden.tobytes(), free


def _restore_carriage_returns(table: pa.Table, placeholder: int) -> pa.Table:
    hidden = bytes([placeholder])
    return pa.table({name: pc.replace_substring(table.column(name), hidden, b"\r") for name in table.column_names})


def _find_open_quotes(raw: bytes, original: bytes, lines: _LineSpans, dialect: _Dialect,
                      stand_ins: _StandIns) -> None:
    """Stand-ins for the lines that end inside a quoted value.

    pyarrow reads such a value on into the next lines even with ``newlines_in_values``
    off, swallowing them.  The pattern is its quoting, line by line: a field that
    starts with a quote is quoted until a quote not followed by another (``""`` is a
    quote inside), and runs on unquoted after that; any other field is literal.
    """
    d = f"\\x{ord(dialect.delimiter):02x}"
    field = f'"(?:[^"]|"")*"(?:[^{d}"][^{d}]*)?|[^{d}"][^{d}]*|'
    closed = pc.match_substring_regex(lines.as_array(raw), f"^(?:{field})(?:{d}(?:{field}))*$")
    for i in np.flatnonzero(~closed.to_numpy(zero_copy_only=False)).tolist():
        stand_ins.setdefault(i, ("a quoted value is not closed on its line", lines.text(original, i)))


def _find_undecodable_rejects(raw: bytes, original: bytes, lines: _LineSpans, dialect: _Dialect,
                              stand_ins: _StandIns) -> None:
    """Stand-ins for the lines that are not valid UTF-8 and have the wrong number of fields.

    Which ones the parser rejects is found by parsing just the undecodable lines, read
    as Latin-1 (every byte is a character, the delimiter and quote stay what they are).
    """
    suspects = lines.containing(np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) >= 0x80))
    undecodable = [i for i in suspects if i not in stand_ins and not _decodes(lines.text(raw, i))]
    if not undecodable:
        return
    alone = b"\n".join(lines.text(raw, i) for i in undecodable)
    _, rejects = dialect.parse(alone, collect=True, encoding="latin1")
    for number, reason, _ in rejects:
        i = undecodable[number - 1]
        stand_ins[i] = (reason, lines.text(original, i))


def _decodes(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _with_stand_ins(raw: bytes, lines: _LineSpans, stand_ins: _StandIns, stand_in: bytes) -> bytes:
    if not stand_ins:
        return raw
    pieces = []
    pos = 0
    for i in sorted(stand_ins):
        pieces += [raw[pos : lines.starts[i]], stand_in]
        pos = int(lines.ends[i])
    pieces.append(raw[pos:])
    return b"".join(pieces)


@dataclass
class TextBlock:
    """Whole lines of a file, re-encoded to UTF-8: ``raw[:end]``.

    A line longer than :data:`MAX_LINE` comes as a block of its own that holds none of it:
    ``too_long`` is (its length in bytes, its first bytes) and the data is one empty line.
    """

    raw: bytes
    end: int
    bytes_done: int  # bytes of the file consumed so far (for progress)
    first_line: int = 0  # line number of the block's first line (set by whoever counts lines)
    too_long: tuple[int, bytes] | None = None

    @property
    def data(self) -> memoryview:
        return memoryview(self.raw)[: self.end]


def _long_line(length: int, head: bytes, bytes_done: int) -> TextBlock:
    return TextBlock(b"\n", 1, bytes_done, too_long=(length, head[:400]))


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
            wanted = min(size, stop - pos)
            chunk = fh.read(wanted)
            if len(chunk) < wanted:
                # The file ended before `stop`: it was truncated while being read.  Its whole lines are
                # read; the cut line is not (it would be a wrong value, e.g. an address missing a digit),
                # and the caller sees the file shrink and does not record it as read.
                cut = chunk.rfind(b"\n") + 1
                if cut:
                    yield TextBlock(chunk, cut, pos + cut)
                return
            cut = len(chunk) if pos + len(chunk) >= stop else chunk.rfind(b"\n") + 1
            if cut == 0 and len(chunk) >= MAX_LINE:  # a line too long to hold: pass over it, name it
                end = _end_of_line(fh, pos + len(chunk), stop)
                yield _long_line(end - pos, chunk, end)
                pos = end
                size = block_size or BLOCK_SIZE
                continue
            if cut == 0:  # a line longer than a block: read a longer block
                size = min(size * 2, MAX_LINE)
                continue
            # One copy (the read); the block is a view of it, and the next read starts after its last line.
            yield TextBlock(chunk, cut, pos + cut)
            pos += cut
            size = block_size or BLOCK_SIZE


def _end_of_line(fh, pos: int, stop: int) -> int:
    """The offset just past the LF that ends the line running through ``pos`` (``stop`` if none), read in pieces."""
    while pos < stop:
        fh.seek(pos)
        piece = fh.read(min(_SKIP_PIECE, stop - pos))
        if not piece:
            return pos
        at = piece.find(b"\n")
        if at >= 0:
            return pos + at + 1
        pos += len(piece)
    return stop


def _decoded_blocks(
    path: str | os.PathLike[str], layout: TextLayout, *, start: int, stop: int, block_size: int | None,
) -> Iterator[TextBlock]:
    """:func:`read_blocks` for files re-encoded to UTF-8 on the way (UTF-16, with a line carried over)."""
    window = _Window(path, start, stop, layout.encoding)
    carry = b""
    skipping: tuple[int, bytes] | None = None  # a line too long to hold: (bytes passed over, its first bytes)
    try:
        while True:
            chunk = window.read(block_size or BLOCK_SIZE)
            if not chunk:
                if skipping is not None:
                    yield _long_line(skipping[0], skipping[1], stop)
                elif carry:
                    yield TextBlock(carry, len(carry), stop)
                return
            if skipping is not None:
                at = chunk.find(b"\n")
                if at < 0:
                    skipping = (skipping[0] + len(chunk), skipping[1])
                    continue
                yield _long_line(skipping[0] + at + 1, skipping[1], min(stop, start + window.consumed))
                skipping, chunk = None, chunk[at + 1 :]
                if not chunk:
                    continue
            data = carry + chunk if carry else chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                if len(data) >= MAX_LINE:
                    skipping, carry = (len(data), data[:400]), b""
                else:
                    carry = data
                continue
            carry = data[cut:]
            yield TextBlock(data, cut, min(stop, start + window.consumed))
    finally:
        window.close()


def read_line(fh, layout: TextLayout, limit: int | None = None) -> bytes:
    """The raw bytes of one line (terminator included) from ``fh``'s position, in ``layout``'s encoding.

    At most ``limit`` bytes: a longer line comes back cut, without its terminator (see :func:`line_cut`).
    ``readline()`` splits UTF-16 text inside the two-byte newline; this reads whole code units.
    """
    newline = layout.newline
    limit = limit or MAX_LINE
    if len(newline) == 1:
        return fh.readline(limit)
    out = bytearray()
    while len(out) < limit:
        unit = fh.read(len(newline))
        out += unit
        if len(unit) < len(newline) or unit == newline:
            break
    return bytes(out)


def line_cut(raw: bytes, layout: TextLayout, limit: int | None = None) -> bool:
    """Whether ``raw`` from :func:`read_line` is only the start of a line longer than ``limit``."""
    return len(raw) >= (limit or MAX_LINE) and not raw.endswith(layout.newline)


def file_head_lines(path: str | os.PathLike[str], max_lines: int = 64) -> list[str]:
    """The first lines of a file, decoded leniently, for format sniffing and headers."""
    layout = sniff_layout(path)
    with open(path, "rb") as fh:
        fh.seek(layout.bom_length)
        raw = fh.read(64 * 1024)
    text = raw.decode(layout.encoding, errors="replace")
    return text.splitlines()[:max_lines]
