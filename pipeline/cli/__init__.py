"""The ``ipsec-drops`` command line: one module per command group, each only parsing, calling and printing.

Modules: ``ingest`` (ingest), ``warehouse`` (status, repair), ``policy`` (policy show/lint/load),
``correlate`` (flows, explain, sql), ``suggest`` (suggest, whatif), ``report`` (report).  Shared options, error handling
and row printing live in ``common``; exit codes in :mod:`pipeline.exit_codes`.
"""

from __future__ import annotations

import click

from .. import __version__
from .common import Context


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ipsec-drops")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Config file (default ./ipsec-drops.toml when it exists).")
@click.option("--verbose", "-v", count=True, help="Show every skipped line and note, not only the first ones.")
@click.option("--quiet", "-q", is_flag=True, help="Print only problems and the one-line result.")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int, quiet: bool) -> None:
    """Find which flows Windows IPSec filters and the Windows firewall drop.

    Reads EVTX, Log Parser W3C/CSV and pfirewall.log exports into a Parquet
    warehouse of drops, safe to run every night; correlates them with the
    hosts' netsh ipsec policies.
    """
    ctx.obj = Context(config_path, verbose, quiet)


def _register() -> None:
    from . import correlate, ingest, nightly, policy, report, suggest, warehouse

    for module in (ingest, warehouse, policy, correlate, suggest, report, nightly):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="ipsec-drops")


__all__ = ["cli", "main"]
