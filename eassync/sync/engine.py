"""The sync algorithm for one collection of one pair: pure logic over a local
:class:`Storage`, a :class:`RemoteCollection`, a content handler and the status.

One pass (design.md "One EAS pass, in order"):

1. **Local scan.** ``local.changes(token, known etags)``; changed items are read and
   compared by ``fingerprint`` with the status, so a touched-but-equal file is no
   change. A broken local item is reported and skipped, never taken for a deletion.
2. **Pull.** For each server batch, every change is decided against the status and
   the local changes in one transaction. Without local writes that transaction also
   stores the batch's SyncKey. With local writes it is the *write-ahead*: the rows the
   writes will create or update are marked ``tentative`` (the content about to be
   written; "add" or "update") and committed without the SyncKey; then the files are
   written inside the local storage's ``durable_batch()`` (one syncfs per batch); then a second
   transaction records idents and etags, clears the marks and stores the SyncKey.
3. **Push.** The remaining local changes go up in batches of ``remote.max_batch``;
   each answer commits with its new SyncKey.

Where each part lives (and the part of the kill-safety argument it upholds, in that
module's docstring):

- :mod:`eassync.sync.pass_`: the state of a pass and shared helpers; the delete guard
  (Safety); the dry run.
- :mod:`eassync.sync.writeahead`: local writes after a batch's write-ahead commit.
- :mod:`eassync.sync.decide`: the decisions, pure: what becomes of a server change, a
  server delete, a conflict, a local change, given the status row and the direction.
- :mod:`eassync.sync.scan`: 1. the local scan (binding a killed pass's files).
- :mod:`eassync.sync.pull`, :mod:`eassync.sync.apply`: 2. the pull (write-ahead
  replay, UID-less server items, SoftDelete; conflicts, deletes).
- :mod:`eassync.sync.push`, :mod:`eassync.sync.adds`, :mod:`eassync.sync.exchange`:
  3. the push (pending Adds, poison-item isolation, parts stored apart).
- :mod:`eassync.sync.resync`: the server lost our state.
- :mod:`eassync.sync.directions`: ``to_local`` / ``to_remote``.
- :mod:`eassync.sync.matcher`: binding a server item the status cannot place.

Kill safety (re-running after a kill at any instant never duplicates, never drops):
each part of the argument sits in the module that upholds it: the pending Add
(:mod:`~eassync.sync.adds`), the write-ahead and its replay (:mod:`~eassync.sync.scan`,
:mod:`~eassync.sync.pull`), derived UIDs (:mod:`~eassync.sync.pull`), keep_both copies
and equal content (:mod:`~eassync.sync.apply`), resync (:mod:`~eassync.sync.resync`).
"""

from __future__ import annotations

from eassync.errors import InvalidSyncKey
from eassync.model.handler import ItemHandler
from eassync.model.items import RemoteCollection, Storage
from eassync.model.knowledge import HABITS
from eassync.sync.decide import Direction, LocalChanges
from eassync.sync.matcher import Matcher
from eassync.sync.pass_ import (
    BARE_UID,
    MAX_NAMED,
    MAX_RECORDED_FAILURES,
    PARKED_HINT,
    READ_CHUNK,
    UID_NAMESPACE,
    TrashFn,
    derived_uid,
    new_client_id,
)
from eassync.sync.plan import LogReporter, Reporter, SyncReport
from eassync.sync.policy import ConflictPolicy
from eassync.sync.pull import Pull
from eassync.sync.push import Push
from eassync.sync.resync import forget_collection, request_resync
from eassync.sync.scan import LocalScan
from eassync.sync.status import Status

# the public entry; names other modules and tests import from here
__all__ = [
    "BARE_UID",
    "MAX_NAMED",
    "MAX_RECORDED_FAILURES",
    "PARKED_HINT",
    "READ_CHUNK",
    "UID_NAMESPACE",
    "Direction",
    "LocalChanges",
    "Matcher",
    "TrashFn",
    "derived_uid",
    "forget_collection",
    "new_client_id",
    "request_resync",
    "sync_collection",
]


