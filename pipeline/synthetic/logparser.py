"""Synthetic Microsoft Log Parser 2.2 exports of the Windows event log (EVT input format).

Why this module exists: the readers in ``pipeline.readers`` must cope with the text that
``LogParser -i:EVT -o:W3C`` / ``-o:CSV`` really writes, quirks included, and we have no
real Server 2003 exports to test on.  So this module builds event records *from their
meaning* (an inbound packet dropped, N clear-text packets received ...) exactly as the
cited facts describe them (``shared/reference/log-formats.md`` sections 1 and 4) and writes
them out in the output variants an administrator could have produced.

Facts and choices (section numbers refer to log-formats.md):

* The 15 EVT fields, their order and types are §4.1.  ``TimeGenerated``/``TimeWritten``
  are the exporting machine's *local* time, so records here hold naive local datetimes.
* Messages are rendered from the exact netevent.dll 5.2.3790.1830 templates (§1.2):
  ``%n`` is a hard line break, ``%2``... are insertion strings.  Log Parser's
  ``-formatMsg ON`` (the default) folds a message onto one line; we replace every line
  break (CRLF, lone CR or lone LF) with ONE space and change nothing else.  Consequences a
  parser must expect: ``\\r\\n%n`` gives two spaces, ``Source Port:  %5`` keeps its two
  spaces, and every message ends with a space (the templates end with ``\\r\\n``).
* ``Strings`` is the insertion strings joined with ``|`` (``-stringsSep`` default, §4.2).
  For IPSec driver events %1 is the driver name (never used by the templates, §1.3); its
  real content is UNVERIFIED, so the helpers can write ``\\Driver\\IPSEC``, an empty
  string, or omit the element altogether.  The Message is always rendered from the true
  values, whatever ``Strings`` layout is chosen.
* ``Data`` is hex text (``-binaryFormat HEX`` default): upper-case digits, no separators.
  For driver events it is an IO_ERROR_LOG_PACKET (40-byte header) followed, for
  4290/4291, by the dropped packet's IP header and transport header (§1.3 offsets).
* W3C output details that are UNVERIFIED in §4.3 (header lines, separator, ``-`` for NULL,
  ``+`` for ``-encodeDelim``, timestamp text) follow the choices spelled out in
  :class:`W3CWriter`.
"""

from __future__ import annotations

import csv
import re
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from ipaddress import IPv4Address
from typing import IO, Any, Literal

__all__ = [
    "EVT_FIELDS",
    "EVENT_TYPE_NAMES",
    "INTEGER_FIELDS",
    "IPSEC_TEMPLATES",
    "NOISE_TEMPLATES",
    "STRING_FIELDS",
    "TIMESTAMP_FIELDS",
    "CSVWriter",
    "EvtRecord",
    "W3CWriter",
    "csv_value",
    "expand_message",
    "fold_message",
    "format_timestamp",
    "ip_packet",
    "ipsec_block_mode",
    "ipsec_count_drop",
    "ipsec_packet_drop",
    "io_error_log_data",
    "other_event",
    "protocol_text",
]

#: The 15 fields of Log Parser's EVT input format, in ``SELECT *`` order (§4.1).
EVT_FIELDS: tuple[str, ...] = (
    "EventLog",
    "RecordNumber",
    "TimeGenerated",
    "TimeWritten",
    "EventID",
    "EventType",
    "EventTypeName",
    "EventCategory",
    "EventCategoryName",
    "SourceName",
    "Strings",
    "ComputerName",
    "SID",
    "Message",
    "Data",
)
INTEGER_FIELDS = frozenset({"RecordNumber", "EventID", "EventType", "EventCategory"})
TIMESTAMP_FIELDS = frozenset({"TimeGenerated", "TimeWritten"})
STRING_FIELDS = frozenset(EVT_FIELDS) - INTEGER_FIELDS - TIMESTAMP_FIELDS

