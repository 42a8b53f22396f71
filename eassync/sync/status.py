"""The per-pair status store: one SQLite file of item correlations and sync state.

The status is a cache of which local item (ident, etag, content hash) corresponds to
which remote item (ServerId, content hash), plus per collection the EAS SyncKey and
the local token. Every change goes through :meth:`Status.transaction`; the rows of a
batch and the SyncKey of that batch commit together, so a kill at any instant leaves
either the old state or the new one (design.md "Status").

Lookups are SQL queries: the engine never loads every row into Python objects. The
one O(N) map it takes is ``local ident → etag`` for the local scan.

The file, its ``-wal`` and ``-shm`` companions are mode 0600 (they hold UIDs and
item hashes of a user's address book); the folder is created 0700.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eassync.errors import StorageError

log = logging.getLogger(__name__)

#: The schema, as a list of migrations: entry i brings schema_version i to i+1.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE items (
        id INTEGER PRIMARY KEY,
        collection TEXT NOT NULL,
        uid TEXT,
        local_ident TEXT,
        local_etag TEXT,
        local_hash TEXT,
        remote_ident TEXT,
        remote_hash TEXT,
        -- ClientId of an Add not yet acknowledged (sent or about to be sent): while
        -- set, remote_hash is the hash we expect the server's copy to have.
        pending TEXT,
        -- the local_hash the server refused (Status 4/6): never resent unchanged
        rejected_hash TEXT,
        -- the item left the server's filter window (SoftDelete): correlation dormant
        softdeleted INTEGER NOT NULL DEFAULT 0,
        -- during a resync: 0 until the item came back in the full download
        seen INTEGER NOT NULL DEFAULT 1,
        -- a remote version not applied locally yet (conflict: error, etag race),
        -- replayed on the next pass because the server will not send it again
        deferred BLOB,
        deferred_uid TEXT,
        -- the local item must go up as a Change though it did not change locally
        -- (the UID given to a server item that had none is written back once)
        needs_push INTEGER NOT NULL DEFAULT 0,
        -- the hash of a Change sent but not yet acknowledged: if the answer is lost,
        -- the replayed server change with this hash is our own echo
        sent_hash TEXT
    );
    CREATE UNIQUE INDEX items_local ON items (collection, local_ident);
    CREATE UNIQUE INDEX items_remote ON items (collection, remote_ident);
    CREATE INDEX items_uid ON items (collection, uid);
    CREATE INDEX items_remote_hash ON items (collection, remote_hash);
    CREATE INDEX items_pending ON items (collection, pending) WHERE pending IS NOT NULL;
    CREATE TABLE collections (
        collection TEXT PRIMARY KEY,
        remote_state TEXT,
        local_token TEXT,
        resyncing INTEGER NOT NULL DEFAULT 0,
        last_sync REAL,
        last_error TEXT,
        last_counts TEXT
    );
    """,
    # 1 → 2: write-ahead rows for local writes of a pull batch; UID-free content
    # hashes for matching server items that carry no UID; a label per collection
    """
    ALTER TABLE items ADD COLUMN tentative TEXT;
    ALTER TABLE items ADD COLUMN tentative_kind TEXT;
    ALTER TABLE items ADD COLUMN bare_hash TEXT;
    ALTER TABLE collections ADD COLUMN label TEXT;
    CREATE INDEX items_tentative ON items (collection, tentative) WHERE tentative IS NOT NULL;
    CREATE INDEX items_bare_hash ON items (collection, bare_hash) WHERE bare_hash IS NOT NULL;
    """,
    # 2 → 3: which fields the server holds for the collection (eassync.sync.slots)
    """
    ALTER TABLE collections ADD COLUMN slots TEXT;
    """,
    # 3 → 4: failures told until resolved: why an item is parked or waits for a retry,
    # and per collection the last attempt (successful or not) and its item failures
    """
    ALTER TABLE items ADD COLUMN failure TEXT;
    ALTER TABLE collections ADD COLUMN last_attempt REAL;
    ALTER TABLE collections ADD COLUMN last_failures TEXT;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)

_ROW_COLUMNS = (
    "uid",
    "local_ident",
    "local_etag",
    "local_hash",
    "remote_ident",
    "remote_hash",
    "pending",
    "rejected_hash",
    "softdeleted",
    "seen",
    "deferred",
    "deferred_uid",
    "needs_push",
    "sent_hash",
    # write-ahead (see engine): the fingerprint of the local content a pull batch is
    # about to write, and "add" or "update"; set in a commit before the write, cleared
    # in the commit that records the write and the batch's SyncKey
    "tentative",
    "tentative_kind",
    # fingerprint of the expected server copy with a placeholder UID: matches a
    # server item that carries no UID (EAS contacts, tasks) by content alone
    "bare_hash",
    # why this item failed and is parked (rejected_hash) or retried (deferred, pending):
    # shown by ``eassync status`` until the item goes through
    "failure",
)
_COLLECTION_COLUMNS = (
    "remote_state",
    "local_token",
    "resyncing",
    "last_sync",
    "last_error",
    "last_counts",
    "label",
    "slots",
    "last_attempt",
    "last_failures",
)


@dataclass(frozen=True)
class StatusRow:
    """One correlation. ``id`` is the row's key inside the status file."""

    id: int
    collection: str
    uid: str | None
    local_ident: str | None
    local_etag: str | None
    local_hash: str | None
    remote_ident: str | None
    remote_hash: str | None
    pending: str | None
    rejected_hash: str | None
    softdeleted: bool
    seen: bool
    deferred: bytes | None
    deferred_uid: str | None
    needs_push: bool
    sent_hash: str | None
    tentative: str | None = None
    tentative_kind: str | None = None
    bare_hash: str | None = None
    failure: str | None = None


