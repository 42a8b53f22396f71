"""The state of one pass and what every part of it shares: reading and hashing local
items, reporting, the delete guard, classifying an item for :mod:`eassync.sync.decide`
(local writes after a write-ahead commit: :mod:`eassync.sync.writeahead`).

Safety: if the local scan would delete more than ``max_delete_ratio`` of the known
items on the server, or the server's deletes of locally unchanged items exceed that
ratio, and more than ``min_delete_guard`` items, the pass stops with
:class:`SafetyStop` before applying them, unless ``force_delete``. The local check
happens before anything is written; the server check before each batch is applied.

Dry run: the local scan runs; the pull fetches the **first batch only** with the
stored SyncKey and commits nothing (a faithful server keeps one step back, so the
stored key stays valid — asking for a second batch would move the server past it);
the report lists every planned action and says whether the plan is incomplete.
Nothing is pushed, nothing written locally, the status is unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from eassync.errors import EassyncError, NotFoundError, SafetyStop
from eassync.model.handler import ItemHandler
from eassync.model.items import Item, OpResult, RemoteCollection, Storage
from eassync.model.knowledge import SlotKnowledge
from eassync.sync.decide import Direction, Local, LocalChanges, Row
from eassync.sync.index import LocalChange, LocalIndex
from eassync.sync.loose import LooseMatcher
from eassync.sync.matcher import Matcher
from eassync.sync.plan import (
    MAX_RECORDED_ACTIONS,
    Action,
    ActionKind,
    ConflictRecord,
    Failure,
    Reporter,
    Side,
    SyncReport,
)
from eassync.sync.policy import ConflictPolicy
from eassync.sync.status import Status, StatusRow, StatusTx

TrashFn = Callable[[str, Item], None]

#: UIDs eassync derives (for UID-less server items, keep_both copies) live here
UID_NAMESPACE = uuid.UUID("6f1c2a8e-5d7b-4c1e-9a0f-3b2d4e6f8a10")

#: the UID put into items to hash their content alone (``bare_hash``)
BARE_UID = "eassync-bare-content"

#: what a user can do about a parked item
PARKED_HINT = "parked: sent again when it changes, or with `eassync sync --retry`"

#: how many of a pass's item failures the status keeps for ``eassync status``
MAX_RECORDED_FAILURES = 200

#: how many local items are read per get_many call
READ_CHUNK = 100

#: how many items an error names before "and N more"
MAX_NAMED = 10


def derived_uid(*parts: str) -> str:
    """A stable UID from stable inputs, so a replay after a kill yields the same one."""
    return str(uuid.uuid5(UID_NAMESPACE, "\0".join(parts)))


def new_client_id() -> str:
    # ClientId: unique per device, ≤ 64 characters (MS-ASCMD 2.2.3.28)
    return uuid.uuid4().hex


@dataclass
class Write:
    """A local write decided inside a batch's first transaction and performed after
    it committed (write-ahead); ``done``/``failed`` record the outcome in the batch's
    second transaction."""

    perform: Callable[[], tuple[str, str]]
    done: Callable[[StatusTx, str, str], None]
    failed: Callable[[StatusTx, EassyncError], None]


class _NullTx:
    """Stands in for a status transaction during a dry run: records nothing."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return lambda *args, **kwargs: 0


