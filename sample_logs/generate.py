#!/usr/bin/env python3
"""Regenerate the fictional site under sample_logs/ (exports, config, expected counts).

Why: the readers, extractors and warehouse need end-to-end input whose right answer is
known.  This script plants a handful of scenarios in the System logs and firewall logs
of two Windows Server 2003 hosts with IPSec policies (and, on the late days, the firewall
log of a Windows Server 2008 R2 host without one), writes them through
:mod:`pipeline.synthetic` in the export variants an administrator would really produce
(overlapping exports, appended runs, field subsets, all three W3C output modes, CSV, all
three pfirewall headers), and
then COUNTS what it wrote to produce ``EXPECTED.md``, ``expected.json`` and
``expected-drops.csv`` (one line per distinct drop).  Nothing in the expected files is
typed by hand.

Run from the repository root::

    python sample_logs/generate.py            # rewrite sample_logs/ in place
    python sample_logs/generate.py --out DIR  # write the same files under DIR

It is deterministic: a fixed seed, fixed export times, no clock or environment reads.

EVTX (written with :mod:`pipeline.synthetic.evtx`, times in UTC as EVTX stores them):
WEB01's System log of the early hours of 26 October exported with a query (record
headers renumbered 1..N, each EventRecordID = the RecordNumber of the same event, all
of them also in the CSV export, which has RecordNumber: stored once), and DB01's
archived Security log of 27 October with WFP / IPsec audit drops found nowhere else.
The EVTX plans use their own random generator, so the text exports are unchanged.

Time: every event is planned as a UTC instant and converted to the host's local time
(``zoneinfo``), because Log Parser and pfirewall.log print local time only.  WEB01 is in
Europe/Berlin, which leaves DST on 2026-10-25 at 03:00 -> 02:00; a few WEB01 events are
planted in both passes of the repeated 02:00-03:00 hour, so the file's clock steps back.

Late days (28-31 October, for the Suggestions feature): recurring blocked flows that a
netsh permit filter should let through (i-l), next to attacks and noise that must not be
suggested (m-p), planned with their own random generators and written to NEW files (a WEB01
W3C export and EVTX, a DB01 CSV export, the pfirewall.log of a third host APP03 that has no
IPSec policy), so the files and counts of scenarios a-h stay exactly as they were.  The
expected suggestions are counted from the ledger like everything else (``expected.json``
``suggestions``); recurrence is in distinct UTC days.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from ipaddress import collapse_addresses, ip_address, ip_network
from itertools import count
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline.synthetic import (  # noqa: E402  (needs the sys.path line above)
    CSVWriter,
    EvtRecord,
    EvtxWriter,
    FirewallLine,
    ManifestEvent,
    PfirewallWriter,
    W3CWriter,
    from_evt_record,
    ipsec_audit_drop,
    ipsec_block_mode,
    ipsec_count_drop,
    ipsec_packet_drop,
    logoff_event,
    logon_event,
    other_event,
    special_privileges_event,
    wfp_5152,
    wfp_5157,
)

SEED = 20261025

#: Event IDs that are drops (log-formats.md §1.4; 4289 is never emitted here).
DROP_EVENT_IDS = frozenset(range(4283, 4293)) - {4289}
#: Security-log (Microsoft-Windows-Security-Auditing) events that are drops (§2): WFP packet
#: and connection blocks, IPsec audit drops.  5156 (allowed connection) is not one.
SECURITY_DROP_IDS = frozenset({5152, 5153, 5157, 5159, 4960, 4961, 4962, 4963, 4965})


# ------------------------------------------------------------------------------ the site


@dataclass(frozen=True)
class Host:
    """One server of the site; the same facts feed the exports and ipsec-drops.toml."""

    name: str
    timezone: str
    addresses: tuple[str, ...]
    dns: tuple[str, ...]
    role: str
    system: str = "Windows Server 2003"
    policy: bool = True  # has a netsh ipsec script (policies/<name>.cmd)
    firewall_only: str = ""  # config comment for a host without a policy

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def utc(self, y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, fold: int = 0) -> datetime:
        """UTC instant of a local wall-clock time (``fold=1`` = second pass of a repeated hour)."""
        return datetime(y, mo, d, h, mi, s, tzinfo=self.tz, fold=fold).astimezone(UTC)

    def local(self, instant: datetime) -> datetime:
        """Naive local wall-clock time of a UTC instant, as the host's logs print it."""
        return instant.astimezone(self.tz).replace(tzinfo=None)


WEB01 = Host("WEB01", "Europe/Berlin", ("198.51.100.10", "10.1.0.10"), ("10.1.0.2",), "IIS web server")
DB01 = Host("DB01", "America/Chicago", ("10.1.0.20",), ("10.1.0.2",), "SQL server")
APP03 = Host(
    "APP03",
    "Europe/London",
    ("10.1.0.70",),
    ("10.1.0.2",),
    "application server",
    system="Windows Server 2008 R2",
    policy=False,
    firewall_only="No IPSec policy: only the Windows Firewall (pfirewall.log) drops here; its flows have "
    "the verdict no-policy.",
)
HOSTS = (WEB01, DB01, APP03)
NAMES = {"wsus.example.net": ["10.1.0.30"]}

DAYS = (23, 24, 25, 26, 27)  # October 2026, local dates
SCAN_PORTS = (22, 23, 135, 139, 445, 1433, 3389)
ROGUE_DNS = "198.18.0.53"
TS_ATTACKERS = ("203.0.113.77", "203.0.113.140")
CLEARTEXT_HOST = "10.1.0.50"

# Late days (28-31 Oct): the Suggestions scenarios i-p.
LATE_DAYS = (28, 29, 30, 31)  # October 2026, local dates (all after the DST change: UTC day = local day)
#: WinRM (TCP 5985) from the admin workstations: which days each one tries (i).
ADMIN_NET = "10.40.1.8/29"
ADMIN_DAYS = {"10.40.1.9": (28, 29, 30), "10.40.1.10": (28, 30, 31), "10.40.1.11": (29, 31), "10.40.1.14": (30, 31)}
WINRM_PORT = 5985
NEW_RESOLVER = "10.1.0.3"  # (j) an internal resolver WEB01 uses that is not its configured dns
RESOLVER_DAYS = (29, 30, 31)
BACKUP_SERVER = "10.1.0.60"  # (k) connects to the backup agent on DB01 every night
BACKUP_PORT = 10000
MONITORS = ("10.1.0.81", "10.1.0.82", "10.1.0.83")  # (l) monitoring servers checking APP03's agent
MONITOR_PORT = 9100
MONITOR_HOURS = {30: range(14, 18), 31: range(8, 18)}  # the agent was installed on 30 Oct, after lunch
SCANNER = "45.155.205.66"  # (m) one wide port scan of WEB01
SCAN_DAY = 29
#: Ports of scenario m: none that WEB01 permits (80, 443) or that another scenario uses.
WIDE_SCAN_PORTS = (
    21, 22, 23, 25, 110, 111, 135, 139, 143, 445, 465, 587, 993, 995, 1025, 1433, 1521, 1723, 2049, 2082,
    2222, 3306, 5000, 5060, 5555, 5900, 5901, 6000, 6379, 6667, 7001, 8000, 8081, 8291, 8443, 8888, 9000,
    9200, 11211, 27017,
)
RDP_PROBE = "185.220.101.7"  # (n) Terminal Services from the Internet, recurring
RDP_PROBE_DAYS = (28, 30, 31)
IGNORED_NET = "91.240.118.0/24"  # (o) the sample run's [suggest] ignore
IGNORED_DAYS = {"91.240.118.23": (28, 29), "91.240.118.57": (29, 31), "91.240.118.201": (31,)}
IGNORED_PORT = 8080
LATE_SCENARIOS = frozenset("ijklmnop")
RARE_CLIENT = "10.1.0.99"  # (p) one attempt, one day, one source
RARE_PORT = 5432
#: WEB01 came up again at 22:16:41 local on 24 Oct (scenario e); 6013 counts the uptime from it.
WEB01_BOOT = WEB01.utc(2026, 10, 24, 22, 16, 41)

SCENARIOS = {
    "a": "Internet scans of WEB01 198.51.100.10 on ports 22/23/135/139/445/1433/3389 (IPSec 4290)",
    "b": f"WEB01 sending DNS (UDP 53) to the unauthorised server {ROGUE_DNS} (IPSec 4291)",
    "c": "Terminal Services (TCP 3389) from outside: repeated attempts with SYN retransmits "
    "from 203.0.113.77/.140 to WEB01 (IPSec 4290) and from 192.0.2.x to DB01 (pfirewall DROP)",
    "d": f"clear text from {CLEARTEXT_HOST} that should have been secured, at DB01 (IPSec 4284)",
    "e": "WEB01 reboot: IPSec driver entered Block mode (4292), then Secure mode (4294, not a drop)",
    "f": "noise: 7036, 6005/6006/6009/6013, USER32 1074, Application Popup 26, Tcpip 4226, IPSec 4294, "
    "pfirewall OPEN/CLOSE/ALLOW (no drops)",
    "g": f"extra drops at DB01: {CLEARTEXT_HOST} trying SQL TCP 1433 (IPSec 4290), "
    "bad SPI / hash failures from WEB01 10.1.0.10 (4283/4285), pfirewall ICMP echo DROPs "
    f"from {CLEARTEXT_HOST}",
    "h": "DB01 Security log (EVTX), 27 Oct: WFP 5152 inbound TCP 3389/445 from 192.0.2.x (SYN + retransmits), "
    "5157 blocked connections (inbound to SQL 1433 from 192.0.2.x, outbound sqlservr.exe to 203.0.113.80:443), "
    f"IPsec 4963 clear text from {CLEARTEXT_HOST}; noise 4624/4634/4672 logons, 5156 allowed connections",
    "i": f"WinRM (TCP {WINRM_PORT}) from the admin workstations {', '.join(ADMIN_DAYS)} ({ADMIN_NET}) to WEB01 "
    "10.1.0.10 on 28-31 Oct, SYN + retransmits (IPSec 4290, Block everything): to suggest",
    "j": f"WEB01 10.1.0.10 asking the new internal resolver {NEW_RESOLVER} (UDP 53; its configured dns is "
    "10.1.0.2) on 29-31 Oct (IPSec 4291, Block everything): to suggest, with a risk note",
    "k": f"the backup server {BACKUP_SERVER} connecting to DB01's backup agent (TCP {BACKUP_PORT}) every night "
    "28-31 Oct, SYN + retransmits (IPSec 4290, Block all: the Backup agent rule's list is empty): to suggest",
    "l": f"APP03 (no IPSec policy, Windows Firewall): monitoring servers {', '.join(MONITORS)} checking its "
    f"agent on TCP {MONITOR_PORT} hourly on 30-31 Oct (pfirewall DROP, verdict no-policy): to suggest "
    "(netsh advfirewall)",
    "m": f"a port scan of WEB01 198.51.100.10 from {SCANNER}: {len(WIDE_SCAN_PORTS)} TCP ports in one minute "
    f"on {SCAN_DAY} Oct (IPSec 4290, Block everything): not to suggest (scan)",
    "n": f"Terminal Services (TCP 3389) from {RDP_PROBE} to WEB01 198.51.100.10 on 28, 30 and 31 Oct "
    "(IPSec 4290, Block everything): not to suggest (exposure)",
    "o": f"TCP {IGNORED_PORT} from {', '.join(IGNORED_DAYS)} to WEB01 198.51.100.10 on 28, 29 and 31 Oct (IPSec 4290, "
    f"Block everything): not to suggest (ignored: {IGNORED_NET})",
    "p": f"one attempt from {RARE_CLIENT} to DB01 TCP {RARE_PORT} on 30 Oct (IPSec 4290, Block all): "
    "not to suggest (rare)",
}


# ------------------------------------------------------------------------------ planning


@dataclass
class Planned:
    """An event planned at a UTC instant; ``build(record_number, generated, written)``."""

    utc: datetime
    scenario: str
    build: Callable[[int, datetime, datetime], EvtRecord]
    delay: int = 0  # seconds between TimeGenerated and TimeWritten
    truth: dict = field(default_factory=dict)  # meaning of a drop, for expected-drops.csv


@dataclass
class Event:
    """A materialised event of a host's System log."""

    host: Host
    utc: datetime
    scenario: str
    record: EvtRecord
    truth: dict

    @property
    def is_drop(self) -> bool:
        return self.record.EventID in DROP_EVENT_IDS and (self.record.SourceName or "").lower() == "ipsec"


