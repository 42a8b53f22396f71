"""Helpers for the calendar and tasks end-to-end tests: configs with calendar and tasks
pairs (one per device), and independent views of .ics files (occurrences by expansion,
attendees, reminders, categories) to compare two devices' copies.

The views read the files with icalendar + recurring-ical-events only, never with the
converter under test.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import recurring_ical_events

from .helpers import USER, cli_env

CAL_DATA = Path(__file__).resolve().parents[1] / "data" / "calendar"
TASK_DATA = Path(__file__).resolve().parents[1] / "data" / "tasks"

#: fixtures whose rule EAS cannot express: the server (and so a second device) holds
#: the first occurrence only (tables_calendar "RRULE beyond the table")
UNEXPRESSIBLE = {"unsupported-rule.ics", "undated-unsupported-rule.ics"}


def write_cal_config(
    device: Path,
    url: str,
    *,
    version: str = "14.1",
    calendar_window: str = "all",
    tasks_filter: str = "all",
    send_invitations: bool = False,
    attachments_max_inline: int | None = None,
    default_timezone: str | None = None,
    conflict: str = "remote_wins",
    username: str = USER,
) -> Path:
    """A config for one device (its own status dir, hence its own DeviceId) with a
    ``{all: calendar}`` pair into ``device/calendars/<folder>/`` and a default tasks
    pair into ``device/tasks/``; the protocol version is pinned."""
    device.mkdir(parents=True, exist_ok=True)
    extra = ""
    if attachments_max_inline is not None:
        extra += f"    attachments_max_inline: {attachments_max_inline}\n"
    if default_timezone is not None:
        extra += f"    default_timezone: {default_timezone}\n"
    config = device / "config.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            general:
              status_dir: {device / "state"}
            accounts:
              dev:
                url: {url}
                username: {username}
                password: {{env: EASSYNC_TEST_PASSWORD}}
                protocol_version: "{version}"
            storages:
              calendars:
                type: vdir
                path: {device / "calendars"}
                fileext: .ics
              tasks:
                type: vdir
                path: {device / "tasks"}
                fileext: .ics
            pairs:
              calendar:
                account: dev
                remote: {{all: calendar}}
                local: calendars
                conflict: {conflict}
                calendar_window: {calendar_window}
                send_invitations: {"true" if send_invitations else "false"}
            """
        )
        + extra
        + "  tasks:\n"
        + "    account: dev\n"
        + "    remote: {default: tasks}\n"
        + "    local: tasks\n"
        + f"    conflict: {conflict}\n"
        + f"    tasks_filter: {tasks_filter}\n"
        + (f"    default_timezone: {default_timezone}\n" if default_timezone else ""),
        encoding="utf-8",
    )
    return config


def run_device(
    config: Path, *args: str, check: bool = True, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The real CLI for one device: without ``EASSYNC_STATE_DIR`` (which the test
    suite sets and which would override ``general.status_dir``), so each device keeps
    its own status and DeviceId. ``password``: the account's (default: the devserver's)."""
    env = cli_env()
    env.pop("EASSYNC_STATE_DIR", None)
    if password is not None:
        env["EASSYNC_TEST_PASSWORD"] = password
    proc = subprocess.run(
        [sys.executable, "-m", "eassync", "-c", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"eassync {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def calendar_dir(device: Path, folder: str = "Calendar") -> Path:
    """The local collection of one EAS calendar folder (``{all: calendar}`` subdir)."""
    return device / "calendars" / folder


def tasks_dir(device: Path) -> Path:
    return device / "tasks"


def read_cal(path: Path) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(path.read_bytes())


def is_series(path: Path) -> bool:
    """The file holds a recurring event (an RRULE of a VEVENT; a VTIMEZONE has its own)."""
    return any("RRULE" in event for event in read_cal(path).walk("VEVENT"))


def by_uid(folder: Path) -> dict[str, Path]:
    """Every .ics of a folder by the UID of its first VEVENT/VTODO."""
    out: dict[str, Path] = {}
    for path in sorted(folder.glob("*.ics")):
        for comp in read_cal(path).walk():
            if comp.name in ("VEVENT", "VTODO") and comp.get("UID") is not None:
                out[str(comp["UID"])] = path
                break
    return out


def by_summary(folder: Path) -> dict[str, Path]:
    """Every .ics of a folder by the SUMMARY of its master (tasks have no EAS UID)."""
    out: dict[str, Path] = {}
    for path in sorted(folder.glob("*.ics")):
        master = _master(read_cal(path))
        if master is not None:
            out[str(master.get("SUMMARY", ""))] = path
    return out


def _master(cal: icalendar.Calendar) -> Any:
    comps = [c for c in cal.walk() if c.name in ("VEVENT", "VTODO")]
    masters = [c for c in comps if c.get("RECURRENCE-ID") is None]
    return (masters or comps or [None])[0]


def _utc(value: datetime | date, default_zone: Any = UTC) -> datetime | date:
    if isinstance(value, datetime):
        return value.replace(tzinfo=value.tzinfo or default_zone).astimezone(UTC)
    return value


def occurrences(cal: icalendar.Calendar, first_only: bool = False) -> set[tuple[Any, Any, str]]:
    """(start, end, summary) of every occurrence over two years from the first start,
    as UTC instants (floating read as UTC: no ``default_timezone``) or dates."""
    master = _master(cal)
    first = master.decoded("DTSTART")
    begin = first if isinstance(first, datetime) else datetime.combine(first, datetime.min.time())
    begin = begin.replace(tzinfo=None) - timedelta(days=2)
    out: set[tuple[Any, Any, str]] = set()
    for comp in recurring_ical_events.of(cal).between(begin, begin + timedelta(days=731)):
        start = comp.decoded("DTSTART")
        end = comp.decoded("DTEND") if "DTEND" in comp else start + comp.decoded("DURATION")
        out.add((_utc(start), _utc(end), str(comp.get("SUMMARY", ""))))
    if first_only:
        return {min(out, key=lambda o: _sort_key(o[0]))}
    return out


def _sort_key(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, datetime.min.time(), tzinfo=UTC)


def attendees(cal: icalendar.Calendar) -> set[tuple[str, str, str]]:
    """(address, role, partstat) of the master's attendees that have an e-mail."""
    master = _master(cal)
    raw = master.get("ATTENDEE", [])
    out = set()
    for att in raw if isinstance(raw, list) else [raw]:
        address = str(att).lower().removeprefix("mailto:")
        if "@" not in address:
            continue
        role = str(att.params.get("ROLE", "REQ-PARTICIPANT"))
        if att.params.get("CUTYPE") == "RESOURCE":
            role = "RESOURCE"
        out.add((address, role, str(att.params.get("PARTSTAT", "NEEDS-ACTION"))))
    return out


