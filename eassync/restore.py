"""``eassync trash restore``: a trashed item back into its local collection, so the
next sync uploads it (a new item as an Add; over an item of the same file or UID as
a Change, that item kept in the trash in turn: a restore never loses a version).

Works offline, under the pair's lock, for vdir and notes storages. A CalDAV/CardDAV
collection is told to import the kept file instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from eassync.errors import EassyncError, NotFoundError, UsageError
from eassync.model.items import Item
from eassync.storage.trash import Trash, TrashEntry

if TYPE_CHECKING:
    from eassync.config import Config, Pair
    from eassync.model.items import Storage


def restore(config: Config, trash: Trash, entry: TrashEntry) -> str:
    """Put ``entry`` back; returns where (the local file). The entry leaves the trash
    once its item is written."""
    from eassync.storage.lock import pair_lock

    pair = config.pairs.get(entry.pair)
    if pair is None:
        raise UsageError(
            f"{entry.name}: its pair {entry.pair!r} is no longer in {config.path}",
            hint=f"copy {entry.path} into the collection by hand",
        )
    storage = config.storage_for(pair)
    if storage.type not in ("vdir", "notes"):
        raise UsageError(
            f"{entry.name}: restoring into a {storage.type} collection is not supported",
            hint=f"import {entry.path} with your calendar or address book program",
        )
    with pair_lock(config.general.status_dir, pair.name):
        local = _open(config, pair, entry)
        item = Item(entry.path.read_bytes())
        ident = _restore_into(local, item, entry, trash, pair.name, pair.kind)
        trash.remove(entry)
    return str(Path(local.location) / ident)


def _open(config: Config, pair: Pair, entry: TrashEntry) -> Storage:
    """The local collection the entry came from: the pair's folder, or its subfolder
    for the entry's server folder (``{all: KIND}``: the status keeps its name)."""
    from eassync.runner import local_path, status_path
    from eassync.storage.notes import NotesStorage
    from eassync.storage.vdir import VdirStorage
    from eassync.sync.status import Status

    storage = config.storage_for(pair)
    subdir = None
    if pair.many:
        path = status_path(config, pair.name)
        if path.exists():
            with Status.snapshot(path) as status:
                subdir = status.collection(entry.collection).label
        if subdir is None:
            raise UsageError(
                f"{entry.name}: the folder it came from is no longer synced by {pair.name}",
                hint=f"copy {entry.path} into the collection by hand",
            )
    folder = local_path(storage, subdir)
    if storage.type == "notes":
        return NotesStorage(folder, storage.fileext or ".md", create=True)
    fileext = storage.fileext or Path(entry.ident).suffix or ".ics"
    return VdirStorage(folder, fileext, create=True)


def _restore_into(
    local: Storage, item: Item, entry: TrashEntry, trash: Trash, pair: str, kind: str | None
) -> str:
    """Write ``item``: over the file it came from, or the item with its UID, if there
    is one (that version goes to the trash first), else as a new item."""
    current = _same_item(local, entry.ident, item)
    if current is None:
        ident, _ = local.add(item)
        return ident
    ident, (old, etag) = current
    trash.put(pair, entry.collection, ident, old, name=_describe(old, kind), label=entry.label)
    local.update(ident, item, etag)
    return ident


def _describe(item: Item, kind: str | None) -> str | None:
    """The summary of an item of ``kind`` (None: told by its content)."""
    from eassync.runner import handler_for

    if kind is None:
        if item.raw.lstrip().upper().startswith(b"BEGIN:VCARD"):
            kind = "contacts"
        elif b"BEGIN:VTODO" in item.raw.upper():
            kind = "tasks"
        elif b"BEGIN:VEVENT" in item.raw.upper():
            kind = "calendar"
        else:
            kind = "notes"
    try:
        return handler_for(kind).describe(item)
    except Exception:  # named by its file then
        return None


def _same_item(local: Storage, ident: str, item: Item) -> tuple[str, tuple[Item, str]] | None:
    """The local item ``item`` replaces: the one at ``ident``, else one with its UID."""
    from eassync.storage.vdir import read_uid

    try:
        return ident, local.get(ident)
    except NotFoundError:
        pass
    except EassyncError:
        pass  # not an item name of this collection (another extension, unsafe)
    uid = read_uid(item.raw)
    if not uid:
        return None
    for other, _ in local.list():
        try:
            found = local.get(other)
        except EassyncError:
            continue
        if found[0].uid == uid:
            return other, found
    return None
