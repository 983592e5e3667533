"""``ipsec-drops.toml``: what the logs themselves do not say about a site.

Exports do not carry their time zone, a pfirewall.log does not name its host,
and netsh policies speak of ``me`` and ``DNS``.  The config file supplies those
facts, per host.  Layout (host names match case-insensitively)::

    [hosts.WEB01]
    timezone = "Europe/Berlin"             # zone of Log Parser / pfirewall local times
    addresses = ["198.51.100.10", "10.1.0.10"]
    dns = ["10.1.0.2"]                      # also wins, dhcp, gateway: lists of addresses
    policy = "policies/web1.cmd"           # netsh script, relative to this file
    encoding = "gbk"                       # code page of its scripts when not Unicode (default: detected)
    inbox = ["exports/web01/*"]            # where this host's exports land (globs, relative)
    policy_history = [                     # earlier scripts and when each stopped being in force
      {script = "policies/web1-2026-09.cmd", until = 2026-10-25T12:00:00Z},
    ]
    [names]                                # DNS names used in policy scripts
    "wsus.example.net" = ["10.1.0.30"]

``policy_history`` lists the scripts in force before ``policy``, oldest first:
each was in force until its ``until`` (exclusive) and since the previous
entry's ``until``; ``policy`` is in force from the last ``until`` on.  ``until``
is a TOML date-time with an offset, a local date-time or a date (read in the
host's ``timezone``, UTC without one), or the same as an ISO 8601 string.

``encoding`` names the ANSI code page this host's netsh scripts are saved in
(Chinese Windows writes GBK, ``936`` = ``cp936`` = ``gbk``): it is used for
``policy`` and every ``policy_history`` script of the host that has no byte
order mark and is not valid UTF-8 (detection order: :mod:`pipeline.policy.decode`).

Errors are raised as :class:`ConfigError` with the file and the key at fault.
"""

from __future__ import annotations

import codecs
import fnmatch
import ipaddress
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from .zones import iana_zone

DEFAULT_CONFIG_NAME = "ipsec-drops.toml"
SERVER_KEYS = ("dns", "wins", "dhcp", "gateway")
HOST_KEYS = {"timezone", "addresses", "policy", "policy_history", "inbox", "encoding", *SERVER_KEYS}
HISTORY_KEYS = {"script", "until"}
TOP_KEYS = {"hosts", "names", "suggest", "nightly"}
NIGHTLY_KEYS = {"warehouse", "reports", "retention_days", "suggest_days", "compact"}
SUGGEST_KEYS = {"min_days", "min_sources", "max_prefix", "ignore", "exclude_ports", "risky_ports", "scan_ports",
                "max_networks"}
#: Service ports an inbound permit from the Internet must never open (remote administration, file
#: sharing, databases, directory and RPC services, unauthenticated stores): ``exposure``.
DEFAULT_RISKY_PORTS = (20, 21, 22, 23, 25, 69, 88, 110, 111, 135, 137, 138, 139, 143, 161, 162, 389, 445, 512,
                       513, 514, 593, 623, 636, 873, 1433, 1434, 1521, 1723, 2049, 2375, 2376, 3268, 3269, 3306,
                       3389, 5432, 5800, 5900, 5901, 5985, 5986, 6379, 9200, 11211, 27017, 47001)


@dataclass(frozen=True)
class NightlyConfig:
    """``[nightly]``: where the nightly job keeps the warehouse and the reports, and for how long.

    Paths are relative to the config file.  ``warehouse`` is also every command's warehouse when
    neither ``--warehouse`` nor ``IPSEC_DROPS_WAREHOUSE`` is given.
    """

    warehouse: Path | None = None
    reports: Path | None = None
    retention_days: int = 0  # 0: keep forever
    suggest_days: int = 30  # the window suggestions are computed over (recurrence needs several nights)
    #: compact the date partitions a run touched (false: leave a part per run and partition, e.g. to
    #: measure what compaction saves; retention still applies)
    compact: bool = True


@dataclass(frozen=True)
class SuggestConfig:
    """``[suggest]``: the thresholds of filter suggestions (see :mod:`pipeline.suggest`)."""

    min_days: int = 2
    min_sources: int = 3
    max_prefix: int = 24
    ignore: tuple[str, ...] = ()  # networks never suggested (scanners, known-bad ranges)
    exclude_ports: tuple[int, ...] = ()
    risky_ports: tuple[int, ...] = DEFAULT_RISKY_PORTS
    scan_ports: int = 20
    max_networks: int = 8  # networks one suggestion may list (more: the rest are "scattered")


