"""Hostile input never escapes a converter as anything but that item's ConversionError
(issue 14 item 8), and what a converter writes locally reads back.

- ``from_eas``: random ``ApplicationData`` trees built from the item's code pages, with
  extreme integers, dates at the ends of the calendar, broken TimeZone blobs and
  control characters, around a skeleton of plausible fields so the converter gets deep;
- ``to_eas``: the .ics/.vcf files of tests/data, mutated line by line (values replaced
  by extreme ones, lines dropped or duplicated);
- every item ``from_eas`` produces is a file eassync can read back: parsing it, hashing
  it, projecting it and sending it again raise nothing at all.
"""

from __future__ import annotations

import base64
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eassync.convert.base import ContentHandler, UnforeseenInput
from eassync.convert.calendar import CalendarHandler
from eassync.convert.contacts import ContactsHandler
from eassync.convert.tasks import TasksHandler
from eassync.eas.codepages import tags_of_page
from eassync.eas.element import Element
from eassync.errors import ConversionError
from eassync.model.knowledge import SlotKnowledge
from eassync.storage.base import Item
from eassync.storage.vdir import inspect_text

DATA = Path(__file__).parent.parent / "data"
VERSIONS = ("12.1", "14.1", "16.1")
#: more for a long hunt: EASSYNC_FUZZ_EXAMPLES=5000
EXAMPLES = int(os.environ.get("EASSYNC_FUZZ_EXAMPLES", "100"))
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

HANDLERS: dict[str, Callable[[], ContentHandler]] = {
    "calendar": CalendarHandler,
    "calendar-kiritimati": lambda: CalendarHandler(default_timezone="Pacific/Kiritimati"),
    "tasks": TasksHandler,
    "tasks-samoa": lambda: TasksHandler(default_timezone="Pacific/Pago_Pago"),
    "contacts": lambda: ContactsHandler(SlotKnowledge()),
}
PAGES = {
    "calendar": ("Calendar", "AirSyncBase"),
    "tasks": ("Tasks", "AirSyncBase"),
    "contacts": ("Contacts", "Contacts2", "AirSyncBase"),
}

# --- hostile values -----------------------------------------------------------------------

EXTREME_INTS = [0, 1, -1, 7, 127, 2**15, 2**31 - 1, 2**31, 2**32, 2**32 + 1, 2**63, -(2**31)]
ints = st.one_of(st.sampled_from(EXTREME_INTS), st.integers(), st.integers(-3, 400)).map(str)


def _compact(year: int, rest: str = "0101T000000Z") -> str:
    return f"{year:04d}{rest}"


dates = st.one_of(
    st.sampled_from(
        [
            "00010101T000000Z",
            "00010101T235959Z",
            "99991231T235959Z",
            "99991231T000000Z",
            "9999-12-31T23:59:59.000Z",
            "0001-01-01T00:00:00.000Z",
            "20260101T100000Z",
            "20260329T010000Z",
            "19700101T000000Z",
            "99991231",
            "2026-02-30T00:00:00Z",
            "",
        ]
    ),
    st.datetimes().map(lambda d: d.strftime("%Y%m%dT%H%M%SZ")),
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.000Z")),
)


def _system_time(draw: st.DrawFn) -> bytes:
    values = [draw(st.sampled_from([0, 1, 2, 5, 12, 13, 31, 0xFFFF, 9999])) for _ in range(8)]
    return struct.pack("<8H", *values)


