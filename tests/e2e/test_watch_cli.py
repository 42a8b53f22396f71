"""The real ``eassync watch`` process: log lines, SIGHUP reload, SIGTERM → exit 0."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from eassync.devserver import DevServer

from .helpers import PASSWORD, USER, cli_env, local_names, person, write_config
from .test_watch import wait_for


def start_watch(config: Path, log: Path, **env: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as err:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "eassync",
                "-c",
                str(config),
                "watch",
                "--heartbeat",
                "600",
                "--debounce",
                "0.2",
            ],
            env={**cli_env(), **env},
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def test_watch_logs_reloads_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder_id = srv.store.default_folder(USER, 9)
        srv.store.add_item(USER, folder_id, person(1))
        config = write_config(tmp_path, srv.url)
        log = tmp_path / "watch.log"
        proc = start_watch(config, log, JOURNAL_STREAM="8:12345")
        contacts = tmp_path / "contacts"
        try:
            wait_for(lambda: "Person00001 Example" in local_names(contacts), "the first sync")
            wait_for(lambda: srv.requests["Ping"] >= 1, "the first Ping")
            srv.store.add_item(USER, folder_id, person(2))
            wait_for(lambda: "Person00002 Example" in local_names(contacts), "the Ping sync")

            # a broken config on SIGHUP is reported and the running one kept
            good = config.read_text()
            config.write_text(good + "  oops: [\n")
            proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "reload failed" in log.read_text(), "the failed reload")
            srv.store.add_item(USER, folder_id, person(3))
            wait_for(lambda: "Person00003 Example" in local_names(contacts), "a sync after it")

            config.write_text(good)
            proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "reloading the config" in log.read_text(), "the reload")
            srv.store.add_item(USER, folder_id, person(4))
            wait_for(lambda: "Person00004 Example" in local_names(contacts), "a sync after it")
        finally:
            time.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
        text = log.read_text()
        assert code == 0, text
        lines = text.splitlines()
        # one line per sync that moved something; no timestamps under systemd
        moved = [line for line in lines if "local +1 ~0 -0" in line]
        assert len(moved) == 4, text
        assert all(line.startswith("INFO: contacts/") for line in moved), moved
        assert "(server)" in moved[1]
        assert lines[-1] == "INFO: stopped"


def test_config_error_at_start_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("pairs: [\n")
    log = tmp_path / "watch.log"
    proc = start_watch(config, log)
    assert proc.wait(timeout=60) == 2
    assert "error:" in log.read_text()
