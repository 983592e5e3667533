"""Extractors: raw rows of a reader -> normalised drop rows (``schema.DROPS_SCHEMA``).

Each extractor returns an :class:`Extracted`: the drops, and for each drop the
text of its identity (``event_key``), from which the warehouse derives its
de-duplication key.  Rows that cannot be drops are counted, rows that should be
drops but are damaged are logged as malformed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..config import Config
from ..localtime import FoldState
from ..schema import DROPS_SCHEMA


@dataclass
class Extracted:
    drops: pa.Table  # DROPS_SCHEMA
    event_keys: pa.Array  # string identity of each drop, same order
    other_events: int = 0  # rows read that are not drops (permitted traffic included)
    #: observed permitted connections (``schema.ALLOWED_EVENT_SCHEMA``) and their identities, same order;
    #: None when the rows held none
    allowed: pa.Table | None = None
    allowed_keys: pa.Array | None = None

    @classmethod
    def empty(cls, other: int = 0) -> Extracted:
        return cls(DROPS_SCHEMA.empty_table(), pa.array([], pa.string()), other)


@dataclass
class SourceContext:
    """Facts about the file being extracted that the rows themselves do not carry."""

    source_format: str
    source_file: str
    config: Config
    default_host: str | None = None  # --host, or the config host whose inbox matches the file
    source_tz: str | None = None  # --source-tz: overrides the config's zones
    fold_states: dict[str, FoldState] = field(default_factory=dict)
    occurrences: OccurrenceCounter = field(default_factory=lambda: OccurrenceCounter())
    _turnstiles: Turnstiles = field(default_factory=lambda: Turnstiles(), repr=False)
    _job: threading.local = field(default_factory=threading.local, repr=False)
    _hosts: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)  # canonical_host

    @contextmanager
    def job(self, ticket: int) -> Iterator[None]:
        """Run one batch's extraction as job number ``ticket`` of several running on other threads.

        The stateful steps (the DST fold of local times, numbering identical lines)
        then happen in ticket order, as if the batches were extracted one by one;
        the rest runs in parallel.  Every job passes every stateful step, used or not.
        """
        self._job.ticket, self._job.passed = ticket, set()
        try:
            yield
        finally:
            for section in STATEFUL_STEPS:
                if section not in self._job.passed:
                    self._turnstiles.wait(section, ticket)
                    self._turnstiles.advance(section, ticket)
            self._job.ticket = None

    def next_pass(self) -> None:
        """Start another reading pass of the same file: its jobs are numbered from 0 again."""
        self._turnstiles = Turnstiles()

    @contextmanager
    def in_order(self, section: str) -> Iterator[None]:
        """A stateful step: inside :meth:`job`, waits until the jobs before this one have done it.

        A job passes each step once (the turnstile lets the next job through when it leaves):
        entering it again would wait for a turn that has gone, forever, so that raises instead.
        """
        ticket = getattr(self._job, "ticket", None)
        if ticket is None:
            yield
            return
        if section in self._job.passed:
            raise RuntimeError(f"stateful step {section!r} entered twice by job {ticket}")
        self._turnstiles.wait(section, ticket)
        try:
            yield
        finally:
            self._turnstiles.advance(section, ticket)
            self._job.passed.add(section)

    def canonical_host(self, name: str) -> str:
        known = self._hosts.get(name)
        if known is None:  # once per name: an EVTX file repeats its Computer in every event
            host = self.config.host(name)
            known = self._hosts[name] = host.name if host else name
        return known

    def zone(self, host: str) -> ZoneInfo | None:
        if self.source_tz:
            return ZoneInfo(self.source_tz)
        cfg = self.config.host(host)
        return cfg.zone if cfg else None

    def host_addresses(self, host: str) -> tuple[str, ...]:
        cfg = self.config.host(host)
        return cfg.addresses if cfg else ()

    def fold_state(self, host: str) -> FoldState:
        return self.fold_states.setdefault(host, FoldState())


#: The steps of extraction that carry state from one batch to the next (see SourceContext.job).
STATEFUL_STEPS = ("time", "occurrences")


class Turnstiles:
    """One turnstile per stateful step: job ``k`` may pass once jobs ``0..k-1`` have."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._next: dict[str, int] = {}

    def wait(self, section: str, ticket: int) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._next.get(section, 0) == ticket)

    def advance(self, section: str, ticket: int) -> None:
        with self._cond:
            self._next[section] = ticket + 1
            self._cond.notify_all()


class OccurrenceCounter:
    """Numbers identical events within a file: the n-th copy of the same line gets n.

    Two identical pfirewall lines (same second, same addresses and ports) are two
    packets, so the identity of a line is (host, text, occurrence).  Identical
    lines share their timestamp, so across batches only the keys of the latest
    second need remembering (logs are written in time order).
    """

    def __init__(self, latest_time: int | None = None, counts: dict[str, int] | None = None) -> None:
        self.latest_time = latest_time
        self.counts: dict[str, int] = dict(counts or {})

    def number(self, keys: pa.Array, times: np.ndarray) -> np.ndarray:
        n = len(keys)
        occurrence = np.ones(n, dtype=np.int64)
        if n == 0:
            return occurrence
        # duplicated(keep=False) in Arrow: a value is a duplicate when its dictionary code occurs twice
        codes = pc.dictionary_encode(keys, null_encoding="encode")
        indices = codes.indices.to_numpy(zero_copy_only=False)
        dup = np.bincount(indices, minlength=len(codes.dictionary))[indices] > 1
        if self.counts:
            carried = pc.is_in(keys, value_set=pa.array(list(self.counts), pa.string()))
            dup |= carried.to_numpy(zero_copy_only=False)
        if dup.any():
            seen = dict(self.counts)
            values = keys.to_pylist()
            for i in np.flatnonzero(dup).tolist():
                k = values[i]
                seen[k] = seen.get(k, 0) + 1
                occurrence[i] = seen[k]
            merged = seen
        else:
            merged = self.counts
        latest = int(times.max())
        if self.latest_time is None or latest > self.latest_time:
            at_latest = np.flatnonzero(times == latest)
            values = keys.take(pa.array(at_latest)).to_pylist()
            self.counts = {k: merged.get(k, 1) for k in values}
            self.latest_time = latest
        elif latest == self.latest_time:
            self.counts = {**self.counts, **{k: merged.get(k, 1) for k in
                                             keys.filter(pa.array(times == latest)).to_pylist()}}
        return occurrence

    def to_json(self) -> dict:
        return {"latest_time": self.latest_time, "counts": self.counts}

    @classmethod
    def from_json(cls, data: dict | None) -> OccurrenceCounter:
        data = data or {}
        return cls(data.get("latest_time"), data.get("counts"))
