"""A local collection held in memory.

Used where nothing may be written (a dry run of a never-synced pair plans its first
sync against an empty collection) and by the tests: etags change on every write;
``broken`` idents read as unparsable items, ``kill_after_writes`` simulates a kill
after some writes, ``fail_write`` a full disk for chosen items.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import count

from eassync.errors import (
    ItemError,
    NotFoundError,
    PreconditionFailed,
    StorageError,
)
from eassync.model.items import (
    Changes,
    Item,
)


class Killed(BaseException):
    """A simulated kill of the process: no ``except Exception`` catches it."""


@dataclass
class MemoryStorage:
    """A local collection in a dict. ``broken`` idents read as ItemError (a file that
    does not parse); ``kill_after_writes`` = k kills the process after k more writes
    (each write completes, like a file that reached the disk); an add or update of an
    item ``fail_write`` selects fails like a full disk. ``written`` counts the writes
    that happened, by kind."""

    location: str = "memory"
    read_only: bool = False
    items: dict[str, tuple[Item, str]] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)
    kill_after_writes: int | None = None
    fail_write: Callable[[Item], bool] = lambda item: False
    failed_writes: int = 0
    written: dict[str, int] = field(default_factory=lambda: {"add": 0, "change": 0, "delete": 0})
    _ids: Iterator[int] = field(default_factory=count)

    def _check_space(self, item: Item) -> None:
        if self.fail_write(item):
            self.failed_writes += 1
            raise StorageError("No space left on device")

    def _etag(self) -> str:
        return f"e{next(self._ids)}"

    def _wrote(self) -> None:
        if self.kill_after_writes is not None:
            self.kill_after_writes -= 1
            if self.kill_after_writes < 0:
                self.kill_after_writes = None
                raise Killed("killed after a local write")

    # Storage protocol

    def list(self) -> Iterator[tuple[str, str]]:
        for ident, (_, etag) in list(self.items.items()):
            yield ident, etag

    def changes(self, token: str | None, known: Mapping[str, str]) -> Changes:
        changed = {i: e for i, e in self.list() if known.get(i) != e}
        deleted = set(known) - set(self.items)
        return Changes(changed, deleted, None)

    def get(self, ident: str) -> tuple[Item, str]:
        if ident not in self.items:
            raise NotFoundError(f"{ident}: no such item")
        if ident in self.broken:
            raise ItemError(f"{ident}: cannot parse", ident=ident)
        return self.items[ident]

    def get_many(self, idents: Iterable[str]) -> Iterator[tuple[str, Item | Exception, str]]:
        for ident in idents:
            try:
                item, etag = self.get(ident)
            except (NotFoundError, ItemError) as exc:
                yield ident, exc, ""
            else:
                yield ident, item, etag

    def add(self, item: Item) -> tuple[str, str]:
        self._check_space(item)
        ident = f"item{next(self._ids)}.txt"
        etag = self._etag()
        self.items[ident] = (item, etag)
        self.written["add"] += 1
        self._wrote()
        return ident, etag

    def update(self, ident: str, item: Item, etag: str) -> str:
        if ident not in self.items:
            raise NotFoundError(f"{ident}: no such item")
        if self.items[ident][1] != etag:
            raise PreconditionFailed(f"{ident} changed meanwhile", ident=ident)
        self._check_space(item)
        new_etag = self._etag()
        self.items[ident] = (item, new_etag)
        self.written["change"] += 1
        self._wrote()
        return new_etag

    def delete(self, ident: str, etag: str) -> None:
        if ident not in self.items:
            raise NotFoundError(f"{ident}: no such item")
        if self.items[ident][1] != etag:
            raise PreconditionFailed(f"{ident} changed meanwhile", ident=ident)
        del self.items[ident]
        self.written["delete"] += 1
        self._wrote()

    # test helpers (the user editing files)

    def user_add(self, item: Item) -> str:
        ident = f"user{next(self._ids)}.txt"
        self.items[ident] = (item, self._etag())
        return ident

    def user_edit(self, ident: str, item: Item) -> None:
        self.items[ident] = (item, self._etag())

    def user_delete(self, ident: str) -> None:
        del self.items[ident]

    def by_uid(self) -> dict[str, builtins.list[Item]]:
        found: dict[str, builtins.list[Item]] = {}
        for item, _ in self.items.values():
            found.setdefault(item.uid or "", []).append(item)
        return found
