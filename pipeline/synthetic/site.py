"""A synthetic site for the nightly job: many hosts, each with an inbox that receives a day of exports a night.

Used by ``bench/bench_nightly.py`` (a year of nights), ``bench/bench_faults.py`` and the fault tests.
Every host exports in one format, as a real site does: Log Parser W3C (plain, ``-oDQuotes:ON``,
``-encodeDelim:ON``) or CSV of ``SELECT * FROM System`` (IPSec 4290/4291/4284 among other System
events), ``pfirewall.log`` (with and without ``pid``), or an EVTX Security log (WFP 5152/5157/5159
among logons and 5156).  Text exports are in the host's local time, CRLF, over its local day (so a
spring day has 23 hours, an autumn day repeats an hour, and most hosts' days straddle two UTC dates);
EVTX times are UTC.  Addresses are drawn from private, shared and documentation ranges, IPv4 and
(pfirewall, WFP) IPv6; each host has a pool of recurring flows plus a few new ones every day.

A day's files depend only on (seed, host, day): :meth:`Site.write_day` may be called for any day in any
order, and again, giving the same bytes.  Record numbers (Log Parser ``RecordNumber``, EVTX
``EventRecordID``) grow from day to day like a live log's.

    site = Site(Path("site"), hosts=20, drops_per_day=50_000)
    config = site.write_config(warehouse="../warehouse")
    for day in range(365):
        site.write_day(day)   # then run the nightly job
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from .evtx import EvtxWriter, logoff_event, logon_event, wfp_5152, wfp_5157, wfp_5159
from .logparser import CSVWriter, W3CWriter, csv_value, ipsec_count_drop, ipsec_packet_drop, other_event
from .pfirewall import FirewallLine, PfirewallWriter

#: Export format of host i is FORMATS[i % len(FORMATS)].
FORMATS = ("w3c", "csv", "pfirewall", "w3c-dquotes", "evtx", "w3c-encodedelim", "pfirewall-xpsp2", "csv",
           "w3c", "pfirewall")
ZONES = ("Europe/Berlin", "America/Chicago", "Europe/London", "America/New_York", "Asia/Tokyo",
         "Australia/Sydney", "UTC", "America/Los_Angeles", "Asia/Kolkata", "Europe/Paris", "America/Sao_Paulo",
         "Asia/Singapore")
#: Share of an export's rows that are drops (the rest is other events, or ALLOW lines).
DROP_SHARE = {"w3c": 0.5, "csv": 0.5, "pfirewall": 0.3, "evtx": 0.25}
POOL = 2048  # recurring events per host
FRESH = 0.01  # share of a day's drops that are new flows, built for that day
SCAN_PORTS = (21, 22, 23, 25, 135, 139, 445, 1433, 1434, 3306, 3389, 5900, 5985, 8080)
SERVICES = ("Background Intelligent Transfer Service", "Automatic Updates", "Volume Shadow Copy",
            "WinHTTP Web Proxy Auto-Discovery Service", "Removable Storage")
_DUMMY = datetime(2000, 1, 1)
RECORDS_PER_DAY = 1_000_000  # record numbers of day d start at (d + 1) * this


@dataclass(frozen=True)
class SiteHost:
    index: int
    name: str
    format: str  # one of FORMATS
    timezone: str
    address: str

    @property
    def family(self) -> str:
        return self.format.split("-")[0]

    @property
    def inbox(self) -> str:
        return f"inbox/{self.name}"

    @property
    def policy(self) -> str | None:
        return f"policies/{self.name}.cmd" if self.family in ("w3c", "csv") else None


def remote_address(rng: random.Random, ipv6: bool = False) -> str:
    """A peer: private, shared (100.64/10) or documentation ranges; IPv6 from 2001:db8::/32."""
    if ipv6:
        return f"2001:db8:{rng.randrange(1, 0xffff):x}::{rng.randrange(1, 0xffff):x}"
    x = rng.random()
    if x < 0.35:
        return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    if x < 0.5:
        return f"172.{rng.randrange(16, 32)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    if x < 0.65:
        return f"192.168.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    if x < 0.8:
        return f"100.{rng.randrange(64, 128)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    return rng.choice(("192.0.2.", "198.51.100.", "203.0.113.")) + str(rng.randrange(1, 255))


class Site:
    """The site folder: ``inbox/<HOST>/``, ``policies/``, configs written by :meth:`write_config`."""

    def __init__(self, root: Path, *, hosts: int = 20, drops_per_day: int = 50_000, seed: int = 1,
                 start: date = date(2025, 1, 1)) -> None:
        self.root = Path(root)
        self.seed, self.start = seed, start
        self.drops_per_day = drops_per_day
        self.hosts = [SiteHost(i, f"HOST{i:02d}", FORMATS[(i - 1) % len(FORMATS)], ZONES[(i - 1) % len(ZONES)],
                               f"10.{100 + i}.0.10") for i in range(1, hosts + 1)]
        self._pools: dict[str, tuple[list, list]] = {}

    def day(self, index: int) -> date:
        return self.start + timedelta(days=index)

    # -- config --------------------------------------------------------------------------------
    def write_config(self, name: str = "ipsec-drops.toml", *, warehouse: str = "../warehouse",
                     reports: str | None = None, retention_days: int = 0, compact: bool = True) -> Path:
        """The config (hosts, inboxes, policies, ``[nightly]``); paths relative to the site folder."""
        lines = []
        for h in self.hosts:
            lines += [f"[hosts.{h.name}]", f'timezone = "{h.timezone}"', f'addresses = ["{h.address}"]',
                      'dns = ["10.1.0.2"]', f'inbox = ["{h.inbox}/*"]']
            if h.policy:
                lines.append(f'policy = "{h.policy}"')
                self._write_policy(h)
            lines.append("")
            (self.root / h.inbox).mkdir(parents=True, exist_ok=True)
        lines += ["[nightly]", f'warehouse = "{warehouse}"']
        if reports:
            lines.append(f'reports = "{reports}"')
        lines.append(f"retention_days = {retention_days}")
        if not compact:
            lines.append("compact = false")
        path = self.root / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def _write_policy(self, h: SiteHost) -> None:
        path = self.root / str(h.policy)
        path.parent.mkdir(parents=True, exist_ok=True)
        admin = f"10.{100 + h.index}.1.0"
        path.write_text(
            f"pushd ipsec static\r\nadd filteraction name=Permit action=permit\r\n"
            f"add filteraction name=Block action=block\r\n"
            f"add filterlist name=Admin\r\n"
            f"add filter filterlist=Admin srcaddr={admin} srcmask=255.255.255.0 dstaddr=me protocol=TCP "
            f"dstport=3389 mirrored=yes\r\n"
            f"add filterlist name=DNS\r\n"
            f"add filter filterlist=DNS srcaddr=me dstaddr=dns protocol=UDP dstport=53 mirrored=yes\r\n"
            f"add filterlist name=All\r\nadd filter filterlist=All srcaddr=any dstaddr=me protocol=any mirrored=yes\r\n"
            f"add policy name={h.name}-lockdown activatedefaultrule=no\r\n"
            f"add rule name=\"Admin RDP\" policy={h.name}-lockdown filterlist=Admin filteraction=Permit\r\n"
            f"add rule name=DNS policy={h.name}-lockdown filterlist=DNS filteraction=Permit\r\n"
            f"add rule name=\"Block all\" policy={h.name}-lockdown filterlist=All filteraction=Block\r\n"
            f"set policy name={h.name}-lockdown assign=yes\r\npopd\r\n", encoding="ascii")

    # -- a day of exports --------------------------------------------------------------------------
    def file_of(self, h: SiteHost, index: int) -> Path:
        day = self.day(index)
        suffix = {"w3c": "log", "csv": "csv", "pfirewall": "log", "evtx": "evtx"}[h.family]
        stem = "pfirewall" if h.family == "pfirewall" else f"{h.name}-{h.family}"
        return self.root / h.inbox / f"{stem}-{day:%Y%m%d}.{suffix}"

    def write_day(self, index: int, hosts: list[SiteHost] | None = None) -> list[Path]:
        """Each host's export of day ``index`` into its inbox; returns the files."""
        out = []
        for h in hosts or self.hosts:
            per_host = self.drops_per_day // len(self.hosts) + (h.index <= self.drops_per_day % len(self.hosts))
            path = self.file_of(h, index)
            path.parent.mkdir(parents=True, exist_ok=True)
            rng = random.Random(f"{self.seed}/{h.name}/{index}")
            lines = max(1, round(per_host / DROP_SHARE[h.family]))
            tmp = path.with_name("." + path.name + ".part")  # appears whole: the inbox never shows half a file
            if h.family == "evtx":
                self._evtx(tmp, h, index, lines, per_host, rng)
            else:
                with open(tmp, "w", encoding="ascii", newline="") as f:
                    self._text(f, h, index, lines, per_host, rng)
            tmp.replace(path)
            out.append(path)
        return out

    def _utc_seconds(self, h: SiteHost, index: int, n: int, rng: random.Random) -> tuple[datetime, list[int]]:
        """The UTC start of the host's local day and ``n`` sorted second offsets within it."""
        tz = ZoneInfo(h.timezone)
        day = self.day(index)
        start = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
        nxt = day + timedelta(days=1)
        span = int((datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).astimezone(UTC) - start).total_seconds())
        return start, sorted(rng.randrange(span) for _ in range(n))

    def _local_clock(self, h: SiteHost, start: datetime) -> tuple[int, int, int]:
        """(transition offset in seconds or -1, wall seconds added before it, after it) for the local day."""
        tz = ZoneInfo(h.timezone)
        first = start.astimezone(tz).utcoffset()
        last = (start + timedelta(hours=23)).astimezone(tz).utcoffset()
        if first == last:
            return -1, 0, 0
        lo, hi = 0, 25 * 3600  # offset of the change: binary search on the hour it happens in
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if (start + timedelta(seconds=mid)).astimezone(tz).utcoffset() == first:
                lo = mid
            else:
                hi = mid
        assert first is not None and last is not None
        return hi, 0, int((last - first).total_seconds())

    def _pool(self, h: SiteHost) -> tuple[list, list]:
        if h.name not in self._pools:
            rng = random.Random(f"{self.seed}/{h.name}/pool")
            self._pools[h.name] = (self._drops(h, rng, POOL), self._noise(h, rng, POOL))
        return self._pools[h.name]

    def _drops(self, h: SiteHost, rng: random.Random, n: int) -> list:
        """``n`` drop events (records, lines or EVTX events) of the host's format."""
        fam, me = h.family, h.address
        out: list[Any] = []
        admin = f"10.{100 + h.index}.1.{rng.randrange(1, 255)}"
        for i in range(n):
            x = rng.random()
            peer = admin if rng.random() < 0.05 else remote_address(rng)
            if fam in ("w3c", "csv"):
                if x < 0.6:
                    out.append(ipsec_packet_drop(0, _DUMMY, h.name, True, peer, me, rng.choice((6, 6, 6, 17)),
                                                 rng.randint(1024, 65535), rng.choice(SCAN_PORTS),
                                                 with_driver_name=i % 2 == 0, protocol_as_name=i % 3 == 0,
                                                 source=rng.choice(("IPSec", "IPSEC")), ident=i))
                elif x < 0.85:
                    out.append(ipsec_packet_drop(0, _DUMMY, h.name, False, me, peer, 17, rng.randint(1025, 5000),
                                                 rng.choice((53, 123, 389)), with_driver_name=i % 2 == 0, ident=i))
                else:
                    out.append(ipsec_count_drop(0, _DUMMY, h.name, rng.choice((4284, 4285, 4283)),
                                                rng.randint(1, 60), peer, with_driver_name=i % 2 == 0))
            elif fam == "pfirewall":
                v6 = rng.random() < 0.1
                src = remote_address(rng, v6)
                dst = f"2001:db8:ffff::{h.index:x}" if v6 else me
                if x < 0.7:
                    out.append(FirewallLine(_DUMMY, "DROP", "TCP", src, dst, rng.randint(1024, 65535),
                                            rng.choice(SCAN_PORTS), 48, "S", rng.randrange(1 << 32), 0, 65535,
                                            path="RECEIVE"))
                elif x < 0.9:
                    out.append(FirewallLine(_DUMMY, "DROP", "UDP", src, dst, rng.randint(1024, 65535),
                                            rng.choice((137, 138, 161, 1434)), 78, path="RECEIVE"))
                else:
                    out.append(FirewallLine(_DUMMY, "DROP", "ICMP", src, dst, None, None, 60, icmptype=8,
                                            icmpcode=0, path="RECEIVE"))
            else:
                v6 = rng.random() < 0.1
                peer = remote_address(rng, v6) if v6 else peer
                local = f"2001:db8:ffff::{h.index:x}" if v6 else me
                proto = rng.choice((6, 6, 17))
                if x < 0.65:
                    out.append(wfp_5152(0, _DUMMY, h.name, src_ip=peer, src_port=rng.randint(1024, 65535),
                                        dst_ip=local, dst_port=rng.choice(SCAN_PORTS), protocol=proto))
                elif x < 0.95:
                    inbound = rng.random() < 0.8
                    out.append(wfp_5157(0, _DUMMY, h.name, direction="inbound" if inbound else "outbound",
                                        local_ip=local,
                                        local_port=rng.choice(SCAN_PORTS) if inbound else rng.randint(49152, 65535),
                                        remote_ip=peer,
                                        remote_port=rng.randint(1024, 65535) if inbound else rng.choice((80, 443)),
                                        protocol=proto))
                else:
                    out.append(wfp_5159(0, _DUMMY, h.name, local_ip="0.0.0.0", local_port=rng.randint(1025, 5000)))
        return out

    def _noise(self, h: SiteHost, rng: random.Random, n: int) -> list:
        fam = h.family
        out: list[Any] = []
        for i in range(n):
            if fam in ("w3c", "csv"):
                if rng.random() < 0.8:
                    out.append(other_event(0, _DUMMY, h.name, "Service Control Manager", 7036,
                                           [rng.choice(SERVICES), rng.choice(("running", "stopped"))]))
                else:
                    out.append(other_event(0, _DUMMY, h.name, "EventLog", 6013, [str(rng.randint(600, 9_000_000))]))
            elif fam == "pfirewall":
                out.append(FirewallLine(_DUMMY, "ALLOW", "UDP", h.address, "10.1.0.2", rng.randint(1025, 5000), 53,
                                        0, None, 0, 0, 0, path="SEND", pid=1044))
            else:
                sid = f"S-1-5-21-1004336348-1177238915-682003330-{1100 + i % 20}"
                if rng.random() < 0.5:
                    out.append(logon_event(0, _DUMMY, h.name, user=f"svc{i % 20:02d}", domain="EXAMPLE",
                                           user_sid=sid, logon_id=0x3E7 + i, ip=remote_address(rng),
                                           port=str(rng.randint(1025, 5000))))
                else:
                    out.append(logoff_event(0, _DUMMY, h.name, user=f"svc{i % 20:02d}", domain="EXAMPLE",
                                            user_sid=sid, logon_id=0x3E7 + i))
        return out

    def _events(self, h: SiteHost, index: int, lines: int, drops: int, rng: random.Random) -> list:
        """The day's events in order: ``drops`` drops (a few of them new flows) among the noise."""
        pool_drops, pool_noise = self._pool(h)
        fresh = self._drops(h, rng, max(1, round(drops * FRESH)))
        picks = [True] * drops + [False] * (lines - drops)
        rng.shuffle(picks)
        out = []
        for is_drop in picks:
            if is_drop:
                out.append(fresh[rng.randrange(len(fresh))] if rng.random() < FRESH else
                           pool_drops[rng.randrange(len(pool_drops))])
            else:
                out.append(pool_noise[rng.randrange(len(pool_noise))])
        return out

    def _text(self, f: IO[str], h: SiteHost, index: int, lines: int, drops: int,
              rng: random.Random) -> None:
        events = self._events(h, index, max(lines, drops), drops, rng)
        start, seconds = self._utc_seconds(h, index, len(events), rng)
        change, _, delta = self._local_clock(h, start)
        local_midnight = datetime.combine(self.day(index), datetime.min.time())
        stamps: dict[int, str] = {}

        def wall(o: int, sep: str = " ") -> str:
            w = o + (delta if 0 <= change <= o else 0)
            text = stamps.get(w)
            if text is None:
                text = stamps[w] = f"{local_midnight + timedelta(seconds=w):%Y-%m-%d %H:%M:%S}"
            return text if sep == " " else text.replace(" ", sep)

        fam, mode = h.family, h.format.partition("-")[2]
        first = (index + 1) * RECORDS_PER_DAY
        if fam == "pfirewall":
            writer = PfirewallWriter(f, "xpsp2" if mode == "xpsp2" else "with-pid")
            for line, o in zip(events, seconds, strict=True):
                text = writer.format_line(line)
                f.write(wall(o) + text[19:])
            return
        if fam == "w3c":
            w3c = W3CWriter(f, None, mode or "plain", created=local_midnight)  # type: ignore[arg-type]
            sep = "+" if mode == "encodedelim" else " "
            tails: dict[int, str] = {}
            for n, (rec, o) in enumerate(zip(events, seconds, strict=True)):
                tail = tails.get(id(rec))
                if tail is None:
                    values = w3c.format_values(rec)
                    tail = tails[id(rec)] = " ".join(values[4:]) + "\r\n"
                ts = wall(o, sep)
                f.write(f"System {first + n} {ts} {ts} {tail}")
            return
        writer_csv = CSVWriter(f)
        buf = io.StringIO()
        rows = csv.writer(buf, lineterminator="\r\n")
        cache: dict[int, str] = {}
        for n, (rec, o) in enumerate(zip(events, seconds, strict=True)):
            tail = cache.get(id(rec))
            if tail is None:
                buf.seek(0)
                buf.truncate()
                rows.writerow([csv_value(name, getattr(rec, name)) for name in writer_csv.fields[4:]])
                tail = cache[id(rec)] = buf.getvalue()
            ts = wall(o)
            f.write(f"System,{first + n},{ts},{ts},{tail}")

    def _evtx(self, path: Path, h: SiteHost, index: int, lines: int, drops: int, rng: random.Random) -> None:
        events = self._events(h, index, max(lines, drops), drops, rng)
        start, seconds = self._utc_seconds(h, index, len(events), rng)
        base = start.replace(tzinfo=None)
        first = (index + 1) * RECORDS_PER_DAY
        with EvtxWriter(path) as writer:
            for n, (ev, o) in enumerate(zip(events, seconds, strict=True)):
                writer.write(ev, record_id=first + n, when=base + timedelta(seconds=o, microseconds=n % 1000))


