"""The two ways a warehouse operation can fail, as exceptions the command line maps to exit codes.

Bad *input* is never an exception (see :mod:`pipeline.issues`).  A warehouse that
cannot be written (disk full, read-only, a name the file system refuses) or read
(a damaged manifest or journal, a manifest of an unknown version) is: the run
cannot publish anything, so it stops, removes its staging files and says which
file failed and what to do.  :class:`WarehouseError` is that one exception type
(exit 4, "failed: nothing published"); :class:`WarehouseLocked` is the other
writer holding the lock (exit 3).
"""

from __future__ import annotations

import errno
import os

#: What an errno means to an admin reading the nightly log.
_PLAIN = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENAMETOOLONG: "file name too long",
    errno.EIO: "input/output error",
}


class WarehouseError(Exception):
    """The warehouse cannot be read or written; nothing was published.  ``path`` is the file concerned."""

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else str(path)


class ManifestVersionError(WarehouseError):
    """The manifest was written by a newer ipsec-drops: nothing may rewrite it (a repair would lose what it holds)."""


class WarehouseLocked(RuntimeError):
    """Another ingest holds the warehouse lock."""


def describe_os_error(exc: OSError) -> str:
    """``No space left on device (disk full)``: the system's words and, where it helps, plain ones."""
    text = exc.strerror or str(exc) or type(exc).__name__
    plain = _PLAIN.get(exc.errno) if exc.errno is not None else None
    if plain and plain.lower() not in text.lower():
        text = f"{text} ({plain})"
    return text


def wrap_os_error(exc: OSError, doing: str, path: str | os.PathLike[str] | None = None) -> WarehouseError:
    """``{doing} {file}: {reason}`` as a :class:`WarehouseError`, e.g. "cannot write /w/x.parquet: No space
    left on device (disk full)"; the file is ``path``, else the one the error names."""
    where = path if path is not None else (exc.filename if exc.filename is not None else "the warehouse")
    return WarehouseError(f"{doing} {where}: {describe_os_error(exc)}", where)