@st.composite
def tz_blobs(draw: st.DrawFn) -> str:
    """Broken TimeZone blobs: random bytes, truncated, padded, nonsense SYSTEMTIMEs,
    biases near the int32 limits, non-base64 text."""
    kind = draw(st.integers(0, 4))
    if kind == 0:
        raw = draw(st.binary(min_size=0, max_size=200))
    elif kind == 1:
        bias = draw(st.sampled_from([0, -60, 60, 840, -720, 2**31 - 1, -(2**31), 100000]))
        name = draw(st.binary(min_size=64, max_size=64))
        std = _system_time(draw)
        std_bias = draw(st.sampled_from([0, -60, 2**31 - 1, -(2**31)]))
        dst = _system_time(draw)
        dst_bias = draw(st.sampled_from([0, -60, 60, 2**31 - 1, -(2**31)]))
        raw = struct.pack("<i", bias) + name + std + struct.pack("<i", std_bias)
        raw += name + dst + struct.pack("<i", dst_bias)
    elif kind == 2:
        return draw(st.text(max_size=40))
    elif kind == 3:
        return base64.b64encode(draw(st.binary(min_size=172, max_size=172))).decode()[:-3]
    else:
        raw = draw(st.binary(min_size=172, max_size=172))
    return base64.b64encode(raw).decode()


texts = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["\x00", "\r\n", "a\x1b]0;x\x07", "\ud7ff", " ", "=?x?=", ";;;", "\\n"]),
)
values: st.SearchStrategy[str | bytes] = st.one_of(
    ints, dates, texts, tz_blobs(), st.binary(max_size=40)
)

# --- trees from the code pages ------------------------------------------------------------


def _tags(kind: str) -> list[str]:
    return [f"{info.page_name}:{info.name}" for page in PAGES[kind] for info in tags_of_page(page)]


@st.composite
def random_tree(draw: st.DrawFn, kind: str, depth: int = 0) -> Element:
    tag = draw(st.sampled_from(_tags(kind)))
    if depth < 2 and draw(st.booleans()):
        children = draw(st.lists(random_tree(kind, depth + 1), max_size=4))
        return Element(tag, children)
    return Element(tag, value=draw(values))


SKELETON: dict[str, dict[str, st.SearchStrategy[str | bytes]]] = {
    "calendar": {
        "Calendar:StartTime": dates,
        "Calendar:EndTime": dates,
        "Calendar:TimeZone": tz_blobs(),
        "Calendar:AllDayEvent": st.sampled_from(["0", "1", "2"]),
        "Calendar:Subject": texts,
        "Calendar:UID": texts,
        "Calendar:Reminder": ints,
        "Calendar:BusyStatus": ints,
        "Calendar:Sensitivity": ints,
        "Calendar:MeetingStatus": ints,
        "Calendar:DtStamp": dates,
        "Calendar:OrganizerEmail": texts,
    },
    "tasks": {
        "Tasks:Subject": texts,
        "Tasks:StartDate": dates,
        "Tasks:UtcStartDate": dates,
        "Tasks:DueDate": dates,
        "Tasks:UtcDueDate": dates,
        "Tasks:DateCompleted": dates,
        "Tasks:Complete": st.sampled_from(["0", "1", "x"]),
        "Tasks:ReminderSet": st.sampled_from(["0", "1"]),
        "Tasks:ReminderTime": dates,
        "Tasks:Importance": ints,
        "Tasks:Sensitivity": ints,
    },
    "contacts": {
        "Contacts:FileAs": texts,
        "Contacts:FirstName": texts,
        "Contacts:LastName": texts,
        "Contacts:Birthday": dates,
        "Contacts:Anniversary": dates,
        "Contacts:Email1Address": texts,
        "Contacts:HomePhoneNumber": texts,
        "Contacts:Picture": st.one_of(texts, tz_blobs()),
        "Contacts:HomeAddressPostalCode": texts,
        "Contacts2:NickName": texts,
    },
}

RECURRENCE = {
    "Type": st.sampled_from(["0", "1", "2", "3", "5", "6", "7", "9"]),
    "Interval": ints,
    "Occurrences": ints,
    "Until": dates,
    "DayOfWeek": ints,
    "DayOfMonth": ints,
    "WeekOfMonth": ints,
    "MonthOfYear": ints,
    "FirstDayOfWeek": ints,
    "CalendarType": ints,
    "IsLeapMonth": ints,
}


