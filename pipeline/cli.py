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

from . import __version__, correlate
from .config import ConfigError, load_config
from .exit_codes import EXIT_LOCKED, EXIT_USAGE
from .ingest import IngestReport, expand_inputs, ingest
from .policy import analyse_script
from .policy import show as policy_show
from .policy.store import load_snapshot
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


# --- policy ------------------------------------------------------------------------------------------------

define_option = click.option(
    "--define", "-D", "defines", multiple=True, metavar="VAR=VALUE",
    help="Value of a batch variable the script uses (%VAR%, or %1 with -D 1=VALUE); repeatable.")


def _defines(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in values:
        name, eq, value = item.partition("=")
        if not eq or not name:
            raise click.BadParameter(f"{item!r} is not VAR=VALUE", param_hint="--define")
        out[name] = value
    return out


def _analyse(obj: Context, script: Path, host: str | None, defines: tuple[str, ...]):
    config = obj.config()
    try:
        return analyse_script(script, host=host, config=config, defines=_defines(defines))
    except (ValueError, OSError) as exc:
        obj.err.print(f"[red]error:[/red] {exc}")
        sys.exit(EXIT_USAGE)


def _print_issues(obj: Context, issues: list, *, limit: bool = True) -> None:
    shown = [i for i in issues if i.severity != "info" or obj.verbose]
    cap = None if obj.verbose or not limit else ISSUES_SHOWN
    for issue in shown[:cap]:
        style = {"error": "red", "warning": "yellow"}.get(issue.severity, "dim")
        obj.err.print(Text(str(issue), style=style))
    if cap and len(shown) > cap:
        obj.err.print(f"... and {len(shown) - cap} more (use -v to see all)")
    hidden = len(issues) - len(shown)
    if hidden and not obj.quiet:
        obj.err.print(f"{hidden} note(s) not shown (use -v)", style="dim")


@cli.group("policy")
def policy_group() -> None:
    """netsh ipsec policy scripts: show what they do, lint them, load them into the warehouse.

    Batch files (netsh ipsec static ... lines) and netsh -f scripts are both read.
    Addresses (me, DNS, WINS, DHCP, GATEWAY, DNS names) are resolved from the
    host's entry in the config file.
    """


@policy_group.command("show")
@click.argument("script", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--host", help="Config host the script is for (resolves me, DNS, WINS, DHCP, GATEWAY).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True,
              help="table: policies, rules, filters; json: everything; csv: the effective filters.")
@define_option
@click.pass_obj
def policy_show_cmd(obj: Context, script: Path, host: str | None, fmt: str, defines: tuple[str, ...]) -> None:
    """Print the policies, rules and effective filters (most specific first) of SCRIPT.

    Exit code 1 when netsh would have refused some of the script's commands.
    """
    analysis = _analyse(obj, script, host, defines)
    if fmt == "json":
        click.echo(policy_show.as_json(analysis))
    elif fmt == "csv":
        click.echo(policy_show.as_csv(policy_show.filter_rows(analysis), policy_show.FILTER_COLUMNS), nl=False)
    else:
        _policy_tables(obj, analysis)
    _print_issues(obj, analysis.issues)
    sys.exit(1 if analysis.errors else 0)


def _policy_tables(obj: Context, analysis) -> None:
    host = analysis.host.name if analysis.host else "no host (addresses unresolved)"
    obj.out.print(f"[bold]{analysis.file}[/bold] ({analysis.kind} script) on {host}, snapshot {analysis.snapshot}")
    settings = policy_show.setting_rows(analysis)
    if settings:
        obj.out.print("settings: " + ", ".join(f"{s['property']}={s['value']}" for s in settings))
    table = Table(title="policies", title_justify="left")
    for col in ("policy", "store", "assigned", "rules", "line", "description"):
        table.add_column(col, overflow="fold")
    for p in policy_show.policy_rows(analysis):
        table.add_row(Text(p["policy"]), p["store"], "yes" if p["assigned"] else "no", str(p["rules"]),
                      str(p["source_line"]), Text(p["description"]))
    obj.out.print(table)
    table = Table(title="rules", title_justify="left")
    for col in ("policy", "rule", "filter list", "action", "active", "filters", "auth", "line"):
        table.add_column(col, overflow="fold")
    for r in policy_show.rule_rows(analysis):
        action = r["action"] + (" (soft)" if r["soft"] else "") + (" (inpass)" if r["inpass"] else "")
        table.add_row(Text(r["policy"]), Text(r["rule"]), Text(r["filter_list"]), action,
                      "yes" if r["active"] else "no", str(r["filters"]), r["authentication"], str(r["source_line"]))
    obj.out.print(table)
    table = Table(title="effective filters, most specific first", title_justify="left")
    for col in ("rule", "action", "source", "destination", "proto", "sport", "dport", "weight", "line"):
        table.add_column(col, overflow="fold", justify="right" if col in ("weight", "line") else "left")
    for f in policy_show.filter_rows(analysis):
        style = None if f["assigned"] and f["rule_active"] else "dim"
        mirror = " (mirror)" if f["mirror"] else ""
        table.add_row(Text(f["rule"] + mirror), f["action"], Text(policy_show.address_text(f["src"], f["src_range"])),
                      Text(policy_show.address_text(f["dst"], f["dst_range"])), f["protocol"],
                      str(f["src_port"] or "any"), str(f["dst_port"] or "any"), str(f["weight"]),
                      str(f["source_line"]), style=style)
    obj.out.print(table)


@policy_group.command("lint")
@click.argument("script", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--host", help="Config host the script is for (needed for address and Internet-facing checks).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True)
@define_option
@click.pass_obj
def policy_lint_cmd(obj: Context, script: Path, host: str | None, fmt: str, defines: tuple[str, ...]) -> None:
    """Report weaknesses of SCRIPT with their severity and the line to fix.

    Shadowed filters, rules with empty lists, unused filter actions, the
    exemption and boot settings the hardening guides warn about, block rules
    that block DNS. Exit code 1 when anything of warning or error severity is found.
    """
    analysis = _analyse(obj, script, host, defines)
    findings = analysis.lint()
    everything = sorted(analysis.issues + findings, key=lambda i: i.line)
    if fmt == "json":
        click.echo(policy_show.as_json(analysis, lint=findings))
    elif fmt == "csv":
        click.echo(policy_show.issues_csv(everything), nl=False)
    else:
        for issue in everything:
            if issue.severity == "info" and not obj.verbose:
                continue
            style = {"error": "red", "warning": "yellow"}.get(issue.severity, "dim")
            obj.out.print(Text(str(issue), style=style))
        counts = {s: sum(1 for i in everything if i.severity == s) for s in ("error", "warning", "info")}
        obj.out.print(f"{script}: {counts['error']} error(s), {counts['warning']} warning(s), "
                      f"{counts['info']} note(s)" + ("" if obj.verbose else " (notes shown with -v)"))
    sys.exit(1 if any(i.severity in ("error", "warning") for i in everything) else 0)


@policy_group.command("load")
@click.argument("script", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--host", help="Config host the script is for.")
@click.option("--all", "all_hosts", is_flag=True, help="Load the policy script of every config host that has one.")
@warehouse_option
@define_option
@click.pass_obj
def policy_load_cmd(obj: Context, script: Path | None, host: str | None, all_hosts: bool, warehouse: Path,
                    defines: tuple[str, ...]) -> None:
    """Store a policy snapshot (policies, rules, filter_actions, filters, settings) in the warehouse.

    One snapshot per host and script content; loading the same script again
    stores nothing. Exit code 1 when a script had errors or could not be read.
    """
    config = obj.config()
    if all_hosts == bool(script or host):
        obj.err.print("[red]error:[/red] give SCRIPT --host H, or --all")
        sys.exit(EXIT_USAGE)
    if all_hosts:
        jobs = [(h.policy, h.name) for h in config.hosts.values() if h.policy is not None]
        if not jobs:
            obj.err.print("[red]error:[/red] no host in the config has a policy script")
            sys.exit(EXIT_USAGE)
    else:
        if not host:
            obj.err.print("[red]error:[/red] --host is needed: a snapshot belongs to a config host")
            sys.exit(EXIT_USAGE)
        jobs = [(script, host)]
    problems = 0
    for path, name in jobs:
        try:
            analysis = analyse_script(path, host=name, config=config, defines=_defines(defines))
        except ValueError as exc:
            obj.err.print(f"[red]error:[/red] {exc}")
            sys.exit(EXIT_USAGE)
        except OSError as exc:
            obj.err.print(f"[red]error:[/red] {name}: cannot read {path}: {exc}")
            problems += 1
            continue
        try:
            result = load_snapshot(analysis, Warehouse(warehouse))
        except WarehouseLocked as exc:
            obj.err.print(f"[red]warehouse locked:[/red] {exc}")
            sys.exit(EXIT_LOCKED)
        _print_issues(obj, analysis.issues)
        problems += bool(analysis.errors)
        if not obj.quiet or analysis.errors:
            obj.out.print(f"{result.host}: snapshot {result.snapshot} {result.status}, {result.filters} filter rows, "
                          f"{analysis.errors} error(s), {analysis.warnings} warning(s) <- {path}")
    sys.exit(1 if problems else 0)


# --- correlation ---------------------------------------------------------------------------------------------

FLOW_TABLE_COLUMNS = ("host", "direction", "protocol", "local_ip", "local_port", "remote_ip", "remote_port", "packets",
                      "events", "days_seen", "verdict", "rule", "action", "source_line")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _print_rows(obj: Context, table, fmt: str, columns: tuple[str, ...], title: str) -> None:
    import json

    from .output import write_csv

    if fmt == "csv":
        out = click.get_text_stream("stdout")
        out.flush()
        write_csv(table, out.buffer)
        out.buffer.flush()
        return
    rows = table.to_pylist()
    if fmt == "json":
        click.echo(json.dumps(rows, default=_cell, indent=1))
    else:
        out = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
        for col in columns:
            out.add_column(col, overflow="fold",
                           justify="right" if col in ("packets", "events", "days_seen", "source_line") else "left")
        for r in rows:
            out.add_row(*[Text(_cell(r[c])) for c in columns])
        obj.out.print(out)


@cli.command("flows")
@warehouse_option
@click.option("--host", help="Only this host (case-insensitive).")
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]),
              help="Drops at or after this UTC time (YYYY-MM-DD[THH:MM:SS]).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]),
              help="Drops before this UTC time.")
