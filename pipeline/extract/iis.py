"""IIS request lines -> allowed events: each request an inbound TCP connection from ``c-ip`` to ``s-ip:s-port``.

The web service's lines are ``iis-request``; the FTP service's (IIS 5/6 write ``cs-method`` as
``[session]COMMAND``, IIS 7+ has ``x-session``; a site named ``MSFTPSVC...``) are ``iis-ftp``, on port 21
when the log has no ``s-port``.  Without ``s-port`` a web request is on port 80; without ``s-ip`` the
local address is not known (NULL: it matches filters of any local address).  ``bytes`` is
``sc-bytes + cs-bytes`` where logged.  The host is ``s-computername`` where logged (canonicalised through
the config), else the file's host (``--host`` or inbox).  A line whose time, date or ``c-ip`` cannot be
read is skipped, counted and named.  Identity: (host, ``iis``, line text, occurrence), as a pfirewall line.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..issues import IssueLog
from ..schema import IIS_LOG
from . import Extracted, SourceContext
from .allowed import allowed_table
from .values import RowChecks, normalise_ip, parse_int, parse_local_timestamp, single

_FTP_METHOD = r"^\[\d+\]"
_FTP_COMMANDS = ("USER", "PASS", "RETR", "STOR", "QUIT", "LIST", "NLST", "CWD", "PWD", "MKD", "RMD", "DELE",
                 "PORT", "PASV", "TYPE", "SYST", "NOOP", "APPE", "SIZE", "MDTM", "FEAT", "OPTS", "EPSV", "AUTH")


def extract_iis(rows: pa.Table, ctx: SourceContext, issues: IssueLog) -> Extracted:
    """The requests of ``rows`` (:mod:`pipeline.readers.iis` columns) as allowed events with their identities."""
    n = rows.num_rows
    if n == 0:
        return Extracted.empty()

    def col(name: str) -> pa.Array:
        if name not in rows.column_names:
            return pa.nulls(n, pa.string())
        return single(rows.column(name))

    lines = col("_line").to_numpy(zero_copy_only=False)
    text = col("_text")
    checks = RowChecks(n)
    reject = checks.reject
    day = col("date") if "date" in rows.column_names else col("_date")
    when = parse_local_timestamp(pc.binary_join_element_wise(day, col("time"), " "))
    reject(pc.is_null(when).to_numpy(zero_copy_only=False),
           "date/time is not yyyy-MM-dd hh:mm:ss (no date field and no #Date: header?)"
           if "date" not in rows.column_names else "date/time is not yyyy-MM-dd hh:mm:ss")
    client, bad = normalise_ip(col("c-ip"))
    reject(bad | pc.is_null(client).to_numpy(zero_copy_only=False), "c-ip is not an IP address")
    server, bad = normalise_ip(col("s-ip"))
    reject(bad, "s-ip is not an IP address")
    port, bad = parse_int(col("s-port"), 0, 65535)
    reject(bad, "s-port is not a port number")
    sc_bytes, bad_sc = parse_int(col("sc-bytes"), 0, 2**62)
    cs_bytes, bad_cs = parse_int(col("cs-bytes"), 0, 2**62)
    reject(bad_sc | bad_cs, "sc-bytes/cs-bytes is not a number")

    method = pc.fill_null(col("cs-method"), "")
    site = pc.utf8_upper(pc.fill_null(col("s-sitename"), ""))
    ftp = pc.or_(pc.match_substring_regex(method, _FTP_METHOD),
                 pc.or_(pc.starts_with(site, "MSFTPSVC"), pc.starts_with(site, "FTPSVC")))
    if "x-session" in rows.column_names:
        ftp = pc.or_(ftp, pc.invert(pc.is_null(col("x-session"))))
    if "s-port" not in rows.column_names:  # no port to tell by: FTP commands mean the FTP service
        ftp = pc.or_(ftp, pc.is_in(pc.utf8_upper(method), value_set=pa.array(_FTP_COMMANDS)))
    port = pc.coalesce(port, pc.if_else(ftp, pa.scalar(21, pa.int64()), pa.scalar(80, pa.int64())))
    kind = pc.if_else(ftp, pa.scalar("iis-ftp"), pa.scalar("iis-request"))
    nbytes = pc.if_else(pc.and_(pc.is_null(sc_bytes), pc.is_null(cs_bytes)), pa.scalar(None, pa.int64()),
                        pc.add(pc.fill_null(sc_bytes, 0), pc.fill_null(cs_bytes, 0)))

    host_col = col("s-computername")
    if ctx.default_host is not None:
        hosts = pa.repeat(ctx.default_host, n)
    else:
        names = {v: ctx.canonical_host(v) for v in pc.unique(host_col.drop_null()).to_pylist()}
        hosts = pa.array([names.get(v) if v is not None else None for v in host_col.to_pylist()], pa.string())
        reject(pc.is_null(hosts).to_numpy(zero_copy_only=False),
               "no host: the line has no s-computername and the file no --host or inbox")
    for i in np.flatnonzero(~checks.ok).tolist():
        issues.malformed(int(lines[i]), checks.reasons[i] or "bad value", text[i].as_py() or "")
    kept = int(checks.ok.sum())
    if kept == 0:
        return Extracted.empty(n)
    keep = pa.array(checks.ok)

    def kept_only(values: pa.Array) -> pa.Array:
        return values if kept == n else values.filter(keep)

    events = allowed_table(
        event_time=kept_only(when.cast(pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))),
        host=kept_only(hosts), direction=pa.repeat("inbound", kept), protocol=pa.repeat(pa.scalar(6, pa.int16()),
                                                                                          kept),
        local_ip=kept_only(server), local_port=kept_only(port.cast(pa.int32())), remote_ip=kept_only(client),
        remote_port=pa.nulls(kept, pa.int32()), source_format=ctx.source_format, allow_kind=kept_only(kind),
        nbytes=kept_only(nbytes))
    host_text = ctx.default_host if ctx.default_host is not None else events.column("host").combine_chunks()
    base = pc.binary_join_element_wise(host_text, IIS_LOG, kept_only(text), "\x1f")
    times = single(events.column("event_time")).cast(pa.int64()).to_numpy(zero_copy_only=False)
    # Identical lines share their time (UTC: no DST fold) and their length, so only rows that share both with
    # another row, or stand at the batch's last second or the second carried from the batch before, can repeat:
    # the exact (string) numbering runs on those only.
    lengths = pc.binary_length(base).to_numpy(zero_copy_only=False).astype(np.int64)
    order = np.lexsort((lengths, times))
    same = (times[order][1:] == times[order][:-1]) & (lengths[order][1:] == lengths[order][:-1])
    flagged = np.zeros(kept, dtype=bool)
    flagged[1:] |= same
    flagged[:-1] |= same
    candidate = np.zeros(kept, dtype=bool)
    candidate[order] = flagged
    candidate |= times == times.max()
    occ = np.ones(kept, dtype=np.int64)
    with ctx.in_order("occurrences"):
        if ctx.occurrences.latest_time is not None:
            candidate |= times == ctx.occurrences.latest_time
        at = np.flatnonzero(candidate)
        occ[at] = ctx.occurrences.number(base.take(pa.array(at)), times[at])
    keys = pc.binary_join_element_wise(base, pa.array(occ).cast(pa.string()), "\x1f")
    return Extracted(Extracted.empty().drops, pa.array([], pa.string()), n, events, keys)
