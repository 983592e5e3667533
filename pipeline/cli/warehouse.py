"""``ipsec-drops status`` and ``ipsec-drops repair``: is the warehouse sound, and mend it when it is not."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.text import Text

from ..exit_codes import ExitCode
from ..output import json_text
from .common import Context, global_options, handle_errors, warehouse_option

RUNS_SHOWN = 10


@click.command("status")
@warehouse_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@global_options
@click.pass_obj
@handle_errors
def status_cmd(obj: Context, warehouse: Path, fmt: str) -> None:
    """What the warehouse holds, the last runs, and whether data, keys and manifest agree.

    Exit codes: 0 consistent, 1 damage found (run repair), 2 no warehouse there,
    4 the manifest cannot be read.
    """
    from ..warehouse import check

    status = check(warehouse)
    if fmt == "json":
        click.echo(json_text(status.to_dict()))
    else:
        obj.out.print(Text(status.summary()))
        for finding in status.findings:
            obj.out.print(Text(f"  {finding.kind}: {finding.message}", style="red" if finding.damage else "dim"))
        for run in status.last_runs[-RUNS_SHOWN:]:
            what = "repair" if run.get("repair") else "run"
            obj.out.print(Text(f"  {what} {run.get('run')}: {run.get('files', 0)} file(s), "
                               f"{run.get('drops_stored', 0):,} drops stored, {run.get('duplicates', 0):,} duplicates, "
                               f"{run.get('skipped', 0):,} skipped"))
    if not status.exists:
        obj.err.print(Text(f"no warehouse at {warehouse}: run `ipsec-drops ingest` first (or give --warehouse)",
                           style="red"))
        sys.exit(ExitCode.USAGE)
    sys.exit(status.exit_code)


@click.command("repair")
@warehouse_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@global_options
@click.pass_obj
@handle_errors
def repair_cmd(obj: Context, warehouse: Path, fmt: str) -> None:
    """Rebuild the keys and manifest from the Parquet actually present, and say what was lost.

    Parts whose data file is gone lose their keys and their source files are
    forgotten, so the next ingest (or ingest --reread) reads those exports again;
    parts without usable keys are set aside in _quarantine/. Takes the lock.
    """
    from ..warehouse import repair

    report = repair(warehouse)
    if fmt == "json":
        click.echo(json_text(report.to_dict()))
        return
    obj.out.print(Text(report.summary()))
    for part in report.lost:
        moved = f" (set aside in {part.quarantined_to})" if part.quarantined_to else ""
        obj.out.print(Text(f"  lost: {part.path}: {part.rows:,} rows, {part.reason}{moved}", style="yellow"))
    for source in report.reread:
        obj.out.print(Text(f"  read again: {source}", style="dim"))
    for note in report.notes:
        obj.out.print(Text(f"  {note}", style="dim"))


COMMANDS = [status_cmd, repair_cmd]
