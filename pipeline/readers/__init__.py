"""Readers: one module per input format, each streaming Arrow batches and logging what it skips.

:func:`detect_format` looks at the first bytes of a file and names its format,
so a folder of mixed exports can be ingested in one command.
"""

from __future__ import annotations

import os

from .evt_fields import EVT_FIELDS, canonical_field

EVTX_MAGIC = b"ElfFile\x00"


def detect_format(path: str | os.PathLike[str]) -> str | None:
    """``logparser-w3c``, ``logparser-csv``, ``pfirewall``, ``evtx``, ``iis-w3c``, or None when unrecognised."""
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic == EVTX_MAGIC:
        return "evtx"
    from .textfile import file_head_lines  # Arrow: not imported by an EVTX worker process (readers.evtx_workers)

    try:
        lines = file_head_lines(path, 32)
    except OSError:
        return None
    for line in lines:
        text = line.strip().strip("\x00")
        low = text.lower()
        if not text:
            continue
        if low.startswith("#software:"):
            if "firewall" in low:
                return "pfirewall"
            if "log parser" in low:
                return "logparser-w3c"
            if "internet information services" in low:
                return "iis-w3c"
        if low.startswith("#fields:"):
            names = text.split(":", 1)[1].split()
            if {"action", "src-ip"} <= {n.lower() for n in names}:
                return "pfirewall"
            if any(canonical_field(n) in EVT_FIELDS for n in names):
                return "logparser-w3c"
            if "c-ip" in {n.lower() for n in names} and {"cs-method", "s-ip", "s-port"} & {n.lower() for n in names}:
                return "iis-w3c"
        if text.startswith("#"):
            continue
        header = {canonical_field(n.strip().strip('"')) for n in text.split(",")}
        if "," in text and ("EventID" in header or "TimeGenerated" in header):
            return "logparser-csv"
        return None
    return None


__all__ = ["detect_format"]
