"""``eassync repair PAIR``: rebuild a pair's correlations from both sides.

The status is a cache of which local item is which server item (design.md "Status").
Repair rebuilds it without creating duplicates and without deleting anything:

1. Under the pair lock, the status file is backed up (``<name>.sqlite.bak-<time>``,
   mode 0600). A status file SQLite cannot read is moved aside instead, and the
   repair starts from scratch.
2. Per collection, either the engine is asked to **resync** (full download from
   SyncKey 0, existing rows kept as hints: matched by ServerId, then UID, then
   content), or with ``from_scratch`` every row is **forgotten** and the engine's
   Matcher pairs the two sides by UID and content alone. Server items without a UID
   (every EAS contact) are paired by content here first (:func:`prematch_uidless`),
   since the engine's Matcher cannot pair them with a local item the status does
   not know.
3. One sync pass: matched items are bound, an item found on one side only is copied
   to the other. Rows whose local item has gone since the last pass are dropped
   first, so the pass restores the item from the server instead of propagating the
   deletion: a repair deletes nothing.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from eassync.errors import ConfigError, EassyncError, StorageError

if TYPE_CHECKING:
    from eassync.accounts import ClientPool
    from eassync.config import Config, Pair
    from eassync.convert.base import ContentHandler
    from eassync.model.items import Item, RemoteCollection, Storage
    from eassync.sync.plan import Reporter, SyncReport
    from eassync.sync.status import Status


@dataclass
class CollectionRepair:
    """What the repair pass did to one collection."""

    collection: str
    report: SyncReport
    #: item pairs bound without copying anything
    matched: int = 0
    #: names of items found only on the server (copied here) / only here (copied up)
    copied_here: list[str] = field(default_factory=list)
    copied_to_server: list[str] = field(default_factory=list)
    #: rows dropped before the pass because their local item had gone
    restored_rows: int = 0

    @property
    def deleted(self) -> int:
        return self.report.local.deleted + self.report.remote.deleted


@dataclass
class RepairOutcome:
    pair: str
    from_scratch: bool
    backup: Path | None = None
    #: the status file could not be read and was moved aside (to ``backup``)
    moved_aside: bool = False
    collections: list[CollectionRepair] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return max((c.report.exit_code for c in self.collections), default=0)


# --- the status file ---------------------------------------------------------------------------


def backup_name(path: Path, now: float | None = None) -> Path:
    """``<name>.sqlite.bak-<YYYYmmddTHHMMSS>``, never an existing file."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now))
    candidate, n = path.with_name(f"{path.name}.bak-{stamp}"), 2
    while candidate.exists():
        candidate, n = path.with_name(f"{path.name}.bak-{stamp}-{n}"), n + 1
    return candidate


def back_up_status(path: Path) -> Path:
    """A consistent copy of a readable status file (WAL content included), mode 0600."""
    target = backup_name(path)
    # created 0600 before any byte is written: it holds UIDs of the user's items
    os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    source = sqlite3.connect(str(path))
    try:
        copy = sqlite3.connect(str(target))
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()
    os.chmod(target, 0o600)
    return target


def move_aside(path: Path) -> Path:
    """Rename an unreadable status file (and its -wal/-shm companions) out of the way."""
    target = backup_name(path)
    os.replace(path, target)
    os.chmod(target, 0o600)
    for suffix in ("-wal", "-shm"):
        companion = Path(str(path) + suffix)
        if companion.exists():
            os.replace(companion, Path(str(target) + suffix))
    return target


def open_status(path: Path, outcome: RepairOutcome) -> Status:
    """Back up the status file and open it; an unreadable one is moved aside first."""
    from eassync.sync.status import Status

    if not path.exists():
        # nothing to trust and nothing to back up: match both sides from scratch
        outcome.from_scratch = True
        return Status(path)
    try:
        status = Status(path)
    except StorageError:
        outcome.backup = move_aside(path)
        outcome.moved_aside = True
        outcome.from_scratch = True
        return Status(path)
    try:
        outcome.backup = back_up_status(path)
    except BaseException:
        status.close()
        raise
    return status


# --- the pass ----------------------------------------------------------------------------------


