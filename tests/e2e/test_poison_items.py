"""One bad server item never stops a pass (issue 14 items 8 and 9), through the
devserver and the real CLI: the good item of the same batch is stored, the bad one is
named, the exit code is 1, no traceback, and the next pass reports it again.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eassync.devserver import DevServer
from eassync.eas.element import E, Element

from .cal_helpers import by_uid, calendar_dir, read_cal, run_device, write_cal_config
from .helpers import PASSWORD, USER

C = "Calendar:"


def event(uid: str, subject: str, *extra: Element) -> Element:
    return E(
        "AirSync:ApplicationData",
        E(C + "TimeZone", value="AAAAAA" + "A" * 222),
        E(C + "StartTime", value="20260105T100000Z"),
        E(C + "EndTime", value="20260105T110000Z"),
        E(C + "Subject", value=subject),
        E(C + "UID", value=uid),
        *extra,
    )


def remembered_failures(device: Path) -> dict[str, str]:
    """The server items the pair status remembers as failed (all collections)."""
    out: dict[str, str] = {}
    for path in (device / "state").rglob("*.sqlite"):
        with sqlite3.connect(path) as db:
            for (value,) in db.execute("SELECT value FROM meta WHERE key LIKE 'failed_remote:%'"):
                out.update(json.loads(value))
    return out


POISONS = {
    "interval-2^31": E(
        C + "Recurrence", E(C + "Type", value="0"), E(C + "Interval", value=str(2**31))
    ),
    "occurrences-2^31": E(
        C + "Recurrence", E(C + "Type", value="0"), E(C + "Occurrences", value=str(2**31))
    ),
    "weekday-bit-15": E(
        C + "Recurrence", E(C + "Type", value="3"), E(C + "DayOfWeek", value="32768")
    ),
}


def test_poisonous_events_are_named_and_skipped_and_the_good_ones_stored(tmp_path: Path) -> None:
    """One batch: two good events and one event per poison; each poison is named, the
    good ones are stored, exit 1, and the next pass says so again."""
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder = srv.store.default_folder(USER, 8)
        srv.store.add_item(USER, folder, event("good-1", "Good event"))
        for name, poison in sorted(POISONS.items()):
            srv.store.add_item(USER, folder, event(name, f"Poisonous {name}", poison))
        srv.store.add_item(USER, folder, event("good-2", "Another good event"))
        config = write_cal_config(tmp_path / "device", srv.url)

        for _ in range(2):
            proc = run_device(config, "sync", check=False)
            output = proc.stdout + proc.stderr
            assert proc.returncode == 1, output
            assert "Traceback" not in proc.stderr
            for name in POISONS:
                assert f"Poisonous {name}" in output
            assert set(by_uid(calendar_dir(tmp_path / "device"))) == {"good-1", "good-2"}


def test_a_reminder_of_2_to_the_32_minutes_is_clamped_and_stored(tmp_path: Path) -> None:
    """Clamped, not refused: any reminder before year 1 already means "as early as
    possible"; the event is stored and syncs back unchanged."""
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder = srv.store.default_folder(USER, 8)
        srv.store.add_item(USER, folder, event("good-1", "Good event"))
        srv.store.add_item(
            USER, folder, event("early-1", "Early bird", E(C + "Reminder", value=str(2**32)))
        )
        config = write_cal_config(tmp_path / "device", srv.url)
        run_device(config, "sync")
        files = by_uid(calendar_dir(tmp_path / "device"))
        assert set(files) == {"good-1", "early-1"}
        (vevent,) = [c for c in read_cal(files["early-1"]).walk() if c.name == "VEVENT"]
        (alarm,) = vevent.subcomponents
        trigger = alarm.decoded("TRIGGER")
        assert trigger < timedelta(days=-365 * 2000)  # still "very early"
        # the instant is one a calendar can compute (2^32 minutes is before year 1)
        assert vevent.decoded("DTSTART") + trigger >= datetime(1, 1, 1, tzinfo=UTC)
        second = run_device(config, "sync")
        assert "local +0 ~0 -0" in second.stdout
        assert "remote +0 ~0 -0" in second.stdout


