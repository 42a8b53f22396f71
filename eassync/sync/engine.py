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

Kill safety (re-running after a kill at any instant never duplicates, never drops):

- An Add is recorded as a *pending* row (with its ClientId and the hash we expect the
  server's copy to have) and committed **before** it is sent. If the answer is lost,
  the next pass first resends the pending Adds with the stored (old) SyncKey and the
  same ClientIds: a server that never echoes a device's own Adds (Exchange, the
  devserver) recognises the repeated request and answers with the items it made
  then. A server that instead replays them in the pull from the old key gets them
  bound to the pending rows by the :class:`Matcher` (UID, else content).
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
- ``keep_both`` derives the copy's UID from the original UID and the local content,
  so a replayed conflict finds the copy made before the kill. Conflict writes have no
  write-ahead row: their result holds a user's change, which the replay meets again
  as a conflict.
- Both sides having reached the same content (a replayed change) is no conflict.

Server state lost (``InvalidSyncKey`` from pull or push): resync. The collection is
marked ``resyncing`` and every bound row *unseen*; the full download (SyncKey 0) is
matched to existing rows (by ServerId, then UID, then content) — no duplicates, and
nothing is deleted because of the loss. Rows whose item did not come back are then
**re-uploaded** from the local copy (changed or not): the server may have lost them,
or they were deleted on the server during the gap; we cannot tell, and resurrecting
a deleted item is recoverable while deleting a user's data is not (we report each).
Exception: with ``remote_windowed=True`` (a calendar FilterType window) an item
missing from the download may just be outside the window, so its row goes dormant
(like SoftDelete) instead of being re-uploaded.

