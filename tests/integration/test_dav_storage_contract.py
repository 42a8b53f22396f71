"""The storage contract (tests/storage_contract.py) for CalDAV and CardDAV
collections on real Radicale and Xandikos servers.

Every test gets a fresh collection, created through the storage module itself
(MKCALENDAR with one component, or extended MKCOL for an address book).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from eassync.errors import ItemError
from eassync.storage.base import Item
from eassync.storage.dav import DavStorage
from eassync.storage.vdir import _unfolded_lines
from tests.storage_contract import HOSTILE_UIDS, MakeItem, StorageTests

if TYPE_CHECKING:
    from tests.integration.conftest_dav import DavServer

pytest_plugins = ["tests.integration.conftest_dav"]


def content_lines(raw: bytes) -> list[str]:
    """The item's unfolded content lines, sorted: servers reorder properties and refold
    long lines (Radicale re-serialises every item it stores). Without the UID line,
    which assert_same_item compares through loose_uid."""
    lines = (line for _, line in _unfolded_lines(raw.decode("utf-8")))
    # the UID line is compared through loose_uid
    return sorted(line for line in lines if line and not line.upper().startswith("UID"))


def loose_uid(uid: str | None) -> str | None:
    """A UID as servers may rewrite it: Radicale drops NUL bytes and escapes a
    backslash as TEXT (RFC 5545 §3.3.11) although UID is no TEXT list."""
    if uid is None:
        return None
    return uid.replace("\0", "").replace("\\\\", "\\")


class DavContract(StorageTests):
    server_fixture = ""

    @pytest.fixture
    def storage(self, request: pytest.FixtureRequest, item_type: str) -> Iterator[DavStorage]:
        server: DavServer = request.getfixturevalue(self.server_fixture)
        storage = server.new_storage(item_type)
        yield storage
        storage.session.close()

    def assert_safe_ident(self, ident: str) -> None:
        # an href: a path below the collection, one plain segment after it
        assert ident.startswith("/")
        segment = ident.rsplit("/", 1)[-1]
        assert segment
        assert not segment.startswith(".")
        assert ".." not in ident.split("/")
        assert "\0" not in ident
        assert "\\" not in segment
        assert len(segment.encode("utf-8")) <= 255

    def assert_same_item(self, got: Item, sent: Item) -> None:
        assert loose_uid(got.uid) == loose_uid(sent.uid)
        assert content_lines(got.raw) == content_lines(sent.raw)

    def test_add_never_overwrites_an_item_with_the_same_uid(
        self, storage: DavStorage, make_item: MakeItem
    ) -> None:
        # RFC 4791 §5.3.2.1 / RFC 6352 §6.3.2.1: a server may refuse a second object
        # with a UID its collection already holds (Radicale does: no-uid-conflict).
        # Either way the first item is never overwritten.
        first = make_item(uid="same-uid", text="first")
        second = make_item(uid="same-uid", text="second")
        ident1, _ = storage.add(first)
        try:
            ident2, _ = storage.add(second)
        except ItemError as exc:
            refusal = str(exc)
        else:
            refusal = ""
            assert ident1 != ident2
            self.assert_same_item(storage.get(ident2)[0], second)
        if refusal:
            assert "uid-conflict" in refusal
            assert [i for i, _ in storage.list()] == [ident1]
        self.assert_same_item(storage.get(ident1)[0], first)

    @pytest.mark.parametrize("uid", HOSTILE_UIDS, ids=lambda uid: repr(uid)[:24])
    def test_hostile_uid_still_gives_a_safe_ident(
        self, storage: DavStorage, make_item: MakeItem, uid: str
    ) -> None:
        item = make_item(uid=uid)
        try:
            ident, etag = storage.add(item)
        except ItemError as exc:
            refusal = str(exc)
        else:
            refusal = ""
        if refusal:
            # A NUL byte is no valid iCalendar/vCard text: a server may refuse it
            # (Xandikos: 412 valid-calendar-data); it must say so and store nothing.
            assert "\0" in uid
            assert "HTTP 4" in refusal
            assert list(storage.list()) == []
            return
        self.assert_safe_ident(ident)
        assert list(storage.list()) == [(ident, etag)]
        self.assert_same_item(storage.get(ident)[0], item)

    def test_many_items_list_and_get_many(self, storage: DavStorage, make_item: MakeItem) -> None:
        # 500 PUTs cost the servers ~20 s per variant: VTODO lists with the very
        # requests of VEVENT (calendar-query, multiget), so 120 items stand for it here
        added = dict(storage.add(make_item()) for _ in range(120))
        assert dict(storage.list()) == added
        got = {ident: item for ident, item, _ in storage.get_many(added)}
        assert set(got) == set(added)


@pytest.mark.radicale
class TestRadicaleContract(DavContract):
    server_fixture = "radicale"


class TestXandikosContract(DavContract):
    server_fixture = "xandikos"
