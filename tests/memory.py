"""An in-memory EAS folder and a toy content handler, for testing the engine.

- :class:`MemoryStorage` implements :class:`Storage` (etags change on every write).
- :class:`MemoryRemote` implements :class:`RemoteCollection` like a faithful EAS
  server: every SyncKey stands for the client's view of the folder; the server keeps
  one step back (the key it was asked with and the key it answered), so a client
  that lost an answer can repeat its last key and get the same changes again; pulls
  come in windows of ``window_size``; a client Change of an item changed on the
  server since the client's key is a conflict the server wins (Conflict=1, Status 7).
  Faults: lose all state (→ InvalidSyncKey), reject items, kill the client after
  the server applied a push but before the answer arrived, kill during a pull; fail
  on any push holding a *poison* item (RequestFailed, as Horde's fatal errors), and
  acknowledge some Adds without a ServerId, storing nothing.
- :class:`MemoryHandler` handles items that are a few ``KEY:value`` lines with a
  ``UID:`` line. Lines whose key starts with ``X-LOCAL`` are what EAS cannot hold
  (``project`` drops them, ``merge`` keeps them from the local side); ``REV:`` is a
  volatile line servers rewrite (``fingerprint`` ignores it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import count

from eassync.eas.element import E, Element
from eassync.errors import (
    ConversionError,
    InvalidSyncKey,
    NotFoundError,
    RequestFailed,
)
from eassync.model.items import (
    Item,
    OpResult,
    PushOp,
    PushResult,
    RemoteBatch,
    RemoteChange,
)
from eassync.storage.memory import Killed, MemoryStorage

__all__ = ["Killed", "MemoryHandler", "MemoryRemote", "MemoryStorage", "make_item", "parse_lines"]


# --- the toy content type -------------------------------------------------------------


def parse_lines(raw: bytes) -> list[tuple[str, str]]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConversionError(f"not UTF-8: {exc}") from exc
    lines = []
    for line in text.splitlines():
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ConversionError(f"not a KEY:value line: {line!r}")
        lines.append((key, value))
    return lines


def make_item(lines: Iterable[tuple[str, str]] | Mapping[str, str]) -> Item:
    pairs = list(lines.items()) if isinstance(lines, Mapping) else list(lines)
    raw = "".join(f"{k}:{v}\n" for k, v in pairs).encode()
    uid = next((v for k, v in pairs if k == "UID"), None)
    return Item(raw, uid)


def _is_local_only(key: str) -> bool:
    return key.startswith("X-LOCAL")


class MemoryHandler:
    kind = "notes"
    eas_class = "Notes"
    fileext = ".txt"

    def to_eas(self, item: Item, version: str) -> Element:
        return E(
            "AirSync:ApplicationData",
            E("Notes:Subject", value=self.project(item, version).raw.decode()),
        )

    def from_eas(self, data: Element, version: str) -> Item:
        subject = data.find("Notes:Subject")
        if subject is None or not isinstance(subject.value, str):
            raise ConversionError("no Notes:Subject")
        return make_item(parse_lines(subject.value.encode()))

    def supported(self, version: str) -> list[str]:
        return []

    def project(self, item: Item, version: str) -> Item:
        lines = parse_lines(item.raw)
        return make_item((k, v) for k, v in lines if not _is_local_only(k) and k != "REV")

    def merge(self, remote: Item, local: Item | None) -> Item:
        remote_lines = [(k, v) for k, v in parse_lines(remote.raw) if k != "REV"]
        if local is None:
            return make_item(remote_lines)
        local_lines = parse_lines(local.raw)
        uid = local.uid or remote.uid
        merged = [(k, v) for k, v in remote_lines if k != "UID" and not _is_local_only(k)]
        merged += [(k, v) for k, v in local_lines if _is_local_only(k)]
        if uid:
            merged.insert(0, ("UID", uid))
        return make_item(merged)

    def fingerprint(self, item: Item) -> str:
        lines = sorted(f"{k}:{v}" for k, v in parse_lines(item.raw) if k != "REV")
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()

    def with_uid(self, item: Item, uid: str) -> Item:
        lines = [(k, v) for k, v in parse_lines(item.raw) if k != "UID"]
        return make_item([("UID", uid), *lines])

    def describe(self, item: Item) -> str:
        lines = dict(parse_lines(item.raw))
        return lines.get("FN") or item.uid or "(no name)"


# --- the local side ---------------------------------------------------------------------


# --- the remote side --------------------------------------------------------------------


@dataclass
class MemoryRemote:
    """A faithful in-memory EAS folder (see the module docstring).

    ``store`` maps what a client sends to what the server keeps (default: unchanged;
    tests pass ``handler.project`` plus a REV rewrite to act like Exchange).
    """

    location: str = "memory-eas"
    max_batch: int = 50
    window_size: int = 100
    store: Callable[[Item], Item] = lambda item: item
    reject: Callable[[Item], bool] = lambda item: False
    items: dict[str, Item] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    #: outside the filter window: reported as SoftDelete, never sent
    hidden: set[str] = field(default_factory=set)
    #: the valid SyncKeys and the client view each stands for (ServerId → version)
    keys: dict[str, dict[str, int]] = field(default_factory=dict)
    #: kill the client instead of answering its next push, after applying it
    kill_after_push_apply: bool = False
    #: kill the client instead of sending pull batch number k (0-based) of the next pull
    kill_at_pull_batch: int | None = None
    #: a push holding an Add or Change of such an item fails whole, nothing applied
    poison: Callable[[Item], bool] = lambda item: False
    poisoned_requests: int = 0
    #: a push holding such an item is applied, then fails (HTTP 200, empty body): the
    #: client never learns the ServerIds (Horde, horde-notes §5)
    fail_after_apply: Callable[[Item], bool] = lambda item: False
    #: like Horde (horde-notes §6): an Add whose ClientId was used before, under any
    #: SyncKey, is refused (Status 6 "Duplicate addition", no ServerId), not answered
    #: with the item it made
    refuse_reused_client_ids: bool = False
    used_client_ids: set[str] = field(default_factory=set)
    #: an Add of such an item is answered ok without a ServerId, and not stored
    add_without_id: Callable[[Item], bool] = lambda item: False
    adds_without_id: int = 0
    #: client commands applied, by kind (a resent Add answered again is not counted)
    applied: dict[str, int] = field(default_factory=lambda: {"add": 0, "change": 0, "delete": 0})
    requests: int = 0
    #: the adds of the last push (ClientId → ServerId) under the key it was sent with:
    #: a client repeating that key and ClientId gets the same item, not a second one
    #: (MS-ASCMD 2.2.3.28: the ClientId lets the server spot a resent Add)
    answered_adds: dict[str, dict[str, str]] = field(default_factory=dict)
    #: the version each of those items had when added: the resent answer stands for
    #: that version, so an edit made since still reaches the client as a change
    added_versions: dict[str, int] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: count(1))

    # server-side edits (another device, a web UI)

    def server_add(self, item: Item) -> str:
        sid = f"s{next(self._ids)}"
        self.items[sid] = self.store(item)
        self.versions[sid] = next(self._ids)
        return sid

    def server_edit(self, sid: str, item: Item) -> None:
        self.items[sid] = self.store(item)
        self.versions[sid] = next(self._ids)

    def server_delete(self, sid: str) -> None:
        del self.items[sid]
        del self.versions[sid]
        self.hidden.discard(sid)

    def server_hide(self, sid: str) -> None:
        """The item leaves the filter window: clients get a SoftDelete."""
        self.hidden.add(sid)

    def fetch(self, sid: str) -> RemoteChange:
        """The server's current version of one item (ItemOperations Fetch)."""
        self.requests += 1
        if sid not in self.items:
            raise NotFoundError(f"{self.location}: item {sid} not found")
        return RemoteChange("change", sid, self.items[sid])

    def lose_state(self) -> None:
        """The server forgets every SyncKey (Sync Status 3 next time)."""
        self.keys.clear()

    def by_uid(self) -> dict[str, list[Item]]:
        found: dict[str, list[Item]] = {}
        for item in self.items.values():
            found.setdefault(item.uid or "", []).append(item)
        return found

    # SyncKeys

    def _issue(self, asked: str | None, view: dict[str, int]) -> str:
        key = f"k{next(self._ids)}"
        # one step back: keep the key the client asked with and the new one
        self.keys = {k: v for k, v in self.keys.items() if k == asked}
        self.keys[key] = view
        return key

    def _view(self, state: str | None) -> dict[str, int]:
        if state is None:
            self.keys.clear()
            return {}
        if state not in self.keys:
            raise InvalidSyncKey(f"{self.location}: invalid SyncKey {state!r}", status=3)
        return dict(self.keys[state])

    # RemoteCollection protocol

    def pull(self, state: str | None) -> Iterator[RemoteBatch]:
        view = self._view(state)
        asked = state
        number = 0
        while True:
            self.requests += 1
            diff: list[RemoteChange] = []
            # a view entry below 0 is an item the client was told left the window
            for sid in sorted(set(self.items) | set(view)):
                if sid not in self.items:
                    diff.append(RemoteChange("delete", sid))
                elif sid in self.hidden:
                    if view.get(sid, -1) > 0:
                        diff.append(RemoteChange("softdelete", sid))
                elif view.get(sid, -1) < 0:
                    diff.append(RemoteChange("add", sid, self.items[sid]))
                elif view[sid] != self.versions[sid]:
                    diff.append(RemoteChange("change", sid, self.items[sid]))
            window = diff[: self.window_size]
            for change in window:
                if change.kind == "delete":
                    view.pop(change.ident, None)
                elif change.kind == "softdelete":
                    view[change.ident] = -self.versions[change.ident]
                else:
                    view[change.ident] = self.versions[change.ident]
            more = len(diff) > len(window)
            key = self._issue(asked, dict(view))
            if self.kill_at_pull_batch is not None and number >= self.kill_at_pull_batch:
                self.kill_at_pull_batch = None
                raise Killed("killed while pulling")
            yield RemoteBatch(window, key, more)
            # the client asks again with the new key only after committing this one
            if key not in self.keys:
                raise InvalidSyncKey(f"{self.location}: invalid SyncKey {key!r}", status=3)
            view = dict(self.keys[key])
            asked = key
            number += 1
            if not more:
                return

    def push(self, state: str, ops: Sequence[PushOp]) -> PushResult:
        self.requests += 1
        if len(ops) > self.max_batch:
            raise ValueError(f"{len(ops)} ops in one push, more than max_batch {self.max_batch}")
        view = self._view(state)
        if any(op.item is not None and self.poison(op.item) for op in ops):
            self.poisoned_requests += 1
            raise RequestFailed(f"{self.location}: Fatal Error (HTML page)", status=200)
        resent = self.answered_adds.get(state, {})
        results: list[OpResult] = []
        added: dict[str, str] = {}
        horde = any(op.item is not None and self.fail_after_apply(op.item) for op in ops)
        for op in ops:
            if op.kind == "add" and self.refuse_reused_client_ids:
                if op.ref in self.used_client_ids:
                    results.append(OpResult(op.ref, "rejected", message="Duplicate addition"))
                    continue
                self.used_client_ids.add(op.ref)
            sid = resent.get(op.ref) if op.kind == "add" else None
            if sid is not None and sid in self.items:
                view[sid] = self.added_versions.get(sid, self.versions[sid])
                result = OpResult(op.ref, "ok", sid)
            else:
                result = self._apply(op, view)
            if op.kind == "add" and result.ident:
                added[op.ref] = result.ident
            results.append(result)
        self.answered_adds = {state: added}
        self.added_versions = {
            sid: self.added_versions.get(sid, self.versions[sid])
            for sid in added.values()
            if sid in self.versions
        }
        key = self._issue(state, view)
        if horde:
            self.poisoned_requests += 1
            self.answered_adds = {state: {**resent, **added}}
            raise RequestFailed(f"{self.location}: empty answer after storing", status=200)
        if self.kill_after_push_apply:
            self.kill_after_push_apply = False
            raise Killed("killed before the push answer arrived")
        return PushResult(key, results)

    def _apply(self, op: PushOp, view: dict[str, int]) -> OpResult:
        if op.kind == "add":
            assert op.item is not None
            if self.reject(op.item):
                return OpResult(op.ref, "rejected", message="Status 6: conversion error")
            if self.add_without_id(op.item):
                self.adds_without_id += 1
                return OpResult(op.ref, "ok")
            sid = self.server_add(op.item)
            view[sid] = self.versions[sid]
            self.applied["add"] += 1
            return OpResult(op.ref, "ok", sid)
        if op.ref not in self.items:
            return OpResult(op.ref, "not_found")
        if op.kind == "delete":
            # a Delete always beats a server change (MS-ASCMD Conflict)
            self.server_delete(op.ref)
            view.pop(op.ref, None)
            self.applied["delete"] += 1
            return OpResult(op.ref, "ok")
        assert op.item is not None
        if abs(view.get(op.ref, 0)) != self.versions[op.ref]:
            return OpResult(op.ref, "conflict")
        if self.reject(op.item):
            return OpResult(op.ref, "rejected", message="Status 6: conversion error")
        self.server_edit(op.ref, op.item)
        self.applied["change"] += 1
        sign = -1 if view.get(op.ref, 0) < 0 else 1
        view[op.ref] = sign * self.versions[op.ref]
        return OpResult(op.ref, "ok")
