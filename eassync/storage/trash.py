"""Where local items go before a sync deletes or overwrites them:
``<state>/trash/<pair>/<collection>/<time>-<ident>``.

A sync that deletes a local file (the item was deleted on the server, a new item
reverted by ``local_changes: revert``) or overwrites one (``remote_wins``, a revert)
keeps a copy here first, so a wrong deletion (a server that lost a folder, a mistaken
rule) can be undone: ``eassync trash list|restore|empty``. Each copy has a hidden
description beside it (``.<file>.json``: the pair's name, the item's file name and
summary, the collection's name), so the list can say what it is. Copies older than
``general.trash_expiry_days`` go at the start of each sync of their pair.
Files are 0600 and folders 0700: they hold private contacts and appointments.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from eassync.errors import StorageError
from eassync.model.items import Item
from eassync.storage.atomic import create_exclusive, ensure_private_dir

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")
_MAX_COMPONENT = 120
#: ``20261205T183000.123456Z-`` before the item's file name
_STAMP = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-")


def safe_component(name: str) -> str:
    """``name`` as one harmless path component: unsafe characters become ``_``, no
    leading dot (hence never ``.`` or ``..``), bounded length, never empty."""
    return (_UNSAFE.sub("_", name).lstrip(".") or "_")[:_MAX_COMPONENT]


def _meta_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.json")


@dataclass(frozen=True)
class TrashEntry:
    """One kept item. ``name`` is its summary (or file name); ``label`` the
    collection's name as the user knows it, when known."""

    path: Path
    pair: str
    collection: str
    ident: str
    name: str
    label: str | None
    trashed: datetime
    #: ``pair/collection/file`` under the trash: what ``eassync trash restore`` takes
    id: str


class Trash:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put(
        self,
        pair: str,
        collection: str,
        ident: str,
        item: Item,
        *,
        name: str | None = None,
        label: str | None = None,
    ) -> Path:
        """Keep ``item`` (about to be deleted or overwritten in ``collection`` of
        ``pair``); returns the file written. Durable before returning, like any write
        of ours. A trash that cannot be written is a StorageError: the caller then
        leaves the item where it is."""
        try:
            return self._put(pair, collection, ident, item, name, label)
        except OSError as exc:
            raise StorageError(
                f"cannot keep a copy of {ident} in the trash ({self.root}): {exc}; "
                "it is left as it is",
                hint=f"check that {self.root} is a writable folder with free space",
            ) from exc

    def _put(
        self,
        pair: str,
        collection: str,
        ident: str,
        item: Item,
        name: str | None,
        label: str | None,
    ) -> Path:
        folder = ensure_private_dir(self.root / safe_component(pair) / safe_component(collection))
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        base = f"{stamp}-{safe_component(ident)}"
        meta = {"pair": pair, "collection": collection, "ident": ident}
        if name is not None:
            meta["name"] = name
        if label is not None:
            meta["label"] = label
        for attempt in range(100):
            path = folder / (base if attempt == 0 else f"{base}.{attempt}")
            try:
                create_exclusive(path, item.raw, mode=0o600)
            except FileExistsError:
                continue
            with contextlib.suppress(FileExistsError):
                # the description is a convenience: the copy itself is what counts
                create_exclusive(_meta_path(path), json.dumps(meta).encode(), mode=0o600)
            return path
        raise FileExistsError(folder / base)  # pragma: no cover

    def entries(self, pair: str | None = None) -> Iterator[Path]:
        """Every kept file (of one pair, or all), oldest first within each folder."""
        base = self.root / safe_component(pair) if pair is not None else self.root
        if not base.is_dir():
            return
        for folder, dirs, files in os.walk(base):
            dirs.sort()
            for name in sorted(files):
                if not name.startswith("."):
                    yield Path(folder) / name

    def list(self, pair: str | None = None) -> list[TrashEntry]:
        """Every kept item (of the pair named ``pair``), oldest first."""
        found = [self._entry(path) for path in self.entries()]
        entries = [e for e in found if e is not None and (pair is None or e.pair == pair)]
        return sorted(entries, key=lambda e: (e.trashed, e.id))

    def find(self, entry_id: str) -> TrashEntry | None:
        """The entry of an id :meth:`list` gave, or None. Ids are looked up among the
        entries, never joined into a path: nothing outside the trash is reachable."""
        wanted = entry_id.strip().lower()
        return next((e for e in self.list() if e.id == wanted), None)

    def _entry(self, path: Path) -> TrashEntry | None:
        try:
            stat = path.stat()
        except OSError:
            return None
        meta: dict[str, str] = {}
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(_meta_path(path).read_text("utf-8"))
            if isinstance(loaded, dict):
                meta = {k: v for k, v in loaded.items() if isinstance(v, str)}
        rel = path.relative_to(self.root)
        pair_dir, collection_dir = rel.parts[0], rel.parts[1] if len(rel.parts) > 2 else ""
        ident = meta.get("ident") or _STAMP.sub("", path.name)
        return TrashEntry(
            path=path,
            pair=meta.get("pair", pair_dir),
            collection=meta.get("collection", collection_dir),
            ident=ident,
            name=meta.get("name") or ident,
            label=meta.get("label"),
            trashed=datetime.fromtimestamp(stat.st_mtime, UTC),
            id=_entry_id(rel),
        )

    def remove(self, entry: TrashEntry) -> None:
        """Drop one entry, its description, and the folders it leaves empty."""
        for path in (entry.path, _meta_path(entry.path)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        folder = entry.path.parent
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()  # only succeeds when empty
            except OSError:
                break
            folder = folder.parent

    def empty(self, older_than_days: float | None = None, pair: str | None = None) -> int:
        """Remove every entry (of the pair named ``pair``; put more than
        ``older_than_days`` ago); returns how many went."""
        cutoff = None if older_than_days is None else time.time() - older_than_days * 86400
        removed = 0
        for entry in self.list(pair):
            if cutoff is None or entry.trashed.timestamp() < cutoff:
                self.remove(entry)
                removed += 1
        return removed

    def prune(self, max_age_days: float = 30, pair: str | None = None) -> int:
        """Remove kept files older than ``max_age_days`` (by the time they were put,
        i.e. their mtime; of the pair named ``pair``, or all) with their descriptions,
        and folders left empty; returns how many files went."""
        base = self.root / safe_component(pair) if pair is not None else self.root
        if not base.is_dir():
            return 0
        cutoff = time.time() - max_age_days * 86400
        removed = 0
        for folder, _dirs, files in os.walk(base, topdown=False):
            for name in files:
                if name.startswith("."):
                    continue  # a description goes with its entry
                path = os.path.join(folder, name)
                with contextlib.suppress(FileNotFoundError):
                    if os.lstat(path).st_mtime < cutoff:
                        os.unlink(path)
                        removed += 1
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(_meta_path(Path(path)))
            if folder != os.fspath(self.root):
                with contextlib.suppress(OSError):
                    os.rmdir(folder)  # only succeeds when empty
        return removed


def _entry_id(rel: Path) -> str:
    """A short handle for ``trash restore``: the entry's place in the trash names the
    collection by its server id, which a person should never have to read or type."""
    return hashlib.sha256(rel.as_posix().encode("utf-8")).hexdigest()[:10]
