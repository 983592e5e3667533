"""The Parquet warehouse: partitioned drops, de-duplication keys, manifest, lock, atomic publish, check, repair."""

from .errors import ManifestVersionError, WarehouseError, WarehouseLocked
from .keys import KeyIndex, hash_identities
from .maintain import MaintenanceReport, maintain
from .manifest import MANIFEST_VERSION, FileEntry, Manifest, PartEntry, hash_file
from .repair import RepairReport, repair
from .status import Finding, WarehouseStatus, check
from .store import CRASH_ENV, RunWriter, Warehouse, WriterLock

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
