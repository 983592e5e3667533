"""``ipsec-drops suggest`` and ``ipsec-drops whatif``: what to open, and what a script would change."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.text import Text

from .._lazy import lazy_module
from ..exit_codes import ExitCode
from ..output import Column, json_text
from .common import (
    Context,
    format_option,
    global_options,
    handle_errors,
    period_options,
    print_rows,
    time_help,
    time_window,
    tz_option,
    warehouse_option,
)

# The library, imported when a command runs (not when --help is printed).
pa = lazy_module("pyarrow")
correlate = lazy_module("pipeline.correlate")
suggestions = lazy_module("pipeline.suggest")

SUGGESTION_TABLE = (
    Column("host", 0), Column("kind", 5), Column("direction", 2, "direction", header="dir"),
    Column("protocol", 1, "protocol", header="proto"), Column("port", 0, "number"),
    Column("networks", 0, shrink=True), Column("events", 1, "count"), Column("days", 2, "number"),
    Column("remotes", 3, "count"), Column("blocked_by", 4, shrink=True, header="blocked by"),
    Column("permitted", 1, "count", header="replay"), Column("risks", 6, "number"),
)
REFUSED_TABLE = (
    Column("host", 0), Column("reason", 0), Column("direction", 3, "direction", header="dir"),
    Column("protocol", 2, "protocol", header="proto"), Column("port", 1, "number"),
    Column("remotes", 0, shrink=True), Column("events", 1, "count"), Column("detail", 4, shrink=True),
)
CHANGE_TABLE = (
    Column("host", 0), Column("direction", 4, "direction", header="dir"),
    Column("protocol", 3, "protocol", header="proto"),
    Column("local", 0, "endpoint", source=("local_ip", "local_port")),
    Column("remote", 0, "endpoint", source=("remote_ip", "remote_port")),
    Column("events", 1, "count"), Column("packets", 5, "count"), Column("verdict_before", 2, header="before"),
    Column("rule_before", 6, shrink=True, header="rule before"), Column("verdict_after", 0, header="after"),
    Column("rule_after", 1, shrink=True, header="rule after"),
)


BREAK_TABLE = (
    Column("host", 0), Column("direction", 4, "direction", header="dir"),
    Column("protocol", 3, "protocol", header="proto"),
    Column("local", 0, "endpoint", source=("local_ip", "local_port")),
    Column("remote", 0, "endpoint", source=("remote_ip", "remote_port")),
    Column("events", 0, "count"), Column("days", 1, "number"), Column("last_seen", 2, "time", header="last seen"),
    Column("rule_before", 5, shrink=True, header="permitted by"), Column("verdict_after", 6, header="after"),
    Column("rule_after", 0, header="blocked by"),
)


def _service_port(row: dict) -> int | None:
    return row["local_port"] if row.get("direction") == "inbound" else row.get("remote_port")


def _emit(obj: Context, text: str, out: Path | None, *, newline: str = "\n") -> None:
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8", newline=newline)
        obj.err.print(Text(f"written to {out}", style="dim"))


@click.command("suggest")
@warehouse_option
@period_options()
@click.option("--min-days", type=click.IntRange(min=1), help="Distinct UTC days a flow must recur on (default 2).")
@click.option("--min-sources", type=click.IntRange(min=1),
              help="Or: distinct internal sources to one local service port (default 3).")
@click.option("--max-prefix", type=click.IntRange(0, 32), help="Widen remote networks at most to /N (default 24).")
@click.option("--allow-any", is_flag=True, default=None,
              help="Allow 'any' as the remote end when the sources span --min-sources /24 networks.")
@click.option("--exclude-port", "exclude_ports", type=click.IntRange(0, 65535), multiple=True,
              help="Never suggest this service port (repeatable; adds to the config's exclude_ports).")
@click.option("--verify", is_flag=True, help="Replay the stored drops against the amended policy (the evidence).")
@click.option("--format", "fmt", type=click.Choice(["netsh", "table", "json"]), default="netsh", show_default=True,
              help="netsh: a .cmd to review and run; table: the evidence; json: everything.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE instead of the screen.")
@global_options
@click.pass_obj
@handle_errors
def suggest_cmd(obj: Context, warehouse: Path, host: str | None, since: str | None, until: str | None,
                tz: str | None, min_days: int | None, min_sources: int | None, max_prefix: int | None,
                allow_any: bool | None, exclude_ports: tuple[int, ...], verify: bool, fmt: str,
                out: Path | None) -> None:
    """Least-privilege permit filters for the recurring blocked flows, with their evidence.

    Scans, Internet sources on risky ports, ignored networks, deliberate blocks and
    rare flows are never suggested (they are listed with the reason). --verify parses
    the generated text with the policy parser, appends it to each host's script and
    judges every stored drop again.
    """
    config = obj.config()
    root = correlate.require_warehouse(warehouse)
    with correlate.open_session(root, config) as session:
        session.check_host(host)
        start, end, _ = time_window(obj, since, until, tz, host)
        result = suggestions.suggest(root, config, host=host, since=start, until=end, verify=verify, session=session,
                         min_days=min_days, min_sources=min_sources, max_prefix=max_prefix, allow_any=allow_any,
                         exclude_ports=exclude_ports or None)
    if fmt == "json":
        _emit(obj, json_text(result) + "\n", out)
    elif fmt == "netsh":
        _emit(obj, suggestions.netsh_script(result), out, newline="")
        counts = f"{len(result['suggestions'])} suggestion(s), {len(result['not_suggested'])} not suggested"
        obj.err.print(Text(counts + (" (see --format table)" if result["not_suggested"] else ""), style="dim"))
    else:
        _tables(obj, result)
    problems = result.get("replay", {}).get("problems") or []
    for problem in problems:
        obj.note(problem)
    sys.exit(ExitCode.SKIPPED if problems else ExitCode.OK)


def _tables(obj: Context, result: dict) -> None:
    rows = [{**s, "port": _service_port(s), "networks": " ".join(s["remote_networks"]), "remotes": len(s["remotes"]),
             "permitted": (s.get("replay") or {}).get("drops_permitted"), "risks": len(s["risks"])}
            for s in result["suggestions"]]
    table = pa.Table.from_pylist(rows) if rows else pa.table({c.name: pa.array([], pa.string())
                                                              for c in SUGGESTION_TABLE})
    print_rows(obj, table, "table", SUGGESTION_TABLE, title=f"suggestions ({len(rows)})")
    for s in result["suggestions"]:
        for risk in s["risks"]:
            obj.out.print(Text(f"  {s['name']}: {risk}", style="yellow"))
    refused = [{**n, "port": _service_port(n), "remotes": " ".join(n["remotes"][:5])
                + (f" +{len(n['remotes']) - 5}" if len(n["remotes"]) > 5 else "")} for n in result["not_suggested"]]
    if refused:
        print_rows(obj, pa.Table.from_pylist(refused), "table", REFUSED_TABLE,
                   title=f"not suggested ({len(refused)})")
    replay = result.get("replay")
    if replay:
        obj.out.print(Text(f"replay: {replay['drops_blocked_before']:,} blocked drops before, "
                           f"{replay['drops_blocked_after']:,} after; "
                           f"{len(replay['opened_beyond_suggested'])} other flow(s) opened"))
        for flow in replay["opened_beyond_suggested"]:
            obj.out.print(Text(f"  also opened: {flow['host']} {flow['direction']} {flow['remote_ip']} "
                               f"({flow['events']} events) by {flow['rule_after']}", style="yellow"))


@click.command("whatif")
@warehouse_option
@click.option("--host", required=True, help="The host whose policy changes.")
@click.option("--script", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Commands appended to the host's current script.")
@click.option("--replace", "replace_with", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A whole new script instead of the current one.")
@click.option("--since", help="Drops at or after this time: " + time_help)
@click.option("--until", help="Drops before this time (same forms as --since).")
@tz_option
@click.option("--wide", is_flag=True, help="Show every column, however wide the table gets.")
@format_option()
@global_options
@click.pass_obj
@handle_errors
def whatif_cmd(obj: Context, warehouse: Path, host: str, script: Path | None, replace_with: Path | None,
               since: str | None, until: str | None, tz: str | None, wide: bool, fmt: str) -> None:
    """Every stored flow whose verdict or deciding rule a candidate policy would change, before -> after.

    Judges the drops and the observed permitted traffic (IIS, pfirewall ALLOW, WFP 5156/5158): permitted
    flows the candidate would block are listed first, as WOULD BREAK; then dropped flows that would pass.
    Exit 1 when something would break (or the script has errors).
    """
    config = obj.config()
    root = correlate.require_warehouse(warehouse)
    if (script is None) == (replace_with is None):
        raise click.UsageError("give --script EXTRA.cmd (appended) or --replace NEW.cmd (instead)")
    with correlate.open_session(root, config) as session:
        start, end, zone = time_window(obj, since, until, tz, host)
        result = suggestions.whatif(root, config, host=host, script=script, replace_with=replace_with, since=start,
                                    until=end, session=session)
    summary = result["summary"]
    if fmt == "json":
        click.echo(json_text(result))
    elif fmt == "table":
        empty = {k: pa.array([], pa.string()) for k in ("host", "verdict_before", "verdict_after")}
        breaks = result["would_break"]
        if breaks:
            print_rows(obj, pa.Table.from_pylist(breaks), fmt, BREAK_TABLE, wide=wide, tz=zone,
                       title=f"{host}: WOULD BREAK: permitted flows seen working that the new policy blocks "
                             f"({len(breaks)})")
        opens = result["would_open"]
        if opens:
            print_rows(obj, pa.Table.from_pylist(opens), fmt, CHANGE_TABLE, wide=wide, tz=zone,
                       title=f"{host}: would open: dropped flows that would pass ({len(opens)})")
        other = [c for c in result["changed"] if c["impact"] == "other"]
        title = f"{host}: flows that change ({len(result['changed'])})" if not (breaks or opens) else \
            f"{host}: other changes ({len(other)})"
        rows = result["changed"] if not (breaks or opens) else other
        if rows or not (breaks or opens):
            print_rows(obj, pa.Table.from_pylist(rows) if rows else pa.table(empty), fmt, CHANGE_TABLE, title=title,
                       wide=wide, tz=zone)
    else:
        changed = pa.Table.from_pylist(result["changed"]) if result["changed"] else pa.table(
            {k: pa.array([], pa.string()) for k in ("host", "verdict_before", "verdict_after")})
        print_rows(obj, changed, fmt, CHANGE_TABLE, wide=wide, tz=zone)
    line = (f"{summary['host']}: {summary['changed']} flow(s) change: {summary['newly_blocked']} newly blocked "
            f"({summary['events_newly_blocked']:,} events), {summary['newly_permitted']} newly permitted "
            f"({summary['events_newly_permitted']:,} events)")
    if summary["allowed_flows"] or summary["would_break"]:
        line += (f"; of {summary['allowed_flows']} permitted flow(s) seen working, {summary['would_break']} would "
                 f"break ({summary['events_would_break']:,} events)")
    (obj.err if fmt != "table" else obj.out).print(Text(line))
    for problem in summary["script_errors"]:
        obj.note(problem)
    failed = summary["script_errors"] or summary["would_break"]
    sys.exit(ExitCode.SKIPPED if failed else ExitCode.OK)


COMMANDS = [suggest_cmd, whatif_cmd]
