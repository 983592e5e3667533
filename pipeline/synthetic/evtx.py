"""Synthetic EVTX files (Windows Vista+ event log format), written from scratch.

Why this module exists: the EVTX reader must be tested on files whose every value is
known, in both engines (PyPI ``evtx``, Rust; ``python-evtx``, pure Python), on files
far bigger than the real corpus samples, and with the exact drop events the project
cares about (IPSec driver events in the System log, WFP/IPsec audit events in the
Security log).  No Windows machine is at hand, so the files are built here, byte by
byte, from the on-disk format, copying the construction Windows itself uses as seen
in the real files of ``shared/corpus/evtx`` (section numbers refer to
``shared/reference/log-formats.md``).

File layout (all integers little-endian):

* a 4096-byte file header: ``ElfFile\\0``, first/last chunk number, next record
  number, header size 128, minor 1 / major 3, header block size 4096, chunk count,
  flags, CRC32 of the first 120 bytes.  It is written last (patched at close), so a
  writer streams any number of records with flat memory;
* 64 KiB chunks: a 512-byte header (``ElfChnk\\0``, first/last record number and
  identifier, header size 128, last record offset, free space offset, CRC32 of the
  record bytes, flags, CRC32 of bytes 0-120 and 128-512, then the 64-bucket common
  string table and the 32-bucket template table), then the records.  A chunk is
  written to disk as soon as the next record does not fit;
* records: magic ``2a2a0000``, size, record number, FILETIME written time, a BinXML
  fragment, zero padding to a multiple of 8 bytes (as Windows does), the size again.

BinXML construction (the one Windows uses, measured on ``system.evtx`` and
``Security_short_selected.evtx``): every record is a *template instance*.  The outer
template is the ``<Event><System>...</System>[EventData]</Event>`` skeleton whose
System values are typed substitutions (Level UInt8, Task UInt16, EventID UInt16,
Qualifiers UInt16, Keywords Hex64, TimeCreated FILETIME, EventRecordID UInt64 ...)
and whose last substitution is a nested BinXML fragment (type 0x21) holding
``<EventData>``, itself an instance of a second template:

* classic events (Provider, Channel and Computer are literals of the outer template,
  20 substitutions): ``<EventData><Data>%0</Data><Binary>%2</Binary></EventData>``
  where %0 is ONE string-array substitution (type 0x81; NULL if no strings), %1 the
  binary size (UInt32) and %2 the binary data (NULL if none).  Renderers expand the
  array into one ``<Data>`` per string;
* manifest events (Security log; Provider Name/Guid and Channel are substitutions,
  Computer a literal, 18 substitutions): ``<EventData><Data Name="X">%i</Data>...``
  with one typed substitution per named value.

A template is defined inline (resident) by the first record of a chunk that uses it
and referenced by offset afterwards; element and attribute names likewise (inline
NameString the first time, then by offset), and both are entered in the chunk's hash
tables.  Python-evtx cannot render a record that is not a template instance, which is
why plain element/value tokens are not used.

How the two engines render these files (verified by ``tests/test_synthetic_evtx.py``;
see also §8):

* classic ``<Data>``: Rust gives ``{"Data": {"#text": [...]}}`` (a bare string for a
  single value) and one ``<Data>`` element per value in XML; python-evtx renders the
  whole array inside ONE ``<Data>`` as escaped ``<string>v</string>`` lines
  (``&lt;string&gt;v&lt;/string&gt;``).  python-evtx's array splitter also moves a
  leading empty string behind the next value (``["", "12", ip]`` comes back as
  ``["12", "", ip]``) and raises ``ParseException`` on a character whose UTF-16 low
  byte is zero (e.g. U+0100, U+4E00).  Rust shows "no strings" (NULL) and "one
  empty string" alike: ``{"#text": ""}``;
* ``<Binary>`` and binary EventData: Rust renders upper-case hex, python-evtx base64;
* numeric substitutions (UInt32/UInt64) are JSON numbers in Rust, text in XML;
  HexInt64 is ``0x3e7`` in Rust, ``0x00000000000003e7`` in python-evtx; a GUID is
  upper case without braces in Rust, lower case with braces in python-evtx;
* a NULL conditional substitution drops the attribute in Rust
  (``"EventID": 5152``), python-evtx renders it empty (``Qualifiers=""``); a NULL
  or empty named value is ``""`` in both;
* TimeCreated: Rust exact to the microsecond, python-evtx 1-2 µs off (float).

Record numbers: a live or archived log has header record number == EventRecordID.
A log exported with a query (``wevtutil epl ... /q:``) renumbers the record headers
1..N but keeps each event's ``EventRecordID`` (measured on
``Security_short_selected.evtx``: header 1, EventRecordID 319457771).  Rust's
``event_record_id`` is the header number.  :class:`EvtxWriter` does either
(``renumber=``).

Standard library only.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from os import PathLike
from typing import BinaryIO

__all__ = [
    "AUDIT_FAILURE",
    "AUDIT_SUCCESS",
    "CLASSIC_KEYWORDS",
    "DIRECTION_INBOUND",
    "DIRECTION_OUTBOUND",
    "LAYER_CONNECT",
    "LAYER_RECEIVE_ACCEPT",
    "LAYER_RESOURCE_ASSIGNMENT",
    "LAYER_TRANSPORT",
    "SECURITY_PROVIDER",
    "SECURITY_PROVIDER_GUID",
    "ClassicEvent",
    "EvtxWriter",
    "Guid",
    "Hex64",
    "ManifestEvent",
    "Sid",
    "UInt32",
    "UInt64",
    "classic_event",
    "filetime",
    "from_evt_record",
    "ipsec_audit_drop",
    "ipsec_system_event",
    "logoff_event",
    "logon_event",
    "security_event",
    "service_state_event",
    "special_privileges_event",
    "wfp_5152",
    "wfp_5153",
    "wfp_5157",
    "wfp_5159",
    "wfp_event",
]

# ----------------------------------------------------------------------------- constants

FILE_HEADER_BLOCK = 4096
CHUNK_SIZE = 0x10000
CHUNK_HEADER_BLOCK = 0x200  # records start here
MAX_RECORD_SIZE = CHUNK_SIZE - CHUNK_HEADER_BLOCK
_EPOCH = datetime(1601, 1, 1)
_EVENT_NS = "http://schemas.microsoft.com/win/2004/08/events/event"

#: Keywords of classic (pre-Vista / converted .evt) events: EventLogClassic (system.evtx).
CLASSIC_KEYWORDS = 0x0080000000000000
#: Security-log keywords: Audit Failure (all drop events) and Audit Success (§2.1).
AUDIT_FAILURE = 0x8010000000000000
AUDIT_SUCCESS = 0x8020000000000000
SECURITY_PROVIDER = "Microsoft-Windows-Security-Auditing"
SECURITY_PROVIDER_GUID = "{54849625-5478-4994-A5BA-3E3B0328C30D}"

#: msobjs.dll parameter-message tokens as real logs store them (§2.4).
DIRECTION_INBOUND = "%%14592"
DIRECTION_OUTBOUND = "%%14593"
LAYER_TRANSPORT = "%%14597"
LAYER_RESOURCE_ASSIGNMENT = "%%14608"
LAYER_RECEIVE_ACCEPT = "%%14610"
LAYER_CONNECT = "%%14611"

LEVEL_ERROR = 2
LEVEL_WARNING = 3
LEVEL_INFORMATION = 4

# BinXML value types.
_NULL, _WSTRING, _UINT8, _UINT16, _UINT32, _UINT64 = 0x00, 0x01, 0x04, 0x06, 0x08, 0x0A
_BINARY, _GUID, _FILETIME, _SID, _HEX64, _BXML, _WSTRING_ARRAY = 0x0E, 0x0F, 0x11, 0x13, 0x15, 0x21, 0x81


# ----------------------------------------------------------------------------- typed values


class UInt32(int):
    """A value written as a UInt32 substitution (e.g. WFP ``Protocol``); Rust shows a JSON number."""


class UInt64(int):
    """A UInt64 substitution (``ProcessId``, ``FilterRTID``, ``LayerRTID``); a plain ``int`` is one too."""


class Hex64(int):
    """A HexInt64 substitution (``SubjectLogonId``), rendered ``0x...``."""


class Sid(str):
    """A SID substitution (``RemoteUserID``, ``SubjectUserSid``), written binary, rendered ``S-1-...``."""


class Guid(str):
    """A GUID substitution (``LogonGuid``), given as ``{xxxxxxxx-...}``."""


def _sid_bytes(text: str) -> bytes:
    parts = text.split("-")
    if len(parts) < 3 or parts[0].upper() != "S":
        raise ValueError(f"not a SID: {text!r}")
    subs = [int(p) for p in parts[3:]]
    return (
        struct.pack("<BB", int(parts[1]), len(subs))
        + int(parts[2]).to_bytes(6, "big")
        + struct.pack(f"<{len(subs)}I", *subs)
    )


def _value(v: object) -> tuple[int, bytes]:
    """(BinXML type, bytes) of one substitution value."""
    t = type(v)
    if t is str:
        return _WSTRING, v.encode("utf-16-le")  # type: ignore[attr-defined]
    if v is None:
        return _NULL, b""
    if t is UInt32:
        return _UINT32, struct.pack("<I", v)
    if t is UInt64 or t is int:
        return _UINT64, struct.pack("<Q", v)
    if t is Hex64:
        return _HEX64, struct.pack("<Q", v)
    if t is Sid:
        return _SID, _sid_bytes(v)  # type: ignore[arg-type]
    if t is Guid:
        return _GUID, uuid.UUID(v).bytes_le  # type: ignore[arg-type]
    if t is bytes:
        return _BINARY, v  # type: ignore[return-value]
    raise TypeError(f"unsupported EventData value {v!r} ({t.__name__})")


def filetime(when: datetime) -> int:
    """FILETIME (100 ns ticks since 1601) of a UTC datetime; a naive datetime is taken as UTC."""
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    d = when - _EPOCH
    return (d.days * 86_400 + d.seconds) * 10_000_000 + d.microseconds * 10


# ----------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class ClassicEvent:
    """A classic event (System log, converted .evt or legacy provider): unnamed ``<Data>`` values.

    ``strings`` are the insertion strings in order (``None`` or empty: no ``<Data>``);
    ``binary`` the raw ``<Binary>`` bytes.  ``qualifiers`` are the top 16 bits of the
    message id (0xC000 = 49152 for errors, 0x4000 = 16384 for information); ``None``
    leaves the attribute out.  ``when`` is TimeCreated (UTC), ``written`` the record
    header time (defaults to ``when``).
    """

    record_id: int
    when: datetime
    computer: str
    provider: str
    event_id: int
    strings: tuple[str, ...] | None = None
    binary: bytes | None = None
    qualifiers: int | None = 16384
    level: int = LEVEL_INFORMATION
    task: int = 0
    keywords: int = CLASSIC_KEYWORDS
    channel: str = "System"
    user_sid: str | None = None
    process_id: int = 0
    thread_id: int = 0
    written: datetime | None = None


@dataclass(frozen=True, slots=True)
class ManifestEvent:
    """A manifest-based event (Security log): named ``<Data Name="...">`` values, in order.

    ``data`` is a tuple of (name, value) pairs; a value is ``str`` (UTF-16 string),
    ``int``/:class:`UInt64`, :class:`UInt32`, :class:`Hex64`, :class:`Sid`,
    :class:`Guid`, ``bytes`` or ``None``.  Qualifiers are always absent, as in real
    Security events.
    """

    record_id: int
    when: datetime
    computer: str
    event_id: int
    data: tuple[tuple[str, object], ...] = ()
    provider: str = SECURITY_PROVIDER
    provider_guid: str = SECURITY_PROVIDER_GUID
    channel: str = "Security"
    version: int = 0
    level: int = 0
    task: int = 0
    opcode: int = 0
    keywords: int = AUDIT_FAILURE
    process_id: int = 4
    thread_id: int = 0
    user_sid: str | None = None
    written: datetime | None = None

    def data_dict(self) -> dict[str, object]:
        """The EventData values by name."""
        return dict(self.data)


Event = ClassicEvent | ManifestEvent


# ----------------------------------------------------------------------------- BinXML templates


@dataclass(frozen=True, slots=True)
class _Sub:
    """A substitution token in a template: value ``index`` of ``type``; optional = conditional (0x0E)."""

    index: int
    type: int
    optional: bool = True


@dataclass(frozen=True, slots=True)
class _El:
    """A template element: attributes (name, literal or _Sub) and children (_El, literal or _Sub)."""

    name: str
    attrs: tuple[tuple[str, str | _Sub], ...] = ()
    children: tuple[_El | str | _Sub, ...] = ()


def _name_hash(name: str) -> int:
    """NameString hash (matches real chunks): h = h * 65599 + UTF-16 unit, low 16 bits stored."""
    h = 0
    for unit in struct.unpack(f"<{len(name)}H", name.encode("utf-16-le")):
        h = (h * 65599 + unit) & 0xFFFFFFFF
    return h & 0xFFFF


def _text_token(text: str) -> bytes:
    raw = text.encode("utf-16-le")
    return struct.pack("<BBH", 0x05, _WSTRING, len(raw) // 2) + raw


def _sub_token(s: _Sub) -> bytes:
    return struct.pack("<BHB", 0x0E if s.optional else 0x0D, s.index, s.type)


class _ChunkState:
    """Names and templates defined in the chunk being filled, plus its two hash tables."""

    def __init__(self) -> None:
        self.buf = bytearray(CHUNK_SIZE)
        self.pos = CHUNK_HEADER_BLOCK
        self.names: dict[str, int] = {}
        self.templates: dict[object, int] = {}
        self.string_table = [0] * 64
        self.template_table = [0] * 32
        self.first: int | None = None
        self.last = 0
        self.last_record_offset = 0


class _Encoder:
    """Encodes one record against a chunk, keeping new names/templates pending until commit."""

    def __init__(self, chunk: _ChunkState) -> None:
        self.chunk = chunk
        self.new_names: dict[str, int] = {}
        self.new_templates: dict[object, tuple[int, int]] = {}  # key -> (offset, template id)

    def name(self, name: str, at: int) -> tuple[int, bytes]:
        """(offset, inline bytes) for a name whose reference ends just before ``at``."""
        off = self.chunk.names.get(name)
        if off is None:
            off = self.new_names.get(name)
        if off is not None:
            return off, b""
        raw = name.encode("utf-16-le")
        self.new_names[name] = at
        return at, struct.pack("<IHH", 0, _name_hash(name), len(raw) // 2) + raw + b"\0\0"

    def element(self, el: _El, pos: int) -> bytes:
        """One element (with its subtree) placed at chunk offset ``pos``."""
        name_off, name_bytes = self.name(el.name, pos + 11)
        body = bytearray(name_bytes)
        cur = pos + 11 + len(name_bytes)
        if el.attrs:
            cur += 4
            attrs = bytearray()
            last = len(el.attrs) - 1
            for i, (aname, avalue) in enumerate(el.attrs):
                aoff, abytes = self.name(aname, cur + 5)
                a = struct.pack("<BI", 0x46 if i < last else 0x06, aoff) + abytes
                a += _sub_token(avalue) if isinstance(avalue, _Sub) else _text_token(avalue)
                attrs += a
                cur += len(a)
            body += struct.pack("<I", len(attrs)) + attrs
        if el.children:
            body.append(0x02)
            cur += 1
            for child in el.children:
                if isinstance(child, _El):
                    enc = self.element(child, cur)
                elif isinstance(child, _Sub):
                    enc = _sub_token(child)
                else:
                    enc = _text_token(child)
                body += enc
                cur += len(enc)
            body.append(0x04)
        else:
            body.append(0x03)
        token = 0x41 if el.attrs else 0x01
        # Data size: everything after the size field (name offset, inline name, attributes,
        # content, closing token).
        return struct.pack("<BHII", token, 0xFFFF, 4 + len(body), name_off) + body

    def fragment(self, key: object, tree: _El, subs: bytes, pos: int) -> bytes:
        """Fragment header + template instance (+ inline definition the first time) + ``subs``."""
        off = self.chunk.templates.get(key)
        if off is None and key in self.new_templates:
            off = self.new_templates[key][0]
        guid, tid = _template_guid(key)
        definition = b""
        if off is None:
            off = pos + 4 + 10
            data = b"\x0f\x01\x01\x00" + self.element(tree, off + 24 + 4) + b"\x00"
            definition = struct.pack("<I", 0) + guid + struct.pack("<I", len(data)) + data
            self.new_templates[key] = (off, tid)
        return b"\x0f\x01\x01\x00" + struct.pack("<BBII", 0x0C, 0x01, tid, off) + definition + subs

    def commit(self) -> None:
        """Enter the record's new names and templates in the chunk (hash chains: newest first)."""
        c = self.chunk
        for name, off in self.new_names.items():
            bucket = _name_hash(name) % 64
            struct.pack_into("<I", c.buf, off, c.string_table[bucket])
            c.string_table[bucket] = off
            c.names[name] = off
        for key, (off, tid) in self.new_templates.items():
            bucket = tid % 32
            struct.pack_into("<I", c.buf, off, c.template_table[bucket])
            c.template_table[bucket] = off
            c.templates[key] = off