@st.composite
def fields(draw: st.DrawFn, spec: dict[str, st.SearchStrategy[str | bytes]]) -> list[Element]:
    out = []
    for tag, strategy in spec.items():
        if draw(st.integers(0, 3)) > 0:
            out.append(Element(tag, value=draw(strategy)))
    return out


@st.composite
def application_data(draw: st.DrawFn, kind: str) -> Element:
    children = draw(fields(SKELETON[kind]))
    page = "Calendar" if kind == "calendar" else "Tasks"
    if kind != "contacts" and draw(st.booleans()):
        spec = {f"{page}:{k}": v for k, v in RECURRENCE.items()}
        children.append(Element(f"{page}:Recurrence", draw(fields(spec))))
    if kind == "calendar" and draw(st.booleans()):
        exceptions = []
        for _ in range(draw(st.integers(1, 3))):
            exc_spec = {
                "Calendar:ExceptionStartTime": dates,
                "Calendar:Deleted": st.sampled_from(["0", "1"]),
                "Calendar:StartTime": dates,
                "Calendar:EndTime": dates,
                "Calendar:AllDayEvent": st.sampled_from(["0", "1"]),
                "Calendar:Reminder": ints,
                "Calendar:Subject": texts,
            }
            exceptions.append(Element("Calendar:Exception", draw(fields(exc_spec))))
        children.append(Element("Calendar:Exceptions", exceptions))
    children += draw(st.lists(random_tree(kind), max_size=5))
    order = draw(st.permutations(range(len(children))))
    return Element("AirSync:ApplicationData", [children[i] for i in order])


def _handler_kind(name: str) -> str:
    return name.split("-")[0]


def _reads_back(handler: ContentHandler, item: Item, version: str) -> None:
    """What eassync writes locally must never be a file it cannot read: every
    operation the engine does on a local file succeeds on it, without even a
    ConversionError."""
    assert item.raw.endswith(b"\r\n") or item.raw.endswith(b"\n")
    # the vdir's own reading (UTF-8, one object, its UID) accepts it as written
    assert inspect_text(item.raw.decode("utf-8")) == item.uid
    handler.fingerprint(item)
    handler.to_eas(item, version)
    projected = handler.project(item, version)
    handler.fingerprint(projected)
    merged = handler.merge(item, None)
    handler.merge(item, merged)
    handler.with_uid(item, "fuzz-uid")


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_from_eas_fails_only_per_item_and_writes_only_readable_files(name: str) -> None:
    handler = HANDLERS[name]()
    kind = _handler_kind(name)

    @SETTINGS
    @given(data=application_data(kind), version=st.sampled_from(VERSIONS))
    def check(data: Element, version: str) -> None:
        try:
            item = handler.from_eas(data, version)
        except UnforeseenInput:
            raise
        except ConversionError:
            return
        _reads_back(handler, item, version)

    check()


# --- mutated local files ------------------------------------------------------------------


def _samples(kind: str) -> list[bytes]:
    folder = {"calendar": "calendar", "tasks": "tasks", "contacts": "contacts"}[kind]
    return [p.read_bytes() for p in sorted((DATA / folder).iterdir())]


HOSTILE_VALUES = [
    "99991231T235959Z",
    "00010101T000000Z",
    "99991231",
    "00010101",
    "-P99999999W",
    "P99999999W",
    "-PT4294967296M",
    "P999999999D",
    str(2**31),
    str(2**32),
    str(2**63),
    "-1",
    "0",
    "FREQ=DAILY;INTERVAL=2147483648",
    "FREQ=DAILY;COUNT=4294967296",
    "FREQ=YEARLY;BYMONTH=13;BYMONTHDAY=32",
    "FREQ=WEEKLY;UNTIL=99991231T235959Z",
    "FREQ=MONTHLY;BYSETPOS=-2147483648;BYDAY=MO",
    "\x00",
    "",
    "TZID=Nowhere/Never",
    "a\x1b]0;x\x07",
]


