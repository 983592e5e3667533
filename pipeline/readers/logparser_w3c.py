"""Log Parser ``-o:W3C`` output of the EVT input format.

Each ``#Fields:`` directive declares the fields of the rows after it (several
blocks appear when runs are appended to one file).  Values are separated by one
space and written in one of three ways, which may be mixed:

* plain: spaces stay inside values.  The line is split by the field types: the
  integer and timestamp fields (a timestamp is two tokens) anchor the line and
  the free-text fields take what lies between;
* ``-oDQuotes:ON``: string values in double quotes, ``""`` for a quote inside;
* ``-encodeDelim:ON``: spaces inside values written as ``+``.  A row whose only
  spaces are the field separators and that contains a ``+`` is decoded.

``-`` is NULL.  Splitting (:mod:`.w3c_split`) is done by RE2 patterns built
from the field list, run by pyarrow over whole batches; only rows that can be IPSec driver events are split
at all when ``SourceName`` is present (the others are counted, except lines with
fewer separators than fields, which are damaged and reported as malformed).
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..issues import IssueLog
from .evt_fields import TEXT, TIMESTAMP, TOKEN, canonical_field, field_type
from .textfile import LineBatch, as_text, null_where, read_rows, sniff_layout
from .w3c_split import split_lines

SPLIT_WORKERS = max(1, min(4, os.cpu_count() or 1))
#: Jobs waiting for a worker beyond those running (memory: a few read blocks each).
JOBS_QUEUED = 2
T = TypeVar("T")
_SEPARATOR = "\x1f"  # pyarrow splits on this: it never occurs in a text export, so a row is a line


@dataclass
class EvtRows:
    """A batch of EVT rows: string columns named after the fields, plus ``_line``."""

    table: pa.Table
    bytes_done: int
    other_events: int = 0  # rows read and counted but not split (cannot be drops)


@dataclass
class W3CState:
    """What a later run needs to resume the file mid-way: the field list in force."""

    fields: list[str] | None = None
    lines: int = 0
    extra: dict = field(default_factory=dict)


def read_w3c(
    path: str | os.PathLike[str],
    issues: IssueLog,
    *,
    start: int = 0,
    first_line: int = 1,
    state: W3CState | None = None,
    wanted: frozenset[str] | None = None,
    then: Callable[[EvtRows | None, IssueLog, int], T] | None = None,
    block_size: int | None = None,
    include_tail: bool = True,
) -> Iterator[EvtRows] | Iterator[T]:
    """Yield :class:`EvtRows` batches from a W3C export, from byte ``start`` on.

    ``state`` carries the field list across calls and is updated in place, so
    after the iteration it describes the end of the complete part of the file.
    ``wanted`` limits the fields returned (all when None): unused fields are not cleaned.
    ``then(rows, issues, k)``, when given, runs on the worker thread right after the
    k-th batch is split (rows None when nothing was left), and its results are
    yielded instead, in order (None results are dropped): the next stage of the
    pipeline runs on all cores too.  ``include_tail=False`` stops at the end of the last complete line.
    """
    state = state if state is not None else W3CState()
    state.lines = first_line - 1
    layout = sniff_layout(path)
    # Splitting is pyarrow compute, which releases the GIL: batches are split on all cores, in order.
    # A few jobs wait in the queue, so the workers have work while this thread hands out results.
    with ThreadPoolExecutor(max_workers=SPLIT_WORKERS, thread_name_prefix="w3c") as pool:
        pending: deque = deque()
        tickets = itertools.count()
        for batch in read_rows(
            path,
            layout,
            start=start,
            first_line=first_line,
            column_names=["line"],
            delimiter=_SEPARATOR,
            quoted=False,
            issues=issues,
            block_size=block_size,
            include_tail=include_tail,
        ):
            for job in _segments(batch, state, wanted):
                log = IssueLog(issues.file, limit=None)  # merged in order, then limited
                pending.append((pool.submit(_split_job, job, log, then, next(tickets)), log))
            while len(pending) > SPLIT_WORKERS + JOBS_QUEUED:
                yield from _collect(pending.popleft(), issues)
        while pending:
            yield from _collect(pending.popleft(), issues)


def _split_job(job: _Segment, log: IssueLog, then, ticket: int):
    """Split one segment, then run ``then`` on it: exactly once per ticket, even when splitting fails.

    The next stage may keep state in ticket order (``SourceContext.job``): a ticket that never
    reached it would leave every later job waiting for its turn, and the reader waiting for them.
    """
    try:
        rows = _split_segment(job, log)
    except BaseException:
        if then is not None:
            then(None, log, ticket)
        raise
    return then(rows, log, ticket) if then is not None else rows


def _collect(job: tuple[Future, IssueLog], issues: IssueLog) -> Iterator:
    future, log = job
    rows = future.result()
    issues.merge(log)
    if rows is not None:
        yield rows


def _segments(batch: LineBatch, state: W3CState, wanted: frozenset[str] | None) -> Iterator[_Segment]:
    """The runs of data lines of a batch, each with the fields in force, applying directives in order."""
    lines = batch.table.column("line")  # binary: made text on the worker (UTF-8 checks cost per byte)
    numbers = batch.lines
    state.lines = batch.last_line
    if len(lines) == 0:
        return
    is_directive = pc.starts_with(lines, b"#").to_numpy(zero_copy_only=False)
    directive_rows = np.flatnonzero(is_directive)
    bounds = [*directive_rows.tolist(), len(lines)]
    segment_start = 0
    for stop in bounds:
        if stop > segment_start:
            yield _Segment(lines.slice(segment_start, stop - segment_start), numbers[segment_start:stop],
                           list(state.fields) if state.fields else None, batch.bytes_done, wanted)
        if stop < len(lines):
            _apply_directive(as_text(lines.slice(stop, 1))[0].as_py(), state)
        segment_start = stop + 1


def _blank(lines: pa.Array) -> np.ndarray:
    """Mask of empty or whitespace-only lines; only lines that start with whitespace are trimmed to tell."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    empty = offsets[1:] == offsets[:-1]
    if empty.all():
        return empty
    data = np.frombuffer(lines.buffers()[2], dtype=np.uint8)
    first = data[np.minimum(offsets[:-1], len(data) - 1)]
    # ASCII whitespace, or a byte of a multi-byte character (which may be Unicode whitespace)
    suspect = np.flatnonzero(~empty & (np.isin(first, _WHITESPACE) | (first >= 0x80)))
    if len(suspect):
        trimmed = pc.utf8_rtrim_whitespace(as_text(lines.take(pa.array(suspect))))
        empty[suspect] = pc.equal(pc.binary_length(trimmed), 0).to_numpy(zero_copy_only=False)
    return empty


