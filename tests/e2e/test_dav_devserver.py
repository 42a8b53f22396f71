"""End to end through the real CLI: the devserver (EAS) ⇄ a real Radicale, for
contacts and events, with an edit and a delete on each side; and ``collection: all``
finding its address books from the server's root through current-user-principal.
"""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import vobject

from eassync.convert.calendar import CalendarHandler
from eassync.devserver import DevServer
from eassync.storage.base import Item
from eassync.storage.dav import DavStorage, list_collections

from .helpers import PASSWORD, USER, person, run_cli, server_names

if TYPE_CHECKING:
    from tests.integration.conftest_dav import DavServer

pytest_plugins = ["tests.integration.conftest_dav"]

pytestmark = pytest.mark.radicale

EAS_VERSION = "14.1"


def dav_config(folder: Path, eas_url: str, dav: DavServer, storages: str, pairs: str) -> Path:
    config = folder / "config.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            general:
              status_dir: {folder / "state"}
            accounts:
              dev:
                url: {eas_url}
                username: {USER}
                password: {{env: EASSYNC_TEST_PASSWORD}}
            storages:
            """
        )
        + textwrap.indent(textwrap.dedent(storages), "  ")
        + "pairs:\n"
        + textwrap.indent(textwrap.dedent(pairs), "  "),
        encoding="utf-8",
    )
    return config


def card(uid: str, given: str, family: str = "Local") -> Item:
    raw = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\n"
        f"UID:{uid}\r\nFN:{given} {family}\r\nN:{family};{given};;;\r\n"
        f"EMAIL;TYPE=INTERNET:{given.lower()}@local.example\r\nEND:VCARD\r\n"
    )
    return Item(raw.encode(), uid)


def event(uid: str, summary: str, day: int) -> Item:
    raw = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//eassync//tests//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n"
        f"DTSTART:202403{day:02d}T090000Z\r\nDTEND:202403{day:02d}T100000Z\r\n"
        f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    return Item(raw.encode(), uid)


def dav_cards(storage: DavStorage) -> dict[str, str]:
    """ "given family" (from N, as helpers.server_names) → href of every card."""
    out = {}
    for ident, item, _ in storage.get_many([i for i, _ in storage.list()]):
        assert isinstance(item, Item)
        n = vobject.readOne(item.raw.decode()).n.value
        out[f"{n.given} {n.family}".strip()] = ident
    return out


def dav_events(storage: DavStorage) -> dict[str, str]:
    """SUMMARY → href of every event in the calendar."""
    out = {}
    for ident, item, _ in storage.get_many([i for i, _ in storage.list()]):
        assert isinstance(item, Item)
        out[str(vobject.readOne(item.raw.decode()).vevent.summary.value)] = ident
    return out


def server_subjects(srv: DevServer, folder_id: str) -> dict[str, str]:
    return {
        data.text("Calendar:Subject") or "": server_id
        for server_id, data in srv.store.items(USER, folder_id).items()
    }


def test_contacts_devserver_radicale_edit_and_delete_each_way(
    tmp_path: Path, radicale: DavServer
) -> None:
    url = radicale.new_collection("carddav")
    book = DavStorage(radicale.session("carddav"), url, "carddav")
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder_id = srv.store.default_folder(USER, 9)
        ids = [srv.store.add_item(USER, folder_id, person(i)) for i in range(3)]
        for i in range(3):
            book.add(card(f"local-{i}", f"Local{i}"))
        config = dav_config(
            tmp_path,
            srv.url,
            radicale,
            f"""\
            book:
              type: carddav
              url: {url}
              username: {radicale.username}
              password: {{env: EASSYNC_TEST_PASSWORD}}
            """,
            """\
            contacts:
              account: dev
              remote: {default: contacts}
              local: book
            """,
        )
        run_cli(config, "sync", check=True)
        names = {f"Person{i:05d} Example" for i in range(3)} | {f"Local{i} Local" for i in range(3)}
        assert set(dav_cards(book)) == names
        assert set(server_names(srv.store, folder_id)) == names
        assert sum(server_names(srv.store, folder_id).values()) == 6

        # server: edit one, delete one; DAV: edit one, delete one
        srv.store.change_item(USER, folder_id, ids[0], person(0, "Edited"))
        srv.store.delete_item(USER, folder_id, ids[1])
        cards = dav_cards(book)
        etags = dict(book.list())
        edited = cards["Local0 Local"]
        book.update(edited, card("local-0", "Changed"), etags[edited])
        book.delete(cards["Local1 Local"], etags[cards["Local1 Local"]])

        run_cli(config, "sync", check=True)
        expected = {
            "Edited00000 Example",
            "Person00002 Example",
            "Changed Local",
            "Local2 Local",
        }
        assert set(dav_cards(book)) == expected
        assert len(list(book.list())) == 4
        assert set(server_names(srv.store, folder_id)) == expected
        assert sum(server_names(srv.store, folder_id).values()) == 4
        # the edited card kept its href
        assert dav_cards(book)["Changed Local"] == edited

        # nothing changed: nothing moves
        before = dict(book.list())
        proc = run_cli(config, "sync", check=True)
        assert dict(book.list()) == before, proc.stdout


def test_events_devserver_radicale_edit_and_delete_each_way(
    tmp_path: Path, radicale: DavServer
) -> None:
    url = radicale.new_collection("caldav", "VEVENT")
    cal = DavStorage(radicale.session("caldav"), url, "caldav", component="VEVENT")
    handler = CalendarHandler()
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder_id = srv.store.default_folder(USER, 8)
        ids = [
            srv.store.add_item(
                USER,
                folder_id,
                handler.to_eas(event(f"srv-{i}", f"Server {i}", i + 1), EAS_VERSION),
            )
            for i in range(3)
        ]
        for i in range(3):
            cal.add(event(f"local-{i}", f"Local {i}", i + 10))
        config = dav_config(
            tmp_path,
            srv.url,
            radicale,
            f"""\
            cal:
              type: caldav
              url: {url}
              username: {radicale.username}
              password: {{env: EASSYNC_TEST_PASSWORD}}
            """,
            """\
            calendar:
              account: dev
              remote: {default: calendar}
              local: cal
            """,
        )
        run_cli(config, "sync", check=True)
        names = {f"Server {i}" for i in range(3)} | {f"Local {i}" for i in range(3)}
        assert set(dav_events(cal)) == names
        assert set(server_subjects(srv, folder_id)) == names

        srv.store.change_item(
            USER, folder_id, ids[0], handler.to_eas(event("srv-0", "Server 0 moved", 20), "14.1")
        )
        srv.store.delete_item(USER, folder_id, ids[1])
        events = dav_events(cal)
        etags = dict(cal.list())
        edited = events["Local 0"]
        cal.update(edited, event("local-0", "Local 0 edited", 11), etags[edited])
        cal.delete(events["Local 1"], etags[events["Local 1"]])

        run_cli(config, "sync", check=True)
        expected = {"Server 0 moved", "Server 2", "Local 0 edited", "Local 2"}
        assert set(dav_events(cal)) == expected
        assert len(list(cal.list())) == 4
        assert set(server_subjects(srv, folder_id)) == expected
        assert len(srv.store.items(USER, folder_id)) == 4


def test_collection_all_discovers_home_and_creates_one_book_per_folder(
    tmp_path: Path, radicale: DavServer
) -> None:
    # a user of their own, so the home set holds only what this test creates
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        default_id = srv.store.default_folder(USER, 9)
        friends_id = srv.store.add_folder(USER, f"Friends {uuid.uuid4().hex[:6]}", 14)
        srv.store.add_item(USER, default_id, person(1))
        srv.store.add_item(USER, friends_id, person(2, "Friend"))
        config = dav_config(
            tmp_path,
            srv.url,
            radicale,
            f"""\
            dav:
              type: carddav
              url: {radicale.base_url}
              username: {radicale.username}
              password: {{env: EASSYNC_TEST_PASSWORD}}
              collection: all
            """,
            """\
            contacts:
              account: dev
              remote: {all: contacts}
              local: dav
            """,
        )
        session = radicale.session("carddav")
        before = {c.url for c in list_collections(session, radicale.homes["carddav"], "carddav")}
        run_cli(config, "sync", check=True)
        after = list_collections(session, radicale.homes["carddav"], "carddav")
        created = [c for c in after if c.url not in before]
        assert len(created) == 2
        contents = {}
        for c in created:
            contents[c.display_name] = set(dav_cards(DavStorage(session, c.url, "carddav")))
        assert {"Person00001 Example"} in contents.values()
        assert {"Friend00002 Example"} in contents.values()

        # the second run finds the same books again: nothing new is created
        run_cli(config, "sync", check=True)
        again = list_collections(session, radicale.homes["carddav"], "carddav")
        assert len(again) == len(after)


def test_a_dry_run_with_collection_all_creates_no_book_and_plans_every_item(
    tmp_path: Path, radicale: DavServer
) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        friends_id = srv.store.add_folder(USER, f"Friends {uuid.uuid4().hex[:6]}", 14)
        srv.store.add_item(USER, friends_id, person(2, "Friend"))
        config = dav_config(
            tmp_path,
            srv.url,
            radicale,
            f"""\
            dav:
              type: carddav
              url: {radicale.base_url}
              username: {radicale.username}
              password: {{env: EASSYNC_TEST_PASSWORD}}
              collection: all
            """,
            """\
            contacts:
              account: dev
              remote: {all: contacts}
              local: dav
            """,
        )
        session = radicale.session("carddav")
        before = {c.url for c in list_collections(session, radicale.homes["carddav"], "carddav")}
        plan = run_cli(config, "sync", "--dry-run", check=True)
        after = {c.url for c in list_collections(session, radicale.homes["carddav"], "carddav")}
        assert after == before
        assert "add local: Example, Friend00002" in plan.stdout
        assert not (tmp_path / "state").exists()


def test_an_item_changed_on_the_dav_server_during_the_run_is_no_lost_update(
    tmp_path: Path, radicale: DavServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another client edits the card between the engine's read and its write: the
    write's If-Match fails (412), nothing is overwritten, and the next run settles it
    by the pair's policy (keep_both: both versions survive on both sides)."""
    from eassync.config import load_config
    from eassync.runner import run_sync
    from eassync.sync.plan import LogReporter

    url = radicale.new_collection("carddav")
    book = DavStorage(radicale.session("carddav"), url, "carddav")
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder_id = srv.store.default_folder(USER, 9)
        server_id = srv.store.add_item(USER, folder_id, person(0))
        config_path = dav_config(
            tmp_path,
            srv.url,
            radicale,
            f"""\
            book:
              type: carddav
              url: {url}
              username: {radicale.username}
              password: {{env: EASSYNC_TEST_PASSWORD}}
            """,
            """\
            contacts:
              account: dev
              remote: {default: contacts}
              local: book
              conflict: keep_both
            """,
        )
        monkeypatch.setenv("EASSYNC_TEST_PASSWORD", PASSWORD)
        config = load_config(config_path)
        run_sync(config, [], reporter=LogReporter())
        ((ident, _),) = book.list()

        srv.store.change_item(USER, folder_id, server_id, person(0, "ServerSide"))
        real_update = DavStorage.update
        raced = []

        def racing_update(self: DavStorage, ident: str, item: Item, etag: str) -> str:
            if not raced:  # another client writes first, once
                other = DavStorage(radicale.session("carddav"), url, "carddav")
                current, current_etag = other.get(ident)
                raced.append(ident)
                real_update(other, ident, card(current.uid or "", "Concurrent"), current_etag)
            return real_update(self, ident, item, etag)

        monkeypatch.setattr(DavStorage, "update", racing_update)
        run_sync(config, [], reporter=LogReporter())
        assert raced == [ident]
        # the 412 kept the other client's edit
        assert set(dav_cards(book)) == {"Concurrent Local"}

        monkeypatch.setattr(DavStorage, "update", real_update)
        outcomes = run_sync(config, [], reporter=LogReporter())
        conflicts = [c for o in outcomes for r in o.reports for c in r.conflicts]
        assert len(conflicts) == 1
        both = {"Concurrent Local", "ServerSide00000 Example"}
        assert set(dav_cards(book)) == both
        assert set(server_names(srv.store, folder_id)) == both


