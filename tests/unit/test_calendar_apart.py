"""A server that applies a 16.x occurrence Change (InstanceId) to the whole series
(Horde 5.2 at 16.0, issue 15): the damage is recognised from the series read back,
and the apart form (the occurrence deleted from the series, added as an event of its
own) is planned from the local item. The folder remembers the habit (SlotKnowledge)."""

from __future__ import annotations

from datetime import UTC, datetime

import icalendar

from eassync.convert.calendar import CalendarHandler
from eassync.devserver import itemdata
from eassync.eas.element import Element
from eassync.model.knowledge import INSTANCE_CHANGE_MOVES_SERIES, SlotKnowledge
from eassync.storage.base import Item
from tests.unit.test_calendar_stored_apart import SERIES, _item

V = "16.0"


def _server_copy(handler: CalendarHandler) -> Element:
    """The series as a 16.x server holds it before the move (no override yet)."""
    return handler.to_eas(_item(override=""), V)


def _damaged(series: Element, occurrence: Element) -> Element:
    """What Horde makes of the series: the occurrence's fields applied to it."""
    return itemdata.merge_change(series, occurrence, None, all_ghosted=True)


def test_a_series_that_took_the_occurrence_times_is_recognised() -> None:
    handler = CalendarHandler()
    server = _server_copy(handler)
    plan = handler.instance_plan(server, _item(), V)
    assert plan is not None
    (change,) = [op for op in plan.ops if op.kind == "change"]
    assert change.data is not None
    damaged = _damaged(server, change.data)
    assert damaged.text("Calendar:StartTime") == "20270125T140000Z"
    assert handler.series_took_occurrence(plan.series, damaged, plan.ops)
    assert not handler.series_restored(plan.series, damaged)
    # a server that kept the occurrence apart from the series: nothing to repair
    kept = itemdata.put_exception(server, change.instance_id, change.data)
    assert not handler.series_took_occurrence(plan.series, kept, plan.ops)
    assert handler.series_restored(plan.series, kept)


def test_a_series_that_took_only_the_occurrence_subject_is_recognised() -> None:
    handler = CalendarHandler()
    server = _server_copy(handler)
    plan = handler.instance_plan(server, _item(), V)
    assert plan is not None
    renamed = Element(
        server.tag,
        [c for c in server.children if c.tag != "Calendar:Subject"]
        + [Element("Calendar:Subject", value="Team meeting (moved)")],
    )
    assert handler.series_took_occurrence(plan.series, renamed, plan.ops)


def test_the_apart_form_deletes_the_occurrence_and_adds_it_as_its_own_event() -> None:
    handler = CalendarHandler()
    server = _server_copy(handler)
    plan = handler.apart_plan(server, _item(), V)
    assert plan is not None
    assert plan.series.find("Calendar:Exceptions") is None
    # every deleted date again (Horde drops them on a series Change), and the moved
    # occurrence's original start
    assert plan.deletes == ["20270118T090000Z", "20270125T090000Z"]
    ((one_off, data),) = plan.one_offs
    text = one_off.raw.decode()
    assert "RECURRENCE-ID" not in text
    # not a series (the VTIMEZONE has rules of its own)
    assert all("RRULE" not in event for event in icalendar.Calendar.from_ical(text).walk("VEVENT"))
    assert "SUMMARY:Team meeting (moved)" in text
    assert one_off.uid
    assert one_off.uid != "series@example.org"
    assert data.text("Calendar:StartTime") == "20270125T140000Z"
    assert data.find("Calendar:Recurrence") is None
    # the series in the server's shape: the moved date deleted, no override
    shaped = handler.extract(plan.shaped)
    assert not shaped.overrides
    assert datetime(2027, 1, 25, 9, tzinfo=UTC) in shaped.exdates
    assert datetime(2027, 1, 18, 9, tzinfo=UTC) in shaped.exdates


def test_against_a_moved_copy_every_deleted_date_goes_again() -> None:
    """A server that moved the series may have dropped its exceptions with the move
    (MS-ASCAL 2.2.2.22; Horde does): the repair deletes the EXDATE again too."""
    handler = CalendarHandler()
    server = _server_copy(handler)
    plan = handler.instance_plan(server, _item(), V)
    assert plan is not None
    (change,) = [op for op in plan.ops if op.kind == "change"]
    assert change.data is not None
    apart = handler.apart_plan(_damaged(server, change.data), _item(), V)
    assert apart is not None
    assert sorted(apart.deletes) == ["20270118T090000Z", "20270125T090000Z"]
    assert len(apart.one_offs) == 1


def test_a_series_without_changed_occurrences_has_nothing_apart() -> None:
    handler = CalendarHandler()
    server = _server_copy(handler)
    plan = handler.apart_plan(server, Item(SERIES.format(override="").encode(), "s"), V)
    assert plan is not None
    assert plan.one_offs == []
    assert plan.deletes == ["20270118T090000Z"]  # the EXDATE, kept


def test_the_habit_is_kept_with_the_folder_knowledge() -> None:
    knowledge = SlotKnowledge()
    knowledge.load('{"held": ["Calendar:Subject"], "dropped": []}')  # before habits
    assert knowledge.habits == set()
    knowledge.learn(INSTANCE_CHANGE_MOVES_SERIES)
    assert knowledge.dirty
    again = SlotKnowledge()
    again.load(knowledge.dump())
    assert again.habits == {INSTANCE_CHANGE_MOVES_SERIES}
    assert again.held == {"Calendar:Subject"}