#: EventType -> EventTypeName.  8/16 are cited (§4.1); the names for 1/2/4 follow the same
#: pattern and are UNVERIFIED.
EVENT_TYPE_NAMES: dict[int, str] = {
    1: "Error event",
    2: "Warning event",
    4: "Information event",
    8: "Success Audit event",
    16: "Failure Audit event",
}

ERROR = 1
INFORMATION = 4

_TAIL = (
    "This could be a temporary glitch; if it persists please stop and restart the IPSec "
    "Policy Agent service on this machine.\r\n"
)

#: Exact message templates of the Server 2003 SP1 IPSec driver events (§1.2), with the
#: message-table line ends written as ``\r\n``.  4289 and 4295-4297 are left out on purpose
#: (4289 is not emitted; the 4296/4297 texts are only partially cited).
IPSEC_TEMPLATES: dict[int, str] = {
    4283: "Received %2 packet(s) with a bad Security Parameters Index from %3.\r\n" + _TAIL,
    4284: "Received %2 packet(s) in the clear from %3 which should have been secured.\r\n" + _TAIL,
    4285: "Failed to authenticate the hash for %2 packet(s) received from %3.\r\n" + _TAIL,
    4286: "Received %2 packet(s) from %3 with invalid packet syntax.\r\n" + _TAIL,
    4287: "Received %2 packet(s) from %3 with inproper protocol identifier.\r\n" + _TAIL,
    4288: (
        "Received %2 packet(s) from %3 that failed the IPSec processing for an unknown reason.\r\n"
        "This could be a temporary glitch; if it persists please stop and restart the IPSec "
        "Policy Agent service on this machine..\r\n"
    ),
    4290: (
        "The IPSec driver has dropped the following inbound packet:\r\n"
        "%nSource IP Address: %2\r\n"
        "%nDestination IP Address: %3\r\n"
        "%nProtocol: %4\r\n"
        "%nSource Port:  %5\r\n"
        "%nDestination Port: %6\r\n"
        "%nOffset for IPSec status code:                  0x14\r\n"
        "%nOffset for Offload status code:                0x10\r\n"
        "%nOffset for Offload flags(0=no offload):        0x20\r\n"
        "%nOffset for packet start:                       0x28\r\n"
    ),
    4291: (
        "The IPSec driver has dropped the following outbound packet:\r\n"
        "%nSource IP Address: %2\r\n"
        "%nDestination IP Address: %3\r\n"
        "%nProtocol: %4\r\n"
        "%nSource Port:  %5\r\n"
        "%nDestination Port: %6\r\n"
        "%nOffset for IPSec status code:    0x14\r\n"
        "%nOffset for Offload status code:  0x10\r\n"
        "%nOffset for Offload flags:        0x20\r\n"
        "%nOffset for packet start:         0x28\r\n"
    ),
    4292: (
        "The IPSec driver has entered Block mode. IPSec will discard all inbound and outbound "
        "TCP/IP network traffic that is not permitted by boot-time IPSec Policy exemptions.\r\n"
        "User Action: To restore full unsecured TCP/IP connectivity, disable the IPSec services, "
        "and then restart the computer.\r\n"
        "For detailed troubleshooting information, review the events in the Security event log.\r\n"
    ),
    4293: (
        "The IPSec driver has entered Bypass mode. No IPSec security is being applied to\r\n"
        "this computer.\r\n"
    ),
    4294: (
        "The IPSec driver has entered Secure mode. IPSec policies, if they have been\r\n"
        "configured, are now being applied to this computer.\r\n"
    ),
}

#: Message-table id (severity bits + event id) of each IPSec event, written into the
#: IO_ERROR_LOG_PACKET ``ErrorCode`` field of ``Data`` (§1.2, "Msg id" column).
_IPSEC_MESSAGE_IDS: dict[int, int] = {
    **{eid: 0xC0000000 | eid for eid in range(4283, 4290)},
    4290: 0x400010C2,
    4291: 0x400010C3,
    4292: 0xC00010C4,
    4293: 0x400010C5,
    4294: 0x400010C6,
}

