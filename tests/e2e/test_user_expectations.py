"""What a user expects of the command line (issue 16, item 15): a mistyped collection
lists the real ones; Ctrl-C exits 130 as other tools do, and says so."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.helpers import (
    PASSWORD,
    USER,
    DevServer,
    SyncedPair,
    cli_env,
    run_cli,
    write_config,
)


def test_a_mistyped_collection_lists_the_collections_of_the_pair(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        pair = SyncedPair(tmp_path, srv)
        typo = run_cli(pair.config, "sync", "contacts/Nope")
    assert typo.returncode == 2
    assert "has no collection 'Nope'" in typo.stderr
    assert "collections of contacts: 'Contacts'" in typo.stderr
    assert "Traceback" not in typo.stderr


def test_the_collection_a_hint_names_is_one_that_syncs(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        pair = SyncedPair(tmp_path, srv)
        done = run_cli(pair.config, "sync", "contacts/Contacts")
    assert done.returncode == 0, done.stderr


def test_ctrl_c_during_a_sync_exits_130_and_says_interrupted(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        config = write_config(tmp_path, srv.url)
        # the first Sync request hangs, so SIGINT lands in the middle of a pass
        srv.faults.delay(20, command="Sync")
        proc = subprocess.Popen(
            [sys.executable, "-m", "eassync", "-c", str(config), "sync"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
        )
        deadline = time.monotonic() + 60
        while srv.faults.armed() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not srv.faults.armed(), "the sync never reached its Sync request"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "interrupted" in err
        assert "Traceback" not in out + err
        # an interrupted pass leaves nothing that stops the next one
        again = run_cli(config, "sync")
    assert again.returncode == 0, again.stderr


def test_watch_stops_cleanly_on_ctrl_c_and_at_once_on_a_second(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        config = write_config(tmp_path, srv.url)
        srv.faults.delay(20, command="Sync")  # its first pass hangs in the server
        proc = subprocess.Popen(
            [sys.executable, "-m", "eassync", "-c", str(config), "-v", "watch"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
        )
        deadline = time.monotonic() + 60
        while srv.faults.armed() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not srv.faults.armed(), "watch never reached its Sync request"
        proc.send_signal(signal.SIGINT)  # finish the current sync, then exit …
        time.sleep(1)
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)  # … or stop now
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "finishing the current sync" in err
    assert "interrupted: nothing was lost" in err
    assert "Traceback" not in out + err
