"""16.x instance-level server commands never delete a whole series.

From 16.0 a server may send ``Delete``/``Change`` with ``AirSyncBase:InstanceId`` for one
occurrence. The EAS adapter turns them into a Change of the whole series, fetched with
ItemOperations. The devserver does not emit instance-level commands, so the commands are
handed to the adapter directly; the series, the fetch and the conversion are real.
"""

from __future__ import annotations

from pathlib import Path

import icalendar

from eassync.convert.calendar import CalendarHandler
from eassync.devserver import DevServer
from eassync.eas.client import AccountSettings, EasClient
from eassync.eas.commands import ServerCommand
from eassync.storage.base import Item
from eassync.storage.eas import EasRemoteCollection

from .helpers import PASSWORD, USER

SERIES = Path(__file__).parents[1] / "data" / "calendar" / "weekly-berlin-exceptions.ics"


def test_instance_commands_become_one_change_of_the_series(tmp_path: Path) -> None:
    handler = CalendarHandler()
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        client = EasClient(
            AccountSettings(
                name="dev",
                url=srv.url,
                username=USER,
                password=PASSWORD,
                protocol_version="16.1",
                state_dir=tmp_path / "state",
            )
        )
        folders = client.folder_sync()
        calendar = next(f for f in folders if f.type == 8)
        raw = SERIES.read_bytes()
        data = handler.to_eas(Item(raw, "series"), "16.1")
        server_id = srv.store.add_item(USER, calendar.server_id, data)
        remote = EasRemoteCollection(client, calendar, handler)

        changes = remote._remote_changes(
            [
                ServerCommand("delete", server_id, None, instance_id="20261209T090000Z"),
                ServerCommand("change", server_id, None, instance_id="20261216T090000Z"),
            ]
        )

        assert [c.kind for c in changes] == ["change"], "one change for the series, no delete"
        (change,) = changes
        assert change.ident == server_id
        assert change.error is None
        assert change.item is not None
        events = list(icalendar.Calendar.from_ical(change.item.raw).walk("VEVENT"))
        assert any("RRULE" in event for event in events), "the series itself came back"
        client.close()


def test_plain_deletes_stay_deletes(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        client = EasClient(
            AccountSettings(
                name="dev",
                url=srv.url,
                username=USER,
                password=PASSWORD,
                state_dir=tmp_path / "state",
            )
        )
        calendar = next(f for f in client.folder_sync() if f.type == 8)
        remote = EasRemoteCollection(client, calendar, CalendarHandler())
        changes = remote._remote_changes([ServerCommand("delete", "42", None)])
        assert [(c.kind, c.ident) for c in changes] == [("delete", "42")]
        client.close()