@dataclass
class FwPlanned:
    """A pfirewall line planned at a UTC instant (the writer prints local time)."""

    utc: datetime
    scenario: str
    line: FirewallLine
    truth: dict = field(default_factory=dict)


class SystemLog:
    """Plans one host's System log, then numbers the records in time order."""

    def __init__(self, host: Host, first_record: int) -> None:
        self.host = host
        self.first_record = first_record
        self.planned: list[Planned] = []
        self._keys: set[tuple] = set()

    def add(self, p: Planned, key: tuple | None = None) -> bool:
        """Plan ``p`` unless an identical drop (same local second, id and values) exists.

        Keeping (local time, event id, values) unique means every drop stays distinct
        even in exports that carry no RecordNumber.
        """
        if key is not None:
            k = (self.host.local(p.utc), *key)
            if k in self._keys:
                return False
            self._keys.add(k)
        self.planned.append(p)
        return True

    def events(self) -> list[Event]:
        out = []
        for i, p in enumerate(sorted(self.planned, key=lambda p: p.utc)):
            rn = self.first_record + i
            gen = self.host.local(p.utc)
            wrt = self.host.local(p.utc + timedelta(seconds=p.delay))
            out.append(Event(self.host, p.utc, p.scenario, p.build(rn, gen, wrt), p.truth))
        return out


def day_window(host: Host, day: int) -> tuple[datetime, datetime]:
    """UTC start and end of a local calendar day (25 hours long on a fall-back day)."""
    return host.utc(2026, 10, day), host.utc(2026, 10, day + 1)


def random_instant(
    rng: random.Random, host: Host, day: int, avoid: tuple[datetime, datetime] | None
) -> datetime:
    """A uniformly drawn instant of a local day, outside ``avoid`` (kept for planted events)."""
    start, end = day_window(host, day)
    while True:
        t = start + timedelta(seconds=rng.randrange(int((end - start).total_seconds())))
        if avoid is None or not avoid[0] <= t < avoid[1]:
            return t


def ephemeral(rng: random.Random) -> int:
    """A Windows 2000/XP/2003 client port (the ephemeral range is 1025-5000)."""
    return rng.randint(1025, 5000)


def packet_truth(inbound: bool, proto: int, src: str, sport: int, dst: str, dport: int) -> dict:
    """What a correct extractor must recover from a per-packet drop (expected-drops.csv)."""
    return {
        "direction": "inbound" if inbound else "outbound",
        "protocol": proto,
        "src_ip": src,
        "src_port": sport,
        "dst_ip": dst,
        "dst_port": dport,
        "remote_ip": src if inbound else dst,
        "packets": 1,
    }


# ------------------------------------------------------------------------------ WEB01


def plan_web01(rng: random.Random) -> tuple[list[Event], dict]:
    """Scenarios a, b, c (IPSec side), e and f on WEB01's System log."""
    h = WEB01
    log = SystemLog(h, first_record=104233)
    pub = h.addresses[0]
    # Repeated hour of 2026-10-25: 00:00-02:00 UTC is 02:00-03:00 local, twice.
    dst_window = (h.utc(2026, 10, 25, 2, 0, 0, fold=0), h.utc(2026, 10, 25, 3, 0, 0))
    reboot = h.utc(2026, 10, 24, 22, 14, 50)

    # Before the reboot the driver wrote %1 = \Driver\IPSEC and protocol numbers; the
    # hotfix installed at the reboot changed that: no %1 element, protocol names.  So the
    # plain export (days 23-24) holds both Strings layouts.
    def variant(t: datetime) -> dict:
        if t < reboot:
            return {"with_driver_name": True, "protocol_as_name": False}
        return {"with_driver_name": False, "protocol_as_name": True}

    src_name = "IPSEC"  # Server 2003 SP1 shows the upper-case source (KB912023)
    ident = iter(range(0x1A2B, 0xFFFF, 37))

    def packet(
        t: datetime,
        scenario: str,
        inbound: bool,
        proto: int,
        src: str,
        sport: int,
        dst: str,
        dport: int,
        delay: int | None = None,
    ) -> bool:
        v = variant(t)
        i = next(ident)

        def build(rn: int, gen: datetime, wrt: datetime) -> EvtRecord:
            return ipsec_packet_drop(
                rn,
                gen,
                h.name,
                inbound,
                src,
                dst,
                proto,
                sport,
                dport,
                source=src_name,
                written=wrt,
                ident=i,
                **v,
            )

        p = Planned(
            t,
            scenario,
            build,
            delay if delay is not None else _delay(rng),
            packet_truth(inbound, proto, src, sport, dst, dport),
        )
        return log.add(p, key=(4290 if inbound else 4291, src, sport, dst, dport, proto))

    def noise(t: datetime, source: str, eid: int, inserts: list[str] | None, **kw) -> None:
        def build(rn: int, gen: datetime, wrt: datetime) -> EvtRecord:
            return other_event(rn, gen, h.name, source, eid, inserts, written=wrt, **kw)

        log.add(Planned(t, "e" if eid == 4294 else "f", build))

    # a. Internet scans: a few bursts a day, one source port per burst (as nmap does).
    for day in DAYS:
        for _ in range(rng.randint(3, 5)):
            scanner = rng.choice(("203.0.113.", "192.0.2.")) + str(rng.randint(2, 250))
            if scanner in TS_ATTACKERS:
                continue
            t = random_instant(rng, h, day, dst_window)
            sport = rng.randint(32768, 65000)
            for port in rng.sample(SCAN_PORTS, rng.randint(3, 7)):
                packet(t, "a", True, 6, scanner, sport, pub, port)
                t += timedelta(seconds=rng.randint(0, 2))

    # a + b planted in the repeated hour, in both passes, so the clock steps back:
    # first pass 02:14:07, 02:41:52, 02:55:03 (CEST), second pass 02:03:30, 02:27:15,
    # 02:52:40 (CET), with 01:58:20 before and 03:06:44 after.
    planted = [
        ((1, 58, 20, 0), "a", True, 6, "192.0.2.61", 47001, pub, 445),
        ((2, 14, 7, 0), "a", True, 6, "203.0.113.9", 51234, pub, 22),
        ((2, 41, 52, 0), "b", False, 17, pub, 1033, ROGUE_DNS, 53),
        ((2, 55, 3, 0), "a", True, 6, "192.0.2.200", 40404, pub, 1433),
        ((2, 3, 30, 1), "a", True, 6, "203.0.113.9", 51300, pub, 23),
        ((2, 27, 15, 1), "b", False, 17, pub, 1047, ROGUE_DNS, 53),
        ((2, 52, 40, 1), "a", True, 6, "192.0.2.61", 47002, pub, 3389),
        ((3, 6, 44, 0), "a", True, 6, "203.0.113.201", 60001, pub, 139),
    ]
    for (hh, mm, ss, fold), scen, inbound, proto, src, sport, dst, dport in planted:
        if not packet(
            h.utc(2026, 10, 25, hh, mm, ss, fold=fold), scen, inbound, proto, src, sport, dst, dport, delay=0
        ):
            raise RuntimeError("planted repeated-hour event collides with another event")

    # Early on day 26 (before the 06:00 cut of the CSV export): drops that only the CSV holds.
    early = h.utc(2026, 10, 26, 3, 12, 40)
    for k, port in enumerate((135, 139, 445, 1433)):
        packet(early + timedelta(seconds=k), "a", True, 6, "192.0.2.150", 55555, pub, port, delay=0)
    for hh, mm, ss, sport in ((4, 48, 9, 1102), (5, 31, 55, 1131)):
        packet(h.utc(2026, 10, 26, hh, mm, ss), "b", False, 17, pub, sport, ROGUE_DNS, 53, delay=0)

    # b. Outbound DNS to the rogue server, several a day.
    for day in DAYS:
        for _ in range(rng.randint(3, 6)):
            t = random_instant(rng, h, day, dst_window)
            packet(t, "b", False, 17, pub, ephemeral(rng), ROGUE_DNS, 53)

    # c. Terminal Services attempts: SYN, retransmits after 3 s and 6 s more.
    for day, attacker in ((24, TS_ATTACKERS[0]), (26, TS_ATTACKERS[1]), (27, TS_ATTACKERS[0])):
        t = random_instant(rng, h, day, dst_window)
        sport = ephemeral(rng)
        for _ in range(rng.randint(3, 5)):
            for retry in (0, 3, 9):
                packet(t + timedelta(seconds=retry), "c", True, 6, attacker, sport, pub, 3389)
            sport += 1
            t += timedelta(seconds=rng.randint(20, 45))

    # e. The reboot (day 24, 22:14 local): shutdown, boot, Block mode, Secure mode.
    sid = "S-1-5-21-1004336348-1177238915-682003330-500"
    comment = 'Installed IPSec driver hotfix, "WEB01 lockdown" policy re-applied'
    noise(
        reboot,
        "USER32",
        1074,
        [
            "winlogon.exe (WEB01)",
            "WEB01",
            "Operating System: Reconfiguration (Planned)",
            "0x80020004",
            "restart",
            comment,
            "WEB01\\Administrator",
        ],
        sid=sid,
    )
    noise(reboot + timedelta(seconds=8), "Service Control Manager", 7036, ["Automatic Updates", "stopped"])
    noise(reboot + timedelta(seconds=13), "EventLog", 6006, None)
    boot = reboot + timedelta(seconds=111)
    noise(boot, "EventLog", 6009, ["5.02.", "3790", "Service Pack 2", "Uniprocessor Free"])
    noise(boot + timedelta(seconds=1), "EventLog", 6005, None)

    def block(rn: int, gen: datetime, wrt: datetime) -> EvtRecord:
        return ipsec_block_mode(rn, gen, h.name, source=src_name, written=wrt)

    log.add(
        Planned(
            boot + timedelta(seconds=4),
            "e",
            block,
            truth={
                "direction": "",
                "protocol": "",
                "src_ip": "",
                "src_port": "",
                "dst_ip": "",
                "dst_port": "",
                "remote_ip": "",
                "packets": "",
            },
        ),
        key=(4292,),
    )
    noise(boot + timedelta(seconds=19), src_name, 4294, None)
    noise(boot + timedelta(seconds=25), "Service Control Manager", 7036, ["IPSEC Services", "running"])
    noise(boot + timedelta(seconds=41), "Service Control Manager", 7036, ["Automatic Updates", "running"])

    # f. Daily noise.
    booted_at = h.utc(2026, 10, 2, 4, 10, 0)
    for day in DAYS:
        noon = h.utc(2026, 10, day, 12)
        up_since = boot if noon > boot else booted_at
        noise(noon, "EventLog", 6013, [str(int((noon - up_since).total_seconds()))])
        for _ in range(rng.randint(2, 3)):
            t = random_instant(rng, h, day, dst_window)
            svc = rng.choice(
                (
                    "Background Intelligent Transfer Service",
                    "WinHTTP Web Proxy Auto-Discovery Service",
                    "Removable Storage",
                )
            )
            noise(t, "Service Control Manager", 7036, [svc, "running"])
            noise(
                t + timedelta(seconds=rng.randint(60, 900)), "Service Control Manager", 7036, [svc, "stopped"]
            )
    for day in (23, 26):
        noise(random_instant(rng, h, day, dst_window), "Tcpip", 4226, None)
    # IIS worker crashes: a message with double quotes (dquotes doubling, CSV quoting).
    for day in (25, 26):
        noise(
            random_instant(rng, h, day, dst_window),
            "Application Popup",
            26,
            [
                "w3wp.exe - Application Error",
                'The instruction at "0x77f8e1a2" referenced memory at "0x00000028". '
                'The memory could not be "read".  Click on OK to terminate the program',
            ],
        )

    events = log.events()
    info = {"reboot_local": WEB01.local(reboot), "dst_window": dst_window}
    return events, info


def _delay(rng: random.Random) -> int:
    """TimeWritten lags TimeGenerated by a second now and then."""
    return 1 if rng.random() < 0.15 else 0


# ------------------------------------------------------------------------------ DB01


