"""A hypothesis state machine over the sync engine (vdirsyncer's model): random
creates, edits and deletes on both sides, syncs with random policies, kills at random
points (a local write, a pull batch, a push whose answer is lost, a status commit),
and lost server state.

Fault steps switch on, for a random subset of items, failures that stay until the
next clean sync: a local write failing (full disk), the server acknowledging an Add
without a ServerId, the server failing on any request holding the item (a poison
item: an HTML page or 5xx). Every pass under faults must report each fault in that
pass, and no pass may claim more adds, changes or deletes than the other side
confirmed (cumulatively: a resent Add is confirmed in a later pass).

A clean sync first stops the faults; then at most three passes (the first with
``--retry`` for parked items) bring both sides to agreement: no duplicates, nothing
lost that nobody deleted; and a further sync must do nothing."""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from eassync.storage.base import Item
from eassync.sync.engine import sync_collection
from eassync.sync.plan import SyncReport
from eassync.sync.policy import ERROR, KEEP_BOTH, LOCAL_WINS, REMOTE_WINS
from eassync.sync.status import Status
from tests.memory import (
    Killed,
    MemoryHandler,
    MemoryRemote,
    MemoryStorage,
    make_item,
    parse_lines,
)

HANDLER = MemoryHandler()
POLICIES = {"remote_wins": REMOTE_WINS, "local_wins": LOCAL_WINS, "keep_both": KEEP_BOTH}
#: ``error`` leaves conflicts unresolved (kept for the next pass): not for clean syncs
ANY_POLICY = {**POLICIES, "error": ERROR}


def server_store(item: Item) -> Item:
    """Like Exchange: keeps only what EAS can hold, and stamps a revision."""
    projected = HANDLER.project(item, "14.1")
    return make_item([*parse_lines(projected.raw), ("REV", "server")])


def fields(item: Item) -> dict[str, str]:
    return dict(parse_lines(item.raw))


