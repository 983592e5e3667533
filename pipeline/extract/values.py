"""Vectorised checks and conversions of the values drops are made of.

Addresses, ports and protocols arrive as text written by Windows (or forged by
whoever sent the packet): each is validated, normalised, and turned into NULL
plus a reason when it is not what it claims to be.  Addresses repeat heavily in
drop logs, so each distinct address is checked once with :mod:`ipaddress`.
"""

from __future__ import annotations

import ipaddress

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..schema import PROTOCOL_NUMBERS


def single(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array; a one-chunk column is returned as is (``combine_chunks`` would copy it)."""
    if isinstance(column, pa.ChunkedArray):
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column


class RowChecks:
    """Which rows of a batch are still good, and the first reason each bad one was rejected for."""

    def __init__(self, n: int) -> None:
        self.ok = np.ones(n, dtype=bool)
        self.reasons: list[str | None] = [None] * n

    def reject(self, mask: np.ndarray, reason: str) -> None:
        for i in np.flatnonzero(mask & self.ok).tolist():
            self.reasons[i] = reason
        self.ok[mask] = False


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_V4 = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"


def normalise_ip(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Canonical text of each address (``ipaddress``), and a mask of non-null values that are not addresses.

    Addresses repeat (a hash per value finds the distinct ones), and dotted quads without leading
    zeros are already canonical: one DFA match over the distinct values keeps them as they are, and
    when all are, the column is returned untouched.  Only the rest (IPv6, leading zeros, brackets,
    junk) goes through :mod:`ipaddress`.  A scan from the internet has a different source on nearly
    every line: a Python call per distinct value would then be a Python call per drop.
    """
    values = values.cast(pa.string())
    uniq = pc.unique(values.drop_null())
    plain = pc.match_substring_regex(uniq, _CANONICAL_V4)
    if pc.all(plain).as_py() is not False:
        return values, np.zeros(len(values), dtype=bool)
    others = uniq.filter(pc.invert(plain))
    canon: list[str | None] = []
    for text in others.to_pylist():
        try:
            canon.append(str(ipaddress.ip_address(text.strip().strip("[]"))))
        except ValueError:
            canon.append(None)
    index = pc.index_in(values, value_set=others)  # NULL for plain values (and NULLs)
    out = pc.if_else(pc.is_null(index), values, pc.take(pa.array(canon, pa.string()), index))
    bad = (pc.is_valid(values).to_numpy(zero_copy_only=False)
           & pc.is_null(out).to_numpy(zero_copy_only=False))
    return out, bad


def parse_int(values: pa.Array, lo: int, hi: int) -> tuple[pa.Array, np.ndarray]:
    """Integers in [lo, hi] (decimal, or 0x hex); a mask of non-null values that are not such integers."""
    values = values.cast(pa.string())
    try:  # fast path: every value is a plain decimal number
        dec = pc.cast(values, pa.int64())
        if pc.all(pc.and_(pc.greater_equal(dec, lo), pc.less_equal(dec, hi))).as_py() in (True, None):
            return dec, np.zeros(len(values), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    values = pc.utf8_trim_whitespace(values)
    is_dec = pc.match_substring_regex(values, r"^[0-9]{1,18}$")
    dec = pc.if_else(is_dec, values, pa.scalar(None, pa.string())).cast(pa.int64())
    is_hex = pc.match_substring_regex(values, r"^0[xX][0-9a-fA-F]{1,15}$")
    if pc.any(is_hex).as_py():
        hexes = [int(v, 16) if v is not None and h else None
                 for v, h in zip(values.to_pylist(), is_hex.to_pylist(), strict=True)]
        dec = pc.coalesce(dec, pa.array(hexes, pa.int64()))
    in_range = pc.and_(pc.greater_equal(dec, lo), pc.less_equal(dec, hi))
    out = pc.if_else(in_range, dec, pa.scalar(None, pa.int64()))
    bad = pc.is_valid(values).to_numpy(zero_copy_only=False) & pc.is_null(out).to_numpy(zero_copy_only=False)
    return out, bad


def parse_protocol(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """IANA protocol numbers from numbers or names (``TCP``, ``udp``, ``ICMP``...)."""
    values = pc.utf8_upper(pc.utf8_trim_whitespace(values.cast(pa.string())))
    names = pa.array(list(PROTOCOL_NUMBERS), pa.string())
    numbers = pa.array(list(PROTOCOL_NUMBERS.values()), pa.int64())
    by_name = pc.take(numbers, pc.index_in(values, value_set=names))
    by_number, _ = parse_int(pc.if_else(pc.is_null(by_name), values, pa.scalar(None, pa.string())), 0, 255)
    out = pc.coalesce(by_name, by_number)
    bad = pc.is_valid(values).to_numpy(zero_copy_only=False) & pc.is_null(out).to_numpy(zero_copy_only=False)
    return out, bad


def parse_local_timestamp(date_time: pa.Array) -> pa.Array:
    """``yyyy-MM-dd hh:mm:ss`` (fractions ignored) -> naive ``timestamp[s]``; anything else -> NULL."""
    text = pc.utf8_slice_codeunits(pc.utf8_trim_whitespace(date_time.cast(pa.string())), 0, 19)
    return pc.strptime(text, format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True)


def last_items(lists: pa.Array, k: int) -> list[pa.Array]:
    """The last ``k`` items of each list (NULL where a list is shorter).

    The IPSec driver's insertion strings may or may not begin with the driver
    name (%1); counting from the end reads both the same way.
    """
    if not pa.types.is_list(lists.type):
        lists = lists.cast(pa.list_(pa.string()))
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(lists)
    ends = np.cumsum(lengths)
    out = []
    for j in range(k, 0, -1):
        ok = lengths >= j
        if len(flat) == 0:
            out.append(pa.nulls(len(lengths), pa.string()))
            continue
        out.append(pc.take(flat, pa.array(np.where(ok, ends - j, 0), mask=~ok)))
    return out
