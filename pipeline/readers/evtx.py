"""EVTX files, through either of two engines, damage-tolerant, filtering before decoding.

Engines (``--engine``):

* ``evtx`` (default): the Rust-backed PyPI package.  Records come as JSON text;
  a cheap regex on the start of the text selects the records whose EventID can
  be a drop, and only those are decoded (:func:`decode_json`).  A record that fails
  to parse raises on ``next()``; calling ``next()`` again continues with the
  next record, so one bad record or chunk never ends the file.
* ``python-evtx``: the pure-Python package, about a thousand times slower.  Its
  record generator dies on the first error, so this module walks chunks and
  records itself and catches errors per record.  Its timestamps are rendered
  through a float; the FILETIME is re-read exactly (see :func:`_exact_filetime`).
  Its XML is not always well formed (quotes in attributes, dropped control
  characters), so values are read with tolerant patterns, not an XML parser.

Both engines yield :class:`EvtxEvent` objects with the same values for the same
record; the extractors turn them into drops.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from orjson import loads as _orjson_loads

from ..issues import IssueLog

ENGINES = ("evtx", "python-evtx")

#: Event IDs that can be drops: IPSec driver 4283-4292 (System), WFP and IPsec audit (Security).
CANDIDATE_IDS = frozenset({*range(4283, 4293), 5152, 5153, 5156, 5157, 5158, 5159, 4960, 4961, 4962, 4963, 4965})
_ID_ALTERNATION = "|".join(str(i) for i in sorted(CANDIDATE_IDS))
# In the Rust engine's JSON: "EventID":5152 or "EventID":{"#attributes":{"Qualifiers":16384},"#text":4290}
_JSON_CANDIDATE = re.compile(rf'"EventID":(?:\{{"#attributes":\{{[^{{}}]*\}},"#text":)?(?:{_ID_ALTERNATION})[,}}]')
_XML_CANDIDATE = re.compile(rf"<EventID[^>]*>(?:{_ID_ALTERNATION})</EventID>")
_CANDIDATE_TEXT = frozenset(str(i) for i in CANDIDATE_IDS)  # all four digits long
_SEARCH_WINDOW = 1024  # the EventID is near the start of a record's text
_ERROR_WHERE = re.compile(r"(chunk|record) number (\d+)")
#: An EVTX file starts with a 4 KiB file header; chunks follow it.
HEADER_SIZE = 4096


class EvtxUnreadable(ValueError):
    """The file cannot be opened as EVTX at all (e.g. cut inside its file header): refuse it, go on."""


def check_header(path: str | os.PathLike[str]) -> None:
    """Raise :class:`EvtxUnreadable` when the file is too short to hold its 4 KiB file header.

    Both engines fail on such a file before yielding anything (the Rust one with
    ``failed to read EVTX file header block``), which would otherwise end the run.
    """
    size = os.path.getsize(path)
    if size < HEADER_SIZE:
        raise EvtxUnreadable(f"cut inside its {HEADER_SIZE // 1024} KiB EVTX file header ({size} of {HEADER_SIZE} "
                             "bytes): an incomplete copy? Copy the log again")


def _rust_parser(path: str | os.PathLike[str]):
    """The Rust engine's parser of ``path``; :class:`EvtxUnreadable` when it cannot open the file."""
    from evtx import PyEvtxParser

    check_header(path)
    try:
        return PyEvtxParser(str(path))
    except OSError as exc:
        raise EvtxUnreadable(f"not readable as EVTX: {str(exc).splitlines()[0][:300]}") from exc


@dataclass
class EvtxEvent:
    """The parts of one event record a drop is made of."""

    record_id: int | None
    event_id: int | None
    provider: str | None
    channel: str | None
    computer: str | None
    time_created: datetime | None  # UTC, naive
    data: list[str] | dict[str, str] = field(default_factory=list)  # unnamed (classic) or named values
    written: datetime | None = None  # the record header's time (UTC): used when TimeCreated is missing
    #: the record header's number: equal to EventRecordID in a saved log, renumbered 1..N in a query export
    header_record: int | None = None


@dataclass
class EvtxBatch:
    events: list[EvtxEvent]
    records: int  # records read in this batch (including the events)
    bytes_done: int


