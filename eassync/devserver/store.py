"""The devserver's persistent store: one SQLite file (WAL) under the data directory.

Change tracking uses one monotonically increasing *modseq* shared by folders and
items: every write takes the next value. A device's sync state is then just a
watermark (the highest modseq it has been shown) plus the modseq at which it primed,
so a 50,000-item folder never needs a per-key copy of 50,000 ids (see ``state.py``).
Deleted items and folders stay as tombstones so their deletion can be reported.

Every item row also remembers who created it and who changed it last (a device id,
or NULL for changes made through this API), so a device's own changes are not
echoed back to it (MS-ASCMD 2.2.1.21).

One connection guarded by one re-entrant lock: the devserver is a test server, and
serialising database work keeps it simple and safe while encoding (the expensive
part of a response) runs outside the lock. Writers wake Ping and long-poll waiters
through ``changed`` (a condition variable), never by polling.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from eassync.devserver import itemdata
from eassync.eas.element import Element

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('modseq', 0);
CREATE TABLE IF NOT EXISTS folders (
    user TEXT NOT NULL, server_id TEXT NOT NULL, parent_id TEXT NOT NULL,
    display_name TEXT NOT NULL, type INTEGER NOT NULL,
    modseq INTEGER NOT NULL, created_modseq INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user, server_id));
CREATE TABLE IF NOT EXISTS items (
    user TEXT NOT NULL, folder_id TEXT NOT NULL, server_id TEXT NOT NULL,
    data TEXT, modseq INTEGER NOT NULL, created_modseq INTEGER NOT NULL,
    creator TEXT, origin TEXT, deleted INTEGER NOT NULL DEFAULT 0,
    end_time TEXT, recurring INTEGER NOT NULL DEFAULT 0, complete INTEGER NOT NULL DEFAULT 0,
    client_uid TEXT,
    PRIMARY KEY (user, folder_id, server_id));
CREATE INDEX IF NOT EXISTS items_by_modseq ON items (user, folder_id, modseq);
CREATE TABLE IF NOT EXISTS attachments (
    user TEXT NOT NULL, file_reference TEXT NOT NULL, display_name TEXT NOT NULL,
    content_type TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (user, file_reference));
CREATE TABLE IF NOT EXISTS devices (
    user TEXT NOT NULL, device TEXT NOT NULL, device_type TEXT,
    temp_policy_key TEXT, policy_key TEXT, info TEXT, ping TEXT,
    PRIMARY KEY (user, device));
CREATE TABLE IF NOT EXISTS wipes (user TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS folder_states (
    user TEXT NOT NULL, device TEXT NOT NULL,
    key TEXT NOT NULL, watermark INTEGER NOT NULL,
    prev_key TEXT, prev_watermark INTEGER,
    PRIMARY KEY (user, device));
CREATE TABLE IF NOT EXISTS sync_states (
    user TEXT NOT NULL, device TEXT NOT NULL, collection_id TEXT NOT NULL,
    key TEXT NOT NULL, watermark INTEGER NOT NULL, win_start TEXT,
    prev_key TEXT, prev_watermark INTEGER, prev_win_start TEXT, prev_client_ids TEXT,
    prime INTEGER NOT NULL, options TEXT NOT NULL, sent_max INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user, device, collection_id));
"""

#: The default folders every user gets (eas-protocol.md §4). Inbox and Deleted Items
#: are there so that clients must filter folders by type.
DEFAULT_FOLDERS: tuple[tuple[str, int], ...] = (
    ("Inbox", 2),
    ("Deleted Items", 4),
    ("Calendar", 8),
    ("Contacts", 9),
    ("Tasks", 7),
    ("Notes", 10),
)


