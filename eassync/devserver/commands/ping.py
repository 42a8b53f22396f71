"""Ping (MS-ASCMD 2.2.1.13; eas-protocol.md §6.3): wait until a watched folder changes.

The answer comes at once when a watched folder already has changes this device has
not synced (Status 2), or the hierarchy changed since its last FolderSync (Status 7);
otherwise the request waits on the store's condition variable (no polling) until a
write touches a watched folder (Status 2) or the heartbeat runs out (Status 1).
The interval and folder list are cached per device, so an empty Ping reuses them.
"""

from __future__ import annotations

import json
import time

from eassync.devserver.commands.context import Context, changed_since
from eassync.devserver.state import (
    count_changes,
    hierarchy_changed_since,
    load_folder_state,
    load_sync_state,
    make_filter,
)
from eassync.eas.element import E, Element

EXPIRED = 1
CHANGES = 2
MISSING_PARAMETERS = 3
SYNTAX_ERROR = 4
INTERVAL_OUT_OF_RANGE = 5
TOO_MANY_FOLDERS = 6
HIERARCHY_CHANGED = 7
MAX_FOLDERS = 300


def handle(ctx: Context, body: Element | None) -> Element | None:
    store = ctx.store
    cached = store.device(ctx.user, ctx.device)["ping"]
    cache = json.loads(cached) if cached else {}
    if body is not None and body.tag != "Ping:Ping":
        return _status(SYNTAX_ERROR)
    interval = body.int("Ping:HeartbeatInterval") if body is not None else None
    folders_el = body.findall("Ping:Folders/Ping:Folder") if body is not None else []
    folder_ids = [f.text("Ping:Id") or "" for f in folders_el] or cache.get("folders")
    if interval is None:
        interval = cache.get("interval")
    if interval is None or not folder_ids:
        return _status(MISSING_PARAMETERS)
    low, high = ctx.settings.ping_min, ctx.settings.ping_max
    if not low <= interval <= high:
        limit = low if interval < low else high
        return E(
            "Ping:Ping",
            E("Ping:Status", value=INTERVAL_OUT_OF_RANGE),
            E("Ping:HeartbeatInterval", value=limit),
        )
    if len(folder_ids) > MAX_FOLDERS:
        return E(
            "Ping:Ping",
            E("Ping:Status", value=TOO_MANY_FOLDERS),
            E("Ping:MaxFolders", value=MAX_FOLDERS),
        )
    store.update_device(
        ctx.user, ctx.device, ping=json.dumps({"interval": interval, "folders": folder_ids})
    )

    start_modseq = store.current_modseq()
    deadline = time.monotonic() + interval
    while True:
        with store.changed:
            seen = store.version
        if store.closed or ctx.settings.stopping.is_set():
            return _status(EXPIRED)
        if _hierarchy_changed(ctx, folder_ids):
            return _status(HIERARCHY_CHANGED)
        changed = [fid for fid in folder_ids if _has_changes(ctx, fid, start_modseq)]
        if changed:
            folders = E("Ping:Folders", *[E("Ping:Folder", value=fid) for fid in changed])
            return E("Ping:Ping", E("Ping:Status", value=CHANGES), folders)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return _status(EXPIRED)
        with store.changed:
            store.changed.wait_for(changed_since(ctx, seen), timeout=remaining)


def _hierarchy_changed(ctx: Context, folder_ids: list[str]) -> bool:
    if any(ctx.store.folder(ctx.user, fid) is None for fid in folder_ids):
        return True
    state = load_folder_state(ctx.store, ctx.user, ctx.device)
    return state is not None and hierarchy_changed_since(ctx.store, ctx.user, state.watermark)


def _has_changes(ctx: Context, folder_id: str, start_modseq: int) -> bool:
    state = load_sync_state(ctx.store, ctx.user, ctx.device, folder_id)
    if state is None:
        # Never synced by this device: report what changes from now on.
        watermark, prime, filter_type = start_modseq, start_modseq, 0
    else:
        watermark, prime = state.watermark, state.prime
        filter_type = int(state.options.get("filter_type", 0))
    folder = ctx.store.folder(ctx.user, folder_id)
    filt = make_filter(folder.item_class if folder else None, filter_type)
    return (
        count_changes(
            ctx.store,
            ctx.user,
            folder_id,
            ctx.device,
            watermark=watermark,
            prime=prime,
            filt=filt,
            limit=1,
        )
        > 0
    )


def _status(code: int) -> Element:
    return E("Ping:Ping", E("Ping:Status", value=code))
