"""``ipsec-drops report``: the period's drops as ISA Server logs, CSV for Excel, charts and a summary page."""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from ..report import ISA_STYLES, OUTPUTS
from .common import Context, global_options, handle_errors, time_help, time_window, tz_option, warehouse_option


def _outputs(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[str, ...]:
    if value is None:
        return OUTPUTS
    wanted = tuple(dict.fromkeys(v.strip().lower() for v in value.split(",") if v.strip()))
    unknown = [v for v in wanted if v not in OUTPUTS]
    if unknown or not wanted:
        raise click.BadParameter(f"{', '.join(unknown) or 'nothing'} is not one of {', '.join(OUTPUTS)}")
    return wanted


@click.command("report")
@warehouse_option
@click.option("--host", help="Only this host (case-insensitive).")
@click.option("--since", help="Drops at or after this time: " + time_help)
@click.option("--until", help="Drops before this time (same forms as --since).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("report"), show_default=True,
              help="Folder to write the report into (created; files of the same names are replaced).")
@tz_option
@click.option("--only", callback=_outputs, metavar="LIST",
              help=f"Write only these outputs, comma-separated: {','.join(OUTPUTS)} (default: all).")
@click.option("--isa-style", type=click.Choice(ISA_STYLES), default="w3c", show_default=True,
              help="The ISA Server 2000 file: W3C extended (tab-delimited, directives) or ISA's native format "
                   "(comma-delimited, no directives).")
@global_options
@click.pass_obj
@handle_errors
def report_cmd(obj: Context, warehouse: Path, host: str | None, since: str | None, until: str | None, out: Path,
               tz: str | None, only: tuple[str, ...], isa_style: str) -> None:
    """Write the period's drops as ISA Server logs, CSV for Excel, charts and report.html.

    Per host and day (UTC days unless --tz, which also sets the times written):
    <HOST>/IPPEXTD<yyyymmdd>.log (ISA Server 2000 packet filter log),
    <HOST>/ISALOG_<yyyymmdd>_FWS_000.w3c (ISA Server 2004/2006 Firewall log) and
    drops-<yyyymmdd>.csv; for the period flows.csv, suggestions.csv, charts/*.png and
    report.html (one self-contained page). A progress bar shows on a terminal.
    """
    config = obj.config()
    from ..correlate import require_warehouse
    from ..report import write_report

    root = require_warehouse(warehouse)
    start, end, _ = time_window(obj, since, until, tz, host)
    progress = Progress(TextColumn("[bold]report[/bold] {task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), console=obj.err, transient=True,
                        disable=obj.quiet or not obj.err.is_terminal)
    task = progress.add_task("", total=None)

    def on_progress(done: int, days: int, label: str) -> None:
        progress.update(task, completed=done, total=days, description=label)

    with progress:
        result = write_report(root, config, out, host=host, since=start, until=end, tz=tz, only=only,
                              isa_style=isa_style, progress=on_progress)
    for note in result.notes:
        obj.note(note)
    if not obj.quiet:
        kinds: dict[str, int] = {}
        for f in result.files:
            kinds[f.kind] = kinds.get(f.kind, 0) + 1
        what = ", ".join(f"{n} {k}" for k, n in kinds.items())
        obj.out.print(Text(f"{len(result.days)} day(s), {len(result.hosts)} host(s), times in {result.zone}: "
                           f"{len(result.files)} file(s) ({what})"))
    obj.err.print(Text(f"report written to {out} in {result.seconds:.1f} s", style="dim"))


COMMANDS = [report_cmd]
