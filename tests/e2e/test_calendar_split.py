"""A series added with a moved and a deleted occurrence on a server that stores the
moved occurrence as an event of its own and deletes its date from the series (Horde
5.2, issue 15), played by the devserver with ``split_exceptions``; through the real CLI.

A second device sees the series and the one-off; the adding device must come to the
same shape instead of showing the moved meeting twice (its override and the server's
one-off): nothing doubled, nothing lost, edits of the one-off travel both ways, and
clean passes change nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eassync.devserver import DevServer

from .cal_helpers import (
    calendar_dir,
    is_series,
    occurrences,
    read_cal,
    run_device,
    write_cal_config,
)
from .helpers import NO_OP, PASSWORD, USER

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
BEGIN:VEVENT\r
UID:series@example.org\r
DTSTAMP:20260101T000000Z\r
RECURRENCE-ID;TZID=Europe/Berlin:20270125T100000\r
DTSTART;TZID=Europe/Berlin:20270125T150000\r
DTEND;TZID=Europe/Berlin:20270125T160000\r
SUMMARY:Team meeting (moved)\r
END:VEVENT\r
END:VCALENDAR\r
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(
        data_dir=tmp_path / "server",
        users={USER: PASSWORD},
        assign_uids=True,
        split_exceptions=True,
    ) as srv:
        yield srv


def sync(config: Path) -> str:
    out = run_device(config, "sync").stdout
    match = re.search(r"^calendar\S*: (local [^,]+, remote \S+ \S+ \S+)", out, re.M)
    assert match, out
    return match.group(1)


def all_occurrences(folder: Path) -> list[tuple[Any, Any, str]]:
    """Every occurrence of every file, a doubled one twice."""
    return sorted(o for p in folder.glob("*.ics") for o in occurrences(read_cal(p)))


def one_off(folder: Path) -> Path:
    (path,) = [p for p in folder.glob("*.ics") if not is_series(p)]
    return path


@pytest.mark.parametrize("version", ["14.1", "16.1"])
def test_a_series_added_with_exceptions_is_not_doubled_on_the_adding_device(
    tmp_path: Path, server: DevServer, version: str
) -> None:
    a = write_cal_config(tmp_path / "a", server.url, version=version)
    b = write_cal_config(tmp_path / "b", server.url, version=version)
    a_dir, b_dir = calendar_dir(tmp_path / "a"), calendar_dir(tmp_path / "b")
    a_dir.mkdir(parents=True)
    (a_dir / "series.ics").write_text(SERIES, encoding="utf-8")
    mine = occurrences(read_cal(a_dir / "series.ics"))
    assert len(mine) == 7

    assert sync(a) == "local +0 ~0 -0, remote +1 ~0 -0"
    folder = server.store.default_folder(USER, 8)
    assert len(server.store.items(USER, folder)) == 2  # the series and the one-off
    assert sync(b) == "local +2 ~0 -0, remote +0 ~0 -0"
    assert all_occurrences(b_dir) == sorted(mine)

    # the adding device takes the server's shape: the series without the override
    # (its date deleted), the moved meeting as the server's one-off, once
    assert sync(a) == "local +1 ~1 -0, remote +0 ~0 -0"
    assert all_occurrences(a_dir) == sorted(mine)
    assert "RECURRENCE-ID" not in (a_dir / "series.ics").read_text()
    for config in (a, b, a, b):
        assert sync(config) == NO_OP
    assert len(server.store.items(USER, folder)) == 2

    # an edit of the one-off travels from A to B, and back
    moved = one_off(a_dir)
    moved.write_text(moved.read_text().replace("(moved)", "(moved again)"), encoding="utf-8")
    assert sync(a) == "local +0 ~0 -0, remote +0 ~1 -0"
    assert sync(b) == "local +0 ~1 -0, remote +0 ~0 -0"
    theirs = one_off(b_dir)
    assert "SUMMARY:Team meeting (moved again)" in theirs.read_text()
    theirs.write_text(
        theirs.read_text().replace("SUMMARY:", "LOCATION:Room 2\r\nSUMMARY:", 1),
        encoding="utf-8",
    )
    assert sync(b) == "local +0 ~0 -0, remote +0 ~1 -0"
    assert sync(a) == "local +0 ~1 -0, remote +0 ~0 -0"
    assert "LOCATION:Room 2" in one_off(a_dir).read_text()
    for config in (a, b):
        assert sync(config) == NO_OP
    assert all_occurrences(a_dir) == all_occurrences(b_dir)
    assert len(all_occurrences(a_dir)) == 7
    assert len(server.store.items(USER, folder)) == 2