#: Templates of common non-drop System-log events used as noise, keyed by
#: (SourceName, EventID).  These are NOT from the cited reference: they are ordinary,
#: plausible Server 2003 texts, good enough for rows a drop reader must skip.
NOISE_TEMPLATES: dict[tuple[str, int], str] = {
    ("Service Control Manager", 7036): "The %1 service entered the %2 state.\r\n",
    ("Service Control Manager", 7035): "The %1 service was successfully sent a %2 control.\r\n",
    ("EventLog", 6005): "The Event log service was started.\r\n",
    ("EventLog", 6006): "The Event log service was stopped.\r\n",
    ("EventLog", 6009): "Microsoft (R) Windows (R) %1 %2 %3 %4.\r\n",
    ("EventLog", 6013): "The system uptime is %1 seconds.\r\n",
    ("Application Popup", 26): "Application popup: %1 : %2\r\n",
    ("Tcpip", 4226): (
        "TCP/IP has reached the security limit imposed on the number of concurrent TCP connect attempts.\r\n"
    ),
    ("USER32", 1074): (
        "The process %1 has initiated the %5 of computer %2 on behalf of user %7 for the "
        "following reason: %3%n Reason Code: %4%n Shutdown Type: %5%n Comment: %6\r\n"
    ),
}

_PROTOCOL_NAMES = {1: "ICMP", 6: "TCP", 17: "UDP"}

_INSERT = re.compile(r"%(\d{1,2}|[ntr%])")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(slots=True)
class EvtRecord:
    """One event as Log Parser's EVT input format returns it (§4.1); ``None`` is NULL.

    Attribute names are Log Parser's field names verbatim so that a writer can select
    any subset with ``getattr``.  Timestamps are naive datetimes in the exporting
    machine's local time, exactly as Log Parser renders them (no UTC offset anywhere).
    """

    EventLog: str | None
    RecordNumber: int | None
    TimeGenerated: datetime | None
    TimeWritten: datetime | None
    EventID: int | None
    EventType: int | None
    EventTypeName: str | None
    EventCategory: int | None
    EventCategoryName: str | None
    SourceName: str | None
    Strings: str | None
    ComputerName: str | None
    SID: str | None
    Message: str | None
    Data: str | None


# --------------------------------------------------------------------------- messages


def expand_message(template: str, inserts: Sequence[str]) -> str:
    """Expand a message-table template the way FormatMessage does.

    ``%1``..``%99`` are 1-based insertion strings (a missing one expands to an empty
    string), ``%n`` is a CRLF line break, ``%t`` a tab, ``%r`` a bare CR, ``%%`` a percent
    sign.  The result may span several lines; see :func:`fold_message`.
    """

    def repl(m: re.Match[str]) -> str:
        tok = m.group(1)
        if tok == "n":
            return "\r\n"
        if tok == "t":
            return "\t"
        if tok == "r":
            return "\r"
        if tok == "%":
            return "%"
        i = int(tok) - 1
        return inserts[i] if 0 <= i < len(inserts) else ""

    return _INSERT.sub(repl, template)


def fold_message(text: str) -> str:
    """Fold a multi-line message onto one line like Log Parser's ``-formatMsg ON``.

    Every line break (CRLF, lone CR, lone LF) becomes a single space; runs of spaces and
    the trailing space are kept (the exact Log Parser behaviour is UNVERIFIED, §4.2, and
    keeping them is the choice documented for the parsers).
    """
    return _LINE_BREAK.sub(" ", text)


def format_timestamp(ts: datetime) -> str:
    """Render a timestamp as Log Parser prints TIMESTAMP values: ``yyyy-MM-dd hh:mm:ss``."""
    return f"{ts:%Y-%m-%d %H:%M:%S}"


# --------------------------------------------------------------------------- binary data


