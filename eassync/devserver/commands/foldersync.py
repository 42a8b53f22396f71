"""FolderSync (MS-ASCMD 2.2.1.5; eas-protocol.md §4): the folder hierarchy, incrementally.

SyncKey 0 returns every folder as Add; a later key returns the Adds, Updates and
Deletes since it. The previous key is still accepted (a retry after a lost answer);
any other key gets Status 9 (the client must start over from 0).
"""

from __future__ import annotations

from eassync.devserver.commands.context import Context
from eassync.devserver.state import (
    FolderState,
    folder_changes,
    load_folder_state,
    new_sync_key,
    save_folder_state,
)
from eassync.eas.element import E, Element

OK = 1
INVALID_SYNC_KEY = 9
MALFORMED = 10


def handle(ctx: Context, body: Element | None) -> Element | None:
    key = body.text("FolderHierarchy:SyncKey") if body is not None else None
    if body is None or body.tag != "FolderHierarchy:FolderSync" or key is None:
        return _status(MALFORMED)
    store = ctx.store
    with store.transaction():
        state = load_folder_state(store, ctx.user, ctx.device)
        if key == "0":
            base = 0
        elif state is not None and key == state.key:
            base = state.watermark
        elif state is not None and key == state.prev_key and state.prev_watermark is not None:
            base = state.prev_watermark
        else:
            return _status(INVALID_SYNC_KEY)
        changes, current = folder_changes(store, ctx.user, base)
        if not changes and state is not None and key == state.key:
            new_key = key  # nothing changed: the key stays valid (as Exchange does)
        else:
            new_key = new_sync_key(state.key if state else None)
            save_folder_state(
                store,
                ctx.user,
                ctx.device,
                FolderState(new_key, current, None if key == "0" else key, base),
            )

    listing = E("FolderHierarchy:Changes", E("FolderHierarchy:Count", value=len(changes)))
    for change in changes:
        if change.kind == "Delete":
            listing.append(
                E("FolderHierarchy:Delete", E("FolderHierarchy:ServerId", value=change.server_id))
            )
            continue
        listing.append(
            E(
                f"FolderHierarchy:{change.kind}",
                E("FolderHierarchy:ServerId", value=change.server_id),
                E("FolderHierarchy:ParentId", value=change.parent_id),
                E("FolderHierarchy:DisplayName", value=change.display_name),
                E("FolderHierarchy:Type", value=change.type),
            )
        )
    return E(
        "FolderHierarchy:FolderSync",
        E("FolderHierarchy:Status", value=OK),
        E("FolderHierarchy:SyncKey", value=new_key),
        listing,
    )


def _status(code: int) -> Element:
    return E("FolderHierarchy:FolderSync", E("FolderHierarchy:Status", value=code))
