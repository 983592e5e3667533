"""What every command shares: the context object, common options, errors -> exit codes, printing rows.

Commands parse options, call the library and print; this module is where a library
result or exception becomes text on the screen and an exit code.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.text import Text

from ..config import Config, ConfigError, load_config
from ..exit_codes import ExitCode
from ..output import Column, render_table, write_csv, write_json

F = TypeVar("F", bound=Callable[..., Any])

#: Problems printed before "... and N more (use -v)".
ISSUES_SHOWN = 20
ROW_FORMATS = ("table", "csv", "json", "ndjson")


class Context:
    """Options given before (or after) the command, and the two consoles (stdout for results, stderr for the rest)."""

    def __init__(self, config_path: str | None = None, verbose: int = 0, quiet: bool = False) -> None:
        self.config_path = config_path
        self.verbose = verbose
        self.quiet = quiet
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)
        for console in (self.out, self.err):
            if not console.is_terminal:  # a log file or a pipe: never cut file names to fit 80 columns
                console.width = 240

    def config(self) -> Config:
        """The config file (``--config``, else ``./ipsec-drops.toml`` when present); exit 2 when it is wrong."""
        try:
            return load_config(self.config_path)
        except ConfigError as exc:
            fail(f"config error: {exc}", ExitCode.USAGE)

    def note(self, text: str, style: str = "yellow") -> None:
        self.err.print(Text(text, style=style))


def fail(message: str, code: int = ExitCode.USAGE) -> NoReturn:
    """Print ``message`` on standard error and exit with ``code``."""
    Console(stderr=True, highlight=False, soft_wrap=True).print(Text(message, style="red"))
    sys.exit(int(code))


def _set_global(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        obj = ctx.find_object(Context)
        if obj is not None and value not in (None, False, 0):
            setattr(obj, name, value if name != "verbose" else obj.verbose + value)
        return value
    return callback


def global_options(fn: F) -> F:
    """``--config``, ``-v`` and ``-q`` after the command name too (``ipsec-drops flows -v --config X``)."""
    fn = click.option("--config", "config_path", type=click.Path(dir_okay=False), expose_value=False,
                      callback=_set_global("config_path"), help="Config file (also before the command).")(fn)
    fn = click.option("--verbose", "-v", count=True, expose_value=False, callback=_set_global("verbose"),
                      help="More detail (also before the command).")(fn)
    fn = click.option("--quiet", "-q", is_flag=True, expose_value=False, callback=_set_global("quiet"),
                      help="Only problems and the result (also before the command).")(fn)
    return fn


def warehouse_option(fn: F) -> F:
    """``--warehouse``, else ``IPSEC_DROPS_WAREHOUSE``, else ``[nightly] warehouse``, else ``./warehouse``."""

    @functools.wraps(fn)
    def resolve(*args: Any, **kwargs: Any) -> Any:
        obj = click.get_current_context().find_object(Context)
        given = kwargs.get("warehouse")
        kwargs["warehouse"] = obj.config().warehouse_path(given) if obj is not None else Path(given or "warehouse")
        return fn(*args, **kwargs)

    return click.option(
        "--warehouse", "-w", type=click.Path(file_okay=False, path_type=Path), default=None,
        envvar="IPSEC_DROPS_WAREHOUSE",
        help="Warehouse folder (env IPSEC_DROPS_WAREHOUSE; else the config's [nightly] warehouse; else "
             "./warehouse).")(resolve)  # type: ignore[return-value]


def format_option(choices: Sequence[str] = ROW_FORMATS, default: str = "table", help: str | None = None
                  ) -> Callable[[F], F]:
    return click.option("--format", "fmt", type=click.Choice(list(choices)), default=default, show_default=True,
                        help=help or "table for the terminal; csv (spreadsheet-safe), json or ndjson for programs.")


def handle_errors(fn: F) -> F:
    """Turn the library's exceptions into a message and an exit code (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            fail(f"config error: {exc}", ExitCode.USAGE)
        except Exception as exc:  # the library's own errors, imported only now (importing them loads Arrow)
            from ..warehouse import WarehouseError, WarehouseLocked

            if isinstance(exc, WarehouseLocked):
                fail(f"warehouse locked: {exc}", ExitCode.LOCKED)
            if isinstance(exc, WarehouseError):
                fail(f"failed: {exc}; nothing was published", ExitCode.FAILED)
            if isinstance(exc, (ValueError, LookupError)):
                fail(f"error: {exc}", ExitCode.USAGE)
            if isinstance(exc, OSError):
                where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
                fail(f"failed: {exc.strerror or exc}{where}; nothing was published", ExitCode.FAILED)
            if isinstance(exc, click.ClickException):
                raise
            # a bug: say so in one line (the traceback with -v), never a raw traceback
            obj = next((a for a in args if isinstance(a, Context)), None)
            if obj is not None and obj.verbose:
                import traceback

                traceback.print_exc()
            fail(f"internal error: {type(exc).__name__}: {exc} (a bug in ipsec-drops; -v shows where; "
                 "nothing was published)", ExitCode.FAILED)
    return wrapper  # type: ignore[return-value]


