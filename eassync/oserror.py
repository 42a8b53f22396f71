"""The machine said no: a read-only or full disk, a file where a folder belongs, a
port another program holds. One place turns such an ``OSError`` (or SQLite's own
words for the same: "database or disk is full") into an error a person can act on:
what failed, on which path, what to do, and an exit code.

Exit codes: a path or port that cannot be used as configured is 2 (a person must
change the config, an option or the machine; nothing was synced); a full disk or
any other OS failure is 1, like a failed collection.
"""

from __future__ import annotations

import errno
import sqlite3

from eassync.errors import EassyncError

#: errno → (what it means in words, what to do)
_EXPLAINED: dict[int, tuple[str, str]] = {
    errno.EROFS: (
        "the file system is read-only",
        "point general.status_dir / the storage's path at a writable place, or set "
        "EASSYNC_STATE_DIR",
    ),
    errno.EACCES: (
        "permission denied",
        "fix the permissions of that path, or point the config at another place",
    ),
    errno.EPERM: (
        "operation not permitted",
        "fix the permissions of that path, or point the config at another place",
    ),
    errno.ENOTDIR: (
        "a part of this path is a file, not a folder",
        "move that file away or fix the path in the config",
    ),
    errno.EISDIR: ("this is a folder, a file was expected", "fix the path in the config"),
    errno.ENOENT: ("no such file or folder", "check the path"),
    errno.ELOOP: ("too many symbolic links", "fix the path in the config"),
    errno.ENAMETOOLONG: ("the name is too long", "choose a shorter path"),
    errno.ENOSPC: ("no space left on the device", "free some space, then run again"),
    errno.EDQUOT: ("disk quota exceeded", "free some space, then run again"),
    errno.EADDRINUSE: (
        "the address is already in use (another program listens there)",
        "stop that program or choose another --port (0 picks a free one)",
    ),
    errno.EADDRNOTAVAIL: (
        "the address is not one of this machine's",
        "choose another --host",
    ),
}

#: errors a person fixes in the config, an option or the machine: exit 2
_USAGE = frozenset(
    {
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.ENOENT,
        errno.ELOOP,
        errno.ENAMETOOLONG,
        errno.EADDRINUSE,
        errno.EADDRNOTAVAIL,
    }
)


class SystemFailure(EassyncError):
    """An OS error in words; ``exit_code`` set per instance (see the module doc)."""

    def __init__(self, message: str, *, hint: str | None, exit_code: int) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code


def os_failure(exc: OSError, *, where: str | None = None) -> SystemFailure:
    """``exc`` as one line: "cannot use PATH: the file system is read-only".
    ``where`` names the thing when the error carries no path (a port: "127.0.0.1:8443")."""
    code = exc.errno or 0
    meaning, hint = _EXPLAINED.get(code, (exc.strerror or str(exc) or type(exc).__name__, None))
    target = where or exc.filename
    if target is None:
        message = f"cannot go on: {meaning}"
    elif exc.filename2 is not None:
        message = f"cannot move {target} to {exc.filename2}: {meaning}"
    else:
        message = f"cannot use {target}: {meaning}"
    return SystemFailure(message, hint=hint, exit_code=2 if code in _USAGE else 1)


def sqlite_failure(exc: sqlite3.Error) -> SystemFailure:
    """SQLite says what failed but not on which file: the status databases and the
    devserver's store are its only files, both under the state folder."""
    text = str(exc)
    lowered = text.lower()
    if "full" in lowered:
        hint = "free some space where the state folder is (general.status_dir), then run again"
        code = 1
    elif "readonly" in lowered or "unable to open" in lowered:
        hint = "make the state folder (general.status_dir, EASSYNC_STATE_DIR) writable"
        code = 2
    else:
        hint = "check the disk holding the state folder (general.status_dir)"
        code = 1
    return SystemFailure(
        f"cannot use a database in the state folder: {text}", hint=hint, exit_code=code
    )