@st.composite
def mutated(draw: st.DrawFn, kind: str) -> bytes:
    raw = draw(st.sampled_from(_samples(kind)))
    lines = raw.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.integers(0, 5))
        name, sep, _value = lines[i].partition(":")
        if action <= 2 and sep:
            lines[i] = f"{name}:{draw(st.sampled_from(HOSTILE_VALUES))}"
        elif action == 3:
            del lines[i]
        elif action == 4:
            lines.insert(i, lines[i])
        else:
            extra = draw(
                st.sampled_from(
                    [
                        "TRIGGER:-P99999999W",
                        "TRIGGER;RELATED=END:P99999999W",
                        "TRIGGER;VALUE=DATE-TIME:00010101T000000Z",
                        "RRULE:FREQ=DAILY;INTERVAL=4294967296",
                        "RRULE:FREQ=DAILY;COUNT=2147483648",
                        "DUE:99991231T235959Z",
                        "DTSTART:00010101T000000Z",
                        "DTEND:99991231T235959Z",
                        "EXDATE:99991231T235959Z",
                        "BDAY:99991231",
                        "BDAY:--0229",
                        "PRIORITY:4294967296",
                        "PERCENT-COMPLETE:2147483648",
                    ]
                )
            )
            lines.insert(i, extra)
    return "\r\n".join(lines).encode()


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_to_eas_of_mutated_files_fails_only_per_item(name: str) -> None:
    handler = HANDLERS[name]()
    kind = _handler_kind(name)

    @SETTINGS
    @given(raw=mutated(kind), version=st.sampled_from(VERSIONS))
    def check(raw: bytes, version: str) -> None:
        item = Item(raw, None)
        operations: list[Callable[[], Any]] = [
            lambda: handler.fingerprint(item),
            lambda: handler.project(item, version),
            lambda: handler.merge(item, None),
            lambda: handler.with_uid(item, "x"),
        ]
        try:
            data = handler.to_eas(item, version)
        except UnforeseenInput:
            raise
        except ConversionError:
            data = None
        for operation in operations:
            try:
                operation()
            except UnforeseenInput:
                raise
            except ConversionError:
                pass
        if data is not None:
            # what we would send, read back as the server would return it
            try:
                back = handler.from_eas(data, version)
            except UnforeseenInput:
                raise
            except ConversionError:
                return
            _reads_back(handler, back, version)

    check()


# --- the chosen behaviour at the extremes (issue 14 item 8 b) -----------------------------

C = "Calendar:"


def _event(*extra: Element) -> Element:
    return Element(
        "AirSync:ApplicationData",
        [
            Element(C + "StartTime", value="20260105T100000Z"),
            Element(C + "EndTime", value="20260105T110000Z"),
            Element(C + "Subject", value="x"),
            *extra,
        ],
    )


def _rule(**fields: str) -> Element:
    return Element(C + "Recurrence", [Element(C + k, value=v) for k, v in fields.items()])


@pytest.mark.parametrize(
    ("field", "rule"),
    [
        ("Interval", _rule(Type="0", Interval=str(2**31))),
        ("Occurrences", _rule(Type="0", Occurrences=str(2**31))),
        ("Occurrences", _rule(Type="0", Occurrences="1000")),
        ("DayOfWeek", _rule(Type="3", DayOfWeek="32768")),
        ("MonthOfYear", _rule(Type="5", MonthOfYear="13")),
    ],
)
def test_a_recurrence_field_outside_its_range_refuses_the_item_naming_it(
    field: str, rule: Element
) -> None:
    """Refused, not clamped: a clamped Interval or Occurrences moves occurrences, and a
    dropped rule would be lost on the server at the next local edit."""
    with pytest.raises(ConversionError, match=field) as caught:
        CalendarHandler().from_eas(_event(rule), "14.1")
    assert not isinstance(caught.value, UnforeseenInput)


