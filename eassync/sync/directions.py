"""Directions: ``to_local`` never writes to the server; the local side is a copy of the
server, and ``local_changes`` says what becomes of changes made there (vdirsyncer's
``partial_sync``): ``revert`` (the default) after the pull overwrites a local edit with
the server's version (fetched: the status holds no content), restores a deleted item
and removes a new one, each replaced or removed local version kept in the trash;
``ignore`` leaves them (the status keeps the old base, so they are found again) and
says so in one note per pass; ``error`` stops the pass before anything is written,
naming them (:class:`LocalChangesRefused`). A server change of a locally changed item
overwrites it either way (the server wins every conflict; the local version goes to
the trash, as for ``remote_wins``). A UID given to a server item is written back once
the pair may write to the server (``needs_push``).
``to_remote`` never writes locally: server changes are not applied (the status
records the server's new hash; server adds are ignored), told in one note in the pass
that receives them (each as an ``ignore`` action), and the local side wins every
conflict.
"""

from __future__ import annotations

from eassync.errors import (
    AuthError,
    EassyncError,
    LocalChangesRefused,
    NotFoundError,
    PreconditionFailed,
    TransientError,
)
from eassync.model.items import Item
from eassync.sync.apply import Apply
from eassync.sync.decide import Case, Do, Row, Server, decide
from eassync.sync.index import LocalChange
from eassync.sync.pass_ import MAX_NAMED, derived_uid, local_state, row_name, row_state
from eassync.sync.status import StatusRow, StatusTx


class Directions(Apply):
    """What one-way directions do with the other side's changes."""

    def _tell_server_ignored(self) -> None:
        """One line per pass for the server changes ``to_remote`` did not apply (each
        item with -v): the server sends a change once, so this is the one time."""
        n = sum(self.server_ignored.values())
        if not n:
            return
        parts = [
            f"{self.server_ignored[kind]} {word}"
            for kind, word in (("change", "edited"), ("add", "new"), ("delete", "deleted"))
            if self.server_ignored.get(kind)
        ]
        self._note(
            f"{n} server change{'' if n == 1 else 's'} not applied ({', '.join(parts)}): "
            "direction is to_remote"
        )
        self.server_ignored.clear()  # told once, even if a resync runs the push again

    # --- direction to_local: changes made locally -----------------------------------

    def _change_counts(self) -> str:
        """``3 local changes (1 edited, 1 new, 1 deleted)``."""
        changes = list(self.index.changes.values())
        parts = []
        for kind, word in (("change", "edited"), ("add", "new"), ("delete", "deleted")):
            n = sum(1 for c in changes if c.kind == kind)
            if n:
                parts.append(f"{n} {word}")
        n = len(changes)
        return f"{n} local change{'' if n == 1 else 's'} ({', '.join(parts)})"

    def _refuse_local_changes(self) -> None:
        """``local_changes: error``: the pass stops before anything is written."""
        changes = [
            c
            for c in self.index.changes.values()
            if decide(Case(Server.NOTHING, local_state(c), Row.BOUND, "to_local", "error"))
            is Do.REFUSE
        ]
        if not changes:
            return
        # an edited or new item by its summary; a deleted one by its file name
        names = [self._local_name(c.ident, c.ident) for c in changes[:MAX_NAMED]]
        more = f" and {len(changes) - MAX_NAMED} more" if len(changes) > MAX_NAMED else ""
        raise LocalChangesRefused(
            f"{self._change_counts()} in {self.local.location}, which direction to_local "
            f"keeps as a copy of the server: {', '.join(names)}{more}",
            hint="undo them, or set local_changes: revert (the server's versions replace "
            "them, the local ones go to the trash) or local_changes: ignore (they stay, "
            "not sent) in the pair's config",
        )

    def _tell_ignored(self) -> None:
        """``local_changes: ignore``: one line per pass, not one per item."""
        if self.index.changes:
            self._note(
                f"{self._change_counts().replace(' (', ' not sent (', 1)}: direction is "
                "to_local and local_changes is ignore"
            )

    def _revert_local(self) -> None:
        """``local_changes: revert`` (after the pull, so the rows are current): an edit
        is overwritten by the server's version, a deleted item is restored, a new item
        is removed; each local version replaced or removed is kept in the trash.
        vdirsyncer's ``partial_sync: revert`` of a read-only side."""
        changes = list(self.index.changes.values())
        if not changes:
            return

        def decide_all(tx: StatusTx) -> None:
            for change in changes:
                if self.index.pop(change.ident) is None:
                    continue  # settled by an earlier decision of this loop
                row = self.status.get(change.row_id) if change.row_id is not None else None
                case = Case(Server.NOTHING, local_state(change), row_state(row), "to_local")
                do = decide(case)
                if do is Do.DELETE_LOCAL:
                    self._revert_new(change, row)
                elif row is None:
                    continue  # Do.NOTHING: a deleted item no row knows
                elif do is Do.FORGET:
                    tx.delete(row.id)  # nothing on the server to restore
                elif do is Do.RESTORE_LOCAL:
                    fetched = self._fetch(row)
                    if fetched is not None:
                        self._update_local(tx, row, *fetched, gone=True, note="reverted")
                else:
                    assert do is Do.UPDATE_LOCAL
                    fetched = self._fetch(row)
                    if fetched is not None:
                        self._revert_edit(tx, row, change, *fetched)

        self._batch(decide_all)

    def _fetch(self, row: StatusRow) -> tuple[Item, str] | None:
        """The server's version of a row's item and its hash (as a pull computes it)."""
        assert row.remote_ident is not None
        name = self._local_name(row.local_ident, row_name(row))
        try:
            fetched = self.remote.fetch(row.remote_ident)
        except (TransientError, AuthError):
            raise
        except NotFoundError:
            self._note(f"{name}: not reverted, the server no longer holds it (next sync)")
            return None
        except EassyncError as exc:
            self._fail("remote", row.remote_ident, name, f"not reverted: {exc}")
            return None
        if fetched.item is None:
            self._fail("remote", row.remote_ident, name, f"not reverted: {fetched.error}")
            return None
        item = fetched.item
        if not item.uid:
            item = self.handler.with_uid(
                item, row.uid or derived_uid(self.collection, row.remote_ident)
            )
        return item, self.handler.fingerprint(item)

    def _revert_edit(
        self, tx: StatusTx, row: StatusRow, change: LocalChange, remote: Item, remote_hash: str
    ) -> None:
        try:
            local, etag = self.local.get(change.ident)
        except EassyncError as exc:
            self._fail("local", change.ident, change.ident, f"not reverted: {exc}")
            return
        if etag != change.etag:
            return  # edited again since the scan: next pass
        merged = self.handler.merge(remote, local)
        self._write_resolved(
            tx, row, change, merged, remote_hash, keep_queued=False, lost=local, note="reverted"
        )

    def _revert_new(self, change: LocalChange, row: StatusRow | None) -> None:
        try:
            item, etag = self.local.get(change.ident)
        except NotFoundError:
            return
        except EassyncError as exc:
            self._fail("local", change.ident, change.ident, f"not reverted: {exc}")
            return

        def done(tx: StatusTx, ident: str, etag: str) -> None:
            if row is not None:
                tx.delete(row.id)

        def failed(tx: StatusTx, exc: EassyncError) -> None:
            if not isinstance(exc, PreconditionFailed):  # edited meanwhile: next pass
                self._fail("local", change.ident, self._describe(item, change.ident), str(exc))

        self._local_delete(change.ident, item, etag, done, failed, note="reverted")
