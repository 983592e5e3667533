"""Split Log Parser W3C data lines into field values, fast.

A plain W3C line is only splittable by field types (see :mod:`.logparser_w3c`).
The reference is one RE2 pattern with a capture group per field
(:func:`line_pattern`), but RE2 extracts captures with its slow engine (about
3 µs a line), so :func:`split_lines` tries cheaper ways first, each on the
lines the previous one left, and every way must give the reference's answer
(``tests/test_w3c_split.py`` holds them to it):

1. the usual token layout (:func:`_split_by_tokens`): every field before the
   free one (``Message`` in ``SELECT *``) takes a fixed number of space-separated
   tokens, found by one ``split_pattern``; the prefix is checked by a DFA match
   without captures; a last hex ``Data`` field is cut off by trimming hex digits;
2. the same for ``-encodeDelim:ON`` lines (one token per timestamp);
3. the general patterns (:func:`split_lines_by_pattern`), cut in three: a
   start-anchored pattern captures the fields before the free one (captures run
   over the short prefix only), an end-anchored split takes the fields after it,
   and the free field is what lies between, taken by buffer offsets.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .evt_fields import INTEGER, TEXT, TIMESTAMP, TOKEN, field_type

_RAW = {
    INTEGER: r"-?\d+",
    TIMESTAMP: r"\d{4}-\d{2}-\d{2}[ T+]\d{2}:\d{2}:\d{2}(?:\.\d+)?",
    TOKEN: r"[^ ]+",
    TEXT: r".*?",
}
#: Values tried first for free-text fields, so that two free-text fields side by side
#: ("Error event IPSec") split the way Windows writes them, not at the first space.
_PREFERRED = {
    "EventTypeName": r"(?:Error|Warning|Information|Success Audit|Failure Audit|Audit Success|Audit Failure) event",
    "EventCategoryName": r"None|\(\d+\)",
    "SourceName": r"(?i:ipsec)",
}
_QUOTED = '"(?:[^"]|"")*"'


def value_pattern(name: str, quoted: bool) -> str:
    """The alternatives one field's value may take (quoted string, preferred vocabulary, by type, NULL)."""
    raw = _RAW[field_type(name)] + "|-"
    if name in _PREFERRED:
        raw = _PREFERRED[name] + "|" + raw
    if quoted:  # RE2 reports a group that did not take part as "", so quotes stay inside the group
        raw = _QUOTED + "|" + raw
    return raw


def line_pattern(fields: list[str], quoted: bool) -> str:
    """The RE2 pattern for a whole line (one group ``v<i>`` per field); the reference for :func:`split_lines`."""
    return "^" + " ".join(f"(?P<v{i}>{value_pattern(n, quoted)})" for i, n in enumerate(fields)) + "$"


def split_lines(
    lines: pa.Array, fields: list[str], quoted: bool, wanted: set[int] | None = None
) -> tuple[dict[int, pa.Array], pa.Array]:
    """Raw values of each field (by field index) and a mask of lines that fit the field list.

    ``wanted`` limits the fields whose values are returned (all when None).  Values
    of lines that do not fit are undefined; callers filter with the mask.
    """
    texts = [i for i, name in enumerate(fields) if field_type(name) == TEXT]
    if quoted or not texts or texts[-1] == 0:
        return split_lines_by_pattern(lines, fields, quoted)
    free = texts[-1]
    values, fits = _split_by_tokens(lines, fields, free, encoded=False, wanted=wanted)
    for encoded in (True, None):
        misfit = np.flatnonzero(~fits)
        if len(misfit) == 0:
            break
        subset = lines.take(pa.array(misfit))
        mask = pa.array(~fits)
        if encoded is None:  # the general patterns, for the few lines no token layout fits
            more, more_fits = split_lines_by_pattern(subset, fields, quoted)
            more_fits = more_fits.to_numpy(zero_copy_only=False)
        else:
            more, more_fits = _split_by_tokens(subset, fields, free, encoded=encoded, wanted=wanted)
        values = {i: pc.replace_with_mask(v, mask, more[i]) for i, v in values.items()}
        fits = fits.copy()
        fits[misfit] = more_fits
    return values, pa.array(fits)


#: Field values by how many space-separated tokens they take in the usual layouts, and the
#: pattern one such value must match.  ``encoded``: ``-encodeDelim:ON`` (spaces written ``+``).
def _token_pattern(name: str, encoded: bool) -> tuple[int, str]:
    kind = field_type(name)
    if kind == TIMESTAMP:
        if encoded:
            return 1, r"\d{4}-\d{2}-\d{2}[T+]\d{2}:\d{2}:\d{2}(?:\.\d+)?|-"
        return 2, r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?"
    if kind == INTEGER:
        return 1, _RAW[INTEGER] + "|-"
    if name == "EventTypeName" and not encoded:
        return 2, "(?:Error|Warning|Information) event"
    return 1, "[^ ]+"


