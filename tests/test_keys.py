"""De-duplication keys: stable values, and the per-date key set under many batches."""

from __future__ import annotations

import hashlib

import duckdb
import numpy as np
import pyarrow as pa

from pipeline.warehouse.keys import DateKeys, hash_identities


def test_keys_are_duckdb_md5_number_lower_of_the_identity_text():
    # Keys are persisted: they must stay md5_number_lower(identity) whatever way they are computed.
    texts = [f"WEB01\x1fSystem\x1f{i}" for i in range(3000)] + ["ümlaut\x1f✓", "", "x" * 5000]
    con = duckdb.connect()
    con.register("texts", pa.table({"t": pa.array(texts)}))
    expected = con.sql("SELECT md5_number_lower(t) AS k FROM texts").fetchnumpy()["k"].astype(np.uint64)
    assert (hash_identities(con, pa.array(texts)) == expected).all()
    # ... which is the last 8 bytes of the digest, little-endian
    assert hash_identities(con, pa.array(["abc"]))[0] == int.from_bytes(hashlib.md5(b"abc").digest()[8:], "little")


def test_date_keys_agree_with_a_set_over_many_batches():
    rng = np.random.default_rng(7)
    keys = DateKeys(rng.integers(0, 2**63, 500, dtype=np.uint64))
    held = set(keys.runs[0].tolist())
    for batch in range(300):
        # small ranges make repeats within a batch and across batches common
        high = 2**10 if batch % 3 == 0 else 2**63
        candidates = rng.integers(0, high, int(rng.integers(0, 400)), dtype=np.uint64)
        expected, seen = [], set()
        for value in candidates.tolist():
            expected.append(value not in held and value not in seen)
            seen.add(value)
        assert keys.fresh(candidates).tolist() == expected
        held |= seen
    assert len(keys) == len(held)
    assert len(keys.runs) <= 12  # runs of doubling sizes: logarithmically many
    assert all((np.diff(run.astype(np.float64)) > 0).all() for run in keys.runs)
