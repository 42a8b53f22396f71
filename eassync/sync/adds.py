"""3b. New local items go up as Adds.

Kill safety (re-running after a kill at any instant never duplicates, never drops; the
overview is in :mod:`eassync.sync.engine`):

- An Add is recorded as a *pending* row (with its ClientId and the hash we expect the
  server's copy to have) and committed **before** it is sent. If the answer is lost,
  the next pass first resends the pending Adds with the stored (old) SyncKey and the
  same ClientIds: a server that never echoes a device's own Adds (Exchange, the
  devserver) recognises the repeated request and answers with the items it made
  then. A server that instead replays them in the pull from the old key gets them
  bound to the pending rows by the :class:`Matcher` (UID, else content).

A server that stores parts of an added item apart (Horde: the moved occurrences of a
series as events of their own, their dates deleted from the series) sends those parts
to this device too. The remote reads such an item back after the Add
(``OpResult.stored``); where the handler finds parts stored apart, the server's copy
is kept like a deferred server version, so the next pass takes the server's shape
while its pull brings the parts: nothing is shown twice.
"""

from __future__ import annotations

from itertools import islice

from eassync.errors import EassyncError
from eassync.model.items import Item, OpResult, PushOp
from eassync.sync.decide import Do, answered
from eassync.sync.exchange import Exchange
from eassync.sync.pass_ import new_client_id, reason_of, row_name
from eassync.sync.status import StatusRow, StatusTx
from eassync.wording import count


