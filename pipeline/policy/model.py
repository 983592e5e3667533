"""The policy model: what a host's IPSec policy store holds after a netsh script ran.

Plain dataclasses, one per netsh object (policy, rule, filter list, filter,
filter action) plus the ``dynamic set config`` settings.  The model records
what netsh would have *stored*, not how the script spelled it: names as first
created, masks as prefix lengths, protocol ``ANY`` as ``None``, a mask given
with ``any`` dropped (netsh shows ``0.0.0.0`` whatever was typed).  That is
what makes "print it back as a script and parse it again" give the same model
(``render.py`` and the property test).

Where a line of the script created or last changed an object is kept in
``origin`` (file, line, original text) so every report can name the line to
fix; it is left out of comparisons, because the same policy written by
another script is the same policy.

Names are compared case-insensitively (the dictionaries are keyed by the
lower-case name; objects keep the case they were created with).  Whether
netsh does so is UNVERIFIED (netsh-ipsec.md §1.0); Windows object names
usually are, and a script that differs only in case is far more likely to
mean the same object than a second one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Where netsh keeps a policy: ``set store location=...`` (netsh-ipsec.md §1.6).
STORES = ("local", "persistent", "domain")
#: Filter action verbs, least restrictive first (the tie-break order of weights.py).
ACTIONS = ("permit", "negotiate", "block")
#: Server types netsh accepts as addresses; they imply ``me`` on the other side.
SERVER_TYPES = ("DNS", "WINS", "DHCP", "GATEWAY")
#: Protocol names netsh accepts (``ANY`` is ``None`` in the model).  RAW = 255 is UNVERIFIED.
PROTOCOL_NAMES = {"ICMP": 1, "TCP": 6, "UDP": 17, "RAW": 255}

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Origin:
    """The script line an object or problem comes from: file, first line number, original text."""

    file: str
    line: int
    text: str


@dataclass(frozen=True)
class PolicyIssue:
    """One problem found while reading, applying, resolving or linting a script.

    ``severity`` is error (netsh refused the command, or the policy is unsafe),
    warning (accepted, but probably not what the admin meant) or info.
    ``code`` is a short stable identifier tests and scripts can match on.
    """

    file: str
    line: int  # 0 = the whole file / no single line
    severity: str
    code: str
    message: str
    text: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        tail = f": {self.text.strip()[:200]!r}" if self.text else ""
        return f"{where}: {self.severity}: {self.message} [{self.code}]{tail}"

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "severity": self.severity, "code": self.code,
                "message": self.message, "text": self.text}


def issue_at(origin: Origin, severity: str, code: str, message: str) -> PolicyIssue:
    return PolicyIssue(origin.file, origin.line, severity, code, message, origin.text)


@dataclass(frozen=True)
class Address:
    """One end of a filter as netsh stores it.

    ``kind`` is ``me``, ``any``, ``server`` (value DNS/WINS/DHCP/GATEWAY),
    ``ip`` (value: canonical address text), ``range`` (value ``lo-hi``) or
    ``dns`` (value: the lower-case name, resolved later from the config).
    """

    kind: str
    value: str = ""

    def __str__(self) -> str:
        return self.value if self.kind in ("server", "ip", "range", "dns") else self.kind


ME = Address("me")
ANY = Address("any")


@dataclass
class Filter:
    """One filter of a filter list; ``mirrored`` stands for two directions."""

    src: Address
    dst: Address
    src_mask: int | None = None  # prefix length as given; None = not given (a single address)
    dst_mask: int | None = None
    protocol: int | None = None  # None = ANY
    src_port: int | None = None  # None = any port (netsh's 0)
    dst_port: int | None = None
    mirrored: bool = True  # netsh's default (inferred, netsh-ipsec.md §1.3)
    description: str = ""
    origin: Origin | None = field(default=None, compare=False, repr=False)


@dataclass
class FilterList:
    name: str
    description: str = ""
    filters: list[Filter] = field(default_factory=list)
    origin: Origin | None = field(default=None, compare=False, repr=False)


@dataclass
class FilterAction:
    name: str
    description: str = ""
    action: str = "negotiate"  # UNVERIFIED default (commonly cited)
    qmpfs: bool = False  # verified default no
    inpass: bool = False  # UNVERIFIED default
    soft: bool = False  # UNVERIFIED default
    qmsecmethods: tuple[str, ...] = ()
    origin: Origin | None = field(default=None, compare=False, repr=False)


@dataclass
class Rule:
    """A rule of a policy: a filter list and the filter action applied to it (referenced by name)."""

    name: str
    filter_list: str
    filter_action: str
    description: str = ""
    tunnel: str | None = None
    conntype: str = "all"  # UNVERIFIED default
    active: bool = True  # UNVERIFIED default
    kerberos: bool | None = None  # None: not given (netsh's dynamic defaults)
    psk: str | None = None
    rootca: tuple[str, ...] = ()
    origin: Origin | None = field(default=None, compare=False, repr=False)


@dataclass
class DefaultRule:
    """The policy's default response rule (``activatedefaultrule`` / ``set defaultrule``)."""

    active: bool = True  # verified default yes
    qmpfs: bool = False
    qmsecmethods: tuple[str, ...] = ()
    kerberos: bool | None = None
    psk: str | None = None
    rootca: tuple[str, ...] = ()


