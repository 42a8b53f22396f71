"""Ping and long-poll Sync on the devserver: wake-ups come from the condition variable."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from eassync.devserver import DevServer
from eassync.eas.element import E
from tests.unit.test_devserver_helpers import (
    RawClient,
    collection,
    commands_of,
    contact,
    folder_id,
    only_collection,
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(tmp_path / "data", ping_min=1, ping_max=30) as srv:
        yield srv


@pytest.fixture
def client(server: DevServer) -> RawClient:
    c = RawClient(server)
    c.provision()
    return c


def ping(client: RawClient, interval: int | None, *folder_ids: str):
    body = E(
        "Ping:Ping",
        E("Ping:HeartbeatInterval", value=interval) if interval is not None else None,
        E(
            "Ping:Folders",
            *[
                E("Ping:Folder", E("Ping:Id", value=fid), E("Ping:Class", value="Contacts"))
                for fid in folder_ids
            ],
        )
        if folder_ids
        else None,
    )
    return client.post("Ping", body)


def synced(client: RawClient, cid: str) -> str:
    key, _ = client.download(cid, client.prime(cid))
    return key


def test_ping_wakes_on_a_change_made_in_another_thread(
    server: DevServer, client: RawClient
) -> None:
    cid = folder_id(server, 9)
    synced(client, cid)
    started = threading.Event()

    def change_soon() -> None:
        started.wait(5)
        server.store.add_item("alice", cid, contact(FirstName="Wake"))

    writer = threading.Thread(target=change_soon)
    writer.start()
    started.set()
    answer = ping(client, 30, cid, folder_id(server, 8))
    writer.join()
    assert answer.status == "2"
    assert [f.text() for f in answer.doc.findall("Ping:Folders/Ping:Folder")] == [cid]


def test_ping_returns_at_once_when_changes_are_already_pending(
    server: DevServer, client: RawClient
) -> None:
    cid = folder_id(server, 9)
    synced(client, cid)
    server.store.add_item("alice", cid, contact(FirstName="Early"))
    assert ping(client, 30, cid).status == "2"


def test_ping_times_out_with_status_1(server: DevServer, client: RawClient) -> None:
    cid = folder_id(server, 9)
    synced(client, cid)
    answer = ping(client, 1, cid)
    assert answer.status == "1"


def test_ping_own_changes_do_not_wake_it(server: DevServer, client: RawClient) -> None:
    cid = folder_id(server, 9)
    key = synced(client, cid)
    only_collection(
        client.sync(
            collection(
                cid,
                key,
                commands=[
                    E("AirSync:Add", E("AirSync:ClientId", value="1"), contact(FirstName="Mine"))
                ],
            )
        )
    )
    assert ping(client, 1, cid).status == "1"


def test_ping_interval_out_of_range_is_status_5_with_limit(
    client: RawClient, server: DevServer
) -> None:
    cid = folder_id(server, 9)
    answer = ping(client, 3600, cid)
    assert answer.status == "5"
    assert answer.doc.int("Ping:HeartbeatInterval") == 30
    answer = ping(client, 0, cid)
    assert answer.status == "5"
    assert answer.doc.int("Ping:HeartbeatInterval") == 1


def test_empty_ping_without_cache_is_status_3_then_reuses_cache(
    server: DevServer, client: RawClient
) -> None:
    cid = folder_id(server, 9)
    synced(client, cid)
    assert client.post("Ping", None).status == "3"
    assert ping(client, 1, cid).status == "1"
    server.store.add_item("alice", cid, contact(FirstName="Cached"))
    answer = client.post("Ping", None)
    assert answer.status == "2"
    assert answer.doc.text("Ping:Folders/Ping:Folder") == cid


def test_ping_status_7_when_hierarchy_changed(server: DevServer, client: RawClient) -> None:
    cid = folder_id(server, 9)
    client.folder_sync("0")
    synced(client, cid)
    server.store.add_folder("alice", "More", 14)
    assert ping(client, 5, cid).status == "7"


def test_long_poll_sync_wakes_on_change_and_times_out_empty(
    server: DevServer, client: RawClient
) -> None:
    cid = folder_id(server, 9)
    key = synced(client, cid)
    timed_out = client.sync(collection(cid, key), HeartbeatInterval=1)
    assert timed_out.http.status_code == 200
    assert timed_out.http.content == b""

    timer = threading.Timer(
        0.2, lambda: server.store.add_item("alice", cid, contact(FirstName="L"))
    )
    timer.start()
    result = only_collection(client.sync(collection(cid, key), HeartbeatInterval=20))
    timer.join()
    assert [name for name, _ in commands_of(result)] == ["Add"]
    # Out of range: Status 14 with the limit.
    answer = client.sync(collection(cid, key), HeartbeatInterval=99999)
    assert answer.status == "14"
    assert answer.doc.int("AirSync:Limit") == 30


def test_empty_sync_replays_the_cached_request(server: DevServer, client: RawClient) -> None:
    cid = folder_id(server, 9)
    assert client.post("Sync", None).status == "13"
    key = synced(client, cid)
    server.store.add_item("alice", cid, contact(FirstName="Replay"))
    result = only_collection(client.post("Sync", None))
    assert [name for name, _ in commands_of(result)] == ["Add"]
    assert result.text("AirSync:SyncKey") != key


def test_stop_ends_a_waiting_ping_promptly(tmp_path: Path) -> None:
    srv = DevServer(tmp_path / "d", ping_max=600).start()
    c = RawClient(srv)
    c.provision()
    cid = folder_id(srv, 9)
    synced(c, cid)
    outcome: list[object] = []

    def long_ping() -> None:
        try:
            outcome.append(ping(c, 600, cid).status)
        except Exception as exc:  # the connection may be closed under it
            outcome.append(exc)

    thread = threading.Thread(target=long_ping)
    thread.start()
    threading.Event().wait(0.3)
    srv.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()
