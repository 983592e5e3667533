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
) -> Iterator[EvtRows] | Iterator[T]:
    """Yield :class:`EvtRows` batches from a W3C export, from byte ``start`` on.

    ``state`` carries the field list across calls and is updated in place, so
    after the iteration it describes the end of the complete part of the file.
    ``wanted`` limits the fields returned (all when None): unused fields are not cleaned.
    ``then(rows, issues, k)``, when given, runs on the worker thread right after the
    k-th batch is split (rows None when nothing was left), and its results are
    yielded instead, in order (None results are dropped): the next stage of the
    pipeline runs on all cores too.
    """
    state = state if state is not None else W3CState()
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
        ):
            for job in _segments(batch, state, wanted):
                log = IssueLog(issues.file, limit=None)  # merged in order, then limited
                pending.append((pool.submit(_split_job, job, log, then, next(tickets)), log))
            while len(pending) > SPLIT_WORKERS + JOBS_QUEUED:
                yield from _collect(pending.popleft(), issues)
        while pending:
            yield from _collect(pending.popleft(), issues)


def _split_job(job: tuple, log: IssueLog, then, ticket: int):
    """Split one segment, then run ``then`` on it: exactly once per ticket, even when splitting fails.

    The next stage may keep state in ticket order (``SourceContext.job``): a ticket that never
    reached it would leave every later job waiting for its turn, and the reader waiting for them.
    """
    try:
        rows = _split_segment(*job, log)
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


def _segments(batch: LineBatch, state: W3CState, wanted: frozenset[str] | None) -> Iterator[tuple]:
    """Arguments of :func:`_split_segment` for each run of data lines, applying directives in order."""
    lines = batch.table.column("line")  # binary: made text on the worker (UTF-8 checks cost per byte)
    numbers = batch.lines
    if len(lines) == 0:
        return
    is_directive = pc.starts_with(lines, b"#").to_numpy(zero_copy_only=False)
    directive_rows = np.flatnonzero(is_directive)
    bounds = [*directive_rows.tolist(), len(lines)]
    segment_start = 0
    for stop in bounds:
        if stop > segment_start:
            yield (lines.slice(segment_start, stop - segment_start), numbers[segment_start:stop],
                   list(state.fields) if state.fields else None, batch.bytes_done, wanted)
        if stop < len(lines):
            _apply_directive(as_text(lines.slice(stop, 1))[0].as_py(), state)
        segment_start = stop + 1
    state.lines = int(numbers[-1])


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


def _split_segment(
    lines: pa.Array,
    numbers: np.ndarray,
    fields: list[str] | None,
    bytes_done: int,
    wanted: frozenset[str] | None,
    issues: IssueLog,
) -> EvtRows | None:
    # Lines arrive as bytes; only those that can be drops are checked as UTF-8 (a cost per byte).
    lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    blank = _blank(lines)
    if blank.any():
        keep = ~blank
        lines, numbers = lines.filter(pa.array(keep)), numbers[keep]
    if len(lines) == 0:
        return None
    if not fields:
        for text, line in zip(as_text(lines.slice(0, 5)).to_pylist(), numbers[:5], strict=False):
            issues.malformed(int(line), "data line before any #Fields: directive", text)
        if len(lines) > 5:
            issues.add(f"lines {int(numbers[5])}-{int(numbers[-1])}", "malformed",
                       "data lines before any #Fields: directive", count=len(lines) - 5)
        return None

    other = 0
    if "SourceName" in fields:
        candidate = pc.match_substring_regex(lines, "(?i)ipsec")
        if not pc.all(candidate).as_py():
            keep = candidate.to_numpy(zero_copy_only=False)
            # A line with fewer separators than fields is damaged (e.g. cut short), not another event.
            enough = f"^(?:[^ ]* ){{{len(fields) - 1}}}"  # at least one separator between each two fields
            short = ~keep & ~pc.match_substring_regex(lines, enough).to_numpy(zero_copy_only=False)
            for i in np.flatnonzero(short).tolist():
                issues.malformed(int(numbers[i]), f"too few values for #Fields: {' '.join(fields)}",
                                 as_text(lines.slice(i, 1))[0].as_py())
            other = int((~keep & ~short).sum())
            lines, numbers = lines.filter(candidate), numbers[keep]
    if len(lines) == 0:
        return EvtRows(pa.table({"_line": pa.array([], pa.int64())}), bytes_done, other)
    lines = as_text(lines)

    # (pyarrow's plain substring search is slower than RE2's literal search, hence the regexes)
    quoted = pc.any(pc.match_substring_regex(lines, '"')).as_py()
    used = {i for i, name in enumerate(fields) if wanted is None or name in wanted}
    parts, matched = split_lines(lines, fields, quoted, used)
    if not pc.all(matched).as_py():
        keep = matched.to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(~keep):
            issues.malformed(int(numbers[i]), f"does not fit #Fields: {' '.join(fields)}", lines[int(i)].as_py())
        parts = {i: v.filter(matched) for i, v in parts.items()}
        lines, numbers = lines.filter(matched), numbers[keep]
    if len(lines) == 0:
        return EvtRows(pa.table({"_line": pa.array([], pa.int64())}), bytes_done, other)

    n_ts = sum(1 for f in fields if field_type(f) == TIMESTAMP)
    encoded = None
    has_plus = pc.match_substring_regex(lines, r"\+")
    if pc.any(has_plus).as_py():
        spaces = pc.count_substring(lines, " ")
        encoded = pc.and_(
            pc.or_(pc.equal(spaces, len(fields) - 1), pc.equal(spaces, len(fields) - 1 + n_ts)),
            has_plus,
        )
        if not pc.any(encoded).as_py():
            encoded = None
    columns: dict[str, pa.Array] = {}
    for i, name in enumerate(fields):
        if name in columns or (wanted is not None and name not in wanted):
            continue
        value = parts[i]
        if quoted:
            is_quoted = pc.match_substring_regex(value, r'^".*"$')
            inner = pc.replace_substring(pc.utf8_slice_codeunits(value, 1, -1), '""', '"')
            value = pc.if_else(is_quoted, inner, value)
        kind = field_type(name)
        if kind == TIMESTAMP and not _byte_at_is(value, 10, b" "):
            value = pc.replace_substring_regex(value, r"^(\d{4}-\d{2}-\d{2})[T+]", r"\1 ")
        elif kind in (TEXT, TOKEN) and encoded is not None:
            value = pc.if_else(encoded, pc.replace_substring(value, "+", " "), value)
        columns[name] = null_where(value, pc.equal(value, "-"))
    columns["_line"] = pa.array(numbers, pa.int64())
    return EvtRows(pa.table(columns), bytes_done, other)
