"""``ipsec-drops flows|explain|sql``: the drops tied to the policy rules that explain them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from rich.text import Text

from .. import correlate
from ..output import Column, json_text
from ..warehouse import Warehouse
from .common import Context, format_option, global_options, handle_errors, print_rows, warehouse_option

TIME_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]

#: The flows table: what matters first (host, direction, protocol, local, remote, packets, days,
#: verdict, rule); the rest is dropped right to left by priority when the terminal is narrow.
FLOW_TABLE = (
    Column("host", 0), Column("direction", 6), Column("protocol", 5, "protocol", header="proto"),
    Column("local", 0, "endpoint", source=("local_ip", "local_port")),
    Column("remote", 0, "endpoint", source=("remote_ip", "remote_port")),
    Column("packets", 1, "count"), Column("days_seen", 7, "number", header="days"), Column("verdict", 2),
    Column("rule", 3, shrink=True), Column("events", 9, "count"), Column("first_seen", 10, "time"),
    Column("last_seen", 8, "time"), Column("filter_list", 11, shrink=True), Column("action", 12),
    Column("source_line", 12, "number", header="line"),
)
EXPLAIN_TABLE = (
    Column("in_force", 2, header="in force"), Column("rule", 0, shrink=True), Column("filter_list", 5, shrink=True),
    Column("action", 0), Column("mirror", 4), Column("src", 1), Column("dst", 1),
    Column("protocol", 3, "protocol", header="proto"), Column("src_port", 3, "number", header="sport"),
    Column("dst_port", 3, "number", header="dport"), Column("weight", 6, "number"),
    Column("source_line", 1, "number", header="line"),
)


@click.command("flows")
@warehouse_option
@click.option("--host", help="Only this host (case-insensitive).")
@click.option("--since", type=click.DateTime(TIME_FORMATS),
              help="Drops at or after this UTC time (YYYY-MM-DD[THH:MM:SS]).")
@click.option("--until", type=click.DateTime(TIME_FORMATS), help="Drops before this UTC time.")
@click.option("--verdict", type=click.Choice(list(correlate.VERDICTS)), help="Only flows with this verdict.")
@click.option("--top", type=click.IntRange(min=0), help="Only the N flows with the most packets.")
@click.option("--wide", is_flag=True, help="Show every column, however wide the table gets.")
@format_option()
@global_options
@click.pass_obj
@handle_errors
def flows_cmd(obj: Context, warehouse: Path, host: str | None, since: datetime | None, until: datetime | None,
              verdict: str | None, top: int | None, wide: bool, fmt: str) -> None:
    """Dropped flows and the policy rule that explains each (most packets first).

    Every stored drop is matched against the filters of its host's policy in
    force at its time (config policy / policy_history, else the warehouse's
    current snapshot).
    """
    with correlate.open_session(Warehouse(warehouse), obj.config()) as session:
        table = session.flows(host=host, since=since, until=until, verdict=verdict, top=top)
        notes = list(session.notes)
    for note in notes:
        obj.note(note)
    print_rows(obj, table, fmt, FLOW_TABLE, title=f"flows ({table.num_rows})", wide=wide)


@click.command("explain")
@warehouse_option
@click.option("--host", required=True, help="The host whose policy to ask.")
@click.option("--src", required=True, help="The packet's source address.")
@click.option("--dst", required=True, help="The packet's destination address.")
@click.option("--proto", required=True, help="Protocol: a number or a name (tcp, udp, icmp ...).")
@click.option("--sport", type=click.IntRange(0, 65535), help="Source port (none: matches only port-less filters).")
@click.option("--dport", type=click.IntRange(0, 65535), help="Destination port.")
@click.option("--at", type=click.DateTime(TIME_FORMATS), help="UTC time whose policy snapshot to use (default: now).")
@click.option("--wide", is_flag=True, help="Show every column, however wide the table gets.")
@format_option()
@global_options
@click.pass_obj
@handle_errors
def explain_cmd(obj: Context, warehouse: Path, host: str, src: str, dst: str, proto: str, sport: int | None,
                dport: int | None, at: datetime | None, wide: bool, fmt: str) -> None:
    """Every filter that matches a packet, by weight, and why the winner wins."""
    e = correlate.explain(Warehouse(warehouse), obj.config(), host=host, src=src, dst=dst, proto=proto,
                          sport=sport, dport=dport, at=at)
    for note in e.notes:
        obj.note(note)
    if fmt == "json":
        click.echo(json_text(e.as_dict()))
        return
    print_rows(obj, e.matches, fmt, EXPLAIN_TABLE, title=f"{host} snapshot {e.snapshot}: matching filters, best first",
               wide=wide)
    if fmt == "table":
        winner = f"{e.winner['rule']!r} (line {e.winner['source_line']}, {e.winner['action']})" if e.winner else "none"
        obj.out.print(Text(f"verdict: {e.verdict}; winner: {winner}; why: {e.reason}"))


@click.command("sql")
@click.argument("text")
@warehouse_option
@click.option("--wide", is_flag=True, help="Show every column, however wide the table gets.")
@format_option()
@global_options
@click.pass_obj
@handle_errors
def sql_cmd(obj: Context, text: str, warehouse: Path, wide: bool, fmt: str) -> None:
    """Run read-only SQL over the warehouse (queries only; files outside it cannot be read).

    Relations: drops, filters, policies, rules, filter_actions, settings, issues,
    snapshots, policy_periods; macro ip_number(text).
    """
    import duckdb

    try:
        table = correlate.sql(Warehouse(warehouse), obj.config(), text)
    except duckdb.Error as exc:
        raise ValueError(str(exc)) from exc
    print_rows(obj, table, fmt, None, title=f"{table.num_rows} row(s)", wide=wide)


COMMANDS = [flows_cmd, explain_cmd, sql_cmd]
