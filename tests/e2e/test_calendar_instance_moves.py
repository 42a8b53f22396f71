"""Moving one occurrence on a server that applies a Change with InstanceId to the whole
series (Horde 5.2 at 16.0, issue 15), played by the devserver with
``instance_change_moves_series`` (and Horde's other habits: its own UIDs, the moved
occurrences of an Add stored apart); through the real CLI at 16.1.

The series must never stay moved: eassync sees the damage in the series read back,
puts the series back, deletes the occurrence from it and adds the moved meeting as an
event of its own (as such a server stores one itself), the device then takes that
shape: on both devices the series keeps its times and the moved meeting shows once.
The folder remembers the server's habit: a later move goes straight to that form.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eassync.devserver import DevServer

from .cal_helpers import calendar_dir, occurrences, read_cal, run_device, write_cal_config
from .helpers import NO_OP, PASSWORD, USER

HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
SERIES = """BEGIN:VEVENT\r
UID:series@example.org\r
DTSTAMP:20260101T000000Z\r
DTSTART;TZID=Europe/Berlin:20270104T100000\r
DTEND;TZID=Europe/Berlin:20270104T110000\r
SUMMARY:Team meeting\r
RRULE:FREQ=WEEKLY;COUNT=8;BYDAY=MO\r
EXDATE;TZID=Europe/Berlin:20270118T100000\r
END:VEVENT\r
"""
MOVED = """BEGIN:VEVENT\r
UID:series@example.org\r
DTSTAMP:20260101T000000Z\r
RECURRENCE-ID;TZID=Europe/Berlin:{day}T100000\r
DTSTART;TZID=Europe/Berlin:{day}T{hour}0000\r
DTEND;TZID=Europe/Berlin:{day}T{end}0000\r
SUMMARY:Team meeting ({what})\r
END:VEVENT\r
"""
NOTE = "applies a change of one occurrence to the whole series"


def moved(day: str, hour: int, what: str) -> str:
    return MOVED.format(day=day, hour=hour, end=hour + 1, what=what)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(
        data_dir=tmp_path / "server",
        users={USER: PASSWORD},
        assign_uids=True,
        split_exceptions=True,
        instance_change_moves_series=True,
    ) as srv:
        yield srv


def sync(config: Path) -> tuple[str, str]:
    """The calendar's counts and the whole output of one pass."""
    proc = run_device(config, "sync")
    match = re.search(r"^calendar\S*: (local [^,]+, remote \S+ \S+ \S+)", proc.stdout, re.M)
    assert match, proc.stdout
    return match.group(1), proc.stdout + proc.stderr


def all_occurrences(folder: Path) -> list[tuple[Any, Any, str]]:
    """Every occurrence of every file, a doubled one twice."""
    return sorted(o for p in folder.glob("*.ics") for o in occurrences(read_cal(p)))


def series_on_server(server: DevServer) -> Any:
    folder = server.store.default_folder(USER, 8)
    items = server.store.items(USER, folder).values()
    (series,) = [d for d in items if d.find("Calendar:Recurrence") is not None]
    return series


