"""What a folder's server holds (eassync.sync.slots), for events and tasks: the
projection leaves dropped fields out, the merge keeps local values the server is not
known to hold (an attendee's role, a task's completion date), and a server copy is
recognised by its held content although the server gave it its own UID (16.x, Horde)
and dropped fields. Also: a completed task never says it was done in 1970."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import icalendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eassync.convert import held
from eassync.convert.calendar import SLOT_ALIASES, CalendarHandler, slots_of_data
from eassync.convert.tasks import SLOT_ALIASES as TASK_ALIASES
from eassync.convert.tasks import TasksHandler
from eassync.convert.tasks import slots_of_data as task_slots
from eassync.eas.element import E, Element
from eassync.model.knowledge import SlotKnowledge
from eassync.storage.base import Item

DATA = Path(__file__).parent.parent / "data"
EVENTS = sorted(p.name for p in (DATA / "calendar").glob("*.ics"))
TASKS = sorted(p.name for p in (DATA / "tasks").glob("*.ics"))
C, T = "Calendar:", "Tasks:"
ROLE = C + "AttendeeType"

#: fields a real server may not keep (SOGo, Horde, Z-Push backends)
DROPPABLE = [
    C + "Reminder",
    ROLE,
    C + "AttendeeStatus",
    C + "Name",
    C + "Categories",
    C + "Sensitivity",
    C + "BusyStatus",
    C + "Location",
    "AirSyncBase:Location",
    "AirSyncBase:Body",
    C + "OrganizerName",
    C + "ResponseRequested",
    C + "DisallowNewTimeProposal",
    C + "Exceptions",
]
TASK_DROPPABLE = [
    T + "DateCompleted",
    T + "Importance",
    T + "Categories",
    T + "ReminderTime",
    T + "Sensitivity",
    "AirSyncBase:Body",
]

MEETING = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:local-meeting\r
DTSTAMP:20240101T000000Z\r
DTSTART;TZID=Europe/Berlin:20240304T100000\r
DTEND;TZID=Europe/Berlin:20240304T113000\r
SUMMARY:Review\r
ORGANIZER;CN=Ada:mailto:ada@example.org\r
ATTENDEE;CN=Bob;PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT:mailto:bob@example.org\r
ATTENDEE;CN=Cy;PARTSTAT=TENTATIVE;ROLE=OPT-PARTICIPANT:mailto:cy@example.org\r
BEGIN:VALARM\r
ACTION:DISPLAY\r
DESCRIPTION:x\r
TRIGGER:-PT15M\r
END:VALARM\r
END:VEVENT\r
END:VCALENDAR\r
"""

