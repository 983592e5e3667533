"""The 15 fields of Log Parser's EVT input format and how each is written out.

Log Parser output does not quote values by default, so a line of
``SELECT * FROM System`` output is only splittable by knowing which fields
can contain spaces.  The types below (log-formats.md §4.1) drive both the
W3C line pattern and the CSV column handling.
"""

from __future__ import annotations

INTEGER = "integer"
TIMESTAMP = "timestamp"
TOKEN = "token"  # a string that never contains a space
TEXT = "text"  # a string that may contain spaces

EVT_FIELDS: dict[str, str] = {
    "EventLog": TEXT,  # a backup file path may contain spaces
    "RecordNumber": INTEGER,
    "TimeGenerated": TIMESTAMP,
    "TimeWritten": TIMESTAMP,
    "EventID": INTEGER,
    "EventType": INTEGER,
    "EventTypeName": TEXT,
    "EventCategory": INTEGER,
    "EventCategoryName": TEXT,
    "SourceName": TEXT,
    "Strings": TEXT,
    "ComputerName": TOKEN,
    "SID": TOKEN,
    "Message": TEXT,
    "Data": TOKEN,
}

_CANONICAL = {name.lower(): name for name in EVT_FIELDS}


def canonical_field(name: str) -> str:
    """``eventid`` -> ``EventID``; names Log Parser does not define are kept as written."""
    return _CANONICAL.get(name.strip().lower(), name.strip())


def field_type(name: str) -> str:
    return EVT_FIELDS.get(name, TEXT)
