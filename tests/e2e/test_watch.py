"""``eassync watch`` against the devserver: Ping wake-up, local file changes, hierarchy
change, server restart mid-Ping, no-Ping fallback, heartbeat limit.

The daemon runs in a thread of the test (``Daemon`` with a stop event), the server in
another; latencies are printed (``pytest -s``), never asserted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from eassync.config import load_config
from eassync.devserver import DevServer
from eassync.watch.daemon import Daemon, SyncRecord, WatchOptions

from .helpers import (
    PASSWORD,
    USER,
    cli_env,
    local_names,
    person,
    server_names,
    write_config,
    write_local_card,
)

#: generous: "eventually" waits on a loaded CI machine, never a measurement
EVENTUALLY = 60.0


def wait_for(
    predicate: Callable[[], bool], what: str, timeout: float = EVENTUALLY, every: float = 0.02
) -> float:
    """Poll ``predicate`` every ``every`` seconds until true; returns the seconds it took."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)
    return time.monotonic() - started


class Watch:
    """A running daemon and what it synced."""

    def __init__(self, daemon: Daemon, records: list[SyncRecord]) -> None:
        self.daemon = daemon
        self.records = records

    def triggers(self) -> list[str]:
        return [r.trigger for r in list(self.records)]

    def wait_synced(self, n: int, timeout: float = EVENTUALLY) -> None:
        wait_for(lambda: len(self.records) >= n, f"{n} sync(s)", timeout)

    def idle(self) -> bool:
        """True when the daemon has nothing due and its pinger waits on the server."""
        rt = self.daemon._rt
        pingers = list(rt.pingers.values()) if rt is not None else []
        return bool(pingers) and all(p.armed for p in pingers) and not self.daemon._jobs


@contextmanager
def watching(
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    timeout: float = EVENTUALLY,
    **options: float | int | bool,
) -> Iterator[Watch]:
    for key, value in cli_env().items():
        monkeypatch.setenv(key, value)
    records: list[SyncRecord] = []
    stop = threading.Event()
    opts = WatchOptions(
        **{"heartbeat": 60, "debounce": 0.2, "backoff_base": 0.2, "max_backoff": 2.0, **options}  # type: ignore[arg-type]
    )
    daemon = Daemon(lambda: load_config(config), [], opts, stop=stop, on_sync=records.append)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            daemon.run()
        except BaseException as exc:  # surfaced in the test thread
            errors.append(exc)

    thread = threading.Thread(target=run, name="watch-under-test", daemon=True)
    thread.start()
    watch = Watch(daemon, records)
    try:
        watch.wait_synced(1, timeout)
        wait_for(watch.idle, "the first Ping", timeout)
        yield watch
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive(), "the daemon did not stop"
    assert errors == []


def test_server_change_wakes_the_ping_and_lands_locally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder_id = srv.store.default_folder(USER, 9)
        srv.store.add_item(USER, folder_id, person(1))
        config = write_config(tmp_path, srv.url)
        # a heartbeat far longer than the test: only a Ping wake-up can bring the item
        with watching(config, monkeypatch, heartbeat=600) as watch:
            assert local_names(tmp_path / "contacts") == {"Person00001 Example": 1}
            pings_before = srv.requests["Ping"]
            started = time.monotonic()
            srv.store.add_item(USER, folder_id, person(2))
            wait_for(
                lambda: "Person00002 Example" in local_names(tmp_path / "contacts"),
                "the server's new contact in the vdir",
            )
            latency = time.monotonic() - started
            watch.wait_synced(2)
            assert watch.triggers() == ["start", "server"]
            # the woken Ping may have been counted before pings_before was read: the
            # proof of the cycle is the next Ping, sent after the sync
            wait_for(watch.idle, "the next Ping")
            assert srv.requests["Ping"] > pings_before
        print(f"\nserver → vdir latency through Ping: {latency * 1000:.0f} ms")


