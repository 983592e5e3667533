"""Shared test set-up: where ../shared is, and how a test that needs it behaves without it.

The real public files of ``../shared/corpus/`` are used from there, never copied in
(some are GPL-3.0).  A developer's clone may not have ``../shared``: those tests are then
skipped with the reason printed.  In CI (``CI`` set, as ``.ci/run`` does) a missing
``../shared`` is a failure, so the corpus tests can never vanish silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def shared_path(*parts: str) -> Path:
    """``../shared/<parts>``; fails the test in CI when it is missing, skips it (with the reason) elsewhere."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = f"{path} not found: this test needs ../shared beside the checkout"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


SAMPLE = REPO / "sample_logs"
SAMPLE_CONFIG = SAMPLE / "ipsec-drops.toml"


@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory) -> Path:
    """The warehouse the README's first command builds from ``sample_logs/``, built once per test session.

    Read-only for the tests that use it: a test that changes a warehouse copies this one first.
    """
    from click.testing import CliRunner

    from pipeline.cli import cli

    root = tmp_path_factory.mktemp("sample-warehouse")
    result = CliRunner().invoke(cli, ["-q", "--config", str(SAMPLE_CONFIG), "ingest", str(SAMPLE / "exports"),
                                      "--warehouse", str(root)])
    assert result.exit_code == 0, result.output
    return root
