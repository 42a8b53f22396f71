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


def test_an_add_answered_with_a_control_character_server_id_is_rejected(
    tmp_path: Path,
) -> None:
    """A hostile server answers our Add with a ServerId carrying ESC: it never becomes a
    key of ours (issue 14 item 9); the item is rejected, named by the escaped id."""
    from eassync.storage.base import Item, PushOp

    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        real_add = srv.store.add_item

        def hostile_add(*args: object, **kwargs: object) -> str:
            server_id = real_add(*args, **kwargs)  # type: ignore[arg-type]
            with srv.store.transaction() as db:
                db.execute(
                    "UPDATE items SET server_id = ? WHERE server_id = ?",
                    (server_id + "\x1b[31m", server_id),
                )
            return server_id + "\x1b[31m"

        srv.store.add_item = hostile_add  # type: ignore[method-assign]
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
        handler = CalendarHandler()
        remote = EasRemoteCollection(client, calendar, handler)
        (batch,) = list(remote.pull(None))[:1]
        item = handler.from_eas(event("Mine"), "14.1")
        result = remote.push(batch.state, [PushOp("add", "c1", Item(item.raw, "mine"))])
        (op,) = result.results
        assert op.status == "rejected"
        assert op.ident is None
        assert "\x1b" not in op.message
        assert "\\x1b[31m" in op.message
        client.close()


def test_an_occurrence_change_with_a_control_character_server_id_is_refused_unfetched(
    tmp_path: Path,
) -> None:
    """A 16.x occurrence change is normally refetched as its series: not under a
    ServerId eassync refuses (it would be sent back to the server as is)."""
    from eassync.eas.commands import ServerCommand

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
        calendar = next(f for f in client.folder_sync() if f.type == 8)
        remote = EasRemoteCollection(client, calendar, CalendarHandler())
        (change,) = remote._remote_changes(
            [ServerCommand("change", "8:1\x07", None, instance_id="20261209T090000Z")]
        )
        assert change.item is None
        assert change.error is not None
        assert "unusable ServerId '8:1\\x07'" in change.error
        assert remote.requests == 0
        client.close()