@dataclass(frozen=True)
class CollectionInfo:
    """Per-collection state, also what ``eassync status`` shows."""

    collection: str
    remote_state: str | None = None
    local_token: str | None = None
    resyncing: bool = False
    last_sync: float | None = None
    last_error: str | None = None
    last_counts: Mapping[str, Any] | None = None
    items: int = 0
    #: a human name for the collection (the EAS folder's display name)
    label: str | None = None
    #: what the server holds of its items (SlotKnowledge.dump)
    slots: str | None = None
    #: when a pass last started on it, whatever its outcome (``last_sync``: the last
    #: pass that ran to its end; ``last_error``: what the last attempt ended with)
    last_attempt: float | None = None
    #: the items that failed in the last attempt: [{"side", "name", "reason"}, …]
    last_failures: Sequence[Mapping[str, str]] = ()


_SELECT = "SELECT id, collection, " + ", ".join(_ROW_COLUMNS) + " FROM items"
#: ServerIds per IN (...) query (SQLite before 3.32 allows 999 parameters)
_IN_CHUNK = 500
#: a row that waits for its server item (see Status.unbound_by_uid)
_UNBOUND = "(pending IS NOT NULL OR remote_ident IS NULL OR seen = 0)"


def waits_for_server(row: StatusRow) -> bool:
    """``_UNBOUND`` for a row in hand: it waits for its server item."""
    return row.pending is not None or row.remote_ident is None or not row.seen


def _may_unbind(values: Mapping[str, Any], *, insert: bool) -> bool:
    """Whether writing ``values`` can leave a row waiting for its server item."""
    if values.get("pending") is not None or values.get("seen", 1) == 0:
        return True
    if insert:
        return values.get("remote_ident") is None
    return "remote_ident" in values and values["remote_ident"] is None


def _row(r: tuple[Any, ...]) -> StatusRow:
    values = list(r)
    # softdeleted, seen, needs_push are stored as integers
    values[10] = bool(values[10])
    values[11] = bool(values[11])
    values[14] = bool(values[14])
    return StatusRow(*values)


def _copy_read_only(path: Path, target: sqlite3.Connection) -> None:
    """Copy the database at ``path`` into ``target`` without writing next to it.

    A read-only connection to a WAL database creates ``-wal`` and ``-shm`` files
    and leaves them behind; ``immutable=1`` reads the main file alone, which is the
    whole database when no ``-wal`` exists (the last writer checkpointed it). A
    ``-wal`` that exists (a pass running, or killed) holds committed rows: then the
    companions are there already and an ordinary read-only connection reads them."""
    wal = Path(str(path) + "-wal")
    mode = "ro" if wal.exists() else "ro&immutable=1"
    source = sqlite3.connect(f"{path.resolve().as_uri()}?mode={mode}", uri=True)
    try:
        source.backup(target)
    finally:
        source.close()


