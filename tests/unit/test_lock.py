"""One sync per pair at a time."""

from __future__ import annotations

import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from eassync.errors import LockHeldError, TransientError
from eassync.storage.lock import lock_path, pair_lock


def test_second_holder_in_the_same_process_is_refused(tmp_path: Path) -> None:
    with pair_lock(tmp_path, "work"), pytest.raises(LockHeldError, match="'work'") as info:
        pair_lock(tmp_path, "work").__enter__()
    assert isinstance(info.value, TransientError)
    assert info.value.exit_code == 75
    assert "lock file" in str(info.value)


def test_lock_is_free_again_after_the_block(tmp_path: Path) -> None:
    with pair_lock(tmp_path, "work"):
        pass
    with pair_lock(tmp_path, "work") as path:
        assert path.exists()


def test_other_pairs_are_not_blocked(tmp_path: Path) -> None:
    with pair_lock(tmp_path, "work"), pair_lock(tmp_path, "home"):
        pass


def test_lock_held_by_another_process_is_refused(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from eassync.storage.lock import pair_lock
        with pair_lock(Path({str(tmp_path)!r}), "work"):
            print("held", flush=True)
            sys.stdin.readline()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    try:
        assert child.stdout.readline() == b"held\n"
        with pytest.raises(LockHeldError), pair_lock(tmp_path, "work"):
            pass
    finally:
        child.kill()
        child.wait()
    with pair_lock(tmp_path, "work"):  # a killed holder releases it
        pass


def test_lock_file_is_private_and_its_folder_created(tmp_path: Path) -> None:
    status_dir = tmp_path / "state" / "eassync"
    with pair_lock(status_dir, "work") as path:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(status_dir.stat().st_mode) == 0o700


def test_pair_names_never_become_paths(tmp_path: Path) -> None:
    hostile = lock_path(tmp_path, "../../etc/x")
    assert hostile.parent == tmp_path
    assert not hostile.name.startswith(".")
    assert lock_path(tmp_path, "a/b") != lock_path(tmp_path, "a_b")
    assert lock_path(tmp_path, "work").name == "work.lock"