def _checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum, so the embedded headers look like real captures."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ip_packet(
    src: str,
    dst: str,
    protocol: int,
    sport: int = 0,
    dport: int = 0,
    *,
    ident: int = 0,
    ttl: int = 113,
    tcp_seq: int = 0,
) -> bytes:
    """Build an IPv4 header plus transport header (TCP SYN, UDP, ICMP echo) for ``Data``.

    Only headers are produced (no payload): enough for a reader that decodes the dropped
    packet from offset 0x28 of ``Data`` to find addresses, protocol and ports.
    """
    if protocol == 6:
        # TCP SYN with the usual Windows 2003 options (MSS 1460, NOP, NOP, SACK permitted).
        options = bytes.fromhex("020405b401010402")
        offset_words = (20 + len(options)) // 4
        transport = (
            struct.pack("!HHIIBBHHH", sport, dport, tcp_seq, 0, offset_words << 4, 0x02, 65535, 0, 0)
            + options
        )
        pseudo = IPv4Address(src).packed + IPv4Address(dst).packed + struct.pack("!BBH", 0, 6, len(transport))
        csum = _checksum(pseudo + transport)
        transport = transport[:16] + struct.pack("!H", csum) + transport[18:]
    elif protocol == 17:
        transport = struct.pack("!HHHH", sport, dport, 8 + 32, 0)  # length covers a 32-byte query
    elif protocol == 1:
        body = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + bytes(32)
        csum = _checksum(body)
        transport = body[:2] + struct.pack("!H", csum) + body[4:8]
    else:
        transport = b""
    total_len = 20 + len(transport) + (32 if protocol in (1, 17) else 0)
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        total_len,
        ident,
        0x4000,  # DF
        ttl,
        protocol,
        0,
        IPv4Address(src).packed,
        IPv4Address(dst).packed,
    )
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return header + transport


#: NTSTATUS placed in FinalStatus (offset 0x14).  The real IPSec status codes are
#: UNVERIFIED; STATUS_ACCESS_DENIED is an invented, clearly-recognisable placeholder.
_PLACEHOLDER_STATUS = 0xC0000022


def io_error_log_data(
    message_id: int,
    dump: bytes = b"",
    *,
    n_strings: int = 0,
    sequence: int = 0,
    status: int = _PLACEHOLDER_STATUS,
) -> str:
    """Hex ``Data`` of a driver event: IO_ERROR_LOG_PACKET header (0x28 bytes) + dump data.

    Layout (INFERENCE in §1.3, matching the offsets the 4290/4291 templates print):
    0x02 DumpDataSize, 0x04 NumberOfStrings, 0x06 StringOffset, 0x0C ErrorCode (the
    message id), 0x10 UniqueErrorValue ("offload status"), 0x14 FinalStatus ("IPSec status
    code"), 0x18 SequenceNumber, 0x20 DeviceOffset ("offload flags", 0 = no offload),
    0x28 DumpData (the packet).
    """
    header = struct.pack(
        "<BBHHHHHIIIIIq",
        0,  # MajorFunctionCode
        0,  # RetryCount
        len(dump),
        n_strings,
        0x28 + len(dump),  # strings follow the dump data
        0,  # EventCategory
        0,  # padding
        message_id,
        0,  # UniqueErrorValue: offload status
        status,
        sequence,
        0,  # IoControlCode
        0,  # DeviceOffset: offload flags
    )
    assert len(header) == 0x28
    return (header + dump).hex().upper()


# --------------------------------------------------------------------------- record helpers


def _record(
    *,
    record_number: int | None,
    when: datetime | None,
    written: datetime | None,
    computer: str | None,
    source: str,
    event_id: int,
    event_type: int,
    strings: Sequence[str] | None,
    message: str | None,
    data: str | None,
    sid: str | None = None,
    event_log: str = "System",
    category: int = 0,
    category_name: str = "None",
) -> EvtRecord:
    return EvtRecord(
        EventLog=event_log,
        RecordNumber=record_number,
        TimeGenerated=when,
        TimeWritten=written if written is not None else when,
        EventID=event_id,
        EventType=event_type,
        EventTypeName=EVENT_TYPE_NAMES.get(event_type),
        EventCategory=category,
        EventCategoryName=category_name,
        SourceName=source,
        Strings=None if strings is None else "|".join(strings),
        ComputerName=computer,
        SID=sid,
        Message=message,
        Data=data,
    )