#: SQLite primary result codes that say the machine, not the file, is the problem
_SQLITE_FULL, _SQLITE_READONLY, _SQLITE_CANTOPEN = 13, 8, 14


def _unusable(path: Path, exc: sqlite3.DatabaseError) -> StorageError:
    """A status file SQLite cannot use. Only a damaged file is worth rebuilding; a
    full or read-only disk is not the file's fault (repair would fail the same way)."""
    code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    if code == _SQLITE_FULL:
        hint = "free some space on that disk, then run again"
    elif code in (_SQLITE_READONLY, _SQLITE_CANTOPEN):
        hint = "make that folder writable, or point general.status_dir elsewhere"
    else:
        hint = "move it away and run `eassync repair` to rebuild it from both sides"
    return StorageError(f"status file {path} is not usable: {exc}", hint=hint)


def _create_private_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    # an existing file keeps its mode with O_CREAT: enforce it
    os.chmod(path, 0o600)


class Status:
    """The status file of one pair. Not thread-safe; one process holds it (pair lock).

    ``before_commit`` is a fault-injection hook for tests: called just before each
    COMMIT; if it raises, the transaction rolls back as a kill would leave it.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        before_commit: Callable[[], None] | None = None,
        _memory: sqlite3.Connection | None = None,
    ) -> None:
        self.path = Path(path)
        self.before_commit = before_commit
        if _memory is None:
            _create_private_file(self.path)
        try:
            if _memory is not None:
                self._db = _memory
            else:
                self._db = sqlite3.connect(str(self.path), isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                # durability matters more than speed: the row of an acknowledged Add
                # must survive a power cut (synchronous=FULL is the WAL-safe setting)
                self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise _unusable(self.path, exc) from exc
        for suffix in ("-wal", "-shm") if _memory is None else ():
            companion = Path(str(self.path) + suffix)
            if companion.exists():
                os.chmod(companion, 0o600)
        self._in_tx = False
        #: collections known to hold no row that waits for its server item: the
        #: matcher's lookups are skipped there (3 queries per downloaded item on a
        #: first sync). Emptied by every write that may make such a row, and on rollback.
        self._none_waiting: set[str] = set()

    @classmethod
    def snapshot(cls, path: str | Path) -> Status:
        """An in-memory copy of the status file at ``path`` (empty if there is none),
        migrated in memory. For a dry run (its plan commits nothing, but a dry run
        must not even create, migrate or leave ``-wal``/``-shm`` files) and for
        readers (``eassync status``, ``discover``). Writes go to the copy only."""
        path = Path(path)
        memory = sqlite3.connect(":memory:", isolation_level=None)
        try:
            if path.exists():
                _copy_read_only(path, memory)
        except sqlite3.DatabaseError as exc:
            memory.close()
            raise _unusable(path, exc) from exc
        return cls(path, _memory=memory)

    # --- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Status:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        has_meta = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        version = 0
        if has_meta:
            found = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(found[0]) if found else 0
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"status file {self.path} has schema {version}, newer than this eassync "
                f"({SCHEMA_VERSION})",
                hint="upgrade eassync, or move the file away and run `eassync repair`",
            )
        for step in range(version, SCHEMA_VERSION):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[step].split(";\n"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(step + 1),),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        found = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(found[0])

    # --- transactions -----------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[StatusTx]:
        """All writes of the block commit together, or not at all."""
        if self._in_tx:
            raise RuntimeError("status transactions do not nest")
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._write_error(exc) from exc
        self._in_tx = True
        try:
            yield StatusTx(self._db, self._none_waiting)
            if self.before_commit is not None:
                self.before_commit()
            self._db.execute("COMMIT")
        except BaseException as exc:
            self._none_waiting.clear()  # learnt from rows the rollback took back
            self._rollback()
            # the disk, not a bug (an IntegrityError stays what it is)
            if isinstance(exc, sqlite3.OperationalError):
                raise self._write_error(exc) from exc
            raise
        finally:
            self._in_tx = False

    def _rollback(self) -> None:
        """Undo the open transaction, if SQLite has not already: on SQLITE_FULL (and
        IOERR, NOMEM) it rolls back by itself, and a ROLLBACK then fails with "no
        transaction is active", which used to hide the real cause (issue 14 item 14)."""
        if not self._db.in_transaction:
            return
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error as exc:  # the error that brought us here is the one to report
            log.warning("status file %s: rollback failed: %s", self.path, exc)

    def _write_error(self, exc: sqlite3.Error) -> StorageError:
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL":
            return StorageError(
                f"status file {self.path}: the disk is full ({exc}); nothing of this "
                "step was recorded",
                hint="free some space and run again: the sync goes on where it stopped",
            )
        return StorageError(
            f"status file {self.path}: cannot write ({exc}); nothing of this step was recorded",
            hint="check the disk and the file's permissions, then run again",
        )

    # --- server items that failed (eassync.storage.eas.FailedItems) -------------------

    def failed_items(self, collection: str) -> FailedRemoteItems:
        return FailedRemoteItems(self, collection)

    # --- row lookups ------------------------------------------------------------------

    def _one(self, where: str, params: tuple[Any, ...]) -> StatusRow | None:
        found = self._db.execute(f"{_SELECT} WHERE {where} LIMIT 1", params).fetchone()
        return _row(found) if found else None

    def get(self, row_id: int) -> StatusRow | None:
        return self._one("id = ?", (row_id,))

    def by_local(self, collection: str, local_ident: str) -> StatusRow | None:
        return self._one("collection = ? AND local_ident = ?", (collection, local_ident))

    def by_remote(self, collection: str, remote_ident: str) -> StatusRow | None:
        return self._one("collection = ? AND remote_ident = ?", (collection, remote_ident))

    def known_remote(self, collection: str, remote_idents: Sequence[str]) -> set[str]:
        """Which of these server items have a row (one query per chunk, not one per
        item: a Sync batch holds up to 512)."""
        found: set[str] = set()
        for start in range(0, len(remote_idents), _IN_CHUNK):
            chunk = remote_idents[start : start + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            found.update(
                ident
                for (ident,) in self._db.execute(
                    "SELECT remote_ident FROM items "
                    f"WHERE collection = ? AND remote_ident IN ({marks})",
                    (collection, *chunk),
                )
            )
        return found

    def _waiting(self, collection: str) -> bool:
        """Whether any row of ``collection`` may wait for its server item."""
        if collection in self._none_waiting:
            return False
        found = self._db.execute(
            f"SELECT 1 FROM items WHERE collection = ? AND {_UNBOUND} LIMIT 1", (collection,)
        ).fetchone()
        if found is None:
            self._none_waiting.add(collection)
        return found is not None

    def unbound_rows(self, collection: str) -> Iterator[StatusRow]:
        """Rows with a local item that wait for their server item."""
        return self.iter_rows(collection, f"local_ident IS NOT NULL AND {_UNBOUND}")

    def has_unbound(self, collection: str) -> bool:
        """Whether any row of ``collection`` may wait for its server item."""
        return self._waiting(collection)

    def by_uid(self, collection: str, uid: str) -> StatusRow | None:
        return self._one("collection = ? AND uid = ? ORDER BY id", (collection, uid))

    def unbound_by_uid(self, collection: str, uid: str) -> StatusRow | None:
        """A row with this UID that waits for its remote item: pending, without a
        ServerId, or not yet seen again during a resync."""
        if not self._waiting(collection):
            return None
        return self._one(
            f"collection = ? AND uid = ? AND {_UNBOUND} ORDER BY id", (collection, uid)
        )

    def unbound_by_hash(self, collection: str, remote_hash: str) -> StatusRow | None:
        """Like :meth:`unbound_by_uid`, matching the expected remote content hash."""
        if not self._waiting(collection):
            return None
        return self._one(
            f"collection = ? AND remote_hash = ? AND {_UNBOUND} ORDER BY id",
            (collection, remote_hash),
        )

    def unbound_by_bare(self, collection: str, bare_hash: str) -> StatusRow | None:
        """Like :meth:`unbound_by_hash`, by the UID-free hash (server items without UID)."""
        if not self._waiting(collection):
            return None
        return self._one(
            f"collection = ? AND bare_hash = ? AND {_UNBOUND} ORDER BY id",
            (collection, bare_hash),
        )

    def tentative_add(self, collection: str, local_hash: str) -> StatusRow | None:
        """A write-ahead add row whose file is not bound yet, by the written content."""
        return self._one(
            "collection = ? AND tentative = ? AND tentative_kind = 'add' "
            "AND local_ident IS NULL ORDER BY id",
            (collection, local_hash),
        )

    def iter_rows(
        self, collection: str, where: str = "1", params: tuple[Any, ...] = (), *, chunk: int = 500
    ) -> Iterator[StatusRow]:
        """Rows matching ``where`` in id order, fetched in chunks (keyset pagination),
        so callers may write to the rows they are given between two chunks."""
        last = -1
        while True:
            found = self._db.execute(
                f"{_SELECT} WHERE collection = ? AND id > ? AND ({where}) ORDER BY id LIMIT ?",
                (collection, last, *params, chunk),
            ).fetchall()
            if not found:
                return
            for r in found:
                yield _row(r)
            last = found[-1][0]

    def local_etags(self, collection: str) -> dict[str, str]:
        """``local ident → etag`` of every correlated local item (for the local scan)."""
        return {
            ident: etag or ""
            for ident, etag in self._db.execute(
                "SELECT local_ident, local_etag FROM items "
                "WHERE collection = ? AND local_ident IS NOT NULL",
                (collection,),
            )
        }

    def count(self, collection: str, where: str = "1", params: tuple[Any, ...] = ()) -> int:
        found = self._db.execute(
            f"SELECT count(*) FROM items WHERE collection = ? AND ({where})",
            (collection, *params),
        ).fetchone()
        return int(found[0])

    def meta(self, key: str) -> str | None:
        """A pair-wide fact stored by :meth:`StatusTx.set_meta`."""
        found = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(found[0]) if found else None

    def parked(self, collection: str) -> Iterator[StatusRow]:
        """Items the server refused or could not take: not sent again until they
        change (or ``eassync sync --retry``); ``failure`` says why."""
        return self.iter_rows(collection, "rejected_hash IS NOT NULL")

    # --- collections ------------------------------------------------------------------

    def collection(self, collection: str) -> CollectionInfo:
        found = self._db.execute(
            "SELECT " + ", ".join(_COLLECTION_COLUMNS) + " FROM collections WHERE collection = ?",
            (collection,),
        ).fetchone()
        items = self.count(collection)
        if not found:
            return CollectionInfo(collection, items=items)
        state, token, resyncing, last_sync, last_error, counts, label, slots = found[:8]
        last_attempt, last_failures = found[8:]
        return CollectionInfo(
            collection,
            remote_state=state,
            local_token=token,
            resyncing=bool(resyncing),
            last_sync=last_sync,
            last_error=last_error,
            last_counts=json.loads(counts) if counts else None,
            items=items,
            label=label,
            slots=slots,
            last_attempt=last_attempt,
            last_failures=json.loads(last_failures) if last_failures else (),
        )

    def collections(self) -> list[CollectionInfo]:
        names = {
            name
            for (name,) in self._db.execute(
                "SELECT collection FROM collections UNION SELECT DISTINCT collection FROM items"
            )
        }
        return [self.collection(name) for name in sorted(names)]


class StatusTx:
    """The write side, valid inside ``with status.transaction() as tx``."""

    def __init__(self, db: sqlite3.Connection, none_waiting: set[str]) -> None:
        self._db = db
        self._none_waiting = none_waiting

    def insert(self, collection: str, **values: Any) -> int:
        unknown = set(values) - set(_ROW_COLUMNS)
        if unknown:
            raise TypeError(f"unknown status columns {sorted(unknown)}")
        if _may_unbind(values, insert=True):
            self._none_waiting.discard(collection)
        columns = ["collection", *values]
        cursor = self._db.execute(
            f"INSERT INTO items ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            (collection, *values.values()),
        )
        return int(cursor.lastrowid or 0)

    def update(self, row_id: int, **values: Any) -> None:
        unknown = set(values) - set(_ROW_COLUMNS)
        if unknown:
            raise TypeError(f"unknown status columns {sorted(unknown)}")
        if not values:
            return
        if _may_unbind(values, insert=False):
            self._none_waiting.clear()  # the row's collection is not at hand
        assignments = ", ".join(f"{name} = ?" for name in values)
        self._db.execute(f"UPDATE items SET {assignments} WHERE id = ?", (*values.values(), row_id))

    def delete(self, row_id: int) -> None:
        self._db.execute("DELETE FROM items WHERE id = ?", (row_id,))

    def delete_collection(self, collection: str) -> None:
        """Forget the collection's rows and state; what was learnt of the server
        (``slots``) stays: it describes the server, not the correlation."""
        self._db.execute("DELETE FROM items WHERE collection = ?", (collection,))
        self._db.execute("DELETE FROM meta WHERE key = ?", (f"failed_remote:{collection}",))
        self._db.execute(
            "DELETE FROM collections WHERE collection = ? AND slots IS NULL", (collection,)
        )
        self._db.execute(
            "UPDATE collections SET remote_state = NULL, local_token = NULL, resyncing = 0, "
            "last_sync = NULL, last_error = NULL, last_counts = NULL WHERE collection = ?",
            (collection,),
        )

    def mark_all_unseen(self, collection: str) -> None:
        """Start of a resync: every correlated row must come back to count as seen."""
        self._none_waiting.discard(collection)
        self._db.execute(
            "UPDATE items SET seen = 0 WHERE collection = ? AND remote_ident IS NOT NULL",
            (collection,),
        )

    def set_collection(self, collection: str, **values: Any) -> None:
        unknown = set(values) - set(_COLLECTION_COLUMNS)
        if unknown:
            raise TypeError(f"unknown collection columns {sorted(unknown)}")
        for name in ("last_counts", "last_failures"):
            if name in values and not isinstance(values[name], str | None):
                values[name] = json.dumps(values[name], sort_keys=True)
        self._db.execute("INSERT OR IGNORE INTO collections (collection) VALUES (?)", (collection,))
        if values:
            assignments = ", ".join(f"{name} = ?" for name in values)
            self._db.execute(
                f"UPDATE collections SET {assignments} WHERE collection = ?",
                (*values.values(), collection),
            )

    def set_remote_state(self, collection: str, state: str | None) -> None:
        self.set_collection(collection, remote_state=state)

    def set_local_token(self, collection: str, token: str | None) -> None:
        self.set_collection(collection, local_token=token)

    def record_pass(
        self,
        collection: str,
        counts: Mapping[str, Any],
        error: str | None = None,
        failures: Sequence[Mapping[str, str]] = (),
    ) -> None:
        """A pass that ran to its end (with or without item failures)."""
        now = time.time()
        self.set_collection(
            collection,
            last_sync=now,
            last_attempt=now,
            last_counts=dict(counts),
            last_error=error,
            last_failures=list(failures),
        )

    def record_attempt(self, collection: str, error: str) -> None:
        """A pass that stopped early (connection refused, login, a collection-wide
        error): the last good pass stays as it was, the failure is told."""
        self.set_collection(collection, last_attempt=time.time(), last_error=error)

    def set_meta(self, key: str, value: str | None) -> None:
        """Pair-wide facts (``last_attempt``, ``last_error`` of a pass that failed
        before any collection ran); None removes the key."""
        if value is None:
            self._db.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


class FailedRemoteItems:
    """A collection's server items that could not be stored (ServerId → last error),
    kept in the ``meta`` table (no schema change) so that every pass reports them
    until they convert, change or go away."""

    def __init__(self, status: Status, collection: str) -> None:
        self.status = status
        self.key = f"failed_remote:{collection}"

    def load(self) -> dict[str, str]:
        found = self.status._db.execute(
            "SELECT value FROM meta WHERE key = ?", (self.key,)
        ).fetchone()
        if not found:
            return {}
        try:
            data = json.loads(found[0])
        except ValueError:
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): str(v) for k, v in data.items()}

    def save(self, failed: dict[str, str]) -> None:
        with self.status.transaction() as tx:
            tx.set_meta(self.key, json.dumps(failed) if failed else None)
