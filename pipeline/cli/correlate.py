"""``ipsec-drops flows|explain|sql``: the drops tied to the policy rules that explain them."""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from ..output import Column, json_text
from ..schema import GROUP_KEYS, VERDICTS
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
    zone_label,
)

#: The flows table: what matters first (host, direction, protocol, local, remote, packets, days,
#: verdict, rule); the rest is dropped right to left by priority when the terminal is narrow.
FLOW_TABLE = (
    Column("host", 0), Column("direction", 5, "direction", header="dir"),
    Column("protocol", 4, "protocol", header="proto"),
    Column("local", 0, "endpoint", source=("local_ip", "local_port")),
    Column("remote", 0, "endpoint", source=("remote_ip", "remote_port")),
    Column("packets", 1, "count"), Column("days_seen", 6, "number", header="days"), Column("verdict", 2),
    Column("rule", 3, shrink=True), Column("events", 9, "count"), Column("first_seen", 10, "time"),
    Column("last_seen", 8, "time"), Column("filter_list", 11, shrink=True), Column("action", 12),
    Column("source_line", 12, "number", header="line"),
)
#: ``flows --dataset allowed``: the observed permitted flows, the filter that permits each, and whether the
#: policy says that traffic should have been blocked.
ALLOWED_TABLE = (
    Column("host", 0), Column("direction", 5, "direction", header="dir"),
    Column("protocol", 4, "protocol", header="proto"),
    Column("local", 0, "endpoint", source=("local_ip", "local_port")),
    Column("remote", 0, "endpoint", source=("remote_ip", "remote_port")),
    Column("events", 1, "count"), Column("days_seen", 6, "number", header="days"), Column("verdict", 2),
    Column("rule", 3, shrink=True), Column("policy_blocks", 2, header="policy blocks"),
    Column("bytes", 9, "count"), Column("first_seen", 10, "time"), Column("last_seen", 8, "time"),
    Column("source_formats", 11, "list", header="sources"), Column("source_line", 12, "number", header="line"),
)
EXPLAIN_TABLE = (
    Column("in_force", 2, header="in force"), Column("rule", 0, shrink=True), Column("filter_list", 5, shrink=True),
    Column("action", 0), Column("mirror", 4), Column("src", 1), Column("dst", 1),
    Column("protocol", 3, "protocol", header="proto"), Column("src_port", 3, "number", header="sport"),
    Column("dst_port", 3, "number", header="dport"), Column("weight", 6, "number"),
    Column("source_line", 1, "number", header="line"),
)


#: Rows a terminal table shows unless --top or --all says otherwise (summaries first, like `git log | head`).
DEFAULT_TOP = 20
GROUP_TABLE = (
    Column("host", 0), Column("direction", 1, "direction", header="dir"),
    Column("protocol", 1, "protocol", header="proto"), Column("port", 0, "number"),
    Column("remote_network", 0, "address", header="remote network"),
    Column("rule", 2, shrink=True), Column("verdict", 0), Column("flows", 1, "count"), Column("events", 3, "count"),
    Column("packets", 0, "count"), Column("hosts", 5, "count"), Column("remotes", 4, "count"),
    Column("first_seen", 6, "time"), Column("last_seen", 2, "time"),
)


def _page(table, fmt: str, top: int | None, all_rows: bool, is_terminal: bool):
    """(rows to print, how many were left out): a terminal table shows DEFAULT_TOP rows unless told otherwise."""
    limit = top if top is not None else (DEFAULT_TOP if fmt == "table" and is_terminal and not all_rows else None)
    if limit is None or table.num_rows <= limit:
        return table, 0
    return table.slice(0, limit), table.num_rows - limit


@click.command("flows")
@warehouse_option
@period_options()
@click.option("--verdict", type=click.Choice(list(VERDICTS)), help="Only flows with this verdict.")
@click.option("--by", type=click.Choice(list(GROUP_KEYS)),
              help="Summarise: one row per verdict, rule, host, service port or remote network.")
@click.option("--top", type=click.IntRange(min=0),
              help=f"Only the N rows with the most packets (a terminal shows {DEFAULT_TOP} unless --all).")
@click.option("--all", "all_rows", is_flag=True, help="Every row, also on a terminal.")
@click.option("--dataset", type=click.Choice(["drops", "allowed"]), default="drops", show_default=True,
              help="allowed: the observed permitted flows (IIS, pfirewall ALLOW, WFP 5156/5158) with the filter "
                   "that permits each, flagging those the policy says should have been blocked.")
@click.option("--wide", is_flag=True, help="Show every column, however wide the table gets.")
@click.option("--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb", show_default=True,
              help="Compute the flows with DuckDB, or as Spark SQL on Apache Spark (same rows; needs pyspark, Java).")
@click.option("--spark-master", metavar="URL",
              help="Spark master for --engine spark (default: SPARK_MASTER, else local[2]; spark-submit: its own).")
