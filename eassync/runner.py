"""One ``eassync sync`` run: config → per pair (lock, status, folders, storages) → engine.

Everything here is wiring; the decisions are the engine's (``eassync.sync.engine``).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eassync.errors import (
    AuthError,
    ConfigError,
    EassyncError,
    NotFoundError,
    RemoteWipeRequested,
    ThrottledError,
    TLSError,
    TransportError,
    UsageError,
)
from eassync.oserror import os_failure, sqlite_failure
from eassync.pairs import Selection, safe_name, select_folders
from eassync.wording import count

if TYPE_CHECKING:
    from eassync.accounts import ClientPool
    from eassync.config import Config, Pair, StorageConfig
    from eassync.convert.base import ContentHandler
    from eassync.eas.client import EasClient, Folder, SyncOptions
    from eassync.model.items import Item, Storage
    from eassync.storage.eas import EasRemoteCollection
    from eassync.storage.trash import Trash
    from eassync.sync.plan import Reporter, SyncReport
    from eassync.sync.policy import ConflictPolicy
    from eassync.sync.status import Status, StatusTx

log = logging.getLogger(__name__)

#: calendar_window → EAS FilterType (brief §5.1)
CALENDAR_FILTER = {"all": 0, "2w": 4, "1m": 5, "3m": 6, "6m": 7}
TASKS_FILTER = {"all": 0, "incomplete": 8}


def handler_for(kind: str, pair: Pair | None = None) -> ContentHandler:
    """The content handler of a kind (contacts, calendar, tasks), set up with the
    pair's options (time zone fallback, invitations)."""
    from eassync.model.knowledge import SlotKnowledge

    default_tz = pair.default_timezone if pair else None
    # each handler learns what its folder's server holds: loaded and kept by the
    # engine's status (eassync.sync.slots)
    if kind == "contacts":
        from eassync.convert.contacts import ContactsHandler

        return ContactsHandler(SlotKnowledge())
    if kind == "calendar":
        from eassync.convert.calendar import CalendarHandler

        return CalendarHandler(
            default_timezone=default_tz,
            send_invitations=bool(pair and pair.send_invitations),
            knowledge=SlotKnowledge(),
        )
    if kind == "tasks":
        from eassync.convert.tasks import TasksHandler

        return TasksHandler(default_timezone=default_tz, knowledge=SlotKnowledge())
    if kind == "notes":
        from eassync.convert.notes import NotesHandler

        return NotesHandler()
    raise ConfigError(f"unknown kind {kind!r}")


#: errors that say the account itself cannot be used now: its other collections and
#: pairs would fail the same way, so they are not tried in this run
ACCOUNT_ERRORS = (AuthError, RemoteWipeRequested, TransportError, TLSError, ThrottledError)


@dataclass
class CollectionFailure:
    """A collection whose pass stopped early; the pair's other collections went on."""

    collection: str
    error: EassyncError


@dataclass
class PairOutcome:
    pair: str
    reports: list[SyncReport] = field(default_factory=list)
    #: what stopped the pair (before, or instead of, its remaining collections)
    error: EassyncError | None = None
    #: collections whose pass stopped early while the others went on
    failed: list[CollectionFailure] = field(default_factory=list)
    #: pair-wide notes (a server folder deleted, renamed)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        codes = [r.exit_code for r in self.reports] + [f.error.exit_code for f in self.failed]
        if self.error is not None:
            codes.append(self.error.exit_code)
        return max(codes, default=0)


def status_path(config: Config, pair_name: str) -> Path:
    return config.general.status_dir / "pairs" / f"{safe_name(pair_name)}.sqlite"


def parse_targets(config: Config, targets: Sequence[str]) -> list[tuple[Pair, str | None]]:
    """``PAIR`` or ``PAIR/COLLECTION`` → (pair, collection filter). All pairs if none."""
    if not targets:
        return [(p, None) for _, p in sorted(config.pairs.items())]
    out = []
    for target in targets:
        name, _, collection = target.partition("/")
        out.append((config.pair(name), collection or None))
    return out


