"""A kill at any instant, then a re-run, neither duplicates nor drops an item.

Real ``eassync sync`` processes are SIGKILLed at random instants against the
devserver while both sides hold changes; afterwards clean runs must leave both sides
with exactly the same items, each once.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eassync.devserver import DevServer

from .helpers import (
    PASSWORD,
    USER,
    cli_env,
    local_names,
    person,
    run_cli,
    server_names,
    write_config,
    write_local_card,
)

pytestmark = pytest.mark.slow


def _start_sync(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "eassync", "-c", str(config), "sync"],
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_random_kills_neither_duplicate_nor_drop(tmp_path: Path) -> None:
    rng = random.Random(20261124)
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder_id = srv.store.default_folder(USER, 9)
        srv.store.add_items_bulk(USER, folder_id, [person(i) for i in range(3000)])
        local = tmp_path / "contacts"
        for i in range(300):
            write_local_card(local, f"local-{i:04d}", f"Local{i:04d}")
        config = write_config(tmp_path, srv.url)
        expected = set(local_names(local)) | set(server_names(srv.store, folder_id))

        kills = 0
        estimate = 1.5  # seconds a run takes; refined as runs finish
        serial = 10_000
        for _ in range(10):
            # new items on both sides, and some server-side deletions, between runs
            for _ in range(40):
                srv.store.add_item(USER, folder_id, person(serial, "Server"))
                expected.add(f"Server{serial:05d} Example")
                write_local_card(local, f"new-{serial}", f"New{serial}")
                expected.add(f"New{serial} Local")
                serial += 1
            for server_id, data in rng.sample(sorted(srv.store.items(USER, folder_id).items()), 10):
                srv.store.delete_item(USER, folder_id, server_id)
                first = data.text("Contacts:FirstName") or ""
                expected.discard(f"{first} {data.text('Contacts:LastName') or ''}".strip())
            started = time.monotonic()
            proc = _start_sync(config)
            # kill somewhere inside a run: the estimate follows runs that finished
            deadline = started + rng.uniform(0.1, 0.95) * estimate
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            else:
                estimate = time.monotonic() - started
            proc.wait()

        assert kills >= 3, "the kills should interrupt running syncs"
        first_run = run_cli(config, "sync")
        assert first_run.returncode in (0, 1), first_run.stderr
        second = run_cli(config, "sync", check=True)

        on_server = server_names(srv.store, folder_id)
        on_disk = local_names(local)
        assert {n for n, c in on_server.items() if c > 1} == set(), "duplicates on the server"
        assert {n for n, c in on_disk.items() if c > 1} == set(), "duplicates locally"
        assert (set(on_server) - expected, expected - set(on_server)) == (set(), set())
        assert (set(on_disk) - expected, expected - set(on_disk)) == (set(), set())
        assert "local +0 ~0 -0, remote +0 ~0 -0" in second.stdout
