"""Time zone names: IANA (``Europe/Berlin``) or Windows (``W. Europe Standard Time``, what ``tzutil /g`` prints).

Windows admins know their servers' zones by the Windows name.  The mapping to IANA
zones is Unicode CLDR's ``windowsZones.xml`` (each Windows zone's default, territory
``001``), shipped as data in ``pipeline/data/windows_zones.json``; its ``_source`` says
where the table came from.  Windows names match case-insensitively.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@cache
def windows_zones() -> dict[str, str]:
    """Windows zone name (lower case) -> IANA zone name."""
    doc = json.loads(resources.files("pipeline.data").joinpath("windows_zones.json").read_text(encoding="utf-8"))
    return {name.lower(): iana for name, iana in doc["zones"].items()}


def iana_zone(name: str) -> str:
    """The IANA name for ``name`` (an IANA name, or a Windows name); ``LookupError`` when it is neither."""
    text = name.strip()
    mapped = windows_zones().get(text.lower())
    if mapped:
        return mapped
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise LookupError(f"{name!r} is neither an IANA zone name (e.g. 'Europe/Berlin') nor a Windows zone name "
                          "(e.g. 'W. Europe Standard Time', as tzutil /g prints it)") from exc
    return text


def zone(name: str | None) -> ZoneInfo | None:
    """The zone for ``name`` (IANA or Windows), None for None."""
    return ZoneInfo(iana_zone(name)) if name else None
