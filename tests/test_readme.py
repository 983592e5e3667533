"""The README's Python examples run (as doctests), from a folder that holds the sample site."""

from __future__ import annotations

import doctest
import os

from conftest import REPO


def test_readme_python_examples_run_as_doctests(tmp_path, monkeypatch):
    (tmp_path / "sample_logs").symlink_to(REPO / "sample_logs")
    monkeypatch.chdir(tmp_path)
    result = doctest.testfile(str(REPO / "README.md"), module_relative=False, optionflags=doctest.ELLIPSIS,
                              verbose=False, report=True)
    assert result.attempted >= 10
    assert result.failed == 0, f"{result.failed} README example(s) failed (the report above shows which)"
    assert os.path.isdir("warehouse")