def print_rows(obj: Context, table: Any, fmt: str, columns: Sequence[Column] | None = None, *,
               title: str | None = None, wide: bool = False, notes: Sequence[str] = (), tz: Any = None) -> None:
    """Rows on standard output in ``fmt``: a table sized to the terminal, or CSV/JSON/NDJSON (streamed)."""
    if fmt == "csv":
        sys.stdout.flush()
        write_csv(table, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    elif fmt in ("json", "ndjson"):
        write_json(table, sys.stdout, lines=fmt == "ndjson")
    else:
        render_table(obj.out, table, columns, title=title, wide=wide, notes=notes, tz=tz)


def print_issues(obj: Context, issues: Sequence[Any], *, limit: bool = True, quiet_kinds: Sequence[str] = ()) -> None:
    """Problems on standard error, the first :data:`ISSUES_SHOWN` unless ``-v``."""
    cap = None if obj.verbose or not limit else ISSUES_SHOWN
    for issue in issues[:cap]:
        severity = str(getattr(issue, "severity", None) or getattr(issue, "kind", ""))
        style = {"error": "red", "warning": "yellow", "held-back": "yellow", "info": "dim"}.get(severity, "red")
        obj.err.print(Text(str(issue), style=style))
    if cap and len(issues) > cap:
        obj.err.print(f"... and {len(issues) - cap} more (use -v to see all)")


time_help = ("ISO 8601 (Z or offset), a date, 'YYYY-MM-DD HH:MM' (in --tz, else the host's zone, else UTC), "
             "or 24h, 7d, yesterday, today.")
tz_option = click.option("--tz", help="Zone for reading and showing times (IANA or Windows name; default UTC).")


def period_options(host_help: str = "Only this host (case-insensitive).", what: str = "Drops") -> Callable[[F], F]:
    """``--host``, ``--since``, ``--until`` and ``--tz``: the period a command looks at."""
    def decorate(fn: F) -> F:
        fn = tz_option(fn)
        fn = click.option("--until", help=f"{what} before this time (same forms as --since).")(fn)
        fn = click.option("--since", help=f"{what} at or after this time: " + time_help)(fn)
        return click.option("--host", help=host_help)(fn)
    return decorate


def time_window(obj: Context, since: str | None, until: str | None, tz: str | None, host: str | None):
    """(since, until, display zone): the command-line times as UTC instants, read in --tz or the host's zone."""
    from ..timespec import parse_instant, zone_named

    reading_zone = tz
    if reading_zone is None and host:
        entry = obj.config().host(host)
        reading_zone = entry.timezone if entry else None
    zone = zone_named(reading_zone)
    return parse_instant(since, zone), parse_instant(until, zone), zone_named(tz) if tz else None


def zone_label(zone: Any) -> str:
    return f"times in {getattr(zone, 'key', None) or zone}" if zone else "times in UTC"
