"""The vdir storage: the storage contract, plus what only a folder of files can meet."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import icalendar
import pytest
import vobject

from eassync.errors import ItemError, NotFoundError, StorageError
from eassync.storage.base import Item, Storage
from eassync.storage.vdir import STALE_TMP_AGE, VdirStorage
from tests.storage_contract import EVENT_TEMPLATE, VCARD_TEMPLATE, CorruptibleStorageTests, fill


def ext_for(item_type: str) -> str:
    return ".vcf" if item_type == "VCARD" else ".ics"


class TestVdirContract(CorruptibleStorageTests):
    @pytest.fixture
    def storage(self, tmp_path: Path, item_type: str) -> VdirStorage:
        folder = tmp_path / "collection"
        folder.mkdir()
        return VdirStorage(folder, ext_for(item_type))

    @pytest.fixture
    def corrupt(self) -> Callable[[Storage, str], None]:
        def write_garbage(storage: Storage, ident: str) -> None:
            assert isinstance(storage, VdirStorage)
            (storage.path / ident).write_bytes(b"this is not a calendar\r\n")

        return write_garbage


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "calendar"
    path.mkdir()
    return path


@pytest.fixture
def ics(folder: Path) -> VdirStorage:
    return VdirStorage(folder, ".ics")


def event(uid: str = "event-1", text: str = "Standup") -> Item:
    return fill(EVENT_TEMPLATE, uid, text)


# --- what the folder holds ---------------------------------------------------------------


def test_leftover_temp_files_are_invisible(ics: VdirStorage, folder: Path) -> None:
    ident, etag = ics.add(event())
    (folder / f".{ident}.0123456789ab.tmp").write_bytes(b"BEGIN:VCALENDAR\r\n")  # killed run
    (folder / "other.ics.tmp").write_bytes(event("other").raw)
    assert list(ics.list()) == [(ident, etag)]
    assert ics.changes(None, {ident: etag}).changed == {}


def test_stale_temp_files_are_removed_and_fresh_ones_kept(ics: VdirStorage, folder: Path) -> None:
    stale = folder / ".a.ics.eassync-000000000000.tmp"
    fresh = folder / ".b.ics.eassync-111111111111.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    old = time.time() - STALE_TMP_AGE - 60
    os.utime(stale, (old, old))
    list(ics.list())
    assert not stale.exists()
    assert fresh.exists()  # may belong to a sync running right now


@pytest.mark.parametrize(
    "name",
    [
        ".backup.tmp",
        ".a.ics.tmp",
        ".a.ics.000000000000.tmp",
        ".a.ics.eassync-00000000000.tmp",
        ".a.ics.eassync-0000000000000.tmp",
        ".a.ics.eassync-00000000000G.tmp",
        ".a.ics.eassync-000000000000.tmp.tmp",
        ".eassync-000000000000.tmp",
        ".a.ics.EASSYNC-000000000000.tmp",
    ],
)
def test_hidden_tmp_files_of_other_programs_are_never_deleted(
    ics: VdirStorage, folder: Path, name: str
) -> None:
    """Only eassync's own temp names are cleaned up, however old (issue 14 item 12)."""
    other = folder / name
    other.write_bytes(b"someone else's work")
    old = time.time() - 30 * 24 * 3600
    os.utime(other, (old, old))
    list(ics.list())
    assert other.read_bytes() == b"someone else's work"


def test_temp_files_eassync_writes_are_the_ones_it_cleans_up(
    ics: VdirStorage, folder: Path
) -> None:
    from eassync.storage.atomic import is_temp_name, temp_name_for

    for target in ("a.ics", "x.y.ics", ".hidden.ics", "ü €.ics"):
        assert is_temp_name(os.path.basename(temp_name_for(str(folder / target))))


def test_read_only_storage_leaves_stale_temp_files(folder: Path) -> None:
    stale = folder / ".a.ics.eassync-000000000000.tmp"
    stale.write_bytes(b"half")
    old = time.time() - STALE_TMP_AGE - 60
    os.utime(stale, (old, old))
    list(VdirStorage(folder, ".ics", read_only=True).list())
    assert stale.exists()