@dataclass(frozen=True)
class Folder:
    server_id: str
    parent_id: str
    display_name: str
    type: int

    @property
    def item_class(self) -> str | None:
        return itemdata.TYPE_CLASS.get(self.type)


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        path.chmod(0o600)
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        #: bumped after every committed write; Ping and long-poll Sync wait on it
        self.version = 0
        self.closed = False
        self._depth = 0
        self._dirty = False
        #: top-level fields (``Contacts:Anniversary`` …) the server does not keep, as
        #: real servers lack some (SOGo); set by DevServer(drop_fields=…)
        self.drop_fields: frozenset[str] = frozenset()
        #: calendar UIDs are the server's own, the client's ignored at every version
        #: (Horde; 16.x servers always, MS-ASCAL 2.2.2.46); set by DevServer(assign_uids=…)
        self.assign_uids = False
        #: the modified occurrences of a calendar Add become events of their own, their
        #: dates deleted from the series (Horde); set by DevServer(split_exceptions=…)
        self.split_exceptions = False
        #: Horde 5.2's series handling at 16.0: a Change with InstanceId is applied to
        #: the whole series, and a series Change that carries its Recurrence drops its
        #: exceptions; set by DevServer(instance_change_moves_series=…)
        self.instance_change_moves_series = False
        #: Horde stock at 16.0: a Sync carrying a calendar Add whose Exceptions carry
        #: InstanceId fails whole with an HTML "Fatal Error" page; set by
        #: DevServer(add_exceptions_crash=…)
        self.add_exceptions_crash = False
        #: a server that refuses such an Add alone with this item Status (e.g. 6) at
        #: 16.x instead of failing the request; set by DevServer(add_exceptions_refusal=…)
        self.add_exceptions_refusal: int | None = None
        #: how many such Adds were failed or refused (tests: did a client try again?)
        self.add_exceptions_failures = 0

    def close(self) -> None:
        with self.changed:
            self.closed = True
            self.changed.notify_all()
            self.db.close()

    # --- transactions ------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (re-entrant). Waiters are woken after the outermost commit."""
        with self.lock:
            if self.closed:
                raise RuntimeError("the devserver store is closed")
            outer = self._depth == 0
            if outer:
                self.db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self.db
            except BaseException:
                self._depth -= 1
                if outer:
                    self.db.execute("ROLLBACK")
                    self._dirty = False
                raise
            self._depth -= 1
            if outer:
                self.db.execute("COMMIT")
                if self._dirty:
                    self._dirty = False
                    self.version += 1
                    self.changed.notify_all()

    def next_modseq(self, count: int = 1) -> int:
        """Reserve ``count`` modseqs; returns the first. Call inside a transaction."""
        self._dirty = True
        (value,) = self.db.execute(
            "UPDATE meta SET v = v + ? WHERE k = 'modseq' RETURNING v", (count,)
        ).fetchone()
        return int(value) - count + 1

    def current_modseq(self) -> int:
        with self.lock:
            (value,) = self.db.execute("SELECT v FROM meta WHERE k = 'modseq'").fetchone()
            return int(value)

    # --- folders -----------------------------------------------------------------------

    def ensure_user(self, user: str) -> None:
        """Create the default folders of a user that has none yet."""
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM folders WHERE user = ? LIMIT 1", (user,)).fetchone():
                return
            for name, folder_type in DEFAULT_FOLDERS:
                self.add_folder(user, name, folder_type)

    def folders(self, user: str) -> list[Folder]:
        with self.lock:
            rows = self.db.execute(
                "SELECT server_id, parent_id, display_name, type FROM folders"
                " WHERE user = ? AND deleted = 0 ORDER BY CAST(server_id AS INTEGER)",
                (user,),
            ).fetchall()
        return [Folder(*row) for row in rows]

    def folder(self, user: str, server_id: str) -> Folder | None:
        with self.lock:
            row = self.db.execute(
                "SELECT server_id, parent_id, display_name, type FROM folders"
                " WHERE user = ? AND server_id = ? AND deleted = 0",
                (user, server_id),
            ).fetchone()
        return Folder(*row) if row else None

    def add_folder(self, user: str, display_name: str, type: int, parent_id: str = "0") -> str:
        with self.transaction() as db:
            modseq = self.next_modseq()
            server_id = str(modseq)
            db.execute(
                "INSERT INTO folders VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
                (user, server_id, parent_id, display_name, type, modseq, modseq),
            )
            return server_id

    def update_folder(self, user: str, server_id: str, display_name: str) -> None:
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE folders SET display_name = ?, modseq = ?"
                " WHERE user = ? AND server_id = ? AND deleted = 0",
                (display_name, self.next_modseq(), user, server_id),
            )
            if cur.rowcount == 0:
                raise KeyError(server_id)

    def delete_folder(self, user: str, server_id: str) -> None:
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE folders SET deleted = 1, modseq = ?"
                " WHERE user = ? AND server_id = ? AND deleted = 0",
                (self.next_modseq(), user, server_id),
            )
            if cur.rowcount == 0:
                raise KeyError(server_id)
            db.execute("DELETE FROM items WHERE user = ? AND folder_id = ?", (user, server_id))
            db.execute(
                "DELETE FROM sync_states WHERE user = ? AND collection_id = ?", (user, server_id)
            )

    # --- items -------------------------------------------------------------------------

    def add_item(
        self,
        user: str,
        folder_id: str,
        data: Element,
        *,
        origin: str | None = None,
        client_uid: str | None = None,
    ) -> str:
        """Store a new item (``data`` = ``AirSync:ApplicationData``); returns its ServerId.

        ``origin`` is the device that created it (None = made through this API).
        """
        data = self._kept(data)
        with self.transaction() as db:
            self._require_folder(user, folder_id)
            modseq = self.next_modseq()
            server_id = f"{folder_id}:{modseq}"
            facts = itemdata.filter_facts(data)
            db.execute(
                "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
                (
                    user,
                    folder_id,
                    server_id,
                    itemdata.dumps(data),
                    modseq,
                    modseq,
                    origin,
                    origin,
                    facts.end_time,
                    facts.recurring,
                    facts.complete,
                    client_uid,
                ),
            )
            return server_id

    def change_item(
        self,
        user: str,
        folder_id: str,
        server_id: str,
        data: Element,
        *,
        origin: str | None = None,
    ) -> None:
        data = self._kept(data)
        with self.transaction() as db:
            facts = itemdata.filter_facts(data)
            cur = db.execute(
                "UPDATE items SET data = ?, modseq = ?, origin = ?, end_time = ?, recurring = ?,"
                " complete = ? WHERE user = ? AND folder_id = ? AND server_id = ? AND deleted = 0",
                (
                    itemdata.dumps(data),
                    self.next_modseq(),
                    origin,
                    facts.end_time,
                    facts.recurring,
                    facts.complete,
                    user,
                    folder_id,
                    server_id,
                ),
            )
            if cur.rowcount == 0:
                raise KeyError(server_id)

    def _kept(self, data: Element) -> Element:
        """What the server stores of ``data``: without the fields it does not keep, at
        any depth (an attendee's ``Calendar:AttendeeType``, an exception's fields)."""
        if not self.drop_fields:
            return data
        dropped = self.drop_fields

        def kept(node: Element) -> Element:
            if not node.children:
                return node
            children = [kept(c) for c in node.children if c.tag not in dropped]
            return Element(node.tag, children, node.value)

        return kept(data)

    def delete_item(
        self, user: str, folder_id: str, server_id: str, *, origin: str | None = None
    ) -> None:
        """Delete an item, leaving a tombstone so devices that know it hear of it."""
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE items SET data = NULL, deleted = 1, modseq = ?, origin = ?"
                " WHERE user = ? AND folder_id = ? AND server_id = ? AND deleted = 0",
                (self.next_modseq(), origin, user, folder_id, server_id),
            )
            if cur.rowcount == 0:
                raise KeyError(server_id)

    def items(self, user: str, folder_id: str) -> dict[str, Element]:
        with self.lock:
            rows = self.db.execute(
                "SELECT server_id, data FROM items WHERE user = ? AND folder_id = ? AND deleted = 0"
                " ORDER BY modseq",
                (user, folder_id),
            ).fetchall()
        return {server_id: itemdata.loads(data) for server_id, data in rows}

    def get_item(self, user: str, folder_id: str, server_id: str) -> Element:
        """The item's ApplicationData; KeyError when there is no such (live) item."""
        with self.lock:
            row = self.db.execute(
                "SELECT data FROM items WHERE user = ? AND folder_id = ? AND server_id = ?"
                " AND deleted = 0",
                (user, folder_id, server_id),
            ).fetchone()
        if row is None:
            raise KeyError(server_id)
        return itemdata.loads(row[0])

    def find_by_client_uid(self, user: str, folder_id: str, client_uid: str) -> str | None:
        with self.lock:
            row = self.db.execute(
                "SELECT server_id FROM items WHERE user = ? AND folder_id = ? AND client_uid = ?"
                " AND deleted = 0",
                (user, folder_id, client_uid),
            ).fetchone()
        return row[0] if row else None

    def count_items(self, user: str, folder_id: str) -> int:
        with self.lock:
            (count,) = self.db.execute(
                "SELECT COUNT(*) FROM items WHERE user = ? AND folder_id = ? AND deleted = 0",
                (user, folder_id),
            ).fetchone()
        return int(count)

    def add_items_bulk(self, user: str, folder_id: str, items: list[Element]) -> list[str]:
        """Insert many items in one transaction (seeding, benchmarks)."""
        with self.transaction() as db:
            self._require_folder(user, folder_id)
            first = self.next_modseq(len(items))
            rows = []
            for offset, data in enumerate(items):
                modseq = first + offset
                facts = itemdata.filter_facts(data)
                rows.append(
                    (
                        user,
                        folder_id,
                        f"{folder_id}:{modseq}",
                        itemdata.dumps(data),
                        modseq,
                        modseq,
                        facts.end_time,
                        facts.recurring,
                        facts.complete,
                    )
                )
            db.executemany(
                "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, 0, ?, ?, ?, NULL)", rows
            )
            return [row[2] for row in rows]

    def seed_contacts(self, user: str, n: int, folder_id: str | None = None) -> list[str]:
        """Create ``n`` realistic contacts in the user's Contacts folder (or ``folder_id``)."""
        from eassync.devserver.seed import make_contacts

        if folder_id is None:
            folder_id = self.default_folder(user, 9)
        return self.add_items_bulk(user, folder_id, make_contacts(n))

    def default_folder(self, user: str, folder_type: int) -> str:
        for folder in self.folders(user):
            if folder.type == folder_type:
                return folder.server_id
        raise KeyError(f"user {user} has no folder of type {folder_type}")

    def _require_folder(self, user: str, folder_id: str) -> None:
        row = self.db.execute(
            "SELECT 1 FROM folders WHERE user = ? AND server_id = ? AND deleted = 0",
            (user, folder_id),
        ).fetchone()
        if row is None:
            raise KeyError(f"no folder {folder_id} for user {user}")

    # --- attachments -------------------------------------------------------------------

    def add_attachment(
        self,
        user: str,
        data: bytes,
        display_name: str = "attachment.bin",
        content_type: str = "application/octet-stream",
    ) -> str:
        """Store an attachment blob; returns the ``AirSyncBase:FileReference`` naming it."""
        file_reference = f"att-{secrets.token_hex(8)}"
        with self.transaction() as db:
            db.execute(
                "INSERT INTO attachments VALUES (?, ?, ?, ?, ?)",
                (user, file_reference, display_name, content_type, data),
            )
        return file_reference

    def get_attachment(self, user: str, file_reference: str) -> tuple[bytes, str, str] | None:
        """(data, content type, display name) or None."""
        with self.lock:
            row = self.db.execute(
                "SELECT data, content_type, display_name FROM attachments"
                " WHERE user = ? AND file_reference = ?",
                (user, file_reference),
            ).fetchone()
        return (bytes(row[0]), row[1], row[2]) if row else None

    # --- devices -----------------------------------------------------------------------

    DEVICE_FIELDS = ("device_type", "temp_policy_key", "policy_key", "info", "ping")

    def device(self, user: str, device: str) -> dict[str, str | None]:
        """The stored facts of one device (policy keys, device info, cached Ping)."""
        with self.lock:
            row = self.db.execute(
                f"SELECT {', '.join(self.DEVICE_FIELDS)} FROM devices"
                " WHERE user = ? AND device = ?",
                (user, device),
            ).fetchone()
        return dict(zip(self.DEVICE_FIELDS, row or [None] * 5, strict=True))

    def update_device(self, user: str, device: str, **values: str | None) -> None:
        unknown = set(values) - set(self.DEVICE_FIELDS)
        if unknown:
            raise ValueError(f"unknown device fields {sorted(unknown)}")
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO devices (user, device) VALUES (?, ?)", (user, device))
            for name, value in values.items():
                db.execute(
                    f"UPDATE devices SET {name} = ? WHERE user = ? AND device = ?",
                    (value, user, device),
                )

    def forget_device_information(self, user: str) -> None:
        """The server loses what the devices of ``user`` said in DeviceInformation."""
        with self.transaction() as db:
            db.execute("UPDATE devices SET info = NULL WHERE user = ?", (user,))

    # --- remote wipe -------------------------------------------------------------------

    def request_wipe(self, user: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO wipes VALUES (?)", (user,))
            # Revoke every policy key so the next command asks for a Provision (MS-ASPROV 3.1.5.1).
            db.execute("UPDATE devices SET policy_key = NULL WHERE user = ?", (user,))

    def wipe_pending(self, user: str) -> bool:
        with self.lock:
            return bool(self.db.execute("SELECT 1 FROM wipes WHERE user = ?", (user,)).fetchone())

    def wipe_acknowledged(self, user: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM wipes WHERE user = ?", (user,))

    def invalidate_sync_keys(self, user: str | None = None) -> None:
        """Forget every sync state (all collections and hierarchies) of one or all users."""
        with self.transaction() as db:
            if user is None:
                db.execute("DELETE FROM sync_states")
                db.execute("DELETE FROM folder_states")
            else:
                db.execute("DELETE FROM sync_states WHERE user = ?", (user,))
                db.execute("DELETE FROM folder_states WHERE user = ?", (user,))
