"""An EAS folder adapted to the engine's :class:`RemoteCollection` interface.

It turns Sync responses into batches of :class:`RemoteChange` (converting
``ApplicationData`` with the pair's content handler) and local operations into
Sync commands. The SyncKey is owned by the caller (the status store) so that it
commits in the same transaction as the rows of its batch.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from eassync.eas.commands import INVALID_STATUS
from eassync.errors import ConversionError, EassyncError
from eassync.model.items import (
    Item,
    OpResult,
    OpStatus,
    PushOp,
    PushResult,
    RemoteBatch,
    RemoteChange,
)
from eassync.model.knowledge import ADD_EXCEPTIONS_APART, INSTANCE_CHANGE_MOVES_SERIES

if TYPE_CHECKING:
    from eassync.convert.base import ContentHandler
    from eassync.eas.client import EasClient, Folder, SyncOptions

log = logging.getLogger(__name__)

#: SOGo answers the priming Sync of an empty folder with this key and keeps no state
#: for it: commands sent with it are applied, but the key they return is unknown to
#: the next Sync (Status 3). Syncing again with "-1" returns every item plus a usable
#: key (sogo-notes Q4), so after a push with it we keep "-1".
SOGO_EMPTY_FOLDER_KEY = "-1"

#: server copies fetched per push to learn which fields the server holds
READ_BACKS = 2

#: server items that failed to convert, remembered so that every pass reports them
#: again until they are stored (the server sends an item once: after its batch's
#: SyncKey is committed, a skipped item would otherwise be forgotten): at most this many
#: remembered per folder, and at most REFETCHES fetched again per pass
MAX_REMEMBERED = 1000
REFETCHES = 25
#: the key of a remembered item whose ServerId was refused (shown escaped): never fetched
REFUSED = "refused:"


class FailedItems(Protocol):
    """Where a folder's failed server items are kept between passes (the pair status):
    ServerId → the last error message."""

    def load(self) -> dict[str, str]: ...

    def save(self, failed: dict[str, str]) -> None: ...


# Item status codes inside Sync Responses (MS-ASCMD 2.2.3.177.16; brief §5.7).
#: item statuses that refuse an item's content (MS-ASCMD 2.2.3.177.17: 4 malformed,
#: 5 server error, 6 conversion error)
_CONTENT_REFUSALS = frozenset({4, 5, 6})

_ITEM_STATUS: dict[int, OpStatus] = {
    1: "ok",
    7: "conflict",
    8: "not_found",
    4: "rejected",
    6: "rejected",
    5: "retry",
    9: "retry",
}


class EasRemoteCollection:
    """One EAS folder (CollectionId) of one account, for one content handler."""

    def __init__(
        self,
        client: EasClient,
        folder: Folder,
        handler: ContentHandler,
        *,
        options: SyncOptions | None = None,
        window_size: int = 512,
        enrich: Callable[[Item], Item] | None = None,
    ) -> None:
        self.client = client
        self.folder = folder
        self.handler = handler
        self.options = options
        #: runs on each converted server item (calendar attachments: eassync.attachments)
        self.enrich = enrich
        self.max_batch = window_size
        # a name for messages: the folder's, never only its id (users know names)
        self.location = folder.display_name or f"folder {folder.server_id}"
        self.requests = 0
        self._read_back_failed = False
        #: set by the runner (not in a dry run): failed items are reported every pass
        self.failed: FailedItems | None = None
        self._refused: set[str] = set()
        self._saved: list[tuple[str, str]] = []  # the failed items as stored
        #: told how many items a long download brings (set by the runner for a live
        #: progress line): asked of the server (GetItemEstimate) only when the first
        #: answer says MoreAvailable, so a pass with little to do costs no request more
        self.on_estimate: Callable[[int], None] | None = None

    @property
    def version(self) -> str:
        return self.client.version

    def pull(self, state: str | None) -> Iterator[RemoteBatch]:
        from eassync.eas.client import CollectionRequest

        remembered = self.failed.load() if self.failed is not None else {}
        self._saved = list(remembered.items())
        if state is None:
            state = self._prime()
            yield RemoteBatch(changes=(), state=state)
            again: list[RemoteChange] = []  # a full download brings them anyway
        else:
            again = self._again(remembered)
        bound = PullBound(self.location, self.max_batch, self._estimate)
        more = True
        received = 0
        estimated = False
        while more:
            bound.next_round()
            self.requests += 1
            (resp,) = self.client.sync(
                [
                    CollectionRequest(
                        collection_id=self.folder.server_id,
                        sync_key=state,
                        get_changes=True,
                        window_size=self.max_batch,
                        options=self.options,
                    )
                ]
            )
            fresh = self._remote_changes(resp.commands)
            mentioned = {change.ident for change in fresh}  # the server's word is newer
            changes = [c for c in again if c.ident not in mentioned] + fresh
            again = []
            more = resp.more_available
            # what came is committed (yielded) before a hostile round count stops us
            bound.received(len(resp.commands), state, resp.sync_key)
            state = resp.sync_key
            yield RemoteBatch(changes=changes, state=state, more_available=more)
            # here the engine has committed the batch: remember what failed in it
            self._remember(remembered, changes)
            received += len(resp.commands)
            if more and not estimated and self.on_estimate is not None:
                estimated = True
                left = self._estimate(state)
                if left is not None:
                    self.on_estimate(received + left)
            if more:
                bound.check()

    def _estimate(self, state: str) -> int | None:
        """GetItemEstimate for this folder from ``state`` (None: the server cannot tell)."""
        from eassync.errors import EassyncError

        filter_type = self.options.filter_type if self.options else 0
        try:
            self.requests += 1
            found = self.client.get_item_estimate(
                [(self.folder.server_id, state, filter_type or 0)]
            )
        except EassyncError as exc:
            log.info("%s: no item estimate (%s)", self.location, exc)
            return None
        return found.get(self.folder.server_id)

    def _again(self, remembered: dict[str, str]) -> list[RemoteChange]:
        """The items that failed in earlier passes, fetched again (at most REFETCHES,
        the longest-waiting first; the rest reported with their last error): stored
        now if they convert, reported again if not, forgotten if gone."""
        from eassync.eas.element import Element
        from eassync.errors import NotFoundError

        changes: list[RemoteChange] = []
        for number, (server_id, message) in enumerate(list(remembered.items())):
            if server_id.startswith(REFUSED):  # cannot be fetched: reported as it was
                shown = server_id.removeprefix(REFUSED)
                self._refused.add(shown)
                changes.append(RemoteChange(kind="change", ident=shown, error=message))
                continue
            if number >= REFETCHES:
                changes.append(RemoteChange(kind="change", ident=server_id, error=message))
                continue
            try:
                self.requests += 1
                properties = self.client.fetch_item(self.folder.server_id, server_id)
            except NotFoundError:
                del remembered[server_id]  # deleted on the server meanwhile
                continue
            except EassyncError as exc:
                log.info("%s: cannot fetch %s again (%s)", self.location, server_id, exc)
                changes.append(RemoteChange(kind="change", ident=server_id, error=message))
                continue
            data = Element("AirSync:ApplicationData", list(properties.children))
            changes.append(self._convert("change", server_id, data))
            remembered.pop(server_id)  # back at the end of the queue if it fails again
        return changes

    def _remember(self, remembered: dict[str, str], changes: Sequence[RemoteChange]) -> None:
        if self.failed is None:
            return
        for change in changes:
            key = change.ident
            if key in self._refused or key.startswith(REFUSED):
                key = REFUSED + key.removeprefix(REFUSED)  # not fetchable by that name
            if change.error is not None and change.kind in ("add", "change"):
                remembered[key] = change.error
            else:
                remembered.pop(key, None)
        while len(remembered) > MAX_REMEMBERED:
            dropped = next(iter(remembered))
            log.warning("%s: too many failed items; forgetting %s", self.location, dropped)
            del remembered[dropped]
        if list(remembered.items()) != self._saved:
            self.failed.save(dict(remembered))
            self._saved = list(remembered.items())

    def _prime(self) -> str:
        """Sync with SyncKey 0: options and the Supported list are sent once here."""
        from eassync.eas.client import CollectionRequest

        self.requests += 1
        (resp,) = self.client.sync(
            [
                CollectionRequest(
                    collection_id=self.folder.server_id,
                    sync_key="0",
                    window_size=self.max_batch,
                    options=self.options,
                    supported=self.handler.supported(self.version),
                )
            ]
        )
        return resp.sync_key

    def _remote_changes(self, commands: Sequence[Any]) -> list[RemoteChange]:
        """Server commands → changes of whole items.

        From 16.0 a server may change or delete one occurrence of a series
        (``Change``/``Delete`` with ``AirSyncBase:InstanceId``, MS-ASCMD 2.2.3.87.2).
        Applying such a Delete as an item delete would remove the whole series, so
        every instance-level command is turned into a Change of the series, fetched
        once per series with ItemOperations: the fetched item carries its exceptions.
        """
        changes: list[RemoteChange] = []
        refetched: set[str] = set()
        for cmd in commands:
            instance = getattr(cmd, "instance_id", None) and usable_server_id(cmd.server_id)
            if instance and cmd.kind in ("change", "delete"):
                if cmd.server_id not in refetched:
                    refetched.add(cmd.server_id)
                    changes.append(self._refetch_series(cmd.server_id))
                continue
            changes.append(self._remote_change(cmd))
        return changes

    def _refetch_series(self, server_id: str) -> RemoteChange:
        from eassync.eas.element import Element
        from eassync.errors import EassyncError

        try:
            self.requests += 1
            properties = self.client.fetch_item(self.folder.server_id, server_id)
        except EassyncError as exc:
            return RemoteChange(
                kind="change", ident=server_id, error=f"cannot fetch the changed series: {exc}"
            )
        data = Element("AirSync:ApplicationData", list(properties.children))
        return self._convert("change", server_id, data)

    def fetch(self, ident: str) -> RemoteChange:
        """The server's current version of one item (ItemOperations Fetch, MS-ASCMD
        2.2.1.10): the SyncKey does not move. NotFoundError when it is gone."""
        from eassync.eas.element import Element

        self.requests += 1
        properties = self.client.fetch_item(self.folder.server_id, ident)
        data = Element("AirSync:ApplicationData", list(properties.children))
        return self._convert("change", ident, data)

    def _remote_change(self, cmd: Any) -> RemoteChange:
        kind, server_id, data = cmd.kind, cmd.server_id, cmd.data
        if not usable_server_id(server_id):
            # refused on arrival: as a status key, a file name or in a message it
            # would block the pass or forge output (issue 14 item 9)
            if kind in ("delete", "softdelete"):  # of an item we refused: nothing to do
                return RemoteChange(kind=kind, ident=REFUSED + shown_id(server_id))
            name = item_name(data) or shown_id(server_id)
            self._refused.add(shown_id(server_id))
            return RemoteChange(
                kind=kind,
                ident=shown_id(server_id),
                error=f"{name}: the server sent this item with an unusable ServerId "
                f"{shown_id(server_id)} (control characters); it is skipped",
                name=item_name(data),
            )
        if kind in ("delete", "softdelete"):
            return RemoteChange(kind=kind, ident=server_id)
        if data is None:
            return RemoteChange(kind=kind, ident=server_id, error="server sent no item data")
        return self._convert(kind, server_id, data)

    def _convert(self, kind: Any, server_id: str, data: Any) -> RemoteChange:
        """One server item → a local one. Whatever goes wrong is this item's failure,
        named by its subject (issue 14 item 8): never the pass's."""
        try:
            item = self.handler.from_eas(data, self.version)
            if self.enrich is not None:
                item = self.enrich(item)
        except ConversionError as exc:
            error: Exception = exc
        except EassyncError:
            raise  # fetching an attachment failed (network, login): the pass's, as before
        except Exception as exc:  # one item's failure, whatever it is
            log.debug("%s: cannot convert %r", self.location, server_id, exc_info=True)
            error = exc
        else:
            return RemoteChange(kind=kind, ident=server_id, item=item)
        name = item_name(data)
        return RemoteChange(
            kind=kind,
            ident=server_id,
            error=f"{name or shown_id(server_id)}: {error}",
            name=name,
        )

    def push(self, state: str, ops: Sequence[PushOp]) -> PushResult:
        from eassync.eas.client import ClientCommand

        commands: list[ClientCommand] = []
        results: dict[str, OpResult] = {}
        #: series whose occurrence Changes are checked once answered (op ref → plan)
        checks: dict[str, Any] = {}
        #: series sent in the apart form (op ref → the form, its one-offs' ClientIds)
        aparts: dict[str, _Apart] = {}
        #: series Adds sent bare, their exceptions to follow apart (op ref → plan)
        bare_plans: dict[str, Any] = {}
        #: Adds the server refused by item status (a series among them may go up apart)
        refused: set[str] = set()
        for op in ops:
            if op.kind == "delete":
                commands.append(ClientCommand("delete", None, op.ref, None))
                continue
            assert op.item is not None
            try:
                if op.kind == "change":
                    per_instance = self._instance_commands(op.ref, op.item, checks, aparts)
                    if per_instance is not None:
                        commands.extend(per_instance)
                        continue
                data = self.handler.to_eas(op.item, self.version)
            except ConversionError as exc:
                results[op.ref] = OpResult(op.ref, "rejected", message=str(exc))
                continue
            except EassyncError:
                raise
            except Exception as exc:  # this item's failure, not the push's
                log.debug("%s: cannot convert %s", self.location, op.ref, exc_info=True)
                message = f"cannot convert this item ({type(exc).__name__}: {exc})"
                results[op.ref] = OpResult(op.ref, "rejected", message=message)
                continue
            if op.kind == "add":
                bare = self._bare_series(op) if self._adds_exceptions_apart() else None
                if bare is not None:
                    # the server is known to fail on it whole (the habit): bare, then apart
                    data, bare_plans[op.ref] = bare
                commands.append(ClientCommand("add", op.ref, None, data))
            else:
                commands.append(ClientCommand("change", None, op.ref, data))
        if not commands:
            return PushResult(state=state, results=[results[op.ref] for op in ops])
        resp = self._send(state, commands)
        for ref, why in resp.unsent.items():
            results[ref] = OpResult(
                ref,
                "retry",
                ident=ref,
                report=True,
                message=f"an occurrence could not be deleted ({why}); the next sync tries again",
            )
        by_client = {r.client_id: r for r in resp.responses if r.kind == "add"}
        by_server: dict[str | None, list[Any]] = {}
        for response in resp.responses:
            if response.kind in ("change", "delete"):
                by_server.setdefault(response.server_id, []).append(response)
        for op in ops:
            if op.ref in results:
                continue
            if op.kind == "add":
                r = by_client.get(op.ref)
                if r is None:
                    # A server must answer every Add; without an answer we cannot know
                    # the ServerId: the engine recognises the item on the next pull.
                    results[op.ref] = OpResult(op.ref, "retry", message="no answer to Add")
                    continue
                if r.status == 1 and r.server_id and not usable_server_id(r.server_id):
                    # never a key of ours (item 9): the item stays local, unlinked
                    results[op.ref] = OpResult(
                        op.ref,
                        "rejected",
                        message="the server answered this Add with an unusable ServerId "
                        f"{shown_id(r.server_id)}",
                    )
                    continue
                status = _ITEM_STATUS.get(r.status, "rejected")
                if r.status in _CONTENT_REFUSALS or r.status not in _ITEM_STATUS:
                    refused.add(op.ref)
                results[op.ref] = OpResult(
                    op.ref, status, ident=r.server_id, message=_status_text(r.status)
                )
            else:
                results[op.ref] = _change_result(op.ref, by_server.get(op.ref, []))
        new_state = resp.state
        for ref, apart in aparts.items():
            self._settle_apart(ref, apart, by_client, results)
        new_state = self._series_apart(new_state, ops, bare_plans, refused, results)
        new_state = self._check_occurrences(new_state, ops, checks, results)
        if state == SOGO_EMPTY_FOLDER_KEY:
            new_state = SOGO_EMPTY_FOLDER_KEY
        self._read_back_added(ops, results)
        self._read_back(ops, results)
        return PushResult(state=new_state, results=[results[op.ref] for op in ops])

    def push_apart(self, state: str, op: PushOp) -> PushResult | None:
        """A 16.x Add of a series with exceptions that the server failed on alone
        (Horde 5.2 stock crashes on Exceptions carrying InstanceId, issue 15): the
        series goes up bare, then in the apart form (:meth:`_apart_commands`: its
        deleted and moved dates as instance Deletes, each moved occurrence as an event
        of its own), as that server stores them. None where there is no such form (not
        a series with exceptions, before 16.0) or the bare series is refused too: the
        caller parks the item as before. A failure of the bare Add's request is raised;
        one after it leaves the series stored and answered ``ok`` (never added twice),
        its exceptions reported. The folder learns the habit (``ADD_EXCEPTIONS_APART``):
        its later such series go up bare at once (:meth:`push`)."""
        from eassync.eas.client import ClientCommand

        bare = self._bare_series(op)
        if bare is None:
            return None
        data, plan = bare
        resp = self._send(state, [ClientCommand("add", op.ref, None, data)])
        answer = next((r for r in resp.responses if r.client_id == op.ref), None)
        if answer is None or answer.status != 1 or not usable_server_id(answer.server_id or ""):
            return None
        server_id: str = answer.server_id
        log.info("%s: series %s added bare; its exceptions follow apart", self.location, server_id)
        new_state, result = self._exceptions_apart(resp.state, op.ref, server_id, plan)
        knowledge = getattr(self.handler, "knowledge", None)
        if knowledge is not None:
            knowledge.learn(ADD_EXCEPTIONS_APART)
        return PushResult(state=new_state, results=[result])

    def _adds_exceptions_apart(self) -> bool:
        knowledge = getattr(self.handler, "knowledge", None)
        return knowledge is not None and ADD_EXCEPTIONS_APART in knowledge.habits

    def _bare_series(self, op: PushOp) -> tuple[Any, Any] | None:
        """A 16.x Add of a series with exceptions as (the series without them, the
        :class:`ApartPlan` of its exceptions); None for any other item or version."""
        from eassync.eas.versions import at_least

        apart_plan = getattr(self.handler, "apart_plan", None)
        if op.kind != "add" or op.item is None or apart_plan is None:
            return None
        if not at_least(self.version, "16.0"):
            return None
        try:
            event = self.handler.extract(op.item)  # type: ignore[attr-defined]
        except ConversionError:
            return None
        if event.recurrence is None or not (event.exdates or event.overrides):
            return None
        bare = copy.copy(event)
        bare.exdates, bare.overrides = (), {}
        data = self.handler.elements(bare, self.version)  # type: ignore[attr-defined]
        plan = apart_plan(data, op.item, self.version)
        return None if plan is None else (data, plan)

    def _exceptions_apart(
        self, state: str, ref: str, server_id: str, plan: Any
    ) -> tuple[str, OpResult]:
        """The exceptions of the series ``server_id``, stored bare for the Add ``ref``,
        in one more Sync. The series is stored whatever follows: the result is ``ok``
        (an Add answered otherwise would be sent twice), a failure after it reported."""
        commands, apart = self._apart_commands(server_id, plan)
        try:
            sent = self._send(state, commands)
        except EassyncError as exc:
            message = (
                f"the series was stored without its exceptions ({exc}); "
                "the next sync sends them again"
            )
            result = OpResult(
                ref, "ok", ident=server_id, report=True, message=message, incomplete=True
            )
            return state, result
        results: dict[str, OpResult] = {}
        by_client = {r.client_id: r for r in sent.responses if r.kind == "add"}
        failed = [r for r in sent.responses if r.kind in ("change", "delete") and r.status != 1]
        if failed:
            why = _status_text(failed[0].status) or f"Status {failed[0].status}"
            results[server_id] = OpResult(
                server_id, "ok", ident=server_id, report=True, message=why
            )
        self._settle_apart(server_id, apart, by_client, results)
        result = dataclasses.replace(results[server_id], ref=ref, ident=server_id)
        if result.status != "ok":
            result = dataclasses.replace(result, status="ok", report=True)
        return sent.state, result

    def _series_apart(
        self,
        state: str,
        ops: Sequence[PushOp],
        bare_plans: dict[str, Any],
        refused: set[str],
        results: dict[str, OpResult],
    ) -> str:
        """After a push's Sync: the series sent bare get their exceptions apart; a 16.x
        series with exceptions the server refused whole (an item status, as a server may
        instead of failing the request) is tried once in the apart form (issue 15 item
        2), keeping the refusal when that fails too. Returns the SyncKey after it."""
        for op in ops:
            result = results[op.ref]
            if op.ref in bare_plans:
                if result.status == "ok" and result.ident:
                    state, results[op.ref] = self._exceptions_apart(
                        state, op.ref, result.ident, bare_plans[op.ref]
                    )
                continue
            if op.ref not in refused:
                continue
            try:
                answer = self.push_apart(state, op)
            except EassyncError as exc:
                log.info("%s: the bare series failed too: %s", self.location, exc)
                continue
            if answer is not None:
                state, results[op.ref] = answer.state, answer.results[0]
        return state

    def _send(self, state: str, commands: list[Any]) -> _Sent:
        """One Sync with ``commands``, except that a series gets one Delete with
        InstanceId per request: Horde 5.2 keeps only the last of several for the same
        ServerId (its Sync parser keys them by ServerId), so the others follow one per
        request. A failure of the first request is raised as ever; one of a request
        that follows leaves the commands still unsent to the next pass (``unsent``)."""
        from eassync.eas.client import CollectionRequest

        first: list[Any] = []
        later: list[Any] = []
        deleting: set[str] = set()
        for command in commands:
            if command.kind == "delete" and command.instance_id:
                if command.server_id in deleting:
                    later.append(command)
                    continue
                deleting.add(command.server_id)
            first.append(command)
        sent = _Sent(state)
        for number, batch in enumerate([first, *([c] for c in later)]):
            self.requests += 1
            try:
                (resp,) = self.client.sync(
                    [
                        CollectionRequest(
                            collection_id=self.folder.server_id,
                            sync_key=sent.state,
                            get_changes=False,
                            window_size=self.max_batch,
                            commands=batch,
                        )
                    ]
                )
            except EassyncError as exc:
                if number == 0:
                    raise
                for command in later[number - 1 :]:
                    sent.unsent.setdefault(command.server_id, str(exc))
                break
            sent.state = resp.sync_key
            sent.responses.extend(resp.responses)
        return sent

    def _read_back_added(self, ops: Sequence[PushOp], results: dict[str, OpResult]) -> None:
        """The server's copy of each added item its handler asks for (a series with
        moved occurrences: Horde stores those apart, horde-notes §6), so the engine
        can compare it with what was sent. A copy that cannot be fetched or read is
        left out: the item is stored all the same."""
        wanted = getattr(self.handler, "read_back_added", None)
        if wanted is None:
            return
        for op in ops:
            result = results.get(op.ref)
            if op.kind != "add" or op.item is None or result is None or not result.ident:
                continue
            if result.status != "ok" or not wanted(op.item):
                continue
            change = self._refetch_series(result.ident)
            if change.item is None:
                log.info("%s: cannot read back %s (%s)", self.location, result.ident, change.error)
                continue
            results[op.ref] = dataclasses.replace(result, stored=change.item)

    def _read_back(self, ops: Sequence[PushOp], results: dict[str, OpResult]) -> None:
        """Learn which fields the server holds (eassync.sync.slots): fetch the copy of
        a stored item that carries fields not classified yet and compare. At most
        READ_BACKS fetches per push, and only while something is unclassified: a
        handful of requests in a folder's lifetime."""
        knowledge = getattr(self.handler, "knowledge", None)
        slots_of_item = getattr(self.handler, "slots_of_item", None)
        if knowledge is None or slots_of_item is None or self._read_back_failed:
            return
        stored: list[tuple[str, set[str]]] = []
        for op in ops:
            result = results.get(op.ref)
            if op.item is None or result is None or result.status != "ok" or not result.ident:
                continue
            sent = slots_of_item(op.item)
            if knowledge.unclassified(sent):
                stored.append((result.ident, sent))
        for _ in range(min(READ_BACKS, len(stored))):
            # the item that would classify the most fields still unclassified
            server_id, sent = max(stored, key=lambda s: len(knowledge.unclassified(s[1])))
            if not knowledge.unclassified(sent):
                return
            stored = [(sid, s) for sid, s in stored if sid != server_id]
            returned = self._fetch_slots(server_id)
            if returned is None:
                return
            knowledge.read_back(sent, returned)
            log.debug(
                "%s: server holds %s; drops %s", self.location, knowledge.held, knowledge.dropped
            )

    def _fetch_slots(self, server_id: str) -> set[str] | None:
        from eassync.eas.element import Element
        from eassync.errors import EassyncError

        try:
            self.requests += 1
            properties = self.client.fetch_item(self.folder.server_id, server_id)
        except EassyncError as exc:
            # not worth failing a push; what the server holds stays unknown
            log.info("%s: cannot read back %s (%s)", self.location, server_id, exc)
            self._read_back_failed = True
            return None
        data = Element("AirSync:ApplicationData", list(properties.children))
        return set(self.handler.slots_of_data(data))  # type: ignore[attr-defined]

    def _check_occurrences(
        self,
        state: str,
        ops: Sequence[PushOp],
        checks: dict[str, Any],
        results: dict[str, OpResult],
    ) -> str:
        """Read back each series whose occurrence Changes were acknowledged: a server
        that applied one to the whole series (Horde 5.2 at 16.0 ignores InstanceId,
        answering Status 1) has moved every meeting of it, on every device. Such a
        series is repaired at once (:meth:`_repair`) and the folder remembers the
        habit, so later occurrence changes go up in the apart form directly. Returns
        the SyncKey after the repairs."""
        items = {op.ref: op.item for op in ops}
        for ref, plan in checks.items():
            result = results.get(ref)
            item = items.get(ref)
            if result is None or result.status != "ok" or item is None:
                continue
            stored = self._fetch_data(ref)
            if stored is None:
                continue  # not worth failing the push: the next change checks again
            if not self.handler.series_took_occurrence(plan.series, stored, plan.ops):  # type: ignore[attr-defined]
                continue
            log.info(
                "%s: the server applied an occurrence's Change to the whole series %s",
                self.location,
                shown_id(ref),
            )
            knowledge = getattr(self.handler, "knowledge", None)
            if knowledge is not None:
                knowledge.learn(INSTANCE_CHANGE_MOVES_SERIES)
            state = self._repair(state, ref, item, stored, results)
        return state

    def _repair(
        self, state: str, ref: str, item: Item, stored: Any, results: dict[str, OpResult]
    ) -> str:
        """Put back the series ``ref`` the server moved (its copy ``stored``) in one
        more Sync, in the apart form: the series as ``item`` has it, its changed
        occurrences deleted from it and added as events of their own. A repair that
        fails or does not take is reported as a retry naming the event: the next sync
        sends the item again (in the apart form, the habit being known)."""
        plan = self.handler.apart_plan(stored, item, self.version)  # type: ignore[attr-defined]
        if plan is None:
            results[ref] = self._unrepaired(ref, "no form to send it in")
            return state
        commands, apart = self._apart_commands(ref, plan)
        try:
            resp = self._send(state, commands)
        except EassyncError as exc:
            results[ref] = self._unrepaired(ref, str(exc))
            return state
        by_client = {r.client_id: r for r in resp.responses if r.kind == "add"}
        failed = [r for r in resp.responses if r.kind in ("change", "delete") and r.status != 1]
        if failed:
            why = _status_text(failed[0].status) or f"Status {failed[0].status}"
            results[ref] = self._unrepaired(ref, why)
        elif resp.unsent:
            results[ref] = self._unrepaired(ref, resp.unsent[ref])
        self._settle_apart(ref, apart, by_client, results)
        return resp.state

    def _unrepaired(self, ref: str, why: str) -> OpResult:
        return OpResult(
            ref,
            "retry",
            ident=ref,
            report=True,
            message="the server applied the change of one occurrence to the whole series, "
            f"and putting the series back failed ({why}); the next sync tries again: if "
            "this repeats, check the series in the server's calendar",
        )

    def _apart_commands(self, server_id: str, plan: Any) -> tuple[list[Any], _Apart]:
        """The commands of an :class:`ApartPlan` for the series ``server_id``."""
        from eassync.eas.client import ClientCommand

        commands = [ClientCommand.change(server_id, plan.series)]
        for instance_id in plan.deletes:
            commands.append(ClientCommand.delete(server_id, instance_id=instance_id))
        adds: list[tuple[str, Item]] = []
        for one_off, data in plan.one_offs:
            client_id = uuid.uuid4().hex  # never reused (Horde: "Duplicate addition")
            commands.append(ClientCommand.add(client_id, data))
            adds.append((client_id, one_off))
        return commands, _Apart(plan.series, adds, plan.shaped)

    def _settle_apart(
        self, ref: str, apart: _Apart, by_client: dict[Any, Any], results: dict[str, OpResult]
    ) -> None:
        """After a series went up in the apart form: the one-offs the server stored
        (read back: the server's UID and fields), and the series as the server now holds
        it, which the local side takes next pass. A series that does not have the times
        sent is reported (a retry), never left silently."""
        added: list[tuple[str, Item]] = []
        lost: list[str] = []
        for client_id, one_off in apart.adds:
            r = by_client.get(client_id)
            if r is None or r.status != 1 or not r.server_id or not usable_server_id(r.server_id):
                lost.append(self.handler.describe(one_off))
                continue
            fetched = self._refetch_series(r.server_id)
            added.append((r.server_id, fetched.item or one_off))
        result = results.get(ref) or OpResult(ref, "ok", ident=ref)
        result = dataclasses.replace(result, apart=tuple(added))
        if result.status == "ok":
            data = self._fetch_data(ref)
            if data is not None and not self.handler.series_restored(apart.series, data):  # type: ignore[attr-defined]
                result = dataclasses.replace(
                    self._unrepaired(ref, "its times did not take"), apart=tuple(added)
                )
            elif lost:
                result = dataclasses.replace(
                    result,
                    status="retry",
                    report=True,
                    message=f"the server did not store {', '.join(lost)} as an event of "
                    "its own; the next sync tries again",
                )
            else:
                # the server's copy; if it cannot be read, the shape it was sent in
                read = self._convert("change", ref, data) if data is not None else None
                stored = read.item if read is not None and read.item else apart.shaped
                result = dataclasses.replace(result, stored=stored)
        results[ref] = result

    def _fetch_data(self, server_id: str) -> Any:
        """The server's ApplicationData of ``server_id`` (ItemOperations), or None."""
        from eassync.eas.element import Element

        try:
            self.requests += 1
            properties = self.client.fetch_item(self.folder.server_id, server_id)
        except EassyncError as exc:
            log.info("%s: cannot read back %s (%s)", self.location, server_id, exc)
            return None
        return Element("AirSync:ApplicationData", list(properties.children))

    def _ignores_instance(self) -> bool:
        knowledge = getattr(self.handler, "knowledge", None)
        return knowledge is not None and INSTANCE_CHANGE_MOVES_SERIES in knowledge.habits

    def _instance_commands(
        self,
        server_id: str,
        item: Item,
        checks: dict[str, Any] | None = None,
        aparts: dict[str, _Apart] | None = None,
    ) -> list[Any] | None:
        """≥16.0 calendar Change: the series without exceptions plus one Change/Delete
        with ``InstanceId`` per changed occurrence, in one request (MS-ASCAL 2.2.2.22: a
        16.x client must not send Exceptions to change one). The plan is computed from
        the server's current copy (ItemOperations Fetch); None (whole-item Change, the
        ≤14.1 way) when the handler has no per-occurrence form for this change or the
        copy cannot be fetched."""
        from eassync.eas.client import ClientCommand
        from eassync.eas.element import Element
        from eassync.eas.versions import at_least
        from eassync.errors import EassyncError

        plan_for = getattr(self.handler, "instance_plan", None)
        if plan_for is None or not at_least(self.version, "16.0"):
            return None
        try:
            self.requests += 1
            properties = self.client.fetch_item(self.folder.server_id, server_id)
        except EassyncError as exc:
            log.info(
                "%s: cannot fetch series %s (%s); sending it whole", self.location, server_id, exc
            )
            return None
        server = Element("AirSync:ApplicationData", list(properties.children))
        plan = plan_for(server, item, self.version)
        if plan is None:
            return None
        changes = any(iop.kind == "change" for iop in plan.ops)
        if changes and aparts is not None and self._ignores_instance():
            # the server would apply these to the whole series: the apart form instead
            apart_plan = self.handler.apart_plan(server, item, self.version)  # type: ignore[attr-defined]
            if apart_plan is not None:
                commands, aparts[server_id] = self._apart_commands(server_id, apart_plan)
                return commands
        if changes and checks is not None:
            checks[server_id] = plan
        commands = [ClientCommand.change(server_id, plan.series)]
        for iop in plan.ops:
            if iop.kind == "delete":
                commands.append(ClientCommand.delete(server_id, instance_id=iop.instance_id))
            else:
                commands.append(ClientCommand.change(server_id, iop.data, iop.instance_id))
        return commands


