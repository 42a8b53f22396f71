"""Calendar attachments end to end: the real CLI inlines a server event's small
attachment in the local .ics (ATTACH;ENCODING=BASE64), skips a larger one with a note,
and never uploads either."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import icalendar
import pytest

from eassync.convert.calendar import CalendarHandler
from eassync.devserver import DevServer
from eassync.eas.element import E
from eassync.storage.base import Item

from .cal_helpers import calendar_dir, run_device, write_cal_config
from .helpers import PASSWORD, USER

EVENT = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
    b"UID:with-attachments\r\nDTSTAMP:20240101T000000Z\r\n"
    b"DTSTART:20240610T090000Z\r\nDTEND:20240610T100000Z\r\nSUMMARY:Review\r\n"
    b"END:VEVENT\r\nEND:VCALENDAR\r\n"
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        yield srv


def test_small_attachment_inlined_large_one_noted(tmp_path: Path, server: DevServer) -> None:
    small = server.store.add_attachment(USER, b"agenda\x00\xff", "agenda.bin", "text/plain")
    large = server.store.add_attachment(USER, b"y" * 4096, "slides.pdf", "application/pdf")
    data = CalendarHandler().to_eas(Item(EVENT, "with-attachments"), "14.1")
    data.append(
        E(
            "AirSyncBase:Attachments",
            *[
                E(
                    "AirSyncBase:Attachment",
                    E("AirSyncBase:DisplayName", value=name),
                    E("AirSyncBase:FileReference", value=ref),
                    E("AirSyncBase:Method", value="1"),
                    E("AirSyncBase:EstimatedDataSize", value=str(size)),
                )
                for name, ref, size in (("agenda.bin", small, 8), ("slides.pdf", large, 4096))
            ],
        )
    )
    server.store.add_item(USER, server.store.default_folder(USER, 8), data)
    config = write_cal_config(tmp_path / "dev", server.url, attachments_max_inline=1024)
    proc = run_device(config, "-v", "sync")
    (path,) = calendar_dir(config.parent).glob("*.ics")
    event = next(iter(icalendar.Calendar.from_ical(path.read_bytes()).walk("VEVENT")))
    attach = event["ATTACH"]
    assert not isinstance(attach, list)  # the large one is not inlined
    assert base64.b64decode(attach.to_ical()) == b"agenda\x00\xff"
    assert attach.params["X-FILENAME"] == "agenda.bin"
    assert "'slides.pdf'" in proc.stderr
    assert "more than attachments_max_inline (1024)" in proc.stderr
    # a second run changes nothing on either side (nothing is uploaded)
    out = run_device(config, "sync").stdout
    assert "calendar/Calendar: local +0 ~0 -0, remote +0 ~0 -0" in out
