"""A series with exceptions that a 16.x server crashes on when added (Horde 5.2 stock,
issue 15 item 2), played by the devserver with ``add_exceptions_crash``; real CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eassync.devserver import DevServer

from .cal_helpers import calendar_dir, occurrences, read_cal, run_device, write_cal_config
from .helpers import NO_OP, PASSWORD, USER
from .test_calendar_split import SERIES, all_occurrences, sync


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(
        data_dir=tmp_path / "server",
        users={USER: PASSWORD},
        assign_uids=True,
        add_exceptions_crash=True,
    ) as srv:
        yield srv


def use(server: DevServer, fault: str) -> None:
    """``crash``: the request fails whole (the fixture's); ``refusal``: the Add alone
    is refused with item Status 6."""
    if fault == "refusal":
        server.store.add_exceptions_crash = False
        server.store.add_exceptions_refusal = 6


def add_series(tmp_path: Path, server: DevServer, version: str) -> tuple[Path, Path]:
    config = write_cal_config(tmp_path / "a", server.url, version=version)
    folder = calendar_dir(tmp_path / "a")
    folder.mkdir(parents=True)
    (folder / "series.ics").write_text(SERIES, encoding="utf-8")
    return config, folder


@pytest.mark.parametrize("fault", ["crash", "refusal"])
def test_a_series_whose_apart_form_fails_too_is_parked(
    tmp_path: Path, fault: str, server: DevServer
) -> None:
    """The series is failed on (crash) or refused whole, and the bare series fails as
    well (poisoned): parked, never on the server, told each pass."""
    use(server, fault)
    server.faults.poison("Team meeting")
    config, _ = add_series(tmp_path, server, "16.1")
    folder = server.store.default_folder(USER, 8)
    for _ in range(2):
        proc = run_device(config, "sync", check=False)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
        assert "Team meeting" in proc.stdout + proc.stderr
        assert not server.store.items(USER, folder)


def test_14_1_takes_the_exceptions_inside_the_add(tmp_path: Path, server: DevServer) -> None:
    config, a_dir = add_series(tmp_path, server, "14.1")
    mine = occurrences(read_cal(a_dir / "series.ics"))
    assert sync(config) == "local +0 ~0 -0, remote +1 ~0 -0"
    folder = server.store.default_folder(USER, 8)
    assert len(server.store.items(USER, folder)) == 1
    b = write_cal_config(tmp_path / "b", server.url, version="14.1")
    assert sync(b) == "local +1 ~0 -0, remote +0 ~0 -0"
    assert all_occurrences(calendar_dir(tmp_path / "b")) == sorted(mine)
    for c in (config, b):
        assert sync(c) == NO_OP


def test_a_16x_series_the_server_crashes_on_arrives_in_the_apart_form(
    tmp_path: Path, server: DevServer
) -> None:
    config, a_dir = add_series(tmp_path, server, "16.1")
    mine = occurrences(read_cal(a_dir / "series.ics"))
    folder = server.store.default_folder(USER, 8)
    first = run_device(config, "sync")  # exit 0: the event arrived
    assert "local +0 ~0 -0, remote +1 ~0 -0" in first.stdout
    told = first.stdout + first.stderr
    assert "eassync adds such a series without them" in told  # the habit, told once
    assert len(server.store.items(USER, folder)) == 2  # the series and the one-off
    b = write_cal_config(tmp_path / "b", server.url, version="16.1")
    assert sync(b) == "local +2 ~0 -0, remote +0 ~0 -0"
    assert all_occurrences(calendar_dir(tmp_path / "b")) == sorted(mine)
    # the adding device takes the server's shape: the moved meeting once, on its own
    again = run_device(config, "sync")
    assert "local +1 ~1 -0, remote +0 ~0 -0" in again.stdout
    assert "eassync adds such a series without them" not in again.stdout + again.stderr
    assert all_occurrences(a_dir) == sorted(mine)
    assert "RECURRENCE-ID" not in (a_dir / "series.ics").read_text()
    for c in (config, b, config, b):
        assert sync(c) == NO_OP
    assert len(server.store.items(USER, folder)) == 2


OTHER_SERIES = (
    SERIES.replace("series@example.org", "standup@example.org")
    .replace("Team meeting", "Stand-up")
    .replace("20270104T", "20270105T")
    .replace("BYDAY=MO", "BYDAY=TU")
    .replace("20270118T", "20270119T")
    .replace("20270125T", "20270126T")
)

PLAIN_EVENT = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:lunch@example.org\r
DTSTAMP:20260101T000000Z\r
DTSTART:20270107T120000Z\r
DTEND:20270107T130000Z\r
SUMMARY:Lunch\r
END:VEVENT\r
END:VCALENDAR\r
"""


@pytest.fixture
def refusing(tmp_path: Path) -> Iterator[DevServer]:
    """A 16.x server that refuses such a series alone (item Status 6), the rest applied."""
    with DevServer(
        data_dir=tmp_path / "server",
        users={USER: PASSWORD},
        assign_uids=True,
        add_exceptions_refusal=6,
    ) as srv:
        yield srv


def test_a_16x_series_the_server_refuses_alone_arrives_in_the_apart_form(
    tmp_path: Path, refusing: DevServer
) -> None:
    """Item 2: a refusal of the Add (Status 6), not only a failed request, makes the series
    go up bare with its exceptions apart; the event in the same batch goes up as ever."""
    config, a_dir = add_series(tmp_path, refusing, "16.1")
    (a_dir / "lunch.ics").write_text(PLAIN_EVENT, encoding="utf-8")
    mine = all_occurrences(a_dir)
    first = run_device(config, "sync")  # exit 0: both events arrived
    assert "local +0 ~0 -0, remote +2 ~0 -0" in first.stdout, first.stdout + first.stderr
    assert "eassync adds such a series without them" in first.stdout + first.stderr
    assert refusing.store.add_exceptions_failures == 1
    folder = refusing.store.default_folder(USER, 8)
    assert len(refusing.store.items(USER, folder)) == 3  # series, its moved meeting, lunch
    b = write_cal_config(tmp_path / "b", refusing.url, version="16.1")
    assert sync(b) == "local +3 ~0 -0, remote +0 ~0 -0"
    assert all_occurrences(calendar_dir(tmp_path / "b")) == mine
    assert sync(config) == "local +1 ~1 -0, remote +0 ~0 -0"  # the server's shape
    for c in (config, b, config, b):
        assert sync(c) == NO_OP
    assert len(refusing.store.items(USER, folder)) == 3


@pytest.mark.parametrize("fault", ["crash", "refusal"])
def test_once_learnt_a_new_series_goes_up_apart_at_once(
    tmp_path: Path, fault: str, server: DevServer
) -> None:
    """Item 2: the folder remembers the habit; a later series with exceptions is never
    sent whole again (the server is not made to fail twice), and arrives whole."""
    use(server, fault)
    config, a_dir = add_series(tmp_path, server, "16.1")
    run_device(config, "sync")
    failures = server.store.add_exceptions_failures  # a crash is tried again once, alone
    assert failures >= 1
    (a_dir / "standup.ics").write_text(OTHER_SERIES, encoding="utf-8")
    mine = all_occurrences(a_dir)
    second = run_device(config, "sync")
    assert "remote +1 ~0 -0" in second.stdout, second.stdout + second.stderr
    assert server.store.add_exceptions_failures == failures  # not tried whole again
    folder = server.store.default_folder(USER, 8)
    assert len(server.store.items(USER, folder)) == 4  # two series, two moved meetings
    b = write_cal_config(tmp_path / "b", server.url, version="16.1")
    assert sync(b) == "local +4 ~0 -0, remote +0 ~0 -0"
    assert all_occurrences(calendar_dir(tmp_path / "b")) == mine
    for c in (config, b, config, b):
        sync(c)
    for c in (config, b):
        assert sync(c) == NO_OP
    assert all_occurrences(a_dir) == mine


def test_exceptions_lost_after_the_bare_series_are_sent_again(
    tmp_path: Path, server: DevServer
) -> None:
    """The bare series is stored, then the request carrying its exceptions fails: told,
    and the next sync sends the series again whole, so the server's copy is complete."""
    config, a_dir = add_series(tmp_path, server, "16.1")
    run_device(config, "sync")  # the folder learns the habit
    run_device(config, "sync")
    server.faults.poison("Stand-up (moved)")  # the moved meeting's own Add
    (a_dir / "standup.ics").write_text(OTHER_SERIES, encoding="utf-8")
    mine = all_occurrences(a_dir)
    failed = run_device(config, "sync", check=False)
    told = failed.stdout + failed.stderr
    assert "stored without its exceptions" in told, told
    assert "Traceback" not in told
    server.faults.clear()
    again = run_device(config, "sync")
    assert "remote +0 ~1 -0" in again.stdout, again.stdout + again.stderr
    b = write_cal_config(tmp_path / "b", server.url, version="16.1")
    sync(b)
    assert all_occurrences(calendar_dir(tmp_path / "b")) == mine
