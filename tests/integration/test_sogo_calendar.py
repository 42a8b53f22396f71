"""Calendars and tasks through a real SOGo 5.8 (EAS 14.1): what it can hold, and what
it cannot (asserted as such, so a SOGo upgrade that fixes one shows up here).

Every fixture of ``tests/data/calendar`` and ``tests/data/tasks`` is written into a
vdir, synced up by one device and down by a second one (own status dir, own DeviceId);
events created over SOGo's CalDAV side arrive through EAS; edits and deletes travel
each way. Time zones and exceptions are proven on the devserver
(``tests/e2e/test_calendar_*``), which behaves as Exchange per the specification.

What SOGo 5.8 cannot hold (measured here; none of it is a client bug: the same
requests round-trip on the devserver):

- Time zones (sogo-notes Q10): it ignores the client's TimeZone and stores events in
  the user's zone (UTC here). The first occurrence keeps its instant; occurrences of
  a recurring event after a DST change of its real zone are an hour off.
- Monthly "day N" rules (DayOfMonth) come back on the 1st; "last weekday" rules
  (a DayOfWeek list with WeekOfMonth 5) come back as the last of the first listed day.
- Attendee types: every attendee comes back optional (required and resource are lost);
  addresses and response statuses are kept.
- Tasks: StartDate/DueDate are taken as UTC although they are local wall times (Q17),
  so timed tasks of a zone east of UTC move by its offset; a recurring task with
  Regenerate loses its rule, and "last day of the month" becomes "last Monday".
- Exceptions (RECURRENCE-ID overrides) are documented as unsupported: the override
  and EXDATE of the fixtures are not compared here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cal_helpers import (
    CAL_DATA,
    TASK_DATA,
    UNEXPRESSIBLE,
    by_summary,
    copy_fixtures,
    event_view,
    occurrences,
    read_cal,
    run_device,
    task_view,
    tasks_dir,
    write_cal_config,
)
from tests.integration.conftest import SogoAccount
from tests.integration.sogo_dav import CALENDAR, pass_one_second

pytestmark = pytest.mark.sogo

#: recurring events whose real zone changes offset: SOGo keeps the first instant only
DST_SHIFTED = {
    "daily-sydney.ics",
    "daily-weekdays.ics",
    "dst-transition.ics",
    "monthly-nth-new-york.ics",
    "weekly-berlin-exceptions.ics",
}
#: rules SOGo 5.8 reads back differently (module doc)
RULE_CHANGED = {"monthly-dublin.ics", "weekdays-setpos.ics"}
#: tasks SOGo changes (module doc): the fields that differ
TASK_CHANGES = {
    "timed-berlin-relative-alarm.ics": {"start", "due"},
    "recurring-weekly-regenerate.ics": {"rrule"},
    "recurring-monthly-until.ics": {"rrule", "start"},
}


def device(tmp_path: Path, name: str, account: SogoAccount) -> Path:
    return write_cal_config(
        tmp_path / name, account.server.eas_url, version="14.1", username=account.user
    )


def sync(config: Path, account: SogoAccount) -> str:
    return run_device(config, "sync", password=account.password).stdout


def calendar_folder(config: Path) -> Path:
    # {all: calendar}: SOGo's one calendar, "Personal Calendar"
    (folder,) = (config.parent / "calendars").iterdir()
    return folder


def comparable(view: dict[str, Any]) -> dict[str, Any]:
    """An event view without attendee roles (SOGo makes everyone optional)."""
    out = dict(view)
    out["attendees"] = {(address, partstat) for address, _role, partstat in view["attendees"]}
    return out


def first(view: dict[str, Any]) -> Any:
    return min(view["occurrences"], key=lambda o: str(o[0]))


def test_fixtures_reach_a_second_device_as_far_as_sogo_holds_them(
    tmp_path: Path, sogo_account: SogoAccount
) -> None:
    a = device(tmp_path, "a", sogo_account)
    b = device(tmp_path, "b", sogo_account)
    sync(a, sogo_account)  # creates the local folders
    copy_fixtures(CAL_DATA, calendar_folder(a))
    copy_fixtures(TASK_DATA, tasks_dir(a.parent))
    out = sync(a, sogo_account)
    assert "remote +18 ~0 -0" in out, out
    sync(b, sogo_account)

    mine, theirs = by_summary(calendar_folder(a)), by_summary(calendar_folder(b))
    assert set(mine) == set(theirs)
    for summary, path in mine.items():
        expected = comparable(event_view(path, first_only=path.name in UNEXPRESSIBLE))
        got = comparable(event_view(theirs[summary]))
        if path.name in DST_SHIFTED | RULE_CHANGED:
            assert first(got) == first(expected), path.name
            if path.name in DST_SHIFTED:
                assert len(got["occurrences"]) == len(expected["occurrences"]), path.name
            assert got["occurrences"] != expected["occurrences"], f"{path.name}: SOGo fixed?"
            got["occurrences"] = expected["occurrences"] = None
        assert got == expected, path.name

    mine, theirs = by_summary(tasks_dir(a.parent)), by_summary(tasks_dir(b.parent))
    assert set(mine) == set(theirs)
    for summary, path in mine.items():
        expected, got = task_view(path), task_view(theirs[summary])
        if path.name in UNEXPRESSIBLE:
            expected["rrule"] = None
        differing = {k for k in expected if expected[k] != got[k]}
        assert differing == TASK_CHANGES.get(path.name, set()), path.name


EVENT_OVER_DAV = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//eassync tests//EN
BEGIN:VEVENT
UID:dav-made-event
DTSTAMP:20240101T000000Z
DTSTART:20300107T090000Z
DTEND:20300107T100000Z
SUMMARY:{summary}
CATEGORIES:Work,Review
RRULE:FREQ=WEEKLY;COUNT=6;BYDAY=MO
ORGANIZER;CN={user}:mailto:{user}@example.org
ATTENDEE;CN=Bob;PARTSTAT=ACCEPTED:mailto:bob@example.org
ATTENDEE;CN=Carol;PARTSTAT=TENTATIVE:mailto:carol@example.org
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:soon
TRIGGER:-PT15M
END:VALARM
END:VEVENT
END:VCALENDAR
"""