def plan_db01(rng: random.Random) -> list[Event]:
    """Scenarios d, g and f on DB01's System log."""
    h = DB01
    log = SystemLog(h, first_record=58120)
    me = h.addresses[0]
    src_name = "IPSec"  # the other spelling of the source, to exercise case-insensitive matching
    driver = {"with_driver_name": True, "driver_name": ""}  # %1 present but empty

    def count(t: datetime, scenario: str, eid: int, n: int, remote: str) -> bool:
        def build(rn: int, gen: datetime, wrt: datetime) -> EvtRecord:
            return ipsec_count_drop(rn, gen, h.name, eid, n, remote, source=src_name, written=wrt, **driver)

        truth = {
            "direction": "inbound",
            "protocol": "",
            "src_ip": remote,
            "src_port": "",
            "dst_ip": "",
            "dst_port": "",
            "remote_ip": remote,
            "packets": n,
        }
        return log.add(Planned(t, scenario, build, _delay(rng), truth), key=(eid, n, remote))

    def packet(t: datetime, scenario: str, src: str, sport: int, dport: int) -> bool:
        def build(rn: int, gen: datetime, wrt: datetime) -> EvtRecord:
            return ipsec_packet_drop(
                rn,
                gen,
                h.name,
                True,
                src,
                me,
                6,
                sport,
                dport,
                source=src_name,
                written=wrt,
                ident=sport,
                **driver,
            )

        truth = packet_truth(True, 6, src, sport, me, dport)
        return log.add(Planned(t, scenario, build, _delay(rng), truth), key=(4290, src, sport, me, dport))

    def noise(t: datetime, source: str, eid: int, inserts: list[str] | None) -> None:
        def build(rn: int, gen: datetime, wrt: datetime) -> EvtRecord:
            return other_event(rn, gen, h.name, source, eid, inserts, written=wrt)

        log.add(Planned(t, "f", build))

    for day in DAYS:
        # d. clear-text summaries, logged at most once an hour (ipsecloginterval 3600).
        for hour in sorted(rng.sample(range(24), rng.randint(4, 7))):
            t = h.utc(2026, 10, day, hour, 17, rng.randint(0, 59))
            count(t, "d", 4284, rng.randint(3, 40), CLEARTEXT_HOST)
        # g. the same host trying SQL directly.
        for _ in range(rng.randint(1, 3)):
            packet(random_instant(rng, h, day, None), "g", CLEARTEXT_HOST, ephemeral(rng), 1433)
        # f. noise: nightly shadow copy for the backup, daily uptime.
        t = h.utc(2026, 10, day, 2, 0, rng.randint(0, 30))
        noise(t, "Service Control Manager", 7036, ["Volume Shadow Copy", "running"])
        noise(
            t + timedelta(seconds=rng.randint(300, 900)),
            "Service Control Manager",
            7036,
            ["Volume Shadow Copy", "stopped"],
        )
        noon = h.utc(2026, 10, day, 12)
        noise(noon, "EventLog", 6013, [str(int((noon - h.utc(2026, 9, 28, 6, 0, 0)).total_seconds()))])
    count(h.utc(2026, 10, 24, 9, 41, 3), "g", 4283, 2, WEB01.addresses[1])
    count(h.utc(2026, 10, 26, 15, 2, 56), "g", 4285, 5, WEB01.addresses[1])
    noise(h.utc(2026, 10, 26, 15, 3, 10), "IPSec", 4294, None)
    return log.events()


def plan_db01_firewall(rng: random.Random) -> list[FwPlanned]:
    """DB01's firewall lines: scenario c (TS DROPs), g (ICMP DROPs), f (OPEN/CLOSE/ALLOW)."""
    h = DB01
    me = h.addresses[0]
    web = WEB01.addresses[1]
    out: list[FwPlanned] = []
    keys: set[tuple] = set()

    def add(t: datetime, scenario: str, line: FirewallLine, truth: dict | None = None) -> None:
        k = (h.local(t), line.action, line.protocol, line.src_ip, line.src_port, line.dst_ip, line.dst_port)
        if k in keys:
            return
        keys.add(k)
        out.append(FwPlanned(t, scenario, line, truth or {}))

    for day in DAYS:
        modern = day >= 25  # pfirewall.log (with pid) from day 25; pfirewall-old.log (ICF) before
        # f. WEB01 talking to SQL, DB01 asking DNS.
        for _ in range(rng.randint(5, 9)):
            t = random_instant(rng, h, day, None)
            sport = ephemeral(rng)
            if modern:
                add(
                    t,
                    "f",
                    FirewallLine(
                        h.local(t),
                        "ALLOW",
                        "TCP",
                        web,
                        me,
                        sport,
                        1433,
                        0,
                        None,
                        0,
                        0,
                        0,
                        path="RECEIVE",
                        pid=1508,
                    ),
                )
                u = t + timedelta(seconds=rng.randint(1, 30))
                add(
                    u,
                    "f",
                    FirewallLine(
                        h.local(u),
                        "ALLOW",
                        "UDP",
                        me,
                        h.dns[0],
                        ephemeral(rng),
                        53,
                        0,
                        None,
                        0,
                        0,
                        0,
                        path="SEND",
                        pid=1044,
                    ),
                )
            else:
                add(t, "f", FirewallLine(h.local(t), "OPEN-INBOUND", "TCP", web, me, sport, 1433))
                u = t + timedelta(seconds=rng.randint(60, 600))
                add(u, "f", FirewallLine(h.local(u), "CLOSE", "TCP", web, me, sport, 1433))
                d = t + timedelta(seconds=rng.randint(1, 30))
                add(d, "f", FirewallLine(h.local(d), "OPEN", "UDP", me, h.dns[0], ephemeral(rng), 53))
        # c. Terminal Services from 192.0.2.x: SYN + two retransmits per attempt.
        for _ in range(rng.randint(2, 3)):
            attacker = f"192.0.2.{rng.randint(2, 250)}"
            t = random_instant(rng, h, day, None)
            sport = ephemeral(rng)
            for _attempt in range(rng.randint(1, 3)):
                syn = rng.randrange(1 << 32)
                for retry in (0, 3, 9):
                    u = t + timedelta(seconds=retry)
                    add(
                        u,
                        "c",
                        FirewallLine(
                            h.local(u),
                            "DROP",
                            "TCP",
                            attacker,
                            me,
                            sport,
                            3389,
                            48,
                            "S",
                            syn,
                            0,
                            65535,
                            path="RECEIVE",
                        ),
                        packet_truth(True, 6, attacker, sport, me, 3389),
                    )
                sport += 1
                t += timedelta(seconds=rng.randint(15, 40))
        # g. ICMP echo from the clear-text host.
        for _ in range(rng.randint(1, 2)):
            t = random_instant(rng, h, day, None)
            add(
                t,
                "g",
                FirewallLine(
                    h.local(t),
                    "DROP",
                    "ICMP",
                    CLEARTEXT_HOST,
                    me,
                    None,
                    None,
                    60,
                    icmptype=8,
                    icmpcode=0,
                    path="RECEIVE",
                ),
                {**packet_truth(True, 1, CLEARTEXT_HOST, "", me, ""), "icmp_type": 8, "icmp_code": 0},
            )
    out.sort(key=lambda p: p.utc)
    return out


# ------------------------------------------------------------------------------ DB01 Security (EVTX)


@dataclass
class SecPlanned:
    """A Security-log event planned at a UTC instant; ``build(record_id, utc)``."""

    utc: datetime
    scenario: str
    build: Callable[[int, datetime], ManifestEvent]
    truth: dict = field(default_factory=dict)


@dataclass
class SecEvent:
    """A materialised Security-log event."""

    host: Host
    utc: datetime
    scenario: str
    event: ManifestEvent
    truth: dict

    @property
    def is_drop(self) -> bool:
        return self.event.event_id in SECURITY_DROP_IDS


def plan_db01_security(rng: random.Random) -> list[SecEvent]:
    """Scenario h (and its noise) in DB01's Security log of 27 October (local day, CDT).

    Orientation of the truth rows follows log-formats.md §7: 5152 reports the packet as
    it travelled; 5157 reports local end then remote end, so an inbound 5157's packet
    source is its DestAddress.  Times carry microseconds, as real audit events do.
    """
    h = DB01
    me = h.addresses[0]
    fqdn = "DB01.example.net"  # Vista+ audit events name the computer by its FQDN
    start, end = day_window(h, 27)
    planned: list[SecPlanned] = []
    used: set[datetime] = set()

    def instant(t: datetime | None = None) -> datetime:
        """A distinct UTC instant with microseconds (random within the day if ``t`` is None)."""
        while True:
            base = t or start + timedelta(seconds=rng.randrange(int((end - start).total_seconds())))
            u = base.replace(microsecond=rng.randrange(1_000_000))
            if u not in used and start <= u < end:
                used.add(u)
                return u

    def packet(t: datetime | None, src: str, sport: int, dport: int) -> None:
        def build(rid: int, u: datetime) -> ManifestEvent:
            return wfp_5152(rid, u, fqdn, src_ip=src, src_port=sport, dst_ip=me, dst_port=dport)

        planned.append(SecPlanned(instant(t), "h", build, {**packet_truth(True, 6, src, sport, me, dport)}))

    def connection(t: datetime | None, inbound: bool, remote: str, rport: int, lport: int, app: str, pid: int) -> None:
        def build(rid: int, u: datetime) -> ManifestEvent:
            return wfp_5157(
                rid,
                u,
                fqdn,
                direction="inbound" if inbound else "outbound",
                local_ip=me,
                local_port=lport,
                remote_ip=remote,
                remote_port=rport,
                application=app,
                process_id=pid,
            )

        if inbound:  # the packet came from the remote end (DestAddress) to the local end (SourceAddress)
            truth = packet_truth(True, 6, remote, rport, me, lport)
        else:
            truth = packet_truth(False, 6, me, lport, remote, rport)
        planned.append(SecPlanned(instant(t), "h", build, truth))

    def cleartext(t: datetime | None) -> None:
        def build(rid: int, u: datetime) -> ManifestEvent:
            return ipsec_audit_drop(rid, u, fqdn, 4963, CLEARTEXT_HOST)

        truth = {
            "direction": "inbound",
            "protocol": "",
            "src_ip": CLEARTEXT_HOST,
            "src_port": "",
            "dst_ip": "",
            "dst_port": "",
            "remote_ip": CLEARTEXT_HOST,
            "packets": 1,
        }
        planned.append(SecPlanned(instant(t), "h", build, truth))

    def noise(t: datetime, build: Callable[[int, datetime], ManifestEvent]) -> None:
        planned.append(SecPlanned(instant(t), "f", build))

    # h. Terminal Services and SMB from the Internet: SYN and two retransmits per port.
    for _ in range(4):
        attacker = f"192.0.2.{rng.randint(2, 250)}"
        t = start + timedelta(seconds=rng.randrange(86_000))
        for dport in (3389, 445):
            sport = rng.randint(49152, 65535)
            for retry in (0, 3, 9):
                packet(t + timedelta(seconds=retry), attacker, sport, dport)
            t += timedelta(seconds=rng.randint(1, 4))
    # h. Blocked connections: SQL from outside, sqlservr.exe phoning home.
    system_app = "System"
    sql_app = "\\device\\harddiskvolume2\\program files\\microsoft sql server\\mssql\\binn\\sqlservr.exe"
    for _ in range(3):
        connection(None, True, f"192.0.2.{rng.randint(2, 250)}", rng.randint(49152, 65535), 1433, system_app, 4)
    for _ in range(2):
        connection(None, False, "203.0.113.80", 443, rng.randint(49152, 65535), sql_app, 1508)
    # h. Clear text that should have been secured, from the same host as scenario d.
    for _ in range(3):
        cleartext(None)

    # f. Noise: WEB01's service account logging on to SQL, an administrator, allowed connections.
    web = WEB01.addresses[1]
    svc_sid = "S-1-5-21-1004336348-1177238915-682003330-1107"
    adm_sid = "S-1-5-21-1004336348-1177238915-682003330-500"
    for k in range(12):
        t = start + timedelta(seconds=rng.randrange(86_000))
        logon_id = 0x1A2B00 + k * 0x1F3
        port = str(rng.randint(49152, 65535))

        def logon(rid: int, u: datetime, lid: int = logon_id, p: str = port) -> ManifestEvent:
            return logon_event(
                rid, u, fqdn, user="svc_web", domain="EXAMPLE", user_sid=svc_sid, logon_id=lid, ip=web, port=p
            )

        def allowed(rid: int, u: datetime, p: str = port) -> ManifestEvent:
            return wfp_5157(
                rid,
                u,
                fqdn,
                event_id=5156,
                local_ip=me,
                local_port=1433,
                remote_ip=web,
                remote_port=int(p),
                application=sql_app,
                process_id=1508,
            )

        def logoff(rid: int, u: datetime, lid: int = logon_id) -> ManifestEvent:
            return logoff_event(rid, u, fqdn, user="svc_web", domain="EXAMPLE", user_sid=svc_sid, logon_id=lid)

        noise(t, allowed)
        noise(t + timedelta(seconds=1), logon)
        noise(t + timedelta(seconds=rng.randint(30, 600)), logoff)
    for k in range(2):
        t = start + timedelta(seconds=rng.randrange(86_000))
        lid = 0x5E0000 + k

        def adm_logon(rid: int, u: datetime, lid: int = lid) -> ManifestEvent:
            return logon_event(
                rid,
                u,
                fqdn,
                user="Administrator",
                domain="EXAMPLE",
                user_sid=adm_sid,
                logon_id=lid,
                logon_type=10,
                ip="10.1.0.5",
                port="0",
                package="Negotiate",
            )

        def privileges(rid: int, u: datetime, lid: int = lid) -> ManifestEvent:
            return special_privileges_event(
                rid, u, fqdn, user="Administrator", domain="EXAMPLE", user_sid=adm_sid, logon_id=lid
            )

        noise(t, adm_logon)
        noise(t, privileges)

    out = []
    for i, p in enumerate(sorted(planned, key=lambda p: p.utc)):
        out.append(SecEvent(h, p.utc, p.scenario, p.build(2_904_117 + i, p.utc), p.truth))
    return out