def local_path(storage: StorageConfig, subdir: str | None) -> Path:
    """The folder of a vdir storage holding one selected EAS folder."""
    assert storage.path is not None
    return storage.path / subdir if subdir else storage.path


def open_local(
    storage: StorageConfig,
    sel: Selection,
    handler: ContentHandler,
    *,
    state_dir: Path | None = None,
    dry_run: bool = False,
) -> Storage:
    """The local collection of one selected EAS folder (``state_dir``: where a DAV
    storage remembers the collections it discovered). A dry run creates no folder:
    one that does not exist yet is an empty collection."""
    if (storage.type == "notes") != (sel.kind == "notes"):
        # {folder: NAME} without kind: the server told the kind only now
        raise ConfigError(
            f"storage {storage.name!r} is {storage.type}, which cannot hold {sel.kind} "
            f"(folder {sel.folder.display_name!r})",
            hint="notes need a storage of type notes; other kinds cannot use one",
        )
    if storage.type in ("vdir", "notes"):
        path = local_path(storage, sel.subdir)
        if dry_run and not path.is_dir():
            from eassync.storage.memory import MemoryStorage

            return MemoryStorage()
        if storage.type == "notes":
            from eassync.storage.notes import NotesStorage

            return NotesStorage(path, storage.fileext or ".md", create=not dry_run)
        from eassync.storage.vdir import VdirStorage

        return VdirStorage(path, storage.fileext_for(sel.kind), create=not dry_run)
    try:
        from eassync.storage.dav import open_dav_storage
    except ImportError as exc:
        raise ConfigError(
            f"storage type {storage.type!r} is not available in this version yet"
        ) from exc
    if not dry_run:
        return open_dav_storage(storage, sel, handler, state_dir=state_dir)
    try:
        return open_dav_storage(storage, sel, handler, state_dir=state_dir, dry_run=True)
    except NotFoundError:
        if storage.collection != "all":
            raise  # a configured collection that does not exist: the real run fails too
        from eassync.storage.memory import MemoryStorage

        return MemoryStorage()  # a collection the first real pass will create


def collection_matches(sel: Selection, wanted: str) -> bool:
    return wanted in (sel.subdir, sel.folder.server_id, sel.folder.display_name)


def _collections_hint(pair: str, selections: Sequence[Selection]) -> str:
    """The names a user may write after ``PAIR/`` (the subfolder, else the folder's
    display name: never the ServerId, which means nothing to a person)."""
    names = sorted({s.subdir or s.folder.display_name for s in selections})
    if not names:
        return f"pair '{pair}' selects no folder now: `eassync discover` lists the server's"
    listed = ", ".join(repr(n) for n in names)
    return f"collections of {pair}: {listed} (or sync the whole pair: `eassync sync {pair}`)"


@dataclass
class OpenCollection:
    """One selected EAS folder of a pair with both sides open."""

    sel: Selection
    #: the status key: the folder's CollectionId
    key: str
    #: the name shown to the user
    label: str
    handler: ContentHandler
    local: Storage
    remote: EasRemoteCollection


def open_collection(
    config: Config,
    pair: Pair,
    client: EasClient,
    sel: Selection,
    *,
    enrich: bool = True,
    dry_run: bool = False,
) -> OpenCollection:
    """Open both sides of one selected folder. ``enrich``: inline calendar attachments
    into downloaded items (off for callers that never store what they download)."""
    from eassync.storage.eas import EasRemoteCollection

    handler = handler_for(sel.kind, pair)
    local = open_local(
        config.storage_for(pair),
        sel,
        handler,
        state_dir=config.general.status_dir,
        dry_run=dry_run,
    )
    enricher = None
    if enrich and sel.kind == "calendar":
        from eassync.attachments import attachment_enricher  # icalendar: calendars only

        enricher = attachment_enricher(client, pair.attachments_max_inline)
    remote = EasRemoteCollection(
        client, sel.folder, handler, options=sync_options(pair, sel.kind), enrich=enricher
    )
    key = sel.folder.server_id
    return OpenCollection(
        sel, key, sel.subdir or sel.folder.display_name or key, handler, local, remote
    )


