"""Sync (MS-ASCMD 2.2.1.21; eas-protocol.md §5): collections, client commands, changes.

Per collection: SyncKey 0 primes (stores Options and Supported, no items); a later
key applies the client's Add/Change/Delete/Fetch, then returns up to WindowSize
server changes with MoreAvailable. The previous key is answered as a retry (changes
recomputed from that key's state; Adds whose ClientId was already created answer with
the same ServerId, as grommunio-sync does); any other key gets Status 3.

≥16.0 calendars: ``Change``/``Delete`` with ``AirSyncBase:InstanceId`` set or delete
one occurrence's exception (``_client_instance``); a series Change that moves the
series or alters its Recurrence without sending Exceptions drops the exceptions
(MS-ASCAL 2.2.2.22). Other devices receive the series as a plain Change.

Not implemented (yet): DeletesAsMoves into Deleted Items (deletes are always hard),
Partial merging beyond replacing the cached collections, ConversationMode.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from eassync.devserver import itemdata
from eassync.devserver.commands.context import Context, changed_since
from eassync.devserver.state import (
    ChangePage,
    SyncState,
    changes_page,
    count_changes,
    load_sync_state,
    make_filter,
    new_sync_key,
    save_sync_state,
)
from eassync.devserver.store import Folder
from eassync.eas.element import E, Element

log = logging.getLogger("eassync.devserver")

# Sync status values (MS-ASCMD 2.2.3.177.17)
OK = 1
INVALID_SYNC_KEY = 3
PROTOCOL_ERROR = 4
CONVERSION_ERROR = 6
CONFLICT = 7
NOT_FOUND = 8
HIERARCHY_CHANGED = 12
NO_CACHED_REQUEST = 13
WAIT_OUT_OF_RANGE = 14

DEFAULT_WINDOW = 100
MAX_WINDOW = 512
COLLECTION_ORDER = (
    "AirSync:SyncKey",
    "AirSync:CollectionId",
    "AirSync:Supported",
    "AirSync:DeletesAsMoves",
    "AirSync:GetChanges",
    "AirSync:WindowSize",
    "AirSync:ConversationMode",
    "AirSync:Options",
    "AirSync:Commands",
)


def window_size(raw: int | None) -> int:
    """WindowSize rules of MS-ASCMD 2.2.3.199: absent 100; 0 or above 512 means 512."""
    if raw is None:
        return DEFAULT_WINDOW
    if raw <= 0 or raw > MAX_WINDOW:
        return MAX_WINDOW
    return raw


def handle(ctx: Context, body: Element | None) -> Element | None:
    cache_key = (ctx.user, ctx.device)
    replayed = body is None
    if body is None:
        # An empty request replays the cached one (MS-ASCMD 2.2.1.21, §5.6 of the brief).
        with ctx.caches.lock:
            body = ctx.caches.sync_requests.get(cache_key)
        if body is None:
            return _top_status(NO_CACHED_REQUEST)
    elif body.tag != "AirSync:Sync":
        return _top_status(PROTOCOL_ERROR)
    else:
        with ctx.caches.lock:
            cached = ctx.caches.sync_requests.get(cache_key)
            if body.find("AirSync:Partial") is not None and cached is not None:
                body = _merge_partial(cached, body)
            ctx.caches.sync_requests[cache_key] = body

    wait_seconds, problem = _wait_seconds(ctx, body)
    if problem is not None:
        return problem
    collections = body.findall("AirSync:Collections/AirSync:Collection")
    idle = wait_seconds and not _has_commands(collections)
    if idle and not _wait_for_changes(ctx, collections, wait_seconds, replayed):
        return None  # nothing changed within the wait: an empty 200 (MS-ASCMD 2.2.1.21)

    budget = None
    if body.find("AirSync:WindowSize") is not None:  # a Sync-level cap for the whole answer
        budget = window_size(body.int("AirSync:WindowSize"))
    results = E("AirSync:Collections")
    for request in collections:
        result, sent = _sync_collection(ctx, request, replayed, budget)
        results.append(result)
        if budget is not None:
            budget = max(budget - sent, 0)
    return E("AirSync:Sync", results)


# --- one collection ------------------------------------------------------------------


@dataclass
class Outcome:
    responses: list[Element] = field(default_factory=list)
    client_ids: dict[str, str] = field(default_factory=dict)


def _sync_collection(
    ctx: Context, request: Element, replayed: bool, budget: int | None
) -> tuple[Element, int]:
    collection_id = request.text("AirSync:CollectionId") or ""
    key = request.text("AirSync:SyncKey") or ""
    _warn_on_order(request)
    store = ctx.store
    folder = store.folder(ctx.user, collection_id)
    if folder is None or folder.item_class is None:
        return _collection(key, collection_id, HIERARCHY_CHANGED), 0
    options = _read_options(request.find("AirSync:Options"))
    get_changes_el = request.find("AirSync:GetChanges")
    get_changes = None if get_changes_el is None else get_changes_el.text() in (None, "1")

    with store.transaction():
        state = load_sync_state(store, ctx.user, ctx.device, collection_id)
        if replayed and state is not None:
            key = state.key  # a replayed request continues from the current state
        if key == "0":
            if get_changes:  # MS-ASCMD 2.2.3.84: GetChanges with SyncKey 0 is an error
                return _collection("0", collection_id, PROTOCOL_ERROR), 0
            return _prime(ctx, request, folder, options), 0
        if state is None:
            return _collection("0", collection_id, INVALID_SYNC_KEY), 0
        if key == state.key:
            base_watermark, base_cutoff, retry = state.watermark, state.win_start, False
        elif key == state.prev_key and state.prev_watermark is not None:
            base_watermark, base_cutoff, retry = state.prev_watermark, state.prev_win_start, True
        else:
            return _collection("0", collection_id, INVALID_SYNC_KEY), 0
        state.options.update(options)  # Options are sticky (MS-ASCMD 2.2.3.125.6)

        outcome = Outcome()
        commands = request.find("AirSync:Commands")
        if commands is not None:
            _apply_commands(ctx, folder, state, commands, base_watermark, retry, outcome)

        window = window_size(request.int("AirSync:WindowSize"))
        if budget is not None:
            window = min(window, budget)
        filt = make_filter(folder.item_class, int(state.options.get("filter_type", 0)))
        if get_changes is False or window == 0:
            page = ChangePage([], False, base_watermark)
            cutoff = base_cutoff
        else:
            page = changes_page(
                store,
                ctx.user,
                collection_id,
                ctx.device,
                watermark=base_watermark,
                prime=state.prime,
                window=window,
                filt=filt,
                old_cutoff=base_cutoff,
                sent_max=state.sent_max,
            )
            cutoff = filt.cutoff
        new_key = new_sync_key(state.key)
        client_ids = dict(state.prev_client_ids) if retry else {}
        client_ids.update(outcome.client_ids)
        save_sync_state(
            store,
            ctx.user,
            ctx.device,
            collection_id,
            SyncState(
                key=new_key,
                watermark=page.watermark,
                prime=state.prime,
                options=state.options,
                win_start=cutoff,
                prev_key=key,
                prev_watermark=base_watermark,
                prev_win_start=base_cutoff,
                prev_client_ids=client_ids,
                sent_max=max(state.sent_max, state.watermark),
            ),
        )

    result = _collection(new_key, collection_id, OK)
    if page.more_available:
        result.append(E("AirSync:MoreAvailable"))
    if page.changes:
        truncation = state.options.get("truncation")
        commands_out = result.append(E("AirSync:Commands"))
        for change in page.changes:
            command = E(f"AirSync:{change.kind}", E("AirSync:ServerId", value=change.server_id))
            if change.data is not None:
                command.append(itemdata.shape_body(itemdata.loads(change.data), truncation))
            commands_out.append(command)
    if outcome.responses:
        result.append(E("AirSync:Responses", *outcome.responses))
    return result, len(page.changes)


def _prime(ctx: Context, request: Element, folder: Folder, options: dict[str, Any]) -> Element:
    supported_el = request.find("AirSync:Supported")
    options.setdefault("filter_type", 0)
    options["supported"] = None if supported_el is None else [c.tag for c in supported_el]
    filt = make_filter(folder.item_class, int(options["filter_type"]))
    key = new_sync_key()
    save_sync_state(
        ctx.store,
        ctx.user,
        ctx.device,
        folder.server_id,
        SyncState(
            key=key,
            watermark=0,
            prime=ctx.store.current_modseq(),
            options=options,
            win_start=filt.cutoff,
        ),
    )
    return _collection(key, folder.server_id, OK)


def _read_options(options: Element | None) -> dict[str, Any]:
    if options is None:
        return {}
    read: dict[str, Any] = {}
    filter_type = options.int("AirSync:FilterType")
    if filter_type is not None:
        read["filter_type"] = filter_type
    conflict = options.int("AirSync:Conflict")
    if conflict is not None:
        read["conflict"] = conflict
    truncation = options.int("AirSyncBase:BodyPreference/AirSyncBase:TruncationSize")
    if truncation is not None:
        read["truncation"] = truncation
    return read


# --- client commands -----------------------------------------------------------------


def _apply_commands(
    ctx: Context,
    folder: Folder,
    state: SyncState,
    commands: Element,
    base_watermark: int,
    retry: bool,
    outcome: Outcome,
) -> None:
    for command in commands:
        name = command.name
        if name in ("Change", "Delete") and command.find("AirSyncBase:InstanceId") is not None:
            _client_instance(ctx, folder, state, command, base_watermark, outcome)
        elif name == "Add":
            _client_add(ctx, folder, state, command, retry, outcome)
        elif name == "Change":
            _client_change(ctx, folder, state, command, base_watermark, outcome)
        elif name == "Delete":
            _client_delete(ctx, folder, command, outcome)
        elif name == "Fetch":
            _client_fetch(ctx, folder, command, outcome)
        else:
            log.warning("Sync: ignoring unknown client command %s", command.tag)


def _client_add(
    ctx: Context,
    folder: Folder,
    state: SyncState,
    command: Element,
    retry: bool,
    outcome: Outcome,
) -> None:
    client_id = command.text("AirSync:ClientId") or ""
    data = command.find("AirSync:ApplicationData")

    def answer(status: int, server_id: str | None = None, extra: Element | None = None) -> None:
        response = E("AirSync:Add", E("AirSync:ClientId", value=client_id))
        if server_id is not None:
            response.add("AirSync:ServerId", server_id)
        response.add("AirSync:Status", status)
        if extra is not None:
            response.append(extra)
        outcome.responses.append(response)

    if retry and client_id in state.prev_client_ids:
        # The first answer was lost and the client retries: same ServerId, no duplicate.
        server_id = state.prev_client_ids[client_id]
        outcome.client_ids[client_id] = server_id
        answer(OK, server_id)
        return
    assert folder.item_class is not None
    reason = itemdata.invalid_reason(data, folder.item_class)
    if reason is not None or data is None:
        log.info("Sync: Add %s rejected with Status 6: %s", client_id, reason)
        answer(CONVERSION_ERROR)
        return

    refusal = ctx.store.add_exceptions_refusal
    if refusal is not None and ctx.at_least("16.0") and itemdata.exceptions_by_instance(data):
        ctx.store.add_exceptions_failures += 1
        log.info("Sync: Add %s of a series with exceptions refused, Status %s", client_id, refusal)
        answer(refusal)
        return

    if ctx.faults is not None and ctx.faults.take_item(
        "add_without_server_id", "Sync", data.to_xml()
    ):
        log.info("Sync: Add %s answered without ServerId (fault), not stored", client_id)
        answer(OK)
        return

    client_uid = None
    extra = None
    if folder.item_class == "Calendar":
        client_uid = data.text("Calendar:ClientUid")
        if ctx.at_least("16.0") and client_uid:
            # 16.x: ClientUid lets the server recognise a re-sent Add (MS-ASCAL 2.2.2.11).
            existing = ctx.store.find_by_client_uid(ctx.user, folder.server_id, client_uid)
            if existing is not None:
                outcome.client_ids[client_id] = existing
                answer(OK, existing)
                return
        uid = None if ctx.store.assign_uids else data.text("Calendar:UID")
        if uid is None:
            # ≤14.1 the server invents a missing UID; ≥16.0 it always assigns it and
            # returns it in the Add response (MS-ASCAL 2.2.2.46). With assign_uids it
            # replaces the client's at every version (Horde).
            uid = str(uuid.uuid4()).upper()
            data = E(data.tag, *[c for c in data.children if c.tag != "Calendar:UID"])
            data.add("Calendar:UID", uid)
        if ctx.at_least("16.0"):
            extra = E("AirSync:ApplicationData", E("Calendar:UID", value=uid))
    one_offs: list[Element] = []
    if folder.item_class == "Calendar" and ctx.store.split_exceptions:
        data, one_offs = itemdata.split_exceptions(data)
    server_id = ctx.store.add_item(
        ctx.user, folder.server_id, data, origin=ctx.device, client_uid=client_uid
    )
    for one_off in one_offs:
        # made by the server, not the device: every device gets them, this one too
        one_off.add("Calendar:UID", str(uuid.uuid4()).upper())
        ctx.store.add_item(ctx.user, folder.server_id, one_off)
    outcome.client_ids[client_id] = server_id
    answer(OK, server_id, extra)


def _client_change(
    ctx: Context,
    folder: Folder,
    state: SyncState,
    command: Element,
    base_watermark: int,
    outcome: Outcome,
) -> None:
    server_id = command.text("AirSync:ServerId") or ""
    data = command.find("AirSync:ApplicationData")

    def fail(status: int) -> None:
        outcome.responses.append(
            E(
                "AirSync:Change",
                E("AirSync:ServerId", value=server_id),
                E("AirSync:Status", value=status),
            )
        )

    row = ctx.store.db.execute(
        "SELECT data, modseq, origin FROM items WHERE user = ? AND folder_id = ?"
        " AND server_id = ? AND deleted = 0",
        (ctx.user, folder.server_id, server_id),
    ).fetchone()
    if row is None:
        fail(NOT_FOUND)
        return
    assert folder.item_class is not None
    if data is None or itemdata.invalid_reason(data, folder.item_class) is not None:
        fail(CONVERSION_ERROR)
        return
    old_json, modseq, origin = row
    own = origin == ctx.device and modseq > state.prime
    server_wins = int(state.options.get("conflict", 1)) == 1
    if server_wins and modseq > base_watermark and not own:
        # Changed on the server since the client's key: server wins (MS-ASCMD 2.2.3.34);
        # the server version goes to the client with the changes of this response.
        fail(CONFLICT)
        return
    all_ghosted = folder.item_class == "Calendar" and ctx.at_least("16.0")
    old_data = itemdata.loads(old_json)
    merged = itemdata.merge_change(old_data, data, state.options.get("supported"), all_ghosted)
    own_uid = old_data.text("Calendar:UID")
    if ctx.store.assign_uids and own_uid:
        # the server's UID stays whatever the client sends
        merged = E(merged.tag, *[c for c in merged.children if c.tag != "Calendar:UID"])
        merged.add("Calendar:UID", own_uid)
    horde = ctx.store.instance_change_moves_series and data.find("Calendar:Recurrence") is not None
    if (
        all_ghosted
        and data.find(itemdata.EXCEPTIONS) is None
        and (horde or itemdata.series_shape(merged) != itemdata.series_shape(old_data))
    ):
        # (Horde 5.2 at 16.0 drops them on every Change that carries the Recurrence)
        # 16.x: moving a series or changing its pattern deletes its exceptions (MS-ASCAL
        # 2.2.2.22); the client re-sends the ones it keeps with InstanceId
        merged = itemdata.without_exceptions(merged)
    ctx.store.change_item(ctx.user, folder.server_id, server_id, merged, origin=ctx.device)


def _client_instance(
    ctx: Context,
    folder: Folder,
    state: SyncState,
    command: Element,
    base_watermark: int,
    outcome: Outcome,
) -> None:
    """16.x ``Change``/``Delete`` of one occurrence (MS-ASCMD 2.2.3.24, 2.2.3.42.2):
    ``InstanceId`` is the occurrence's original start; the series' exception for it is
    stored (Change) or marked ``Deleted`` (Delete). The answer names the InstanceId
    (MS-ASAIRS 2.2.2.25); no answer means success."""
    server_id = command.text("AirSync:ServerId") or ""
    instance_id = command.text("AirSyncBase:InstanceId") or ""

    def fail(status: int, why: str) -> None:
        log.info(
            "Sync: %s of %s/%s: Status %s (%s)", command.name, server_id, instance_id, status, why
        )
        outcome.responses.append(
            E(
                f"AirSync:{command.name}",
                E("AirSync:ServerId", value=server_id),
                E("AirSyncBase:InstanceId", value=instance_id),
                E("AirSync:Status", value=status),
            )
        )

    if not ctx.at_least("16.0") or folder.item_class != "Calendar":
        fail(PROTOCOL_ERROR, "InstanceId needs 16.0 and a calendar")
        return
    row = ctx.store.db.execute(
        "SELECT data, modseq, origin FROM items WHERE user = ? AND folder_id = ?"
        " AND server_id = ? AND deleted = 0",
        (ctx.user, folder.server_id, server_id),
    ).fetchone()
    if row is None:
        fail(NOT_FOUND, "no such item")
        return
    old_json, modseq, origin = row
    series = itemdata.loads(old_json)
    if not itemdata.is_occurrence(series, instance_id):
        fail(NOT_FOUND, "no such occurrence")
        return
    fields = None
    if command.name == "Change":
        fields = command.find("AirSync:ApplicationData")
        if fields is None or itemdata.invalid_reason(fields, "Calendar") is not None:
            fail(CONVERSION_ERROR, "unusable ApplicationData")
            return
    own = origin == ctx.device and modseq > state.prime
    if int(state.options.get("conflict", 1)) == 1 and modseq > base_watermark and not own:
        fail(CONFLICT, "changed on the server")  # server wins, as for the series
        return
    if fields is not None and ctx.store.instance_change_moves_series:
        # Horde 5.2 ignores the InstanceId of a Change: the occurrence's fields become
        # the series' own (its times, its subject), its exceptions kept, Status 1
        changed = itemdata.merge_change(series, fields, None, all_ghosted=True)
    else:
        changed = itemdata.put_exception(series, instance_id, fields)
    ctx.store.change_item(ctx.user, folder.server_id, server_id, changed, origin=ctx.device)


def _client_delete(ctx: Context, folder: Folder, command: Element, outcome: Outcome) -> None:
    server_id = command.text("AirSync:ServerId") or ""
    try:
        ctx.store.delete_item(ctx.user, folder.server_id, server_id, origin=ctx.device)
    except KeyError:
        outcome.responses.append(
            E(
                "AirSync:Delete",
                E("AirSync:ServerId", value=server_id),
                E("AirSync:Status", value=NOT_FOUND),
            )
        )


def _client_fetch(ctx: Context, folder: Folder, command: Element, outcome: Outcome) -> None:
    server_id = command.text("AirSync:ServerId") or ""
    response = E("AirSync:Fetch", E("AirSync:ServerId", value=server_id))
    try:
        data = ctx.store.get_item(ctx.user, folder.server_id, server_id)
    except KeyError:
        response.add("AirSync:Status", NOT_FOUND)
    else:
        response.add("AirSync:Status", OK)
        response.append(data)
    outcome.responses.append(response)


# --- long poll, partial, helpers -----------------------------------------------------


def _wait_seconds(ctx: Context, body: Element) -> tuple[float, Element | None]:
    """The long-poll time asked for (0 = none), or a Status 4/14 answer."""
    wait = body.int("AirSync:Wait")
    heartbeat = body.int("AirSync:HeartbeatInterval")
    if wait is not None and heartbeat is not None:
        return 0, _top_status(PROTOCOL_ERROR)
    if wait is not None:
        if not 1 <= wait <= 59:  # minutes (MS-ASCMD 2.2.3.198)
            limit = 1 if wait < 1 else 59
            return 0, E(
                "AirSync:Sync",
                E("AirSync:Status", value=WAIT_OUT_OF_RANGE),
                E("AirSync:Limit", value=limit),
            )
        return wait * 60.0, None
    if heartbeat is not None:
        low, high = ctx.settings.ping_min, ctx.settings.ping_max
        if not low <= heartbeat <= high:
            limit = low if heartbeat < low else high
            return 0, E(
                "AirSync:Sync",
                E("AirSync:Status", value=WAIT_OUT_OF_RANGE),
                E("AirSync:Limit", value=limit),
            )
        return float(heartbeat), None
    return 0, None


def _has_commands(collections: list[Element]) -> bool:
    return any(c.find("AirSync:Commands") is not None for c in collections)


def _wait_for_changes(
    ctx: Context, collections: list[Element], seconds: float, replayed: bool
) -> bool:
    """Block until one of the collections has changes for this device, or time runs out."""
    store = ctx.store
    deadline = time.monotonic() + seconds
    while True:
        with store.changed:
            seen = store.version
        if ctx.settings.stopping.is_set() or _any_pending(ctx, collections, replayed):
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        with store.changed:
            store.changed.wait_for(changed_since(ctx, seen), timeout=remaining)
        if store.closed:
            return True


def _any_pending(ctx: Context, collections: list[Element], replayed: bool) -> bool:
    for request in collections:
        collection_id = request.text("AirSync:CollectionId") or ""
        key = request.text("AirSync:SyncKey") or ""
        state = load_sync_state(ctx.store, ctx.user, ctx.device, collection_id)
        folder = ctx.store.folder(ctx.user, collection_id)
        if state is None or folder is None or (key != state.key and not replayed):
            return True  # something to tell at once (an error status)
        filt = make_filter(folder.item_class, int(state.options.get("filter_type", 0)))
        pending = count_changes(
            ctx.store,
            ctx.user,
            collection_id,
            ctx.device,
            watermark=state.watermark,
            prime=state.prime,
            filt=filt,
            limit=1,
        )
        if pending:
            return True
    return False


def _merge_partial(cached: Element, partial: Element) -> Element:
    """A Partial request: its collections replace the cached ones with the same id."""
    given = {
        c.text("AirSync:CollectionId"): c
        for c in partial.findall("AirSync:Collections/AirSync:Collection")
    }
    merged = [
        given.pop(c.text("AirSync:CollectionId"), c)
        for c in cached.findall("AirSync:Collections/AirSync:Collection")
    ]
    merged.extend(given.values())
    top = [c for c in partial.children if c.tag not in ("AirSync:Collections", "AirSync:Partial")]
    return E("AirSync:Sync", *top, E("AirSync:Collections", *merged))


def _warn_on_order(request: Element) -> None:
    """Exchange answers Status 4 to a Collection out of order (MS-ASCMD 2.2.3.29.2); we warn."""
    positions = [COLLECTION_ORDER.index(c.tag) for c in request if c.tag in COLLECTION_ORDER]
    if positions != sorted(positions):
        log.warning("Sync: Collection children out of the order Exchange requires")


def _collection(key: str, collection_id: str, status: int) -> Element:
    return E(
        "AirSync:Collection",
        E("AirSync:SyncKey", value=key),
        E("AirSync:CollectionId", value=collection_id),
        E("AirSync:Status", value=status),
    )


def _top_status(code: int) -> Element:
    return E("AirSync:Sync", E("AirSync:Status", value=code))