@click.option("--verdict", type=click.Choice(list(correlate.VERDICTS)), help="Only flows with this verdict.")
@click.option("--top", type=click.IntRange(min=0), help="Only the N flows with the most packets.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True,
              help="csv is spreadsheet-safe (a value starting with = + - @ gets a leading ').")
@click.pass_obj
def flows_cmd(obj: Context, warehouse: Path, host: str | None, since, until, verdict: str | None, top: int | None,
              fmt: str) -> None:
    """Dropped flows and the policy rule that explains each (most packets first).

    Every stored drop is matched against the filters of its host's policy in
    force at its time (config policy / policy_history, else the warehouse's
    current snapshot).
    """
    config = obj.config()
    session = correlate.open_session(Warehouse(warehouse), config)
    try:
        table = correlate.flows(warehouse, config, host=host, since=since, until=until, verdict=verdict, top=top,
                                session=session)
    finally:
        session.close()
    for note in session.notes:
        obj.err.print(Text(note, style="yellow"))
    _print_rows(obj, table, fmt, FLOW_TABLE_COLUMNS, f"flows ({table.num_rows})")


@cli.command("explain")
@warehouse_option
@click.option("--host", required=True, help="The host whose policy to ask.")
@click.option("--src", required=True, help="The packet's source address.")
@click.option("--dst", required=True, help="The packet's destination address.")
@click.option("--proto", required=True, help="Protocol: a number or tcp, udp, icmp.")
@click.option("--sport", type=click.IntRange(0, 65535), help="Source port (none: matches only port-less filters).")
@click.option("--dport", type=click.IntRange(0, 65535), help="Destination port.")
@click.option("--at", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]),
              help="UTC time whose policy snapshot to use (default: now).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.pass_obj
