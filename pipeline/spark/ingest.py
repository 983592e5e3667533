"""Ingest as a Spark job: the files spread over the executors, the commit on the driver.

Each executor task takes whole files and runs the project's own file job on each
(:func:`pipeline.ingest._ingest_file`: recognition by content, the readers, the extractors, the identity
keys), exactly as a normal run does, against a copy of the manifest; instead of staging Parquet itself it
hands its drops, their keys and what it would have recorded in the manifest back as Arrow rows.  Spark then
de-duplicates: an anti-join on (date, key) against the stored identity keys ``_keys/date=*/*.parquet``, and
within the run the first occurrence in input order wins (as one file after another would store it).  Only
the new drops reach the driver, which is the single writer: under the warehouse lock it writes them through
the normal :class:`~pipeline.warehouse.RunWriter` (the same date-partitioned parts and key files), records the
files in the manifest and publishes with the journal, as ``ipsec-drops ingest`` does.

Paths are local (or a shared mount every executor sees); what the executors read is named by the driver.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from ..config import Config
from ..ingest import (
    IngestReport,
    InputFile,
    _damage,
    _failed,
    _ingest_file,
    _Run,
    _SkippedList,
    check_options,
    plan_inputs,
)
from ..schema import DROPS_SCHEMA
from ..warehouse import Warehouse, WarehouseError
from ..warehouse.errors import wrap_os_error
from .session import spark_session

_META = "meta"


class _CollectingWriter:
    """What a file job writes to, on an executor: keeps the drops and keys (nothing is stored there)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.tables: list[pa.Table] = []
        self.keys: list[np.ndarray] = []
        self.allowed: list[tuple[pa.Table, np.ndarray]] = []

    def add(self, drops: pa.Table, key_hashes: np.ndarray, source: str | None = None) -> tuple[int, int]:
        self.tables.append(drops)
        self.keys.append(np.asarray(key_hashes, dtype=np.uint64))
        return drops.num_rows, 0  # stored or not is decided by the anti-join, on Spark

    def add_allowed(self, events: pa.Table, key_hashes: np.ndarray, source: str | None = None) -> tuple[int, int]:
        self.allowed.append((events, np.asarray(key_hashes, dtype=np.uint64)))
        return events.num_rows, 0  # folded into the day's aggregates by the driver's writer


def _output_schema() -> pa.Schema:
    fields = [pa.field(f.name, f.type) for f in DROPS_SCHEMA]  # nullable: the meta rows have no drop
    return pa.schema([pa.field("fidx", pa.int32()), pa.field("ridx", pa.int64()), pa.field("date", pa.date32()),
                      pa.field("key", pa.decimal128(20, 0)), *fields, pa.field(_META, pa.binary())])


