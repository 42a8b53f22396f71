"""The devserver's 16.x per-occurrence Sync commands (``AirSyncBase:InstanceId``).

MS-ASCMD 2.2.3.24 / 2.2.3.42.2: ``Change``/``Delete`` with ServerId + InstanceId change
or delete one occurrence of a calendar series; MS-ASCAL 2.2.2.22: moving a series or
changing its pattern deletes its exceptions. Raw requests, as the other devserver tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eassync.devserver import DevServer
from eassync.eas.element import E, Element
from tests.unit.test_devserver_helpers import (
    RawClient,
    change,
    collection,
    commands_of,
    contact,
    folder_id,
    only_collection,
)

MONDAY_2 = "20240311T090000Z"  # second occurrence of the series below
NOT_AN_OCCURRENCE = "20240312T090000Z"  # a Tuesday


def weekly_series(subject: str = "Stand-up") -> Element:
    """Mondays 09:00Z, ten times, from 2024-03-04."""
    return E(
        "AirSync:ApplicationData",
        E("Calendar:AllDayEvent", value="0"),
        E("Calendar:StartTime", value="20240304T090000Z"),
        E("Calendar:EndTime", value="20240304T093000Z"),
        E("Calendar:Subject", value=subject),
        E(
            "Calendar:Recurrence",
            E("Calendar:Type", value="1"),
            E("Calendar:Interval", value="1"),
            E("Calendar:DayOfWeek", value="2"),
            E("Calendar:Occurrences", value="10"),
        ),
    )


def instance_change(server_id: str, instance_id: str, *fields: Element) -> Element:
    return E(
        "AirSync:Change",
        E("AirSync:ServerId", value=server_id),
        E("AirSyncBase:InstanceId", value=instance_id),
        E("AirSync:ApplicationData", *fields),
    )


def instance_delete(server_id: str, instance_id: str) -> Element:
    return E(
        "AirSync:Delete",
        E("AirSync:ServerId", value=server_id),
        E("AirSyncBase:InstanceId", value=instance_id),
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(tmp_path / "data") as srv:
        yield srv


def device(server: DevServer, name: str, version: str = "16.1") -> RawClient:
    c = RawClient(server, device=name, version=version)
    c.provision()
    return c


def synced(client: RawClient, collection_id: str) -> str:
    key = client.prime(collection_id)
    key, _ = client.download(collection_id, key)
    return key


def push(client: RawClient, collection_id: str, key: str, *commands: Element) -> Element:
    return only_collection(
        client.sync(collection(collection_id, key, get_changes=False, commands=list(commands)))
    )


def exceptions(server: DevServer, calendar: str, server_id: str) -> list[Element]:
    return server.store.get_item("alice", calendar, server_id).findall(
        "Calendar:Exceptions/Calendar:Exception"
    )


def test_delete_with_instance_id_marks_one_occurrence_deleted(server: DevServer) -> None:
    calendar = folder_id(server, 8)
    server_id = server.store.add_item("alice", calendar, weekly_series())
    phone, tablet = device(server, "phone"), device(server, "tablet")
    key = synced(phone, calendar)
    tablet_key = synced(tablet, calendar)

    result = push(phone, calendar, key, instance_delete(server_id, MONDAY_2))

    assert result.text("AirSync:Status") == "1"
    assert result.find("AirSync:Responses") is None, "no response means success"
    (exc,) = exceptions(server, calendar, server_id)
    assert exc.text("Calendar:Deleted") == "1"
    assert exc.text("AirSyncBase:InstanceId") == MONDAY_2
    assert server.store.get_item("alice", calendar, server_id).text("Calendar:Subject") == (
        "Stand-up"
    ), "the series stays"
    # the other device gets the series as a plain Change, with the exception inside
    _, got = tablet.download(calendar, tablet_key)
    assert [(c.name, c.text("AirSync:ServerId")) for c in got] == [("Change", server_id)]
    assert got[0].find("AirSyncBase:InstanceId") is None
    shown = got[0].findall("AirSync:ApplicationData/Calendar:Exceptions/Calendar:Exception")
    assert [e.text("AirSyncBase:InstanceId") for e in shown] == [MONDAY_2]


def test_change_with_instance_id_stores_and_then_updates_the_exception(
    server: DevServer,
) -> None:
    calendar = folder_id(server, 8)
    server_id = server.store.add_item("alice", calendar, weekly_series())
    phone = device(server, "phone")
    key = synced(phone, calendar)

    first = push(
        phone,
        calendar,
        key,
        instance_change(
            server_id,
            MONDAY_2,
            E("Calendar:Subject", value="Stand-up (late)"),
            E("Calendar:StartTime", value="20240311T100000Z"),
            E("Calendar:EndTime", value="20240311T103000Z"),
        ),
    )
    assert first.find("AirSync:Responses") is None
    (exc,) = exceptions(server, calendar, server_id)
    assert exc.text("Calendar:Subject") == "Stand-up (late)"
    assert exc.text("Calendar:StartTime") == "20240311T100000Z"

    # a second Change of the same occurrence replaces what it sends, keeps the rest
    push(
        phone,
        calendar,
        first.text("AirSync:SyncKey"),
        instance_change(server_id, MONDAY_2, E("Calendar:Subject", value="")),
    )
    (exc,) = exceptions(server, calendar, server_id)
    # an empty Subject is kept: in an exception it means "none", not the series' one
    assert exc.find("Calendar:Subject") is not None
    assert not exc.text("Calendar:Subject")
    assert exc.text("Calendar:StartTime") == "20240311T100000Z"


def test_an_instance_id_that_names_no_occurrence_is_status_8(server: DevServer) -> None:
    calendar = folder_id(server, 8)
    server_id = server.store.add_item("alice", calendar, weekly_series())
    phone = device(server, "phone")
    key = synced(phone, calendar)

    result = push(
        phone,
        calendar,
        key,
        instance_delete(server_id, NOT_AN_OCCURRENCE),
        instance_change(server_id, "20250310T090000Z", E("Calendar:Subject", value="x")),
    )

    responses = result.find("AirSync:Responses")
    assert responses is not None
    answers = [
        (r.name, r.text("AirSyncBase:InstanceId"), r.text("AirSync:Status")) for r in responses
    ]
    # 2025-03-10 is a Monday, but after the tenth occurrence
    assert answers == [
        ("Delete", NOT_AN_OCCURRENCE, "8"),
        ("Change", "20250310T090000Z", "8"),
    ]
    assert exceptions(server, calendar, server_id) == []


def test_instance_commands_below_16_are_a_protocol_error(server: DevServer) -> None:
    calendar = folder_id(server, 8)
    server_id = server.store.add_item("alice", calendar, weekly_series())
    old = device(server, "old", version="14.1")
    key = synced(old, calendar)

    result = push(old, calendar, key, instance_delete(server_id, MONDAY_2))

    (answer,) = result.find("AirSync:Responses").children
    assert answer.text("AirSync:Status") == "4"
    assert exceptions(server, calendar, server_id) == []


def test_instance_commands_outside_calendars_are_a_protocol_error(server: DevServer) -> None:
    contacts = folder_id(server, 9)
    server_id = server.store.add_item("alice", contacts, contact(FirstName="Ada"))
    phone = device(server, "phone")
    key = synced(phone, contacts)

    result = push(phone, contacts, key, instance_delete(server_id, MONDAY_2))

    (answer,) = result.find("AirSync:Responses").children
    assert answer.text("AirSync:Status") == "4"
    assert server.store.get_item("alice", contacts, server_id).text("Contacts:FirstName") == "Ada"


def test_moving_a_series_drops_its_exceptions_a_rename_keeps_them(server: DevServer) -> None:
    calendar = folder_id(server, 8)
    server_id = server.store.add_item("alice", calendar, weekly_series())
    phone = device(server, "phone")
    key = synced(phone, calendar)
    key = push(phone, calendar, key, instance_delete(server_id, MONDAY_2)).text("AirSync:SyncKey")

    renamed = E("AirSync:ApplicationData", E("Calendar:Subject", value="Daily"))
    key = push(phone, calendar, key, change(server_id, renamed)).text("AirSync:SyncKey")
    assert len(exceptions(server, calendar, server_id)) == 1

    moved = E(
        "AirSync:ApplicationData",
        E("Calendar:StartTime", value="20240304T100000Z"),
        E("Calendar:EndTime", value="20240304T103000Z"),
    )
    push(phone, calendar, key, change(server_id, moved))
    assert exceptions(server, calendar, server_id) == []
    assert server.store.get_item("alice", calendar, server_id).text("Calendar:Subject") == "Daily"


def test_an_instance_change_after_a_server_side_change_is_a_conflict(server: DevServer) -> None:
    calendar = folder_id(server, 8)
    server_id = server.store.add_item("alice", calendar, weekly_series())
    phone = device(server, "phone")
    key = synced(phone, calendar)
    server.store.change_item("alice", calendar, server_id, weekly_series("Changed elsewhere"))

    result = push(
        phone, calendar, key, instance_change(server_id, MONDAY_2, E("Calendar:Subject", value="x"))
    )

    (answer,) = result.find("AirSync:Responses").children
    assert (answer.name, answer.text("AirSync:Status")) == ("Change", "7")
    assert exceptions(server, calendar, server_id) == []
    assert commands_of(result) == []
