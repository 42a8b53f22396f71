"""The EAS protocol core against a real SOGo 5.8 (tests/servers/sogo), each effect
checked through SOGo's own CardDAV/CalDAV view of the same data.

Quirks that shape these tests (sogo-notes.md): Q2 one-second change granularity (wait
between DAV writes and EAS syncs), Q4 empty-folder SyncKey trap (download first, then
send changes), Q5 no server changes in a reply to commands, Q6 ServerId vs DAV name,
Q7 URL-escaped folder ids.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from eassync.eas.client import (
    AccountSettings,
    ClientCommand,
    CollectionInvalidSyncKey,
    CollectionRequest,
    CollectionResponse,
    EasClient,
    ServerCommand,
)
from eassync.eas.element import E, Element
from eassync.paths import state_dir
from tests.integration.conftest import SogoAccount
from tests.integration.sogo_dav import (
    CALENDAR,
    CONTACTS,
    component,
    pass_one_second,
    property_values,
)

pytestmark = pytest.mark.sogo

CONTACTS_ID = "vcard%2Fpersonal"
CALENDAR_ID = "vevent%2Fpersonal"
TASKS_ID = "vtodo%2Fpersonal"

# MS-ASDTYPE 2.6.4 TIME_ZONE_INFORMATION of UTC: all 172 bytes zero. SOGo ignores it
# anyway and stores events in the user's zone, UTC in the harness (Q10).
UTC_TIMEZONE = base64.b64encode(bytes(172)).decode("ascii")


@pytest.fixture
def client(sogo_account: SogoAccount) -> Iterator[EasClient]:
    settings = AccountSettings(
        name=f"sogo-{sogo_account.user}",
        url=sogo_account.server.eas_url,
        username=sogo_account.user,
        password=sogo_account.password,
        state_dir=state_dir(),
    )
    with EasClient(settings) as eas:
        yield eas


@dataclass
class Collection:
    """One EAS collection and its current SyncKey, driven the way SOGo needs it."""

    client: EasClient
    collection_id: str
    sync_key: str = "0"

    def __post_init__(self) -> None:
        # SOGo answers Sync from a device that never did a FolderSync with Status 12.
        if not self.client.folders():
            self.client.folder_sync()

    def _one(self, request: CollectionRequest) -> CollectionResponse:
        (response,) = self.client.sync([request])
        assert response.status == 1
        self.sync_key = response.sync_key
        return response

    def download(self) -> list[ServerCommand]:
        """Prime (SyncKey 0) if needed, then fetch every pending server change. For an
        empty folder SOGo answers key 0 with "-1"; the GetChanges with "-1" that follows
        yields a real key, so commands are never sent with "-1" (Q4)."""
        commands: list[ServerCommand] = []
        if self.sync_key == "0":
            self._one(CollectionRequest(self.collection_id, "0"))
        while True:
            response = self._one(
                CollectionRequest(self.collection_id, self.sync_key, get_changes=True)
            )
            commands.extend(response.commands)
            if not response.more_available:
                return commands

    def send(self, command: ClientCommand) -> CollectionResponse:
        """Send one command; SOGo's reply to commands carries no server changes (Q5).

        A folder that never held an item keeps the key "-1" after the download, and the
        key SOGo returns for commands sent with "-1" is unknown to it (Q4): sync with
        "-1" again, which returns every item (ours included) and a usable key."""
        with_empty_key = self.sync_key == "-1"
        response = self._one(
            CollectionRequest(self.collection_id, self.sync_key, commands=[command])
        )
        if with_empty_key:
            self.sync_key = "-1"
            replayed = self.download()
            assert {c.kind for c in replayed} <= {"add"}
        return response

    def add(self, data: Element) -> str:
        response = self.send(ClientCommand.add("client-1", data))
        (answer,) = response.responses
        assert answer.status == 1
        assert answer.client_id == "client-1"
        assert answer.server_id
        return answer.server_id

    def change(self, server_id: str, data: Element) -> None:
        response = self.send(ClientCommand.change(server_id, data))
        # Exchange answers a successful Change with no Response; SOGo likewise.
        assert all(answer.status == 1 for answer in response.responses)

    def delete(self, server_id: str) -> None:
        response = self.send(ClientCommand.delete(server_id))
        assert all(answer.status == 1 for answer in response.responses)


def value_of(data: Element | None, tag: str) -> str | None:
    assert data is not None
    return data.text(tag)


# --- items as the client sends them -----------------------------------------------------


def contact(first: str, last: str, email: str) -> Element:
    # Change replaces the whole item (Q9): always send every field we manage.
    return E(
        "AirSync:ApplicationData",
        E("Contacts:Email1Address", value=email),
        E("Contacts:FileAs", value=f"{last}, {first}"),
        E("Contacts:FirstName", value=first),
        E("Contacts:LastName", value=last),
    )


def event(subject: str, location: str) -> Element:
    return E(
        "AirSync:ApplicationData",
        E("Calendar:TimeZone", value=UTC_TIMEZONE),
        E("Calendar:AllDayEvent", value="0"),
        E("Calendar:BusyStatus", value="2"),
        E("Calendar:DtStamp", value="20300101T000000Z"),
        E("Calendar:EndTime", value="20300115T110000Z"),
        E("Calendar:Location", value=location),
        E("Calendar:Sensitivity", value="0"),
        E("Calendar:Subject", value=subject),
        E("Calendar:StartTime", value="20300115T100000Z"),
        E("Calendar:MeetingStatus", value="0"),
    )


def task(subject: str, complete: bool) -> Element:
    return E(
        "AirSync:ApplicationData",
        E("Tasks:Complete", value="1" if complete else "0"),
        E("Tasks:DateCompleted", value="2030-01-19T09:00:00.000Z") if complete else None,
        E("Tasks:DueDate", value="2030-01-20T10:00:00.000Z"),
        E("Tasks:Importance", value="2"),
        E("Tasks:Sensitivity", value="0"),
        E("Tasks:Subject", value=subject),
        E("Tasks:UtcDueDate", value="2030-01-20T10:00:00.000Z"),
    )


# --- connection, provisioning, folders --------------------------------------------------


def test_options_advertises_14_1_and_the_client_picks_it(
    sogo_account: SogoAccount, client: EasClient
) -> None:
    response = requests.options(
        sogo_account.server.eas_url, auth=(sogo_account.user, sogo_account.password), timeout=10
    )
    assert response.status_code == 200
    offered = response.headers["MS-ASProtocolVersions"].split(",")
    assert "14.1" in offered
    assert not any(version.startswith("16") for version in offered)  # Q3
    assert client.version == "14.1"


def test_options_without_credentials_is_refused(sogo_account: SogoAccount) -> None:
    response = requests.options(sogo_account.server.eas_url, timeout=10)
    assert response.status_code == 401


def test_provision_without_a_policy_succeeds_and_keeps_no_key(client: EasClient) -> None:
    # SOGo answers Status 1 with Policy Status 2 ("no policy for this client") and no key.
    client.provision()
    assert client.policy_key is None
    assert client.folder_sync()  # and the account works afterwards


def test_folder_sync_lists_personal_contacts_calendar_and_tasks(client: EasClient) -> None:
    by_id = {folder.server_id: folder for folder in client.folder_sync()}
    # Q7: ids are URL-escaped, and the personal calendar appears twice (events and tasks).
    assert by_id[CONTACTS_ID].type == 9
    assert by_id[CONTACTS_ID].eas_class == "Contacts"
    assert by_id[CALENDAR_ID].type == 8
    assert by_id[CALENDAR_ID].eas_class == "Calendar"
    assert by_id[TASKS_ID].type == 7
    assert by_id[TASKS_ID].eas_class == "Tasks"
    assert by_id[CALENDAR_ID].display_name == by_id[TASKS_ID].display_name


# --- client changes, checked over DAV ---------------------------------------------------


def test_contact_add_change_delete_show_in_carddav(
    sogo_account: SogoAccount, client: EasClient
) -> None:
    dav = sogo_account.dav
    contacts = Collection(client, CONTACTS_ID)
    assert contacts.download() == []

    server_id = contacts.add(contact("Ada", "Lovelace", "ada@example.test"))
    card = dav.get(CONTACTS, server_id)  # Q6: a contact's ServerId is its DAV name
    assert card is not None
    assert property_values(card, "N") == ["Lovelace;Ada"]
    assert property_values(card, "FN") == ["Lovelace, Ada"]  # FileAs becomes FN (Q17)
    assert property_values(card, "EMAIL") == ["ada@example.test"]

    contacts.change(server_id, contact("Ada", "King", "ada@king.example.test"))
    card = dav.get(CONTACTS, server_id)
    assert card is not None
    assert property_values(card, "N") == ["King;Ada"]
    assert property_values(card, "EMAIL") == ["ada@king.example.test"]

    contacts.delete(server_id)
    assert dav.get(CONTACTS, server_id) is None
    assert dav.list(CONTACTS) == []


def test_event_add_change_delete_show_in_caldav(
    sogo_account: SogoAccount, client: EasClient
) -> None:
    dav = sogo_account.dav
    events = Collection(client, CALENDAR_ID)
    assert events.download() == []

    server_id = events.add(event("Planning", "Room 1"))
    # Q6: an event's ServerId is its iCal UID; the DAV resource is <UID>.ics.
    ics = dav.get(CALENDAR, f"{server_id}.ics")
    assert ics is not None
    assert "BEGIN:VEVENT" in ics
    assert property_values(ics, "UID") == [server_id]
    assert property_values(ics, "SUMMARY") == ["Planning"]
    assert property_values(ics, "LOCATION") == ["Room 1"]
    (start,) = property_values(component(ics, "VEVENT"), "DTSTART")
    assert start.startswith("20300115T100000")

    events.change(server_id, event("Planning, moved", "Room 2"))
    ics = dav.get(CALENDAR, f"{server_id}.ics")
    assert ics is not None
    assert property_values(ics, "SUMMARY") == ["Planning, moved"]
    assert property_values(ics, "LOCATION") == ["Room 2"]

    events.delete(server_id)
    assert dav.get(CALENDAR, f"{server_id}.ics") is None
    assert dav.calendar_query("VEVENT") == []


def test_task_add_change_delete_show_in_caldav(
    sogo_account: SogoAccount, client: EasClient
) -> None:
    dav = sogo_account.dav
    tasks = Collection(client, TASKS_ID)
    assert tasks.download() == []

    server_id = tasks.add(task("Write report", complete=False))
    # Q6: a task's ServerId is its DAV name (.ics) in the *calendar* collection.
    ics = dav.get(CALENDAR, server_id)
    assert ics is not None
    assert "BEGIN:VTODO" in ics
    assert property_values(ics, "SUMMARY") == ["Write report"]
    assert property_values(ics, "PRIORITY") == ["1"]  # Importance 2 (Q17)
    assert property_values(ics, "STATUS") == ["IN-PROCESS"]  # Complete 0 (Q17)
    (due,) = property_values(component(ics, "VTODO"), "DUE")
    assert due.startswith("20300120T100000")

    tasks.change(server_id, task("Write report, final", complete=True))
    ics = dav.get(CALENDAR, server_id)
    assert ics is not None
    assert property_values(ics, "SUMMARY") == ["Write report, final"]
    assert property_values(ics, "STATUS") == ["COMPLETED"]

    tasks.delete(server_id)
    assert dav.get(CALENDAR, server_id) is None
    assert dav.calendar_query("VTODO") == []


# --- server changes (made over DAV) arriving through EAS --------------------------------


def vcard(uid: str, first: str, last: str) -> str:
    return (
        "BEGIN:VCARD\r\nVERSION:3.0\r\n"
        f"UID:{uid}\r\nFN:{first} {last}\r\nN:{last};{first};;;\r\n"
        f"EMAIL;TYPE=work:{first.lower()}@example.test\r\nEND:VCARD\r\n"
    )


def vevent(uid: str, summary: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//eassync tests//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20300101T000000Z\r\n"
        "DTSTART:20300201T090000Z\r\nDTEND:20300201T100000Z\r\n"
        f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def vtodo(uid: str, summary: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//eassync tests//EN\r\n"
        f"BEGIN:VTODO\r\nUID:{uid}\r\nDTSTAMP:20300101T000000Z\r\n"
        f"SUMMARY:{summary}\r\nSTATUS:NEEDS-ACTION\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    )


@dataclass(frozen=True)
class DavCase:
    collection_id: str
    dav_collection: str
    subject_tag: str

    def create(self, uid: str, subject: str) -> tuple[str, str]:
        """(DAV resource name, text) of a new item; ``subject`` is what EAS shows in
        ``subject_tag``."""
        if self.collection_id == CONTACTS_ID:
            return f"{uid}.vcf", vcard(uid, "Grace", subject)
        if self.collection_id == CALENDAR_ID:
            return f"{uid}.ics", vevent(uid, subject)
        return f"{uid}.ics", vtodo(uid, subject)

    def server_id(self, name: str) -> str:
        # Q6: events are known to EAS by UID (the name without .ics), the rest by name.
        return name.removesuffix(".ics") if self.collection_id == CALENDAR_ID else name


DAV_CASES = {
    "contact": DavCase(CONTACTS_ID, CONTACTS, "Contacts:LastName"),
    "event": DavCase(CALENDAR_ID, CALENDAR, "Calendar:Subject"),
    "task": DavCase(TASKS_ID, CALENDAR, "Tasks:Subject"),
}


@pytest.mark.parametrize("kind", DAV_CASES)
def test_dav_add_change_delete_arrive_through_eas_sync(
    kind: str, sogo_account: SogoAccount, client: EasClient
) -> None:
    case = DAV_CASES[kind]
    dav = sogo_account.dav
    collection = Collection(client, case.collection_id)
    assert collection.download() == []

    pass_one_second()  # Q2: a DAV write in the second of our SyncKey is lost;
    # the key a Sync returns is the second of the last change, so no wait after a write
    uid = f"eassync-test-{uuid.uuid4()}"
    name, text = case.create(uid, "Hopper")
    dav.put(case.dav_collection, name, text)
    (added,) = collection.download()
    assert added.kind == "add"
    assert added.server_id == case.server_id(name)
    assert value_of(added.data, case.subject_tag) == "Hopper"

    pass_one_second()
    dav.put(case.dav_collection, name, case.create(uid, "Hopper-Murray")[1])
    (changed,) = collection.download()
    assert changed.kind == "change"
    assert changed.server_id == added.server_id
    assert value_of(changed.data, case.subject_tag) == "Hopper-Murray"

    pass_one_second()
    dav.delete(case.dav_collection, name)
    (deleted,) = collection.download()
    assert deleted.kind in ("delete", "softdelete")
    assert deleted.server_id == added.server_id


# --- SOGo's SyncKey quirks, pinned down so the engine's workarounds stay justified -------


def test_commands_with_the_empty_folder_key_invalidate_the_next_key(
    sogo_account: SogoAccount, client: EasClient
) -> None:
    """Q4: key 0 on an empty folder gives "-1"; commands sent with "-1" are applied, but
    the key they return is unknown to SOGo (Status 3). Syncing with "-1" again returns
    everything, our own item included, with a usable key."""
    contacts = Collection(client, CONTACTS_ID)
    (primed,) = client.sync([CollectionRequest(CONTACTS_ID, "0")])
    assert primed.sync_key == "-1"
    add = ClientCommand.add("client-1", contact("Edsger", "Dijkstra", "ewd@example.test"))
    (sent,) = client.sync([CollectionRequest(CONTACTS_ID, "-1", commands=[add])])
    (answer,) = sent.responses
    assert answer.status == 1
    assert answer.server_id
    assert sogo_account.dav.get(CONTACTS, answer.server_id) is not None
    with pytest.raises(CollectionInvalidSyncKey):
        client.sync([CollectionRequest(CONTACTS_ID, sent.sync_key, get_changes=True)])
    contacts.sync_key = "-1"
    (again,) = contacts.download()
    assert again.kind == "add"
    assert again.server_id == answer.server_id
    assert contacts.download() == []  # and the new key is a real one


def test_a_reply_to_commands_carries_no_server_changes(
    sogo_account: SogoAccount, client: EasClient
) -> None:
    """Q5: a Sync with Commands gets no server changes; the next Sync brings them."""
    contacts = Collection(client, CONTACTS_ID)
    assert contacts.download() == []
    pass_one_second()
    name, text = DAV_CASES["contact"].create(f"eassync-test-{uuid.uuid4()}", "Server")
    sogo_account.dav.put(CONTACTS, name, text)
    pass_one_second()
    reply = contacts.send(ClientCommand.add("client-1", contact("Local", "Client", "l@e.test")))
    assert reply.commands == []
    (fetched,) = contacts.download()
    assert fetched.server_id == name
    assert value_of(fetched.data, "Contacts:LastName") == "Server"
