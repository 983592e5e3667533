"""Times as people write them on a command line: ``--since 7d``, ``--until "2026-11-11 08:00"``, ``yesterday``.

The forms (``git log --since`` and Log Parser users write all of them):

* ISO 8601 with ``Z`` or an offset: ``2026-11-11T15:10:00Z``, ``2026-11-11T16:10+01:00``;
* a date, ``2026-11-11``: its midnight;
* a local date and time, ``2026-11-11 08:00`` or ``2026-11-11T08:00:30``: in ``zone``;
* relative to now: ``90s``, ``30m``, ``24h``, ``7d``, ``2w`` (that long before now), ``now``;
* ``today``, ``yesterday``: that day's midnight.

Dates, local times, ``today`` and ``yesterday`` are read in ``zone`` (``--tz``, else the
``--host``'s configured zone, else UTC): that is the day the admin means.  Every result is
an aware UTC :class:`~datetime.datetime`; ``--until`` is exclusive.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from .zones import iana_zone

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|m|min|mins|h|hr|hrs|hours?|d|days?|w|weeks?)\s*$", re.I)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
EXAMPLES = "2026-11-11, '2026-11-11 08:00', 2026-11-11T15:10:00Z, 24h, 7d, yesterday, today"


class TimeSpecError(ValueError):
    """A time the command line could not read."""


def zone_named(name: str | None) -> tzinfo:
    """The zone of an IANA or Windows zone name (:mod:`pipeline.zones`); UTC for None."""
    if not name:
        return UTC
    try:
        return ZoneInfo(iana_zone(name))
    except LookupError as exc:
        raise TimeSpecError(str(exc)) from exc


def parse_instant(text: str | datetime | None, zone: tzinfo | None = None, *, now: datetime | None = None
                  ) -> datetime | None:
    """``text`` as an aware UTC datetime (see the module docstring); None stays None."""
    if text is None:
        return None
    zone = zone or UTC
    if isinstance(text, datetime):
        value = text if text.tzinfo else text.replace(tzinfo=zone)
        return value.astimezone(UTC)
    raw = text.strip()
    word = raw.lower()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if word == "now":
        return now
    if word in ("today", "yesterday"):
        local = now.astimezone(zone)
        midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
        if word == "yesterday":
            midnight = _local_midnight(midnight.date().toordinal() - 1, zone)
        return midnight.astimezone(UTC)
    m = _RELATIVE.match(raw)
    if m:
        seconds = float(m.group(1)) * _UNITS[m.group(2)[0].lower()]
        return now - timedelta(seconds=seconds)
    iso = raw.replace(" ", "T", 1) if re.match(r"^\d{4}-\d{2}-\d{2} \d", raw) else raw
    if iso.endswith(("Z", "z")):
        iso = iso[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(iso)
    except ValueError:
        raise TimeSpecError(f"cannot read the time {text!r}; write it like one of: {EXAMPLES}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _local_midnight(ordinal: int, zone: tzinfo) -> datetime:
    from datetime import date

    day = date.fromordinal(ordinal)
    return datetime(day.year, day.month, day.day, tzinfo=zone)
