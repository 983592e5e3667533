"""Synthetic Windows Firewall / Internet Connection Firewall logs (``pfirewall.log``).

Why: the pfirewall reader must handle the three header variants that exist in the wild
(log-formats.md §3) and the ``-`` placeholders, and we have no real files of the site.

Facts used (§3): a W3C-style header (``#Version``, ``#Software``, ``#Time Format: Local``,
``#Fields``) followed by a blank line; space-separated values; ``-`` when there is no
value; date ``YYYY-MM-DD`` and time ``HH:MM:SS`` in 24 h LOCAL time (no zone anywhere in
the file); ports are ``-`` for ICMP, whose type/code go in ``icmptype``/``icmpcode``.

Variants written by :class:`PfirewallWriter`:

* ``"xpsp2"``: Windows Firewall (XP SP2 / Server 2003 SP1), ``#Version: 1.5``, fields end
  with ``path``.
* ``"with-pid"``: newer Windows, same header plus a trailing ``pid`` field.
* ``"icf"``: pre-SP2 Internet Connection Firewall: ``#Verson: 1.0`` (sic, the typo is
  real), ``#Software: Microsoft Internet Connection Firewall``, no ``path`` field.

Choice (UNVERIFIED for ICF): all three variants write the blank line after the header.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Literal

__all__ = ["PFIREWALL_FIELDS", "FirewallLine", "PfirewallWriter"]

_BASE_FIELDS = [
    "date",
    "time",
    "action",
    "protocol",
    "src-ip",
    "dst-ip",
    "src-port",
    "dst-port",
    "size",
    "tcpflags",
    "tcpsyn",
    "tcpack",
    "tcpwin",
    "icmptype",
    "icmpcode",
    "info",
]

#: ``#Fields`` of each variant.
PFIREWALL_FIELDS: dict[str, tuple[str, ...]] = {
    "xpsp2": (*_BASE_FIELDS, "path"),
    "with-pid": (*_BASE_FIELDS, "path", "pid"),
    "icf": tuple(_BASE_FIELDS),
}

_HEADERS = {
    "xpsp2": ("#Version: 1.5", "#Software: Microsoft Windows Firewall"),
    "with-pid": ("#Version: 1.5", "#Software: Microsoft Windows Firewall"),
    "icf": ("#Verson: 1.0", "#Software: Microsoft Internet Connection Firewall"),
}

PfirewallVariant = Literal["xpsp2", "with-pid", "icf"]


@dataclass(slots=True)
class FirewallLine:
    """One pfirewall.log line.  ``None`` is written as ``-``.

    ``when`` is the naive LOCAL date and time of the logging machine.  ``protocol`` is
    text as logged: ``TCP``/``UDP``/``ICMP`` or a protocol number.  ``action`` is one of
    ``OPEN``, ``OPEN-INBOUND``, ``CLOSE``, ``DROP``, ``ALLOW``, ``INFO-EVENTS-LOST``.
    ``path`` (``RECEIVE``/``SEND``) and ``pid`` are dropped by variants without them.
    """

    when: datetime
    action: str
    protocol: str
    src_ip: str | None
    dst_ip: str | None
    src_port: int | None
    dst_port: int | None
    size: int | None = None
    tcpflags: str | None = None
    tcpsyn: int | None = None
    tcpack: int | None = None
    tcpwin: int | None = None
    icmptype: int | None = None
    icmpcode: int | None = None
    info: str | None = None
    path: str | None = None
    pid: int | None = None


def _text(v: object) -> str:
    return "-" if v is None or v == "" else str(v)


class PfirewallWriter:
    """Stream :class:`FirewallLine` objects as a pfirewall.log of the given ``variant``.

    Writes the header on construction, then one line per :meth:`write`, CRLF line ends
    (open the file with ``newline=""``).
    """

    def __init__(self, fileobj: IO[str], variant: PfirewallVariant = "xpsp2") -> None:
        if variant not in PFIREWALL_FIELDS:
            raise ValueError(f"variant must be one of {tuple(PFIREWALL_FIELDS)}, not {variant!r}")
        self._f = fileobj
        self.variant = variant
        self.fields = PFIREWALL_FIELDS[variant]
        version, software = _HEADERS[variant]
        fileobj.write(
            f"{version}\r\n{software}\r\n#Time Format: Local\r\n#Fields: {' '.join(self.fields)}\r\n\r\n"
        )
        self._with_path = "path" in self.fields
        self._with_pid = "pid" in self.fields
        self.rows_written = 0

    def format_line(self, line: FirewallLine) -> str:
        """One complete output line, CRLF included."""
        parts = [
            f"{line.when:%Y-%m-%d %H:%M:%S}",
            line.action,
            line.protocol,
            _text(line.src_ip),
            _text(line.dst_ip),
            _text(line.src_port),
            _text(line.dst_port),
            _text(line.size),
            _text(line.tcpflags),
            _text(line.tcpsyn),
            _text(line.tcpack),
            _text(line.tcpwin),
            _text(line.icmptype),
            _text(line.icmpcode),
            _text(line.info),
        ]
        if self._with_path:
            parts.append(_text(line.path))
        if self._with_pid:
            parts.append(_text(line.pid))
        return " ".join(parts) + "\r\n"

    def write(self, line: FirewallLine) -> None:
        """Write one line."""
        self._f.write(self.format_line(line))
        self.rows_written += 1

    def write_many(self, lines: Iterable[FirewallLine]) -> None:
        """Write lines one by one (the iterable is consumed lazily)."""
        for line in lines:
            self.write(line)
