"""End to end through the real CLI: a real SOGo (EAS) ⇄ a real Radicale (CardDAV,
CalDAV), contacts and events, with an edit and a delete on each side.

SOGo's side is changed and checked through its own DAV view (``sogo_dav``); between
an EAS sync and a SOGo-side change the tests let SOGo's clock tick (sogo-notes Q2).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
import vobject

from eassync.storage.base import Item
from eassync.storage.dav import DavStorage
from tests.integration.sogo_dav import CALENDAR, CONTACTS, pass_one_second

if TYPE_CHECKING:
    from tests.integration.conftest import SogoAccount
    from tests.integration.conftest_dav import DavServer

pytest_plugins = ["tests.integration.conftest_dav"]

pytestmark = [pytest.mark.sogo, pytest.mark.radicale]


def write_config(
    folder: Path, account: SogoAccount, radicale: DavServer, kind: str, url: str
) -> Path:
    dav_type = "carddav" if kind == "contacts" else "caldav"
    config = folder / "config.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            general:
              status_dir: {folder / "state"}
            accounts:
              sogo:
                url: {account.server.eas_url}
                username: {account.user}
                password: {{env: EASSYNC_SOGO_PASSWORD}}
                protocol_version: "14.1"
            storages:
              dav:
                type: {dav_type}
                url: {url}
                username: {radicale.username}
                password: {{env: EASSYNC_DAV_PASSWORD}}
            pairs:
              {kind}:
                account: sogo
                remote: {{default: {kind}}}
                local: dav
            """
        ),
        encoding="utf-8",
    )
    return config


