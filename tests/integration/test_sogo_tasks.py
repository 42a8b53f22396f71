"""Tasks through a real SOGo 5.8 (EAS 14.1; SOGo keeps VTODOs in the calendar
collection, sogo-notes Q6/Q7): a task made over CalDAV arrives through EAS with its
due date, priority, categories and alarm; completing it locally shows in CalDAV; a
delete travels each way. What SOGo changes in tasks: test_sogo_calendar's module doc.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.cal_helpers import run_device, task_view, tasks_dir, write_cal_config
from tests.integration.conftest import SogoAccount
from tests.integration.sogo_dav import CALENDAR, pass_one_second

pytestmark = pytest.mark.sogo

TASK = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//eassync tests//EN
BEGIN:VTODO
UID:dav-made-task
DTSTAMP:20240101T000000Z
SUMMARY:{summary}
DUE:20300610T170000Z
PRIORITY:1
CATEGORIES:Home
STATUS:NEEDS-ACTION
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:due soon
TRIGGER;VALUE=DATE-TIME:20300610T080000Z
END:VALARM
END:VTODO
END:VCALENDAR
"""


def sync(config: Path, account: SogoAccount) -> str:
    return run_device(config, "sync", password=account.password).stdout


def test_caldav_task_arrives_completion_and_deletes_travel_each_way(
    tmp_path: Path, sogo_account: SogoAccount
) -> None:
    dav = sogo_account.dav
    config = write_cal_config(
        tmp_path / "dev", sogo_account.server.eas_url, username=sogo_account.user
    )
    sync(config, sogo_account)
    pass_one_second()  # sogo-notes Q2
    text = TASK.format(summary="Water the garden")
    dav.put(CALENDAR, "dav-made-task.ics", text)
    pass_one_second()
    assert "tasks/Personal Calendar: local +1 ~0 -0" in sync(config, sogo_account)
    (path,) = tasks_dir(config.parent).glob("*.ics")
    source = tmp_path / "source.ics"
    source.write_text(text)
    got, expected = task_view(path), task_view(source)
    assert got == expected

    # completed locally → CalDAV shows it completed
    path.write_text(
        path.read_text()
        .replace("STATUS:NEEDS-ACTION", "STATUS:COMPLETED")
        .replace("END:VTODO", "COMPLETED:20300609T120000Z\r\nEND:VTODO")
    )
    pass_one_second()
    assert "remote +0 ~1 -0" in sync(config, sogo_account)
    (item,) = dav.calendar_query("VTODO")
    assert item.data is not None
    assert "STATUS:COMPLETED" in item.data
    assert "SUMMARY:Water the garden" in item.data

    # deleted through CalDAV → the local file goes
    pass_one_second()
    dav.delete(CALENDAR, item.name)
    pass_one_second()
    assert "local +0 ~0 -1" in sync(config, sogo_account)
    assert list(tasks_dir(config.parent).glob("*.ics")) == []

    # made locally, deleted locally → CalDAV follows
    path.write_text(text.replace("dav-made-task", "local-task"))
    pass_one_second()
    sync(config, sogo_account)
    (item,) = dav.calendar_query("VTODO")
    assert "SUMMARY:Water the garden" in (item.data or "")
    path.unlink()
    pass_one_second()
    assert "remote +0 ~0 -1" in sync(config, sogo_account)
    assert dav.calendar_query("VTODO") == []
