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
@click.option("--host", help="Host of every file of the run (wins over the inbox owner and the file's own name).")
@click.option("--source-tz", help="Zone of the exports' local times (IANA or Windows name); overrides the config.")
@click.option("--engine", type=click.Choice(["evtx", "python-evtx", "spark"]), default="evtx", show_default=True,
              help="EVTX engine: the Rust-backed evtx package, or the pure-Python python-evtx; spark: the files are "
                   "read on Apache Spark executors (EVTX with evtx), the driver commits.")
@click.option("--spark-master", metavar="URL",
              help="Spark master for --engine spark (default: SPARK_MASTER, else local[2]; spark-submit: its own).")
@click.option("--reread", is_flag=True,
              help="Read every file again from its start (after a repair, or a config change); nothing is stored "
                   "twice.")
@global_options
@click.pass_obj
@handle_errors
def ingest_cmd(obj: Context, paths: tuple[Path, ...], warehouse: Path, host: str | None, source_tz: str | None,
               engine: str, spark_master: str | None, reread: bool) -> None:
    """Ingest export files and folders of exports into the warehouse.

    Unchanged files are skipped, files that grew are read past what was read
    before, and an event exported twice is stored once. Exit codes: 0 stored,
    1 finished with skipped input, 2 bad option or config, 3 locked, 4 failed
    (nothing published).
    """
    from ..ingest import ingest, plan_inputs
    from ..warehouse import Warehouse
    from ..zones import iana_zone

    config = obj.config()
    if source_tz:
        try:
            source_tz = iana_zone(source_tz)
        except LookupError as exc:
            raise click.BadParameter(str(exc), param_hint="--source-tz") from None
    plan = plan_inputs(paths, exclude=[warehouse])
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                        console=obj.err, transient=True, disable=obj.quiet or not obj.err.is_terminal)
    task = progress.add_task("ingest", total=max(plan.total_bytes, 1))
    done: dict[str, int] = {}

    def on_progress(name: str, file_done: int, total: int) -> None:
        done[name] = min(file_done, total)
        progress.update(task, completed=sum(done.values()), description=Path(name).name)

    if engine == "spark":
        from ..spark.ingest import ingest as spark_ingest

        report = spark_ingest(paths, Warehouse(warehouse), config, host=host, source_tz=source_tz, reread=reread,
                              master=spark_master)
        print_report(obj, report, warehouse)
        sys.exit(report.exit_code)
    with progress:
        report = ingest(plan, Warehouse(warehouse), config, host=host, source_tz=source_tz, engine=engine,
                        progress=on_progress, reread=reread)
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
        allowed = report.allowed_summary()
        if allowed:
            obj.out.print(allowed, style="dim")
        ignored = [f for f in report.files if f.status == "ignored"]
        if ignored:
            obj.out.print(f"ignored {len(ignored)} file(s) that are not exports", style="dim")
    issues = [i for i in report.issues if i.kind != "held-back" or obj.verbose]
    print_issues(obj, issues)
    if report.skipped_csv:
        obj.err.print(f"every skipped line is listed in {report.skipped_csv}")
    for problem in report.damage:
        obj.err.print(Text(problem, style="red"))
    prefix = "ok: " if report.exit_code == 0 else "finished with problems: "
    obj.out.print(Text(prefix + report.summary() + f" -> {warehouse}"))


COMMANDS = [ingest_cmd]
