"""Calendar attachments through the real devserver: ItemOperations download, inline up
to ``attachments_max_inline``, larger ones skipped with a log note; the calendar merge
keeps the user's own ATTACH lines and replaces the server's."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import icalendar
import pytest

from eassync.accounts import ClientPool
from eassync.attachments import SERVER_ATTACH_PARAM, attachment_enricher
from eassync.config import load_config
from eassync.convert.calendar import CalendarHandler
from eassync.devserver import DevServer
from eassync.eas.element import E, Element
from eassync.storage.base import Item
from eassync.storage.eas import EasRemoteCollection
from tests.e2e.cal_helpers import write_cal_config
from tests.e2e.helpers import PASSWORD, USER

HANDLER = CalendarHandler()
SMALL = b"\x00\x01binary agenda\xff" * 10
LARGE = b"x" * 5000

EVENT = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
    b"UID:with-attachments\r\nDTSTAMP:20240101T000000Z\r\n"
    b"DTSTART:20240610T090000Z\r\nDTEND:20240610T100000Z\r\nSUMMARY:Review\r\n"
    b"END:VEVENT\r\nEND:VCALENDAR\r\n"
)


def attachment(name: str, reference: str, size: int, content_type: str) -> Element:
    return E(
        "AirSyncBase:Attachment",
        E("AirSyncBase:DisplayName", value=name),
        E("AirSyncBase:FileReference", value=reference),
        E("AirSyncBase:Method", value="1"),
        E("AirSyncBase:EstimatedDataSize", value=str(size)),
        E("AirSyncBase:ContentType", value=content_type),
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        yield srv


def pull_calendar(
    tmp_path: Path, server: DevServer, monkeypatch: pytest.MonkeyPatch, max_inline: int
) -> list[Item]:
    monkeypatch.setenv("EASSYNC_TEST_PASSWORD", PASSWORD)
    monkeypatch.delenv("EASSYNC_STATE_DIR", raising=False)
    config = load_config(write_cal_config(tmp_path / "dev", server.url))
    with ClientPool(config) as pool:
        client = pool.client("dev")
        folder = next(f for f in pool.folders("dev") if f.type == 8)
        remote = EasRemoteCollection(
            client, folder, HANDLER, enrich=attachment_enricher(client, max_inline)
        )
        return [c.item for batch in remote.pull(None) for c in batch.changes if c.item]


def seed(server: DevServer, *, missing: bool = False) -> tuple[str, str]:
    small = server.store.add_attachment(USER, SMALL, "agenda.bin", "application/octet-stream")
    large = server.store.add_attachment(USER, LARGE, "slides.pdf", "application/pdf")
    data = HANDLER.to_eas(Item(EVENT, "with-attachments"), "14.1")
    data.append(
        E(
            "AirSyncBase:Attachments",
            attachment("agenda.bin", small, len(SMALL), "application/octet-stream"),
            attachment("slides.pdf", large, len(LARGE), "application/pdf"),
            *([attachment("gone.txt", "att-missing", 3, "text/plain")] if missing else []),
        )
    )
    server.store.add_item(USER, server.store.default_folder(USER, 8), data)
    return small, large


def attaches(item: Item) -> list[icalendar.prop.vBinary]:
    event = next(iter(icalendar.Calendar.from_ical(item.raw).walk("VEVENT")))
    raw = event.get("ATTACH", [])
    return raw if isinstance(raw, list) else [raw]


def test_small_attachments_are_inlined_and_large_ones_skipped_with_a_note(
    tmp_path: Path,
    server: DevServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    small, _large = seed(server, missing=True)
    with caplog.at_level(logging.INFO, logger="eassync.attachments"):
        (item,) = pull_calendar(tmp_path, server, monkeypatch, max_inline=1000)
    (attach,) = attaches(item)
    assert attach.params["FMTTYPE"] == "application/octet-stream"
    assert attach.params["X-FILENAME"] == "agenda.bin"
    assert attach.params[SERVER_ATTACH_PARAM] == small
    assert base64.b64decode(attach.to_ical()) == SMALL
    assert b"ATTACH;ENCODING=BASE64" in item.raw
    assert b"VALUE=BINARY" in item.raw
    # the references of all three stay
    assert item.raw.count(b"X-EAS-ATTACHMENT") == 3
    assert "'slides.pdf'" in caplog.text
    assert "more than attachments_max_inline (1000)" in caplog.text
    assert "'gone.txt'" in caplog.text  # unknown FileReference: noted, item kept
    # the large one was never fetched: only the small and the missing one were asked for
    assert server.requests["ItemOperations"] == 2


def test_zero_means_never_inline(
    tmp_path: Path, server: DevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(server)
    (item,) = pull_calendar(tmp_path, server, monkeypatch, max_inline=0)
    assert attaches(item) == []
    assert server.requests["ItemOperations"] == 0


def test_merge_keeps_own_attach_and_replaces_the_servers(
    tmp_path: Path, server: DevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(server)
    (remote,) = pull_calendar(tmp_path, server, monkeypatch, max_inline=10_000)
    assert len(attaches(remote)) == 2
    # a new local item is the server's copy; its projection is the server's copy again
    # (the engine matches lost answers by fingerprint(project(local)))
    local = HANDLER.merge(remote, None)
    assert HANDLER.fingerprint(HANDLER.project(local, "14.1")) == HANDLER.fingerprint(remote)
    # the user adds a link; the server's attachments are never sent
    own = local.raw.replace(b"END:VEVENT", b"ATTACH:https://example.org/notes.txt\r\nEND:VEVENT")
    assert b"Attachment" not in HANDLER.to_eas(Item(own, local.uid), "14.1").to_xml().encode()
    # the server drops its attachments: ours stays, theirs go
    bare = HANDLER.from_eas(HANDLER.to_eas(Item(EVENT, "with-attachments"), "14.1"), "14.1")
    merged = HANDLER.merge(bare, Item(own, local.uid))
    assert [str(a) for a in attaches(merged)] == ["https://example.org/notes.txt"]
    # and back: the server's come in next to ours
    again = HANDLER.merge(remote, merged)
    kinds = sorted(SERVER_ATTACH_PARAM in a.params for a in attaches(again))
    assert kinds == [False, True, True]