def explain_cmd(obj: Context, warehouse: Path, host: str, src: str, dst: str, proto: str, sport: int | None,
                dport: int | None, at, fmt: str) -> None:
    """Every filter that matches a packet, by weight, and why the winner wins."""
    from .schema import PROTOCOL_NUMBERS

    number = int(proto) if proto.isdigit() else PROTOCOL_NUMBERS.get(proto.upper())
    if number is None:
        obj.err.print(f"[red]error:[/red] unknown protocol {proto!r}")
        sys.exit(EXIT_USAGE)
    config = obj.config()
    try:
        e = correlate.explain(warehouse, config, host=host, src=src, dst=dst, proto=number, sport=sport,
                              dport=dport, at=at)
    except ValueError as exc:
        obj.err.print(f"[red]error:[/red] {exc}")
        sys.exit(EXIT_USAGE)
    for note in e.notes:
        obj.err.print(Text(note, style="yellow"))
    columns = ("in_force", "rule", "filter_list", "action", "mirror", "src", "dst", "protocol", "src_port",
               "dst_port", "weight", "source_line")
    _print_rows(obj, e.matches, fmt, columns, f"{host} snapshot {e.snapshot}: matching filters, best first")
    if fmt == "table":
        winner = f"{e.winner['rule']!r} (line {e.winner['source_line']}, {e.winner['action']})" if e.winner else "none"
        obj.out.print(Text(f"verdict: {e.verdict}; winner: {winner}; why: {e.reason}"))


@cli.command("sql")
@click.argument("text")
@warehouse_option
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.pass_obj
def sql_cmd(obj: Context, text: str, warehouse: Path, fmt: str) -> None:
    """Run ad-hoc SQL; relations: drops, filters, policies, rules, filter_actions, settings, issues, snapshots,
    policy_periods; macro ip_number(text)."""
    import duckdb

    config = obj.config()
    try:
        table = correlate.sql(warehouse, text, config)
    except duckdb.Error as exc:
        obj.err.print(f"[red]error:[/red] {exc}")
        sys.exit(EXIT_USAGE)
    _print_rows(obj, table, fmt, tuple(table.column_names), f"{table.num_rows} row(s)")


def main() -> None:
    cli(prog_name="ipsec-drops")


if __name__ == "__main__":
    main()