# ------------------------------------------------------------------------------ late days (28-31 Oct)


def oct_day(day: int) -> date:
    """The date of an October 2026 day number (32 = 1 November)."""
    return date(2026, 10, 1) + timedelta(days=day - 1)


def late_utc(host: Host, day: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    """UTC instant of a local wall-clock time on an October day number (32 = 1 November)."""
    d = oct_day(day)
    return host.utc(d.year, d.month, d.day, h, mi, s)


def working_instant(rng: random.Random, host: Host, day: int, start: int = 8, end: int = 18) -> datetime:
    """A uniformly drawn instant between ``start`` and ``end`` o'clock local on ``day``."""
    lo, hi = late_utc(host, day, start), late_utc(host, day, end)
    return lo + timedelta(seconds=rng.randrange(int((hi - lo).total_seconds())))


def whole_day_instant(rng: random.Random, host: Host, day: int) -> datetime:
    """A uniformly drawn instant of a local day (``day`` may be 31: the day after is 1 November)."""
    lo, hi = late_utc(host, day), late_utc(host, day + 1)
    return lo + timedelta(seconds=rng.randrange(int((hi - lo).total_seconds())))


def client_port(rng: random.Random) -> int:
    """A Windows Vista+ client port (the ephemeral range is 49152-65535)."""
    return rng.randint(49152, 65535)


def linux_port(rng: random.Random) -> int:
    """A Linux client port (net.ipv4.ip_local_port_range 32768-60999)."""
    return rng.randint(32768, 60999)


def plan_web01_late(rng: random.Random, first_record: int) -> list[Event]:
    """Scenarios i, j, m, n, o (and noise f) on WEB01's System log, 28-31 October (CET, UTC+1).

    After the hotfix of 24 Oct the driver writes no %1 element and protocol names
    (``src|dst|TCP|sport|dport``), as in the rest of the log after the reboot.
    """
    h = WEB01
    log = SystemLog(h, first_record)
    pub, internal = h.addresses
    src_name = "IPSEC"
    ident = count(0x5C01, 41)

    def packet(
        t: datetime, scenario: str, inbound: bool, proto: int, src: str, sport: int, dst: str, dport: int
    ) -> bool:
        i = next(ident) & 0xFFFF

        def build(rn: int, gen: datetime, wrt: datetime) -> EvtRecord:
            return ipsec_packet_drop(
                rn,
                gen,
                h.name,
                inbound,
                src,
                dst,
                proto,
                sport,
                dport,
                with_driver_name=False,
                protocol_as_name=True,
                source=src_name,
                written=wrt,
                ident=i,
            )

        p = Planned(t, scenario, build, _delay(rng), packet_truth(inbound, proto, src, sport, dst, dport))
        return log.add(p, key=(4290 if inbound else 4291, src, sport, dst, dport, proto))

    def attempts(t: datetime, scenario: str, src: str, sport: int, dst: str, dport: int, n: int) -> None:
        """``n`` connection attempts, each a SYN and its retransmits after 3 s and 6 s more."""
        for _ in range(n):
            for retry in (0, 3, 9):
                packet(t + timedelta(seconds=retry), scenario, True, 6, src, sport, dst, dport)
            sport += 1
            t += timedelta(seconds=rng.randint(20, 45))

    def noise(t: datetime, source: str, eid: int, inserts: list[str] | None) -> None:
        def build(rn: int, gen: datetime, wrt: datetime) -> EvtRecord:
            return other_event(rn, gen, h.name, source, eid, inserts, written=wrt)

        log.add(Planned(t, "f", build))

    # f. WMF 2.0 was installed on the evening of 27 Oct: WinRM listens on 5985 from the 28th on.
    noise(late_utc(h, 28, 7, 41, 12), "Service Control Manager", 7036,
          ["Windows Remote Management (WS-Management)", "running"])
    # i. The admins try WinRM from their workstations during working hours (the policy blocks it).
    for admin, days in ADMIN_DAYS.items():
        for day in days:
            for _ in range(rng.randint(1, 2)):
                attempts(working_instant(rng, h, day), "i", admin, client_port(rng), internal, WINRM_PORT,
                         rng.randint(1, 3))
    # j. The new resolver, WEB01's alternate DNS server since 29 Oct: queries, some asked again 2 s later.
    for day in RESOLVER_DAYS:
        for _ in range(rng.randint(4, 7)):
            t = working_instant(rng, h, day, 7, 20)
            sport = ephemeral(rng)
            packet(t, "j", False, 17, internal, sport, NEW_RESOLVER, 53)
            if rng.random() < 0.4:
                packet(t + timedelta(seconds=2), "j", False, 17, internal, sport, NEW_RESOLVER, 53)
    # m. One wide scan in the small hours: one source port, the ports in random order, a few
    # probes sent again a second later (an unanswered probe is retransmitted once).
    t = h.utc(2026, 10, SCAN_DAY, 3, 12, rng.randint(0, 30))
    sport = linux_port(rng)
    for port in rng.sample(WIDE_SCAN_PORTS, len(WIDE_SCAN_PORTS)):
        packet(t, "m", True, 6, SCANNER, sport, pub, port)
        if rng.random() < 0.25:
            packet(t + timedelta(seconds=1), "m", True, 6, SCANNER, sport, pub, port)
        t += timedelta(seconds=rng.randint(0, 1))
    # n. Terminal Services from the Internet, any time of day.
    for day in RDP_PROBE_DAYS:
        for _ in range(rng.randint(1, 2)):
            attempts(whole_day_instant(rng, h, day), "n", RDP_PROBE, linux_port(rng), pub, 3389, rng.randint(2, 4))
    # o. A web proxy hunt from one /24.
    for src, days in IGNORED_DAYS.items():
        for day in days:
            attempts(whole_day_instant(rng, h, day), "o", src, linux_port(rng), pub, IGNORED_PORT, rng.randint(1, 3))
    # f. Daily noise.
    for day in LATE_DAYS:
        noon = late_utc(h, day, 12)
        noise(noon, "EventLog", 6013, [str(int((noon - WEB01_BOOT).total_seconds()))])
        for _ in range(rng.randint(2, 3)):
            t = whole_day_instant(rng, h, day)
            svc = rng.choice(("Background Intelligent Transfer Service", "Removable Storage"))
            noise(t, "Service Control Manager", 7036, [svc, "running"])
            noise(t + timedelta(seconds=rng.randint(60, 900)), "Service Control Manager", 7036, [svc, "stopped"])
    return log.events()


def plan_db01_late(rng: random.Random, first_record: int) -> list[Event]:
    """Scenarios k and p (and noise f) on DB01's System log, 28-31 October (CDT, UTC-5).

    APP02 was retired on 27 Oct: no more clear text (d) or SQL attempts (g) from 10.1.0.50.
    """
    h = DB01
    log = SystemLog(h, first_record)
    me = h.addresses[0]
    src_name = "IPSec"
    ident = count(0x2301, 53)

    def packet(t: datetime, scenario: str, src: str, sport: int, dport: int) -> bool:
        i = next(ident) & 0xFFFF

        def build(rn: int, gen: datetime, wrt: datetime) -> EvtRecord:
            return ipsec_packet_drop(
                rn, gen, h.name, True, src, me, 6, sport, dport, source=src_name, written=wrt, ident=i,
                with_driver_name=True, driver_name="",
            )

        truth = packet_truth(True, 6, src, sport, me, dport)
        return log.add(Planned(t, scenario, build, _delay(rng), truth), key=(4290, src, sport, me, dport))

    def noise(t: datetime, source: str, eid: int, inserts: list[str] | None) -> None:
        def build(rn: int, gen: datetime, wrt: datetime) -> EvtRecord:
            return other_event(rn, gen, h.name, source, eid, inserts, written=wrt)

        log.add(Planned(t, "f", build))

    for day in LATE_DAYS:
        # f. the nightly shadow copy for the backup.
        t = late_utc(h, day, 2, 0, rng.randint(0, 30))
        noise(t, "Service Control Manager", 7036, ["Volume Shadow Copy", "running"])
        noise(t + timedelta(seconds=rng.randint(300, 900)), "Service Control Manager", 7036,
              ["Volume Shadow Copy", "stopped"])
        # k. A few minutes later the backup server calls the agent, and tries again twice, 5 min apart.
        t = late_utc(h, day, 2, rng.randint(3, 8), rng.randint(0, 59))
        sport = ephemeral(rng)
        for _ in range(3):
            for retry in (0, 3, 9):
                packet(t + timedelta(seconds=retry), "k", BACKUP_SERVER, sport, BACKUP_PORT)
            sport += 1
            t += timedelta(seconds=300 + rng.randint(0, 20))
        noon = late_utc(h, day, 12)
        noise(noon, "EventLog", 6013, [str(int((noon - h.utc(2026, 9, 28, 6, 0, 0)).total_seconds()))])
    # p. Someone tries PostgreSQL on the SQL Server host, once.
    packet(late_utc(h, 30, 14, 22, rng.randint(0, 59)), "p", RARE_CLIENT, ephemeral(rng), RARE_PORT)
    return log.events()


def plan_app03_firewall(rng: random.Random) -> list[FwPlanned]:
    """APP03's pfirewall.log, 28-31 October (GMT): scenario l (DROP) among ALLOW noise (f).

    Windows Server 2008 R2 logs ALLOW and DROP (no OPEN/CLOSE) with the Windows Firewall
    header whose fields end with ``path`` (no ``pid``: that came with Windows 10).  The
    monitoring servers run Linux: a SYN is retransmitted after 1 s and 2 s more.
    """
    h = APP03
    me = h.addresses[0]
    web = WEB01.addresses[1]
    out: list[FwPlanned] = []
    keys: set[tuple] = set()

    def add(t: datetime, scenario: str, line: FirewallLine, truth: dict | None = None) -> None:
        k = (h.local(t), line.action, line.protocol, line.src_ip, line.src_port, line.dst_ip, line.dst_port)
        if k in keys:
            return
        keys.add(k)
        out.append(FwPlanned(t, scenario, line, truth or {}))

    def allow(t: datetime, proto: str, src: str, dst: str, sport: int, dport: int, path: str) -> None:
        add(t, "f", FirewallLine(h.local(t), "ALLOW", proto, src, dst, sport, dport, 0, None, 0, 0, 0, path=path))

    for day in LATE_DAYS:
        # f. WEB01's application calls APP03's web service; APP03 asks DNS; the daily WSUS check.
        for _ in range(rng.randint(6, 10)):
            t = working_instant(rng, h, day, 7, 19)
            allow(t, "TCP", web, me, ephemeral(rng), 443, "RECEIVE")
            u = t + timedelta(seconds=rng.randint(1, 20))
            allow(u, "UDP", me, h.dns[0], client_port(rng), 53, "SEND")
        t = late_utc(h, day, 3, rng.randint(0, 59), rng.randint(0, 59))
        allow(t, "UDP", me, h.dns[0], client_port(rng), 53, "SEND")
        allow(t + timedelta(seconds=1), "TCP", me, NAMES["wsus.example.net"][0], client_port(rng), 80, "SEND")
    # l. The monitoring servers check the new agent every hour, each at its own minute.
    for day, hours in MONITOR_HOURS.items():
        for k, monitor in enumerate(MONITORS):
            for hour in hours:
                t = late_utc(h, day, hour, 20 * k + rng.randint(0, 4), rng.randint(0, 59))
                sport = linux_port(rng)
                syn = rng.randrange(1 << 32)
                for retry in (0, 1, 3):
                    u = t + timedelta(seconds=retry)
                    line = FirewallLine(
                        h.local(u), "DROP", "TCP", monitor, me, sport, MONITOR_PORT, 60, "S", syn, 0, 29200,
                        path="RECEIVE",
                    )
                    add(u, "l", line, packet_truth(True, 6, monitor, sport, me, MONITOR_PORT))
    out.sort(key=lambda p: p.utc)
    return out


# ------------------------------------------------------------------------------ writing


@dataclass
class Row:
    """One data row written to an export file (what the ledger counts)."""

    file: str
    host: str
    identity: tuple
    is_drop: bool
    scenario: str
    event_id: int | None
    utc: datetime
    local: datetime
    record_number: int | None
    truth: dict


class Ledger:
    """Every data row written, per file: the only source of the expected counts."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    def evt(self, file: str, ev: Event) -> None:
        r = ev.record
        self.rows.append(
            Row(
                file,
                ev.host.name,
                (ev.host.name, r.EventLog, r.RecordNumber),
                ev.is_drop,
                ev.scenario,
                r.EventID,
                ev.utc,
                r.TimeGenerated,
                r.RecordNumber,
                ev.truth,
            )
        )

    def sec(self, file: str, ev: SecEvent) -> None:
        e = ev.event
        self.rows.append(
            Row(
                file,
                ev.host.name,
                (ev.host.name, "Security", e.record_id),
                ev.is_drop,
                ev.scenario,
                e.event_id,
                ev.utc,
                ev.host.local(ev.utc),
                e.record_id,
                ev.truth,
            )
        )

    def fw(self, file: str, host: Host, p: FwPlanned) -> None:
        ln = p.line
        ident = (
            host.name,
            "pfirewall",
            ln.when,
            ln.action,
            ln.protocol,
            ln.src_ip,
            ln.src_port,
            ln.dst_ip,
            ln.dst_port,
        )
        self.rows.append(
            Row(file, host.name, ident, ln.action == "DROP", p.scenario, None, p.utc, ln.when, None, p.truth)
        )


def open_out(path: Path):
    """Text file for an export: ASCII, no newline translation (the writers emit CRLF)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("w", encoding="ascii", newline="")


def export_w3c(
    out: Path,
    rel: str,
    ledger: Ledger,
    mode: str,
    blocks: Iterable[tuple[list[str] | None, datetime, list[Event]]],
    computer: Callable[[str], str] = str,
) -> None:
    """Write one W3C export; each block is (fields, #Date, events) - several = appended runs."""
    with open_out(out / rel) as f:
        writer = None
        for fields, created, events in blocks:
            if writer is None:
                writer = W3CWriter(f, fields, mode, created=created)  # type: ignore[arg-type]
            else:
                writer.new_block(fields, created=created)
            for ev in events:
                writer.write(replace(ev.record, ComputerName=computer(ev.record.ComputerName)))
                ledger.evt(rel, ev)


def export_csv(out: Path, rel: str, ledger: Ledger, events: list[Event]) -> None:
    """Write one ``-o:CSV`` export (all 15 fields)."""
    with open_out(out / rel) as f:
        writer = CSVWriter(f)
        for ev in events:
            writer.write(ev.record)
            ledger.evt(rel, ev)


def export_pfirewall(
    out: Path, rel: str, ledger: Ledger, host: Host, variant: str, lines: list[FwPlanned]
) -> None:
    """Write one pfirewall.log of the given header variant."""
    with open_out(out / rel) as f:
        writer = PfirewallWriter(f, variant)  # type: ignore[arg-type]
        for p in lines:
            writer.write(p.line)
            ledger.fw(rel, host, p)


def export_evtx_system(out: Path, rel: str, ledger: Ledger, events: list[Event]) -> None:
    """WEB01's System log as EVTX, exported with a query: headers renumbered, EventRecordIDs kept.

    Each record is the very event of the text exports (:func:`from_evt_record`):
    EventRecordID = RecordNumber, TimeCreated = the event's UTC instant, the header
    time = TimeWritten in UTC.
    """
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    with EvtxWriter(out / rel, renumber=True) as writer:
        for ev in events:
            r = ev.record
            assert r.TimeWritten is not None and r.TimeGenerated is not None
            writer.write(from_evt_record(r, ev.utc, written_utc=ev.utc + (r.TimeWritten - r.TimeGenerated)))
            ledger.evt(rel, ev)


def export_evtx_security(out: Path, rel: str, ledger: Ledger, events: list[SecEvent]) -> None:
    """An archived Security log: header record numbers are the EventRecordIDs."""
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    with EvtxWriter(out / rel) as writer:
        for ev in events:
            writer.write(ev.event)
            ledger.sec(rel, ev)


def between(events: Iterable[Event], start: datetime, end: datetime) -> list[Event]:
    """Events in [start, end) UTC: what an export's WHERE TimeGenerated clause selects."""
    return [e for e in events if start <= e.utc < end]


def write_exports(out: Path) -> tuple[Ledger, dict]:
    """Plan the three hosts and write their fourteen export files; return the ledger of rows written."""
    rng = random.Random(SEED)
    web, web_info = plan_web01(rng)
    db = plan_db01(rng)
    fw = plan_db01_firewall(rng)
    ledger = Ledger()
    w, d = WEB01, DB01

    # WEB01 --------------------------------------------------------------------------
    export_w3c(
        out,
        "exports/web01/system-20261024-plain.log",
        ledger,
        "plain",
        [(None, datetime(2026, 10, 25, 0, 30, 12), between(web, w.utc(2026, 10, 23), w.utc(2026, 10, 25)))],
    )
    export_w3c(
        out,
        "exports/web01/system-20261025-dquotes.log",
        ledger,
        "dquotes",
        [(None, datetime(2026, 10, 26, 0, 20, 5), between(web, w.utc(2026, 10, 25), w.utc(2026, 10, 26)))],
    )
    # Exported the next morning with WHERE TimeGenerated >= '2026-10-25 00:00:00': the
    # same day-25 records as the dquotes file plus day 26 until 06:00.
    csv_cut = w.utc(2026, 10, 26, 6)
    export_csv(out, "exports/web01/system-20261025.csv", ledger, between(web, w.utc(2026, 10, 25), csv_cut))
    export_w3c(
        out,
        "exports/web01/system-20261027-encodedelim.log",
        ledger,
        "encodedelim",
        [
            (
                ["TimeGenerated", "EventID", "SourceName", "Strings", "ComputerName", "Message"],
                datetime(2026, 10, 28, 0, 10, 40),
                between(web, csv_cut, w.utc(2026, 10, 28)),
            )
        ],
        computer=str.lower,
    )

    # DB01 ---------------------------------------------------------------------------
    export_w3c(
        out,
        "exports/db01/system-20261026-nostrings.log",
        ledger,
        "plain",
        [
            (
                [
                    "EventLog",
                    "RecordNumber",
                    "TimeGenerated",
                    "EventID",
                    "EventTypeName",
                    "SourceName",
                    "ComputerName",
                    "Message",
                ],
                datetime(2026, 10, 26, 7, 5, 0),
                between(db, d.utc(2026, 10, 23), d.utc(2026, 10, 26)),
            )
        ],
    )
    export_w3c(
        out,
        "exports/db01/system-20261027.log",
        ledger,
        "plain",
        [
            (None, datetime(2026, 10, 27, 0, 5, 30), between(db, d.utc(2026, 10, 26), d.utc(2026, 10, 27))),
            (
                [
                    "EventLog",
                    "RecordNumber",
                    "TimeGenerated",
                    "EventID",
                    "SourceName",
                    "Strings",
                    "ComputerName",
                ],
                datetime(2026, 10, 28, 0, 5, 30),
                between(db, d.utc(2026, 10, 27), d.utc(2026, 10, 28)),
            ),
        ],
    )
    old = [p for p in fw if p.utc < d.utc(2026, 10, 25)]
    new = [p for p in fw if p.utc >= d.utc(2026, 10, 25)]
    export_pfirewall(out, "exports/db01/pfirewall-old.log", ledger, d, "icf", old)
    export_pfirewall(out, "exports/db01/pfirewall.log", ledger, d, "with-pid", new)

    # EVTX ---------------------------------------------------------------------------
    # WEB01's System log of 26 Oct 00:00-06:00 local: exactly the part of that day the CSV
    # export (which has RecordNumber) holds, so every record is stored once; none of it
    # overlaps the encodedelim export, which has no RecordNumber to match on.
    export_evtx_system(out, "exports/web01/system-20261026.evtx", ledger, between(web, w.utc(2026, 10, 26), csv_cut))
    sec = plan_db01_security(random.Random(SEED + 27))
    export_evtx_security(out, "exports/db01/security-20261027.evtx", ledger, sec)

    # Late days (28-31 Oct) -------------------------------------------------------------
    # New files only, each log's numbering continuing where its last export stopped; own random
    # generators, so nothing above changes.
    web_late = plan_web01_late(random.Random(SEED + 28), web[-1].record.RecordNumber + 1)
    db_late = plan_db01_late(random.Random(SEED + 29), db[-1].record.RecordNumber + 1)
    app_fw = plan_app03_firewall(random.Random(SEED + 30))
    # WEB01, 28-29 Oct: -oDQuotes:ON with a field list, exported the next night.
    export_w3c(
        out,
        "exports/web01/system-20261029-dquotes.log",
        ledger,
        "dquotes",
        [
            (
                ["EventLog", "RecordNumber", "TimeGenerated", "EventID", "EventTypeName", "SourceName", "Strings",
                 "ComputerName", "Message"],
                datetime(2026, 10, 30, 0, 15, 2),
                between(web_late, late_utc(w, 28), late_utc(w, 30)),
            )
        ],
    )
    # WEB01, 30-31 Oct: EVTX exported with a query (headers renumbered, EventRecordIDs kept).
    export_evtx_system(
        out, "exports/web01/system-20261031.evtx", ledger, between(web_late, late_utc(w, 30), late_utc(w, 32))
    )
    # DB01, 28-31 Oct: -o:CSV, SELECT *.
    export_csv(out, "exports/db01/system-20261031.csv", ledger, between(db_late, late_utc(d, 28), late_utc(d, 32)))
    # APP03: its whole pfirewall.log (Windows Firewall header with path, no pid).
    export_pfirewall(out, "exports/app03/pfirewall.log", ledger, APP03, "xpsp2", app_fw)

    late_files = {r.file for r in ledger.rows if r.scenario in LATE_SCENARIOS}
    assert len(web_late) + len(db_late) + len(app_fw) == sum(1 for r in ledger.rows if r.file in late_files), (
        "a late event was planned but not exported, or exported twice"
    )
    info = {"web": web, "reboot_local": web_info["reboot_local"], "dst_window": web_info["dst_window"]}
    return ledger, info


# ------------------------------------------------------------------------------ config


def write_config(out: Path) -> None:
    """Write ipsec-drops.toml from :data:`HOSTS` / :data:`NAMES`, with a comment per key."""

    def arr(xs: Iterable[str]) -> str:
        return "[" + ", ".join(f'"{x}"' for x in xs) + "]"

    lines = [
        "# ipsec-drops configuration of the fictional sample site (written by generate.py).",
        "# Relative paths are relative to this file's directory.",
        "",
    ]
    for h in HOSTS:
        lines += [
            f"# {h.name}: {h.system}, {h.role}.",
            *([f"# {h.firewall_only}"] if h.firewall_only else []),
            f"[hosts.{h.name}]",
            "# IANA zone of the host's clock: Log Parser and pfirewall.log print local time only,",
            "# so this is what turns their timestamps into UTC (DST included).",
            f'timezone = "{h.timezone}"',
            "# The host's own IPv4 addresses: decide which end of a flow is local.",
            f"addresses = {arr(h.addresses)}",
            "# Its configured DNS servers: what the netsh keyword dstaddr=dns / srcaddr=dns means.",
            f"dns = {arr(h.dns)}",
            *(
                ["# The netsh ipsec script that builds its IPSec policy.", f'policy = "policies/{h.name.lower()}.cmd"']
                if h.policy
                else []
            ),
            "# Globs of the files exported from this host; a file matching no host's inbox is",
            "# attributed by the ComputerName inside it (pfirewall.log has none, hence this).",
            f'inbox = ["exports/{h.name.lower()}/*"]',
            "",
        ]
    lines += [
        "# Static name resolution for DNS names used as filter addresses in the policies",
        "# (netsh resolves them when the policy is built; we cannot ask the site's DNS).",
        "[names]",
        *(f'"{name}" = {arr(addrs)}' for name, addrs in NAMES.items()),
        "",
        "# Filter suggestions (ipsec-drops suggest): the scanners' network seen at WEB01 is never suggested.",
        "[suggest]",
        f"ignore = {arr(SUGGEST_CONFIG['ignore'])}",
        "",
    ]
    with open_out(out / "ipsec-drops.toml") as f:
        f.write("\n".join(lines))


# ------------------------------------------------------------------------------ expected suggestions

#: What the Suggestions feature must make of the late scenarios (and of scenario c at WEB01).
#: Everything else of an entry (ports, remotes, days, events) is counted from the drops written.
SUGGESTED = (
    {"scenario": "i", "host": "WEB01", "kind": "ipsec", "remote_networks": [ADMIN_NET], "risk": None,
     "note": "the observed remotes collapse to 10.40.1.9/32, 10.40.1.10/31, 10.40.1.14/32; widening them to "
     f"{ADMIN_NET} is allowed because no attack (or any other) traffic comes from that /29"},
    {"scenario": "j", "host": "WEB01", "kind": "ipsec", "remote_networks": None,
     "risk": f"DNS to {NEW_RESOLVER}, which is not a configured dns server of WEB01 (dns = {', '.join(WEB01.dns)})",
     "note": "outbound: the remote port is the service"},
    {"scenario": "k", "host": "DB01", "kind": "ipsec", "remote_networks": None, "risk": None,
     "note": "the Backup agent rule exists but its filter list is empty, so Block all blocks the agent"},
    {"scenario": "l", "host": "APP03", "kind": "advfirewall", "remote_networks": ["10.1.0.80/30"], "risk": None,
     "note": "APP03 has no IPSec policy (verdict no-policy): a netsh advfirewall rule; the observed sources "
     "collapse to 10.1.0.81/32, 10.1.0.82/31, and widening them to 10.1.0.80/30 (one block instead of two) "
     "is allowed because no attack traffic of APP03 comes from that /30"},
)
NOT_SUGGESTED = (
    {"scenario": "m", "host": "WEB01", "reason": "scan",
     "note": f"one source, {len(WIDE_SCAN_PORTS)} distinct TCP ports in one UTC day (scan beats rare)"},
    {"scenario": "n", "host": "WEB01", "reason": "exposure",
     "note": "recurring (2+ UTC days), but a public source to a risky port (3389)"},
    {"scenario": "c", "host": "WEB01", "reason": "exposure",
     "note": "the existing Terminal Services attempts from 203.0.113.x: public sources to 3389"},
    {"scenario": "o", "host": "WEB01", "reason": "ignored",
     "note": f"recurring, 3 sources, 2+ UTC days, but inside the sample run's ignore = [\"{IGNORED_NET}\"]"},
    {"scenario": "p", "host": "DB01", "reason": "rare", "note": "one event, one UTC day, one source"},
)
#: The [suggest] table of the sample site's ipsec-drops.toml.
SUGGEST_CONFIG = {"ignore": [IGNORED_NET]}


def _ip_key(a: str) -> tuple[int, int]:
    ip = ip_address(a)
    return ip.version, int(ip)


def _service_ports(t: dict) -> tuple[int | None, int | None]:
    """(local_port, remote_port) of a drop as the flows view keeps them (the service end only)."""
    sport, dport = t["src_port"], t["dst_port"]
    reply = isinstance(sport, int) and isinstance(dport, int) and sport < 1024 <= dport  # a service's reply
    service = sport if reply else dport
    local_is_service = (t["direction"] == "inbound") != reply
    return (service, None) if local_is_service else (None, service)


def _local_ip(t: dict) -> str:
    """This host's end of a drop where the event tells it (expected-drops.csv column local_ip)."""
    if t.get("direction") == "inbound":
        return t.get("dst_ip", "")
    if t.get("direction") == "outbound":
        return t.get("src_ip", "")
    return ""


def expected_flows(drops: list[Row]) -> dict:
    """How many rows the flows view has: one per host, direction, protocol, local address and service
    port, remote address and service port (the client's ephemeral port is left out, see
    :func:`_service_ports`), assuming every flow meets one filter (true on the sample site)."""
    last: dict[tuple, datetime] = {}
    for r in drops:
        t = r.truth
        if isinstance(t.get("src_port"), int) and isinstance(t.get("dst_port"), int):
            lport, rport = _service_ports(t)
        else:  # no ports (ICMP, count events, 4292): nothing to leave out
            lport = rport = None
        k = (r.host, t.get("direction"), t.get("protocol"), _local_ip(t), lport, t.get("remote_ip"), rport)
        last[k] = max(last.get(k, r.utc), r.utc)
    return {
        "total": len(last),
        "by_host": dict(sorted(Counter(k[0] for k in last).items())),
        "by_last_utc_day": dict(sorted(Counter(t.date().isoformat() for t in last.values()).items())),
    }


def _scenario_drops(drops: list[Row], scenario: str, host: str) -> list[Row]:
    rows = [r for r in drops if r.scenario == scenario and r.host == host]
    if not rows:
        raise RuntimeError(f"scenario {scenario} wrote no drops at {host}")
    return rows


def expected_suggestions(drops: list[Row]) -> tuple[list[dict], list[dict]]:
    """The ``suggestions`` and ``not_suggested`` entries of expected.json, counted from the drops.

    Also checks what the scenarios promise: recurrence in distinct UTC days, the legitimate
    remotes never among any other drop's remotes, nothing but scenario i inside the admin /29
    and nothing but scenario o inside the ignored /24.
    """

    def days(rows: list[Row]) -> list[str]:
        return sorted({r.utc.date().isoformat() for r in rows})

    def remotes(rows: list[Row]) -> list[str]:
        return sorted({r.truth["remote_ip"] for r in rows}, key=_ip_key)

    def shape(rows: list[Row], scenario: str, ports: bool) -> tuple:
        found = {
            (r.truth["direction"], r.truth["protocol"], *(_service_ports(r.truth) if ports else ())) for r in rows
        }
        if len(found) != 1:
            raise RuntimeError(f"scenario {scenario} is not one service: {found}")
        return found.pop()

    suggestions = []
    for spec in SUGGESTED:
        rows = _scenario_drops(drops, spec["scenario"], spec["host"])
        direction, protocol, lport, rport = shape(rows, spec["scenario"], True)
        rem = remotes(rows)
        nets = spec["remote_networks"] or [str(n) for n in collapse_addresses(ip_network(a) for a in rem)]
        if not all(any(ip_address(a) in ip_network(n) for n in nets) for a in rem):
            raise RuntimeError(f"scenario {spec['scenario']}: a remote outside {nets}")
        suggestions.append(
            {
                "scenario": spec["scenario"],
                "host": spec["host"],
                "kind": spec["kind"],
                "direction": direction,
                "protocol": protocol,
                "local_port": lport,
                "remote_port": rport,
                "remote_networks": nets,
                "remotes": rem,
                "days": days(rows),
                "events": len(rows),
                "packets": sum(r.truth["packets"] for r in rows),
                "risk": spec["risk"],
                "note": spec["note"],
            }
        )
    not_suggested = []
    for spec in NOT_SUGGESTED:
        rows = _scenario_drops(drops, spec["scenario"], spec["host"])
        direction, protocol = shape(rows, spec["scenario"], False)
        not_suggested.append(
            {
                "scenario": spec["scenario"],
                "host": spec["host"],
                "reason": spec["reason"],
                "direction": direction,
                "protocol": protocol,
                "local_ports": sorted({p for r in rows if (p := _service_ports(r.truth)[0]) is not None}),
                "remotes": remotes(rows),
                "days": days(rows),
                "events": len(rows),
                "note": spec["note"],
            }
        )

    # The promises of the brief, checked on what was written.
    by = {e["scenario"]: e for e in suggestions + not_suggested}
    assert len(by["i"]["days"]) >= 3 and len(by["i"]["remotes"]) == 4
    assert len(by["j"]["days"]) >= 2 and by["j"]["remotes"] == [NEW_RESOLVER]
    assert by["k"]["days"] == [oct_day(d).isoformat() for d in LATE_DAYS]
    assert len(by["l"]["remotes"]) >= 3 and all(ip_address(a).is_private for a in by["l"]["remotes"])
    assert len(by["m"]["days"]) == 1 and len(by["m"]["local_ports"]) >= 30
    assert len(by["n"]["days"]) >= 2 and by["n"]["local_ports"] == [3389]
    assert len(by["o"]["days"]) >= 2 and len(by["o"]["remotes"]) >= 2
    assert (by["p"]["events"], len(by["p"]["days"]), len(by["p"]["remotes"])) == (1, 1, 1)
    legit = {a for e in suggestions for a in e["remotes"]}
    admin, ignored = ip_network(ADMIN_NET), ip_network(IGNORED_NET)
    for r in drops:
        a = r.truth.get("remote_ip")
        if not a or r.scenario in {e["scenario"] for e in suggestions}:
            continue
        if a in legit:
            raise RuntimeError(f"legitimate remote {a} also in scenario {r.scenario}")
        if ip_address(a) in admin:
            raise RuntimeError(f"{a} of scenario {r.scenario} is inside the admin subnet {ADMIN_NET}")
        if ip_address(a) in ignored and r.scenario != "o":
            raise RuntimeError(f"{a} of scenario {r.scenario} is inside the ignored {IGNORED_NET}")
    return suggestions, not_suggested


# ------------------------------------------------------------------------------ expected


def summarise(ledger: Ledger) -> dict:
    """Count what was written: distinct drops overall and per host/event/scenario, rows per file."""
    first: dict[tuple, Row] = {}
    files_of: dict[tuple, list[str]] = defaultdict(list)
    for r in ledger.rows:
        if r.is_drop:
            first.setdefault(r.identity, r)
            if r.file not in files_of[r.identity]:
                files_of[r.identity].append(r.file)
    drops = sorted(first.values(), key=lambda r: (r.host, r.utc, r.record_number or 0, str(r.identity)))
    by_file: dict[str, int] = Counter()
    rows_by_file: dict[str, dict[str, int]] = {}
    for r in ledger.rows:
        stats = rows_by_file.setdefault(r.file, {"rows": 0, "drops": 0, "drops_also_in_another_file": 0})
        stats["rows"] += 1
        if r.is_drop:
            by_file[r.file] += 1
            stats["drops"] += 1
            if len(files_of[r.identity]) > 1:
                stats["drops_also_in_another_file"] += 1
    scen_host_file: dict[tuple[str, str, str], int] = Counter()
    for r in ledger.rows:
        if r.is_drop:
            scen_host_file[(r.scenario, r.host, r.file)] += 1

    def key_of(r: Row) -> str:
        return str(r.event_id) if r.event_id is not None else "pfirewall"

    total = len(drops)
    duplicate_rows = sum(by_file.values()) - total
    return {
        "total_drops": total,
        "by_host": dict(sorted(Counter(r.host for r in drops).items())),
        "by_file": {f: by_file.get(f, 0) for f in rows_by_file},
        "by_event_id": dict(sorted(Counter(key_of(r) for r in drops).items())),
        "by_scenario": dict(sorted(Counter(r.scenario for r in drops).items())),
        "by_scenario_host": {
            sc: dict(sorted(Counter(r.host for r in drops if r.scenario == sc).items()))
            for sc in sorted({r.scenario for r in drops})
        },
        "duplicate_rows": duplicate_rows,
        "rows_by_file": rows_by_file,
        "_drops": drops,
        "_files_of": files_of,
        "_scen_host_file": scen_host_file,
    }


def write_expected(out: Path, ledger: Ledger, info: dict, allowed: dict | None = None) -> dict:
    """Write expected.json, expected-drops.csv and EXPECTED.md from the ledger (and the allowed traffic)."""
    s = summarise(ledger)
    drops: list[Row] = s.pop("_drops")
    files_of = s.pop("_files_of")
    shf = s.pop("_scen_host_file")
    assert s["total_drops"] == sum(s["by_file"].values()) - s["duplicate_rows"]
    assert s["total_drops"] == sum(s["by_host"].values()) == sum(s["by_event_id"].values())

    # Events in the repeated hour (first pass fold 0, second pass fold 1), in file order.
    lo, hi = info["dst_window"]
    repeated = []
    for ev in info["web"]:
        if lo <= ev.utc < hi:
            local = ev.record.TimeGenerated
            fold = (
                0
                if WEB01.utc(
                    local.year, local.month, local.day, local.hour, local.minute, local.second, fold=0
                )
                == ev.utc
                else 1
            )
            repeated.append(
                {
                    "record_number": ev.record.RecordNumber,
                    "local": f"{local:%Y-%m-%d %H:%M:%S}",
                    "pass": fold + 1,
                    "utc": ev.utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "event_id": ev.record.EventID,
                    "drop": ev.is_drop,
                }
            )
    s["repeated_hour_web01"] = repeated
    s["suggestions"], s["not_suggested"] = expected_suggestions(drops)
    s["suggest_config"] = SUGGEST_CONFIG
    s["flows"] = expected_flows(drops)
    s["notes"] = {
        "identity": "IPSec drops: (host, EventLog, RecordNumber); an event exported twice counts once. "
        "pfirewall: every DROP line is one drop. EVTX: (host, Channel, EventRecordID) - the System EVTX "
        "EventRecordIDs are the RecordNumbers of the same events in the Log Parser exports.",
        "drop_event_ids": "IPSec/IPSEC source, EventID 4283-4288, 4290, 4291, 4292 (4289 not emitted); "
        "Security log (Microsoft-Windows-Security-Auditing): 5152, 5153, 5157, 5159, 4960-4963, 4965 "
        "(5156 allowed connections are not drops)",
        "by_event_id": "distinct drops; key 'pfirewall' = pfirewall DROP lines",
        "by_file": "drop rows in each file, duplicates included; total = sum(by_file) - duplicate_rows",
        "evtx_record_numbers": "exports/web01/system-20261026.evtx was exported with a query: its record "
        "headers are numbered 1..N while each EventRecordID keeps the log's number (use EventRecordID); "
        "exports/db01/security-20261027.evtx is an archived log: header number = EventRecordID",
        "evtx_times": "EVTX TimeCreated is UTC; Security events carry microseconds (event_time_utc has them too)",
        "event_log": "expected-drops.csv column event_log: System, Security or pfirewall (the identity's log)",
        "local_ip": "expected-drops.csv column local_ip: this host's end of the flow where the event tells it",
        "suggestions": "what the Suggestions feature must propose for the late scenarios i-l: one permit per "
        "entry (kind ipsec = a netsh ipsec filter in the host's policy, advfirewall = a netsh advfirewall rule "
        "for a host without one); local_port/remote_port as the flows view keeps them (the service end); "
        "remotes = the observed remote addresses, remote_networks = what the permit should name; days = "
        "distinct UTC days; protocol is the IP protocol number",
        "not_suggested": "recurring or not, these must not become suggestions, for the given reason (scan, "
        "exposure, ignored, rare); local_ports = the service ports they touched",
        "suggest_config": "the [suggest] table of the sample run (not in ipsec-drops.toml until the config "
        "knows [suggest])",
        "by_scenario_host": "distinct drops per scenario and host",
        "flows": "rows of the flows view (one per host, direction, protocol, local address and service port, "
        "remote address and service port; every flow here meets one filter): total, per host, and per UTC day "
        "of the flow's last drop",
    }
    if allowed is not None:
        s["allowed"] = allowed
        s["notes"]["allowed"] = (
            "observed permitted traffic (the allowed dataset; no drops): WEB01's IIS web and FTP logs (iis_files, "
            "UTC times; each request one event, web01_flows as the allowed flows view keys them: the client's "
            "ephemeral port dropped, the FTP log names no server address), the pfirewall ALLOW lines and the "
            "5156 events of DB01's Security log; web01_new_would_break: what `whatif --replace "
            "policies/web01-new.cmd` must list first")
    with open_out(out / "expected.json") as f:
        json.dump(s, f, indent=2)
        f.write("\n")

    with open_out(out / "expected-drops.csv") as f:
        w = csv.writer(f, lineterminator="\n")
        cols = [
            "host",
            "event_time_utc",
            "local_time",
            "event_id",
            "record_number",
            "direction",
            "protocol",
            "src_ip",
            "src_port",
            "dst_ip",
            "dst_port",
            "remote_ip",
            "packets",
            "scenario",
            "files",
            "event_log",
            "local_ip",
        ]
        w.writerow(cols)
        for r in drops:
            t = r.truth
            utc_text = r.utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if r.utc.microsecond else "%Y-%m-%dT%H:%M:%SZ")
            local_ip = _local_ip(t)
            w.writerow(
                [
                    r.host,
                    utc_text,
                    f"{r.local:%Y-%m-%d %H:%M:%S}",
                    "" if r.event_id is None else r.event_id,
                    "" if r.record_number is None else r.record_number,
                    t.get("direction", ""),
                    t.get("protocol", ""),
                    t.get("src_ip", ""),
                    t.get("src_port", ""),
                    t.get("dst_ip", ""),
                    t.get("dst_port", ""),
                    t.get("remote_ip", ""),
                    t.get("packets", ""),
                    r.scenario,
                    ";".join(files_of[r.identity]),
                    r.identity[1],
                    local_ip,
                ]
            )

    md = render_markdown(s, shf, info) + (render_allowed(allowed) if allowed is not None else "")
    with open_out(out / "EXPECTED.md") as f:
        f.write(md)
    return s


