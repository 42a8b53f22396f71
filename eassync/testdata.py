"""``eassync testdata``: tagged sample items on both sides of a pair, and their removal.

Every sample item carries the tag twice: a UID starting with ``eassync-testdata-``
and ``CATEGORIES:eassync-testdata`` (a note: ``categories: [eassync-testdata]``). The
category is what survives the server: EAS contacts have no UID field (MS-ASCNTC), so a
card that went through the server comes back with a UID eassync derived; its category is
still there.

The server-side items are written by a **second EAS device** (account state
``<account>.testdata``, its own DeviceId): a device has one SyncKey per collection
(MS-ASCMD 2.2.3.166.4), so writing with the pair's own device outside the engine
would either desync the pair or hide the new items from it. To the pair these are
changes made by another phone, which its next ``sync`` downloads normally. The
second device shows up in the server's device list.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from eassync.errors import ConfigError, EassyncError
from eassync.model.items import Item, PushOp, RemoteChange
from eassync.pairs import Selection, select_folders

if TYPE_CHECKING:
    from eassync.config import Config, Pair
    from eassync.convert.base import ContentHandler
    from eassync.eas.client import EasClient
    from eassync.model.items import Storage

TAG = "eassync-testdata"
UID_PREFIX = "eassync-testdata-"
#: suffix of the second device's account state file name (``<account>.testdata``)
DEVICE_SUFFIX = ".testdata"
NOTE = "Sample item made by `eassync testdata create`; `eassync testdata delete` removes it."


# --- the tag -------------------------------------------------------------------------------


def _unfolded(raw: bytes) -> Iterator[str]:
    """Content lines of a vCard/iCalendar object, continuation lines joined (RFC 5545 3.1)."""
    current: str | None = None
    for line in raw.decode("utf-8", "replace").splitlines():
        if line[:1] in (" ", "\t") and current is not None:
            current += line[1:]
            continue
        if current is not None:
            yield current
        current = line
    if current is not None:
        yield current


def _split_line(line: str) -> tuple[str, str] | None:
    """``NAME;PARAMS:VALUE`` → (NAME without group, VALUE); colons in quoted params ok."""
    quoted = False
    for i, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            name = line[:i].split(";", 1)[0].rsplit(".", 1)[-1]
            return name.upper(), line[i + 1 :]
    return None


def categories(raw: bytes) -> set[str]:
    """Every category of every CATEGORIES property (vCard or iCalendar)."""
    found: set[str] = set()
    for line in _unfolded(raw):
        parts = _split_line(line)
        if parts is None or parts[0] != "CATEGORIES":
            continue
        value, current = parts[1], ""
        escaped = False
        for char in value:
            if escaped:
                current += char
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == ",":
                found.add(current.strip())
                current = ""
            else:
                current += char
        found.add(current.strip())
    return found


def is_tagged(item: Item) -> bool:
    """True for an item ``testdata create`` made (on either side)."""
    if item.uid and item.uid.startswith(UID_PREFIX):
        return True
    if not item.raw.lstrip().startswith(b"BEGIN:"):
        # a note document (Markdown): the tag is in its front matter categories
        from eassync.convert.notes import parse_text

        note, _ = parse_text(item.raw.decode("utf-8", "replace"))
        return TAG in note.categories
    return TAG in categories(item.raw)


# --- sample items, per kind ----------------------------------------------------------------


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def sample_contact(uid: str, label: str) -> bytes:
    given, family = "Testdata", label
    return (
        "BEGIN:VCARD\r\nVERSION:3.0\r\n"
        f"UID:{uid}\r\n"
        f"FN:{given} {family}\r\n"
        f"N:{_escape(family)};{given};;;\r\n"
        f"EMAIL;TYPE=INTERNET:{uid}@example.invalid\r\n"
        f"CATEGORIES:{TAG}\r\n"
        f"NOTE:{_escape(NOTE)}\r\n"
        "END:VCARD\r\n"
    ).encode()


def sample_event(uid: str, label: str, index: int, now: dt.datetime) -> bytes:
    # within the next week, so that every calendar_window (≥ 2 weeks) shows it
    day = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    start = day + dt.timedelta(days=1 + index % 7, hours=index // 7 % 8)
    end = start + dt.timedelta(hours=1)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//eassync//testdata//EN\r\n"
        "BEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:{_stamp(now)}\r\n"
        f"DTSTART:{_stamp(start)}\r\nDTEND:{_stamp(end)}\r\n"
        f"SUMMARY:Testdata {_escape(label)}\r\n"
        f"CATEGORIES:{TAG}\r\n"
        f"DESCRIPTION:{_escape(NOTE)}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def sample_task(uid: str, label: str, index: int, now: dt.datetime) -> bytes:
    due = now.astimezone(dt.UTC).replace(hour=17, minute=0, second=0, microsecond=0)
    due += dt.timedelta(days=1 + index % 7)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//eassync//testdata//EN\r\n"
        "BEGIN:VTODO\r\n"
        f"UID:{uid}\r\nDTSTAMP:{_stamp(now)}\r\n"
        f"DUE:{_stamp(due)}\r\n"
        f"SUMMARY:Testdata {_escape(label)}\r\n"
        f"CATEGORIES:{TAG}\r\n"
        f"DESCRIPTION:{_escape(NOTE)}\r\n"
        "END:VTODO\r\nEND:VCALENDAR\r\n"
    ).encode()


def sample_note(label: str) -> bytes:
    from eassync.convert.notes import Note, render_text

    return render_text(Note(f"Testdata {label}", NOTE, (TAG,))).encode("utf-8")


def sample_items(
    kind: str, side: str, count: int, *, run: str, now: dt.datetime | None = None
) -> list[Item]:
    """``count`` tagged items of ``kind`` for ``side`` ("local" or "server"). ``run``
    keeps the UIDs of two ``create`` runs apart."""
    now = now or dt.datetime.now(dt.UTC)
    items = []
    for i in range(1, count + 1):
        uid = f"{UID_PREFIX}{run}-{side}-{i}"
        label = f"{side} {run} {i}"
        if kind == "contacts":
            raw = sample_contact(uid, label)
        elif kind == "calendar":
            raw = sample_event(uid, label, i, now)
        elif kind == "tasks":
            raw = sample_task(uid, label, i, now)
        elif kind == "notes":
            raw = sample_note(label)
        else:
            raise ConfigError(f"no sample items for kind {kind!r}")
        items.append(Item(raw, uid))
    return items


# --- the two sides ---------------------------------------------------------------------------


@dataclass
class SideResult:
    """What happened on one side of one collection."""

    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


@dataclass
class CollectionResult:
    collection: str
    kind: str
    local_location: str
    server_location: str
    local: SideResult = field(default_factory=SideResult)
    server: SideResult = field(default_factory=SideResult)
    #: untagged items seen and left alone (delete only)
    untouched_local: int = 0
    untouched_server: int = 0


@dataclass
class TestdataOutcome:
    pair: str
    device_id: str
    collections: list[CollectionResult] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        failed = any(c.local.failed or c.server.failed for c in self.collections)
        return 1 if failed else 0


def testdata_client(config: Config, account_name: str) -> EasClient:
    """The second EAS device of ``account_name``: same login, its own state file and
    DeviceId (``<account>.testdata``)."""
    from eassync.accounts import open_client
    from eassync.eas.client import EasClient

    base = open_client(config, config.accounts[account_name])
    base.close()
    settings = dataclasses.replace(
        base.settings,
        name=account_name + DEVICE_SUFFIX,
        friendly_name="eassync testdata",
    )
    return EasClient(settings)


def _new_client_id() -> str:
    # ClientId: unique per device, ≤ 64 characters (MS-ASCMD 2.2.3.28)
    return secrets.token_hex(16)


def _batches(seq: Sequence[PushOp], size: int) -> Iterator[Sequence[PushOp]]:
    for start in range(0, len(seq), max(1, size)):
        yield seq[start : start + size]


class _Collection:
    """One selected folder of the pair: its local storage and the second device's view."""

    def __init__(self, config: Config, pair: Pair, client: EasClient, sel: Selection) -> None:
        from eassync.runner import open_collection

        # no attachment download: what is downloaded here is only looked at, never stored
        opened = open_collection(config, pair, client, sel, enrich=False)
        self.sel = sel
        self.handler: ContentHandler = opened.handler
        self.local: Storage = opened.local
        self.remote = opened.remote
        self.result = CollectionResult(
            collection=opened.label,
            kind=sel.kind,
            local_location=self.local.location,
            server_location=self.remote.location,
        )

    def describe(self, item: Item) -> str:
        try:
            return self.handler.describe(item)
        except Exception:  # a summary is never worth failing the command
            return item.uid or "?"

    # create

    def create_local(self, items: list[Item]) -> None:
        for item in items:
            try:
                self.local.add(item)
            except EassyncError as exc:
                self.result.local.failed.append(f"{self.describe(item)}: {exc}")
            else:
                self.result.local.done.append(self.describe(item))

    def create_server(self, items: list[Item]) -> None:
        # download first, then send changes: SOGo ignores the state of commands sent
        # before the initial download finished (sogo-notes Q4)
        state = self._download(lambda _change: None)
        ops = [PushOp("add", _new_client_id(), item) for item in items]
        names = {op.ref: self.describe(item) for op, item in zip(ops, items, strict=True)}
        for batch in _batches(ops, self.remote.max_batch):
            pushed = self.remote.push(state, batch)
            state = pushed.state
            for result in pushed.results:
                if result.status == "ok":
                    self.result.server.done.append(names[result.ref])
                else:
                    why = result.message or result.status
                    self.result.server.failed.append(f"{names[result.ref]}: {why}")

    def _download(self, each: Callable[[RemoteChange], None]) -> str:
        """A full download from SyncKey 0, every item passed to ``each``: the only way
        to see every item with the second device, whose state is not kept between
        runs. Returns the SyncKey to send commands with."""
        state: str | None = None
        for batch in self.remote.pull(None):
            state = batch.state
            for change in batch.changes:
                if change.kind in ("add", "change"):
                    each(change)
        assert state is not None  # pull yields at least the priming batch
        return state

    # delete

    def delete_local(self) -> None:
        idents = [ident for ident, _ in self.local.list()]
        for ident, found, etag in self.local.get_many(idents):
            if isinstance(found, Exception):
                # unreadable: we cannot tell whether it is ours, so it stays
                self.result.untouched_local += 1
                continue
            if not is_tagged(found):
                self.result.untouched_local += 1
                continue
            try:
                self.local.delete(ident, etag)
            except EassyncError as exc:
                self.result.local.failed.append(f"{self.describe(found)}: {exc}")
            else:
                self.result.local.done.append(self.describe(found))

    def delete_server(self) -> None:
        tagged: list[tuple[str, str]] = []

        def sort(change: RemoteChange) -> None:
            if change.item is not None and is_tagged(change.item):
                tagged.append((change.ident, self.describe(change.item)))
            else:
                self.result.untouched_server += 1

        state = self._download(sort)
        names = dict(tagged)
        ops = [PushOp("delete", server_id) for server_id, _ in tagged]
        for chunk in _batches(ops, self.remote.max_batch):
            pushed = self.remote.push(state, chunk)
            state = pushed.state
            for result in pushed.results:
                if result.status in ("ok", "not_found"):
                    self.result.server.done.append(names[result.ref])
                else:
                    why = result.message or result.status
                    self.result.server.failed.append(f"{names[result.ref]}: {why}")