_GUIDS: dict[object, tuple[bytes, int]] = {}


def _template_guid(key: object) -> tuple[bytes, int]:
    """A stable GUID per template shape; its first 4 bytes are the template id, as in real files."""
    hit = _GUIDS.get(key)
    if hit is None:
        if len(_GUIDS) >= 4096:
            _GUIDS.clear()
        guid = hashlib.md5(repr(key).encode()).digest()
        hit = _GUIDS[key] = (guid, struct.unpack_from("<I", guid)[0])
    return hit


def _system(*children: _El) -> _El:
    return _El("System", (), children)


def _classic_outer(provider: str, channel: str, computer: str) -> _El:
    """Outer template of classic events, as in system.evtx (Provider/Channel/Computer literal)."""
    return _El(
        "Event",
        (("xmlns", _EVENT_NS),),
        (
            _system(
                _El("Provider", (("Name", provider),)),
                _El("EventID", (("Qualifiers", _Sub(4, _UINT16)),), (_Sub(3, _UINT16),)),
                _El("Level", (), (_Sub(0, _UINT8),)),
                _El("Task", (), (_Sub(2, _UINT16),)),
                _El("Keywords", (), (_Sub(5, _HEX64),)),
                _El("TimeCreated", (("SystemTime", _Sub(6, _FILETIME)),)),
                _El("EventRecordID", (), (_Sub(10, _UINT64),)),
                _El("Channel", (), (channel,)),
                _El("Computer", (), (computer,)),
                _El("Security", (("UserID", _Sub(12, _SID)),)),
            ),
            _Sub(19, _BXML),
        ),
    )