#: What a finished run leaves nowhere in a warehouse (names of files and folders, or their prefixes).
LITTER = ("_publish.json", ".staging", ".retired-", ".old-", ".tmp", ".lock.info")


def warehouse_state(root: str | Path) -> dict:
    """What must be equal between two warehouses built from the same inputs, however their runs went.

    The drops as a multiset (row count and the sum of every row's hash: the same rows, each as often),
    the data parts of every date (rows per part), the manifest's files (path, size, hash, what was read
    and stored), its parts' rows per date and its EVTX watermarks, the policy snapshots' files, and the
    litter a finished run never leaves (journal, staging, half-swapped folders, temporary files).
    """
    import duckdb

    from ..schema import DROPS_SCHEMA
    from ..warehouse import Warehouse
    from ..warehouse.manifest import Manifest

    wh = Warehouse(root)
    files = [str(p) for p in wh.drop_files()]
    count, digest = 0, 0
    if files:
        cols = ", ".join(DROPS_SCHEMA.names)
        con = duckdb.connect()
        try:
            count, digest = con.execute(f"SELECT count(*), coalesce(sum(hash({cols})::HUGEINT), 0) FROM "
                                        "read_parquet($f, hive_partitioning = false)", {"f": files}).fetchall()[0]
        finally:
            con.close()
    import pyarrow.parquet as pq

    parts: dict[str, list[int]] = {}
    for p in wh.drop_files():
        parts.setdefault(p.parent.name, []).append(pq.read_metadata(p).num_rows)
    manifest = Manifest.load(wh.manifest_path)
    listed: dict[str, list[int]] = {}
    for rel, part in (manifest.parts or {}).items():
        listed.setdefault(Path(rel).parent.name, []).append(part.rows)
    entries = sorted((e.path, e.size, e.sha256, e.consumed, e.rows_read, e.drops_stored, e.duplicates, e.skipped)
                     for e in manifest.files)
    policy = sorted(p.relative_to(wh.root).as_posix() for p in (wh.root / "policy").rglob("*")
                    if p.is_file() and not p.name.startswith(".")) if (wh.root / "policy").is_dir() else []
    litter = sorted(p.relative_to(wh.root).as_posix() for p in wh.root.rglob("*")
                    if any(p.name.startswith(x) or x in p.name for x in LITTER)
                    and wh.quarantine_dir not in p.parents)  # (what a repair set aside is kept on purpose)
    return {"rows": int(count), "digest": str(digest), "parts": {d: sorted(v) for d, v in sorted(parts.items())},
            "manifest_parts": {d: sorted(v) for d, v in sorted(listed.items())}, "files": entries,
            "watermarks": dict(sorted(manifest.watermarks.items())), "policy": policy, "litter": litter}


def differences(got: dict, want: dict) -> list[str]:
    """What differs between two :func:`warehouse_state` results (empty: equal), one line per key."""
    out = []
    for key in want:
        if got.get(key) != want[key]:
            a, b = got.get(key), want[key]
            detail = f"{a} != {b}" if not isinstance(b, list | dict) or len(str(b)) < 300 else (
                f"{len(a or [])} entries != {len(b)}")
            out.append(f"{key}: {detail}")
    return out


__all__ = ["FORMATS", "LITTER", "Site", "SiteHost", "differences", "remote_address", "warehouse_state"]