def protocol_text(protocol: int, as_name: bool) -> str:
    """The %4 insertion string: the number (``6``) or, if known, the name (``TCP``)."""
    if as_name:
        return _PROTOCOL_NAMES.get(protocol, str(protocol))
    return str(protocol)


def ipsec_packet_drop(
    record_number: int | None,
    when: datetime,
    computer: str,
    inbound: bool,
    src: str,
    dst: str,
    protocol: int,
    sport: int,
    dport: int,
    with_driver_name: bool = True,
    protocol_as_name: bool = False,
    *,
    driver_name: str = "\\Driver\\IPSEC",
    source: str = "IPSec",
    written: datetime | None = None,
    with_data: bool = True,
    ident: int = 0,
) -> EvtRecord:
    """Event 4290 (inbound) or 4291 (outbound): one dropped packet and its 5-tuple.

    ``Strings`` is ``[%1 driver name, src, dst, protocol, sport, dport]`` joined by ``|``;
    ``with_driver_name=False`` omits the %1 element entirely (5 elements), and
    ``driver_name=""`` keeps an empty one (the line then starts with ``|``).  Addresses
    and ports are in the packet's own orientation: for 4290 ``src`` is the remote
    sender, for 4291 ``src`` is this host.  EventType is Information (0x4... msg id).
    """
    event_id = 4290 if inbound else 4291
    proto = protocol_text(protocol, protocol_as_name)
    values = [src, dst, proto, str(sport), str(dport)]
    inserts = [driver_name if with_driver_name else "", *values]
    strings = [driver_name, *values] if with_driver_name else values
    data = None
    if with_data:
        packet = ip_packet(src, dst, protocol, sport, dport, ident=ident, tcp_seq=ident * 7919)
        data = io_error_log_data(
            _IPSEC_MESSAGE_IDS[event_id], packet, n_strings=len(strings), sequence=record_number or 0
        )
    return _record(
        record_number=record_number,
        when=when,
        written=written,
        computer=computer,
        source=source,
        event_id=event_id,
        event_type=INFORMATION,
        strings=strings,
        message=fold_message(expand_message(IPSEC_TEMPLATES[event_id], inserts)),
        data=data,
    )


def ipsec_count_drop(
    record_number: int | None,
    when: datetime,
    computer: str,
    event_id: int,
    count: int,
    remote_ip: str,
    with_driver_name: bool = True,
    *,
    driver_name: str = "\\Driver\\IPSEC",
    source: str = "IPSec",
    written: datetime | None = None,
    with_data: bool = True,
) -> EvtRecord:
    """Events 4283-4288: ``count`` inbound packets from ``remote_ip`` failed/dropped.

    ``Strings`` is ``[%1 driver name, count, remote_ip]`` (or without %1, see
    :func:`ipsec_packet_drop`).  EventType is Error (0xC... msg id).
    """
    if not 4283 <= event_id <= 4288:
        raise ValueError(f"count events are 4283..4288, not {event_id}")
    values = [str(count), remote_ip]
    inserts = [driver_name if with_driver_name else "", *values]
    strings = [driver_name, *values] if with_driver_name else values
    data = (
        io_error_log_data(_IPSEC_MESSAGE_IDS[event_id], n_strings=len(strings), sequence=record_number or 0)
        if with_data
        else None
    )
    return _record(
        record_number=record_number,
        when=when,
        written=written,
        computer=computer,
        source=source,
        event_id=event_id,
        event_type=ERROR,
        strings=strings,
        message=fold_message(expand_message(IPSEC_TEMPLATES[event_id], inserts)),
        data=data,
    )


