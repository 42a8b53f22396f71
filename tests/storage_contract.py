"""The contract every local storage (vdir now; CalDAV/CardDAV later) must pass.

Shaped after vdirsyncer's ``tests/storage/__init__.py``: subclass :class:`StorageTests`
in a test module and provide a ``storage`` fixture returning an *empty* storage for
the parametrised ``item_type`` (VCARD, VEVENT or VTODO). Optional hooks:

- ``corrupt`` fixture: a function ``(storage, ident) -> None`` that breaks the stored
  item behind the storage's back (garbage bytes), for subclasses of
  ``CorruptibleStorageTests``;
- ``assert_safe_ident(ident)``: what a safe ident looks like for this storage
  (default: a plain file name);
- ``assert_same_item(got, sent)``: servers that rewrite items may compare more
  loosely (default: the very same bytes and UID).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from eassync.errors import ItemError, NotFoundError, PreconditionFailed
from eassync.storage.base import Item, Storage

VCARD_TEMPLATE = (
    "BEGIN:VCARD\r\n"
    "VERSION:3.0\r\n"
    "UID:{uid}\r\n"
    "FN:{text}\r\n"
    "N:{text};;;;\r\n"
    "EMAIL;TYPE=INTERNET:ada@example.org\r\n"
    "NOTE:{note}\r\n"
    "END:VCARD\r\n"
)

EVENT_TEMPLATE = (
    "BEGIN:VCALENDAR\r\n"
    "VERSION:2.0\r\n"
    "PRODID:-//eassync//tests//EN\r\n"
    "BEGIN:VEVENT\r\n"
    "UID:{uid}\r\n"
    "DTSTAMP:20240101T000000Z\r\n"
    "DTSTART:20240301T090000Z\r\n"
    "DTEND:20240301T100000Z\r\n"
    "SUMMARY:{text}\r\n"
    "DESCRIPTION:{note}\r\n"
    "END:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)

TASK_TEMPLATE = (
    "BEGIN:VCALENDAR\r\n"
    "VERSION:2.0\r\n"
    "PRODID:-//eassync//tests//EN\r\n"
    "BEGIN:VTODO\r\n"
    "UID:{uid}\r\n"
    "DTSTAMP:20240101T000000Z\r\n"
    "SUMMARY:{text}\r\n"
    "DESCRIPTION:{note}\r\n"
    "STATUS:NEEDS-ACTION\r\n"
    "END:VTODO\r\n"
    "END:VCALENDAR\r\n"
)

#: a note document (eassync.convert.notes): the subject carries the "uid", so hostile
#: UIDs are hostile subjects that must still give safe file names
NOTE_TEMPLATE = "# {text} {uid}\n\n{note}\n"

TEMPLATES = {
    "VCARD": VCARD_TEMPLATE,
    "VEVENT": EVENT_TEMPLATE,
    "VTODO": TASK_TEMPLATE,
    "NOTE": NOTE_TEMPLATE,
}

#: text that must survive storage unchanged: accents, CJK, Cyrillic, an astral emoji
UNICODE_TEXT = "Zoë Ångström — 日本語 град 😀"

#: UIDs that must never become a path as they are
HOSTILE_UIDS = [
    "a/b",
    "../../../etc/passwd",
    "..",
    ".hidden",
    "with spaces and\ttab",
    "x" * 300,
    "nul\0byte",
    "back\\slash",
    "ät-град",
    "evil.ics.tmp",
]

MakeItem = Callable[..., Item]


def fill(template: str, uid: str, text: str = "Ada Lovelace", note: str | None = None) -> Item:
    """A sample item of ``template``; ``note`` defaults to something unique so that two
    items never have equal bytes by accident."""
    raw = template.format(uid=uid, text=text, note=note or uuid.uuid4().hex)
    return Item(raw=raw.encode("utf-8"), uid=uid)


class StorageTests:
    """Subclass and provide ``storage``. Every test starts from an empty storage."""

    @pytest.fixture(params=["VCARD", "VEVENT", "VTODO"])
    def item_type(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)

    @pytest.fixture
    def make_item(self, item_type: str) -> MakeItem:
        template = TEMPLATES[item_type]

        def make(
            uid: str | None = None, text: str = "Ada Lovelace", note: str | None = None
        ) -> Item:
            return fill(template, uid if uid is not None else uuid.uuid4().hex, text, note)

        return make

    # --- hooks ----------------------------------------------------------------------------

    def assert_safe_ident(self, ident: str) -> None:
        assert ident
        assert "/" not in ident
        assert "\\" not in ident
        assert "\0" not in ident
        assert not ident.startswith(".")
        assert len(ident.encode("utf-8")) <= 255

    def assert_same_item(self, got: Item, sent: Item) -> None:
        assert got.raw == sent.raw
        assert got.uid == sent.uid

    # --- basics ---------------------------------------------------------------------------

    def test_empty_storage_lists_nothing(self, storage: Storage) -> None:
        assert list(storage.list()) == []

    def test_add_then_get_returns_same_bytes_and_uid(
        self, storage: Storage, make_item: MakeItem
    ) -> None:
        item = make_item()
        ident, etag = storage.add(item)
        got, got_etag = storage.get(ident)
        self.assert_same_item(got, item)
        assert got_etag == etag

    def test_add_returns_string_ident_and_etag(self, storage: Storage, make_item: MakeItem) -> None:
        ident, etag = storage.add(make_item())
        assert isinstance(ident, str)
        assert isinstance(etag, str)
        assert etag

    def test_list_shows_added_item_with_etag_add_returned(
        self, storage: Storage, make_item: MakeItem
    ) -> None:
        ident, etag = storage.add(make_item())
        assert list(storage.list()) == [(ident, etag)]

    def test_list_shows_every_added_item(self, storage: Storage, make_item: MakeItem) -> None:
        added = dict(storage.add(make_item()) for _ in range(9))
        assert dict(storage.list()) == added
        assert len(added) == 9

    def test_get_missing_ident_raises_not_found(
        self, storage: Storage, make_item: MakeItem
    ) -> None:
        ident, etag = storage.add(make_item())
        storage.delete(ident, etag)
        with pytest.raises(NotFoundError):
            storage.get(ident)

    # --- update / delete with etag guards ---------------------------------------------------

    def test_update_changes_etag_and_content(self, storage: Storage, make_item: MakeItem) -> None:
        item = make_item()
        ident, etag = storage.add(item)
        new_item = make_item(uid=item.uid, text="Ada King")
        new_etag = storage.update(ident, new_item, etag)
        assert new_etag != etag
        got, got_etag = storage.get(ident)
        self.assert_same_item(got, new_item)
        assert got_etag == new_etag
        assert list(storage.list()) == [(ident, new_etag)]

    def test_update_with_same_size_content_changes_etag(
        self, storage: Storage, make_item: MakeItem
    ) -> None:
        # Same length, written straight after: a coarse mtime alone would miss it.
        item = make_item(note="a" * 32)
        ident, etag = storage.add(item)
        etag2 = storage.update(ident, make_item(uid=item.uid, note="b" * 32), etag)
        etag3 = storage.update(ident, make_item(uid=item.uid, note="c" * 32), etag2)
        assert len({etag, etag2, etag3}) == 3
        assert b"c" * 32 in storage.get(ident)[0].raw

    def test_update_with_stale_etag_raises_precondition_failed(
        self, storage: Storage, make_item: MakeItem
    ) -> None:
        item = make_item()
        ident, etag = storage.add(item)
        storage.update(ident, make_item(uid=item.uid, text="first writer"), etag)
        with pytest.raises(PreconditionFailed):
            storage.update(ident, make_item(uid=item.uid, text="second writer"), etag)
        assert b"first writer" in storage.get(ident)[0].raw

    def test_delete_with_stale_etag_raises_precondition_failed(
        self, storage: Storage, make_item: MakeItem
    ) -> None:
        item = make_item()
        ident, etag = storage.add(item)
        storage.update(ident, make_item(uid=item.uid, text="changed"), etag)
        with pytest.raises(PreconditionFailed):
            storage.delete(ident, etag)
        assert [i for i, _ in storage.list()] == [ident]

    def test_update_of_deleted_item_raises_precondition_failed(
        self, storage: Storage, make_item: MakeItem
    ) -> None:
        item = make_item()
        ident, etag = storage.add(item)
        storage.delete(ident, etag)
        with pytest.raises(PreconditionFailed):
            storage.update(ident, item, etag)
        assert list(storage.list()) == []

    def test_delete_of_deleted_item_raises_precondition_failed(
        self, storage: Storage, make_item: MakeItem
    ) -> None:
        ident, etag = storage.add(make_item())
        storage.delete(ident, etag)
        with pytest.raises(PreconditionFailed):
            storage.delete(ident, etag)

    def test_delete_removes_only_that_item(self, storage: Storage, make_item: MakeItem) -> None:
        ident, etag = storage.add(make_item())
        other = storage.add(make_item())
        storage.delete(ident, etag)
        assert list(storage.list()) == [other]

    def test_update_leaves_other_items_alone(self, storage: Storage, make_item: MakeItem) -> None:
        item = make_item()
        ident, etag = storage.add(item)
        others = dict(storage.add(make_item()) for _ in range(3))
        storage.update(ident, make_item(uid=item.uid, text="changed"), etag)
        listing = dict(storage.list())
        assert {i: listing[i] for i in others} == others

    def test_add_never_overwrites_an_item_with_the_same_uid(
        self, storage: Storage, make_item: MakeItem
    ) -> None:
        first = make_item(uid="same-uid", text="first")
        second = make_item(uid="same-uid", text="second")
        ident1, _ = storage.add(first)
        ident2, _ = storage.add(second)
        assert ident1 != ident2
        self.assert_same_item(storage.get(ident1)[0], first)
        self.assert_same_item(storage.get(ident2)[0], second)

    def test_uids_differing_in_case_are_two_items(
        self, storage: Storage, make_item: MakeItem
    ) -> None:
        upper = storage.add(make_item(uid="A" * 42))
        lower = storage.add(make_item(uid="a" * 42))
        assert upper[0] != lower[0]
        assert len(list(storage.list())) == 2

    # --- changes ----------------------------------------------------------------------------

    def test_changes_against_current_listing_is_empty(
        self, storage: Storage, make_item: MakeItem
    ) -> None:
        for _ in range(3):
            storage.add(make_item())
        changes = storage.changes(None, dict(storage.list()))
        assert changes.changed == {}
        assert changes.deleted == set()

    def test_changes_reports_adds_changes_and_deletes(
        self, storage: Storage, make_item: MakeItem
    ) -> None:
        kept = storage.add(make_item())
        to_change_item = make_item()
        to_change, change_etag = storage.add(to_change_item)
        to_delete, delete_etag = storage.add(make_item())
        known = dict(storage.list())

        added, added_etag = storage.add(make_item())
        changed_etag = storage.update(
            to_change, make_item(uid=to_change_item.uid, text="new"), change_etag
        )
        storage.delete(to_delete, delete_etag)

        changes = storage.changes(None, known)
        assert changes.changed == {added: added_etag, to_change: changed_etag}
        assert changes.deleted == {to_delete}
        assert kept[0] not in changes.changed

    def test_changes_with_empty_known_reports_everything(
        self, storage: Storage, make_item: MakeItem
    ) -> None:
        added = dict(storage.add(make_item()) for _ in range(3))
        changes = storage.changes(None, {})
        assert changes.changed == added
        assert changes.deleted == set()

    # --- get_many -----------------------------------------------------------------------------

    def test_get_many_of_nothing_yields_nothing(self, storage: Storage) -> None:
        assert list(storage.get_many([])) == []

    def test_get_many_returns_every_item_with_its_etag(
        self, storage: Storage, make_item: MakeItem
    ) -> None:
        items = [make_item() for _ in range(5)]
        sent = {}
        for item in items:
            ident, etag = storage.add(item)
            sent[ident] = (item, etag)
        got = {ident: (item, etag) for ident, item, etag in storage.get_many(list(sent))}
        assert set(got) == set(sent)
        for ident, (item, etag) in got.items():
            assert isinstance(item, Item)
            self.assert_same_item(item, sent[ident][0])
            assert etag == sent[ident][1]

    def test_get_many_yields_a_duplicate_ident_once(
        self, storage: Storage, make_item: MakeItem
    ) -> None:
        ident, etag = storage.add(make_item())
        ((got_ident, item, got_etag),) = storage.get_many([ident, ident])
        assert (got_ident, got_etag) == (ident, etag)
        assert isinstance(item, Item)

    def test_get_many_yields_not_found_for_a_missing_item_and_goes_on(
        self, storage: Storage, make_item: MakeItem
    ) -> None:
        gone, gone_etag = storage.add(make_item())
        storage.delete(gone, gone_etag)
        present, _ = storage.add(make_item())
        results = {ident: item for ident, item, _ in storage.get_many([gone, present])}
        assert isinstance(results[gone], NotFoundError)
        assert isinstance(results[present], Item)

    def test_unicode_content_and_uid_survive(self, storage: Storage, make_item: MakeItem) -> None:
        item = make_item(uid="uid-ät-град-😀", text=UNICODE_TEXT, note=UNICODE_TEXT)
        ident, _ = storage.add(item)
        self.assert_safe_ident(ident)
        got, _ = storage.get(ident)
        self.assert_same_item(got, item)
        assert UNICODE_TEXT in got.raw.decode("utf-8")

    @pytest.mark.parametrize("uid", HOSTILE_UIDS, ids=lambda uid: repr(uid)[:24])
    def test_hostile_uid_still_gives_a_safe_ident(
        self, storage: Storage, make_item: MakeItem, uid: str
    ) -> None:
        item = make_item(uid=uid)
        ident, etag = storage.add(item)
        self.assert_safe_ident(ident)
        assert list(storage.list()) == [(ident, etag)]
        self.assert_same_item(storage.get(ident)[0], item)

    def test_many_items_list_and_get_many(self, storage: Storage, make_item: MakeItem) -> None:
        added = dict(storage.add(make_item()) for _ in range(500))
        assert len(added) == 500
        assert dict(storage.list()) == added
        results = list(storage.get_many(list(added)))
        assert len(results) == 500
        assert all(isinstance(item, Item) for _, item, _ in results)
        assert {ident: etag for ident, _, etag in results} == added


class CorruptibleStorageTests(StorageTests):
    """For storages whose items can be broken behind their back (a vdir file): the
    subclass provides a ``corrupt(storage, ident)`` fixture."""

    def test_get_many_yields_errors_for_broken_items_without_stopping(
        self,
        storage: Storage,
        make_item: MakeItem,
        corrupt: Callable[[Storage, str], None],
    ) -> None:
        idents = [storage.add(make_item())[0] for _ in range(5)]
        broken = {idents[0], idents[2], idents[4]}
        for ident in broken:
            corrupt(storage, ident)
        results = {ident: item for ident, item, _ in storage.get_many(idents)}
        assert set(results) == set(idents)
        for ident, result in results.items():
            if ident in broken:
                assert isinstance(result, ItemError)
                assert ident in str(result)
            else:
                assert isinstance(result, Item)

    def test_get_of_broken_item_raises_item_error_naming_it(
        self,
        storage: Storage,
        make_item: MakeItem,
        corrupt: Callable[[Storage, str], None],
    ) -> None:
        ident, _ = storage.add(make_item())
        corrupt(storage, ident)
        with pytest.raises(ItemError, match=ident):
            storage.get(ident)

    # --- content and names ------------------------------------------------------------------
