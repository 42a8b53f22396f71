"""``eassync watch`` with a CardDAV local side (real Radicale): local changes are
found by sync-token polling, server changes arrive through Ping."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from eassync.devserver import DevServer
from eassync.storage.base import Item
from eassync.storage.dav import DavStorage
from tests.integration.conftest_dav import RADICALE_PASSWORD, RADICALE_USER, DavServer, radicale  # noqa: F401

from .helpers import PASSWORD, USER, person, server_names
from .test_watch import wait_for, watching

pytestmark = pytest.mark.radicale


def texts_in(storage: DavStorage) -> str:
    """Every item of ``storage`` as one text, to search for names in."""
    items = storage.get_many([ident for ident, _ in storage.list()])
    return "\n".join(item.raw.decode() for _, item, _ in items if isinstance(item, Item))


def test_watch_polls_a_carddav_side_and_pings_the_server(
    tmp_path: Path,
    radicale: DavServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    book_url = radicale.new_collection("carddav")
    book = DavStorage(radicale.session("carddav"), book_url, "carddav")
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder_id = srv.store.default_folder(USER, 9)
        config = tmp_path / "config.yaml"
        config.write_text(
            textwrap.dedent(
                f"""\
                general:
                  status_dir: {tmp_path / "state"}
                accounts:
                  dev:
                    url: {srv.url}
                    username: {USER}
                    password: {{env: EASSYNC_TEST_PASSWORD}}
                storages:
                  book:
                    type: carddav
                    url: {book_url}
                    username: {RADICALE_USER}
                    password: {RADICALE_PASSWORD}
                pairs:
                  contacts:
                    account: dev
                    remote: {{default: contacts}}
                    local: book
                """
            ),
            encoding="utf-8",
        )
        config.chmod(0o600)
        with watching(config, monkeypatch, heartbeat=600, poll_interval=0.5) as watch:
            started = time.monotonic()
            card = (
                "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:dav-1\r\nFN:Barbara Dav\r\n"
                "N:Dav;Barbara;;;\r\nEND:VCARD\r\n"
            )
            book.add(Item(card.encode(), "dav-1"))
            wait_for(
                lambda: "Barbara Dav" in server_names(srv.store, folder_id),
                "the CardDAV card on the EAS server",
            )
            dav_to_eas = time.monotonic() - started
            wait_for(lambda: "poll" in watch.triggers(), "the poll-triggered sync")

            started = time.monotonic()
            srv.store.add_item(USER, folder_id, person(5))
            wait_for(lambda: "Person00005" in texts_in(book), "the contact in Radicale")
            eas_to_dav = time.monotonic() - started
    print(
        f"\nRadicale → EAS by polling every 0.5 s: {dav_to_eas * 1000:.0f} ms; "
        f"EAS → Radicale through Ping: {eas_to_dav * 1000:.0f} ms"
    )
