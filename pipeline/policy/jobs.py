"""Whole policy tasks the command line and the nightly job share: lint a script, load the hosts' scripts.

Each returns plain data with the outcome decided here (``has_problems``), so the
command line only prints it and maps it to an exit code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config
from ..warehouse import Warehouse
from . import PolicyAnalysis, analyse_script
from .model import PolicyIssue
from .store import LoadResult, load_snapshot

SEVERITIES = ("error", "warning", "info")


@dataclass
class LintReport:
    """A script's parse problems and lint findings, in line order, with counts per severity."""

    analysis: PolicyAnalysis
    findings: list[PolicyIssue]  # lint only
    everything: list[PolicyIssue]  # parse problems and findings, by line

    @property
    def counts(self) -> dict[str, int]:
        return {s: sum(1 for i in self.everything if i.severity == s) for s in SEVERITIES}

    @property
    def has_problems(self) -> bool:
        """Anything of warning or error severity (the command's exit code 1)."""
        return any(i.severity in ("error", "warning") for i in self.everything)

    def summary(self, verbose: bool = False) -> str:
        c = self.counts
        return (f"{self.analysis.file}: {c['error']} error(s), {c['warning']} warning(s), {c['info']} note(s)"
                + ("" if verbose or not c["info"] else " (notes shown with -v)"))


def lint_script(analysis: PolicyAnalysis) -> LintReport:
    findings = analysis.lint()
    return LintReport(analysis, findings, sorted(analysis.issues + findings, key=lambda i: i.line))


@dataclass
class HostLoad:
    """One host's script loaded (or not) into the warehouse."""

    host: str
    script: Path
    analysis: PolicyAnalysis | None = None
    result: LoadResult | None = None
    error: str | None = None  # the script could not be read

    @property
    def failed(self) -> bool:
        return self.error is not None or (self.analysis is not None and self.analysis.errors > 0)


@dataclass
class PolicyLoads:
    loads: list[HostLoad] = field(default_factory=list)

    @property
    def has_problems(self) -> bool:
        return any(load.failed for load in self.loads)


def host_scripts(config: Config) -> list[tuple[str, Path]]:
    """(host, policy script) of every config host that has one."""
    return [(h.name, h.policy) for h in config.hosts.values() if h.policy is not None]


def load_policies(jobs: list[tuple[str, Path]], warehouse: Warehouse, config: Config,
                  defines: dict[str, str] | None = None, **analyse_options: object) -> PolicyLoads:
    """Analyse and store each (host, script); an unreadable script is recorded and the others go on.

    Raises ``ValueError`` for a host that is not in the config and ``WarehouseLocked`` when
    another run holds the warehouse.
    """
    out = PolicyLoads()
    for host, script in jobs:
        load = HostLoad(host, Path(script))
        out.loads.append(load)
        try:
            load.analysis = analyse_script(script, host=host, config=config, defines=defines,
                                           **analyse_options)  # type: ignore[arg-type]
        except OSError as exc:
            load.error = f"cannot read {script}: {exc.strerror or exc}"
            continue
        load.result = load_snapshot(load.analysis, warehouse)
    return out
