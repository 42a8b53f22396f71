"""A server add or change of an item the status knows, and a server delete: applied
locally, or met as a conflict (the decision: :mod:`eassync.sync.decide`).

Kill safety (re-running after a kill at any instant never duplicates, never drops; the
overview is in :mod:`eassync.sync.engine`):

- ``keep_both`` derives the copy's UID from the original UID and the local content,
  so a replayed conflict finds the copy made before the kill. Conflict writes have no
  write-ahead row: their result holds a user's change, which the replay meets again
  as a conflict.
- Both sides having reached the same content (a replayed change) is no conflict.

Remote delete of a locally changed item: the local item wins and is re-added to the
server (reported). Remote change of a locally deleted item: the change wins and the
item comes back locally (reported).
"""

from __future__ import annotations

from dataclasses import replace

from eassync.errors import EassyncError, NotFoundError, PreconditionFailed
from eassync.model.items import Item
from eassync.sync.decide import (
    Case,
    Do,
    Local,
    Row,
    Server,
    asks_policy,
    decide,
    drops_kept,
    resolve,
)
from eassync.sync.index import LocalChange
from eassync.sync.pass_ import derived_uid, local_state, new_client_id, row_name, row_state
from eassync.sync.policy import Resolution
from eassync.sync.status import StatusRow, StatusTx
from eassync.sync.writeahead import WriteAhead


