"""Calendars and tasks end to end on the devserver (a faithful EAS server, as Exchange
behaves per the specification): the real CLI on one device uploads every fixture of
``tests/data/calendar`` and ``tests/data/tasks``; a second device (own status dir, own
DeviceId) downloads them; occurrences over two years, attendees, reminder and
categories must be equal. For protocol versions 14.1 and 16.1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eassync.devserver import DevServer

from .cal_helpers import (
    CAL_DATA,
    TASK_DATA,
    UNEXPRESSIBLE,
    by_summary,
    calendar_dir,
    copy_fixtures,
    event_view,
    run_device,
    task_view,
    tasks_dir,
    write_cal_config,
)
from .helpers import PASSWORD, USER

VERSIONS = ("14.1", "16.1")


def sync(config: Path) -> str:
    return run_device(config, "sync").stdout


def assert_events_equal(
    first: Path, second: Path, *, attendees: bool = True, statuses: bool = True
) -> None:
    """Same occurrences, attendees, reminder and categories. ``statuses=False``: 16.x
    clients send no AttendeeStatus (MS-ASCAL 2.2.2.5: the server owns responses)."""
    mine, theirs = by_summary(first), by_summary(second)
    assert set(mine) == set(theirs)
    for summary, path in mine.items():
        expected = event_view(path, first_only=path.name in UNEXPRESSIBLE)
        got = event_view(theirs[summary])
        if not attendees:
            expected["attendees"] = set()
        if not statuses:
            expected["attendees"] = {a[:2] for a in expected["attendees"]}
            got["attendees"] = {a[:2] for a in got["attendees"]}
        assert got == expected, path.name


def assert_tasks_equal(first: Path, second: Path) -> None:
    mine, theirs = by_summary(first), by_summary(second)
    assert set(mine) == set(theirs)
    for summary, path in mine.items():
        expected = task_view(path)
        if path.name in UNEXPRESSIBLE:
            expected["rrule"] = None  # the server holds the task without its rule
        assert task_view(theirs[summary]) == expected, path.name


@pytest.fixture
def server(tmp_path: Path) -> DevServer:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        yield srv  # type: ignore[misc]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_fixture_reaches_a_second_device_unchanged(
    tmp_path: Path, server: DevServer, version: str
) -> None:
    a = write_cal_config(tmp_path / "a", server.url, version=version)
    b = write_cal_config(tmp_path / "b", server.url, version=version)
    names = copy_fixtures(CAL_DATA, calendar_dir(a.parent))
    copy_fixtures(TASK_DATA, tasks_dir(a.parent))
    assert "remote +18" in sync(a)
    sync(b)
    # 16.x without send_invitations: no attendees go up, so the server sends nobody
    # anything (tables_calendar ATTENDEE row); ≤14.1 stores them silently.
    assert_events_equal(calendar_dir(a.parent), calendar_dir(b.parent), attendees=version == "14.1")
    assert_tasks_equal(tasks_dir(a.parent), tasks_dir(b.parent))
    assert len(names) == len(list(calendar_dir(b.parent).glob("*.ics")))
    # nothing left to do on either device: no echo, no ping-pong
    for config in (a, b, a):
        out = sync(config)
        assert "local +0 ~0 -0, remote +0 ~0 -0" in out.splitlines()[0], out
        assert "local +0 ~0 -0, remote +0 ~0 -0" in out.splitlines()[1], out
    # the local files of the first device were not rewritten
    for name in names:
        assert (calendar_dir(a.parent) / name).read_bytes() == (CAL_DATA / name).read_bytes()


def _server_events(server: DevServer) -> list[object]:
    folder = server.store.default_folder(USER, 8)
    return list(server.store.items(USER, folder).values())


@pytest.mark.parametrize("version", VERSIONS)
def test_attendees_reach_the_server_only_as_each_version_allows(
    tmp_path: Path, server: DevServer, version: str
) -> None:
    a = write_cal_config(tmp_path / "a", server.url, version=version)
    copy_fixtures(CAL_DATA, calendar_dir(a.parent), ["weekly-berlin-exceptions.ics"])
    sync(a)
    (data,) = _server_events(server)
    attendees = data.findall("Calendar:Attendees/Calendar:Attendee")  # type: ignore[attr-defined]
    if version == "14.1":
        # ≤14.1: a Sync stores the meeting; the server sends nothing (MS-ASCAL 3.1.4.4)
        assert len(attendees) == 2
    else:
        # 16.x: the server would send requests itself, so nothing that makes it one goes up
        assert attendees == []
        assert data.find("Calendar:MeetingStatus") is None  # type: ignore[attr-defined]


def test_16x_attendees_go_up_when_the_pair_sends_invitations(
    tmp_path: Path, server: DevServer
) -> None:
    a = write_cal_config(tmp_path / "a", server.url, version="16.1", send_invitations=True)
    b = write_cal_config(tmp_path / "b", server.url, version="16.1")
    copy_fixtures(
        CAL_DATA,
        calendar_dir(a.parent),
        ["weekly-berlin-exceptions.ics", "meeting-cancelled.ics"],
    )
    sync(a)
    sync(b)
    assert_events_equal(calendar_dir(a.parent), calendar_dir(b.parent), statuses=False)
