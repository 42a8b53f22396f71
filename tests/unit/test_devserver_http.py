"""The devserver's HTTP layer: OPTIONS, auth, versions, Provision, TLS, control, CLI."""

from __future__ import annotations

import base64
import os
import signal
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from eassync.devserver import DevServer
from eassync.eas.element import E
from eassync.eas.wbxml import decode, encode
from tests.servers.certs import make_certs
from tests.unit.test_devserver_helpers import (
    RawClient,
    collection,
    contact,
    folder_id,
    only_collection,
    provision_request,
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(tmp_path / "data", users={"alice": "secret", "bob": "pw"}) as srv:
        yield srv


def test_options_advertises_versions_and_commands(server: DevServer) -> None:
    response = requests.options(server.url, auth=("alice", "secret"), timeout=10)
    assert response.status_code == 200
    assert response.headers["MS-ASProtocolVersions"] == "12.1,14.0,14.1,16.0,16.1"
    commands = response.headers["MS-ASProtocolCommands"].split(",")
    assert {"Sync", "FolderSync", "Provision", "Ping", "ItemOperations"} <= set(commands)
    assert "MS-Server-ActiveSync" in response.headers


def test_versions_parameter_limits_what_is_offered(tmp_path: Path) -> None:
    with DevServer(tmp_path / "d", versions=["12.1", "14.1"]) as srv:
        response = requests.options(srv.url, auth=("alice", "secret"), timeout=10)
        assert response.headers["MS-ASProtocolVersions"] == "12.1,14.1"
        client = RawClient(srv, version="16.1")
        assert client.folder_sync().http.status_code == 400


def test_wrong_password_or_no_auth_is_401_with_challenge(server: DevServer) -> None:
    response = requests.options(server.url, auth=("alice", "wrong"), timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    client = RawClient(server, password="nope")
    assert client.folder_sync().http.status_code == 401
    assert requests.options(server.url, timeout=10).status_code == 401


def test_unknown_path_and_command(server: DevServer) -> None:
    assert requests.post(server.base_url + "/elsewhere", timeout=10).status_code == 404
    client = RawClient(server)
    client.provision()
    assert client.post("SendMail", None).http.status_code == 501


def test_unsupported_version_is_400_with_the_version_list(server: DevServer) -> None:
    client = RawClient(server, version="2.5")
    answer = client.folder_sync()
    assert answer.http.status_code == 400
    assert b"version" in answer.http.content
    # as Exchange: the OPTIONS headers tell the client what to use (MS-ASHTTP 3.2.5.1)
    assert answer.http.headers["MS-ASProtocolVersions"] == "12.1,14.0,14.1,16.0,16.1"
    assert "FolderSync" in answer.http.headers["MS-ASProtocolCommands"].split(",")
    assert "X-MS-RP" not in answer.http.headers  # no full resync demanded


def test_a_version_dropped_at_runtime_is_refused_with_the_new_list(tmp_path: Path) -> None:
    with DevServer(tmp_path / "d") as srv:
        client = RawClient(srv, version="16.1")
        client.provision()
        assert client.folder_sync().http.status_code == 200
        srv.versions[:] = ["12.1", "14.0", "14.1"]  # the server was downgraded
        answer = client.folder_sync().http
        assert answer.status_code == 400
        assert answer.headers["MS-ASProtocolVersions"] == "12.1,14.0,14.1"


def test_provision_two_phases_then_commands_work(server: DevServer) -> None:
    client = RawClient(server)
    first = client.post(
        "Provision",
        provision_request(
            info=E("Settings:DeviceInformation", E("Settings:Set", E("Settings:Model", value="x")))
        ),
    )
    assert first.status == "1"
    policy = first.doc.find("Provision:Policies/Provision:Policy")
    assert policy.text("Provision:Status") == "1"
    assert policy.find("Provision:Data/Provision:EASProvisionDoc") is not None
    temp = policy.text("Provision:PolicyKey")
    client.policy_key = temp
    # The temporary key is not good for other commands.
    assert client.folder_sync().status == "144"
    second = client.post("Provision", provision_request(key=temp))
    permanent = second.doc.text("Provision:Policies/Provision:Policy/Provision:PolicyKey")
    assert permanent.isdigit()
    assert permanent != temp
    client.policy_key = permanent
    assert client.folder_sync().status == "1"
    # Acknowledging a wrong key: Policy Status 5.
    wrong = client.post("Provision", provision_request(key="12345"))
    assert wrong.doc.text("Provision:Policies/Provision:Policy/Provision:Status") == "5"


def test_unprovisioned_is_449_for_12_1_and_142_for_14(server: DevServer) -> None:
    assert RawClient(server, version="12.1").folder_sync().http.status_code == 449
    answer = RawClient(server, version="14.1").folder_sync()
    assert answer.http.status_code == 200
    assert answer.status == "142"
    # Ping needs no policy key (MS-ASPROV 3.1.5.1).
    ping = RawClient(server, version="14.1").post("Ping", None)
    assert ping.status == "3"


def test_provision_without_device_information_is_165_from_14_1(server: DevServer) -> None:
    answer = RawClient(server, version="14.1").post("Provision", provision_request())
    assert answer.status == "165"
    old = RawClient(server, version="14.0").post("Provision", provision_request())
    assert old.status == "1"


def test_require_provision_false_lets_commands_through(tmp_path: Path) -> None:
    with DevServer(tmp_path / "d", require_provision=False) as srv:
        assert RawClient(srv).folder_sync().status == "1"


def test_remote_wipe_flow(server: DevServer) -> None:
    client = RawClient(server)
    client.provision()
    server.faults.remote_wipe("alice")
    assert client.folder_sync().status == "142"
    answer = client.post("Provision", provision_request(info=E("Settings:DeviceInformation")))
    assert answer.doc.find("Provision:RemoteWipe") is not None
    ack = client.post(
        "Provision",
        E("Provision:Provision", E("Provision:RemoteWipe", E("Provision:Status", value=1))),
    )
    assert ack.status == "1"
    client.provision()
    assert client.folder_sync().status == "1"
    # bob was never affected
    bob = RawClient(server, user="bob", password="pw")
    bob.provision()
    assert bob.folder_sync().status == "1"


def test_base64_query_form(server: DevServer) -> None:
    client = RawClient(server)
    key = int(client.provision())
    device, device_type = b"dev1", b"SmartPhone"
    record = (
        bytes([141, 9])  # 14.1, FolderSync
        + struct.pack("<H", 0x0409)
        + bytes([len(device)])
        + device
        + bytes([4])
        + struct.pack("<I", key)
        + bytes([len(device_type)])
        + device_type
        + bytes([8, 5])
        + b"alice"
    )
    query = base64.b64encode(record).decode()
    body = encode(E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", value="0")))
    response = requests.post(
        f"{server.url}?{query}", data=body, auth=("alice", "secret"), timeout=10
    )
    assert response.status_code == 200
    assert decode(response.content).text("FolderHierarchy:Status") == "1"


def test_requests_are_counted_per_command(server: DevServer) -> None:
    client = RawClient(server)
    client.provision()
    client.folder_sync()
    client.folder_sync()
    assert server.requests["Provision"] == 2
    assert server.requests["FolderSync"] == 2
    assert server.requests["Sync"] == 0


# --- TLS -----------------------------------------------------------------------------


def test_tls_with_a_private_ca(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    with DevServer(tmp_path / "d", tls=(certs.cert, certs.key)) as srv:
        assert srv.url.startswith("https://127.0.0.1:")
        client = RawClient(srv, verify=str(certs.ca))
        client.provision()
        assert client.folder_sync().status == "1"
        with pytest.raises(requests.exceptions.SSLError):
            requests.options(srv.url, auth=("alice", "secret"), timeout=10, verify=True)


# --- control endpoint ----------------------------------------------------------------


def test_control_endpoint_faults_items_and_stats(server: DevServer) -> None:
    control = server.base_url + "/_devserver"
    client = RawClient(server)
    client.provision()
    response = requests.post(
        f"{control}/faults", json={"fault": "throttle", "retry_after": 7}, timeout=10
    )
    assert response.status_code == 200
    throttled = client.folder_sync()
    assert throttled.http.status_code == 503
    assert throttled.http.headers["Retry-After"] == "7"

    added = requests.post(
        f"{control}/items",
        json={
            "op": "add",
            "user": "alice",
            "folder_type": 9,
            "fields": {"FirstName": "Ada", "Categories": ["a", "b"], "Body": "hi"},
        },
        timeout=10,
    ).json()
    cid = folder_id(server, 9)
    item = server.store.get_item("alice", cid, added["server_id"])
    assert item.text("Contacts:FirstName") == "Ada"
    assert [c.text() for c in item.find("Contacts:Categories")] == ["a", "b"]
    assert item.text("AirSyncBase:Body/AirSyncBase:Data") == "hi"

    requests.post(
        f"{control}/items",
        json={
            "op": "change",
            "user": "alice",
            "folder": cid,
            "server_id": added["server_id"],
            "xml": '<ApplicationData xmlns="AirSync:">'
            '<FirstName xmlns="Contacts:">Grace</FirstName></ApplicationData>',
        },
        timeout=10,
    ).raise_for_status()
    listing = requests.get(
        f"{control}/items", params={"user": "alice", "folder": cid}, timeout=10
    ).json()
    assert listing == {added["server_id"]: {"Contacts:FirstName": "Grace"}}
    requests.post(
        f"{control}/items",
        json={"op": "delete", "user": "alice", "folder": cid, "server_id": added["server_id"]},
        timeout=10,
    ).raise_for_status()
    assert server.store.items("alice", cid) == {}

    stats = requests.get(f"{control}/stats", timeout=10).json()
    assert stats["requests"]["FolderSync"] == 1
    assert {f["type"] for f in stats["folders"]["alice"]} == {2, 4, 7, 8, 9, 10}
    bad = requests.post(f"{control}/faults", json={"fault": "explode"}, timeout=10)
    assert bad.status_code == 400


def test_control_endpoint_off_when_disabled(tmp_path: Path) -> None:
    with DevServer(tmp_path / "d", control=False) as srv:
        response = requests.get(srv.base_url + "/_devserver/stats", timeout=10)
        assert response.status_code == 404


# --- CLI -----------------------------------------------------------------------------


def test_cli_runs_as_subprocess_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "eassync",
            "devserver",
            "--port",
            "0",
            "--data",
            str(tmp_path / "d"),
            "--user",
            "carol:pw",
            "--seed-contacts",
            "25",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "listening on http://127.0.0.1:" in first
        url = first.split()[-1]
        assert "carol" in process.stdout.readline()
        base = url.rsplit("/", 1)[0]
        response = requests.options(url, auth=("carol", "pw"), timeout=10)
        assert response.status_code == 200
        stats = requests.get(base + "/_devserver/stats", timeout=10).json()
        assert stats["requests"]["OPTIONS"] == 1
        seeded = requests.get(
            base + "/_devserver/items", params={"user": "carol", "folder_type": 9}, timeout=10
        ).json()
        assert len(seeded) == 25
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cli_refuses_remote_host_without_flag(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "eassync",
            "devserver",
            "--host",
            "0.0.0.0",
            "--data",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "allow-remote" in result.stderr


def test_contacts_added_through_api_reach_a_device(server: DevServer) -> None:
    client = RawClient(server)
    client.provision()
    cid = folder_id(server, 9)
    key = client.prime(cid)
    server.store.add_item("alice", cid, contact(FirstName="Z"))
    result = only_collection(client.sync(collection(cid, key)))
    assert result.find("AirSync:Commands/AirSync:Add") is not None