DONE = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VTODO\r
UID:local-task\r
SUMMARY:Pay rent\r
DUE;VALUE=DATE:20240415\r
STATUS:COMPLETED\r
PERCENT-COMPLETE:100\r
COMPLETED:20240410T081500Z\r
PRIORITY:1\r
END:VTODO\r
END:VCALENDAR\r
"""


def _event(name: str) -> Item:
    return Item((DATA / "calendar" / name).read_bytes(), None)


def _task(name: str) -> Item:
    return Item((DATA / "tasks" / name).read_bytes(), None)


def _server_data(
    handler: CalendarHandler, local: Item, version: str, drop: set[str], edit: dict[str, str]
) -> Element:
    """What a server that drops ``drop`` and assigns its own UID (16.x, Horde) sends
    of ``local``; ``edit``: fields changed there."""
    data = held.without(handler.to_eas(local, version), drop, {})
    children = [c for c in data.children if c.tag not in (C + "UID", C + "ClientUid", *edit)]
    children += [E(tag, value=value) for tag, value in edit.items()]
    children.append(E(C + "UID", value=str(uuid.uuid4()).upper()))
    return E(data.tag, *children)


def _learnt(handler: CalendarHandler | TasksHandler, local: Item, data: Element) -> None:
    """The pushing device read the stored copy back (storage/eas.py _read_back)."""
    assert handler.knowledge is not None
    handler.knowledge.read_back(handler.slots_of_item(local), handler.slots_of_data(data))


def _vevent(item: Item) -> icalendar.Event:
    return icalendar.Calendar.from_ical(item.raw).walk("VEVENT")[0]


# --- events -----------------------------------------------------------------------------


def test_slots_of_an_event_are_its_filled_fields_and_attendee_details() -> None:
    data = CalendarHandler().to_eas(Item(MEETING.encode()), "14.1")
    slots = slots_of_data(data)
    assert {C + "Subject", C + "Attendees", ROLE, C + "AttendeeStatus", C + "Name"} <= slots
    assert {C + "Reminder", C + "OrganizerEmail", C + "OrganizerName"} <= slots
    # identity, volatile and the times themselves are no slots
    assert not {C + "UID", C + "DtStamp", C + "StartTime", C + "TimeZone"} & slots
    # an empty element clears a field: no slot (MS-ASAIRS 2.2.2.28), one name for both
    # spellings of Location
    v16 = CalendarHandler().to_eas(Item(MEETING.encode()), "16.1")
    assert "AirSyncBase:Location" in {c.tag for c in v16}
    assert C + "Location" not in slots_of_data(v16)
    with_place = E(
        "AirSync:ApplicationData",
        E("AirSyncBase:Location", E("AirSyncBase:DisplayName", value="Here")),
    )
    assert slots_of_data(with_place) == {C + "Location"}


def test_a_download_teaches_and_a_projection_does_not() -> None:
    knowledge = SlotKnowledge()
    handler = CalendarHandler(knowledge=knowledge)
    handler.project(Item(MEETING.encode()), "14.1")
    assert knowledge.held == set()
    handler.from_eas(handler.to_eas(Item(MEETING.encode()), "14.1"), "14.1")
    assert {ROLE, C + "Subject"} <= knowledge.held


def test_an_attendee_role_the_server_drops_stays_when_the_event_changes_elsewhere() -> None:
    local = Item(MEETING.encode(), "local-meeting")
    handler = CalendarHandler(knowledge=SlotKnowledge())
    _learnt(handler, local, _server_data(handler, local, "14.1", {ROLE}, {}))
    assert handler.knowledge is not None
    assert ROLE in handler.knowledge.dropped
    # the projection predicts the server's copy: no roles
    assert b"OPT-PARTICIPANT" not in handler.project(local, "14.1").raw

    # elsewhere: the subject changes, and a third attendee comes
    data = _server_data(handler, local, "14.1", {ROLE}, {C + "Subject": "Review (v2)"})
    attendees = data.find(C + "Attendees")
    assert attendees is not None
    attendees.append(
        E(C + "Attendee", E(C + "Email", value="dee@example.org"), E(C + "Name", value="Dee"))
    )
    merged = _vevent(handler.merge(handler.from_eas(data, "14.1"), local))
    assert str(merged["SUMMARY"]) == "Review (v2)"
    roles = {str(a).removeprefix("mailto:"): a.params.get("ROLE") for a in merged["ATTENDEE"]}
    assert roles["cy@example.org"] == "OPT-PARTICIPANT"  # kept: the server has no roles
    assert roles["bob@example.org"] == "REQ-PARTICIPANT"
    assert set(roles) == {"bob@example.org", "cy@example.org", "dee@example.org"}
    assert str(merged["UID"]) == "local-meeting"


def test_a_role_the_server_holds_follows_an_edit_elsewhere() -> None:
    local = Item(MEETING.encode(), "local-meeting")
    handler = CalendarHandler(knowledge=SlotKnowledge())
    data = _server_data(handler, local, "14.1", set(), {})
    for node in data.findall(C + "Attendees/" + C + "Attendee"):
        for child in node.children:
            if child.tag == ROLE:
                child.value = "1"
    merged = _vevent(handler.merge(handler.from_eas(data, "14.1"), local))
    assert {a.params.get("ROLE") for a in merged["ATTENDEE"]} == {"REQ-PARTICIPANT"}


def test_a_reminder_goes_when_deleted_elsewhere_and_stays_when_the_server_drops_it() -> None:
    local = Item(MEETING.encode(), "local-meeting")
    holding = CalendarHandler(knowledge=SlotKnowledge())
    _learnt(holding, local, _server_data(holding, local, "14.1", set(), {}))
    data = _server_data(holding, local, "14.1", {C + "Reminder"}, {})
    assert "VALARM" not in holding.merge(holding.from_eas(data, "14.1"), local).raw.decode()

    dropping = CalendarHandler(knowledge=SlotKnowledge())
    _learnt(dropping, local, data)
    edited = _server_data(dropping, local, "14.1", {C + "Reminder"}, {C + "Subject": "New"})
    merged = dropping.merge(dropping.from_eas(edited, "14.1"), local).raw.decode()
    assert "SUMMARY:New" in merged
    assert "TRIGGER:-PT15M" in merged


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from([*EVENTS, "<meeting>"]),
    version=st.sampled_from(["14.1", "16.1"]),
    drop=st.sets(st.sampled_from(DROPPABLE), max_size=4),
    zone=st.sampled_from([None, "Europe/Berlin", "America/New_York"]),
)
def test_a_server_copy_with_its_own_uid_and_fewer_fields_is_recognised_and_loses_nothing(
    name: str, version: str, drop: set[str], zone: str | None
) -> None:
    """For any fixture, protocol version, default zone and set of fields the server
    drops: the copy the server sends (its own UID) has the local event's anchor and
    held content — after a lost status (nothing learnt) and after a read-back — the
    projection predicts it once the drops are learnt, and merging it changes nothing."""
    local = Item(MEETING.encode()) if name == "<meeting>" else _event(name)
    pusher = CalendarHandler(default_timezone=zone, knowledge=SlotKnowledge())
    data = _server_data(pusher, local, version, drop, {})

    fresh = CalendarHandler(default_timezone=zone, knowledge=SlotKnowledge())
    remote = fresh.from_eas(data, version)
    assert remote.uid != _vevent(local).get("UID")
    assert fresh.match_anchor(remote) == fresh.match_anchor(local) != ""
    assert fresh.same_held_content(local, remote, version)

    _learnt(pusher, local, data)
    remote = pusher.from_eas(data, version)
    assert pusher.same_held_content(local, remote, version)
    if version == "14.1":
        # (16.x: the projection carries the local attendees the server never gets)
        projected = pusher.project(local, version)
        uid = str(_vevent(local)["UID"])
        assert pusher.fingerprint(pusher.with_uid(projected, uid)) == pusher.fingerprint(
            pusher.with_uid(remote, uid)
        )
    merged = pusher.merge(remote, local)
    assert pusher.fingerprint(merged) == pusher.fingerprint(local)


@pytest.mark.parametrize(
    "edit",
    [
        {C + "Subject": "Another event"},
        {C + "StartTime": "20240304T100000Z"},
        {C + "Location": "Elsewhere"},
    ],
)
def test_an_event_that_differs_in_a_held_field_is_not_the_same(edit: dict[str, str]) -> None:
    local = Item(MEETING.encode(), "local-meeting")
    handler = CalendarHandler(knowledge=SlotKnowledge())
    remote = handler.from_eas(_server_data(handler, local, "14.1", set(), edit), "14.1")
    assert not handler.same_held_content(local, remote, "14.1")


def test_a_field_the_server_holds_and_its_copy_lacks_makes_another_event() -> None:
    local = Item(MEETING.encode(), "local-meeting")
    handler = CalendarHandler(knowledge=SlotKnowledge())
    handler.knowledge.saw({C + "Reminder"})  # type: ignore[union-attr]
    remote = handler.from_eas(_server_data(handler, local, "14.1", {C + "Reminder"}, {}), "14.1")
    assert not handler.same_held_content(local, remote, "14.1")


def test_an_override_that_differs_makes_another_series() -> None:
    local = _event("weekly-berlin-exceptions.ics")
    handler = CalendarHandler(knowledge=SlotKnowledge())
    moved = local.raw.replace(
        b"DTSTART;TZID=Europe/Berlin:20240325T140000", b"DTSTART;TZID=Europe/Berlin:20240325T150000"
    )
    remote = handler.from_eas(_server_data(handler, Item(moved), "14.1", set(), {}), "14.1")
    assert handler.match_anchor(remote) == handler.match_anchor(local)
    assert not handler.same_held_content(local, remote, "14.1")


# --- tasks ------------------------------------------------------------------------------


def _task_server_data(
    handler: TasksHandler, local: Item, drop: set[str], edit: dict[str, str]
) -> Element:
    data = held.without(handler.to_eas(local, "14.1"), drop, {})
    children = [c for c in data.children if c.tag not in edit]
    children += [E(tag, value=value) for tag, value in edit.items()]
    return E(data.tag, *children)


def test_slots_of_a_task() -> None:
    data = TasksHandler().to_eas(Item(DONE.encode()), "14.1")
    slots = task_slots(data)
    assert {
        T + "Subject",
        T + "Complete",
        T + "DateCompleted",
        T + "DueDate",
        T + "Importance",
    } <= slots
    assert TASK_ALIASES == {T + "Body": "AirSyncBase:Body"}


def test_a_completion_date_the_server_drops_stays_when_the_task_changes_elsewhere() -> None:
    local = Item(DONE.encode(), "local-task")
    handler = TasksHandler(knowledge=SlotKnowledge())
    drop = {T + "DateCompleted"}
    _learnt(handler, local, _task_server_data(handler, local, drop, {}))
    assert b"COMPLETED:" not in handler.project(local, "14.1").raw.replace(b"STATUS:COMPLETED", b"")
    data = _task_server_data(handler, local, drop, {T + "Subject": "Pay rent (May)"})
    merged = handler.merge(handler.from_eas(data, "14.1"), local).raw.decode()
    assert "SUMMARY:Pay rent (May)" in merged
    assert "COMPLETED:20240410T081500Z" in merged
    # reopened elsewhere: the flag the server holds wins, the date goes with it
    data = _task_server_data(handler, local, drop, {T + "Complete": "0"})
    merged = handler.merge(handler.from_eas(data, "14.1"), local).raw.decode()
    assert "STATUS:NEEDS-ACTION" in merged
    assert "COMPLETED:2024" not in merged


def test_a_held_field_deleted_elsewhere_goes_from_the_task() -> None:
    local = Item(DONE.encode(), "local-task")
    handler = TasksHandler(knowledge=SlotKnowledge())
    _learnt(handler, local, _task_server_data(handler, local, set(), {}))
    data = _task_server_data(handler, local, {T + "Importance"}, {})
    merged = handler.merge(handler.from_eas(data, "14.1"), local).raw.decode()
    assert "PRIORITY" not in merged
    assert "COMPLETED:20240410T081500Z" in merged


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from([*TASKS, "<done>"]),
    drop=st.sets(st.sampled_from(TASK_DROPPABLE), max_size=3),
)
def test_a_server_task_with_fewer_fields_is_recognised_and_loses_nothing(
    name: str, drop: set[str]
) -> None:
    local = Item(DONE.encode()) if name == "<done>" else _task(name)
    pusher = TasksHandler(knowledge=SlotKnowledge())
    data = _task_server_data(pusher, local, drop, {})
    fresh = TasksHandler(knowledge=SlotKnowledge())
    remote = fresh.from_eas(data, "14.1")
    assert fresh.match_anchor(remote) == fresh.match_anchor(local)
    assert fresh.same_held_content(local, remote, "14.1")

    _learnt(pusher, local, data)
    remote = pusher.from_eas(data, "14.1")
    assert pusher.same_held_content(local, remote, "14.1")
    uid = "u"
    assert pusher.fingerprint(pusher.with_uid(pusher.project(local, "14.1"), uid)) == (
        pusher.fingerprint(pusher.with_uid(remote, uid))
    )
    assert pusher.fingerprint(pusher.merge(remote, local)) == pusher.fingerprint(local)


def test_a_task_that_differs_in_a_held_field_is_not_the_same() -> None:
    local = Item(DONE.encode(), "local-task")
    handler = TasksHandler(knowledge=SlotKnowledge())
    for edit in ({T + "Subject": "Other"}, {T + "Complete": "0"}, {T + "Importance": "0"}):
        remote = handler.from_eas(_task_server_data(handler, local, set(), edit), "14.1")
        assert not handler.same_held_content(local, remote, "14.1"), edit


# --- issue 13 item 8: DateCompleted is never the epoch ---------------------------------


def _done_without_date(extra: str = "") -> Item:
    return Item(DONE.replace("COMPLETED:20240410T081500Z\r\n", extra).encode(), "local-task")


def test_a_completion_date_is_sent_as_known() -> None:
    data = TasksHandler().to_eas(Item(DONE.encode()), "14.1")
    assert data.text(T + "DateCompleted") == "2024-04-10T08:15:00.000Z"


def test_without_completed_the_last_modification_is_sent() -> None:
    item = _done_without_date("LAST-MODIFIED:20240409T120000Z\r\n")
    data = TasksHandler().to_eas(item, "14.1")
    assert data.text(T + "Complete") == "1"
    assert data.text(T + "DateCompleted") == "2024-04-09T12:00:00.000Z"


def test_without_any_date_now_is_sent_never_the_epoch() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    data = TasksHandler().to_eas(_done_without_date(), "14.1")
    after = datetime.now(UTC)
    sent = data.text(T + "DateCompleted")
    assert sent is not None
    assert not sent.startswith("1970")
    assert before <= datetime.strptime(sent, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) <= after
    # the projection cannot know the instant of a later push: it predicts no date
    projected = TasksHandler().project(_done_without_date(), "14.1").raw.decode()
    assert "STATUS:COMPLETED" in projected
    assert "\r\nCOMPLETED:" not in projected


@settings(max_examples=50, deadline=None)
@given(
    completed=st.none()
    | st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)),
    modified=st.none()
    | st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)),
)
def test_a_completed_task_never_says_1970(
    completed: datetime | None, modified: datetime | None
) -> None:
    extra = ""
    if completed is not None:
        extra += f"COMPLETED:{completed:%Y%m%dT%H%M%S}Z\r\n"
    if modified is not None:
        extra += f"LAST-MODIFIED:{modified:%Y%m%dT%H%M%S}Z\r\n"
    data = TasksHandler().to_eas(_done_without_date(extra), "14.1")
    sent = data.text(T + "DateCompleted")
    assert sent is not None
    assert not sent.startswith("1970")
    best = completed or modified
    if best is not None:
        assert sent == f"{best:%Y-%m-%dT%H:%M:%S}.000Z"


def test_aliases_fold_two_spellings_into_one_slot() -> None:
    assert SLOT_ALIASES["AirSyncBase:Location"] == C + "Location"


def test_differing_uids_veto_a_loose_match_only_where_the_server_keeps_ours() -> None:
    from eassync.convert.contacts import ContactsHandler
    from eassync.sync.loose import LooseMatcher

    def matcher(handler: object) -> LooseMatcher:
        return LooseMatcher(handler, "16.1", None, "c", None, lambda ident: None)  # type: ignore[arg-type]

    events = matcher(CalendarHandler())
    assert events.may_bind("local-uid", "SERVER-UID", None)  # 16.x, Horde: the server's own
    cards = matcher(ContactsHandler())
    assert not cards.may_bind("a", "b", None)
    assert cards.may_bind("a", "b", "bare-hash")  # a UID we derived says nothing
    assert cards.may_bind("a", "a", None)
    assert cards.may_bind(None, "b", None)


@pytest.mark.parametrize("version", ["14.1", "16.1"])
def test_an_organizer_the_server_fills_in_does_not_make_another_event(version: str) -> None:
    """A server may name the mailbox owner organizer of an appointment sent without
    one; a 16.x server sets organizer and meeting fields itself (the client sends
    none without send_invitations)."""
    local = _event("utc-single.ics")
    handler = CalendarHandler(knowledge=SlotKnowledge())
    edit = {C + "OrganizerEmail": "owner@example.org"}
    if version == "16.1":
        edit[C + "MeetingStatus"] = "1"
    data = _server_data(handler, local, version, set(), edit)
    remote = handler.from_eas(data, version)
    assert handler.same_held_content(local, remote, version)
    meeting = Item(MEETING.encode(), "local-meeting")
    edit[C + "OrganizerEmail"] = "someone-else@example.org"
    remote = handler.from_eas(_server_data(handler, meeting, version, set(), edit), version)
    # 14.1 sends the organizer: one that differs is another event; 16.x does not send it
    assert handler.same_held_content(meeting, remote, version) == (version == "16.1")
