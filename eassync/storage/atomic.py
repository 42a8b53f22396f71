"""Atomic, durable file writes (Radicale's way): temp file in the same folder,
write, fsync, ``os.replace`` (or ``os.link`` for no-overwrite), fsync the folder.

A process killed at any instant leaves either the old file or the new one, never a
half-written one; only a leftover ``*.tmp`` file, which readers ignore. The folder
fsync makes the rename itself survive a power cut; inside :func:`durable_batch` it is
done once per folder when the batch ends (design.md: "fsync may be batched per sync
batch"), so the caller commits its status only after the batch exited.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

#: every temp file we create ends with this; readers skip it, cleanup removes old ones
TMP_SUFFIX = ".tmp"

# The folders whose fsync is pending in the current durable_batch (None: no batch).
_pending_dirs: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar(
    "eassync_pending_dirs", default=None
)


def temp_name_for(path: Path) -> Path:
    """A fresh hidden temp path next to ``path``: dot-prefixed (so tools that read the
    folder ignore it) and ending in ``.tmp``."""
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}{TMP_SUFFIX}")


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make the entries of ``directory`` (renames, links, unlinks) durable."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - platforms that cannot open folders (Windows)
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # pragma: no cover - some filesystems refuse fsync on folders
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _dir_changed(directory: Path, fsync: bool) -> None:
    if not fsync:
        return
    pending = _pending_dirs.get()
    if pending is None:
        fsync_dir(directory)
    else:
        pending.add(os.fspath(directory))


@contextlib.contextmanager
def durable_batch() -> Iterator[None]:
    """Collect folder fsyncs of the writes inside and do each once at exit.

    File contents are still fsynced one by one before their rename (that ordering is
    what makes a crash leave the old file rather than an empty one). Nested batches
    join the outermost one. On an exception the pending folders are still synced: the
    files that were written exist, and must be durable before anyone records them.
    """
    if _pending_dirs.get() is not None:
        yield
        return
    pending: set[str] = set()
    token = _pending_dirs.set(pending)
    try:
        yield
    finally:
        _pending_dirs.reset(token)
        for directory in sorted(pending):
            fsync_dir(directory)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write_temp(path: Path, data: bytes, mode: int, fsync: bool) -> tuple[Path, int]:
    """Write ``data`` to a fresh temp file next to ``path``; returns (temp path, open fd)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = temp_name_for(path)
        try:
            fd = os.open(tmp, flags, mode)
            break
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue
    try:
        # os.open's mode is filtered by the umask; state files must be exactly 0600.
        os.fchmod(fd, mode)
        _write_all(fd, data)
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp, fd


def write_atomic(
    path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644, fsync: bool = True
) -> os.stat_result:
    """Create or replace ``path`` with ``data`` atomically.

    Returns the stat of the new file *after* the rename (the rename itself moves the
    ctime on Linux), so callers can derive an etag that a later listing reproduces.
    """
    target = Path(path)
    tmp, fd = _write_temp(target, data, mode, fsync)
    try:
        os.replace(tmp, target)
        stat = os.fstat(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        os.close(fd)
    _dir_changed(target.parent, fsync)
    return stat


def create_exclusive(
    path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644, fsync: bool = True
) -> os.stat_result:
    """Create ``path`` with ``data``, atomically, never overwriting: FileExistsError if
    it exists. The file appears complete or not at all (``os.link`` of a finished temp
    file fails with EEXIST where a rename would silently overwrite)."""
    target = Path(path)
    tmp, fd = _write_temp(target, data, mode, fsync)
    try:
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise
        except OSError as exc:
            # Filesystems without hard links (some FUSE, FAT): fall back to O_EXCL,
            # which is exclusive but shows a partial file while writing.
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            os.close(fd)
            fd = -1
            return _create_excl_direct(target, data, mode, fsync)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        stat = os.fstat(fd)  # after link+unlink: both moved the ctime
    finally:
        if fd >= 0:
            os.close(fd)
    _dir_changed(target.parent, fsync)
    return stat


def _create_excl_direct(path: Path, data: bytes, mode: int, fsync: bool) -> os.stat_result:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, mode)
    try:
        os.fchmod(fd, mode)
        _write_all(fd, data)
        if fsync:
            os.fsync(fd)
        stat = os.fstat(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)
    _dir_changed(path.parent, fsync)
    return stat


def remove_durable(path: str | os.PathLike[str], *, fsync: bool = True) -> None:
    """Unlink ``path`` and make the removal durable (folder fsync, batched if in a batch)."""
    target = Path(path)
    os.unlink(target)
    _dir_changed(target.parent, fsync)


def ensure_private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` and its missing parents as 0700 folders (state files are
    private; ``Path.mkdir(parents=True)`` would give the parents the umask's mode)."""
    directory = Path(path)
    missing = []
    for folder in (directory, *directory.parents):
        if folder.is_dir():
            break
        missing.append(folder)
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
            os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask
    return directory