def _from_json(data: dict) -> EvtxEvent:
    event = data.get("Event") or {}
    system = event.get("System") or {}
    eid = system.get("EventID")
    if isinstance(eid, dict):
        eid = eid.get("#text")
    provider = ((system.get("Provider") or {}).get("#attributes") or {}).get("Name")
    created = ((system.get("TimeCreated") or {}).get("#attributes") or {}).get("SystemTime")
    payload = event.get("EventData") or event.get("UserData") or {}
    values: list[str] | dict[str, str]
    if isinstance(payload, dict) and "Data" in payload and not isinstance(payload.get("Data"), str | int | float):
        raw = payload["Data"]
        text = raw.get("#text") if isinstance(raw, dict) else raw
        if text is None:
            values = []
        elif isinstance(text, list):
            values = ["" if v is None else str(v) for v in text]
        else:
            values = [str(text)]
    elif isinstance(payload, dict):
        values = {k: v if v.__class__ is str else _text(v) for k, v in payload.items()
                  if not k.startswith("#") and k != "Binary"}
    else:
        values = []
    return EvtxEvent(
        record_id=_int(system.get("EventRecordID")),
        event_id=_int(eid),
        provider=provider,
        channel=system.get("Channel"),
        computer=system.get("Computer"),
        time_created=_parse_time(created),
        data=values,
    )


def decode_json(text: str) -> Any:
    """A record's JSON text as Python values: orjson, a third less of the scan's time than ``json``.

    Decoding the candidates is most of an EVTX ingest's own work when a log audits permitted
    connections (5156).  orjson refuses a few texts ``json`` reads (a lone surrogate escape,
    ``NaN``, a number beyond a double): those are read by ``json``, so their values and the
    error messages of texts neither can read are those of ``json`` alone.  One difference
    remains, and cannot arise: orjson reads an integer beyond 64 bits as a float, but the
    engine writes the values of an EVTX record, whose integer types are at most 64 bits wide
    (tested at both ends).  A test for long digit runs before every decode cost more than
    orjson saves.
    """
    try:
        return _orjson_loads(text)
    except ValueError:  # orjson.JSONDecodeError is one
        return json.loads(text)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return _text(value.get("#text"))
    if isinstance(value, list):
        return "|".join(_text(v) for v in value)
    return str(value)


def _int(value: object) -> int | None:
    if value is None:
        return None
    if value.__class__ is int:  # what the Rust engine's JSON holds: int(str(value)) would give it back
        return value
    try:
        text = str(value).strip()
        return int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        return None


def _parse_time(text: str | None) -> datetime | None:
    """ISO text of either engine (``2016-06-29T15:24:34.346000Z``, ``2016-06-29 15:25:08.821999+00:00``)."""
    if not text:
        return None
    if text.__class__ is str and len(text) == 27 and text[26] == "Z" and text[10] == "T":
        # The Rust engine's form (2016-06-29T15:24:34.346000Z): UTC already, read without the zone
        try:
            value = datetime.fromisoformat(text[:26])
        except ValueError:
            pass
        else:
            if value.tzinfo is None:
                return value
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


#: A batch is handed on when it holds this many candidate events or this many records were read:
#: extraction and hashing have a fixed cost per batch, and drops are a few percent of a log.
BATCH_EVENTS = 16_384
BATCH_RECORDS = 250_000

# What a scan of records reports, besides the records it passes over: (seen, kind, a, b), ``seen`` being
# the records counted so far (past ``skip_through``), the reported one included.
EVENT = 0  # a: the candidate event
UNDECODABLE = 1  # a: location, b: reason (a candidate whose JSON could not be decoded)
READ_ERROR = 2  # a: the engine's message, b: the last record read before it (None: none in this scan)
END = 3  # a: the last record read (None: none), the scan's last item
_CHUNK_NUMBER = re.compile(r"chunk number (\d+)")