def _split_by_tokens(
    lines: pa.Array, fields: list[str], free: int, *, encoded: bool, wanted: set[int] | None
) -> tuple[dict[int, pa.Array], np.ndarray]:
    """The fast path of :func:`split_lines` for lines in the usual token layout.

    Every field before the free one takes a fixed number of space-separated tokens
    (a plain timestamp two, ``Information event`` two, anything else one), so one
    ``split_pattern`` finds where each value starts and ends.  A line fits when its
    prefix, read straight from the line's buffer, fully matches the layout's typed
    pattern (a DFA match, no captures).  The values are then exactly those the
    general patterns would capture: each free-text field before the free one takes
    one non-empty token, which is also the shortest value the lazy pattern can take.
    """
    layout = [_token_pattern(fields[i], encoded) for i in range(free)]
    k = sum(count for count, _ in layout)
    n = len(lines)
    if n == 0:
        return {i: lines for i in range(len(fields))}, np.zeros(0, dtype=bool)
    if lines.type != pa.string():
        lines = lines.cast(pa.string())
    parts = pc.split_pattern(lines, " ", max_splits=k)
    list_off = _offsets(parts)
    child = parts.values
    child_off = _offsets(child)
    full = np.diff(list_off) == k + 1
    token = np.minimum(np.where(full, list_off[:-1], 0)[:, None] + np.arange(k)[None, :], max(len(child) - 1, 0))
    lengths = (child_off[token + 1] - child_off[token]) if len(child) else np.zeros((n, k), np.int64)
    lengths = lengths.astype(np.int64, copy=False)
    starts = np.cumsum(lengths + 1, axis=1) - (lengths + 1)  # of each token, from the line's start
    width = np.where(full, starts[:, k - 1] + lengths[:, k - 1] + 1, 0)  # the prefix and its last separator
    fits = full & _layout_holds(lines, layout, starts, lengths)
    values: dict[int, pa.Array] = {}
    first = 0
    for i, (count, _) in enumerate(layout):
        if wanted is None or i in wanted:
            last = first + count - 1
            values[i] = _ranges(lines, starts[:, first], starts[:, last] + lengths[:, last])
        first += count
    if fields[free + 1 :] == ["Data"]:  # SELECT *: the free Message, then the hex Data
        after, after_fits = _split_hex_tail(lines, width, free, wanted)
    else:
        after, after_fits = _split_suffix(_ranges(lines, width, None), fields, free, quoted=False)
    values.update({i: v for i, v in after.items() if wanted is None or i in wanted or i == free})
    return values, fits & after_fits


def _layout_holds(lines: pa.Array, layout: list[tuple[int, str]], starts: np.ndarray,
                  lengths: np.ndarray) -> np.ndarray:
    """Mask of lines whose first tokens match the layout's patterns.

    A token of a split on single spaces never holds a space, so the untyped
    fields (``[^ ]+``) only need to be non-empty.  The typed ones (integers,
    timestamps, the event type name) lie together near the start: that stretch
    is copied out and matched by one DFA pattern, which costs per byte.
    """
    typed = [i for i, (_, pattern) in enumerate(layout) if pattern != "[^ ]+"]
    ok = np.asarray((lengths > 0).all(axis=1))
    if not typed:
        return ok
    first_token = [sum(count for count, _ in layout[:i]) for i in range(len(layout) + 1)]
    lo, hi = first_token[typed[0]], first_token[typed[-1] + 1] - 1  # the stretch's first and last token
    stretch = _ranges(lines, starts[:, lo], starts[:, hi] + lengths[:, hi])
    pattern = "^" + " ".join(f"(?:{p})" for _, p in layout[typed[0] : typed[-1] + 1]) + "$"
    return ok & pc.match_substring_regex(stretch, pattern).to_numpy(zero_copy_only=False)


_HEX_OR_NULL = "0123456789ABCDEFabcdef-"


def _split_hex_tail(
    lines: pa.Array, width: np.ndarray, free: int, wanted: set[int] | None
) -> tuple[dict[int, pa.Array], np.ndarray]:
    """The free field and a last ``Data`` field (hex digits, or ``-``) from what follows the prefix.

    Trimming hex digits off the end finds the separator without splitting or
    copying the long free text; lines whose Data is not hex do not fit (the
    general patterns take them).
    """
    offsets = _offsets(lines)
    length = np.diff(offsets)
    tail = _interleaved(lines, width, None)
    kept = pc.binary_length(pc.ascii_rtrim(tail, _HEX_OR_NULL)).to_numpy(zero_copy_only=False)[0::2]
    separator = np.asarray(width, dtype=np.int64) + kept - 1  # where the separator should be, from line start
    data = np.frombuffer(lines.buffers()[2], dtype=np.uint8)
    fits = (kept >= 1) & (separator + 1 < length)
    at = np.where(fits, offsets[:-1] + separator, 0)
    fits &= data[at] == 0x20 if len(data) else fits
    values = {free: _ranges(lines, width, np.maximum(separator, width))}
    if wanted is None or free + 1 in wanted:
        values[free + 1] = _ranges(lines, np.minimum(separator + 1, length), None)
    return values, fits


