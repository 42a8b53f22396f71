"""Tasks conversion: fixture round trips, dates, priorities, reminders, recurrence."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import icalendar
import pytest

from eassync.convert.tasks import HANDLER, TasksHandler, priority_to_importance
from eassync.eas.element import E
from eassync.storage.base import Item

DATA = Path(__file__).parent.parent / "data" / "tasks"
FIXTURES = sorted(p.name for p in DATA.glob("*.ics"))
T = "Tasks:"


def load(name: str) -> Item:
    return Item((DATA / name).read_bytes(), None)


def todo(item: Item) -> icalendar.Todo:
    return icalendar.Calendar.from_ical(item.raw).walk("VTODO")[0]


@pytest.mark.parametrize("version", ["12.1", "14.0", "14.1", "16.0", "16.1"])
@pytest.mark.parametrize("name", FIXTURES)
def test_local_round_trip_through_eas_and_merge_gives_the_local_item(name: str, version: str):
    local = load(name)
    remote = HANDLER.from_eas(HANDLER.to_eas(local, version), version)
    merged = HANDLER.merge(remote, local)
    assert HANDLER.fingerprint(merged) == HANDLER.fingerprint(local)
    assert merged.uid == todo(local)["UID"]


@pytest.mark.parametrize("name", FIXTURES)
def test_eas_round_trip_is_stable(name: str):
    first = HANDLER.project(load(name), "14.1")
    assert HANDLER.fingerprint(HANDLER.project(first, "14.1")) == HANDLER.fingerprint(first)


def test_both_date_forms_are_sent():
    data = TasksHandler(default_timezone="Europe/Berlin").to_eas(
        load("timed-berlin-relative-alarm.ics"), "14.1"
    )
    assert data.text(T + "StartDate") == "2024-06-10T09:00:00.000Z"  # local, "fake UTC"
    assert data.text(T + "UtcStartDate") == "2024-06-10T07:00:00.000Z"
    assert data.text(T + "UtcDueDate") == "2024-06-10T15:00:00.000Z"
    # the relative trigger (30 min before DUE) becomes an absolute ReminderTime
    assert data.text(T + "ReminderSet") == "1"
    assert data.text(T + "ReminderTime") == "2024-06-10T14:30:00.000Z"


def test_all_day_task_dates():
    data = TasksHandler(default_timezone="America/New_York").to_eas(
        load("dated-high-priority.ics"), "14.1"
    )
    assert data.text(T + "DueDate") == "2024-04-15T00:00:00.000Z"
    assert data.text(T + "UtcDueDate") == "2024-04-15T04:00:00.000Z"
    back = todo(HANDLER.from_eas(data, "14.1"))
    assert back.decoded("DUE") == date(2024, 4, 15)


def test_completion_maps_to_status_and_completed():
    data = HANDLER.to_eas(load("completed.ics"), "14.1")
    assert data.text(T + "Complete") == "1"
    assert data.text(T + "DateCompleted") == "2024-01-04T18:15:00.000Z"
    back = todo(HANDLER.from_eas(data, "14.1"))
    assert str(back["STATUS"]) == "COMPLETED"
    assert back.decoded("COMPLETED") == datetime(2024, 1, 4, 18, 15, tzinfo=UTC)
    assert int(back["PERCENT-COMPLETE"]) == 100


@pytest.mark.parametrize(
    ("priority", "importance"),
    [(None, None), (0, None), (1, 2), (4, 2), (5, 1), (6, 0), (9, 0)],
)
def test_priority_to_importance(priority: int | None, importance: int | None):
    assert priority_to_importance(priority) == importance


@pytest.mark.parametrize(("importance", "priority"), [("0", 9), ("1", 5), ("2", 1)])
def test_importance_to_priority(importance: str, priority: int):
    data = E("AirSync:ApplicationData", E(T + "Subject", value="x"))
    data.add(T + "Importance", importance)
    data.add(T + "Complete", "0")
    assert int(todo(HANDLER.from_eas(data, "14.1"))["PRIORITY"]) == priority


def test_recurrence_with_regenerate_and_dead_occur():
    data = HANDLER.to_eas(load("recurring-weekly-regenerate.ics"), "14.1")
    rec = data.find(T + "Recurrence")
    assert rec is not None
    assert [c.name for c in rec][:2] == ["Type", "Start"]
    assert rec.text(T + "DayOfWeek") == "36"  # TU | FR
    assert rec.text(T + "Regenerate") == "1"
    assert rec.text(T + "DeadOccur") == "1"
    back = todo(HANDLER.from_eas(data, "14.1"))
    assert str(back["X-EAS-REGENERATE"]) == "1"


def test_unexpressible_rule_stays_local():
    local = load("undated-unsupported-rule.ics")
    assert HANDLER.to_eas(local, "14.1").find(T + "Recurrence") is None
    merged = HANDLER.merge(HANDLER.project(local, "14.1"), local)
    assert "BYMONTHDAY=1,15" in merged.raw.decode()


def test_server_task_without_uid_gets_one_and_merge_keeps_the_local_uid():
    data = HANDLER.to_eas(load("completed.ics"), "14.1")
    fresh = HANDLER.merge(HANDLER.from_eas(data, "14.1"), None)
    assert fresh.uid
    assert f"UID:{fresh.uid}" in fresh.raw.decode()
    subject = data.find(T + "Subject")
    assert subject is not None
    subject.value = "Buy oat milk"
    merged = HANDLER.merge(HANDLER.from_eas(data, "14.1"), load("completed.ics"))
    assert merged.uid == "task-done"
    assert "SUMMARY:Buy oat milk" in merged.raw.decode()


def test_second_alarm_and_x_properties_survive_a_server_change():
    local = load("timed-berlin-relative-alarm.ics")
    data = HANDLER.to_eas(local, "14.1")
    subject = data.find(T + "Subject")
    assert subject is not None
    subject.value = "Call the electrician"
    merged = HANDLER.merge(HANDLER.from_eas(data, "14.1"), local).raw.decode()
    assert "ACTION:AUDIO" in merged
    assert "STATUS:IN-PROCESS" in merged