def render_suggestions(s: dict) -> list[str]:
    """EXPECTED.md section: what the Suggestions feature must make of scenarios i-p."""

    def port(v: int | None) -> str:
        return "-" if v is None else str(v)

    def ports(vs: list[int]) -> str:
        return ", ".join(map(str, vs)) if len(vs) <= 3 else f"{len(vs)} ports ({vs[0]}-{vs[-1]})"

    proto = {1: "ICMP", 6: "TCP", 17: "UDP"}
    ignore = ", ".join(f'"{n}"' for n in s["suggest_config"]["ignore"])
    return [
        "## Suggestions (scenarios i-p, 28-31 Oct)",
        "",
        "Recurring blocked flows that a permit should let through, next to attacks and noise that must",
        "not become permits.  Recurrence counts distinct UTC days.  `ipsec-drops.toml` has",
        f"`[suggest] ignore = [{ignore}]` (`expected.json` `suggest_config`).",
        "",
        "Expected suggestions (`expected.json` `suggestions`; kind `ipsec` = a netsh ipsec permit filter in",
        "the host's policy, `advfirewall` = a `netsh advfirewall` rule for a host without an IPSec policy):",
        "",
        "| scenario | host | kind | direction | protocol | local port | remote port | remote networks | remotes "
        "| UTC days | events | risk |",
        "|---|---|---|---|---|---:|---:|---|---|---:|---:|---|",
        *(
            f"| {e['scenario']} | {e['host']} | {e['kind']} | {e['direction']} | {proto[e['protocol']]} | "
            f"{port(e['local_port'])} | {port(e['remote_port'])} | {', '.join(e['remote_networks'])} | "
            f"{', '.join(e['remotes'])} | {len(e['days'])} | {e['events']} | {e['risk'] or '-'} |"
            for e in s["suggestions"]
        ),
        "",
        *(f"* {e['scenario']}: {e['note']}." for e in s["suggestions"]),
        "",
        "Not to suggest (`expected.json` `not_suggested`), with the reason each must get:",
        "",
        "| scenario | host | reason | protocol | local ports | remotes | UTC days | events |",
        "|---|---|---|---|---|---|---:|---:|",
        *(
            f"| {e['scenario']} | {e['host']} | `{e['reason']}` | {proto[e['protocol']]} | "
            f"{ports(e['local_ports'])} | "
            f"{', '.join(e['remotes'])} | {len(e['days'])} | {e['events']} |"
            for e in s["not_suggested"]
        ),
        "",
        *(f"* {e['scenario']}: {e['note']}." for e in s["not_suggested"]),
        "",
        "Scenarios a-h appear here only as c at WEB01; the Suggestions feature's verdict on their other flows",
        "(e.g. the short scans of a, which also touch 3389) is not written down here.",
        "",
    ]