def scan_records(records: Iterator[Any], skip_through: int | None = None, chunk_base: int = 0) -> Iterator[tuple]:
    """The candidate events, undecodable candidates and read errors of a ``records_json()`` iterator, in order.

    Records numbered up to ``skip_through`` (already stored) are passed over undecoded and uncounted.
    ``chunk_base`` is added to the chunk numbers the engine names in its messages: the chunks it
    reads are those of a file from that chunk on (see :mod:`.evtx_workers`).

    A record that fails to parse raises on ``next()``; iterating again goes on with the next
    record.  The loops below only filter (their ``break`` is a candidate, decoded outside them),
    so every ``RuntimeError`` caught is the engine's.
    """
    seen = 0
    record = None  # the last record read: its number locates a read error
    text = ""
    # A record's text up to its first "EventID": the records of one provider share it, and a text that
    # starts with it has its first "EventID" at the same place (a JSON text never starts with NUL).
    prefix, after = "\x00", 0
    classic = _JSON_CANDIDATE.search
    find_id, window, digits, ends = '"EventID":', _SEARCH_WINDOW, _CANDIDATE_TEXT, (",", "}")
    while True:
        try:
            # The cheapest test that can tell: find the EventID (where the last record had it, if the text
            # is the same up to there), compare its 4 digits; the classic form
            # {"#attributes":{"Qualifiers":..},"#text":4290} is left to the regex.
            # Two copies of one loop on purpose: this is the hottest loop of an EVTX ingest, and the usual
            # read (no record stored yet) should not pay the record-number test on every record.
            if skip_through is None:
                for seen, record in enumerate(records, seen + 1):  # noqa: B007, B020 - both outlive the loop
                    text = record["data"]
                    if text.startswith(prefix):
                        at = after
                    else:
                        at = text.find(find_id, 0, window) + 10
                        if at < 10:
                            continue
                        prefix, after = text[:at], at
                    if text[at : at + 4] in digits:
                        if text[at + 4 : at + 5] in ends:
                            break
                    elif text[at : at + 1] == "{" and classic(text, at - 10, at + 160) is not None:
                        break
                else:
                    break
            else:
                for record in records:  # noqa: B007
                    number = record["event_record_id"]
                    if number is not None and number <= skip_through:
                        continue
                    seen += 1
                    text = record["data"]
                    if text.startswith(prefix):
                        at = after
                    else:
                        at = text.find(find_id, 0, window) + 10
                        if at < 10:
                            continue
                        prefix, after = text[:at], at
                    if text[at : at + 4] in digits:
                        if text[at + 4 : at + 5] in ends:
                            break
                    elif text[at : at + 1] == "{" and classic(text, at - 10, at + 160) is not None:
                        break
                else:
                    break
        except RuntimeError as exc:  # a damaged record or chunk: report it, go on with the next one
            message = str(exc)
            if chunk_base:
                message = _CHUNK_NUMBER.sub(lambda m: f"chunk number {int(m.group(1)) + chunk_base}", message)
            yield seen, READ_ERROR, message, None if record is None else record["event_record_id"]
            continue
        assert record is not None
        last_id = record["event_record_id"]
        try:
            event = _from_json(decode_json(text))
            event.header_record = last_id
            if event.time_created is None:
                event.written = _parse_time(str(record.get("timestamp", "")).replace(" UTC", ""))
        except (ValueError, TypeError, AttributeError) as exc:
            yield seen, UNDECODABLE, f"record {last_id}", f"undecodable record: {exc}"
            continue
        yield seen, EVENT, event, None
    yield seen, END, None if record is None else record["event_record_id"], None