def test_a_huge_reminder_is_clamped_to_the_earliest_a_calendar_can_place() -> None:
    handler = CalendarHandler()
    item = handler.from_eas(_event(Element(C + "Reminder", value=str(2**32))), "14.1")
    minutes = handler.to_eas(item, "14.1").int(C + "Reminder")
    assert minutes is not None
    # 2026-01-05 10:00Z back to 0002-01-01: about 2024 years
    assert 2023 * 365 * 24 * 60 < minutes < 2025 * 366 * 24 * 60
    _reads_back(handler, item, "14.1")


@pytest.mark.parametrize("trigger", ["-P99999999W", "-PT4294967296M"])
def test_a_huge_local_alarm_is_sent_clamped(trigger: str) -> None:
    raw = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:a\r\n"
        "DTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\nBEGIN:VALARM\r\n"
        f"ACTION:DISPLAY\r\nTRIGGER:{trigger}\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()
    minutes = CalendarHandler().to_eas(Item(raw, "a"), "14.1").int(C + "Reminder")
    assert minutes is not None
    assert 2023 * 365 * 24 * 60 < minutes <= 2**31 - 1


def test_a_task_alarm_before_year_one_is_not_sent_and_the_task_is() -> None:
    raw = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTODO\r\nUID:t\r\n"
        b"SUMMARY:T\r\nDTSTART;VALUE=DATE:20260105\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\n"
        b"TRIGGER:-P99999999W\r\nEND:VALARM\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    )
    data = TasksHandler().to_eas(Item(raw, "t"), "14.1")
    assert data.text("Tasks:Subject") == "T"
    assert data.text("Tasks:ReminderTime") is None


@pytest.mark.parametrize("when", ["00010101T000000Z", "99991231T235959Z", "99981231T000000Z"])
def test_a_start_at_the_ends_of_the_calendar_is_refused_clearly(when: str) -> None:
    data = _event()
    data.children[0] = Element(C + "StartTime", value=when)
    with pytest.raises(ConversionError, match="StartTime") as caught:
        CalendarHandler().from_eas(data, "14.1")
    assert not isinstance(caught.value, UnforeseenInput)


def test_control_characters_in_addresses_are_dropped() -> None:
    handler = CalendarHandler()
    item = handler.from_eas(_event(Element(C + "OrganizerEmail", value="a\r\n@b.example")), "14.1")
    assert b"mailto:a@b.example" in item.raw
    _reads_back(handler, item, "14.1")


def test_a_time_zone_blob_with_an_impossible_weekday_still_gives_a_readable_file() -> None:
    # from the fuzz run: DaylightDate with wDayOfWeek 12 crashed the VTIMEZONE writer
    blob = (
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAEAAQABAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAABAAEADAABAAAAAAAAAAAAxP///w=="
    )
    handler = CalendarHandler()
    data = _event(Element(C + "TimeZone", value=blob))
    _reads_back(handler, handler.from_eas(data, "14.1"), "14.1")


def test_an_unforeseen_error_in_a_handler_is_that_items_conversion_error() -> None:
    """The guard: whatever a converter raises becomes the item's ConversionError (the
    callers report and skip those); eassync's own errors pass as they are."""
    from eassync.convert.base import item_failures
    from eassync.errors import EassyncError

    @item_failures
    class Handler:
        def from_eas(self, data: Element, version: str) -> Item:
            raise OverflowError("date value out of range")

        def fingerprint(self, item: Item) -> str:
            raise EassyncError("not mine to change")

    with pytest.raises(ConversionError, match="OverflowError: date value out of range"):
        Handler().from_eas(_event(), "14.1")
    with pytest.raises(EassyncError, match="not mine") as caught:
        Handler().fingerprint(Item(b""))
    assert not isinstance(caught.value, ConversionError)