def categories(cal: icalendar.Calendar) -> set[str]:
    master = _master(cal)
    raw = master.get("CATEGORIES")
    if raw is None:
        return set()
    out: set[str] = set()
    for prop in raw if isinstance(raw, list) else [raw]:
        out |= {str(c) for c in prop.cats}
    return out


def reminder(cal: icalendar.Calendar) -> datetime | None:
    """The absolute instant of the master's first alarm (relative triggers resolved
    against DTSTART, or DTEND/DUE with RELATED=END)."""
    master = _master(cal)
    alarms = [c for c in master.subcomponents if c.name == "VALARM"]
    if not alarms:
        return None
    trigger = alarms[0]["TRIGGER"]
    value = trigger.dt
    if isinstance(value, datetime):
        return _utc(value)  # type: ignore[return-value]
    start = master.decoded("DTSTART") if "DTSTART" in master else None
    if trigger.params.get("RELATED") == "END" or start is None:
        if "DUE" in master:
            anchor = master.decoded("DUE")
        elif "DTEND" in master:
            anchor = master.decoded("DTEND")
        else:
            anchor = start + master.decoded("DURATION")
    else:
        anchor = start
    if not isinstance(anchor, datetime):
        anchor = datetime.combine(anchor, datetime.min.time())
    return _utc(anchor) + value  # type: ignore[operator]


def event_reminder(cal: icalendar.Calendar) -> datetime | None:
    """The first alarm as EAS can hold it: ``Calendar:Reminder`` is minutes *before*
    the start, so an alarm after the start stays local (tables_calendar, VALARM row)."""
    when = reminder(cal)
    start = _master(cal).decoded("DTSTART")
    if when is None or not isinstance(start, datetime):
        return when
    return when if when <= _utc(start) else None  # type: ignore[operator]


def event_view(path: Path, first_only: bool = False) -> dict[str, Any]:
    cal = read_cal(path)
    return {
        "occurrences": occurrences(cal, first_only),
        "attendees": attendees(cal),
        "reminder": event_reminder(cal),
        "categories": categories(cal),
    }


def task_view(path: Path) -> dict[str, Any]:
    """What an EAS task holds of a VTODO, read independently of the converter."""
    cal = read_cal(path)
    todo = _master(cal)

    def instant(name: str) -> Any:
        return _utc(todo.decoded(name)) if name in todo else None

    priority = int(todo.get("PRIORITY", 0))
    importance = 1 if priority in (0, 5) else (2 if priority < 5 else 0)
    return {
        "summary": str(todo.get("SUMMARY", "")),
        "start": instant("DTSTART"),
        "due": instant("DUE"),
        "completed": str(todo.get("STATUS", "")) == "COMPLETED",
        "importance": importance,
        "categories": categories(cal),
        "reminder": reminder(cal),
        "rrule": str(todo["RRULE"].to_ical(), "ascii") if "RRULE" in todo else None,
    }


def copy_fixtures(source: Path, target: Path, names: list[str] | None = None) -> list[str]:
    """Copy fixture .ics files into a vdir folder (as a user's calendar app would)."""
    target.mkdir(parents=True, exist_ok=True)
    chosen = names or sorted(p.name for p in source.glob("*.ics"))
    for name in chosen:
        (target / name).write_bytes((source / name).read_bytes())
    return chosen
