"""Write-ahead rows for the local writes of a pull batch: a pass killed after writing
a downloaded item but before its final commit never lets an item deleted on the
server since come back, never duplicates, and keeps a user's edit of such a file."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from eassync.storage.base import Item, PushOp, PushResult, RemoteBatch, RemoteChange
from eassync.sync.engine import forget_collection, sync_collection
from eassync.sync.plan import SyncReport
from eassync.sync.policy import REMOTE_WINS
from eassync.sync.status import Status
from tests.memory import (
    Killed,
    MemoryHandler,
    MemoryRemote,
    MemoryStorage,
    make_item,
    parse_lines,
)
from tests.unit.test_engine import Pair, card, fields, server_store


@dataclass
class LooseRemote(MemoryRemote):
    """Like the devserver: also reports the deletion of items the client may only
    have seen in an answer it lost (a stricter server reports nothing for them)."""

    deleted: set[str] = field(default_factory=set)

    def server_delete(self, sid: str) -> None:
        super().server_delete(sid)
        self.deleted.add(sid)

    def pull(self, state: str | None) -> Iterator[RemoteBatch]:
        first = True
        for batch in super().pull(state):
            if first and self.deleted:
                extra = [RemoteChange("delete", sid) for sid in sorted(self.deleted)]
                known = {c.ident for c in batch.changes}
                changes = [*batch.changes, *(c for c in extra if c.ident not in known)]
                batch = RemoteBatch(changes, batch.state, batch.more_available)
                self.deleted.clear()
            first = False
            yield batch


@dataclass
class KillBeforeWrite(MemoryStorage):
    """Killed as the first write of a pass starts, before anything reached the disk."""

    armed: bool = False

    def add(self, item: Item) -> tuple[str, str]:
        if self.armed:
            self.armed = False
            raise Killed("killed before the write")
        return super().add(item)


def restart(pair: Pair, tmp_path: Path) -> None:
    """A new process: the status reopened from disk."""
    pair.status.close()
    pair.status = Status(tmp_path / "pair.db")


def names(items: Iterator[Item] | list[Item]) -> list[str]:
    return sorted(fields(item)["FN"] for item in items)


def local_names(pair: Pair) -> list[str]:
    return names([item for item, _ in pair.local.items.values()])


def remote_names(pair: Pair) -> list[str]:
    return names(list(pair.remote.items.values()))


@pytest.fixture(params=["strict", "loose"])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    remote_type = MemoryRemote if request.param == "strict" else LooseRemote
    with Status(tmp_path / "pair.db") as status:
        yield Pair(status, remote=remote_type(store=server_store))


def kill_after_writing_downloads(pair: Pair, tmp_path: Path, writes: int) -> None:
    pair.local.kill_after_writes = writes - 1
    with pytest.raises(Killed):
        pair.sync()
    pair.local.kill_after_writes = None
    restart(pair, tmp_path)


def test_server_delete_after_a_killed_download_sticks(pair: Pair, tmp_path: Path) -> None:
    pair.sync()  # a stored SyncKey: the next pull is incremental
    ada = pair.remote.server_add(card(None, "Ada"))
    pair.remote.server_add(card(None, "Bob"))
    kill_after_writing_downloads(pair, tmp_path, writes=2)
    assert local_names(pair) == ["Ada", "Bob"]  # files written, final commit lost
    pair.remote.server_delete(ada)

    pair.sync()
    assert local_names(pair) == remote_names(pair) == ["Bob"]
    assert [fields(item)["FN"] for _, item in pair.trashed] == ["Ada"]
    assert pair.sync().summary().endswith("local +0 ~0 -0, remote +0 ~0 -0")
    assert pair.status.count("c", "tentative IS NOT NULL") == 0


def test_first_download_killed_then_server_delete_sticks(pair: Pair, tmp_path: Path) -> None:
    ada = pair.remote.server_add(card("ada", "Ada"))
    pair.remote.server_add(card("bob", "Bob"))
    kill_after_writing_downloads(pair, tmp_path, writes=2)
    pair.remote.server_delete(ada)

    pair.sync()
    assert local_names(pair) == remote_names(pair) == ["Bob"]
    pair.assert_in_sync()


def test_killed_download_replayed_binds_without_duplicates(pair: Pair, tmp_path: Path) -> None:
    pair.sync()
    for name in ("Ada", "Bob", "Cy"):
        pair.remote.server_add(card(None, name))
    kill_after_writing_downloads(pair, tmp_path, writes=2)

    report = pair.sync()
    assert report.local.added == 1  # only the file the killed pass never wrote
    assert report.remote.added == 0
    assert local_names(pair) == remote_names(pair) == ["Ada", "Bob", "Cy"]
    assert pair.status.count("c", "tentative IS NOT NULL") == 0
    assert pair.sync().summary().endswith("local +0 ~0 -0, remote +0 ~0 -0")


def test_user_edit_of_an_orphan_file_is_kept_as_a_new_item(pair: Pair, tmp_path: Path) -> None:
    pair.sync()
    ada = pair.remote.server_add(card(None, "Ada"))
    kill_after_writing_downloads(pair, tmp_path, writes=1)
    (ident,) = pair.local.items
    orphan, _ = pair.local.items[ident]
    pair.local.user_edit(ident, card(orphan.uid, "Ada edited"))
    pair.remote.server_delete(ada)

    pair.sync()
    assert local_names(pair) == remote_names(pair) == ["Ada edited"]
    pair.assert_in_sync()


def test_killed_local_update_then_server_delete_sticks(pair: Pair, tmp_path: Path) -> None:
    sid = pair.remote.server_add(card("ada", "Ada"))
    pair.sync()
    pair.remote.server_edit(sid, card("ada", "Ada", "2"))
    kill_after_writing_downloads(pair, tmp_path, writes=1)
    assert fields(pair.local.items[pair.local_ident("ada")][0])["V"] == "2"
    pair.remote.server_delete(sid)

    pair.sync()
    assert local_names(pair) == remote_names(pair) == []


def test_killed_local_update_replayed_is_no_local_change(pair: Pair, tmp_path: Path) -> None:
    sid = pair.remote.server_add(card("ada", "Ada"))
    pair.sync()
    pair.remote.server_edit(sid, card("ada", "Ada", "2"))
    kill_after_writing_downloads(pair, tmp_path, writes=1)

    report = pair.sync()
    assert report.remote.changed == 0  # our own write is not taken for a user edit
    assert fields(pair.remote.items[sid])["V"] == "2"
    pair.assert_in_sync()
    assert pair.sync().summary().endswith("local +0 ~0 -0, remote +0 ~0 -0")


def test_kill_after_the_write_ahead_before_any_write(tmp_path: Path) -> None:
    with Status(tmp_path / "pair.db") as status:
        pair = Pair(status, local=KillBeforeWrite())
        ada = pair.remote.server_add(card(None, "Ada"))
        pair.remote.server_add(card(None, "Bob"))
        pair.local.armed = True  # type: ignore[attr-defined]
        with pytest.raises(Killed):
            pair.sync()
        assert pair.local.items == {}
        assert pair.status.count("c", "tentative IS NOT NULL") == 2
        restart(pair, tmp_path)
        pair.sync()
        assert local_names(pair) == remote_names(pair) == ["Ada", "Bob"]
        pair.remote.server_delete(ada)
        pair.sync()
        assert local_names(pair) == remote_names(pair) == ["Bob"]
        pair.status.close()


def test_a_batch_with_local_writes_costs_one_extra_commit(tmp_path: Path) -> None:
    commits = [0]

    def count() -> None:
        commits[0] += 1

    with Status(tmp_path / "pair.db", before_commit=count) as status:
        pair = Pair(status)
        pair.remote.window_size = 10
        for i in range(25):
            pair.remote.server_add(card(f"u{i}", f"N{i}"))
        pair.sync()
        with_writes = commits[0]
        commits[0] = 0
        pair.sync()
        without_writes = commits[0]
    # three pull batches, each: write-ahead + final commit; then the end of the pass
    assert with_writes == 3 * 2 + 1
    # a pass with nothing to write: one commit per (single) batch and the end
    assert without_writes == 2


# --- server items without UID (EAS contacts, tasks) ------------------------------------


class NoUidHandler(MemoryHandler):
    """Like EAS contacts and tasks: the server cannot hold a UID."""

    def project(self, item: Item, version: str) -> Item:
        projected = super().project(item, version)
        return make_item((k, v) for k, v in parse_lines(projected.raw) if k != "UID")


NO_UID = NoUidHandler()


def uidless_sync(local: MemoryStorage, remote: MemoryRemote, status: Status) -> SyncReport:
    return sync_collection(local, remote, NO_UID, status, "c", REMOTE_WINS)


def uidless_remote() -> MemoryRemote:
    return MemoryRemote(store=lambda item: NO_UID.project(item, "14.1"))


def test_lost_add_answer_on_a_server_without_uids_duplicates_nothing(tmp_path: Path) -> None:
    local, remote = MemoryStorage(), uidless_remote()
    local.user_add(card("local-ada", "Ada"))
    remote.kill_after_push_apply = True
    with Status(tmp_path / "pair.db") as status, pytest.raises(Killed):
        uidless_sync(local, remote, status)
    assert len(remote.items) == 1  # the server has it; the answer was lost
    with Status(tmp_path / "pair.db") as status:
        report = uidless_sync(local, remote, status)
        # resent with its ClientId: the server answers with the item it made then
        assert report.local.added == 0
        assert [item.uid for item, _ in local.items.values()] == ["local-ada"]
        assert len(remote.items) == 1
        assert (
            uidless_sync(local, remote, status)
            .summary()
            .endswith("local +0 ~0 -0, remote +0 ~0 -0")
        )


def test_lost_status_on_a_server_without_uids_duplicates_nothing(tmp_path: Path) -> None:
    local, remote = MemoryStorage(), uidless_remote()
    for i in range(3):
        local.user_add(card(f"local-{i}", f"Local {i}"))
        remote.server_add(card(None, f"Server {i}"))
    with Status(tmp_path / "pair.db") as status:
        uidless_sync(local, remote, status)
        assert len(local.items) == len(remote.items) == 6
        forget_collection(status, "c")  # the status is lost
        report = uidless_sync(local, remote, status)
        assert (report.local.added, report.remote.added) == (0, 0)
        assert len(local.items) == len(remote.items) == 6
        uids = {item.uid for item, _ in local.items.values()}
        assert {"local-0", "local-1", "local-2"} <= uids


@dataclass
class NoEchoRemote(MemoryRemote):
    """Like Exchange and the devserver: a pull never reports the client's own Adds,
    even when the client repeats an old SyncKey; only a repeated push with the same
    key and ClientIds finds the items made then."""

    own: set[str] = field(default_factory=set)

    def push(self, state: str, ops: Sequence[PushOp]) -> PushResult:
        adds = {op.ref for op in ops if op.kind == "add"}
        try:
            result = super().push(state, ops)
        except Killed:
            self.own |= set(self.answered_adds.get(state, {}).values())
            raise
        self.own |= {r.ident for r in result.results if r.ref in adds and r.ident}
        return result

    def pull(self, state: str | None) -> Iterator[RemoteBatch]:
        for batch in super().pull(state):
            changes = [c for c in batch.changes if c.ident not in self.own]
            yield RemoteBatch(changes, batch.state, batch.more_available)


def test_lost_add_answer_on_a_server_that_never_echoes_own_adds(tmp_path: Path) -> None:
    with Status(tmp_path / "pair.db") as status:
        pair = Pair(status, remote=NoEchoRemote(store=server_store))
        pair.sync()
        pair.local.user_add(card("ada", "Ada"))
        pair.remote.kill_after_push_apply = True
        with pytest.raises(Killed):
            pair.sync()
        restart(pair, tmp_path)
        pair.sync()
        assert remote_names(pair) == local_names(pair) == ["Ada"]
        pair.status.close()


@dataclass
class RepeatingRemote(MemoryRemote):
    """A malformed answer: the first batch names one ServerId twice, an Add and then
    a Change with other content."""

    repeat: Item | None = None

    def pull(self, state: str | None) -> Iterator[RemoteBatch]:
        for batch in super().pull(state):
            if self.repeat is not None and batch.changes:
                first = batch.changes[0]
                again = RemoteChange("change", first.ident, self.repeat)
                batch = RemoteBatch([*batch.changes, again], batch.state, batch.more_available)
                self.repeat = None
            yield batch


def test_a_batch_naming_a_server_item_twice_keeps_one_item_with_the_last_content(
    tmp_path: Path,
) -> None:
    """Decided twice, the second mention would run before the first one's write and
    make a second local file for one server item."""
    with Status(tmp_path / "pair.db") as status:
        pair = Pair(status, remote=RepeatingRemote(store=server_store))
        pair.remote.server_add(card("u1", "First"))
        pair.remote.server_add(card("u2", "Other"))
        pair.remote.repeat = card("u1", "First, changed")
        report = pair.sync()
        assert report.ok
        assert local_names(pair) == ["First, changed", "Other"]
        assert status.count("c") == 2
        assert any("more than once" in note for note in report.notes)
        assert pair.sync().local.added == 0
