"""The notes storage: the storage contract, file names from subjects, and idents that
survive renames (by the user, by the server, and a kill in the middle of one)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eassync.convert.notes import HANDLER, Note, document, parse
from eassync.errors import ItemError, PreconditionFailed, StorageError
from eassync.storage import notes as notes_mod
from eassync.storage.base import Item, Storage
from eassync.storage.notes import INDEX_NAME, NotesStorage, safe_stem
from tests.storage_contract import CorruptibleStorageTests


class TestNotesContract(CorruptibleStorageTests):
    @pytest.fixture(params=["NOTE"])
    def item_type(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)

    @pytest.fixture
    def storage(self, tmp_path: Path) -> NotesStorage:
        folder = tmp_path / "notes"
        folder.mkdir()
        return NotesStorage(folder)

    @pytest.fixture
    def corrupt(self) -> Callable[[Storage, str], None]:
        def write_garbage(storage: Storage, ident: str) -> None:
            assert isinstance(storage, NotesStorage)
            storage.path_of(ident).write_bytes(b"\xff\xfe\x00 not text")

        return write_garbage

    def assert_same_item(self, got: Item, sent: Item) -> None:
        # a subject is one clean line: the same content; the UID is kept in an
        # extended attribute where the file system has them (test_uid_in_an_xattr)
        assert HANDLER.fingerprint(got) == HANDLER.fingerprint(Item(sent.raw))
        assert got.uid in (sent.uid, None)


def note(subject: str, body: str = "text", categories: tuple[str, ...] = ()) -> Item:
    return document(Note(subject, body, categories))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "notes"
    path.mkdir()
    return path


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != INDEX_NAME)


def xattrs_work(folder: Path) -> bool:
    probe = folder / "probe"
    probe.write_text("")
    try:
        os.setxattr(probe, "user.eassync.probe", b"1")
    except OSError:
        return False
    finally:
        probe.unlink()
    return True


def test_uid_and_ident_in_xattrs_follow_the_file_not_its_copies(folder: Path) -> None:
    if not xattrs_work(folder):
        pytest.skip("no user xattrs on this file system")
    storage = NotesStorage(folder)
    ident, etag = storage.add(HANDLER.with_uid(note("A", "x"), "uid-1"))
    assert (folder / "A.md").read_text() == "x\n"  # the file itself stays clean
    assert storage.get(ident)[0].uid == "uid-1"
    # renamed and rewritten by an editor that keeps xattrs, same inode or not
    os.rename(folder / "A.md", folder / "B.md")
    (folder / "B.md").write_text("x edited\n")
    fresh = NotesStorage(folder)
    changes = fresh.changes(None, {ident: etag})
    assert list(changes.changed) == [ident]
    assert changes.deleted == set()
    assert fresh.get(ident)[0].uid == "uid-1"
    # a copy (cp --preserve=xattr) is a note of its own, without the original's UID
    (folder / "C.md").write_bytes((folder / "B.md").read_bytes())
    for name, value in ((notes_mod.XATTR_IDENT, ident), (notes_mod.XATTR_UID, "uid-1")):
        os.setxattr(folder / "C.md", name, value.encode())
    changes = fresh.changes(None, {ident: changes.changed[ident]})
    assert list(changes.changed) == ["C.md"]
    assert fresh.get("C.md")[0].uid is None


def test_a_note_written_by_a_killed_pass_keeps_its_uid_through_a_rename(
    folder: Path,
) -> None:
    if not xattrs_work(folder):
        pytest.skip("no user xattrs on this file system")
    # the pass wrote the file, then died before the status learnt its ident
    ident, _ = NotesStorage(folder).add(HANDLER.with_uid(note("A"), "uid-2"))
    os.rename(folder / "A.md", folder / "Renamed.md")
    fresh = NotesStorage(folder)
    changes = fresh.changes(None, {})
    assert list(changes.changed) == [ident]
    assert fresh.get(ident)[0].uid == "uid-2"


# --- file names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "stem"),
    [
        ("Shopping", "Shopping"),
        ("../../etc/passwd", "-.-etc-passwd"),
        (".hidden", "hidden"),
        ("..", "Untitled"),
        ("", "Untitled"),
        ("a/b\\c:d", "a-b-c-d"),
        ("bell\x07 and\x1b[31m red", "bell and[31m red"),
        ("trailing dots...", "trailing dots"),
    ],
)
def test_safe_stem(subject: str, stem: str) -> None:
    assert safe_stem(subject) == stem


@given(st.text(max_size=400))
def test_any_subject_gives_a_plain_bounded_file_name(subject: str) -> None:
    stem = safe_stem(subject)
    assert stem
    assert "/" not in stem
    assert "\\" not in stem
    assert "\0" not in stem
    assert not stem.startswith(".")
    assert ".." not in stem
    assert len(stem.encode("utf-8")) <= notes_mod.MAX_STEM_BYTES
    assert not any(ord(c) < 32 or ord(c) == 127 for c in stem)


@settings(max_examples=40, deadline=None)
@given(
    subject=st.text(st.characters(blacklist_categories=("Cs",)), max_size=60),
    body=st.text(st.characters(blacklist_categories=("Cs",)), max_size=80),
    cats=st.lists(
        st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=8),
        max_size=3,
    ),
)
def test_a_note_reads_back_as_written(
    tmp_path_factory: pytest.TempPathFactory, subject: str, body: str, cats: list[str]
) -> None:
    storage = NotesStorage(tmp_path_factory.mktemp("n"))
    item = HANDLER.merge(note(subject, body, tuple(cats)), None)
    ident, etag = storage.add(item)
    got, got_etag = storage.get(ident)
    assert got_etag == etag
    assert HANDLER.fingerprint(got) == HANDLER.fingerprint(item)
    # and nothing changed for the next scan
    assert storage.changes(None, {ident: etag}).changed == {}


def test_same_subjects_get_numbered_names(folder: Path) -> None:
    storage = NotesStorage(folder)
    for _ in range(3):
        storage.add(note("Todo"))
    assert names(folder) == ["Todo (2).md", "Todo (3).md", "Todo.md"]
    # the numbered ones say their subject in a heading, the plain one through its name
    assert (folder / "Todo.md").read_text() == "text\n"
    assert (folder / "Todo (2).md").read_text() == "# Todo\n\ntext\n"


def test_a_file_without_heading_takes_its_name_as_subject(folder: Path) -> None:
    (folder / "Groceries.md").write_text("milk\n# not a subject\n")
    storage = NotesStorage(folder)
    item, _ = storage.get("Groceries.md")
    assert parse(item) == Note("Groceries", "milk\n# not a subject")


def test_a_body_starting_with_a_heading_keeps_the_subject_heading(folder: Path) -> None:
    storage = NotesStorage(folder)
    ident, _ = storage.add(note("Plan", "# Step one\nwork"))
    assert (folder / ident).read_text() == "# Plan\n\n# Step one\nwork\n"
    assert parse(storage.get(ident)[0]).subject == "Plan"


def test_txt_files_and_unknown_extensions(tmp_path: Path) -> None:
    storage = NotesStorage(tmp_path, ".txt")
    ident, _ = storage.add(note("Plain"))
    assert ident == "Plain.txt"
    with pytest.raises(StorageError, match=r"\.md, \.markdown, \.txt"):
        NotesStorage(tmp_path, ".ics")


# --- renames ----------------------------------------------------------------------------------


def test_a_user_rename_keeps_the_ident_and_changes_the_subject(folder: Path) -> None:
    storage = NotesStorage(folder)
    ident, etag = storage.add(note("Draft", "words"))
    os.rename(folder / "Draft.md", folder / "Final.md")
    changes = NotesStorage(folder).changes(None, {ident: etag})
    assert set(changes.changed) == {ident}
    assert changes.deleted == set()
    # remembered: an editor that replaces the file (new inode) does not lose it
    (folder / "Final.md").unlink()
    (folder / "Final.md").write_text("more words\n")
    later = NotesStorage(folder)
    changes = later.changes(None, {ident: changes.changed[ident]})
    assert set(changes.changed) == {ident}
    assert parse(later.get(ident)[0]) == Note("Final", "more words")


def test_a_server_rename_moves_the_file_under_the_same_ident(folder: Path) -> None:
    storage = NotesStorage(folder)
    ident, etag = storage.add(note("Draft", "words", ("a",)))
    new_etag = storage.update(ident, note("Final", "words", ("a",)), etag)
    assert names(folder) == ["Final.md"]
    fresh = NotesStorage(folder)
    assert fresh.changes(None, {ident: new_etag}).changed == {}
    assert parse(fresh.get(ident)[0]).subject == "Final"
    index = json.loads((folder / INDEX_NAME).read_text())
    assert index == {"version": 1, "names": {"Draft.md": "Final.md"}, "moving": {}}


def test_a_rename_back_drops_the_index_entry(folder: Path) -> None:
    storage = NotesStorage(folder)
    ident, etag = storage.add(note("A"))
    etag = storage.update(ident, note("B"), etag)
    storage.update(ident, note("A"), etag)
    assert names(folder) == ["A.md"]
    assert json.loads((folder / INDEX_NAME).read_text())["names"] == {}


def test_a_server_rename_onto_a_taken_name_gets_a_number(folder: Path) -> None:
    storage = NotesStorage(folder)
    storage.add(note("B", "other"))
    ident, etag = storage.add(note("A"))
    storage.update(ident, note("B"), etag)
    assert names(folder) == ["B (2).md", "B.md"]
    assert parse(storage.get(ident)[0]).subject == "B"


def test_a_new_file_named_like_a_moved_notes_ident_is_another_note(folder: Path) -> None:
    storage = NotesStorage(folder)
    ident, etag = storage.add(note("A"))
    etag = storage.update(ident, note("B"), etag)
    (folder / "A.md").write_text("new\n")
    changes = NotesStorage(folder).changes(None, {ident: etag})
    assert list(changes.changed) == ["A.md#2"]
    fresh = NotesStorage(folder)
    fresh.changes(None, {ident: etag})
    assert parse(fresh.get("A.md#2")[0]) == Note("A", "new")
    assert parse(fresh.get(ident)[0]).subject == "B"


def test_an_update_with_a_stale_etag_renames_nothing(folder: Path) -> None:
    storage = NotesStorage(folder)
    ident, etag = storage.add(note("A"))
    (folder / "A.md").write_text("edited by the user meanwhile\n")
    with pytest.raises(PreconditionFailed):
        storage.update(ident, note("B"), etag)
    assert names(folder) == ["A.md"]


class Killed(BaseException):
    """A kill at this point (no cleanup code of ours runs)."""


def _kill(*_args: object, **_kwargs: object) -> None:
    raise Killed


def test_a_kill_before_the_renamed_file_exists_keeps_the_old_one(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = NotesStorage(folder)
    ident, etag = storage.add(note("A"))
    monkeypatch.setattr(notes_mod, "create_exclusive", _kill)
    with pytest.raises(Killed):
        storage.update(ident, note("B"), etag)
    monkeypatch.undo()
    fresh = NotesStorage(folder)
    changes = fresh.changes(None, {ident: etag})
    assert (changes.changed, changes.deleted) == ({}, set())
    assert parse(fresh.get(ident)[0]).subject == "A"
    assert json.loads((folder / INDEX_NAME).read_text())["moving"] == {}


def test_a_kill_after_the_renamed_file_exists_finishes_the_rename(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = NotesStorage(folder)
    ident, etag = storage.add(note("A"))
    monkeypatch.setattr(notes_mod, "remove_durable", _kill)
    with pytest.raises(Killed):
        storage.update(ident, note("B"), etag)
    monkeypatch.undo()
    assert names(folder) == ["A.md", "B.md"]
    fresh = NotesStorage(folder)
    changes = fresh.changes(None, {ident: etag})  # the status still has the old etag
    assert list(changes.changed) == [ident]
    assert changes.deleted == set()
    assert names(folder) == ["B.md"]
    assert parse(fresh.get(ident)[0]).subject == "B"


def test_a_symlinked_note_changes_in_place(folder: Path, tmp_path: Path) -> None:
    (folder / "sub").mkdir()
    (folder / "sub" / "real.md").write_text("text\n")
    (folder / "Linked.md").symlink_to(folder / "sub" / "real.md")
    storage = NotesStorage(folder)
    etag = dict(storage.list())["Linked.md"]
    storage.update("Linked.md", note("Renamed"), etag)
    assert (folder / "Linked.md").is_symlink()
    assert (folder / "sub" / "real.md").read_text() == "# Renamed\n\ntext\n"


def test_a_read_only_storage_writes_no_index(folder: Path) -> None:
    storage = NotesStorage(folder)
    ident, etag = storage.add(note("A"))
    os.rename(folder / "A.md", folder / "B.md")
    ro = NotesStorage(folder, read_only=True)
    assert set(ro.changes(None, {ident: etag}).changed) == {ident}
    assert not (folder / INDEX_NAME).exists()
    with pytest.raises(StorageError, match="read-only"):
        ro.add(note("C"))


def test_an_unreadable_index_falls_back_to_file_names(folder: Path) -> None:
    (folder / "A.md").write_text("x\n")
    (folder / INDEX_NAME).write_text("{not json")
    storage = NotesStorage(folder)
    assert list(storage.changes(None, {}).changed) == ["A.md"]


def test_an_index_naming_paths_is_ignored(folder: Path) -> None:
    (folder / "A.md").write_text("x\n")
    (folder / INDEX_NAME).write_text(json.dumps({"names": {"A.md": "../../etc/passwd"}}))
    storage = NotesStorage(folder)
    assert storage.names == {}
    with pytest.raises(ItemError):
        storage.path_of("../x")


def test_a_long_lived_reader_sees_renames_another_instance_made(folder: Path) -> None:
    """``watch`` keeps one storage open for its checks while syncs open their own."""
    watcher = NotesStorage(folder, read_only=True)
    sync = NotesStorage(folder)
    ident, etag = sync.add(note("A"))
    assert watcher.changes(None, {}).changed.keys() == {ident}
    etag = sync.update(ident, note("B"), etag)
    os.rename(folder / "B.md", folder / "C.md")  # and the user renames it again
    changes = watcher.changes(None, {ident: etag})
    assert (set(changes.changed), changes.deleted) == ({ident}, set())
    assert not (folder / INDEX_NAME).read_text().count("C.md")  # the reader wrote nothing
