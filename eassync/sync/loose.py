"""Second-chance matching of a server item to a local one when no UID or content hash
places it: the server did not keep every field of the local item (SOGo drops
Anniversary, joins street lines …) and we have not learnt that yet — after a lost
status, a ``repair``, or the first pass over two filled sides.

Candidates are found by a coarse anchor (a contact's names, an event's summary and
start, a task's summary and due date) and confirmed by the handler's
``same_held_content``: equal in every field the server holds. An event's UID does not
veto a match where the server assigns its own (``may_bind``). Only local items that
wait for a server item are candidates: new local items (not in the status) and rows
without their server item. The index is built on first use, so a pass that never needs
it (a first download into an empty folder) pays nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from eassync.errors import EassyncError
from eassync.model.items import Item
from eassync.sync.index import LocalIndex
from eassync.sync.status import waits_for_server

if TYPE_CHECKING:
    from eassync.sync.status import Status, StatusRow


class LooseHandler(Protocol):
    def match_anchor(self, item: Item) -> str: ...

    def same_held_content(self, local: Item, remote: Item, version: str) -> bool: ...


@dataclass
class LooseMatcher:
    handler: LooseHandler
    version: str
    status: Status
    collection: str
    index: LocalIndex
    #: reads a local item by ident (None when it cannot be read)
    read_local: Callable[[str], Item | None]
    #: anchor → local idents of candidates; None until first needed
    _anchors: dict[str, list[str]] | None = field(default=None, init=False)

    def may_bind(
        self, local_uid: str | None, remote_uid: str | None, bare_hash: str | None
    ) -> bool:
        """Whether a candidate with ``local_uid`` may be the server item with
        ``remote_uid``: two UIDs that differ are two items, unless the server item's UID
        says nothing — one we derived (``bare_hash``: the server holds none) or one a
        server assigns in place of ours (``server_assigns_uids``: calendars at 16.x,
        MS-ASCAL 2.2.2.46, and Horde at any version)."""
        if not local_uid or not remote_uid or local_uid == remote_uid or bare_hash:
            return True
        return bool(getattr(self.handler, "server_assigns_uids", False))

    def reset(self) -> None:
        """Forget the index (a resync makes every row a candidate)."""
        self._anchors = None

    def find(self, remote: Item) -> StatusRow | object | None:
        """The candidate (a status row or a LocalChange) ``remote`` is a copy of."""
        if not self.index.new_by_hash and not self.status.has_unbound(self.collection):
            return None
        try:
            anchor = self.handler.match_anchor(remote)
        except EassyncError:
            return None
        if not anchor:
            return None
        idents = self._index().get(anchor, [])
        for ident in list(idents):
            candidate = self._candidate(ident)
            if candidate is None:
                idents.remove(ident)
                continue
            local = self.read_local(ident)
            if local is None:
                continue
            try:
                same = self.handler.same_held_content(local, remote, self.version)
            except EassyncError:
                continue
            if same:
                idents.remove(ident)
                return candidate
        return None

    def _candidate(self, ident: str) -> StatusRow | object | None:
        change = self.index.changes.get(ident)
        if change is not None and change.kind == "add":
            return change
        row = self.status.by_local(self.collection, ident)
        if row is not None and waits_for_server(row):
            return row
        return None

    def _index(self) -> dict[str, list[str]]:
        if self._anchors is not None:
            return self._anchors
        anchors: dict[str, list[str]] = {}
        idents = [c.ident for c in self.index.changes.values() if c.kind == "add"]
        idents += [
            row.local_ident
            for row in self.status.unbound_rows(self.collection)
            if row.local_ident is not None
        ]
        for ident in idents:
            item = self.read_local(ident)
            if item is None:
                continue
            try:
                anchor = self.handler.match_anchor(item)
            except EassyncError:
                continue
            if anchor:
                anchors.setdefault(anchor, []).append(ident)
        self._anchors = anchors
        return anchors
