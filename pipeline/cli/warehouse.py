"""``ipsec-drops status``: what the warehouse holds, the last runs, and whether it is consistent."""

from __future__ import annotations

from pathlib import Path

import click

from .common import Context, global_options, handle_errors, warehouse_option


@click.command("status")
@warehouse_option
@global_options
@click.pass_obj
@handle_errors
def status_cmd(obj: Context, warehouse: Path) -> None:
    """Show what the warehouse holds and the last runs."""
    from ..warehouse import Warehouse

    wh = Warehouse(warehouse)
    manifest = wh.manifest()
    files = wh.drop_files()
    obj.out.print(f"{warehouse}: {len(files)} data file(s), {len(manifest.files)} ingested file record(s)")
    for run in manifest.runs[-10:]:
        obj.out.print(f"  run {run['run']}: {run['files']} file(s), {run['drops_stored']:,} drops stored, "
                      f"{run['duplicates']:,} duplicates, {run['skipped']:,} skipped")


COMMANDS = [status_cmd]