@format_option()
@global_options
@click.pass_obj
@handle_errors
def flows_cmd(obj: Context, warehouse: Path, host: str | None, since: str | None, until: str | None, tz: str | None,
              verdict: str | None, by: str | None, top: int | None, all_rows: bool, dataset: str, wide: bool,
              engine: str, spark_master: str | None, fmt: str) -> None:
    """Dropped flows and the policy rule that explains each (most packets first).

    Every stored drop is matched against the filters of its host's policy in
    force at its time (config policy / policy_history, else the warehouse's
    current snapshot). --by summarises instead. --dataset allowed: the permitted
    traffic observed, judged by the same matcher (most events first).
    """
    from .. import correlate

    config = obj.config()
    root = correlate.require_warehouse(warehouse)
    with correlate.open_session(root, config) as session:
        session.check_host(host)
        start, end, zone = time_window(obj, since, until, tz, host)
        if dataset == "allowed":
            if by:
                raise click.UsageError("--by summarises drops only; give --dataset drops")
            if engine == "spark":
                raise click.UsageError("--engine spark computes the drops' flows only; give --dataset drops")
            table = session.allowed_flows(host=host, since=start, until=end, verdict=verdict)
        elif engine == "spark":  # the flows on Spark; a summary (--by) of its rows by the DuckDB session
            from ..spark.correlate import flows as spark_flows

            table = spark_flows(root, config, host=host, since=start, until=end, verdict=verdict, master=spark_master)
            if by:
                table = session.flow_groups(by, rows=table)
        elif by:
            table = session.flow_groups(by, host=host, since=start, until=end, verdict=verdict)
        else:
            table = session.flows(host=host, since=start, until=end, verdict=verdict)
        notes = list(session.notes)
    for note in notes:
        obj.note(note)
    shown, more = _page(table, fmt, top, all_rows, obj.out.is_terminal)
    what = f"flows by {by}" if by else "permitted flows seen" if dataset == "allowed" else "flows"
    footer = [zone_label(zone)]
    if more:
        footer.insert(0, f"… {more:,} more; --all or --top N")
    if dataset == "allowed" and table.num_rows:
        flagged = sum(1 for b in table.column("policy_blocks").to_pylist() if b)
        if flagged:
            footer.insert(0, f"{flagged} permitted flow(s) the policy says should have been blocked (policy blocks)")
    columns = ALLOWED_TABLE if dataset == "allowed" else GROUP_TABLE if by else FLOW_TABLE
    print_rows(obj, shown, fmt, columns, title=f"{what} ({table.num_rows:,})", wide=wide, notes=footer, tz=zone)


@click.command("explain")
@warehouse_option
@click.option("--host", required=True, help="The host whose policy to ask.")
@click.option("--src", required=True, help="The packet's source address.")
@click.option("--dst", required=True, help="The packet's destination address.")
@click.option("--proto", required=True, help="Protocol: a number or a name (tcp, udp, icmp ...).")
@click.option("--sport", type=click.IntRange(0, 65535), help="Source port (none: matches only port-less filters).")
@click.option("--dport", type=click.IntRange(0, 65535), help="Destination port.")
@click.option("--at", help="Whose policy snapshot to use, as a time (default: now): " + time_help)
@tz_option
@click.option("--wide", is_flag=True, help="Show every column, however wide the table gets.")
@format_option()
@global_options
@click.pass_obj
@handle_errors
def explain_cmd(obj: Context, warehouse: Path, host: str, src: str, dst: str, proto: str, sport: int | None,
                dport: int | None, at: str | None, tz: str | None, wide: bool, fmt: str) -> None:
    """Every filter that matches a packet, by weight, and why the winner wins."""
    from .. import correlate

    config = obj.config()
    root = correlate.require_warehouse(warehouse)
    with correlate.open_session(root, config) as session:
        session.check_host(host)
        when, _, _ = time_window(obj, at, None, tz, host)
        e = session.explain(host=host, src=src, dst=dst, proto=proto, sport=sport, dport=dport, at=when)
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
@period_options("Bind the flows relation to this host.", "Bind the flows relation to drops")
@click.option("--max-rows", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Rows a table shows (csv, json and ndjson stream every row).")
@click.option("--wide", is_flag=True, help="Show every column, however wide the table gets.")
@format_option()
@global_options
@click.pass_obj
@handle_errors
def sql_cmd(obj: Context, text: str, warehouse: Path, host: str | None, since: str | None, until: str | None,
            tz: str | None, max_rows: int, wide: bool, fmt: str) -> None:
    """Run read-only SQL over the warehouse (queries only; files outside it cannot be read).

    Relations: drops, flows (the flows view; --host/--since/--until bind it),
    filters, policies, rules, filter_actions, settings, issues, snapshots,
    policy_periods; macro ip_number(text).
    """
    import duckdb
    import pyarrow as pa

    from .. import correlate

    config = obj.config()
    root = correlate.require_warehouse(warehouse)
    with correlate.open_session(root, config) as session:
        session.check_host(host)
        start, end, zone = time_window(obj, since, until, tz, host)
        try:
            reader = session.sql_reader(text, host=host, since=start, until=end)
            if fmt != "table":
                print_rows(obj, reader, fmt)
                return
            batches, rows = [], 0
            for batch in reader:
                batches.append(batch)
                rows += batch.num_rows
                if rows > max_rows:
                    break
        except duckdb.Error as exc:
            raise ValueError(str(exc)) from exc
    table = pa.Table.from_batches(batches, schema=reader.schema)
    notes = [zone_label(zone)]
    if table.num_rows > max_rows:
        table = table.slice(0, max_rows)
        notes.insert(0, f"stopped at --max-rows {max_rows:,}; csv, json and ndjson stream every row")
    print_rows(obj, table, fmt, None, title=f"{table.num_rows:,} row(s)", wide=wide, notes=notes, tz=zone)


COMMANDS = [flows_cmd, explain_cmd, sql_cmd]
