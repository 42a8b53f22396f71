"""The Ping loop of one account (eas-protocol.md §6.3), in a thread of its own.

The pinger only waits for the server: it never syncs. What a Ping reports becomes a
:class:`PingEvent` handed to the daemon, which syncs in its own thread. After
*changes* or a *hierarchy change* the pinger stops until the daemon re-arms it
(:meth:`Pinger.arm`) once it has synced: pinging again before the sync would get the
same Status 2 at once, in a tight loop.

The pinger has its own :class:`EasClient` (its own HTTP session) for the same account
and DeviceId as the syncing client: a Ping waits minutes, and Syncs of local changes
must not wait for it. Servers allow one device to Ping and Sync at the same time.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from eassync.errors import AuthError, EassyncError, ServerError, TransientError

if TYPE_CHECKING:
    from eassync.eas.client import EasClient

log = logging.getLogger(__name__)

#: pair kind → Ping Class (§6.3)
PING_CLASS = {"contacts": "Contacts", "calendar": "Calendar", "tasks": "Tasks", "notes": "Notes"}

# Ping Status values (§6.3; the issue text's "Status 2 = timeout" is a slip)
EXPIRED = 1
CHANGES = 2
MISSING_PARAMETERS = 3
SYNTAX_ERROR = 4
INTERVAL_OUT_OF_RANGE = 5
TOO_MANY_FOLDERS = 6
HIERARCHY_CHANGED = 7
SERVER_ERROR = 8

#: HTTP statuses meaning "this server has no Ping" (501: command not implemented)
NO_PING_HTTP = frozenset({400, 404, 405, 501})
#: consecutive non-transient failures after which Ping is given up for periodic sync
GIVE_UP_AFTER = 5

EventKind = Literal["changes", "hierarchy", "trouble", "recovered", "unsupported", "partial"]


@dataclass(frozen=True)
class PingEvent:
    """What the pinger of ``account`` tells the daemon.

    - ``changes``: ``folders`` changed (Status 2); pinger paused until re-armed.
    - ``hierarchy``: FolderSync needed (Status 7); pinger paused until re-armed.
    - ``trouble``: a Ping failed (``error``); next try in ``retry_in`` seconds.
    - ``recovered``: a Ping worked again after trouble (changes may have been missed
      while offline only if the server forgot them; the daemon syncs to be sure).
    - ``unsupported``: the server has no usable Ping; the pinger has ended.
    - ``partial``: the server pings at most ``limit`` folders (Status 6); ``folders``
      are left out and need periodic syncs.
    """

    account: str
    kind: EventKind
    folders: tuple[str, ...] = ()
    error: EassyncError | None = None
    retry_in: float | None = None
    limit: int | None = None


def backoff_delay(failures: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential back-off with jitter: the step doubles per failure up to ``cap``,
    and the wait is drawn from [step/2, step] so many clients do not retry in step."""
    step = min(cap, base * 2.0 ** max(failures - 1, 0))
    return step / 2 + rng.uniform(0, step / 2)