def ipsec_block_mode(
    record_number: int | None,
    when: datetime,
    computer: str,
    *,
    source: str = "IPSec",
    written: datetime | None = None,
    with_data: bool = True,
) -> EvtRecord:
    """Event 4292: the driver entered Block mode (all non-exempt traffic discarded).

    No insertion strings (§1.3), so ``Strings`` is NULL.  EventType Error (KB912023).
    """
    data = io_error_log_data(_IPSEC_MESSAGE_IDS[4292], sequence=record_number or 0) if with_data else None
    return _record(
        record_number=record_number,
        when=when,
        written=written,
        computer=computer,
        source=source,
        event_id=4292,
        event_type=ERROR,
        strings=None,
        message=fold_message(IPSEC_TEMPLATES[4292]),
        data=data,
    )


def other_event(
    record_number: int | None,
    when: datetime,
    computer: str,
    source: str,
    event_id: int,
    inserts: Sequence[str] | None = None,
    *,
    template: str | None = None,
    event_type: int = INFORMATION,
    written: datetime | None = None,
    sid: str | None = None,
    data: str | None = None,
    event_log: str = "System",
) -> EvtRecord:
    """Any other (non-drop) event, e.g. 7036 service state, 6005, Tcpip 4226, IPSec 4294.

    The template defaults to :data:`NOISE_TEMPLATES` or, for IPSec/IPSEC sources,
    :data:`IPSEC_TEMPLATES`.  ``inserts=None`` means the event has no insertion strings
    (``Strings`` NULL); otherwise ``Strings`` is ``inserts`` joined by ``|``.
    """
    if template is None:
        template = IPSEC_TEMPLATES[event_id] if source.lower() == "ipsec" else NOISE_TEMPLATES[source, event_id]
    message = fold_message(expand_message(template, list(inserts or ())))
    return _record(
        record_number=record_number,
        when=when,
        written=written,
        computer=computer,
        source=source,
        event_id=event_id,
        event_type=event_type,
        strings=None if inserts is None else list(inserts),
        message=message,
        data=data,
        sid=sid,
        event_log=event_log,
    )


# --------------------------------------------------------------------------- writers

W3CMode = Literal["plain", "dquotes", "encodedelim"]
_W3C_MODES = ("plain", "dquotes", "encodedelim")


def _check_fields(fields: Iterable[str] | None) -> tuple[str, ...]:
    chosen = tuple(EVT_FIELDS if fields is None else fields)
    unknown = [f for f in chosen if f not in EVT_FIELDS]
    if unknown or not chosen:
        raise ValueError(f"unknown or empty EVT field list: {unknown or chosen}")
    return chosen