@dataclass
class _Sent:
    """What :meth:`EasRemoteCollection._send` got: the SyncKey after the last
    request answered, every response, and the series whose commands could not all be
    sent (ServerId → why)."""

    state: str
    responses: list[Any] = field(default_factory=list)
    unsent: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Apart:
    """A series sent in the apart form: the series as sent, and each one-off's
    ClientId with the local item it was made from."""

    series: Any
    adds: list[tuple[str, Item]]
    shaped: Item


#: rounds of one pull before GetItemEstimate is asked how many are still to come
ESTIMATE_AFTER_ROUNDS = 8
#: without an estimate: enough for 100,000 items at WindowSize 512, twice over
MAX_ROUNDS_WITHOUT_ESTIMATE = 400
#: a round that brings nothing, or the same SyncKey again, while MoreAvailable: this
#: many in a row and the server is going round in circles
MAX_IDLE_ROUNDS = 3


class PullBound:
    """Ends a pull whose server keeps answering MoreAvailable (MS-ASCMD 2.2.3.114):
    a hostile or broken server could otherwise keep a pass going for ever.

    Stops after MAX_IDLE_ROUNDS rounds in a row without progress (no item, or the
    SyncKey unchanged), and after a cap of rounds: ESTIMATE_AFTER_ROUNDS rounds, then
    what GetItemEstimate announces with a margin (×1.5 + 4 rounds), or
    MAX_ROUNDS_WITHOUT_ESTIMATE when the server cannot tell."""

    def __init__(self, location: str, window: int, estimate: Callable[[str], int | None]) -> None:
        self.location = location
        self.window = max(1, window)
        self.estimate = estimate
        self.rounds = 0
        self.idle = 0
        self.cap: int | None = None
        self.state = ""

    def next_round(self) -> None:
        self.rounds += 1

    def received(self, count: int, asked: str, answered: str) -> None:
        self.idle = self.idle + 1 if count == 0 or asked == answered else 0
        self.state = answered

    def check(self) -> None:
        from eassync.errors import ProtocolError

        hint = (
            "what came so far is stored and the next sync goes on from there; if this "
            "repeats, the server is misbehaving: rerun with -vv and report it"
        )
        if self.idle >= MAX_IDLE_ROUNDS:
            raise ProtocolError(
                f"{self.location}: the server answered MoreAvailable {self.idle} times in a "
                "row without sending anything new; stopped",
                hint=hint,
            )
        if self.cap is None and self.rounds >= ESTIMATE_AFTER_ROUNDS:
            expected = self.estimate(self.state)
            if expected is None:
                self.cap = MAX_ROUNDS_WITHOUT_ESTIMATE
            else:
                self.cap = self.rounds + math.ceil(expected * 1.5 / self.window) + 4
        if self.cap is not None and self.rounds >= self.cap:
            raise ProtocolError(
                f"{self.location}: the server still answers MoreAvailable after "
                f"{self.rounds} rounds of up to {self.window} items, more than it announced; "
                "stopped",
                hint=hint,
            )


