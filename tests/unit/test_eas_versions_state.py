"""Version negotiation rules, the account state file and XDG paths."""

from __future__ import annotations

import json
import stat

import pytest

from eassync import paths
from eassync.eas import versions
from eassync.eas.state import AccountState, AccountStateFile, FolderRecord, safe_file_stem
from eassync.errors import StorageError


def test_parse_header_splits_trims_and_deduplicates():
    # Office 365 repeats the header; requests joins repeats with ", "
    assert versions.parse_header(["2.5,12.0,12.1, 14.0,14.1", "14.1,16.0, 16.1", "x"]) == [
        "2.5",
        "12.0",
        "12.1",
        "14.0",
        "14.1",
        "16.0",
        "16.1",
    ]


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (["2.5", "12.0", "12.1", "14.0", "14.1"], "14.1"),  # SOGo 5.8
        (["2.5", "12.0", "12.1", "14.0", "14.1", "16.0", "16.1"], "16.1"),
        (["12.1", "14.0"], "14.0"),
        (["2.5", "12.0"], None),
        (["14.1", "2.5", "16.0"], "16.0"),
    ],
)
def test_choose_highest_common(offered, chosen):
    assert versions.choose(offered) == chosen


def test_at_least_compares_numerically():
    assert versions.at_least("16.1", "14.1")
    assert versions.at_least("14.1", "14.1")
    assert not versions.at_least("12.1", "14.0")
    assert versions.as_tuple("14.10") > versions.as_tuple("14.9")


def test_validate_pin():
    assert versions.validate_pin("auto") == "auto"
    assert versions.validate_pin("14.0") == "14.0"
    with pytest.raises(ValueError, match=r"2\.5"):
        versions.validate_pin("2.5")


@pytest.mark.parametrize(
    "name", ["work", "../../etc/passwd", ".hidden", "a/b", "", "x" * 200, "über konto"]
)
def test_safe_file_stem_never_escapes(name):
    stem = safe_file_stem(name)
    assert stem
    assert "/" not in stem
    assert ".." not in stem
    assert not stem.startswith(".")


def test_safe_file_stem_keeps_plain_names_and_separates_changed_ones():
    assert safe_file_stem("work") == "work"
    assert safe_file_stem("a/b") != safe_file_stem("a_b")


def test_state_file_created_with_device_id_mode_0600_and_stable(tmp_path):
    store = AccountStateFile(tmp_path, "work")
    first = store.load()
    assert len(first.device_id) == 32
    assert first.device_id.isalnum()
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.path == tmp_path / "accounts" / "work.json"
    again = AccountStateFile(tmp_path, "work").load()
    assert again.device_id == first.device_id


def test_state_round_trip(tmp_path):
    store = AccountStateFile(tmp_path, "work")
    state = AccountState(
        protocol_version="14.1",
        server_versions=["14.0", "14.1"],
        policy_key="123",
        url="https://other/Microsoft-Server-ActiveSync",
        folder_sync_key="k1",
        folders={"c": FolderRecord("0", "Contacts", 9)},
    )
    store.save(state)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.load() == state
    assert not [p for p in store.path.parent.iterdir() if p.name.endswith(".tmp")]


def test_corrupt_state_is_an_error_not_a_new_device(tmp_path):
    store = AccountStateFile(tmp_path, "work")
    store.path.parent.mkdir(parents=True)
    store.path.write_text(json.dumps({"device_id": "bad id!"}))
    with pytest.raises(StorageError, match="unreadable"):
        store.load()


def test_state_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("EASSYNC_STATE_DIR", str(tmp_path / "s"))
    assert paths.state_dir() == tmp_path / "s"


def test_xdg_dirs_are_respected(monkeypatch, tmp_path):
    monkeypatch.delenv("EASSYNC_STATE_DIR", raising=False)
    monkeypatch.delenv("EASSYNC_CONFIG", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert paths.state_dir() == tmp_path / "state" / "eassync"
    assert paths.config_path() == tmp_path / "config" / "eassync" / "config.yaml"


def test_config_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("EASSYNC_CONFIG", str(tmp_path / "c.yaml"))
    assert paths.config_path() == tmp_path / "c.yaml"
