"""The Parquet warehouse: partitioned drops, de-duplication keys, manifest, lock, atomic publish."""

from .keys import KeyIndex, hash_identities
from .manifest import FileEntry, Manifest, hash_file
from .store import CRASH_ENV, RunWriter, Warehouse, WarehouseLocked

__all__ = [
    "CRASH_ENV",
    "FileEntry",
    "KeyIndex",
    "Manifest",
    "RunWriter",
    "Warehouse",
    "WarehouseLocked",
    "hash_file",
    "hash_identities",
]
