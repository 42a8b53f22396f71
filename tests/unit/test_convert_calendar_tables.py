"""The calendar/tasks support tables cannot lie: every Supported row round-trips."""

from __future__ import annotations

import pytest

from eassync.convert.calendar import HANDLER as CALENDAR
from eassync.convert.tables_calendar import SUPPORTED, TABLES, render_markdown
from eassync.convert.tasks import HANDLER as TASKS
from eassync.storage.base import Item

BASE = {
    "calendar": (
        "VEVENT",
        [
            "UID:table-row",
            "DTSTAMP:20240101T000000Z",
            "DTSTART:20240610T090000Z",
            "DTEND:20240610T100000Z",
        ],
    ),
    "tasks": ("VTODO", ["UID:table-row", "DTSTAMP:20240101T000000Z"]),
}
HANDLERS = {"calendar": CALENDAR, "tasks": TASKS}
ROWS = [
    pytest.param(kind, row, id=f"{kind}:{row.ical}")
    for kind, rows in TABLES.items()
    for row in rows
    if row.level == SUPPORTED and row.examples
]


def build(kind: str, extra: tuple[str, ...]) -> Item:
    name, lines = BASE[kind]
    names = {line.split(":")[0].split(";")[0] for line in extra if not line.startswith(" ")}
    kept = [line for line in lines if line.split(":")[0].split(";")[0] not in names]
    body = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", f"BEGIN:{name}", *kept]
    body += [*extra, f"END:{name}", "END:VCALENDAR"]
    return Item(("\r\n".join(body) + "\r\n").encode(), "table-row")


@pytest.mark.parametrize(("kind", "row"), ROWS)
@pytest.mark.parametrize("version", ["14.1", "16.1"])
def test_supported_row_round_trips_and_reaches_the_server(kind: str, row, version: str):
    handler = HANDLERS[kind]
    if kind == "calendar" and version.startswith("16"):
        handler = type(handler)(send_invitations=True)  # attendee rows need it in 16.x
    item = build(kind, row.examples)
    merged = handler.merge(handler.from_eas(handler.to_eas(item, version), version), item)
    assert handler.fingerprint(merged) == handler.fingerprint(item)
    base = build(kind, ())
    if row.ical.startswith("ORGANIZER") and version.startswith("16"):
        return  # 16.x does not send the organizer (the table says so)
    plain = handler.from_eas(handler.to_eas(base, version), version)
    with_row = handler.from_eas(handler.to_eas(item, version), version)
    assert handler.fingerprint(with_row) != handler.fingerprint(plain), "not carried by EAS"


def test_every_supported_row_has_examples_or_a_dedicated_test():
    dedicated = {"UID", "RECURRENCE-ID overrides"}  # test_convert_calendar covers these
    for rows in TABLES.values():
        for row in rows:
            if row.level == SUPPORTED:
                assert row.examples or row.ical in dedicated, row.ical


@pytest.mark.parametrize("kind", ["calendar", "tasks"])
def test_render_markdown(kind: str):
    text = render_markdown(kind)
    assert text.startswith("| iCalendar | EAS | Support | Notes |")
    assert text.count("\n") == len(TABLES[kind]) + 2
