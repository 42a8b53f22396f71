"""``eassync trash restore`` without a server (eassync.restore): back into the local
collection the item came from; over the item it replaces, which is kept in turn."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from eassync.config import Config, parse_config
from eassync.errors import UsageError
from eassync.restore import restore
from eassync.storage.base import Item
from eassync.storage.trash import Trash


def card(uid: str, name: str) -> Item:
    raw = f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\nEND:VCARD\r\n"
    return Item(raw.encode(), uid)


def config(tmp_path: Path, storage: str) -> Config:
    text = (
        f"general:\n  status_dir: {tmp_path / 'state'}\n"
        "accounts:\n  a: {url: https://eas.example/, username: u, password: {env: PW}}\n"
        "storages:\n  local:\n"
        + textwrap.indent(storage, "    ")
        + "\npairs:\n  p: {account: a, remote: {folder: Stuff}, local: local}\n"
    )
    return parse_config(text, tmp_path / "config.yaml")


def vdir(tmp_path: Path) -> Config:
    return config(tmp_path, f"type: vdir\npath: {tmp_path / 'cards'}\nfileext: .vcf")


def test_a_deleted_item_comes_back_as_a_new_file(tmp_path: Path) -> None:
    cfg = vdir(tmp_path)
    trash = Trash(tmp_path / "state" / "trash")
    trash.put("p", "7", "ada.vcf", card("ada", "Ada"), name="Ada")
    (entry,) = trash.list()
    where = restore(cfg, trash, entry)
    assert Path(where).parent == tmp_path / "cards"
    assert Path(where).read_bytes() == card("ada", "Ada").raw
    assert trash.list() == []


def test_an_item_with_its_uid_is_replaced_and_kept_in_turn(tmp_path: Path) -> None:
    cfg = vdir(tmp_path)
    (tmp_path / "cards").mkdir()
    current = tmp_path / "cards" / "renamed.vcf"
    current.write_bytes(card("ada", "Server Ada").raw)
    trash = Trash(tmp_path / "state" / "trash")
    trash.put("p", "7", "ada.vcf", card("ada", "My Ada"), name="My Ada")
    (entry,) = trash.list()
    assert restore(cfg, trash, entry) == str(current)
    assert b"FN:My Ada" in current.read_bytes()
    (kept,) = trash.list()
    assert (kept.name, kept.ident) == ("Server Ada", "renamed.vcf")
    assert [p.name for p in (tmp_path / "cards").iterdir()] == ["renamed.vcf"]


def test_a_note_comes_back_into_a_notes_storage(tmp_path: Path) -> None:
    cfg = config(tmp_path, f"type: notes\npath: {tmp_path / 'notes'}")
    trash = Trash(tmp_path / "state" / "trash")
    trash.put("p", "7", "Groceries.md", Item(b"# Groceries\n\nmilk\n"), name="Groceries")
    (entry,) = trash.list()
    where = Path(restore(cfg, trash, entry))
    # the notes storage writes it in its own form: the subject names the file
    assert where == tmp_path / "notes" / "Groceries.md"
    assert where.read_bytes() == b"milk\n"


def test_a_dav_collection_is_told_to_import_the_file(tmp_path: Path) -> None:
    cfg = config(tmp_path, "type: carddav\nurl: https://dav.example/")
    trash = Trash(tmp_path / "state" / "trash")
    path = trash.put("p", "7", "ada.vcf", card("ada", "Ada"), name="Ada")
    (entry,) = trash.list()
    with pytest.raises(UsageError, match="carddav") as caught:
        restore(cfg, trash, entry)
    assert str(path) in (caught.value.hint or "")
    assert trash.list() == [entry]


def test_an_item_of_a_pair_no_longer_configured_says_so(tmp_path: Path) -> None:
    cfg = vdir(tmp_path)
    trash = Trash(tmp_path / "state" / "trash")
    trash.put("gone", "7", "ada.vcf", card("ada", "Ada"), name="Ada")
    (entry,) = trash.list()
    with pytest.raises(UsageError, match="'gone' is no longer in"):
        restore(cfg, trash, entry)
