"""Observed permitted traffic -> allowed-event rows (``schema.ALLOWED_EVENT_SCHEMA``).

Every source of permitted traffic (IIS requests, pfirewall ``ALLOW`` lines, WFP 5156/5158) ends
here, so the rule that keeps only the *service* port of each end is applied once, as the flows
view applies it to drops (``queries/flows.sql``): the service end is the packet's destination,
unless the packet goes from a port below 1024 to one above (a service's reply); the other end's
port is the client's ephemeral port and becomes NULL, so a thousand requests from one client are
one flow.  The writer de-duplicates the events by their identity, then aggregates them per UTC day
and flow (:mod:`pipeline.warehouse.store`).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..schema import ALLOWED_EVENT_SCHEMA

_NULL_INT = pa.nulls(1, pa.int32())[0]


def service_ports(src_port: pa.Array, dst_port: pa.Array, local_is_dst: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(local port, remote port) with only the service end's port kept (flows.sql's rule)."""
    src_port, dst_port = src_port.cast(pa.int32()), dst_port.cast(pa.int32())
    # local_is_dst NULL (which end is this host is not known): both ports NULL, as in flows.sql
    lport = pc.if_else(local_is_dst, dst_port, src_port)
    rport = pc.if_else(local_is_dst, src_port, dst_port)
    reply = pc.fill_null(pc.and_(pc.less(src_port, 1024), pc.greater_equal(dst_port, 1024)), False)
    service_is_dst = pc.invert(reply)
    either_null = pc.or_(pc.is_null(lport), pc.is_null(rport))
    same = pc.equal(local_is_dst, service_is_dst)
    local = pc.if_else(pc.or_(either_null, same), lport, _NULL_INT)
    remote = pc.if_else(pc.or_(either_null, pc.invert(same)), rport, _NULL_INT)
    return local, remote


def allowed_table(*, event_time: pa.Array, host: pa.Array | str, direction: pa.Array, protocol: pa.Array,
                  local_ip: pa.Array, local_port: pa.Array, remote_ip: pa.Array, remote_port: pa.Array,
                  source_format: str, allow_kind: pa.Array | str, nbytes: pa.Array | None = None) -> pa.Table:
    """An ``ALLOWED_EVENT_SCHEMA`` table from its columns (strings repeated for every row)."""
    n = len(event_time)

    def fill(value: pa.Array | str) -> pa.Array:
        return pa.repeat(value, n) if isinstance(value, str) else value

    return pa.table({
        "event_time": event_time,
        "host": fill(host),
        "direction": direction,
        "protocol": protocol,
        "local_ip": local_ip,
        "local_port": local_port,
        "remote_ip": remote_ip,
        "remote_port": remote_port,
        "source_format": pa.repeat(source_format, n),
        "allow_kind": fill(allow_kind),
        "bytes": nbytes if nbytes is not None else pa.nulls(n, pa.int64()),
    }).cast(ALLOWED_EVENT_SCHEMA)


def aggregate(events: pa.Table) -> pa.Table:
    """Allowed events (or partial aggregates of them) -> one row per flow key: events, bytes, first/last seen.

    ``events`` has the event schema (each row one event) or the dataset's columns (``events``,
    ``first_seen``, ``last_seen``: partial aggregates being merged); the date is the caller's.
    """
    from ..schema import ALLOWED_KEYS, ALLOWED_SCHEMA

    if "events" not in events.column_names:
        events = events.append_column("events", pa.repeat(pa.scalar(1, pa.int64()), events.num_rows))
        events = events.append_column("first_seen", events.column("event_time"))
        events = events.append_column("last_seen", events.column("event_time"))
    grouped = events.group_by(list(ALLOWED_KEYS), use_threads=False).aggregate([
        ("events", "sum"), ("bytes", "sum"), ("first_seen", "min"), ("last_seen", "max")])
    # sum of all-NULL bytes is NULL ("not known"), as wanted
    grouped = grouped.rename_columns([{"events_sum": "events", "bytes_sum": "bytes", "first_seen_min": "first_seen",
                                       "last_seen_max": "last_seen"}.get(c, c) for c in grouped.column_names])
    ordered = grouped.select(ALLOWED_SCHEMA.names)
    order = pc.sort_indices(ordered, sort_keys=[("host", "ascending"), ("first_seen", "ascending")])
    return ordered.take(order).cast(ALLOWED_SCHEMA)


def day_numbers(times: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """UTC day numbers (days since 1970-01-01) of timestamps."""
    if isinstance(times, pa.ChunkedArray):
        times = times.combine_chunks()
    return times.cast(pa.int64()).to_numpy(zero_copy_only=False) // 86_400_000_000