class ConfigError(ValueError):
    """The config file is missing, unreadable or says something impossible."""


@dataclass(frozen=True)
class PolicyPeriod:
    """An earlier policy script of a host and the instant (UTC) it stopped being in force."""

    script: Path
    until: datetime


@dataclass(frozen=True)
class HostConfig:
    """One host's facts: its zone, addresses, servers, policy script and inbox globs."""

    name: str
    timezone: str | None = None
    addresses: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    wins: tuple[str, ...] = ()
    dhcp: tuple[str, ...] = ()
    gateway: tuple[str, ...] = ()
    policy: Path | None = None
    inbox: tuple[str, ...] = ()
    policy_history: tuple[PolicyPeriod, ...] = ()  # oldest first; ``policy`` follows the last one
    encoding: str | None = None  # Python codec name of the host's ANSI code page (``gbk``); None: detected

    @property
    def zone(self) -> ZoneInfo | None:
        return ZoneInfo(self.timezone) if self.timezone else None


@dataclass
class Config:
    """The whole file: hosts by name plus the ``[names]`` table."""

    path: Path | None = None
    hosts: dict[str, HostConfig] = field(default_factory=dict)
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    suggest: SuggestConfig = field(default_factory=SuggestConfig)
    nightly: NightlyConfig = field(default_factory=NightlyConfig)

    def warehouse_path(self, given: str | os.PathLike[str] | None = None) -> Path:
        """``given`` (``--warehouse``, its env var), else ``[nightly] warehouse``, else ``./warehouse``."""
        if given:
            return Path(given)
        return self.nightly.warehouse or Path("warehouse")

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def host(self, name: str | None) -> HostConfig | None:
        """The host named ``name`` (case-insensitive; an FQDN matches its first label)."""
        if not name:
            return None
        wanted = name.strip().lower()
        for key, host in self.hosts.items():
            if key.lower() == wanted:
                return host
        short = wanted.split(".", 1)[0]
        for key, host in self.hosts.items():
            if key.lower() == short:
                return host
        return None

    def host_for_file(self, path: Path) -> HostConfig | None:
        """The host whose ``inbox`` globs match ``path`` (relative to the config file)."""
        resolved = os.path.normcase(str(Path(path).resolve()))
        for host in self.hosts.values():
            for pattern in host.inbox:
                full = os.path.normcase(str((self.base_dir / pattern).resolve()))
                if fnmatch.fnmatch(resolved, full) or fnmatch.fnmatch(resolved, os.path.join(full, "*")):
                    return host
        return None


def text_encoding(name: str) -> str:
    """Python's name for the text encoding ``name`` (``GBK``, ``cp936``, ``936`` -> ``gbk``); ValueError if none.

    A bare number is a Windows code page (``chcp`` prints ``Active code page:
    936``).  Codecs that do not turn bytes into text (``base64``, ``rot13``)
    or cannot decode anything (``undefined``) are refused here, so a typo is
    reported where it was written and not as a garbled policy later.
    """
    wanted = name.strip()
    if wanted.isascii() and wanted.isdigit():
        wanted = f"cp{wanted}"
    try:
        info = codecs.lookup(wanted)
    except LookupError:
        raise ValueError(f"{name!r} is not a known encoding") from None
    if not getattr(info, "_is_text_encoding", True) or info.name == "undefined":
        raise ValueError(f"{name!r} is not a text encoding")
    return info.name