SoftDelete (the item left the server's filter window): the local item stays, no
delete is ever propagated; the row stays *dormant* with its ServerId (the server
still holds the item), so a local edit still goes up as a Change and the item's
return to the window (an Add with the same ServerId) binds to the same row.

A server that stores parts of an added item apart (Horde: the moved occurrences of a
series as events of their own, their dates deleted from the series) sends those parts
to this device too. The remote reads such an item back after the Add
(``OpResult.stored``); where the handler finds parts stored apart, the server's copy
is kept like a deferred server version, so the next pass takes the server's shape
while its pull brings the parts: nothing is shown twice.

Remote delete of a locally changed item: the local item wins and is re-added to the
server (reported). Remote change of a locally deleted item: the change wins and the
item comes back locally (reported).

Safety: if the local scan would delete more than ``max_delete_ratio`` of the known
items on the server, or the server's deletes of locally unchanged items exceed that
ratio, and more than ``min_delete_guard`` items, the pass stops with
:class:`SafetyStop` before applying them, unless ``force_delete``. The local check
happens before anything is written; the server check before each batch is applied.

Directions: ``to_local`` never writes to the server; the local side is a copy of the
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

Dry run: the local scan runs; the pull fetches the **first batch only** with the
stored SyncKey and commits nothing (a faithful server keeps one step back, so the
stored key stays valid — asking for a second batch would move the server past it);
the report lists every planned action and says whether the plan is incomplete.
Nothing is pushed, nothing written locally, the status is unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal

from eassync.errors import (
    AuthError,
    EassyncError,
    InvalidSyncKey,
    LocalChangesRefused,
    NotFoundError,
    PreconditionFailed,
    RequestFailed,
    SafetyStop,
    TransientError,
)
from eassync.model.handler import ItemHandler
from eassync.model.items import (
    Item,
    OpResult,
    PushOp,
    RemoteChange,
    RemoteCollection,
    Storage,
)
from eassync.model.knowledge import HABITS, SlotKnowledge
from eassync.sync.index import LocalChange, LocalIndex
from eassync.sync.loose import LooseMatcher
from eassync.sync.plan import (
    MAX_RECORDED_ACTIONS,
    Action,
    ActionKind,
    ConflictRecord,
    Failure,
    LogReporter,
    Reporter,
    Side,
    SyncReport,
)
from eassync.sync.policy import ConflictPolicy, Resolution
from eassync.sync.status import Status, StatusRow, StatusTx
from eassync.wording import count

Direction = Literal["both", "to_local", "to_remote"]
#: what ``direction: to_local`` does with changes made on the local side
LocalChanges = Literal["revert", "ignore", "error"]
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


class Matcher:
    """Finds what a server item the status cannot place corresponds to: a status row
    waiting for its server item (pending Add, no ServerId, unseen during a resync),
    or a local item the status does not know. By UID first, then by content
    (``fingerprint(project(local)) == fingerprint(remote)``). A server item that
    arrived without a UID (EAS contacts and tasks hold none) has been given a derived
    one, which no local item carries: it is matched by its content alone, with the
    same placeholder UID on both sides (``bare_hash``).

    Used by lost-answer recovery, resync and repair (a repair is a resync, or a pass
    over an emptied status: every local item is then new and matched here)."""

    def __init__(
        self,
        status: Status,
        collection: str,
        local: LocalIndex,
        loose: LooseMatcher | None = None,
    ) -> None:
        self.status = status
        self.collection = collection
        self.local = local
        #: second chance when the server does not keep every field (eassync.sync.loose)
        self.loose = loose
        #: the last match came from ``loose``: same content as far as the server holds it
        self.last_loose = False

    def find(
        self,
        uid: str | None,
        remote_hash: str,
        bare_hash: str | None = None,
        item: Item | None = None,
    ) -> StatusRow | LocalChange | None:
        self.last_loose = False
        found = self._find_exact(uid, remote_hash, bare_hash)
        if found is None and self.loose is not None and item is not None:
            loose = self.loose.find(item)
            assert loose is None or isinstance(loose, StatusRow | LocalChange)
            if loose is not None and not self.loose.may_bind(loose.uid, uid, bare_hash):
                return None  # two UIDs that differ are two items
            self.last_loose = loose is not None
            return loose
        return found

    def _find_exact(
        self, uid: str | None, remote_hash: str, bare_hash: str | None
    ) -> StatusRow | LocalChange | None:
        if uid:
            row = self.status.unbound_by_uid(self.collection, uid)
            if row is not None:
                return row
            ident = self.local.new_by_uid.get(uid)
            if ident is not None:
                return self.local.changes[ident]
        if bare_hash:
            row = self.status.unbound_by_bare(self.collection, bare_hash)
            if row is not None:
                return row
            ident = self.local.new_by_bare.get(bare_hash)
            if ident is not None:
                return self.local.changes[ident]
        row = self.status.unbound_by_hash(self.collection, remote_hash)
        if row is not None and (not uid or not row.uid or row.uid == uid):
            return row
        ident = self.local.new_by_hash.get(remote_hash)
        if ident is not None:
            change = self.local.changes[ident]
            if not uid or not change.uid or change.uid == uid:
                return change
        return None


@dataclass
class _Write:
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
    see the module docstring (Directions)."""
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


@dataclass
class _Pass:
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
    writes: list[_Write] = field(default_factory=list)
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

    # --- local writes (skipped in a dry run) ------------------------------------------------

    # Each plans its write for after the batch's write-ahead commit (see _batch); a
    # dry run only reports it.

    def _plan(
        self,
        perform: Callable[[], tuple[str, str]],
        done: Callable[[StatusTx, str, str], None],
        failed: Callable[[StatusTx, EassyncError], None],
        action: Action,
    ) -> None:
        """A dry run reports the action now; a real pass once the write happened."""
        if self.dry_run:
            self._record(action)
            return

        def reported(tx: StatusTx, ident: str, etag: str) -> None:
            done(tx, ident, etag)
            self._record(action)

        self.writes.append(_Write(perform, reported, failed))

    def _local_add(
        self,
        item: Item,
        done: Callable[[StatusTx, str, str], None],
        failed: Callable[[StatusTx, EassyncError], None],
        note: str = "",
    ) -> None:
        action = Action("local", "add", self._describe(item), None, note)
        self._plan(lambda: self.local.add(item), done, failed, action)

    def _local_update(
        self,
        ident: str,
        item: Item,
        etag: str,
        done: Callable[[StatusTx, str, str], None],
        failed: Callable[[StatusTx, EassyncError], None],
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
        done: Callable[[StatusTx, str, str], None],
        failed: Callable[[StatusTx, EassyncError], None],
        note: str = "",
    ) -> None:
        def perform() -> tuple[str, str]:
            if self.trash is not None:
                self.trash(ident, item)
            self.local.delete(ident, etag)
            return ident, ""

        action = Action("local", "delete", self._describe(item, ident), ident, note)
        self._plan(perform, done, failed, action)

    # --- 1. local scan ------------------------------------------------------------------

    def _scan_local(self, token: str | None) -> None:
        known = self.status.local_etags(self.collection)
        changes = self.local.changes(token, known)
        self.new_token = changes.token
        # a pass killed between its write-ahead and its final commit left rows
        # marked tentative: the files it wrote are found here by their content
        tentative = not self.dry_run and self.status.count(self.collection, "tentative IS NOT NULL")
        adopted: dict[int, dict[str, Any]] = {}
        for ident, item, etag in self._read_many(changes.changed):
            row = self.status.by_local(self.collection, ident)
            try:
                item_hash, proj_hash = self._hashes(item)
            except EassyncError as exc:
                # a file that does not read is named by its file: a summary read from
                # it can be half-read ("bad (?)"), and the file is what the user fixes
                self._fail("local", ident, ident, str(exc))
                continue
            if row is not None and row.local_hash == item_hash:
                self.etag_only[row.id] = etag
                continue
            if tentative and self._adopt_tentative(row, ident, etag, item_hash, adopted):
                continue
            kind: Literal["add", "change"] = "change" if row is not None else "add"
            bare = ""
            if kind == "add":
                try:
                    bare = self._bare_hash(item)
                except EassyncError:
                    bare = ""
            self.index.add(
                LocalChange(
                    kind,
                    ident,
                    etag,
                    item.uid,
                    item_hash,
                    proj_hash,
                    row.id if row else None,
                    bare,
                )
            )
        for ident in changes.deleted:
            row = self.status.by_local(self.collection, ident)
            if row is not None:
                self.index.add(LocalChange("delete", ident, uid=row.uid, row_id=row.id))
        for ident, why in changes.skipped.items():
            if self.status.by_local(self.collection, ident) is not None:
                # a synced item's file replaced by what eassync does not sync: never a
                # deletion; the server keeps its copy until the file is an item again
                self._fail(
                    "local",
                    ident,
                    ident,
                    f"is now {why}: not synced, the server's copy is kept (make it a "
                    "regular file again, or delete it to delete the item)",
                )

        if adopted:
            with self.status.transaction() as tx:
                for row_id, values in adopted.items():
                    tx.update(row_id, **values)

    def _adopt_tentative(
        self,
        row: StatusRow | None,
        ident: str,
        etag: str,
        item_hash: str,
        adopted: dict[int, dict[str, Any]],
    ) -> bool:
        """Whether a changed or unknown local file is the write of a killed pass (its
        content is the one the write-ahead row announced); if so, bind it. An added
        file keeps its row tentative until the server mentions the item again (else
        the item is gone from the server: _settle_tentative)."""
        if row is not None:
            if row.tentative_kind != "update" or row.tentative != item_hash:
                return False
            adopted[row.id] = {
                "local_etag": etag,
                "local_hash": item_hash,
                "tentative": None,
                "tentative_kind": None,
            }
            return True
        found = self.status.tentative_add(self.collection, item_hash)
        if found is None or found.id in adopted:
            return False
        adopted[found.id] = {"local_ident": ident, "local_etag": etag}
        return True

    def _check_local_deletes(self) -> None:
        if self.direction == "to_local" or self.force_delete:
            return
        deletes = sum(1 for c in self.index.changes.values() if c.kind == "delete")
        self._guard(
            deletes,
            "on the server",
            f"they are gone from {self.local.location}",
            f"check {self.local.location}",
        )

    def _guard(self, deletes: int, where: str, because: str, check: str) -> None:
        if self.force_delete:
            return
        if deletes > self.min_delete_guard and deletes > self.max_delete_ratio * self.total_rows:
            raise SafetyStop(
                f"this pass would delete {deletes} of {self.total_rows} items {where}, "
                f"because {because}; stopped before deleting anything",
                hint=f"{check}; if the deletions are wanted, rerun with --force-delete",
            )

    # --- 2. pull ------------------------------------------------------------------------

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
        outcomes: list[tuple[_Write, tuple[str, str] | EassyncError]] = []
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

    def _pull(self) -> None:
        self._replay_deferred()
        for batch in self.remote.pull(self.state):
            changes = self._last_mentions(batch.changes)
            self._check_remote_deletes(changes)

            def decide(tx: StatusTx, changes: Sequence[RemoteChange] = changes) -> None:
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

            self._batch(decide, batch.state)
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

        def decide(tx: StatusTx) -> None:
            for row in rows:
                tx.update(row.id, tentative=None, tentative_kind=None)
                if row.deferred is not None:
                    continue  # a kept version's write: replayed next pass, not a delete
                if row.tentative_kind == "add" and row.remote_ident is not None:
                    self._apply_remote_delete(tx, row.remote_ident)

        self._batch(decide)

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

        def decide(tx: StatusTx) -> None:
            for row in rows:
                assert row.deferred is not None
                if row.remote_ident is None:
                    tx.update(row.id, deferred=None, deferred_uid=None)
                    continue
                item = Item(row.deferred, row.deferred_uid)
                self._apply_known(tx, row, item, self.handler.fingerprint(item))

        self._batch(decide)

    def _apply_remote(self, tx: StatusTx, change: RemoteChange, row: StatusRow | None) -> None:
        """Decide one server change; ``row`` is its status row (None: it has none)."""
        if change.kind == "softdelete":
            if row is not None:
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
        if self.direction == "to_remote":
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
            needs_push=int(missing_uid),
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
        if same or change.proj_hash == remote_hash:
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
            if missing_uid and self.direction != "to_remote":
                tx.update(row_id, needs_push=1)
            return
        # both sides hold a version and there is no common base: a conflict. No local
        # etag in the row, so an unresolved conflict is found again by the next scan.
        row_id = tx.insert(
            self.collection,
            uid=change.uid,
            local_ident=change.ident,
            local_etag=None,
            local_hash=None,
            remote_ident=server_id,
            remote_hash=None,
            needs_push=int(missing_uid and self.direction != "to_remote"),
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

    def _known_etag(self, row: StatusRow) -> str | None:
        """The local etag as of the scan (a touched-but-equal item has a new one)."""
        return self.etag_only.get(row.id, row.local_etag)

    def _defer(self, tx: StatusTx, row: StatusRow, item: Item, remote_hash: str) -> None:
        self._note(f"{self._describe(item)}: server version kept for the next pass")
        tx.update(row.id, deferred=item.raw, deferred_uid=item.uid, remote_hash=remote_hash)

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
            name = self._local_name(row.local_ident, _row_name(row))
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
                if row.softdeleted or self.remote_windowed:
                    tx.update(row.id, softdeleted=1, seen=1)
                elif (change is not None and change.kind == "delete") or row.local_ident is None:
                    if change is not None:
                        self.index.pop(change.ident)
                    tx.delete(row.id)
                else:
                    if change is not None:
                        self.index.pop(change.ident)
                    # hashes are refreshed from the local item just before it is sent
                    tx.update(row.id, remote_ident=None, pending=new_client_id(), seen=1)
                    name = self._local_name(row.local_ident, _row_name(row))
                    self._note(f"{name}: missing after resync: re-uploaded")
            tx.set_collection(self.collection, resyncing=0)
        self.resyncing = False

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

    # --- direction to_remote: changes made on the server -------------------------------

    def _ignore_server(self, kind: str, name: str, ident: str | None, note: str) -> None:
        self.server_ignored[kind] = self.server_ignored.get(kind, 0) + 1
        self._act("local", "ignore", name, ident, note)

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
        changes = list(self.index.changes.values())
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

        def decide(tx: StatusTx) -> None:
            for change in changes:
                if self.index.pop(change.ident) is None:
                    continue  # settled by an earlier decision of this loop
                row = self.status.get(change.row_id) if change.row_id is not None else None
                if change.kind == "delete":
                    if row is not None and row.remote_ident is None:
                        tx.delete(row.id)  # nothing on the server to restore
                    elif row is not None:
                        fetched = self._fetch(row)
                        if fetched is not None:
                            self._update_local(tx, row, *fetched, gone=True, note="reverted")
                elif row is None or row.remote_ident is None:
                    self._revert_new(change, row)
                else:
                    fetched = self._fetch(row)
                    if fetched is not None:
                        self._revert_edit(tx, row, change, *fetched)

        self._batch(decide)

    def _fetch(self, row: StatusRow) -> tuple[Item, str] | None:
        """The server's version of a row's item and its hash (as a pull computes it)."""
        assert row.remote_ident is not None
        name = self._local_name(row.local_ident, _row_name(row))
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

    def _tell_parked(self) -> None:
        """Items parked in an earlier pass are failures until resolved: told every pass."""
        for row in self.status.parked(self.collection):
            if row.id in self.parked_now:
                continue
            name = self._describe(self._read_for_match(row.local_ident or ""), _row_name(row))
            why = row.failure or "the server refused it"
            self._fail("remote", row.remote_ident, name, f"{why}; {PARKED_HINT}")

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

    def _send(self, ops: list[PushOp]) -> dict[str, OpResult]:
        assert self.state is not None
        adds = [op.ref for op in ops if op.kind == "add"]
        self.resent = {ref for ref in adds if ref in self.client_ids_sent}
        self.client_ids_sent.update(adds)
        result = self.remote.push(self.state, ops)
        self._pushed_state = result.state
        return {r.ref: r for r in result.results}

    def _exchange(self, ops: list[PushOp]) -> Iterator[dict[str, OpResult]]:
        """Send ``ops``, yielding the results of each acknowledged request; the caller
        commits each with ``self._pushed_state`` before the next is sent.

        Poison-item isolation: a server that fails on the request (HTTP 5xx, an HTML
        page, an empty answer, collection Status 4/5/6: :class:`RequestFailed`) gets
        it once more with the same SyncKey and ClientIds (a passing hiccup; the server
        spots resent Adds by ClientId, MS-ASCMD 2.2.3.28); then the batch is split in
        halves, down to single items. An item that fails alone is answered here as
        ``failed`` with the server's words: it is parked and everything else goes
        through. One poison item in a batch of n costs about 2·log2(n) requests.
        An item that fails alone is answered here as ``failed``."""
        try:
            yield self._send(ops)
            return
        except RequestFailed as exc:
            self._note(f"the server failed on a batch of {count(len(ops))} ({exc}); retrying")
        yield from self._isolate(ops)

    def _isolate(self, ops: list[PushOp]) -> Iterator[dict[str, OpResult]]:
        try:
            yield self._send(ops)
            return
        except RequestFailed as exc:
            if len(ops) == 1:
                apart = self._push_apart(ops[0])
                if apart is not None:
                    yield apart
                    return
                # answered without a request: the state stays where it is
                self._pushed_state = self.state
                why = f"the server fails on this item: {exc}"
                yield {ops[0].ref: OpResult(ops[0].ref, "failed", message=why)}
                return
        middle = len(ops) // 2
        yield from self._isolate(ops[:middle])
        yield from self._isolate(ops[middle:])

    def _push_apart(self, op: PushOp) -> dict[str, OpResult] | None:
        """An Add the server fails on alone, sent in the form the remote has for it
        (a 16.x series with exceptions: bare, then its exceptions apart); None when it
        has none or that fails too (the item is parked as before)."""
        push_apart = getattr(self.remote, "push_apart", None)
        if push_apart is None or op.kind != "add" or self.state is None:
            return None
        try:
            result = push_apart(self.state, op)
        except EassyncError as exc:
            self._note(f"{self._describe(op.item)}: sending it apart failed too ({exc})")
            return None
        if result is None:
            return None
        self._pushed_state = result.state
        return {r.ref: r for r in result.results}

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

    def _push_changes(self) -> None:
        targets: list[tuple[int, str]] = []  # (row id, local ident)
        for change in list(self.index.changes.values()):
            if change.kind != "change" or change.row_id is None:
                continue
            row = self.status.get(change.row_id)
            if row is None:
                continue
            if row.rejected_hash is not None and row.rejected_hash == change.hash:
                self.index.pop(change.ident)
                continue  # refused before in this very form: not resent
            if row.remote_ident is None:
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
        if result.status == "ok":
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
        elif result.status == "retry" and result.report:
            # a retry the user must hear of (a series the server moved and that could
            # not be put back): the change is sent again next pass
            self._fail("remote", row.remote_ident, self._describe(item), _why(result))
        elif result.status == "conflict":
            # Conflict=1: the server's version wins this round and comes in the
            # next pull as a change of a (now) locally unchanged item
            tx.update(row.id, local_etag=etag, local_hash=item_hash)
            self._conflict(row.uid, item, item, "server won (Status 7)")
        elif result.status == "not_found":
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
        elif result.status in ("rejected", "failed"):
            self._park(tx, row, item, item_hash, _why(result))
        # retry: nothing recorded, the change is found again next pass

    def _take_apart(self, tx: StatusTx, row: StatusRow, item: Item, result: OpResult) -> None:
        """A changed item the remote sent with parts apart (a series' changed
        occurrences as events of their own, on a server that applies an occurrence's
        Change to the whole series): the server's shape of the item is kept as its
        server version not applied yet, and each part as a server item not written yet;
        the next pass applies both (the occurrence leaves the file, the part gets its
        own), so the meeting shows once here, as on the other devices."""
        if result.stored is not None and result.apart:
            tx.update(row.id, deferred=result.stored.raw, deferred_uid=result.stored.uid)
        self._bind_apart(tx, result)
        if result.apart:
            parts = ", ".join(self._describe(part) for _, part in result.apart)
            self._note(
                f"{self._describe(item)}: the server now keeps {parts} as "
                f"{'an event' if len(result.apart) == 1 else 'events'} of its own; the next "
                "sync takes the same shape here"
            )

    def _bind_apart(self, tx: StatusTx, result: OpResult) -> None:
        """Rows for the server items the remote added as parts of an item: written
        locally next pass (as a kept server version), never sent again."""
        for server_id, part in result.apart:
            if self.status.by_remote(self.collection, server_id) is not None:
                continue
            tx.insert(
                self.collection,
                uid=part.uid,
                remote_ident=server_id,
                deferred=part.raw,
                deferred_uid=part.uid,
            )

    def _park(self, tx: StatusTx, row: StatusRow, item: Item, item_hash: str, why: str) -> None:
        """The server refuses or fails on this version of the item: it is not sent
        again until it changes (or ``sync --retry``), and told every pass (_tell_parked)
        until then. An Add stays without ServerId (a server copy that turns up after
        all is still bound to it by the matcher)."""
        # sent_hash stays: a server that stored the Change before failing sends it
        # back, and that echo is recognised as ours (and resolves the parking)
        tx.update(row.id, pending=None, rejected_hash=item_hash, failure=why)
        self.parked_now.add(row.id)
        self._fail("remote", row.remote_ident, self._describe(item), f"{why}; {PARKED_HINT}")

    def _push_deletes(self) -> None:
        targets: list[StatusRow] = []
        for change in list(self.index.changes.values()):
            if change.kind != "delete" or change.row_id is None:
                continue
            row = self.status.get(change.row_id)
            self.index.pop(change.ident)
            if row is None:
                continue
            if row.remote_ident is None:
                # never reached the server (or its Add is unanswered and unmatched)
                with self._tx() as tx:
                    tx.delete(row.id)
                continue
            targets.append(row)
        for batch in self._batches(targets):
            if self.dry_run:
                for row in batch:
                    self._act("remote", "delete", _row_name(row), row.remote_ident)
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
        if result.status in ("ok", "not_found"):
            tx.delete(row.id)
            if result.status == "ok":  # not_found: gone already, nothing we did
                self._act("remote", "delete", _row_name(row), row.remote_ident)
        elif result.status == "rejected":
            # the server keeps it; we forget it rather than retry forever
            tx.delete(row.id)
            self._fail("remote", row.remote_ident, _row_name(row), _why(result))
        elif result.status == "failed":
            # the row stays: the deletion is found and sent again next pass
            tx.update(row.id, failure=_why(result))
            self._fail("remote", row.remote_ident, _row_name(row), _why(result))
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
                name = self._describe(self._read_for_match(row.local_ident or ""), _row_name(row))
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
        if result.status == "ok" and not result.ident:
            # A successful Add answer carries the ServerId the server assigned
            # (MS-ASCMD 2.2.3.7.2); without one the server did not store it (seen
            # when a server's own backend failed). Parked, never counted as added.
            self._park(
                tx, row, item, item_hash, "the server acknowledged the Add without a ServerId"
            )
        elif result.status == "ok":
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
                needs_push=0,
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
                self._fail("remote", result.ident, self._describe(item), _why(result))
        elif result.status == "rejected" and row.pending in self.resent:
            # A server that refuses a ClientId it saw before (Horde: "Duplicate
            # addition", horde-notes §6) may hold the item from the lost answer: the
            # next pull binds its copy; if none comes, the push after it sends the
            # item as new (never before a pull: a new ClientId would make a second copy).
            # needs_push without a ServerId marks it, persistently: _requeue_adds
            self.adds_sent.discard(row.id)
            tx.update(row.id, pending=None, needs_push=1)
            what = f"the server refused the resent Add ({_why(result)}): it may hold the item"
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
        elif result.status in ("rejected", "failed"):
            self._park(tx, row, item, item_hash, _why(result))
        # retry/conflict/not_found on an Add: stays pending, sent next pass

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

    def _exists(self, ident: str) -> bool:
        try:
            self.local.get(ident)
        except NotFoundError:
            return False
        except EassyncError:
            return True
        return True

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


def _row_name(row: StatusRow) -> str:
    """An item known only by its status row: its file (or href), never a bare id."""
    return row.local_ident or row.uid or row.remote_ident or "?"


def _why(result: OpResult | None) -> str:
    if result is None:
        return "the server refused the item"
    return result.message or f"the server refused the item ({result.status})"
