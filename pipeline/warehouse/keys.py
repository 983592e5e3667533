"""De-duplication keys: which events the warehouse already holds.

An event's identity is text (``host, log, record number`` for event logs;
``host, line text, occurrence`` for pfirewall lines).  It is reduced to a 64-bit
key (the low half of its MD5 as DuckDB's ``md5_number_lower`` defines it), stored beside the drops in
``_keys/date=YYYY-MM-DD/`` and compared per UTC date: an event has one time, so
two copies of it always land in the same partition.  The chance that two
different events of one day share a key is below 10^-6 for ten million drops a
day.

Memory: 8 bytes per key of the dates a run touches; nothing per input line.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..queries import query
from .errors import WarehouseError

KEYS_SCHEMA = pa.schema([pa.field("key", pa.uint64(), nullable=False)])


def hash_identities(con: duckdb.DuckDBPyConnection, identities: pa.Array) -> np.ndarray:
    """64-bit keys of identity strings, in order: ``md5_number_lower`` of each, from its hex digest."""
    if len(identities) == 0:
        return np.zeros(0, dtype=np.uint64)
    table = pa.table({"event_key": identities})
    con.register("identities", table)
    try:
        result = con.sql(query("event_key_hash")).arrow()
        digests = result.read_all() if hasattr(result, "read_all") else result
    finally:
        con.unregister("identities")
    return _lower_half(digests.column("digest"))


_NIBBLE = np.zeros(256, dtype=np.uint8)
_NIBBLE[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)
_NIBBLE[np.frombuffer(b"ABCDEF", dtype=np.uint8)] = np.arange(10, 16, dtype=np.uint8)


def _lower_half(hex_digests: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Hex MD5 digests -> their last 8 bytes as little-endian uint64 (DuckDB's ``md5_number_lower``)."""
    column = hex_digests.combine_chunks() if isinstance(hex_digests, pa.ChunkedArray) else hex_digests
    if column.type != pa.string():
        column = column.cast(pa.string())
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)[column.offset : column.offset + len(column) + 1]
    if column.null_count or not (np.diff(offsets) == 32).all():
        raise ValueError("md5() returned something other than 32 hex digits")
    data = np.frombuffer(column.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]].reshape(-1, 32)
    nibbles = _NIBBLE[data[:, 16:]]
    raw = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    return np.ascontiguousarray(raw).view("<u8").ravel().astype(np.uint64, copy=False)


class DateKeys:
    """The keys of one date partition: those published plus those added by this run.

    They are kept as a few sorted runs of doubling sizes (a log-structured merge):
    adding a batch merges only runs of similar size, so a day of ``n`` drops costs
    ``O(n log n)`` in all instead of re-sorting every key held for each batch.
    """

    def __init__(self, keys: np.ndarray) -> None:
        self.runs: list[np.ndarray] = []
        if len(keys):
            self.runs.append(np.sort(keys.astype(np.uint64, copy=False)))

    def __len__(self) -> int:
        return sum(len(run) for run in self.runs)

    def held(self, candidates: np.ndarray) -> np.ndarray:
        """Mask of candidates already held."""
        mask = np.zeros(len(candidates), dtype=bool)
        for run in self.runs:
            pos = np.minimum(np.searchsorted(run, candidates), len(run) - 1)
            mask |= run[pos] == candidates
        return mask

    def fresh(self, candidates: np.ndarray) -> np.ndarray:
        """Mask of candidates not yet held, keeping only the first of repeated candidates; records them."""
        if len(candidates) == 0:
            return np.zeros(0, dtype=bool)
        unique, first = np.unique(candidates, return_index=True)
        unseen = ~self.held(unique)  # sorted needles: binary searches that walk forward, cache-friendly
        mask = np.zeros(len(candidates), dtype=bool)
        mask[first[unseen]] = True
        new = unique[unseen]
        if len(new):
            self.runs.append(new)
            while len(self.runs) > 1 and len(self.runs[-2]) <= 2 * len(self.runs[-1]):
                last = self.runs.pop()
                # Two sorted runs: the stable sort (timsort) merges them in linear time.
                self.runs[-1] = np.sort(np.concatenate([self.runs[-1], last]), kind="stable")
        return mask


class KeyIndex:
    """Keys of every date partition touched so far, loaded on first use.

    A key file whose data part is gone still marks its rows as stored: those rows
    would never be stored again.  Such files are noted in :attr:`orphans` (path, keys)
    for the run summary; ``repair`` removes them.
    """

    def __init__(self, keys_dir: Path, drops_dir: Path | None = None) -> None:
        self.keys_dir = keys_dir
        self.drops_dir = drops_dir
        self.dates: dict[str, DateKeys] = {}
        self.orphans: list[tuple[Path, int]] = []

    def for_date(self, date: str) -> DateKeys:
        if date not in self.dates:
            folder = self.keys_dir / f"date={date}"
            files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
            arrays = []
            for f in files:
                try:
                    keys = pq.read_table(f, columns=["key"]).column("key").to_numpy()
                except (OSError, ValueError) as exc:
                    raise WarehouseError(f"the key file {f} cannot be read ({exc}): duplicates cannot be told "
                                         "apart; run `ipsec-drops repair`", f) from exc
                arrays.append(keys)
                if self.drops_dir is not None and not (self.drops_dir / f"date={date}" / f.name).exists():
                    self.orphans.append((f, len(keys)))
            self.dates[date] = DateKeys(np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.uint64))
        return self.dates[date]
