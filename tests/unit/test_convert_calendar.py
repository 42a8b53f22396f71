"""Calendar conversion: fixture round trips, recurrence by expansion, server quirks."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
import recurring_ical_events
from hypothesis import given, settings
from hypothesis import strategies as st

from eassync.convert import ical
from eassync.convert.calendar import HANDLER, CalendarHandler
from eassync.convert.timezone import ZERO, encode_blob, info_from_zone
from eassync.eas.element import E, Element
from eassync.storage.base import Item

DATA = Path(__file__).parent.parent / "data" / "calendar"
FIXTURES = sorted(p.name for p in DATA.glob("*.ics"))
VERSIONS = ("12.1", "14.0", "14.1", "16.0", "16.1")
C = "Calendar:"


def load(name: str) -> Item:
    return Item((DATA / name).read_bytes(), None)


def occurrences(item: Item) -> set[tuple[object, object, str]]:
    """(start, end, summary) of every occurrence over two years, as UTC instants or dates."""
    cal = icalendar.Calendar.from_ical(item.raw)
    master = next(c for c in cal.walk("VEVENT"))
    first = master.decoded("DTSTART")
    begin = first if isinstance(first, datetime) else datetime.combine(first, datetime.min.time())
    begin = begin.replace(tzinfo=None) - timedelta(days=2)
    out: set[tuple[object, object, str]] = set()
    for comp in recurring_ical_events.of(cal).between(begin, begin + timedelta(days=731)):
        start, end = comp.decoded("DTSTART"), comp.decoded("DTEND")
        if isinstance(start, datetime):
            zone = start.tzinfo or UTC  # floating: the handler's default zone is UTC
            start = start.replace(tzinfo=zone).astimezone(UTC)
            end = end.replace(tzinfo=end.tzinfo or zone).astimezone(UTC)
        out.add((start, end, str(comp.get("SUMMARY", ""))))
    return out


def wire(item: Item, version: str, handler: CalendarHandler = HANDLER) -> Item:
    return handler.from_eas(handler.to_eas(item, version), version)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", FIXTURES)
def test_local_round_trip_through_eas_and_merge_gives_the_local_item(name: str, version: str):
    local = load(name)
    merged = HANDLER.merge(wire(local, version), local)
    assert HANDLER.fingerprint(merged) == HANDLER.fingerprint(local)


@pytest.mark.parametrize("name", [n for n in FIXTURES if n != "unsupported-rule.ics"])
@pytest.mark.parametrize("version", ["14.1", "16.1"])
def test_occurrences_survive_the_server_copy(name: str, version: str):
    local = load(name)
    assert occurrences(wire(local, version)) == occurrences(local)


def test_an_unexpressible_rule_stays_local_and_the_server_gets_one_occurrence():
    local = load("unsupported-rule.ics")
    data = HANDLER.to_eas(local, "14.1")
    assert data.find(C + "Recurrence") is None
    merged = HANDLER.merge(wire(local, "14.1"), local)
    assert occurrences(merged) == occurrences(local)
    text = merged.raw.decode()
    assert "COLOR:teal" in text
    assert "RDATE" in text
    assert "TRIGGER:PT5M" in text


def test_server_change_replaces_only_the_changed_group():
    local = load("weekly-berlin-exceptions.ics")
    data = HANDLER.to_eas(local, "14.1")
    subject = data.find(C + "Subject")
    assert subject is not None
    subject.value = "Renamed on the server"
    merged = HANDLER.merge(HANDLER.from_eas(data, "14.1"), local).raw.decode()
    assert "SUMMARY:Renamed on the server" in merged
    assert "COLOR:red" in merged
    assert "TRIGGER:-PT1H" in merged
    assert "DESCRIPTION:x" in merged  # first alarm unchanged: kept byte for byte


def test_server_reminder_change_replaces_the_first_alarm_only():
    local = load("weekly-berlin-exceptions.ics")
    data = HANDLER.to_eas(local, "14.1")
    reminder = data.find(C + "Reminder")
    assert reminder is not None
    reminder.value = "30"
    merged = HANDLER.merge(HANDLER.from_eas(data, "14.1"), local)
    cal = icalendar.Calendar.from_ical(merged.raw)
    master = next(c for c in cal.walk("VEVENT") if "RECURRENCE-ID" not in c)
    triggers = [a.decoded("TRIGGER") for a in master.walk("VALARM")]
    assert triggers == [timedelta(minutes=-30), timedelta(hours=-1)]


def test_merge_keeps_the_local_uid():
    local = load("utc-single.ics")
    data = HANDLER.to_eas(local, "16.1")
    assert data.find(C + "UID") is None
    assert data.text(C + "ClientUid") == "utc-single"
    data.add(C + "UID", "040000008200E00074C5B7101A82E008-server")
    remote = HANDLER.from_eas(data, "16.1")
    assert remote.uid == "040000008200E00074C5B7101A82E008-server"
    merged = HANDLER.merge(remote, local)
    assert merged.uid == "utc-single"
    assert "UID:utc-single" in merged.raw.decode()


@pytest.mark.parametrize("version", ["12.1", "14.1"])
def test_uid_is_sent_up_to_14_1(version: str):
    assert HANDLER.to_eas(load("utc-single.ics"), version).text(C + "UID") == "utc-single"


def test_version_matrix_of_elements():
    item = load("meeting-cancelled.ics")
    old = HANDLER.to_eas(item, "12.1")
    v14 = HANDLER.to_eas(item, "14.1")
    v16 = HANDLER.to_eas(item, "16.1")
    assert old.find(C + "ResponseRequested") is None
    assert v14.text(C + "ResponseRequested") == "1"
    assert v14.text(C + "OrganizerEmail") == "ada@example.org"
    assert v14.text(C + "DtStamp") == "20240101T000000Z"
    assert v14.find(C + "Attendees") is not None
    assert v14.text(C + "MeetingStatus") == "5"
    for tag in ("OrganizerEmail", "OrganizerName", "DtStamp", "UID", "Location"):
        assert v16.find(C + tag) is None, tag
    # send_invitations off: nothing that makes a 16.x server mail the attendees
    assert v16.find(C + "Attendees") is None
    assert v16.find(C + "MeetingStatus") is None
    inviting = CalendarHandler(send_invitations=True).to_eas(item, "16.1")
    attendees = inviting.findall(f"{C}Attendees/{C}Attendee")
    assert len(attendees) == 3
    assert all(a.find(C + "AttendeeStatus") is None for a in attendees)  # MS-ASCAL 2.2.2.5


def test_location_element_by_version():
    item = load("yearly-kolkata.ics")
    assert HANDLER.to_eas(item, "14.1").text(C + "Location") == "Mumbai"
    v16 = HANDLER.to_eas(item, "16.0")
    assert v16.text("AirSyncBase:Location/AirSyncBase:DisplayName") == "Mumbai"
    empty = HANDLER.to_eas(load("utc-single.ics"), "16.0").find("AirSyncBase:Location")
    assert empty is not None
    assert not empty.children


def test_all_day_wire_forms():
    item = load("allday-multiday.ics")
    v14 = HANDLER.to_eas(item, "14.1")
    assert (v14.text(C + "StartTime"), v14.text(C + "EndTime")) == (
        "20241230T000000Z",
        "20250103T000000Z",
    )
    berlin = CalendarHandler(default_timezone="Europe/Berlin")
    local_midnights = berlin.to_eas(item, "14.1")
    assert local_midnights.text(C + "StartTime") == "20241229T230000Z"
    v16 = berlin.to_eas(item, "16.1")
    assert v16.find(C + "TimeZone") is None
    assert v16.text(C + "StartTime") == "20241230T000000Z"
    back = berlin.from_eas(local_midnights, "14.1")
    assert "DTSTART;VALUE=DATE:20241230" in back.raw.decode()


def _server_item(**fields: str) -> Element:
    data = E("AirSync:ApplicationData")
    for tag, value in fields.items():
        data.add(C + tag, value)
    return data


def _dates(item: Item) -> tuple[object, object]:
    event = icalendar.Calendar.from_ical(item.raw).walk("VEVENT")[0]
    return event.decoded("DTSTART"), event.decoded("DTEND")


def test_zpush_all_day_with_all_zero_timezone():
    data = _server_item(
        TimeZone=encode_blob(ZERO),
        AllDayEvent="1",
        StartTime="20261006T000000Z",
        EndTime="20261007T000000Z",
        Subject="Z-Push all day",
    )
    for handler in (HANDLER, CalendarHandler(default_timezone="America/New_York")):
        item = handler.from_eas(data, "14.1")
        assert _dates(item) == (date(2026, 10, 6), date(2026, 10, 7))
        again = handler.from_eas(handler.to_eas(item, "14.1"), "14.1")
        assert _dates(again) == _dates(item)


def test_exchange_all_day_at_2200z_without_timezone():
    data = _server_item(
        AllDayEvent="1", StartTime="20261006T220000Z", EndTime="20261007T220000Z", Subject="x"
    )
    for handler in (HANDLER, CalendarHandler(default_timezone="Europe/Berlin")):
        assert _dates(handler.from_eas(data, "14.1")) == (date(2026, 10, 7), date(2026, 10, 8))


def test_sogo_garbage_blob_reads_as_utc():
    raw = bytearray(base64.b64decode(encode_blob(ZERO)))
    raw[68:84] = bytes([0x70, 0xEA, 0x13, 0x00, 0xFF, 0x7F, 0x01, 0x02] * 2)  # StandardDate
    data = _server_item(
        TimeZone=base64.b64encode(bytes(raw)).decode(),
        AllDayEvent="0",
        StartTime="20240610T120000Z",
        EndTime="20240610T130000Z",
        Subject="SOGo",
    )
    start, _ = _dates(HANDLER.from_eas(data, "14.1"))
    assert start == datetime(2024, 6, 10, 12, tzinfo=start.tzinfo)
    assert start.utcoffset() == timedelta(0)


@pytest.mark.parametrize("blob", ["not base64!", "AAAA", ""])
def test_broken_blobs_never_crash_and_keep_the_instant(blob: str):
    data = _server_item(
        TimeZone=blob, StartTime="20240610T120000Z", EndTime="20240610T130000Z", Subject="x"
    )
    start, _ = _dates(CalendarHandler(default_timezone="Europe/Berlin").from_eas(data, "14.1"))
    assert start.astimezone(UTC) == datetime(2024, 6, 10, 12, tzinfo=UTC)


def test_blob_zone_is_used_for_display():
    blob = encode_blob(info_from_zone(__import__("zoneinfo").ZoneInfo("Australia/Sydney"), 2024))
    data = _server_item(
        TimeZone=blob, StartTime="20240610T000000Z", EndTime="20240610T010000Z", Subject="x"
    )
    text = HANDLER.from_eas(data, "14.1").raw.decode()
    assert "DTSTART;TZID=Australia/Sydney:20240610T100000" in text


def _eas_fixture(version: str) -> Element:
    """An Exchange-style recurring meeting with a moved and a deleted occurrence."""
    key = "AirSyncBase:InstanceId" if version.startswith("16") else C + "ExceptionStartTime"
    ny = encode_blob(info_from_zone(__import__("zoneinfo").ZoneInfo("America/New_York"), 2024))
    data = _server_item(
        TimeZone=ny,
        AllDayEvent="0",
        BusyStatus="2",
        EndTime="20240102T150000Z",
        Sensitivity="0",
        Subject="Weekly sync",
        StartTime="20240102T140000Z",
        UID="exchange-uid-1",
        MeetingStatus="3",
    )
    data.append(
        E(
            "AirSyncBase:Body",
            E("AirSyncBase:Type", value="1"),
            E("AirSyncBase:Data", value="Agenda\r\nItems"),
        )
    )
    data.append(
        E(
            C + "Attendees",
            E(
                C + "Attendee",
                E(C + "Email", value="me@example.org"),
                E(C + "Name", value="Me"),
                E(C + "AttendeeType", value="1"),
            ),
        )
    )
    data.append(
        E(
            C + "Recurrence",
            E(C + "Type", value="1"),
            E(C + "Interval", value="1"),
            E(C + "DayOfWeek", value="4"),
            E(C + "Until", value="20240430T140000Z"),
        )
    )
    data.append(
        E(
            C + "Exceptions",
            E(C + "Exception", E(C + "Deleted", value="1"), E(key, value="20240116T140000Z")),
            E(
                C + "Exception",
                E(key, value="20240123T140000Z"),
                E(C + "StartTime", value="20240124T160000Z"),
                E(C + "EndTime", value="20240124T170000Z"),
                E(C + "Subject", value="Weekly sync (moved)"),
            ),
        )
    )
    data.append(E(C + "Reminder", value="10"))
    return data


@pytest.mark.parametrize("version", ["14.1", "16.1"])
def test_eas_round_trip_keeps_exceptions(version: str):
    handler = CalendarHandler(send_invitations=True)
    first = handler.from_eas(_eas_fixture(version), version)
    again = handler.from_eas(handler.to_eas(first, version), version)
    assert handler.fingerprint(again) == handler.fingerprint(first)
    found = occurrences(first)
    starts = {s for s, _e, _t in found}
    assert datetime(2024, 1, 16, 14, tzinfo=UTC) not in starts  # deleted
    assert (
        datetime(2024, 1, 24, 16, tzinfo=UTC),
        datetime(2024, 1, 24, 17, tzinfo=UTC),
        "Weekly sync (moved)",
    ) in found
    assert datetime(2024, 4, 30, 13, tzinfo=UTC) in starts  # DST: 09:00 New York
    assert occurrences(again) == found


def test_16x_instance_ops_describe_per_occurrence_commands():
    local = load("weekly-berlin-exceptions.ics")
    cal = icalendar.Calendar.from_ical(local.raw)
    master = next(c for c in cal.walk("VEVENT") if "RECURRENCE-ID" not in c)
    master.add("exdate", datetime(2024, 4, 1, 8, tzinfo=UTC))
    changed = Item(cal.to_ical(), local.uid)
    ops = HANDLER.instance_ops(local, changed)
    assert [(op.kind, op.instance_id) for op in ops] == [("delete", "20240401T080000Z")]


def test_attachments_arrive_as_x_properties_and_are_never_sent():
    data = _eas_fixture("14.1")
    data.append(
        E(
            "AirSyncBase:Attachments",
            E(
                "AirSyncBase:Attachment",
                E("AirSyncBase:DisplayName", value="agenda.pdf"),
                E("AirSyncBase:FileReference", value="RgAAAA%3d%3d"),
                E("AirSyncBase:Method", value="1"),
                E("AirSyncBase:EstimatedDataSize", value="1234"),
            ),
        )
    )
    item = HANDLER.from_eas(data, "14.1")
    text = item.raw.decode().replace("\r\n ", "")  # unfold
    assert "X-EAS-ATTACHMENT;" in text
    assert "RgAAAA%3d%3d" in text
    assert "agenda.pdf" in text
    assert HANDLER.to_eas(item, "14.1").find("AirSyncBase:Attachments") is None
    assert HANDLER.fingerprint(HANDLER.project(item, "14.1")) == HANDLER.fingerprint(item)


def test_fingerprint_ignores_volatile_properties():
    local = load("utc-single.ics")
    touched = Item(
        local.raw.replace(b"DTSTAMP:20240101T000000Z", b"DTSTAMP:20250101T000000Z"), None
    )
    assert HANDLER.fingerprint(touched) == HANDLER.fingerprint(local)
    changed = Item(local.raw.replace(b"UTC call", b"UTC talk"), None)
    assert HANDLER.fingerprint(changed) != HANDLER.fingerprint(local)


def test_with_uid_and_describe():
    item = HANDLER.with_uid(load("utc-single.ics"), "new-uid")
    assert item.uid == "new-uid"
    assert "UID:new-uid" in item.raw.decode()
    assert HANDLER.describe(item).startswith("UTC call")
    assert ical.parse(item) is not None


@pytest.mark.parametrize("version", VERSIONS)
def test_all_day_until_keeps_the_last_day_for_a_device_in_another_zone(version: str):
    # found end to end: a 16.x Until written as Auckland's local midnight (the day
    # before in UTC) lost the last occurrence on a device west of UTC
    item = load("allday-weekly-until.ics")
    east = CalendarHandler(default_timezone="Pacific/Auckland")
    west = CalendarHandler(default_timezone="America/Los_Angeles")
    back = west.from_eas(east.to_eas(item, version), version)
    assert occurrences(back) == occurrences(item)


_SERIES_WITH_EXCEPTIONS = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//t//EN\r
BEGIN:VEVENT\r
UID:series\r
DTSTAMP:20260101T000000Z\r
DTSTART;TZID={zone}:20270104T{hour:02d}0000\r
DTEND;TZID={zone}:20270104T{hour:02d}3000\r
SUMMARY:Team\r
RRULE:FREQ={freq};COUNT=12\r
EXDATE;TZID={zone}:{deleted}T{hour:02d}0000\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:series\r
DTSTAMP:20260101T000000Z\r
RECURRENCE-ID;TZID={zone}:{moved}T{hour:02d}0000\r
DTSTART;TZID={zone}:{moved}T{later:02d}0000\r
DTEND;TZID={zone}:{moved}T{later:02d}3000\r
SUMMARY:Team (moved)\r
END:VEVENT\r
END:VCALENDAR\r
"""


