"""16.x: a device's occurrence edits travel as per-occurrence Sync commands.

Device A (protocol 16.1) overrides one occurrence (RECURRENCE-ID), deletes another
(EXDATE) and changes an existing override in its vdir. The push must carry
``Change``/``Delete`` with ``AirSyncBase:InstanceId`` and no ``Calendar:Exceptions``
(MS-ASCAL 2.2.2.22); device B then shows the same occurrences over two years. Then A
moves the whole series: the server drops the exceptions (MS-ASCAL 2.2.2.22) and A
re-sends the ones it keeps. What the devserver received is read from its DEBUG log
(the request as XML), the CLI runs as a user runs it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest

from eassync.devserver import DevServer

from .cal_helpers import (
    CAL_DATA,
    calendar_dir,
    copy_fixtures,
    occurrences,
    read_cal,
    run_device,
    write_cal_config,
)
from .helpers import PASSWORD, USER

BERLIN = ZoneInfo("Europe/Berlin")
SERIES = "weekly-berlin-exceptions.ics"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        yield srv


def sync_requests(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The XML of every Sync request with client commands the devserver logged."""
    found = []
    for record in caplog.records:
        if record.name == "eassync.devserver" and record.msg.startswith("%s request from"):
            command, _user, xml = record.args  # type: ignore[misc]
            if command == "Sync" and "<Commands" in xml:
                found.append(xml)
    return found


def edit(path: Path, change: Any) -> None:
    cal = read_cal(path)
    change(cal)
    path.write_bytes(cal.to_ical())


def master(cal: icalendar.Calendar) -> Any:
    return next(c for c in cal.walk("VEVENT") if c.get("RECURRENCE-ID") is None)


def add_override(cal: icalendar.Calendar, original: datetime, summary: str, hours: int) -> None:
    event = icalendar.Event()
    event.add("uid", str(master(cal)["UID"]))
    event.add("dtstamp", datetime(2024, 2, 1, tzinfo=ZoneInfo("UTC")))
    event.add("recurrence-id", original)
    event.add("dtstart", original + timedelta(hours=hours))
    event.add("dtend", original + timedelta(hours=hours + 1))
    event.add("summary", summary)
    cal.add_component(event)


def two_devices(tmp_path: Path, server: DevServer) -> tuple[Path, Path]:
    a = write_cal_config(tmp_path / "a", server.url, version="16.1")
    b = write_cal_config(tmp_path / "b", server.url, version="16.1")
    copy_fixtures(CAL_DATA, calendar_dir(a.parent), [SERIES])
    run_device(a, "sync")
    run_device(b, "sync")
    return a, b


def only_file(device: Path) -> Path:
    (path,) = calendar_dir(device.parent).glob("*.ics")
    return path