def sync_collection(
    local: Storage,
    remote: RemoteCollection,
    handler: ItemHandler,
    status: Status,
    collection: str,
    policy: ConflictPolicy,
    *,
    direction: Direction = "both",
    dry_run: bool = False,
    force_delete: bool = False,
    max_delete_ratio: float = 0.5,
    min_delete_guard: int = 5,
    trash: TrashFn | None = None,
    version: str = "14.1",
    reporter: Reporter | None = None,
    remote_windowed: bool = False,
    label: str | None = None,
    retry_parked: bool = False,
    local_changes: LocalChanges = "revert",
) -> SyncReport:
    """Sync one collection once. Returns the report; raises SafetyStop, and errors
    that stop the whole collection (transport, auth, a second InvalidSyncKey).
    ``label`` (the folder's display name) is stored for ``eassync status``;
    ``retry_parked``: items parked in earlier passes are sent again; ``local_changes``:
    see :mod:`eassync.sync.directions`."""
    sync = _Pass(
        local=local,
        remote=remote,
        handler=handler,
        status=status,
        collection=collection,
        policy=policy,
        direction=direction,
        dry_run=dry_run,
        force_delete=force_delete,
        max_delete_ratio=max_delete_ratio,
        min_delete_guard=min_delete_guard,
        trash=trash,
        version=version,
        reporter=reporter or LogReporter(),
        remote_windowed=remote_windowed,
        label=label,
        retry_parked=retry_parked,
        local_changes=local_changes,
    )
    return sync.run()


class _Pass(LocalScan, Pull, Push):
    """One pass: the local scan, the pull, the push (each in a module of its own)."""

    # --- the pass -----------------------------------------------------------------------

    def run(self) -> SyncReport:
        info = self.status.collection(self.collection)
        dropped_before: set[str] = set()
        habits_before: set[str] = set()
        if self.knowledge is not None:
            self.knowledge.load(info.slots)
            dropped_before = set(self.knowledge.dropped)
            habits_before = set(self.knowledge.habits)
        self.state = info.remote_state
        self.resyncing = info.resyncing
        self.total_rows = info.items
        if self.resyncing:
            self._renew_client_ids()
        # every Add pending from an earlier pass was (or may have been) sent
        self.client_ids_sent = {
            row.pending
            for row in self.status.iter_rows(self.collection, "pending IS NOT NULL")
            if row.pending is not None
        }
        if self.retry_parked:
            self._unpark()
        self._scan_local(info.local_token)
        self._check_local_deletes()
        if self.direction == "to_local" and self.local_changes == "error":
            self._refuse_local_changes()
        resynced = False
        while True:
            try:
                self._resend_unanswered_adds()
                self._pull()
                self._push()
                break
            except InvalidSyncKey:
                if self.dry_run:
                    self._note("the server lost our sync state; a real run will resync")
                    break
                if resynced:
                    raise
                resynced = True
                self._start_resync()
        self._tell_learnt(dropped_before, habits_before)
        self._finish()
        return self.report

    def _tell_learnt(self, dropped_before: set[str], habits_before: set[str]) -> None:
        """Once per folder, when eassync learns that the server drops fields: which,
        and that their local values are kept (issue: users saw it only at debug); and
        each habit of the server learnt (eassync.model.knowledge.HABITS)."""
        if self.knowledge is None:
            return
        for habit in sorted(self.knowledge.habits - habits_before):
            self._note(HABITS.get(habit, f"the server shows the habit {habit!r}"))
        new = sorted(self.knowledge.dropped - dropped_before)
        if new:
            names = ", ".join(slot.partition(":")[2] or slot for slot in new)
            self._note(
                f"the server does not keep {names} in this folder: the local values are "
                "kept and never overwritten from the server (`eassync status` lists them)"
            )

    # --- end of pass --------------------------------------------------------------------

    def _finish(self) -> None:
        if self.dry_run:
            return
        with self.status.transaction() as tx:
            saved = self._save_knowledge(tx)
            for row_id, etag in self.etag_only.items():
                tx.update(row_id, local_etag=etag)
            # a token would hide skipped local items from the next scan
            if self.local_failures == 0 and self.direction != "to_local":
                tx.set_local_token(self.collection, self.new_token)
            counts = {
                "local": vars(self.report.local),
                "remote": vars(self.report.remote),
                "failures": len(self.report.failures),
                "conflicts": len(self.report.conflicts),
            }
            error = None
            if not self.report.ok:
                error = self.report.summary()
            failures = [
                {"side": f.side, "name": f.name, "reason": f.reason}
                for f in self.report.failures[:MAX_RECORDED_FAILURES]
            ]
            tx.record_pass(self.collection, counts, error, failures)
            if self.label is not None:
                tx.set_collection(self.collection, label=self.label)
        self._knowledge_saved(saved)
