"""The one normalised shape every drop takes, whatever file it came from.

Everything downstream (correlation SQL, reports, notebooks) reads the ``drops``
dataset through these names, so they are defined once, here, and documented in
the README.  Vocabulary tables (protocol numbers, drop kinds of each event ID)
live here too, so readers and extractors never spell them twice.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

@cache
def _drops_schema() -> pa.Schema:
    """``DROPS_SCHEMA``: the columns of the ``drops`` dataset, in order.  ``date`` (the partition) is
    not a column of the files: it is the Hive directory ``date=YYYY-MM-DD`` (UTC date of
    ``event_time``)."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("event_time", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("host", pa.string(), nullable=False),
            pa.field("source_format", pa.string(), nullable=False),
            pa.field("source_file", pa.string(), nullable=False),
            pa.field("source_record", pa.int64()),
            pa.field("event_id", pa.int32()),
            pa.field("drop_kind", pa.string(), nullable=False),
            pa.field("direction", pa.string()),
            pa.field("protocol", pa.int16()),
            pa.field("src_ip", pa.string()),
            pa.field("src_port", pa.int32()),
            pa.field("dst_ip", pa.string()),
            pa.field("dst_port", pa.int32()),
            pa.field("local_ip", pa.string()),
            pa.field("remote_ip", pa.string()),
            pa.field("packets", pa.int64(), nullable=False),
            pa.field("wfp_filter_id", pa.int64()),
            pa.field("wfp_layer", pa.string()),
            pa.field("process_id", pa.int64()),
            pa.field("application", pa.string()),
            pa.field("message", pa.string()),
        ]
    )


SOURCE_FORMATS = ("logparser-w3c", "logparser-csv", "pfirewall", "evtx", "iis-w3c")


