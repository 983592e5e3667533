"""Model -> netsh script text (a ``netsh -f`` context script).

The inverse of parsing: ``parse(render(model)) == model`` (the property test
checks it).  Every value is written with its tag and every name and free text
in double quotes, so nothing depends on positions or on netsh's defaults
except where the model keeps "not given" (``None``: masks, ports, kerberos).
netsh has no way to escape a ``"`` inside a value (UNVERIFIED, netsh-ipsec.md
§4), so a model holding one, or a line break, cannot be written:
:class:`RenderError` says which.  The output is also what a suggestion or a
what-if policy is printed as.
"""

from __future__ import annotations

from .model import STORES, Address, DefaultRule, Filter, FilterAction, FilterList, Policy, PolicyModel, Rule


class RenderError(ValueError):
    """A value netsh could not be given in a script."""


def quote(value: str) -> str:
    if '"' in value or "\n" in value or "\r" in value:
        raise RenderError(f"{value!r}: netsh cannot take a double quote or a line break inside a value")
    return f'"{value}"'


def yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _address(addr: Address) -> str:
    return quote(str(addr)) if addr.kind == "variable" else str(addr)


def render_filter(list_name: str, f: Filter) -> str:
    parts = [f"add filter filterlist={quote(list_name)}", f"srcaddr={_address(f.src)}", f"dstaddr={_address(f.dst)}"]
    if f.src_mask is not None:
        parts.append(f"srcmask={f.src_mask}")
    if f.dst_mask is not None:
        parts.append(f"dstmask={f.dst_mask}")
    parts.append(f"protocol={'ANY' if f.protocol is None else f.protocol}")
    parts.append(f"srcport={f.src_port or 0}")
    parts.append(f"dstport={f.dst_port or 0}")
    parts.append(f"mirrored={yes_no(f.mirrored)}")
    if f.description:
        parts.append(f"description={quote(f.description)}")
    return " ".join(parts)


def render_filter_list(flist: FilterList) -> list[str]:
    head = f"add filterlist name={quote(flist.name)}"
    if flist.description:
        head += f" description={quote(flist.description)}"
    return [head] + [render_filter(flist.name, f) for f in flist.filters]


def render_filter_action(action: FilterAction) -> str:
    parts = [f"add filteraction name={quote(action.name)}"]
    if action.description:
        parts.append(f"description={quote(action.description)}")
    parts += [f"qmpfs={yes_no(action.qmpfs)}", f"inpass={yes_no(action.inpass)}", f"soft={yes_no(action.soft)}",
              f"action={action.action}"]
    if action.qmsecmethods:
        parts.append(f"qmsecmethods={quote(' '.join(action.qmsecmethods))}")
    return " ".join(parts)


def _auth(kerberos: bool | None, psk: str | None, rootca: tuple[str, ...]) -> list[str]:
    parts = []
    if kerberos is not None:
        parts.append(f"kerberos={yes_no(kerberos)}")
    if psk is not None:
        parts.append(f"psk={quote(psk)}")
    parts += [f"rootca={quote(ca)}" for ca in rootca]
    return parts


def render_policy(policy: Policy) -> list[str]:
    parts = [f"add policy name={quote(policy.name)}"]
    if policy.description:
        parts.append(f"description={quote(policy.description)}")
    parts += [f"mmpfs={yes_no(policy.mmpfs)}", f"qmpermm={policy.qmpermm}", f"mmlifetime={policy.mmlifetime}",
              f"activatedefaultrule={yes_no(policy.default_rule.active)}",
              f"pollinginterval={policy.pollinginterval}"]
    if policy.mmsecmethods:
        parts.append(f"mmsecmethods={quote(' '.join(policy.mmsecmethods))}")
    lines = [" ".join(parts)]
    default: DefaultRule = policy.default_rule
    extra = [f"qmpfs={yes_no(default.qmpfs)}"]
    if default.qmsecmethods:
        extra.append(f"qmsecmethods={quote(' '.join(default.qmsecmethods))}")
    extra += _auth(default.kerberos, default.psk, default.rootca)
    if extra != ["qmpfs=no"]:
        lines.append(f"set defaultrule policy={quote(policy.name)} " + " ".join(extra))
    return lines


def render_rule(policy: Policy, rule: Rule) -> str:
    parts = [f"add rule name={quote(rule.name)}", f"policy={quote(policy.name)}",
             f"filterlist={quote(rule.filter_list)}", f"filteraction={quote(rule.filter_action)}"]
    if rule.tunnel is not None:
        parts.append(f"tunnel={quote(rule.tunnel)}")
    parts += [f"conntype={rule.conntype}", f"activate={yes_no(rule.active)}"]
    if rule.description:
        parts.append(f"description={quote(rule.description)}")
    parts += _auth(rule.kerberos, rule.psk, rule.rootca)
    return " ".join(parts)


def render_script(model: PolicyModel, title: str = "written by ipsec-drops") -> str:
    """The model as a ``netsh -f`` script (CRLF line ends, as Windows tools write them)."""
    lines = [f"# netsh -f script {title}", "pushd ipsec static"]
    for location in STORES:
        store = model.stores.get(location)
        if store is None:
            continue
        if location != "local" or len(model.stores) > 1:
            lines.append(f"set store location={location}")
        for flist in store.filter_lists.values():
            lines += render_filter_list(flist)
        lines += [render_filter_action(a) for a in store.filter_actions.values()]
        for policy in store.policies.values():
            lines += render_policy(policy)
            lines += [render_rule(policy, rule) for rule in policy.rules]
        lines += [f"set policy name={quote(p.name)} assign=yes" for p in store.policies.values() if p.assigned]
    if len(model.stores) > 1:
        lines.append("set store location=local")
    lines.append("popd")
    if model.settings:
        lines.append("pushd ipsec dynamic")
        lines += [f"set config property={s.property} value={quote(s.value)}" for s in model.settings.values()]
        lines.append("popd")
    return "\r\n".join(lines) + "\r\n"