@dataclass
class PairSession:
    """A pass over one pair, set up under its lock (:func:`open_pair`): shared by
    ``eassync sync`` (:func:`sync_pair`) and ``eassync repair``."""

    config: Config
    pair: Pair
    client: EasClient
    selections: list[Selection]
    policy: ConflictPolicy
    trash: Trash
    #: every folder the account's server lists (the last FolderSync)
    folders: list[Folder] = field(default_factory=list)

    def open(self, sel: Selection, *, dry_run: bool = False) -> OpenCollection:
        return open_collection(self.config, self.pair, self.client, sel, dry_run=dry_run)

    def sync(
        self,
        status: Status,
        coll: OpenCollection,
        *,
        reporter: Reporter,
        dry_run: bool = False,
        force_delete: bool = False,
        retry_parked: bool = False,
    ) -> SyncReport:
        """One engine pass over one collection; the report carries its label."""
        from eassync.sync.engine import sync_collection
        from eassync.sync.plan import ProgressReporter

        pair, key, trash = self.pair, coll.key, self.trash
        if dry_run:
            # nothing written locally, not even a storage's own bookkeeping (the notes
            # storage's rename index and file tags, vdir's stale temp files)
            coll.local.read_only = True

        def put_in_trash(ident: str, item: Item) -> None:
            try:
                name: str | None = coll.handler.describe(item)
            except Exception:  # a broken item is kept all the same, named by its file
                name = None
            trash.put(pair.name, key, ident, item, name=name, label=coll.label)

        # server items that failed to convert are reported every pass (issue 14)
        coll.remote.failed = None if dry_run else status.failed_items(key)
        if isinstance(reporter, ProgressReporter):
            reporter.begin(pair.name, coll.label)
            label = coll.label
            coll.remote.on_estimate = lambda total: reporter.estimate(label, total)
        started = time.monotonic()
        report = sync_collection(
            coll.local,
            coll.remote,
            coll.handler,
            status,
            key,
            self.policy,
            direction=pair.direction,  # type: ignore[arg-type]  # the config schema checks it
            dry_run=dry_run,
            force_delete=force_delete,
            max_delete_ratio=pair.max_delete_ratio,
            trash=put_in_trash,
            version=self.client.version,
            reporter=LabelledReporter(reporter, {key: coll.label}),
            remote_windowed=is_windowed(pair, coll.sel.kind),
            label=coll.label,
            retry_parked=retry_parked,
            local_changes=pair.local_changes,  # type: ignore[arg-type]  # schema-checked
        )
        report.collection = coll.label
        log.info(
            "pair %s/%s: %.2f s, %d requests",
            pair.name,
            report.collection,
            time.monotonic() - started,
            coll.remote.requests,
        )
        return report


def known_subdirs(status: Status) -> dict[str, str]:
    """ServerId → local name of every folder the pair synced (its status ``label``:
    the subfolder of an ``{all: KIND}`` pair), for :func:`select_folders`."""
    return {
        info.collection: info.label
        for info in status.collections()
        if info.label and (info.items or info.remote_state is not None)
    }


def known_subdirs_of(config: Config, pair: Pair) -> dict[str, str]:
    """:func:`known_subdirs` read from the pair's status file (never written)."""
    from eassync.sync.status import Status

    path = status_path(config, pair.name)
    if "all" not in pair.remote or not path.exists():
        return {}
    with Status.snapshot(path) as status:
        return known_subdirs(status)


