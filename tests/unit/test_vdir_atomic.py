"""Atomic, durable writes (eassync.storage.atomic)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from eassync.storage import atomic
from eassync.storage.atomic import (
    TMP_SUFFIX,
    create_exclusive,
    durable_batch,
    ensure_private_dir,
    remove_durable,
    write_atomic,
)


def test_write_atomic_creates_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "a.ics"
    write_atomic(path, b"one")
    first_inode = path.stat().st_ino
    st = write_atomic(path, b"two")
    assert path.read_bytes() == b"two"
    assert st.st_ino == path.stat().st_ino != first_inode
    assert os.listdir(tmp_path) == ["a.ics"]


def test_returned_stat_matches_a_later_stat(tmp_path: Path) -> None:
    # Etags derive from it: a later listing must reproduce it, ctime included.
    for writer in (write_atomic, create_exclusive):
        path = tmp_path / f"{writer.__name__}.ics"
        st = writer(path, b"data")
        later = path.stat()
        assert (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) == (
            later.st_ino,
            later.st_size,
            later.st_mtime_ns,
            later.st_ctime_ns,
        )


@pytest.mark.parametrize("mode", [0o600, 0o644])
def test_mode_is_exact_whatever_the_umask(tmp_path: Path, mode: int) -> None:
    old = os.umask(0o077)
    try:
        write_atomic(tmp_path / "w", b"x", mode=mode)
        create_exclusive(tmp_path / "c", b"x", mode=mode)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "w").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "c").stat().st_mode) == mode


def test_create_exclusive_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "a.ics"
    create_exclusive(path, b"first")
    with pytest.raises(FileExistsError):
        create_exclusive(path, b"second")
    assert path.read_bytes() == b"first"
    assert os.listdir(tmp_path) == ["a.ics"]  # no temp file left behind


def test_failed_write_leaves_no_temp_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "missing-dir" / "a.ics", b"x")
    target = tmp_path / "dir.ics"
    target.mkdir()
    with pytest.raises(OSError):
        write_atomic(target, b"x")  # rename over a folder fails
    assert sorted(os.listdir(tmp_path)) == ["dir.ics"]


def test_temp_names_are_hidden_and_end_in_tmp(tmp_path: Path) -> None:
    name = os.path.basename(atomic.temp_name_for(str(tmp_path / "a.ics")))
    assert name.startswith(".a.ics.")
    assert name.endswith(TMP_SUFFIX)


def test_writer_killed_mid_write_leaves_old_content_or_new(tmp_path: Path) -> None:
    """A child rewrites a file in a loop and is SIGKILLed: the file is whole."""
    path = tmp_path / "a.ics"
    old, new = b"A" * 200_000, b"B" * 200_000
    write_atomic(path, old)
    script = textwrap.dedent(
        f"""
        import sys
        from eassync.storage.atomic import write_atomic
        sys.stdout.write("go\\n"); sys.stdout.flush()
        while True:
            write_atomic({str(path)!r}, b"B" * 200_000, fsync=False)
            write_atomic({str(path)!r}, b"A" * 200_000, fsync=False)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert child.stdout is not None
    assert child.stdout.readline() == b"go\n"
    for _ in range(20):
        content = path.read_bytes()
        assert content in (old, new)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert path.read_bytes() in (old, new)


def test_durable_batch_syncs_each_folder_once_at_exit_without_syncfs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fallback where syncfs(2) is unavailable (not Linux).
    monkeypatch.setattr(atomic, "_syncfs", None)
    monkeypatch.setattr(atomic, "_syncfs_loaded", True)
    # Observing which folders get synced needs a hook on fsync_dir; files are real.
    synced: list[str] = []
    real = atomic.fsync_dir
    monkeypatch.setattr(atomic, "fsync_dir", lambda d: (synced.append(os.fspath(d)), real(d)))
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    with durable_batch():
        for i in range(5):
            write_atomic(first / f"{i}.ics", b"x")
        create_exclusive(second / "a.ics", b"x")
        with durable_batch():  # nested batches join the outer one
            remove_durable(first / "0.ics")
        assert synced == []
    assert sorted(synced) == [str(first), str(second)]
    synced.clear()
    write_atomic(first / "later.ics", b"x")
    assert synced == [str(first)]


