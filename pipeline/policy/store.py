"""Policy snapshots in the warehouse: Parquet tables under ``warehouse/policy/<table>/``.

One snapshot per host and script (its content hash, plus the config facts the
addresses were resolved with: a new DNS server in the config is a new
snapshot).  Each table has one file per snapshot,
``<host>-<snapshot>.parquet``; the host name is escaped for the file name
(:func:`safe_name`: only letters, digits, ``.``, ``_`` and ``-`` are kept,
anything else becomes ``%XX``; a long name is cut and ends in a hash), the
snapshot is hex.  The host itself is read from the rows, never from the file
name.  Tables:

* ``filters``: one row per direction and resolved address pair (see
  :mod:`effective`), address bounds as ``{hi, lo}`` unsigned 64-bit halves;
* ``policies``, ``rules``, ``filter_actions``, ``settings`` (``set config``
  values, and the defaults where a source gives one, ``explicit=false``),
  ``issues`` (every problem met reading the script);
* ``snapshots``: written last, one row: host, snapshot, script hash, file,
  ``loaded_at``.  A snapshot exists when its ``snapshots`` file exists; a
  host's current snapshot is its latest ``loaded_at``.

Each file is written to a temporary name in its folder, flushed and renamed
over the final name (``os.replace``), so a reader never sees a partial file;
the warehouse writer lock is held while loading.  Loading a script whose
snapshot is stored already writes nothing but a fresh ``snapshots`` row (the
script became current again).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..warehouse import Warehouse
from ..warehouse.manifest import fsync_dir
from . import PolicyAnalysis
from .addresses import halves
from .grammar import CONFIG_DEFAULTS

ADDRESS = pa.struct([("hi", pa.uint64()), ("lo", pa.uint64())])
KEY_FIELDS = [pa.field("host", pa.string()), pa.field("snapshot", pa.string())]
SOURCE_FIELDS = [pa.field("source_file", pa.string()), pa.field("source_line", pa.int32())]

FILTERS_SCHEMA = pa.schema(KEY_FIELDS + [
    pa.field("store", pa.string()), pa.field("policy", pa.string()), pa.field("assigned", pa.bool_()),
    pa.field("rule", pa.string()), pa.field("rule_active", pa.bool_()), pa.field("filter_list", pa.string()),
    pa.field("filter_index", pa.int32()), pa.field("action", pa.string()), pa.field("inpass", pa.bool_()),
    pa.field("soft", pa.bool_()), pa.field("tunnel", pa.string()), pa.field("mirror", pa.bool_()),
    pa.field("family", pa.int8()),
    pa.field("src_lo", ADDRESS), pa.field("src_hi", ADDRESS), pa.field("dst_lo", ADDRESS), pa.field("dst_hi", ADDRESS),
    pa.field("src", pa.string()), pa.field("dst", pa.string()), pa.field("src_mask", pa.int16()),
    pa.field("dst_mask", pa.int16()), pa.field("protocol", pa.int16()), pa.field("src_port", pa.int32()),
    pa.field("dst_port", pa.int32()), pa.field("weight", pa.int64()), pa.field("unresolved", pa.string()),
    pa.field("description", pa.string()),
] + SOURCE_FIELDS)

POLICIES_SCHEMA = pa.schema(KEY_FIELDS + [
    pa.field("store", pa.string()), pa.field("policy", pa.string()), pa.field("description", pa.string()),
    pa.field("assigned", pa.bool_()), pa.field("mmpfs", pa.bool_()), pa.field("qmpermm", pa.int32()),
    pa.field("mmlifetime", pa.int32()), pa.field("pollinginterval", pa.int32()),
    pa.field("activatedefaultrule", pa.bool_()), pa.field("mmsecmethods", pa.list_(pa.string())),
    pa.field("rules", pa.int32()),
] + SOURCE_FIELDS)

RULES_SCHEMA = pa.schema(KEY_FIELDS + [
    pa.field("store", pa.string()), pa.field("policy", pa.string()), pa.field("assigned", pa.bool_()),
    pa.field("rule", pa.string()), pa.field("rule_id", pa.int32()), pa.field("filter_list", pa.string()),
    pa.field("filter_action", pa.string()), pa.field("action", pa.string()), pa.field("active", pa.bool_()),
    pa.field("filters", pa.int32()), pa.field("tunnel", pa.string()), pa.field("conntype", pa.string()),
    pa.field("kerberos", pa.bool_()), pa.field("psk_set", pa.bool_()), pa.field("rootca", pa.list_(pa.string())),
    pa.field("description", pa.string()),
] + SOURCE_FIELDS)

FILTER_ACTIONS_SCHEMA = pa.schema(KEY_FIELDS + [
    pa.field("store", pa.string()), pa.field("filter_action", pa.string()), pa.field("action", pa.string()),
    pa.field("inpass", pa.bool_()), pa.field("soft", pa.bool_()), pa.field("qmpfs", pa.bool_()),
    pa.field("qmsecmethods", pa.list_(pa.string())), pa.field("description", pa.string()),
    pa.field("used", pa.bool_()),
] + SOURCE_FIELDS)

SETTINGS_SCHEMA = pa.schema(KEY_FIELDS + [
    pa.field("property", pa.string()), pa.field("value", pa.string()), pa.field("explicit", pa.bool_()),
] + SOURCE_FIELDS)

ISSUES_SCHEMA = pa.schema(KEY_FIELDS + SOURCE_FIELDS + [
    pa.field("severity", pa.string()), pa.field("code", pa.string()), pa.field("message", pa.string()),
    pa.field("text", pa.string()),
])

SNAPSHOTS_SCHEMA = pa.schema(KEY_FIELDS + [
    pa.field("script_sha256", pa.string()), pa.field("source_file", pa.string()), pa.field("kind", pa.string()),
    pa.field("loaded_at", pa.timestamp("us", tz="UTC")), pa.field("policies", pa.int32()),
    pa.field("filters", pa.int32()), pa.field("errors", pa.int32()), pa.field("warnings", pa.int32()),
])

#: Data tables in the order they are written; ``snapshots`` comes last and marks the snapshot complete.
DATA_TABLES = ("filters", "policies", "rules", "filter_actions", "settings", "issues")
TABLES = DATA_TABLES + ("snapshots",)


#: Longest host part of a snapshot file name, in characters (all ASCII): with ``-<snapshot>.parquet`` and the
#: temporary-file prefix and suffix the whole name stays far below the 255 bytes file systems allow.
MAX_NAME = 96
#: Device names Windows reserves whatever follows a dot (``CON.x`` opens the console, not a file).
_RESERVED = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))})


def safe_name(text: str) -> str:
    """``text`` as a file-name component that is safe on any system and never names another folder.

    Host names come from the config and may hold anything (``..\\x``, ``/``,
    NUL, 300 characters).  Letters, digits, ``.``, ``_`` and ``-`` are kept;
    every other character becomes ``%XX`` per UTF-8 byte (``%`` itself too, so
    the escaping is one-to-one); a leading ``.`` is escaped (no ``..``, no
    hidden file), so is a trailing one (Windows drops it: ``WEB01.`` would name
    ``WEB01``'s file), and so is the first letter of a Windows device name
    (``CON``, ``NUL.x``).  The result is ASCII without separators, so it
    cannot leave the folder it is joined to.  A result longer than
    :data:`MAX_NAME` is cut and ends in ``~`` and 16 hex digits of the name's
    SHA-256: ``~`` never appears in an escaped name, so a shortened name cannot
    equal an unshortened one, and distinct long names stay distinct.
    """
    out = re.sub(r"[^A-Za-z0-9._-]", lambda m: "".join(f"%{b:02X}" for b in m.group(0).encode("utf-8",
                                                                                            "surrogatepass")),
                 text)
    if out.startswith("."):
        out = "%2E" + out[1:]
    if out.endswith("."):
        out = out[:-1] + "%2E"  # Windows drops a trailing dot: "WEB01." would be the folder of WEB01
    elif out.split(".", 1)[0].lower() in _RESERVED:
        out = f"%{ord(out[0]):02X}" + out[1:]
    if not out:
        return "%"  # the empty name: a lone "%" is no escape of any other text
    if len(out) <= MAX_NAME:
        return out
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    head = out[:MAX_NAME - 17]
    cut = head.rfind("%", len(head) - 2)
    if cut != -1:
        head = head[:cut]  # never end inside a %XX escape
    return f"{head}~{digest}"


def _rows(analysis: PolicyAnalysis, table: str) -> list[dict]:
    host = analysis.host.name if analysis.host else ""
    key = {"host": host, "snapshot": analysis.snapshot}
    model = analysis.model

    def src(origin) -> dict:
        return {"source_file": origin.file if origin else None, "source_line": origin.line if origin else None}

    if table == "filters":
        return [{**key, **{k: getattr(r, k) for k in FILTERS_SCHEMA.names if k in r.__dataclass_fields__},
                 "src_lo": halves(r.src_lo), "src_hi": halves(r.src_hi), "dst_lo": halves(r.dst_lo),
                 "dst_hi": halves(r.dst_hi)} for r in analysis.filters]
    if table == "policies":
        return [{**key, "store": loc, "policy": p.name, "description": p.description, "assigned": p.assigned,
                 "mmpfs": p.mmpfs, "qmpermm": p.qmpermm, "mmlifetime": p.mmlifetime,
                 "pollinginterval": p.pollinginterval, "activatedefaultrule": p.default_rule.active,
                 "mmsecmethods": list(p.mmsecmethods), "rules": len(p.rules), **src(p.origin)}
                for loc, p in model.policies()]
    if table == "rules":
        out = []
        for loc, p in model.policies():
            store = model.stores[loc]
            for i, r in enumerate(p.rules):
                action = store.filter_actions.get(r.filter_action.lower())
                flist = store.filter_lists.get(r.filter_list.lower())
                out.append({**key, "store": loc, "policy": p.name, "assigned": p.assigned, "rule": r.name,
                            "rule_id": i + 1, "filter_list": r.filter_list, "filter_action": r.filter_action,
                            "action": action.action if action else None, "active": r.active,
                            "filters": len(flist.filters) if flist else 0, "tunnel": r.tunnel,
                            "conntype": r.conntype, "kerberos": r.kerberos, "psk_set": r.psk is not None,
                            "rootca": list(r.rootca), "description": r.description, **src(r.origin)})
        return out
    if table == "filter_actions":
        out = []
        for loc, store in model.stores.items():
            used = {r.filter_action.lower() for p in store.policies.values() for r in p.rules}
            out += [{**key, "store": loc, "filter_action": a.name, "action": a.action, "inpass": a.inpass,
                     "soft": a.soft, "qmpfs": a.qmpfs, "qmsecmethods": list(a.qmsecmethods),
                     "description": a.description, "used": a.name.lower() in used, **src(a.origin)}
                    for a in store.filter_actions.values()]
        return out
    if table == "settings":
        out = [{**key, "property": s.property, "value": s.value, "explicit": True, **src(s.origin)}
               for s in model.settings.values()]
        out += [{**key, "property": p, "value": v, "explicit": False, "source_file": None, "source_line": None}
                for p, v in CONFIG_DEFAULTS.items() if p not in model.settings]
        return out
    if table == "issues":
        return [{**key, "source_file": i.file, "source_line": i.line, "severity": i.severity, "code": i.code,
                 "message": i.message, "text": i.text} for i in analysis.issues]
    raise KeyError(table)


SCHEMAS = {"filters": FILTERS_SCHEMA, "policies": POLICIES_SCHEMA, "rules": RULES_SCHEMA,
           "filter_actions": FILTER_ACTIONS_SCHEMA, "settings": SETTINGS_SCHEMA, "issues": ISSUES_SCHEMA,
           "snapshots": SNAPSHOTS_SCHEMA}


def table(analysis: PolicyAnalysis, name: str) -> pa.Table:
    """One of the snapshot tables of ``analysis`` as an Arrow table (what ``policy load`` writes)."""
    return pa.Table.from_pylist(_rows(analysis, name), schema=SCHEMAS[name])


def snapshot_row(analysis: PolicyAnalysis, loaded_at: datetime) -> pa.Table:
    row = {"host": analysis.host.name if analysis.host else "", "snapshot": analysis.snapshot,
           "script_sha256": analysis.script_sha256, "source_file": analysis.file, "kind": analysis.kind,
           "loaded_at": loaded_at, "policies": len(analysis.model.policies()), "filters": len(analysis.filters),
           "errors": analysis.errors, "warnings": analysis.warnings}
    return pa.Table.from_pylist([row], schema=SNAPSHOTS_SCHEMA)


@dataclass
class LoadResult:
    host: str
    snapshot: str
    status: str  # stored | unchanged | current-again
    filters: int
    paths: list[Path]


def policy_dir(root: Path) -> Path:
    return Path(root) / "policy"


def _write_atomically(path: Path, data: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        pq.write_table(data, tmp, compression="zstd")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    fsync_dir(path.parent)


def snapshot_files(root: Path, host: str, snapshot: str) -> dict[str, Path]:
    name = f"{safe_name(host)}-{snapshot}.parquet"
    return {t: policy_dir(root) / t / name for t in TABLES}


def current_snapshots(root: Path) -> dict[str, str]:
    """host -> its current snapshot (latest ``loaded_at``) in the warehouse at ``root``."""
    folder = policy_dir(root) / "snapshots"
    latest: dict[str, tuple[int, str]] = {}
    for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
        # ParquetFile, not read_table, and loaded_at as an integer: read_table imports pyarrow.dataset
        # and a zoned timestamp made Python imports pandas (0.2 s each run of a nightly with nothing new)
        data = pq.ParquetFile(path).read(columns=["host", "snapshot", "loaded_at"])
        loaded = data.column("loaded_at").cast(pa.int64()).to_pylist()
        for host, snap, at in zip(data.column("host").to_pylist(), data.column("snapshot").to_pylist(), loaded,
                                  strict=True):
            if host not in latest or at > latest[host][0]:
                latest[host] = (at, snap)
    return {h: s for h, (_, s) in latest.items()}


def load_snapshot(analysis: PolicyAnalysis, warehouse: Warehouse) -> LoadResult:
    """Write ``analysis`` as a snapshot into ``warehouse`` (takes the writer lock; WarehouseLocked if held)."""
    if analysis.host is None:
        raise ValueError("a policy snapshot belongs to a host: give one that is in the config")
    host, snap = analysis.host.name, analysis.snapshot
    files = snapshot_files(warehouse.root, host, snap)
    lock = warehouse.lock()
    try:
        now = datetime.now(UTC)
        if all(p.exists() for p in files.values()):
            if current_snapshots(warehouse.root).get(host) == snap:
                return LoadResult(host, snap, "unchanged", len(analysis.filters), [])
            _write_atomically(files["snapshots"], snapshot_row(analysis, now))
            return LoadResult(host, snap, "current-again", len(analysis.filters), [files["snapshots"]])
        for name in DATA_TABLES:
            _write_atomically(files[name], table(analysis, name))
        _write_atomically(files["snapshots"], snapshot_row(analysis, now))
        return LoadResult(host, snap, "stored", len(analysis.filters), list(files.values()))
    finally:
        lock.release()
