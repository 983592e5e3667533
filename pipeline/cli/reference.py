"""The README's command-line reference, generated from the commands' own ``--help``.

The README embeds the output of :func:`markdown_reference` between ``cog`` markers;
``tests/test_docs.py`` fails when the README is stale, so the documentation can never
drift from the code.  Regenerate with ``cog -r README.md``.
"""

from __future__ import annotations

import click

HELP_WIDTH = 100


def _commands(group: click.Group, prefix: str) -> list[tuple[str, click.Command]]:
    out: list[tuple[str, click.Command]] = []
    ctx = click.Context(group, info_name=prefix)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        out.append((f"{prefix} {name}", command))
        if isinstance(command, click.Group):
            out.extend(_commands(command, f"{prefix} {name}"))
    return out


def help_text(command: click.Command, name: str, parent: click.Context | None = None) -> str:
    ctx = click.Context(command, info_name=name.split()[-1], parent=parent, terminal_width=HELP_WIDTH,
                        max_content_width=HELP_WIDTH, help_option_names=["-h", "--help"])
    return command.get_help(ctx)


def markdown_reference() -> str:
    """Every command's ``--help``, each under a heading, as Markdown."""
    from . import cli

    root = click.Context(cli, info_name="ipsec-drops", terminal_width=HELP_WIDTH, max_content_width=HELP_WIDTH,
                         help_option_names=["-h", "--help"])
    parts = ["```text", cli.get_help(root), "```", ""]
    for name, command in _commands(cli, "ipsec-drops"):
        parent = root
        for word in name.split()[1:-1]:
            group = parent.command
            assert isinstance(group, click.Group)
            sub = group.get_command(parent, word)
            assert sub is not None
            parent = click.Context(sub, info_name=word, parent=parent)
        parts += [f"#### `{name}`", "", "```text", help_text(command, name, parent), "```", ""]
    return "\n".join(parts)


def markdown_exit_codes() -> str:
    """The exit-code table of the README, from :mod:`pipeline.exit_codes`."""
    from ..exit_codes import MEANINGS

    lines = ["| code | meaning |", "|---|---|"]
    lines += [f"| {int(code)} | {meaning} |" for code, meaning in sorted(MEANINGS.items())]
    return "\n".join(lines) + "\n"