def render_markdown(s: dict, shf: dict, info: dict) -> str:
    """EXPECTED.md: totals, per-scenario/host/file counts, file notes, the repeated hour."""
    L = [
        "# Expected content of the sample site",
        "",
        "Written by `sample_logs/generate.py` from what it wrote (do not edit by hand; rerun the",
        "script).  Machine-readable: `expected.json`; one line per distinct drop, with its true UTC",
        "time and 5-tuple: `expected-drops.csv`.",
        "",
        f"## Total: **{s['total_drops']} distinct drops**",
        "",
        "A drop is an IPSec/IPSEC System-log event 4283-4288, 4290, 4291 or 4292 (4289 is never",
        "emitted), a Security-log WFP / IPsec audit event 5152, 5153, 5157, 5159, 4960-4963 or 4965",
        "(5156 = allowed, not a drop), or a pfirewall.log `DROP` line.  An event exported twice (same",
        "host, EventLog and RecordNumber; in EVTX: Channel and EventRecordID) is ONE drop.  "
        f"Sum of drop rows over files = {sum(s['by_file'].values())}, of which "
        f"{s['duplicate_rows']} repeat an event already exported elsewhere.",
        "",
        "| host | distinct drops |",
        "|---|---:|",
        *(f"| {h} | {n} |" for h, n in s["by_host"].items()),
        "",
        "| event id | distinct drops |",
        "|---|---:|",
        *(f"| {k} | {n} |" for k, n in s["by_event_id"].items()),
        "",
        "## Scenarios",
        "",
        "| scenario | what | distinct drops |",
        "|---|---|---:|",
        *(f"| {k} | {SCENARIOS[k]} | {s['by_scenario'].get(k, 0)} |" for k in SCENARIOS),
        "",
        *render_suggestions(s),
        "Drop rows per scenario, host and file (an event in two files is counted in both):",
        "",
        "| scenario | host | file | drop rows |",
        "|---|---|---|---:|",
        *(f"| {sc} | {h} | `{f}` | {n} |" for (sc, h, f), n in sorted(shf.items())),
        "",
        "## Files",
        "",
        "| file | data rows | drop rows | drop rows also in another file |",
        "|---|---:|---:|---:|",
        *(
            f"| `{f}` | {v['rows']} | {v['drops']} | {v['drops_also_in_another_file']} |"
            for f, v in s["rows_by_file"].items()
        ),
        "",
        "What each file exercises:",
        "",
        "* `web01/system-20261024-plain.log`: `-o:W3C`, `SELECT *`, days 23-24.  Plain mode:",
        "  values keep their spaces (EventTypeName, SourceName, Strings, Message), timestamps are",
        "  two tokens.  Contains the reboot of "
        f"{info['reboot_local']:%Y-%m-%d %H:%M} (USER32 1074 with a quoted comment and a SID, 4292, 4294);",
        "  IPSec Strings switch layout at the reboot: before it `\\Driver\\IPSEC|src|dst|6|sport|dport`,",
        "  after it `src|dst|TCP|sport|dport` (no %1 element, protocol by name).",
        "* `web01/system-20261025-dquotes.log`: `-oDQuotes:ON`, `SELECT *`, day 25 (25 hours: the",
        '  repeated hour is in it, see below).  String fields quoted, inner `"` doubled.',
        "* `web01/system-20261025.csv`: `-o:CSV`, `SELECT *`, every record of the dquotes file again",
        "  (same RecordNumbers) plus day 26 until 06:00 local, which is in no other file.",
        "* `web01/system-20261027-encodedelim.log`: `-encodeDelim:ON`, fields",
        "  `TimeGenerated EventID SourceName Strings ComputerName Message` (no RecordNumber),",
        "  day 26 from 06:00 to day 27; ComputerName is lower-case `web01` here.",
        "* `db01/system-20261026-nostrings.log`: plain, fields `EventLog RecordNumber TimeGenerated",
        "  EventID EventTypeName SourceName ComputerName Message`: no Strings, values must be parsed",
        "  out of Message; days 23-25.",
        "* `db01/system-20261027.log`: plain, two appended runs: `SELECT *` for day 26, then a second",
        "  `#Software`...`#Fields: EventLog RecordNumber TimeGenerated EventID SourceName Strings",
        "  ComputerName` block for day 27.  DB01's IPSec Strings carry an EMPTY %1:",
        "  `|12|10.1.0.50`, `|10.1.0.50|10.1.0.20|6|3456|1433`; its source is spelled `IPSec`, WEB01's",
        "  `IPSEC`.",
        "* `db01/pfirewall-old.log`: ICF header (`#Verson: 1.0`, no `path`), OPEN/OPEN-INBOUND/CLOSE/DROP,",
        "  days 23-24; `db01/pfirewall.log`: Windows Firewall header with `pid`, ALLOW/DROP, days",
        "  25-27.  No host name inside: the config's inbox glob maps them to DB01 (America/Chicago).",
        "* `web01/system-20261026.evtx`: EVTX (times in UTC) of WEB01's System log, 26 Oct 00:00-06:00",
        "  local, exported with a query: record headers renumbered 1..N, EventRecordID = the RecordNumber",
        "  of the same event, and every record is also in `system-20261025.csv` (stored once).  Classic",
        "  events as Windows converts them: Provider `IPSEC`, `<EventID Qualifiers=...>`, ONE string-array",
        "  substitution for the unnamed `<Data>` values (python-evtx renders it as `&lt;string&gt;` lines",
        "  inside one `<Data>`), IO_ERROR_LOG_PACKET in `<Binary>` (Rust: hex; python-evtx: base64).",
        "* `db01/security-20261027.evtx`: DB01's archived Security log of 27 Oct (local day; header number",
        "  = EventRecordID), Computer `DB01.example.net`, scenario h: 5152 (SourceAddress = the remote",
        "  sender), 5157 (SourceAddress = the LOCAL end whatever the direction; field `ProcessID`), 4963",
        "  (EventData `RemoteAddress`, `SPI`: names UNVERIFIED), among 4624/4634/4672 and 5156 noise.",
        "  Typed values as in real logs: ProcessId/FilterRTID/LayerRTID UInt64, Protocol UInt32 (JSON",
        "  numbers in the Rust engine), ports and addresses strings, Direction/LayerName `%%NNNNN` tokens.",
        "",
        "Late days (28-31 Oct, scenarios i-p and their noise), in files of their own:",
        "",
        "* `web01/system-20261029-dquotes.log`: `-oDQuotes:ON` with fields `EventLog RecordNumber",
        "  TimeGenerated EventID EventTypeName SourceName Strings ComputerName Message`, days 28-29; the",
        "  RecordNumbers continue those of the earlier WEB01 exports.",
        "* `web01/system-20261031.evtx`: EVTX of WEB01's System log, days 30-31 local, exported with a",
        "  query like `system-20261026.evtx` (headers renumbered 1..N, EventRecordID = RecordNumber); no",
        "  record of it is in any other file.",
        "* `db01/system-20261031.csv`: `-o:CSV`, `SELECT *`, DB01's days 28-31 (Strings with the empty %1).",
        "* `app03/pfirewall.log`: APP03 (Windows Server 2008 R2, Europe/London, no IPSec policy): Windows",
        "  Firewall header whose fields end with `path` (no `pid`), ALLOW/DROP, days 28-31.  The config's",
        "  inbox glob maps it to APP03; APP03 has no `policy`, so its flows have the verdict `no-policy`.",
        "",
        "## The repeated hour on WEB01 (Europe/Berlin, 2026-10-25 03:00 CEST -> 02:00 CET)",
        "",
        "Events whose local time falls in 02:00-03:00 on 2026-10-25, in file (= RecordNumber) order.",
        "Pass 1 is CEST (UTC+2), pass 2 is CET (UTC+1); the clock steps back between them.",
        "",
        "| RecordNumber | local time | pass | UTC | event id | drop |",
        "|---:|---|---:|---|---:|---|",
        *(
            f"| {e['record_number']} | {e['local']} | {e['pass']} | {e['utc']} | {e['event_id']} | "
            f"{'yes' if e['drop'] else 'no'} |"
            for e in s["repeated_hour_web01"]
        ),
        "",
    ]
    return "\n".join(L)


