"""The Parquet warehouse: partitioned drops, de-duplication keys, manifest, lock, atomic publish, check, repair.

Names are imported from their modules on first use (PEP 562), so a command that needs only the
manifest (a nightly rerun with nothing new) does not pay for DuckDB, the key index or maintenance.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import ManifestVersionError, WarehouseError, WarehouseLocked

if TYPE_CHECKING:
    from .keys import KeyIndex, hash_identities
    from .maintain import MaintenanceReport, maintain
    from .manifest import MANIFEST_VERSION, FileEntry, Manifest, PartEntry, hash_file
    from .repair import RepairReport, repair
    from .status import Finding, WarehouseStatus, check
    from .store import CRASH_ENV, RunWriter, Warehouse, WriterLock

_HOMES = {
    "KeyIndex": "keys", "hash_identities": "keys",
    "MaintenanceReport": "maintain", "maintain": "maintain",
    "MANIFEST_VERSION": "manifest", "FileEntry": "manifest", "Manifest": "manifest", "PartEntry": "manifest",
    "hash_file": "manifest",
    "RepairReport": "repair", "repair": "repair",
    "Finding": "status", "WarehouseStatus": "status", "check": "status",
    "CRASH_ENV": "store", "RunWriter": "store", "Warehouse": "store", "WriterLock": "store",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "CRASH_ENV",
    "MANIFEST_VERSION",
    "FileEntry",
    "Finding",
    "KeyIndex",
    "Manifest",
    "MaintenanceReport",
    "ManifestVersionError",
    "PartEntry",
    "RepairReport",
    "RunWriter",
    "Warehouse",
    "WarehouseError",
    "WarehouseLocked",
    "WarehouseStatus",
    "WriterLock",
    "check",
    "hash_file",
    "hash_identities",
    "maintain",
    "repair",
]
