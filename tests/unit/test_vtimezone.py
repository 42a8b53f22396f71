"""Compact VTIMEZONEs for IANA zones: one STANDARD and one DAYLIGHT observance with
yearly RRULEs (as Outlook, Thunderbird and Apple write them), not icalendar's ~60
RDATEs "from 1970 to 2038"; earlier years the item needs as RDATEs of their own.

Checked through the VTIMEZONE itself: the component is turned into a zone by
icalendar *without* looking its TZID up (as a reader without the IANA database
must), and local wall times map to the same UTC instants as through zoneinfo."""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eassync.convert import ical
from eassync.convert.calendar import HANDLER
from eassync.convert.vtimezone import compact_vtimezone
from eassync.storage.base import Item
from tests.readers import needs_khal

ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",  # southern: daylight time spans the new year
    "Asia/Tokyo",  # no DST
    "America/Sao_Paulo",  # DST abolished in 2019
]


@cache
def _zone_of(key: str, first_year: int) -> tzinfo:
    """The zone the compact VTIMEZONE describes, built from its observances only."""
    vtz = compact_vtimezone(key, first_year)
    assert vtz is not None
    zone: tzinfo = vtz.to_tz(lookup_tzid=False)
    return zone


def _wall_times_agree(key: str, built: tzinfo, wall: datetime) -> None:
    real = ZoneInfo(key)
    aware = wall.replace(tzinfo=real)
    if aware.astimezone(UTC).astimezone(real).replace(tzinfo=None) != wall:
        return  # a wall time the spring gap skips: no instant to compare
    if wall.replace(fold=1, tzinfo=real).utcoffset() != aware.utcoffset():
        return  # the autumn hour that happens twice: readers pick either
    got = wall.replace(tzinfo=built).astimezone(UTC)
    assert got == aware.astimezone(UTC), (key, wall)


@pytest.mark.parametrize("key", ZONES)
def test_the_vtimezone_is_compact(key: str) -> None:
    vtz = compact_vtimezone(key, 2027)
    assert vtz is not None
    text = vtz.to_ical().decode()
    assert "RDATE" not in text
    assert "only works" not in text
    names = [c.name for c in vtz.subcomponents]
    if key in ("Asia/Tokyo", "America/Sao_Paulo"):
        assert names == ["STANDARD"]
    else:
        assert sorted(names) == ["DAYLIGHT", "STANDARD"]
        assert text.count("RRULE:FREQ=YEARLY") == 2
    assert len(text) < 700


def test_berlins_rule_is_the_last_sunday_of_march_and_october() -> None:
    vtz = compact_vtimezone("Europe/Berlin", 2027)
    assert vtz is not None
    by_name = {c.name: c for c in vtz.subcomponents}
    assert by_name["DAYLIGHT"]["RRULE"].to_ical() == b"FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3"
    assert by_name["STANDARD"]["RRULE"].to_ical() == b"FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10"
    assert by_name["DAYLIGHT"].decoded("TZOFFSETTO") == timedelta(hours=2)
    assert by_name["STANDARD"].decoded("TZOFFSETFROM") == timedelta(hours=2)
    assert str(by_name["STANDARD"]["TZNAME"]) == "CET"


@pytest.mark.parametrize("key", ZONES)
def test_every_hour_of_2027_to_2030_maps_to_the_same_instant(key: str) -> None:
    built = _zone_of(key, 2027)
    wall = datetime(2027, 1, 1)
    while wall < datetime(2031, 1, 1):
        _wall_times_agree(key, built, wall)
        wall += timedelta(hours=1)


@settings(max_examples=200, deadline=None)
@given(
    key=st.sampled_from(ZONES),
    wall=st.datetimes(min_value=datetime(2027, 1, 1), max_value=datetime(2030, 12, 31, 23, 59)),
)
def test_random_wall_times_map_to_the_same_instant(key: str, wall: datetime) -> None:
    _wall_times_agree(key, _zone_of(key, 2027), wall.replace(second=0, microsecond=0))


