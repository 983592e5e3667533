"""``ipsec-drops policy show|lint|load``: netsh scripts read, checked and stored."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table
from rich.text import Text

from .._lazy import lazy_module
from ..exit_codes import ExitCode
from ..output import Column, json_text
from .common import (
    Context,
    fail,
    global_options,
    handle_errors,
    print_issues,
    print_rows,
    time_help,
    time_window,
    warehouse_option,
)

if TYPE_CHECKING:
    from ..policy import PolicyAnalysis
    from ..policy.jobs import StoredSnapshot

# The library, imported when a command runs (not when --help is printed).
policy_show = lazy_module("pipeline.policy.show")
jobs = lazy_module("pipeline.policy.jobs")
policy = lazy_module("pipeline.policy")
pa = lazy_module("pyarrow")

define_option = click.option(
    "--define", "-D", "defines", multiple=True, metavar="VAR=VALUE",
    help="Value of a batch variable the script uses (%VAR%, or %1 with -D 1=VALUE); repeatable.")


def _warehouse(root: Path):  # noqa: ANN202 - a pipeline.warehouse.Warehouse
    from ..warehouse import Warehouse

    return Warehouse(root)


def parse_defines(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in values:
        name, eq, value = item.partition("=")
        if not eq or not name:
            raise click.BadParameter(f"{item!r} is not VAR=VALUE", param_hint="--define")
        out[name] = value
    return out


encoding_option = click.option(
    "--encoding", metavar="CODEC",
    help="What the script is saved in (gbk, cp1252, 936 ...); default: detected (BOM, UTF-8), else the host's "
         "config encoding, else Windows-1252.")


def _analyse(obj: Context, script: Path, host: str | None, defines: tuple[str, ...],
             encoding: str | None = None, *, host_from_config: bool = False) -> PolicyAnalysis:
    config = obj.config()
    if host is None and host_from_config:
        host = jobs.host_for_script(config, script)  # the script is a config host's policy: lint it there
    return policy.analyse_script(script, host=host, config=config, defines=parse_defines(defines), encoding=encoding)


def _print_policy_issues(obj: Context, issues: list) -> None:
    shown = [i for i in issues if i.severity != "info" or obj.verbose]
    print_issues(obj, shown)
    hidden = len(issues) - len(shown)
    if hidden and not obj.quiet:
        obj.err.print(f"{hidden} note(s) not shown (use -v)", style="dim")


@click.group("policy")
def policy_group() -> None:
    """netsh ipsec policy scripts: show what they do, lint them, load them into the warehouse.

    Batch files (netsh ipsec static ... lines) and netsh -f scripts are both read.
    Addresses (me, DNS, WINS, DHCP, GATEWAY, DNS names) are resolved from the
    host's entry in the config file.
    """


@policy_group.command("show")
@click.argument("script", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--host", help="Config host the script is for (resolves me, DNS, WINS, DHCP, GATEWAY).")
@click.option("--warehouse", "-w", type=click.Path(file_okay=False, path_type=Path),
              help="Without SCRIPT: show the host's current snapshot stored in this warehouse.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True,
              help="table: policies, rules, filters; json: everything; csv: the effective filters.")
@encoding_option
@define_option
@global_options
@click.pass_obj
@handle_errors
def policy_show_cmd(obj: Context, script: Path | None, host: str | None, warehouse: Path | None, fmt: str,
                    encoding: str | None, defines: tuple[str, ...]) -> None:
    """Print the policies, rules and effective filters (most specific first) of SCRIPT.

    Without SCRIPT: the --host's policy script from the config, or with --warehouse
    the host's snapshot stored there. Exit code 1 when netsh would have refused some
    of the script's commands.
    """
    if script is None:
        if not host:
            fail("error: give SCRIPT, or --host H (its config policy, or with --warehouse its stored snapshot)")
        entry = obj.config().host(host)
        if warehouse is not None:
            from ..correlate import require_warehouse

            _stored_tables(obj, jobs.stored_snapshot(require_warehouse(warehouse), host), fmt)
            return
        if entry is None or entry.policy is None:
            fail(f"error: {host} has no policy script in the config; give SCRIPT or --warehouse")
        script = entry.policy
    analysis = _analyse(obj, script, host, defines, encoding)
    if fmt == "json":
        click.echo(policy_show.as_json(analysis))
    elif fmt == "csv":
        click.echo(policy_show.as_csv(policy_show.filter_rows(analysis), policy_show.FILTER_COLUMNS), nl=False)
    else:
        _policy_tables(obj, analysis)
    _print_policy_issues(obj, analysis.issues)
    sys.exit(ExitCode.SKIPPED if analysis.errors else ExitCode.OK)


STORED_FILTERS = (
    Column("rule", 0, shrink=True), Column("action", 0), Column("mirror", 3), Column("src", 1), Column("dst", 1),
    Column("protocol", 2, "protocol", header="proto"), Column("src_port", 2, "number", header="sport"),
    Column("dst_port", 2, "number", header="dport"), Column("weight", 4, "number"),
    Column("source_line", 1, "number", header="line"), Column("filter_list", 5, shrink=True),
)


def _stored_tables(obj: Context, stored: StoredSnapshot, fmt: str) -> None:
    if fmt == "json":
        click.echo(json_text({"host": stored.host, "snapshot": stored.snapshot, "source_file": stored.source_file,
                              **{name: t.to_pylist() for name, t in stored.tables.items()}}))
        return
    if fmt == "csv":
        print_rows(obj, stored.tables["filters"], "csv")
        return
    obj.out.print(Text(f"{stored.host}: stored snapshot {stored.snapshot} of {stored.source_file}", style="bold"))
    print_rows(obj, stored.tables["policies"], "table",
               (Column("policy", 0), Column("store", 1), Column("assigned", 0), Column("rules", 1, "number"),
                Column("source_line", 2, "number", header="line")), title="policies")
    print_rows(obj, stored.tables["rules"], "table",
               (Column("policy", 1), Column("rule", 0), Column("filter_list", 1), Column("action", 0),
                Column("active", 1), Column("filters", 2, "number"), Column("source_line", 2, "number", header="line")),
               title="rules")
    print_rows(obj, stored.tables["filters"], "table", STORED_FILTERS, title="effective filters, most specific first")


def _policy_tables(obj: Context, analysis: PolicyAnalysis) -> None:
    host = analysis.host.name if analysis.host else "no host (addresses unresolved)"
    obj.out.print(Text(f"{analysis.file} ({analysis.kind} script) on {host}, snapshot {analysis.snapshot}",
                       style="bold"))
    settings = policy_show.setting_rows(analysis)
    if settings:
        obj.out.print(Text("settings: " + ", ".join(f"{s['property']}={s['value']}" for s in settings)))
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
@click.argument("script", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--host", help="Config host the script is for (default: the host whose policy SCRIPT is).")
@click.option("--all", "all_hosts", is_flag=True, help="Lint the policy script of every config host.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True)
@click.option("--warehouse", "-w", type=click.Path(file_okay=False, path_type=Path),
              help="Also lint against the traffic stored there: unused-permit (a permit no observed permitted "
                   "traffic used in the last --days days) and hot-block (a block dropping a recurring flow from "
                   "an internal source).")
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True,
              help="The window of --warehouse, ending at the host's newest stored traffic.")
@encoding_option
@define_option
@global_options
@click.pass_obj
@handle_errors
def policy_lint_cmd(obj: Context, script: Path | None, host: str | None, all_hosts: bool, fmt: str,
                    warehouse: Path | None, days: int, encoding: str | None, defines: tuple[str, ...]) -> None:
    """Report weaknesses of SCRIPT with their severity and the line to fix.

    Shadowed filters, rules with empty lists, unused filter actions, the
    exemption and boot settings the hardening guides warn about, block rules
    that block DNS; with --warehouse, permits no observed traffic used and blocks that
    drop recurring internal flows. Exit code 1 when anything of warning or error severity is found.
    """
    if all_hosts == bool(script):
        fail("error: give SCRIPT, or --all")
    reports = (jobs.lint_hosts(obj.config(), encoding=encoding, defines=parse_defines(defines)) if all_hosts
               else [jobs.lint_script(_analyse(obj, script, host, defines, encoding,  # type: ignore[arg-type]
                                          host_from_config=True))])
    problems = False
    for report in reports:
        if isinstance(report, jobs.HostLoad):
            obj.err.print(Text(f"error: {report.host}: {report.error}", style="red"))
            problems = True
            continue
        if warehouse is not None:
            from ..correlate import require_warehouse
            from ..traffic_lint import traffic_lint

            extra = traffic_lint(require_warehouse(warehouse), obj.config(), report.analysis, days=days)
            report.findings = report.findings + extra
            report.everything = sorted(report.everything + extra, key=lambda i: i.line)
        problems |= report.has_problems
        if fmt == "json":
            click.echo(policy_show.as_json(report.analysis, lint=report.findings))
        elif fmt == "csv":
            click.echo(policy_show.issues_csv(report.everything), nl=False)
        else:
            for issue in report.everything:
                if issue.severity == "info" and not obj.verbose:
                    continue
                style = {"error": "red", "warning": "yellow"}.get(issue.severity, "dim")
                obj.out.print(Text(str(issue), style=style))
            obj.out.print(Text(report.summary(verbose=bool(obj.verbose))))
    sys.exit(ExitCode.SKIPPED if problems else ExitCode.OK)


@policy_group.command("load")
@click.argument("script", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--host", help="Config host the script is for.")
@click.option("--all", "all_hosts", is_flag=True, help="Load the policy script of every config host that has one.")
@warehouse_option
@encoding_option
@define_option
@global_options
@click.pass_obj
@handle_errors
def policy_load_cmd(obj: Context, script: Path | None, host: str | None, all_hosts: bool, warehouse: Path,
                    encoding: str | None, defines: tuple[str, ...]) -> None:
    """Store a policy snapshot (policies, rules, filter_actions, filters, settings) in the warehouse.

    One snapshot per host and script content; loading the same script again
    stores nothing. With --all, --encoding applies to every host's script (instead of
    their config encodings). Exit code 1 when a script had errors or could not be read.
    """
    config = obj.config()
    if all_hosts == bool(script or host):
        fail("error: give SCRIPT --host H, or --all")
    if all_hosts:
        work = jobs.host_scripts(config)
        if not work:
            fail("error: no host in the config has a policy script")
    else:
        if not host or script is None:
            fail("error: --host is needed: a snapshot belongs to a config host")
        work = [(host, script)]
    loads = jobs.load_policies(work, _warehouse(warehouse), config, parse_defines(defines), encoding=encoding)
    for load in loads.loads:
        if load.error:
            obj.err.print(Text(f"error: {load.host}: {load.error}", style="red"))
            continue
        assert load.analysis is not None and load.result is not None
        _print_policy_issues(obj, load.analysis.issues)
        if not obj.quiet or load.analysis.errors:
            r = load.result
            obj.out.print(Text(f"{r.host}: snapshot {r.snapshot} {r.status}, {r.filters} filter rows, "
                               f"{load.analysis.errors} error(s), {load.analysis.warnings} warning(s) "
                               f"<- {load.script}"))
    sys.exit(ExitCode.SKIPPED if loads.has_problems else ExitCode.OK)


def _filter_text(f: dict) -> str:
    from ..schema import protocol_name

    proto = protocol_name(f["protocol"]) if f["protocol"] is not None else "any"
    src = f["src"] + (f":{f['src_port']}" if f["src_port"] is not None else "")
    dst = f["dst"] + (f":{f['dst_port']}" if f["dst_port"] is not None else "")
    return f"{f['action']} {proto} {src} -> {dst}{' (mirrored)' if f['mirrored'] else ''}"


@policy_group.command("diff")
@click.argument("old", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--host", required=True, help="Config host both scripts are for (resolves me, DNS ...).")
@warehouse_option
@click.option("--since", help="Traffic at or after this time: " + time_help)
@click.option("--until", help="Traffic before this time (same forms as --since).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@encoding_option
@define_option
@global_options
@click.pass_obj
@handle_errors
def policy_diff_cmd(obj: Context, old: Path, new: Path, host: str, warehouse: Path, since: str | None,
                    until: str | None, fmt: str, encoding: str | None, defines: tuple[str, ...]) -> None:
    """The filters and rules NEW adds, removes and changes against OLD, by effective filter (not by text).

    Then, when the warehouse exists, the traffic impact: every stored flow judged by OLD and by NEW
    (observed permitted flows NEW would block first, as would break; dropped flows it would let
    through). Exit code 1 when something would break or NEW has errors.
    """
    from ..policy.diff import diff_policies

    before, after = _analyse(obj, old, host, defines, encoding), _analyse(obj, new, host, defines, encoding)
    result: dict = {"old": str(old), "new": str(new), "host": host, **diff_policies(before, after)}
    impact = None
    from ..correlate import NoWarehouse, open_session, require_warehouse

    try:
        root = require_warehouse(warehouse)
    except NoWarehouse as exc:
        obj.note(f"no traffic impact: {exc}")
        root = None
    if root is not None:
        from ..suggest import replay_impact

        with open_session(root, obj.config()) as session:
            session.check_host(host)
            start, end, _ = time_window(obj, since, until, None, host)
            impact = replay_impact(session, host, before, after, {"host": host, "since": start, "until": end})
        result["impact"] = impact
    if fmt == "json":
        click.echo(json_text(result))
    else:
        for kind, sign in (("added", "+"), ("removed", "-"), ("changed", "~")):
            items = result["filters"][kind]
            obj.out.print(Text(f"filters {kind} ({len(items)})", style="bold"))
            for f in items:
                if kind == "changed":
                    b, a = f["before"], f["after"]
                    line = (f"  ~ {_filter_text(b)}: rule {b['rule']!r} ({b['action']}, line {b['source_line']}) "
                            f"-> rule {a['rule']!r} ({a['action']}, line {a['source_line']})")
                else:
                    line = f"  {sign} {_filter_text(f)}  rule {f['rule']!r}, line {f['source_line']}"
                obj.out.print(Text(line))
        for kind, sign in (("added", "+"), ("removed", "-"), ("changed", "~")):
            items = result["rules"][kind]
            obj.out.print(Text(f"rules {kind} ({len(items)})", style="bold"))
            for r in items:
                r2 = r.get("after", r)
                obj.out.print(Text(f"  {sign} {r2['rule']!r}: list {r2['filter_list']!r}, {r2['action']}, "
                                   f"{r2['filters']} filter(s){'' if r2['active'] else ', inactive'}"))
        if impact is not None:
            from .suggest import BREAK_TABLE, CHANGE_TABLE

            if impact["would_break"]:
                print_rows(obj, pa.Table.from_pylist(impact["would_break"]), "table", BREAK_TABLE,
                           title=f"{host}: WOULD BREAK: permitted flows seen working that NEW blocks "
                                 f"({len(impact['would_break'])})")
            if impact["would_open"]:
                print_rows(obj, pa.Table.from_pylist(impact["would_open"]), "table", CHANGE_TABLE,
                           title=f"{host}: would open: dropped flows that would pass ({len(impact['would_open'])})")
            summary = impact["summary"]
            obj.out.print(Text(f"{host}: {summary['would_break']} permitted flow(s) would break "
                               f"({summary['events_would_break']:,} events), {summary['would_open']} dropped flow(s) "
                               f"would pass ({summary['events_would_open']:,} events), {summary['unchanged']} "
                               "unchanged"))
    _print_policy_issues(obj, after.issues)
    failed = after.errors or (impact is not None and impact["would_break"])
    sys.exit(ExitCode.SKIPPED if failed else ExitCode.OK)


COMMANDS = [policy_group]