@cache
def _allowed_event_schema() -> pa.Schema:
    """One observed permitted connection (or request) as an extractor hands it to the writer, before the
    writer keeps the events it has not stored yet and aggregates them into ``ALLOWED_SCHEMA`` rows.  Ports
    are already the flows view's service ports (the client's ephemeral port is NULL)."""
    import pyarrow as pa

    return pa.schema([
        pa.field("event_time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("host", pa.string(), nullable=False),
        pa.field("direction", pa.string()),
        pa.field("protocol", pa.int16()),
        pa.field("local_ip", pa.string()),
        pa.field("local_port", pa.int32()),
        pa.field("remote_ip", pa.string()),
        pa.field("remote_port", pa.int32()),
        pa.field("source_format", pa.string(), nullable=False),
        pa.field("allow_kind", pa.string(), nullable=False),
        pa.field("bytes", pa.int64()),
    ])


#: The columns an ``allowed`` row is grouped by (with its date partition).
ALLOWED_KEYS = ("host", "direction", "protocol", "local_ip", "local_port", "remote_ip", "remote_port",
                "source_format", "allow_kind")


@cache
def _allowed_schema() -> pa.Schema:
    """``ALLOWED_SCHEMA``: the ``allowed`` dataset, one row per (UTC day, :data:`ALLOWED_KEYS`) of a data part.
    ``date`` is the Hive directory.  Several parts (runs) may hold a row of the same key and day: readers sum."""
    import pyarrow as pa

    event = _allowed_event_schema()
    return pa.schema([
        *[event.field(name) for name in ALLOWED_KEYS],
        pa.field("events", pa.int64(), nullable=False),
        pa.field("bytes", pa.int64()),  # NULL: no event of the row said how many bytes
        pa.field("first_seen", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("last_seen", pa.timestamp("us", tz="UTC"), nullable=False),
    ])


#: What an allowed row records (``allow_kind``), by source.
ALLOW_KINDS = {
    "iis-request": "an IIS (HTTP) request: an inbound TCP connection from c-ip to s-ip:s-port",
    "iis-ftp": "a command in the IIS FTP service log (inbound TCP, s-port or 21)",
    "firewall-allow": "a pfirewall.log ALLOW line",
    "wfp-connection-permitted": "Filtering Platform 5156 (connection permitted)",
    "wfp-bind-permitted": "Filtering Platform 5158 (bind permitted: the local address and port only)",
}

#: IPSec driver events (System log, source IPSec/IPSEC) that record dropped
#: traffic, with the drop kind stored for each.  Templates: log-formats.md §1.2.
IPSEC_DRIVER_DROP_KINDS: dict[int, str] = {
    4283: "bad-spi",
    4284: "clear-text-should-be-secured",
    4285: "auth-failed",
    4286: "invalid-syntax",
    4287: "bad-protocol-id",
    4288: "ipsec-failed-unknown",
    4289: "negotiation-no-filter",
    4290: "packet-dropped",
    4291: "packet-dropped",
    4292: "block-mode",
}

#: Events 4283-4288 carry "%2 packet(s) ... from %3": a count and a remote address.
IPSEC_COUNT_EVENTS = frozenset(range(4283, 4289))
#: Events 4290 (inbound) / 4291 (outbound) carry one packet's full 5-tuple.
IPSEC_PACKET_EVENTS = {4290: "inbound", 4291: "outbound"}

FIREWALL_DROP_KIND = "firewall-drop"

#: IANA protocol numbers for the names that appear in Windows logs.
PROTOCOL_NUMBERS: dict[str, int] = {
    "HOPOPT": 0,
    "ICMP": 1,
    "IGMP": 2,
    "GGP": 3,
    "IPV4": 4,
    "TCP": 6,
    "EGP": 8,
    "PUP": 12,
    "UDP": 17,
    "IDP": 22,
    "IPV6": 41,
    "RSVP": 46,
    "GRE": 47,
    "ESP": 50,
    "AH": 51,
    "ICMPV6": 58,
    "IPV6-ICMP": 58,
    "ND": 77,
    "OSPF": 89,
    "PIM": 103,
    "L2TP": 115,
    "SCTP": 132,
    "RAW": 255,
}

#: The log an event lives in, used in the event identity (host, log, record).
SYSTEM_LOG = "System"
SECURITY_LOG = "Security"
FIREWALL_LOG = "pfirewall"
IIS_LOG = "iis"


def empty_drops() -> pa.Table:
    """An empty table with the drops schema (handy for tests and notebooks)."""
    return _drops_schema().empty_table()


#: Correlation verdicts (queries/flows.sql), most telling first.
VERDICTS = ("blocked-by-rule", "negotiation-required", "permitted-by-policy", "no-matching-filter", "no-policy",
            "boot-or-block-mode")
#: Keys of the flows summary (``flows --by``) and the columns each gives before the counts.
GROUP_KEYS: dict[str, tuple[str, ...]] = {
    "verdict": ("verdict",),
    "rule": ("host", "rule", "verdict"),
    "host": ("host",),
    "port": ("direction", "protocol", "port"),
    "remote-network": ("remote_network",),
}


def __getattr__(name: str) -> Any:
    # DROPS_SCHEMA is built on first use: importing this module (the command line's vocabulary)
    # must not load pyarrow, so that ``ipsec-drops --help`` starts fast.
    if name == "DROPS_SCHEMA":
        return _drops_schema()
    if name == "ALLOWED_SCHEMA":
        return _allowed_schema()
    if name == "ALLOWED_EVENT_SCHEMA":
        return _allowed_event_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Protocol number -> the name tables show (the first name listed for a number above).
PROTOCOL_NAMES: dict[int, str] = {}
for _name, _number in PROTOCOL_NUMBERS.items():
    PROTOCOL_NAMES.setdefault(_number, _name)


def protocol_number(value: int | str) -> int:
    """An IANA protocol number from a number or a name (``6``, ``"6"``, ``"tcp"``, ``"ICMP"``); ValueError else."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a protocol")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if text.isdigit():
            number = int(text)
        elif text.upper() in PROTOCOL_NUMBERS:
            return PROTOCOL_NUMBERS[text.upper()]
        else:
            known = ", ".join(sorted(n.lower() for n in ("TCP", "UDP", "ICMP", "GRE", "ESP", "AH", "ICMPV6")))
            raise ValueError(f"unknown protocol {value!r}: give a number (0-255) or a name such as {known}")
    if not 0 <= number <= 255:
        raise ValueError(f"protocol {number} is not between 0 and 255")
    return number


def protocol_name(number: int | None) -> str:
    """``TCP``, ``UDP``, ``ICMP`` ... for a protocol number, else the number as text ("" for unknown)."""
    if number is None:
        return ""
    return PROTOCOL_NAMES.get(int(number), str(number))
