"""The README stays true: its command-line reference is the commands' own ``--help``."""

from __future__ import annotations

from cogapp import Cog
from conftest import REPO


def test_readme_command_reference_is_generated_from_help_and_current(monkeypatch):
    monkeypatch.chdir(REPO)
    status = Cog().main(["cog", "--check", "README.md"])
    assert status == 0, "README.md is stale: run `cog -r README.md`"