_WHITESPACE = np.frombuffer(b" \t\r\n\x0b\x0c", dtype=np.uint8)


def _byte_at_is(values: pa.Array, position: int, byte: bytes) -> bool:
    """True when every non-null value has ``byte`` at ``position`` (a cheap test before a regex rewrite)."""
    if values.null_count:
        values = values.drop_null()
    if len(values) == 0:
        return True
    if values.type != pa.string():
        return False
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset : values.offset + len(values) + 1]
    if (np.diff(offsets) <= position).any():
        return False
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8)
    return bool((data[offsets[:-1] + position] == byte[0]).all())


def _apply_directive(text: str, state: W3CState) -> None:
    key, _, value = text[1:].partition(":")
    if key.strip().lower() == "fields":
        state.fields = [canonical_field(f) for f in value.split()]


@dataclass
class _Segment:
    """A run of data lines under one ``#Fields:`` directive: one job for a worker."""

    lines: pa.Array  # binary: made text on the worker (UTF-8 checks cost per byte)
    numbers: np.ndarray  # line number of each
    fields: list[str] | None  # the #Fields: in force (None: no directive yet)
    bytes_done: int
    wanted: frozenset[str] | None


def _split_segment(segment: _Segment, issues: IssueLog) -> EvtRows | None:
    """The EVT rows of one segment: blank lines dropped, other events counted, the rest split and cleaned.

    Lines arrive as bytes; only those that can be drops are checked as UTF-8 (a cost per byte).
    None when nothing is left to extract (no lines, or no #Fields: to read them by).
    """
    fields = segment.fields
    lines, numbers = _without_blank_lines(segment.lines, segment.numbers)
    if len(lines) == 0:
        return None
    if not fields:
        _report_lines_before_fields(lines, numbers, issues)
        return None
    lines, numbers, other = _set_aside_other_events(lines, numbers, fields, issues)
    if len(lines) == 0:
        return _no_rows(segment, other)
    text = as_text(lines)
    # (pyarrow's plain substring search is slower than RE2's literal search, hence the regexes)
    quoted = bool(pc.any(pc.match_substring_regex(text, '"')).as_py())
    used = {i for i, name in enumerate(fields) if segment.wanted is None or name in segment.wanted}
    parts, text, numbers = _split_fitting_lines(text, numbers, fields, quoted, used, issues)
    if len(text) == 0:
        return _no_rows(segment, other)
    encoded = _encoded_delimiters(text, fields)
    columns: dict[str, pa.Array] = {}
    for i, name in enumerate(fields):
        if name not in columns and (segment.wanted is None or name in segment.wanted):
            columns[name] = _clean_value(parts[i], name, quoted, encoded)
    columns["_line"] = pa.array(numbers, pa.int64())
    return EvtRows(pa.table(columns), segment.bytes_done, other)