@contextmanager
def open_pair(
    config: Config,
    pool: ClientPool,
    pair: Pair,
    collection: str | None = None,
    *,
    known: Mapping[str, str] | None = None,
    lock: bool = True,
) -> Iterator[PairSession]:
    """Hold the pair's lock (LockHeldError if another pass holds it; not taken when
    not ``lock``: the caller holds it, or a dry run writes nothing) and set up a pass
    over its selected folders; ``collection`` keeps only the one it names. ``known``:
    the local subfolders of folders synced before (:func:`known_subdirs`; read from
    the status file when not given)."""
    from eassync.storage.lock import pair_lock
    from eassync.storage.trash import Trash
    from eassync.sync.policy import policy_from_config

    status_dir = config.general.status_dir
    with ExitStack() as stack:
        if lock:
            stack.enter_context(pair_lock(status_dir, pair.name))
        if known is None:
            known = known_subdirs_of(config, pair)
        client = pool.client(pair.account)
        folders = pool.folders(pair.account)
        selections = select_folders(pair.name, pair.remote, folders, known)
        if collection is not None:
            chosen = [s for s in selections if collection_matches(s, collection)]
            if not chosen:
                raise UsageError(
                    f"pair '{pair.name}' has no collection {collection!r}",
                    hint=_collections_hint(pair.name, selections),
                )
            selections = chosen
        conflict = (
            {"command": list(pair.conflict_command)}
            if pair.conflict == "command" and pair.conflict_command
            else pair.conflict
        )
        yield PairSession(
            config,
            pair,
            client,
            selections,
            policy_from_config(conflict),
            Trash(status_dir / "trash"),
            folders,
        )


def sync_pair(
    config: Config,
    pool: ClientPool,
    pair: Pair,
    collection: str | None,
    *,
    dry_run: bool,
    force_delete: bool,
    reporter: Reporter,
    on_report: Callable[[SyncReport], None] | None = None,
    retry_parked: bool = False,
) -> PairOutcome:
    """One pass over a pair's collections. A collection whose pass stops early is
    recorded and reported, and the others go on; an error of the account itself
    (:data:`ACCOUNT_ERRORS`), or one before any collection ran, stops the pair and is
    raised. Either way the status records the attempt (``eassync status`` tells it).

    A dry run takes no lock and writes nothing anywhere: it plans against an
    in-memory copy of the status (:meth:`Status.snapshot`), creates no folder, and
    starts a never-synced collection (the SyncKey 0 exchange) in memory only, so
    its plan lists the server's first batch of items."""
    from eassync.storage.lock import pair_lock
    from eassync.sync.plan import ProgressReporter
    from eassync.sync.status import Status

    outcome = PairOutcome(pair.name)
    path = status_path(config, pair.name)
    if isinstance(reporter, ProgressReporter):
        reporter.begin(pair.name, None)
    with ExitStack() as stack:
        if not dry_run:
            stack.enter_context(pair_lock(config.general.status_dir, pair.name))
        status = stack.enter_context(Status.snapshot(path) if dry_run else Status(path))
        if not dry_run:
            _expire_trash(config, pair)
        attempts = _Attempts(status, collection, record=not dry_run)
        try:
            with open_pair(
                config, pool, pair, collection, known=known_subdirs(status), lock=False
            ) as session:
                if collection is None:
                    outcome.notes.extend(
                        _vanished_folders(session, status, reporter, dry_run=dry_run)
                    )
                outcome.notes.extend(_renamed_folders(session, reporter))
                for sel in session.selections:
                    report = _sync_one(
                        session,
                        status,
                        sel,
                        outcome,
                        attempts,
                        dry_run,
                        force_delete,
                        reporter,
                        retry_parked=retry_parked,
                    )
                    if report is not None and on_report:
                        on_report(report)
        except UsageError:
            raise  # a mistyped PAIR/COLLECTION says nothing about the pair
        except EassyncError as exc:
            attempts.pair_failed(exc)
            raise
        attempts.pair_done()
    return outcome


def _expire_trash(config: Config, pair: Pair) -> None:
    """The pair's trashed items older than ``general.trash_expiry_days`` go (under the
    pair's lock); a trash that cannot be cleaned never stops a sync."""
    from eassync.storage.trash import Trash

    days = config.general.trash_expiry_days
    if days <= 0:
        return
    try:
        removed = Trash(config.general.status_dir / "trash").prune(days, pair=pair.name)
    except OSError as exc:
        log.warning("pair %s: the trash could not be cleaned: %s", pair.name, exc)
        return
    if removed:
        log.info("pair %s: %s older than %d days left the trash", pair.name, count(removed), days)


