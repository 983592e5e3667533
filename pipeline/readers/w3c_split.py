"""Split Log Parser W3C data lines into field values, fast.

A plain W3C line is only splittable by field types (see :mod:`.logparser_w3c`).
One RE2 pattern with a capture group per field does that, but RE2 extracts
captures with its slow engine over the whole line, and lines of the System log
carry a long ``Message`` and hex ``Data``.  So the line is cut in three, each
cut by the fast engine where possible:

* the *free* field: the last field that may contain spaces (``Message`` in
  ``SELECT *``), which takes whatever lies between the others;
* the *prefix*: the fields before it, captured by a start-anchored pattern
  that ends at the free field (captures run over the short prefix only);
* the *suffix*: the fields after it (no spaces by type), captured by an
  end-anchored pattern.

The free field itself is what remains when the prefix and the suffix are
removed with ``replace_substring_regex``, which needs only match bounds.
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


def split_lines(lines: pa.Array, fields: list[str], quoted: bool) -> tuple[dict[int, pa.Array], pa.Array]:
    """Raw values of each field (by field index) and a mask of lines that fit the field list.

    Values of lines that do not fit are undefined; callers filter with the mask.
    """
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
        rest = _tails(lines, pc.fill_null(width, 0))
    after = list(range(free + 1, len(fields)))
    if after:
        tokens = sum(2 if field_type(fields[i]) == TIMESTAMP else 1 for i in after)
        pieces = pc.split_pattern(rest, " ", max_splits=tokens, reverse=True)
        fits = pc.and_(fits, pc.equal(pc.list_value_length(pieces), tokens + 1))
        position = 1
        for i in after:
            if field_type(fields[i]) == TIMESTAMP:
                value = pc.binary_join_element_wise(pc.list_element(pieces, position),
                                                    pc.list_element(pieces, position + 1), " ")
                position += 2
            else:
                value = pc.list_element(pieces, position)
                position += 1
            ok = pc.match_substring_regex(value, "^(?:" + value_pattern(fields[i], quoted) + ")$")
            fits = pc.and_(fits, ok)
            values[i] = value
        rest = pc.list_element(pieces, 0)
    values[free] = rest
    return values, pc.fill_null(fits, False)


def _tails(strings: pa.Array, skip: pa.Array) -> pa.Array:
    """``strings[i][skip[i]:]`` for every row, without a regex or a Python loop.

    The buffer is re-read with interleaved offsets (start, start+skip, next start,
    ...), which makes every head and every tail a row of the same data; the tails
    are then taken.  ``skip`` is in bytes and never cuts a character: it is the
    byte length of whole values plus separators.
    """
    strings = strings.cast(pa.large_string()) if strings.type != pa.string() else strings
    n = len(strings)
    if n == 0:
        return strings
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32)[strings.offset : strings.offset + n + 1]
    skip_np = np.minimum(np.asarray(skip.to_numpy(zero_copy_only=False), dtype=np.int64),
                         np.diff(offsets).astype(np.int64))
    both = np.empty(2 * n + 1, dtype=np.int32)
    both[0:-1:2] = offsets[:-1]
    both[1:-1:2] = offsets[:-1] + skip_np
    both[-1] = offsets[-1]
    validity = strings.buffers()[0]
    interleaved = pa.Array.from_buffers(pa.string(), 2 * n, [None, pa.py_buffer(both), strings.buffers()[2]])
    tails = interleaved.take(pa.array(np.arange(1, 2 * n, 2)))
    if validity is not None:
        tails = pc.if_else(pc.is_valid(strings), tails, pa.scalar(None, pa.string()))
    return tails
