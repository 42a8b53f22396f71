"""Server state lost (``InvalidSyncKey`` from pull or push): resync. The collection is
marked ``resyncing`` and every bound row *unseen*; the full download (SyncKey 0) is
matched to existing rows (by ServerId, then UID, then content) — no duplicates, and
nothing is deleted because of the loss. Rows whose item did not come back are then
**re-uploaded** from the local copy (changed or not): the server may have lost them,
or they were deleted on the server during the gap; we cannot tell, and resurrecting
a deleted item is recoverable while deleting a user's data is not (we report each).
Exception: with ``remote_windowed=True`` (a calendar FilterType window) an item
missing from the download may just be outside the window, so its row goes dormant
(like SoftDelete) instead of being re-uploaded.
"""

from __future__ import annotations

from eassync.sync.decide import Do, missing_after_resync
from eassync.sync.pass_ import PassBase, local_state, new_client_id, row_name
from eassync.sync.status import Status


def request_resync(status: Status, collection: str) -> None:
    """Make the next pass re-download the collection and match it to the status
    (``eassync repair`` when the status is trusted but the server state is not)."""
    with status.transaction() as tx:
        tx.set_collection(collection, remote_state=None, resyncing=1)
        tx.mark_all_unseen(collection)


def forget_collection(status: Status, collection: str) -> None:
    """Drop every row of a collection: the next pass matches both sides by UID and
    content from scratch (``eassync repair`` when the status itself is not trusted)."""
    with status.transaction() as tx:
        tx.delete_collection(collection)


class Resync(PassBase):
    """Resync after the server lost our state."""

    # --- resync -------------------------------------------------------------------------

    def _start_resync(self) -> None:
        self._note("the server lost our sync state: full download, matched by UID/content")
        if self.matcher.loose is not None:
            self.matcher.loose.reset()
        self.report.resynced = True
        request_resync(self.status, self.collection)
        self.state = None
        self.resyncing = True
        self._renew_client_ids()
        self.client_ids_sent.clear()

    def _renew_client_ids(self) -> None:
        """A server spots a resent Add by its ClientId under the SyncKey it was sent
        with (MS-ASCMD 2.2.3.28); after a resync no key of that time is valid, so a
        pending Add is a new Add: a fresh ClientId says so (Horde refuses any ClientId
        it saw before), and the full download binds the copy the server may hold."""
        if self.dry_run:
            return
        with self.status.transaction() as tx:
            for row in self.status.iter_rows(self.collection, "pending IS NOT NULL"):
                tx.update(row.id, pending=new_client_id())

    def _finish_resync(self) -> None:
        with self._tx() as tx:
            for row in self.status.iter_rows(self.collection, "seen = 0"):
                change = self.index.changes.get(row.local_ident) if row.local_ident else None
                do = missing_after_resync(
                    local_state(change),
                    unwritten=row.local_ident is None,
                    dormant=bool(row.softdeleted),
                    windowed=self.remote_windowed,
                )
                if do is Do.DORMANT:
                    tx.update(row.id, softdeleted=1, seen=1)
                    continue
                if change is not None:
                    self.index.pop(change.ident)
                if do is Do.FORGET:
                    tx.delete(row.id)
                else:
                    # hashes are refreshed from the local item just before it is sent
                    tx.update(row.id, remote_ident=None, pending=new_client_id(), seen=1)
                    name = self._local_name(row.local_ident, row_name(row))
                    self._note(f"{name}: missing after resync: re-uploaded")
            tx.set_collection(self.collection, resyncing=0)
        self.resyncing = False