def _manifest_outer(computer: str) -> _El:
    """Outer template of manifest events, as in Security_short_selected.evtx (Computer literal)."""
    return _El(
        "Event",
        (("xmlns", _EVENT_NS),),
        (
            _system(
                _El("Provider", (("Name", _Sub(14, _WSTRING)), ("Guid", _Sub(15, _GUID)))),
                _El("EventID", (("Qualifiers", _Sub(4, _UINT16)),), (_Sub(3, _UINT16),)),
                _El("Version", (), (_Sub(11, _UINT8),)),
                _El("Level", (), (_Sub(0, _UINT8),)),
                _El("Task", (), (_Sub(2, _UINT16),)),
                _El("Opcode", (), (_Sub(1, _UINT8),)),
                _El("Keywords", (), (_Sub(5, _HEX64),)),
                _El("TimeCreated", (("SystemTime", _Sub(6, _FILETIME)),)),
                _El("EventRecordID", (), (_Sub(10, _UINT64),)),
                _El("Correlation", (("ActivityID", _Sub(7, _GUID)), ("RelatedActivityID", _Sub(13, _GUID)))),
                _El("Execution", (("ProcessID", _Sub(8, _UINT32)), ("ThreadID", _Sub(9, _UINT32)))),
                _El("Channel", (), (_Sub(16, _WSTRING),)),
                _El("Computer", (), (computer,)),
                _El("Security", (("UserID", _Sub(12, _SID)),)),
            ),
            _Sub(17, _BXML),
        ),
    )


