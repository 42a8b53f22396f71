"""Edits, deletes and exceptions travel each way between two devices through the
devserver, server-side changes arrive, and all-day events never shift, whatever
each device's ``default_timezone``. For protocol versions 14.1 and 16.1 (16.x
per-occurrence commands are proven on the wire in ``test_calendar_instances``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest

from eassync.devserver import DevServer

from .cal_helpers import (
    CAL_DATA,
    by_summary,
    calendar_dir,
    copy_fixtures,
    event_view,
    occurrences,
    read_cal,
    run_device,
    write_cal_config,
)
from .helpers import PASSWORD, USER

VERSIONS = ("14.1", "16.1")
BERLIN = ZoneInfo("Europe/Berlin")


def sync(config: Path) -> str:
    return run_device(config, "sync").stdout


def edit(path: Path, change: Callable[[icalendar.Calendar], None]) -> None:
    """Edit a local .ics as a calendar app would (parse, change, write back)."""
    cal = read_cal(path)
    change(cal)
    path.write_bytes(cal.to_ical())


def master(cal: icalendar.Calendar) -> Any:
    return next(c for c in cal.walk("VEVENT") if c.get("RECURRENCE-ID") is None)


def override(cal: icalendar.Calendar, original: datetime) -> Any:
    for comp in cal.walk("VEVENT"):
        rid = comp.get("RECURRENCE-ID")
        if rid is not None and rid.dt == original:
            return comp
    raise AssertionError(f"no override for {original}")


def set_time(comp: Any, name: str, value: datetime) -> None:
    comp.pop(name, None)
    comp.add(name, value)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        yield srv


def two_devices(
    tmp_path: Path, server: DevServer, version: str, names: list[str], **options: Any
) -> tuple[Path, Path]:
    a = write_cal_config(tmp_path / "a", server.url, version=version, **options)
    b = write_cal_config(tmp_path / "b", server.url, version=version, **options)
    copy_fixtures(CAL_DATA, calendar_dir(a.parent), names)
    sync(a)
    sync(b)
    return a, b


def views(config: Path) -> dict[str, dict[str, Any]]:
    folder = calendar_dir(config.parent)
    return {s: event_view(p) for s, p in by_summary(folder).items()}


@pytest.mark.parametrize("version", VERSIONS)
def test_edit_and_delete_travel_each_way(tmp_path: Path, server: DevServer, version: str) -> None:
    names = ["utc-single.ics", "daily-sydney.ics", "yearly-kolkata.ics", "floating.ics"]
    a, b = two_devices(tmp_path, server, version, names)

    # a edits: new title, one hour later, new category
    def move(cal: icalendar.Calendar) -> None:
        event = master(cal)
        event["SUMMARY"] = "UTC call (moved)"
        set_time(event, "DTSTART", event.decoded("DTSTART") + timedelta(hours=1))
        set_time(event, "DTEND", event.decoded("DTEND") + timedelta(hours=1))
        event.pop("CATEGORIES", None)
        event.add("CATEGORIES", ["Moved"])

    edit(calendar_dir(a.parent) / "utc-single.ics", move)
    (calendar_dir(a.parent) / "floating.ics").unlink()
    assert "remote +0 ~1 -1" in sync(a)
    assert "local +0 ~1 -1" in sync(b)
    assert views(a) == views(b)
    assert views(b)["UTC call (moved)"]["categories"] == {"Moved"}
    assert "Floating time picnic" not in views(b)

    # b edits and deletes; a follows
    b_files = by_summary(calendar_dir(b.parent))

    def rename(cal: icalendar.Calendar) -> None:
        master(cal)["SUMMARY"] = "Stand-up (edited on b)"

    edit(b_files["Stand-up across the southern DST change"], rename)
    b_files["Independence Day call"].unlink()
    sync(b)
    assert "local +0 ~1 -1" in sync(a)
    assert views(a) == views(b)
    assert set(views(a)) == {"UTC call (moved)", "Stand-up (edited on b)"}


@pytest.mark.parametrize("version", VERSIONS)
def test_a_server_side_change_arrives_and_keeps_local_only_properties(
    tmp_path: Path, server: DevServer, version: str
) -> None:
    a, _ = two_devices(tmp_path, server, version, ["weekly-berlin-exceptions.ics"])
    folder = server.store.default_folder(USER, 8)
    ((server_id, data),) = server.store.items(USER, folder).items()
    subject = data.find("Calendar:Subject")
    assert subject is not None
    subject.value = "Team meeting (server)"
    server.store.change_item(USER, folder, server_id, data)
    assert "local +0 ~1 -0" in sync(a)
    path = calendar_dir(a.parent) / "weekly-berlin-exceptions.ics"
    text = path.read_text(encoding="utf-8")
    assert "SUMMARY:Team meeting (server)" in text
    # what EAS cannot hold stays in the local file (design rule 2)
    assert "COLOR:red" in text
    assert text.count("BEGIN:VALARM") == 2
    before = occurrences(icalendar.Calendar.from_ical((CAL_DATA / path.name).read_bytes()))
    after = occurrences(read_cal(path))
    assert {(s, e) for s, e, _ in after} == {(s, e) for s, e, _ in before}


@pytest.mark.parametrize("version", VERSIONS)
def test_exceptions_travel_each_way(tmp_path: Path, server: DevServer, version: str) -> None:
    a, b = two_devices(tmp_path, server, version, ["weekly-berlin-exceptions.ics"])
    moved = datetime(2024, 3, 25, 10, tzinfo=BERLIN)

    # b: move the existing override again, cancel one more occurrence
    def on_b(cal: icalendar.Calendar) -> None:
        ov = override(cal, moved)
        ov["SUMMARY"] = "Team meeting (moved again)"
        set_time(ov, "DTSTART", datetime(2024, 3, 25, 16, tzinfo=BERLIN))
        set_time(ov, "DTEND", datetime(2024, 3, 25, 17, tzinfo=BERLIN))
        master(cal).add("EXDATE", datetime(2024, 4, 1, 10, tzinfo=BERLIN))

    (b_path,) = calendar_dir(b.parent).glob("*.ics")
    edit(b_path, on_b)
    sync(b)
    assert "local +0 ~1 -0" in sync(a)
    a_path = calendar_dir(a.parent) / "weekly-berlin-exceptions.ics"
    assert occurrences(read_cal(a_path)) == occurrences(read_cal(b_path))
    got = occurrences(read_cal(a_path))
    assert (
        datetime(2024, 3, 25, 15, tzinfo=ZoneInfo("UTC")),
        datetime(2024, 3, 25, 16, tzinfo=ZoneInfo("UTC")),
        "Team meeting (moved again)",
    ) in got
    assert not any(s == datetime(2024, 4, 1, 8, tzinfo=ZoneInfo("UTC")) for s, _, _ in got)

    # a: a new override on another week; b follows
    def on_a(cal: icalendar.Calendar) -> None:
        ov = icalendar.Event()
        ov.add("UID", master(cal)["UID"])
        ov.add("DTSTAMP", datetime(2024, 1, 2, tzinfo=ZoneInfo("UTC")))
        ov.add("RECURRENCE-ID", datetime(2024, 4, 8, 10, tzinfo=BERLIN))
        ov.add("DTSTART", datetime(2024, 4, 8, 12, tzinfo=BERLIN))
        ov.add("DTEND", datetime(2024, 4, 8, 13, tzinfo=BERLIN))
        ov.add("SUMMARY", "Team meeting (lunch)")
        cal.add_component(ov)

    edit(a_path, on_a)
    sync(a)
    assert "local +0 ~1 -0" in sync(b)
    assert occurrences(read_cal(a_path)) == occurrences(read_cal(b_path))
    assert any(t == "Team meeting (lunch)" for _, _, t in occurrences(read_cal(b_path)))


@pytest.mark.parametrize("version", VERSIONS)
def test_all_day_events_never_shift_between_devices_in_other_zones(
    tmp_path: Path, server: DevServer, version: str
) -> None:
    names = ["allday-single.ics", "allday-multiday.ics", "allday-weekly-until.ics"]
    a = write_cal_config(
        tmp_path / "a", server.url, version=version, default_timezone="Pacific/Auckland"
    )
    b = write_cal_config(
        tmp_path / "b", server.url, version=version, default_timezone="America/Los_Angeles"
    )
    copy_fixtures(CAL_DATA, calendar_dir(a.parent), names)
    sync(a)
    sync(b)
    assert views(a) == views(b)
    for view in views(b).values():
        for start, end, _ in view["occurrences"]:
            assert type(start) is type(end)
            assert not isinstance(start, datetime)

    # and back: b moves one all-day event by a day; a sees the same dates
    b_files = by_summary(calendar_dir(b.parent))
    summary = next(iter(b_files))

    def shift(cal: icalendar.Calendar) -> None:
        event = master(cal)
        set_time(event, "DTSTART", event.decoded("DTSTART") + timedelta(days=1))
        set_time(event, "DTEND", event.decoded("DTEND") + timedelta(days=1))

    edit(b_files[summary], shift)
    sync(b)
    sync(a)
    assert views(a) == views(b)