def _sync_one(
    session: PairSession,
    status: Status,
    sel: Selection,
    outcome: PairOutcome,
    attempts: _Attempts,
    dry_run: bool,
    force_delete: bool,
    reporter: Reporter,
    *,
    retry_parked: bool = False,
) -> SyncReport | None:
    """One collection's pass; its failure is recorded and, unless it is the
    account's, kept in ``outcome.failed`` so the next collection goes on."""
    key = sel.folder.server_id
    label = sel.subdir or sel.folder.display_name or key
    try:
        coll = session.open(sel, dry_run=dry_run)
        if dry_run:
            _start_in_memory(status, coll)
        else:
            # the local name first: a pass killed before its end still keeps the
            # folder's subfolder should the server rename the folder meanwhile
            with status.transaction() as tx:
                tx.set_collection(key, label=coll.label)
            _write_displayname(session, status, sel)
        report = session.sync(
            status,
            coll,
            reporter=reporter,
            dry_run=dry_run,
            force_delete=force_delete,
            retry_parked=retry_parked,
        )
    except ACCOUNT_ERRORS as exc:
        attempts.collection_failed(key, exc)
        raise
    except EassyncError as exc:
        _unprefix(exc, key)
        attempts.collection_failed(key, exc)
        outcome.failed.append(CollectionFailure(label, exc))
        return None
    attempts.done.add(key)
    outcome.reports.append(report)
    return report


#: status meta key of the displayname eassync last wrote into a collection's folder
DISPLAYNAME_KEY = "displayname:{}"


def _write_displayname(session: PairSession, status: Status, sel: Selection) -> None:
    """The vdir folder's ``displayname`` from the server folder's name (khal shows it),
    never over a name the user gave (:mod:`eassync.storage.vdirmeta`). Not for a
    ``to_remote`` pair: nothing from the server goes into its local side. A file that
    cannot be written costs the name only, never the pass."""
    storage = session.config.storage_for(session.pair)
    if storage.type != "vdir" or session.pair.direction == "to_remote":
        return
    from eassync.storage.vdirmeta import sync_displayname

    key = DISPLAYNAME_KEY.format(sel.folder.server_id)
    folder = local_path(storage, sel.subdir)
    ours = status.meta(key)
    try:
        now = sync_displayname(folder, sel.folder.display_name, ours)
    except OSError as exc:
        log.warning(
            "%s: cannot write displayname: %s; check the folder's permissions",
            folder,
            exc.strerror or exc,
        )
        return
    if now != ours:
        with status.transaction() as tx:
            tx.set_meta(key, now)


def _unprefix(exc: EassyncError, key: str) -> None:
    """Drop the status key (a bare folder id) the engine puts before some messages:
    the error is shown under the collection's name already."""
    prefix = f"{key}: "
    if exc.message.startswith(prefix):
        exc.message = exc.message[len(prefix) :]
        exc.args = (exc.message, *exc.args[1:])


def _start_in_memory(status: Status, coll: OpenCollection) -> None:
    """A dry run of a collection without a SyncKey: the SyncKey 0 exchange, its key
    kept in the in-memory status only, so the engine's dry pull fetches the first
    batch of items instead of stopping at the exchange's empty answer."""
    if status.collection(coll.key).remote_state is not None:
        return
    pull = coll.remote.pull(None)
    try:
        # pull(None) yields the exchange's key first, before any further request
        first = next(pull)
    finally:
        close = getattr(pull, "close", None)  # a generator: end it before its next request
        if close is not None:
            close()
    with status.transaction() as tx:
        tx.set_remote_state(coll.key, first.state)


def describe_error(exc: EassyncError) -> str:
    """An error as the status keeps it: what happened, and what to do."""
    return f"{exc} (what to do: {exc.hint})" if exc.hint else str(exc)


