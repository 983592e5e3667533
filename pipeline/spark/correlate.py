"""The flows view on Spark: ``queries/flow_tuples.sql``, ``tuple_verdicts.sql`` and ``flows.sql`` as Spark SQL
over the same warehouse files, giving the rows :func:`pipeline.correlate.flows` gives.

What is read where: ``drops/`` (Hive partitions ``date=YYYY-MM-DD``) and ``policy/filters/`` by Spark
itself, as they are stored (Parquet UINT64 address halves arrive as DECIMAL(20,0), compared field by
field like DuckDB's UBIGINT structs); the policy periods and the filters of config scripts never
loaded are computed on the driver by the same code as DuckDB's session (:func:`pipeline.correlate._periods`),
and like the other policy relations are small and broadcast.  The day bitmap of DuckDB is a list of
day numbers here (``-- @spark:`` lines of the queries); the result carries the same columns and types.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa

from ..config import Config
from ..correlate import BOOT_WINDOW, PERIODS_SCHEMA, WarehouseLike, _instant, _periods, require_warehouse
from ..schema import DROPS_SCHEMA, VERDICTS
from .session import spark_session
from .sql import parameters, spark_query

#: The flows view's columns and types, as :meth:`pipeline.correlate.Session.flows` returns them.
FLOWS_SCHEMA = pa.schema([
    ("host", pa.string()), ("direction", pa.string()), ("protocol", pa.int16()), ("local_ip", pa.string()),
    ("local_port", pa.int32()), ("remote_ip", pa.string()), ("remote_port", pa.int32()), ("packets", pa.int64()),
    ("events", pa.int64()), ("first_seen", pa.timestamp("us", tz="UTC")), ("last_seen", pa.timestamp("us", tz="UTC")),
    ("days_seen", pa.int64()), ("verdict", pa.string()), ("rule", pa.string()), ("filter_list", pa.string()),
    ("action", pa.string()), ("source_line", pa.int32()), ("source_file", pa.string()), ("snapshot", pa.string()),
    ("weight", pa.int64()), ("mirror", pa.bool_()), ("wfp_filter_ids", pa.list_(pa.field("l", pa.int64()))),
    ("drop_kinds", pa.list_(pa.field("l", pa.string()))),
])
#: Rows Spark's LIMIT gets when every row is wanted (a bound parameter cannot be NULL there).
_ALL_ROWS = 2**31 - 1


def spark_types(schema: pa.Schema) -> Any:
    """A Spark StructType for an Arrow schema, UINT64 as DECIMAL(20,0) (how Spark reads Parquet UINT64)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(pa.schema([pa.field(f.name, _decimal_uint64(f.type)) for f in schema]))


def _decimal_uint64(t: pa.DataType) -> pa.DataType:
    if pa.types.is_uint64(t):
        return pa.decimal128(20, 0)
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _decimal_uint64(f.type)) for f in t])
    return t


def _spark_table(table: pa.Table) -> pa.Table:
    """An Arrow table Spark can take (UINT64 as DECIMAL(20,0), the type Spark reads from the Parquet files)."""
    return table.cast(pa.schema([pa.field(f.name, _decimal_uint64(f.type)) for f in table.schema]))


def drops_frame(spark: Any, root: Any) -> Any:
    """The drops dataset as Spark reads it: ``drops/date=*/*.parquet`` with the Hive ``date`` as DATE."""
    from pyspark.sql.types import DateType, StructField

    schema = spark_types(DROPS_SCHEMA)
    schema = schema.add(StructField("date", DateType()))
    folder = root / "drops"
    if not folder.is_dir() or not any(folder.glob("date=*/*.parquet")):
        return spark.createDataFrame([], schema)
    return spark.read.schema(schema).option("basePath", str(folder)).parquet(str(folder))


def policy_frame(spark: Any, root: Any, name: str, extra: list[pa.Table]) -> Any:
    """A policy table: the warehouse's files (read by Spark as they are) and the tables of unloaded config scripts."""
    from ..policy.store import SCHEMAS, policy_dir

    schema = spark_types(SCHEMAS[name])
    folder = policy_dir(root) / name
    frames = []
    if folder.is_dir() and any(folder.glob("*.parquet")):
        frames.append(spark.read.schema(schema).parquet(str(folder)))
    if extra:
        frames.append(spark.createDataFrame(_spark_table(pa.concat_tables(extra).cast(SCHEMAS[name]))))
    if not frames:
        return spark.createDataFrame([], schema)
    frame = frames[0]
    for other in frames[1:]:
        frame = frame.unionByName(other)
    return frame


