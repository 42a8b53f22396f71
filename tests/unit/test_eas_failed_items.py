"""Server items that fail to convert are reported every pass until stored (issue 14
item 8), with bounded work: at most REFETCHES fetched again per pass, the rest reported
as they were. EasRemoteCollection against the devserver (real HTTP, real WBXML) with
the pair status as the memory.
"""

from __future__ import annotations

from pathlib import Path

from eassync.convert.calendar import CalendarHandler
from eassync.devserver import DevServer
from eassync.eas.client import AccountSettings, EasClient
from eassync.eas.element import E, Element
from eassync.storage.eas import REFETCHES, EasRemoteCollection
from eassync.sync.status import Status

USER, PASSWORD = "alice", "secret"
C = "Calendar:"


def event(subject: str, interval: int = 1) -> Element:
    return E(
        "AirSync:ApplicationData",
        E(C + "StartTime", value="20260105T100000Z"),
        E(C + "EndTime", value="20260105T110000Z"),
        E(C + "Subject", value=subject),
        E(C + "Recurrence", E(C + "Type", value="0"), E(C + "Interval", value=str(interval))),
    )


def test_failed_items_come_back_each_pass_with_bounded_fetches(tmp_path: Path) -> None:
    bad = REFETCHES + 5
    with (
        DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv,
        Status(tmp_path / "pair.sqlite") as status,
    ):
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
        ids = [
            srv.store.add_item(USER, calendar.server_id, event(f"Bad {i}", 2**31))
            for i in range(bad)
        ]
        srv.store.add_item(USER, calendar.server_id, event("Good"))

        def one_pass(state: str | None) -> tuple[str, list, int]:
            remote = EasRemoteCollection(client, calendar, CalendarHandler())
            remote.failed = status.failed_items(calendar.server_id)
            changes = []
            for batch in remote.pull(state):
                changes += batch.changes
                state = batch.state
            assert state is not None
            return state, changes, remote.requests

        state, first, _ = one_pass(None)
        assert sorted(c.ident for c in first if c.error) == sorted(ids)
        assert [c.item is not None for c in first].count(True) == 1
        assert all("Interval 2147483648" in c.error for c in first if c.error)

        state, second, requests = one_pass(state)
        # nothing new on the server: every failed item is reported again, and
        # only REFETCHES of them cost a fetch (plus the one Sync)
        assert sorted(c.ident for c in second if c.error) == sorted(ids)
        assert requests == REFETCHES + 1

        # one mended on the server and one deleted: stored / forgotten
        srv.store.change_item(USER, calendar.server_id, ids[0], event("Mended"))
        srv.store.delete_item(USER, calendar.server_id, ids[1])
        state, third, _ = one_pass(state)
        assert sorted(c.ident for c in third if c.error) == sorted(ids[2:])
        assert set(status.failed_items(calendar.server_id).load()) == set(ids[2:])
        client.close()
