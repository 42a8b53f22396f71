"""The sync engine, rule by rule, over the in-memory sides and a real status file."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from eassync.errors import ItemError, SafetyStop
from eassync.storage.base import Item
from eassync.sync.engine import derived_uid, forget_collection, sync_collection
from eassync.sync.plan import SyncReport
from eassync.sync.policy import (
    ERROR,
    KEEP_BOTH,
    LOCAL_WINS,
    REMOTE_WINS,
    ConflictPolicy,
    ExternalMerge,
    command_runner,
    policy_from_config,
)
from eassync.sync.status import Status
from tests.memory import (
    Killed,
    MemoryHandler,
    MemoryRemote,
    MemoryStorage,
    make_item,
    parse_lines,
)

H = MemoryHandler()


def server_store(item: Item) -> Item:
    """Like Exchange: keeps what EAS can hold, stamps a volatile revision."""
    return make_item([*parse_lines(H.project(item, "14.1").raw), ("REV", "1")])


def card(uid: str | None, fn: str, v: str = "0", **extra: str) -> Item:
    lines = {"UID": uid} if uid else {}
    extra = {key.replace("_", "-"): value for key, value in extra.items()}
    return make_item({**lines, "FN": fn, "V": v, **extra})


def fields(item: Item) -> dict[str, str]:
    return dict(parse_lines(item.raw))


@dataclass
class Pair:
    status: Status
    local: MemoryStorage = field(default_factory=MemoryStorage)
    remote: MemoryRemote = field(default_factory=lambda: MemoryRemote(store=server_store))
    trashed: list[tuple[str, Item]] = field(default_factory=list)

    def sync(self, policy: ConflictPolicy = REMOTE_WINS, **kwargs: Any) -> SyncReport:
        return sync_collection(
            self.local,
            self.remote,
            H,
            self.status,
            "c",
            policy,
            trash=lambda ident, item: self.trashed.append((ident, item)),
            **kwargs,
        )

    def local_fields(self) -> dict[str, dict[str, str]]:
        return {item.uid or "": fields(item) for item, _ in self.local.items.values()}

    def remote_fields(self) -> dict[str, dict[str, str]]:
        return {item.uid or "": fields(item) for item in self.remote.items.values()}

    def local_ident(self, uid: str) -> str:
        return next(i for i, (item, _) in self.local.items.items() if item.uid == uid)

    def remote_ident(self, uid: str) -> str:
        return next(s for s, item in self.remote.items.items() if item.uid == uid)

    def assert_in_sync(self) -> None:
        local = self.local.by_uid()
        remote = self.remote.by_uid()
        assert sorted(local) == sorted(remote)
        for uid, items in local.items():
            assert len(items) == 1
            assert len(remote[uid]) == 1
            assert H.fingerprint(H.project(items[0], "14.1")) == H.fingerprint(remote[uid][0])


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    with Status(tmp_path / "pair.db") as status:
        yield Pair(status)


def synced_pair(pair: Pair, n: int = 2) -> Pair:
    for i in range(n):
        pair.local.user_add(card(f"u{i}", f"Name {i}", X_LOCAL_PHOTO="keep"))
    pair.sync()
    pair.assert_in_sync()
    return pair


# --- basics -----------------------------------------------------------------------------


def test_first_sync_goes_both_ways_and_keeps_local_only_properties(pair: Pair) -> None:
    pair.local.user_add(card("a", "Ada", X_LOCAL_PHOTO="p"))
    pair.remote.server_add(card("b", "Bob"))
    report = pair.sync()
    assert (report.local.added, report.remote.added) == (1, 1)
    pair.assert_in_sync()
    # the server cannot hold X-LOCAL-*: it stays in the local file only
    assert "X-LOCAL-PHOTO" in pair.local_fields()["a"]
    assert "X-LOCAL-PHOTO" not in pair.remote_fields()["a"]
    assert report.summary() == "c: local +1 ~0 -0, remote +1 ~0 -0"
    assert pair.sync().summary() == "c: local +0 ~0 -0, remote +0 ~0 -0"


def test_remote_change_merges_into_local_keeping_local_only_properties(pair: Pair) -> None:
    synced_pair(pair)
    pair.remote.server_edit(pair.remote_ident("u0"), card("u0", "Renamed"))
    report = pair.sync()
    assert report.local.changed == 1
    assert pair.local_fields()["u0"]["FN"] == "Renamed"
    assert pair.local_fields()["u0"]["X-LOCAL-PHOTO"] == "keep"


def test_touched_but_equal_local_item_is_no_change(pair: Pair) -> None:
    synced_pair(pair)
    ident = pair.local_ident("u0")
    pair.local.user_edit(ident, pair.local.items[ident][0])  # new etag, same bytes
    requests = pair.remote.requests
    report = pair.sync()
    assert report.remote.changed == 0
    assert pair.remote.requests == requests + 1  # the pull only, no push


def test_server_rewrite_of_volatile_fields_is_no_change(pair: Pair) -> None:
    synced_pair(pair)
    sid = pair.remote_ident("u0")
    pair.remote.server_edit(
        sid, make_item([*parse_lines(pair.remote.items[sid].raw), ("REV", "9")])
    )
    report = pair.sync()
    assert (report.local.changed, report.remote.changed) == (0, 0)


def test_broken_local_item_is_reported_and_never_taken_for_a_deletion(pair: Pair) -> None:
    synced_pair(pair)
    ident = pair.local_ident("u0")
    pair.local.user_edit(ident, pair.local.items[ident][0])
    pair.local.broken.add(ident)
    pair.local.user_add(card("new", "New one"))
    report = pair.sync()
    assert [(f.side, f.ident) for f in report.failures] == [("local", ident)]
    assert report.exit_code == 1
    assert "u0" in pair.remote_fields()  # not deleted on the server
    assert "new" in pair.remote_fields()  # the others went on


def test_remote_item_that_could_not_be_converted_is_reported(pair: Pair) -> None:
    pair.remote.server_add(card("a", "Ada"))
    bad = pair.remote.server_add(card("b", "Bob"))
    pair.remote.items[bad] = Item(b"not a KEY:value file\nbroken", None)
    report = pair.sync()
    assert [f.side for f in report.failures] == ["remote"]
    assert "a" in pair.local_fields()


# --- deletes ----------------------------------------------------------------------------


def test_remote_delete_deletes_locally_after_trashing(pair: Pair) -> None:
    synced_pair(pair)
    ident = pair.local_ident("u0")
    pair.remote.server_delete(pair.remote_ident("u0"))
    report = pair.sync()
    assert report.local.deleted == 1
    assert "u0" not in pair.local_fields()
    assert [(i, item.uid) for i, item in pair.trashed] == [(ident, "u0")]


def test_local_delete_deletes_remotely(pair: Pair) -> None:
    synced_pair(pair)
    pair.local.user_delete(pair.local_ident("u1"))
    report = pair.sync()
    assert report.remote.deleted == 1
    pair.assert_in_sync()


def test_remote_delete_of_locally_changed_item_keeps_and_readds_it(pair: Pair) -> None:
    synced_pair(pair)
    pair.local.user_edit(pair.local_ident("u0"), card("u0", "Edited here"))
    pair.remote.server_delete(pair.remote_ident("u0"))
    report = pair.sync()
    assert report.remote.added == 1
    assert any("re-added" in note for note in report.notes)
    pair.assert_in_sync()
    assert pair.remote_fields()["u0"]["FN"] == "Edited here"


def test_remote_change_of_locally_deleted_item_restores_it(pair: Pair) -> None:
    synced_pair(pair)
    pair.local.user_delete(pair.local_ident("u0"))
    pair.remote.server_edit(pair.remote_ident("u0"), card("u0", "Edited there"))
    pair.sync()
    pair.assert_in_sync()
    assert pair.local_fields()["u0"]["FN"] == "Edited there"


def test_softdelete_keeps_local_item_and_never_propagates(pair: Pair) -> None:
    synced_pair(pair)
    sid = pair.remote_ident("u0")
    pair.remote.server_hide(sid)
    report = pair.sync()
    assert report.local.deleted == 0
    assert "u0" in pair.local_fields()
    assert sid in pair.remote.items
    # a local edit of the dormant item still reaches the server item it belongs to
    pair.local.user_edit(pair.local_ident("u0"), card("u0", "Edited"))
    pair.sync()
    assert fields(pair.remote.items[sid])["FN"] == "Edited"
    assert len(pair.remote.items) == 2


# --- conflicts --------------------------------------------------------------------------


def make_conflict(pair: Pair) -> None:
    synced_pair(pair, 1)
    pair.local.user_edit(pair.local_ident("u0"), card("u0", "Local", X_LOCAL_PHOTO="keep"))
    pair.remote.server_edit(pair.remote_ident("u0"), card("u0", "Remote"))


def test_conflict_remote_wins(pair: Pair) -> None:
    make_conflict(pair)
    report = pair.sync(REMOTE_WINS)
    assert [c.resolution for c in report.conflicts] == ["remote_wins"]
    assert pair.local_fields()["u0"]["FN"] == "Remote"
    assert pair.local_fields()["u0"]["X-LOCAL-PHOTO"] == "keep"
    pair.assert_in_sync()


def test_conflict_local_wins(pair: Pair) -> None:
    make_conflict(pair)
    pair.sync(LOCAL_WINS)
    assert pair.remote_fields()["u0"]["FN"] == "Local"
    pair.assert_in_sync()


def test_conflict_keep_both(pair: Pair) -> None:
    make_conflict(pair)
    pair.sync(KEEP_BOTH)
    pair.assert_in_sync()
    names = sorted(f["FN"] for f in pair.local_fields().values())
    assert names == ["Local", "Remote"]
    assert pair.local_fields()["u0"]["FN"] == "Remote"  # the original UID holds the server's
    assert pair.sync(KEEP_BOTH).summary().endswith("remote +0 ~0 -0")


def test_conflict_error_reports_and_syncs_the_rest(pair: Pair) -> None:
    make_conflict(pair)
    pair.remote.server_add(card("other", "Other"))
    report = pair.sync(ERROR)
    assert report.exit_code == 1
    (conflict,) = report.conflicts
    assert (conflict.local_name, conflict.remote_name, conflict.unresolved) == (
        "Local",
        "Remote",
        True,
    )
    assert "other" in pair.local_fields()
    assert pair.local_fields()["u0"]["FN"] == "Local"
    assert pair.remote_fields()["u0"]["FN"] == "Remote"
    # reported again on the next pass, though the server will not send it again
    assert pair.sync(ERROR).conflicts[0].unresolved
    # switching the policy resolves it
    pair.sync(REMOTE_WINS)
    pair.assert_in_sync()
    assert pair.local_fields()["u0"]["FN"] == "Remote"


def test_conflict_external_merge(pair: Pair) -> None:
    make_conflict(pair)

    def merge(local: Item, remote: Item) -> bytes:
        return card(None, fields(local)["FN"] + "+" + fields(remote)["FN"]).raw

    pair.sync(ExternalMerge(merge))
    pair.assert_in_sync()
    assert pair.local_fields()["u0"]["FN"] == "Local+Remote"
    assert pair.remote_fields()["u0"]["FN"] == "Local+Remote"


def test_conflict_merge_tool_failure_is_reported_and_kept(pair: Pair) -> None:
    make_conflict(pair)

    def merge(local: Item, remote: Item) -> bytes:
        raise ItemError("tool crashed")

    report = pair.sync(ExternalMerge(merge))
    assert "tool crashed" in report.failures[0].reason
    assert pair.local_fields()["u0"]["FN"] == "Local"
    pair.sync(LOCAL_WINS)
    pair.assert_in_sync()


def test_command_runner_runs_a_real_process(tmp_path: Path) -> None:
    script = "import sys; open(sys.argv[1], 'a').write('MERGED:' + open(sys.argv[2]).read())"
    runner = command_runner([sys.executable, "-c", script])
    merged = runner(make_item({"A": "1"}), make_item({"B": "2"}))
    assert merged == b"A:1\nMERGED:B:2\n"
    failing = command_runner([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(ItemError, match="exit status 3"):
        failing(make_item({"A": "1"}), make_item({"B": "2"}))


def test_policy_from_config() -> None:
    assert policy_from_config("keep_both") is KEEP_BOTH
    assert isinstance(policy_from_config({"command": ["vimdiff"]}), ExternalMerge)
    with pytest.raises(Exception, match="remote_win"):
        policy_from_config("remote_win")


def test_same_change_on_both_sides_is_no_conflict(pair: Pair) -> None:
    synced_pair(pair, 1)
    pair.local.user_edit(pair.local_ident("u0"), card("u0", "Same", X_LOCAL_PHOTO="keep"))
    pair.remote.server_edit(pair.remote_ident("u0"), card("u0", "Same"))
    report = pair.sync(ERROR)
    assert report.conflicts == []
    assert report.ok


# --- server answers -----------------------------------------------------------------------


def test_rejected_item_is_reported_and_not_resent_until_changed(pair: Pair) -> None:
    pair.remote.reject = lambda item: fields(item)["FN"].startswith("Bad")
    pair.local.user_add(card("x", "Bad one"))
    report = pair.sync()
    assert report.failures[0].side == "remote"
    assert report.remote.added == 0
    requests = pair.remote.requests
    again = pair.sync()
    assert pair.remote.requests == requests + 1  # pulled, nothing pushed
    # parked, and told every pass by name with the server's words until resolved
    assert [(f.name, "parked" in f.reason, "Status 6" in f.reason) for f in again.failures] == [
        ("Bad one", True, True)
    ]
    pair.local.user_edit(pair.local_ident("x"), card("x", "Good now"))
    assert pair.sync().ok
    pair.assert_in_sync()
    assert pair.sync().ok


def test_change_of_item_gone_from_server_readds_it(pair: Pair) -> None:
    synced_pair(pair, 1)
    sid = pair.remote_ident("u0")
    pair.local.user_edit(pair.local_ident("u0"), card("u0", "Edited"))
    # gone on the server after our pull, before our push: the Change gets Status 8
    original_pull = pair.remote.pull

    def pull_then_delete(state: str | None) -> Iterator[Any]:
        yield from original_pull(state)
        del pair.remote.items[sid]
        del pair.remote.versions[sid]

    pair.remote.pull = pull_then_delete  # type: ignore[method-assign]
    pair.sync()
    pair.remote.pull = original_pull  # type: ignore[method-assign]
    pair.assert_in_sync()
    assert pair.remote_fields()["u0"]["FN"] == "Edited"


def test_push_conflict_status_7_lets_the_server_win(pair: Pair) -> None:
    synced_pair(pair, 1)
    sid = pair.remote_ident("u0")
    pair.local.user_edit(pair.local_ident("u0"), card("u0", "Local"))
    original_pull = pair.remote.pull

    def pull_then_edit(state: str | None) -> Iterator[Any]:
        yield from original_pull(state)
        pair.remote.server_edit(sid, card("u0", "Server"))

    pair.remote.pull = pull_then_edit  # type: ignore[method-assign]
    report = pair.sync()
    pair.remote.pull = original_pull  # type: ignore[method-assign]
    assert report.conflicts[0].resolution.startswith("server won")
    pair.sync()
    pair.assert_in_sync()
    assert pair.local_fields()["u0"]["FN"] == "Server"


def test_remote_item_without_uid_gets_a_stable_uid_written_back_once(pair: Pair) -> None:
    sid = pair.remote.server_add(card(None, "No UID"))
    report = pair.sync()
    uid = derived_uid("c", sid)
    assert list(pair.local_fields()) == [uid]
    assert report.remote.changed == 1  # the write-back
    assert pair.remote.items[sid].uid == uid
    assert pair.sync().summary().endswith("remote +0 ~0 -0")


def test_batches_respect_window_and_max_batch(pair: Pair) -> None:
    pair.remote.window_size = 7
    pair.remote.max_batch = 5  # MemoryRemote raises if a push carries more
    for i in range(23):
        pair.local.user_add(card(f"l{i}", f"L{i}"))
        pair.remote.server_add(card(f"r{i}", f"R{i}"))
    report = pair.sync()
    assert (report.local.added, report.remote.added) == (23, 23)
    pair.assert_in_sync()


# --- kills --------------------------------------------------------------------------------


def test_kill_after_push_applied_does_not_duplicate(pair: Pair, tmp_path: Path) -> None:
    pair.local.user_add(card("a", "Ada"))
    pair.remote.kill_after_push_apply = True
    with pytest.raises(Killed):
        pair.sync()
    assert len(pair.remote.items) == 1  # the server has it; we never saw the ServerId
    pair.sync()
    pair.assert_in_sync()
    assert len(pair.remote.items) == 1


def test_server_edit_after_a_lost_add_answer_reaches_the_local_side(pair: Pair) -> None:
    """Found by the state machine: the resent Add's answer stands for the item as it
    was added; an edit made on the server since must still come down as a change."""
    pair.local.user_add(card("a", "Ada"))
    pair.remote.kill_after_push_apply = True
    with pytest.raises(Killed):
        pair.sync()
    (sid,) = pair.remote.items
    pair.remote.server_edit(sid, card("a", "Ada", "edited on the server"))
    report = pair.sync()
    assert (report.remote.added, report.local.changed) == (1, 1)
    pair.assert_in_sync()
    assert fields(next(iter(pair.local.items.values()))[0])["V"] == "edited on the server"


def test_kill_between_local_write_and_status_commit_does_not_duplicate(
    pair: Pair, tmp_path: Path
) -> None:
    pair.remote.server_add(card("a", "Ada"))
    pair.remote.server_add(card("b", "Bob"))
    pair.local.kill_after_writes = 1  # both files written, the commit never happens
    with pytest.raises(Killed):
        pair.sync()
    assert len(pair.local.items) == 2
    pair.status.close()
    pair.status = Status(tmp_path / "pair.db")  # a new process
    pair.sync()
    pair.assert_in_sync()
    assert len(pair.local.items) == 2
    assert len(pair.remote.items) == 2


def test_kill_in_status_commit_does_not_duplicate(tmp_path: Path) -> None:
    commits = [0]

    def die_on_second_commit() -> None:
        commits[0] += 1
        if commits[0] == 2:
            raise Killed("killed in commit")

    pair = Pair(Status(tmp_path / "pair.db", before_commit=die_on_second_commit))
    pair.local.user_add(card("a", "Ada"))
    pair.remote.server_add(card("b", "Bob"))
    with pytest.raises(Killed):
        pair.sync()
    pair.status.close()
    pair.status = Status(tmp_path / "pair.db")
    pair.sync()
    pair.assert_in_sync()
    assert len(pair.local.items) == len(pair.remote.items) == 2
    pair.status.close()


# --- lost server state ------------------------------------------------------------------


def test_lost_server_state_resyncs_without_duplicates_or_deletions(pair: Pair) -> None:
    synced_pair(pair, 3)
    pair.remote.lose_state()
    pair.local.user_edit(pair.local_ident("u1"), card("u1", "Edited", X_LOCAL_PHOTO="keep"))
    pair.remote.server_add(card("new", "New"))
    report = pair.sync()
    assert report.resynced
    assert report.local.deleted == report.remote.deleted == 0
    pair.assert_in_sync()
    assert len(pair.local.items) == 4
    assert pair.remote_fields()["u1"]["FN"] == "Edited"


def test_items_missing_after_resync_are_reuploaded_not_deleted(pair: Pair) -> None:
    synced_pair(pair, 3)
    pair.remote.lose_state()
    pair.remote.server_delete(pair.remote_ident("u2"))  # lost by the server
    report = pair.sync()
    assert report.local.deleted == 0
    assert any("re-uploaded" in note for note in report.notes)
    pair.assert_in_sync()
    assert len(pair.remote.items) == 3


def test_items_missing_after_resync_of_a_windowed_folder_go_dormant(pair: Pair) -> None:
    synced_pair(pair, 3)
    pair.remote.lose_state()
    pair.remote.server_hide(pair.remote_ident("u2"))  # outside the window now
    pair.sync(remote_windowed=True)
    assert len(pair.remote.items) == 3  # no duplicate uploaded
    assert "u2" in pair.local_fields()


def test_repair_from_an_empty_status_matches_by_uid(pair: Pair) -> None:
    synced_pair(pair, 3)
    forget_collection(pair.status, "c")
    pair.remote.lose_state()
    report = pair.sync()
    assert report.local.added == report.remote.added == 0
    pair.assert_in_sync()


# --- safety, directions, dry run ----------------------------------------------------------


def test_emptied_local_folder_stops_before_deleting_the_server(pair: Pair) -> None:
    synced_pair(pair, 8)
    for ident in list(pair.local.items):
        pair.local.user_delete(ident)
    with pytest.raises(SafetyStop) as info:
        pair.sync()
    assert info.value.hint is not None
    assert "--force-delete" in info.value.hint
    assert len(pair.remote.items) == 8
    pair.sync(force_delete=True)
    assert pair.remote.items == {}


def test_server_suddenly_deleting_everything_stops_before_local_deletes(pair: Pair) -> None:
    synced_pair(pair, 8)
    for sid in list(pair.remote.items):
        pair.remote.server_delete(sid)
    with pytest.raises(SafetyStop):
        pair.sync()
    assert len(pair.local.items) == 8


def test_few_deletes_pass_the_safety_check(pair: Pair) -> None:
    synced_pair(pair, 3)
    for ident in list(pair.local.items):
        pair.local.user_delete(ident)
    assert pair.sync().remote.deleted == 3


@pytest.mark.parametrize("local_changes", ["revert", "ignore"])
def test_direction_to_local_never_writes_the_server(pair: Pair, local_changes: str) -> None:
    synced_pair(pair, 1)
    pair.local.user_add(card("l", "Local new"))
    pair.remote.server_add(card("r", "Remote new"))
    before = dict(pair.remote.items)
    report = pair.sync(direction="to_local", local_changes=local_changes)
    assert "r" in pair.local_fields()
    assert set(pair.remote.items) == set(before)
    assert str(report.remote) == "+0 ~0 -0"
    # revert removes the new local item (kept in the trash); ignore leaves it
    assert ("l" in pair.local_fields()) == (local_changes == "ignore")


def test_direction_to_remote_never_writes_locally(pair: Pair) -> None:
    synced_pair(pair, 1)
    pair.local.user_add(card("l", "Local new"))
    pair.remote.server_add(card("r", "Remote new"))
    before = dict(pair.local.items)
    pair.sync(direction="to_remote")
    assert pair.local.items == before
    assert "l" in pair.remote_fields()


def test_dry_run_changes_nothing_and_lists_the_plan(pair: Pair, tmp_path: Path) -> None:
    synced_pair(pair, 2)
    pair.local.user_add(card("l", "Local new"))
    deleted_file = pair.local_ident("u1")
    pair.local.user_delete(deleted_file)
    pair.remote.server_add(card("r", "Remote new"))
    pair.remote.server_edit(pair.remote_ident("u0"), card("u0", "Renamed"))
    local_before = dict(pair.local.items)
    remote_before = dict(pair.remote.items)
    db_before = (tmp_path / "pair.db").read_bytes()
    report = pair.sync(dry_run=True)
    assert pair.local.items == local_before
    assert pair.remote.items == remote_before
    assert (tmp_path / "pair.db").read_bytes() == db_before
    planned = {(a.side, a.kind, a.name) for a in report.actions}
    # named as in a real run: by summary, or by file name where the item is gone
    assert planned >= {
        ("local", "add", "Remote new"),
        ("local", "change", "Renamed"),
        ("remote", "add", "Local new"),
        ("remote", "delete", deleted_file),
    }
    assert report.summary().startswith("(dry run)")
    # the stored SyncKey still works: the real run does what was planned
    real = pair.sync()
    assert (real.local.added, real.local.changed, real.remote.added, real.remote.deleted) == (
        1,
        1,
        1,
        1,
    )
    pair.assert_in_sync()


def test_report_json_form(pair: Pair) -> None:
    pair.local.user_add(card("a", "Ada"))
    data = pair.sync().to_dict()
    assert data["ok"] is True
    assert data["remote"] == {"added": 1, "changed": 0, "deleted": 0}
    assert data["summary"].startswith("c: ")
    info = pair.status.collection("c")
    assert info.last_counts is not None
    assert info.last_counts["remote"]["added"] == 1
    assert info.last_error is None


def test_invalid_sync_key_on_push_resyncs_and_still_pushes(pair: Pair) -> None:
    synced_pair(pair, 2)
    pair.local.user_add(card("new", "New"))
    original_pull = pair.remote.pull
    calls = [0]

    def pull_then_lose_state(state: str | None) -> Iterator[Any]:
        yield from original_pull(state)
        calls[0] += 1
        if calls[0] == 1:
            pair.remote.lose_state()

    pair.remote.pull = pull_then_lose_state  # type: ignore[method-assign]
    report = pair.sync()
    pair.remote.pull = original_pull  # type: ignore[method-assign]
    assert report.resynced
    pair.assert_in_sync()
    assert len(pair.remote.items) == 3


def test_item_back_in_the_window_binds_to_its_dormant_row(pair: Pair) -> None:
    synced_pair(pair, 2)
    sid = pair.remote_ident("u0")
    pair.remote.server_hide(sid)
    pair.sync()
    pair.remote.hidden.discard(sid)
    report = pair.sync()
    assert report.local.added == 0
    pair.assert_in_sync()


class NoUidHandler(MemoryHandler):
    """Like EAS tasks: the server cannot hold a UID (MS-ASTASK has none)."""

    def project(self, item: Item, version: str) -> Item:
        projected = super().project(item, version)
        return make_item((k, v) for k, v in parse_lines(projected.raw) if k != "UID")


def test_uid_is_not_written_back_to_a_server_that_cannot_hold_it(tmp_path: Path) -> None:
    handler = NoUidHandler()
    local = MemoryStorage()
    remote = MemoryRemote(store=lambda item: handler.project(item, "14.1"))
    remote.server_add(card(None, "Task"))

    def sync() -> SyncReport:
        return sync_collection(local, remote, handler, status, "c", REMOTE_WINS)

    with Status(tmp_path / "pair.db") as status:
        first = sync()
        assert (first.local.added, first.remote.changed) == (1, 0)
        assert sync().summary().endswith("local +0 ~0 -0, remote +0 ~0 -0")
        ident = next(iter(local.items))
        uid = local.items[ident][0].uid
        local.user_edit(ident, card(uid, "Task", "edited"))
        assert sync().remote.changed == 1
        # the server's echo without a UID is no change
        assert sync().summary().endswith("local +0 ~0 -0, remote +0 ~0 -0")


# --- failures beyond a kill (issue: nothing lost, nothing doubled, every failure told) ---


def test_server_add_whose_local_write_fails_stays_and_is_written_later(pair: Pair) -> None:
    for i in range(3):
        pair.remote.server_add(card(f"r{i}", f"Remote {i}"))
    pair.local.fail_write = lambda item: fields(item)["FN"] == "Remote 1"
    first = pair.sync()
    assert [f.name for f in first.failures] == ["Remote 1"]
    assert first.local.added == 2  # counted: what was written
    second = pair.sync()  # still failing: told again, not forgotten
    assert [f.name for f in second.failures] == ["Remote 1"]
    pair.local.fail_write = lambda item: False
    third = pair.sync()
    assert third.ok
    assert third.local.added == 1
    pair.assert_in_sync()


def test_an_add_acknowledged_without_server_id_is_parked_not_counted(pair: Pair) -> None:
    pair.local.user_add(card("a", "Fine"))
    pair.local.user_add(card("b", "Lost"))
    pair.remote.add_without_id = lambda item: fields(item)["FN"] == "Lost"
    first = pair.sync()
    assert first.remote.added == 1
    assert [(f.name, "without a ServerId" in f.reason) for f in first.failures] == [("Lost", True)]
    requests = pair.remote.requests
    second = pair.sync()
    assert pair.remote.requests == requests + 1  # pulled; the parked Add not sent again
    assert [f.name for f in second.failures] == ["Lost"]
    pair.remote.add_without_id = lambda item: False
    assert pair.sync(retry_parked=True).ok
    pair.assert_in_sync()


def test_a_poison_item_is_isolated_in_a_batch_and_the_rest_goes_up(pair: Pair) -> None:
    pair.remote.max_batch = 8
    for i in range(8):
        pair.local.user_add(card(f"u{i}", "Poison" if i == 5 else f"Fine {i}"))
    pair.remote.poison = lambda item: fields(item)["FN"] == "Poison"
    report = pair.sync()
    assert report.remote.added == 7
    assert [f.name for f in report.failures] == ["Poison"]
    assert "Fatal Error" in report.failures[0].reason
    # 1 pull, the batch, its retry, then halves down to the item: about 2·log2(8)
    assert pair.remote.requests <= 1 + 2 + 2 * 3
    assert sorted(pair.remote.by_uid()) == sorted(f"u{i}" for i in range(8) if i != 5)


def test_a_parked_add_the_server_stored_after_all_is_bound_and_no_longer_told(
    pair: Pair,
) -> None:
    """Horde stores the item, then dies answering (empty body); the resent Add is
    refused as a duplicate: parked. The next pull brings the stored copy: bound, and
    the failure is resolved (not told for ever), with no duplicate."""
    pair.local.user_add(card("h", "Horde"))
    pair.remote.fail_after_apply = lambda item: fields(item)["FN"] == "Horde"
    pair.remote.refuse_reused_client_ids = True
    first = pair.sync()
    assert [f.name for f in first.failures] == ["Horde"]
    assert first.remote.added == 0
    pair.remote.fail_after_apply = lambda item: False
    second = pair.sync()
    assert second.ok, second
    pair.assert_in_sync()
    assert len(pair.remote.items) == 1
    assert pair.sync().ok


def test_a_change_refused_by_the_server_is_parked_until_it_changes(pair: Pair) -> None:
    synced_pair(pair, 2)
    pair.remote.poison = lambda item: fields(item).get("V") == "bad"
    pair.local.user_edit(pair.local_ident("u0"), card("u0", "Person 0", v="bad"))
    first = pair.sync()
    assert [f.name for f in first.failures] == ["Person 0"]
    assert first.remote.changed == 0
    assert not pair.sync().ok  # told again
    pair.local.user_edit(pair.local_ident("u0"), card("u0", "Person 0", v="good"))
    third = pair.sync()
    assert third.ok
    assert third.remote.changed == 1
    pair.assert_in_sync()
