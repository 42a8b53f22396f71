"""The devserver's exchange-online personality (issue 15): what it is documented to do,
request by request."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from eassync.devserver import DevServer
from eassync.eas.element import E
from tests.unit.test_devserver_helpers import (
    RawClient,
    add,
    collection,
    folder_id,
    only_collection,
    provision_request,
)

DEVICE_INFO = E("Settings:DeviceInformation", E("Settings:Set", E("Settings:Model", value="tests")))


@pytest.fixture
def exo(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(tmp_path / "data", personality="exchange-online") as srv:
        yield srv


def control(srv: DevServer, payload: dict[str, object]) -> dict[str, object]:
    answer = requests.post(srv.base_url + "/_devserver/settings", json=payload, timeout=10)
    assert answer.status_code == 200, answer.text
    result: dict[str, object] = answer.json()
    return result


def settings_device_information(client: RawClient) -> str | None:
    answer = client.post("Settings", E("Settings:Settings", DEVICE_INFO))
    assert answer.doc is not None
    return answer.doc.text("Settings:DeviceInformation/Settings:Status")


def test_options_offers_16_1_only(exo):
    answer = requests.options(exo.url, auth=("alice", "secret"), timeout=10)
    assert answer.headers["MS-ASProtocolVersions"] == "16.1"
    assert RawClient(exo, version="16.0").folder_sync().http.status_code == 400


def test_provision_is_165_until_settings_device_information(exo):
    client = RawClient(exo, version="16.1")
    # DeviceInformation inside Provision is not enough for Exchange Online
    assert client.post("Provision", provision_request(info=DEVICE_INFO)).status == "165"
    # Settings needs no policy key
    assert settings_device_information(client) == "1"
    client.provision()
    assert client.folder_sync().status == "1"


def test_status_138_once_the_server_lost_the_device_information(exo):
    client = RawClient(exo, version="16.1")
    settings_device_information(client)
    client.provision()
    control(exo, {"forget_device_info": "alice"})
    assert client.folder_sync().status == "138"
    settings_device_information(client)
    assert client.folder_sync().status == "1"


def test_quarantine_on_demand(exo):
    client = RawClient(exo, version="16.1")
    settings_device_information(client)
    client.provision()
    assert control(exo, {"quarantine": 129})["quarantine"] == 129
    assert client.folder_sync().status == "129"
    assert client.post("Provision", provision_request(info=DEVICE_INFO)).status == "129"
    control(exo, {"quarantine": 403})
    assert client.folder_sync().http.status_code == 403
    control(exo, {"quarantine": None})
    assert client.folder_sync().status == "1"


def test_the_server_assigns_calendar_uids(exo):
    client = RawClient(exo, version="16.1")
    settings_device_information(client)
    client.provision()
    calendar = folder_id(exo, 8)
    key = only_collection(client.sync(collection(calendar, "0"))).text("AirSync:SyncKey")
    event = E(
        "AirSync:ApplicationData",
        E("Calendar:Subject", value="Planning"),
        E("Calendar:StartTime", value="20260105T090000Z"),
        E("Calendar:EndTime", value="20260105T100000Z"),
        E("Calendar:UID", value="the-client-uid"),
    )
    result = only_collection(client.sync(collection(calendar, key, commands=[add("c1", event)])))
    response = result.find("AirSync:Responses/AirSync:Add")
    assert response is not None
    uid = response.text("AirSync:ApplicationData/Calendar:UID")
    assert uid
    assert uid != "the-client-uid"
    (stored,) = exo.store.items("alice", calendar).values()
    assert stored.text("Calendar:UID") == uid


def test_unknown_personality_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown personality"):
        DevServer(tmp_path / "d", personality="exchange-2003")


def test_cli_personality(tmp_path):
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
            "--personality",
            "exchange-online",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        assert "exchange-online (EAS 16.1)" in process.stdout.readline()
        answer = requests.options(url, auth=("alice", "secret"), timeout=10)
        assert answer.headers["MS-ASProtocolVersions"] == "16.1"
    finally:
        process.terminate()
        process.wait(timeout=15)