def _change_result(ref: str, responses: list[Any]) -> OpResult:
    """One Change/Delete op from the responses to its commands (a 16.x series change
    has one per occurrence): ok only if none failed (no response means success,
    MS-ASCMD 2.2.3.145)."""
    failed = [r for r in responses if r.status != 1]
    if not failed:
        return OpResult(ref, "ok", ident=ref)
    series = [r for r in failed if not r.instance_id]
    if series:
        status = _ITEM_STATUS.get(series[0].status, "rejected")
        return OpResult(ref, status, ident=ref, message=_status_text(series[0].status))
    # The series itself was stored; an occurrence was not. Status 8 here means an
    # unknown occurrence, not a missing item: never "not_found" (that drops the series).
    first = failed[0]
    status = _INSTANCE_STATUS.get(first.status, "rejected")
    occurrences = ", ".join(str(r.instance_id) for r in failed)
    why = "no such occurrence (Status 8)" if first.status == 8 else _status_text(first.status)
    return OpResult(ref, status, ident=ref, message=f"occurrence {occurrences}: {why}")


# Per-occurrence (InstanceId) statuses: the series exists whatever they say.
_INSTANCE_STATUS: dict[int, OpStatus] = {7: "conflict", 5: "retry", 9: "retry", 16: "retry"}


