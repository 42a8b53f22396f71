"""The storage interface both sides of a pair speak: defined with the rest of the shared
vocabulary in :mod:`eassync.model.items`, named here too for the storages."""

from eassync.model.items import (
    Changes,
    Item,
    OpResult,
    OpStatus,
    PushKind,
    PushOp,
    PushResult,
    RemoteBatch,
    RemoteChange,
    RemoteChangeKind,
    RemoteCollection,
    Storage,
)

__all__ = [
    "Changes",
    "Item",
    "OpResult",
    "OpStatus",
    "PushKind",
    "PushOp",
    "PushResult",
    "RemoteBatch",
    "RemoteChange",
    "RemoteChangeKind",
    "RemoteCollection",
    "Storage",
]