def _run(
    config: Config,
    pair_name: str,
    action: Callable[[_Collection], None],
) -> TestdataOutcome:
    from eassync.runner import known_subdirs_of
    from eassync.storage.lock import pair_lock

    pair = config.pair(pair_name)
    # under the pair lock, so no sync of this pair sees half of the local writes
    with (
        pair_lock(config.general.status_dir, pair.name),
        testdata_client(config, pair.account) as client,
    ):
        client.folder_sync()
        outcome = TestdataOutcome(pair.name, client.device_id)
        # the subfolders the pair's syncs use (a folder renamed on the server keeps its own)
        known = known_subdirs_of(config, pair)
        for sel in select_folders(pair.name, pair.remote, client.folders(), known):
            collection = _Collection(config, pair, client, sel)
            action(collection)
            outcome.collections.append(collection.result)
    return outcome


def create(config: Config, pair_name: str, count: int) -> TestdataOutcome:
    """``count`` tagged items into the local collection and ``count`` on the server,
    for every collection of the pair."""
    run = secrets.token_hex(3)

    def make(collection: _Collection) -> None:
        kind = collection.sel.kind
        collection.create_local(sample_items(kind, "local", count, run=run))
        collection.create_server(sample_items(kind, "server", count, run=run))

    return _run(config, pair_name, make)


def delete(config: Config, pair_name: str) -> TestdataOutcome:
    """Remove every tagged item from both sides of every collection of the pair;
    untagged items are not touched."""

    def remove(collection: _Collection) -> None:
        collection.delete_local()
        collection.delete_server()

    return _run(config, pair_name, remove)
