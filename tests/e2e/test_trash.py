"""The trash through the real CLI (issue 16 items 6 and 12): what a sync deletes or
overwrites locally is kept, listed by pair, collection, name and date, restored into
its collection (the next sync uploads it), emptied, and expired at the start of a
sync; ``direction: to_local`` reverts local changes into it."""

from __future__ import annotations

import json
import os
import re
import stat
import time
from pathlib import Path

from eassync.devserver import DevServer

from .helpers import (
    NO_OP,
    PASSWORD,
    USER,
    SyncedPair,
    person,
    run_cli,
    server_names,
    write_local_card,
)


def _server_id(pair: SyncedPair, first_name: str) -> str:
    for server_id, data in pair.srv.store.items(USER, pair.folder_id).items():
        if data.text("Contacts:FirstName") == first_name:
            return str(server_id)
    raise AssertionError(first_name)


def _ids(listing: str) -> list[str]:
    """The ids ``trash list`` shows first on each item's line."""
    return re.findall(r"^([0-9a-f]{10})  ", listing, re.MULTILINE)


def _kept_file(config: Path, entry_id: str) -> Path:
    """Where ``trash list --json`` says the item with that id is kept."""
    doc = json.loads(run_cli(config, "trash", "list", "--json", check=True).stdout)
    (path,) = [Path(e["path"]) for e in doc["items"] if e["id"] == entry_id]
    return path


