"""A server that stores the moved occurrences of an added series as events of their
own (Horde 5.2, issue 15; the devserver's ``split_exceptions``) is recognised from its
copy of the series; one that keeps them as exceptions, or keeps no exceptions at all
(SOGo), is not."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eassync.convert.calendar import CalendarHandler
from eassync.devserver import itemdata
from eassync.eas.element import Element
from eassync.storage.base import Item

SERIES = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:series@example.org\r
DTSTAMP:20260101T000000Z\r
DTSTART;TZID=Europe/Berlin:20270104T100000\r
DTEND;TZID=Europe/Berlin:20270104T110000\r
SUMMARY:Team meeting\r
RRULE:FREQ=WEEKLY;COUNT=8;BYDAY=MO\r
EXDATE;TZID=Europe/Berlin:20270118T100000\r
END:VEVENT\r
{override}END:VCALENDAR\r
"""
OVERRIDE = """BEGIN:VEVENT\r
UID:series@example.org\r
DTSTAMP:20260101T000000Z\r
RECURRENCE-ID;TZID=Europe/Berlin:20270125T100000\r
DTSTART;TZID=Europe/Berlin:20270125T150000\r
DTEND;TZID=Europe/Berlin:20270125T160000\r
SUMMARY:Team meeting (moved)\r
END:VEVENT\r
"""
VERSIONS = ["14.1", "16.1"]


def _item(override: str = OVERRIDE) -> Item:
    return Item(SERIES.format(override=override).encode(), "series@example.org")


def _without(data: Element, tag: str) -> Element:
    return Element(data.tag, [c for c in data.children if c.tag != tag])


def test_only_a_series_with_moved_occurrences_is_read_back() -> None:
    handler = CalendarHandler()
    assert handler.read_back_added(_item())
    assert not handler.read_back_added(_item(override=""))


@pytest.mark.parametrize("version", VERSIONS)
def test_a_moved_occurrence_stored_as_an_event_of_its_own_is_recognised(version: str) -> None:
    handler = CalendarHandler()
    sent = _item()
    series, one_offs = itemdata.split_exceptions(handler.to_eas(sent, version))
    (one_off,) = one_offs
    alone = handler.extract(handler.from_eas(one_off, version))
    assert alone.recurrence is None
    assert alone.subject == "Team meeting (moved)"
    assert (alone.start, alone.end) == (
        datetime(2027, 1, 25, 14, tzinfo=UTC),
        datetime(2027, 1, 25, 15, tzinfo=UTC),
    )
    stored = handler.from_eas(series, version)
    assert handler.stored_apart(sent, stored) == [
        "Team meeting (moved) (2027-01-25T15:00:00+01:00)"
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_server_that_keeps_the_exception_or_none_at_all_is_left_alone(version: str) -> None:
    handler = CalendarHandler()
    sent = _item()
    data = handler.to_eas(sent, version)
    assert handler.stored_apart(sent, handler.from_eas(data, version)) == []
    # SOGo 5.8 keeps no exceptions: no override and no deleted date come back
    sogo = _without(data, "Calendar:Exceptions")
    assert handler.stored_apart(sent, handler.from_eas(sogo, version)) == []
    # a server that does not keep the series' rule either
    single = _without(sogo, "Calendar:Recurrence")
    assert handler.stored_apart(sent, handler.from_eas(single, version)) == []