def split_lines_by_pattern(lines: pa.Array, fields: list[str], quoted: bool) -> tuple[dict[int, pa.Array], pa.Array]:
    """:func:`split_lines` by the general patterns: any layout, quoted values, free text anywhere."""
    texts = [i for i, name in enumerate(fields) if field_type(name) == TEXT]
    if not texts:
        parts = pc.extract_regex(lines, line_pattern(fields, quoted))
        return {i: parts.field(f"v{i}") for i in range(len(fields))}, pc.fill_null(pc.is_valid(parts), False)
    free = texts[-1]
    values: dict[int, pa.Array] = {}
    fits = pc.is_valid(lines)
    rest = lines
    if free > 0:
        prefix = "^" + " ".join(f"(?P<v{i}>{value_pattern(fields[i], quoted)})" for i in range(free)) + " "
        parts = pc.extract_regex(lines, prefix)
        fits = pc.and_(fits, pc.is_valid(parts))
        values.update({i: parts.field(f"v{i}") for i in range(free)})
        width = pa.scalar(free, pa.int32())  # the separators, plus each value's bytes
        for i in range(free):
            width = pc.add(width, pc.binary_length(values[i]))
        rest = _ranges(lines, pc.fill_null(width, 0).to_numpy(zero_copy_only=False).astype(np.int64), None)
    after, after_fits = _split_suffix(rest, fields, free, quoted)
    values.update(after)
    return values, pc.fill_null(pc.and_(fits, pa.array(after_fits)), False)


def _split_suffix(rest: pa.Array, fields: list[str], free: int, quoted: bool) -> tuple[dict[int, pa.Array], np.ndarray]:
    """The free field and the fields after it (none may contain a space), from what follows the prefix."""
    values: dict[int, pa.Array] = {}
    fits = np.ones(len(rest), dtype=bool)
    after = list(range(free + 1, len(fields)))
    if after:
        tokens = sum(2 if field_type(fields[i]) == TIMESTAMP else 1 for i in after)
        pieces = pc.split_pattern(rest, " ", max_splits=tokens, reverse=True)
        ok = pc.fill_null(pc.equal(pc.list_value_length(pieces), tokens + 1), False)
        if not pc.all(ok).as_py():  # too few tokens: split a stand-in, so that every list is long enough
            pieces = pc.split_pattern(pc.if_else(ok, rest, " " * tokens), " ", max_splits=tokens, reverse=True)
        position = 1
        for i in after:
            if field_type(fields[i]) == TIMESTAMP:
                value = pc.binary_join_element_wise(pc.list_element(pieces, position),
                                                    pc.list_element(pieces, position + 1), " ")
                position += 2
            else:
                value = pc.list_element(pieces, position)
                position += 1
            if field_type(fields[i]) == TOKEN and not quoted:  # a piece of a split on spaces: only not empty
                ok = pc.and_(ok, pc.greater(pc.binary_length(value), 0))
            else:
                ok = pc.and_(ok, pc.match_substring_regex(value, "^(?:" + value_pattern(fields[i], quoted) + ")$"))
            values[i] = value
        fits = pc.fill_null(ok, False).to_numpy(zero_copy_only=False)
        rest = pc.list_element(pieces, 0)
    values[free] = rest
    return values, fits


def _offsets(array: pa.Array) -> np.ndarray:
    """The int32 offsets of a string or list array, as int64, for its own slice."""
    raw = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset : array.offset + len(array) + 1]
    return raw.astype(np.int64)


def _interleaved(strings: pa.Array, begin: np.ndarray, end: np.ndarray | None) -> pa.Array:
    """A zero-copy array of 2n strings over ``strings``' bytes: even rows ``s[begin:end]``, odd rows the gaps.

    ``begin``/``end`` are byte positions within each string (``end`` None: to its end);
    they must satisfy ``0 <= begin <= end <= len``, which keeps the offsets monotonic.
    """
    offsets = _offsets(strings)
    n = len(strings)
    length = np.diff(offsets)
    stop = length if end is None else np.minimum(end, length)
    begin = np.minimum(begin, stop)
    both = np.empty(2 * n + 1, dtype=np.int32)
    both[0:-1:2] = offsets[:-1] + begin
    both[1:-1:2] = offsets[:-1] + stop
    both[-1] = offsets[-1]
    return pa.Array.from_buffers(pa.string(), 2 * n, [None, pa.py_buffer(both), strings.buffers()[2]])


def _ranges(strings: pa.Array, begin: np.ndarray, end: np.ndarray | None) -> pa.Array:
    """``s[begin:end]`` of every string (byte positions on character bounds), as a compact array."""
    if len(strings) == 0:
        return pa.array([], pa.string())
    if strings.type != pa.string():
        strings = strings.cast(pa.string())
    return _interleaved(strings, begin, end).take(pa.array(np.arange(0, 2 * len(strings), 2)))
