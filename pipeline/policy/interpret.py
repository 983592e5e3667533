"""Apply netsh command lines in order, with netsh's semantics, to a policy model.

Each command either changes the model or is refused with an error, exactly
once, and the script goes on (netsh runs a script to the end whatever fails).
Semantics (netsh-ipsec.md §1; what is UNVERIFIED there is decided here and
said so in the message or below):

* ``add filter`` creates a missing filter list (help remark 1), with a note.
* Adding a policy, filter list or filter action that exists is an error (netsh
  reports ERR 05010/05014) and changes nothing.
* ``add rule``/``set rule`` naming a missing policy, filter list or filter
  action is an error.  A rule may name an empty filter list (lint reports it).
* ``set policy ... assign=yes`` (or ``add policy ... assign=yes``) assigns the
  policy and un-assigns any other in the same store: one policy at a time.
* A server type on one end forces ``me`` on the other (help remark 4); a mask
  is dropped for ``any``, ``me``, server types, names and ranges.
* ``delete filter`` deletes every filter of the list that matches the given
  fields (all of them when only the required ones are given [S20c]).
* ``delete filterlist``/``delete filteraction`` of an object a rule still uses
  is refused (UNVERIFIED: netsh may cascade instead; refusing keeps the rule
  whole and the error shows the admin the order problem).
* ``delete policy`` deletes its rules; ``delete all`` empties the current store;
  ``all`` in place of a name means every object of that kind.
* ``set store location=...`` switches store; each store has its own objects.
* ``dynamic set config`` records the property's value; ``dynamic delete all``
  and other dynamic commands are reported, not modelled.
* ``guid=`` cannot be resolved (a script cannot know the GUIDs netsh made).

Dispatch is one explicit table, :data:`HANDLERS`: (context, verb, noun) ->
(the command's grammar, its handler).  What the interpreter models is read in
one place, a handler cannot be reached by a misspelt or unexpected command
name, and a test checks the table against the grammar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .addresses import address_family, max_bits
from .grammar import (
    CONFIG_PROPERTIES,
    CONFIG_SPEC,
    DYNAMIC,
    DYNAMIC_VERBS,
    STATIC,
    STATIC_NOUNS,
    STATIC_SPECS,
    STATIC_VERBS,
    Ambiguous,
    Command,
    CommandSpec,
    bind,
    mask_secrets,
    match_keyword,
    parse_config_value,
    walk_context,
)
from .model import (
    ME,
    Address,
    DefaultRule,
    Filter,
    FilterAction,
    FilterList,
    Origin,
    Policy,
    PolicyIssue,
    PolicyModel,
    Rule,
    Setting,
    Store,
    issue_at,
)
from .tokenize import NetshLine

_POLICY_FIELDS = ("description", "mmpfs", "qmpermm", "mmlifetime", "pollinginterval", "mmsecmethods")
_ACTION_FIELDS = ("description", "qmpfs", "inpass", "soft", "action", "qmsecmethods")
#: Dynamic commands netsh has; only those in :data:`HANDLERS` (``set config``) are modelled.
DYNAMIC_NOUNS = {"set": ("config", "mmpolicy", "qmpolicy", "rule"),
                 "delete": ("all", "mmpolicy", "qmpolicy", "rule", "sa"),
                 "add": ("mmpolicy", "qmpolicy", "rule")}
_RULE_FIELDS = {"description": "description", "tunnel": "tunnel", "conntype": "conntype", "activate": "active",
                "kerberos": "kerberos", "psk": "psk"}


@dataclass
class Interpreter:
    """Holds the model while commands are applied; :meth:`apply` never raises on bad input."""

    model: PolicyModel = field(default_factory=PolicyModel)
    issues: list[PolicyIssue] = field(default_factory=list)
    location: str = "local"

    @property
    def store(self) -> Store:
        return self.model.store(self.location)

    def report(self, origin: Origin, severity: str, code: str, message: str) -> None:
        self.issues.append(issue_at(origin, severity, code, message))

    # -- dispatch -------------------------------------------------------------------------------------------
    def apply(self, line: NetshLine) -> None:
        words = list(line.words)
        leading = []
        for w in words:
            if w.tag is not None:
                break
            leading.append(w.text)
        context, used = walk_context(line.context, leading[:3])
        rest = words[used:]
        origin = line.origin
        if context[:1] != ("ipsec",):
            if context:
                self.report(origin, "warning", "not-ipsec",
                            f"netsh {' '.join(context)} is not an ipsec command: skipped")
            else:
                self.report(origin, "error", "unknown-command",
                            f"{rest[0].text if rest else ''!r} is not a netsh ipsec command")
            return
        if not rest or rest[0].tag is not None:
            if context in (STATIC, DYNAMIC) and not rest:
                return  # e.g. "netsh ipsec static": nothing to do
            self.report(origin, "error", "unknown-command", "a netsh ipsec command needs static or dynamic")
            return
        if context == STATIC:
            self._static(origin, rest)
        elif context == DYNAMIC:
            self._dynamic(origin, rest)
        else:
            head = rest[0].text.lower()
            if head not in ("show", "dump", "help", "?"):
                self.report(origin, "error", "unknown-command", f"netsh ipsec {rest[0].text}: unknown command")

    def _verb_noun(self, origin: Origin, rest: list, verbs: tuple[str, ...],
                   nouns: dict[str, tuple[str, ...]]) -> tuple[str | None, str | None]:
        try:
            verb = match_keyword(rest[0].text, verbs)
        except Ambiguous as exc:
            self.report(origin, "error", "ambiguous-command", f"command {exc}")
            return None, None
        if verb is None:
            self.report(origin, "error", "unknown-command", f"{rest[0].text!r} is not a netsh ipsec command")
            return None, None
        if verb not in nouns:
            return verb, None
        if len(rest) < 2 or rest[1].tag is not None:
            self.report(origin, "error", "incomplete-command", f"{verb} needs one of {', '.join(nouns[verb])}")
            return None, None
        try:
            noun = match_keyword(rest[1].text, nouns[verb])
        except Ambiguous as exc:
            self.report(origin, "error", "ambiguous-command", f"{verb} {exc}")
            return None, None
        if noun is None:
            self.report(origin, "error", "unknown-command", f"{verb} {rest[1].text}: not a netsh ipsec command "
                                                            f"(known: {', '.join(nouns[verb])})")
            return None, None
        return verb, noun

    def _static(self, origin: Origin, rest: list) -> None:
        verb, noun = self._verb_noun(origin, rest, STATIC_VERBS, STATIC_NOUNS)
        if verb is None:
            return
        if noun is None:
            if verb == "importpolicy":
                self.report(origin, "warning", "import-not-followed",
                            "importpolicy reads a policy file: it is not read, so its policy is not in the model")
            elif verb == "exportpolicy":
                self.report(origin, "info", "export-ignored", "exportpolicy writes a file: no change to the policy")
            return  # show, dump, help
        self._run(origin, STATIC, verb, noun, rest[2:])

    def _dynamic(self, origin: Origin, rest: list) -> None:
        verb, noun = self._verb_noun(origin, rest, DYNAMIC_VERBS, DYNAMIC_NOUNS)
        if verb is None or noun is None:
            return
        if (DYNAMIC, verb, noun) not in HANDLERS:
            self.report(origin, "warning", "dynamic-not-modelled",
                        f"dynamic {verb} {noun} changes the running (non-stored) policy: not modelled")
            return
        self._run(origin, DYNAMIC, verb, noun, rest[2:])

    def _run(self, origin: Origin, context: tuple[str, ...], verb: str, noun: str, words: list) -> None:
        """Bind ``words`` to the command's tags and call its handler from :data:`HANDLERS`."""
        spec, handler = HANDLERS[(context, verb, noun)]
        args, cidr, issues = bind(spec, words, origin)
        if args and args.get("psk"):
            # a key given by position escapes the tokenizer's psk= mask: mask its value, and bind again so the
            # issues and the model's origins quote the masked line
            masked = Origin(origin.file, origin.line, mask_secrets(origin.text, (args["psk"],)))
            if masked != origin:
                origin = masked
                args, cidr, issues = bind(spec, words, origin)
        self.issues.extend(issues)
        if args is None:
            return
        handler(self, Command(origin, context, verb, noun, args, cidr))

    def _set_config(self, c: Command) -> None:
        try:
            prop = match_keyword(c.args["property"], CONFIG_PROPERTIES)
        except Ambiguous as exc:
            self.report(c.origin, "error", "bad-value", f"set config property {exc}")
            return
        if prop is None:
            self.report(c.origin, "error", "bad-value", f"set config: {c.args['property']!r} is not one of "
                                                        f"{', '.join(CONFIG_PROPERTIES)}")
            return
        try:
            value = parse_config_value(prop, c.args["value"])
        except ValueError as exc:
            self.report(c.origin, "error", "bad-value", f"set config {prop}: {exc}")
            return
        self.model.settings[prop] = Setting(prop, value, c.origin)

    # -- lookups ----------------------------------------------------------------------------------------------
    def _find(self, table: dict, name: str, what: str, origin: Origin, *, missing: bool = True):
        found = table.get(name.lower())
        if found is None:
            if missing:
                self.report(origin, "error", f"no-such-{what.replace(' ', '')}", f"{what} {name!r} does not exist")
            return None
        if found.name != name:
            self.report(origin, "warning", "name-case",
                        f"{what} {name!r} matched {found.name!r} ignoring case (netsh may compare names exactly)")
        return found

    def _rules_using(self, kind: str, name: str) -> list[tuple[Policy, Rule]]:
        attr = "filter_list" if kind == "list" else "filter_action"
        return [(p, r) for p in self.store.policies.values() for r in p.rules
                if getattr(r, attr).lower() == name.lower()]

    # -- add --------------------------------------------------------------------------------------------------
    def _add_policy(self, c: Command) -> None:
        name = c.args["name"]
        if name.lower() in self.store.policies:
            self.report(c.origin, "error", "already-exists", f"policy {name!r} already exists")
            return
        policy = Policy(name=name, origin=c.origin)
        for key in _POLICY_FIELDS:
            if key in c.args:
                setattr(policy, key, c.args[key])
        if "activatedefaultrule" in c.args:
            policy.default_rule.active = c.args["activatedefaultrule"]
        self.store.policies[name.lower()] = policy
        if c.args.get("assign"):
            self._assign(policy, c.origin)

    def _add_filterlist(self, c: Command) -> None:
        name = c.args["name"]
        if name.lower() in self.store.filter_lists:
            self.report(c.origin, "error", "already-exists", f"filter list {name!r} already exists (netsh ERR 05010)")
            return
        self.store.filter_lists[name.lower()] = FilterList(name, c.args.get("description", ""), origin=c.origin)

    def _add_filter(self, c: Command) -> None:
        new = self._make_filter(c)
        if new is None:
            return
        name = c.args["filterlist"]
        flist = self._find(self.store.filter_lists, name, "filter list", c.origin, missing=False)
        if flist is None:
            flist = FilterList(name, origin=c.origin)
            self.store.filter_lists[name.lower()] = flist
            self.report(c.origin, "info", "filterlist-created", f"filter list {name!r} did not exist: created "
                                                                "(netsh does the same)")
        if any(f == new for f in flist.filters):
            self.report(c.origin, "warning", "duplicate-filter", f"the same filter is already in {flist.name!r}")
        flist.filters.append(new)

    def _add_filteraction(self, c: Command) -> None:
        name = c.args["name"]
        if name.lower() in self.store.filter_actions:
            self.report(c.origin, "error", "already-exists",
                        f"filter action {name!r} already exists (netsh ERR 05014)")
            return
        action = FilterAction(name=name, origin=c.origin)
        for key in _ACTION_FIELDS:
            if key in c.args:
                setattr(action, key, c.args[key])
        self._check_action(action, c.origin)
        self.store.filter_actions[name.lower()] = action

    def _add_rule(self, c: Command) -> None:
        policy = self._find(self.store.policies, c.args["policy"], "policy", c.origin)
        flist = self._find(self.store.filter_lists, c.args["filterlist"], "filter list", c.origin)
        action = self._find(self.store.filter_actions, c.args["filteraction"], "filter action", c.origin)
        if policy is None or flist is None or action is None:
            self.report(c.origin, "error", "rule-refused", f"rule {c.args['name']!r} was not added")
            return
        if policy.rule(c.args["name"]) is not None:
            self.report(c.origin, "error", "already-exists",
                        f"rule {c.args['name']!r} already exists in policy {policy.name!r}")
            return
        rule = Rule(name=c.args["name"], filter_list=flist.name, filter_action=action.name, origin=c.origin)
        self._update_rule(rule, c)
        policy.rules.append(rule)

    # -- set --------------------------------------------------------------------------------------------------
    def _by_name(self, table: dict, c: Command, what: str):
        if "guid" in c.args:
            self.report(c.origin, "error", "guid-unknown",
                        f"{what} guid={c.args['guid']}: GUIDs netsh made are not known to a script model")
            return None
        return self._find(table, c.args["name"], what, c.origin)

    def _rename(self, table: dict, obj, c: Command, what: str) -> bool:
        new = c.args.get("newname")
        if new is None:
            return True
        if new.lower() in table and table[new.lower()] is not obj:
            self.report(c.origin, "error", "already-exists", f"cannot rename to {new!r}: that {what} exists")
            return False
        old = obj.name
        del table[old.lower()]
        obj.name = new
        table[new.lower()] = obj
        if what in ("filter list", "filter action"):
            attr = "filter_list" if what == "filter list" else "filter_action"
            for policy in self.store.policies.values():
                for rule in policy.rules:
                    if getattr(rule, attr).lower() == old.lower():
                        setattr(rule, attr, new)
        return True

    def _set_policy(self, c: Command) -> None:
        policy = self._by_name(self.store.policies, c, "policy")
        if policy is None or not self._rename(self.store.policies, policy, c, "policy"):
            return
        for key in _POLICY_FIELDS:
            if key in c.args:
                setattr(policy, key, c.args[key])
        if "activatedefaultrule" in c.args:
            policy.default_rule.active = c.args["activatedefaultrule"]
        if "gponame" in c.args:
            self.report(c.origin, "info", "gponame-ignored", "gponame applies to domain policies: not modelled")
        if "assign" in c.args:
            if c.args["assign"]:
                self._assign(policy, c.origin)
            else:
                policy.assigned = False

    def _assign(self, policy: Policy, origin: Origin) -> None:
        for other in self.store.policies.values():
            if other is not policy and other.assigned:
                other.assigned = False
                self.report(origin, "info", "unassigned",
                            f"policy {other.name!r} is no longer assigned (one policy is assigned at a time)")
        policy.assigned = True

    def _set_filterlist(self, c: Command) -> None:
        flist = self._by_name(self.store.filter_lists, c, "filter list")
        if flist is None or not self._rename(self.store.filter_lists, flist, c, "filter list"):
            return
        if "description" in c.args:
            flist.description = c.args["description"]

    def _set_filteraction(self, c: Command) -> None:
        action = self._by_name(self.store.filter_actions, c, "filter action")
        if action is None or not self._rename(self.store.filter_actions, action, c, "filter action"):
            return
        for key in _ACTION_FIELDS:
            if key in c.args:
                setattr(action, key, c.args[key])
        self._check_action(action, c.origin)

    def _check_action(self, action: FilterAction, origin: Origin) -> None:
        if action.qmsecmethods and action.action != "negotiate":
            self.report(origin, "info", "qmsec-ignored",
                        f"filter action {action.name!r}: quick mode methods only apply to action=negotiate")

    def _rule_target(self, c: Command) -> tuple[Policy | None, Rule | None]:
        policy = self._find(self.store.policies, c.args["policy"], "policy", c.origin)
        if policy is None:
            return None, None
        if "id" in c.args:
            rule_id = c.args["id"]
            self.report(c.origin, "warning", "rule-id", f"rule id={rule_id} read as the rule's position in the "
                                                        "policy (how netsh numbers rules is unverified)")
            if rule_id > len(policy.rules):
                self.report(c.origin, "error", "no-such-rule", f"policy {policy.name!r} has no rule {rule_id}")
                return policy, None
            return policy, policy.rules[rule_id - 1]
        rule = policy.rule(c.args["name"])
        if rule is None:
            self.report(c.origin, "error", "no-such-rule",
                        f"rule {c.args['name']!r} does not exist in policy {policy.name!r}")
        elif rule.name != c.args["name"]:
            self.report(c.origin, "warning", "name-case", f"rule {c.args['name']!r} matched {rule.name!r} ignoring "
                                                          "case (netsh may compare names exactly)")
        return policy, rule

    def _set_rule(self, c: Command) -> None:
        policy, rule = self._rule_target(c)
        if policy is None or rule is None:
            return
        refs = {}
        for tag, table, what in (("filterlist", self.store.filter_lists, "filter list"),
                                 ("filteraction", self.store.filter_actions, "filter action")):
            if tag in c.args:
                found = self._find(table, c.args[tag], what, c.origin)
                if found is None:
                    return
                refs[tag] = found.name
        new = c.args.get("newname")
        if new is not None:
            clash = policy.rule(new)
            if clash is not None and clash is not rule:
                self.report(c.origin, "error", "already-exists", f"cannot rename to {new!r}: that rule exists")
                return
            rule.name = new
            policy.rules_changed()
        rule.filter_list = refs.get("filterlist", rule.filter_list)
        rule.filter_action = refs.get("filteraction", rule.filter_action)
        self._update_rule(rule, c)

    def _update_rule(self, rule: Rule, c: Command) -> None:
        for tag, attr in _RULE_FIELDS.items():
            if tag in c.args:
                setattr(rule, attr, c.args[tag])
        if "rootca" in c.args:
            rule.rootca = c.args["rootca"]

    def _set_defaultrule(self, c: Command) -> None:
        policy = self._find(self.store.policies, c.args["policy"], "policy", c.origin)
        if policy is None:
            return
        rule: DefaultRule = policy.default_rule
        for tag, attr in (("activate", "active"), ("qmpfs", "qmpfs"), ("qmsecmethods", "qmsecmethods"),
                          ("kerberos", "kerberos"), ("psk", "psk"), ("rootca", "rootca")):
            if tag in c.args:
                setattr(rule, attr, c.args[tag])

    def _set_store(self, c: Command) -> None:
        self.location = c.args["location"]
        if self.location != "local":
            self.report(c.origin, "info", "store", f"commands below go to the {self.location} store "
                                                   "(each store holds its own policies)")

    def _set_batch(self, c: Command) -> None:
        return None  # batching only delays writes; the result is the same

    # -- delete -----------------------------------------------------------------------------------------------
    def _delete_all(self, c: Command) -> None:
        self.model.stores[self.location] = Store()

    def _delete_policy(self, c: Command) -> None:
        if c.args.get("all"):
            self.store.policies.clear()
            return
        policy = self._find(self.store.policies, c.args["name"], "policy", c.origin)
        if policy is not None:
            del self.store.policies[policy.name.lower()]

    def _delete_used(self, c: Command, kind: str, table: dict, what: str) -> None:
        targets = list(table.values()) if c.args.get("all") else [
            self._find(table, c.args["name"], what, c.origin)]
        for obj in targets:
            if obj is None:
                continue
            users = self._rules_using(kind, obj.name)
            if users:
                names = ", ".join(f"{r.name!r} of policy {p.name!r}" for p, r in users)
                self.report(c.origin, "error", "in-use",
                            f"{what} {obj.name!r} is used by rule {names}: not deleted "
                            "(delete the rule first; whether netsh would cascade is unverified)")
                continue
            del table[obj.name.lower()]

    def _delete_filterlist(self, c: Command) -> None:
        self._delete_used(c, "list", self.store.filter_lists, "filter list")

    def _delete_filteraction(self, c: Command) -> None:
        self._delete_used(c, "action", self.store.filter_actions, "filter action")

    def _delete_rule(self, c: Command) -> None:
        if c.args.get("all"):
            policy = self._find(self.store.policies, c.args["policy"], "policy", c.origin)
            if policy is not None:
                policy.rules.clear()
                policy.rules_changed()
            return
        policy, rule = self._rule_target(c)
        if policy is not None and rule is not None:
            policy.rules.remove(rule)
            policy.rules_changed()

    def _delete_filter(self, c: Command) -> None:
        flist = self._find(self.store.filter_lists, c.args["filterlist"], "filter list", c.origin)
        probe = self._make_filter(c, quiet=True)
        if flist is None or probe is None:
            return
        keep = [f for f in flist.filters if not _filter_matches(f, probe, c.args)]
        if len(keep) == len(flist.filters):
            self.report(c.origin, "error", "no-such-filter", f"no filter in {flist.name!r} matches")
            return
        flist.filters[:] = keep

    # -- filters ----------------------------------------------------------------------------------------------
    def _make_filter(self, c: Command, quiet: bool = False) -> Filter | None:
        """The filter an ``add filter`` (or the probe a ``delete filter``) describes, normalised as netsh stores it."""
        args = c.args
        note = (lambda *a: None) if quiet else (lambda sev, code, msg: self.report(c.origin, sev, code, msg))
        src: Address = args["srcaddr"]
        dst: Address = args["dstaddr"]
        masks: dict[str, int | None] = {}
        for end in ("src", "dst"):
            mask = args.get(f"{end}mask")
            written = c.cidr.get(f"{end}addr")
            if mask is not None and written is not None and mask != written:
                note("warning", "mask-conflict", f"{end}addr has /{written} but {end}mask={mask}: {end}mask is used")
            masks[end] = mask if mask is not None else written
        if src.kind == "server" and dst.kind == "server":
            self.report(c.origin, "error", "bad-address", "both ends are server types: one of them must be 'me'")
            return None
        for this, other in (("src", "dst"), ("dst", "src")):
            addr = src if this == "src" else dst
            if addr.kind == "server" and (dst if this == "src" else src) != ME:
                note("warning", "server-implies-me",
                     f"{this}addr={addr.value} is a server type: {other}addr becomes 'me' (netsh does the same)")
                if this == "src":
                    dst = ME
                else:
                    src = ME
                masks[other] = None
        for end, addr in (("src", src), ("dst", dst)):
            mask = masks[end]
            if mask is None:
                continue
            if addr.kind in ("me", "any", "server", "dns", "variable", "range"):
                if addr.kind == "any":
                    note("info", "mask-ignored", f"{end}mask is ignored for 'any' (netsh stores 0.0.0.0)")
                else:
                    note("warning", "mask-ignored", f"{end}mask does not apply to {addr}: ignored")
                masks[end] = None
            elif mask > max_bits(address_family(addr) or 4):
                self.report(c.origin, "error", "bad-mask", f"{end}mask /{mask} is too long for {addr}")
                return None
        families = {address_family(a) for a in (src, dst)} - {None}
        if len(families) > 1:
            self.report(c.origin, "error", "bad-address", "source and destination must both be IPv4 or both IPv6")
            return None
        protocol = args.get("protocol")
        if (args.get("srcport") or args.get("dstport")) and protocol not in (6, 17):
            note("warning", "port-without-tcp-udp",
                 "ports only mean something for TCP or UDP (netsh may refuse this filter)")
        return Filter(src=src, dst=dst, src_mask=masks["src"], dst_mask=masks["dst"], protocol=protocol,
                      src_port=args.get("srcport"), dst_port=args.get("dstport"),
                      mirrored=args.get("mirrored", True), description=args.get("description", ""), origin=c.origin)


