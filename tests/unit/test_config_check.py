"""`eassync check`: validation result, what the config declares, secrets untouched."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from eassync.cli import main

CONFIG = """\
accounts:
  work:
    url: https://mail.example.com/Microsoft-Server-ActiveSync
    username: alice
    password: {password}
    protocol_version: "14.1"
storages:
  cards:
    type: carddav
    url: https://dav.example.com/alice/contacts/
    username: alice
    password: hunter2-dav
pairs:
  work_contacts:
    account: work
    remote: {{default: contacts}}
    local: cards
    conflict: {{command: [vimdiff]}}
    direction: to_local
"""


def run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str, password: str = "hunter2"
) -> tuple[int, str, str]:
    path = tmp_path / "config.yaml"
    if not path.exists():
        path.write_text(CONFIG.format(password=password), encoding="utf-8")
        path.chmod(0o600)
    with pytest.raises(SystemExit) as info:
        main(["-c", str(path), "check", *args])
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


def test_check_shows_accounts_storages_pairs_but_no_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(tmp_path, capsys)
    assert code == 0
    assert "https://mail.example.com/Microsoft-Server-ActiveSync" in out
    assert "user alice, auth basic, protocol 14.1" in out
    assert "password: literal in the config file" in out
    assert "cards: carddav https://dav.example.com/alice/contacts/" in out
    assert "work_contacts: work {default: contacts} --> cards" in out
    assert "conflict command vimdiff, direction to_local, local_changes revert" in out
    assert "hunter2" not in out


def test_check_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(tmp_path, capsys, "--json")
    assert code == 0
    info = json.loads(out)
    assert info["accounts"]["work"]["password"] == {
        "source": "literal",
        "detail": "literal in the config file",
    }
    assert info["pairs"]["work_contacts"]["conflict"] == {"command": ["vimdiff"]}
    assert info["pairs"]["work_contacts"]["kind"] == "contacts"
    assert info["storages"]["cards"]["type"] == "carddav"
    assert "hunter2" not in out


def test_check_runs_no_password_command_unless_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "ran"
    command = json.dumps([sys.executable, "-c", f"open({str(marker)!r}, 'w'); print('pw')"])
    code, out, _ = run(tmp_path, capsys, password="{command: " + command + "}")
    assert code == 0
    assert not marker.exists()
    assert "password: command: " in out
    code, out, _ = run(tmp_path, capsys, "--secrets")
    assert code == 0
    assert marker.exists()
    assert "resolves: ok" in out


def test_check_secrets_failure_exits_2_without_printing_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = json.dumps([sys.executable, "-c", "print('leak' + 'ed'); raise SystemExit(1)"])
    code, out, err = run(
        tmp_path, capsys, "--secrets", "--json", password="{command: " + command + "}"
    )
    assert code == 2
    assert json.loads(out)["secrets"] == {
        "accounts.work.password": "failed",
        "storages.cards.password": "ok",
    }
    assert "accounts.work.password: password command" in err
    assert "leaked" not in out + err
    assert "hunter2" not in out + err


def test_check_invalid_config_exits_2_listing_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        CONFIG.format(password="x")
        .replace("to_local", "sideways")
        .replace("type: carddav", "type: cardav"),
        encoding="utf-8",
    )
    code, out, err = run(tmp_path, capsys)
    assert code == 2
    assert out == ""
    assert "invalid config (2 problems)" in err
    assert f"{path}:9:5: storages.cards.type: 'cardav' is not one of vdir, caldav, carddav" in err
    assert f"{path}:19:5: pairs.work_contacts.direction: 'sideways' is not one of" in err


def test_check_missing_config_exits_2_with_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["-c", str(tmp_path / "none.yaml"), "check"])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert f"no config file at {tmp_path / 'none.yaml'}" in err
    assert "eassync init" in err