def todo(uid: str, summary: str) -> Item:
    raw = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//eassync//tests//EN\r\n"
        f"BEGIN:VTODO\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n"
        f"SUMMARY:{summary}\r\nSTATUS:NEEDS-ACTION\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    )
    return Item(raw.encode(), uid)


def test_tasks_and_events_share_one_mixed_calendar(tmp_path: Path, radicale: DavServer) -> None:
    """One Radicale calendar holding events and tasks serves a calendar pair and a
    tasks pair; each moves only its own component."""
    from eassync.convert.tasks import TasksHandler

    url = radicale.new_collection("caldav", None)
    tasks = DavStorage(radicale.session(), url, "caldav", component="VTODO")
    events = DavStorage(radicale.session(), url, "caldav", component="VEVENT")
    tasks.add(todo("local-task", "Local task"))
    events.add(event("local-event", "Local event", 5))
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        tasks_id = srv.store.default_folder(USER, 7)
        calendar_id = srv.store.default_folder(USER, 8)
        srv.store.add_item(
            USER, tasks_id, TasksHandler().to_eas(todo("srv-task", "Server task"), EAS_VERSION)
        )
        config = dav_config(
            tmp_path,
            srv.url,
            radicale,
            f"""\
            tasklist:
              type: caldav
              url: {url}
              username: {radicale.username}
              password: {{env: EASSYNC_TEST_PASSWORD}}
            calendar:
              type: caldav
              url: {url}
              username: {radicale.username}
              password: {{env: EASSYNC_TEST_PASSWORD}}
            """,
            """\
            tasks:
              account: dev
              remote: {default: tasks}
              local: tasklist
            calendar:
              account: dev
              remote: {default: calendar}
              local: calendar
            """,
        )
        run_cli(config, "sync", check=True)
        subjects = {d.text("Tasks:Subject") for d in srv.store.items(USER, tasks_id).values()}
        assert subjects == {"Local task", "Server task"}
        assert set(server_subjects(srv, calendar_id)) == {"Local event"}
        assert len(list(tasks.list())) == 2
        assert len(list(events.list())) == 1
        proc = run_cli(config, "sync", check=True)
        assert len(srv.store.items(USER, tasks_id)) == 2, proc.stdout
        assert len(srv.store.items(USER, calendar_id)) == 1


