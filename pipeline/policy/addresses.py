"""Filter addresses: what netsh accepts as ``srcaddr``/``dstaddr``/masks, and what they mean on a host.

Syntax (netsh-ipsec.md §1.3): ``me``, ``any``, a server type (``DNS``,
``WINS``, ``DHCP``, ``GATEWAY``), an IPv4 or IPv6 address, a range
``lo-hi`` (newer netsh help only; accepted, as scripts may use it), or a DNS
name.  A ``/prefix`` written into the address (``10.1.0.0/24``) is not in any
documentation but admins write it; it is accepted as address plus mask with a
warning.  A value holding ``%`` is a batch variable that was not expanded.
Masks are dotted (``255.255.255.0``) or prefix lengths (``24``).

Meaning (§2.4), from the host's entry in ``ipsec-drops.toml``: ``me`` = the
host's ``addresses``; a server type = the configured servers of that type;
``any`` = every address (of the family of the other end; ``any``<->``any`` is
IPv4, the only family the Windows Server 2003 IPSec driver filters); a DNS
name = the addresses the config's ``[names]`` table gives it (netsh resolves
names once, when the filter is created: nothing is ever looked up live here).
What cannot be resolved is reported and the filter kept, unresolved.

Numbers.  An address is ``int(ipaddress.ip_address(text))``: IPv4 as a plain
32-bit number, IPv6 as a 128-bit number, told apart by a ``family`` column
(4 or 6).  In the Parquet tables each bound is a struct of two unsigned 64-bit
halves ``{hi, lo}``: Parquet and Arrow have no 128-bit integer, DuckDB's
DECIMAL stops at 38 digits (2^128 needs 39), and DuckDB orders structs field by
field, so ``ip BETWEEN src_lo AND src_hi`` works on the struct as it is, and
``(src_lo.hi::UHUGEINT << 64) + src_lo.lo`` gives a UHUGEINT when wanted.  For
IPv4 ``hi`` is always 0 and ``lo`` is the familiar 32-bit number.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from ..config import HostConfig
from .model import ANY, ME, SERVER_TYPES, Address

V4_MAX = (1 << 32) - 1
V6_MAX = (1 << 128) - 1
HALF = (1 << 64) - 1

_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}\.?$){_LABEL}(?:\.{_LABEL})*\.?$")
_NUMERIC = re.compile(r"^[0-9.]+$")


def parse_address(text: str) -> tuple[Address, int | None, str | None]:
    """Parse an address value: (address, prefix written into it or None, warning or None).

    Raises ValueError for a value netsh cannot take (a malformed IP address, a
    backwards range, a range across IPv4 and IPv6).
    """
    raw = text.strip()
    low = raw.lower()
    if low == "me":
        return ME, None, None
    if low == "any":
        return ANY, None, None
    if raw.upper() in SERVER_TYPES:
        return Address("server", raw.upper()), None, None
    if "%" in raw:
        return Address("variable", raw), None, None  # reported where it was left unexpanded, and on resolution
    if "/" in raw:
        addr, _, prefix = raw.partition("/")
        ip = _ip(addr)
        if not (prefix.isascii() and prefix.isdigit()) or len(prefix) > 3 or int(prefix) > ip.max_prefixlen:
            raise ValueError(f"{raw!r}: {prefix!r} is not a prefix length for an IPv{ip.version} address")
        return (Address("ip", str(ip)), int(prefix),
                f"{raw!r}: netsh takes the mask in srcmask/dstmask; read as address {ip} with mask /{prefix}")
    if "-" in raw:
        lo_text, _, hi_text = raw.partition("-")
        if _looks_like_ip(lo_text) and _looks_like_ip(hi_text):
            lo, hi = _ip(lo_text), _ip(hi_text)
            if lo.version != hi.version:
                raise ValueError(f"{raw!r}: both ends of a range must be IPv4 or both IPv6")
            if int(lo) > int(hi):
                raise ValueError(f"{raw!r}: the range runs backwards")
            return Address("range", f"{lo}-{hi}"), None, None
    try:
        return Address("ip", str(ipaddress.ip_address(raw))), None, None
    except ValueError:
        pass
    if _NUMERIC.match(raw) or ":" in raw:
        raise ValueError(f"{raw!r} is not a valid IP address")
    if not _HOSTNAME.match(raw):
        raise ValueError(f"{raw!r} is not an IP address, range, server type, me, any or DNS name")
    return Address("dns", low.rstrip(".")), None, None


def _looks_like_ip(text: str) -> bool:
    text = text.strip()
    return bool(text) and (bool(_NUMERIC.match(text)) or ":" in text)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a valid IP address") from None


def parse_mask(text: str) -> int:
    """A mask as a prefix length: ``24``, ``255.255.255.0`` or an IPv6 mask; non-contiguous masks are refused."""
    raw = text.strip()
    if raw.isascii() and raw.isdigit():
        value = int(raw) if len(raw) <= 3 else 129
        if value > 128:
            raise ValueError(f"mask {raw!r}: a prefix length is at most 32 (IPv4) or 128 (IPv6)")
        return value
    try:
        mask = ipaddress.ip_address(raw)
    except ValueError:
        raise ValueError(f"mask {raw!r} is neither a prefix length nor a dotted mask") from None
    bits = int(mask)
    width = mask.max_prefixlen
    ones = bin(bits).count("1")
    if bits != ((1 << ones) - 1) << (width - ones):
        raise ValueError(f"mask {raw!r} is not contiguous (netsh masks are a run of leading ones)")
    return ones


def address_family(addr: Address) -> int | None:
    """4 or 6 for an address written as IP or range, else None (me, any, servers, names: known on resolution)."""
    if addr.kind == "ip":
        return ipaddress.ip_address(addr.value).version
    if addr.kind == "range":
        return ipaddress.ip_address(addr.value.partition("-")[0]).version
    return None


#: Not the Internet: private (RFC 1918, ULA), shared (RFC 6598), loopback and link-local.  The
#: documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) stand for public addresses
#: in examples, so they count as public (Python's ``is_private`` calls them private).
INTERNAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "fc00::/7", "fe80::/10", "::1/128"))


def is_internal(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """An address of :data:`INTERNAL_NETWORKS` (anything else is public)."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    return any(ip.version == net.version and ip in net for net in INTERNAL_NETWORKS)


