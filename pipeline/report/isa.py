"""The drops as ISA Server logs, for the SIEM parsers and log tools written for ISA Server and TMG.

Two layouts, one file per host and day (:func:`isa2000_name`, :func:`isa2004_name`):

* **ISA Server 2000 packet filter log** ``<HOST>/IPPEXTD<yyyymmdd>.log``: W3C extended, tab-delimited
  (:data:`ISA2000_FIELDS`), or with ``style="native"`` the ISA Server file format (no directives,
  every field, ``-`` for empty);
* **ISA Server 2004/2006 Firewall log** ``<HOST>/ISALOG_<yyyymmdd>_FWS_000.w3c``: W3C extended,
  tab-delimited (:data:`ISA2004_FIELDS`), ``action`` = ``Denied Connection``, ``rule`` = the policy rule
  that dropped the packet (the correlation's; ``-`` when no filter matched), then fields of our own.

One row per stored drop that names at least one address (a 4292 "Block mode" event names none and is
left out); ``-`` for whatever is not known.  Times are written in the report's zone (UTC unless
``--tz``), and a ``#Remark:`` directive says which; ``#Date`` is the day's first second in that zone.
Line ends are CRLF (the files are Windows software's), text UTF-8 without a BOM.  Host and rule
names are attacker-influenced: :func:`field_text` turns every control character (tab, CR, LF ...) and,
in the native style, the comma into a space, so a value can never add a field or a row.

Choices where the sources (``../shared/reference/log-formats.md`` §5) leave the format open
(**UNVERIFIED** there) are made once, in :data:`CHOICES` below; the README points here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc

from ..schema import protocol_name

ISA2000_FIELDS = ("date", "time", "r-ip", "s-ip", "protocol", "param#1", "param#2", "tcp-flags", "s-filter-rule",
                  "s-interface", "rs-ip-header", "rs-payload")
#: ISA 2004/2006 Firewall log fields in the product's default order (the first six documented by the SDK, the
#: rest as a public ISA 2004 W3C log shows them; see CHOICES), then ours: ``x-`` marks application fields in
#: the W3C extended format.
ISA2004_FIELDS = ("computer", "date", "time", "IP protocol", "source", "destination", "original client IP",
                  "source network", "destination network", "action", "status", "rule", "application protocol",
                  "bytes sent", "bytes sent intermediate", "bytes received", "bytes received intermediate",
                  "connection time", "connection time intermediate", "source name", "destination name",
                  "username", "agent", "session ID", "connection ID", "interface", "IP header",
                  "protocol payload", "x-drop-kind", "x-verdict", "x-netsh-line")

ISA2000_VERSION = "1.0"
ISA2004_VERSION = "2.0"
ISA2000_SOFTWARE = "ipsec-drops (Microsoft Internet Security and Acceleration Server 2000 packet filter log layout)"
ISA2004_SOFTWARE = "ipsec-drops (Microsoft Internet Security and Acceleration Server 2004 Firewall log layout)"
DENIED_ACTION = "Denied Connection"
DROPPED_FILTER_RULE = "0"
LOCAL_NETWORK = "Local Host"
NEWLINE = "\r\n"
NATIVE_SEPARATOR = ", "
#: The values ISA 2004 writes in a denied packet's row for fields that count a connection's traffic.
_DENIED_ZEROS = {"bytes sent": "0", "bytes sent intermediate": "0", "bytes received": "0",
                 "bytes received intermediate": "0", "session ID": "0", "connection ID": "0"}

#: Every point the sources leave open, the choice made, and why (the README's Reports section points here).
CHOICES: tuple[tuple[str, str, str], ...] = (
    ("ISA 2000 W3C delimiter", "tab",
     "the issue; ISA 2004's W3C files are tab-delimited (public sample), the 2000 SDK does not say"),
    ("ISA 2000 native format", "fields joined by ', ', dates M/D/YYYY, times HH:MM:SS, '-' for empty, no directives",
     "techgenix: comma-delimited, no directives, dashes; the rest as IIS's native log format, which ISA's "
     "resembles (inference)"),
    ("ISA 2000 protocol", "TCP, UDP, ICMP by name, any other protocol as its number", "the issue; the SDK names "
     "these three"),
    ("ISA 2004 IP protocol", "the IANA name where the project knows one (IGMP, GRE, ESP ...), else the number",
     "a public ISA 2004 W3C Firewall log writes TCP, UDP and IGMP"),
    ("ISA 2000 s-interface", "this host's address of the drop (local_ip)",
     "the SDK: the interface the packet was received on, i.e. the local address; '-' when not known"),
    ("ISA 2000 tcp-flags, rs-ip-header, rs-payload", "'-'", "not in the drop logs"),
    ("ICMP param#1 / param#2 (type / code)", "the drop's ports when the log gave any, else '-'",
     "the Windows drop logs carry no ICMP type or code"),
    ("ISA 2004 field names after the first six", "the order and names of a public ISA 2004 W3C Firewall log "
     "(original client IP ... protocol payload)", "the SDK names only computer, date, time, IP protocol, source, "
     "destination in W3C files"),
    ("ISA 2004 #Version", "2.0", "a public ISA 2004 W3C Firewall log writes 2.0; ISA 2000 writes 1.0"),
    ("#Software", "ipsec-drops (... log layout)", "the files are not written by ISA Server and say so"),
    ("ISA 2004 action", "Denied Connection",
     "the issue and the TMG action table (FpcAction 8); the public sample writes Denied in W3C files"),
    ("ISA 2004 status", "'-'", "the ISA result code of a denied packet is not known for IPSec drops"),
    ("ISA 2004 source network / destination network", "'Local Host' for this host's end, '-' for the peer",
     "ISA's name of the firewall's own network; the peer's network is not configured here"),
    ("ISA 2004 counters (bytes, session ID, connection ID)", "0", "what ISA 2004 writes for a denied packet "
     "(public sample); connection times, names, user, agent, interface, header, payload '-'"),
    ("ISA 2004 original client IP", "the packet's source address", "as ISA 2004 writes it for unproxied traffic"),
    ("x-netsh-line", "<script file name>:<line> of the filter that decided the drop, '-' when none",
     "our field: which line of the netsh script to read"),
    ("time zone", "UTC unless --tz; said in a '#Remark:' directive (not possible in the native style)",
     "ISA writes UTC in W3C files (SDK: ISA 2004 firewall, ISA 2000 proxy/firewall)"),
    ("which drops", "every drop with at least one address; a 4292 (no address) is left out", "the issue"),
    ("which files", "one per host and day (in the report's zone) on which the host has stored drops",
     "ISA starts a file a day; days without drops would be empty"),
)

_CONTROL = r"[\x00-\x1f\x7f]"


def isa2000_name(day: date) -> str:
    return f"IPPEXTD{day:%Y%m%d}.log"


def isa2004_name(day: date) -> str:
    return f"ISALOG_{day:%Y%m%d}_FWS_000.w3c"


def field_text(array: pa.Array | pa.ChunkedArray, *, native: bool = False) -> pa.Array:
    """A column as log field text: control characters (and commas when ``native``) become spaces; empty is ``-``."""
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        text = pc.replace_substring_regex(array, pattern=_CONTROL + ("|," if native else ""), replacement=" ")
    else:  # numbers as text hold neither control characters nor commas
        text = pc.cast(array, pa.string())
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    return _combined(pc.fill_null(text, "-"))


def _combined(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def zone_key(zone: tzinfo) -> str:
    """The IANA name Arrow and DuckDB know a zone by (``UTC`` for :data:`datetime.UTC`).

    A zone without a name (a fixed offset other than 0) is refused: the files must say which zone.
    """
    key = getattr(zone, "key", None)
    if key:
        return str(key)
    if zone.utcoffset(None) == timedelta(0):
        return "UTC"
    raise ValueError(f"the time zone {zone!r} has no IANA name; give one such as Europe/Berlin")


def local_times(times: pa.Array | pa.ChunkedArray, zone: tzinfo, fmt: str) -> pa.Array:
    """Instants as text in ``zone`` (``fmt`` as strftime), to the second (fractions are cut, as ISA writes them)."""
    seconds = pc.cast(times, pa.timestamp("s", tz=zone_key(zone)), safe=False)  # cut to the second
    return _combined(pc.strftime(seconds, format=fmt))


def _native_date(times: pa.Array | pa.ChunkedArray, zone: tzinfo, separator: str) -> pa.Array:
    """``M/D/YYYY<separator>HH:MM:SS`` (no leading zeros in month and day)."""
    text = local_times(times, zone, f"%m/%d/%Y{separator}%H:%M:%S")
    return _combined(pc.replace_substring_regex(pc.replace_substring_regex(text, "^0", ""), "/0", "/"))


#: The protocols the ISA 2000 packet filter log names (the SDK: "such as TCP, UDP, or ICMP"); others are numbers.
ISA2000_PROTOCOLS = {1: "ICMP", 6: "TCP", 17: "UDP"}


def protocol_names(protocols: pa.Array | pa.ChunkedArray, names: dict[int, str] | None = None) -> pa.Array:
    """Protocol numbers as ``names`` has them (default: every IANA name the project knows), else the number;
    ``-`` when unknown."""
    encoded = pc.dictionary_encode(_combined(protocols))

    def name(v: int) -> str:
        return protocol_name(v) if names is None else names.get(int(v), str(v))

    names_array = pa.array([name(v) for v in encoded.dictionary.to_pylist()], pa.string())
    out = pc.take(names_array, encoded.indices)
    return _combined(pc.fill_null(out, "-"))


def endpoints(ips: pa.Array | pa.ChunkedArray, ports: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``ip:port`` (``[v6]:port``); the address alone without a port; ``-`` without an address."""
    ips = _combined(ips)
    bracketed = pc.if_else(pc.match_substring(ips, ":"), pc.binary_join_element_wise("[", ips, "]", ""), ips)
    with_port = pc.binary_join_element_wise(bracketed, pc.cast(ports, pa.string()), ":")
    return _combined(pc.fill_null(pc.coalesce(with_port, bracketed), "-"))


