"""netsh ipsec policy scripts: parse, model, resolve, weigh, lint, print back, store.

Drops mean nothing until they are tied to the policy that caused them.  This
package reads the scripts admins keep under change control (batch files and
``netsh -f`` scripts) into a policy model, resolves ``me``, server types and
DNS names from the host's entry in ``ipsec-drops.toml``, computes which filter
wins (weights) and writes Parquet snapshot tables the correlation queries join
against.

    >>> from pipeline.policy import analyse_script
    >>> a = analyse_script("policies/web01.cmd", host="WEB01", config=load_config("ipsec-drops.toml"))
    >>> [str(i) for i in a.issues + a.lint()]          # every problem, with file, line and text
    >>> a.filters[0].action, a.filters[0].weight         # effective filters, one per direction

Stages, one module each: ``decode`` (bytes -> text: BOM, ``encoding=``,
UTF-8, the host's ``encoding``, Windows-1252, in that order), ``tokenize``
(script lines -> netsh words, cmd.exe and netsh -f rules), ``grammar`` (commands, tags, values), ``interpret``
(commands applied in order with netsh's semantics), ``model``, ``addresses``
(resolution), ``weights`` (specificity), ``effective`` (resolved filters per
direction), ``lint``, ``render`` (model -> script), ``store`` (Parquet).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config, HostConfig, host_list, shown
from .decode import DecodedScript, decode_bytes
from .effective import EffectiveFilter, decide, effective_filters, in_force
from .interpret import interpret
from .lint import lint
from .model import PolicyIssue, PolicyModel
from .render import RenderError, render_script
from .tokenize import tokenize
from .weights import Weight

__all__ = [
    "EffectiveFilter",
    "PolicyAnalysis",
    "PolicyIssue",
    "PolicyModel",
    "RenderError",
    "Weight",
    "analyse_script",
    "analyse_text",
    "decide",
    "read_script",
    "in_force",
    "analyse_amended",
    "parse_text",
    "parse_texts",
    "render_script",
]


def parse_text(text: str, file: str = "<script>", defines: dict[str, str] | None = None
               ) -> tuple[PolicyModel, list[PolicyIssue], str]:
    """Parse and apply a script: (model, problems in line order, ``batch`` or ``netsh``)."""
    return parse_texts([(text, file)], defines)


def parse_texts(parts: list[tuple[str, str]], defines: dict[str, str] | None = None
                ) -> tuple[PolicyModel, list[PolicyIssue], str]:
    """Parse several scripts, each as its own file (batch or netsh -f), and apply their commands in turn.

    This is what running them one after the other on the host does: a suggestion script run
    after the host's policy script amends the policy the first one built.  The kind is the
    first part's.
    """
    lines = []
    problems: list[PolicyIssue] = []
    kind = ""
    for text, file in parts:
        tokens = tokenize(text, file, defines)
        lines += tokens.lines
        problems += tokens.issues
        kind = kind or tokens.kind
    model, issues = interpret(lines)
    order = {file: i for i, (_, file) in enumerate(parts)}
    merged = sorted(problems + issues, key=lambda i: (order.get(i.file, 0), i.line))
    return model, merged, kind or "batch"


def analyse_amended(base: PolicyAnalysis, text: str, file: str = "<amendment>", *,
                    config: Config | None = None) -> PolicyAnalysis:
    """``base``'s policy amended by the commands of ``text`` (e.g. suggested filters), for the same host.

    What running ``text`` after the host's script does: its commands are parsed by the
    project's own parser (as a script of its own, batch or netsh -f) and applied, in order, to
    a copy of the model ``base`` left behind.
    """
    import copy

    from .interpret import Interpreter

    tokens = tokenize(text, file, dict(base.defines))
    interp = Interpreter(model=copy.deepcopy(base.model))
    for line in tokens.lines:
        interp.apply(line)
    model = interp.model.normalised()
    names = _names_used(model, config)
    delta = _added_rules_only(base.model, model)
    if delta is not None:  # only additions: the base's filters stand, resolve just the new rules' filters
        new_rows, unresolved = effective_filters(delta, base.host, config.names if config else {})
        rows = list(base.filters) + new_rows
    else:
        rows, unresolved = effective_filters(model, base.host, config.names if config else {})
    added = sorted(tokens.issues + interp.issues + [i for i in unresolved if i.file == file], key=lambda i: i.line)
    digest = hashlib.sha256(base.script_sha256.encode() + b"\0" + text.encode("utf-8")).hexdigest()
    return PolicyAnalysis(f"{base.file} + {file}", base.kind, base.host, model, rows, base.issues + added, digest,
                          names, dict(base.defines), encoding=base.encoding, encoding_source=base.encoding_source,
                          amends=base if delta is not None else None,
                          base_rows=len(base.filters) if delta is not None else 0)


def _added_rules_only(base: PolicyModel, amended: PolicyModel) -> PolicyModel | None:
    """A model holding just the rules ``amended`` added to ``base``, or None when it changed anything else.

    Filters are resolved per rule, so when an amendment only adds (rules, lists, actions), the
    base's effective filters stay as they were and only the new rules need resolving.
    """
    from dataclasses import replace

    delta = PolicyModel(stores={}, settings=amended.settings)
    if any(loc not in amended.stores or set(store.policies) - set(amended.stores[loc].policies)
           for loc, store in base.stores.items()):
        return None  # something was deleted
    for loc, store in amended.stores.items():
        old = base.stores.get(loc)
        if old is not None:
            for table in ("filter_lists", "filter_actions"):
                mine, theirs = getattr(old, table), getattr(store, table)
                if any(theirs.get(name) != value for name, value in mine.items()):
                    return None
        policies = {}
        for name, policy in store.policies.items():
            before = old.policies.get(name) if old is not None else None
            kept = len(before.rules) if before is not None else 0
            if before is not None and (policy.rules[:kept] != before.rules or
                                       replace(policy, rules=[]) != replace(before, rules=[])):
                return None
            policies[name] = replace(policy, rules=policy.rules[kept:])
        delta.stores[loc] = replace(store, policies=policies)
    if base.settings != amended.settings:
        return None
    return delta


@dataclass
class PolicyAnalysis:
    """A script read for one host: the model, its effective filters and every problem met."""

    file: str
    kind: str
    host: HostConfig | None
    model: PolicyModel
    filters: list[EffectiveFilter]
    issues: list[PolicyIssue]
    script_sha256: str
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    defines: dict[str, str] = field(default_factory=dict)
    #: The codec the script file was read with (None: the text was given) and where that choice came from
    #: (a key of :data:`pipeline.policy.decode.SOURCES`).
    encoding: str | None = None
    encoding_source: str = "text"
    #: The given encoding, when it made the text differ from detection alone: part of the snapshot id.
    encoding_override: str | None = None
    #: An amendment (:func:`analyse_amended`) that only added: its first ``base_rows`` filters are the base's.
    amends: PolicyAnalysis | None = field(default=None, repr=False, compare=False)
    base_rows: int = 0

    @property
    def errors(self) -> int:
        return sum(1 for i in self.issues if i.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for i in self.issues if i.severity == "warning")

    def lint(self) -> list[PolicyIssue]:
        """The lint findings (parse problems are in :attr:`issues`)."""
        return lint(self.model, self.filters, self.host, self.file)

    def in_force(self) -> list[EffectiveFilter]:
        return in_force(self.filters)

    @property
    def snapshot(self) -> str:
        """Snapshot id: the script's content plus the config facts its addresses were resolved with."""
        host = self.host
        facts = {
            "host": host.name if host else None,
            "addresses": list(host.addresses) if host else [],
            **{k: list(getattr(host, k)) if host else [] for k in ("dns", "wins", "dhcp", "gateway")},
            "names": {k: list(v) for k, v in sorted(self.names.items())},
            "defines": dict(sorted(self.defines.items())),
        }
        if self.encoding_override:
            facts["encoding"] = self.encoding_override  # absent otherwise: earlier snapshot ids stay valid
        digest = hashlib.sha256(self.script_sha256.encode() + json.dumps(facts, sort_keys=True).encode())
        return digest.hexdigest()[:16]


