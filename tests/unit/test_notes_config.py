"""Config for notes: ``remote: {default|all: notes}``, ``type: notes`` storages, and the
errors that say what fits when kinds and storages are mixed up."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from eassync.config import Config, load_config
from eassync.eas.commands import Folder
from eassync.errors import ConfigError
from eassync.pairs import Selection, select_folders
from eassync.runner import handler_for, open_local
from eassync.storage.notes import NotesStorage

CONFIG = """\
accounts:
  work:
    url: https://mail.example.com/Microsoft-Server-ActiveSync
    username: alice
    password: {{env: EASSYNC_TEST_PASSWORD}}
storages:
  local:
{storage}
pairs:
  work:
    account: work
    remote: {remote}
    local: local
"""


def load(tmp_path: Path, storage: str, remote: str = "{default: notes}") -> Config:
    path = tmp_path / "config.yaml"
    text = CONFIG.format(storage=textwrap.indent(textwrap.dedent(storage), "    "), remote=remote)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return load_config(path)


def problems(tmp_path: Path, storage: str, remote: str = "{default: notes}") -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, storage, remote)
    return "\n".join(info.value.problems)


def test_a_notes_pair_with_a_notes_storage_loads(tmp_path: Path) -> None:
    config = load(tmp_path, f"type: notes\npath: {tmp_path / 'n'}\n")
    storage = config.storages["local"]
    assert (storage.type, storage.fileext) == ("notes", ".md")
    config = load(tmp_path, f"type: notes\npath: {tmp_path / 'n'}\nfileext: .txt\n", "{all: notes}")
    assert config.storages["local"].fileext == ".txt"


def test_notes_need_a_notes_storage_and_a_notes_storage_holds_only_notes(
    tmp_path: Path,
) -> None:
    text = problems(tmp_path, f"type: vdir\npath: {tmp_path}\n")
    assert "is vdir, which cannot hold notes; use notes" in text
    text = problems(tmp_path, f"type: notes\npath: {tmp_path}\n", "{default: contacts}")
    assert "is notes, which cannot hold contacts; use vdir or carddav" in text


def test_a_notes_storage_takes_only_note_extensions(tmp_path: Path) -> None:
    text = problems(tmp_path, f"type: notes\npath: {tmp_path}\nfileext: .ics\n")
    assert "fileext" in text
    assert ".md, .markdown or .txt" in text


def test_all_notes_selects_default_and_user_notes_folders(tmp_path: Path) -> None:
    folders = [
        Folder("1", "0", "Notes", 10, "Notes"),
        Folder("2", "0", "Ideas", 17, "Notes"),
        Folder("3", "0", "Tasks", 7, "Tasks"),
    ]
    chosen = select_folders("p", {"all": "notes"}, folders)
    assert [(s.folder.server_id, s.subdir) for s in chosen] == [("1", "Notes"), ("2", "Ideas")]
    assert [s.folder.server_id for s in select_folders("p", {"default": "notes"}, folders)] == ["1"]


def test_a_folder_pair_that_meets_a_notes_folder_on_a_vdir_is_refused(tmp_path: Path) -> None:
    config = load(tmp_path, f"type: vdir\npath: {tmp_path}\n", '{folder: "Ideas"}')
    notes = Selection(Folder("2", "0", "Ideas", 17, "Notes"), "notes")
    with pytest.raises(ConfigError, match="cannot hold notes"):
        open_local(config.storages["local"], notes, handler_for("notes"))
    config = load(tmp_path, f"type: notes\npath: {tmp_path / 'n'}\n", '{folder: "Ideas"}')
    assert isinstance(
        open_local(config.storages["local"], notes, handler_for("notes")), NotesStorage
    )
    tasks = Selection(Folder("3", "0", "Ideas", 7, "Tasks"), "tasks")
    with pytest.raises(ConfigError, match="cannot hold tasks"):
        open_local(config.storages["local"], tasks, handler_for("tasks"))
