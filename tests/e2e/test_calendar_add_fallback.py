"""A series with exceptions that a 16.x server crashes on when added (Horde 5.2 stock,
issue 15 item 2), played by the devserver with ``add_exceptions_crash``; real CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eassync.devserver import DevServer

from .cal_helpers import calendar_dir, occurrences, read_cal, run_device, write_cal_config
from .helpers import NO_OP, PASSWORD, USER
from .test_calendar_split import SERIES, all_occurrences, sync


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(
        data_dir=tmp_path / "server",
        users={USER: PASSWORD},
        assign_uids=True,
        add_exceptions_crash=True,
    ) as srv:
        yield srv


def add_series(tmp_path: Path, server: DevServer, version: str) -> tuple[Path, Path]:
    config = write_cal_config(tmp_path / "a", server.url, version=version)
    folder = calendar_dir(tmp_path / "a")
    folder.mkdir(parents=True)
    (folder / "series.ics").write_text(SERIES, encoding="utf-8")
    return config, folder


def test_a_series_whose_apart_form_fails_too_is_parked(tmp_path: Path, server: DevServer) -> None:
    """The bare series fails as well (poisoned): parked, never on the server, told each pass."""
    server.faults.poison("Team meeting")
    config, _ = add_series(tmp_path, server, "16.1")
    folder = server.store.default_folder(USER, 8)
    for _ in range(2):
        proc = run_device(config, "sync", check=False)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
        assert "Team meeting" in proc.stdout + proc.stderr
        assert not server.store.items(USER, folder)


def test_14_1_takes_the_exceptions_inside_the_add(tmp_path: Path, server: DevServer) -> None:
    config, a_dir = add_series(tmp_path, server, "14.1")
    mine = occurrences(read_cal(a_dir / "series.ics"))
    assert sync(config) == "local +0 ~0 -0, remote +1 ~0 -0"
    folder = server.store.default_folder(USER, 8)
    assert len(server.store.items(USER, folder)) == 1
    b = write_cal_config(tmp_path / "b", server.url, version="14.1")
    assert sync(b) == "local +1 ~0 -0, remote +0 ~0 -0"
    assert all_occurrences(calendar_dir(tmp_path / "b")) == sorted(mine)
    for c in (config, b):
        assert sync(c) == NO_OP


def test_a_16x_series_the_server_crashes_on_arrives_in_the_apart_form(
    tmp_path: Path, server: DevServer
) -> None:
    config, a_dir = add_series(tmp_path, server, "16.1")
    mine = occurrences(read_cal(a_dir / "series.ics"))
    folder = server.store.default_folder(USER, 8)
    first = run_device(config, "sync")  # exit 0: the event arrived
    assert "local +0 ~0 -0, remote +1 ~0 -0" in first.stdout
    told = first.stdout + first.stderr
    assert "eassync adds such a series without them" in told  # the habit, told once
    assert len(server.store.items(USER, folder)) == 2  # the series and the one-off
    b = write_cal_config(tmp_path / "b", server.url, version="16.1")
    assert sync(b) == "local +2 ~0 -0, remote +0 ~0 -0"
    assert all_occurrences(calendar_dir(tmp_path / "b")) == sorted(mine)
    # the adding device takes the server's shape: the moved meeting once, on its own
    again = run_device(config, "sync")
    assert "local +1 ~1 -0, remote +0 ~0 -0" in again.stdout
    assert "eassync adds such a series without them" not in again.stdout + again.stderr
    assert all_occurrences(a_dir) == sorted(mine)
    assert "RECURRENCE-ID" not in (a_dir / "series.ics").read_text()
    for c in (config, b, config, b):
        assert sync(c) == NO_OP
    assert len(server.store.items(USER, folder)) == 2