def _address_list(path: Path, where: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(f"{path}: {where} must be a list of addresses")
    out = []
    for item in value:
        try:
            out.append(str(ipaddress.ip_address(str(item).strip())))
        except ValueError as exc:
            raise ConfigError(f"{path}: {where}: {item!r} is not an IP address") from exc
    return tuple(out)


def _string_list(path: Path, where: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: {where} must be a list of strings")
    return tuple(value)


def _instant(label: Path, where: str, value: object, zone: str | None) -> datetime:
    """A TOML date / date-time (or ISO text) as an aware UTC datetime; naive values are in ``zone`` (else UTC)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ConfigError(f"{label}: {where}: {value!r} is not a date or date-time") from exc
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time(0))
    if not isinstance(value, datetime):
        raise ConfigError(f"{label}: {where} must be a date or date-time (e.g. 2026-10-25T12:00:00Z)")
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone) if zone else UTC)
    return value.astimezone(UTC)


def _check_keys(label: Path, where: str, entry: dict, known: set[str]) -> None:
    """``<file>: [hosts.WEB01] time_zone: unknown key (did you mean timezone?); known keys: ...``."""
    import difflib

    unknown = sorted(set(entry) - known, key=str)
    if not unknown:
        return
    key = unknown[0]
    close = difflib.get_close_matches(str(key).lower(), sorted(known), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]}?)" if close else ""
    more = f" (and {', '.join(map(str, unknown[1:]))})" if len(unknown) > 1 else ""
    place = f"{where} " if where else ""
    raise ConfigError(f"{label}: {place}{key}: unknown key{hint}{more}; known keys: {', '.join(sorted(known))}")


def _zone_name(label: Path, where: str, value: object) -> str:
    """An IANA zone name from an IANA or Windows name (``W. Europe Standard Time``, as ``tzutil /g`` prints)."""
    if not isinstance(value, str):
        raise ConfigError(f"{label}: {where} timezone must be a zone name (a string)")
    try:
        return iana_zone(value)
    except LookupError as exc:
        raise ConfigError(f"{label}: {where} timezone: {exc}") from None


def _int(label: Path, where: str, value: object, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{label}: {where} must be a whole number from {low} to {high}")
    return value


def _nightly(label: Path, entry: object, base: Path) -> NightlyConfig:
    if not isinstance(entry, dict):
        raise ConfigError(f"{label}: [nightly] must be a table")
    _check_keys(label, "[nightly]", entry, NIGHTLY_KEYS)
    out: dict[str, object] = {}
    for key in ("warehouse", "reports"):
        if key in entry:
            if not isinstance(entry[key], str) or not entry[key].strip():
                raise ConfigError(f"{label}: [nightly] {key} must be a folder (a string)")
            out[key] = Path(os.path.normpath(base / entry[key]))
    if "retention_days" in entry:
        out["retention_days"] = _int(label, "[nightly] retention_days", entry["retention_days"], 0, 100_000)
    if "suggest_days" in entry:
        out["suggest_days"] = _int(label, "[nightly] suggest_days", entry["suggest_days"], 1, 100_000)
    if "compact" in entry:
        if not isinstance(entry["compact"], bool):
            raise ConfigError(f"{label}: [nightly] compact must be true or false")
        out["compact"] = entry["compact"]
    return NightlyConfig(**out)  # type: ignore[arg-type]


def _suggest(label: Path, entry: object) -> SuggestConfig:
    if not isinstance(entry, dict):
        raise ConfigError(f"{label}: [suggest] must be a table")
    _check_keys(label, "[suggest]", entry, SUGGEST_KEYS)
    out: dict[str, object] = {}
    for key, low, high in (("min_days", 1, 3660), ("min_sources", 1, 1 << 20), ("max_prefix", 0, 32),
                           ("scan_ports", 2, 65536), ("max_networks", 1, 4096)):
        if key in entry:
            out[key] = _int(label, f"[suggest] {key}", entry[key], low, high)
    for key in ("exclude_ports", "risky_ports"):
        if key in entry:
            ports = entry[key]
            if not isinstance(ports, list):
                raise ConfigError(f"{label}: [suggest] {key} must be a list of port numbers")
            out[key] = tuple(_int(label, f"[suggest] {key}", p, 0, 65535) for p in ports)
    if "ignore" in entry:
        nets = entry["ignore"]
        if isinstance(nets, str):
            nets = [nets]
        if not isinstance(nets, list):
            raise ConfigError(f"{label}: [suggest] ignore must be a list of networks (\"91.240.118.0/24\")")
        parsed = []
        for net in nets:
            try:
                parsed.append(str(ipaddress.ip_network(str(net).strip(), strict=False)))
            except ValueError:
                raise ConfigError(f"{label}: [suggest] ignore: {net!r} is not an address or network") from None
        out["ignore"] = tuple(parsed)
    return SuggestConfig(**out)  # type: ignore[arg-type]


def _policy_history(label: Path, where: str, value: object, base: Path, zone: str | None) -> tuple[PolicyPeriod, ...]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"{label}: {where} must be a list of {{script = ..., until = ...}} tables")
    out: list[PolicyPeriod] = []
    for i, entry in enumerate(value):
        at = f"{where}[{i}]"
        _check_keys(label, at, entry, HISTORY_KEYS)
        if not isinstance(entry.get("script"), str) or not entry["script"]:
            raise ConfigError(f"{label}: {at} script must be a path (a string)")
        if "until" not in entry:
            raise ConfigError(f"{label}: {at} until is missing: when did this script stop being in force?")
        until = _instant(label, f"{at} until", entry["until"], zone)
        if out and until <= out[-1].until:
            raise ConfigError(f"{label}: {at} until {until.isoformat()} is not after the previous entry's "
                              f"{out[-1].until.isoformat()}: list the scripts oldest first")
        out.append(PolicyPeriod(base / entry["script"], until))
    return tuple(out)


#: Characters no host name in the config may hold: C0 and C1 controls (NUL, line breaks, escape ...) but the tab
#: (harmless inside a name: escaped in file names, replaced in the tab-separated ISA logs).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _check_host_name(label: Path | str, name: str) -> None:
    """Refuse a host name no computer has: empty, with blanks around it, or with control characters.

    (Blanks around a name would make it unfindable: names are looked up with the blanks taken off.)

    Any other name is allowed: where it becomes part of a file name it is escaped by
    :func:`pipeline.policy.store.safe_name`, the one rule for that.
    """
    if not name.strip() or name != name.strip() or _CONTROL.search(name):
        raise ConfigError(f"{label}: [hosts.{json.dumps(shown(name))}]: a host name cannot be empty, start or end "
                          "with a blank, or hold control characters (NUL, line breaks, escapes)")


def shown(name: str, width: int = 60) -> str:
    """A name as messages show it: cut to ``width`` characters (a 5,000-character host name is one line)."""
    return name if len(name) <= width else name[: width - 1] + "\u2026"


def host_list(names) -> str:
    """Host names for a message: each :func:`shown`, comma-separated."""
    return ", ".join(shown(n) for n in names)


def parse_config(text: str, path: Path | None = None) -> Config:
    """Parse the TOML text of a config file (``path`` only names it in errors and anchors relative paths)."""
    label = path or Path("<config>")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{label}: not valid TOML: {exc}") from exc
    config = Config(path=Path(path).resolve() if path else None)
    _check_keys(label, "", data, TOP_KEYS)
    hosts = data.get("hosts", {})
    if not isinstance(hosts, dict):
        raise ConfigError(f"{label}: [hosts] must be a table of host tables")
    for name, entry in hosts.items():
        where = f"[hosts.{name}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{label}: {where} must be a table")
        _check_keys(label, where, entry, HOST_KEYS)
        _check_host_name(label, str(name))
        tz = entry.get("timezone")
        if tz is not None:
            tz = _zone_name(label, where, tz)
        policy = entry.get("policy")
        if policy is not None and not isinstance(policy, str):
            raise ConfigError(f"{label}: {where} policy must be a path (a string)")
        encoding = entry.get("encoding")
        if encoding is not None:
            if not isinstance(encoding, str):
                raise ConfigError(f"{label}: {where} encoding must be a string naming a code page (e.g. \"gbk\")")
            try:
                encoding = text_encoding(encoding)
            except ValueError as exc:
                raise ConfigError(f"{label}: {where} encoding: {exc} (e.g. \"gbk\", \"cp1252\", \"utf-8\", "
                                  "or a Windows code page number like 936)") from None
        config_host = HostConfig(
            name=str(name),
            timezone=str(tz) if tz is not None else None,
            addresses=_address_list(label, f"{where} addresses", entry.get("addresses", [])),
            policy=(config.base_dir / policy) if policy else None,
            inbox=_string_list(label, f"{where} inbox", entry.get("inbox", [])),
            encoding=encoding,
            policy_history=_policy_history(label, f"{where} policy_history", entry.get("policy_history", []),
                                           config.base_dir, str(tz) if tz is not None else None),
            **{k: _address_list(label, f"{where} {k}", entry.get(k, [])) for k in SERVER_KEYS},
        )
        if any(key.lower() == str(name).lower() for key in config.hosts):
            raise ConfigError(f"{label}: host {name!r} is defined twice (host names are case-insensitive)")
        config.hosts[str(name)] = config_host
    config.suggest = _suggest(label, data.get("suggest", {}))
    config.nightly = _nightly(label, data.get("nightly", {}), config.base_dir)
    names = data.get("names", {})
    if not isinstance(names, dict):
        raise ConfigError(f"{label}: [names] must be a table of name = [addresses]")
    for dns_name, addrs in names.items():
        config.names[dns_name.lower()] = _address_list(label, f"[names] {dns_name!r}", addrs)
    return config


def load_config(path: str | os.PathLike[str] | None, *, required: bool = False) -> Config:
    """Load the config at ``path`` (default ``./ipsec-drops.toml``); an absent default file is an empty config."""
    explicit = path is not None
    p = Path(path) if path is not None else Path(DEFAULT_CONFIG_NAME)
    if not p.exists():
        if explicit or required:
            raise ConfigError(f"{p}: config file not found")
        return Config()
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file: {exc}") from exc
    return parse_config(text, p)