_CLASSIC_INNER = _El(
    "EventData",
    (),
    (_El("Data", (), (_Sub(0, _WSTRING_ARRAY),)), _El("Binary", (), (_Sub(2, _BINARY),))),
)


def _named_inner(shape: tuple[tuple[str, int], ...]) -> _El:
    return _El(
        "EventData",
        (),
        tuple(_El("Data", (("Name", name),), (_Sub(i, t, optional=False),)) for i, (name, t) in enumerate(shape)),
    )


def _subs(values: Sequence[tuple[int, bytes]]) -> bytes:
    """Substitution array: count, (size, type, 0) descriptors, then the values."""
    if any(len(b) > 0xFFFF for _, b in values):
        raise ValueError(f"a substitution value over 65535 bytes does not fit in a record ({MAX_RECORD_SIZE} bytes)")
    head = [struct.pack("<I", len(values))]
    head += [struct.pack("<HBB", len(b), t, 0) for t, b in values]
    return b"".join(head) + b"".join(b for _, b in values)


_N = (_NULL, b"")
_U32 = struct.Struct("<I").pack


def _inner_classic(ev: ClassicEvent) -> tuple[object, _El, bytes]:
    strings = ev.strings
    arr = (_WSTRING_ARRAY, b"".join(s.encode("utf-16-le") + b"\0\0" for s in strings)) if strings else _N
    binary = ev.binary or b""
    values = [arr, (_UINT32, _U32(len(binary))), (_BINARY, binary) if binary else _N]
    return ("classic-data",), _CLASSIC_INNER, _subs(values)


def _inner_named(ev: ManifestEvent) -> tuple[object, _El, bytes]:
    typed = [_value(v) for _, v in ev.data]
    shape = tuple((name, t) for (name, _), (t, _) in zip(ev.data, typed, strict=True))
    return ("named", shape), _named_inner(shape), _subs(typed)


_INNER_CACHE_MAX = 8192


def _desc(size: int, type_: int) -> bytes:
    return struct.pack("<HBB", size, type_, 0)


_NULL_DESC = _desc(0, _NULL)
_GUID_DESC = _desc(16, _GUID)
# Outer substitutions 0-11: Level, Opcode, Task, EventID, Qualifiers, Keywords, TimeCreated,
# ActivityID (NULL), ProcessID, ThreadID, EventRecordID, Version; then 12 UserID, 13-18 and 19 for
# classic (13 RelatedActivityID, 14 Provider, 15 Guid, 16 Channel, 17 EventData for manifest).
_FIXED_TYPES = [
    (1, _UINT8),
    (1, _UINT8),
    (2, _UINT16),
    (2, _UINT16),
    (2, _UINT16),
    (8, _HEX64),
    (8, _FILETIME),
    (0, _NULL),
    (4, _UINT32),
    (4, _UINT32),
    (8, _UINT64),
    (1, _UINT8),
]
_NOQ_TYPES = [*_FIXED_TYPES[:4], (0, _NULL), *_FIXED_TYPES[5:]]
_CLASSIC_DESC = struct.pack("<I", 20) + b"".join(_desc(n, t) for n, t in _FIXED_TYPES)
_CLASSIC_DESC_NOQ = struct.pack("<I", 20) + b"".join(_desc(n, t) for n, t in _NOQ_TYPES)
_MANIFEST_DESC = struct.pack("<I", 18) + b"".join(_desc(n, t) for n, t in _NOQ_TYPES)
_CLASSIC_FIXED = struct.Struct("<BBHHHQQIIQB")
_CLASSIC_FIXED_NOQ = struct.Struct("<BBHHQQIIQB")
_MANIFEST_FIXED = _CLASSIC_FIXED_NOQ
_PROVIDERS: dict[tuple[str, str, str], tuple[bytes, bytes, bytes]] = {}


def _provider_values(provider: str, guid: str, channel: str) -> tuple[bytes, bytes, bytes]:
    """Encoded Provider Name, Guid and Channel (few distinct ones; cached)."""
    key = (provider, guid, channel)
    hit = _PROVIDERS.get(key)
    if hit is None:
        if len(_PROVIDERS) >= 1024:
            _PROVIDERS.clear()
        hit = _PROVIDERS[key] = (
            provider.encode("utf-16-le"),
            uuid.UUID(guid).bytes_le,
            channel.encode("utf-16-le"),
        )
    return hit


# ----------------------------------------------------------------------------- writer


