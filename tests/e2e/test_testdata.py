"""``eassync testdata create|delete``: tagged items on both sides, removed again without
touching anything else. End to end with the real CLI against the devserver, plus the
pure tag helpers."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import icalendar
import pytest
import vobject

from eassync.devserver import DevServer
from eassync.eas.element import Element
from eassync.storage.base import Item
from eassync.testdata import TAG, UID_PREFIX, categories, is_tagged, sample_items

# the SOGo harness fixtures (tests/integration/conftest.py), used here by name
from tests.integration.conftest import SogoAccount, sogo, sogo_account  # noqa: F401
from tests.integration.sogo_dav import CONTACTS, pass_one_second

from .helpers import (
    NO_OP,
    PASSWORD,
    USER,
    SyncedPair,
    run_cli,
)

# --- the tag (pure) --------------------------------------------------------------------------


def test_categories_reads_folded_escaped_and_grouped_properties() -> None:
    raw = (
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\n"
        b"item1.CATEGORIES:work,eassync-\r\n testdata,a\\,b\r\n"
        b'categories;X-P="a:b":Home\r\n'
        b"NOTE:CATEGORIES:not-a-category\r\nEND:VCARD\r\n"
    )
    assert categories(raw) == {"work", "eassync-testdata", "a,b", "Home"}


@pytest.mark.parametrize(
    ("raw", "uid", "tagged"),
    [
        (b"BEGIN:VCARD\r\nCATEGORIES:eassync-testdata\r\nEND:VCARD\r\n", "derived", True),
        (b"BEGIN:VCARD\r\nCATEGORIES:other\r\nEND:VCARD\r\n", UID_PREFIX + "1", True),
        (b"BEGIN:VCARD\r\nCATEGORIES:eassync-testdata-not\r\nEND:VCARD\r\n", "u", False),
        (b"BEGIN:VCARD\r\nNOTE:eassync-testdata\r\nEND:VCARD\r\n", "eassync-test", False),
    ],
)
def test_is_tagged(raw: bytes, uid: str, tagged: bool) -> None:
    assert is_tagged(Item(raw, uid)) is tagged


def test_sample_contacts_are_valid_tagged_and_distinct() -> None:
    items = sample_items("contacts", "local", 3, run="r1")
    assert len({i.uid for i in items}) == 3
    for item in items:
        card = vobject.readOne(item.raw.decode())
        assert card.uid.value == item.uid
        assert card.uid.value.startswith(UID_PREFIX)
        assert TAG in card.categories.value
        assert is_tagged(item)


@pytest.mark.parametrize(("kind", "component"), [("calendar", "VEVENT"), ("tasks", "VTODO")])
def test_sample_events_and_tasks_are_valid_and_tagged(kind: str, component: str) -> None:
    for item in sample_items(kind, "server", 9, run="r2"):
        (sub,) = icalendar.Calendar.from_ical(item.raw).walk(component)
        assert str(sub["UID"]) == item.uid
        assert TAG in sub["CATEGORIES"].cats
        assert is_tagged(item)


@pytest.mark.parametrize("kind", ["calendar", "tasks"])
def test_sample_events_and_tasks_keep_their_tag_through_eas(kind: str) -> None:
    from eassync.runner import handler_for

    handler = handler_for(kind)
    for item in sample_items(kind, "server", 2, run="r3"):
        back = handler.from_eas(handler.to_eas(item, "14.1"), "14.1")
        assert is_tagged(Item(back.raw, None))


# --- end to end -------------------------------------------------------------------------------


def _server_tagged(data: Element) -> bool:
    cats = data.find("Contacts:Categories")
    return cats is not None and TAG in [c.value for c in cats.findall("Contacts:Category")]


class Setup(SyncedPair):
    """Untagged items on both sides (10 from the server, 10 local), synced once."""

    def server_items(self) -> dict[str, Element]:
        return self.srv.store.items(USER, self.folder_id)  # type: ignore[no-any-return]

    def local_files(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in self.local.glob("*.vcf")}

    def tagged_counts(self) -> tuple[int, int]:
        """(tagged items here, tagged items on the server)"""
        here = sum(is_tagged(Item(raw, None)) for raw in self.local_files().values())
        there = sum(_server_tagged(d) for d in self.server_items().values())
        return here, there


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        yield Setup(tmp_path, srv)


def test_create_then_delete_touches_only_tagged_items(setup: Setup) -> None:
    untagged_server = {sid: repr(d) for sid, d in setup.server_items().items()}
    untagged_local = setup.local_files()
    assert len(untagged_server) == len(untagged_local) == 20

    created = run_cli(setup.config, "testdata", "create", "contacts", "--count", "3", check=True)
    assert "created 3 here" in created.stdout
    assert "3 on the server" in created.stdout
    assert setup.tagged_counts() == (3, 3)

    synced = run_cli(setup.config, "sync", check=True)
    assert "resynced" not in synced.stdout  # the pair's own sync state was not disturbed
    assert setup.tagged_counts() == (6, 6)
    assert len(setup.server_items()) == len(setup.local_files()) == 26

    deleted = run_cli(setup.config, "testdata", "delete", "contacts", check=True)
    assert "deleted 6 here" in deleted.stdout
    assert "6 on the server" in deleted.stdout
    assert "untagged items left alone: 20 here, 20 on the server" in deleted.stdout
    assert setup.tagged_counts() == (0, 0)

    run_cli(setup.config, "sync", check=True)
    assert setup.tagged_counts() == (0, 0)
    assert {sid: repr(d) for sid, d in setup.server_items().items()} == untagged_server
    assert setup.local_files() == untagged_local
    assert NO_OP in run_cli(setup.config, "sync", check=True).stdout


def test_server_items_come_from_a_second_device(setup: Setup) -> None:
    run_cli(setup.config, "testdata", "create", "contacts", "--count", "1", check=True)

    accounts = setup.status_dir / "accounts"
    pair_device = json.loads((accounts / "dev.json").read_text())["device_id"]
    test_device = json.loads((accounts / "dev.testdata.json").read_text())["device_id"]
    assert pair_device != test_device
    # the pair's device hears of the other device's item as a plain server add
    synced = run_cli(setup.config, "sync", check=True)
    assert "local +1" in synced.stdout
    assert "resynced" not in synced.stdout


def test_delete_with_nothing_tagged_changes_nothing(setup: Setup) -> None:
    before_server = {sid: repr(d) for sid, d in setup.server_items().items()}
    before_local = setup.local_files()

    deleted = run_cli(setup.config, "testdata", "delete", "contacts", check=True)

    assert "deleted 0 here" in deleted.stdout
    assert "0 on the server" in deleted.stdout
    assert {sid: repr(d) for sid, d in setup.server_items().items()} == before_server
    assert setup.local_files() == before_local
    assert NO_OP in run_cli(setup.config, "sync", check=True).stdout


@pytest.mark.parametrize(("kind", "folder_type"), [("calendar", 8), ("tasks", 7)])
def test_calendar_and_tasks_pairs_get_tagged_items(
    tmp_path: Path, kind: str, folder_type: int
) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        config = tmp_path / "config.yaml"
        config.write_text(
            textwrap.dedent(
                f"""\
                accounts:
                  dev:
                    url: {srv.url}
                    username: {USER}
                    password: {{env: EASSYNC_TEST_PASSWORD}}
                storages:
                  cal:
                    type: vdir
                    path: {tmp_path / "cal"}
                    fileext: .ics
                pairs:
                  cal:
                    account: dev
                    remote: {{default: {kind}}}
                    local: cal
                """
            ),
            encoding="utf-8",
        )
        run_cli(config, "testdata", "create", "cal", "--count", "2", check=True)
        run_cli(config, "sync", check=True)
        files = list((tmp_path / "cal").glob("*.ics"))
        assert len(files) == 4
        assert all(is_tagged(Item(f.read_bytes(), None)) for f in files)

        run_cli(config, "testdata", "delete", "cal", check=True)
        run_cli(config, "sync", check=True)
        assert list((tmp_path / "cal").glob("*.ics")) == []
        folder_id = srv.store.default_folder(USER, folder_type)
        assert srv.store.items(USER, folder_id) == {}


# --- against a real SOGo (tests/servers/sogo) ----------------------------------------------


@pytest.mark.sogo
def test_sogo_create_then_delete_touches_only_tagged_items(
    tmp_path: Path,
    sogo_account: SogoAccount,  # noqa: F811
) -> None:
    dav = sogo_account.dav
    untagged = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:untagged-1.vcf\r\nFN:Ada Untagged\r\n"
        "N:Untagged;Ada;;;\r\nEMAIL;TYPE=INTERNET:ada@example.test\r\nEND:VCARD\r\n"
    )
    dav.put(CONTACTS, "untagged-1.vcf", untagged)
    config = sogo_account.contacts_config(tmp_path)
    local = tmp_path / "contacts"

    def dav_tagged() -> tuple[int, int]:
        """(tagged, untagged) items SOGo holds, read over CardDAV"""
        texts = [dav.get(CONTACTS, item.name) or "" for item in dav.list(CONTACTS)]
        tagged = sum(is_tagged(Item(t.encode(), None)) for t in texts)
        return tagged, len(texts) - tagged

    def sync() -> None:
        pass_one_second()  # SOGo's change clock (sogo-notes Q2)
        run_cli(config, "sync", check=True)
        pass_one_second()

    sync()
    local_before = {p.name: p.read_bytes() for p in local.glob("*.vcf")}
    assert len(local_before) == 1

    run_cli(config, "testdata", "create", "contacts", "--count", "2", check=True)
    sync()
    assert dav_tagged() == (4, 1)
    assert sum(is_tagged(Item(p.read_bytes(), None)) for p in local.glob("*.vcf")) == 4

    deleted = run_cli(config, "testdata", "delete", "contacts", check=True)
    assert "deleted 4 here" in deleted.stdout
    assert "4 on the server" in deleted.stdout
    sync()
    assert dav_tagged() == (0, 1)
    assert {p.name: p.read_bytes() for p in local.glob("*.vcf")} == local_before
    assert "Ada Untagged" in (dav.get(CONTACTS, "untagged-1.vcf") or "")