#: A command's handler: applies one bound command to the interpreter's model.
Handler = Callable[[Interpreter, Command], None]

#: (context, verb, noun) -> (grammar of the command, its handler).  Every modelled command is listed here
#: once, so what the interpreter can do is visible in one place (and a test checks it matches the grammar);
#: a dynamic command that is not listed is reported as not modelled.
HANDLERS: dict[tuple[tuple[str, ...], str, str], tuple[CommandSpec, Handler]] = {
    **{(STATIC, verb, noun): (STATIC_SPECS[(verb, noun)], handler) for (verb, noun), handler in {
        ("add", "policy"): Interpreter._add_policy,
        ("add", "filterlist"): Interpreter._add_filterlist,
        ("add", "filter"): Interpreter._add_filter,
        ("add", "filteraction"): Interpreter._add_filteraction,
        ("add", "rule"): Interpreter._add_rule,
        ("set", "policy"): Interpreter._set_policy,
        ("set", "filterlist"): Interpreter._set_filterlist,
        ("set", "filteraction"): Interpreter._set_filteraction,
        ("set", "rule"): Interpreter._set_rule,
        ("set", "defaultrule"): Interpreter._set_defaultrule,
        ("set", "store"): Interpreter._set_store,
        ("set", "batch"): Interpreter._set_batch,
        ("delete", "all"): Interpreter._delete_all,
        ("delete", "policy"): Interpreter._delete_policy,
        ("delete", "filterlist"): Interpreter._delete_filterlist,
        ("delete", "filteraction"): Interpreter._delete_filteraction,
        ("delete", "rule"): Interpreter._delete_rule,
        ("delete", "filter"): Interpreter._delete_filter,
    }.items()},
    (DYNAMIC, "set", "config"): (CONFIG_SPEC, Interpreter._set_config),
}


def _full_mask(addr: Address, mask: int | None) -> int | None:
    if addr.kind != "ip":
        return None
    return max_bits(address_family(addr) or 4) if mask is None else mask


def _filter_matches(f: Filter, probe: Filter, given: dict[str, Any]) -> bool:
    """Does ``f`` match a ``delete filter`` whose given fields made ``probe``?"""
    if f.src != probe.src or f.dst != probe.dst:
        return False
    checks = {
        "protocol": f.protocol == probe.protocol,
        "mirrored": f.mirrored == probe.mirrored,
        "srcport": f.src_port == probe.src_port,
        "dstport": f.dst_port == probe.dst_port,
        "srcmask": _full_mask(f.src, f.src_mask) == _full_mask(probe.src, probe.src_mask),
        "dstmask": _full_mask(f.dst, f.dst_mask) == _full_mask(probe.dst, probe.dst_mask),
    }
    return all(ok for tag, ok in checks.items() if tag in given)


def interpret(lines: list[NetshLine]) -> tuple[PolicyModel, list[PolicyIssue]]:
    """Apply ``lines`` in order: the resulting model and every problem met, in script order."""
    interp = Interpreter()
    for line in lines:
        interp.apply(line)
    return interp.model.normalised(), interp.issues
