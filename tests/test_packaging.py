"""What a wheel carries: every package of the tree, the SQL files, the data files (Foundation defect 7)."""

from __future__ import annotations

import tomllib

from conftest import REPO

import pipeline
from pipeline.queries import queries_dir, query


def test_every_package_of_the_tree_is_listed_in_pyproject():
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    tree = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "pipeline").rglob("__init__.py")}
    assert tree | {"pipeline._queries"} == listed


def test_queries_are_package_data_and_the_version_is_defined_once():
    names = {p.name for p in queries_dir().iterdir() if p.name.endswith(".sql")}
    assert names == {p.name for p in (REPO / "queries").glob("*.sql")}
    assert query("flows").startswith("-- flows:")
    meta = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "version" not in meta and meta["dynamic"] == ["version"]
    assert pipeline.__version__
    assert (REPO / "pipeline" / "py.typed").exists()


def test_every_sql_file_starts_with_a_header_comment():
    for path in (REPO / "queries").glob("*.sql"):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith(f"-- {path.stem}:"), path
