"""Exporting-machine local time -> UTC, with the DST fold and gap handled on purpose.

Log Parser and pfirewall.log write the local wall-clock time of the machine that
exported them and do not say which zone that was.  The zone comes from the
config (``[hosts.H] timezone``) or ``--source-tz``; nothing is guessed.

Two wall-clock situations have no single answer, and this module settles them:

* **Fold** (clocks go back; e.g. Europe/Berlin 2026-10-25 02:00-03:00 happens
  twice).  Logs are written in time order, so the file itself tells which pass a
  time belongs to: rows of the repeated hour are read as the *first* pass (summer
  time) until the local clock is seen to step back inside that hour; from then on
  they are the *second* pass (standard time).  A file with no visible step back is
  read as first pass.  The choice is carried across batches and across runs of a
  file that grows (:class:`FoldState`).
* **Gap** (clocks go forward; 02:00-03:00 does not exist).  A correct clock never
  shows such a time; when one appears it is read with the offset in force *before*
  the change (02:30 Berlin on the spring change = 01:30 UTC), which is what
  Python's ``zoneinfo`` does for ``fold=0``, and the rows are counted.

The bulk of the work is vectorised: offsets are computed once per distinct local
hour; only the rare rows of an hour that contains a transition go through the
per-row path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

_EPOCH = datetime(1970, 1, 1)


@dataclass
class FoldState:
    """Per-file memory of the repeated hours seen so far: the latest local time and the pass."""

    windows: dict[str, list] = field(default_factory=dict)  # date -> [max_local_seconds, second_pass]
    gap_rows: int = 0
    second_pass_rows: int = 0

    def to_json(self) -> dict:
        return {"windows": self.windows}

    @classmethod
    def from_json(cls, data: dict | None) -> FoldState:
        return cls(windows={k: list(v) for k, v in (data or {}).get("windows", {}).items()})


def _offset(zone: ZoneInfo, local: datetime, fold: int) -> int:
    off = local.replace(tzinfo=zone, fold=fold).utcoffset()
    return int(off.total_seconds()) if off is not None else 0


def local_to_utc(local: pa.Array, zone: ZoneInfo, state: FoldState) -> pa.Array:
    """Naive local ``timestamp[s]`` -> ``timestamp[us, UTC]`` (nulls stay null)."""
    valid = local.is_valid().to_numpy(zero_copy_only=False)
    secs = local.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    if len(secs) == 0:
        return pa.array([], pa.timestamp("us", tz="UTC"))
    hours = secs // 3600
    uniq, inverse = np.unique(hours, return_inverse=True)
    offsets = np.zeros(len(uniq), dtype=np.int64)
    simple = np.ones(len(uniq), dtype=bool)
    for i, hour in enumerate(uniq.tolist()):
        begin = _EPOCH + timedelta(hours=hour)
        end = begin + timedelta(seconds=3599)
        candidates = {_offset(zone, begin, 0), _offset(zone, begin, 1), _offset(zone, end, 0), _offset(zone, end, 1)}
        if len(candidates) == 1:
            offsets[i] = candidates.pop()
        else:
            simple[i] = False
    utc = secs - offsets[inverse]
    slow = np.flatnonzero(~simple[inverse] & valid)
    for i in slow.tolist():
        utc[i] = _resolve(int(secs[i]), zone, state)
    return pa.array(utc * 1_000_000, pa.int64(), mask=~valid).cast(pa.timestamp("us", tz="UTC"))


def _resolve(local_secs: int, zone: ZoneInfo, state: FoldState) -> int:
    local = _EPOCH + timedelta(seconds=local_secs)
    first = local.replace(tzinfo=zone, fold=0)
    second = local.replace(tzinfo=zone, fold=1)
    u0 = int((first.astimezone(UTC).replace(tzinfo=None) - _EPOCH).total_seconds())
    u1 = int((second.astimezone(UTC).replace(tzinfo=None) - _EPOCH).total_seconds())
    if u0 == u1:
        return u0
    round_trip = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if round_trip != local:  # the time does not exist: a gap
        state.gap_rows += 1
        return u0
    key = local.date().isoformat()
    window = state.windows.setdefault(key, [local_secs, False])
    if not window[1] and local_secs < window[0]:
        window[1] = True  # the clock stepped back inside the repeated hour
    window[0] = max(window[0], local_secs)
    if window[1]:
        state.second_pass_rows += 1
        return u1
    return u0
