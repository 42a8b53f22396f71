"""Binding a server item the status cannot place to what it corresponds to."""

from __future__ import annotations

from eassync.model.items import Item
from eassync.sync.index import LocalChange, LocalIndex
from eassync.sync.loose import LooseMatcher
from eassync.sync.status import Status, StatusRow


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