def _policy_lines(files: pa.Array | pa.ChunkedArray, lines: pa.Array | pa.ChunkedArray) -> pa.Array:
    names = pc.replace_substring_regex(_combined(files), pattern=r"^.*[\\/]", replacement="")
    return _combined(pc.binary_join_element_wise(names, pc.cast(lines, pa.string()), ":"))


def with_addresses(batch: pa.RecordBatch | pa.Table) -> pa.Table:
    """The rows of ``batch`` that name at least one address (the rows the ISA files hold)."""
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    keep = pc.or_kleene(pc.is_valid(table["remote_ip"]), pc.is_valid(table["local_ip"]))
    return table.filter(pc.fill_null(keep, False))


def isa2000_columns(rows: pa.Table, zone: tzinfo, *, native: bool = False) -> list[pa.Array]:
    """The ISA 2000 packet filter log fields of report rows (``queries/report_drops.sql``), as text columns."""
    n = rows.num_rows
    t = rows["event_time"]

    def f(name: str) -> pa.Array:
        return field_text(rows[name], native=native)

    # date and time as one column holding the separator between them (one conversion instead of two)
    when = [_native_date(t, zone, NATIVE_SEPARATOR)] if native else [local_times(t, zone, "%Y-%m-%d\t%H:%M:%S")]
    dash = pa.array(["-"] * n, pa.string())
    return [*when, f("remote_ip"), f("local_ip"), protocol_names(rows["protocol"], ISA2000_PROTOCOLS), f("remote_port"),
            f("local_port"), dash, pa.array([DROPPED_FILTER_RULE] * n, pa.string()), f("local_ip"), dash, dash]