def _shift_exception_keys(data: Element, minutes: int, version: str) -> None:
    """What Horde 5.2 does to a modified occurrence's key: moved off the occurrence."""
    tag = "AirSyncBase:InstanceId" if version.startswith("16") else C + "ExceptionStartTime"
    for exc in data.findall(C + "Exceptions/" + C + "Exception"):
        if exc.int(C + "Deleted") == 1:
            continue
        for i, child in enumerate(exc.children):
            if child.tag == tag:
                when = datetime.strptime(str(child.value), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
                shifted = (when + timedelta(minutes=minutes)).strftime("%Y%m%dT%H%M%SZ")
                exc.children[i] = E(tag, value=shifted)


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"]),
    freq=st.sampled_from(["DAILY", "WEEKLY"]),
    hour=st.integers(0, 20),
    minutes=st.integers(-11 * 60, 11 * 60).filter(lambda m: m != 0),
    version=st.sampled_from(["14.1", "16.0"]),
)
def test_an_exception_keyed_off_its_occurrence_is_read_as_that_occurrence(
    zone: str, freq: str, hour: int, minutes: int, version: str
):
    # Horde 5.2 labels a moved occurrence's local start as UTC (10:00Z for a 09:00Z
    # occurrence in Berlin): read as it is, the override names no occurrence and the
    # original stays, so a second device shows the occurrence twice.
    step = timedelta(days=1 if freq == "DAILY" else 7)
    first = date(2027, 1, 4)
    deleted, moved = (first + 2 * step).strftime("%Y%m%d"), (first + 3 * step).strftime("%Y%m%d")
    text = _SERIES_WITH_EXCEPTIONS.format(
        zone=zone, freq=freq, hour=hour, later=hour + 3, deleted=deleted, moved=moved
    )
    local = Item(text.encode(), None)
    data = HANDLER.to_eas(local, version)
    _shift_exception_keys(data, minutes, version)
    got = HANDLER.from_eas(data, version)
    assert occurrences(got) == occurrences(local)


def test_an_exception_on_an_occurrence_is_never_moved():
    local = Item(
        _SERIES_WITH_EXCEPTIONS.format(
            zone="Europe/Berlin",
            freq="DAILY",
            hour=9,
            later=12,
            deleted="20270106",
            moved="20270107",
        ).encode(),
        None,
    )
    data = HANDLER.to_eas(local, "14.1")
    # an exception one day off (on another occurrence) is what the server said
    _shift_exception_keys(data, 24 * 60, "14.1")
    got = icalendar.Calendar.from_ical(HANDLER.from_eas(data, "14.1").raw)
    (override,) = [c for c in got.walk("VEVENT") if "RECURRENCE-ID" in c]
    assert override.decoded("RECURRENCE-ID") == datetime(2027, 1, 8, 8, tzinfo=UTC)