def test_durable_batch_still_syncs_when_the_body_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(atomic, "_syncfs", None)
    monkeypatch.setattr(atomic, "_syncfs_loaded", True)
    synced: list[str] = []
    monkeypatch.setattr(atomic, "fsync_dir", lambda d: synced.append(os.fspath(d)))

    def write_then_fail() -> None:
        with durable_batch():
            write_atomic(tmp_path / "a.ics", b"x")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert synced == [str(tmp_path)]


class SyncCounter:
    """Counts the calls through the fsync/syncfs seams of ``atomic``; the real
    system calls still run."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fsyncs = 0
        self.syncfs_calls: list[int] = []  # st_dev of each flushed file system
        real_fsync, real_syncfs = atomic._fsync, atomic._syncfs_function()
        assert real_syncfs is not None

        def fsync(fd: int) -> None:
            self.fsyncs += 1
            real_fsync(fd)

        def syncfs(fd: int) -> None:
            self.syncfs_calls.append(os.fstat(fd).st_dev)
            real_syncfs(fd)

        monkeypatch.setattr(atomic, "_fsync", fsync)
        monkeypatch.setattr(atomic, "_syncfs", syncfs)


needs_syncfs = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="syncfs(2) is Linux only"
)


@needs_syncfs
def test_syncfs_is_found_on_linux() -> None:
    assert atomic._load_syncfs() is not None


@needs_syncfs
def test_durable_batch_calls_syncfs_once_and_no_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = SyncCounter(monkeypatch)
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    with durable_batch():
        for i in range(5):
            write_atomic(first / f"{i}.vcf", b"x")
        create_exclusive(second / "a.vcf", b"y")
        with durable_batch():  # nested batches join the outer one
            remove_durable(first / "0.vcf")
        assert counter.syncfs_calls == []
    # both folders live on one file system: one syncfs for the whole batch
    assert counter.syncfs_calls == [first.stat().st_dev]
    assert counter.fsyncs == 0
    assert (first / "4.vcf").read_bytes() == b"x"
    assert (second / "a.vcf").read_bytes() == b"y"
    assert not (first / "0.vcf").exists()


@needs_syncfs
def test_writes_outside_a_batch_fsync_each_file_and_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = SyncCounter(monkeypatch)
    for i in range(3):
        write_atomic(tmp_path / f"{i}.vcf", b"x")
    create_exclusive(tmp_path / "new.vcf", b"x")
    assert counter.fsyncs == 2 * 4  # the file, then its folder
    remove_durable(tmp_path / "new.vcf")
    assert counter.fsyncs == 2 * 4 + 1  # the folder
    assert counter.syncfs_calls == []


@needs_syncfs
def test_durable_batch_syncs_even_when_the_body_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = SyncCounter(monkeypatch)

    def write_then_fail() -> None:
        with durable_batch():
            write_atomic(tmp_path / "a.vcf", b"x")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert counter.syncfs_calls == [tmp_path.stat().st_dev]


@needs_syncfs
def test_a_batch_without_writes_syncs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = SyncCounter(monkeypatch)
    with durable_batch():
        pass
    assert counter.syncfs_calls == []
    assert counter.fsyncs == 0


@needs_syncfs
def test_a_failing_syncfs_is_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The caller must not commit its status when the batch could not be made durable.
    def failing(fd: int) -> None:
        raise OSError(5, "syncfs: Input/output error")

    atomic._syncfs_function()
    monkeypatch.setattr(atomic, "_syncfs", failing)
    with pytest.raises(OSError, match="Input/output"), durable_batch():
        write_atomic(tmp_path / "a.vcf", b"x")


def test_ensure_private_dir_makes_every_new_level_0700(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        target = ensure_private_dir(tmp_path / "state" / "eassync" / "pair")
    finally:
        os.umask(old)
    for folder in (tmp_path / "state", tmp_path / "state" / "eassync", target):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert ensure_private_dir(target) == target  # idempotent