class _Attempts:
    """Records a pass's attempts in the status, so ``eassync status`` tells the
    truth after a failure: per collection (:meth:`StatusTx.record_attempt`; a pass
    that ran to its end is recorded by the engine), and pair-wide (``meta``) for
    what failed before or outside any collection."""

    def __init__(self, status: Status, collection: str | None, *, record: bool) -> None:
        self.status = status
        self.collection = collection
        self.record = record
        #: collections whose pass ran to its end or whose failure is recorded
        self.done: set[str] = set()

    def collection_failed(self, key: str, exc: EassyncError) -> None:
        self.done.add(key)
        text = describe_error(exc)
        self._record(lambda tx: tx.record_attempt(key, text))

    def pair_failed(self, exc: EassyncError) -> None:
        """The pair stopped: the collections it did not reach share the error."""
        text = describe_error(exc)

        def write(tx: StatusTx) -> None:
            tx.set_meta("last_attempt", repr(time.time()))
            tx.set_meta("last_error", text)
            for info in self.status.collections():
                if info.collection in self.done or not self._targeted(info.collection, info.label):
                    continue
                tx.record_attempt(info.collection, text)

        self._record(write)

    def pair_done(self) -> None:
        def write(tx: StatusTx) -> None:
            tx.set_meta("last_attempt", repr(time.time()))
            tx.set_meta("last_error", None)

        self._record(write)

    def _record(self, write: Callable[[StatusTx], None]) -> None:
        """Write the record in one transaction, unless a dry run. A status that
        cannot be written (disk full) must not hide the failure being recorded."""
        if not self.record:
            return
        try:
            with self.status.transaction() as tx:
                write(tx)
        except (sqlite3.Error, EassyncError) as exc:
            log.warning("the status could not record this attempt: %s", exc)

    def _targeted(self, key: str, label: str | None) -> bool:
        return self.collection is None or self.collection in (key, label)


def _renamed_folders(session: PairSession, reporter: Reporter) -> list[str]:
    """Say once (in the run whose FolderSync brought the rename) that a folder
    renamed on the server still syncs with its local subfolder."""
    changes = session.client.folder_changes
    if changes is None:
        return []
    renamed = {f.server_id for f in changes.changed}
    notes = []
    for sel in session.selections:
        if sel.subdir is None or sel.folder.server_id not in renamed:
            continue
        if safe_name(sel.folder.display_name) == sel.subdir:
            continue
        text = (
            f"the server folder was renamed to {sel.folder.display_name!r}; it keeps "
            f"syncing with the local folder {sel.subdir!r} (kept so that programs "
            "reading it, such as khal or khard, keep working)"
        )
        reporter.note(sel.subdir, text)
        notes.append(f"{sel.subdir}: {text}")
    return notes


def _vanished_folders(
    session: PairSession, status: Status, reporter: Reporter, *, dry_run: bool
) -> list[str]:
    """Folders the pair synced that the server no longer lists (deleted there):
    their local items are kept, never deleted, and the user is told how to remove
    them. A vdir subfolder the user removed is forgotten here."""
    from eassync.sync.engine import forget_collection

    if "all" not in session.pair.remote:
        return []  # other selectors name their folder: a missing one is an error
    present = {f.server_id for f in session.folders}
    storage = session.config.storage_for(session.pair)
    notes = []
    for info in status.collections():
        if info.collection in present or not info.items:
            continue
        name = info.label or "?"
        if storage.type == "vdir":
            where = local_path(storage, info.label)
            if info.label is None or not where.is_dir():
                if not dry_run:
                    forget_collection(status, info.collection)
                continue
            text = (
                f"the server folder synced with the local folder {name!r} was deleted on "
                f"the server; its {count(info.items, 'local item')} are kept in {where} and no "
                "longer synced. "
                "To remove them, delete that folder (eassync then forgets it); to keep "
                "syncing them, move the files into a folder that is synced"
            )
        else:
            text = (
                f"the server folder synced with the {storage.type} collection {name!r} was "
                f"deleted on the server; its {count(info.items)} are kept in the collection "
                f"{name!r} and no longer synced; delete that collection if you no "
                "longer want them"
            )
        reporter.note(name, text)
        notes.append(f"{name}: {text}")
    return notes


