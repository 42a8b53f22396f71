"""The devserver's FolderSync, Sync, GetItemEstimate, ItemOperations and Settings on the wire."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from eassync.devserver import DevServer
from eassync.eas.element import E
from tests.unit.test_devserver_helpers import (
    RawClient,
    add,
    change,
    collection,
    commands_of,
    contact,
    delete,
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


def contacts_id(server: DevServer) -> str:
    return folder_id(server, 9)


# --- FolderSync ----------------------------------------------------------------------


def test_folder_sync_initial_lists_default_folders_of_every_type(client: RawClient) -> None:
    answer = client.folder_sync("0")
    assert answer.status == "1"
    adds = answer.doc.findall("FolderHierarchy:Changes/FolderHierarchy:Add")
    types = sorted(int(a.text("FolderHierarchy:Type")) for a in adds)
    assert types == [2, 4, 7, 8, 9, 10]
    assert answer.doc.int("FolderHierarchy:Changes/FolderHierarchy:Count") == 6
    assert all(a.text("FolderHierarchy:ParentId") == "0" for a in adds)


def test_folder_sync_incremental_reports_adds_updates_deletes(
    server: DevServer, client: RawClient
) -> None:
    key = client.folder_sync("0").doc.text("FolderHierarchy:SyncKey")
    unchanged = client.folder_sync(key)
    assert unchanged.doc.int("FolderHierarchy:Changes/FolderHierarchy:Count") == 0
    key = unchanged.doc.text("FolderHierarchy:SyncKey")

    new = server.store.add_folder("alice", "Work contacts", 14)
    server.store.update_folder("alice", folder_id(server, 8), "Kalender")
    server.store.delete_folder("alice", folder_id(server, 7))
    answer = client.folder_sync(key)
    changes = answer.doc.find("FolderHierarchy:Changes")
    assert changes.int("FolderHierarchy:Count") == 3
    assert [a.text("FolderHierarchy:ServerId") for a in changes.findall("FolderHierarchy:Add")] == [
        new
    ]
    update = changes.find("FolderHierarchy:Update")
    assert update.text("FolderHierarchy:DisplayName") == "Kalender"
    assert len(changes.findall("FolderHierarchy:Delete")) == 1


def test_folder_sync_unknown_key_is_status_9(client: RawClient) -> None:
    client.folder_sync("0")
    assert client.folder_sync("bogus-key").status == "9"


# --- Sync: priming, paging -----------------------------------------------------------


def test_sync_priming_returns_a_key_and_no_items(server: DevServer, client: RawClient) -> None:
    server.store.seed_contacts("alice", 3)
    result = only_collection(client.sync(collection(contacts_id(server), "0")))
    assert result.text("AirSync:Status") == "1"
    assert result.text("AirSync:SyncKey") not in (None, "0")
    assert result.find("AirSync:Commands") is None


def test_sync_get_changes_with_key_0_is_status_4(server: DevServer, client: RawClient) -> None:
    result = only_collection(client.sync(collection(contacts_id(server), "0", get_changes=True)))
    assert result.text("AirSync:Status") == "4"


def test_sync_pages_1200_items_with_window_size_and_more_available(
    server: DevServer, client: RawClient
) -> None:
    cid = contacts_id(server)
    created = set(server.store.seed_contacts("alice", 1200))
    key = client.prime(cid)
    seen: list[str] = []
    pages = 0
    while True:
        result = only_collection(client.sync(collection(cid, key, window=500)))
        pages += 1
        commands = commands_of(result)
        assert len(commands) <= 500
        assert {name for name, _ in commands} == {"Add"}
        seen.extend(sid for _, sid in commands)
        key = result.text("AirSync:SyncKey")
        if result.find("AirSync:MoreAvailable") is None:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 1200
    assert set(seen) == created
    # Fully synced: nothing more, and no MoreAvailable.
    result = only_collection(client.sync(collection(cid, key)))
    assert commands_of(result) == []


def test_window_size_default_100_and_cap_512(server: DevServer, client: RawClient) -> None:
    cid = contacts_id(server)
    server.store.seed_contacts("alice", 700)
    key = client.prime(cid)
    result = only_collection(client.sync(collection(cid, key)))
    assert len(commands_of(result)) == 100
    key = result.text("AirSync:SyncKey")
    result = only_collection(client.sync(collection(cid, key, window=5000)))
    assert len(commands_of(result)) == 512


def test_sync_level_window_size_caps_all_collections(server: DevServer, client: RawClient) -> None:
    contacts, calendar = contacts_id(server), folder_id(server, 8)
    server.store.seed_contacts("alice", 30)
    for i in range(30):
        server.store.add_item("alice", calendar, event(f"e{i}", "20300101T100000Z"))
    keys = [client.prime(contacts), client.prime(calendar)]
    answer = client.sync(
        collection(contacts, keys[0]), collection(calendar, keys[1]), WindowSize=40
    )
    results = answer.doc.findall("AirSync:Collections/AirSync:Collection")
    assert [len(commands_of(r)) for r in results] == [30, 10]


def event(subject: str, start: str, end: str | None = None, recurring: bool = False) -> E:
    return E(
        "AirSync:ApplicationData",
        E("Calendar:Subject", value=subject),
        E("Calendar:StartTime", value=start),
        E("Calendar:EndTime", value=end or start),
        E("Calendar:Recurrence", E("Calendar:Type", value=0)) if recurring else None,
    )


# --- Sync: client commands -----------------------------------------------------------


def test_client_add_change_delete_with_responses(server: DevServer, client: RawClient) -> None:
    cid = contacts_id(server)
    key = client.prime(cid)
    key, _ = client.download(cid, key)
    existing = server.store.add_item("alice", cid, contact(FirstName="Old"))
    key, _ = client.download(cid, key)

    result = only_collection(
        client.sync(
            collection(
                cid,
                key,
                commands=[
                    add("c1", contact(FirstName="Ada", LastName="Lovelace")),
                    change(existing, contact(FirstName="New")),
                    delete("no-such-item"),
                ],
            )
        )
    )
    responses = result.find("AirSync:Responses")
    added = responses.find("AirSync:Add")
    assert added.text("AirSync:ClientId") == "c1"
    assert added.text("AirSync:Status") == "1"
    new_id = added.text("AirSync:ServerId")
    assert server.store.get_item("alice", cid, new_id).text("Contacts:LastName") == "Lovelace"
    # A successful Change has no response; the failed Delete does (Status 8).
    assert responses.find("AirSync:Change") is None
    assert responses.find("AirSync:Delete").text("AirSync:Status") == "8"
    assert server.store.get_item("alice", cid, existing).text("Contacts:FirstName") == "New"
    # The client's own changes are not echoed back to it.
    assert commands_of(result) == []
    key = result.text("AirSync:SyncKey")
    assert commands_of(only_collection(client.sync(collection(cid, key)))) == []

    result = only_collection(client.sync(collection(cid, key, commands=[delete(new_id)])))
    assert result.find("AirSync:Responses") is None
    assert new_id not in server.store.items("alice", cid)


def test_client_changes_reach_other_devices(server: DevServer, client: RawClient) -> None:
    cid = contacts_id(server)
    other = RawClient(server, device="dev2")
    other.provision()
    other_key, _ = other.download(cid, other.prime(cid))
    key = client.prime(cid)
    result = only_collection(
        client.sync(collection(cid, key, commands=[add("1", contact(FirstName="A"))]))
    )
    new_id = result.find("AirSync:Responses/AirSync:Add").text("AirSync:ServerId")
    other_key, commands = other.download(cid, other_key)
    assert [(c.name, c.text("AirSync:ServerId")) for c in commands] == [("Add", new_id)]
    key = result.text("AirSync:SyncKey")
    client.sync(collection(cid, key, commands=[change(new_id, contact(FirstName="B"))]))
    other_key, commands = other.download(cid, other_key)
    assert [c.name for c in commands] == ["Change"]
    assert commands[0].text("AirSync:ApplicationData/Contacts:FirstName") == "B"


def test_invalid_item_is_status_6(server: DevServer, client: RawClient) -> None:
    cid = contacts_id(server)
    key = client.prime(cid)
    empty = E("AirSync:ApplicationData")
    wrong_class = E("AirSync:ApplicationData", E("Calendar:Subject", value="x"))
    result = only_collection(
        client.sync(collection(cid, key, commands=[add("a", empty), add("b", wrong_class)]))
    )
    statuses = [a.text("AirSync:Status") for a in result.findall("AirSync:Responses/AirSync:Add")]
    assert statuses == ["6", "6"]
    assert server.store.items("alice", cid) == {}


def test_change_of_unknown_item_is_status_8(server: DevServer, client: RawClient) -> None:
    cid = contacts_id(server)
    key = client.prime(cid)
    result = only_collection(
        client.sync(collection(cid, key, commands=[change("9:999", contact(FirstName="x"))]))
    )
    assert result.find("AirSync:Responses/AirSync:Change").text("AirSync:Status") == "8"


def test_conflict_server_wins_is_status_7_and_server_version_sent(
    server: DevServer, client: RawClient
) -> None:
    cid = contacts_id(server)
    sid = server.store.add_item("alice", cid, contact(FirstName="Orig"))
    key, _ = client.download(cid, client.prime(cid))
    server.store.change_item("alice", cid, sid, contact(FirstName="Server"))
    result = only_collection(
        client.sync(collection(cid, key, commands=[change(sid, contact(FirstName="Client"))]))
    )
    assert result.find("AirSync:Responses/AirSync:Change").text("AirSync:Status") == "7"
    assert server.store.get_item("alice", cid, sid).text("Contacts:FirstName") == "Server"
    sent = result.find("AirSync:Commands/AirSync:Change")
    assert sent.text("AirSync:ApplicationData/Contacts:FirstName") == "Server"


def test_conflict_client_wins_when_conflict_0(server: DevServer, client: RawClient) -> None:
    cid = contacts_id(server)
    sid = server.store.add_item("alice", cid, contact(FirstName="Orig"))
    key, _ = client.download(cid, client.prime(cid, conflict=0))
    server.store.change_item("alice", cid, sid, contact(FirstName="Server"))
    result = only_collection(
        client.sync(collection(cid, key, commands=[change(sid, contact(FirstName="Client"))]))
    )
    assert result.find("AirSync:Responses") is None
    assert server.store.get_item("alice", cid, sid).text("Contacts:FirstName") == "Client"


# --- ghosting ------------------------------------------------------------------------


def test_change_without_supported_deletes_omitted_fields_but_keeps_body(
    server: DevServer, client: RawClient
) -> None:
    cid = contacts_id(server)
    data = contact(FirstName="Ada", LastName="Lovelace", CompanyName="Engines")
    data.append(
        E("AirSyncBase:Body", E("AirSyncBase:Type", value=1), E("AirSyncBase:Data", value="n"))
    )
    sid = server.store.add_item("alice", cid, data)
    key, _ = client.download(cid, client.prime(cid))
    client.sync(
        collection(cid, key, commands=[change(sid, contact(FirstName="Ada", LastName="L"))])
    )
    stored = server.store.get_item("alice", cid, sid)
    assert stored.text("Contacts:LastName") == "L"
    assert stored.find("Contacts:CompanyName") is None
    assert stored.text("AirSyncBase:Body/AirSyncBase:Data") == "n"


def test_supported_ghosts_unlisted_fields_and_empty_element_clears(
    server: DevServer, client: RawClient
) -> None:
    cid = contacts_id(server)
    sid = server.store.add_item(
        "alice",
        cid,
        contact(FirstName="Ada", LastName="Lovelace", CompanyName="Engines", JobTitle="Countess"),
    )
    supported = ["Contacts:FirstName", "Contacts:LastName", "Contacts:JobTitle"]
    key, _ = client.download(cid, client.prime(cid, supported=supported))
    new = contact(FirstName="Augusta")
    new.append(E("Contacts:JobTitle"))  # an empty element clears the value
    client.sync(collection(cid, key, commands=[change(sid, new)]))
    stored = server.store.get_item("alice", cid, sid)
    assert stored.text("Contacts:FirstName") == "Augusta"
    assert stored.text("Contacts:CompanyName") == "Engines"  # ghosted: not in Supported
    assert stored.find("Contacts:LastName") is None  # supported and omitted: deleted
    assert stored.find("Contacts:JobTitle") is None


# --- keys: retry one step back, stale keys --------------------------------------------


def test_previous_key_is_answered_as_retry_without_duplicates(
    server: DevServer, client: RawClient
) -> None:
    cid = contacts_id(server)
    server.store.seed_contacts("alice", 10)
    key = client.prime(cid)
    first = only_collection(client.sync(collection(cid, key, window=4)))
    # The answer was "lost": the client sends the same key again and gets the same page.
    again = only_collection(client.sync(collection(cid, key, window=4)))
    assert commands_of(again) == commands_of(first)
    assert again.text("AirSync:SyncKey") != first.text("AirSync:SyncKey")

    # Same for an Add whose answer was lost: the same ServerId, no duplicate item.
    key = again.text("AirSync:SyncKey")
    batch = [add("n1", contact(FirstName="Once"))]
    sent = only_collection(client.sync(collection(cid, key, window=4, commands=batch)))
    retried = only_collection(client.sync(collection(cid, key, window=4, commands=batch)))
    first_id = sent.find("AirSync:Responses/AirSync:Add").text("AirSync:ServerId")
    assert retried.find("AirSync:Responses/AirSync:Add").text("AirSync:ServerId") == first_id
    names = [d.text("Contacts:FirstName") for d in server.store.items("alice", cid).values()]
    assert names.count("Once") == 1
    # The superseded key of the lost answer is now stale.
    assert (
        only_collection(client.sync(collection(cid, sent.text("AirSync:SyncKey")))).text(
            "AirSync:Status"
        )
        == "3"
    )


def test_stale_key_is_status_3(server: DevServer, client: RawClient) -> None:
    cid = contacts_id(server)
    key0 = client.prime(cid)
    key1 = only_collection(client.sync(collection(cid, key0))).text("AirSync:SyncKey")
    key2 = only_collection(client.sync(collection(cid, key1))).text("AirSync:SyncKey")
    assert key2
    result = only_collection(client.sync(collection(cid, key0)))
    assert result.text("AirSync:Status") == "3"
    assert only_collection(client.sync(collection(cid, "nonsense"))).text("AirSync:Status") == "3"


def test_unknown_collection_is_status_12(client: RawClient) -> None:
    result = only_collection(client.sync(collection("404", "0")))
    assert result.text("AirSync:Status") == "12"


def test_server_delete_reported_only_to_devices_that_know_the_item(
    server: DevServer, client: RawClient
) -> None:
    cid = contacts_id(server)
    known = server.store.add_item("alice", cid, contact(FirstName="K"))
    key, _ = client.download(cid, client.prime(cid))
    unseen = server.store.add_item("alice", cid, contact(FirstName="U"))
    server.store.delete_item("alice", cid, unseen)
    server.store.delete_item("alice", cid, known)
    result = only_collection(client.sync(collection(cid, key)))
    assert commands_of(result) == [("Delete", known)]


# --- filters -------------------------------------------------------------------------


def test_calendar_filter_window_skips_old_events_keeps_recurring(
    server: DevServer, client: RawClient
) -> None:
    cal = folder_id(server, 8)
    old = server.store.add_item("alice", cal, event("old", "20000101T100000Z"))
    series = server.store.add_item(
        "alice", cal, event("weekly", "20000101T100000Z", recurring=True)
    )
    future = server.store.add_item("alice", cal, event("future", "20990101T100000Z"))
    key = client.prime(cal, filter_type=4)
    result = only_collection(client.sync(collection(cal, key)))
    sent = {sid for _, sid in commands_of(result)}
    assert sent == {series, future}
    assert old not in sent
    # An event moved out of the window is soft-deleted.
    key = result.text("AirSync:SyncKey")
    server.store.change_item("alice", cal, future, event("moved", "20010101T100000Z"))
    result = only_collection(client.sync(collection(cal, key)))
    assert commands_of(result) == [("SoftDelete", future)]


def test_tasks_filter_8_sends_incomplete_only(server: DevServer, client: RawClient) -> None:
    tasks = folder_id(server, 7)

    def task(subject: str, complete: int) -> E:
        return E(
            "AirSync:ApplicationData",
            E("Tasks:Subject", value=subject),
            E("Tasks:Complete", value=complete),
        )

    todo = server.store.add_item("alice", tasks, task("todo", 0))
    server.store.add_item("alice", tasks, task("done", 1))
    key = client.prime(tasks, filter_type=8)
    result = only_collection(client.sync(collection(tasks, key)))
    assert commands_of(result) == [("Add", todo)]


# --- bodies, fetch, estimates, settings ----------------------------------------------


def test_body_truncation_and_itemoperations_fetch_full_body(
    server: DevServer, client: RawClient
) -> None:
    cid = contacts_id(server)
    data = contact(FirstName="Long")
    data.append(
        E(
            "AirSyncBase:Body",
            E("AirSyncBase:Type", value=1),
            E("AirSyncBase:Data", value="x" * 100),
        )
    )
    sid = server.store.add_item("alice", cid, data)
    key = client.prime(cid, truncation=10)
    result = only_collection(client.sync(collection(cid, key)))
    body = result.find("AirSync:Commands/AirSync:Add/AirSync:ApplicationData/AirSyncBase:Body")
    assert body.text("AirSyncBase:Truncated") == "1"
    assert body.text("AirSyncBase:Data") == "x" * 10
    assert body.int("AirSyncBase:EstimatedDataSize") == 100

    answer = client.post(
        "ItemOperations",
        E(
            "ItemOperations:ItemOperations",
            E(
                "ItemOperations:Fetch",
                E("ItemOperations:Store", value="Mailbox"),
                E("AirSync:CollectionId", value=cid),
                E("AirSync:ServerId", value=sid),
            ),
        ),
    )
    fetch = answer.doc.find("ItemOperations:Response/ItemOperations:Fetch")
    assert fetch.text("ItemOperations:Status") == "1"
    assert fetch.text("ItemOperations:Properties/AirSyncBase:Body/AirSyncBase:Data") == "x" * 100
    assert fetch.text("AirSync:Class") == "Contacts"


def test_itemoperations_fetches_attachment_by_file_reference(
    server: DevServer, client: RawClient
) -> None:
    ref = server.store.add_attachment("alice", b"\x00\x01binary", "a.bin", "application/x-test")

    def fetch(reference: str, byte_range: str | None = None) -> E:
        answer = client.post(
            "ItemOperations",
            E(
                "ItemOperations:ItemOperations",
                E(
                    "ItemOperations:Fetch",
                    E("ItemOperations:Store", value="Mailbox"),
                    E("AirSyncBase:FileReference", value=reference),
                    E("ItemOperations:Options", E("ItemOperations:Range", value=byte_range))
                    if byte_range
                    else None,
                ),
            ),
        )
        return answer.doc.find("ItemOperations:Response/ItemOperations:Fetch")

    found = fetch(ref)
    assert found.text("ItemOperations:Status") == "1"
    data = found.text("ItemOperations:Properties/ItemOperations:Data")
    assert base64.b64decode(data) == b"\x00\x01binary"
    assert found.text("ItemOperations:Properties/AirSyncBase:ContentType") == "application/x-test"
    part = fetch(ref, "2-4")
    assert base64.b64decode(part.text("ItemOperations:Properties/ItemOperations:Data")) == b"bin"
    assert fetch("att-missing").text("ItemOperations:Status") == "15"


def test_get_item_estimate_both_shapes(server: DevServer, client: RawClient) -> None:
    cid = contacts_id(server)
    server.store.seed_contacts("alice", 7)

    def estimate(version: str, key: str) -> E:
        client.version = version
        if version == "12.1":
            inner = [
                E("GetItemEstimate:Class", value="Contacts"),
                E("GetItemEstimate:CollectionId", value=cid),
                E("AirSync:FilterType", value=0),
                E("AirSync:SyncKey", value=key),
            ]
        else:
            inner = [
                E("AirSync:SyncKey", value=key),
                E("GetItemEstimate:CollectionId", value=cid),
                E("AirSync:Options", E("AirSync:FilterType", value=0)),
            ]
        answer = client.post(
            "GetItemEstimate",
            E(
                "GetItemEstimate:GetItemEstimate",
                E("GetItemEstimate:Collections", E("GetItemEstimate:Collection", *inner)),
            ),
        )
        return answer.doc.find("GetItemEstimate:Response")

    assert estimate("14.1", "0").text("GetItemEstimate:Status") == "3"
    key = client.prime(cid)
    response = estimate("14.1", key)
    assert response.text("GetItemEstimate:Status") == "1"
    assert response.int("GetItemEstimate:Collection/GetItemEstimate:Estimate") == 7
    client.provision()  # a 12.1 device provisions without DeviceInformation
    assert estimate("12.1", key).int("GetItemEstimate:Collection/GetItemEstimate:Estimate") == 7
    assert estimate("14.1", "stale").text("GetItemEstimate:Status") == "4"


def test_settings_device_information_and_user_information(client: RawClient) -> None:
    answer = client.post(
        "Settings",
        E(
            "Settings:Settings",
            E("Settings:DeviceInformation", E("Settings:Set", E("Settings:Model", value="m"))),
            E("Settings:UserInformation", E("Settings:Get")),
        ),
    )
    assert answer.status == "1"
    assert answer.doc.text("Settings:DeviceInformation/Settings:Status") == "1"
    account = "Settings:UserInformation/Settings:Get/Settings:Accounts/Settings:Account"
    address = answer.doc.text(f"{account}/Settings:EmailAddresses/Settings:PrimarySmtpAddress")
    assert address == "alice@devserver.test"


def test_calendar_16_add_assigns_uid_and_recognises_client_uid(
    server: DevServer, client: RawClient
) -> None:
    client.version = "16.1"
    client.provision()
    cal = folder_id(server, 8)
    key = client.prime(cal)
    data = event("meeting", "20300101T100000Z")
    data.append(E("Calendar:ClientUid", value="client-uid-1"))
    result = only_collection(client.sync(collection(cal, key, commands=[add("1", data)])))
    added = result.find("AirSync:Responses/AirSync:Add")
    uid = added.text("AirSync:ApplicationData/Calendar:UID")
    assert uid
    key = result.text("AirSync:SyncKey")
    again = only_collection(client.sync(collection(cal, key, commands=[add("2", data)])))
    assert again.find("AirSync:Responses/AirSync:Add").text("AirSync:ServerId") == added.text(
        "AirSync:ServerId"
    )
    assert len(server.store.items("alice", cal)) == 1


# --- persistence, concurrency --------------------------------------------------------


def test_restart_keeps_items_keys_and_policy(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with DevServer(data_dir) as srv:
        c = RawClient(srv)
        c.provision()
        cid = contacts_id(srv)
        key = c.prime(cid)
        result = only_collection(
            c.sync(collection(cid, key, commands=[add("1", contact(FirstName="Kept"))]))
        )
        key = result.text("AirSync:SyncKey")
        folder_key = c.folder_sync("0").doc.text("FolderHierarchy:SyncKey")
    with DevServer(data_dir) as srv:
        c2 = RawClient(srv, policy_key=c.policy_key)
        names = [d.text("Contacts:FirstName") for d in srv.store.items("alice", cid).values()]
        assert names == ["Kept"]
        assert only_collection(c2.sync(collection(cid, key))).text("AirSync:Status") == "1"
        assert c2.folder_sync(folder_key).status == "1"
        assert len(srv.store.folders("alice")) == 6  # defaults not created twice


def test_concurrent_syncs_of_two_devices(server: DevServer) -> None:
    cid = contacts_id(server)
    server.store.seed_contacts("alice", 600)
    errors: list[BaseException] = []
    counts: dict[str, int] = {}

    def run(device: str) -> None:
        try:
            c = RawClient(server, device=device)
            c.provision()
            _, commands = c.download(cid, c.prime(cid), window=100)
            counts[device] = len(commands)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"dev{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert counts == {f"dev{i}": 600 for i in range(4)}


def test_delete_reported_for_item_sent_in_a_lost_answer(
    server: DevServer, client: RawClient
) -> None:
    cid = contacts_id(server)
    ids = server.store.seed_contacts("alice", 6)
    key = client.prime(cid)
    lost = only_collection(client.sync(collection(cid, key, window=3)))
    sent = [sid for _, sid in commands_of(lost)]
    assert sent == ids[:3]
    # The answer never arrived; meanwhile the server deletes an item it carried.
    server.store.delete_item("alice", cid, sent[0])
    _, commands = client.download(cid, key, window=3)
    seen = [(c.name, c.text("AirSync:ServerId")) for c in commands]
    assert ("Delete", sent[0]) in seen
    assert [sid for name, sid in seen if name == "Add"] == ids[1:]
