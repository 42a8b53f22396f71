"""2. The pull: each server batch decided against the status and the local changes.

Kill safety (re-running after a kill at any instant never duplicates, never drops; the
overview is in :mod:`eassync.sync.engine`):

- A pass killed between a batch's write-ahead and its final commit leaves rows
  marked tentative, and maybe the files. The next scan recognises such a file by
  its content (the fingerprint the row announced) and binds it: an added file to its
  row, an updated file as the row's new local state (no user edit). A file whose
  content differs was edited by the user: it stays a local change or a new item.
  The server then replays from the old SyncKey: an item it sends again is decided as
  usual (a file never written is written now); an item it reports deleted is deleted
  locally (trash first) if the file is still the one we wrote; and an added item the
  complete pull never mentions no longer exists on the server (a strict server
  reports nothing for an item created and deleted after the client's key): it is
  treated as deleted too. So a deletion on the server sticks, whenever the kill.
- A remote item without a UID gets a UID derived from collection and ServerId, so a
  replay yields the same UID and is matched. It is written back to the server once
  (where the server can hold one). Matching it to a pending row or an unknown local
  item (lost Add answer, lost status, repair, resync) uses ``bare_hash``: the
  fingerprint of the server copy with a placeholder UID, compared with the same of
  ``project(local)`` — a locally created item carries its own UID, which the server
  (EAS contacts and tasks) cannot return.

SoftDelete (the item left the server's filter window): the local item stays, no
delete is ever propagated; the row stays *dormant* with its ServerId (the server
still holds the item), so a local edit still goes up as a Change and the item's
return to the window (an Add with the same ServerId) binds to the same row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eassync.errors import EassyncError
from eassync.model.items import Item, RemoteChange
from eassync.sync.apply import Apply
from eassync.sync.decide import Case, Do, Local, Row, Server, decide, writes_uid_back
from eassync.sync.index import LocalChange
from eassync.sync.pass_ import derived_uid, row_state
from eassync.sync.resync import Resync
from eassync.sync.status import StatusRow, StatusTx
from eassync.wording import count


class Pull(Apply, Resync):
    """The pull (step 2 of a pass)."""

    def _pull(self) -> None:
        self._replay_deferred()
        for batch in self.remote.pull(self.state):
            changes = self._last_mentions(batch.changes)
            self._check_remote_deletes(changes)

            def decide_all(tx: StatusTx, changes: Sequence[RemoteChange] = changes) -> None:
                # Which items have a row, in one query (a first download has none: no
                # query per item). A known row is read again when its turn comes, as
                # an earlier decision may have rebound it (content match in a
                # resync); an unknown item gets a row only in its own decision.
                known = self.status.known_remote(
                    self.collection, [c.ident for c in changes if c.kind != "delete"]
                )
                for change in changes:
                    row = None
                    if change.ident in known:
                        row = self.status.by_remote(self.collection, change.ident)
                    self._apply_remote(tx, change, row)

            self._batch(decide_all, batch.state)
            self.state = batch.state
            if self.dry_run:
                if batch.more_available:
                    self.report.incomplete = True
                    self._note("dry run: only the first batch of server changes was planned")
                break
        if not self.dry_run:
            self._settle_tentative()
        if self.resyncing:
            self._finish_resync()
        self.pulled = True

    def _last_mentions(self, changes: Sequence[RemoteChange]) -> list[RemoteChange]:
        """One change per server item: its last mention in the batch, which is its
        state now. A server names each item once (MS-ASCMD); a malformed answer that
        names one twice would otherwise be decided twice (two local files for one
        item: the second decision runs before the first one's write)."""
        latest = {change.ident: change for change in changes}
        if len(latest) == len(changes):
            return list(changes)
        self._note(
            f"the server named {count(len(changes) - len(latest))} more than once in one "
            "batch; the last mention of each counts"
        )
        return list(latest.values())

    def _settle_tentative(self) -> None:
        """After a complete pull, write-ahead rows the server did not mention again
        (an earlier pass was killed between its write-ahead and its final commit):
        an added item the replay does not contain no longer exists on the server, as
        if it had sent a Delete; an update keeps the local state it reached."""
        rows = list(self.status.iter_rows(self.collection, "tentative IS NOT NULL"))
        if not rows:
            return

        def decide_all(tx: StatusTx) -> None:
            for row in rows:
                tx.update(row.id, tentative=None, tentative_kind=None)
                if row.deferred is not None:
                    continue  # a kept version's write: replayed next pass, not a delete
                if row.tentative_kind == "add" and row.remote_ident is not None:
                    self._apply_remote_delete(tx, row.remote_ident)

        self._batch(decide_all)

    def _check_remote_deletes(self, changes: Sequence[RemoteChange]) -> None:
        if self.direction == "to_remote":
            return
        for change in changes:
            if change.kind != "delete":
                continue
            row = self.status.by_remote(self.collection, change.ident)
            if row is not None and row.local_ident not in self.index.changes:
                self.remote_deletes += 1
        self._guard(
            self.remote_deletes,
            f"in {self.local.location}",
            f"the server deleted them ({self.remote.location})",
            "check the folder on the server (web mail, another device)",
        )

    def _replay_deferred(self) -> None:
        """Server versions kept from an earlier pass (conflict: error, a local write
        that lost an etag race) are decided again, as if the server sent them now."""
        rows = list(self.status.iter_rows(self.collection, "deferred IS NOT NULL"))
        if not rows:
            return
        if self.resyncing and any(not row.seen for row in rows):
            # the server lost our state: a kept version of an item the full download
            # has not brought again may be gone with the item (a replay would mark
            # the row seen, and the item would never go up again); the download
            # brings the server's current version, if any, decided against no server
            # base (remote_hash held the kept version's hash)
            with self._tx() as tx:
                for row in rows:
                    if not row.seen:
                        tx.update(row.id, deferred=None, deferred_uid=None, remote_hash=None)
            rows = [row for row in rows if row.seen]
            if not rows:
                return

        def decide_all(tx: StatusTx) -> None:
            for row in rows:
                assert row.deferred is not None
                if row.remote_ident is None:
                    tx.update(row.id, deferred=None, deferred_uid=None)
                    continue
                item = Item(row.deferred, row.deferred_uid)
                self._apply_known(tx, row, item, self.handler.fingerprint(item))

        self._batch(decide_all)

    def _apply_remote(self, tx: StatusTx, change: RemoteChange, row: StatusRow | None) -> None:
        """Decide one server change; ``row`` is its status row (None: it has none)."""
        if change.kind == "softdelete":
            soft = Case(Server.SOFT_DELETE, Local.UNCHANGED, row_state(row), self.direction)
            if row is not None and decide(soft) is Do.DORMANT:
                tx.update(row.id, softdeleted=1, seen=1, tentative=None, tentative_kind=None)
            return
        if change.kind == "delete":
            self._apply_remote_delete(tx, change.ident)
            return
        if change.item is None:
            # by its subject where the server sent one (the message starts with it)
            reason = change.error or "unreadable item"
            if change.name:
                reason = reason.removeprefix(f"{change.name}: ")
            self._fail("remote", change.ident, change.name or change.ident, reason)
            return
        item = change.item
        if row is not None and row.tentative is not None:
            # the server still holds the item a killed pass wrote ahead: settled below
            tx.update(row.id, tentative=None, tentative_kind=None)
        missing_uid = not item.uid
        bare_hash: str | None = None
        try:
            if missing_uid:
                bare_hash = self._bare_hash(item, projected=True)
                # write the UID back once, only where the server can keep it
                missing_uid = self._holds_uid(item)
                # a stable UID, so that a replay after a kill yields the same one and
                # the hashes compare equal (servers without UIDs: SOGo tasks, Q6)
                uid = row.uid if row is not None and row.uid else None
                item = self.handler.with_uid(
                    item, uid or derived_uid(self.collection, change.ident)
                )
            remote_hash = self.handler.fingerprint(item)
        except EassyncError as exc:
            self._fail("remote", change.ident, self._describe(item, change.ident), str(exc))
            return
        if row is None:
            match = self.matcher.find(item.uid, remote_hash, bare_hash, item)
            loose = self.matcher.last_loose
            if match is not None and bare_hash and match.uid and match.uid != item.uid:
                # matched by content: the server item takes the local UID, as it
                # would have if it had come from here
                assert change.item is not None
                item = self.handler.with_uid(change.item, match.uid)
                remote_hash = self.handler.fingerprint(item)
            if isinstance(match, LocalChange):
                # equal content with placeholder UIDs: the same item, even where the
                # local file has no UID and the server item was given a derived one
                same = loose or bool(bare_hash and match.bare_hash == bare_hash)
                self._bind_local_new(
                    tx, match, change.ident, item, remote_hash, missing_uid, bare_hash, same=same
                )
                return
            if match is None:
                self._add_local(tx, change.ident, item, remote_hash, missing_uid, bare_hash)
                return
            # a loose match is the server's copy as far as it holds it: its base now
            base: dict[str, Any] = {"remote_hash": remote_hash} if loose else {}
            # a parked Add whose copy the server stored after all (it failed on the
            # answer: Horde's fatal error after storing, horde-notes §5) is resolved;
            # an Add waiting for this pull to be sent as new is not sent
            if match.remote_ident is None:
                base["needs_push"] = 0
            tx.update(
                match.id,
                remote_ident=change.ident,
                pending=None,
                seen=1,
                softdeleted=0,
                bare_hash=bare_hash,
                rejected_hash=None,
                failure=None,
                **base,
            )
            row = self.status.get(match.id) if not self.dry_run else match
            assert row is not None
        elif bare_hash and row.bare_hash != bare_hash:
            tx.update(row.id, bare_hash=bare_hash)
        self._apply_known(tx, row, item, remote_hash)

    def _add_local(
        self,
        tx: StatusTx,
        server_id: str,
        item: Item,
        remote_hash: str,
        missing_uid: bool,
        bare_hash: str | None = None,
    ) -> None:
        # no local item matched it (a matched row or local item is bound instead)
        case = Case(Server.ADD, Local.UNCHANGED, Row.NONE, self.direction)
        if decide(case) is Do.IGNORE:
            self._ignore_server("add", self._describe(item), None, "server add, direction")
            return
        new = self.handler.merge(item, None)
        new_hash = self.handler.fingerprint(new)
        # write-ahead: the row exists before the file, so a pass killed after writing
        # the file knows next time where it came from (_adopt_tentative)
        row_id = tx.insert(
            self.collection,
            uid=new.uid,
            local_hash=new_hash,
            remote_ident=server_id,
            remote_hash=remote_hash,
            # to_local too: the UID goes up once the pair may write to the server
            needs_push=int(writes_uid_back(self.direction, missing_uid)),
            tentative=new_hash,
            tentative_kind="add",
            bare_hash=bare_hash,
        )

        def done(tx: StatusTx, ident: str, etag: str) -> None:
            tx.update(
                row_id, local_ident=ident, local_etag=etag, tentative=None, tentative_kind=None
            )

        def failed(tx: StatusTx, exc: EassyncError) -> None:
            # the row stays with the server's version, retried every pass until the
            # write succeeds (the batch's SyncKey commits: the server will not send it
            # again). Dropping it lost the item for good.
            why = f"cannot store server item: {exc}"
            self._fail("local", None, self._describe(new), f"{why}; retried next pass")
            tx.update(
                row_id,
                tentative=None,
                tentative_kind=None,
                local_hash=None,
                deferred=item.raw,
                deferred_uid=item.uid,
                failure=why,
            )

        self._local_add(new, done, failed)

    def _bind_local_new(
        self,
        tx: StatusTx,
        change: LocalChange,
        server_id: str,
        item: Item,
        remote_hash: str,
        missing_uid: bool,
        bare_hash: str | None = None,
        *,
        same: bool = False,
    ) -> None:
        """A server item matched a local item the status did not know (replay after a
        lost commit, first pass over two filled sides, repair). ``same``: the server's
        copy of it as far as the server holds fields (a loose match)."""
        self.index.pop(change.ident)
        same = same or change.proj_hash == remote_hash
        do = decide(Case(Server.ADD, Local.NEW, Row.NONE, self.direction, same_content=same))
        if do is Do.BIND:
            row_id = tx.insert(
                self.collection,
                uid=change.uid,
                local_ident=change.ident,
                local_etag=change.etag,
                local_hash=change.hash,
                remote_ident=server_id,
                remote_hash=remote_hash,
                bare_hash=bare_hash,
            )
            if writes_uid_back(self.direction, missing_uid):
                tx.update(row_id, needs_push=1)
            return
        # Do.CONFLICT: both sides hold a version and there is no common base. No local
        # etag in the row, so an unresolved conflict is found again by the next scan.
        row_id = tx.insert(
            self.collection,
            uid=change.uid,
            local_ident=change.ident,
            local_etag=None,
            local_hash=None,
            remote_ident=server_id,
            remote_hash=None,
            needs_push=int(writes_uid_back(self.direction, missing_uid)),
            bare_hash=bare_hash,
        )
        change.kind = "change"
        change.row_id = row_id
        self.index.add(change)
        row = self.status.get(row_id) if not self.dry_run else None
        if row is None:  # dry run: the row is not written
            self._act("local", "change", self._describe(item), change.ident, "conflict")
            return
        self._apply_known(tx, row, item, remote_hash)