def read_files(batches: Iterable[pa.RecordBatch], shared: bytes) -> Iterator[pa.RecordBatch]:
    """The executor's part: run the file job on each file of the partition; its drops and a meta row."""
    import duckdb

    manifest, config, options = pickle.loads(shared)
    schema = _output_schema()
    for batch in batches:
        for fidx, blob in zip(batch.column("fidx").to_pylist(), batch.column("item").to_pylist(), strict=True):
            item: InputFile = pickle.loads(blob)
            writer = _CollectingWriter(options["run_id"])
            calls: list[tuple] = []
            marks = {k: dict(v) for k, v in manifest.watermarks.items()}
            record, restamp = manifest.record, manifest.restamp

            def recorded(entry: Any, _calls: list = calls, _record: Any = record) -> None:
                _calls.append(("record", entry))
                _record(entry)

            def restamped(entry: Any, path: str, mtime_ns: int, _calls: list = calls, _restamp: Any = restamp) -> None:
                _calls.append(("restamp", entry.size, entry.sha256, path, mtime_ns))
                _restamp(entry, path, mtime_ns)

            manifest.record, manifest.restamp = recorded, restamped
            sink: list = []
            con = duckdb.connect()
            try:
                run = _Run(Warehouse(options["root"]), writer, manifest, config, con, options["host"],  # type: ignore[arg-type]
                           options["source_tz"], options["engine"], None, sink.append, options["reread"])
                result = _ingest_file(item, run)
            finally:
                con.close()
                manifest.record, manifest.restamp = record, restamp
            if result.issues is not None:
                result.issues.sink = None
            changed = {k: v for k, v in manifest.watermarks.items() if marks.get(k) != v}
            meta = pickle.dumps({"result": result, "calls": calls, "watermarks": changed, "sink": sink,
                                 "source": str(item.path.resolve()), "allowed": writer.allowed})
            ridx = 0
            for table, keys in zip(writer.tables, writer.keys, strict=True):
                n = table.num_rows
                micros = table.column("event_time").cast(pa.int64()).to_numpy(zero_copy_only=False)
                cols = {
                    "fidx": pa.array(np.full(n, fidx, np.int32)), "ridx": pa.array(np.arange(ridx, ridx + n)),
                    "date": pa.array((micros // 86_400_000_000).astype("int32"), pa.int32()).cast(pa.date32()),
                    "key": pa.array(keys, pa.uint64()).cast(pa.decimal128(20, 0)),
                }
                ridx += n
                arrays = [cols[f.name] if f.name in cols else
                          (table.column(f.name).cast(f.type) if f.name != _META else pa.nulls(n, pa.binary()))
                          for f in schema]
                yield from pa.Table.from_arrays(arrays, schema=schema).to_batches()
            empty = {f.name: pa.nulls(1, f.type) for f in schema}
            empty["fidx"] = pa.array([fidx], pa.int32())
            empty[_META] = pa.array([meta], pa.binary())
            yield pa.RecordBatch.from_arrays([empty[f.name] for f in schema], schema=schema)


def ingest(paths: Iterable[str | os.PathLike[str]], warehouse: Warehouse | str | os.PathLike[str],
           config: Config | None = None, *, host: str | None = None, source_tz: str | None = None,
           engine: str = "evtx", reread: bool = False, spark: Any = None, master: str | None = None,
           partitions: int | None = None) -> IngestReport:
    """:func:`pipeline.ingest.ingest` with the files read on Spark executors (see the module docstring).

    ``partitions``: how many tasks the files are spread over (default: one per file, at most
    ``spark.default.parallelism`` x 4).  The same warehouse as a normal run of the same files results
    (same drops, keys, manifest entries); the report's files are in input order.
    """
    wh = warehouse if isinstance(warehouse, Warehouse) else Warehouse(warehouse)
    config = config or Config()
    check_options(source_tz, engine)
    plan = plan_inputs(paths, exclude=[wh.root])
    spark = spark or spark_session(master)
    lock = wh.lock()
    try:
        return _ingest_locked(spark, plan.files, wh, config, host, source_tz, engine, reread, partitions)
    finally:
        lock.release()


def _ingest_locked(spark: Any, files: list[InputFile], wh: Warehouse, config: Config, host: str | None,
                   source_tz: str | None, engine: str, reread: bool, partitions: int | None) -> IngestReport:
    from datetime import UTC, datetime

    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from .correlate import spark_types

    try:
        recovered = wh.recover()
    except OSError as exc:
        raise wrap_os_error(exc, "cannot clean up after an interrupted run: failed on") from exc
    manifest = wh.manifest()
    writer = wh.writer()
    report = IngestReport(writer.run_id, recovered=recovered, input_bytes=sum(f.size for f in files))
    skipped = _SkippedList(writer.skipped_csv_path)
    try:
        options = {"run_id": writer.run_id, "root": str(wh.root), "host": host, "source_tz": source_tz,
                   "engine": engine, "reread": reread}
        shared = pickle.dumps((manifest, config, options))
        items = pa.table({"fidx": pa.array(range(len(files)), pa.int32()),
                          "item": pa.array([pickle.dumps(f) for f in files], pa.binary())})
        slots = partitions or max(1, min(len(files), int(spark.sparkContext.defaultParallelism) * 4))
        schema = _output_schema()
        out = (spark.createDataFrame(items).repartition(slots, "fidx")
               .mapInArrow(lambda batches: read_files(batches, shared), spark_types(schema))
               .localCheckpoint(eager=True))
        metas = {r.fidx: pickle.loads(r[_META]) for r in out.where(F.col(_META).isNotNull())
                 .select("fidx", _META).collect()}
        drops = out.where(F.col(_META).isNull()).drop(_META)
        keys_dir = wh.root / "_keys"
        if keys_dir.is_dir() and any(keys_dir.glob("date=*/*.parquet")):
            stored = spark.read.parquet(str(keys_dir)).select(F.col("date").cast("date"), "key")
            drops = drops.join(stored, on=["date", "key"], how="left_anti")
        first = Window.partitionBy("date", "key").orderBy("fidx", "ridx")
        fresh = (drops.withColumn("_n", F.row_number().over(first)).where("_n = 1").drop("_n")
                 .orderBy("fidx", "ridx").toArrow())
        by_file = _split(fresh)
        for fidx in range(len(files)):
            meta = metas[fidx]
            result = meta["result"]
            fresh_rows = by_file.get(fidx)
            stored_rows = fresh_rows[0].num_rows if fresh_rows is not None else 0
            result.duplicates = result.drops_stored - stored_rows  # the collecting writer counted every drop
            result.drops_stored = stored_rows
            if fresh_rows is not None:
                writer.add(fresh_rows[0], fresh_rows[1], meta["source"])
            # observed permitted traffic (the allowed dataset): aggregated per flow and day, so it is
            # de-duplicated and folded by the driver's writer against _allowed_keys, in input order
            result.allowed_stored = sum(writer.add_allowed(events, keys, meta["source"])[0]
                                        for events, keys in meta["allowed"])
            for issue in meta["sink"]:
                skipped.write(issue)
            for call in meta["calls"]:
                if call[0] == "record":
                    entry = call[1]
                    entry.drops_stored, entry.duplicates = result.drops_stored, result.duplicates
                    entry.allowed_stored = result.allowed_stored
                    manifest.record(entry)
                else:
                    _, size, sha, path, mtime_ns = call
                    seen = manifest.unchanged(size, sha)
                    if seen is not None:
                        manifest.restamp(seen, path, mtime_ns)
            manifest.watermarks.update(meta["watermarks"])
            report.files.append(result)
        report.damage = _damage(wh, manifest, writer)
        skipped_csv = skipped.close()
        manifest.runs.append({
            "run": writer.run_id, "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "files": len(report.files), "rows_read": report.total("rows_read"),
            "drops_stored": report.total("drops_stored"), "duplicates": report.total("duplicates"),
            "allowed_stored": report.total("allowed_stored"), "skipped": report.total("skipped"),
            "refused_files": len(report.refused_files),
            "parts": len(writer.part_info), "reread": reread, "engine": "spark",
        })
        report.parts = writer.publish(manifest, skipped_csv)
    except BaseException as exc:
        skipped.discard()
        writer.abandon()
        if isinstance(exc, OSError):
            raise _failed(wrap_os_error(exc, "cannot write"), writer) from exc
        if isinstance(exc, WarehouseError):
            raise _failed(exc, writer) from exc
        raise
    if skipped_csv:
        report.skipped_csv = str(wh.runs_dir / skipped_csv.name)
    return report


def _split(fresh: pa.Table) -> dict[int, tuple[pa.Table, np.ndarray]]:
    """The new drops per input file (in input order), in the drops schema, with their keys."""
    out: dict[int, tuple[pa.Table, np.ndarray]] = {}
    if fresh.num_rows == 0:
        return out
    fidx = fresh.column("fidx").to_numpy()
    starts = np.flatnonzero(np.r_[True, fidx[1:] != fidx[:-1]])
    ends = np.r_[starts[1:], len(fidx)]
    rows = pa.Table.from_arrays([fresh.column(f.name).cast(f.type) for f in DROPS_SCHEMA],
                                schema=DROPS_SCHEMA)
    keys = np.array([int(k) for k in fresh.column("key").to_pylist()], dtype=np.uint64)
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        out[int(fidx[a])] = (rows.slice(a, b - a), keys[a:b])
    return out
