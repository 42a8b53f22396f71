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

from eassync.errors import (
    EassyncError,
    NotFoundError,
    PreconditionFailed,
)
from eassync.model.items import Item
from eassync.sync.index import LocalChange
from eassync.sync.pass_ import (
    PassBase,
    derived_uid,
    new_client_id,
    row_name,
)
from eassync.sync.policy import Resolution
from eassync.sync.status import StatusRow, StatusTx


class Apply(PassBase):
    """Server versions of known items applied locally; server deletes."""

    def _apply_known(self, tx: StatusTx, row: StatusRow, item: Item, remote_hash: str) -> None:
        """A server add/change of an item the status knows."""
        if row.softdeleted or not row.seen:
            tx.update(row.id, softdeleted=0, seen=1)
        # no local file yet for a server item (a write-ahead add, a failed write):
        # the server's version is owed locally even if it did not change
        unwritten = row.local_ident is None
        if remote_hash == row.remote_hash and row.deferred is None and not unwritten:
            return  # the server rewrote it, or echoes our own change: no change
        if row.sent_hash is not None and remote_hash == row.sent_hash:
            # our own Change, whose answer was lost: the server holds our version
            tx.update(
                row.id, remote_hash=remote_hash, sent_hash=None, rejected_hash=None, failure=None
            )
            change = self.index.changes.get(row.local_ident) if row.local_ident else None
            if change is None:
                # the file is back at the old base (edited back since the kill), which
                # the server no longer holds: it goes up again
                tx.update(row.id, needs_push=1)
            elif change.kind == "change" and change.proj_hash == remote_hash:
                # the file is the version the server holds: nothing left to send
                self.index.pop(change.ident)
                tx.update(row.id, local_etag=change.etag, local_hash=change.hash)
            return
        change = self.index.changes.get(row.local_ident) if row.local_ident else None
        if row.deferred is not None and (change is not None or self.direction == "to_remote"):
            tx.update(row.id, deferred=None, deferred_uid=None)
        if change is None:
            if self.direction == "to_remote":
                tx.update(row.id, remote_hash=remote_hash)
                self._ignore_server("change", self._describe(item), row.local_ident, "direction")
                return
            # a kept version stays kept until written (done) or kept anew (failed): a
            # kill between the write-ahead and the record must not lose it
            self._update_local(tx, row, item, remote_hash)
        elif change.kind == "delete":
            if self.direction == "to_remote":
                tx.update(row.id, remote_hash=remote_hash)
                return  # the local delete goes up
            self.index.pop(change.ident)
            self._note(f"{self._describe(item)}: changed on the server, deleted here: restored")
            self._update_local(tx, row, item, remote_hash, gone=True)
        elif change.proj_hash == remote_hash:
            # both sides reached the same content (e.g. a replay after a kill)
            self.index.pop(change.ident)
            tx.update(
                row.id,
                local_etag=change.etag,
                local_hash=change.hash,
                remote_hash=remote_hash,
                uid=change.uid or row.uid,
            )
        else:
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
        resolution: Resolution
        if self.direction == "to_local":
            resolution, name = Resolution("remote"), "direction to_local"
        elif self.direction == "to_remote":
            resolution, name = Resolution("local"), "direction to_remote"
        else:
            name = self.policy.name
            try:
                resolution = self.policy.resolve(local, remote)
            except EassyncError as exc:
                self._fail("local", change.ident, self._describe(local), f"merge failed: {exc}")
                self.index.pop(change.ident)
                self._defer(tx, row, remote, remote_hash)
                return
        if resolution.winner == "error":
            self._conflict(change.uid, local, remote, "unresolved")
            self.index.pop(change.ident)
            self._defer(tx, row, remote, remote_hash)
            return
        self._conflict(change.uid, local, remote, name)
        if resolution.winner == "local":
            # the server holds ``remote`` now; the local change stays queued for upload
            tx.update(row.id, remote_hash=remote_hash)
            return
        if resolution.winner == "merged":
            assert resolution.merged is not None
            merged = resolution.merged
            if change.uid:
                merged = self.handler.with_uid(merged, change.uid)
            self._write_resolved(tx, row, change, merged, remote_hash, keep_queued=True)
            return
        if resolution.winner == "both":
            self._keep_both_copy(tx, change, local)
        # the local version that loses is kept in the trash (keep_both keeps it as a copy)
        lost = local if resolution.winner == "remote" else None
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
        if row is None:
            return
        change = self.index.changes.get(row.local_ident) if row.local_ident else None
        if change is not None and change.kind == "delete":
            self.index.pop(change.ident)
            tx.delete(row.id)
            return
        if self.direction == "to_remote":
            # local side is authoritative: keep the item, forget the server copy
            tx.update(row.id, remote_ident=None, remote_hash=None, deferred=None)
            name = self._local_name(row.local_ident, row_name(row))
            self._ignore_server("delete", name, row.local_ident, "server delete")
            return
        if change is not None and self.direction == "both":
            self.index.pop(change.ident)
            self._readd(tx, row, change.etag, change.hash, change.proj_hash)
            name = self._local_name(change.ident)
            self._note(f"{name}: deleted on the server, changed here: re-added")
            return
        if row.local_ident is None:
            tx.delete(row.id)
            return
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
        if etag != self._known_etag(row) and self.direction == "both":
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
