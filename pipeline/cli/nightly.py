"""``ipsec-drops nightly``: the whole unattended job, for cron, systemd timers and Task Scheduler."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.text import Text

from ..exit_codes import ExitCode
from .common import Context, fail, global_options, handle_errors, warehouse_option


@click.command("nightly")
@warehouse_option
@click.option("--reports", type=click.Path(file_okay=False, path_type=Path),
              help="Reports folder (default: the config's [nightly] reports; none: no reports).")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, metavar="YYYY-MM-DD",
              help="The date retention counts back from (default: the current UTC date).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Progress lines on standard error: plain text, or one JSON object a line (for schedulers).")
@global_options
@click.pass_obj
@handle_errors
def nightly_cmd(obj: Context, warehouse: Path, reports: Path | None, today: datetime | None,
                log_format: str) -> None:
    """Ingest every configured inbox, load the policies, report the new days, compact, apply retention.

    Safe to run twice the same night (the second run does nothing and says so) and after missed
    nights (it catches up). A run record goes to warehouse/_runs/<run>-nightly.json. Exit codes:
    0 clean, 1 done with skipped input, 2 bad config, 3 another run holds the warehouse, 4 failed
    (nothing published).
    """
    from ..jobs.nightly import NightlyFailed, nightly

    config = obj.config()
    if not config.hosts:
        raise click.UsageError("the config names no hosts: the nightly job reads the hosts' inbox globs "
                               "(give --config FILE)")

    def log(event: str, **fields: Any) -> None:
        if obj.quiet:
            return
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        if log_format == "json":
            print(json.dumps({"time": stamp, "event": event, **fields}), file=sys.stderr, flush=True)
        else:
            detail = " ".join(f"{k}={v}" for k, v in fields.items())
            obj.err.print(Text(f"{stamp} {event} {detail}".rstrip(), style="dim"))

    try:
        report = nightly(config, warehouse=warehouse, reports=reports, log=log,
                         today=today.date() if today else None)
    except NightlyFailed as exc:
        log("failed", exit_code=int(ExitCode.FAILED), stage=exc.report.stage, record=exc.report.record,
            message=str(exc))
        fail(str(exc), ExitCode.FAILED)
    log("done", exit_code=report.exit_code, seconds=report.seconds, record=report.record)
    for line in report.summary_lines():
        obj.out.print(Text(line))
    sys.exit(report.exit_code)


COMMANDS = [nightly_cmd]
