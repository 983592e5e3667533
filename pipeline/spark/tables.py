"""Table definitions of the warehouse for other engines (Spark SQL, Trino), from the schemas themselves.

Nothing is converted: the definitions name the files where they lie.  Types: Parquet UINT64 (the
address halves ``hi``/``lo``) as ``DECIMAL(20,0)``, which holds every value up to 2**64 - 1 exactly and
orders them as numbers (Spark reads UINT64 so itself; a struct of two compares as the 128-bit address);
timestamps are UTC instants (Parquet ``isAdjustedToUTC``).  Imports no engine (the README is generated
from it).
"""

from __future__ import annotations

from typing import Any


def _type(t: Any, dialect: str) -> str:
    import pyarrow as pa

    spark = dialect == "spark"
    if pa.types.is_struct(t):
        inner = ", ".join(f"{f.name}{':' if spark else ''} {_type(f.type, dialect)}" for f in t)
        return f"STRUCT<{inner}>" if spark else f"ROW({inner})"
    if pa.types.is_list(t):
        return f"ARRAY<{_type(t.value_type, dialect)}>" if spark else f"ARRAY({_type(t.value_type, dialect)})"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP" if spark else "TIMESTAMP(6)"
    names = {"string": ("STRING", "VARCHAR"), "int8": ("TINYINT", "TINYINT"), "int16": ("SMALLINT", "SMALLINT"),
             "int32": ("INT", "INTEGER"), "int64": ("BIGINT", "BIGINT"), "uint64": ("DECIMAL(20,0)", "DECIMAL(20,0)"),
             "bool": ("BOOLEAN", "BOOLEAN"), "date32[day]": ("DATE", "DATE")}
    return names[str(t)][0 if spark else 1]


def table_schemas() -> dict[str, Any]:
    """The warehouse's tables and their Arrow schemas: ``drops`` and the policy tables (``policy/<name>``)."""
    from ..policy.store import SCHEMAS, TABLES
    from ..schema import DROPS_SCHEMA

    return {"drops": DROPS_SCHEMA, **{name: SCHEMAS[name] for name in TABLES}}


def ddl(table: str, location: str, dialect: str = "spark") -> str:
    """``CREATE TABLE`` for one table of the warehouse at ``location`` (the warehouse's root URL), as it is stored.

    ``dialect``: ``spark`` (Spark SQL, a Hive-partitioned Parquet table over ``drops/``) or ``trino``
    (the Hive connector, external location).
    """
    schema = table_schemas()[table]
    where = f"{location.rstrip('/')}/{'drops' if table == 'drops' else 'policy/' + table}"
    columns = [(f.name, _type(f.type, dialect)) for f in schema]
    if table == "drops":
        columns.append(("date", "DATE"))
    width = max(len(n) for n, _ in columns)
    body = ",\n".join(f"  {n.ljust(width)} {t}" for n, t in columns)
    if dialect == "spark":
        parts = "\nPARTITIONED BY (date)" if table == "drops" else ""
        return f"CREATE TABLE {table} (\n{body}\n) USING parquet{parts}\nLOCATION '{where}';"
    props = ["format = 'PARQUET'", f"external_location = '{where}'"]
    if table == "drops":
        props.append("partitioned_by = ARRAY['date']")
    return f"CREATE TABLE {table} (\n{body}\n) WITH ({', '.join(props)});"
