"""The watch daemon: one thread that syncs, fed by pingers and the folder watcher.

Shape (all syncs happen in the thread that calls :meth:`Daemon.run`):

- A :class:`~eassync.watch.pinger.Pinger` per account Pings every folder of every
  watched pair of that account, in its own thread and HTTP session, and posts what
  the server said to :attr:`Daemon.events`. After changes it pauses until the daemon
  has synced them and re-arms it.
- The :class:`~eassync.watch.local.FolderWatcher` marks vdir pairs as "maybe
  changed"; after a quiet period (debounce) the daemon checks the pair's local side
  against its status (:func:`~eassync.watch.local.pending_collections`) and syncs only
  the collections that really changed. Our own writes during a sync are in the status,
  so they end in one cheap check, not in a sync loop.
- DAV local sides (and vdirs when file watching is unavailable) are checked every
  ``poll_interval`` (a sync-token request). Accounts whose server has no usable Ping
  sync every ``interval``.
- A sync is ``eassync.runner.sync_pair``: the same engine, status and per-pair lock as
  ``eassync sync``, so a cron ``sync`` and ``watch`` coexist (a held lock is retried).

Signals: SIGTERM/SIGINT stop after the pair being synced; SIGHUP reloads the config
(a broken new config is reported and the old one kept).
"""

from __future__ import annotations

import logging
import queue
import random
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from eassync.errors import (
    ConfigError,
    EassyncError,
    LockHeldError,
    RemoteWipeRequested,
    TransientError,
)
from eassync.watch.pinger import PING_CLASS, Pinger, PingEvent, backoff_delay

if TYPE_CHECKING:
    from eassync.accounts import ClientPool
    from eassync.config import Config, Pair
    from eassync.eas.client import EasClient
    from eassync.pairs import Selection
    from eassync.sync.plan import SyncReport
    from eassync.watch.local import FolderWatcher, LocalSides

log = logging.getLogger("eassync.watch")

#: a pair whose lock another eassync holds (a cron ``sync``) is tried again after this
LOCK_RETRY = 5.0
#: the daemon wakes at least this often to notice signals and a stop request
TICK = 0.5


@dataclass(frozen=True)
class WatchOptions:
    #: Ping HeartbeatInterval asked for (s); the server's limit wins (Status 5)
    heartbeat: int = 480
    #: periodic sync of accounts whose server has no usable Ping (s)
    interval: float = 300.0
    #: local-change check of DAV storages, and of vdirs without file watching (s)
    poll_interval: float = 30.0
    #: quiet period after a local file event before checking (s)
    debounce: float = 1.5
    #: back-off of failing Pings and syncs: doubles from ``backoff_base`` up to this (s)
    max_backoff: float = 300.0
    backoff_base: float = 1.0
    #: use file watching for vdirs (False: poll them like DAV storages)
    file_watching: bool = True


@dataclass(frozen=True)
class LocalEvent:
    pair: str


@dataclass(frozen=True)
class SyncRecord:
    """One finished sync of one pair (or some of its collections), for tests and logs."""

    pair: str
    trigger: str
    reports: list[SyncReport]
    finished: float  # time.monotonic()
    error: EassyncError | None = None


@dataclass
class _Job:
    #: CollectionIds to sync; None: the whole pair
    collections: set[str] | None
    trigger: str


@dataclass
class _Runtime:
    """What one config generation holds open; rebuilt on SIGHUP."""

    config: Config
    pairs: dict[str, Pair]
    pool: ClientPool
    sides: LocalSides
    watcher: FolderWatcher | None = None
    pingers: dict[str, Pinger] = field(default_factory=dict)
    selections: dict[str, list[Selection]] = field(default_factory=dict)
    #: (account, CollectionId) synced at least once: only those may be Pinged (§6.3)
    synced: set[tuple[str, str]] = field(default_factory=set)
    #: accounts without usable Ping → when their pairs sync next
    periodic: dict[str, float] = field(default_factory=dict)
    #: pairs checked by polling → next check
    next_poll: dict[str, float] = field(default_factory=dict)


