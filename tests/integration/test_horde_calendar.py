"""Events through a real Horde Groupware 5.2 (Kronolith) at EAS 16.0 and 14.1, as a user
runs them: events added on one device (a single one, an all-day one and a weekly
series in Europe/Berlin) are checked in Horde's CalDAV view and read back by a second
device (own status dir, own DeviceId); the series gets a moved and a deleted
occurrence; a change and a delete travel each way; a second pass changes nothing
(nothing doubled, nothing lost). Occurrences are compared as UTC instants by
cal_helpers (icalendar + recurring-ical-events, not the converter under test).

Horde behaviours behind the assertions: tests/servers/horde/README.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.cal_helpers import by_summary, event_view, is_series, occurrences, read_cal
from tests.integration.conftest_horde import VERSIONS, HordeAccount

pytestmark = pytest.mark.horde

HEADER = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//eassync tests//EN\r\n"

SINGLE = """BEGIN:VEVENT\r
UID:single@example.org\r
DTSTAMP:20260101T000000Z\r
DTSTART;TZID=Europe/Berlin:20270115T090000\r
DTEND;TZID=Europe/Berlin:20270115T103000\r
SUMMARY:Dentist\r
LOCATION:Main Street 1\r
DESCRIPTION:Bring the card\r
BEGIN:VALARM\r
ACTION:DISPLAY\r
DESCRIPTION:soon\r
TRIGGER:-PT30M\r
END:VALARM\r
END:VEVENT\r
"""

ALL_DAY = """BEGIN:VEVENT\r
UID:allday@example.org\r
DTSTAMP:20260101T000000Z\r
DTSTART;VALUE=DATE:20270120\r
DTEND;VALUE=DATE:20270121\r
SUMMARY:Holiday\r
END:VEVENT\r
"""

SERIES = """BEGIN:VEVENT\r
UID:series@example.org\r
DTSTAMP:20260101T000000Z\r
DTSTART;TZID=Europe/Berlin:20270104T100000\r
DTEND;TZID=Europe/Berlin:20270104T110000\r
SUMMARY:Team meeting\r
CATEGORIES:Work\r
RRULE:FREQ=WEEKLY;COUNT=8;BYDAY=MO\r
{exdate}END:VEVENT\r
{override}"""

#: the series' third occurrence deleted, its fourth moved to the afternoon
EXDATE = "EXDATE;TZID=Europe/Berlin:20270118T100000\r\n"
OVERRIDE = """BEGIN:VEVENT\r
UID:series@example.org\r
DTSTAMP:20260101T000000Z\r
RECURRENCE-ID;TZID=Europe/Berlin:20270125T100000\r
DTSTART;TZID=Europe/Berlin:20270125T150000\r
DTEND;TZID=Europe/Berlin:20270125T160000\r
SUMMARY:Team meeting (moved)\r
END:VEVENT\r
"""


def calendar(*components: str) -> str:
    return HEADER + "".join(components) + "END:VCALENDAR\r\n"


def counts(out: str) -> str:
    match = re.search(r"^calendar\S*: (local [^,]+, remote \S+ \S+ \S+)", out, re.M)
    assert match, out
    return match.group(1)


def expected(view: dict[str, dict[str, object]], version: str) -> dict[str, dict[str, object]]:
    """What a second device sees of the events in ``view``: at 16.0 Horde drops the
    Categories a client sends (README: its 16.0 ghosting takes arrays as absent)."""
    if version != "16.0":
        return view
    return {summary: {**v, "categories": set()} for summary, v in view.items()}


def views(folder: Path) -> dict[str, dict[str, object]]:
    return {summary: event_view(path) for summary, path in by_summary(folder).items()}


def devices(tmp_path: Path, acc: HordeAccount, version: str) -> tuple[Path, Path]:
    return (
        acc.config(tmp_path / "a", version, "calendar"),
        acc.config(tmp_path / "b", version, "calendar"),
    )


def dav_event(acc: HordeAccount, summary: str) -> str:
    """The VEVENT text (master and overrides, no VTIMEZONE) Horde's CalDAV shows for
    the event called ``summary``."""
    for item in acc.dav.items("calendar"):
        lines = (item.data or "").replace("\r\n", "\n").split("\n")
        if f"SUMMARY:{summary}" in lines:
            return "\n".join(line for line in lines if not line.startswith(" "))
    raise AssertionError(f"{summary!r} not in Horde's CalDAV view")


@pytest.mark.parametrize("version", VERSIONS)
def test_events_travel_between_two_devices_through_horde(
    tmp_path: Path, horde_account: HordeAccount, version: str
) -> None:
    acc, dav = horde_account, horde_account.dav
    a, b = devices(tmp_path, acc, version)
    a_dir, b_dir = a.parent / "calendar", b.parent / "calendar"
    (a_dir / "single.ics").write_text(calendar(SINGLE), encoding="utf-8")
    (a_dir / "allday.ics").write_text(calendar(ALL_DAY), encoding="utf-8")
    series = a_dir / "series.ics"
    series.write_text(calendar(SERIES.format(exdate="", override="")), encoding="utf-8")

    # added on A → Horde's CalDAV holds them → B reads the same occurrences
    assert counts(acc.sync(a)) == "local +0 ~0 -0, remote +3 ~0 -0"
    assert dav.values("calendar", "SUMMARY") == ["Dentist", "Holiday", "Team meeting"]
    assert "RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;COUNT=8" in dav_event(acc, "Team meeting")
    assert counts(acc.sync(b)) == "local +3 ~0 -0, remote +0 ~0 -0"
    assert views(b_dir) == expected(views(a_dir), version)

    # one occurrence deleted on A (16.0: Delete with InstanceId; 14.1: the series with
    # a deleted Exception) → an EXDATE in CalDAV → B follows
    series.write_text(calendar(SERIES.format(exdate=EXDATE, override="")), encoding="utf-8")
    assert counts(acc.sync(a)) == "local +0 ~0 -0, remote +0 ~1 -0"
    assert "EXDATE;TZID=Europe/Berlin:20270118T" in dav_event(acc, "Team meeting")
    assert counts(acc.sync(b)) == "local +0 ~1 -0, remote +0 ~0 -0"
    assert views(b_dir) == expected(views(a_dir), version)
    assert len(views(b_dir)["Team meeting"]["occurrences"]) == 7  # type: ignore[arg-type]

    # changed on B → CalDAV shows it → A gets it
    (dentist,) = [p for p in b_dir.glob("*.ics") if "SUMMARY:Dentist" in p.read_text()]
    dentist.write_text(dentist.read_text().replace("SUMMARY:Dentist", "SUMMARY:Dentist (moved)"))
    assert counts(acc.sync(b)) == "local +0 ~0 -0, remote +0 ~1 -0"
    assert "Dentist (moved)" in dav.values("calendar", "SUMMARY")
    assert counts(acc.sync(a)) == "local +0 ~1 -0, remote +0 ~0 -0"
    assert "SUMMARY:Dentist (moved)" in (a_dir / "single.ics").read_text()

    # deleted on A → gone from CalDAV → gone on B
    (a_dir / "allday.ics").unlink()
    assert counts(acc.sync(a)) == "local +0 ~0 -0, remote +0 ~0 -1"
    assert dav.values("calendar", "SUMMARY") == ["Dentist (moved)", "Team meeting"]
    assert counts(acc.sync(b)) == "local +0 ~0 -1, remote +0 ~0 -0"
    for config in (a, b):  # a second pass: nothing doubled, nothing lost
        assert counts(acc.sync(config)) == "local +0 ~0 -0, remote +0 ~0 -0"
    assert views(b_dir) == expected(views(a_dir), version)
    assert sorted(views(a_dir)) == ["Dentist (moved)", "Team meeting"]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_moved_occurrence_travels_between_two_devices_through_horde(
    tmp_path: Path, horde_account: HordeAccount, version: str
) -> None:
    acc = horde_account
    a, b = devices(tmp_path, acc, version)
    a_dir, b_dir = a.parent / "calendar", b.parent / "calendar"
    series = a_dir / "series.ics"
    series.write_text(calendar(SERIES.format(exdate=EXDATE, override="")), encoding="utf-8")
    assert counts(acc.sync(a)) == "local +0 ~0 -0, remote +1 ~0 -0"
    assert counts(acc.sync(b)) == "local +1 ~0 -0, remote +0 ~0 -0"

    series.write_text(calendar(SERIES.format(exdate=EXDATE, override=OVERRIDE)), encoding="utf-8")
    mine = sorted(occurrences(read_cal(series)))
    assert len(mine) == 7
    out = acc.sync(a)
    assert counts(out) == "local +0 ~0 -0, remote +0 ~1 -0"
    if version == "14.1":
        # sent inside the series (ExceptionStartTime): Horde links the exception
        shown = dav_event(acc, "Team meeting (moved)")
        assert "DTSTART;TZID=Europe/Berlin:20270104T100000" in shown  # the series stays
        assert "DTSTART;TZID=Europe/Berlin:20270125T150000" in shown  # the moved one
        # B reads the exception Horde sends 1 h off its occurrence (its Berlin wall time
        # labelled UTC) as that occurrence: the meeting is moved, not doubled
        assert counts(acc.sync(b)) == "local +0 ~1 -0, remote +0 ~0 -0"
        assert views(b_dir) == expected(views(a_dir), version)
    else:
        # 16.0: Horde applies the occurrence's Change (InstanceId) to the whole series
        # (issue 15). eassync sees it in the series read back, puts the series back,
        # deletes the occurrence from it and adds the moved meeting as an event of its
        # own, as Horde stores the moved occurrences of an Add; the user is told
        assert "applies a change of one occurrence to the whole series" in " ".join(out.split())
        shown = dav_event(acc, "Team meeting")
        assert "DTSTART;TZID=Europe/Berlin:20270104T100000" in shown  # never left moved
        assert "20270125" in shown.split("EXDATE", 1)[1]  # the moved date deleted
        moved = dav_event(acc, "Team meeting (moved)")
        assert "DTSTART;TZID=Europe/Berlin:20270125T150000" in moved
        assert "RRULE:FREQ=WEEKLY" not in moved
        # B: the series at its times and the moved meeting once; A takes that shape
        assert counts(acc.sync(b)) == "local +1 ~1 -0, remote +0 ~0 -0"
        assert sorted(o for p in b_dir.glob("*.ics") for o in occurrences(read_cal(p))) == mine
        assert counts(acc.sync(a)) == "local +1 ~1 -0, remote +0 ~0 -0"
        assert "RECURRENCE-ID" not in series.read_text()
        assert views(b_dir) == expected(views(a_dir), version)
    every = sorted(o for p in a_dir.glob("*.ics") for o in occurrences(read_cal(p)))
    assert every == mine
    for config in (a, b, a, b):
        assert counts(acc.sync(config)) == "local +0 ~0 -0, remote +0 ~0 -0"
    if version != "16.0":
        return

    # the folder remembers: a later move goes up apart at once, the series never moves
    text = series.read_text()
    cut = text.rindex("END:VCALENDAR")
    later = OVERRIDE.replace("20270125T1", "20270201T1").replace("(moved)", "(later)")
    series.write_text(text[:cut] + later + text[cut:], encoding="utf-8")
    mine = sorted(o for p in a_dir.glob("*.ics") for o in occurrences(read_cal(p)))
    assert len(mine) == 7
    out = acc.sync(a)
    assert counts(out) == "local +0 ~0 -0, remote +0 ~1 -0"
    assert "whole series" not in " ".join(out.split())  # told once
    assert "DTSTART;TZID=Europe/Berlin:20270104T100000" in dav_event(acc, "Team meeting")
    assert "DTSTART;TZID=Europe/Berlin:20270201T150000" in dav_event(acc, "Team meeting (later)")
    assert counts(acc.sync(b)) == "local +1 ~1 -0, remote +0 ~0 -0"
    assert counts(acc.sync(a)) == "local +1 ~1 -0, remote +0 ~0 -0"
    for folder in (a_dir, b_dir):
        assert sorted(o for p in folder.glob("*.ics") for o in occurrences(read_cal(p))) == mine
    for config in (a, b, a, b):
        assert counts(acc.sync(config)) == "local +0 ~0 -0, remote +0 ~0 -0"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_series_added_with_exceptions_reaches_a_second_device(
    tmp_path: Path, horde_account: HordeAccount, version: str
) -> None:
    # Horde stores the moved occurrence of an Add as an event of its own (and its date
    # as deleted in the series): a second device sees the same occurrences in two items.
    # At 16.0 this needs the harness's sixth shim; a stock Debian Horde answers the Add
    # with a "Fatal Error" page and stores nothing (README).
    acc = horde_account
    a, b = devices(tmp_path, acc, version)
    a_dir, b_dir = a.parent / "calendar", b.parent / "calendar"
    (a_dir / "series.ics").write_text(
        calendar(SERIES.format(exdate=EXDATE, override=OVERRIDE)), encoding="utf-8"
    )
    assert counts(acc.sync(a)) == "local +0 ~0 -0, remote +1 ~0 -0"
    assert counts(acc.sync(b)) == "local +2 ~0 -0, remote +0 ~0 -0"
    mine = occurrences(read_cal(a_dir / "series.ics"))
    theirs = set().union(*(occurrences(read_cal(p)) for p in b_dir.glob("*.ics")))
    assert theirs == mine
    assert len(mine) == 7
    assert counts(acc.sync(b)) == "local +0 ~0 -0, remote +0 ~0 -0"
    # The adding device gets Horde's one-off too (issue 15): it takes Horde's shape, the
    # series without the override (its date deleted) and the one-off, so the moved
    # meeting shows once, as on B.
    assert counts(acc.sync(a)) == "local +1 ~1 -0, remote +0 ~0 -0"
    assert "RECURRENCE-ID" not in (a_dir / "series.ics").read_text()
    every = sorted(o for p in a_dir.glob("*.ics") for o in occurrences(read_cal(p)))
    assert every == sorted(mine)
    for config in (a, b):
        assert counts(acc.sync(config)) == "local +0 ~0 -0, remote +0 ~0 -0"

    # the one-off is an event like any other: an edit on A reaches B, one on B reaches A
    (moved,) = [p for p in a_dir.glob("*.ics") if p.name != "series.ics"]
    moved.write_text(moved.read_text().replace("(moved)", "(moved again)"), encoding="utf-8")
    assert counts(acc.sync(a)) == "local +0 ~0 -0, remote +0 ~1 -0"
    assert counts(acc.sync(b)) == "local +0 ~1 -0, remote +0 ~0 -0"
    (other,) = [p for p in b_dir.glob("*.ics") if not is_series(p)]
    assert "SUMMARY:Team meeting (moved again)" in other.read_text()
    other.write_text(other.read_text().replace("again)", "again to room 2)"), encoding="utf-8")
    assert counts(acc.sync(b)) == "local +0 ~0 -0, remote +0 ~1 -0"
    assert counts(acc.sync(a)) == "local +0 ~1 -0, remote +0 ~0 -0"
    assert "SUMMARY:Team meeting (moved again to room 2)" in moved.read_text()
    theirs = set().union(*(occurrences(read_cal(p)) for p in b_dir.glob("*.ics")))
    every = sorted(o for p in a_dir.glob("*.ics") for o in occurrences(read_cal(p)))
    assert theirs == set(every)
    assert len(every) == 7
    for config in (a, b):
        assert counts(acc.sync(config)) == "local +0 ~0 -0, remote +0 ~0 -0"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_series_changed_on_a_second_device_keeps_its_deleted_dates(
    tmp_path: Path, horde_account: HordeAccount, version: str
) -> None:
    # Horde rebuilds a series' recurrence from each Change that carries one, with the
    # Exceptions in it (none at 16.0): an unchanged rule must not be sent (README)
    acc = horde_account
    a, b = devices(tmp_path, acc, version)
    a_dir, b_dir = a.parent / "calendar", b.parent / "calendar"
    series = a_dir / "series.ics"
    series.write_text(calendar(SERIES.format(exdate=EXDATE, override="")), encoding="utf-8")
    assert counts(acc.sync(a)) == "local +0 ~0 -0, remote +1 ~0 -0"
    assert counts(acc.sync(b)) == "local +1 ~0 -0, remote +0 ~0 -0"
    (theirs,) = b_dir.glob("*.ics")
    theirs.write_text(
        theirs.read_text().replace("SUMMARY:Team meeting", "SUMMARY:Team meeting (renamed)"),
        encoding="utf-8",
    )
    assert counts(acc.sync(b)) == "local +0 ~0 -0, remote +0 ~1 -0"
    assert "EXDATE" in dav_event(acc, "Team meeting (renamed)")
    assert counts(acc.sync(a)) == "local +0 ~1 -0, remote +0 ~0 -0"
    mine = occurrences(read_cal(series))
    assert len(mine) == 7
    assert occurrences(read_cal(theirs)) == mine
    for config in (a, b):
        assert counts(acc.sync(config)) == "local +0 ~0 -0, remote +0 ~0 -0"


def test_a_series_stock_horde_fails_on_at_16_0_arrives_in_the_apart_form(
    tmp_path: Path, horde_account: HordeAccount
) -> None:
    """Issue 15 item 2 against Debian's Horde as shipped (the harness's sixth fix off
    for this user): the 16.0 Add with InstanceId exceptions fails with a Fatal Error
    page, so eassync adds the series bare, deletes its two dates and adds the moved
    meeting as an event of its own; a 14.1 device reads it all back."""
    acc = horde_account
    a = acc.config(tmp_path / "a", "16.0", "calendar")
    b = acc.config(tmp_path / "b", "14.1", "calendar")
    a_dir, b_dir = a.parent / "calendar", b.parent / "calendar"
    (a_dir / "series.ics").write_text(
        calendar(SERIES.format(exdate=EXDATE, override=OVERRIDE)), encoding="utf-8"
    )
    mine = occurrences(read_cal(a_dir / "series.ics"))
    with acc.stock_exceptions():
        out = acc.sync(a)  # exit 0: the event arrived
        assert counts(out) == "local +0 ~0 -0, remote +1 ~0 -0", out
        assert "eassync adds such a series without them" in out
        assert "Traceback" not in out
        # Horde holds the series with both dates deleted, and the moved meeting apart
        series = dav_event(acc, "Team meeting")
        assert "RRULE:FREQ=WEEKLY" in series
        assert series.count("EXDATE") == 2
        assert "RECURRENCE-ID" not in series
        moved = dav_event(acc, "Team meeting (moved)")
        assert "RRULE:FREQ=WEEKLY" not in moved
        assert "DTSTART;TZID=Europe/Berlin:20270125T150000" in moved
        # a 14.1 device (which stock Horde serves right) reads it all back
        assert counts(acc.sync(b)) == "local +2 ~0 -0, remote +0 ~0 -0"
        theirs = sorted(o for p in b_dir.glob("*.ics") for o in occurrences(read_cal(p)))
        assert theirs == sorted(mine)
        # Stock Horde cannot send a series with exceptions at 16.0 (horde-notes 5): its
        # answer breaks off into a Fatal Error page. Told as that, with what to do;
        # nothing local is lost.
        broken = acc.sync(a, check=False)
        assert "broke off" in broken, broken
        assert "'Horde :: Fatal Error'" in broken
        assert 'protocol_version: "14.1"' in broken
        assert "Traceback" not in broken
        assert set(mine) <= {o for p in a_dir.glob("*.ics") for o in occurrences(read_cal(p))}
        # the hint works: at 14.1 the device takes Horde's shape, every meeting once
        a.write_text(a.read_text().replace('"16.0"', '"14.1"'), encoding="utf-8")
        acc.sync(a)
        assert "RECURRENCE-ID" not in (a_dir / "series.ics").read_text()
        every = sorted(o for p in a_dir.glob("*.ics") for o in occurrences(read_cal(p)))
        assert every == sorted(mine)
        for config in (a, b):
            assert counts(acc.sync(config)) == "local +0 ~0 -0, remote +0 ~0 -0"
