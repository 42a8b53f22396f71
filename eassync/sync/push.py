"""3. The push: local changes and deletions go up in batches of ``remote.max_batch``;
each answer commits with its new SyncKey. Adds: :mod:`eassync.sync.adds`; the
exchange itself: :mod:`eassync.sync.exchange`. What goes up, and what each answer
makes of the item, is decided in :mod:`eassync.sync.decide` (``decide`` with nothing
from the server, ``answered``); here it is carried out.
"""

from __future__ import annotations

from dataclasses import replace

from eassync.model.items import Item, OpResult, PushOp
from eassync.sync.adds import Adds
from eassync.sync.decide import Case, Do, Local, Server, answered, decide
from eassync.sync.directions import Directions
from eassync.sync.pass_ import new_client_id, reason_of, row_name, row_state
from eassync.sync.status import StatusRow, StatusTx


class Push(Adds, Directions):
    """The push (step 3 of a pass)."""

    # --- 3. push ------------------------------------------------------------------------

    def _push(self) -> None:
        self._tell_server_ignored()
        if self.direction == "to_local":
            if self.local_changes == "ignore":
                self._tell_ignored()
            else:
                self._revert_local()
            return
        if self.state is None:
            self._note("the server gave no SyncKey; local changes wait for the next pass")
            return
        self._push_changes()
        self._push_deletes()
        self._requeue_adds()
        self._queue_adds()
        self._push_adds()
        self._tell_parked()

    def _push_changes(self) -> None:
        targets: list[tuple[int, str]] = []  # (row id, local ident)
        for change in list(self.index.changes.values()):
            if change.kind != "change" or change.row_id is None:
                continue
            row = self.status.get(change.row_id)
            case = Case(Server.NOTHING, Local.CHANGED, row_state(row), self.direction)
            refused = row is not None and row.rejected_hash == change.hash
            do = decide(replace(case, refused=refused))
            if do is Do.NOTHING or row is None:
                continue
            if do is Do.PARKED:
                self.index.pop(change.ident)
                continue  # refused before in this very form: not resent
            if do is Do.ADD_REMOTE:
                # no server copy (refused add, ignored delete): it goes up as an Add
                self.index.pop(change.ident)
                if row.pending is None and not self.dry_run:
                    with self.status.transaction() as tx:
                        tx.update(row.id, pending=new_client_id())
                continue
            targets.append((row.id, change.ident))
        # a row holding a server version not yet applied (an unresolved conflict, a
        # kept version) is not pushed over it: that would drop the server's edit
        for row in self.status.iter_rows(
            self.collection, "needs_push = 1 AND remote_ident IS NOT NULL AND deferred IS NULL"
        ):
            if row.local_ident is not None and row.local_ident not in self.index.changes:
                targets.append((row.id, row.local_ident))
        for batch in self._batches(targets):
            self._push_change_batch(batch)

    def _push_change_batch(self, batch: list[tuple[int, str]]) -> None:
        rows = {row_id: self.status.get(row_id) for row_id, _ in batch}
        items = {ident: (item, etag) for ident, item, etag in self._read_many(i for _, i in batch)}
        ops: list[PushOp] = []
        sent: list[tuple[StatusRow, Item, str]] = []
        for row_id, ident in batch:
            row = rows[row_id]
            if row is None or row.remote_ident is None or ident not in items:
                self.index.pop(ident)
                continue
            item, etag = items[ident]
            ops.append(PushOp("change", row.remote_ident, item))
            sent.append((row, item, etag))
            if self.dry_run:
                self._act("remote", "change", self._describe(item), row.remote_ident)
        if not ops or self.dry_run:
            for _, ident in batch:
                self.index.pop(ident)
            return
        with self.status.transaction() as tx:
            # committed before sending, so a lost answer's replay is known as ours
            for row, item, _ in sent:
                tx.update(row.id, sent_hash=self._hashes(item)[1])
        for results in self._exchange(ops):
            with self.status.transaction() as tx:
                for row, item, etag in sent:
                    assert row.remote_ident is not None
                    assert row.local_ident is not None
                    result = results.get(row.remote_ident)
                    if result is None:
                        continue  # answered by another request of the isolation
                    self.index.pop(row.local_ident)
                    self._changed_remote(tx, row, item, etag, result)
                tx.set_remote_state(self.collection, self._pushed_state)
                # a habit learnt from this answer (a server that moves a series) is
                # kept with it: a pass killed now must not do that harm again
                saved = self._save_knowledge(tx)
            self._knowledge_saved(saved)
            self.state = self._pushed_state

    def _changed_remote(
        self, tx: StatusTx, row: StatusRow, item: Item, etag: str, result: OpResult
    ) -> None:
        """Record the server's answer to one Change."""
        item_hash, proj_hash = self._hashes(item)
        if result.status != "ok":
            # parts the remote added all the same are the server's items: never lost
            self._bind_apart(tx, result)
        do = answered("change", result.status)
        if do is Do.BIND:
            tx.update(
                row.id,
                local_etag=etag,
                local_hash=item_hash,
                remote_hash=proj_hash,
                rejected_hash=None,
                uid=item.uid or row.uid,
                needs_push=0,
                sent_hash=None,
                failure=None,
            )
            self._act("remote", "change", self._describe(item), row.remote_ident)
            self._take_apart(tx, row, item, result)
        elif do is Do.RETRY:
            if result.report:
                # a retry the user must hear of (a series the server moved and that
                # could not be put back): the change is sent again next pass
                self._fail("remote", row.remote_ident, self._describe(item), reason_of(result))
        elif do is Do.AWAIT_PULL:
            # Conflict=1: the server's version wins this round and comes in the
            # next pull as a change of a (now) locally unchanged item
            tx.update(row.id, local_etag=etag, local_hash=item_hash)
            self._conflict(row.uid, item, item, "server won (Status 7)")
        elif do is Do.READD_REMOTE:
            # the server item is gone: upload the local item as a new one
            tx.update(
                row.id,
                remote_ident=None,
                pending=new_client_id(),
                local_etag=etag,
                local_hash=item_hash,
                remote_hash=proj_hash,
            )
            self._note(f"{self._describe(item)}: gone from the server: re-added")
        else:
            assert do is Do.PARKED
            self._park(tx, row, item, item_hash, reason_of(result))

    def _push_deletes(self) -> None:
        targets: list[StatusRow] = []
        for change in list(self.index.changes.values()):
            if change.kind != "delete" or change.row_id is None:
                continue
            row = self.status.get(change.row_id)
            self.index.pop(change.ident)
            do = decide(Case(Server.NOTHING, Local.DELETED, row_state(row), self.direction))
            if do is Do.NOTHING or row is None:
                continue
            if do is Do.FORGET:
                # never reached the server (or its Add is unanswered and unmatched)
                with self._tx() as tx:
                    tx.delete(row.id)
                continue
            targets.append(row)
        for batch in self._batches(targets):
            if self.dry_run:
                for row in batch:
                    self._act("remote", "delete", row_name(row), row.remote_ident)
                continue
            ops = [PushOp("delete", r.remote_ident or "") for r in batch]
            for results in self._exchange(ops):
                with self.status.transaction() as tx:
                    for row in batch:
                        result = results.get(row.remote_ident or "")
                        if result is not None:
                            self._deleted_remote(tx, row, result)
                    tx.set_remote_state(self.collection, self._pushed_state)
                self.state = self._pushed_state

    def _deleted_remote(self, tx: StatusTx, row: StatusRow, result: OpResult) -> None:
        """Record the server's answer to one Delete."""
        do = answered("delete", result.status)
        if do is Do.FORGET:
            tx.delete(row.id)
            if result.status == "ok":  # not_found: gone already, nothing we did
                self._act("remote", "delete", row_name(row), row.remote_ident)
            elif result.status == "rejected":
                # the server keeps it; we forget it rather than retry forever
                self._fail("remote", row.remote_ident, row_name(row), reason_of(result))
        elif result.status == "failed":
            # the row stays: the deletion is found and sent again next pass
            tx.update(row.id, failure=reason_of(result))
            self._fail("remote", row.remote_ident, row_name(row), reason_of(result))
