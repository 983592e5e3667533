"""The SQL of ``queries/``: one DuckDB query per file, read at run time.

SQL is data: Python only finds a query by name, binds parameters and runs it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

QUERIES_DIR = Path(__file__).resolve().parent.parent / "queries"


@cache
def query(name: str) -> str:
    """The text of ``queries/<name>.sql``."""
    path = QUERIES_DIR / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"query {name!r} not found in {QUERIES_DIR}")
    return path.read_text(encoding="utf-8")