class EvtxWriter:
    """Stream events into an EVTX file; use as a context manager (``with EvtxWriter(p) as w``).

    Each chunk is written as soon as it is full, and the file header is written at
    :meth:`close`, so memory stays flat whatever the number of records.

    ``renumber=False``: the record header number is the event's EventRecordID (a
    live or archived log); they must increase.  ``renumber=True``: headers are
    numbered 1, 2, ... (an export made with a query), EventRecordIDs are kept.
    """

    def __init__(self, path: str | PathLike[str], *, renumber: bool = False) -> None:
        self._f: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._f.write(bytes(FILE_HEADER_BLOCK))
        self.renumber = renumber
        self.records_written = 0
        self.chunks_written = 0
        self._last_number = 0
        self._chunk = _ChunkState()
        self._inner_cache: dict[object, tuple[object, _El, bytes]] = {}
        self._closed = False

    def __enter__(self) -> EvtxWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write_many(self, events: Iterable[Event]) -> None:
        """Write events one by one (the iterable is consumed lazily)."""
        for ev in events:
            self.write(ev)

    def write(self, ev: Event, *, record_id: int | None = None, when: datetime | None = None) -> None:
        """Append one event (a new chunk is started when it does not fit).

        ``record_id`` / ``when`` override the event's EventRecordID / TimeCreated (the
        written time then defaults to ``when``): the cheap way to stream a pool of
        prebuilt events without copying them.
        """
        rid = ev.record_id if record_id is None else record_id
        if when is None:
            created = filetime(ev.when)
            written = filetime(ev.written) if ev.written is not None else created
        else:
            created = written = filetime(when)
        number = self._last_number + 1 if self.renumber else rid
        if number <= self._last_number:
            raise ValueError(f"record numbers must increase: {number} after {self._last_number}")
        if not self._encode(ev, number, rid, created, written, self._chunk):
            self._flush_chunk()
            if not self._encode(ev, number, rid, created, written, self._chunk):
                raise ValueError(f"event {rid} does not fit in one chunk ({MAX_RECORD_SIZE} bytes)")
        self._last_number = number
        self.records_written += 1

    def _inner(self, ev: Event) -> tuple[object, _El, bytes]:
        """EventData template key, tree and substitutions; cached by content (pooled events repeat)."""
        build: Callable[..., tuple[object, _El, bytes]]
        if isinstance(ev, ClassicEvent):
            ck: object = (ev.strings, ev.binary)
            build = _inner_classic
        else:
            ck = ev.data
            build = _inner_named
        hit = self._inner_cache.get(ck)
        if hit is None:
            if len(self._inner_cache) >= _INNER_CACHE_MAX:
                self._inner_cache.clear()
            hit = self._inner_cache[ck] = build(ev)  # type: ignore[arg-type]
        return hit

    def _encode(self, ev: Event, number: int, rid: int, when: int, written: int, chunk: _ChunkState) -> bool:
        """Place one record in ``chunk``; False (and nothing changed) if it does not fit."""
        enc = _Encoder(chunk)
        rec_pos = chunk.pos
        pos = rec_pos + 24
        sid = _sid_bytes(ev.user_sid) if ev.user_sid else b""
        sid_desc = _desc(len(sid), _SID if sid else _NULL)
        ikey, itree, isubs = self._inner(ev)
        # The outer substitution array is packed in one go: the fixed-size System values
        # with a precompiled struct, descriptors from precomputed bytes where they never vary.
        if isinstance(ev, ClassicEvent):
            key: object = ("classic", ev.provider, ev.channel, ev.computer)
            tree = _classic_outer(ev.provider, ev.channel, ev.computer) if key not in chunk.templates else None
            if ev.qualifiers is None:
                fixed = _CLASSIC_FIXED_NOQ.pack(
                    ev.level, 0, ev.task, ev.event_id, ev.keywords, when, ev.process_id, ev.thread_id, rid, 0
                )
                desc_head = _CLASSIC_DESC_NOQ
            else:
                fixed = _CLASSIC_FIXED.pack(
                    ev.level,
                    0,
                    ev.task,
                    ev.event_id,
                    ev.qualifiers,
                    ev.keywords,
                    when,
                    ev.process_id,
                    ev.thread_id,
                    rid,
                    0,
                )
                desc_head = _CLASSIC_DESC
            desc_mid = sid_desc + _NULL_DESC * 6
            before_inner = fixed + sid
        else:
            key = ("manifest", ev.computer)
            tree = _manifest_outer(ev.computer) if key not in chunk.templates else None
            fixed = _MANIFEST_FIXED.pack(
                ev.level,
                ev.opcode,
                ev.task,
                ev.event_id,
                ev.keywords,
                when,
                ev.process_id,
                ev.thread_id,
                rid,
                ev.version,
            )
            provider, guid, channel = _provider_values(ev.provider, ev.provider_guid, ev.channel)
            desc_head = _MANIFEST_DESC
            desc_mid = b"".join(
                (sid_desc, _NULL_DESC, _desc(len(provider), _WSTRING), _GUID_DESC, _desc(len(channel), _WSTRING))
            )
            before_inner = fixed + sid + provider + guid + channel
        # The outer fragment's size before its substitution values is needed to place the
        # nested EventData fragment, so the outer instance (and definition) is built first.
        head = enc.fragment(key, tree, b"", pos)  # type: ignore[arg-type]
        values_pos = pos + len(head) + len(desc_head) + len(desc_mid) + 4 + len(before_inner)
        inner = enc.fragment(ikey, itree, isubs, values_pos)
        if len(inner) > 0xFFFF:
            raise ValueError(f"EventData of event {rid} does not fit in a record ({MAX_RECORD_SIZE} bytes)")
        binxml = b"".join((head, desc_head, desc_mid, _desc(len(inner), _BXML), before_inner, inner))
        size = (24 + len(binxml) + 4 + 7) & ~7
        if rec_pos + size > CHUNK_SIZE:
            return False
        buf = chunk.buf
        struct.pack_into("<IIQQ", buf, rec_pos, 0x00002A2A, size, number, written)
        buf[pos : pos + len(binxml)] = binxml
        struct.pack_into("<I", buf, rec_pos + size - 4, size)
        enc.commit()
        if chunk.first is None:
            chunk.first = number
        chunk.last = number
        chunk.last_record_offset = rec_pos
        chunk.pos = rec_pos + size
        return True

    def _flush_chunk(self) -> None:
        """Finish the chunk header (tables, CRCs) and write the 64 KiB chunk to disk."""
        c = self._chunk
        if c.first is None:
            return
        buf = c.buf
        struct.pack_into(
            "<8sQQQQIII",
            buf,
            0,
            b"ElfChnk\0",
            c.first,
            c.last,
            c.first,
            c.last,
            128,
            c.last_record_offset,
            c.pos,
        )
        struct.pack_into("<64I", buf, 0x80, *c.string_table)
        struct.pack_into("<32I", buf, 0x180, *c.template_table)
        struct.pack_into("<I", buf, 0x34, zlib.crc32(buf[CHUNK_HEADER_BLOCK : c.pos]))
        struct.pack_into("<I", buf, 0x78, 0)  # flags
        struct.pack_into("<I", buf, 0x7C, zlib.crc32(buf[0:0x78] + buf[0x80:CHUNK_HEADER_BLOCK]))
        self._f.write(buf)
        self.chunks_written += 1
        self._chunk = _ChunkState()

    def close(self) -> None:
        """Write the last chunk and the file header; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._flush_chunk()
            n = self.chunks_written
            header = bytearray(128)
            struct.pack_into(
                "<8sQQQIHHHH",
                header,
                0,
                b"ElfFile\0",
                0,
                max(n - 1, 0),
                self._last_number + 1,
                128,
                1,
                3,
                FILE_HEADER_BLOCK,
                min(n, 0xFFFF),  # the field is 16 bits: python-evtx stops there, Rust reads on
            )
            struct.pack_into("<I", header, 0x78, 0)  # flags: clean
            struct.pack_into("<I", header, 0x7C, zlib.crc32(header[:0x78]))
            self._f.seek(0)
            self._f.write(header)
        finally:
            self._f.close()


# ----------------------------------------------------------------------------- builders: System


#: Qualifiers (top bits of the message id) for a Log Parser EventType: 1 Error, 2 Warning, 4 Information.
_QUALIFIERS_BY_TYPE = {1: 0xC000, 2: 0x8000, 4: 0x4000, 8: 0, 16: 0}
_LEVEL_BY_TYPE = {1: LEVEL_ERROR, 2: LEVEL_WARNING, 4: LEVEL_INFORMATION, 8: 0, 16: 0}
#: EventLog 6005/6006/6009/6013 carry 0x8000 (seen for 6009 in corpus system.evtx) at Information level.
_QUALIFIERS_BY_SOURCE = {("EventLog", eid): 0x8000 for eid in (6005, 6006, 6009, 6013)}
#: IPSec driver events that are errors (message id 0xC...; §1.2).  The rest are informational.
_IPSEC_ERRORS = frozenset({*range(4283, 4290), 4292})


def classic_event(
    record_id: int,
    when_utc: datetime,
    computer: str,
    provider: str,
    event_id: int,
    strings: Sequence[str] | None = None,
    *,
    level: int = LEVEL_INFORMATION,
    qualifiers: int | None = 0x4000,
    task: int = 0,
    binary: bytes | None = None,
    user_sid: str | None = None,
    channel: str = "System",
    written: datetime | None = None,
    process_id: int = 0,
    thread_id: int = 0,
) -> ClassicEvent:
    """Any classic event with unnamed insertion strings (``<Data>`` values, in order)."""
    return ClassicEvent(
        record_id=record_id,
        when=when_utc,
        computer=computer,
        provider=provider,
        event_id=event_id,
        strings=tuple(strings) if strings else None,
        binary=binary,
        qualifiers=qualifiers,
        level=level,
        task=task,
        channel=channel,
        user_sid=user_sid,
        process_id=process_id,
        thread_id=thread_id,
        written=written,
    )


def ipsec_system_event(
    record_id: int,
    when_utc: datetime,
    computer: str,
    event_id: int,
    strings: Sequence[str] | None,
    level: int | None = None,
    *,
    provider: str = "IPSec",
    binary: bytes | None = None,
    written: datetime | None = None,
) -> ClassicEvent:
    """An IPSec driver event (§1): 4283-4289/4292 are errors (Level 2, Qualifiers 49152),
    4290/4291/4293-4297 information (Level 4, Qualifiers 16384).

    ``strings`` is the insertion-string array exactly as stored, %1 (driver name)
    included if the driver wrote one (see ``logparser.ipsec_packet_drop``).  ``binary``
    is the IO_ERROR_LOG_PACKET (``bytes.fromhex(logparser.io_error_log_data(...))``).
    Kernel drivers log from the System process, hence ProcessID 4.
    """
    error = event_id in _IPSEC_ERRORS
    if level is None:
        level = LEVEL_ERROR if error else LEVEL_INFORMATION
    return classic_event(
        record_id,
        when_utc,
        computer,
        provider,
        event_id,
        strings,
        level=level,
        qualifiers=0xC000 if error else 0x4000,
        binary=binary,
        written=written,
        process_id=4,
    )


def service_state_event(
    record_id: int, when_utc: datetime, computer: str, service: str, state: str, *, written: datetime | None = None
) -> ClassicEvent:
    """Noise: Service Control Manager 7036 ``The %1 service entered the %2 state.``"""
    return classic_event(
        record_id, when_utc, computer, "Service Control Manager", 7036, [service, state], written=written
    )


def from_evt_record(
    rec: object,
    when_utc: datetime,
    *,
    record_id: int | None = None,
    written_utc: datetime | None = None,
    qualifiers: int | None = None,
) -> ClassicEvent:
    """The EVTX form of a Log Parser :class:`~pipeline.synthetic.logparser.EvtRecord`.

    The same event, so the same values: ``Strings`` split on ``|`` (a string that
    itself holds ``|`` cannot be told apart; none of the synthetic ones does),
    ``Data`` hex -> ``<Binary>``, EventType -> Level and Qualifiers, SourceName ->
    Provider, EventLog -> Channel, RecordNumber -> EventRecordID.  Times are passed
    in UTC because the record's own are local.
    """
    strings = None if rec.Strings is None else rec.Strings.split("|")  # type: ignore[attr-defined]
    data = rec.Data  # type: ignore[attr-defined]
    etype = rec.EventType or 4  # type: ignore[attr-defined]
    source = rec.SourceName or ""  # type: ignore[attr-defined]
    eid = rec.EventID  # type: ignore[attr-defined]
    if qualifiers is None:
        if source.lower() == "ipsec":
            qualifiers = 0xC000 if eid in _IPSEC_ERRORS else 0x4000
        else:
            qualifiers = _QUALIFIERS_BY_SOURCE.get((source, eid), _QUALIFIERS_BY_TYPE.get(etype, 0))
    return classic_event(
        rec.RecordNumber if record_id is None else record_id,  # type: ignore[attr-defined]
        when_utc,
        rec.ComputerName or "",  # type: ignore[attr-defined]
        source,
        eid,
        strings,
        level=_LEVEL_BY_TYPE.get(etype, LEVEL_INFORMATION),
        qualifiers=qualifiers,
        task=rec.EventCategory or 0,  # type: ignore[attr-defined]
        binary=bytes.fromhex(data) if data else None,
        user_sid=rec.SID,  # type: ignore[attr-defined]
        channel=rec.EventLog or "System",  # type: ignore[attr-defined]
        written=written_utc,
        process_id=4 if source.lower() == "ipsec" else 0,
    )


# ----------------------------------------------------------------------------- builders: Security

#: Version and Task of the WFP / IPsec audit events (§2.1-2.3).  Task 12809 = Filtering
#: Platform Packet Drop, 12810 = Filtering Platform Connection; the IPsec Driver task for
#: 4960-4965 (12290) is UNVERIFIED.
_SECURITY_DEFAULTS: dict[int, tuple[int, int]] = {
    5152: (0, 12809),
    5153: (0, 12809),
    5156: (1, 12810),
    5157: (1, 12810),
    5159: (0, 12810),
    4960: (0, 12290),
    4961: (0, 12290),
    4962: (0, 12290),
    4963: (0, 12290),
    4965: (0, 12290),
    4624: (0, 12544),
    4634: (0, 12545),
    4672: (0, 12548),
}


def security_event(
    record_id: int,
    when_utc: datetime,
    computer: str,
    event_id: int,
    data: Mapping[str, object] | Sequence[tuple[str, object]],
    *,
    version: int | None = None,
    task: int | None = None,
    keywords: int = AUDIT_SUCCESS,
    process_id: int = 4,
    thread_id: int = 0,
    written: datetime | None = None,
) -> ManifestEvent:
    """Any Security-Auditing event with named EventData values (in the given order)."""
    dv, dt = _SECURITY_DEFAULTS.get(event_id, (0, 0))
    items = tuple(data.items()) if isinstance(data, Mapping) else tuple(data)
    return ManifestEvent(
        record_id=record_id,
        when=when_utc,
        computer=computer,
        event_id=event_id,
        data=items,
        version=dv if version is None else version,
        task=dt if task is None else task,
        keywords=keywords,
        process_id=process_id,
        thread_id=thread_id,
        written=written,
    )


def wfp_event(
    record_id: int,
    when_utc: datetime,
    computer: str,
    event_id: int,
    data: Mapping[str, object] | Sequence[tuple[str, object]],
    *,
    version: int | None = None,
    task: int | None = None,
    thread_id: int = 0,
    written: datetime | None = None,
) -> ManifestEvent:
    """A WFP or IPsec audit drop (Audit Failure keyword, Level 0, logged by PID 4 like the real ones)."""
    return security_event(
        record_id,
        when_utc,
        computer,
        event_id,
        data,
        version=version,
        task=task,
        keywords=AUDIT_FAILURE,
        thread_id=thread_id,
        written=written,
    )


def _packet_data(
    pid_name: str,
    process_id: int,
    application: str,
    direction: str,
    source: tuple[str, int],
    dest: tuple[str, int],
    protocol: int,
    filter_rtid: int,
    layer: str,
    layer_rtid: int,
) -> list[tuple[str, object]]:
    # Types as measured on the real 5152/5157: ports and addresses are strings,
    # ProcessId/FilterRTID/LayerRTID UInt64, Protocol UInt32.
    return [
        (pid_name, UInt64(process_id)),
        ("Application", application),
        ("Direction", direction),
        ("SourceAddress", source[0]),
        ("SourcePort", str(source[1])),
        ("DestAddress", dest[0]),
        ("DestPort", str(dest[1])),
        ("Protocol", UInt32(protocol)),
        ("FilterRTID", UInt64(filter_rtid)),
        ("LayerName", layer),
        ("LayerRTID", UInt64(layer_rtid)),
    ]


def _direction(direction: str) -> str:
    if direction in ("inbound", DIRECTION_INBOUND):
        return DIRECTION_INBOUND
    if direction in ("outbound", DIRECTION_OUTBOUND):
        return DIRECTION_OUTBOUND
    raise ValueError(f"direction must be inbound or outbound, not {direction!r}")


def wfp_5152(
    record_id: int,
    when_utc: datetime,
    computer: str,
    *,
    src_ip: str,
    src_port: int,
    dst_ip: str,
    dst_port: int,
    protocol: int = 6,
    direction: str = "inbound",
    application: str = "-",
    process_id: int = 0,
    filter_rtid: int = 67607,
    layer: str | None = None,
    layer_rtid: int | None = None,
    event_id: int = 5152,
    written: datetime | None = None,
) -> ManifestEvent:
    """5152 "WFP blocked a packet": the packet AS IT TRAVELLED (§7).

    Inbound: ``src_ip`` is the remote sender, ``dst_ip`` this host; outbound the
    reverse.  Field ``ProcessId`` (lower-case d).  Defaults: an inbound TCP drop at the
    Transport layer (%%14597, LayerRTID 13) like the real corpus record, outbound at
    Connect (%%14611, 48).
    """
    d = _direction(direction)
    if layer is None:
        layer, default_rtid = (LAYER_TRANSPORT, 13) if d == DIRECTION_INBOUND else (LAYER_CONNECT, 48)
    else:
        default_rtid = 44
    data = _packet_data(
        "ProcessId",
        process_id,
        application,
        d,
        (src_ip, src_port),
        (dst_ip, dst_port),
        protocol,
        filter_rtid,
        layer,
        default_rtid if layer_rtid is None else layer_rtid,
    )
    return wfp_event(record_id, when_utc, computer, event_id, data, written=written)


def wfp_5153(record_id: int, when_utc: datetime, computer: str, **kw: object) -> ManifestEvent:
    """5153 "a more restrictive WFP filter blocked a packet": same fields and orientation as 5152
    (the message table, §2.3, not the MSDOCS page)."""
    return wfp_5152(record_id, when_utc, computer, event_id=5153, **kw)  # type: ignore[arg-type]


def wfp_5157(
    record_id: int,
    when_utc: datetime,
    computer: str,
    *,
    local_ip: str,
    local_port: int,
    remote_ip: str,
    remote_port: int,
    protocol: int = 6,
    direction: str = "inbound",
    application: str = "System",
    process_id: int = 4,
    filter_rtid: int = 67249,
    layer: str | None = None,
    layer_rtid: int | None = None,
    remote_user: str = "S-1-0-0",
    remote_machine: str = "S-1-0-0",
    event_id: int = 5157,
    written: datetime | None = None,
) -> ManifestEvent:
    """5157 "WFP blocked a connection" (v1): CONNECTION orientation (§7).

    ``SourceAddress``/``SourcePort`` are ALWAYS the local end and ``DestAddress``/
    ``DestPort`` the remote end, whatever the direction, so this builder takes
    local/remote arguments.  Field ``ProcessID`` (capital D); RemoteUserID and
    RemoteMachineID are SIDs.  Layer defaults: Receive/Accept (%%14610, 44) inbound,
    Connect (%%14611, 48) outbound.  ``event_id=5156`` gives the same record for an
    ALLOWED connection (Audit Success): noise a reader must not count.
    """
    if event_id not in (5156, 5157):
        raise ValueError(f"connection events are 5156 (allowed) and 5157 (blocked), not {event_id}")
    d = _direction(direction)
    if layer is None:
        layer, default_rtid = (LAYER_RECEIVE_ACCEPT, 44) if d == DIRECTION_INBOUND else (LAYER_CONNECT, 48)
    else:
        default_rtid = 44
    data = _packet_data(
        "ProcessID",
        process_id,
        application,
        d,
        (local_ip, local_port),
        (remote_ip, remote_port),
        protocol,
        filter_rtid,
        layer,
        default_rtid if layer_rtid is None else layer_rtid,
    )
    data += [("RemoteUserID", Sid(remote_user)), ("RemoteMachineID", Sid(remote_machine))]
    keywords = AUDIT_FAILURE if event_id == 5157 else AUDIT_SUCCESS
    return security_event(record_id, when_utc, computer, event_id, data, keywords=keywords, written=written)


def wfp_5159(
    record_id: int,
    when_utc: datetime,
    computer: str,
    *,
    local_ip: str,
    local_port: int,
    protocol: int = 17,
    application: str = "\\device\\harddiskvolume1\\windows\\system32\\svchost.exe",
    process_id: int = 1044,
    filter_rtid: int = 67251,
    layer: str = LAYER_RESOURCE_ASSIGNMENT,
    layer_rtid: int = 36,
    written: datetime | None = None,
) -> ManifestEvent:
    """5159 "WFP blocked a bind to a local port": only the local address/port (§2.3).

    EventData names follow the 5152 spelling (``ProcessId``, ``SourceAddress`` ...);
    the real 5159 names are UNVERIFIED.
    """
    data: list[tuple[str, object]] = [
        ("ProcessId", UInt64(process_id)),
        ("Application", application),
        ("SourceAddress", local_ip),
        ("SourcePort", str(local_port)),
        ("Protocol", UInt32(protocol)),
        ("FilterRTID", UInt64(filter_rtid)),
        ("LayerName", layer),
        ("LayerRTID", UInt64(layer_rtid)),
    ]
    return wfp_event(record_id, when_utc, computer, 5159, data, written=written)


def ipsec_audit_drop(
    record_id: int,
    when_utc: datetime,
    computer: str,
    event_id: int,
    remote_ip: str,
    spi: int = 0,
    *,
    written: datetime | None = None,
) -> ManifestEvent:
    """4960-4963, 4965: IPsec dropped an inbound packet from ``remote_ip`` (§2.3).

    The message table gives ``Remote Network Address`` (%1) and ``Inbound SA SPI``
    (%2); the EventData ``Name=`` values are UNVERIFIED: this writes ``RemoteAddress``
    and ``SPI`` (both strings; SPI 0 for a clear-text packet, as WFP reports it).
    """
    if event_id not in (4960, 4961, 4962, 4963, 4965):
        raise ValueError(f"IPsec audit drops are 4960-4963 and 4965, not {event_id}")
    return wfp_event(
        record_id, when_utc, computer, event_id, [("RemoteAddress", remote_ip), ("SPI", str(spi))], written=written
    )


def logon_event(
    record_id: int,
    when_utc: datetime,
    computer: str,
    *,
    user: str,
    domain: str,
    user_sid: str,
    logon_id: int,
    logon_type: int = 3,
    ip: str = "-",
    port: str = "-",
    workstation: str = "-",
    package: str = "NTLM",
    written: datetime | None = None,
) -> ManifestEvent:
    """Noise: 4624 "An account was successfully logged on" (version 0 field list)."""
    data: list[tuple[str, object]] = [
        ("SubjectUserSid", Sid("S-1-0-0")),
        ("SubjectUserName", "-"),
        ("SubjectDomainName", "-"),
        ("SubjectLogonId", Hex64(0)),
        ("TargetUserSid", Sid(user_sid)),
        ("TargetUserName", user),
        ("TargetDomainName", domain),
        ("TargetLogonId", Hex64(logon_id)),
        ("LogonType", UInt32(logon_type)),
        ("LogonProcessName", "NtLmSsp " if package == "NTLM" else "Kerberos"),
        ("AuthenticationPackageName", package),
        ("WorkstationName", workstation),
        ("LogonGuid", Guid("{00000000-0000-0000-0000-000000000000}")),
        ("TransmittedServices", "-"),
        ("LmPackageName", "NTLM V2" if package == "NTLM" else "-"),
        ("KeySize", UInt32(128 if package == "NTLM" else 0)),
        ("ProcessId", Hex64(0)),
        ("ProcessName", "-"),
        ("IpAddress", ip),
        ("IpPort", port),
    ]
    return security_event(record_id, when_utc, computer, 4624, data, written=written)


def logoff_event(
    record_id: int,
    when_utc: datetime,
    computer: str,
    *,
    user: str,
    domain: str,
    user_sid: str,
    logon_id: int,
    logon_type: int = 3,
    written: datetime | None = None,
) -> ManifestEvent:
    """Noise: 4634 "An account was logged off"."""
    data: list[tuple[str, object]] = [
        ("TargetUserSid", Sid(user_sid)),
        ("TargetUserName", user),
        ("TargetDomainName", domain),
        ("TargetLogonId", Hex64(logon_id)),
        ("LogonType", UInt32(logon_type)),
    ]
    return security_event(record_id, when_utc, computer, 4634, data, written=written)


def special_privileges_event(
    record_id: int,
    when_utc: datetime,
    computer: str,
    *,
    user: str,
    domain: str,
    user_sid: str,
    logon_id: int,
    written: datetime | None = None,
) -> ManifestEvent:
    """Noise: 4672 "Special privileges assigned to new logon"."""
    privileges = "\r\n\t\t\t".join(
        ("SeSecurityPrivilege", "SeBackupPrivilege", "SeRestorePrivilege", "SeDebugPrivilege")
    )
    data: list[tuple[str, object]] = [
        ("SubjectUserSid", Sid(user_sid)),
        ("SubjectUserName", user),
        ("SubjectDomainName", domain),
        ("SubjectLogonId", Hex64(logon_id)),
        ("PrivilegeList", privileges),
    ]
    return security_event(record_id, when_utc, computer, 4672, data, written=written)