def test_an_item_fixed_on_the_server_is_stored_and_no_longer_reported(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder = srv.store.default_folder(USER, 8)
        srv.store.add_item(USER, folder, event("good-1", "Good event"))
        bad = srv.store.add_item(
            USER, folder, event("bad-1", "Poisonous event", POISONS["interval-2^31"])
        )
        config = write_cal_config(tmp_path / "device", srv.url)
        assert run_device(config, "sync", check=False).returncode == 1
        assert run_device(config, "sync", check=False).returncode == 1

        srv.store.change_item(USER, folder, bad, event("bad-1", "Mended event"))
        fixed = run_device(config, "sync")
        assert "Mended event" not in fixed.stderr
        assert set(by_uid(calendar_dir(tmp_path / "device"))) == {"good-1", "bad-1"}
        quiet = run_device(config, "sync")
        assert "failed" not in quiet.stdout + quiet.stderr
        assert remembered_failures(tmp_path / "device") == {}


def test_an_item_deleted_on_the_server_is_no_longer_reported(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder = srv.store.default_folder(USER, 8)
        bad = srv.store.add_item(
            USER, folder, event("bad-1", "Poisonous event", POISONS["occurrences-2^31"])
        )
        config = write_cal_config(tmp_path / "device", srv.url)
        assert run_device(config, "sync", check=False).returncode == 1
        assert len(remembered_failures(tmp_path / "device")) == 1
        srv.store.delete_item(USER, folder, bad)
        run_device(config, "sync")
        assert remembered_failures(tmp_path / "device") == {}
        quiet = run_device(config, "sync")
        assert "Poisonous" not in quiet.stdout + quiet.stderr


@pytest.mark.parametrize("hostile", ["\\x00", "\\x1b]0;owned\\x07\\r\\nfake: line\\x85"])
def test_a_server_id_with_control_characters_is_refused_by_name(
    tmp_path: Path, hostile: str
) -> None:
    """Refused on arrival, named by its subject; the other items go on (item 9). The
    ServerId goes out as OPAQUE bytes (a BLOB in the devserver's store): STR_I cannot
    carry a NUL, a hostile server's encoder does not care."""
    hostile = hostile.encode().decode("unicode_escape")
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder = srv.store.default_folder(USER, 8)
        srv.store.add_item(USER, folder, event("good-1", "Good event"))
        sid = srv.store.add_item(USER, folder, event("odd-1", "Oddly named event"))
        with srv.store.transaction() as db:
            db.execute(
                "UPDATE items SET server_id = ? WHERE server_id = ?",
                (f"{sid}{hostile}".encode(), sid),
            )
        srv.store.add_item(USER, folder, event("good-2", "Another good event"))
        config = write_cal_config(tmp_path / "device", srv.url)

        for _ in range(2):  # refused on arrival, then reported again
            proc = run_device(config, "sync", check=False)
            output = proc.stdout + proc.stderr
            assert proc.returncode == 1, output
            assert "Traceback" not in proc.stderr
            assert "Oddly named event" in output
            assert "unusable ServerId" in output
            assert hostile not in output  # escaped, never raw
            assert set(by_uid(calendar_dir(tmp_path / "device"))) == {"good-1", "good-2"}

        with srv.store.transaction() as db:  # gone from the server: no longer reported
            db.execute("DELETE FROM items WHERE server_id = ?", (f"{sid}{hostile}".encode(),))
        srv.store.add_item(USER, folder, event("good-3", "A third good event"))
        proc = run_device(config, "sync", check=False)
        assert "Traceback" not in proc.stderr
        assert set(by_uid(calendar_dir(tmp_path / "device"))) == {"good-1", "good-2", "good-3"}


def test_a_local_event_with_an_extreme_alarm_goes_up_with_a_clamped_reminder(
    tmp_path: Path,
) -> None:
    """The other direction: ``TRIGGER:-P99999999W`` crashed the local scan with an
    OverflowError (traceback, every run); now it is sent as the earliest reminder."""
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder = srv.store.default_folder(USER, 8)
        config = write_cal_config(tmp_path / "device", srv.url)
        run_device(config, "sync")
        local = calendar_dir(tmp_path / "device")
        (local / "early.ics").write_bytes(
            b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            b"UID:early-local\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\n"
            b"DTEND:20260105T110000Z\r\nSUMMARY:Early local\r\nBEGIN:VALARM\r\n"
            b"ACTION:DISPLAY\r\nDESCRIPTION:x\r\nTRIGGER:-P99999999W\r\nEND:VALARM\r\n"
            b"END:VEVENT\r\nEND:VCALENDAR\r\n"
        )
        proc = run_device(config, "sync", check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        ((data),) = srv.store.items(USER, folder).values()
        assert data.text("Calendar:Subject") == "Early local"
        reminder = data.int("Calendar:Reminder")
        assert reminder is not None
        assert 365 * 24 * 60 * 2000 < reminder <= 2**31 - 1
        again = run_device(config, "sync")
        assert "remote +0 ~0 -0" in again.stdout