@dataclass
class PassBase:
    """The state of one pass (one collection of one pair) and the helpers its parts share."""

    local: Storage
    remote: RemoteCollection
    handler: ItemHandler
    status: Status
    collection: str
    policy: ConflictPolicy
    direction: Direction
    dry_run: bool
    force_delete: bool
    max_delete_ratio: float
    min_delete_guard: int
    trash: TrashFn | None
    version: str
    reporter: Reporter

    remote_windowed: bool = False
    label: str | None = None
    report: SyncReport = field(init=False)
    index: LocalIndex = field(default_factory=LocalIndex)
    #: rows whose only local change is a new etag (same content): row id → etag
    etag_only: dict[int, str] = field(default_factory=dict)
    state: str | None = None
    resyncing: bool = False
    new_token: str | None = None
    local_failures: int = 0
    total_rows: int = 0
    remote_deletes: int = 0
    _pushed_state: str | None = None
    matcher: Matcher = field(init=False)
    #: local writes decided in the current batch, performed after its write-ahead commit
    writes: list[Write] = field(default_factory=list)
    #: rows whose Add the server answered in this pass (never sent twice in one pass)
    adds_sent: set[int] = field(default_factory=set)
    #: rows parked in this pass (already told; _tell_parked tells the older ones)
    parked_now: set[int] = field(default_factory=set)
    #: ``sync --retry``: parked items are sent again this pass
    retry_parked: bool = False
    local_changes: LocalChanges = "revert"
    #: to_remote: server changes not applied in this pass, by kind
    server_ignored: dict[str, int] = field(default_factory=dict)
    #: the pull of this pass is done (what the server holds has been seen)
    pulled: bool = False
    #: ClientIds sent before, in this pass or (pending) an earlier one
    client_ids_sent: set[str] = field(default_factory=set)
    #: the ClientIds of the request just sent that had been sent before
    resent: set[str] = field(default_factory=set)
    #: parked Adds of ``--retry``, sent again after the pull (_requeue_adds)
    retry_adds: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.report = SyncReport(self.collection, dry_run=self.dry_run)
        #: the handler's knowledge of which fields the server holds, if it has one
        self.knowledge: SlotKnowledge | None = getattr(self.handler, "knowledge", None)
        self.matcher = Matcher(self.status, self.collection, self.index, self._loose_matcher())
        self._uid_capable: bool | None = None

    # --- helpers ------------------------------------------------------------------------

    def _loose_matcher(self) -> LooseMatcher | None:
        handler = self.handler
        if not hasattr(handler, "match_anchor") or not hasattr(handler, "same_held_content"):
            return None
        return LooseMatcher(
            handler,  # type: ignore[arg-type]  # checked above
            self.version,
            self.status,
            self.collection,
            self.index,
            self._read_for_match,
        )

    def _read_for_match(self, ident: str) -> Item | None:
        try:
            return self.local.get(ident)[0]
        except EassyncError:
            return None

    @contextmanager
    def _tx(self) -> Iterator[StatusTx]:
        if self.dry_run:
            yield _NullTx()  # type: ignore[misc]
            return
        with self.status.transaction() as tx:
            yield tx

    def _describe(self, item: Item | None, fallback: str | None = None) -> str:
        """An item as the user knows it: its summary; ``fallback`` (its file name)
        where it has none. Never a UID: no user knows an item by that."""
        if item is None:
            return fallback or "?"
        try:
            return self.handler.describe(item)
        except Exception:  # a summary is never worth failing a pass
            return fallback or "?"

    def _local_name(self, ident: str | None, fallback: str = "?") -> str:
        """The local item ``ident`` by its summary, else by its file name."""
        if ident is None:
            return fallback
        return self._describe(self._read_for_match(ident), ident)

    def _act(
        self, side: Side, kind: ActionKind, name: str, ident: str | None = None, note: str = ""
    ) -> None:
        self._record(Action(side, kind, name, ident, note))

    def _record(self, action: Action) -> None:
        """Count and report an action that happened (the other side confirmed it),
        or, in a dry run, one that is planned."""
        side, kind = action.side, action.kind
        counts = self.report.local if side == "local" else self.report.remote
        if kind in ("add", "readd"):
            counts.added += 1
        elif kind == "change":
            counts.changed += 1
        elif kind == "delete":
            counts.deleted += 1
        if self.dry_run or len(self.report.actions) < MAX_RECORDED_ACTIONS:
            self.report.actions.append(action)
        self.reporter.action(self.collection, action)

    def _fail(self, side: Side, ident: str | None, name: str, reason: str) -> None:
        failure = Failure(side, ident, name, reason)
        if side == "local":
            self.local_failures += 1
        self.report.failures.append(failure)
        self.reporter.failure(self.collection, failure)

    def _note(self, text: str) -> None:
        self.report.notes.append(text)
        self.reporter.note(self.collection, text)

    def _conflict(self, uid: str | None, local: Item, remote: Item, resolution: str) -> None:
        record = ConflictRecord(uid, self._describe(local), self._describe(remote), resolution)
        self.report.conflicts.append(record)
        self.reporter.conflict(self.collection, record)

    def _hashes(self, item: Item) -> tuple[str, str]:
        """fingerprint of the item, and of what the server would hold of it."""
        projected = self.handler.project(item, self.version)
        if not projected.uid and item.uid:
            # the server cannot hold a UID (EAS tasks): server items are compared with
            # our UID put back in (see _apply_remote), so expect the same here
            projected = self.handler.with_uid(projected, item.uid)
        return self.handler.fingerprint(item), self.handler.fingerprint(projected)

    def _bare_hash(self, item: Item, *, projected: bool = False) -> str:
        """The fingerprint of what the server would hold of ``item`` (``projected``:
        ``item`` is a server item already) with a placeholder UID: content alone."""
        held = item if projected else self.handler.project(item, self.version)
        # optional handler shortcut (contacts): the same hash without the new item
        fingerprint_with_uid = getattr(self.handler, "fingerprint_with_uid", None)
        if fingerprint_with_uid is not None:
            return str(fingerprint_with_uid(held, BARE_UID))
        return self.handler.fingerprint(self.handler.with_uid(held, BARE_UID))

    def _holds_uid(self, item: Item) -> bool:
        """Whether the server can store a UID for this item: writing one back to a
        server that cannot (EAS tasks, MS-ASTASK has no UID) only makes it re-store
        the item and other devices re-download it.

        It depends on the item kind alone, so the first successful probe answers for
        the whole pass (a projection per downloaded item cost ~0.6 ms each)."""
        if self._uid_capable is not None:
            return self._uid_capable
        try:
            probe = self.handler.project(self.handler.with_uid(item, "eassync-probe"), self.version)
        except EassyncError:
            return False
        self._uid_capable = probe.uid == "eassync-probe"
        return self._uid_capable

    def _read_many(self, idents: Iterable[str]) -> Iterator[tuple[str, Item, str]]:
        """Read local items in chunks; report (and skip) the unreadable ones."""
        chunk: list[str] = []
        for ident in idents:
            chunk.append(ident)
            if len(chunk) >= READ_CHUNK:
                yield from self._read_chunk(chunk)
                chunk = []
        if chunk:
            yield from self._read_chunk(chunk)

    def _read_chunk(self, idents: list[str]) -> Iterator[tuple[str, Item, str]]:
        for ident, result, etag in self.local.get_many(idents):
            if isinstance(result, NotFoundError):
                continue
            if isinstance(result, Exception):
                self._fail("local", ident, ident, str(result))
                continue
            yield ident, result, etag

    def _guard(self, deletes: int, where: str, because: str, check: str) -> None:
        if self.force_delete:
            return
        if deletes > self.min_delete_guard and deletes > self.max_delete_ratio * self.total_rows:
            raise SafetyStop(
                f"this pass would delete {deletes} of {self.total_rows} items {where}, "
                f"because {because}; stopped before deleting anything",
                hint=f"{check}; if the deletions are wanted, rerun with --force-delete",
            )

    def _known_etag(self, row: StatusRow) -> str | None:
        """The local etag as of the scan (a touched-but-equal item has a new one)."""
        return self.etag_only.get(row.id, row.local_etag)

    def _defer(self, tx: StatusTx, row: StatusRow, item: Item, remote_hash: str) -> None:
        self._note(f"{self._describe(item)}: server version kept for the next pass")
        tx.update(row.id, deferred=item.raw, deferred_uid=item.uid, remote_hash=remote_hash)

    # --- direction to_remote: changes made on the server -------------------------------

    def _ignore_server(self, kind: str, name: str, ident: str | None, note: str) -> None:
        self.server_ignored[kind] = self.server_ignored.get(kind, 0) + 1
        self._act("local", "ignore", name, ident, note)

    def _batches(self, items: Iterable[Any]) -> Iterator[list[Any]]:
        size = max(1, self.remote.max_batch)
        batch: list[Any] = []
        for entry in items:
            batch.append(entry)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _exists(self, ident: str) -> bool:
        try:
            self.local.get(ident)
        except NotFoundError:
            return False
        except EassyncError:
            return True
        return True

    # --- what the server holds (eassync.sync.slots) -------------------------------------

    def _save_knowledge(self, tx: StatusTx) -> bool:
        """Write what was learnt of the server's fields; True if something was."""
        if self.knowledge is None or not self.knowledge.dirty or self.dry_run:
            return False
        tx.set_collection(self.collection, slots=self.knowledge.dump())
        return True

    def _knowledge_saved(self, saved: bool) -> None:
        # only once committed: a rolled-back transaction leaves it to the next one
        if saved and self.knowledge is not None:
            self.knowledge.dirty = False


def local_state(change: LocalChange | None) -> Local:
    """What the local scan found of an item, for :func:`eassync.sync.decide.decide`."""
    if change is None:
        return Local.UNCHANGED
    return {"change": Local.CHANGED, "delete": Local.DELETED, "add": Local.NEW}[change.kind]


def row_state(row: StatusRow | None) -> Row:
    """An item's status row, for :func:`eassync.sync.decide.decide`."""
    if row is None:
        return Row.NONE
    if row.remote_ident is None:
        return Row.UNBOUND
    return Row.UNWRITTEN if row.local_ident is None else Row.BOUND


def row_name(row: StatusRow) -> str:
    """An item known only by its status row: its file (or href), never a bare id."""
    return row.local_ident or row.uid or row.remote_ident or "?"


def reason_of(result: OpResult | None) -> str:
    if result is None:
        return "the server refused the item"
    return result.message or f"the server refused the item ({result.status})"