def test_server_items_a_dav_server_refuses_to_store_are_kept_and_written_later(
    tmp_path: Path,
) -> None:
    """A CardDAV server answering 403 to every PUT (rights, or 507 when full): the
    pass names each item and exits 1, and nothing leaves the status: once the server
    takes writes again, the next pass stores every item (before: `local +0` and exit 0
    for ever, the items lost until a repair)."""
    from urllib.parse import urlsplit

    from tests.integration.conftest_dav import start_radicale

    folder = tmp_path / "radicale"
    writable = start_radicale(folder)
    try:
        url = writable.new_collection("carddav")
    finally:
        writable.stop()
    port = urlsplit(writable.base_url).port
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder_id = srv.store.default_folder(USER, 9)
        for i in range(3):
            srv.store.add_item(USER, folder_id, person(i))
        config = dav_config(
            tmp_path,
            srv.url,
            writable,
            f"""\
            book:
              type: carddav
              url: {url}
              username: {writable.username}
              password: {{env: EASSYNC_TEST_PASSWORD}}
            """,
            """\
            contacts:
              account: dev
              remote: {default: contacts}
              local: book
            """,
        )
        refusing = start_radicale(folder, port=port, read_only=True)
        try:
            for _ in range(2):  # told on every pass, not only the first
                proc = run_cli(config, "sync")
                assert proc.returncode == 1, proc.stdout + proc.stderr
                assert "Traceback" not in proc.stderr
                assert "403" in proc.stderr
                for i in range(3):
                    assert f"Person{i:05d}" in proc.stderr
                assert "local +0" in proc.stdout + proc.stderr
        finally:
            refusing.stop()
        again = start_radicale(folder, port=port)
        try:
            proc = run_cli(config, "sync")
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert "local +3" in proc.stdout
            book = DavStorage(again.session("carddav"), url, "carddav")
            assert set(dav_cards(book)) == {f"Person{i:05d} Example" for i in range(3)}
            assert "local +0 ~0 -0, remote +0 ~0 -0" in run_cli(config, "sync", check=True).stdout
        finally:
            again.stop()
