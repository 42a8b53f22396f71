"""Issue 14 item 11: server strings never drive the terminal nor forge output lines.

A folder, a contact and an event subject named with an OSC title sequence, BEL, CR LF
and a fake line go through the real CLI (discover, sync -v with INFO logs); nothing raw
comes out.
"""

from __future__ import annotations

import json
import re
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eassync.demo_data import contact
from eassync.devserver import DevServer
from eassync.eas.element import E, Element
from tests.e2e.helpers import PASSWORD, USER, run_cli

pytestmark = pytest.mark.timeout(120)

HOSTILE = "Contacts\x1b]0;owned\x07\r\nfake: error line\u202e\x9b2J"
#: what may never reach the terminal: ESC, BEL, CR, C1 CSI, a bidi override
RAW = re.compile("[\x1b\x07\r\x9b\u202e]")


def _config(folder: Path, url: str) -> Path:
    config = folder / "config.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            general:
              status_dir: {folder / "state"}
            accounts:
              dev:
                url: {url}
                username: {USER}
                password: {{env: EASSYNC_TEST_PASSWORD}}
            storages:
              contacts:
                type: vdir
                path: {folder / "contacts"}
              calendar:
                type: vdir
                path: {folder / "calendar"}
            pairs:
              contacts:
                account: dev
                remote: {{all: contacts}}
                local: contacts
              calendar:
                account: dev
                remote: {{default: calendar}}
                local: calendar
            """
        ),
        encoding="utf-8",
    )
    return config


def event(subject: str) -> Element:
    """An hour tomorrow (inside any calendar window) called ``subject``."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    return E(
        "AirSync:ApplicationData",
        E("Calendar:AllDayEvent", value="0"),
        E("Calendar:StartTime", value=start.strftime("%Y%m%dT%H%M%SZ")),
        E("Calendar:EndTime", value=(start + timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ")),
        E("Calendar:Subject", value=subject),
    )


def _assert_clean(text: str) -> None:
    assert not RAW.search(text), repr(text)
    assert not any(line.startswith("fake: error line") for line in text.splitlines()), text


def test_hostile_folder_and_item_names_are_escaped_in_output_and_logs(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder = srv.store.add_folder(USER, HOSTILE, 14)
        srv.store.add_item(USER, folder, contact({"FirstName": HOSTILE, "FileAs": HOSTILE}))
        srv.store.add_item(USER, srv.store.default_folder(USER, 8), event(HOSTILE))
        config = _config(tmp_path, srv.url)

        shown = run_cli(config, "discover")
        assert shown.returncode == 0, shown.stderr
        _assert_clean(shown.stdout + shown.stderr)
        assert "Contacts\\x1b]0;owned\\x07\\r\\nfake: error line" in shown.stdout  # shown, escaped

        synced = run_cli(config, "-v", "sync")
        _assert_clean(synced.stdout + synced.stderr)
        assert synced.returncode == 0, synced.stderr
        printed = synced.stdout + synced.stderr
        assert printed.count("fake: error line") >= 3  # folder, contact and subject shown
        assert "calendar/Calendar: local +1" in synced.stdout

        as_json = run_cli(config, "discover", "--json")
        _assert_clean(as_json.stdout)
        names = {r["name"] for r in json.loads(as_json.stdout)["dev"]}
        assert HOSTILE in names  # JSON escapes are JSON: the value reads back exactly
