"""The trash of deleted local items."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from eassync.storage.base import Item
from eassync.storage.trash import Trash, safe_component

CARD = Item(raw=b"BEGIN:VCARD\r\nUID:x\r\nFN:Ada\r\nEND:VCARD\r\n", uid="x")


def test_put_keeps_the_bytes_under_pair_and_collection(tmp_path: Path) -> None:
    trash = Trash(tmp_path / "trash")
    path = trash.put("work", "contacts", "ada.vcf", CARD)
    assert path.read_bytes() == CARD.raw
    assert path.parent == tmp_path / "trash" / "work" / "contacts"
    assert path.name.endswith("-ada.vcf")
    assert list(trash.entries("work")) == [path]


def test_files_are_0600_and_folders_0700(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = Trash(tmp_path / "trash").put("work", "contacts", "ada.vcf", CARD)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for folder in (path.parent, path.parent.parent, tmp_path / "trash"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_hostile_names_stay_inside_the_trash(tmp_path: Path) -> None:
    root = tmp_path / "trash"
    trash = Trash(root)
    path = trash.put("../../pair", "..", "../../../etc/passwd", CARD)
    assert root.resolve() in path.resolve().parents
    assert all(not part.startswith(".") for part in path.relative_to(root).parts)
    assert safe_component("") == "_"
    assert safe_component("..") == "_"
    assert len(safe_component("x" * 1000)) <= 120


def test_same_item_put_twice_keeps_both(tmp_path: Path) -> None:
    trash = Trash(tmp_path)
    first = trash.put("p", "c", "a.ics", CARD)
    second = trash.put("p", "c", "a.ics", Item(raw=b"other"))
    assert first != second
    assert first.read_bytes() == CARD.raw
    assert second.read_bytes() == b"other"


def test_prune_removes_only_old_copies_and_empty_folders(tmp_path: Path) -> None:
    trash = Trash(tmp_path / "trash")
    old = trash.put("p", "old-collection", "a.ics", CARD)
    recent = trash.put("p", "c", "b.ics", CARD)
    long_ago = time.time() - 31 * 86400
    os.utime(old, (long_ago, long_ago))
    assert trash.prune(max_age_days=30) == 1
    assert not old.exists()
    assert not old.parent.exists()
    assert recent.exists()
    assert (tmp_path / "trash").is_dir()


def test_prune_of_a_missing_trash_does_nothing(tmp_path: Path) -> None:
    assert Trash(tmp_path / "none").prune() == 0
    assert list(Trash(tmp_path / "none").entries()) == []


# --- issue 16 item 12: what the trash knows of each entry, and its commands ---------------


def test_an_entry_knows_its_pair_collection_file_name_and_date(tmp_path: Path) -> None:
    trash = Trash(tmp_path / "trash")
    path = trash.put("my pair", "12", "ada.vcf", CARD, name="Ada Lovelace", label="Contacts")
    (entry,) = trash.list()
    assert entry.path == path
    assert (entry.pair, entry.collection, entry.label) == ("my pair", "12", "Contacts")
    assert (entry.ident, entry.name) == ("ada.vcf", "Ada Lovelace")
    assert abs(entry.trashed.timestamp() - time.time()) < 60
    # a short handle that names no server id, found again by restore
    assert len(entry.id) == 10
    assert "/" not in entry.id
    assert trash.find(entry.id) == entry
    assert trash.find(f" {entry.id.upper()} ") == entry  # as a person types it
    assert trash.find("../../etc/passwd") is None
    assert trash.find("my_pair/12/" + path.name) is None
    assert trash.list("other") == []
    # the description beside it is private too, and no entry of its own
    (meta,) = [p for p in path.parent.iterdir() if p != path]
    assert meta.name.startswith(".")
    assert stat.S_IMODE(meta.stat().st_mode) == 0o600


def test_an_entry_without_description_is_named_by_its_file(tmp_path: Path) -> None:
    trash = Trash(tmp_path / "trash")
    trash.put("p", "c", "ada.vcf", CARD)
    (entry,) = trash.list()
    assert (entry.ident, entry.name, entry.label, entry.pair) == ("ada.vcf", "ada.vcf", None, "p")


def test_remove_takes_the_entry_its_description_and_empty_folders(tmp_path: Path) -> None:
    root = tmp_path / "trash"
    trash = Trash(root)
    trash.put("p", "c", "a.vcf", CARD, name="A")
    (entry,) = trash.list()
    trash.remove(entry)
    assert list(root.rglob("*")) == []


def test_empty_removes_everything_or_the_older_ones_of_one_pair(tmp_path: Path) -> None:
    trash = Trash(tmp_path / "trash")
    old = trash.put("p", "c", "old.vcf", CARD, name="Old")
    trash.put("p", "c", "new.vcf", CARD, name="New")
    other = trash.put("q", "c", "other.vcf", CARD, name="Other")
    long_ago = time.time() - 10 * 86400
    os.utime(old, (long_ago, long_ago))
    os.utime(other, (long_ago, long_ago))
    assert trash.empty(older_than_days=5, pair="p") == 1
    assert [e.name for e in trash.list()] == ["Other", "New"]  # oldest first
    assert trash.empty() == 2
    assert trash.list() == []


def test_prune_of_one_pair_leaves_the_others(tmp_path: Path) -> None:
    trash = Trash(tmp_path / "trash")
    mine = trash.put("p", "c", "a.vcf", CARD)
    theirs = trash.put("q", "c", "b.vcf", CARD)
    long_ago = time.time() - 40 * 86400
    for path in (mine, theirs):
        os.utime(path, (long_ago, long_ago))
    assert trash.prune(30, pair="p") == 1
    assert [e.pair for e in trash.list()] == ["q"]
    assert not (tmp_path / "trash" / "p").exists()  # its description went with it


def test_a_trash_that_cannot_be_written_is_a_storage_error(tmp_path: Path) -> None:
    import pytest

    from eassync.errors import StorageError

    (tmp_path / "trash").write_text("a file where the folder should be")
    with pytest.raises(StorageError, match="trash"):
        Trash(tmp_path / "trash").put("p", "c", "a.vcf", CARD)
