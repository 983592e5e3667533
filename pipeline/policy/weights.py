"""Filter weights: which filter wins when several match a packet.

Windows IPSec has no administrator-set order: the Policy Agent sorts all
filters of the assigned policy from most to least specific and the first
match decides (netsh-ipsec.md §2.1, verified).  The exact Windows Server 2003
weight formula is not public (§2.3, UNVERIFIED).  The model here follows the
only published ordering, SANS SEC505 ``IPSec_Order_of_Specificity.csv`` (§2.2),
and fills its gaps with stated assumptions.  A weight is one integer; bigger
wins.  From the most significant part down:

1. **tunnel** (1 bit): "Tunnel mode rules have a higher specificity than
   transport mode rules" [S9].  Read as: any tunnel filter outranks any
   transport filter (assumption: the note does not say how it combines).
2. **address class** (4 bits, 8..0): the nine source->destination classes of
   the table, most specific first: single->single, range->single,
   single->range, range->range, any->single, single->any, any->range,
   range->any, any->any.  *single* is a full mask (and ``me``, server types,
   DNS names: they stand for single addresses), *any* a zero mask, *range*
   anything between (and ``lo-hi`` ranges).  The class is taken per direction:
   the reversed copy of a mirrored filter has the reversed class (assumption:
   the table is about a packet's source and destination).
3. **protocol and ports** (3 bits, 4..0): protocol+source port+destination
   port, protocol+destination port, protocol+source port, protocol only,
   nothing — the "same five" steps of every row of the table.
4. **mask bits** (8 + 8 bits): "An address range with more subnet mask bits is
   more specific than another with fewer bits" [S9].  Placed after the
   protocol/port steps because the table lists those steps inside each address
   class (assumption), destination bits before source bits because the table
   ranks a specific destination above a specific source (assumption).  Bits
   are on a 0..128 scale (IPv4 bits + 96) so both families compare.
5. **action** (2 bits): on a tie "the one with the more restrictive
   associated action will take precedence" [S9]: block (2) over negotiate (1)
   over permit (0).

Caveat from §2.2: the SEC505 table is undated and may describe the Vista+
Filtering Platform rather than the Windows Server 2003 driver.
"""

from __future__ import annotations

from dataclasses import dataclass

from .addresses import address_class

#: The SEC505 address classes (source, destination), most specific first.
CLASS_ORDER: tuple[tuple[str, str], ...] = (
    ("single", "single"), ("range", "single"), ("single", "range"), ("range", "range"),
    ("any", "single"), ("single", "any"), ("any", "range"), ("range", "any"), ("any", "any"),
)
ACTION_RANK = {"permit": 0, "negotiate": 1, "block": 2}
ACTION_BY_RANK = {v: k for k, v in ACTION_RANK.items()}


def class_rank(src_bits: int, dst_bits: int) -> int:
    """1 (single->single) .. 9 (any->any): the row of the SEC505 table."""
    return CLASS_ORDER.index((address_class(src_bits), address_class(dst_bits))) + 1


def port_level(protocol: int | None, src_port: int | None, dst_port: int | None) -> int:
    """4 protocol+both ports, 3 protocol+destination port, 2 protocol+source port, 1 protocol, 0 nothing.

    Ports without a protocol (which netsh may refuse) count as if TCP/UDP were given.
    """
    if protocol is None and src_port is None and dst_port is None:
        return 0
    return 1 + (2 if dst_port is not None else 0) + (1 if src_port is not None else 0)


@dataclass(frozen=True)
class Weight:
    """The parts of a weight, most significant first."""

    tunnel: bool
    class_rank: int
    port_level: int
    dst_bits: int
    src_bits: int
    action: str

    @property
    def value(self) -> int:
        w = int(self.tunnel)
        w = (w << 4) | (9 - self.class_rank)
        w = (w << 3) | self.port_level
        w = (w << 8) | self.dst_bits
        w = (w << 8) | self.src_bits
        return (w << 2) | ACTION_RANK[self.action]

    @classmethod
    def decode(cls, value: int) -> Weight:
        action = ACTION_BY_RANK[value & 3]
        value >>= 2
        src_bits = value & 0xFF
        value >>= 8
        dst_bits = value & 0xFF
        value >>= 8
        level = value & 7
        value >>= 3
        rank = 9 - (value & 0xF)
        return cls(bool(value >> 4), rank, level, dst_bits, src_bits, action)

    def __str__(self) -> str:
        src, dst = CLASS_ORDER[self.class_rank - 1]
        parts = [f"{src}->{dst}", ("any protocol", "protocol", "protocol+srcport", "protocol+dstport",
                                   "protocol+both ports")[self.port_level],
                 f"dst {self.dst_bits} bits, src {self.src_bits} bits", self.action]
        return ("tunnel, " if self.tunnel else "") + ", ".join(parts)


def weight(src_bits: int, dst_bits: int, protocol: int | None, src_port: int | None, dst_port: int | None,
           action: str, tunnel: bool = False) -> Weight:
    """The weight of one direction of a filter (bits on the 0..128 scale of :func:`addresses.spec_bits`)."""
    return Weight(tunnel, class_rank(src_bits, dst_bits), port_level(protocol, src_port, dst_port),
                  dst_bits, src_bits, action)