def test_occurrence_edits_travel_as_instance_commands(
    tmp_path: Path, server: DevServer, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = two_devices(tmp_path, server)
    path_a = calendar_dir(a.parent) / SERIES

    def occurrence_edits(cal: icalendar.Calendar) -> None:
        master(cal).add("exdate", datetime(2024, 4, 8, 10, tzinfo=BERLIN))
        add_override(cal, datetime(2024, 4, 1, 10, tzinfo=BERLIN), "Easter special", 2)
        for comp in cal.walk("VEVENT"):
            rid = comp.decoded("RECURRENCE-ID") if "RECURRENCE-ID" in comp else None
            if rid == datetime(2024, 3, 25, 10, tzinfo=BERLIN):
                comp["SUMMARY"] = "Team meeting (moved again)"

    edit(path_a, occurrence_edits)
    caplog.set_level(logging.DEBUG, logger="eassync.devserver")
    assert "remote +0 ~1 -0" in run_device(a, "sync").stdout

    (request,) = sync_requests(caplog)
    assert "Exceptions" not in request, "16.x must not change occurrences via Exceptions"
    assert request.count("<InstanceId") == 3
    assert request.count("<Delete>") == 1, "the EXDATE as a Delete with InstanceId"
    assert request.count("<Change>") == 3, "series + new override + changed override"
    assert "20240408T080000Z" in request  # 10:00 Berlin (CEST) = 08:00Z
    assert "20240401T080000Z" in request
    assert "20240325T090000Z" in request

    run_device(b, "sync")
    expected = occurrences(read_cal(path_a))
    assert occurrences(read_cal(only_file(b))) == expected
    starts = {start for start, _end, _summary in expected}
    assert datetime(2024, 4, 8, 8, tzinfo=ZoneInfo("UTC")) not in starts
    assert (
        datetime(2024, 4, 1, 10, tzinfo=ZoneInfo("UTC")),
        datetime(2024, 4, 1, 11, tzinfo=ZoneInfo("UTC")),
        "Easter special",
    ) in expected
    assert any(summary == "Team meeting (moved again)" for _s, _e, summary in expected)

    # a second sync of A sends nothing: the pushed state is the stored state
    caplog.clear()
    assert "remote +0 ~0 -0" in run_device(a, "sync").stdout
    assert sync_requests(caplog) == []


def test_moving_the_series_resends_the_exceptions_it_keeps(
    tmp_path: Path, server: DevServer, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = two_devices(tmp_path, server)
    path_a = calendar_dir(a.parent) / SERIES

    def later_by_an_hour(cal: icalendar.Calendar) -> None:
        """As a calendar app moves a series: its overrides and EXDATEs move along."""
        hour = timedelta(hours=1)
        for comp in cal.walk("VEVENT"):
            for name in ("DTSTART", "DTEND", "RECURRENCE-ID"):
                if name in comp:
                    value = comp.decoded(name) + hour
                    comp.pop(name)
                    comp.add(name, value)
        event = master(cal)
        event.pop("EXDATE")
        event.add("exdate", datetime(2024, 3, 18, 11, tzinfo=BERLIN))
        event["SUMMARY"] = "Team meeting (later)"

    edit(path_a, later_by_an_hour)
    caplog.set_level(logging.DEBUG, logger="eassync.devserver")
    run_device(a, "sync")
    (request,) = sync_requests(caplog)
    assert "Exceptions" not in request
    # the server drops the exceptions with the move: both come again, at their new times
    assert request.count("<Delete>") == 1
    assert request.count("<Change>") == 2
    assert "20240318T100000Z" in request
    assert "20240325T100000Z" in request

    run_device(b, "sync")
    expected = occurrences(read_cal(path_a))
    assert occurrences(read_cal(only_file(b))) == expected
    assert {summary for _s, _e, summary in expected} == {
        "Team meeting (later)",
        "Team meeting (moved)",
    }


def _remote(tmp_path: Path, server: DevServer) -> tuple[Any, Any, Any, str]:
    """The EAS adapter on the devserver at 16.1, the series stored as a device's Add."""
    from eassync.convert.calendar import CalendarHandler
    from eassync.eas.client import AccountSettings, EasClient
    from eassync.storage.base import Item
    from eassync.storage.eas import EasRemoteCollection

    client = EasClient(
        AccountSettings(
            name="dev",
            url=server.url,
            username=USER,
            password=PASSWORD,
            protocol_version="16.1",
            state_dir=tmp_path / "state",
        )
    )
    calendar = next(f for f in client.folder_sync() if f.type == 8)
    handler = CalendarHandler()
    remote = EasRemoteCollection(client, calendar, handler)
    key = ""
    for batch in remote.pull(None):
        key = batch.state
    raw = (CAL_DATA / SERIES).read_bytes()
    data = handler.to_eas(Item(raw, "series"), "16.1")
    server_id = server.store.add_item(USER, calendar.server_id, data, origin=client.device_id)
    return client, remote, key, server_id


def test_an_occurrence_the_server_refuses_fails_the_op_and_names_it(
    tmp_path: Path, server: DevServer
) -> None:
    from eassync.storage.base import Item, PushOp

    client, remote, key, server_id = _remote(tmp_path, server)
    cal = icalendar.Calendar.from_ical((CAL_DATA / SERIES).read_bytes())
    # a Tuesday: no occurrence of this Monday series, the server answers Status 8
    add_override(cal, datetime(2024, 4, 2, 10, tzinfo=BERLIN), "Not an occurrence", 1)
    result = remote.push(key, [PushOp("change", server_id, Item(cal.to_ical(), "series"))])

    (op,) = result.results
    assert op.status == "rejected", "the series exists: never not_found"
    assert "occurrence 20240402T080000Z" in op.message
    assert "Status 8" in op.message
    client.close()


def test_without_the_servers_copy_the_change_goes_whole(
    tmp_path: Path, server: DevServer, caplog: pytest.LogCaptureFixture
) -> None:
    from eassync.storage.base import Item, PushOp

    client, remote, key, server_id = _remote(tmp_path, server)
    cal = icalendar.Calendar.from_ical((CAL_DATA / SERIES).read_bytes())
    master(cal).add("exdate", datetime(2024, 4, 8, 10, tzinfo=BERLIN))
    missing = "999"  # no such item: the Fetch fails, the Change is sent as ≤14.1 sends it
    caplog.set_level(logging.DEBUG, logger="eassync.devserver")
    result = remote.push(key, [PushOp("change", missing, Item(cal.to_ical(), "series"))])

    (request,) = sync_requests(caplog)
    assert "<Exceptions" in request, "the whole item, exceptions inside"
    assert request.count("<Change>") == 1
    assert "<Delete>" not in request
    assert [r.status for r in result.results] == ["not_found"]
    assert (
        server.store.items(USER, remote.folder.server_id)[server_id].find("Calendar:Exceptions")
        is not None
    ), "the real series is untouched"
    client.close()