def test_dotfiles_subfolders_other_extensions_and_fifos_are_not_items(
    ics: VdirStorage, folder: Path
) -> None:
    ident, etag = ics.add(event())
    (folder / ".hidden.ics").write_bytes(event("hidden").raw)
    (folder / "sub.ics").mkdir()
    (folder / "notes.txt").write_text("hello")
    (folder / "card.vcf").write_bytes(fill(VCARD_TEMPLATE, "card").raw)
    os.mkfifo(folder / "pipe.ics")
    assert list(ics.list()) == [(ident, etag)]


def test_fifo_under_an_item_name_is_reported_not_waited_on(ics: VdirStorage, folder: Path) -> None:
    os.mkfifo(folder / "pipe.ics")
    with pytest.raises(ItemError, match="not a regular file"):
        ics.get("pipe.ics")


def test_symlink_leading_outside_the_folder_is_ignored(
    ics: VdirStorage, folder: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.ics"
    secret.write_bytes(event("secret").raw)
    (folder / "escape.ics").symlink_to(secret)
    (folder / "relative.ics").symlink_to("../secret.ics")
    assert list(ics.list()) == []
    with pytest.raises(ItemError, match="outside"):
        ics.get("escape.ics")
    assert [type(result) for _, result, _ in ics.get_many(["relative.ics"])] == [ItemError]


def _inner_target(folder: Path) -> Path:
    """A file inside the folder that is not an item of it (in a subfolder)."""
    (folder / "kept").mkdir()
    target = folder / "kept" / "real.ics"
    target.write_bytes(event().raw)
    return target


def test_symlink_within_the_folder_is_an_item(ics: VdirStorage, folder: Path) -> None:
    (folder / "alias.ics").symlink_to(_inner_target(folder))
    listing = dict(ics.list())
    assert set(listing) == {"alias.ics"}
    item, etag = ics.get("alias.ics")
    assert item.uid == "event-1"
    assert etag == listing["alias.ics"]


def test_symlink_to_another_item_is_skipped_not_uploaded_twice(
    ics: VdirStorage, folder: Path
) -> None:
    ident, _ = ics.add(event())
    (folder / "alias.ics").symlink_to(ident)
    changes = ics.changes(None, {})
    assert set(changes.changed) == {ident}
    assert set(changes.skipped) == {"alias.ics"}
    assert ident in changes.skipped["alias.ics"]


def test_a_known_file_replaced_by_an_outside_symlink_is_skipped_not_deleted(
    ics: VdirStorage, folder: Path, tmp_path: Path
) -> None:
    ident, etag = ics.add(event())
    outside = tmp_path / "elsewhere.ics"
    outside.write_bytes(event(text="Not ours").raw)
    (folder / ident).unlink()
    (folder / ident).symlink_to(outside)
    changes = ics.changes(None, {ident: etag})
    assert changes.deleted == set()
    assert changes.changed == {}
    assert "outside" in changes.skipped[ident]


def test_update_through_an_inner_symlink_keeps_the_symlink(ics: VdirStorage, folder: Path) -> None:
    target = _inner_target(folder)
    (folder / "alias.ics").symlink_to(target)
    etag = dict(ics.list())["alias.ics"]
    new_etag = ics.update("alias.ics", event(text="Moved"), etag)
    assert (folder / "alias.ics").is_symlink()
    assert b"Moved" in target.read_bytes()
    assert dict(ics.list())["alias.ics"] == new_etag


def test_missing_folder_is_a_storage_error(tmp_path: Path) -> None:
    storage = VdirStorage(tmp_path / "nope", ".ics")
    with pytest.raises(StorageError, match="does not exist"):
        list(storage.list())


def test_create_makes_the_folder(tmp_path: Path) -> None:
    storage = VdirStorage(tmp_path / "new" / "calendar", "ics", create=True)
    ident, _ = storage.add(event())
    assert ident.endswith(".ics")
    assert (tmp_path / "new" / "calendar" / ident).is_file()


# --- change detection --------------------------------------------------------------------


def _restore_times(path: Path, st: os.stat_result) -> None:
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_same_size_same_mtime_replacement_is_detected(ics: VdirStorage, folder: Path) -> None:
    # What an editor saving atomically does within one mtime tick.
    ident, etag = ics.add(event(text="AAAA"))
    path = folder / ident
    before = path.stat()
    replacement = folder / "replacement.tmp"
    replacement.write_bytes(path.read_bytes().replace(b"AAAA", b"BBBB"))
    os.replace(replacement, path)
    _restore_times(path, before)
    assert path.stat().st_mtime_ns == before.st_mtime_ns
    assert path.stat().st_size == before.st_size
    assert ics.changes(None, {ident: etag}).changed == {ident: dict(ics.list())[ident]}


def test_same_size_in_place_rewrite_with_mtime_restored_is_detected(
    ics: VdirStorage, folder: Path
) -> None:
    # `cp -p` / `rsync -t` rewrite in place and put the old mtime back: the ctime moves.
    ident, etag = ics.add(event(text="AAAA"))
    path = folder / ident
    before = path.stat()
    time.sleep(0.05)  # let the ctime clock move past the add (jiffy-coarse on Linux)
    with open(path, "r+b") as stream:
        data = stream.read()
        stream.seek(0)
        stream.write(data.replace(b"AAAA", b"BBBB"))
    _restore_times(path, before)
    assert path.stat().st_ino == before.st_ino
    assert ics.changes(None, {ident: etag}).changed != {}


def test_untouched_folder_reports_no_changes(ics: VdirStorage) -> None:
    known = dict(ics.add(event(f"e{i}")) for i in range(20))
    for _ in range(3):
        changes = ics.changes(None, known)
        assert (changes.changed, changes.deleted) == ({}, set())


# --- hostile names -----------------------------------------------------------------------


def test_safe_uid_becomes_the_file_name(ics: VdirStorage) -> None:
    ident, _ = ics.add(event("040000008200E00074C5B7101A82E008@example.org+1"))
    assert ident == "040000008200E00074C5B7101A82E008@example.org+1.ics"


@pytest.mark.parametrize(
    "uid", ["a/b", "../../x", "..", ".hidden", "a..b", "sp ace", "x" * 300, "ümlaut", "a\\b", ""]
)
def test_unsafe_uid_gets_a_random_name(ics: VdirStorage, folder: Path, uid: str) -> None:
    ident, _ = ics.add(event(uid))
    stem = ident.removesuffix(".ics")
    assert len(stem) == 32
    assert all(c in "0123456789abcdef" for c in stem)
    assert [p.name for p in folder.iterdir()] == [ident]


@pytest.mark.parametrize(
    "ident",
    [
        "../x.ics",
        "/etc/passwd",
        ".hidden.ics",
        "a/b.ics",
        "x.ics.tmp",
        "x.txt",
        "",
        "..",
        "a\0.ics",
    ],
)
def test_unsafe_idents_from_the_caller_are_refused(
    ics: VdirStorage, folder: Path, ident: str
) -> None:
    with pytest.raises(ItemError, match="unsafe"):
        ics.get(ident)
    with pytest.raises(ItemError, match="unsafe"):
        ics.update(ident, event(), "1;2;3;4")
    with pytest.raises(ItemError, match="unsafe"):
        ics.delete(ident, "1;2;3;4")
    ((_, result, _),) = ics.get_many([ident])
    assert isinstance(result, ItemError)
    assert list(folder.parent.iterdir()) == [folder]


def test_uid_colliding_with_an_existing_file_gets_a_random_name(
    ics: VdirStorage, folder: Path
) -> None:
    (folder / "taken.ics").write_bytes(b"not ours")
    ident, _ = ics.add(event("taken"))
    assert ident != "taken.ics"
    assert (folder / "taken.ics").read_bytes() == b"not ours"


# --- unreadable files are reported by name and skipped ------------------------------------


def test_non_utf8_file_is_reported_and_skipped(ics: VdirStorage, folder: Path) -> None:
    good, _ = ics.add(event())
    (folder / "latin1.ics").write_bytes(event("latin").raw.replace(b"Standup", b"Caf\xe9"))
    results = {ident: result for ident, result, _ in ics.get_many(["latin1.ics", good])}
    assert isinstance(results["latin1.ics"], ItemError)
    assert "latin1.ics" in str(results["latin1.ics"])
    assert "UTF-8" in str(results["latin1.ics"]) or "utf-8" in str(results["latin1.ics"])
    assert isinstance(results[good], Item)


def test_file_with_another_encoding_is_read_as_utf8_items(folder: Path) -> None:
    (folder / "latin1.ics").write_bytes(event("latin").raw.replace(b"Standup", b"Caf\xe9"))
    storage = VdirStorage(folder, ".ics", encoding="latin-1")
    item, _ = storage.get("latin1.ics")
    assert "Café" in item.raw.decode("utf-8")
    ident, _ = storage.add(event("new", text="Thé"))
    assert b"Th\xe9" in (folder / ident).read_bytes()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "no BEGIN"),
        (b"hello world\r\n", "no ':'"),
        (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nEND:VCALENDAR\r\n", "END:VEVENT"),
        (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n", "missing"),
        (b"BEGIN:VCARD\r\nUID:a\r\nEND:VCARD\r\nBEGIN:VCARD\r\nUID:b\r\nEND:VCARD\r\n", "second"),
        (b"BEGIN:VEVENT\r\nEND:VEVENT\r\n", "outside"),
    ],
)
def test_malformed_file_is_reported_with_the_reason(
    ics: VdirStorage, folder: Path, content: bytes, reason: str
) -> None:
    (folder / "bad.ics").write_bytes(content)
    with pytest.raises(ItemError, match=reason) as info:
        ics.get("bad.ics")
    assert "bad.ics" in str(info.value)
    assert info.value.ident == "bad.ics"