def _names_used(model: PolicyModel, config: Config | None) -> dict[str, tuple[str, ...]]:
    if config is None:
        return {}
    wanted = set()
    for store in model.stores.values():
        for flist in store.filter_lists.values():
            for f in flist.filters:
                wanted |= {a.value for a in (f.src, f.dst) if a.kind == "dns"}
    return {n: config.names[n] for n in sorted(wanted) if n in config.names}


def resolve_host(host: str | HostConfig | None, config: Config | None) -> HostConfig | None:
    """The config entry of ``host`` (a name, case-insensitive) or ValueError when the config has none."""
    if host is None or isinstance(host, HostConfig):
        return host
    found = config.host(host) if config is not None else None
    if found is None:
        known = host_list(config.hosts) if config is not None and config.hosts else "none"
        raise ValueError(f"host {shown(host)!r} is not in the config (hosts: {known})")
    return found


def analyse_text(text: str, file: str = "<script>", *, host: str | HostConfig | None = None,
                 config: Config | None = None, defines: dict[str, str] | None = None,
                 script_sha256: str | None = None) -> PolicyAnalysis:
    """Parse a script's text and resolve it on ``host`` (addresses, servers, ``[names]`` from ``config``)."""
    return _analyse(text, file, resolve_host(host, config), config, defines, script_sha256, None)


