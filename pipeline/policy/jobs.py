"""Whole policy tasks the command line and the nightly job share: lint a script, load the hosts' scripts.

Each returns plain data with the outcome decided here (``has_problems``), so the
command line only prints it and maps it to an exit code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

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


def host_for_script(config: Config, script: str | Path) -> str | None:
    """The config host whose ``policy`` (or a ``policy_history`` script) is ``script``, when exactly one is."""
    wanted = Path(script).resolve()
    owners = {h.name for h in config.hosts.values()
              for p in [h.policy, *(e.script for e in h.policy_history)]
              if p is not None and Path(p).resolve() == wanted}
    return owners.pop() if len(owners) == 1 else None


def lint_hosts(config: Config, **analyse_options: object) -> list[LintReport | HostLoad]:
    """Lint every config host's ``policy``: a report per host, or a :class:`HostLoad` with the read error."""
    out: list[LintReport | HostLoad] = []
    for host, script in host_scripts(config):
        try:
            analysis = analyse_script(script, host=host, config=config, **analyse_options)  # type: ignore[arg-type]
        except OSError as exc:
            out.append(HostLoad(host, Path(script), error=f"cannot read {script}: {exc.strerror or exc}"))
            continue
        out.append(lint_script(analysis))
    return out


@dataclass
class StoredSnapshot:
    """A host's current policy snapshot as the warehouse holds it: its tables, filters most specific first."""

    host: str
    snapshot: str
    tables: dict[str, pa.Table]

    @property
    def source_file(self) -> str | None:
        rows = self.tables["snapshots"].to_pylist()
        return rows[-1]["source_file"] if rows else None


def stored_snapshot(root: Path, host: str) -> StoredSnapshot:
    """The current snapshot of ``host`` in the warehouse at ``root``; LookupError (naming the hosts) when none."""
    import pyarrow.parquet as pq

    from .store import SCHEMAS, TABLES, current_snapshots, snapshot_files

    current = current_snapshots(root)
    found = next((h for h in current if h.lower() == host.lower()), None)
    if found is None:
        from ..config import host_list, shown

        known = host_list(sorted(current)) or "none"
        raise LookupError(f"the warehouse at {root} holds no policy snapshot of {shown(host)!r} (hosts with one: "
                          f"{known}); "
                          "load one with `ipsec-drops policy load`")
    files = snapshot_files(root, found, current[found])
    tables = {t: pq.read_table(files[t], schema=SCHEMAS[t]) if files[t].exists() else SCHEMAS[t].empty_table()
              for t in TABLES}
    tables["filters"] = tables["filters"].sort_by([("weight", "descending"), ("source_line", "ascending")])
    return StoredSnapshot(found, current[found], tables)


def load_policies(jobs: list[tuple[str, Path]], warehouse: Warehouse, config: Config,
                  defines: dict[str, str] | None = None, **analyse_options: object) -> PolicyLoads:
    """Analyse and store each (host, script); an unreadable script is recorded and the others go on.

    ``analyse_options`` (e.g. ``encoding``) go to every script's :func:`analyse_script`.  Raises
    ``ValueError`` for a host that is not in the config and ``WarehouseLocked`` when another run
    holds the warehouse.
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
