"""Notes: a kill at any instant, then a re-run, neither duplicates nor drops a note,
while both sides keep changing between runs (new notes, server deletes, local renames).
Real ``eassync sync`` processes SIGKILLed at random instants against the devserver."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from eassync.convert.notes import parse_text
from eassync.devserver import DevServer

from .cal_helpers import run_device
from .helpers import PASSWORD, USER, cli_env
from .test_notes_devices import note_data, notes_dir, server_notes, write_notes_config

pytestmark = pytest.mark.slow


def local_subjects(folder: Path) -> Counter[str]:
    return Counter(
        parse_text(p.read_text(encoding="utf-8"), p.stem)[0].subject for p in folder.glob("*.md")
    )


def test_random_kills_neither_duplicate_nor_drop_notes(tmp_path: Path) -> None:
    rng = random.Random(20261205)
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder = srv.store.default_folder(USER, 10)
        srv.store.add_items_bulk(
            USER, folder, [note_data(f"Server {i}", f"body {i}") for i in range(800)]
        )
        config = write_notes_config(tmp_path / "a", srv.url)
        local = notes_dir(config)
        local.mkdir(parents=True)
        for i in range(100):
            (local / f"Local {i}.md").write_text(f"mine {i}\n", encoding="utf-8")
        expected = {f"Server {i}" for i in range(800)} | {f"Local {i}" for i in range(100)}
        env = cli_env()
        env.pop("EASSYNC_STATE_DIR", None)

        kills, estimate, serial = 0, 1.0, 0
        for _ in range(8):
            for _ in range(20):
                serial += 1
                srv.store.add_item(USER, folder, note_data(f"New server {serial}", "x"))
                (local / f"New local {serial}.md").write_text("y\n", encoding="utf-8")
                expected |= {f"New server {serial}", f"New local {serial}"}
            for server_id, data in rng.sample(sorted(srv.store.items(USER, folder).items()), 5):
                srv.store.delete_item(USER, folder, server_id)
                expected.discard(data.text("Notes:Subject") or "")
            for path in rng.sample(sorted(local.glob("*.md")), 5):
                subject = parse_text(path.read_text(encoding="utf-8"), path.stem)[0].subject
                if subject != path.stem:
                    continue  # its heading names it: a rename changes nothing
                path.rename(local / f"{path.stem} renamed.md")
                expected.discard(subject)
                expected.add(f"{subject} renamed")
            started = time.monotonic()
            proc = subprocess.Popen(
                [sys.executable, "-m", "eassync", "-c", str(config), "sync"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
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
        first = run_device(config, "sync", check=False)
        assert first.returncode in (0, 1), first.stderr
        second = run_device(config, "sync")
        on_server = Counter(server_notes(srv))  # subject → once (a dict)
        servers = Counter(
            d.text("Notes:Subject") or "" for d in srv.store.items(USER, folder).values()
        )
        on_disk = local_subjects(local)
        assert {s for s, c in servers.items() if c > 1} == set(), "duplicates on the server"
        assert {s for s, c in on_disk.items() if c > 1} == set(), "duplicates locally"
        assert (set(on_server) - expected, expected - set(on_server)) == (set(), set())
        assert (set(on_disk) - expected, expected - set(on_disk)) == (set(), set())
        assert "local +0 ~0 -0, remote +0 ~0 -0" in second.stdout
