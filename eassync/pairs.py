"""Which EAS folders a pair syncs, and where each one lives locally.

A pair's ``remote`` selector is one of ``{default: KIND}``, ``{folder: NAME}``,
``{folder_id: ID}`` or ``{all: KIND}`` (KIND = contacts, calendar, tasks, notes).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eassync.errors import ConfigError, NotFoundError

if TYPE_CHECKING:
    from eassync.model.folder import Folder

KINDS = ("contacts", "calendar", "tasks", "notes")
#: FolderSync Type → kind (brief §4): default folders first, then user-created ones.
DEFAULT_FOLDER_TYPE = {"contacts": 9, "calendar": 8, "tasks": 7, "notes": 10}
USER_FOLDER_TYPE = {"contacts": 14, "calendar": 13, "tasks": 15, "notes": 17}
TYPE_KIND = {t: k for k, t in DEFAULT_FOLDER_TYPE.items()} | {
    t: k for k, t in USER_FOLDER_TYPE.items()
}


def folder_kind(folder: Folder) -> str | None:
    return TYPE_KIND.get(folder.type)


@dataclass(frozen=True)
class Selection:
    """One EAS folder chosen by a pair. ``subdir`` is the local sub-collection name
    for ``{all: KIND}`` pairs (None: the local storage itself)."""

    folder: Folder
    kind: str
    subdir: str | None = None


def select_folders(
    pair_name: str,
    remote: Mapping[str, Any],
    folders: Sequence[Folder],
    known: Mapping[str, str] | None = None,
) -> list[Selection]:
    """Resolve a pair's remote selector against the folders FolderSync returned.

    ``known``: ServerId → local subfolder of the folders an ``{all: KIND}`` pair
    synced before (from its status). A folder's identity is its ServerId, not its
    name (MS-ASCMD 2.2.3.179: a rename is a FolderSync Update of the same ServerId),
    so a folder renamed on the server keeps its local subfolder: the user's khal or
    khard config names that path, and a new name would make a new, empty subfolder
    whose emptiness reads as "every item deleted". Known subfolders stay reserved
    while their folder is gone from the server (its local items are kept), so a new
    folder never takes over a subfolder holding another folder's items."""
    if "default" in remote:
        kind = remote["default"]
        wanted = DEFAULT_FOLDER_TYPE[kind]
        for f in folders:
            if f.type == wanted:
                return [Selection(f, kind)]
        raise NotFoundError(
            f"pair '{pair_name}': the server shows no default {kind} folder",
            hint="run `eassync discover` to see the folders the server lists",
        )
    if "folder_id" in remote:
        for f in folders:
            if f.server_id == remote["folder_id"]:
                return [Selection(f, _kind_of(pair_name, f))]
        raise NotFoundError(
            f"pair '{pair_name}': no folder with id {remote['folder_id']!r} on the server",
            hint="run `eassync discover` to see the folder ids",
        )
    if "folder" in remote:
        name = remote["folder"]
        matches = [f for f in folders if f.display_name == name and folder_kind(f)]
        kind_filter = remote.get("kind")
        if kind_filter:
            matches = [f for f in matches if folder_kind(f) == kind_filter]
        if not matches:
            raise NotFoundError(
                f"pair '{pair_name}': no contacts, calendar, tasks or notes folder named {name!r}",
                hint="run `eassync discover` to see the folder names",
            )
        if len(matches) > 1:
            # SOGo lists every calendar twice, as events and as tasks (sogo-notes Q7).
            raise ConfigError(
                f"pair '{pair_name}': several folders are named {name!r}: "
                + ", ".join(f"{f.server_id} ({folder_kind(f)})" for f in matches),
                hint="use `folder_id:` (see `eassync discover`) or add `kind:` to the selector",
            )
        return [Selection(matches[0], _kind_of(pair_name, matches[0]))]
    if "all" in remote:
        kind = remote["all"]
        chosen = [f for f in folders if folder_kind(f) == kind]
        kept = {sid: name for sid, name in (known or {}).items() if is_safe_dirname(name)}
        used = {name.lower() for name in kept.values()}
        out = []
        for f in sorted(
            chosen, key=lambda f: (f.type != DEFAULT_FOLDER_TYPE[kind], f.display_name)
        ):
            subdir = kept.get(f.server_id) or unique_dirname(f.display_name or f.server_id, used)
            out.append(Selection(f, kind, subdir))
        return out
    raise ConfigError(f"pair '{pair_name}': remote needs one of default, folder, folder_id, all")


def _kind_of(pair_name: str, folder: Folder) -> str:
    kind = folder_kind(folder)
    if kind is None:
        raise ConfigError(
            f"pair '{pair_name}': folder {folder.display_name!r} (type {folder.type}) "
            "holds neither contacts, calendars, tasks nor notes"
        )
    return kind


_UNSAFE = re.compile(r"[^\w.@+-]+")


def safe_name(name: str, *, max_len: int = 80) -> str:
    """A file-system-safe name from server data: no separators, no leading dot,
    no ``..``, bounded length. Never empty."""
    text = unicodedata.normalize("NFC", name)
    text = _UNSAFE.sub("_", text).strip("._")
    text = text.replace("..", "_")[:max_len]
    return text or "_"


def is_safe_dirname(name: str) -> bool:
    """Whether ``name`` (read back from the status) is a plain folder name, as
    :func:`unique_dirname` makes them: no separator, no leading dot, no ``..``."""
    return (
        0 < len(name) <= 100
        and not name.startswith(".")
        and ".." not in name
        and not any(c in name for c in "/\\\0")
    )


def unique_dirname(name: str, used: set[str]) -> str:
    base = safe_name(name)
    candidate, n = base, 2
    while candidate.lower() in used:
        candidate, n = f"{base}-{n}", n + 1
    used.add(candidate.lower())
    return candidate
