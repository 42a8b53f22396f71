"""The ``displayname`` file of a vdir collection (vdirsyncer's metasync, docs/vdir.rst
"Metadata"): written from the server folder's name, a user's own edit kept, the
server's renames followed while the file still holds eassync's last word."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from eassync.storage.vdir import VdirStorage
from eassync.storage.vdirmeta import (
    DISPLAYNAME,
    MAX_NAME_LENGTH,
    clean_name,
    name_to_write,
    read_meta,
    sync_displayname,
)


def test_an_absent_displayname_is_written_as_vdirsyncer_writes_it(tmp_path: Path) -> None:
    ours = sync_displayname(tmp_path, "Kalender Müller", None)
    # UTF-8, no trailing newline (vdirsyncer's set_meta writes the value stripped)
    assert (tmp_path / DISPLAYNAME).read_bytes() == "Kalender Müller".encode()
    assert ours == "Kalender Müller"


def test_a_server_rename_is_followed_while_the_file_is_still_ours(tmp_path: Path) -> None:
    ours = sync_displayname(tmp_path, "Work", None)
    ours = sync_displayname(tmp_path, "Office", ours)
    assert (tmp_path / DISPLAYNAME).read_text(encoding="utf-8") == "Office"
    assert ours == "Office"


def test_a_users_own_name_is_kept_through_server_renames(tmp_path: Path) -> None:
    ours = sync_displayname(tmp_path, "Work", None)
    (tmp_path / DISPLAYNAME).write_text("Job stuff\n", encoding="utf-8")
    ours = sync_displayname(tmp_path, "Office", ours)
    assert (tmp_path / DISPLAYNAME).read_text(encoding="utf-8") == "Job stuff\n"
    assert ours == "Work"  # eassync's last word stays what it wrote


def test_a_user_edit_made_before_the_status_knew_our_name_is_kept(tmp_path: Path) -> None:
    (tmp_path / DISPLAYNAME).write_text("Mine", encoding="utf-8")
    assert sync_displayname(tmp_path, "Work", None) is None
    assert (tmp_path / DISPLAYNAME).read_text(encoding="utf-8") == "Mine"


def test_a_file_already_holding_the_name_is_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / DISPLAYNAME
    path.write_text("Work\n", encoding="utf-8")  # `echo Work > displayname`
    before = os.stat(path)
    assert sync_displayname(tmp_path, "Work", None) == "Work"  # adopted as ours
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_removed_displayname_is_written_again(tmp_path: Path) -> None:
    ours = sync_displayname(tmp_path, "Work", None)
    (tmp_path / DISPLAYNAME).unlink()
    assert sync_displayname(tmp_path, "Work", ours) == "Work"
    assert (tmp_path / DISPLAYNAME).read_text(encoding="utf-8") == "Work"


def test_a_name_with_nothing_printable_writes_nothing(tmp_path: Path) -> None:
    assert sync_displayname(tmp_path, "\x1b\x07 \r\n", None) is None
    assert not (tmp_path / DISPLAYNAME).exists()


@pytest.mark.parametrize(
    ("server", "clean"),
    [
        ("Work", "Work"),
        ("  Work  ", "Work"),
        ("Wo\x1b]0;pwned\x07rk", "Wo]0;pwnedrk"),
        ("Line\r\nbreak", "Line break"),
        ("tab\there", "tab here"),
        ("evil\u202eesrever", "evilesrever"),  # bidi override: "Trojan source"
        ("a\u2028b", "a b"),
        ("Família 👨\u200d👩\u200d👧", "Família 👨\u200d👩\u200d👧"),  # ZWJ sequences stay
        ("", None),
        ("\x00\x01", None),
    ],
)
def test_server_names_lose_control_characters(server: str, clean: str | None) -> None:
    assert clean_name(server) == clean


def test_server_names_are_bounded() -> None:
    name = clean_name("x" * 10_000)
    assert name is not None
    assert len(name) == MAX_NAME_LENGTH


@pytest.mark.parametrize(
    ("current", "ours", "wanted", "expected"),
    [
        (None, None, "A", "A"),  # absent
        (None, "A", "A", "A"),  # removed by the user: written again
        ("A", "A", "B", "B"),  # still ours: the rename is followed
        ("A", None, "A", None),  # already right
        ("Mine", "A", "B", None),  # the user's edit
        ("Mine", None, "B", None),  # the user's, written before eassync ever did
    ],
)
def test_name_to_write(current: str | None, ours: str | None, wanted: str, expected: str | None):
    assert name_to_write(current, ours, wanted) == expected


def test_read_meta_strips_like_vdirsyncer_and_khal(tmp_path: Path) -> None:
    assert read_meta(tmp_path, DISPLAYNAME) is None
    (tmp_path / DISPLAYNAME).write_bytes(b"  Work \n")
    assert read_meta(tmp_path, DISPLAYNAME) == "Work"
    (tmp_path / DISPLAYNAME).write_bytes(b"\xff\xfeW")
    assert read_meta(tmp_path, DISPLAYNAME) not in (None, "W")  # unreadable: not ours


def test_the_vdir_storage_never_takes_metadata_files_for_items(tmp_path: Path) -> None:
    storage = VdirStorage(tmp_path, ".ics")
    sync_displayname(tmp_path, "Work", None)
    (tmp_path / "color").write_text("#ff0000", encoding="utf-8")
    (tmp_path / "description").write_text("desc", encoding="utf-8")
    changes = storage.changes(None, {})
    assert changes.changed == {}
    assert changes.skipped == {}


def test_a_displayname_that_cannot_be_written_costs_the_name_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The runner's step: a failing write is a warning naming the folder, never an
    exception out of the pass, and records nothing as eassync's."""
    from types import SimpleNamespace

    from eassync import runner
    from eassync.storage import vdirmeta
    from eassync.sync.status import Status

    def refuse(folder: Path, server_name: str, ours: str | None) -> str | None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(vdirmeta, "sync_displayname", refuse)
    # an earlier in-process CLI run (-q) may have raised the root level
    caplog.set_level(logging.WARNING, logger="eassync.runner")
    storage = SimpleNamespace(type="vdir", path=tmp_path / "cals")
    pair = SimpleNamespace(direction="both")
    session = SimpleNamespace(pair=pair, config=SimpleNamespace(storage_for=lambda _pair: storage))
    folder = SimpleNamespace(server_id="7", display_name="Work")
    sel = SimpleNamespace(folder=folder, subdir="Work")
    with Status(tmp_path / "status.sqlite") as status:
        runner._write_displayname(session, status, sel)  # type: ignore[arg-type]
        assert status.meta(runner.DISPLAYNAME_KEY.format("7")) is None
    assert "cannot write displayname: Permission denied" in caplog.text
    assert str(tmp_path / "cals" / "Work") in caplog.text
