"""Errors are values: what was skipped, where, and why.

Bad input is normal input for a log pipeline.  Readers and extractors never
raise on a bad line; they record it here with the file and the line (or
record, or chunk), and carry on.  The run summary and the exit code are built
from these records.  Every skipped piece is counted; the first
:data:`DETAIL_LIMIT` of each file are kept in memory with their text for the summary, and
every one of them is streamed to the run's CSV of skipped lines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

DETAIL_LIMIT = 1000

#: Issue kinds that mean input was skipped (they make the exit code non-zero).
SKIPPING_KINDS = frozenset({"malformed", "refused-rows", "refused-file", "read-error"})


@dataclass(frozen=True)
class Issue:
    """One problem: ``kind`` (malformed, refused-rows, refused-file, read-error, warning, held-back)."""

    file: str
    location: str  # "line 42", "record 1234", "chunk 3 record 99", or "" for the whole file
    kind: str
    reason: str
    text: str = ""
    count: int = 1  # rows this issue stands for (e.g. refused rows of one host)

    def __str__(self) -> str:
        where = f"{self.file}:{self.location}" if self.location else self.file
        tail = f": {self.text[:160]!r}" if self.text else ""
        many = f" ({self.count} rows)" if self.count > 1 else ""
        return f"{where}: {self.kind}: {self.reason}{many}{tail}"


@dataclass
class IssueLog:
    """Issues of one file, with exact counts and a bounded list of details.

    Every issue also goes to ``sink`` when one is given (the run's list of skipped lines), so
    none goes unnamed even when a file has more than ``limit`` of them.
    """

    file: str
    details: list[Issue] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    sink: Callable[[Issue], None] | None = None
    limit: int | None = DETAIL_LIMIT  # None: keep every detail (short-lived logs of one batch)

    def add(self, location: str, kind: str, reason: str, text: str = "", count: int = 1) -> None:
        self.counts[kind] += count
        self._keep(Issue(self.file, location, kind, reason, _clip(text), count))

    def _keep(self, issue: Issue) -> None:
        if self.sink is not None:
            self.sink(issue)
        if self.limit is None or len(self.details) < self.limit:
            self.details.append(issue)

    def malformed(self, line: int, reason: str, text: str = "") -> None:
        self.add(f"line {line}", "malformed", reason, text)

    def warning(self, location: str, reason: str, text: str = "") -> None:
        self.add(location, "warning", reason, text)

    def merge(self, other: IssueLog) -> None:
        """Add the issues of ``other`` (e.g. logged by a worker thread), keeping their order."""
        self.counts.update(other.counts)
        for issue in other.details:
            self._keep(issue)

    @property
    def skipped(self) -> int:
        """Rows or lines of this file that were not stored because something was wrong with them."""
        return sum(n for kind, n in self.counts.items() if kind in SKIPPING_KINDS and kind != "refused-file")

    @property
    def refused(self) -> bool:
        return self.counts["refused-file"] > 0


def _clip(text: str, limit: int = 400) -> str:
    text = text.rstrip("\r\n")
    return text if len(text) <= limit else text[:limit] + "…"