class SyncMachine(RuleBasedStateMachine):
    @initialize(window=st.integers(1, 4), batch=st.integers(1, 3))
    def setup(self, window: int, batch: int) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="eassync-sm-"))
        self.local = MemoryStorage()
        self.remote = MemoryRemote(window_size=window, max_batch=batch, store=server_store)
        self.commits_left: int | None = None
        self.status = self._open_status()
        self.counter = 0
        # FN values created and deleted by nobody: must exist after a clean sync
        self.must_exist: set[str] = set()
        # UIDs deleted by the user with no edit on the other side since: must be gone
        self.must_not_exist: set[str] = set()
        self.edited_local: set[str] = set()
        self.edited_remote: set[str] = set()
        # UIDs on both sides after the last clean sync. A deletion counts only for
        # these: an item whose upload answer was lost is re-sent, so deleting it on
        # the server before the next clean sync resurrects it (the safe side).
        self.synced: set[str] = set()
        self.deleted_remote: set[str] = set()
        # what all passes reported, to compare with what the sides confirmed
        self.reported = {"local": dict.fromkeys(("add", "change", "delete"), 0)}
        self.reported["remote"] = dict(self.reported["local"])

    def teardown(self) -> None:
        if hasattr(self, "status"):
            self.status.close()
            shutil.rmtree(self.folder, ignore_errors=True)

    def _open_status(self) -> Status:
        return Status(self.folder / "pair.db", before_commit=self._before_commit)

    def _before_commit(self) -> None:
        if self.commits_left is not None:
            self.commits_left -= 1
            if self.commits_left < 0:
                self.commits_left = None
                raise Killed("killed during a status commit")

    def _name(self) -> str:
        self.counter += 1
        return f"n{self.counter}"

    # --- user actions ---------------------------------------------------------------------

    @rule(local_prop=st.booleans())
    def create_local(self, local_prop: bool) -> None:
        name = self._name()
        lines = {"UID": f"uid-{name}", "FN": name, "V": "0"}
        if local_prop:
            lines["X-LOCAL-NOTE"] = "only here"
        self.local.user_add(make_item(lines))
        self.must_exist.add(name)

    @rule(with_uid=st.booleans())
    def create_remote(self, with_uid: bool) -> None:
        name = self._name()
        lines = {"FN": name, "V": "0"}
        if with_uid:
            lines = {"UID": f"uid-{name}", **lines}
        self.remote.server_add(make_item(lines))
        self.must_exist.add(name)

    @rule(pick=st.integers(0, 1000), value=st.integers(0, 3), local_prop=st.booleans())
    def edit_local(self, pick: int, value: int, local_prop: bool) -> None:
        if not self.local.items:
            return
        ident = sorted(self.local.items)[pick % len(self.local.items)]
        item, _ = self.local.items[ident]
        lines = fields(item)
        lines["V"] = str(value)
        if local_prop:
            lines["X-LOCAL-NOTE"] = f"note {value}"
        self.local.user_edit(ident, make_item(lines))
        if item.uid:
            self.edited_local.add(item.uid)
            self.must_not_exist.discard(item.uid)

    @rule(pick=st.integers(0, 1000), value=st.integers(0, 3))
    def edit_remote(self, pick: int, value: int) -> None:
        if not self.remote.items:
            return
        sid = sorted(self.remote.items)[pick % len(self.remote.items)]
        item = self.remote.items[sid]
        lines = {k: v for k, v in fields(item).items() if k != "REV"}
        lines["V"] = f"r{value}"
        self.remote.server_edit(sid, make_item(lines))
        if item.uid:
            self.edited_remote.add(item.uid)
            self.must_not_exist.discard(item.uid)

    @rule(pick=st.integers(0, 1000))
    def delete_local(self, pick: int) -> None:
        if not self.local.items:
            return
        ident = sorted(self.local.items)[pick % len(self.local.items)]
        item, _ = self.local.items[ident]
        self.local.user_delete(ident)
        self.must_exist.discard(fields(item)["FN"])
        if item.uid in self.synced and item.uid not in self.edited_remote:
            self.must_not_exist.add(item.uid)

    @rule(pick=st.integers(0, 1000))
    def delete_remote(self, pick: int) -> None:
        if not self.remote.items:
            return
        sid = sorted(self.remote.items)[pick % len(self.remote.items)]
        item = self.remote.items[sid]
        self.remote.server_delete(sid)
        self.must_exist.discard(fields(item)["FN"])
        if item.uid in self.synced and item.uid not in self.edited_local:
            self.must_not_exist.add(item.uid)
            self.deleted_remote.add(item.uid)

    @rule()
    def lose_server_state(self) -> None:
        self.remote.lose_state()
        # items missing from the full download are re-uploaded, never deleted
        # locally: a server-side delete made meanwhile is undone (engine docstring)
        self.synced.clear()
        self.must_not_exist -= self.deleted_remote

    # --- syncs ----------------------------------------------------------------------------

    def _sync(self, policy: str, *, retry: bool = False) -> SyncReport:
        faults_before = self._fault_counts()
        report = sync_collection(
            self.local,
            self.remote,
            HANDLER,
            self.status,
            "c",
            ANY_POLICY[policy],
            force_delete=True,
            retry_parked=retry,
        )
        self._check_report(report, faults_before)
        return report

    # --- faults ---------------------------------------------------------------------------

    @rule(
        fault=st.sampled_from(["local_write", "add_without_id", "poison", "fail_after_apply"]),
        modulus=st.integers(2, 4),
        rest=st.integers(0, 3),
    )
    def start_fault(self, fault: str, modulus: int, rest: int) -> None:
        """From now until the next clean sync, items whose number n has n % modulus ==
        rest meet the fault (created before or after this step)."""

        def selected(item: Item) -> bool:
            name = dict(parse_lines(item.raw)).get("FN", "n0")
            return int(name[1:]) % modulus == rest % modulus

        if fault == "local_write":
            self.local.fail_write = selected
        elif fault == "add_without_id":
            self.remote.add_without_id = selected
        elif fault == "fail_after_apply":
            # a Horde-like server, from now on: it also refuses reused ClientIds
            self.remote.fail_after_apply = selected
            self.remote.refuse_reused_client_ids = True
        else:
            self.remote.poison = selected

    def _stop_faults(self) -> None:
        self.local.fail_write = lambda item: False
        self.remote.add_without_id = lambda item: False
        self.remote.poison = lambda item: False
        self.remote.fail_after_apply = lambda item: False

    def _fault_counts(self) -> tuple[int, int, int]:
        return (
            self.local.failed_writes,
            self.remote.adds_without_id,
            self.remote.poisoned_requests,
        )

    def _check_report(self, report: SyncReport, before: tuple[int, int, int]) -> None:
        """Each fault is told in the pass it happened; nothing claimed that did not."""
        writes, no_ids, poisoned = (
            b - a for a, b in zip(before, self._fault_counts(), strict=True)
        )
        local_failures = [f for f in report.failures if f.side == "local"]
        remote_failures = [f for f in report.failures if f.side == "remote"]
        assert len(local_failures) >= (writes > 0), report
        assert len(remote_failures) >= (no_ids > 0), report
        if poisoned:
            assert remote_failures or any("retrying" in n for n in report.notes), report
        for side in ("local", "remote"):
            counts = getattr(report, side)
            tally = self.reported[side]
            tally["add"] += counts.added
            tally["change"] += counts.changed
            tally["delete"] += counts.deleted
        applied = self.remote.applied
        assert self.reported["remote"]["add"] <= applied["add"], (self.reported, applied)
        assert self.reported["remote"]["change"] <= applied["change"], (self.reported, applied)
        assert self.reported["remote"]["delete"] <= applied["delete"], (self.reported, applied)
        written = self.local.written
        assert self.reported["local"]["add"] <= written["add"], (self.reported, written)
        assert self.reported["local"]["change"] <= written["change"], (self.reported, written)
        assert self.reported["local"]["delete"] <= written["delete"], (self.reported, written)

    @rule()
    def sync_with_error_policy(self) -> None:
        self._sync("error")

    @rule(
        policy=st.sampled_from(sorted(ANY_POLICY)),
        fault=st.sampled_from(["local_write", "pull_batch", "push_answer", "commit"]),
        k=st.integers(0, 6),
    )
    def killed_sync(self, policy: str, fault: str, k: int) -> None:
        if fault == "local_write":
            self.local.kill_after_writes = k
        elif fault == "pull_batch":
            self.remote.kill_at_pull_batch = k
        elif fault == "push_answer":
            self.remote.kill_after_push_apply = True
        else:
            self.commits_left = k
        try:
            self._sync(policy)
        except Killed:
            # nothing forgotten: a server delete made between the kill and the re-run
            # (delete_remote) must stick, write-ahead rows tell our files from edits
            pass
        # a new process: faults gone, status reopened from disk
        self.local.kill_after_writes = None
        self.remote.kill_at_pull_batch = None
        self.remote.kill_after_push_apply = False
        self.commits_left = None
        self.status.close()
        self.status = self._open_status()

    @rule(policy=st.sampled_from(sorted(POLICIES)))
    def clean_sync(self, policy: str) -> None:
        self._stop_faults()
        # parked items go up again with --retry; at most three passes to agree
        report = self._sync(policy, retry=True)
        for _ in range(2):
            if report.ok:
                break
            report = self._sync(policy)
        assert report.ok, report
        self._check_agreement()
        again = self._sync(policy)
        assert (again.local.added, again.local.changed, again.local.deleted) == (0, 0, 0), again
        assert (again.remote.added, again.remote.changed, again.remote.deleted) == (0, 0, 0), again
        self.edited_local.clear()
        self.edited_remote.clear()
        self.must_not_exist.clear()
        self.deleted_remote.clear()
        self.synced = set(self.local.by_uid())

    @rule()
    def mirror_sync(self) -> None:
        """``direction: to_local`` with ``local_changes: revert`` (issue 16 item 6): the
        local side becomes the server's again; only local items whose Add is still
        unanswered or parked (never mirrored, never lost) are left beside it."""
        self._stop_faults()
        applied = dict(self.remote.applied)
        report = sync_collection(
            self.local, self.remote, HANDLER, self.status, "c", REMOTE_WINS, direction="to_local"
        )
        assert self.remote.applied == applied, "to_local wrote to the server"
        assert str(report.remote) == "+0 ~0 -0", report
        if not report.ok:
            return  # a server version that failed to convert: told, not mirrored

        # by content with one placeholder UID: a server item without UID (EAS
        # contacts) is not given one on the server by a to_local pass
        def bare(item: Item) -> str:
            return HANDLER.fingerprint(HANDLER.with_uid(HANDLER.project(item, "14.1"), "x"))

        local_items = [item for item, _ in self.local.items.values()]
        local_content = Counter(bare(item) for item in local_items)
        remote_content = Counter(bare(item) for item in self.remote.items.values())
        waiting = {row.uid for row in self.status.iter_rows("c", "remote_ident IS NULL") if row.uid}
        assert not remote_content - local_content, "a server item is not mirrored"
        extra = local_content - remote_content
        assert extra.total() <= sum(item.uid in waiting for item in local_items), extra
        local = self.local.by_uid()
        remote = self.remote.by_uid()
        # the user's expectations start again from the mirrored state
        self.must_exist = {fields(items[0])["FN"] for items in local.values()}
        self.must_not_exist.clear()
        self.edited_local.clear()
        self.edited_remote.clear()
        self.deleted_remote.clear()
        self.synced = set(local) & set(remote)

    def _check_agreement(self) -> None:
        local = self.local.by_uid()
        remote = self.remote.by_uid()
        assert "" not in local, "a local item without UID"
        assert set(local) == set(remote), (sorted(local), sorted(remote))
        for uid in local:
            assert len(local[uid]) == 1, f"local duplicate {uid}"
            assert len(remote[uid]) == 1, f"remote duplicate {uid}"
            expected = HANDLER.fingerprint(HANDLER.project(local[uid][0], "14.1"))
            assert HANDLER.fingerprint(remote[uid][0]) == expected, uid
        names = {fields(items[0])["FN"] for items in local.values()}
        assert self.must_exist <= names, sorted(self.must_exist - names)
        assert not (self.must_not_exist & set(local)), sorted(self.must_not_exist & set(local))

    @invariant()
    def status_is_consistent(self) -> None:
        if not hasattr(self, "status"):
            return
        # every row's local ident is unique (enforced) and points at a local item
        # or at one the next scan will report as deleted: nothing to check beyond
        # the schema here; but no row may be bound without a local side, except a
        # write-ahead row whose file a killed pass may or may not have written
        # a server item whose local write failed waits with its version (deferred),
        # or, during a resync, for the full download to bring it again
        if self.status.collection("c").resyncing:
            return
        unbound = "local_ident IS NULL AND tentative IS NULL AND deferred IS NULL"
        assert self.status.count("c", unbound) == 0