# ------------------------------------------------------------------------------ IIS logs (allowed traffic)

#: WEB01's IIS 6 logs of the late days (UTC days: IIS writes W3C extended logs in UTC): the traffic that
#: works, for the allowed dataset and ``whatif --replace`` (no drops).  Own random generator, own files.
IIS_SEED = 20261029
IIS_DAYS = (29, 30, 31)
IIS_PUBLIC_CLIENTS = tuple(f"192.0.2.{n}" for n in (11, 23, 37, 58, 64, 101, 142, 199))
IIS_INTERNAL_CLIENTS = ("10.1.0.101", "10.1.0.102", "10.1.0.105")
#: the content server that uploads the site by FTP every night (permitted by WEB01's "Internal admin" rule)
FTP_PUBLISHER = "10.1.0.40"
FTP_SESSION = ("USER webpub", "PASS -", "created /site/index.htm", "created /site/news.htm",
               "created /site/img/logo.gif", "QUIT -")
IIS_FIELDS = ("date time s-sitename s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
              "cs(User-Agent) sc-status sc-substatus sc-win32-status")
FTP_FIELDS = "time c-ip cs-method cs-uri-stem sc-status sc-win32-status"
IIS_PAGES = ("/", "/index.htm", "/news.htm", "/img/logo.gif", "/css/site.css", "/shop/default.aspx")
IIS_AGENTS = ("Mozilla/4.0+(compatible;+MSIE+6.0;+Windows+NT+5.1)", "Mozilla/5.0+(Windows;+U;+Windows+NT+5.1)")


