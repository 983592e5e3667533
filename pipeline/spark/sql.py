"""The queries of ``queries/`` as Spark SQL: one source of truth, the dialect differences isolated.

DuckDB runs ``queries/<name>.sql`` as it is.  For Spark, :func:`spark_query` first replaces every
line that ends in ``-- @spark: TEXT`` by TEXT (kept to the few DuckDB features with no portable
form: the day bitmap ``bitstring_agg``, ``row_number() OVER ()`` without an order), then has
sqlglot transpile the whole text from DuckDB to Spark SQL (``$name`` parameters become ``:name``
markers, ``list``/``arg_max``/``list_sort`` ... their Spark names, ``EXCLUDE`` becomes ``EXCEPT``,
NULL ordering made explicit).  Everything else is written once in a form both engines run:
address ranges as ``{hi, lo}`` structs compared field by field, the boot window as
``$boot_window * INTERVAL 1 SECOND``, the winner's rank as ``DECIMAL(38, 0)``.
"""

from __future__ import annotations

import re
from functools import cache

from ..queries import query

#: ``<code>  -- @spark: <replacement>`` (an empty replacement drops the line on Spark).
_OVERRIDE = re.compile(r"^(?P<indent>\s*)(?P<code>.*?)\s*--\s*@spark:\s?(?P<spark>.*)$")
_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)\b")


def spark_overrides(text: str) -> str:
    """``text`` with each ``-- @spark:`` line replaced by its Spark form (comments stay comments)."""
    out = []
    for line in text.splitlines():
        m = _OVERRIDE.match(line)
        if m and not m.group("code").lstrip().startswith("--"):
            if m.group("spark").strip():
                out.append(m.group("indent") + m.group("spark").rstrip())
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def transpile(text: str) -> str:
    """DuckDB SQL (with ``-- @spark:`` overrides) as Spark SQL."""
    import sqlglot

    statements = sqlglot.transpile(spark_overrides(text), read="duckdb", write="spark",
                                   unsupported_level=sqlglot.ErrorLevel.RAISE, pretty=True)
    if len(statements) != 1:
        raise ValueError(f"expected one statement, got {len(statements)}")
    return statements[0]


@cache
def spark_query(name: str) -> str:
    """``queries/<name>.sql`` as Spark SQL (cached)."""
    return transpile(query(name))


def parameters(text: str) -> set[str]:
    """The ``:name`` parameter markers of a Spark SQL text (outside string literals and comments)."""
    code = re.sub(r"'(?:[^']|'')*'", "''", re.sub(r"/\*.*?\*/", "", text, flags=re.S))
    return set(_PARAMETER.findall(code))