def max_bits(family: int) -> int:
    return 32 if family == 4 else 128


# --- specificity ---------------------------------------------------------------------------------------

def spec_bits(addr: Address, mask: int | None) -> int:
    """How specific one end is, in mask bits on a 0..128 scale (IPv4 bits + 96; ``any`` and /0 are 0).

    ``me``, server types and DNS names stand for single addresses (128).  A
    range ``lo-hi`` counts as the prefix of the smallest power-of-two block
    that holds as many addresses: an assumption, as netsh's own handling of
    ranges is undocumented.
    """
    if addr.kind == "any":
        return 0
    if addr.kind in ("me", "server", "dns", "variable"):
        return 128
    family = address_family(addr)
    width = max_bits(family or 4)
    if addr.kind == "range":
        lo, hi = (int(ipaddress.ip_address(p)) for p in addr.value.split("-"))
        bits = width - (hi - lo).bit_length()
    else:
        bits = width if mask is None else min(mask, width)
    if bits == 0:
        return 0
    return bits + (128 - width)


def address_class(bits: int) -> str:
    """``single`` (all bits), ``any`` (none) or ``range`` (anything between), the classes of netsh-ipsec.md §2.2."""
    return "single" if bits == 128 else "any" if bits == 0 else "range"


# --- resolution ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Resolved:
    """What one end of a filter means on a host: (family, lo, hi) ranges, or why it could not be resolved."""

    ranges: tuple[tuple[int, int, int], ...] = ()
    problem: str | None = None
    is_any: bool = False


ANY_RESOLVED = Resolved(ranges=((4, 0, V4_MAX), (6, 0, V6_MAX)), is_any=True)


