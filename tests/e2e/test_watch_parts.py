"""The parts of ``eassync watch``: back-off, event filtering, the local-change check,
polling without file watching, and Ping statuses that need a retry."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eassync.config import load_config
from eassync.devserver import DevServer
from eassync.pairs import select_folders
from eassync.watch.local import LocalSides, is_item_event_path, pending_collections
from eassync.watch.pinger import backoff_delay

from .helpers import PASSWORD, USER, person, run_cli, server_names, write_config, write_local_card
from .test_watch import wait_for, watching


@given(
    failures=st.integers(min_value=1, max_value=200),
    base=st.floats(min_value=0.01, max_value=10),
    cap=st.floats(min_value=0.01, max_value=3600),
    seed=st.integers(),
)
def test_backoff_stays_between_half_a_step_and_the_cap(
    failures: int, base: float, cap: float, seed: int
) -> None:
    step = min(cap, base * 2.0 ** (failures - 1))
    delay = backoff_delay(failures, base, cap, random.Random(seed))
    assert step / 2 <= delay <= step <= cap


def test_backoff_doubles_until_the_cap() -> None:
    rng = random.Random(1)
    highs = [max(backoff_delay(n, 1.0, 60.0, rng) for _ in range(200)) for n in range(1, 10)]
    assert highs[0] <= 1.0 < highs[1] <= 2.0 < highs[2] <= 4.0
    assert all(h <= 60.0 for h in highs)
    assert highs[-1] > 30.0


@pytest.mark.parametrize(
    ("path", "is_item"),
    [
        ("/v/contacts/abc.vcf", True),
        ("/v/contacts/sub/abc.ics", True),
        ("/v/contacts/.abc.vcf.1234.tmp", False),  # our atomic write's temp file
        ("/v/contacts/abc.vcf.tmp", False),
        ("/v/contacts/.abc.vcf.swp", False),  # an editor's swap file
        ("/v/contacts/abc.vcf~", False),
        ("/v/contacts/", True),  # the folder itself (a deletion of everything)
    ],
)
def test_item_event_paths(path: str, is_item: bool) -> None:
    assert is_item_event_path(path) is is_item


def test_pending_collections_sees_user_edits_but_not_synced_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EASSYNC_TEST_PASSWORD", PASSWORD)
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder_id = srv.store.default_folder(USER, 9)
        srv.store.add_items_bulk(USER, folder_id, [person(i) for i in range(5)])
        config_path = write_config(tmp_path, srv.url)
        run_cli(config_path, "sync", check=True)
        config = load_config(config_path)
        pair = config.pairs["contacts"]
        from eassync.accounts import ClientPool

        with ClientPool(config) as pool:
            selections = select_folders(pair.name, pair.remote, pool.folders(pair.account))
        sides = LocalSides(config)
        try:
            # the 5 files the sync wrote are in the status: nothing pending
            assert pending_collections(config, pair, selections, sides) == set()
            write_local_card(tmp_path / "contacts", "mine", "Mine")
            assert pending_collections(config, pair, selections, sides) == {folder_id}
            run_cli(config_path, "sync", check=True)
            assert pending_collections(config, pair, selections, sides) == set()
            next(iter((tmp_path / "contacts").glob("*.vcf"))).unlink()
            assert pending_collections(config, pair, selections, sides) == {folder_id}
        finally:
            sides.close()


def test_without_file_watching_local_changes_are_polled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder_id = srv.store.default_folder(USER, 9)
        config = write_config(tmp_path, srv.url)
        with watching(
            config, monkeypatch, heartbeat=600, file_watching=False, poll_interval=0.3
        ) as watch:
            write_local_card(tmp_path / "contacts", "polled", "Polled")
            wait_for(
                lambda: "Polled Local" in server_names(srv.store, folder_id),
                "the polled card on the server",
            )
            wait_for(lambda: "poll" in watch.triggers(), "the poll-triggered sync")
            checks = watch.daemon.checks
            wait_for(lambda: watch.daemon.checks > checks + 2, "more polls")
            # polls that find nothing sync nothing
            assert watch.triggers() == ["start", "poll"]


def test_ping_server_error_status_backs_off_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder_id = srv.store.default_folder(USER, 9)
        config = write_config(tmp_path, srv.url)
        srv.faults.status("Ping", 8, times=2)  # Ping Status 8: server error, retry later
        with watching(config, monkeypatch, heartbeat=600) as watch:
            wait_for(lambda: srv.requests["Ping"] >= 3, "Pings after the errors")
            time.sleep(0.2)
            srv.store.add_item(USER, folder_id, person(9))
            wait_for(lambda: "server" in watch.triggers(), "the Ping-triggered sync")