@pytest.mark.parametrize(
    ("key", "first"),
    [
        ("America/New_York", 2005),
        ("America/Sao_Paulo", 2017),
        ("Europe/Berlin", 1996),  # the rule's own first year: January precedes its switches
        ("Africa/Bissau", 1975),  # a change at the very start of the first year
    ],
)
def test_years_before_the_current_rule_come_as_their_own_transitions(key: str, first: int) -> None:
    """New York's rule dates from 2007, Sao Paulo stopped DST in 2019: an item from
    before keeps its right offsets, and the current rule still holds after
    (the all-zone check, 1975–2035, found Bissau's case)."""
    built = _zone_of(key, first)
    wall = datetime(first, 1, 1)
    while wall < datetime(2031, 1, 1):
        _wall_times_agree(key, built, wall)
        wall += timedelta(hours=5)


def _event(zone: str, start: datetime, tzid: str | None = None) -> bytes:
    cal = ical.new_calendar()
    event = icalendar.Event()
    event.add("uid", "tz-1")
    event.add("summary", "Meeting")
    event.add("dtstart", start.replace(tzinfo=ZoneInfo(zone)))
    event.add("dtend", (start + timedelta(hours=1)).replace(tzinfo=ZoneInfo(zone)))
    cal.add_component(event)
    ical.add_timezones(cal, [ZoneInfo(zone)])
    return ical.serialize(cal)


@pytest.mark.parametrize("key", ZONES)
def test_written_items_carry_the_compact_vtimezone(key: str) -> None:
    raw = _event(key, datetime(2028, 7, 3, 9, 30))
    text = raw.decode()
    assert "RDATE" not in text
    assert "only works" not in text
    assert text.count("BEGIN:VTIMEZONE") == 1
    # read by a program that knows no IANA names: the VTIMEZONE alone gives the instant
    # (a name of its own per zone: icalendar keeps the zones it built by name)
    custom = "X-Only-Here-" + key.replace("/", "-")
    renamed = text.replace(f"TZID:{key}", f"TZID:{custom}").replace(f"TZID={key}", f"TZID={custom}")
    start = icalendar.Calendar.from_ical(renamed).walk("VEVENT")[0].decoded("DTSTART")
    assert start == datetime(2028, 7, 3, 9, 30, tzinfo=ZoneInfo(key))
    assert start.astimezone(UTC) == datetime(2028, 7, 3, 9, 30, tzinfo=ZoneInfo(key)).astimezone(
        UTC
    )


def test_a_converted_event_reads_back_the_same() -> None:
    """Through EAS and back: the same instants, and the compact VTIMEZONE again."""
    berlin = ZoneInfo("Europe/Berlin")
    raw = _event("Europe/Berlin", datetime(2029, 3, 25, 0, 30))  # just before the switch
    back = HANDLER.item(HANDLER.read(HANDLER.to_eas(Item(raw, "tz-1"), "16.1"), "16.1"))
    event = icalendar.Calendar.from_ical(back.raw).walk("VEVENT")[0]
    assert event.decoded("DTSTART") == datetime(2029, 3, 25, 0, 30, tzinfo=berlin)
    assert event.decoded("DTEND") == datetime(2029, 3, 25, 1, 30, tzinfo=berlin)
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
    text = back.raw.decode()
    assert "RDATE" not in text
    assert "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3" in text


@pytest.mark.parametrize(
    "tzid", ["Eastern Standard Time", "x" * 5000, "../../etc/passwd", "a\x00b"]
)
def test_names_that_are_no_iana_zone_get_no_compact_vtimezone(tzid: str) -> None:
    assert compact_vtimezone(tzid, 2027) is None