def sync_requests(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The XML of every Sync request the devserver logged."""
    found = []
    for record in caplog.records:
        if record.name == "eassync.devserver" and record.msg.startswith("%s request from"):
            command, _user, xml = record.args  # type: ignore[misc]
            if command == "Sync":
                found.append(xml)
    return found


def changes_with_instance(caplog: pytest.LogCaptureFixture) -> int:
    """How many Sync Changes with an InstanceId the devserver received."""
    changes = [
        c for x in sync_requests(caplog) for c in re.findall(r"<Change>.*?</Change>", x, re.S)
    ]
    return sum("InstanceId" in c for c in changes)


def most_instance_deletes(caplog: pytest.LogCaptureFixture) -> int:
    """The most Deletes with InstanceId one Sync request carried (Horde applies only
    the last of several for one series)."""
    return max(
        (
            sum("InstanceId" in d for d in re.findall(r"<Delete>.*?</Delete>", x, re.S))
            for x in sync_requests(caplog)
        ),
        default=0,
    )


def test_a_moved_occurrence_never_moves_the_series(
    tmp_path: Path, server: DevServer, caplog: pytest.LogCaptureFixture
) -> None:
    a = write_cal_config(tmp_path / "a", server.url, version="16.1")
    b = write_cal_config(tmp_path / "b", server.url, version="16.1")
    a_dir, b_dir = calendar_dir(tmp_path / "a"), calendar_dir(tmp_path / "b")
    a_dir.mkdir(parents=True)
    series = a_dir / "series.ics"
    series.write_text(HEAD + SERIES + "END:VCALENDAR\r\n", encoding="utf-8")
    assert sync(a)[0] == "local +0 ~0 -0, remote +1 ~0 -0"
    assert sync(b)[0] == "local +1 ~0 -0, remote +0 ~0 -0"

    # A moves the fourth meeting to the afternoon
    series.write_text(
        HEAD + SERIES + moved("20270125", 15, "moved") + "END:VCALENDAR\r\n", encoding="utf-8"
    )
    mine = occurrences(read_cal(series))
    assert len(mine) == 7
    caplog.set_level(logging.DEBUG, logger="eassync.devserver")
    counts, out = sync(a)
    # the repair deleted two occurrences (the EXDATE again, the moved one): one each
    deletes = [
        d for x in sync_requests(caplog) for d in re.findall(r"<Delete>.*?</Delete>", x, re.S)
    ]
    assert sum("InstanceId" in d for d in deletes) >= 2
    assert most_instance_deletes(caplog) == 1
    caplog.clear()
    assert counts == "local +0 ~0 -0, remote +0 ~1 -0"
    assert NOTE in " ".join(out.split()), out
    # the server's series is where it was, the moved meeting an event of its own
    assert series_on_server(server).text("Calendar:StartTime") == "20270104T090000Z"
    assert series_on_server(server).text("Calendar:Subject") == "Team meeting"
    folder = server.store.default_folder(USER, 8)
    assert len(server.store.items(USER, folder)) == 2

    # B: the series at its times, the moved meeting once
    assert sync(b)[0] == "local +1 ~1 -0, remote +0 ~0 -0"
    assert all_occurrences(b_dir) == sorted(mine)
    # A takes the same shape: the override leaves the file, the one-off comes
    assert sync(a)[0] == "local +1 ~1 -0, remote +0 ~0 -0"
    assert "RECURRENCE-ID" not in series.read_text()
    assert all_occurrences(a_dir) == sorted(mine)
    for config in (a, b, a, b):
        assert sync(config)[0] == NO_OP

    # a later move in this folder goes straight to that form: the series is never
    # changed by an occurrence's Change again, and the user is not told twice
    text = series.read_text()
    cut = text.rindex("END:VCALENDAR")
    series.write_text(text[:cut] + moved("20270201", 16, "later") + text[cut:], encoding="utf-8")
    mine = [*occurrences(read_cal(series))] + [
        o for p in a_dir.glob("*.ics") if p != series for o in occurrences(read_cal(p))
    ]
    caplog.clear()
    counts, out = sync(a)
    assert counts == "local +0 ~0 -0, remote +0 ~1 -0"
    assert NOTE not in " ".join(out.split())
    assert changes_with_instance(caplog) == 0
    assert series_on_server(server).text("Calendar:StartTime") == "20270104T090000Z"
    assert len(server.store.items(USER, folder)) == 3
    assert sync(b)[0] == "local +1 ~1 -0, remote +0 ~0 -0"
    assert sync(a)[0] == "local +1 ~1 -0, remote +0 ~0 -0"
    assert all_occurrences(a_dir) == sorted(mine)
    assert all_occurrences(b_dir) == sorted(mine)
    for config in (a, b, a, b):
        assert sync(config)[0] == NO_OP


def test_a_series_changed_on_a_second_device_keeps_its_deleted_dates(
    tmp_path: Path, server: DevServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Such a server (Horde 5.2 at 16.0) also drops the deleted dates of a series on a
    Change that carries its Recurrence: a series whose rule did not change goes up
    without it (16.x ghosts what is absent, MS-ASCAL 3.1.5.3), its EXDATEs kept."""
    a = write_cal_config(tmp_path / "a", server.url, version="16.1")
    b = write_cal_config(tmp_path / "b", server.url, version="16.1")
    a_dir, b_dir = calendar_dir(tmp_path / "a"), calendar_dir(tmp_path / "b")
    a_dir.mkdir(parents=True)
    (a_dir / "series.ics").write_text(HEAD + SERIES + "END:VCALENDAR\r\n", encoding="utf-8")
    assert sync(a)[0] == "local +0 ~0 -0, remote +1 ~0 -0"
    assert sync(b)[0] == "local +1 ~0 -0, remote +0 ~0 -0"
    (theirs,) = b_dir.glob("*.ics")
    theirs.write_text(
        theirs.read_text().replace("SUMMARY:Team meeting", "SUMMARY:Team meeting (renamed)"),
        encoding="utf-8",
    )
    caplog.set_level(logging.DEBUG, logger="eassync.devserver")
    assert sync(b)[0] == "local +0 ~0 -0, remote +0 ~1 -0"
    assert all("<Recurrence" not in x for x in sync_requests(caplog))
    assert series_on_server(server).find("Calendar:Exceptions") is not None
    assert sync(a)[0] == "local +0 ~1 -0, remote +0 ~0 -0"
    mine = occurrences(read_cal(a_dir / "series.ics"))
    assert len(mine) == 7
    assert {summary for _s, _e, summary in mine} == {"Team meeting (renamed)"}
    assert occurrences(read_cal(theirs)) == mine
    for config in (a, b):
        assert sync(config)[0] == NO_OP


#: the one-off made of the moved occurrence (an Add: the instance Change of the
#: occurrence carries no Sensitivity, the series' Change another Subject)
ONE_OFF = (
    '<Sensitivity xmlns="Calendar:">0</Sensitivity>\n'
    '  <Subject xmlns="Calendar:">Team meeting (moved)</Subject>'
)


def test_a_repair_that_fails_is_told_and_done_by_the_next_sync(
    tmp_path: Path, server: DevServer
) -> None:
    a = write_cal_config(tmp_path / "a", server.url, version="16.1")
    b = write_cal_config(tmp_path / "b", server.url, version="16.1")
    a_dir, b_dir = calendar_dir(tmp_path / "a"), calendar_dir(tmp_path / "b")
    a_dir.mkdir(parents=True)
    series = a_dir / "series.ics"
    series.write_text(HEAD + SERIES + "END:VCALENDAR\r\n", encoding="utf-8")
    assert sync(a)[0] == "local +0 ~0 -0, remote +1 ~0 -0"
    assert sync(b)[0] == "local +1 ~0 -0, remote +0 ~0 -0"

    # the request that would put the series back fails (a Horde "Fatal Error" page)
    server.faults.poison(ONE_OFF, times=1)
    series.write_text(
        HEAD + SERIES + moved("20270125", 15, "moved") + "END:VCALENDAR\r\n", encoding="utf-8"
    )
    mine = sorted(occurrences(read_cal(series)))
    proc = run_device(a, "sync", check=False)
    told = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode == 1, told
    assert "Team meeting" in told
    assert "putting the series back failed" in told
    assert "Traceback" not in told
    assert series_on_server(server).text("Calendar:StartTime") == "20270125T140000Z"

    # the next sync puts it back, in the form the folder now knows
    assert sync(a)[0] == "local +0 ~0 -0, remote +0 ~1 -0"
    assert series_on_server(server).text("Calendar:StartTime") == "20270104T090000Z"
    assert sync(b)[0] == "local +1 ~1 -0, remote +0 ~0 -0"
    assert sync(a)[0] == "local +1 ~1 -0, remote +0 ~0 -0"
    assert all_occurrences(a_dir) == mine
    assert all_occurrences(b_dir) == mine
    for config in (a, b, a, b):
        assert sync(config)[0] == NO_OP
