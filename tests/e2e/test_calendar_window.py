"""The FilterType windows end to end: ``calendar_window`` (2w … 6m) and
``tasks_filter: incomplete``. Items outside the window are not downloaded; items that
leave it arrive as SoftDelete and stay in the local folder (nothing is deleted on
either side); a local edit of such an item still goes up.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eassync.devserver import DevServer

from .cal_helpers import (
    TASK_DATA,
    by_summary,
    calendar_dir,
    copy_fixtures,
    run_device,
    tasks_dir,
    write_cal_config,
)
from .helpers import PASSWORD, USER


def sync(config: Path) -> str:
    return run_device(config, "sync").stdout


def softdeleted_rows(config: Path, pair: str) -> int:
    """Rows the engine marked dormant after a SoftDelete (the pair's status file)."""
    path = config.parent / "state" / "pairs" / f"{pair}.sqlite"
    with sqlite3.connect(path) as db:
        (count,) = db.execute("SELECT count(*) FROM items WHERE softdeleted = 1").fetchone()
    return int(count)


def event_ics(uid: str, summary: str, start: datetime) -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//eassync tests//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n"
        f"DTSTART:{start.strftime(fmt)}\r\n"
        f"DTEND:{(start + timedelta(hours=1)).strftime(fmt)}\r\n"
        f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        yield srv


@pytest.mark.parametrize("version", ["14.1", "16.1"])
def test_calendar_window_skips_old_events_and_keeps_those_that_leave_it(
    tmp_path: Path, server: DevServer, version: str
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    full = write_cal_config(tmp_path / "full", server.url, version=version)
    folder = calendar_dir(full.parent)
    folder.mkdir(parents=True)
    (folder / "recent.ics").write_text(event_ics("recent", "Recent", now + timedelta(days=1)))
    (folder / "old.ics").write_text(event_ics("old", "Old", now - timedelta(days=60)))
    sync(full)

    windowed = write_cal_config(
        tmp_path / "windowed", server.url, version=version, calendar_window="2w"
    )
    sync(windowed)
    assert set(by_summary(calendar_dir(windowed.parent))) == {"Recent"}

    # the server moves "Recent" two months back: it leaves the window (SoftDelete)
    server_folder = server.store.default_folder(USER, 8)
    for server_id, data in server.store.items(USER, server_folder).items():
        if data.text("Calendar:Subject") == "Recent":
            for tag, delta in (("StartTime", -61), ("EndTime", -61)):
                node = data.find("Calendar:" + tag)
                assert node is not None
                moved = datetime.strptime(str(node.value), "%Y%m%dT%H%M%SZ") + timedelta(delta)
                node.value = moved.strftime("%Y%m%dT%H%M%SZ")
            server.store.change_item(USER, server_folder, server_id, data)
    out = sync(windowed)
    assert "local +0 ~0 -0" in out, out
    kept = by_summary(calendar_dir(windowed.parent))
    assert set(kept) == {"Recent"}  # not deleted locally
    assert softdeleted_rows(windowed, "calendar") == 1  # it did arrive as SoftDelete
    assert server.store.count_items(USER, server_folder) == 2  # nor on the server

    # a local edit of the item outside the window still reaches the server
    path = kept["Recent"]
    path.write_text(path.read_text().replace("SUMMARY:Recent", "SUMMARY:Recent (edited)"))
    sync(windowed)
    subjects = {
        d.text("Calendar:Subject") for d in server.store.items(USER, server_folder).values()
    }
    assert subjects == {"Recent (edited)", "Old"}
    # the full device sees both events, the edit included
    sync(full)
    assert set(by_summary(calendar_dir(full.parent))) == {"Recent (edited)", "Old"}


@pytest.mark.parametrize("version", ["14.1", "16.1"])
def test_tasks_filter_incomplete_skips_done_tasks_and_keeps_those_completed_later(
    tmp_path: Path, server: DevServer, version: str
) -> None:
    full = write_cal_config(tmp_path / "full", server.url, version=version)
    copy_fixtures(TASK_DATA, tasks_dir(full.parent))
    sync(full)
    everything = set(by_summary(tasks_dir(full.parent)))
    done = {
        s
        for s, p in by_summary(tasks_dir(full.parent)).items()
        if "STATUS:COMPLETED" in p.read_text()
    }
    assert done

    open_only = write_cal_config(
        tmp_path / "open", server.url, version=version, tasks_filter="incomplete"
    )
    sync(open_only)
    assert set(by_summary(tasks_dir(open_only.parent))) == everything - done

    # completed on the server: the task leaves the filter (SoftDelete), stays locally
    server_folder = server.store.default_folder(USER, 7)
    target = sorted(everything - done)[0]
    for server_id, data in server.store.items(USER, server_folder).items():
        if data.text("Tasks:Subject") == target:
            node = data.find("Tasks:Complete")
            assert node is not None
            node.value = "1"
            data.add("Tasks:DateCompleted", "20240611T080000.000Z")
            server.store.change_item(USER, server_folder, server_id, data)
    out = sync(open_only)
    assert "local +0 ~0 -0" in out, out
    assert set(by_summary(tasks_dir(open_only.parent))) == everything - done
    assert softdeleted_rows(open_only, "tasks") == 1
    assert server.store.count_items(USER, server_folder) == len(everything)