def batches_of(items: Iterator[tuple], issues: IssueLog, size: int, listed: int) -> Iterator[EvtxBatch]:
    """The batches of a scan (:func:`scan_records`, or the scans of a file's pieces joined in file order).

    Read errors and undecodable records are logged where they occur; a batch ends after the candidate
    that makes it hold :data:`BATCH_EVENTS` events or :data:`BATCH_RECORDS` records.
    """
    events: list[EvtxEvent] = []
    total = 0  # records in the batches handed on
    seen = 0
    for seen, kind, a, b in items:
        if kind == EVENT:
            events.append(a)
        elif kind == READ_ERROR:
            _log_error(issues, a, b)
            continue
        elif kind == UNDECODABLE:
            issues.add(a, "read-error", b)
        else:
            break
        if seen - total >= BATCH_RECORDS or len(events) >= BATCH_EVENTS:
            batch = seen - total
            total = seen
            yield EvtxBatch(events, batch, min(size, size * total // listed))
            events = []
    yield EvtxBatch(events, seen - total, size)


def read_evtx_rust(
    path: str | os.PathLike[str], issues: IssueLog, skip_through: int | None = None, *,
    workers: int | None = None, min_bytes: int | None = None, piece_chunks: int | None = None,
) -> Iterator[EvtxBatch]:
    """Candidate events of ``path`` with the Rust engine; errors are logged and skipped.

    Records numbered up to ``skip_through`` (already stored) are passed over undecoded and uncounted.
    A file of ``min_bytes`` or more is read by ``workers`` processes, ``piece_chunks`` chunks at a time
    (defaults: :func:`.evtx_workers.settings`); the batches, counts and issues are those of one process.
    """
    size = os.path.getsize(path)
    listed = max(expected_records(path), 1)
    parser = _rust_parser(path)
    from .evtx_workers import pieces_of, settings

    workers, min_bytes, piece_chunks = settings(workers, min_bytes, piece_chunks)
    pieces = pieces_of(path, size, piece_chunks) if workers > 1 and size >= min_bytes else []
    if len(pieces) < 2:
        yield from batches_of(scan_records(parser.records_json(), skip_through), issues, size, listed)
        return
    del parser
    from .evtx_workers import scan_in_workers

    yield from batches_of(scan_in_workers(path, pieces, skip_through, workers), issues, size, listed)


def _log_error(issues: IssueLog, message: str, last_id: int | None) -> None:
    where = _ERROR_WHERE.search(message)
    location = f"{where.group(1)} {where.group(2)}" if where else "record ?"
    if last_id is not None:
        location += f" (after record {last_id})"
    issues.add(location, "read-error", message.split("\n")[0][:300])


# -- python-evtx -------------------------------------------------------------------------------

_XML_PROVIDER = re.compile(r'<Provider Name="([^"]*)"')
_XML_EVENT_ID = re.compile(r"<EventID[^>]*>(\d+)</EventID>")
_XML_RECORD_ID = re.compile(r"<EventRecordID>(\d+)</EventRecordID>")
_XML_CHANNEL = re.compile(r"<Channel>([^<]*)</Channel>")
_XML_COMPUTER = re.compile(r"<Computer>([^<]*)</Computer>")
_XML_TIME = re.compile(r'<TimeCreated SystemTime="([^"]*)"')
_XML_NAMED = re.compile(r'<Data Name="([^"]*)">([^<]*)</Data>|<Data Name="([^"]*)"></Data>|<Data Name="([^"]*)"/>')
_XML_STRING_ITEM = re.compile(r"<string>(.*?)</string>", re.S)
_XML_UNNAMED = re.compile(r"<Data>([^<]*)</Data>|<Data></Data>|<Data/>")


def _from_xml(xml: str) -> EvtxEvent:
    def first(pattern: re.Pattern, default=None):
        m = pattern.search(xml)
        return html.unescape(m.group(1)) if m else default

    body = xml.split("<EventData>", 1)[1].split("</EventData>", 1)[0] if "<EventData>" in xml else ""
    values: list[str] | dict[str, str]
    if 'Data Name="' in body:
        values = {}
        for m in _XML_NAMED.finditer(body):
            name = m.group(1) or m.group(3) or m.group(4)
            values[html.unescape(name)] = html.unescape(m.group(2) or "")
    else:
        values = []
        for m in _XML_UNNAMED.finditer(body):
            value = html.unescape(m.group(1) or "")
            # python-evtx renders a string array as one <Data> of <string>..</string> lines
            values.extend(_XML_STRING_ITEM.findall(value) if "<string>" in value else [value])
    return EvtxEvent(
        record_id=_int(first(_XML_RECORD_ID)),
        event_id=_int(first(_XML_EVENT_ID)),
        provider=first(_XML_PROVIDER),
        channel=first(_XML_CHANNEL),
        computer=first(_XML_COMPUTER),
        time_created=_parse_time(first(_XML_TIME)),
        data=values,
    )


def _exact_filetime(qword: int) -> datetime:
    """FILETIME -> aware UTC datetime without going through a float (python-evtx's own loses 1-2 µs).

    Same contract as python-evtx's ``parse_filetime`` (which it replaces): 0 and out-of-range
    values give ``datetime.min``.
    """
    if qword == 0:
        return datetime.min
    try:
        return datetime(1601, 1, 1, tzinfo=UTC) + timedelta(microseconds=qword // 10)
    except OverflowError:
        return datetime.min


def _may_be_candidate(record) -> bool:
    """Whether any 16-bit substitution value of the record is a drop event ID (the EventID is one).

    Reading the substitution values costs a fraction of rendering the XML; a
    record whose values cannot be read is rendered, so its error is reported.
    """
    from Evtx.Nodes import UnsignedWordTypeNode

    try:
        for value in record.root().substitutions():
            if isinstance(value, UnsignedWordTypeNode) and int(value.string()) in CANDIDATE_IDS:
                return True
        return False
    except Exception:  # noqa: BLE001 - let xml() report it
        return True


def read_evtx_python(
    path: str | os.PathLike[str], issues: IssueLog, batch_size: int = 256, skip_through: int | None = None
) -> Iterator[EvtxBatch]:
    """Candidate events of ``path`` with python-evtx, chunk by chunk, record by record.

    Batches are small (``batch_size`` records): at a few hundred records a second, the
    progress bar needs frequent news.
    """
    import Evtx.BinaryParser as binary_parser
    from Evtx.Evtx import Evtx

    binary_parser.parse_filetime = _exact_filetime  # exact timestamps, same as the Rust engine
    # python-evtx logs "Unexpected token encountered" on damaged BinXML; with no handler Python would print it
    # to the user's terminal, once per record.  The damage is reported as this file's read errors instead.
    logger = logging.getLogger("Evtx.Evtx")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
    check_header(path)
    size = os.path.getsize(path)
    listed = max(expected_records(path), 1)
    total = 0
    events: list[EvtxEvent] = []
    seen = 0
    with Evtx(str(path)) as log:
        header = log.get_file_header()
        chunks = header.chunks()
        chunk_no = -1
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            except Exception as exc:  # noqa: BLE001 - python-evtx raises many kinds on damage
                issues.add(f"chunk {chunk_no + 1}", "read-error", f"unreadable chunk: {type(exc).__name__}: {exc}")
                break
            chunk_no += 1
            records = chunk.records()
            last = None
            while True:
                try:
                    record = next(records)
                except StopIteration:
                    break
                except Exception as exc:  # noqa: BLE001
                    issues.add(f"chunk {chunk_no} (after record {last})", "read-error",
                               f"rest of chunk unreadable: {type(exc).__name__}: {exc}")
                    break
                try:
                    last = record.record_num()
                    if skip_through is not None and last <= skip_through:
                        continue
                    if not _may_be_candidate(record):  # filter before rendering: ~40x cheaper than xml()
                        seen += 1
                        if seen >= batch_size:
                            total += seen
                            yield EvtxBatch(events, seen, min(size, size * total // listed))
                            events, seen = [], 0
                        continue
                    xml = record.xml()
                except Exception as exc:  # noqa: BLE001
                    issues.add(f"chunk {chunk_no} record {last}", "read-error",
                               f"undecodable record: {type(exc).__name__}: {exc}")
                    continue
                seen += 1
                if _XML_CANDIDATE.search(xml, 0, _SEARCH_WINDOW * 2) is not None:
                    event = _from_xml(xml)
                    event.header_record = last
                    if event.time_created is None:
                        event.written = _safe_timestamp(record)
                    events.append(event)
                if seen >= batch_size:
                    total += seen
                    yield EvtxBatch(events, seen, min(size, size * total // listed))
                    events, seen = [], 0
    yield EvtxBatch(events, seen, size)


def _safe_timestamp(record) -> datetime | None:
    try:
        return record.timestamp()
    except Exception:  # noqa: BLE001
        return None


def peek_identity(path: str | os.PathLike[str]) -> EvtxEvent | None:
    """The first readable record, fully decoded: which host and channel the file holds.

    :class:`EvtxUnreadable` when the file cannot be opened as EVTX (its header is cut, say).
    """
    records = _rust_parser(path).records_json()
    for _ in range(64):
        try:
            record = next(records)
            event = _from_json(decode_json(record["data"]))
            event.header_record = record["event_record_id"]
            return event
        except StopIteration:
            return None
        except (RuntimeError, ValueError):
            continue
    return None


def expected_records(path: str | os.PathLike[str]) -> int:
    """Records the chunk headers claim (valid chunks only): what a complete read should see."""
    total = 0
    with open(path, "rb", buffering=0) as fh:  # unbuffered: a 40-byte read per chunk, not 8 KiB
        fh.seek(4096)
        while True:
            head = fh.read(40)
            if len(head) < 40:
                break
            if head[:8] == b"ElfChnk\x00":
                first, last = int.from_bytes(head[24:32], "little"), int.from_bytes(head[32:40], "little")
                if 0 < last - first + 1 < 65536:
                    total += last - first + 1
            fh.seek(65536 - 40, os.SEEK_CUR)
    return total


def read_evtx(
    path: str | os.PathLike[str], issues: IssueLog, engine: str = "evtx", skip_through: int | None = None
) -> Iterator[EvtxBatch]:
    """Candidate drop events of an EVTX file, read with ``engine`` (``evtx`` or ``python-evtx``)."""
    if engine == "evtx":
        return read_evtx_rust(path, issues, skip_through=skip_through)
    if engine == "python-evtx":
        return read_evtx_python(path, issues, skip_through=skip_through)
    raise ValueError(f"unknown EVTX engine {engine!r}; choose one of {', '.join(ENGINES)}")
