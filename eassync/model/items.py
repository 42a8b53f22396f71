"""The storage interface both sides of a pair speak, and the glossary.

Glossary (fixed once, used everywhere):

- **pair**: one configured link between a remote (EAS) and a local storage.
- **side**: ``local`` or ``remote`` within a pair.
- **collection**: one folder of items: an EAS folder (CollectionId), a vdir
  directory, a CalDAV calendar or CardDAV address book.
- **ident**: the identifier of an item *within its collection* on one side:
  a vdir file name, a DAV href, an EAS ServerId. Opaque outside its storage.
- **etag**: a cheap change marker for one item on one side: vdir mtime_ns+size,
  a DAV ETag. An etag that changed means "maybe changed": the engine then compares
  content hashes.
- **ServerId**: the EAS identifier of an item; **SyncKey**: the EAS per-collection
  state token; **href**: a DAV resource path.
- **token**: a storage's own "changes since" marker (DAV sync-token, EAS SyncKey).
- **uid**: the iCalendar/vCard UID of an item, when it has one.

Local storages implement :class:`Storage`. The EAS side, whose changes arrive in
acknowledged batches each with a new SyncKey, implements :class:`RemoteCollection`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol


@dataclass(frozen=True)
class Item:
    """One calendar object or vCard as bytes, with its UID when known.

    ``raw`` is a complete VCALENDAR or VCARD; ``uid`` is parsed once by whoever
    builds the Item (None if the item has no UID).
    """

    raw: bytes
    uid: str | None = None


@dataclass
class Changes:
    """What changed in a local storage since the last run.

    ``changed`` maps ident → etag for items that are new or whose etag differs from
    what the status knew; ``deleted`` lists known idents that are gone; ``token`` is
    the storage's new token to store once the pass committed (None if it has none);
    ``skipped``: see below.
    """

    changed: dict[str, str] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    token: str | None = None
    #: items present but not synced (a symlink leading outside, an alias of another
    #: item): ident → why. Never a deletion: a known item listed here keeps its
    #: server copy and is reported
    skipped: dict[str, str] = field(default_factory=dict)


class Storage(Protocol):
    """A local collection (vdir folder, CalDAV calendar, CardDAV address book)."""

    #: a human-readable location for messages ("~/.contacts/work", an URL)
    location: str
    read_only: bool

    def list(self) -> Iterator[tuple[str, str]]:
        """Every item as (ident, etag)."""
        ...

    def changes(self, token: str | None, known: Mapping[str, str]) -> Changes:
        """Changes since ``token`` (if the storage has tokens and it is still valid),
        else by comparing a listing with ``known`` (ident → etag from the status)."""
        ...

    def get(self, ident: str) -> tuple[Item, str]:
        """The item and its current etag. Raises NotFoundError, ItemError (unreadable)."""
        ...

    def get_many(self, idents: Iterable[str]) -> Iterator[tuple[str, Item | Exception, str]]:
        """Several items at once (DAV multiget). A broken item yields its exception
        in place of the Item so that one bad file never stops the others."""
        ...

    def add(self, item: Item) -> tuple[str, str]:
        """Store a new item; returns (ident, etag). The ident is chosen by the storage,
        never taken unsanitised from the item."""
        ...

    def update(self, ident: str, item: Item, etag: str) -> str:
        """Replace an item if its etag is still ``etag`` (else PreconditionFailed);
        returns the new etag."""
        ...

    def delete(self, ident: str, etag: str) -> None:
        """Remove an item if its etag is still ``etag`` (else PreconditionFailed)."""
        ...


# --- the remote (EAS) side ---------------------------------------------------------------

RemoteChangeKind = Literal["add", "change", "delete", "softdelete"]


@dataclass(frozen=True)
class RemoteChange:
    """One server change. ``item`` is None for delete/softdelete, and for add/change
    whose data could not be converted (then ``error`` says why, after ``name``: the
    item's subject or name, when the server sent one)."""

    kind: RemoteChangeKind
    ident: str  # ServerId
    item: Item | None = None
    error: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class RemoteBatch:
    """One Sync response: changes plus the SyncKey to commit *with* them."""

    changes: Sequence[RemoteChange]
    state: str
    more_available: bool = False


PushKind = Literal["add", "change", "delete"]


@dataclass(frozen=True)
class PushOp:
    """One client command. ``ref`` is the ClientId for adds, the ServerId otherwise."""

    kind: PushKind
    ref: str
    item: Item | None = None


OpStatus = Literal["ok", "conflict", "not_found", "rejected", "retry", "failed"]


@dataclass(frozen=True)
class OpResult:
    """Outcome of one PushOp: ok; conflict (server won, Status 7); not_found (Status 8);
    rejected (Status 4/6: never resend unchanged); retry (Status 9/5: try next run);
    failed (the server fails on a request holding this item alone: a poison item).
    ``ident`` is the new ServerId of an add. ``stored``: the server's copy of an added
    item, read back where its handler asks (``read_back_added``), or of a changed item
    whose parts the remote stored apart, converted: the server's shape, which the local
    side takes next pass. ``apart``: the items the remote added for parts of this one
    (ServerId, item): a series' occurrences on a server that applies an occurrence's
    Change to the whole series. ``report``: a ``retry`` the user must hear of.
    ``incomplete``: an ``ok`` Add whose server copy lacks part of what was sent (a series
    stored bare whose exceptions did not follow): the item goes up again as a Change."""

    ref: str
    status: OpStatus
    ident: str | None = None
    message: str = ""
    stored: Item | None = None
    apart: tuple[tuple[str, Item], ...] = ()
    report: bool = False
    incomplete: bool = False


@dataclass(frozen=True)
class PushResult:
    state: str
    results: Sequence[OpResult]


class RemoteCollection(Protocol):
    """An EAS folder seen through Sync. State (the SyncKey) is owned by the caller,
    who commits it in the same status transaction as the rows of each batch."""

    location: str
    #: at most this many PushOps per push() call (WindowSize)
    max_batch: int

    def pull(self, state: str | None) -> Iterator[RemoteBatch]:
        """Server changes since ``state`` (None = start from SyncKey 0: full download),
        batch by batch. Raises InvalidSyncKey when the server lost the state."""
        ...

    def push(self, state: str, ops: Sequence[PushOp]) -> PushResult:
        """Send client commands in one Sync request; returns the new state and one
        result per op. Raises InvalidSyncKey, TransientError …"""
        ...

    def fetch(self, ident: str) -> RemoteChange:
        """The server's current version of one item, outside Sync (the state does not
        move): a ``change`` with the item, or with ``error`` when it does not convert.
        Raises NotFoundError when the server no longer holds it."""
        ...