class Adds(Exchange):
    """New local items sent as Adds."""

    def _unpark(self) -> None:
        """``sync --retry``: every parked item goes up again this pass. A parked Add
        waits until after the pull: a server that stored it after all (and failed on
        the answer) sends its copy, which binds to the row; only an Add still without
        a server copy is sent again (else it would be stored twice)."""
        rows = list(self.status.parked(self.collection))
        if not rows or self.dry_run:
            return
        with self.status.transaction() as tx:
            for row in rows:
                if row.remote_ident is None:
                    self.retry_adds.add(row.id)
                else:
                    tx.update(row.id, rejected_hash=None, needs_push=1)
        self._note(f"{count(len(rows))} parked earlier sent again (--retry)")

    def _requeue_adds(self) -> None:
        """After the pull, Adds that wait for it go up as new ones if no server copy
        claimed them: the parked Adds of ``--retry``, and resent Adds the server
        refused as duplicates (``needs_push`` without a ServerId)."""
        waiting = list(
            self.status.iter_rows(
                self.collection,
                "needs_push = 1 AND remote_ident IS NULL AND pending IS NULL "
                "AND rejected_hash IS NULL",
            )
        )
        if not self.retry_adds and not waiting:
            return
        with self.status.transaction() as tx:
            for row in waiting:
                tx.update(row.id, needs_push=0, pending=new_client_id())
            for row_id in sorted(self.retry_adds):
                found = self.status.get(row_id)
                if found is not None and found.remote_ident is None and found.rejected_hash:
                    tx.update(found.id, rejected_hash=None, pending=new_client_id())
        self.retry_adds.clear()

    def _resend_unanswered_adds(self) -> None:
        """Adds still pending from an earlier pass (killed, or the answer lost) go up
        first, with the stored SyncKey and their ClientIds: a server whose answer was
        lost sees the same request again and answers with the items it created then
        (MS-ASCMD 2.2.3.28; Exchange and the devserver never echo a device's own Adds
        in a pull, so after a pull the resent Adds would be new items)."""
        if self.dry_run or self.direction == "to_local" or self.state is None:
            return
        if self.resyncing or not self.status.count(self.collection, "pending IS NOT NULL"):
            return
        self._push_adds()
        # conflict (server changed it) / retry: the row stays; next pass either
        # restores the server's new version or deletes again

    def _queue_adds(self) -> None:
        """New local items become pending rows, committed before anything is sent."""
        adds = [c for c in self.index.changes.values() if c.kind == "add"]
        for batch in self._batches(adds):
            with self._tx() as tx:
                for change in batch:
                    self.index.pop(change.ident)
                    tx.insert(
                        self.collection,
                        uid=change.uid,
                        local_ident=change.ident,
                        local_etag=change.etag,
                        local_hash=change.hash,
                        remote_hash=change.proj_hash,
                        bare_hash=change.bare_hash or None,
                        pending=new_client_id(),
                    )
                    if self.dry_run:
                        item = self._read_for_match(change.ident)
                        self._act("remote", "add", self._describe(item, change.ident), change.ident)

    def _push_adds(self) -> None:
        if self.dry_run:
            for row in self.status.iter_rows(self.collection, "pending IS NOT NULL"):
                name = self._describe(self._read_for_match(row.local_ident or ""), row_name(row))
                self._act("remote", "add", name, row.local_ident)
            return
        last_id = -1
        size = max(1, self.remote.max_batch)
        while True:
            rows = list(
                islice(
                    self.status.iter_rows(
                        self.collection, "pending IS NOT NULL AND id > ?", (last_id,), chunk=size
                    ),
                    size,
                )
            )
            if not rows:
                return
            last_id = rows[-1].id
            # an Add sent once this pass (the resend before the pull) is not sent
            # again in the same pass: its answer said retry, so the next pass retries
            rows = [row for row in rows if row.id not in self.adds_sent]
            if rows:
                self._push_add_batch(rows)

    def _push_add_batch(self, rows: list[StatusRow]) -> None:
        items = {
            ident: (item, etag)
            for ident, item, etag in self._read_many(r.local_ident for r in rows if r.local_ident)
        }
        ops: list[PushOp] = []
        sent: list[tuple[StatusRow, Item, str, str, str]] = []
        edited_since: dict[int, str] = {}  # row id → the version the lost Add carried
        with self.status.transaction() as tx:
            for row in rows:
                found = items.get(row.local_ident or "")
                if found is None:
                    # gone (or unreadable) locally: the server never acknowledged it
                    if row.local_ident is not None and self._exists(row.local_ident):
                        continue  # unreadable: reported; keep trying next pass
                    tx.delete(row.id)
                    # the local delete is settled with the row: left in the index it
                    # would later delete whatever row reuses this id or file name
                    if row.local_ident is not None:
                        self.index.pop(row.local_ident)
                    continue
                item, etag = found
                try:
                    item_hash, proj_hash = self._hashes(item)
                    bare_hash = self._bare_hash(item)
                except EassyncError as exc:
                    self._fail("local", row.local_ident, row.local_ident or "?", str(exc))
                    continue
                if row.rejected_hash is not None and row.rejected_hash == item_hash:
                    tx.update(row.id, pending=None)
                    continue
                assert row.pending is not None
                expected = proj_hash
                if row.pending in self.client_ids_sent and row.remote_hash is not None:
                    # a resend: a server that knows the ClientId (MS-ASCMD 2.2.3.28) or
                    # ClientUid (MS-ASCAL 2.2.2.11) answers with the item it stored
                    # from the first send, unchanged; that is the copy to expect
                    expected = row.remote_hash
                    if expected != proj_hash:
                        edited_since[row.id] = expected
                # the expected server copy must be known before sending (Matcher)
                tx.update(
                    row.id,
                    uid=item.uid or row.uid,
                    local_etag=etag,
                    local_hash=item_hash,
                    remote_hash=expected,
                    bare_hash=bare_hash,
                )
                ops.append(PushOp("add", row.pending, item))
                sent.append((row, item, etag, item_hash, proj_hash))
        if not ops:
            return
        for results in self._exchange(ops):
            with self.status.transaction() as tx:
                for row, item, _, item_hash, _ in sent:
                    assert row.pending is not None
                    result = results.get(row.pending)
                    if result is None:
                        continue
                    self._added_remote(tx, row, item, item_hash, result)
                    if row.id in edited_since and result.status == "ok" and result.ident:
                        # the server may hold the first version: the edit follows as
                        # a Change in this pass (harmless if it took the new one)
                        tx.update(row.id, needs_push=1)
                tx.set_remote_state(self.collection, self._pushed_state)
            self.state = self._pushed_state

    def _added_remote(
        self, tx: StatusTx, row: StatusRow, item: Item, item_hash: str, result: OpResult
    ) -> None:
        """Record the server's answer to one Add."""
        self.adds_sent.add(row.id)
        resent = row.pending in self.resent
        do = answered("add", result.status, has_ident=bool(result.ident), resent=resent)
        if do is Do.PARKED and result.status == "ok":
            # A successful Add answer carries the ServerId the server assigned
            # (MS-ASCMD 2.2.3.7.2); without one the server did not store it (seen
            # when a server's own backend failed). Parked, never counted as added.
            self._park(
                tx, row, item, item_hash, "the server acknowledged the Add without a ServerId"
            )
        elif do is Do.BIND:
            assert result.ident is not None
            other = self.status.by_remote(self.collection, result.ident)
            if other is not None and other.id != row.id:
                # a ServerId we already hold for another row (a server that
                # answers a repeated ClientId with an old item): the other
                # local item goes up again as its own Add rather than be lost
                tx.update(other.id, remote_ident=None, pending=new_client_id())
            tx.update(
                row.id,
                remote_ident=result.ident,
                pending=None,
                rejected_hash=None,
                # stored in part (a series without its exceptions): sent again whole
                needs_push=int(result.incomplete),
                sent_hash=None,
                failure=None,
            )
            self._act("remote", "add", self._describe(item), row.local_ident)
            if result.apart:
                # sent apart (the server failed on it whole): the parts are bound
                self._take_apart(tx, row, item, result)
            else:
                self._mirror_stored_apart(tx, row, item, result.stored)
            if result.report:
                self._fail("remote", result.ident, self._describe(item), reason_of(result))
        elif do is Do.AWAIT_PULL:
            # A server that refuses a ClientId it saw before (Horde: "Duplicate
            # addition", horde-notes §6) may hold the item from the lost answer: the
            # next pull binds its copy; if none comes, the push after it sends the
            # item as new (never before a pull: a new ClientId would make a second copy).
            # needs_push without a ServerId marks it, persistently: _requeue_adds
            self.adds_sent.discard(row.id)
            tx.update(row.id, pending=None, needs_push=1)
            what = f"the server refused the resent Add ({reason_of(result)}): it may hold the item"
            if self.pulled:
                # after this pass's pull: the next pass settles it, so it is told
                self._fail(
                    "remote",
                    None,
                    self._describe(item),
                    f"{what}; the next sync finds its copy or sends it again",
                )
            else:
                self._note(
                    f"{self._describe(item)}: {what}; matched in the download, or sent again"
                )
        elif do is Do.PARKED:
            self._park(tx, row, item, item_hash, reason_of(result))
        # Do.RETRY (retry/conflict/not_found on an Add): stays pending, sent next pass

    def _mirror_stored_apart(
        self, tx: StatusTx, row: StatusRow, item: Item, stored: Item | None
    ) -> None:
        """A server that stored parts of an added item apart (Horde: each moved
        occurrence of a series as an event of its own, its date deleted from the
        series) sends those parts to every device, this one too, as new items: kept
        as they are here, the local file would still hold them, shown twice. The
        server's copy (read back by the remote) is kept as the item's server version
        not applied yet: the next pass applies it (the moved occurrence leaves the
        file, its date deleted) and the same pull brings the parts, once."""
        stored_apart = getattr(self.handler, "stored_apart", None)
        if stored is None or stored_apart is None:
            return
        try:
            apart = stored_apart(item, stored)
        except EassyncError:
            return
        if not apart:
            return
        tx.update(row.id, deferred=stored.raw, deferred_uid=stored.uid)
        self._note(
            f"{self._describe(item)}: the server keeps {', '.join(apart)} as "
            f"{'an event' if len(apart) == 1 else 'events'} of its own; the next sync "
            "takes the same shape here"
        )