def test_a_server_delete_is_listed_restored_and_uploaded_again(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        pair = SyncedPair(tmp_path, srv)
        assert "the trash is empty" in run_cli(pair.config, "trash", "list", check=True).stdout
        srv.store.delete_item(USER, pair.folder_id, _server_id(pair, "Person00003"))
        before = {p.name for p in pair.local.iterdir()}
        assert "local +0 ~0 -1" in run_cli(pair.config, "sync", check=True).stdout
        (gone,) = before - {p.name for p in pair.local.iterdir()}

        listing = run_cli(pair.config, "trash", "list", check=True).stdout
        assert re.search(
            r"^[0-9a-f]{10}  \d{4}-\d\d-\d\d \d\d:\d\d  contacts/Contacts  Example, Person00003$",
            listing,
            re.MULTILINE,
        ), listing
        (entry_id,) = _ids(listing)
        kept = _kept_file(pair.config, entry_id)
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        for folder in (kept.parent, kept.parent.parent, pair.status_dir / "trash"):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700

        restored = run_cli(pair.config, "trash", "restore", entry_id, check=True).stdout
        assert f"restored Example, Person00003 to {pair.local / gone}" in restored
        assert (pair.local / gone).is_file()
        assert "the trash is empty" in run_cli(pair.config, "trash", "list", check=True).stdout
        assert "remote +1 ~0 -0" in run_cli(pair.config, "sync", check=True).stdout
        assert server_names(srv.store, pair.folder_id)["Person00003 Example"] == 1
        assert NO_OP in run_cli(pair.config, "sync", check=True).stdout


def test_restore_of_an_unknown_id_says_so(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        pair = SyncedPair(tmp_path, srv)
        out = run_cli(pair.config, "trash", "restore", "contacts/x/../../../etc/passwd")
        assert out.returncode == 1
        assert "no item 'contacts/x/../../../etc/passwd' in the trash" in out.stderr
        assert "Traceback" not in out.stderr


def test_remote_wins_keeps_the_local_edit_which_a_restore_sends_up(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        pair = SyncedPair(tmp_path, srv)
        card = pair.local / "local-04.vcf"
        write_local_card(pair.local, "local-04", "Mine")  # the local edit
        srv.store.change_item(USER, pair.folder_id, _server_id(pair, "Local04"), person(4, "Srv"))
        run_cli(pair.config, "sync", check=True)
        assert "FN:Example\\, Srv00004" in card.read_text(), card.read_text()

        listing = run_cli(pair.config, "trash", "list", check=True).stdout
        assert "contacts/Contacts  Mine Local" in listing
        (entry_id,) = _ids(listing)
        run_cli(pair.config, "trash", "restore", entry_id, check=True)
        assert "FN:Mine Local" in card.read_text()
        # the server's version it replaced is in the trash in turn
        listing = run_cli(pair.config, "trash", "list", check=True).stdout
        assert "contacts/Contacts  Example, Srv00004" in listing
        assert "remote +0 ~1 -0" in run_cli(pair.config, "sync", check=True).stdout
        assert server_names(srv.store, pair.folder_id)["Mine Local"] == 1


def test_expiry_at_the_start_of_a_sync_and_empty(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        pair = SyncedPair(tmp_path, srv)
        for first in ("Person00001", "Person00002", "Person00005"):
            srv.store.delete_item(USER, pair.folder_id, _server_id(pair, first))
        run_cli(pair.config, "sync", check=True)
        ids = _ids(run_cli(pair.config, "trash", "list", check=True).stdout)
        assert len(ids) == 3
        old, older, recent = (_kept_file(pair.config, i) for i in ids)
        os.utime(old, (time.time() - 31 * 86400,) * 2)
        os.utime(older, (time.time() - 10 * 86400,) * 2)

        run_cli(pair.config, "sync", check=True)  # default expiry: 30 days
        assert not old.exists()
        assert older.exists()
        assert recent.exists()
        assert not any(p.name.startswith(f".{old.name}") for p in old.parent.iterdir())

        out = run_cli(pair.config, "trash", "empty", "--older-than", "5", check=True).stdout
        assert "removed 1 item from the trash" in out
        assert recent.exists()
        out = run_cli(pair.config, "trash", "empty", "contacts", check=True).stdout
        assert "removed 1 item from the trash" in out
        assert "the trash is empty" in run_cli(pair.config, "trash", "list", check=True).stdout


def test_names_from_the_server_are_escaped_in_the_list(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        pair = SyncedPair(tmp_path, srv)
        evil = person(7, "Evil\x1b]0;owned\x07")
        srv.store.change_item(USER, pair.folder_id, _server_id(pair, "Person00007"), evil)
        run_cli(pair.config, "sync", check=True)
        srv.store.delete_item(USER, pair.folder_id, _server_id(pair, "Evil\x1b]0;owned\x0700007"))
        run_cli(pair.config, "sync", check=True)
        listing = run_cli(pair.config, "trash", "list", check=True).stdout
        assert "\x1b" not in listing
        assert "\x07" not in listing
        assert "Example, Evil\\x1b]0;owned\\x0700007" in listing, listing


def _to_local(pair: SyncedPair, local_changes: str | None) -> None:
    keys = "    direction: to_local\n"
    if local_changes:
        keys += f"    local_changes: {local_changes}\n"
    text = pair.config.read_text()
    pair.config.write_text(text.replace("    conflict: remote_wins\n", keys), encoding="utf-8")


def _change_locally(pair: SyncedPair) -> None:
    write_local_card(pair.local, "local-01", "Edited")
    (pair.local / "local-02.vcf").unlink()
    write_local_card(pair.local, "brand-new", "Brand")


def test_to_local_reverts_local_changes_into_the_trash_by_default(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        pair = SyncedPair(tmp_path, srv)
        _to_local(pair, None)
        _change_locally(pair)
        server_before = srv.store.items(USER, pair.folder_id)

        out = run_cli(pair.config, "-v", "sync", check=True).stdout
        assert "contacts/Contacts: local +1 ~1 -1, remote +0 ~0 -0" in out
        assert "Contacts: update local: Local01 Local (reverted)" in out
        assert "Contacts: add local: Local02 Local (reverted)" in out
        assert "Contacts: delete local: Brand Local (reverted)" in out
        assert srv.store.items(USER, pair.folder_id) == server_before
        assert "FN:Local01 Local" in (pair.local / "local-01.vcf").read_text()
        assert (pair.local / "local-02.vcf").is_file()
        assert not (pair.local / "brand-new.vcf").exists()
        listing = run_cli(pair.config, "trash", "list", check=True).stdout
        assert "contacts/Contacts  Edited Local" in listing
        assert "contacts/Contacts  Brand Local" in listing
        assert NO_OP in run_cli(pair.config, "sync", check=True).stdout


def test_to_local_ignore_tells_once_per_pass_and_error_fails_naming_them(
    tmp_path: Path,
) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        pair = SyncedPair(tmp_path, srv)
        _to_local(pair, "ignore")
        _change_locally(pair)
        for _ in range(2):
            out = run_cli(pair.config, "sync", check=True)
            assert NO_OP in out.stdout
            told = [line for line in out.stderr.splitlines() if "not sent" in line]
            assert told == [
                "contacts/Contacts: 3 local changes not sent (1 edited, 1 new, 1 deleted): "
                "direction is to_local and local_changes is ignore"
            ], out.stderr
        assert "FN:Edited Local" in (pair.local / "local-01.vcf").read_text()

        text = pair.config.read_text().replace("local_changes: ignore", "local_changes: error")
        pair.config.write_text(text, encoding="utf-8")
        out = run_cli(pair.config, "sync")
        assert out.returncode == 1
        assert "contacts/Contacts: error: 3 local changes (1 edited, 1 new, 1 deleted)" in (
            out.stderr
        )
        for name in ("Edited Local", "Brand Local", "local-02.vcf"):
            assert name in out.stderr
        assert "local_changes: revert" in out.stderr  # the hint names the key
        assert "Traceback" not in out.stderr


def test_restore_finds_the_subfolder_of_an_all_pair_and_json_lists_it(tmp_path: Path) -> None:
    import json

    from .cal_helpers import calendar_dir, run_device, write_cal_config

    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        config = write_cal_config(tmp_path / "dev", srv.url)
        run_device(config, "sync")
        folder = srv.store.default_folder(USER, 8)
        (calendar_dir(tmp_path / "dev") / "lunch.ics").write_text(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\n"
            "UID:lunch-1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20270101T100000Z\r\n"
            "DTEND:20270101T110000Z\r\nSUMMARY:Lunch\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            encoding="utf-8",
        )
        run_device(config, "sync")
        (server_id,) = srv.store.items(USER, folder)
        srv.store.delete_item(USER, folder, server_id)
        run_device(config, "sync")
        assert list(calendar_dir(tmp_path / "dev").glob("*.ics")) == []

        doc = json.loads(run_device(config, "trash", "list", "--json").stdout)
        (item,) = doc["items"]
        assert (item["pair"], item["collection"], item["name"], item["file"]) == (
            "calendar",
            "Calendar",
            "Lunch (2027-01-01T10:00:00+00:00)",
            "lunch.ics",
        )
        run_device(config, "trash", "restore", item["id"])
        (restored,) = calendar_dir(tmp_path / "dev").glob("*.ics")
        assert "SUMMARY:Lunch" in restored.read_text()
        assert "calendar/Calendar: local +0 ~0 -0, remote +1 ~0 -0" in (
            run_device(config, "sync").stdout
        )
        assert len(srv.store.items(USER, folder)) == 1
