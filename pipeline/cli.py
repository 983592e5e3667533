"""The ``ipsec-drops`` command line: parses options, calls the library, prints.

No logic lives here.  Exit codes (also in the README):

0  everything read was stored (or was already stored)
1  the run finished, but some lines, rows or files were skipped or refused: see the summary
2  bad command line or config file
3  another ingest is writing to the warehouse
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from . import __version__
from .config import ConfigError, load_config
from .ingest import EXIT_LOCKED, EXIT_USAGE, IngestReport, expand_inputs, ingest
from .warehouse import Warehouse, WarehouseLocked

ISSUES_SHOWN = 20


class Context:
    def __init__(self, config_path: str | None, verbose: int, quiet: bool) -> None:
        self.config_path = config_path
        self.verbose = verbose
        self.quiet = quiet
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)
        for console in (self.out, self.err):
            if not console.is_terminal:  # a log file or a pipe: never cut file names to fit 80 columns
                console.width = 240

    def config(self):
        try:
            return load_config(self.config_path)
        except ConfigError as exc:
            self.err.print(f"[red]config error:[/red] {exc}")
            sys.exit(EXIT_USAGE)


warehouse_option = click.option(
    "--warehouse",
    "-w",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("warehouse"),
    show_default=True,
    envvar="IPSEC_DROPS_WAREHOUSE",
    help="Warehouse folder (env IPSEC_DROPS_WAREHOUSE).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ipsec-drops")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Config file (default ./ipsec-drops.toml when it exists).")
@click.option("--verbose", "-v", count=True, help="Show every skipped line, not only the first ones.")
@click.option("--quiet", "-q", is_flag=True, help="Print only problems and the one-line result.")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int, quiet: bool) -> None:
    """Find which flows Windows IPSec filters and the Windows firewall drop.

    Reads EVTX, Log Parser W3C/CSV and pfirewall.log exports into a Parquet
    warehouse of drops, safe to run every night.
    """
    ctx.obj = Context(config_path, verbose, quiet)


@cli.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@warehouse_option
@click.option("--host", help="Host name for files that do not name one (pfirewall.log, exports without ComputerName).")
@click.option("--source-tz", help="IANA zone of the exports' local times (e.g. Europe/Berlin); overrides the config.")
@click.option("--engine", type=click.Choice(["evtx", "python-evtx"]), default="evtx", show_default=True,
              help="EVTX engine: the Rust-backed evtx package, or the pure-Python python-evtx.")
@click.pass_obj
def ingest_cmd(obj: Context, paths: tuple[Path, ...], warehouse: Path, host: str | None, source_tz: str | None,
               engine: str) -> None:
    """Ingest export files and folders of exports into the warehouse.

    Unchanged files are skipped, files that grew are read past what was read
    before, and an event exported twice is stored once.
    """
    config = obj.config()
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=obj.err,
        transient=True,
        disable=obj.quiet or not obj.err.is_terminal,
    )
    # One bar for all the input, labelled with the file being read.
    sizes = {str(p): p.stat().st_size for p, _ in expand_inputs(paths) if p.exists()}
    task = progress.add_task("ingest", total=max(sum(sizes.values()), 1))
    done: dict[str, int] = {}

    def on_progress(name: str, file_done: int, total: int) -> None:
        done[name] = min(file_done, sizes.get(name, total))
        progress.update(task, completed=sum(done.values()), description=Path(name).name)

    try:
        with progress:
            report = ingest(paths, Warehouse(warehouse), config, host=host, source_tz=source_tz, engine=engine,
                            progress=on_progress)
    except WarehouseLocked as exc:
        obj.err.print(f"[red]warehouse locked:[/red] {exc}")
        sys.exit(EXIT_LOCKED)
    except ValueError as exc:
        obj.err.print(f"[red]error:[/red] {exc}")
        sys.exit(EXIT_USAGE)
    _print_report(obj, report, warehouse)
    sys.exit(report.exit_code)


def _short(path: str) -> str:
    """Folder and name: enough to tell files apart in a summary, short enough for 80 columns."""
    p = Path(path)
    return str(Path(p.parent.name) / p.name) if p.parent.name else p.name


def _print_report(obj: Context, report: IngestReport, warehouse: Path) -> None:
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
            table.add_row(Text(_short(f.path)), *cells, f.host or "-", f.status, f"{f.rows_read:,}",
                          f"{f.drops_stored:,}", f"{f.duplicates:,}", f"{f.skipped:,}")
        obj.out.print(table)
        ignored = [f for f in report.files if f.status == "ignored"]
        if ignored:
            obj.out.print(f"ignored {len(ignored)} file(s) that are not exports", style="dim")
    issues = [i for i in report.issues if i.kind != "held-back" or obj.verbose]
    limit = None if obj.verbose else ISSUES_SHOWN
    for issue in issues[:limit]:
        style = "yellow" if issue.kind in ("warning", "held-back") else "red"
        obj.err.print(Text(str(issue), style=style))
    if limit and len(issues) > limit:
        obj.err.print(f"... and {len(issues) - limit} more (use -v to see all)")
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
    obj.out.print(("[green]ok[/green]: " if report.exit_code == 0 else "[yellow]finished with problems[/yellow]: ")
                  + line + f" -> {warehouse}")


@cli.command("status")
@warehouse_option
@click.pass_obj
def status_cmd(obj: Context, warehouse: Path) -> None:
    """Show what the warehouse holds and the last runs."""
    wh = Warehouse(warehouse)
    manifest = wh.manifest()
    files = wh.drop_files()
    obj.out.print(f"{warehouse}: {len(files)} data file(s), {len(manifest.files)} ingested file record(s)")
    for run in manifest.runs[-10:]:
        obj.out.print(f"  run {run['run']}: {run['files']} file(s), {run['drops_stored']:,} drops stored, "
                      f"{run['duplicates']:,} duplicates, {run['skipped']:,} skipped")


def main() -> None:
    cli(prog_name="ipsec-drops")


if __name__ == "__main__":
    main()