TestSyncStateMachine = SyncMachine.TestCase
TestSyncStateMachine.settings = settings(
    max_examples=600,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_local_delete_of_an_add_whose_answer_was_lost_touches_no_other_item() -> None:
    """Found by the machine: the pending row of the unanswered Add is dropped when its
    file is gone, the server's copy comes back in the pull under a row that reuses the
    id, and the stale local delete must not delete that copy on the server."""
    state = SyncMachine()
    state.setup(window=1, batch=1)
    state.create_local(local_prop=False)
    state.killed_sync(fault="push_answer", k=0, policy="error")
    state.delete_local(pick=0)
    state.clean_sync(policy="keep_both")
    state.teardown()


def test_a_kept_server_version_of_an_item_gone_in_a_resync_is_uploaded_again() -> None:
    """Found by the machine with more steps: a conflict left unresolved keeps the
    server's version (deferred); the server then lost its state and deleted the item.
    Replaying the kept version during the resync marked the row as seen, so the item
    was never uploaded again and the two sides disagreed for good."""
    state = SyncMachine()
    state.setup(window=1, batch=1)
    state.create_local(local_prop=False)
    state.sync_with_error_policy()
    state.edit_remote(pick=0, value=0)
    state.edit_local(local_prop=True, pick=0, value=0)
    state.sync_with_error_policy()
    state.lose_server_state()
    state.delete_remote(pick=0)
    state.sync_with_error_policy()
    state.clean_sync(policy="keep_both")
    state.teardown()


def test_a_file_edited_back_after_a_lost_change_answer_goes_up_again() -> None:
    """Found by the machine: the server applied a Change whose answer was lost; the
    user then edited the file back to the old base. The server's echo of our Change
    was taken as done and the old base, now different from the server, never went up."""
    state = SyncMachine()
    state.setup(window=1, batch=1)
    state.create_local(local_prop=False)
    state.sync_with_error_policy()
    state.edit_local(local_prop=False, pick=0, value=1)
    state.killed_sync(fault="push_answer", k=0, policy="error")
    state.edit_local(local_prop=False, pick=0, value=0)
    state.clean_sync(policy="keep_both")
    state.teardown()


def test_a_server_version_whose_kept_write_was_killed_is_not_taken_for_a_delete() -> None:
    """Found by the machine: a server item whose local write failed is kept; a pass
    replays it, is killed between the write-ahead and the record, and the next pass
    took the unwritten row for an item deleted on the server."""
    state = SyncMachine()
    state.setup(window=1, batch=1)
    state.create_local(local_prop=False)
    state.start_fault(fault="local_write", modulus=2, rest=0)
    state.create_remote(with_uid=False)
    state.killed_sync(fault="local_write", k=0, policy="error")
    state.killed_sync(fault="commit", k=1, policy="error")
    state.clean_sync(policy="keep_both")
    state.teardown()


def test_a_resent_add_refused_as_a_duplicate_is_matched_or_sent_as_new() -> None:
    """Found by the machine: a Horde-like server refuses a ClientId it saw before.
    An Add whose answer was lost, then deleted on the server (and its state lost),
    must go up again as a new item, not stay parked."""
    state = SyncMachine()
    state.setup(window=1, batch=1)
    state.create_local(local_prop=False)
    state.start_fault(fault="fail_after_apply", modulus=2, rest=0)
    state.killed_sync(fault="push_answer", k=0, policy="error")
    state.lose_server_state()
    state.delete_remote(pick=0)
    state.clean_sync(policy="keep_both")
    state.teardown()


def test_a_parked_change_the_server_stored_after_all_lets_a_local_delete_through() -> None:
    """Found by the machine: a Change the server stored before failing came back in
    the pull; taken for someone else's edit, it undid the user's local delete."""
    state = SyncMachine()
    state.setup(window=1, batch=1)
    state.create_local(local_prop=False)
    state.create_remote(with_uid=False)
    state.clean_sync(policy="keep_both")
    state.delete_local(pick=0)
    state.edit_local(local_prop=False, pick=0, value=1)
    state.start_fault(fault="fail_after_apply", modulus=2, rest=1)
    state.sync_with_error_policy()
    state.delete_local(pick=0)
    state.clean_sync(policy="keep_both")
    state.teardown()


def test_an_edit_made_after_a_lost_add_answer_reaches_the_server() -> None:
    """Found by the machine: the resent Add of an edited item is answered with the
    copy the server stored from the lost answer (it knows the ClientId), so the
    edit must follow as a Change instead of being taken as stored."""
    state = SyncMachine()
    state.setup(window=1, batch=1)
    state.create_local(local_prop=False)
    state.killed_sync(fault="push_answer", k=0, policy="error")
    state.edit_local(local_prop=False, pick=0, value=1)
    state.killed_sync(fault="pull_batch", k=0, policy="error")
    state.clean_sync(policy="keep_both")
    state.teardown()


def test_an_edit_between_two_lost_add_answers_reaches_the_server() -> None:
    """Found by the machine: the copy to expect stays the first send's, however
    often the Add is resent."""
    state = SyncMachine()
    state.setup(window=1, batch=1)
    state.create_local(local_prop=False)
    state.killed_sync(fault="push_answer", k=0, policy="error")
    state.edit_local(local_prop=False, pick=0, value=1)
    state.killed_sync(fault="push_answer", k=0, policy="error")
    state.clean_sync(policy="keep_both")
    state.teardown()


def test_an_add_lost_then_deleted_on_a_reset_server_goes_up_once() -> None:
    """Found by the machine: the server forgets the sync state after a lost Add
    answer and its copy is deleted there; the edited item goes up once, as it is."""
    state = SyncMachine()
    state.setup(window=1, batch=1)
    state.create_local(local_prop=False)
    state.edit_local(local_prop=False, pick=0, value=1)
    state.killed_sync(fault="push_answer", k=0, policy="error")
    state.lose_server_state()
    state.delete_remote(pick=0)
    state.edit_local(local_prop=False, pick=0, value=0)
    state.clean_sync(policy="keep_both")
    state.teardown()


def test_an_unresolved_conflict_never_pushes_a_uid_write_back_over_the_server_edit() -> None:
    """Found by the machine: a to_local pass gives a UID-less server item a UID to write
    back later; an error-policy conflict on that item then sent the local version up
    anyway, over the server's edit."""
    state = SyncMachine()
    state.setup(window=1, batch=1)
    state.create_remote(with_uid=False)
    state.mirror_sync()
    state.edit_remote(pick=0, value=0)
    state.edit_local(local_prop=False, pick=0, value=1)
    state.sync_with_error_policy()
    state.clean_sync(policy="keep_both")
    state.teardown()


def test_a_mirror_after_an_unresolved_conflict_holds_the_server_edit() -> None:
    """The same, then a to_local pass: the server's edit is mirrored, not lost."""
    state = SyncMachine()
    state.setup(window=1, batch=1)
    state.create_remote(with_uid=False)
    state.mirror_sync()
    state.edit_remote(pick=0, value=0)
    state.edit_local(local_prop=False, pick=0, value=1)
    state.sync_with_error_policy()
    state.mirror_sync()
    state.teardown()