def _get_many_as_nobody(folder: Path, idents: list[str]) -> list[list[str]]:
    """get_many in a forked child that dropped root (root reads mode-000 files)."""
    nobody = pwd.getpwnam("nobody")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        status = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            storage = VdirStorage(folder, ".ics")
            rows = [[i, type(r).__name__, str(r)] for i, r, _ in storage.get_many(idents)]
            os.write(write_end, json.dumps(rows).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as stream:
        output = stream.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return list(json.loads(output))


def test_permission_denied_file_is_reported_and_skipped() -> None:
    holder = Path(tempfile.mkdtemp(prefix="eassync-perm-"))  # not under root's 0700 tmp
    try:
        holder.chmod(0o755)
        folder = holder / "cal"
        folder.mkdir(mode=0o755)
        storage = VdirStorage(folder, ".ics")
        good, _ = storage.add(event("good"))
        (folder / good).chmod(0o644)
        locked = folder / "locked.ics"
        locked.write_bytes(event("locked").raw)
        locked.chmod(0)
        if os.geteuid() == 0:
            try:
                rows = _get_many_as_nobody(folder, ["locked.ics", good])
            except KeyError:
                pytest.skip("running as root and there is no user 'nobody'")
        else:
            rows = [
                [i, type(r).__name__, str(r)] for i, r, _ in storage.get_many(["locked.ics", good])
            ]
        (locked_ident, locked_kind, message), (good_ident, good_kind, _) = rows
        assert (locked_ident, locked_kind) == ("locked.ics", "ItemError")
        assert "locked.ics" in message
        assert "ermission denied" in message
        assert (good_ident, good_kind) == (good, "Item")
    finally:
        shutil.rmtree(holder)


# --- what other programs see ---------------------------------------------------------------


def test_written_calendar_files_parse_with_icalendar_and_vobject(
    ics: VdirStorage, folder: Path
) -> None:
    ident, _ = ics.add(event("parse-me", text="Planning ät 9"))
    data = (folder / ident).read_bytes()
    calendar = icalendar.Calendar.from_ical(data)
    (vevent,) = calendar.walk("VEVENT")
    assert str(vevent["UID"]) == "parse-me"
    assert str(vevent["SUMMARY"]) == "Planning ät 9"
    assert vobject.readOne(data.decode("utf-8")).vevent.uid.value == "parse-me"


def test_written_card_files_parse_with_vobject(tmp_path: Path) -> None:
    storage = VdirStorage(tmp_path, ".vcf")
    ident, _ = storage.add(fill(VCARD_TEMPLATE, "card-1", "Zoë Ångström"))
    card = vobject.readOne((tmp_path / ident).read_text("utf-8"))
    assert card.uid.value == "card-1"
    assert card.fn.value == "Zoë Ångström"


def test_new_files_follow_the_umask_and_updates_keep_the_mode(
    ics: VdirStorage, folder: Path
) -> None:
    ident, etag = ics.add(event())
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((folder / ident).stat().st_mode) == 0o666 & ~mask
    (folder / ident).chmod(0o600)
    etag = dict(ics.list())[ident]
    ics.update(ident, event(text="again"), etag)
    assert stat.S_IMODE((folder / ident).stat().st_mode) == 0o600


def test_read_only_storage_refuses_every_write(ics: VdirStorage, folder: Path) -> None:
    ident, etag = ics.add(event())
    read_only = VdirStorage(folder, ".ics", read_only=True)
    with pytest.raises(StorageError, match="read-only"):
        read_only.add(event("other"))
    with pytest.raises(StorageError, match="read-only"):
        read_only.update(ident, event(text="x"), etag)
    with pytest.raises(StorageError, match="read-only"):
        read_only.delete(ident, etag)
    assert list(read_only.list()) == [(ident, etag)]


def test_add_refuses_an_item_that_is_not_a_vobject(ics: VdirStorage, folder: Path) -> None:
    with pytest.raises(ItemError, match="cannot add"):
        ics.add(Item(raw=b"garbage", uid="x"))
    assert list(folder.iterdir()) == []


def test_post_hook_runs_with_the_written_file(folder: Path, tmp_path: Path) -> None:
    record = tmp_path / "hook.log"
    hook = tmp_path / "hook.sh"
    hook.write_text(f'#!/bin/sh\necho "$1" >> {record}\n')
    hook.chmod(0o755)
    storage = VdirStorage(folder, ".ics", post_hook=str(hook))
    ident, etag = storage.add(event())
    storage.update(ident, event(text="changed"), etag)
    assert record.read_text().splitlines() == [str(folder / ident)] * 2


def test_missing_post_hook_does_not_fail_the_write(folder: Path, tmp_path: Path) -> None:
    storage = VdirStorage(folder, ".ics", post_hook=str(tmp_path / "no-such-hook"))
    ident, _ = storage.add(event())
    assert (folder / ident).exists()


def test_get_of_vanished_file_is_not_found(ics: VdirStorage, folder: Path) -> None:
    ident, _ = ics.add(event())
    (folder / ident).unlink()
    with pytest.raises(NotFoundError):
        ics.get(ident)


@pytest.mark.parametrize(
    ("written", "uid"),
    [("a\\;b", "a;b"), ("a\\,b", "a,b"), ("a\\\\b", "a\\b"), ("a\\nb", "a\nb"), ("plain", "plain")],
)
def test_the_uid_read_is_the_uid_written(ics: VdirStorage, folder: Path, written: str, uid: str):
    """A TEXT value is escaped on the way out (icalendar writes ``UID:a\\;b``); read
    escaped it was another UID than the converter's (found by the converter fuzz)."""
    (folder / "x.ics").write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\n"
        f"UID:{written}\r\nDTSTART:20260101T000000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        encoding="utf-8",
    )
    item, _ = ics.get("x.ics")
    assert item.uid == uid