def prematch_uidless(
    status: Status,
    collection: str,
    local: Storage,
    remote: RemoteCollection,
    handler: ContentHandler,
    version: str,
) -> int:
    """Bind server items that have no UID to local items of the same content, both
    unknown to the status, before the pass; returns how many. Needed for kinds whose
    EAS form has no UID field (contacts, MS-ASCNTC): the engine gives such an item a
    UID derived from its ServerId before matching, and that UID differs from the local
    copy's, so its Matcher would not pair them and the pass would duplicate them.

    The download is not committed: the pass downloads again from SyncKey 0 and finds
    these items bound by ServerId. Nothing is downloaded when every local item is
    known to the status.
    """
    by_content: dict[str, list[tuple[str, Item, str, str]]] = {}
    known = status.local_etags(collection)
    idents = [ident for ident, _ in local.list() if ident not in known]
    for ident, found, etag in local.get_many(idents):
        if isinstance(found, Exception):
            continue  # the pass reports it
        try:
            projected = handler.fingerprint(handler.project(found, version))
            local_hash = handler.fingerprint(found)
        except EassyncError:
            continue
        by_content.setdefault(projected, []).append((ident, found, etag, local_hash))
    if not by_content:
        return 0
    rows: list[dict[str, str | None]] = []
    for batch in remote.pull(None):
        for change in batch.changes:
            if change.kind not in ("add", "change") or change.item is None or change.item.uid:
                continue
            if status.by_remote(collection, change.ident) is not None:
                continue  # a row's hint: the engine binds it by ServerId
            try:
                content = handler.fingerprint(change.item)
            except EassyncError:
                continue
            candidates = by_content.get(content)
            if not candidates:
                continue
            ident, item, etag, local_hash = candidates.pop(0)
            # the hash the engine computes for this server item once the row exists:
            # the item with the row's UID (engine: _apply_remote, missing UID)
            remote_item = handler.with_uid(change.item, item.uid) if item.uid else change.item
            rows.append(
                {
                    "uid": item.uid,
                    "local_ident": ident,
                    "local_etag": etag,
                    "local_hash": local_hash,
                    "remote_ident": change.ident,
                    "remote_hash": handler.fingerprint(remote_item),
                }
            )
    with status.transaction() as tx:
        for row in rows:
            tx.insert(collection, **row)
    return len(rows)


def drop_locally_gone(status: Status, collection: str, present: set[str]) -> int:
    """Drop rows whose local item is gone: the pass then restores the item from the
    server (an unknown server item) instead of deleting it there."""
    gone = [
        row.id
        for row in status.iter_rows(collection, "local_ident IS NOT NULL")
        if row.local_ident not in present
    ]
    if gone:
        with status.transaction() as tx:
            for row_id in gone:
                tx.delete(row_id)
    return len(gone)


def repair_pair(
    config: Config,
    pool: ClientPool,
    pair: Pair,
    *,
    from_scratch: bool,
    reporter: Reporter,
) -> RepairOutcome:
    from eassync.runner import open_pair, status_path
    from eassync.sync.engine import forget_collection, request_resync

    outcome = RepairOutcome(pair.name, from_scratch)
    with (
        open_pair(config, pool, pair) as session,
        open_status(status_path(config, pair.name), outcome) as status,
    ):
        for sel in session.selections:
            coll = session.open(sel)
            dropped = 0
            if outcome.from_scratch:
                forget_collection(status, coll.key)
            else:
                request_resync(status, coll.key)
                dropped = drop_locally_gone(status, coll.key, {i for i, _ in coll.local.list()})
            prematch_uidless(
                status, coll.key, coll.local, coll.remote, coll.handler, session.client.version
            )
            report = session.sync(status, coll, reporter=reporter)
            outcome.collections.append(summarise(status, coll.key, report, dropped))
    return outcome


def summarise(status: Status, key: str, report: SyncReport, dropped: int) -> CollectionRepair:
    result = CollectionRepair(report.collection, report, restored_rows=dropped)
    for action in report.actions:
        if action.kind not in ("add", "readd"):
            continue
        if action.side == "local":
            result.copied_here.append(action.name)
        else:
            result.copied_to_server.append(action.name)
    bound = status.count(key, "remote_ident IS NOT NULL AND local_ident IS NOT NULL")
    result.matched = max(0, bound - report.local.added - report.remote.added)
    return result


def run_repair(
    config: Config, pair_name: str, *, from_scratch: bool, reporter: Reporter
) -> RepairOutcome:
    from eassync.accounts import ClientPool

    if "/" in pair_name:
        raise ConfigError(
            f"repair works on whole pairs, not on {pair_name!r}",
            hint="name the pair only (see `eassync check`)",
        )
    pair = config.pair(pair_name)
    with ClientPool(config) as pool:
        return repair_pair(config, pool, pair, from_scratch=from_scratch, reporter=reporter)
