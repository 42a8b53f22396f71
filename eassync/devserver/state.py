"""Per-device sync states and the change queries built on them.

A collection's state for one device is a *watermark* W (every item version with
modseq ≤ W has been shown to the device) and the modseq P at which the device primed
(SyncKey 0). From those two numbers and each item row's creator/origin columns:

- *own change*: the row's last writer is this device and happened after P, so the
  device already has it (not echoed back, MS-ASCMD 2.2.1.21);
- *known item*: created at or before W, or created by this device after P; a change
  to a known item is a ``Change``, to an unknown one an ``Add``; a tombstone of an
  unknown item is not reported at all.

Paging walks the rows with modseq > W in modseq order; the new watermark is the
modseq of the last row sent (or the store's current modseq when nothing is left).
Each state keeps the previous key and watermark too, so a request that repeats the
previous SyncKey is answered as a retry (eas-protocol.md §5.2: servers keep one step
back). Calendar and task filters (FilterType) are answered from the ``end_time``,
``recurring`` and ``complete`` columns; for filtered collections "known" is an
approximation (an item created outside the window counts as known once W passed it),
which at worst sends a harmless SoftDelete or a Change for an item the device lacks.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from eassync.devserver.store import Store

#: FilterType → age of the calendar window (MS-ASCMD 2.2.3.70.2).
CALENDAR_WINDOWS: dict[int, timedelta] = {
    1: timedelta(days=1),
    2: timedelta(days=3),
    3: timedelta(weeks=1),
    4: timedelta(weeks=2),
    5: timedelta(days=31),
    6: timedelta(days=93),
    7: timedelta(days=186),
}
INCOMPLETE_TASKS = 8


def new_sync_key(previous: str | None = None) -> str:
    """An opaque key: a counter (handy in logs) and randomness (stale after a restart of state)."""
    counter = 0
    if previous and ":" in previous:
        head = previous.split(":", 1)[0]
        counter = int(head) if head.isdigit() else 0
    return f"{counter + 1}:{secrets.token_hex(4)}"


@dataclass
class SyncState:
    key: str
    watermark: int
    prime: int
    options: dict[str, Any] = field(default_factory=dict)
    win_start: str | None = None
    prev_key: str | None = None
    prev_watermark: int | None = None
    prev_win_start: str | None = None
    prev_client_ids: dict[str, str] = field(default_factory=dict)
    #: the highest watermark ever handed to the device, lost answers included
    sent_max: int = 0


def load_sync_state(store: Store, user: str, device: str, collection_id: str) -> SyncState | None:
    with store.lock:
        row = store.db.execute(
            "SELECT key, watermark, prime, options, win_start, prev_key, prev_watermark,"
            " prev_win_start, prev_client_ids, sent_max FROM sync_states"
            " WHERE user = ? AND device = ? AND collection_id = ?",
            (user, device, collection_id),
        ).fetchone()
    if row is None:
        return None
    return SyncState(
        key=row[0],
        watermark=row[1],
        prime=row[2],
        options=json.loads(row[3]),
        win_start=row[4],
        prev_key=row[5],
        prev_watermark=row[6],
        prev_win_start=row[7],
        prev_client_ids=json.loads(row[8]) if row[8] else {},
        sent_max=row[9],
    )


def save_sync_state(
    store: Store, user: str, device: str, collection_id: str, state: SyncState
) -> None:
    with store.transaction() as db:
        db.execute(
            "INSERT OR REPLACE INTO sync_states VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                user,
                device,
                collection_id,
                state.key,
                state.watermark,
                state.win_start,
                state.prev_key,
                state.prev_watermark,
                state.prev_win_start,
                json.dumps(state.prev_client_ids),
                state.prime,
                json.dumps(state.options),
                max(state.sent_max, state.watermark),
            ),
        )


# --- filters -------------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    """Which items lie outside the device's window: an SQL condition and its parameters."""

    outside_sql: str
    cutoff: str | None = None  # calendar window start, compact UTC


NO_FILTER = Filter("0")


def make_filter(item_class: str | None, filter_type: int, now: datetime | None = None) -> Filter:
    if item_class == "Calendar" and filter_type in CALENDAR_WINDOWS:
        now = now or datetime.now(UTC)
        cutoff = (now - CALENDAR_WINDOWS[filter_type]).strftime("%Y%m%dT%H%M%SZ")
        # Recurring events are always inside the window (MS-ASCMD 2.2.3.70.2).
        return Filter(
            "(recurring = 0 AND end_time IS NOT NULL AND end_time < :cutoff)", cutoff=cutoff
        )
    if item_class == "Tasks" and filter_type == INCOMPLETE_TASKS:
        return Filter("(complete = 1)")
    return NO_FILTER


# --- change queries ------------------------------------------------------------------

KNOWN = "(created_modseq <= :w OR (creator IS :d AND created_modseq > :p))"
#: Deletions are also reported for items sent in an answer that may have been lost
#: (created at or before ``sent_max``): a retry must not leave the device holding an
#: item the server no longer has. A Delete of a ServerId the device lacks is harmless.
MAYBE_KNOWN = "(created_modseq <= :s OR (creator IS :d AND created_modseq > :p))"
OWN = "(origin IS :d AND modseq > :p)"


@dataclass(frozen=True)
class PendingChange:
    kind: str  # "Add" | "Change" | "Delete" | "SoftDelete"
    server_id: str
    data: str | None  # the stored JSON tree for Add/Change


@dataclass
class ChangePage:
    changes: list[PendingChange]
    more_available: bool
    watermark: int