def _no_rows(segment: _Segment, other: int) -> EvtRows:
    return EvtRows(pa.table({"_line": pa.array([], pa.int64())}), segment.bytes_done, other)


def _without_blank_lines(lines: pa.Array, numbers: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    blank = _blank(lines)
    if not blank.any():
        return lines, numbers
    keep = ~blank
    return lines.filter(pa.array(keep)), numbers[keep]


def _report_lines_before_fields(lines: pa.Array, numbers: np.ndarray, issues: IssueLog) -> None:
    """Data with no ``#Fields:`` to read it by: the first five lines named, the rest counted as one range."""
    for text, line in zip(as_text(lines.slice(0, 5)).to_pylist(), numbers[:5], strict=False):
        issues.malformed(int(line), "data line before any #Fields: directive", text)
    if len(lines) > 5:
        issues.add(f"lines {int(numbers[5])}-{int(numbers[-1])}", "malformed",
                   "data lines before any #Fields: directive", count=len(lines) - 5)


def _set_aside_other_events(lines: pa.Array, numbers: np.ndarray, fields: list[str],
                            issues: IssueLog) -> tuple[pa.Array, np.ndarray, int]:
    """The lines that can be IPSec driver events, and how many others there were.

    Only with a ``SourceName`` field can a line be told to be another source's without
    splitting it: a line that does not mention IPSec anywhere is not one.  Such a line with
    fewer separators than fields is damaged (e.g. cut short), not another event: malformed.
    """
    if "SourceName" not in fields:
        return lines, numbers, 0
    candidate = pc.match_substring_regex(lines, "(?i)ipsec")
    if pc.all(candidate).as_py():
        return lines, numbers, 0
    keep = candidate.to_numpy(zero_copy_only=False)
    enough = f"^(?:[^ ]* ){{{len(fields) - 1}}}"  # at least one separator between each two fields
    short = ~keep & ~pc.match_substring_regex(lines, enough).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(short).tolist():
        issues.malformed(int(numbers[i]), f"too few values for #Fields: {' '.join(fields)}",
                         as_text(lines.slice(i, 1))[0].as_py())
    return lines.filter(candidate), numbers[keep], int((~keep & ~short).sum())


def _split_fitting_lines(text: pa.Array, numbers: np.ndarray, fields: list[str], quoted: bool, used: set[int],
                         issues: IssueLog) -> tuple[dict[int, pa.Array], pa.Array, np.ndarray]:
    """Raw values of each field (:func:`.split_lines`) of the lines that fit the field list; the others malformed."""
    parts, matched = split_lines(text, fields, quoted, used)
    if pc.all(matched).as_py():
        return parts, text, numbers
    keep = matched.to_numpy(zero_copy_only=False)
    for j in np.flatnonzero(~keep).tolist():
        issues.malformed(int(numbers[j]), f"does not fit #Fields: {' '.join(fields)}", text[j].as_py())
    return {i: v.filter(matched) for i, v in parts.items()}, text.filter(matched), numbers[keep]


def _encoded_delimiters(text: pa.Array, fields: list[str]) -> pa.Array | None:
    """Mask of ``-encodeDelim:ON`` lines, or None when there are none.

    Such a line holds a ``+`` and no spaces but the separators (one more per timestamp
    when timestamps keep their space): a ``+`` in a plain line is a real character.
    """
    has_plus = pc.match_substring_regex(text, r"\+")
    if not pc.any(has_plus).as_py():
        return None
    n_ts = sum(1 for f in fields if field_type(f) == TIMESTAMP)
    spaces = pc.count_substring(text, " ")
    encoded = pc.and_(
        pc.or_(pc.equal(spaces, len(fields) - 1), pc.equal(spaces, len(fields) - 1 + n_ts)),
        has_plus,
    )
    return encoded if pc.any(encoded).as_py() else None


def _clean_value(value: pa.Array, name: str, quoted: bool, encoded: pa.Array | None) -> pa.Array:
    """A field's raw values as the extractor reads them.

    Quotes taken off, ``+`` decoded, timestamps with a space, ``-`` NULL.
    """
    if quoted:
        is_quoted = pc.match_substring_regex(value, r'^".*"$')
        inner = pc.replace_substring(pc.utf8_slice_codeunits(value, 1, -1), '""', '"')
        value = pc.if_else(is_quoted, inner, value)
    kind = field_type(name)
    if kind == TIMESTAMP and not _byte_at_is(value, 10, b" "):
        value = pc.replace_substring_regex(value, r"^(\d{4}-\d{2}-\d{2})[T+]", r"\1 ")
    elif kind in (TEXT, TOKEN) and encoded is not None:
        value = pc.if_else(encoded, pc.replace_substring(value, "+", " "), value)
    return null_where(value, pc.equal(value, "-"))