def test_an_all_day_or_utc_event_gets_no_vtimezone() -> None:
    cal = ical.new_calendar()
    event = icalendar.Event()
    event.add("uid", "a")
    event.add("dtstart", date(2027, 1, 1))
    cal.add_component(event)
    ical.add_timezones(cal, [])
    assert b"VTIMEZONE" not in ical.serialize(cal)


@needs_khal
@pytest.mark.parametrize("key", ZONES)
@pytest.mark.parametrize("renamed", [False, True])
def test_khal_reads_the_written_event(key: str, renamed: bool, tmp_path: Path) -> None:
    """``khal printics`` shows the event at its instant (in UTC), by the zone's name
    and, with the TZID renamed to one khal cannot look up, by the VTIMEZONE alone."""
    start = datetime(2028, 7, 3, 9, 30)
    text = _event(key, start).decode()
    if renamed:
        text = text.replace(f"TZID:{key}", "TZID:X-Ours").replace(f"TZID={key}", "TZID=X-Ours")
    path = tmp_path / "event.ics"
    path.write_text(text, encoding="utf-8")
    config = tmp_path / "khal.conf"
    (tmp_path / "cal").mkdir()
    config.write_text(
        f"[calendars]\n[[c]]\npath = {tmp_path / 'cal'}\n"
        "[locale]\nlocal_timezone = UTC\ndefault_timezone = UTC\n"
        "timeformat = %H:%M\ndateformat = %Y-%m-%d\nlongdateformat = %Y-%m-%d\n"
        "datetimeformat = %Y-%m-%d %H:%M\nlongdatetimeformat = %Y-%m-%d %H:%M\n",
        encoding="utf-8",
    )
    out = subprocess.run(
        ["khal", "-c", str(config), "printics", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    utc = start.replace(tzinfo=ZoneInfo(key)).astimezone(UTC)
    assert utc.strftime("%Y-%m-%d %H:%M") in out.stdout, out.stdout + out.stderr


def test_a_merge_replaces_icalendars_long_form_by_the_compact_one() -> None:
    """Files written before (or by another icalendar-based program) carry the ~60
    RDATEs "from 1970 to 2038": a server change merged into them leaves the compact
    form instead; the times are the same."""
    berlin = ZoneInfo("Europe/Berlin")
    cal = ical.new_calendar()
    event = icalendar.Event()
    event.add("uid", "old-1")
    event.add("summary", "Before")
    event.add("dtstart", datetime(2027, 5, 3, 9, 0, tzinfo=berlin))
    event.add("dtend", datetime(2027, 5, 3, 10, 0, tzinfo=berlin))
    cal.add_component(event)
    cal.add_missing_timezones()
    local = Item(ical.serialize(cal), "old-1")
    assert "only works" in local.raw.decode()
    data = HANDLER.to_eas(local, "16.1")
    subject = data.find("Calendar:Subject")
    assert subject is not None
    subject.value = "After"
    merged = HANDLER.merge(HANDLER.item(HANDLER.read(data, "16.1")), local)
    text = merged.raw.decode()
    assert "SUMMARY:After" in text
    assert "only works" not in text
    assert "RDATE" not in text
    assert text.count("BEGIN:VTIMEZONE") == 1
    merged_event = icalendar.Calendar.from_ical(merged.raw).walk("VEVENT")[0]
    assert merged_event.decoded("DTSTART") == datetime(2027, 5, 3, 9, 0, tzinfo=berlin)


def test_a_merge_keeps_a_vtimezone_someone_else_wrote() -> None:
    raw = _event("Europe/Berlin", datetime(2027, 5, 3, 9, 0)).replace(
        b"TZID:Europe/Berlin", b"TZID:Europe/Berlin\r\nX-LIC-LOCATION:Europe/Berlin"
    )
    local = Item(raw, "tz-1")
    data = HANDLER.to_eas(local, "16.1")
    merged = HANDLER.merge(HANDLER.item(HANDLER.read(data, "16.1")), local)
    assert b"X-LIC-LOCATION:Europe/Berlin" in merged.raw
