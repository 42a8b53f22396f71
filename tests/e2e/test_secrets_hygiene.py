"""Secrets never reach logs or state files, and state files are private (mode 0600).

A real ``eassync -vv sync`` (debug logging: every request and decoded answer) runs
against the devserver; then its output and every file it left behind are searched for
the password, in clear and in the Basic ``Authorization`` form.
"""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

from eassync.devserver import DevServer

from .helpers import PASSWORD, USER, person, run_cli, write_config


def test_debug_output_and_state_files_hold_no_secret(tmp_path: Path) -> None:
    state_dir = Path(os.environ["EASSYNC_STATE_DIR"])
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        srv.store.add_item(USER, srv.store.default_folder(USER, 9), person(1))
        config = write_config(tmp_path, srv.url)
        first = run_cli(config, "-vv", "sync", check=True)
        second = run_cli(config, "-vv", "sync", check=True)

    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    output = first.stdout + first.stderr + second.stdout + second.stderr
    assert "Sync" in output, "debug logging should show the protocol traffic"
    assert PASSWORD not in output
    assert basic not in output

    written = [p for p in state_dir.rglob("*") if p.is_file()]
    assert written, "the sync should have left status and account state"
    for path in written:
        data = path.read_bytes()
        assert PASSWORD.encode() not in data, path
        assert basic.encode() not in data, path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