class Pinger:
    """Pings one account's folders again and again; see the module docstring."""

    def __init__(
        self,
        account: str,
        client: EasClient,
        post: Callable[[PingEvent], None],
        *,
        heartbeat: int,
        backoff_base: float = 1.0,
        max_backoff: float = 300.0,
        rng: random.Random | None = None,
    ) -> None:
        self.account = account
        self.client = client
        self.post = post
        self.heartbeat = heartbeat
        self.backoff_base = backoff_base
        self.max_backoff = max_backoff
        self.rng = rng or random.Random()
        #: Pings answered (any status); read by tests and the benchmark
        self.cycles = 0
        self._folders: list[tuple[str, str]] = []
        self._max_folders: int | None = None
        self._lock = threading.Lock()
        self._armed = threading.Event()
        self._retired = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"eassync-ping-{account}", daemon=True
        )

    # --- control (daemon thread) --------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def arm(self, folders: Sequence[tuple[str, str]]) -> None:
        """Ping these (CollectionId, Class) folders from the next Ping on, and resume
        after a pause. An empty list pauses the pinger."""
        with self._lock:
            self._folders = list(folders)
        if folders:
            self._armed.set()
        else:
            self._armed.clear()

    @property
    def armed(self) -> bool:
        return self._armed.is_set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._retired.is_set()

    def retire(self) -> None:
        """Stop after the Ping in flight (if any); its answer is dropped. The thread is
        a daemon thread: a Ping blocked for its heartbeat never delays the exit."""
        self._retired.set()
        self._armed.set()  # wake a paused loop so it can end

    # --- the loop (pinger thread) -------------------------------------------------------

    def _emit(self, event: PingEvent) -> None:
        if not self._retired.is_set():
            self.post(event)

    def _run(self) -> None:
        failures = 0  # consecutive failed Pings
        hard_failures = 0  # of which not transient
        in_trouble = False
        try:
            while True:
                self._armed.wait()
                if self._retired.is_set():
                    return
                with self._lock:
                    folders = list(self._folders)
                if not folders:
                    self._armed.clear()
                    continue
                if self._max_folders is not None:
                    folders = folders[: self._max_folders]
                log.debug(
                    "account %s: Ping %d folder(s), heartbeat %d s",
                    self.account,
                    len(folders),
                    self.heartbeat,
                )
                try:
                    result = self.client.ping(folders, self.heartbeat)
                except Exception as exc:
                    if self._retired.is_set():
                        return
                    failures += 1
                    error = _as_eassync_error(exc)
                    if _means_no_ping(error):
                        hard_failures = GIVE_UP_AFTER
                    elif not isinstance(error, TransientError):
                        hard_failures += 1
                    if hard_failures >= GIVE_UP_AFTER:
                        self._emit(PingEvent(self.account, "unsupported", error=error))
                        return
                    delay = backoff_delay(failures, self.backoff_base, self.max_backoff, self.rng)
                    in_trouble = True
                    self._emit(PingEvent(self.account, "trouble", error=error, retry_in=delay))
                    if self._retired.wait(delay):
                        return
                    continue
                if self._retired.is_set():
                    return
                self.cycles += 1
                if in_trouble:
                    in_trouble = False
                    self._emit(PingEvent(self.account, "recovered"))
                failures = self._handle(result.status, result, folders, failures)
                hard_failures = 0 if failures == 0 else hard_failures
        finally:
            self._armed.clear()
            self.client.close()  # its own HTTP session; the shared state stays

    def _handle(
        self, status: int, result: object, folders: list[tuple[str, str]], failures: int
    ) -> int:
        """React to one Ping answer; returns the new count of consecutive failures."""
        from eassync.eas.client import PingResult

        assert isinstance(result, PingResult)
        if status == EXPIRED:
            log.debug("account %s: Ping heartbeat expired, no changes", self.account)
            return 0
        if status == CHANGES:
            log.debug("account %s: Ping reports changes in %s", self.account, result.folders)
            self._armed.clear()
            self._emit(PingEvent(self.account, "changes", folders=tuple(result.folders)))
            return 0
        if status == HIERARCHY_CHANGED:
            log.debug("account %s: Ping reports a folder hierarchy change", self.account)
            self._armed.clear()
            self._emit(PingEvent(self.account, "hierarchy"))
            return 0
        if status == INTERVAL_OUT_OF_RANGE and result.heartbeat:
            # the answer carries the allowed limit (§6.3; SOGo sends it only after
            # waiting its maximum, sogo-notes Q11)
            log.info(
                "account %s: server allows a heartbeat of %d s, not %d s",
                self.account,
                result.heartbeat,
                self.heartbeat,
            )
            self.heartbeat = result.heartbeat
            return 0
        if status == TOO_MANY_FOLDERS and result.max_folders:
            self._max_folders = result.max_folders
            left_out = tuple(fid for fid, _ in folders[result.max_folders :])
            self._emit(
                PingEvent(self.account, "partial", folders=left_out, limit=result.max_folders)
            )
            return 0
        # 3, 4, 8 or anything unknown: back off and try again; a server that keeps
        # refusing gives up Ping (GIVE_UP_AFTER via the caller's hard failure count)
        failures += 1
        error = ServerError(f"account {self.account!r}: Ping failed with status {status}")
        delay = backoff_delay(failures, self.backoff_base, self.max_backoff, self.rng)
        if status in (MISSING_PARAMETERS, SYNTAX_ERROR) and failures >= GIVE_UP_AFTER:
            self._emit(PingEvent(self.account, "unsupported", error=error))
            self.retire()
            return failures
        self._emit(PingEvent(self.account, "trouble", error=error, retry_in=delay))
        self._retired.wait(delay)
        return failures


def _as_eassync_error(exc: Exception) -> EassyncError:
    if isinstance(exc, EassyncError):
        return exc
    # a bug or an unexpected library error: keep going, but say what it was
    log.debug("Ping raised", exc_info=exc)
    return ServerError(f"Ping failed unexpectedly: {type(exc).__name__}: {exc}")


def _means_no_ping(error: EassyncError) -> bool:
    if isinstance(error, AuthError):
        return False
    return isinstance(error, ServerError) and getattr(error, "status", None) in NO_PING_HTTP
