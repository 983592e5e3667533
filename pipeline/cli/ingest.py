"""``ipsec-drops ingest``: exports in, the run's summary out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich import box
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from ..ingest import IngestReport

from .common import Context, global_options, handle_errors, print_issues, warehouse_option


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@warehouse_option
@click.option("--host", help="Host name for files that do not name one (pfirewall.log, exports without ComputerName).")
@click.option("--source-tz", help="IANA zone of the exports' local times (e.g. Europe/Berlin); overrides the config.")
@click.option("--engine", type=click.Choice(["evtx", "python-evtx"]), default="evtx", show_default=True,
              help="EVTX engine: the Rust-backed evtx package, or the pure-Python python-evtx.")
@global_options
@click.pass_obj
@handle_errors
def ingest_cmd(obj: Context, paths: tuple[Path, ...], warehouse: Path, host: str | None, source_tz: str | None,
               engine: str) -> None:
    """Ingest export files and folders of exports into the warehouse.

    Unchanged files are skipped, files that grew are read past what was read
    before, and an event exported twice is stored once.
    """
    from ..ingest import expand_inputs, ingest
    from ..warehouse import Warehouse

    config = obj.config()
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                        console=obj.err, transient=True, disable=obj.quiet or not obj.err.is_terminal)
    sizes = {str(p): p.stat().st_size for p, _ in expand_inputs(paths) if p.exists()}
    task = progress.add_task("ingest", total=max(sum(sizes.values()), 1))
    done: dict[str, int] = {}

    def on_progress(name: str, file_done: int, total: int) -> None:
        done[name] = min(file_done, sizes.get(name, total))
        progress.update(task, completed=sum(done.values()), description=Path(name).name)

    with progress:
        report = ingest(paths, Warehouse(warehouse), config, host=host, source_tz=source_tz, engine=engine,
                        progress=on_progress)
    print_report(obj, report, warehouse)
    sys.exit(report.exit_code)


def _short(path: str) -> str:
    """Folder and name: enough to tell files apart in a summary, short enough for 80 columns."""
    p = Path(path)
    return str(Path(p.parent.name) / p.name) if p.parent.name else p.name


def print_report(obj: Context, report: IngestReport, warehouse: Path) -> None:
    if report.recovered:
        obj.err.print(f"[yellow]recovered:[/yellow] {report.recovered}")
    if not obj.quiet:
        wide = obj.out.width >= 110
        table = Table(title=f"ingest run {report.run_id}", title_justify="left", box=box.SIMPLE_HEAD)
        table.add_column("file (folder/name)", overflow="fold", min_width=20, ratio=1)
        for col in ("format", "host", "status") if wide else ("host", "status"):
            table.add_column(col, no_wrap=True)
        for col in ("rows", "stored", "dups", "skipped"):
            table.add_column(col, justify="right", no_wrap=True)
        for f in report.files:
            if f.status == "ignored":
                continue
            cells = [f.format or "-"] if wide else []
            table.add_row(Text(_short(f.path)), *cells, Text(f.host or "-"), f.status, f"{f.rows_read:,}",
                          f"{f.drops_stored:,}", f"{f.duplicates:,}", f"{f.skipped:,}")
        obj.out.print(table)
        ignored = [f for f in report.files if f.status == "ignored"]
        if ignored:
            obj.out.print(f"ignored {len(ignored)} file(s) that are not exports", style="dim")
    issues = [i for i in report.issues if i.kind != "held-back" or obj.verbose]
    print_issues(obj, issues)
    if report.skipped_csv:
        obj.err.print(f"every skipped line is listed in {report.skipped_csv}")
    stored = report.total("drops_stored")
    files = [f for f in report.files if f.status != "ignored"]
    unchanged = sum(1 for f in files if f.status == "unchanged")
    parts = [f"{len(files)} file(s)", f"{report.total('rows_read'):,} rows read",
             f"{stored:,} drops stored", f"{report.total('duplicates'):,} duplicates avoided",
             f"{report.total('skipped'):,} skipped"]
    if unchanged:
        parts.append(f"{unchanged} unchanged file(s) not read again")
    if report.refused_files:
        parts.append(f"{len(report.refused_files)} file(s) refused")
    line = ", ".join(parts)
    if stored == 0 and not report.refused_files:
        line += " - nothing new: the warehouse already held everything"
    obj.out.print(Text(("ok: " if report.exit_code == 0 else "finished with problems: ") + line + f" -> {warehouse}"),
                  style=None)


COMMANDS = [ingest_cmd]
