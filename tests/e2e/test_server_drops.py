"""A server that does not keep every field (SOGo 5.8 lacks Anniversary, Spouse,
Children, second phones …), played by the devserver with ``drop_fields``.

eassync learns which fields the folder's server keeps (a read-back after pushing
fields it has not seen yet, and every download) and must then: keep those fields in
the local file when the contact changes elsewhere, never duplicate a contact after a
lost status or on a first pass over two filled sides, and still honour a field
deleted elsewhere when the server does keep that field.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from eassync.config import load_config
from eassync.devserver import DevServer
from eassync.eas.element import Element

from .helpers import NO_OP, PASSWORD, USER, run_cli, write_config

DATA = Path(__file__).resolve().parents[1] / "data" / "contacts"

#: what SOGo 5.8 does not keep of these cards (tests/integration/test_sogo_contacts.py)
DROPS = frozenset(
    {
        "Contacts:Anniversary",
        "Contacts:Spouse",
        "Contacts:Children",
        "Contacts:Home2PhoneNumber",
        "Contacts:AssistantName",
        "Contacts2:IMAddress2",
        "Contacts2:IMAddress3",
    }
)

CARD = """BEGIN:VCARD\r
VERSION:3.0\r
UID:ada-1\r
FN:Ada Lovelace\r
N:Lovelace;Ada;;;\r
TITLE:Analyst\r
EMAIL;TYPE=INTERNET:ada@example.org\r
TEL;TYPE=HOME:+44 20 7946 0001\r
TEL;TYPE=HOME:+44 20 7946 0002\r
X-ANNIVERSARY:1835-07-08\r
X-SPOUSE:William King\r
X-CHILD:Byron\r
X-CHILD:Annabella\r
GENDER:F\r
END:VCARD\r
"""


class Device:
    """One machine: a config, its contacts folder, its status."""

    def __init__(self, root: Path, url: str) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.config = write_config(root, url)
        self.contacts = root / "contacts"
        self.contacts.mkdir(exist_ok=True)
        self.status_dir = load_config(self.config).general.status_dir

    def sync(self, *args: str) -> str:
        return run_cli(self.config, "sync", *args, check=True).stdout

    def files(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(self.contacts.glob("*.vcf"))}

    def knowledge(self) -> dict[str, list[str]]:
        import json

        with sqlite3.connect(self.status_dir / "pairs" / "contacts.sqlite") as db:
            (text,) = db.execute("SELECT slots FROM collections").fetchone()
        return dict(json.loads(text))

    def lose_status(self) -> None:
        shutil.rmtree(self.status_dir)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}, drop_fields=DROPS) as srv:
        yield srv


def _edit_on_server(srv: DevServer, change: dict[str, str | None]) -> None:
    """Another device changes the only contact: ``None`` removes a field."""
    folder = srv.store.default_folder(USER, 9)
    ((server_id, data),) = srv.store.items(USER, folder).items()
    children = [c for c in data.children if c.tag not in change]
    children += [Element(tag, value=v) for tag, v in change.items() if v is not None]
    srv.store.change_item(USER, folder, server_id, Element(data.tag, children))


def _server_count(srv: DevServer) -> int:
    return len(srv.store.items(USER, srv.store.default_folder(USER, 9)))


def test_fields_the_server_drops_stay_in_the_file_when_the_contact_changes_elsewhere(
    tmp_path: Path, server: DevServer
) -> None:
    a = Device(tmp_path / "a", server.url)
    (a.contacts / "ada.vcf").write_text(CARD, encoding="utf-8")
    first = run_cli(a.config, "sync", check=True)
    assert "remote +1 ~0 -0" in first.stdout
    # told once, at the default level, when learnt
    assert "does not keep Anniversary, Children, Home2PhoneNumber, Spouse" in first.stderr
    assert "local values are kept" in first.stderr
    # what was learnt from one read-back of the pushed card
    learnt = a.knowledge()
    assert set(learnt["dropped"]) == {
        "Contacts:Anniversary",
        "Contacts:Spouse",
        "Contacts:Children",
        "Contacts:Home2PhoneNumber",
    }
    assert "Contacts:JobTitle" in learnt["held"]
    assert server.requests["ItemOperations"] == 1

    _edit_on_server(server, {"Contacts:JobTitle": "Countess"})
    second = run_cli(a.config, "sync", check=True)
    assert "local +0 ~1 -0" in second.stdout
    assert "does not keep" not in second.stderr  # once per folder
    text = (a.contacts / "ada.vcf").read_text(encoding="utf-8")
    assert "TITLE:Countess" in text
    for kept in (
        "X-ANNIVERSARY:1835-07-08",
        "X-SPOUSE:William King",
        "X-CHILD:Byron",
        "X-CHILD:Annabella",
        "TEL;TYPE=HOME:+44 20 7946 0002",
        "GENDER:F",
    ):
        assert kept in text, kept
    assert NO_OP in a.sync()
    assert server.requests["ItemOperations"] == 1  # nothing new to learn: no read-back


def test_a_field_the_server_keeps_still_follows_a_delete_elsewhere(
    tmp_path: Path, server: DevServer
) -> None:
    a = Device(tmp_path / "a", server.url)
    (a.contacts / "ada.vcf").write_text(CARD, encoding="utf-8")
    a.sync()
    _edit_on_server(server, {"Contacts:JobTitle": None})
    assert "local +0 ~1 -0" in a.sync()
    text = (a.contacts / "ada.vcf").read_text(encoding="utf-8")
    assert "TITLE:" not in text
    assert "X-ANNIVERSARY:1835-07-08" in text


def test_a_server_that_keeps_everything_passes_deletes_of_every_field(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        a = Device(tmp_path / "a", srv.url)
        (a.contacts / "ada.vcf").write_text(CARD, encoding="utf-8")
        a.sync()
        assert a.knowledge()["dropped"] == []
        _edit_on_server(srv, {"Contacts:Anniversary": None, "Contacts:Spouse": None})
        assert "local +0 ~1 -0" in a.sync()
        text = (a.contacts / "ada.vcf").read_text(encoding="utf-8")
        assert "ANNIVERSARY" not in text
        assert "SPOUSE" not in text
        assert "X-CHILD:Byron" in text


@pytest.mark.parametrize("lost", ["status", "nothing"])
def test_no_duplicates_after_a_lost_status_or_on_a_second_filled_device(
    tmp_path: Path, server: DevServer, lost: str
) -> None:
    """Cards whose dropped fields make the server's copy differ from the file: a lost
    status (knowledge gone too), and a second machine holding a copy of the same files
    on its first pass, both match every card to its server copy."""
    a = Device(tmp_path / "a", server.url)
    names = ["nextcloud_4.vcf", "google_3.vcf", "khard_3.vcf", "many_emails_phones.vcf"]
    for name in names:
        shutil.copy(DATA / name, a.contacts / name)
    (a.contacts / "ada.vcf").write_text(CARD, encoding="utf-8")
    first = a.sync()
    count = _server_count(server)
    assert count >= len(names) + 1, first
    before = a.files()

    if lost == "status":
        device = a
        a.lose_status()
    else:
        device = Device(tmp_path / "b", server.url)
        for name, raw in before.items():
            (device.contacts / name).write_bytes(raw)
    out = device.sync()
    assert "local +0 ~0 -0, remote +0 ~0 -0" in out, out
    assert device.files() == before
    assert _server_count(server) == count
    assert NO_OP in device.sync()


@pytest.mark.parametrize("how", ["server lost the sync state", "repair"])
def test_a_resync_matches_cards_the_server_kept_only_part_of(
    tmp_path: Path, server: DevServer, how: str
) -> None:
    """Rows the status keeps, whose stored hashes predate what was learnt of the
    server: a Status 3 resync and ``eassync repair`` bind each to its server copy."""
    a = Device(tmp_path / "a", server.url)
    for name in ["nextcloud_4.vcf", "many_emails_phones.vcf", "google_3.vcf"]:
        shutil.copy(DATA / name, a.contacts / name)
    (a.contacts / "ada.vcf").write_text(CARD, encoding="utf-8")
    a.sync()
    count = _server_count(server)
    before = a.files()

    if how == "repair":
        out = run_cli(a.config, "repair", "contacts", check=True).stdout
        assert "only here 0" in out, out
    else:
        server.faults.invalidate_sync_keys()
        out = a.sync()
        assert "local +0 ~0 -0, remote +0 ~0 -0" in out, out
    assert a.files() == before
    assert _server_count(server) == count
    assert NO_OP in a.sync()