class W3CWriter:
    """Stream EVT records as ``LogParser -o:W3C`` output (one record per call, no buffering).

    File layout (the exact Log Parser header is UNVERIFIED, §4.3; this is the documented
    choice)::

        #Software: Microsoft Log Parser
        #Version: 1.0
        #Date: 2026-10-25 00:30:00
        #Fields: EventLog RecordNumber TimeGenerated ...
        System 104233 2026-10-23 00:04:11 2026-10-23 00:04:11 4290 4 Information+event ...

    Every line ends with CRLF (write to a file opened with ``newline=""``).  Values are
    separated by ONE space; NULL is ``-``.  Timestamps are ``yyyy-MM-dd hh:mm:ss``, i.e.
    TWO space-separated tokens, except in ``encodedelim`` mode.

    ``mode``:

    * ``"plain"``: values written raw.  Values may contain spaces (EventTypeName,
      SourceName, Strings, Message ...), so a line is only splittable with knowledge of
      the fields.  An empty string is written as ``-`` (W3C cannot show an empty token).
    * ``"dquotes"`` (``-oDQuotes:ON``): STRING fields are wrapped in ``"`` with inner
      ``"`` doubled (empty string -> ``""``); integers, timestamps and NULL (``-``) are
      not quoted.
    * ``"encodedelim"`` (``-encodeDelim:ON``): every space inside a value becomes ``+``
      (timestamps too: ``2026-10-26+08:00:00``).  A ``+`` already in a value is not
      escaped; empty string -> ``-``.

    ``created`` is the ``#Date`` value (the export machine's local time); pass it for
    reproducible output, otherwise the current time is used.
    """

    def __init__(
        self,
        fileobj: IO[str],
        fields: Iterable[str] | None = None,
        mode: W3CMode = "plain",
        *,
        created: datetime | None = None,
    ) -> None:
        if mode not in _W3C_MODES:
            raise ValueError(f"mode must be one of {_W3C_MODES}, not {mode!r}")
        self._f = fileobj
        self.mode = mode
        self.fields: tuple[str, ...] = ()
        self.rows_written = 0
        self.new_block(fields, created=created)

    def new_block(self, fields: Iterable[str] | None = None, *, created: datetime | None = None) -> None:
        """Write a fresh header block (``#Software``/``#Version``/``#Date``/``#Fields``).

        This is what the file looks like when Log Parser appends a second run to an
        existing W3C file: rows after the block follow the new field list.
        """
        self.fields = _check_fields(fields)
        stamp = format_timestamp(created or datetime.now().replace(microsecond=0))
        self._f.write(
            "#Software: Microsoft Log Parser\r\n"
            "#Version: 1.0\r\n"
            f"#Date: {stamp}\r\n"
            f"#Fields: {' '.join(self.fields)}\r\n"
        )
        self._formatters = [(name, self._formatter(name)) for name in self.fields]

    def _formatter(self, name: str) -> Callable[[Any], str]:
        mode = self.mode
        if name in INTEGER_FIELDS:
            return str
        if name in TIMESTAMP_FIELDS:
            if mode == "encodedelim":
                return lambda v: f"{v:%Y-%m-%d+%H:%M:%S}"
            return lambda v: f"{v:%Y-%m-%d %H:%M:%S}"
        if mode == "dquotes":
            return lambda v: '"' + v.replace('"', '""') + '"'
        if mode == "encodedelim":
            return lambda v: v.replace(" ", "+") if v else "-"
        return lambda v: v if v else "-"

    def format_values(self, record: EvtRecord) -> list[str]:
        """The formatted tokens of ``record`` for the current field list (NULL -> ``-``)."""
        out = []
        for name, fmt in self._formatters:
            v = getattr(record, name)
            out.append("-" if v is None else fmt(v))
        return out

    def format_line(self, record: EvtRecord) -> str:
        """One complete output line, CRLF included."""
        return " ".join(self.format_values(record)) + "\r\n"

    def write(self, record: EvtRecord) -> None:
        """Write one record."""
        self._f.write(self.format_line(record))
        self.rows_written += 1

    def write_many(self, records: Iterable[EvtRecord]) -> None:
        """Write records one by one (the iterable is consumed lazily)."""
        for r in records:
            self.write(r)


def csv_value(name: str, value: object) -> object:
    """One EVT value as Log Parser's CSV output shows it (NULL -> empty field)."""
    if value is None:
        return ""
    if name in TIMESTAMP_FIELDS:
        return format_timestamp(value)  # type: ignore[arg-type]
    return value


class CSVWriter:
    """Stream EVT records as ``LogParser -o:CSV`` output.

    A header row of field names, then one row per record; comma separated, RFC 4180
    quoting via the :mod:`csv` module (QUOTE_MINIMAL: only values holding a comma, a
    quote or a line break are quoted, inner quotes doubled), CRLF line ends, NULL as an
    empty field (so NULL and empty string look the same), timestamps
    ``yyyy-MM-dd hh:mm:ss``.  Open the file with ``newline=""``.
    """

    def __init__(self, fileobj: IO[str], fields: Iterable[str] | None = None) -> None:
        self.fields = _check_fields(fields)
        self._w = csv.writer(fileobj, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        self._w.writerow(self.fields)
        self.rows_written = 0

    def format_values(self, record: EvtRecord) -> list[object]:
        """The row values of ``record`` before CSV quoting."""
        return [csv_value(name, getattr(record, name)) for name in self.fields]

    def write(self, record: EvtRecord) -> None:
        """Write one record."""
        self._w.writerow(self.format_values(record))
        self.rows_written += 1

    def write_many(self, records: Iterable[EvtRecord]) -> None:
        """Write records one by one (the iterable is consumed lazily)."""
        for r in records:
            self.write(r)