class Daemon:
    """``eassync watch`` without the command line. ``stop`` may be set from any
    thread (tests); :meth:`install_signal_handlers` wires SIGTERM/SIGINT/SIGHUP."""

    def __init__(
        self,
        load_config: Callable[[], Config],
        targets: Sequence[str] = (),
        options: WatchOptions | None = None,
        *,
        stop: threading.Event | None = None,
        on_sync: Callable[[SyncRecord], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.load_config = load_config
        self.targets = list(targets)
        self.options = options or WatchOptions()
        self.stop_event = stop or threading.Event()
        self.reload_event = threading.Event()
        self.on_sync = on_sync
        self.rng = rng or random.Random()
        self.events: queue.Queue[PingEvent | LocalEvent] = queue.Queue()
        #: counters for tests and the benchmark
        self.syncs = 0
        self.checks = 0
        self._rt: _Runtime | None = None
        self._jobs: dict[str, _Job] = {}
        self._check_at: dict[str, float] = {}  # debounced local checks
        self._first_event: dict[str, float] = {}
        self._retry_at: dict[str, tuple[float, _Job]] = {}
        self._failures: dict[str, int] = {}
        self._rearm: set[str] = set()
        self._in_trouble: set[str] = set()

    # --- control ------------------------------------------------------------------------

    def request_stop(self) -> None:
        self.stop_event.set()

    def request_reload(self) -> None:
        self.reload_event.set()

    def install_signal_handlers(self) -> None:
        def stop(signum: int, frame: object) -> None:
            if self.stop_event.is_set():
                # a second signal: stop now; a kill mid-sync is safe (engine docstring)
                raise KeyboardInterrupt
            log.info("%s: finishing the current sync, then exiting", signal.Signals(signum).name)
            self.request_stop()

        def reload(signum: int, frame: object) -> None:
            self.request_reload()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)

    def pinger(self, account: str) -> Pinger | None:
        return self._rt.pingers.get(account) if self._rt else None

    # --- the loop -----------------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped; 0 after a clean stop. A config error at start raises
        ConfigError (exit 2); later ones (SIGHUP) keep the running config."""
        self._rt = self._open(self.load_config())
        log.info("watching %d pair(s): %s", len(self._rt.pairs), ", ".join(sorted(self._rt.pairs)))
        try:
            while not self.stop_event.is_set():
                if self.reload_event.is_set():
                    self.reload_event.clear()
                    self._reload()
                self._drain()
                self._promote(time.monotonic())
                if self._jobs:
                    name = next(iter(self._jobs))
                    self._sync(name, self._jobs.pop(name))
                    continue
                self._rearm_pingers()
                self._wait(self._next_deadline() - time.monotonic())
        finally:
            self._close(self._rt)
            self._rt = None
        log.info("stopped")
        return 0

    def _wait(self, timeout: float) -> None:
        try:
            event = self.events.get(timeout=min(max(timeout, 0.0), TICK))
        except queue.Empty:
            return
        self._handle(event)

    def _drain(self) -> None:
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return
            self._handle(event)

    # --- config generations -------------------------------------------------------------

    def _open(self, config: Config) -> _Runtime:
        from eassync.accounts import ClientPool
        from eassync.runner import parse_targets
        from eassync.watch.local import LocalSides

        pairs = {pair.name: pair for pair, _ in parse_targets(config, self.targets)}
        if not pairs:
            raise ConfigError(f"{config.path}: no pairs to watch")
        rt = _Runtime(config, pairs, ClientPool(config), LocalSides(config))
        now = time.monotonic()
        for name in pairs:
            self._add_job(name, None, "start")
        self._rearm.update(p.account for p in pairs.values())
        watcher = self._make_watcher()
        for name, pair in pairs.items():
            if pair.direction == "to_local":
                continue  # local changes never go up: nothing to watch
            from eassync.watch.local import local_folder

            folder = local_folder(config, pair)
            if folder is not None and watcher is not None:
                watcher.watch(name, folder)
            else:
                rt.next_poll[name] = now + self.options.poll_interval
        if watcher is not None:
            watcher.start()
            rt.watcher = watcher
        return rt

    def _make_watcher(self) -> FolderWatcher | None:
        from eassync.watch.local import FolderWatcher, watching_available

        if not self.options.file_watching:
            return None
        if not watching_available():
            log.warning(
                "file watching is unavailable (install watchdog); "
                "checking vdir folders every %g s instead",
                self.options.poll_interval,
            )
            return None
        return FolderWatcher(lambda pair: self.events.put(LocalEvent(pair)))

    def _close(self, rt: _Runtime | None) -> None:
        if rt is None:
            return
        for pinger in rt.pingers.values():
            pinger.retire()
        if rt.watcher is not None:
            rt.watcher.stop()
        rt.sides.close()
        rt.pool.close()

    def _reload(self) -> None:
        try:
            config = self.load_config()
        except EassyncError as exc:
            log.error("reload failed, keeping the running config: %s", exc)
            for problem in getattr(exc, "problems", []):
                log.error("  %s", problem)
            return
        log.info("reloading the config")
        old = self._rt
        self._jobs.clear()
        self._check_at.clear()
        self._first_event.clear()
        self._retry_at.clear()
        self._failures.clear()
        self._rearm.clear()
        self._close(old)
        self._rt = None
        try:
            self._rt = self._open(config)
        except EassyncError as exc:
            log.error("reload failed, keeping the old config: %s", exc)
            assert old is not None
            self._rt = self._open(old.config)

    # --- events -------------------------------------------------------------------------

    def _handle(self, event: PingEvent | LocalEvent) -> None:
        rt = self._rt
        assert rt is not None
        if isinstance(event, LocalEvent):
            if event.pair in rt.pairs:
                now = time.monotonic()
                first = self._first_event.setdefault(event.pair, now)
                # a quiet period, but no endless wait under a steady stream of writes
                self._check_at[event.pair] = min(
                    now + self.options.debounce, first + 10 * self.options.debounce
                )
            return
        account = event.account
        pinger = rt.pingers.get(account)
        if pinger is None:
            return  # from a pinger of an older config
        if event.kind == "changes":
            matched = False
            for folder_id in event.folders:
                for name in self._pairs_of_folder(account, folder_id):
                    self._add_job(name, {folder_id}, "server")
                    matched = True
            if not matched:
                for name in self._pairs_of_account(account):
                    self._add_job(name, None, "server")
            self._rearm.add(account)
        elif event.kind == "hierarchy":
            log.info("account %s: the folder hierarchy changed; updating the folder list", account)
            self._refresh_folders(account)
            for name in self._pairs_of_account(account):
                self._add_job(name, None, "hierarchy")
            self._rearm.add(account)
        elif event.kind == "trouble":
            if account not in self._in_trouble:
                self._in_trouble.add(account)
                log.warning(
                    "account %s: Ping failed (%s); retrying in %.1f s",
                    account,
                    event.error,
                    event.retry_in or 0,
                )
            else:
                log.debug(
                    "account %s: Ping failed again; retrying in %.1f s", account, event.retry_in
                )
        elif event.kind == "recovered":
            self._in_trouble.discard(account)
            log.info("account %s: server reachable again; catching up", account)
            for name in self._pairs_of_account(account):
                self._add_job(name, None, "reconnect")
        elif event.kind == "unsupported":
            log.warning(
                "account %s: the server offers no usable Ping (%s); syncing every %g s instead",
                account,
                event.error,
                self.options.interval,
            )
            rt.pingers.pop(account, None)
            rt.periodic[account] = time.monotonic() + self.options.interval
        elif event.kind == "partial":
            log.warning(
                "account %s: the server Pings at most %s folders; syncing all every %g s too",
                account,
                event.limit,
                self.options.interval,
            )
            rt.periodic.setdefault(account, time.monotonic() + self.options.interval)

    # --- scheduling ---------------------------------------------------------------------

    def _add_job(self, pair: str, collections: set[str] | None, trigger: str) -> None:
        job = self._jobs.get(pair)
        if job is None:
            self._jobs[pair] = _Job(None if collections is None else set(collections), trigger)
        elif job.collections is not None:
            if collections is None:
                job.collections = None
            else:
                job.collections |= collections

    def _promote(self, now: float) -> None:
        """Move what is due now (debounced checks, polls, periodic syncs, retries) into
        the job list."""
        rt = self._rt
        assert rt is not None
        for pair in [p for p, t in self._check_at.items() if t <= now]:
            del self._check_at[pair]
            self._first_event.pop(pair, None)
            self._check_local(pair, "local")
        for pair in [p for p, t in rt.next_poll.items() if t <= now]:
            rt.next_poll[pair] = now + self.options.poll_interval
            self._check_local(pair, "poll")
        for account in [a for a, t in rt.periodic.items() if t <= now]:
            rt.periodic[account] = now + self.options.interval
            for name in self._pairs_of_account(account):
                self._add_job(name, None, "periodic")
        for pair in [p for p, (t, _) in self._retry_at.items() if t <= now]:
            _, job = self._retry_at.pop(pair)
            self._add_job(pair, job.collections, job.trigger)

    def _next_deadline(self) -> float:
        rt = self._rt
        assert rt is not None
        times = [
            *self._check_at.values(),
            *rt.next_poll.values(),
            *rt.periodic.values(),
            *(t for t, _ in self._retry_at.values()),
        ]
        return min(times, default=time.monotonic() + 3600)

    def _check_local(self, pair_name: str, trigger: str) -> None:
        """Sync the collections of ``pair_name`` that have local changes, if any."""
        from eassync.watch.local import pending_collections

        rt = self._rt
        assert rt is not None
        pair = rt.pairs[pair_name]
        if pair_name in self._jobs or pair_name in self._retry_at:
            return  # a sync is coming anyway; it scans the local side first
        self.checks += 1
        try:
            pending = pending_collections(rt.config, pair, self._selections(pair), rt.sides)
        except EassyncError as exc:
            log.warning("pair %s: cannot check local changes: %s", pair_name, exc)
            return
        if pending:
            self._add_job(pair_name, pending, trigger)

    # --- syncing ------------------------------------------------------------------------

    def _sync(self, pair_name: str, job: _Job) -> None:
        from eassync.runner import sync_pair

        rt = self._rt
        assert rt is not None
        pair = rt.pairs[pair_name]
        targets: list[str | None] = [None]
        if job.collections is not None:
            targets = [*sorted(job.collections)]
        reports: list[SyncReport] = []
        error: EassyncError | None = None
        for collection in targets:
            try:
                if collection is not None and collection not in {
                    s.folder.server_id for s in self._selections(pair)
                }:
                    continue  # the folder is gone (hierarchy change); nothing to sync
                outcome = sync_pair(
                    rt.config,
                    rt.pool,
                    pair,
                    collection,
                    dry_run=False,
                    force_delete=False,
                    reporter=WatchReporter(pair_name),
                )
            except RemoteWipeRequested:
                raise
            except EassyncError as exc:
                error = exc
                break
            reports.extend(outcome.reports)
            if outcome.failed:  # the pair's other collections went on; retry this one
                error = outcome.failed[0].error
                break
        self.syncs += 1
        if error is None:
            self._failures.pop(pair_name, None)
            self._mark_synced(pair, job.collections)
            for report in reports:
                moved = report.actions or report.failures or report.conflicts or report.notes
                level = logging.INFO if moved else logging.DEBUG
                log.log(level, "%s/%s (%s)", pair_name, report.summary(), job.trigger)
        else:
            self._retry_later(pair_name, job, error)
        if self.on_sync is not None:
            self.on_sync(SyncRecord(pair_name, job.trigger, reports, time.monotonic(), error))

    def _retry_later(self, pair_name: str, job: _Job, error: EassyncError) -> None:
        if isinstance(error, LockHeldError):
            log.info("pair %s: %s; trying again in %g s", pair_name, error, LOCK_RETRY)
            self._retry_at[pair_name] = (time.monotonic() + LOCK_RETRY, job)
            return
        failures = self._failures.get(pair_name, 0) + 1
        self._failures[pair_name] = failures
        delay = backoff_delay(
            failures, self.options.backoff_base * 2, self.options.max_backoff, self.rng
        )
        level = logging.WARNING if isinstance(error, TransientError) else logging.ERROR
        if failures == 1 or failures % 10 == 0:
            log.log(level, "pair %s: sync failed: %s; retrying in %.0f s", pair_name, error, delay)
            if error.hint and level == logging.ERROR:
                log.log(level, "pair %s: hint: %s", pair_name, error.hint)
        self._retry_at[pair_name] = (time.monotonic() + delay, job)

    def _mark_synced(self, pair: Pair, collections: set[str] | None) -> None:
        rt = self._rt
        assert rt is not None
        try:
            selections = self._selections(pair)
        except EassyncError:
            return
        for sel in selections:
            fid = sel.folder.server_id
            if collections is None or fid in collections:
                key = (pair.account, fid)
                if key not in rt.synced:
                    rt.synced.add(key)
                    self._rearm.add(pair.account)

    # --- folders and pingers ------------------------------------------------------------

    def _selections(self, pair: Pair) -> list[Selection]:
        from eassync.pairs import select_folders
        from eassync.runner import known_subdirs_of

        rt = self._rt
        assert rt is not None
        if pair.name not in rt.selections:
            folders = rt.pool.folders(pair.account)
            # the subfolders the syncs use (a folder renamed on the server keeps its own)
            known = known_subdirs_of(rt.config, pair)
            rt.selections[pair.name] = select_folders(pair.name, pair.remote, folders, known)
        return rt.selections[pair.name]

    def _pairs_of_account(self, account: str) -> list[str]:
        rt = self._rt
        assert rt is not None
        return [name for name, p in rt.pairs.items() if p.account == account]

    def _pairs_of_folder(self, account: str, folder_id: str) -> list[str]:
        rt = self._rt
        assert rt is not None
        out = []
        for name in self._pairs_of_account(account):
            sels = rt.selections.get(name, [])
            if any(s.folder.server_id == folder_id for s in sels):
                out.append(name)
        return out

    def _refresh_folders(self, account: str) -> None:
        rt = self._rt
        assert rt is not None
        try:
            rt.pool.client(account).folder_sync()
        except EassyncError as exc:
            log.warning("account %s: FolderSync failed: %s", account, exc)
        for name in self._pairs_of_account(account):
            rt.selections.pop(name, None)
        rt.synced = {(a, f) for a, f in rt.synced if a != account or self._known(a, f)}

    def _known(self, account: str, folder_id: str) -> bool:
        rt = self._rt
        assert rt is not None
        return any(f.server_id == folder_id for f in rt.pool.client(account).folders())

    def _ping_folders(self, account: str) -> list[tuple[str, str]]:
        rt = self._rt
        assert rt is not None
        seen: dict[str, str] = {}
        for name in self._pairs_of_account(account):
            try:
                selections = self._selections(rt.pairs[name])
            except EassyncError:
                continue
            for sel in selections:
                fid = sel.folder.server_id
                if (account, fid) in rt.synced:
                    seen.setdefault(fid, PING_CLASS[sel.kind])
        return sorted(seen.items())

    def _rearm_pingers(self) -> None:
        rt = self._rt
        assert rt is not None
        for account in sorted(self._rearm):
            if account in rt.periodic and account not in rt.pingers:
                self._rearm.discard(account)
                continue
            if any(rt.pairs[p].account == account for p in self._retry_at):
                continue  # retries poll meanwhile; a Ping would report the same changes
            folders = self._ping_folders(account)
            if not folders:
                continue
            pinger = rt.pingers.get(account)
            if pinger is None:
                try:
                    pinger = self._start_pinger(account)
                except EassyncError as exc:
                    log.warning("account %s: cannot start Ping: %s", account, exc)
                    continue
            pinger.arm(folders)
            self._rearm.discard(account)

    def _start_pinger(self, account: str) -> Pinger:
        rt = self._rt
        assert rt is not None
        client = ping_client_for(rt.pool.client(account))
        pinger = Pinger(
            account,
            client,
            self.events.put,
            heartbeat=self.options.heartbeat,
            backoff_base=self.options.backoff_base,
            max_backoff=self.options.max_backoff,
            rng=random.Random(self.rng.random()),
        )
        rt.pingers[account] = pinger
        pinger.start()
        return pinger


def ping_client_for(owner: EasClient) -> EasClient:
    """A second client of ``owner``'s account and state, with its own HTTP session,
    for the Ping (see :meth:`EasClient.sibling`)."""
    from eassync.eas.client import RetryPolicy

    # one immediate retry on a fresh connection (sogod closes idle ones, sogo-notes
    # Q15); longer waits are the pinger's own back-off
    settings = replace(owner.settings, retry=RetryPolicy(attempts=2, max_total_wait=0.0))
    return owner.sibling(settings)


class WatchReporter:
    """Engine events of one pair as log lines: actions with -v, problems always."""

    def __init__(self, pair: str) -> None:
        self.pair = pair

    def action(self, collection: str, action: Any) -> None:
        note = f" ({action.note})" if action.note else ""
        log.debug(
            "%s/%s: %s %s: %s%s", self.pair, collection, action.kind, action.side, action.name, note
        )

    def failure(self, collection: str, failure: Any) -> None:
        what = failure.name or failure.ident or "?"
        log.warning(
            "%s/%s: FAILED %s %s: %s", self.pair, collection, failure.side, what, failure.reason
        )

    def conflict(self, collection: str, conflict: Any) -> None:
        level = logging.WARNING if conflict.unresolved else logging.INFO
        log.log(
            level,
            "%s/%s: conflict on %r (local) / %r (server): %s",
            self.pair,
            collection,
            conflict.local_name,
            conflict.remote_name,
            conflict.resolution,
        )

    def note(self, collection: str, text: str) -> None:
        log.info("%s/%s: %s", self.pair, collection, text)
