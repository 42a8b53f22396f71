"""Shell completion of names (issue 16, item 8), through click's completion
environment in a real process, as bash calls it on TAB."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.helpers import PASSWORD, USER, DevServer, SyncedPair, cli_env, write_config


def complete(*words: str, env: dict[str, str] | None = None) -> tuple[list[str], str]:
    """What bash would offer for ``eassync WORDS`` with the cursor on the last word:
    the values offered, and stderr."""
    environment = dict(env or cli_env())
    environment["_EASSYNC_COMPLETE"] = "bash_complete"
    environment["COMP_WORDS"] = " ".join(["eassync", *words])
    environment["COMP_CWORD"] = str(len(words))
    done = subprocess.run(
        [sys.executable, "-m", "eassync"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    values = [line.split(",", 1)[1] for line in done.stdout.splitlines() if "," in line]
    return values, done.stderr


def two_pair_config(tmp_path: Path) -> Path:
    config = write_config(
        tmp_path,
        "https://eas.example.org/Microsoft-Server-ActiveSync",
        extra_pair="",
    )
    text = config.read_text("utf-8")
    text = text.replace(
        "pairs:\n",
        f"  calendars:\n    type: vdir\n    path: {tmp_path / 'cal'}\npairs:\n"
        "  work-calendars:\n    account: dev\n    remote: {all: calendar}\n"
        "    local: calendars\n",
    )
    config.write_text(text, encoding="utf-8")
    return config


def test_sync_completes_the_pairs_of_the_config_given_with_c(tmp_path: Path) -> None:
    config = two_pair_config(tmp_path)
    values, err = complete("-c", str(config), "sync", "")
    assert values == ["contacts", "work-calendars"]
    assert err == ""
    values, _ = complete("-c", str(config), "sync", "wo")
    assert values == ["work-calendars"]


def test_completion_reads_the_config_at_the_default_path(tmp_path: Path) -> None:
    config = two_pair_config(tmp_path)
    default = Path(os.environ["XDG_CONFIG_HOME"]) / "eassync" / "config.yaml"
    default.parent.mkdir(parents=True)
    default.write_text(config.read_text("utf-8"), encoding="utf-8")
    values, _ = complete("watch", "")
    assert values == ["contacts", "work-calendars"]
    values, _ = complete("repair", "c")
    assert values == ["contacts"]
    values, _ = complete("testdata", "create", "")
    assert values == ["contacts", "work-calendars"]


@pytest.mark.parametrize(
    "words",
    [("discover", ""), ("doctor", ""), ("login", ""), ("oof", ""), ("gal", "-a", "")],
)
def test_commands_on_an_account_complete_account_names(
    tmp_path: Path, words: tuple[str, ...]
) -> None:
    config = two_pair_config(tmp_path)
    values, _ = complete("-c", str(config), *words)
    assert values == ["dev"]


def test_a_synced_pair_completes_its_collections_by_name_not_by_id(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        pair = SyncedPair(tmp_path, srv)
    values, _ = complete("-c", str(pair.config), "sync", "contacts/")
    assert values == ["contacts/Contacts"]
    values, _ = complete("-c", str(pair.config), "sync", "contacts/X")
    assert values == []


@pytest.mark.parametrize(
    "text",
    [
        "accounts: [unclosed\n",  # not YAML
        "pairs: 3\n",  # YAML, not a config
        "",  # empty
    ],
)
def test_a_broken_config_offers_nothing_and_no_traceback(tmp_path: Path, text: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(text, encoding="utf-8")
    for words in [("sync", ""), ("sync", "x/"), ("discover", "")]:
        values, err = complete("-c", str(config), *words)
        assert values == []
        assert err == ""


def test_a_missing_config_offers_nothing(tmp_path: Path) -> None:
    values, err = complete("-c", str(tmp_path / "nope.yaml"), "sync", "")
    assert values == []
    assert err == ""


def test_a_corrupt_status_file_still_completes_the_pairs(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        pair = SyncedPair(tmp_path, srv)
    (pair.status_dir / "pairs" / "contacts.sqlite").write_bytes(b"garbage" * 100)
    values, err = complete("-c", str(pair.config), "sync", "contacts/")
    assert values == []
    assert err == ""
    values, _ = complete("-c", str(pair.config), "sync", "")
    assert values == ["contacts"]


def test_man_and_init_complete_pages_and_examples() -> None:
    values, _ = complete("man", "")
    assert values == ["eassync", "eassync.yaml"]
    values, _ = complete("init", "--example", "exch")
    assert values == ["exchange-online", "exchange-onprem"]
