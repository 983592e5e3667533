"""The SQL of ``queries/``: one DuckDB query per file, read at run time.

SQL is data: Python only finds a query by name, binds parameters and runs it.
The repository's top-level ``queries/`` folder is installed as the package
``pipeline._queries`` (see ``pyproject.toml``), so the same files are found in a
source checkout, an editable install and a wheel, through :mod:`importlib.resources`.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

QUERIES_PACKAGE = "pipeline._queries"


def queries_dir() -> Traversable:
    """The folder of the ``.sql`` files, wherever the package is installed.

    In a source checkout the ``queries/`` beside the package wins: an editable install's mapping
    may point at another checkout of the repository (git worktrees sharing one virtualenv).
    """
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").is_file() and (here / "queries" / "flows.sql").is_file():
        return here / "queries"
    return resources.files(QUERIES_PACKAGE)


@cache
def query(name: str) -> str:
    """The text of ``queries/<name>.sql``."""
    path = queries_dir() / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"query {name!r} not found in {queries_dir()}")
    return path.read_text(encoding="utf-8")
