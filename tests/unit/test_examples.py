"""The shipped examples load cleanly, show every option, and the systemd units
follow the exit-status conventions (75 = transient)."""

from __future__ import annotations

import configparser
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eassync.config import load_config
from eassync.configschema import load_schema, load_yaml, validate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
YAML_FILES = sorted(EXAMPLES.glob("*.yaml"))


def schema_keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.get("properties", {}).items():
            yield key
            yield from schema_keys(value)
        for key, value in node.items():
            if key != "properties":
                yield from schema_keys(value)
    elif isinstance(node, list):
        for value in node:
            yield from schema_keys(value)


def test_the_expected_examples_exist() -> None:
    names = {p.name for p in YAML_FILES}
    assert names >= {
        "config.yaml",
        "exchange-onprem.yaml",
        "exchange-online.yaml",
        "khard-khal-todoman.yaml",
        "nextcloud.yaml",
    }


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.name)
def test_example_passes_the_schema_and_load_config(path: Path) -> None:
    data, positions = load_yaml(path.read_text("utf-8"), str(path))
    assert validate(data, positions) == []
    config = load_config(path)
    assert config.pairs
    for pair in config.pairs.values():
        assert pair.account in config.accounts
        assert pair.local in config.storages


def test_config_example_shows_every_option() -> None:
    text = (EXAMPLES / "config.yaml").read_text("utf-8")
    missing = sorted(
        key
        for key in set(schema_keys(load_schema()))
        if not re.search(rf"(^|[\s{{,]){re.escape(key)}:", text, re.MULTILINE)
    )
    assert missing == []


def test_config_example_shows_every_choice() -> None:
    text = (EXAMPLES / "config.yaml").read_text("utf-8")
    for word in [
        "basic",
        "ntlm",
        "oauth2",
        "remote_wins",
        "local_wins",
        "keep_both",
        "to_local",
        "to_remote",
        "16.1",
        "6m",
        "incomplete",
        "vdir",
        "caldav",
        "carddav",
        "{env:",
        "{keyring:",
        "{command:",
        "{folder:",
        "{folder_id:",
        "{all:",
        "{default:",
    ]:
        assert word in text, word


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=True, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((EXAMPLES / "systemd" / name).read_text("utf-8"))
    return parser


def test_sync_service_treats_75_as_a_soft_failure() -> None:
    service = unit("eassync-sync.service")
    assert service["Service"]["Type"] == "oneshot"
    assert service["Service"]["ExecStart"].endswith("eassync sync")
    assert "75" in service["Service"]["SuccessExitStatus"].split()


def test_sync_timer_starts_the_sync_service_periodically() -> None:
    timer = unit("eassync-sync.timer")
    assert timer["Timer"]["OnUnitActiveSec"]
    assert timer["Timer"].get("Unit", "eassync-sync.service") == "eassync-sync.service"
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_watch_service_restarts_on_failure_but_not_on_config_errors() -> None:
    service = unit("eassync-watch.service")
    assert service["Service"]["ExecStart"].endswith("eassync watch")
    assert service["Service"]["Restart"] == "on-failure"
    assert "2" in service["Service"]["RestartPreventExitStatus"].split()
    assert "75" not in service["Service"].get("SuccessExitStatus", "").split()
