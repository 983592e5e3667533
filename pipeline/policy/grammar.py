"""The ``netsh ipsec`` grammar: contexts, commands, tags in their documented order, value types.

Sources: ``../shared/reference/netsh-ipsec.md`` §1 (syntax and defaults) and §4
(script quirks).  How netsh matches what was typed:

* Contexts, commands and tags are case-insensitive prefixes of the full word
  (``del``, ``srca=``, ``proto=``, ``mir=``, ``qmsec=``, ``desc=``); an exact
  match wins over a longer word it also prefixes (``filter`` is not
  ``filterlist``), and a prefix of two words is an error naming both.
* ``[tag=]value``: a value without a tag fills the tag at its position in the
  documented order (``add filter filterlist=block any srcmask=32`` puts ``any``
  in ``srcaddr``).  Some positions take one of several tags (``name|guid``,
  ``name|id|all``): an untagged value there fills the first, and the bare word
  ``all`` fills ``all`` (``del rule all ipsec_base_config`` [S14]).
  UNVERIFIED how netsh pairs an untagged value whose position is already
  taken: here it fills the first free position, with a warning.
* Spaces around ``=`` are accepted (``name = "Allow HTTP"``); a tag given
  twice is an error (netsh's ERROR_TAG_ALREADY_PRESENT).
* Unquoted text (``description=Block all traffic`` without quotes): untagged
  words after an unquoted, tagged ``description=`` (or ``psk=``) are joined
  to it with a warning (the admin forgot the quotes; netsh itself may well have
  refused the line).  A preshared key is never repeated in a message, and the
  tokenizer masks ``psk=...`` in the line text every report carries.
* **Trailing words** (``... dstport=3389 远程桌面``: real scripts end lines
  with a comment in the admin's language).  What netsh does with them is
  UNVERIFIED; refusing the command would drop a traffic rule, so they are kept
  out of the command with a ``trailing-words`` warning and the command is
  applied.  The trailing words are the untagged words after the last tagged
  word, from the first of them that
  (a) fits no free position (``add filterlist A B C``: ``C``),
  (b) is not a valid value for the position it would fill (``远程桌面`` as
  ``mirrored=``), or
  (c) directly follows a tagged word and would fill an *optional* position
  (``add filter filterlist=L srcaddr=any dstaddr=me remote desktop``: after
  ``tag=`` values the admin is not writing positional values any more).
  Real positional use is untouched: words before a tagged word are always
  positional (``add filter filterlist=L any dstaddr=me``), so are runs that
  start the command (``add filter L any me``) or fill a required position
  (``add filterlist description=D Name``).  Elsewhere an untagged word that
  fits no position, or is not a valid value for it, is an error and the
  command is refused, as netsh refuses a command with an invalid argument.
* Values are case-insensitive keywords where netsh has keywords (``YES``,
  ``y``, ``PERMIT``, ``TCP``), yes/no may be shortened to any prefix.

Commands that do not change the static policy (``show``, ``dump``, ``help``)
are recognised and passed over; commands the model does not cover
(``dynamic add rule``, ``importpolicy``) are recognised and reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .addresses import parse_address, parse_mask
from .model import PROTOCOL_NAMES, Origin, PolicyIssue, issue_at

# --- contexts --------------------------------------------------------------------------------------------

#: netsh contexts (Windows Server 2003 and later).  Only ``ipsec static`` and ``ipsec dynamic`` are modelled.
CONTEXT_TREE: dict[str, dict] = {
    "ipsec": {"static": {}, "dynamic": {}},
    "advfirewall": {"consec": {}, "firewall": {}, "mainmode": {}, "monitor": {}},
    "bridge": {}, "dhcp": {}, "diag": {}, "firewall": {}, "http": {},
    "interface": {"ip": {}, "ipv4": {}, "ipv6": {}, "portproxy": {}, "tcp": {}, "teredo": {}, "isatap": {},
                  "6to4": {}},
    "lan": {}, "nap": {}, "netio": {}, "ras": {}, "routing": {}, "rpc": {}, "trace": {}, "wcn": {},
    "wfp": {}, "winhttp": {}, "wins": {}, "winsock": {}, "wlan": {}, "namespace": {}, "p2p": {},
    "dnsclient": {}, "branchcache": {}, "mbn": {},
}

STATIC = ("ipsec", "static")
DYNAMIC = ("ipsec", "dynamic")

#: Commands of every context (netsh-ipsec.md §4, [S18d]).
GLOBAL_COMMANDS = ("..", "?", "abort", "alias", "bye", "commit", "dump", "exec", "exit", "help", "offline",
                   "online", "popd", "pushd", "quit", "unalias")


class Ambiguous(ValueError):
    """A prefix of more than one word."""


def match_keyword(word: str, candidates: tuple[str, ...] | list[str]) -> str | None:
    """The candidate ``word`` names: exact (any case) or the one it prefixes; None if none; Ambiguous if many."""
    low = word.lower()
    if not low:
        return None
    for cand in candidates:
        if cand.lower() == low:
            return cand
    hits = [c for c in candidates if c.lower().startswith(low)]
    if len(hits) > 1:
        raise Ambiguous(f"{word!r} could be {' or '.join(hits)}")
    return hits[0] if hits else None


def context_node(path: tuple[str, ...]) -> dict:
    node = CONTEXT_TREE
    for part in path:
        node = node.get(part, {})
    return node


def walk_context(current: tuple[str, ...], words: list[str]) -> tuple[tuple[str, ...], int]:
    """Follow leading context names in ``words`` from ``current``: (context reached, words used).

    A context typed from inside another (``ipsec static`` while already in
    ``ipsec dynamic``) is looked up from the root too, as netsh scripts do
    mix full paths with context mode.
    """
    for start in (current, ()) if current else ((),):
        path, used = start, 0
        while used < len(words):
            node = context_node(path)
            try:
                child = match_keyword(words[used], tuple(node))
            except Ambiguous:
                child = None
            if child is None:
                break
            path, used = path + (child,), used + 1
        if used:
            return path, used
    return current, 0


# --- value types -----------------------------------------------------------------------------------------

def parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low and "yes".startswith(low):
        return True
    if low and "no".startswith(low):
        return False
    raise ValueError(f"{text!r} is not yes or no")


def enum_parser(*choices: str):
    def parse(text: str) -> str:
        try:
            hit = match_keyword(text.strip(), choices)
        except Ambiguous as exc:
            raise ValueError(str(exc)) from None
        if hit is None:
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
        return hit
    return parse


def is_number(text: str) -> bool:
    """ASCII digits only: netsh reads ``0-9``, while ``str.isdigit`` also takes ``²`` and ``٣٤``."""
    return text.isascii() and text.isdigit()


def int_parser(lo: int, hi: int):
    def parse(text: str) -> int:
        raw = text.strip()
        if not is_number(raw):
            raise ValueError(f"{text!r} is not a whole number")
        if len(raw.lstrip("0")) > len(str(hi)):
            raise ValueError(f"{raw[:20]}{'...' if len(raw) > 20 else ''} is outside {lo}..{hi}")
        value = int(raw)
        if not lo <= value <= hi:
            raise ValueError(f"{value} is outside {lo}..{hi}")
        return value
    return parse


def parse_protocol(text: str) -> int | None:
    """``ANY`` (or 0) is None; names ICMP/TCP/UDP/RAW; or a protocol number 0..255."""
    raw = text.strip()
    if raw.upper() == "ANY":
        return None
    if raw.upper() in PROTOCOL_NAMES:
        return PROTOCOL_NAMES[raw.upper()]
    value = int_parser(0, 255)(raw) if is_number(raw) else None
    if value is None:
        raise ValueError(f"{text!r} is not ANY, ICMP, TCP, UDP, RAW or a protocol number")
    return value or None


def parse_port(text: str) -> int | None:
    """A port 0..65535; 0 means any port (None)."""
    return int_parser(0, 65535)(text) or None


_QM_ONE = r"(?:AH\[(?:MD5|SHA1|SHA256)\](?:\+ESP\[[A-Z0-9]+,[A-Z0-9]+\])?|ESP\[[A-Z0-9]+,[A-Z0-9]+\])"
_QMSEC = re.compile(rf"^({_QM_ONE})(?::(\d{{1,10}})K/(\d{{1,10}})S)?$", re.IGNORECASE | re.ASCII)
_QM_ALGS = {"DES", "3DES", "AES128", "AES192", "AES256", "NONE", "MD5", "SHA1", "SHA256"}
_MMSEC = re.compile(r"^(DES|3DES|AES128|AES192|AES256)-(MD5|SHA1|SHA256|SHA384)-(\d{1,4})$", re.IGNORECASE | re.ASCII)


def parse_qmsec(text: str) -> tuple[str, ...]:
    """Quick-mode offers ``ESP[3DES,SHA1]:100000k/2000s AH[MD5]`` (lifetime optional), normalised."""
    out = []
    for item in text.split():
        m = _QMSEC.match(item)
        algs = set(re.findall(r"[A-Z0-9]+", (m.group(1).upper() if m else ""))) - {"AH", "ESP"}
        if not m or not algs <= _QM_ALGS:
            raise ValueError(f"{item!r} is not a quick mode method like ESP[3DES,SHA1] or AH[MD5]:100000k/300s")
        body = m.group(1).upper()
        out.append(body + (f":{int(m.group(2))}k/{int(m.group(3))}s" if m.group(2) else ""))
    return tuple(out)


def parse_mmsec(text: str) -> tuple[str, ...]:
    """Main-mode methods ``3DES-SHA1-2 3DES-MD5-3``, normalised to upper case."""
    out = []
    for item in text.split():
        m = _MMSEC.match(item)
        if not m:
            raise ValueError(f"{item!r} is not a main mode method like 3DES-SHA1-2")
        out.append(f"{m.group(1).upper()}-{m.group(2).upper()}-{int(m.group(3))}")
    return tuple(out)


_GUID = re.compile(r"^\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?$", re.IGNORECASE)


def parse_guid(text: str) -> str:
    if not _GUID.match(text.strip()):
        raise ValueError(f"{text!r} is not a GUID")
    return text.strip().strip("{}").lower()


def parse_name(text: str) -> str:
    if not text.strip():
        raise ValueError("a name cannot be empty")
    return text


def parse_tunnel(text: str) -> str:
    addr, _, warning = parse_address(text)
    if addr.kind not in ("ip", "dns", "variable") or warning and addr.kind != "variable":
        raise ValueError(f"{text!r}: a tunnel end point is one IP address or DNS name")
    return addr.value


def parse_text(text: str) -> str:
    return text


VALUE_PARSERS: dict[str, Any] = {
    "text": parse_text,
    "name": parse_name,
    "bool": parse_bool,
    "int": int_parser(0, 2**31 - 1),
    "id": int_parser(1, 2**31 - 1),
    "guid": parse_guid,
    "action": enum_parser("permit", "block", "negotiate"),
    "address": parse_address,
    "mask": parse_mask,
    "protocol": parse_protocol,
    "port": parse_port,
    "conntype": enum_parser("lan", "dialup", "all"),
    "location": enum_parser("local", "domain", "persistent"),
    "mode": enum_parser("enable", "disable"),
    "tunnel": parse_tunnel,
    "qmsec": parse_qmsec,
    "mmsec": parse_mmsec,
    "flag": parse_text,
}

#: The type of every tag (the same tag has the same type in every command).
TAG_TYPES: dict[str, str] = {
    "name": "name", "newname": "name", "filterlist": "name", "filteraction": "name", "policy": "name",
    "description": "text", "gponame": "text", "psk": "text", "rootca": "text", "domain": "text",
    "mmpfs": "bool", "qmpfs": "bool", "inpass": "bool", "soft": "bool", "activatedefaultrule": "bool",
    "assign": "bool", "mirrored": "bool", "activate": "bool", "kerberos": "bool",
    "qmpermm": "int", "mmlifetime": "int", "pollinginterval": "int", "id": "id", "guid": "guid",
    "action": "action", "srcaddr": "address", "dstaddr": "address", "srcmask": "mask", "dstmask": "mask",
    "protocol": "protocol", "srcport": "port", "dstport": "port", "conntype": "conntype", "tunnel": "tunnel",
    "location": "location", "mode": "mode", "mmsecmethods": "mmsec", "qmsecmethods": "qmsec", "all": "flag",
    "property": "text", "value": "text",
}
#: Longest problem message (values are quoted in messages, and a value can be any length).
MAX_MESSAGE = 300
#: Tags whose value is free text: untagged words right after them are joined to them (with a warning).
FREE_TEXT_TAGS = frozenset({"description", "psk"})
#: Tags whose value is a secret: never repeated in a message (``policy show`` prints no keys either).
SECRET_TAGS = frozenset({"psk"})
#: Tags that may be given more than once (netsh-ipsec.md §1.5 remark 3).
REPEATABLE_TAGS = frozenset({"rootca"})


@dataclass(frozen=True)
class CommandSpec:
    """One command: its positions (each a tuple of alternative tags) and which positions are required."""

    verb: str
    noun: str
    slots: tuple[tuple[str, ...], ...]
    required: tuple[tuple[str, ...], ...] = ()

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(t for slot in self.slots for t in slot)


def _spec(verb: str, noun: str, slots: str, required: str = "") -> CommandSpec:
    parse = lambda s: tuple(tuple(part.split("|")) for part in s.split())  # noqa: E731
    return CommandSpec(verb, noun, parse(slots), parse(required))


#: ``netsh ipsec static`` commands (netsh-ipsec.md §1.1-1.7), tags in documented order.
STATIC_SPECS: dict[tuple[str, str], CommandSpec] = {
    (s.verb, s.noun): s
    for s in (
        _spec("add", "policy", "name description mmpfs qmpermm mmlifetime activatedefaultrule pollinginterval "
                               "assign mmsecmethods", "name"),
        _spec("add", "filterlist", "name description", "name"),
        _spec("add", "filter", "filterlist srcaddr dstaddr description protocol mirrored srcmask dstmask srcport "
                               "dstport", "filterlist srcaddr dstaddr"),
        _spec("add", "filteraction", "name description qmpfs inpass soft action qmsecmethods", "name"),
        _spec("add", "rule", "name policy filterlist filteraction tunnel conntype activate description kerberos "
                             "psk rootca", "name policy filterlist filteraction"),
        _spec("set", "policy", "name|guid newname description mmpfs qmpermm mmlifetime activatedefaultrule "
                               "pollinginterval assign gponame mmsecmethods", "name|guid"),
        _spec("set", "filterlist", "name|guid newname description", "name|guid"),
        _spec("set", "filteraction", "name|guid newname description qmpfs inpass soft action qmsecmethods",
              "name|guid"),
        _spec("set", "rule", "name|id policy newname description filterlist filteraction tunnel conntype activate "
                             "kerberos psk rootca", "name|id policy"),
        _spec("set", "defaultrule", "policy qmpfs activate qmsecmethods kerberos psk rootca", "policy"),
        _spec("set", "store", "location domain", "location"),
        _spec("set", "batch", "mode", "mode"),
        _spec("delete", "filter", "filterlist srcaddr dstaddr protocol mirrored srcmask dstmask srcport dstport",
              "filterlist srcaddr dstaddr"),
        _spec("delete", "filterlist", "name|all", "name|all"),
        _spec("delete", "filteraction", "name|all", "name|all"),
        _spec("delete", "policy", "name|all", "name|all"),
        _spec("delete", "rule", "name|id|all policy", "name|id|all policy"),
        _spec("delete", "all", ""),
    )
}
STATIC_VERBS = ("add", "delete", "set", "show", "exportpolicy", "importpolicy", "dump", "help", "?")
STATIC_NOUNS = {
    "add": ("policy", "filterlist", "filter", "filteraction", "rule"),
    "set": ("policy", "filterlist", "filteraction", "rule", "defaultrule", "store", "batch"),
    "delete": ("policy", "filterlist", "filter", "filteraction", "rule", "all"),
}

#: ``netsh ipsec dynamic``: only ``set config`` is modelled (netsh-ipsec.md §1.10).
CONFIG_SPEC = _spec("set", "config", "property value", "property value")
DYNAMIC_VERBS = ("add", "delete", "set", "show", "dump", "help", "?")

#: ``set config`` properties and their values.  Ranges other than ipsecexempt are UNVERIFIED (commonly cited).
CONFIG_PROPERTIES = ("ipsecdiagnostics", "ikelogging", "strongcrlcheck", "ipsecloginterval", "ipsecexempt",
                     "bootmode", "bootexemptions")
CONFIG_VALUES: dict[str, Any] = {
    "ipsecdiagnostics": int_parser(0, 7),
    "ikelogging": int_parser(0, 1),
    "strongcrlcheck": int_parser(0, 2),
    "ipsecloginterval": int_parser(60, 86400),
    "ipsecexempt": int_parser(0, 3),
    "bootmode": enum_parser("stateful", "block", "permit"),
}
#: Defaults where a source gives one: ipsecexempt 3 is verified [S4]; the others are commonly cited.
CONFIG_DEFAULTS = {"ipsecdiagnostics": "0", "ipsecloginterval": "3600", "ipsecexempt": "3", "bootmode": "stateful"}

_BOOT_EXEMPTION = re.compile(r"^(ANY|ICMP|TCP|UDP|RAW|\d{1,3}):(\d{1,5}):(\d{1,5}):(INBOUND|OUTBOUND)$",
                            re.I | re.ASCII)


def parse_bootexemptions(text: str) -> str:
    """``none`` or ``protocol:srcport:dstport:direction`` entries (the syntax is UNVERIFIED), normalised."""
    items = text.split()
    if len(items) == 1 and items[0].lower() == "none":
        return "none"
    out = []
    for item in items:
        m = _BOOT_EXEMPTION.match(item)
        if not m or int(m.group(2)) > 65535 or int(m.group(3)) > 65535 or (m.group(1).isdigit()
                                                                            and int(m.group(1)) > 255):
            raise ValueError(f"{item!r} is not protocol:srcport:dstport:direction (e.g. TCP:0:80:inbound)")
        out.append(f"{m.group(1).upper()}:{int(m.group(2))}:{int(m.group(3))}:{m.group(4).lower()}")
    if not out:
        raise ValueError("bootexemptions needs 'none' or at least one protocol:srcport:dstport:direction")
    return " ".join(out)


CONFIG_VALUES["bootexemptions"] = parse_bootexemptions


def parse_config_value(prop: str, text: str) -> str:
    """The normalised text of a ``set config`` value (integers without leading zeros, keywords lower case)."""
    value = CONFIG_VALUES[prop](text)
    return str(value)


# --- binding words to tags -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Word:
    """One word of a netsh command after quote removal: ``tag=value`` or an untagged ``value``."""

    text: str
    tag: str | None
    value: str
    quoted: bool = False


@dataclass
class Command:
    """A recognised netsh ipsec command with its tags bound to typed values."""

    origin: Origin
    context: tuple[str, ...]
    verb: str
    noun: str
    args: dict[str, Any] = field(default_factory=dict)
    #: For address tags: the mask written into the address (``10.1.0.0/24``).
    cidr: dict[str, int] = field(default_factory=dict)


_WORD = r'[^\s"=]+(?![^\s"])'  # a whole word without "=" (not the tag of the next value)
_SECRET = re.compile(rf'(?i)(?<![\w-])(psk?\s*=\s*)("[^"]*"?|[^\s"]+(?:[ \t]+{_WORD})*)')


def mask_secrets(text: str, values: tuple[str, ...] = ()) -> str:
    """``text`` with preshared keys replaced by ``***``: ``psk=``/``ps=`` values, and any of ``values``.

    Reports quote the script line as written; a key in the script must not
    reach a terminal, a CSV or the issues table through them.
    """
    masked = _SECRET.sub(lambda m: m.group(1) + "***", text)
    for value in values:
        if value.strip():
            masked = masked.replace(value, "***")
    return masked


def _shorten(words: list[str], limit: int = 60) -> str:
    """The words as one quoted text, cut at ``limit`` characters (a trailing comment can be any length)."""
    text = " ".join(words)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(words)} words)"


def bind(spec: CommandSpec, words: list[Word], origin: Origin) -> tuple[dict[str, Any] | None, dict[str, int],
                                                                       list[PolicyIssue]]:
    """Bind ``words`` to the tags of ``spec``: (typed args or None when netsh would refuse, cidr masks, issues)."""
    issues: list[PolicyIssue] = []
    args: dict[str, Any] = {}
    cidr: dict[str, int] = {}
    filled: set[int] = set()
    free_text: str | None = None  # the free-text tag the previous word went to
    tags = spec.tags

    def slot_of(tag: str) -> int:
        return next(i for i, slot in enumerate(spec.slots) if tag in slot)

    def convert(tag: str, text: str) -> Any:
        value = VALUE_PARSERS[TAG_TYPES.get(tag, "text")](text)
        if TAG_TYPES.get(tag) == "address":
            addr, prefix, warning = value
            if warning:
                issues.append(issue_at(origin, "warning", "address-syntax", f"{tag}: {warning}"))
            if prefix is not None:
                cidr[tag] = prefix
            return addr
        return value

    def fail(code: str, message: str):
        if len(message) > MAX_MESSAGE:  # a value can be 100 000 characters long; the line's text is kept anyway
            message = message[:MAX_MESSAGE - 3] + "..."
        issues.append(issue_at(origin, "error", code, message))
        return None, cidr, issues

    joined: list[str] = []
    # Trailing words (see the module docstring): only untagged words after the last tagged one can be trailing.
    last_tagged = max((i for i, w in enumerate(words) if w.tag is not None), default=-1)
    trailing: list[str] = []
    trailing_reason = ""
    for position, word in enumerate(words):
        if word.tag is not None:
            try:
                tag = match_keyword(word.tag, tags)
            except Ambiguous as exc:
                return fail("ambiguous-tag", f"tag {word.tag}= is ambiguous: {exc}")
            if tag is None:
                return fail("unknown-tag", f"{spec.verb} {spec.noun} has no tag {word.tag}= "
                                           f"(tags: {', '.join(tags)})")
            if tag in args and tag not in REPEATABLE_TAGS:
                return fail("tag-repeated", f"tag {tag}= is given twice")
            try:
                value = convert(tag, word.value)
            except ValueError as exc:
                return fail("bad-value", f"{tag}={word.value}: {exc}")
            if tag in REPEATABLE_TAGS:
                args[tag] = args.get(tag, ()) + (value,)
            else:
                args[tag] = value
            filled.add(slot_of(tag))
            # An unquoted free-text value followed by untagged words: the admin forgot the quotes.
            free_text = tag if tag in FREE_TEXT_TAGS and not word.quoted else None
            continue
        if free_text is not None:
            args[free_text] = f"{args[free_text]} {word.text}"
            joined.append(word.text if free_text not in SECRET_TAGS else "")
            continue
        if trailing:
            trailing.append(word.text)
            continue
        in_tail = position > last_tagged
        # An untagged value: its own position if free, else the first free one.
        target = position if position < len(spec.slots) and position not in filled else None
        moved = False
        if target is None:
            target = next((i for i in range(len(spec.slots)) if i not in filled), None)
            moved = target is not None
        if target is None:
            if in_tail:
                trailing, trailing_reason = [word.text], "every position is taken"
                continue
            return fail("unexpected-word", f"untagged {word.text!r} fits no tag of {spec.verb} {spec.noun}")
        slot = spec.slots[target]
        tag = "all" if "all" in slot and word.text.lower() == "all" and not word.quoted else slot[0]
        optional = not any(set(slot) & set(alternatives) for alternatives in spec.required)
        if in_tail and optional and position > 0 and words[position - 1].tag is not None:
            trailing, trailing_reason = [word.text], f"after tagged values, not read as {tag}="
            continue
        try:
            value = True if tag == "all" else convert(tag, word.text)
        except ValueError as exc:
            if in_tail:
                trailing, trailing_reason = [word.text], f"no value for {tag}=: {exc}"
                continue
            return fail("bad-value", f"untagged {word.text!r} in the place of {tag}=: {exc}")
        if moved:
            issues.append(issue_at(origin, "warning", "positional-moved",
                                   f"untagged {word.text!r} taken as {tag}= (position {position + 1} was taken; "
                                   "netsh's rule here is unverified)"))
        args[tag] = value
        filled.add(target)
    if joined:
        shown = repr(" ".join(joined)) if all(joined) else "words (not shown: part of a preshared key)"
        issues.append(issue_at(origin, "warning", "unquoted-text",
                               f"untagged {shown} joined to the unquoted value before it "
                               "(quote values with spaces: netsh may refuse this line)"))
    if trailing:
        issues.append(issue_at(origin, "warning", "trailing-words",
                               f"trailing {_shorten(trailing)} ignored ({trailing_reason}): taken for a comment, "
                               "the command is kept (netsh's handling of extra words is unverified: it may "
                               "refuse the line)"))
    for alternatives in spec.required:
        if not any(t in args for t in alternatives):
            return fail("missing-tag", f"{spec.verb} {spec.noun} needs {'|'.join(alternatives)}=")
    return args, cidr, issues
