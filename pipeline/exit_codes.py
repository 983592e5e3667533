"""The exit codes of every ``ipsec-drops`` command, defined once (the README's table is built from these).

A scheduler (cron, Task Scheduler, systemd) reads nothing but the exit code, so
each outcome has its own: a run that stored everything is not a run that skipped
lines, and neither is a run that failed and published nothing.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    """Everything read was stored, or was already stored (other commands: the answer is complete)."""
    SKIPPED = 1
    """The run finished and stored what it could, but some input was skipped or refused (named in the summary).
    Other commands: the answer has findings (lint warnings, a script netsh would partly refuse)."""
    USAGE = 2
    """Bad command line, config file or query; or no warehouse where one was expected."""
    LOCKED = 3
    """Another run holds the warehouse lock; nothing was done."""
    FAILED = 4
    """The run failed (disk full, read-only or damaged warehouse ...): nothing was published."""


EXIT_OK = ExitCode.OK
EXIT_SKIPPED = ExitCode.SKIPPED
EXIT_USAGE = ExitCode.USAGE
EXIT_LOCKED = ExitCode.LOCKED
EXIT_FAILED = ExitCode.FAILED

MEANINGS: dict[int, str] = {
    ExitCode.OK: "everything read was stored, or was already stored; other commands: the answer is complete and "
                 "nothing is wrong",
    ExitCode.SKIPPED: "the run finished and stored what it could, but some lines, rows or files were skipped or "
                      "refused: the summary names them and `warehouse/_runs/<run>-skipped.csv` lists every one; "
                      "`status`: damage found (run `repair`); `policy lint`/`show`: findings of warning or error "
                      "severity; `suggest --verify`: the replay met a problem",
    ExitCode.USAGE: "bad command line, config file or query (the message names the key or option), an unknown "
                    "host, or no warehouse where one was expected",
    ExitCode.LOCKED: "another run is writing to the warehouse (the lock is held; the message names the holder); "
                     "nothing was done",
    ExitCode.FAILED: "the run failed and published nothing: disk full, read-only warehouse, a damaged manifest, "
                     "journal or key file (the message names the file and what to do, e.g. run `ipsec-drops "
                     "repair`), or a bug (`internal error`)",
}
