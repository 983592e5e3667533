"""``ipsec-drops status`` and ``ipsec-drops repair``: is the warehouse sound, and mend it when it is not."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    from ..warehouse.overview import overview

    status = check(warehouse)
    seen = overview(warehouse) if status.exists else None
    if fmt == "json":
        click.echo(json_text({**status.to_dict(), **(seen.to_dict() if seen else {})}))
    else:
        obj.out.print(Text(status.summary()))
        for finding in status.findings:
            obj.out.print(Text(f"  {finding.kind}: {finding.message}", style="red" if finding.damage else "dim"))
        if seen is not None:
            _print_overview(obj, seen)
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


def _print_overview(obj: Context, seen: Any) -> None:
    """Hosts' lag, partitions, data quality and the last nightly runs, a line each."""
    now = datetime.now(UTC)
    if seen.hosts:
        obj.out.print(Text("hosts (newest drop stored; newest export read):", style="bold"))
    for h in seen.hosts:
        newest = f"newest {_when(h.newest_drop, now)}" if h.newest_drop else "no drops"
        last = f"; last file {h.last_file} read {_when(h.last_file_ingested, now)}" if h.last_file else ""
        obj.out.print(Text(f"  {h.host}: {h.drops:,} drops, {newest}{last}"))
    p = seen.partitions
    if p.get("dates"):
        obj.out.print(Text(f"partitions: {p['dates']} day(s) {p['first_date']} .. {p['last_date']}, {p['files']} "
                           f"file(s), {p['bytes'] / 2**20:,.1f} MiB; {p['dates_with_several_files']} day(s) "
                           f"with more than one file (compacted by the nightly job)"))
    q = seen.quality
    if q.get("files"):
        obj.out.print(Text(f"quality: {q['files']:,} file record(s), {q['rows_read']:,} rows read, "
                           f"{q['skipped']:,} skipped ({q['skipped_share']:.2%}), {q['refused']:,} refused, "
                           f"{q['duplicates']:,} duplicates"))
        for f in q["files_with_skips"][:3]:
            obj.out.print(Text(f"  most skipped: {f['path']}: {f['skipped']:,}", style="dim"))
    if seen.nightly:
        obj.out.print(Text("nightly runs:", style="bold"))
    for r in seen.nightly[-RUNS_SHOWN:]:
        code = r.get("exit_code")
        if r.get("stage") == "ingest" and code != 4:  # the record a run writes as it starts
            code, what = "-", "running, or interrupted during its ingest; the next run finishes what it published"
        elif r.get("stage") not in ("done", None) and code != 4:
            code = "-"
            what = f"interrupted during {r.get('stage')}; the next run finishes {len(r['pending_days'])} day(s)"
        elif r.get("nothing_new"):
            what = "nothing new"
        else:
            what = f"{r['new_drops']:,} new drops on {len(r['new_days'])} day(s)"
        style = "red" if r.get("exit_code") == 4 else ("yellow" if r.get("exit_code") else None)
        obj.out.print(Text(f"  {r.get('started')}: exit {code}, {r.get('seconds')} s, {what}"
                           + (f", {r['problems']} problem(s)" if r.get("problems") else ""), style=style or ""))
    for note in seen.notes:
        obj.out.print(Text(f"  note: {note}", style="dim"))


def _when(stamp: str | None, now: datetime) -> str:
    """``2026-10-31 23:10 UTC (31 days ago)``."""
    if not stamp:
        return "-"
    try:
        at = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    ago = now - at
    seconds = ago.total_seconds()
    age = ("in the future" if seconds < 0 else f"{ago.days} day(s) ago" if ago.days >= 1 else
           f"{int(seconds // 3600)} h ago" if seconds >= 3600 else f"{int(seconds // 60)} min ago")
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({age})"


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