def write_iis(out: Path) -> dict:
    """Write WEB01's IIS web and FTP logs; return what they hold (the ``allowed`` part of expected.json)."""
    rng = random.Random(IIS_SEED)
    files: dict[str, int] = {}
    flows: dict[tuple, dict] = {}

    def count(local_ip: str | None, port: int, client: str, when: datetime, kind: str) -> None:
        f = flows.setdefault((local_ip, port, client, kind), {
            "host": "WEB01", "direction": "inbound", "protocol": 6, "local_ip": local_ip, "local_port": port,
            "remote_ip": client, "remote_port": None, "allow_kind": kind, "events": 0, "days": set(),
            "first_seen": when, "last_seen": when})
        f["events"] += 1
        f["days"].add(when.date())
        f["first_seen"], f["last_seen"] = min(f["first_seen"], when), max(f["last_seen"], when)

    for day in IIS_DAYS:
        start = datetime(2026, 10, day, tzinfo=UTC)
        hits = []
        for _ in range(rng.randint(40, 60)):
            client = rng.choice(IIS_PUBLIC_CLIENTS)
            port = 443 if rng.random() < 0.3 else 80
            hits.append((start + timedelta(seconds=rng.randrange(86_400)), "198.51.100.10", port, client))
        for client in IIS_INTERNAL_CLIENTS:
            for _ in range(rng.randint(3, 8)):
                hits.append((start + timedelta(seconds=rng.randrange(8 * 3600, 18 * 3600)), "10.1.0.10", 80, client))
        hits.sort()
        rel = f"exports/web01/iis-w3svc1-ex2610{day:02d}.log"
        lines = ["#Software: Microsoft Internet Information Services 6.0", "#Version: 1.0",
                 f"#Date: {hits[0][0]:%Y-%m-%d %H:%M:%S}", f"#Fields: {IIS_FIELDS}"]
        for when, server, port, client in hits:
            lines.append(f"{when:%Y-%m-%d %H:%M:%S} W3SVC1 {server} GET {rng.choice(IIS_PAGES)} - {port} - {client} "
                         f"{rng.choice(IIS_AGENTS)} 200 0 0")
            count(server, port, client, when, "iis-request")
        with open_out(out / rel) as f:
            f.write("\r\n".join(lines) + "\r\n")
        files[rel] = len(hits)
        # the nightly upload: one FTP session of the content server, shortly after 02:00 UTC
        rel = f"exports/web01/iis-msftpsvc1-ex2610{day:02d}.log"
        begin = start + timedelta(hours=2, seconds=rng.randrange(600))
        lines = ["#Software: Microsoft Internet Information Services 6.0", "#Version: 1.0",
                 f"#Date: {begin:%Y-%m-%d %H:%M:%S}", f"#Fields: {FTP_FIELDS}"]
        for i, command in enumerate(FTP_SESSION):
            when = begin + timedelta(seconds=2 * i)
            method, _, stem = command.partition(" ")
            status = {"USER": 331, "PASS": 230, "QUIT": 226}.get(method, 226)
            lines.append(f"{when:%H:%M:%S} {FTP_PUBLISHER} [{day}]{method} {stem} {status} 0")
            count(None, 21, FTP_PUBLISHER, when, "iis-ftp")  # the FTP log has no s-ip: local address unknown
        with open_out(out / rel) as f:
            f.write("\r\n".join(lines) + "\r\n")
        files[rel] = len(FTP_SESSION)
    rows = sorted(flows.values(), key=lambda f: (-f["events"], f["remote_ip"], f["local_port"]))
    for f in rows:
        f["days"] = len(f["days"])
        f["first_seen"] = f["first_seen"].strftime("%Y-%m-%dT%H:%M:%SZ")
        f["last_seen"] = f["last_seen"].strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"iis_files": files, "web01_flows": rows}


def count_allowed(out: Path, iis: dict) -> dict:
    """The ``allowed`` part of expected.json: the IIS logs' requests and flows, and the permitted traffic the
    other exports already held (pfirewall ALLOW lines, Security-log 5156 events), counted from the files."""
    by_kind: Counter = Counter()
    by_host: Counter = Counter()
    files: dict[str, int] = {}
    for rel, n in iis["iis_files"].items():
        kind = "iis-ftp" if "msftpsvc" in rel else "iis-request"
        by_kind[kind] += n
        by_host["WEB01"] += n
        files[rel] = n
    for host, rel in (("DB01", "exports/db01/pfirewall.log"), ("APP03", "exports/app03/pfirewall.log"),
                      ("DB01", "exports/db01/pfirewall-old.log")):
        lines = (out / rel).read_bytes().decode("ascii").split("\r\n")
        n = sum(1 for ln in lines if " ALLOW " in ln)  # each line one packet (identical lines too)
        if n:
            files[rel] = n
            by_kind["firewall-allow"] += n
            by_host[host] += n
    import evtx as _evtx

    rel = "exports/db01/security-20261027.evtx"
    n = 0
    for record in _evtx.PyEvtxParser(str(out / rel)).records_json():
        system = json.loads(record["data"])["Event"]["System"]
        eid = system["EventID"]["#text"] if isinstance(system["EventID"], dict) else system["EventID"]
        n += eid == 5156
    files[rel] = n
    by_kind["wfp-connection-permitted"] += n
    by_host["DB01"] += n
    ftp = [f for f in iis["web01_flows"] if f["allow_kind"] == "iis-ftp"]
    return {
        "total_events": sum(by_kind.values()),
        "by_host": dict(sorted(by_host.items())),
        "by_kind": dict(sorted(by_kind.items())),
        "events_by_file": files,
        "iis_files": sorted(iis["iis_files"]),
        "web01_flows": iis["web01_flows"],
        # policies/web01-new.cmd (the planted mistake: FTP moved to the admin subnet) blocks the nightly upload
        "web01_new_would_break": [{k: f[k] for k in ("direction", "protocol", "local_ip", "local_port", "remote_ip",
                                                      "remote_port", "events", "days", "last_seen")}
                                  | {"rule_before": "Internal admin", "rule_after": "Block everything"} for f in ftp],
    }


def render_allowed(a: dict) -> str:
    """The EXPECTED.md section of the allowed traffic."""
    L = [
        "",
        "## Permitted traffic (the allowed dataset)",
        "",
        f"**{a['total_events']} permitted events**, no drops among them: WEB01's IIS 6 logs of 29-31 Oct (UTC)",
        "in `exports/web01/iis-*.log` (W3SVC1: web requests to 198.51.100.10 and 10.1.0.10 on 80/443; MSFTPSVC1:",
        f"the nightly FTP upload of the content server {FTP_PUBLISHER}, a log without `s-ip` or `s-port`), the",
        "pfirewall ALLOW lines of DB01 and APP03 and the 5156 events of DB01's Security log.",
        "",
        "| kind | events |",
        "|---|---:|",
        *(f"| {k} | {v} |" for k, v in a["by_kind"].items()),
        "",
        "| host | events |",
        "|---|---:|",
        *(f"| {k} | {v} |" for k, v in a["by_host"].items()),
        "",
        "`policies/web01-new.cmd` is a rewrite of WEB01's script with a planted mistake: its \"Internal admin\"",
        "list names the admin subnet 10.40.1.8/29 for FTP too, so `whatif --host WEB01 --replace",
        "policies/web01-new.cmd` must list the nightly upload first, as would break:",
        "",
        "| flow | events | days | last seen | blocked by |",
        "|---|---:|---:|---|---|",
        *(f"| in TCP {b['remote_ip']} -> *:{b['local_port']} | {b['events']} | {b['days']} | {b['last_seen']} | "
          f"{b['rule_after']} |" for b in a["web01_new_would_break"]),
        "",
    ]
    return "\n".join(L)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE, help="directory to write into (default: sample_logs/)")
    args = ap.parse_args(argv)
    ledger, info = write_exports(args.out)
    iis = write_iis(args.out)
    write_config(args.out)
    s = write_expected(args.out, ledger, info, count_allowed(args.out, iis))
    n_files = len(s["rows_by_file"])
    print(f"wrote {n_files} export files under {args.out}; total distinct drops {s['total_drops']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
