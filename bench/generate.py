#!/usr/bin/env python3
"""Generate large, realistic inputs for the reader/warehouse benchmarks.

Why: the readers must stream multi-gigabyte exports with flat memory, and that can only
be measured on files of that size.  This script writes them fast, streaming, with the
same formatting code as the test fixtures (:mod:`pipeline.synthetic`), so a benchmark
file is byte-for-byte the kind of file the sample site holds, only bigger.

    python bench/generate.py w3c       OUT --lines 2000000 [--mode plain|dquotes|encodedelim]
    python bench/generate.py csv       OUT --lines 2000000
    python bench/generate.py pfirewall OUT --lines 2000000 [--drop-share 0.3]
    python bench/generate.py evtx      OUT --lines 1000000 [--drop-share 0.02] [--log security|system]

``--lines`` counts data rows (header lines come on top).  ``w3c``/``csv`` are a
``SELECT * FROM System`` export of a busy server: a ``--drop-share`` fraction of rows
are IPSec 4290/4291/4284 events, the rest other System-log sources.  ``pfirewall`` is a
Windows Firewall log with the ``pid`` field: ``--drop-share`` DROP lines, the rest
ALLOW.  ``evtx`` writes ``--lines`` EVTX records: a Security log (default) whose drops
are WFP events (5152 inbound, 5157, some 5153/5159) among 4624/4634/4672 logons and
5156 allowed connections, or (``--log system``) a System log whose drops are the IPSec
driver events of the text exports among the same noise sources.  Output is
deterministic for a given ``--seed``.

Speed: each line is a precomputed, fully formatted "suffix" (everything after the
record number and timestamps) picked from a pool of a few thousand distinct events,
plus cached date/time strings, joined and written in large chunks.  That keeps the
per-line work to a few string operations (well under 10 s for 2 M lines).  EVTX
records are picked from pools of built events too; only the record id and times
change per record, and :class:`~pipeline.synthetic.evtx.EvtxWriter` caches each pooled
event's EventData encoding, writes every 64 KiB chunk when full and the file header at
the end (memory flat; a million records in about 15 s for ``--log security``, 8 s for
``--log system``).
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline.synthetic.evtx import (  # noqa: E402
    EvtxWriter,
    from_evt_record,
    logoff_event,
    logon_event,
    special_privileges_event,
    wfp_5152,
    wfp_5153,
    wfp_5157,
    wfp_5159,
)
from pipeline.synthetic.logparser import (  # noqa: E402  (needs the sys.path line above)
    CSVWriter,
    EvtRecord,
    W3CWriter,
    csv_value,
    ipsec_count_drop,
    ipsec_packet_drop,
    other_event,
)
from pipeline.synthetic.pfirewall import FirewallLine, PfirewallWriter  # noqa: E402

POOL = 4096  # distinct events per pool
CHUNK = 8192  # lines per write() call
START = datetime(2026, 10, 1)
HOST = "WEB01"
HOST_IP = "198.51.100.10"
SERVICES = (
    "Background Intelligent Transfer Service",
    "Automatic Updates",
    "WinHTTP Web Proxy Auto-Discovery Service",
    "Removable Storage",
    "Volume Shadow Copy",
    "Application Experience Lookup Service",
)
SCAN_PORTS = (21, 22, 23, 25, 135, 139, 445, 1433, 1434, 3306, 3389, 5900, 8080)
_DUMMY = datetime(2000, 1, 1)


#: Stands for the remote address of a pooled drop when ``--sources distinct`` draws one per line.
SENTINEL_IP = "255.254.253.252"


def internet_ip(rng: random.Random) -> str:
    """An address from the documentation ranges, as the sample site uses."""
    if DISTINCT_SOURCES:
        return SENTINEL_IP
    return rng.choice(("203.0.113.", "192.0.2.", "198.51.100.")) + str(rng.randint(1, 254))


#: ``--sources distinct``: every drop line gets its own remote address (drawn from the whole public
#: IPv4 space, as scanners' traffic looks), not one of the pool's few hundred.
DISTINCT_SOURCES = False


def public_ip(rng: random.Random) -> str:
    """A random public-looking IPv4 address (first octet 1-223, not 10 or 127)."""
    while True:
        n = rng.getrandbits(32)
        first = n >> 24
        if 1 <= first <= 223 and first not in (10, 127):
            return f"{first}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def drop_records(rng: random.Random, n: int) -> list[EvtRecord]:
    """IPSec drops: 60 % inbound 4290, 25 % outbound 4291, 15 % 4284 counts."""
    out = []
    for i in range(n):
        x = rng.random()
        if x < 0.60:
            proto = rng.choice((6, 6, 6, 17))
            out.append(
                ipsec_packet_drop(
                    0,
                    _DUMMY,
                    HOST,
                    True,
                    internet_ip(rng),
                    HOST_IP,
                    proto,
                    rng.randint(1024, 65535),
                    rng.choice(SCAN_PORTS),
                    with_driver_name=i % 2 == 0,
                    protocol_as_name=i % 3 == 0,
                    source="IPSEC",
                    ident=i,
                )
            )
        elif x < 0.85:
            out.append(
                ipsec_packet_drop(
                    0,
                    _DUMMY,
                    HOST,
                    False,
                    HOST_IP,
                    internet_ip(rng),
                    17,
                    rng.randint(1025, 5000),
                    53,
                    with_driver_name=i % 2 == 0,
                    protocol_as_name=i % 3 == 0,
                    source="IPSEC",
                    ident=i,
                )
            )
        else:
            out.append(
                ipsec_count_drop(
                    0,
                    _DUMMY,
                    HOST,
                    4284,
                    rng.randint(1, 60),
                    f"10.1.0.{rng.randint(2, 254)}",
                    with_driver_name=i % 2 == 0,
                    source="IPSEC",
                )
            )
    return out


def noise_records(rng: random.Random, n: int) -> list[EvtRecord]:
    """Non-drop System-log events from other sources."""
    out = []
    for _ in range(n):
        x = rng.random()
        if x < 0.80:
            out.append(
                other_event(
                    0,
                    _DUMMY,
                    HOST,
                    "Service Control Manager",
                    7036,
                    [rng.choice(SERVICES), rng.choice(("running", "stopped"))],
                )
            )
        elif x < 0.90:
            out.append(other_event(0, _DUMMY, HOST, "EventLog", 6013, [str(rng.randint(600, 9_000_000))]))
        elif x < 0.95:
            out.append(other_event(0, _DUMMY, HOST, "Tcpip", 4226, None))
        else:
            out.append(
                other_event(
                    0,
                    _DUMMY,
                    HOST,
                    "Service Control Manager",
                    7035,
                    [rng.choice(SERVICES), rng.choice(("start", "stop"))],
                    sid="S-1-5-18",
                )
            )
    return out


class Clock:
    """Cheap, monotonically advancing ``date``/``time`` strings (1 s steps, some repeats)."""

    def __init__(self, rng: random.Random) -> None:
        self.day = START
        self.sec = 0
        self.date = f"{self.day:%Y-%m-%d}"
        self.times = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)]
        self.steps = [rng.choice((0, 0, 1, 1, 1, 2)) for _ in range(65536)]
        self.i = 0

    def tick(self) -> None:
        self.i = (self.i + 1) & 0xFFFF
        self.sec += self.steps[self.i]
        if self.sec >= 86400:
            self.sec -= 86400
            self.day += timedelta(days=1)
            self.date = f"{self.day:%Y-%m-%d}"


def _pick(rng: random.Random, share: float, drops: list[str], noise: list[str]) -> str:
    """One random draw picks both "drop or not" and which pool entry (cheap per line)."""
    r = rng.random()
    if r < share:
        line = drops[int(r / share * len(drops)) % len(drops)]
        return line.replace(SENTINEL_IP, public_ip(rng)) if DISTINCT_SOURCES else line
    return noise[int((r - share) / (1 - share) * len(noise)) % len(noise)]  # r >= share, so share < 1


def gen_w3c(f: IO[str], lines: int, mode: str, share: float, rng: random.Random) -> None:
    """``SELECT * FROM System`` as ``-o:W3C`` in the given mode; the header comes from W3CWriter."""
    writer = W3CWriter(f, None, mode, created=START)  # type: ignore[arg-type]
    sep = "+" if mode == "encodedelim" else " "

    def suffixes(records: list[EvtRecord]) -> list[str]:
        return [" ".join(writer.format_values(r)[4:]) + "\r\n" for r in records]

    event_log = writer.format_values(noise_records(rng, 1)[0])[0]
    drops, noise = suffixes(drop_records(rng, POOL)), suffixes(noise_records(rng, POOL))
    clock = Clock(rng)
    buf: list[str] = []
    for rn in range(1, lines + 1):
        clock.tick()
        ts = clock.date + sep + clock.times[clock.sec]
        buf.append(f"{event_log} {rn} {ts} {ts} {_pick(rng, share, drops, noise)}")
        if len(buf) >= CHUNK:
            f.write("".join(buf))
            buf.clear()
    f.write("".join(buf))


def gen_csv(f: IO[str], lines: int, share: float, rng: random.Random) -> None:
    """``SELECT * FROM System`` as ``-o:CSV``; suffixes pre-quoted with the csv module."""
    writer = CSVWriter(f)

    def suffixes(records: list[EvtRecord]) -> list[str]:
        s = io.StringIO()
        w = csv.writer(s, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        out = []
        for r in records:
            s.seek(0)
            s.truncate()
            w.writerow([csv_value(name, getattr(r, name)) for name in writer.fields[4:]])
            out.append(s.getvalue())
        return out

    drops, noise = suffixes(drop_records(rng, POOL)), suffixes(noise_records(rng, POOL))
    clock = Clock(rng)
    buf: list[str] = []
    for rn in range(1, lines + 1):
        clock.tick()
        ts = clock.date + " " + clock.times[clock.sec]
        buf.append(f"System,{rn},{ts},{ts},{_pick(rng, share, drops, noise)}")
        if len(buf) >= CHUNK:
            f.write("".join(buf))
            buf.clear()
    f.write("".join(buf))


def gen_pfirewall(f: IO[str], lines: int, share: float, rng: random.Random) -> None:
    """A pfirewall.log with the ``pid`` field: DROP (TCP SYN, UDP, ICMP) and ALLOW lines."""
    writer = PfirewallWriter(f, "with-pid")
    me = "10.1.0.20"

    def suffix(line: FirewallLine) -> str:
        return writer.format_line(line)[20:]  # drop "yyyy-mm-dd hh:mm:ss "

    drops, allows = [], []
    for _ in range(POOL):
        x = rng.random()
        if x < 0.7:
            drops.append(
                suffix(
                    FirewallLine(
                        _DUMMY,
                        "DROP",
                        "TCP",
                        internet_ip(rng),
                        me,
                        rng.randint(1024, 65535),
                        rng.choice(SCAN_PORTS),
                        48,
                        "S",
                        rng.randrange(1 << 32),
                        0,
                        65535,
                        path="RECEIVE",
                    )
                )
            )
        elif x < 0.9:
            drops.append(
                suffix(
                    FirewallLine(
                        _DUMMY,
                        "DROP",
                        "UDP",
                        internet_ip(rng),
                        me,
                        rng.randint(1024, 65535),
                        rng.choice((137, 138, 161, 1434)),
                        78,
                        path="RECEIVE",
                    )
                )
            )
        else:
            drops.append(
                suffix(
                    FirewallLine(
                        _DUMMY,
                        "DROP",
                        "ICMP",
                        internet_ip(rng),
                        me,
                        None,
                        None,
                        60,
                        icmptype=8,
                        icmpcode=0,
                        path="RECEIVE",
                    )
                )
            )
        if rng.random() < 0.5:
            allows.append(
                suffix(
                    FirewallLine(
                        _DUMMY,
                        "ALLOW",
                        "TCP",
                        f"10.1.0.{rng.randint(2, 254)}",
                        me,
                        rng.randint(1025, 5000),
                        1433,
                        0,
                        None,
                        0,
                        0,
                        0,
                        path="RECEIVE",
                        pid=1508,
                    )
                )
            )
        else:
            allows.append(
                suffix(
                    FirewallLine(
                        _DUMMY,
                        "ALLOW",
                        "UDP",
                        me,
                        "10.1.0.2",
                        rng.randint(1025, 5000),
                        53,
                        0,
                        None,
                        0,
                        0,
                        0,
                        path="SEND",
                        pid=1044,
                    )
                )
            )
    clock = Clock(rng)
    buf: list[str] = []
    for _ in range(lines):
        clock.tick()
        buf.append(f"{clock.date} {clock.times[clock.sec]} {_pick(rng, share, drops, allows)}")
        if len(buf) >= CHUNK:
            f.write("".join(buf))
            buf.clear()
    f.write("".join(buf))


def wfp_drop_events(rng: random.Random, n: int) -> list:
    """WFP drops at HOST_IP: 60 % 5152 inbound, 25 % 5157 (mostly inbound), 8 % 5153, 7 % 5159."""
    out = []
    for _ in range(n):
        x = rng.random()
        proto = rng.choice((6, 6, 6, 17))
        if x < 0.60 or 0.85 <= x < 0.93:  # an inbound packet dropped (5153: by a more restrictive filter)
            out.append(
                (wfp_5152 if x < 0.60 else wfp_5153)(
                    0,
                    _DUMMY,
                    HOST,
                    src_ip=internet_ip(rng),
                    src_port=rng.randint(1024, 65535),
                    dst_ip=HOST_IP,
                    dst_port=rng.choice(SCAN_PORTS),
                    protocol=proto,
                )
            )
        elif x < 0.85:
            inbound = rng.random() < 0.8
            out.append(
                wfp_5157(
                    0,
                    _DUMMY,
                    HOST,
                    direction="inbound" if inbound else "outbound",
                    local_ip=HOST_IP,
                    local_port=rng.choice(SCAN_PORTS) if inbound else rng.randint(49152, 65535),
                    remote_ip=internet_ip(rng),
                    remote_port=rng.randint(1024, 65535) if inbound else rng.choice((80, 443, 53)),
                    protocol=proto,
                    application="System" if inbound else "\\device\\harddiskvolume2\\windows\\system32\\svchost.exe",
                    process_id=4 if inbound else 1044,
                )
            )
        else:
            out.append(wfp_5159(0, _DUMMY, HOST, local_ip="0.0.0.0", local_port=rng.randint(1025, 5000)))
    return out


def security_noise_events(rng: random.Random, n: int) -> list:
    """Security-log noise: network logons/logoffs, special privileges, 5156 allowed connections."""
    out = []
    users = [(f"svc{i:02d}", f"S-1-5-21-1004336348-1177238915-682003330-{1100 + i}") for i in range(20)]
    for i in range(n):
        x = rng.random()
        user, sid = rng.choice(users)
        logon_id = 0x3E7 + i * 0x1F3
        if x < 0.35:
            out.append(
                logon_event(
                    0,
                    _DUMMY,
                    HOST,
                    user=user,
                    domain="EXAMPLE",
                    user_sid=sid,
                    logon_id=logon_id,
                    ip=f"10.1.0.{rng.randint(2, 254)}",
                    port=str(rng.randint(1025, 5000)),
                )
            )
        elif x < 0.65:
            out.append(logoff_event(0, _DUMMY, HOST, user=user, domain="EXAMPLE", user_sid=sid, logon_id=logon_id))
        elif x < 0.80:
            out.append(
                special_privileges_event(0, _DUMMY, HOST, user=user, domain="EXAMPLE", user_sid=sid, logon_id=logon_id)
            )
        else:
            out.append(
                wfp_5157(
                    0,
                    _DUMMY,
                    HOST,
                    event_id=5156,
                    local_ip=HOST_IP,
                    local_port=80,
                    remote_ip=internet_ip(rng),
                    remote_port=rng.randint(1024, 65535),
                    application="\\device\\harddiskvolume2\\windows\\system32\\inetsrv\\w3wp.exe",
                    process_id=2712,
                )
            )
    return out


def gen_evtx(path: str, lines: int, share: float, rng: random.Random, log: str) -> None:
    """``lines`` EVTX records of a Security (WFP drops) or System (IPSec drops) log, streamed."""
    if log == "system":
        drops = [from_evt_record(r, _DUMMY) for r in drop_records(rng, POOL)]
        noise = [from_evt_record(r, _DUMMY) for r in noise_records(rng, POOL)]
    else:
        drops, noise = wfp_drop_events(rng, POOL), security_noise_events(rng, POOL)
    # Sub-second parts: records logged in the same second get increasing microseconds.
    steps = [rng.randint(1, 20_000) for _ in range(4096)]
    clock = Clock(rng)
    first = 4_200_001
    last_sec, micro = -1, 0
    with EvtxWriter(path) as writer:
        for i in range(lines):
            clock.tick()
            if clock.sec != last_sec:
                last_sec, micro = clock.sec, steps[i & 4095] * 10
            else:
                micro = min(micro + steps[i & 4095], 999_999)
            when = clock.day + timedelta(seconds=clock.sec, microseconds=micro)
            writer.write(_pick(rng, share, drops, noise), record_id=first + i, when=when)  # type: ignore[arg-type]


def share_arg(text: str) -> float:
    """argparse type for --drop-share: a fraction in [0.02, 1.0]."""
    v = float(text)
    if not 0.02 <= v <= 1.0:
        raise argparse.ArgumentTypeError("--drop-share must be between 0.02 and 1.0")
    return v


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("kind", choices=("w3c", "pfirewall", "csv", "evtx"))
    ap.add_argument("out", help="output file ('-' = stdout)")
    ap.add_argument("--lines", type=int, required=True, help="number of data rows")
    ap.add_argument(
        "--mode", choices=("plain", "dquotes", "encodedelim"), default="plain", help="W3C output mode"
    )
    ap.add_argument("--drop-share", type=share_arg, default=0.1, help="fraction of rows that are drops")
    ap.add_argument("--log", choices=("security", "system"), default="security", help="EVTX: which log")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sources", choices=("pool", "distinct"), default="pool",
                    help="W3C/CSV drops' remote addresses: a pool of a few hundred, or one per line (scans)")
    args = ap.parse_args(argv)
    global DISTINCT_SOURCES
    DISTINCT_SOURCES = args.sources == "distinct"
    if args.lines < 0:
        ap.error("--lines must be >= 0")
    rng = random.Random(args.seed)
    if args.kind == "evtx":
        if args.out == "-":
            ap.error("evtx output must be a file (its header is written last)")
        gen_evtx(args.out, args.lines, args.drop_share, rng, args.log)
        return 0
    if args.out == "-":
        f = io.TextIOWrapper(sys.stdout.buffer, encoding="ascii", newline="")
        close = False
    else:
        f = open(args.out, "w", encoding="ascii", newline="")  # noqa: SIM115 - closed below
        close = True
    try:
        if args.kind == "w3c":
            gen_w3c(f, args.lines, args.mode, args.drop_share, rng)
        elif args.kind == "csv":
            gen_csv(f, args.lines, args.drop_share, rng)
        else:
            gen_pfirewall(f, args.lines, args.drop_share, rng)
    finally:
        f.flush()
        if close:
            f.close()
        else:
            f.detach()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