def isa2004_columns(rows: pa.Table, zone: tzinfo) -> list[pa.Array]:
    """The ISA 2004/2006 Firewall log fields of report rows, as text columns (in :data:`ISA2004_FIELDS` order)."""
    n = rows.num_rows
    t = rows["event_time"]
    dash = pa.array(["-"] * n, pa.string())
    local_is_src = pc.fill_null(pc.equal(rows["src_ip"], rows["local_ip"]), False)
    local_is_dst = pc.fill_null(pc.equal(rows["dst_ip"], rows["local_ip"]), False)
    local = pa.scalar(LOCAL_NETWORK)
    none = pa.scalar("-")
    values = {
        "computer": field_text(rows["host"]),
        "date": local_times(t, zone, "%Y-%m-%d\t%H:%M:%S"),  # date and time: one column, tab between
        "IP protocol": protocol_names(rows["protocol"]),
        "source": field_text(endpoints(rows["src_ip"], rows["src_port"])),
        "destination": field_text(endpoints(rows["dst_ip"], rows["dst_port"])),
        "original client IP": field_text(rows["src_ip"]),
        "source network": _combined(pc.if_else(local_is_src, local, none)),
        "destination network": _combined(pc.if_else(local_is_dst, local, none)),
        "action": pa.array([DENIED_ACTION] * n, pa.string()),
        "rule": field_text(rows["rule"]),
        "x-drop-kind": field_text(rows["drop_kind"]),
        "x-verdict": field_text(rows["verdict"]),
        "x-netsh-line": field_text(_policy_lines(rows["policy_file"], rows["policy_line"])),
    }
    for name, value in _DENIED_ZEROS.items():
        values[name] = pa.array([value] * n, pa.string())
    return [values.get(name, dash) for name in ISA2004_FIELDS if name != "time"]


