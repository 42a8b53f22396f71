"""One sync at a time per pair: a non-blocking file lock next to the pair's status.

Two runs syncing the same pair at once (a cron job overlapping ``eassync watch``)
would both push the same local changes. SQLite transactions alone do not prevent that
(vdirsyncer's lesson), so each pair run holds ``<status_dir>/<pair>.lock``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from eassync.errors import LockHeldError
from eassync.storage.atomic import ensure_private_dir

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")


def lock_path(status_dir: Path, pair_name: str) -> Path:
    """The lock file of ``pair_name``: a sanitised name, so a pair name is never a path."""
    safe = (_UNSAFE.sub("_", pair_name).lstrip(".") or "_")[:120]
    if safe != pair_name:  # keep "a/b" and "a_b" apart
        safe += "-" + hashlib.sha256(pair_name.encode()).hexdigest()[:10]
    return Path(status_dir) / f"{safe}.lock"


@contextmanager
def pair_lock(status_dir: Path, pair_name: str) -> Iterator[Path]:
    """Hold the lock of ``pair_name`` for the ``with`` block; yields the lock file path.

    Non-blocking: if another process (or another ``pair_lock`` in this process) holds
    it, raise LockHeldError (exit 75, a soft failure for systemd timers). The lock is
    an OS lock (flock), so a killed holder releases it; the file itself stays.
    """
    path = lock_path(ensure_private_dir(status_dir), pair_name)
    # thread_local=False: the lock belongs to the run, whichever thread releases it.
    lock = FileLock(path, timeout=0, mode=0o600, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise LockHeldError(
            f"another eassync is syncing pair {pair_name!r} (lock file {path})",
            hint="wait for it to finish; the lock goes away with the process holding it",
        ) from None
    try:
        yield path
    finally:
        lock.release()