def register_ip_number(spark: Any) -> None:
    """``ip_number(text)`` and ``ip_key(bound)`` for Spark SQL.

    ``ip_number``: the address as ``STRUCT<hi DECIMAL(20,0), lo DECIMAL(20,0)>`` (the type Spark
    reads the filter bounds as), by Python's ``ipaddress`` like the bounds themselves
    (:func:`pipeline.policy.addresses.ip_number`).  A UDF that runs once per distinct tuple (after the
    grouping), never per drop; defined here so it is shipped by value: executors need no ``pipeline``."""
    from pyspark.sql.types import DecimalType, StructField, StructType

    def ip_number(text: str | None) -> tuple | None:
        import ipaddress
        from decimal import Decimal

        if not text:
            return None
        try:
            number = int(ipaddress.ip_address(text))
        except ValueError:
            return None
        return Decimal(number >> 64), Decimal(number & 0xFFFF_FFFF_FFFF_FFFF)

    address = StructType([StructField("hi", DecimalType(20, 0)), StructField("lo", DecimalType(20, 0))])
    spark.udf.register("ip_number", ip_number, address)
    # ip_key(bound): the halves as BIGINT with the sign bit flipped (x - 2**63): the same order, but compared
    # as longs, not as 20-digit decimals (which Spark keeps as objects): the range join's hot comparison
    spark.sql("""
        CREATE OR REPLACE TEMPORARY FUNCTION ip_key(a STRUCT<hi: DECIMAL(20,0), lo: DECIMAL(20,0)>)
        RETURNS STRUCT<hi: BIGINT, lo: BIGINT>
        RETURN CASE WHEN a IS NOT NULL THEN named_struct('hi', CAST(a.hi - 9223372036854775808 AS BIGINT),
                                                         'lo', CAST(a.lo - 9223372036854775808 AS BIGINT)) END""")


class SparkCorrelation:
    """The warehouse's relations registered as Spark temporary views (``drops``, ``filters``,
    ``policy_periods``, ``judge_snapshots``) and the function ``ip_number``: what the flows queries read."""

    def __init__(self, warehouse: WarehouseLike, config: Config | None = None, *, spark: Any = None,
                 master: str | None = None) -> None:
        from pyspark.sql.functions import broadcast

        self.root = require_warehouse(warehouse)
        self.config = config
        self.spark = spark or spark_session(master)
        self.notes: list[str] = []
        period_rows, extra = _periods(self.root, config, {}, self.notes)
        s = self.spark
        register_ip_number(s)
        drops_frame(s, self.root).createOrReplaceTempView("drops")
        broadcast(policy_frame(s, self.root, "filters", extra["filters"])).createOrReplaceTempView("filters")
        periods = pa.Table.from_pylist(period_rows, schema=PERIODS_SCHEMA)
        broadcast(s.createDataFrame(periods, spark_types(PERIODS_SCHEMA)) if periods.num_rows else
                  s.createDataFrame([], spark_types(PERIODS_SCHEMA))).createOrReplaceTempView("policy_periods")
        judged = pa.schema([("host", pa.string()), ("snapshot", pa.string())])
        broadcast(s.createDataFrame([], spark_types(judged))).createOrReplaceTempView("judge_snapshots")

    def sql(self, name: str, **params: Any) -> Any:
        """A DataFrame of ``queries/<name>.sql`` run as Spark SQL, its ``:name`` markers bound from ``params``."""
        text = spark_query(name)
        wanted = parameters(text)
        missing = wanted - set(params)
        if missing:
            raise ValueError(f"query {name} needs the parameters {', '.join(sorted(missing))}")
        return self.spark.sql(text, args={k: v for k, v in params.items() if k in wanted})

    def flows_frame(self, *, host: str | None = None, since: datetime | str | None = None,
                    until: datetime | str | None = None, verdict: str | None = None, top: int | None = None,
                    boot_window: int = BOOT_WINDOW) -> Any:
        """The flows view as a Spark DataFrame (with ``days``, the list of day numbers), most packets first."""
        if verdict is not None and verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {verdict!r}; one of {', '.join(VERDICTS)}")
        if top is not None and top < 0:
            raise ValueError("top must be 0 or more")
        # the tuples are numbered (monotonically_increasing_id): materialised once, so that every
        # reference of the later queries sees the same numbers (DuckDB's TEMP TABLE of the same stage)
        tuples = self.sql("flow_tuples", host=host, since=_instant(since), until=_instant(until),
                          boot_window=int(boot_window), day0=0, day1=0).localCheckpoint(eager=True)
        tuples.createOrReplaceTempView("flow_tuples")
        self.sql("tuple_verdicts").createOrReplaceTempView("tuple_verdicts")
        return self.sql("flows", verdict=verdict, top=_ALL_ROWS if top is None else int(top))

    def flows(self, **options: Any) -> pa.Table:
        """The flows view as an Arrow table (:data:`FLOWS_SCHEMA`): the rows of DuckDB's ``Session.flows``."""
        return to_flows_table(self.flows_frame(**options).drop("days").toArrow())


def to_flows_table(table: pa.Table) -> pa.Table:
    """Spark's Arrow result in the DuckDB engine's types (list field names, int64 day counts, UTC)."""
    columns = [table.column(f.name).cast(f.type) for f in FLOWS_SCHEMA]
    return pa.Table.from_arrays(columns, schema=FLOWS_SCHEMA)


def flows(warehouse: WarehouseLike, config: Config | None = None, *, host: str | None = None,
          since: datetime | str | None = None, until: datetime | str | None = None, verdict: str | None = None,
          top: int | None = None, boot_window: int = BOOT_WINDOW, spark: Any = None,
          master: str | None = None) -> pa.Table:
    """The flows view computed by Spark (``spark``, else a session on ``master``, default ``local[2]``).

    The same arguments and rows as :func:`pipeline.correlate.flows`.
    """
    return SparkCorrelation(warehouse, config, spark=spark, master=master).flows(
        host=host, since=since, until=until, verdict=verdict, top=top, boot_window=boot_window)