def joined_lines(columns: Sequence[pa.Array], separator: str) -> list[str]:
    if not columns or len(columns[0]) == 0:
        return []
    return pc.binary_join_element_wise(*columns, separator).to_pylist()


def _offsets(day: date, zone: tzinfo) -> list[str]:
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone) - timedelta(seconds=1)
    seen: list[str] = []
    for moment in (start, end):
        offset = moment.strftime("%z")
        text = f"{offset[:3]}:{offset[3:]}"
        if text not in seen:
            seen.append(text)
    return seen


def zone_remark(day: date, zone: tzinfo) -> str:
    """What the ``#Remark:`` directive says about the times of a day's file."""
    name = zone_key(zone)
    if name == "UTC":
        return "date and time are UTC"
    offsets = _offsets(day, zone)
    said = " and ".join(offsets)
    return f"date and time are local time in {name} (UTC{said} on this day)" if len(offsets) == 1 else \
        f"date and time are local time in {name} (UTC offsets {said} on this day)"


@dataclass
class IsaFile:
    """One ISA log being written: its layout, host, day and the rows written so far."""

    path: Path
    layout: str  # isa2000 | isa2004
    host: str
    day: date
    style: str
    rows: int = 0


def _header(layout: str, style: str, day: date, zone: tzinfo) -> list[str]:
    if layout == "isa2000" and style == "native":
        return []
    software, version, fields = (ISA2000_SOFTWARE, ISA2000_VERSION, ISA2000_FIELDS) if layout == "isa2000" else \
        (ISA2004_SOFTWARE, ISA2004_VERSION, ISA2004_FIELDS)
    return [f"#Software: {software}", f"#Version: {version}", f"#Date: {day:%Y-%m-%d} 00:00:00",
            f"#Remark: {zone_remark(day, zone)}", "#Fields: " + "\t".join(fields)]


class IsaDay:
    """The ISA files of one day: one per host and layout, opened at the host's first row, closed by :meth:`close`."""

    def __init__(self, folder_of: dict[str, Path], day: date, zone: tzinfo, layouts: Iterable[str],
                 style: str = "w3c") -> None:
        if style not in ("w3c", "native"):
            raise ValueError(f"unknown ISA style {style!r}; w3c or native")
        self.folder_of = folder_of
        self.day, self.zone, self.style = day, zone, style
        self.layouts = tuple(layouts)
        self.files: list[IsaFile] = []
        self._open: dict[tuple[str, str], tuple[IsaFile, IO[str]]] = {}

    def _handle(self, host: str, layout: str) -> tuple[IsaFile, IO[str]]:
        key = (host, layout)
        if key not in self._open:
            name = isa2000_name(self.day) if layout == "isa2000" else isa2004_name(self.day)
            path = self.folder_of[host] / name
            path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
            for line in _header(layout, self.style if layout == "isa2000" else "w3c", self.day, self.zone):
                fh.write(line + NEWLINE)
            entry = IsaFile(path, layout, host, self.day, self.style if layout == "isa2000" else "w3c")
            self.files.append(entry)
            self._open[key] = (entry, fh)
        return self._open[key]

    def write(self, host: str, rows: pa.Table) -> None:
        """Rows of ``host`` (report rows in time order; those without any address are left out)."""
        for layout in self.layouts:
            self._handle(host, layout)
        rows = with_addresses(rows)
        if rows.num_rows == 0:
            return
        for layout in self.layouts:
            entry, fh = self._handle(host, layout)
            if layout == "isa2000":
                native = self.style == "native"
                lines = joined_lines(isa2000_columns(rows, self.zone, native=native),
                                     NATIVE_SEPARATOR if native else "\t")
            else:
                lines = joined_lines(isa2004_columns(rows, self.zone), "\t")
            fh.write("".join(line + NEWLINE for line in lines))
            entry.rows += len(lines)

    def close(self) -> list[IsaFile]:
        for _entry, fh in self._open.values():
            fh.close()
        self._open.clear()
        return self.files