class LabelledReporter:
    """Passes events on with the collection's name instead of its status key."""

    def __init__(self, inner: Reporter, labels: dict[str, str]) -> None:
        self.inner = inner
        self.labels = labels

    def _label(self, collection: str) -> str:
        return self.labels.get(collection, collection)

    def action(self, collection: str, action: Any) -> None:
        self.inner.action(self._label(collection), action)

    def failure(self, collection: str, failure: Any) -> None:
        self.inner.failure(self._label(collection), failure)

    def conflict(self, collection: str, conflict: Any) -> None:
        self.inner.conflict(self._label(collection), conflict)

    def note(self, collection: str, text: str) -> None:
        self.inner.note(self._label(collection), text)


def is_windowed(pair: Pair, kind: str) -> bool:
    """True when the server shows only part of the folder (a FilterType window): then
    an item missing from a full download is outside the window, not deleted."""
    if kind == "calendar":
        return pair.calendar_window != "all"
    if kind == "tasks":
        return pair.tasks_filter != "all"
    return False


def sync_options(pair: Pair, kind: str) -> SyncOptions:
    from eassync.eas.client import SyncOptions

    if kind == "calendar":
        return SyncOptions(filter_type=CALENDAR_FILTER.get(pair.calendar_window, 0), body_type=1)
    if kind == "tasks":
        return SyncOptions(filter_type=TASKS_FILTER.get(pair.tasks_filter, 0), body_type=1)
    return SyncOptions(body_type=1)


def run_sync(
    config: Config,
    targets: Sequence[str],
    *,
    dry_run: bool = False,
    force_delete: bool = False,
    reporter: Reporter,
    on_outcome: Callable[[PairOutcome], None] | None = None,
    on_report: Callable[[SyncReport], None] | None = None,
    retry_parked: bool = False,
) -> list[PairOutcome]:
    """Sync every targeted pair; one pair's failure never stops the others, except
    that an account whose login failed is not retried for its other pairs."""
    from eassync.accounts import ClientPool

    outcomes = []
    dead_accounts: dict[str, EassyncError] = {}
    with ClientPool(config, persist=not dry_run) as pool:
        for pair, collection in parse_targets(config, targets):
            if pair.account in dead_accounts:
                error = dead_accounts[pair.account]
                outcome = PairOutcome(pair.name, error=error)
                if not dry_run:
                    record_pair_failure(config, pair, collection, error)
            else:
                try:
                    outcome = sync_pair(
                        config,
                        pool,
                        pair,
                        collection,
                        dry_run=dry_run,
                        force_delete=force_delete,
                        reporter=reporter,
                        on_report=on_report,
                        retry_parked=retry_parked,
                    )
                except ACCOUNT_ERRORS as exc:
                    # the account itself failed: its other pairs would fail the same way
                    dead_accounts[pair.account] = exc
                    outcome = PairOutcome(pair.name, error=exc)
                except EassyncError as exc:
                    outcome = PairOutcome(pair.name, error=exc)
                except OSError as exc:  # its folder on a read-only or full disk, a file in the way
                    outcome = PairOutcome(pair.name, error=os_failure(exc))
                except sqlite3.Error as exc:
                    outcome = PairOutcome(pair.name, error=sqlite_failure(exc))
            outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)
    return outcomes


def record_pair_failure(
    config: Config, pair: Pair, collection: str | None, error: EassyncError
) -> None:
    """Record in the pair's status a pass that failed before it began (its account
    failed for an earlier pair of this run). The lock is taken when free; a pass
    holding it records its own outcome."""
    from eassync.errors import LockHeldError
    from eassync.storage.lock import pair_lock
    from eassync.sync.status import Status

    try:
        with (
            pair_lock(config.general.status_dir, pair.name),
            Status(status_path(config, pair.name)) as status,
        ):
            _Attempts(status, collection, record=True).pair_failed(error)
    except LockHeldError:
        pass
