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