def sync(config: Path, account: SogoAccount, radicale: DavServer) -> None:
    env = dict(os.environ)
    env["EASSYNC_SOGO_PASSWORD"] = account.password
    env["EASSYNC_DAV_PASSWORD"] = radicale.password or ""
    proc = subprocess.run(
        [sys.executable, "-m", "eassync", "-c", str(config), "sync"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"


def vcard(uid: str, given: str, family: str) -> str:
    return (
        "BEGIN:VCARD\r\nVERSION:3.0\r\n"
        f"UID:{uid}\r\nFN:{given} {family}\r\nN:{family};{given};;;\r\n"
        f"EMAIL;TYPE=INTERNET:{given.lower()}@example.org\r\nEND:VCARD\r\n"
    )


def vevent(uid: str, summary: str, day: int) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//eassync//tests//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n"
        f"DTSTART:202405{day:02d}T090000Z\r\nDTEND:202405{day:02d}T100000Z\r\n"
        f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def on_sogo(account: SogoAccount, method: str, *args: str) -> Any:
    """One request to SOGo's DAV side, again on a fresh connection if SOGo reset the
    pooled one (seen under load from parallel test runs: its workers drop idle
    keep-alive connections). Every call used here is idempotent."""
    call = getattr(account.dav, method)
    for _ in range(2):
        try:
            return call(*args)
        except requests.ConnectionError:
            account.dav.session.close()
    return call(*args)


def card_name(text: str) -> str:
    n = vobject.readOne(text).n.value
    return f"{n.given} {n.family}".strip()


def event_name(text: str) -> str:
    return str(vobject.readOne(text).vevent.summary.value)


def sogo_cards(account: SogoAccount) -> dict[str, str]:
    """name → resource name of every card in SOGo's personal address book."""
    out = {}
    for item in on_sogo(account, "list", CONTACTS):
        text = on_sogo(account, "get", CONTACTS, item.name)
        assert text is not None
        out[card_name(text)] = item.name
    return out


def sogo_events(account: SogoAccount) -> dict[str, str]:
    items = on_sogo(account, "calendar_query", "VEVENT")
    return {event_name(item.data or ""): item.name for item in items}


def dav_view(storage: DavStorage, name_of: object) -> dict[str, str]:
    out = {}
    for ident, item, _ in storage.get_many([i for i, _ in storage.list()]):
        assert isinstance(item, Item)
        out[name_of(item.raw.decode())] = ident  # type: ignore[operator]
    return out


def test_contacts_sogo_radicale_edit_and_delete_each_way(
    tmp_path: Path, sogo_account: SogoAccount, radicale: DavServer
) -> None:
    url = radicale.new_collection("carddav")
    book = DavStorage(radicale.session("carddav"), url, "carddav")
    for i in range(2):
        uid = f"sogo-{uuid.uuid4().hex}"
        on_sogo(sogo_account, "put", CONTACTS, f"{uid}.vcf", vcard(uid, f"Sogo{i}", "Server"))
        book.add(Item(vcard(f"local-{i}", f"Local{i}", "Radicale").encode(), f"local-{i}"))
    config = write_config(tmp_path, sogo_account, radicale, "contacts", url)
    pass_one_second()
    sync(config, sogo_account, radicale)
    names = {"Sogo0 Server", "Sogo1 Server", "Local0 Radicale", "Local1 Radicale"}
    assert set(sogo_cards(sogo_account)) == names
    assert set(dav_view(book, card_name)) == names
    assert len(list(book.list())) == 4

    pass_one_second()  # sogo-notes Q2: a change in the second of the SyncKey is lost
    now = sogo_cards(sogo_account)
    text = on_sogo(sogo_account, "get", CONTACTS, now["Sogo0 Server"])
    assert text is not None
    edit = text.replace("Sogo0", "SogoEdited")
    on_sogo(sogo_account, "put", CONTACTS, now["Sogo0 Server"], edit)
    on_sogo(sogo_account, "delete", CONTACTS, now["Sogo1 Server"])
    on_dav = dav_view(book, card_name)
    etags = dict(book.list())
    edited = on_dav["Local0 Radicale"]
    book.update(
        edited, Item(vcard("local-0", "LocalEdited", "Radicale").encode(), "local-0"), etags[edited]
    )
    gone = on_dav["Local1 Radicale"]
    book.delete(gone, etags[gone])
    pass_one_second()

    sync(config, sogo_account, radicale)
    expected = {"SogoEdited Server", "LocalEdited Radicale"}
    assert set(sogo_cards(sogo_account)) == expected
    assert len(on_sogo(sogo_account, "list", CONTACTS)) == 2
    assert set(dav_view(book, card_name)) == expected
    assert len(list(book.list())) == 2
    assert dav_view(book, card_name)["LocalEdited Radicale"] == edited


def test_events_sogo_radicale_edit_and_delete_each_way(
    tmp_path: Path, sogo_account: SogoAccount, radicale: DavServer
) -> None:
    url = radicale.new_collection("caldav", "VEVENT")
    cal = DavStorage(radicale.session("caldav"), url, "caldav", component="VEVENT")
    for i in range(2):
        uid = f"sogo-{uuid.uuid4().hex}"
        text = vevent(uid, f"Sogo event {i}", i + 1)
        on_sogo(sogo_account, "put", CALENDAR, f"{uid}.ics", text)
        cal.add(Item(vevent(f"local-{i}", f"Local event {i}", i + 10).encode(), f"local-{i}"))
    config = write_config(tmp_path, sogo_account, radicale, "calendar", url)
    pass_one_second()
    sync(config, sogo_account, radicale)
    names = {"Sogo event 0", "Sogo event 1", "Local event 0", "Local event 1"}
    assert set(sogo_events(sogo_account)) == names
    assert set(dav_view(cal, event_name)) == names

    pass_one_second()
    now = sogo_events(sogo_account)
    text = on_sogo(sogo_account, "get", CALENDAR, now["Sogo event 0"])
    assert text is not None
    edit = text.replace("Sogo event 0", "Sogo event edited")
    on_sogo(sogo_account, "put", CALENDAR, now["Sogo event 0"], edit)
    on_sogo(sogo_account, "delete", CALENDAR, now["Sogo event 1"])
    on_dav = dav_view(cal, event_name)
    etags = dict(cal.list())
    edited = on_dav["Local event 0"]
    cal.update(
        edited,
        Item(vevent("local-0", "Local event edited", 10).encode(), "local-0"),
        etags[edited],
    )
    gone = on_dav["Local event 1"]
    cal.delete(gone, etags[gone])
    pass_one_second()

    sync(config, sogo_account, radicale)
    expected = {"Sogo event edited", "Local event edited"}
    assert set(sogo_events(sogo_account)) == expected
    assert set(dav_view(cal, event_name)) == expected
    assert len(list(cal.list())) == 2