def test_local_file_reaches_the_server_and_own_writes_do_not_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder_id = srv.store.default_folder(USER, 9)
        srv.store.add_items_bulk(USER, folder_id, [person(i) for i in range(20)])
        config = write_config(tmp_path, srv.url)
        with watching(config, monkeypatch, heartbeat=600) as watch:
            started = time.monotonic()
            write_local_card(tmp_path / "contacts", "local-1", "Written")
            wait_for(
                lambda: "Written Local" in server_names(srv.store, folder_id),
                "the local card on the server",
            )
            latency = time.monotonic() - started
            watch.wait_synced(2)
            assert "local" in watch.triggers()
            # the sync rewrote nothing locally, and 20 downloaded files at the start
            # did not make the daemon sync again: after a few quiet periods, the only
            # syncs are the first one and the one of our file
            wait_for(watch.idle, "the daemon to settle")
            time.sleep(1.0)
            assert watch.triggers() == ["start", "local"]
            assert watch.daemon.checks >= 1
        print(f"\nvdir → server latency (debounce 0.2 s): {latency * 1000:.0f} ms")


def test_hierarchy_change_brings_the_new_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        config = write_config(tmp_path, srv.url)
        text = config.read_text().replace("{default: contacts}", "{all: contacts}")
        config.write_text(text)
        with watching(config, monkeypatch) as watch:
            syncs_before = len(watch.records)
            new_folder = srv.store.add_folder(USER, "Team", 14)
            srv.store.add_item(USER, new_folder, person(7, "Team"))
            wait_for(
                lambda: "Team00007 Example" in local_names(tmp_path / "contacts" / "Team"),
                "the new folder's contact in its own subfolder",
            )
            wait_for(lambda: "hierarchy" in watch.triggers()[syncs_before:], "the hierarchy sync")
            # the new folder is Pinged from now on
            wait_for(watch.idle, "the next Ping")
            srv.store.add_item(USER, new_folder, person(8, "Team"))
            wait_for(
                lambda: "Team00008 Example" in local_names(tmp_path / "contacts" / "Team"),
                "a second contact in the new folder",
            )
            wait_for(lambda: watch.triggers()[-1] == "server", "the sync to be recorded")


def test_server_restart_mid_ping_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "server"
    srv = DevServer(data_dir=data, users={USER: PASSWORD}).start()
    port = srv.port
    folder_id = srv.store.default_folder(USER, 9)
    config = write_config(tmp_path, srv.url)
    try:
        with watching(config, monkeypatch, heartbeat=600) as watch:
            srv.stop()  # the pending Ping loses its server
            time.sleep(1.0)
            srv = DevServer(data_dir=data, users={USER: PASSWORD}, port=port).start()
            started = time.monotonic()
            srv.store.add_item(USER, folder_id, person(3))
            wait_for(
                lambda: "Person00003 Example" in local_names(tmp_path / "contacts"),
                "the contact added after the restart",
            )
            latency = time.monotonic() - started
            wait_for(
                lambda: bool({"reconnect", "server"} & set(watch.triggers())),
                "a sync after the reconnection",
            )
    finally:
        srv.stop()
    print(f"\nrestart → vdir latency (back-off 0.2 s doubling): {latency * 1000:.0f} ms")


def test_server_without_ping_falls_back_to_periodic_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        srv.faults.http_status(501, times=1000, command="Ping")
        folder_id = srv.store.default_folder(USER, 9)
        config = write_config(tmp_path, srv.url)
        for key, value in cli_env().items():
            monkeypatch.setenv(key, value)
        records: list[SyncRecord] = []
        stop = threading.Event()
        daemon = Daemon(
            lambda: load_config(config),
            [],
            WatchOptions(interval=1.0, debounce=0.2),
            stop=stop,
            on_sync=records.append,
        )
        thread = threading.Thread(target=daemon.run, daemon=True)
        thread.start()
        try:
            wait_for(lambda: len(records) >= 1, "the first sync")
            srv.store.add_item(USER, folder_id, person(4))
            wait_for(
                lambda: "Person00004 Example" in local_names(tmp_path / "contacts"),
                "the contact through a periodic sync",
            )
            wait_for(lambda: "periodic" in [r.trigger for r in records], "a periodic sync")
        finally:
            stop.set()
            thread.join(timeout=30)
        assert not thread.is_alive()


def test_heartbeat_outside_the_servers_limit_takes_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}, ping_max=2) as srv:
        config = write_config(tmp_path, srv.url)
        with watching(config, monkeypatch, heartbeat=600) as watch:
            pinger = watch.daemon.pinger("dev")
            assert pinger is not None
            wait_for(lambda: pinger.cycles >= 3, "Pings with the allowed heartbeat")
            assert pinger.heartbeat == 2