def _where(filt: Filter) -> str:
    outside = filt.outside_sql
    return (
        f"user = :u AND folder_id = :f AND modseq > :w AND NOT {OWN}"
        f" AND (deleted = 0 OR {MAYBE_KNOWN})"
        f" AND NOT (deleted = 0 AND {outside} AND NOT {KNOWN})"
    )


def _params(
    user: str,
    folder_id: str,
    device: str,
    watermark: int,
    prime: int,
    filt: Filter,
    sent_max: int = 0,
) -> dict[str, Any]:
    return {
        "u": user,
        "f": folder_id,
        "d": device,
        "w": watermark,
        "s": max(watermark, sent_max),
        "p": prime,
        "cutoff": filt.cutoff,
    }


def changes_page(
    store: Store,
    user: str,
    folder_id: str,
    device: str,
    *,
    watermark: int,
    prime: int,
    window: int,
    filt: Filter = NO_FILTER,
    old_cutoff: str | None = None,
    sent_max: int = 0,
) -> ChangePage:
    """The next ``window`` changes for the device after ``watermark``."""
    params = _params(user, folder_id, device, watermark, prime, filt, sent_max)
    params["lim"] = window + 1
    with store.lock:
        (current,) = store.db.execute("SELECT v FROM meta WHERE k = 'modseq'").fetchone()
        time_exits = _window_exits(store, params, filt, old_cutoff)
        rows = store.db.execute(
            f"SELECT server_id, data, deleted, modseq, {KNOWN}, {filt.outside_sql}"
            f" FROM items WHERE {_where(filt)} ORDER BY modseq LIMIT :lim",
            params,
        ).fetchall()
    more = len(rows) > window
    if more:
        rows = rows[:window]
    changes = [PendingChange("SoftDelete", sid, None) for sid in time_exits]
    for server_id, data, deleted, _modseq, known, outside in rows:
        if deleted:
            changes.append(PendingChange("Delete", server_id, None))
        elif outside:
            changes.append(PendingChange("SoftDelete", server_id, None))
        else:
            changes.append(PendingChange("Change" if known else "Add", server_id, data))
    new_watermark = rows[-1][3] if more else int(current)
    return ChangePage(changes, more, new_watermark)


def _window_exits(
    store: Store, params: dict[str, Any], filt: Filter, old_cutoff: str | None
) -> list[str]:
    """Items the device has that the calendar window, moving with time, has just left."""
    if filt.cutoff is None or old_cutoff is None or filt.cutoff <= old_cutoff:
        return []
    rows = store.db.execute(
        "SELECT server_id FROM items WHERE user = :u AND folder_id = :f AND modseq <= :w"
        " AND deleted = 0 AND recurring = 0 AND end_time >= :old AND end_time < :cutoff",
        {**params, "old": old_cutoff},
    ).fetchall()
    return [row[0] for row in rows]


def count_changes(
    store: Store,
    user: str,
    folder_id: str,
    device: str,
    *,
    watermark: int,
    prime: int,
    filt: Filter = NO_FILTER,
    limit: int | None = None,
) -> int:
    """How many changes are pending (GetItemEstimate); ``limit=1`` is an existence test (Ping)."""
    params = _params(user, folder_id, device, watermark, prime, filt)
    sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM items WHERE {_where(filt)}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    with store.lock:
        (count,) = store.db.execute(sql + ")", params).fetchone()
    return int(count)


# --- folder hierarchy ----------------------------------------------------------------


@dataclass
class FolderState:
    key: str
    watermark: int
    prev_key: str | None = None
    prev_watermark: int | None = None


def load_folder_state(store: Store, user: str, device: str) -> FolderState | None:
    with store.lock:
        row = store.db.execute(
            "SELECT key, watermark, prev_key, prev_watermark FROM folder_states"
            " WHERE user = ? AND device = ?",
            (user, device),
        ).fetchone()
    return FolderState(*row) if row else None


def save_folder_state(store: Store, user: str, device: str, state: FolderState) -> None:
    with store.transaction() as db:
        db.execute(
            "INSERT OR REPLACE INTO folder_states VALUES (?, ?, ?, ?, ?, ?)",
            (user, device, state.key, state.watermark, state.prev_key, state.prev_watermark),
        )


@dataclass(frozen=True)
class FolderChange:
    kind: str  # "Add" | "Update" | "Delete"
    server_id: str
    parent_id: str
    display_name: str
    type: int


def folder_changes(store: Store, user: str, watermark: int) -> tuple[list[FolderChange], int]:
    """Folder adds/updates/deletes after ``watermark``, and the watermark that covers them."""
    with store.lock:
        (current,) = store.db.execute("SELECT v FROM meta WHERE k = 'modseq'").fetchone()
        rows = store.db.execute(
            "SELECT server_id, parent_id, display_name, type, created_modseq, deleted"
            " FROM folders WHERE user = ? AND modseq > ? ORDER BY modseq",
            (user, watermark),
        ).fetchall()
    changes = []
    for server_id, parent_id, name, folder_type, created, deleted in rows:
        if deleted:
            if created <= watermark:
                changes.append(FolderChange("Delete", server_id, parent_id, name, folder_type))
        elif created > watermark:
            changes.append(FolderChange("Add", server_id, parent_id, name, folder_type))
        else:
            changes.append(FolderChange("Update", server_id, parent_id, name, folder_type))
    return changes, int(current)


def hierarchy_changed_since(store: Store, user: str, watermark: int) -> bool:
    with store.lock:
        row = store.db.execute(
            "SELECT 1 FROM folders WHERE user = ? AND modseq > ? AND NOT (deleted = 1"
            " AND created_modseq > ?) LIMIT 1",
            (user, watermark, watermark),
        ).fetchone()
    return row is not None
