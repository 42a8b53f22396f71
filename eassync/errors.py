"""One exception tree for everything a user can meet.

Every error says what happened, where (file:line, pair, collection, item) and,
where there is one, what to do next. The CLI maps classes to exit codes:
ConfigError, UsageError, CredentialsError → 2, TransientError → 75, the rest → 1.
"""

from __future__ import annotations


class EassyncError(Exception):
    """Base class. ``hint`` is the next step for the user, shown on its own line."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    @property
    def details(self) -> list[str]:
        """Lines printed under the message, one each (the URLs autodiscover tried)."""
        return []

    def __str__(self) -> str:
        return self.message


class ConfigError(EassyncError):
    """The configuration is invalid. ``problems`` holds every problem found, one line each."""

    exit_code = 2

    def __init__(
        self, message: str, *, problems: list[str] | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems or []


class UsageError(EassyncError):
    exit_code = 2


class TransientError(EassyncError):
    """Worth retrying later: network down, throttled, lock held. Exit code 75 (EX_TEMPFAIL)."""

    exit_code = 75


class LockHeldError(TransientError):
    pass


# --- protocol ---------------------------------------------------------------------------


class ProtocolError(EassyncError):
    """Bytes or a document that do not follow the protocol (bad WBXML, unexpected answer)."""

    def __init__(self, message: str, *, offset: int | None = None, hint: str | None = None) -> None:
        if offset is not None:
            message = f"{message} (at byte {offset})"
        super().__init__(message, hint=hint)
        self.offset = offset


class TransportError(TransientError):
    """Connection refused, reset, timed out, TLS handshake failed, HTTP 5xx after retries."""


class RequestTimeout(TransportError):
    """A request did not finish, from connecting to the answer's last byte, within its
    deadline (the ``timeout`` setting): a server that answers too slowly, or dribbles."""


class ThrottledError(TransientError):
    """The server asked us to slow down (HTTP 503 + Retry-After, Status 110/111) for too long."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, hint="wait a while and run again; the server is throttling")
        self.retry_after = retry_after


class AuthError(EassyncError):
    """The server refused our credentials (HTTP 401) or the account is blocked (403/456/457)."""


class CredentialsError(AuthError):
    """The server refused the credentials the config gives (HTTP 401): a config error,
    exit code 2 like the others, since no rerun can work before a person fixes the
    username or password (or what its command prints)."""

    exit_code = 2


class DeviceBlocked(AuthError):
    """The server refuses this user or device: ActiveSync disabled, device blocked or
    quarantined by an admin rule, too many devices (MS-ASCMD 2.2.2 Status 126, 129,
    130, 177; MS-ASHTTP 2.2.2.1.1 HTTP 403). Only an administrator can change that;
    the message carries what they need to find the device: DeviceId and DeviceType."""

    def __init__(
        self,
        message: str,
        *,
        device_id: str,
        device_type: str,
        status: int,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.device_id = device_id
        self.device_type = device_type
        self.status = status


class TLSError(EassyncError):
    """Certificate verification failed. Never downgraded silently."""


class ResponseTooLarge(EassyncError):
    """An answer is larger, once decompressed, than ``max_response_size`` allows."""


class ServerError(EassyncError):
    """The server answered with a status code that has no recovery."""

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class ProvisionError(ServerError):
    pass


class RequestFailed(ServerError):
    """The server took the request and failed on it: HTTP 5xx, an HTML error page or
    an empty answer where WBXML was due (Horde's fatal errors, horde-notes §6), or a
    collection Status 4/5/6 to a Sync carrying commands. The endpoint works; one item
    of the request may be what it cannot take (the engine isolates it)."""


class RemoteWipeRequested(EassyncError):
    """The server asked this device to wipe itself. We stop and touch nothing local."""


class InvalidSyncKey(ServerError):
    """Sync Status 3 / FolderSync Status 9: the server lost our state; resync from key 0."""


class FolderHierarchyChanged(ServerError):
    """Sync Status 12 / Ping Status 7: run FolderSync again."""


class NotFoundError(EassyncError):
    """An item or collection that should exist does not (anymore)."""


# --- items and storage ------------------------------------------------------------------


class ItemError(EassyncError):
    """One item could not be read, converted or written. It is reported and skipped."""

    def __init__(self, message: str, *, ident: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.ident = ident


class ConversionError(ItemError):
    pass


class PreconditionFailed(EassyncError):
    """An etag guard failed: the item changed under us (HTTP 412, vdir mtime moved)."""

    def __init__(self, message: str, *, ident: str | None = None) -> None:
        super().__init__(message)
        self.ident = ident


class StorageError(EassyncError):
    pass


class SyncConflict(EassyncError):
    """A conflict under ``conflict: error``: both sides changed the same item."""


class LocalChangesRefused(EassyncError):
    """``direction: to_local`` with ``local_changes: error``: the local side changed."""


class SafetyStop(EassyncError):
    """A sync would delete too much of one side; rerun with --force-delete to proceed."""
