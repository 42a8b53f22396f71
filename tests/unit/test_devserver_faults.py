"""Fault injection on the devserver: each switch fires ``times`` times, then disarms."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from eassync.devserver import DevServer
from tests.unit.test_devserver_helpers import (
    RawClient,
    add,
    collection,
    contact,
    folder_id,
    only_collection,
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(tmp_path / "data") as srv:
        yield srv


@pytest.fixture
def client(server: DevServer) -> RawClient:
    c = RawClient(server)
    c.provision()
    return c


def test_http_status_fires_times_then_disarms(server: DevServer, client: RawClient) -> None:
    server.faults.http_status(451, times=2, headers={"X-MS-Location": "https://elsewhere.test/"})
    for _ in range(2):
        answer = client.folder_sync()
        assert answer.http.status_code == 451
        assert answer.http.headers["X-MS-Location"] == "https://elsewhere.test/"
    assert client.folder_sync().status == "1"
    assert server.faults.armed() == []


def test_http_status_only_for_the_named_command(server: DevServer, client: RawClient) -> None:
    server.faults.http_status(401, command="Sync")
    assert client.folder_sync().status == "1"  # not a Sync: untouched
    cid = folder_id(server, 9)
    assert client.sync(collection(cid, "0")).http.status_code == 401
    assert client.prime(cid)


def test_http_449_fault(server: DevServer, client: RawClient) -> None:
    server.faults.http_status(449, command="FolderSync")
    assert client.folder_sync().http.status_code == 449


def test_throttle_is_503_with_retry_after(server: DevServer, client: RawClient) -> None:
    server.faults.throttle(times=1, retry_after=3)
    answer = client.folder_sync()
    assert answer.http.status_code == 503
    assert answer.http.headers["Retry-After"] == "3"
    assert client.folder_sync().status == "1"


def test_status_fault_answers_with_top_level_status(server: DevServer, client: RawClient) -> None:
    server.faults.status("Sync", 110)
    server.faults.status("FolderSync", 9)
    answer = client.sync(collection(folder_id(server, 9), "0"))
    assert answer.status == "110"
    assert client.folder_sync().status == "9"
    assert client.folder_sync().status == "1"


def test_drop_connection_after_processing_then_retry_gets_same_server_id(
    server: DevServer, client: RawClient
) -> None:
    cid = folder_id(server, 9)
    key = client.prime(cid)
    batch = [add("c1", contact(FirstName="Lost answer"))]
    # ~150 bytes of status line and headers: the cut falls inside the WBXML body.
    server.faults.drop_connection(command="Sync", after_bytes=160)
    with pytest.raises(requests.exceptions.RequestException):
        client.sync(collection(cid, key, commands=batch))
    # The Add was applied, only the answer was lost.
    assert len(server.store.items("alice", cid)) == 1
    client.session = requests.Session()
    retried = only_collection(client.sync(collection(cid, key, commands=batch)))
    server_id = retried.find("AirSync:Responses/AirSync:Add").text("AirSync:ServerId")
    assert list(server.store.items("alice", cid)) == [server_id]


def test_drop_connection_immediately(server: DevServer, client: RawClient) -> None:
    server.faults.drop_connection()
    with pytest.raises(requests.exceptions.ConnectionError):
        client.folder_sync()
    client.session = requests.Session()
    assert client.folder_sync().status == "1"


def test_invalidate_sync_keys_gives_status_3_and_9(server: DevServer, client: RawClient) -> None:
    cid = folder_id(server, 9)
    folder_key = client.folder_sync().doc.text("FolderHierarchy:SyncKey")
    key = client.prime(cid)
    server.faults.invalidate_sync_keys("alice")
    assert only_collection(client.sync(collection(cid, key))).text("AirSync:Status") == "3"
    assert client.folder_sync(folder_key).status == "9"
    # Starting over from 0 works.
    assert client.prime(cid)
    assert client.folder_sync("0").status == "1"


def test_invalidate_sync_keys_of_one_user_leaves_others(tmp_path: Path) -> None:
    with DevServer(tmp_path / "d", users={"alice": "a", "bob": "b"}) as srv:
        alice = RawClient(srv, user="alice", password="a")
        bob = RawClient(srv, user="bob", password="b")
        alice.provision()
        bob.provision()
        alice_key = alice.prime(folder_id(srv, 9, "alice"))
        bob_key = bob.prime(folder_id(srv, 9, "bob"))
        srv.faults.invalidate_sync_keys("alice")
        result = only_collection(alice.sync(collection(folder_id(srv, 9, "alice"), alice_key)))
        assert result.text("AirSync:Status") == "3"
        result = only_collection(bob.sync(collection(folder_id(srv, 9, "bob"), bob_key)))
        assert result.text("AirSync:Status") == "1"


def test_delay_holds_the_answer_back(server: DevServer, client: RawClient) -> None:
    server.faults.delay(3, command="FolderSync")
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.session.post(
            server.url,
            params={"Cmd": "FolderSync", "User": "alice", "DeviceId": "dev1", "DeviceType": "t"},
            auth=("alice", "secret"),
            timeout=0.3,
        )
    assert server.faults.armed() == []


def test_clear_disarms_everything(server: DevServer, client: RawClient) -> None:
    server.faults.throttle(times=5)
    server.faults.status("FolderSync", 9, times=5)
    server.faults.clear()
    assert client.folder_sync().status == "1"


def test_fault_json_rejects_unknown_kinds_and_bad_times(server: DevServer) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        server.faults.apply_json({"fault": "meteor"})
    with pytest.raises(ValueError, match="times"):
        server.faults.apply_json({"fault": "throttle", "times": 0})