def _analyse(text: str, file: str, host_config: HostConfig | None, config: Config | None,
             defines: dict[str, str] | None, script_sha256: str | None,
             decoded: DecodedScript | None, encoding_override: str | None = None) -> PolicyAnalysis:
    defines = dict(defines or {})
    if host_config is not None:
        defines.setdefault("COMPUTERNAME", host_config.name)
    model, issues, kind = parse_text(text, file, defines)
    names = _names_used(model, config)
    rows, unresolved = effective_filters(model, host_config, config.names if config else {})
    issues = sorted(list(decoded.issues if decoded else ()) + issues + unresolved, key=lambda i: i.line)
    digest = script_sha256 or hashlib.sha256(text.encode("utf-8")).hexdigest()
    return PolicyAnalysis(file, kind, host_config, model, rows, issues, digest, names, defines,
                          encoding=decoded.encoding if decoded else None,
                          encoding_source=decoded.source if decoded else "text",
                          encoding_override=encoding_override)


def read_script(path: str | os.PathLike[str], *, host: HostConfig | None = None,
                encoding: str | None = None) -> tuple[bytes, DecodedScript]:
    """A script file's bytes and text: ``encoding`` if given, else the host's config ``encoding``, else detected.

    The order (BOM, explicit, UTF-16 without BOM, UTF-8, host code page,
    Windows-1252) is :mod:`pipeline.policy.decode`'s.  OSError when the file
    cannot be read; ValueError for an unknown encoding name.
    """
    data = Path(path).read_bytes()
    decoded = decode_bytes(data, str(path), encoding=encoding, host_encoding=host.encoding if host else None,
                           host=host.name if host else None)
    return data, decoded


def analyse_script(path: str | os.PathLike[str], *, host: str | HostConfig | None = None,
                   config: Config | None = None, defines: dict[str, str] | None = None,
                   encoding: str | None = None) -> PolicyAnalysis:
    """Read a script file and analyse it for ``host``.

    ``encoding`` (a codec name: ``gbk``, ``cp1252``, ``936``) says what the
    file is saved in and wins over the host's ``encoding`` in the config;
    without either the encoding is detected (:mod:`pipeline.policy.decode`).
    Problems decoding it are in the analysis' issues like any other.  When a
    given encoding makes the text differ from what detection alone reads, it
    becomes part of the snapshot id (re-reading a script in the right code
    page is a new snapshot, not "unchanged").  ValueError for an unknown host
    or encoding name, OSError when the file cannot be read.
    """
    host_config = resolve_host(host, config)
    data, decoded = read_script(path, host=host_config, encoding=encoding)
    override = None
    if decoded.source in ("argument", "config") and decoded.text != decode_bytes(data).text:
        override = decoded.encoding
    return _analyse(decoded.text, str(path), host_config, config, defines, hashlib.sha256(data).hexdigest(),
                    decoded, override)