@dataclass
class Policy:
    name: str
    description: str = ""
    mmpfs: bool = False  # inferred default no
    qmpermm: int = 0  # UNVERIFIED default
    mmlifetime: int = 480  # minutes, UNVERIFIED default
    pollinginterval: int = 180  # minutes, inferred default
    assigned: bool = False
    mmsecmethods: tuple[str, ...] = ()
    default_rule: DefaultRule = field(default_factory=DefaultRule)
    rules: list[Rule] = field(default_factory=list)
    origin: Origin | None = field(default=None, compare=False, repr=False)
    _rule_index: dict[str, Rule] | None = field(default=None, compare=False, repr=False)
    _rule_signature: tuple[int, int] = field(default=(0, 0), compare=False, repr=False)

    def rule(self, name: str) -> Rule | None:
        """The rule named ``name`` (case-insensitive), from an index rebuilt when the rule list changes.

        A script of thousands of rules checks every ``add rule`` for a duplicate: a scan per call
        made that quadratic.  The index is rebuilt when the list's length or last rule changes;
        a rename must call :meth:`rules_changed`.
        """
        signature = (len(self.rules), id(self.rules[-1]) if self.rules else 0)
        if self._rule_index is not None and self._rule_signature != signature:
            known, last = self._rule_signature
            if 0 < known < len(self.rules) and id(self.rules[known - 1]) == last:
                for r in self.rules[known:]:  # rules appended since: index just those
                    self._rule_index.setdefault(r.name.lower(), r)
                self._rule_signature = signature
            else:
                self._rule_index = None
        if self._rule_index is None or self._rule_signature != signature:
            index: dict[str, Rule] = {}
            for r in self.rules:
                index.setdefault(r.name.lower(), r)
            self._rule_index, self._rule_signature = index, signature
        return self._rule_index.get(name.lower())

    def rules_changed(self) -> None:
        self._rule_index = None


@dataclass
class Store:
    """One netsh policy store: its policies, filter lists and filter actions, keyed by lower-case name."""

    policies: dict[str, Policy] = field(default_factory=dict)
    filter_lists: dict[str, FilterList] = field(default_factory=dict)
    filter_actions: dict[str, FilterAction] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not (self.policies or self.filter_lists or self.filter_actions)


@dataclass
class Setting:
    """A ``netsh ipsec dynamic set config`` property and its (normalised) value."""

    property: str
    value: str
    origin: Origin | None = field(default=None, compare=False, repr=False)


@dataclass
class PolicyModel:
    """Everything a script leaves behind: the stores it touched and the dynamic settings."""

    stores: dict[str, Store] = field(default_factory=lambda: {"local": Store()})
    settings: dict[str, Setting] = field(default_factory=dict)

    def store(self, location: str) -> Store:
        return self.stores.setdefault(location, Store())

    def normalised(self) -> PolicyModel:
        """The same model without empty non-local stores (a ``set store`` that added nothing)."""
        stores = {k: v for k, v in self.stores.items() if k == "local" or not v.is_empty()}
        return PolicyModel(stores=stores, settings=dict(self.settings))

    def policies(self) -> list[tuple[str, Policy]]:
        """(store, policy) pairs in store order, then creation order."""
        return [(loc, p) for loc in STORES if loc in self.stores for p in self.stores[loc].policies.values()]
