"""CalDAV/CardDAV behaviour beyond the storage contract, on real Radicale and
Xandikos: change detection by sync-token and ctag (requests counted), the
component filter of mixed calendars, a series with its exceptions as one item,
errors naming server/collection/status, discovery, and the config entry point.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import textwrap
import threading
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import pytest

from eassync.config import parse_config
from eassync.eas.commands import Folder
from eassync.errors import AuthError, NotFoundError, TLSError
from eassync.pairs import Selection
from eassync.storage.base import Item
from eassync.storage.dav import (
    DavSession,
    DavStorage,
    create_collection,
    find_home_set,
    list_collections,
    open_dav_storage,
    resolve_collection,
)
from tests.storage_contract import EVENT_TEMPLATE, TASK_TEMPLATE, VCARD_TEMPLATE, fill

if TYPE_CHECKING:
    from tests.integration.conftest_dav import DavServer

pytest_plugins = ["tests.integration.conftest_dav"]


@pytest.fixture(params=["radicale", "xandikos"])
def server(request: pytest.FixtureRequest) -> DavServer:
    if request.param == "radicale":
        request.applymarker(pytest.mark.radicale)
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def book(server: DavServer) -> DavStorage:
    return server.new_storage("VCARD")


def card(uid: str) -> Item:
    return fill(VCARD_TEMPLATE, uid)


# --- change detection -----------------------------------------------------------------------


def test_no_op_changes_take_one_request(server: DavServer) -> None:
    storage = book(server)
    for i in range(3):
        storage.add(card(f"c{i}"))
    first = storage.changes(None, {})
    assert first.token is not None
    assert first.token.startswith("sync:")
    before = storage.request_count
    again = storage.changes(first.token, first.changed)
    assert storage.request_count - before == 1
    assert (again.changed, again.deleted) == ({}, set())


def test_sync_token_reports_exactly_what_changed(server: DavServer) -> None:
    storage = book(server)
    kept = storage.add(card("kept"))
    edited, edited_etag = storage.add(card("edited"))
    gone, gone_etag = storage.add(card("gone"))
    first = storage.changes(None, {})
    known = dict(first.changed)

    added = storage.add(card("added"))
    new_etag = storage.update(edited, card("edited"), edited_etag)
    storage.delete(gone, gone_etag)
    changes = storage.changes(first.token, known)
    assert changes.changed == {added[0]: added[1], edited: new_etag}
    assert changes.deleted == {gone}
    assert kept[0] not in changes.changed
    assert changes.token != first.token


def test_invalid_sync_token_falls_back_to_a_full_listing(server: DavServer) -> None:
    storage = book(server)
    a = storage.add(card("a"))
    b = storage.add(card("b"))
    known = {a[0]: a[1], "/nowhere/gone.vcf": '"x"'}
    changes = storage.changes("sync:http://example.invalid/not-a-token", known)
    assert changes.changed == {b[0]: b[1]}
    assert changes.deleted == {"/nowhere/gone.vcf"}
    assert changes.token is not None
    assert changes.token.startswith("sync:")
    assert "not-a-token" not in changes.token


def test_ctag_listing_when_sync_collection_is_not_used(server: DavServer) -> None:
    storage = book(server)
    storage.supports_sync = False  # as after a server refused sync-collection
    a = storage.add(card("a"))
    first = storage.changes(None, {})
    assert first.changed == {a[0]: a[1]}
    assert first.token is not None
    assert first.token.startswith("ctag:")
    before = storage.request_count
    again = storage.changes(first.token, first.changed)
    assert storage.request_count - before == 1
    assert (again.changed, again.deleted) == ({}, set())
    b = storage.add(card("b"))
    third = storage.changes(first.token, first.changed)
    assert third.changed == {b[0]: b[1]}


def test_a_known_item_without_etag_is_looked_at_despite_the_token(server: DavServer) -> None:
    storage = book(server)
    ident, etag = storage.add(card("a"))
    first = storage.changes(None, {})
    changes = storage.changes(first.token, {ident: ""})
    assert changes.changed == {ident: etag}


# --- calendars --------------------------------------------------------------------------------


def test_mixed_calendar_each_pair_sees_only_its_component(server: DavServer) -> None:
    url = server.new_collection("caldav", None)  # events and tasks together
    events = DavStorage(server.session(), url, "caldav", component="VEVENT")
    tasks = DavStorage(server.session(), url, "caldav", component="VTODO")
    event_ident, event_etag = events.add(fill(EVENT_TEMPLATE, "ev"))
    task_ident, task_etag = tasks.add(fill(TASK_TEMPLATE, "todo"))
    assert list(events.list()) == [(event_ident, event_etag)]
    assert list(tasks.list()) == [(task_ident, task_etag)]
    # sync-collection cannot filter: the other component's object reads as not found
    results = {i: r for i, r, _ in events.get_many(events.changes(None, {}).changed)}
    assert isinstance(results[event_ident], Item)
    assert isinstance(results[task_ident], NotFoundError)


SERIES = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//eassync//tests//EN\r\n"
    "BEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20240101T000000Z\r\n"
    "DTSTART:20240301T090000Z\r\nDTEND:20240301T100000Z\r\nRRULE:FREQ=WEEKLY;COUNT=5\r\n"
    "SUMMARY:Weekly\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20240101T000000Z\r\n"
    "RECURRENCE-ID:20240315T090000Z\r\nDTSTART:20240315T110000Z\r\n"
    "DTEND:20240315T120000Z\r\nSUMMARY:Weekly (moved)\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)


def test_series_with_an_exception_is_one_item(server: DavServer) -> None:
    storage = server.new_storage("VEVENT")
    ident, _ = storage.add(Item(SERIES.encode(), "series-1"))
    assert [i for i, _ in storage.list()] == [ident]
    item, _ = storage.get(ident)
    text = item.raw.decode()
    assert item.uid == "series-1"
    assert text.count("BEGIN:VEVENT") == 2
    assert "RECURRENCE-ID:20240315T090000Z" in text
    assert "\r\n" in text
    assert "\n" not in text.replace("\r\n", "")


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.radicale
def test_wrong_password_names_server_collection_and_status(radicale: DavServer) -> None:
    url = radicale.new_collection("carddav")
    session = DavSession(username=radicale.username, password="wrong", label="CardDAV")
    storage = DavStorage(session, url, "carddav")
    with pytest.raises(AuthError) as info:
        storage.changes(None, {})
    message = str(info.value)
    assert url in message
    assert "HTTP 401" in message
    assert "CardDAV" in message


def test_missing_collection_names_url_and_status(server: DavServer) -> None:
    url = server.homes["carddav"] + "no-such-book/"
    storage = DavStorage(server.session("carddav"), url, "carddav")
    with pytest.raises(NotFoundError) as info:
        list(storage.list())
    assert url in str(info.value)
    assert "HTTP 404" in str(info.value)


def test_tls_is_verified_by_default(tmp_path: Path) -> None:
    # a self-signed certificate must be refused unless the config says otherwise
    import socket
    import ssl
    import subprocess
    import sys

    from tests.integration.conftest_dav import free_port

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        capture_output=True,
        check=False,
    )  # fmt: skip
    if made.returncode != 0:
        pytest.skip("openssl cannot make a test certificate")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", TLS_SERVER, str(port), str(cert), str(key)],
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                import time

                time.sleep(0.05)
        storage = DavStorage(DavSession(), f"https://127.0.0.1:{port}/book/", "carddav")
        with pytest.raises(TLSError, match="TLS verification failed"):
            list(storage.list())
    finally:
        server.terminate()
        server.wait()
    assert ssl  # the stdlib server below needs it


TLS_SERVER = """
import http.server, ssl, sys
port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
httpd = http.server.HTTPServer(("127.0.0.1", port), http.server.BaseHTTPRequestHandler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
httpd.serve_forever()
"""


# --- discovery and config ---------------------------------------------------------------------


@pytest.mark.radicale
def test_radicale_home_found_from_the_server_root(radicale: DavServer) -> None:
    session = radicale.session("carddav")
    home = find_home_set(session, radicale.base_url, "carddav")
    assert home == radicale.homes["carddav"]


def test_xandikos_default_collections_found_by_name(xandikos: DavServer) -> None:
    session = xandikos.session()
    assert find_home_set(session, xandikos.base_url, "caldav") == xandikos.homes["caldav"]
    assert find_home_set(session, xandikos.base_url, "carddav") == xandikos.homes["carddav"]
    calendars = list_collections(session, xandikos.homes["caldav"], "caldav")
    assert any(c.segment == "calendar" for c in calendars)
    url = resolve_collection(
        session, xandikos.base_url, "carddav", "addressbook", None, create=False
    )
    assert url == xandikos.homes["carddav"] + "addressbook/"
    with pytest.raises(NotFoundError, match="no carddav collection 'nope'") as info:
        resolve_collection(session, xandikos.base_url, "carddav", "nope", None, create=False)
    assert info.value.hint is not None
    assert "addressbook" in info.value.hint


@pytest.mark.radicale
def test_open_dav_storage_from_config_finds_the_named_calendar(
    radicale: DavServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = radicale.new_collection("caldav", "VTODO")
    name = url.rstrip("/").rsplit("/", 1)[-1]
    monkeypatch.setenv("DAV_TEST_PASSWORD", radicale.password or "")
    text = textwrap.dedent(
        f"""\
        accounts:
          a:
            url: https://eas.example.com/Microsoft-Server-ActiveSync
            username: u
            password: {{env: DAV_TEST_PASSWORD}}
        storages:
          tasks:
            type: caldav
            url: {radicale.base_url}
            username: {radicale.username}
            password: {{env: DAV_TEST_PASSWORD}}
            collection: {name}
        pairs:
          tasks:
            account: a
            remote: {{default: tasks}}
            local: tasks
        """
    )
    config = parse_config(text, tmp_path / "config.yaml")
    folder = Folder.of("7", "0", "Tasks", 7)
    storage = open_dav_storage(config.storages["tasks"], Selection(folder, "tasks"), None)  # type: ignore[arg-type]
    assert storage.url == url
    assert storage.component == "VTODO"
    assert list(storage.list()) == []


@pytest.mark.radicale
def test_a_found_collection_is_remembered_and_found_again_when_gone(
    radicale: DavServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "remembered-" + Path(tmp_path).name[-8:]
    session = radicale.session("carddav")
    first_url = create_collection(session, radicale.homes["carddav"], "carddav", name, None)
    monkeypatch.setenv("DAV_TEST_PASSWORD", radicale.password or "")
    config = parse_config(
        textwrap.dedent(
            f"""\
            accounts:
              a:
                url: https://eas.example.com/Microsoft-Server-ActiveSync
                username: u
                password: {{env: DAV_TEST_PASSWORD}}
            storages:
              book:
                type: carddav
                url: {radicale.base_url}
                username: {radicale.username}
                password: {{env: DAV_TEST_PASSWORD}}
                collection: {name}
            pairs:
              contacts:
                account: a
                remote: {{default: contacts}}
                local: book
            """
        ),
        tmp_path / "config.yaml",
    )
    sel = Selection(Folder.of("2", "0", "Contacts", 9), "contacts")
    storage = open_dav_storage(config.storages["book"], sel, None)  # type: ignore[arg-type]
    assert storage.url == first_url
    assert storage.request_count > 1  # discovery

    again = open_dav_storage(config.storages["book"], sel, None)  # type: ignore[arg-type]
    assert again.url == first_url
    assert again.request_count == 0
    again.changes(None, {})
    assert again.request_count == 1

    # the collection is replaced by another of the same name at another path
    assert session.request("DELETE", first_url).status_code in (200, 204)
    second_url = create_collection(
        session, radicale.homes["carddav"], "carddav", name + "-new", None
    )
    assert session.request(
        "PROPPATCH",
        second_url,
        body=(
            b'<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
            + f"<D:displayname>{name}</D:displayname>".encode()
            + b"</D:prop></D:set></D:propertyupdate>"
        ),
    ).status_code in (200, 207)
    moved = open_dav_storage(config.storages["book"], sel, None)  # type: ignore[arg-type]
    ident, _ = DavStorage(session, second_url, "carddav").add(card("in-new"))
    changes = moved.changes("sync:stale", {})
    assert moved.url == second_url
    assert list(changes.changed) == [ident]


class _ResetOnce(socketserver.BaseRequestHandler):
    """Drops the first connection after reading the request (as SOGo drops idle
    keep-alive connections), answers later ones with an empty address book."""

    resets: ClassVar[list[int]] = []

    def handle(self) -> None:
        self.request.recv(65536)
        if not self.resets:
            self.resets.append(1)
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return  # closing with linger 0 sends a reset
        body = b'<d:multistatus xmlns:d="DAV:"></d:multistatus>'
        self.request.sendall(
            b"HTTP/1.1 207 Multi-Status\r\nContent-Type: application/xml\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )


def test_a_reset_connection_is_tried_once_more() -> None:
    with socketserver.TCPServer(("127.0.0.1", 0), _ResetOnce) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            port = httpd.server_address[1]
            storage = DavStorage(DavSession(), f"http://127.0.0.1:{port}/book/", "carddav")
            assert list(storage.list()) == []
            assert _ResetOnce.resets == [1]
            assert storage.session.last_was_retried
            assert storage.request_count == 2
        finally:
            httpd.shutdown()
