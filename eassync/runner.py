"""One ``eassync sync`` run: config → per pair (lock, status, folders, storages) → engine.

Everything here is wiring; the decisions are the engine's (``eassync.sync.engine``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eassync.errors import (
    AuthError,
    ConfigError,
    EassyncError,
    RemoteWipeRequested,
    TransientError,
)
from eassync.pairs import Selection, safe_name, select_folders

if TYPE_CHECKING:
    from eassync.accounts import ClientPool
    from eassync.config import Config, Pair, StorageConfig
    from eassync.convert.base import ContentHandler
    from eassync.eas.client import EasClient, SyncOptions
    from eassync.storage.base import Item, Storage
    from eassync.storage.eas import EasRemoteCollection
    from eassync.storage.trash import Trash
    from eassync.sync.plan import Reporter, SyncReport
    from eassync.sync.policy import ConflictPolicy
    from eassync.sync.status import Status

log = logging.getLogger(__name__)

#: calendar_window → EAS FilterType (brief §5.1)
CALENDAR_FILTER = {"all": 0, "2w": 4, "1m": 5, "3m": 6, "6m": 7}
TASKS_FILTER = {"all": 0, "incomplete": 8}


def handler_for(kind: str, pair: Pair | None = None) -> ContentHandler:
    """The content handler of a kind (contacts, calendar, tasks), set up with the
    pair's options (time zone fallback, invitations)."""
    default_tz = pair.default_timezone if pair else None
    if kind == "contacts":
        from eassync.convert.contacts import ContactsHandler
        from eassync.sync.slots import SlotKnowledge

        # what this folder's server holds: loaded and kept by the engine's status
        return ContactsHandler(SlotKnowledge())
    if kind == "calendar":
        from eassync.convert.calendar import CalendarHandler

        return CalendarHandler(
            default_timezone=default_tz,
            send_invitations=bool(pair and pair.send_invitations),
        )
    if kind == "tasks":
        from eassync.convert.tasks import TasksHandler

        return TasksHandler(default_timezone=default_tz)
    if kind == "notes":
        from eassync.convert.notes import NotesHandler

        return NotesHandler()
    raise ConfigError(f"unknown kind {kind!r}")


@dataclass
class PairOutcome:
    pair: str
    reports: list[SyncReport] = field(default_factory=list)
    error: EassyncError | None = None

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return self.error.exit_code
        return max((r.exit_code for r in self.reports), default=0)


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


def open_local(
    storage: StorageConfig,
    sel: Selection,
    handler: ContentHandler,
    *,
    state_dir: Path | None = None,
) -> Storage:
    """The local collection of one selected EAS folder (``state_dir``: where a DAV
    storage remembers the collections it discovered)."""
    if (storage.type == "notes") != (sel.kind == "notes"):
        # {folder: NAME} without kind: the server told the kind only now
        raise ConfigError(
            f"storage {storage.name!r} is {storage.type}, which cannot hold {sel.kind} "
            f"(folder {sel.folder.display_name!r})",
            hint="notes need a storage of type notes; other kinds cannot use one",
        )
    if storage.type == "vdir":
        from eassync.storage.vdir import VdirStorage

        assert storage.path is not None
        path = storage.path / sel.subdir if sel.subdir else storage.path
        return VdirStorage(path, storage.fileext_for(sel.kind), create=True)
    if storage.type == "notes":
        from eassync.storage.notes import NotesStorage

        assert storage.path is not None
        path = storage.path / sel.subdir if sel.subdir else storage.path
        return NotesStorage(path, storage.fileext or ".md", create=True)
    try:
        from eassync.storage.dav import open_dav_storage
    except ImportError as exc:
        raise ConfigError(
            f"storage type {storage.type!r} is not available in this version yet"
        ) from exc
    return open_dav_storage(storage, sel, handler, state_dir=state_dir)


def collection_matches(sel: Selection, wanted: str) -> bool:
    return wanted in (sel.subdir, sel.folder.server_id, sel.folder.display_name)


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
    config: Config, pair: Pair, client: EasClient, sel: Selection, *, enrich: bool = True
) -> OpenCollection:
    """Open both sides of one selected folder. ``enrich``: inline calendar attachments
    into downloaded items (off for callers that never store what they download)."""
    from eassync.storage.eas import EasRemoteCollection

    handler = handler_for(sel.kind, pair)
    local = open_local(config.storage_for(pair), sel, handler, state_dir=config.general.status_dir)
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

    def open(self, sel: Selection) -> OpenCollection:
        return open_collection(self.config, self.pair, self.client, sel)

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

        pair, key, trash = self.pair, coll.key, self.trash
        if dry_run:
            # nothing written locally, not even a storage's own bookkeeping (the notes
            # storage's rename index and file tags, vdir's stale temp files)
            coll.local.read_only = True

        def put_in_trash(ident: str, item: Item) -> None:
            trash.put(pair.name, key, ident, item)

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


@contextmanager
def open_pair(
    config: Config, pool: ClientPool, pair: Pair, collection: str | None = None
) -> Iterator[PairSession]:
    """Hold the pair's lock (LockHeldError if another pass holds it) and set up a pass
    over its selected folders; ``collection`` keeps only the one it names."""
    from eassync.storage.lock import pair_lock
    from eassync.storage.trash import Trash
    from eassync.sync.policy import policy_from_config

    status_dir = config.general.status_dir
    with pair_lock(status_dir, pair.name):
        client = pool.client(pair.account)
        selections = select_folders(pair.name, pair.remote, pool.folders(pair.account))
        if collection is not None:
            selections = [s for s in selections if collection_matches(s, collection)]
            if not selections:
                raise ConfigError(f"pair '{pair.name}' has no collection {collection!r}")
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
    from eassync.sync.status import Status

    outcome = PairOutcome(pair.name)
    with (
        open_pair(config, pool, pair, collection) as session,
        Status(status_path(config, pair.name)) as status,
    ):
        for sel in session.selections:
            try:
                report = session.sync(
                    status,
                    session.open(sel),
                    reporter=reporter,
                    dry_run=dry_run,
                    force_delete=force_delete,
                    retry_parked=retry_parked,
                )
            except ACCOUNT_ERRORS:
                raise
            except EassyncError as exc:
                # one failing collection never stops the others (a server that fails
                # on one folder, a delete guard): told, recorded, and the next goes on
                report = collection_failed(status, sel, exc, dry_run=dry_run)
            outcome.reports.append(report)
            if on_report:
                on_report(report)
    return outcome


#: errors of the account itself: its other collections and pairs would fail the same way
ACCOUNT_ERRORS = (AuthError, RemoteWipeRequested, TransientError)


def collection_failed(
    status: Status, sel: Selection, exc: EassyncError, *, dry_run: bool
) -> SyncReport:
    """The report of a collection whose pass stopped early; the status keeps the
    last good pass and tells this attempt (``eassync status``)."""
    from eassync.sync.plan import SyncReport

    label = sel.subdir or sel.folder.display_name or sel.folder.server_id
    if not dry_run:
        with status.transaction() as tx:
            tx.record_attempt(sel.folder.server_id, str(exc))
    return SyncReport(
        label, dry_run=dry_run, error=str(exc), hint=exc.hint, error_exit=exc.exit_code
    )


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
    with ClientPool(config) as pool:
        for pair, collection in parse_targets(config, targets):
            if pair.account in dead_accounts:
                outcome = PairOutcome(pair.name, error=dead_accounts[pair.account])
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
            outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)
    return outcomes
