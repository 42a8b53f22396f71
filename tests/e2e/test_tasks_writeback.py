"""EAS tasks have no UID element (MS-ASTASK), so a second device must not write a
derived UID back for each downloaded task: the Change stores nothing, and on SOGo 5.8 it
re-stores the task in SOGo's own reading (task times taken as UTC, sogo-notes Q17), so
the device that created the task would then receive the altered copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eassync.devserver import DevServer

from .cal_helpers import TASK_DATA, copy_fixtures, run_device, tasks_dir, write_cal_config
from .helpers import PASSWORD, USER


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        yield srv


def test_a_second_device_sends_nothing_back_for_downloaded_tasks(
    tmp_path: Path, server: DevServer
) -> None:
    a = write_cal_config(tmp_path / "a", server.url)
    b = write_cal_config(tmp_path / "b", server.url)
    copy_fixtures(TASK_DATA, tasks_dir(a.parent), ["dated-high-priority.ics"])
    run_device(a, "sync")
    out = run_device(b, "sync").stdout
    assert "tasks/Tasks: local +1 ~0 -0, remote +0 ~0 -0" in out, out
