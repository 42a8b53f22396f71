"""What the local scan found: the local changes of a pass, and the new items (unknown
to the status) by UID and by content, for the matcher to bind server items to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class LocalChange:
    """One local item that changed since the last pass (from the local scan)."""

    kind: Literal["add", "change", "delete"]
    ident: str
    etag: str = ""
    uid: str | None = None
    #: fingerprint of the local item
    hash: str = ""
    #: fingerprint of what the server would hold: fingerprint(project(item))
    proj_hash: str = ""
    row_id: int | None = None
    #: fingerprint of what the server would hold, with a placeholder UID (new items)
    bare_hash: str = ""


@dataclass
class LocalIndex:
    """Local changes, and the new (unknown to the status) ones by UID and content."""

    changes: dict[str, LocalChange] = field(default_factory=dict)
    new_by_uid: dict[str, str] = field(default_factory=dict)
    new_by_hash: dict[str, str] = field(default_factory=dict)
    new_by_bare: dict[str, str] = field(default_factory=dict)

    def add(self, change: LocalChange) -> None:
        self.changes[change.ident] = change
        if change.kind == "add":
            if change.uid:
                self.new_by_uid[change.uid] = change.ident
            self.new_by_hash[change.proj_hash] = change.ident
            if change.bare_hash:
                self.new_by_bare[change.bare_hash] = change.ident

    def pop(self, ident: str) -> LocalChange | None:
        change = self.changes.pop(ident, None)
        if change is not None and change.kind == "add":
            if change.uid and self.new_by_uid.get(change.uid) == ident:
                del self.new_by_uid[change.uid]
            if self.new_by_hash.get(change.proj_hash) == ident:
                del self.new_by_hash[change.proj_hash]
            if change.bare_hash and self.new_by_bare.get(change.bare_hash) == ident:
                del self.new_by_bare[change.bare_hash]
        return change