def _status_text(status: int) -> str:
    return {
        1: "",
        4: "the server rejected the request (Status 4, protocol error)",
        5: "transient server error (Status 5)",
        6: "the server could not store this item (Status 6, conversion error)",
        7: "conflict: the server's version wins (Status 7)",
        8: "the item no longer exists on the server (Status 8)",
        9: "the server could not complete the operation (Status 9, e.g. mailbox full)",
        183: "some exceptions of the series were not saved (Status 183)",
        INVALID_STATUS: "the server answered with a Status that is not a number",
    }.get(status, f"the server answered Status {status}")


def usable_server_id(server_id: str) -> bool:
    """A ServerId eassync can keep: not empty, no control characters (NUL, ESC, CR/LF
    and the C1 range) and no line or paragraph separators."""
    return bool(server_id) and not any(
        unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in server_id
    )


def shown_id(server_id: str) -> str:
    """A ServerId (or any server text) for messages: quoted, control characters escaped."""
    return "'" + "".join(map(_shown_char, server_id)) + "'"


def _shown_char(c: str) -> str:
    if unicodedata.category(c) not in ("Cc", "Zl", "Zp"):
        return c
    return f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}"


#: the fields that name an item in messages, by content type, first found wins
_NAME_TAGS = ("Calendar:Subject", "Tasks:Subject", "Contacts:FileAs")


def item_name(data: Any) -> str | None:
    """A short name of a server item for messages (subject, file-as, first and last
    name), control characters escaped; None if it has none."""
    if data is None:
        return None
    for tag in _NAME_TAGS:
        text = data.text(tag)
        if text and text.strip():
            return shown_id(text.strip()[:80])
    names = [data.text(t) for t in ("Contacts:FirstName", "Contacts:LastName")]
    joined = " ".join(n.strip() for n in names if n and n.strip())
    return shown_id(joined[:80]) if joined else None