def test_caldav_events_arrive_and_edits_and_deletes_travel_each_way(
    tmp_path: Path, sogo_account: SogoAccount
) -> None:
    dav, user = sogo_account.dav, sogo_account.user
    a = device(tmp_path, "a", sogo_account)
    sync(a, sogo_account)
    pass_one_second()  # sogo-notes Q2

    # made through CalDAV → arrives through EAS with the same occurrences and details
    text = EVENT_OVER_DAV.format(summary="Weekly review", user=user)
    dav.put(CALENDAR, "dav-made-event.ics", text)
    pass_one_second()
    assert "local +1 ~0 -0" in sync(a, sogo_account)
    (path,) = calendar_folder(a).glob("*.ics")
    local = comparable(event_view(path))
    source = tmp_path / "source.ics"
    source.write_text(text)
    assert local == comparable(event_view(source))
    assert len(local["occurrences"]) == 6

    # edited through CalDAV → the local file follows
    pass_one_second()
    dav.put(CALENDAR, "dav-made-event.ics", text.replace("Weekly review", "Weekly review (DAV)"))
    pass_one_second()
    assert "local +0 ~1 -0" in sync(a, sogo_account)
    assert {t for _, _, t in occurrences(read_cal(path))} == {"Weekly review (DAV)"}

    # edited locally → CalDAV shows it
    path.write_text(path.read_text().replace("Weekly review (DAV)", "Weekly review (local)"))
    pass_one_second()
    assert "remote +0 ~1 -0" in sync(a, sogo_account)
    (item,) = dav.calendar_query("VEVENT")
    assert item.data is not None
    assert "SUMMARY:Weekly review (local)" in item.data

    # deleted locally → gone from CalDAV
    path.unlink()
    pass_one_second()
    assert "remote +0 ~0 -1" in sync(a, sogo_account)
    assert dav.calendar_query("VEVENT") == []

    # made and deleted through CalDAV → the local file comes and goes
    pass_one_second()
    dav.put(CALENDAR, "second.ics", text.replace("dav-made-event", "second"))
    pass_one_second()
    assert "local +1 ~0 -0" in sync(a, sogo_account)
    pass_one_second()
    dav.delete(CALENDAR, "second.ics")
    pass_one_second()
    assert "local +0 ~0 -1" in sync(a, sogo_account)
    assert list(calendar_folder(a).glob("*.ics")) == []