class Apply(WriteAhead):
    """Server versions of known items applied locally; server deletes."""

    def _apply_known(self, tx: StatusTx, row: StatusRow, item: Item, remote_hash: str) -> None:
        """A server add/change of an item the status knows."""
        if row.softdeleted or not row.seen:
            tx.update(row.id, softdeleted=0, seen=1)
        change = self.index.changes.get(row.local_ident) if row.local_ident else None
        local = local_state(change)
        case = Case(
            Server.CHANGE,
            local,
            # no local file yet for a server item (a write-ahead add, a failed write):
            # the server's version is owed locally even if it did not change
            Row.UNWRITTEN if row.local_ident is None else Row.BOUND,
            self.direction,
            equals_base=remote_hash == row.remote_hash,
            equals_sent=row.sent_hash is not None and remote_hash == row.sent_hash,
            same_content=(
                change is not None and change.kind != "delete" and change.proj_hash == remote_hash
            ),
            kept=row.deferred is not None,
        )
        do = decide(case)
        if do is Do.NOTHING:
            return  # the server rewrote it, or echoes our own change: no change
        if do in (Do.ECHO_RESEND, Do.ECHO_BIND, Do.ECHO_KEEP):
            # our own Change, whose answer was lost: the server holds our version
            tx.update(
                row.id, remote_hash=remote_hash, sent_hash=None, rejected_hash=None, failure=None
            )
            if do is Do.ECHO_RESEND:
                # the file is back at the old base (edited back since the kill), which
                # the server no longer holds: it goes up again
                tx.update(row.id, needs_push=1)
            elif do is Do.ECHO_BIND:
                # the file is the version the server holds: nothing left to send
                assert change is not None
                self.index.pop(change.ident)
                tx.update(row.id, local_etag=change.etag, local_hash=change.hash)
            return
        if case.kept and drops_kept(self.direction, local):
            tx.update(row.id, deferred=None, deferred_uid=None)
        if do is Do.IGNORE:
            tx.update(row.id, remote_hash=remote_hash)
            self._ignore_server("change", self._describe(item), row.local_ident, "direction")
        elif do is Do.UPDATE_LOCAL:
            # a kept version stays kept until written (done) or kept anew (failed): a
            # kill between the write-ahead and the record must not lose it
            self._update_local(tx, row, item, remote_hash)
        elif do is Do.KEEP_BASE:
            tx.update(row.id, remote_hash=remote_hash)  # the local delete goes up
        elif do is Do.RESTORE_LOCAL:
            assert change is not None
            self.index.pop(change.ident)
            self._note(f"{self._describe(item)}: changed on the server, deleted here: restored")
            self._update_local(tx, row, item, remote_hash, gone=True)
        elif do is Do.BIND:
            # both sides reached the same content (e.g. a replay after a kill)
            assert change is not None
            self.index.pop(change.ident)
            tx.update(
                row.id,
                local_etag=change.etag,
                local_hash=change.hash,
                remote_hash=remote_hash,
                uid=change.uid or row.uid,
            )
        else:
            assert do is Do.CONFLICT
            assert change is not None
            self._resolve_conflict(tx, row, change, item, remote_hash)

    def _update_local(
        self,
        tx: StatusTx,
        row: StatusRow,
        item: Item,
        remote_hash: str,
        *,
        gone: bool = False,
        note: str = "",
    ) -> None:
        old: Item | None = None
        etag = ""
        if not gone and row.local_ident is not None:
            try:
                old, etag = self.local.get(row.local_ident)
            except NotFoundError:
                old = None
            except EassyncError as exc:
                self._fail("local", row.local_ident, row.local_ident, str(exc))
                self._defer(tx, row, item, remote_hash)
                return
            if old is not None and etag != self._known_etag(row):
                # changed since the scan: decide next pass, with the new local version
                self._defer(tx, row, item, remote_hash)
                return
        if not item.uid and row.uid:
            item = self.handler.with_uid(item, row.uid)
        elif not item.uid and not (old and old.uid):
            item = self.handler.with_uid(item, derived_uid(self.collection, row.remote_ident or ""))
        if old is None and self._adopt_local_new(tx, row, item, remote_hash):
            return
        new = self.handler.merge(item, old)
        new_hash = self.handler.fingerprint(new)
        unchanged = old is not None and new_hash == self.handler.fingerprint(old)
        if unchanged and row.local_ident is not None:
            # the server's version merges into the file as it is (fields the server
            # does not keep, a street laid out anew, a UID it cannot hold): it is the
            # new base, and nothing is written
            tx.update(
                row.id, remote_hash=remote_hash, local_etag=etag, deferred=None, deferred_uid=None
            )
            return

        def done(tx: StatusTx, ident: str, new_etag: str) -> None:
            tx.update(
                row.id,
                uid=new.uid or row.uid,
                local_ident=ident,
                local_etag=new_etag,
                local_hash=new_hash,
                remote_hash=remote_hash,
                tentative=None,
                tentative_kind=None,
                failure=None,
                deferred=None,
                deferred_uid=None,
            )

        def failed(tx: StatusTx, exc: EassyncError) -> None:
            failure = None
            if not isinstance(exc, PreconditionFailed):
                failure = f"cannot store server version: {exc}"
                self._fail("local", row.local_ident, self._describe(new), str(exc))
            tx.update(row.id, tentative=None, tentative_kind=None, failure=failure)
            self._defer(tx, row, item, remote_hash)

        if old is None or row.local_ident is None:
            # the row forgets the vanished file until the new one is written
            tx.update(
                row.id,
                local_ident=None,
                local_etag=None,
                local_hash=new_hash,
                tentative=new_hash,
                tentative_kind="add",
            )
            self._local_add(new, done, failed, note or ("restored" if gone else ""))
        else:
            # write-ahead: the row keeps the previous local state until the write is
            # recorded; a file found next time with this content is ours (_scan_local)
            tx.update(row.id, tentative=new_hash, tentative_kind="update")
            self._local_update(row.local_ident, new, etag, done, failed)

    def _adopt_local_new(self, tx: StatusTx, row: StatusRow, item: Item, remote_hash: str) -> bool:
        """Before re-creating a known item locally: a local item with its UID that the
        status does not know (written by a pass killed before its commit) is it."""
        ident = self.index.new_by_uid.get(item.uid or "") if item.uid else None
        if ident is None or self.dry_run:
            return False
        change = self.index.pop(ident)
        assert change is not None
        tx.update(row.id, local_ident=ident, local_etag=None, local_hash=None)
        change.kind, change.row_id = "change", row.id
        self.index.add(change)
        bound = self.status.get(row.id)
        assert bound is not None
        self._apply_known(tx, bound, item, remote_hash)
        return True

    def _resolve_conflict(
        self, tx: StatusTx, row: StatusRow, change: LocalChange, remote: Item, remote_hash: str
    ) -> None:
        try:
            local, etag = self.local.get(change.ident)
        except EassyncError as exc:
            self._fail("local", change.ident, change.ident, str(exc))
            self.index.pop(change.ident)
            self._defer(tx, row, remote, remote_hash)
            return
        if etag != change.etag:
            # edited again since the scan: decide next pass
            self.index.pop(change.ident)
            self._defer(tx, row, remote, remote_hash)
            return
        resolution: Resolution | None = None
        name = f"direction {self.direction}"
        if asks_policy(self.direction):
            name = self.policy.name
            try:
                resolution = self.policy.resolve(local, remote)
            except EassyncError as exc:
                self._fail("local", change.ident, self._describe(local), f"merge failed: {exc}")
                self.index.pop(change.ident)
                self._defer(tx, row, remote, remote_hash)
                return
        do = resolve(self.direction, resolution.winner if resolution is not None else None)
        if do is Do.DEFER:
            self._conflict(change.uid, local, remote, "unresolved")
            self.index.pop(change.ident)
            self._defer(tx, row, remote, remote_hash)
            return
        self._conflict(change.uid, local, remote, name)
        if do is Do.KEEP_BASE:
            # the server holds ``remote`` now; the local change stays queued for upload
            tx.update(row.id, remote_hash=remote_hash)
            return
        if do is Do.MERGE:
            assert resolution is not None
            assert resolution.merged is not None
            merged = resolution.merged
            if change.uid:
                merged = self.handler.with_uid(merged, change.uid)
            self._write_resolved(tx, row, change, merged, remote_hash, keep_queued=True)
            return
        if do is Do.KEEP_BOTH:
            self._keep_both_copy(tx, change, local)
        # the local version that loses is kept in the trash (keep_both keeps it as a copy)
        lost = local if do is Do.UPDATE_LOCAL else None
        self._write_resolved(
            tx,
            row,
            change,
            self.handler.merge(remote, local),
            remote_hash,
            keep_queued=False,
            lost=lost,
        )

    def _write_resolved(
        self,
        tx: StatusTx,
        row: StatusRow,
        change: LocalChange,
        new: Item,
        remote_hash: str,
        *,
        keep_queued: bool,
        lost: Item | None = None,
        note: str = "conflict",
    ) -> None:
        new_hash, proj_hash = self._hashes(new)
        # no write-ahead row: the result holds a local change, which a replay after a
        # kill finds again as a conflict and resolves the same way
        if not keep_queued:
            self.index.pop(change.ident)

        def done(tx: StatusTx, ident: str, new_etag: str) -> None:
            tx.update(row.id, local_etag=new_etag, local_hash=new_hash, remote_hash=remote_hash)
            if keep_queued:
                change.etag, change.hash, change.proj_hash = new_etag, new_hash, proj_hash

        def failed(tx: StatusTx, exc: EassyncError) -> None:
            self._fail("local", change.ident, self._describe(new), str(exc))
            self.index.pop(change.ident)
            self._defer(tx, row, new, remote_hash)

        self._local_update(change.ident, new, change.etag, done, failed, note, lost)

    def _keep_both_copy(self, tx: StatusTx, change: LocalChange, local: Item) -> None:
        copy_uid = derived_uid("keep_both", change.uid or change.ident, change.hash)
        if copy_uid in self.index.new_by_uid or self.status.by_uid(self.collection, copy_uid):
            return  # made by a pass that was killed before its commit
        copy = self.handler.with_uid(local, copy_uid)
        copy_hash, proj_hash = self._hashes(copy)

        # no write-ahead row: a copy written by a killed pass is found by its UID
        def done(tx: StatusTx, ident: str, etag: str) -> None:
            tx.insert(
                self.collection,
                uid=copy_uid,
                local_ident=ident,
                local_etag=etag,
                local_hash=copy_hash,
                remote_hash=proj_hash,
                pending=new_client_id(),
            )

        def failed(tx: StatusTx, exc: EassyncError) -> None:
            self._fail("local", None, self._describe(copy), str(exc))

        self._local_add(copy, done, failed, "keep_both copy")

    def _apply_remote_delete(self, tx: StatusTx, server_id: str) -> None:
        row = self.status.by_remote(self.collection, server_id)
        change = None
        if row is not None and row.local_ident:
            change = self.index.changes.get(row.local_ident)
        case = Case(Server.DELETE, local_state(change), row_state(row), self.direction)
        do = decide(case)
        if do is Do.NOTHING or row is None:
            return
        if do is Do.FORGET:
            if change is not None:
                self.index.pop(change.ident)
            tx.delete(row.id)
            return
        if do is Do.UNBIND:
            # local side is authoritative: keep the item, forget the server copy
            tx.update(row.id, remote_ident=None, remote_hash=None, deferred=None)
            name = self._local_name(row.local_ident, row_name(row))
            self._ignore_server("delete", name, row.local_ident, "server delete")
            return
        if do is Do.READD_REMOTE:
            assert change is not None
            self.index.pop(change.ident)
            self._readd(tx, row, change.etag, change.hash, change.proj_hash)
            name = self._local_name(change.ident)
            self._note(f"{name}: deleted on the server, changed here: re-added")
            return
        assert do is Do.DELETE_LOCAL
        assert row.local_ident is not None
        try:
            old, etag = self.local.get(row.local_ident)
        except NotFoundError:
            tx.delete(row.id)
            return
        except EassyncError as exc:
            # unreadable: never delete what we could not save to the trash first
            self._fail("local", row.local_ident, row.local_ident, f"not deleted: {exc}")
            tx.delete(row.id)
            return
        edited = replace(case, local=Local.CHANGED)
        if etag != self._known_etag(row) and decide(edited) is Do.READD_REMOTE:
            # edited since the scan: keep it and upload it again
            item_hash, proj_hash = self._hashes(old)
            self._readd(tx, row, etag, item_hash, proj_hash)
            return

        def done(tx: StatusTx, ident: str, etag: str) -> None:
            tx.delete(row.id)

        def failed(tx: StatusTx, exc: EassyncError) -> None:
            if isinstance(exc, PreconditionFailed):
                # edited meanwhile: keep it and upload it again
                item_hash, proj_hash = self._hashes(old)
                self._readd(tx, row, etag, item_hash, proj_hash)
                return
            self._fail("local", row.local_ident, self._describe(old), str(exc))

        self._local_delete(row.local_ident, old, etag, done, failed)

    def _readd(
        self, tx: StatusTx, row: StatusRow, etag: str, item_hash: str, proj_hash: str
    ) -> None:
        tx.update(
            row.id,
            remote_ident=None,
            pending=new_client_id(),
            local_etag=etag,
            local_hash=item_hash,
            remote_hash=proj_hash,
            rejected_hash=None,
            softdeleted=0,
            seen=1,
            deferred=None,
            deferred_uid=None,
            needs_push=0,
            sent_hash=None,
        )
