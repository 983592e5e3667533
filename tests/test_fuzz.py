"""Fuzz the readers, the EVTX path and the netsh parser: every mutant of a real file gets an answer.

The targets and what each checks are in ``tests/fuzzing.py`` (shared with ``bench/fuzz_long.py``,
the long run).  Here each runs under hypothesis with a bounded example count, derandomized in
CI (``CI`` set, as ``.ci/run`` does) so a run is the same every time; locally the examples are
random and hypothesis keeps the failing ones in its database.  ``FUZZ_SCALE=10`` runs ten
times as many.  A failure is shrunk to a few mutations of one seed file: keep it as a fixture
in ``tests/data/fuzz/`` with a test in ``tests/test_fuzz_regressions.py``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from conftest import in_ci, shared_path
from fuzzing import TARGETS, evtx_seeds, ops_strategy, text_seeds
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

settings.register_profile("fuzz-ci", deadline=None, derandomize=True, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("fuzz-dev", deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PROFILE = settings.get_profile("fuzz-ci" if in_ci() else "fuzz-dev")
SCALE = float(os.environ.get("FUZZ_SCALE", "1"))

#: Examples per target in one test run: about 25 s on two cores for all of them together (the long run,
#: ``bench/fuzz_long.py``, runs tens of thousands; ``FUZZ_SCALE`` multiplies these).
EXAMPLES = {
    "w3c": 60, "csv": 60, "pfirewall": 50, "iis": 40, "netsh": 120,
    "ingest-w3c": 8, "ingest-csv": 6, "ingest-pfirewall": 6, "ingest-iis": 5, "ingest-grown": 5, "ingest-grown-csv": 3,
    "evtx": 12, "evtx-python": 4,
}


def _fuzz(name: str):
    target = TARGETS[name]
    seeds = target.seeds()

    @settings(PROFILE, max_examples=max(1, int(EXAMPLES[name] * SCALE)))
    @given(seed=st.sampled_from(range(len(seeds))), ops=ops_strategy())
    def run(seed: int, ops: list) -> None:
        mutant = target.mutator(seeds[seed][1], ops)
        with tempfile.TemporaryDirectory(prefix="fuzz-") as folder:
            target.check(mutant, Path(folder))

    return run


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_fuzz(name):
    _fuzz(name)()


def test_every_target_has_a_bounded_example_count_and_seeds():
    assert set(EXAMPLES) == set(TARGETS)
    for name, target in TARGETS.items():
        assert len(target.seeds()) >= 3, name


def test_the_seeds_include_the_shared_corpus():
    """The real-world files of ../shared are seeds (read there at run time, never copied in)."""
    pfirewall = shared_path("corpus", "realworld", "pfirewall")
    evtx = shared_path("corpus", "evtx")
    names = {n for n, _ in text_seeds("pfirewall")}
    assert {p.name for p in pfirewall.iterdir()} <= names
    small = {p.name for p in evtx.iterdir() if p.suffix == ".evtx" and p.stat().st_size <= 128 * 1024}
    assert small and small <= {n for n, _ in evtx_seeds()}


def test_the_mutants_are_near_valid_most_are_read_not_refused():
    """A fuzzer whose inputs every reader refuses at the first check tests nothing: most mutants of a
    real export must still yield rows."""
    import random

    target = TARGETS["w3c"]
    rng = random.Random(1)
    read = 0
    for _ in range(60):
        name, data = rng.choice(target.seeds())
        from fuzzing import random_ops

        with tempfile.TemporaryDirectory() as folder:
            read += target.check(target.mutator(data, random_ops(rng, most=2)), Path(folder)).rows > 0
    assert read >= 30
