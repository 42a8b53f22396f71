"""Local change detection for ``eassync watch``.

Two parts:

- :class:`FolderWatcher` turns file-system events in vdir folders (watchdog:
  inotify on Linux) into "pair P may have local changes" marks. It filters out what
  is never an item (temp files ``*.tmp`` of atomic writes, hidden files) but does not
  try to tell our own writes from the user's: that is the next part's job.
- :func:`pending_collections` answers "which collections of pair P have local
  changes the status does not know?" exactly as the engine's first step would
  (``Storage.changes(token, known etags)``): a directory scan for a vdir, a
  sync-token request for DAV. Files the engine itself just wrote are in the status
  with their etags, so they are no change: a sync that writes files triggers one
  cheap check, never another sync.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eassync.config import Config, Pair
    from eassync.model.items import Storage
    from eassync.pairs import Selection

log = logging.getLogger(__name__)


def is_item_event_path(path: str) -> bool:
    """True for paths that may be items: not temp files of atomic writes (``.tmp``,
    design.md vdir), not hidden files (editors' swap files, our own temp names)."""
    name = os.path.basename(path.rstrip("/"))
    return bool(name) and not name.startswith(".") and not name.endswith((".tmp", "~"))


class FolderWatcher:
    """Watches vdir folders and calls ``on_change(pair_name)`` (from watchdog's thread)
    whenever something that may be an item appears, changes or goes away."""

    def __init__(self, on_change: Callable[[str], None]) -> None:
        from watchdog.observers import Observer

        self.on_change = on_change
        self._roots: list[tuple[str, str]] = []  # (folder with trailing sep, pair)
        self._lock = threading.Lock()
        self._observer: Any = Observer()
        self._observer.daemon = True

    def watch(self, pair_name: str, folder: Path) -> None:
        """Watch ``folder`` and everything below it for ``pair_name``."""
        from watchdog.events import FileSystemEventHandler

        folder.mkdir(parents=True, exist_ok=True)
        root = os.path.join(os.path.realpath(folder), "")
        with self._lock:
            self._roots.append((root, pair_name))
        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return  # reads, e.g. by the engine's own scan
                if event.is_directory and event.event_type == "modified":
                    return  # a folder's mtime follows its files' events anyway
                paths = [event.src_path, getattr(event, "dest_path", "") or ""]
                watcher._notice([os.fsdecode(p) for p in paths if p])

        self._observer.schedule(Handler(), str(folder), recursive=True)

    def _notice(self, paths: Iterable[str]) -> None:
        hit: set[str] = set()
        with self._lock:
            roots = list(self._roots)
        for path in paths:
            if not is_item_event_path(path):
                continue
            real = os.path.realpath(path)
            for root, pair in roots:
                if real.startswith(root) or os.path.join(real, "") == root:
                    hit.add(pair)
        for pair in hit:
            self.on_change(pair)

    def start(self) -> None:
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)


def watching_available() -> bool:
    """True if file watching works here (watchdog installed)."""
    try:
        import watchdog.observers  # noqa: F401
    except ImportError:
        return False
    return True


class LocalSides:
    """The local storages of the pairs being watched, opened once and reused (a DAV
    storage keeps its HTTP session and discovered URLs between polls)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._open: dict[tuple[str, str], Storage] = {}

    def storage(self, pair: Pair, sel: Selection) -> Storage:
        from eassync.runner import handler_for, open_local

        key = (pair.name, sel.folder.server_id)
        if key not in self._open:
            handler = handler_for(sel.kind, pair)
            storage = open_local(
                self.config.storage_for(pair),
                sel,
                handler,
                state_dir=self.config.general.status_dir,
            )
            # only looked at: the check never writes (the notes storage's rename index
            # is the sync's to keep, which runs under the pair lock)
            storage.read_only = True
            self._open[key] = storage
        return self._open[key]

    def close(self) -> None:
        for storage in self._open.values():
            close = getattr(storage, "close", None)
            if callable(close):
                close()
        self._open.clear()


def pending_collections(
    config: Config, pair: Pair, selections: Iterable[Selection], sides: LocalSides
) -> set[str]:
    """The CollectionIds of ``pair`` whose local side has changes the pair's status
    does not know yet (the engine's local scan, without reading any item)."""
    from eassync.runner import status_path
    from eassync.sync.status import Status

    path = status_path(config, pair.name)
    if not path.exists():
        return {sel.folder.server_id for sel in selections}
    pending: set[str] = set()
    with Status(path) as status:
        for sel in selections:
            key = sel.folder.server_id
            info = status.collection(key)
            if info.remote_state is None:
                pending.add(key)  # never synced: the first sync is due anyway
                continue
            changes = sides.storage(pair, sel).changes(info.local_token, status.local_etags(key))
            if changes.changed or changes.deleted:
                log.debug(
                    "pair %s/%s: %d local change(s), %d deletion(s)",
                    pair.name,
                    sel.subdir or sel.folder.display_name,
                    len(changes.changed),
                    len(changes.deleted),
                )
                pending.add(key)
    return pending


def local_folder(config: Config, pair: Pair) -> Path | None:
    """The vdir folder of ``pair`` (the parent of all subfolders for ``{all: KIND}``),
    or None when its local side is not a vdir."""
    storage = config.storage_for(pair)
    if storage.type not in ("vdir", "notes") or storage.path is None:
        return None
    return Path(storage.path)
