"""Where deleted local items go first: ``<state>/trash/<pair>/<collection>/<time>-<ident>``.

A sync that deletes a local file (because the item was deleted on the server) keeps
a copy here, so a wrong deletion (a server that lost a folder, a mistaken rule) can be
undone by copying the file back. ``prune`` drops copies older than a month.
Files are 0600 and folders 0700: they hold private contacts and appointments.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from eassync.model.items import Item
from eassync.storage.atomic import create_exclusive, ensure_private_dir

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")
_MAX_COMPONENT = 120


def safe_component(name: str) -> str:
    """``name`` as one harmless path component: unsafe characters become ``_``, no
    leading dot (hence never ``.`` or ``..``), bounded length, never empty."""
    return (_UNSAFE.sub("_", name).lstrip(".") or "_")[:_MAX_COMPONENT]


class Trash:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put(self, pair: str, collection: str, ident: str, item: Item) -> Path:
        """Keep ``item`` (about to be deleted from ``collection`` of ``pair``); returns
        the file written. Durable before returning, like any write of ours."""
        folder = ensure_private_dir(self.root / safe_component(pair) / safe_component(collection))
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        base = f"{stamp}-{safe_component(ident)}"
        for attempt in range(100):
            path = folder / (base if attempt == 0 else f"{base}.{attempt}")
            try:
                create_exclusive(path, item.raw, mode=0o600)
            except FileExistsError:
                continue
            return path
        raise FileExistsError(folder / base)  # pragma: no cover

    def entries(self, pair: str | None = None) -> Iterator[Path]:
        """Every kept file (of one pair, or all), oldest first within each folder."""
        base = self.root / safe_component(pair) if pair is not None else self.root
        if not base.is_dir():
            return
        for folder, _dirs, files in os.walk(base):
            for name in sorted(files):
                if not name.startswith("."):
                    yield Path(folder) / name

    def prune(self, max_age_days: float = 30) -> int:
        """Remove kept files older than ``max_age_days`` (by the time they were put,
        i.e. their mtime) and folders left empty; returns how many files went."""
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - max_age_days * 86400
        removed = 0
        for folder, _dirs, files in os.walk(self.root, topdown=False):
            for name in files:
                path = os.path.join(folder, name)
                with contextlib.suppress(FileNotFoundError):
                    if os.lstat(path).st_mtime < cutoff:
                        os.unlink(path)
                        removed += 1
            if folder != os.fspath(self.root):
                with contextlib.suppress(OSError):
                    os.rmdir(folder)  # only succeeds when empty
        return removed
