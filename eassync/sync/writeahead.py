"""Local writes after a write-ahead commit (step 2 of a pass, and the reverts of
``to_local``).

A batch is decided in one transaction. Without local writes that transaction also
stores the batch's SyncKey. With local writes it is the *write-ahead*: the rows the
writes will create or update are marked ``tentative`` (the content about to be
written; "add" or "update") and committed without the SyncKey; then the files are
written inside the local storage's ``durable_batch()`` (one syncfs per batch); then a
second transaction records idents and etags, clears the marks and stores the SyncKey.
A pass killed in between leaves the marks, which the next scan and pull settle
(:mod:`eassync.sync.scan`, :mod:`eassync.sync.pull`). A dry run only reports the writes.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from eassync.errors import EassyncError
from eassync.model.items import Item
from eassync.sync.pass_ import PassBase, Write
from eassync.sync.plan import Action
from eassync.sync.status import StatusTx

#: records a local write that happened (status transaction, local ident, etag)
Done = Callable[[StatusTx, str, str], None]
#: records a local write that failed
Failed = Callable[[StatusTx, EassyncError], None]


class WriteAhead(PassBase):
    """Local writes planned in a batch's decision, performed after its commit."""

    # Each local write is planned for after the batch's write-ahead commit (see
    # _batch); a dry run only reports it.

    def _plan(
        self,
        perform: Callable[[], tuple[str, str]],
        done: Done,
        failed: Failed,
        action: Action,
    ) -> None:
        """A dry run reports the action now; a real pass once the write happened."""
        if self.dry_run:
            self._record(action)
            return

        def reported(tx: StatusTx, ident: str, etag: str) -> None:
            done(tx, ident, etag)
            self._record(action)

        self.writes.append(Write(perform, reported, failed))

    def _local_add(
        self,
        item: Item,
        done: Done,
        failed: Failed,
        note: str = "",
    ) -> None:
        action = Action("local", "add", self._describe(item), None, note)
        self._plan(lambda: self.local.add(item), done, failed, action)

    def _local_update(
        self,
        ident: str,
        item: Item,
        etag: str,
        done: Done,
        failed: Failed,
        note: str = "",
        lost: Item | None = None,
    ) -> None:
        """``lost``: the local version this write replaces, kept in the trash first."""
        action = Action("local", "change", self._describe(item), ident, note)

        def perform() -> tuple[str, str]:
            if lost is not None and self.trash is not None:
                self.trash(ident, lost)
            return ident, self.local.update(ident, item, etag)

        self._plan(perform, done, failed, action)

    def _local_delete(
        self,
        ident: str,
        item: Item,
        etag: str,
        done: Done,
        failed: Failed,
        note: str = "",
    ) -> None:
        def perform() -> tuple[str, str]:
            if self.trash is not None:
                self.trash(ident, item)
            self.local.delete(ident, etag)
            return ident, ""

        action = Action("local", "delete", self._describe(item, ident), ident, note)
        self._plan(perform, done, failed, action)

    def _durable_batch(self) -> AbstractContextManager[None]:
        """Files a storage writes become durable together at the end of a batch, before
        the status records them (a storage without files has nothing to batch)."""
        batch = getattr(self.local, "durable_batch", None)
        return nullcontext() if batch is None else batch()

    def _batch(self, decide: Callable[[StatusTx], None], state: str | None = None) -> None:
        """Decide a batch in one transaction; if it planned local writes, that commit
        is the write-ahead (rows marked ``tentative``, the SyncKey not advanced), the
        writes follow inside one :func:`durable_batch`, and a second transaction
        records them with ``state``. Without local writes: one transaction."""
        assert not self.writes
        store_state = state is not None
        with self._tx() as tx:
            decide(tx)
            if store_state and not self.writes:
                tx.set_remote_state(self.collection, state)
            saved = self._save_knowledge(tx)
        self._knowledge_saved(saved)
        if not self.writes:
            return
        writes, self.writes = self.writes, []
        outcomes: list[tuple[Write, tuple[str, str] | EassyncError]] = []
        with self._durable_batch():
            for write in writes:
                try:
                    outcomes.append((write, write.perform()))
                except EassyncError as exc:
                    outcomes.append((write, exc))
        with self.status.transaction() as tx:
            for write, outcome in outcomes:
                if isinstance(outcome, EassyncError):
                    write.failed(tx, outcome)
                else:
                    write.done(tx, *outcome)
            if store_state:
                tx.set_remote_state(self.collection, state)