def resolve(addr: Address, mask: int | None, host: HostConfig | None,
            names: dict[str, tuple[str, ...]]) -> Resolved:
    """Resolve one end of a filter on ``host`` with the config's ``[names]``."""
    if addr.kind == "any":
        return ANY_RESOLVED
    if addr.kind == "me":
        if host is None:
            return Resolved(problem="'me' needs a host (--host) to know its addresses")
        if not host.addresses:
            return Resolved(problem=f"host {host.name} has no addresses in the config: 'me' is unknown")
        return _singles(host.addresses)
    if addr.kind == "server":
        if host is None:
            return Resolved(problem=f"server type {addr.value} needs a host (--host) to know its servers")
        servers = getattr(host, addr.value.lower())
        if not servers:
            return Resolved(problem=f"host {host.name} has no {addr.value.lower()} servers in the config "
                                    f"(set [hosts.{host.name}] {addr.value.lower()} = [...])")
        return _singles(servers)
    if addr.kind == "dns":
        found = names.get(addr.value)
        if not found:
            return Resolved(problem=f"DNS name {addr.value} is not in the config's [names] table "
                                    "(names are never looked up live)")
        return _singles(found)
    if addr.kind == "variable":
        return Resolved(problem=f"{addr.value} is an unexpanded batch variable (give it with --define)")
    if addr.kind == "range":
        lo, hi = (ipaddress.ip_address(p) for p in addr.value.split("-"))
        return Resolved(ranges=((lo.version, int(lo), int(hi)),))
    ip = ipaddress.ip_address(addr.value)
    prefix = ip.max_prefixlen if mask is None else mask
    if prefix > ip.max_prefixlen:
        return Resolved(problem=f"mask /{prefix} is too long for IPv{ip.version} address {ip}")
    net = ipaddress.ip_network(f"{ip}/{prefix}", strict=False)
    return Resolved(ranges=((ip.version, int(net.network_address), int(net.broadcast_address)),))


def _singles(addresses: tuple[str, ...]) -> Resolved:
    seen: list[tuple[int, int, int]] = []
    for text in addresses:
        ip = ipaddress.ip_address(text)
        item = (ip.version, int(ip), int(ip))
        if item not in seen:
            seen.append(item)
    return Resolved(ranges=tuple(seen))


def pair_ranges(src: Resolved, dst: Resolved) -> list[tuple[int, tuple[int, int], tuple[int, int]]]:
    """(family, src range, dst range) for every pair of the same family; ``any``<->``any`` is IPv4 only."""
    if src.is_any and dst.is_any:
        return [(4, (0, V4_MAX), (0, V4_MAX))]
    return [(f1, (lo1, hi1), (lo2, hi2)) for f1, lo1, hi1 in src.ranges for f2, lo2, hi2 in dst.ranges if f1 == f2]


# --- numbers as text and as Parquet halves ----------------------------------------------------------------

def ip_text(family: int, value: int) -> str:
    return str(ipaddress.IPv4Address(value) if family == 4 else ipaddress.IPv6Address(value))


def range_text(family: int, lo: int, hi: int) -> str:
    """``10.1.0.0/24`` when the range is a network, ``10.1.0.10`` when single, else ``lo-hi``."""
    if lo == hi:
        return ip_text(family, lo)
    width = max_bits(family)
    size = hi - lo + 1
    if size & (size - 1) == 0 and lo % size == 0:
        return f"{ip_text(family, lo)}/{width - size.bit_length() + 1}"
    return f"{ip_text(family, lo)}-{ip_text(family, hi)}"


def halves(value: int | None) -> dict[str, int] | None:
    """A 128-bit number as the ``{hi, lo}`` struct of the Parquet tables."""
    return None if value is None else {"hi": value >> 64, "lo": value & HALF}


def ip_number(text: str) -> tuple[int, int]:
    """(family, number) of an address as the drops table writes it: what joins against the filter ranges."""
    ip = ipaddress.ip_address(text)
    return ip.version, int(ip)
