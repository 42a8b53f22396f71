"""The EAS client of one account: commands wired to the transport, with the
recoveries of eas-protocol.md §2.5–§5.7 applied before anything becomes an error.

State that must survive runs (DeviceId, negotiated version, policy key, 451 target,
FolderSync key and folder map) lives in the account state file (``state.py``).
Per-collection SyncKeys do not: the caller (the sync engine) owns them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType

import requests

from eassync import paths
from eassync.eas import commands as cmds
from eassync.eas import pim, versions, wbxml
from eassync.eas.auth import Auth, BasicAuth
from eassync.eas.commands import (
    ClientCommand,
    CollectionRequest,
    CollectionResponse,
    CommandResponse,
    DeviceInfo,
    EstimateRequest,
    Folder,
    PingResult,
    ServerCommand,
    SyncOptions,
)
from eassync.eas.element import Element
from eassync.eas.state import AccountState, AccountStateFile, FolderRecord
from eassync.eas.transport import (
    USER_AGENT,
    AccessDenied,
    Backoff,
    HttpResponse,
    ProvisionRequired,
    Redirected,
    RetryPolicy,
    Transport,
    VersionRejected,
    broken_off,
    iter_header_versions,
)
from eassync.errors import (
    AuthError,
    ConfigError,
    DeviceBlocked,
    FolderHierarchyChanged,
    InvalidSyncKey,
    NotFoundError,
    ProtocolError,
    ProvisionError,
    RemoteWipeRequested,
    RequestFailed,
    ServerError,
    ThrottledError,
)
from eassync.net.bounded import DEFAULT_MAX_SIZE
from eassync.net.origin import origin_of, redirect_problem

__all__ = [
    "AccountSettings",
    "ClientCommand",
    "CollectionInvalidSyncKey",
    "CollectionRequest",
    "CollectionResponse",
    "CommandResponse",
    "EasClient",
    "Folder",
    "FolderChanges",
    "PingResult",
    "RetryPolicy",
    "ServerCommand",
    "SyncOptions",
]

log = logging.getLogger(__name__)

_MAX_REDIRECTS = 3

#: A request body, or a builder of it for the version in use: a request that is
#: retried after a version change is built again for the new version.
RequestBody = Element | Callable[[str], Element] | None


@dataclass(kw_only=True)
class AccountSettings:
    name: str
    url: str
    username: str
    password: str | None = None
    #: defaults to BasicAuth(username, password)
    auth: Auth | None = None
    protocol_version: str = versions.AUTO
    #: True, False (explicit, warns) or a CA bundle path
    verify: bool | str = True
    state_dir: Path = field(default_factory=paths.state_dir)
    device_type: str = "eassync"
    #: Settings/DeviceInformation Model; admins allow or block devices by it
    device_model: str = "eassync"
    #: the User-Agent header and DeviceInformation UserAgent; None: eassync/<version>
    user_agent: str | None = None
    timeout: float = 60.0
    #: provision before the first command even if the server never asks (Kerio, §8)
    provision_first: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: False: the account state (DeviceId, policy key, folder map) is read but never
    #: written (``sync --dry-run`` writes nothing anywhere)
    persist: bool = True
    friendly_name: str | None = None
    #: cap on one answer, decompressed (``max_response_size``)
    max_response_size: int = DEFAULT_MAX_SIZE
    #: where an HTTP 451 may lead besides the configured host and its subdomains:
    #: the e-mail domain, and hosts the config trusts (``autodiscover_trust``)
    redirect_domains: tuple[str, ...] = ()
    redirect_trust: tuple[str, ...] = ()


@dataclass(frozen=True)
class FolderChanges:
    """What the last :meth:`EasClient.folder_sync` changed in the folder map."""

    resynced: bool  # True after a Status 9 full resync
    appeared: list[Folder]
    vanished: list[Folder]
    changed: list[Folder]


class CollectionInvalidSyncKey(InvalidSyncKey):
    """Sync Status 3 for one collection (or all, when ``collection_id`` is None):
    reset that collection to SyncKey 0. ``others`` holds the responses of the other
    collections of the same request, which stay valid."""

    def __init__(
        self,
        message: str,
        *,
        collection_id: str | None,
        others: list[CollectionResponse] | None = None,
        status: int = 3,
    ) -> None:
        super().__init__(
            message, status=status, hint="the collection will be downloaded again from scratch"
        )
        self.collection_id = collection_id
        self.others = others or []


# Common statuses (MS-ASCMD 2.2.2) that mean "stop: this account may not sync".
_ACCOUNT_REFUSED = {
    123: "no mailbox for this user (status 123, UserHasNoMailbox)",
    124: "anonymous access not allowed (status 124, UserCannotBeAnonymous)",
    125: "user unknown to the server (status 125, UserPrincipalCouldNotBeFound)",
    127: "the mailbox moved to a newer server this endpoint cannot sync "
    "(status 127, UserOnNewMailboxCannotSync)",
    128: "the mailbox is on an older server this endpoint cannot sync "
    "(status 128, UserOnLegacyMailboxCannotSync)",
    131: "account disabled (status 131, AccountDisabled)",
}

# Statuses (MS-ASCMD 2.2.2) and HTTP 403 (MS-ASHTTP 2.2.2.1.1) by which a server refuses
# this user or this device: admin rules allow, block or quarantine devices by DeviceId,
# DeviceType, model and User-Agent, so the message names them for the admin.
_DEVICE_REFUSED = {
    126: (
        "the user is not enabled for ActiveSync (status 126, UserDisabledForSync)",
        "ask the administrator to enable ActiveSync for this user",
    ),
    129: (
        "this device is blocked for this user (status 129, DeviceIsBlockedForThisUser)",
        "ask the administrator to allow this device",
    ),
    130: (
        "access denied: the device is blocked or quarantined by an access rule "
        "(status 130, AccessDenied)",
        "ask the administrator to allow this device or release it from quarantine",
    ),
    177: (
        "the user has reached the maximum number of devices (status 177, MaximumDevicesReached)",
        "remove devices this user no longer uses (Outlook on the web: Settings, Mobile "
        "devices) or ask the administrator to raise the limit",
    ),
    403: (
        "not allowed to use ActiveSync (HTTP 403: user not enabled, or device blocked or "
        "quarantined)",
        "ask the administrator to allow ActiveSync for this user and device, or to release "
        "the device from quarantine",
    ),
}


class EasClient:
    def __init__(self, settings: AccountSettings, *, session: requests.Session | None = None):
        try:
            self._pinned = versions.validate_pin(settings.protocol_version)
        except ValueError as exc:
            raise ConfigError(f"account {settings.name!r}: {exc}") from exc
        if isinstance(settings.verify, str) and not Path(settings.verify).expanduser().exists():
            raise ConfigError(
                f"account {settings.name!r}: verify: {settings.verify} does not exist",
                hint="point verify at the PEM file of the server's CA",
            )
        self.settings = settings
        self._state_file = AccountStateFile(settings.state_dir, settings.name)
        self._state: AccountState = self._state_file.load(create=settings.persist)
        auth = settings.auth
        if auth is None:
            if settings.password is None:
                raise ConfigError(f"account {settings.name!r}: no password and no auth method")
            auth = BasicAuth(settings.username, settings.password)
        self._transport = Transport(
            account=settings.name,
            url=self._stored_redirect() or settings.url,
            username=settings.username,
            device_id=self._state.device_id,
            device_type=settings.device_type,
            auth=auth,
            verify=settings.verify,
            timeout=settings.timeout,
            retry=settings.retry,
            session=session,
            max_response_size=settings.max_response_size,
        )
        # one User-Agent on every request: Exchange autoblock rules quarantine devices
        # whose User-Agent changes (MS-ASHTTP 3.1.4.1)
        self._transport.session.headers["User-Agent"] = self.user_agent
        self._version: str | None = None
        self._provisioned = False  # in this session
        self._reprobed = False  # X-MS-RP handled once per session
        self._version_reprobed = False  # OPTIONS re-run after a refused version, once
        self._last_heartbeat: int | None = None
        self._sending_device_info = False  # guards the 165/138 recovery against recursion
        self.folder_changes: FolderChanges | None = None

    # --- lifecycle ---

    def sibling(self, settings: AccountSettings | None = None) -> EasClient:
        """A second client of the same account and device, with its own HTTP session,
        sharing this one's in-memory account state (DeviceId, policy key, folder map):
        a long Ping beside syncs. Were it to load its own copy, a re-provisioning by
        either would save a stale folder map or policy key over the other's."""
        other = EasClient(settings or self.settings)
        other._state = self._state
        return other

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> EasClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def device_id(self) -> str:
        return self._state.device_id

    @property
    def url(self) -> str:
        """The endpoint in use (the configured one, or where a 451 sent us)."""
        return self._transport.url

    @property
    def policy_key(self) -> str | None:
        return self._state.policy_key

    @property
    def device_type(self) -> str:
        return self.settings.device_type

    @property
    def user_agent(self) -> str:
        return self.settings.user_agent or USER_AGENT

    @property
    def server_versions(self) -> list[str]:
        """The versions the server offered when last asked (OPTIONS or a POST answer)."""
        return list(self._state.server_versions)

    def _save(self) -> None:
        if self.settings.persist:
            self._state_file.save(self._state)

    # --- version negotiation (§2.4) ---

    @property
    def version(self) -> str:
        """The protocol version in use: pinned, cached in the state, or from OPTIONS."""
        if self._pinned != versions.AUTO:
            return self._pinned
        if self._version is None:
            cached = self._state.protocol_version
            self._version = cached if cached in versions.SUPPORTED else self.negotiate()
        return self._version

    def negotiate(self) -> str:
        """Ask the server (OPTIONS) and pick the highest common version; remembered."""
        return self._adopt_versions(self._offered_versions(), source="OPTIONS")

    def _offered_versions(self) -> list[str]:
        try:
            response = self._transport.options()
        except AccessDenied:
            raise self.device_blocked(403) from None
        return versions.parse_header(response.header_values("MS-ASProtocolVersions"))

    def probe_versions(self) -> list[str]:
        """OPTIONS now: the versions the server offers; a negotiated account adopts the
        highest common one (``eassync doctor``)."""
        offered = self._offered_versions()
        if self._pinned == versions.AUTO:
            self._adopt_versions(offered, source="OPTIONS")
        elif offered != self._state.server_versions:
            self._state.server_versions = offered
            self._save()
        return offered

    def _recover_from_refused_version(self, refused: VersionRejected, used: str) -> None:
        """HTTP 501/505, or 400 with a version list: the version we sent is refused,
        typically because the server was upgraded or downgraded (§2.3–2.5).

        Negotiated (``auto``): re-run OPTIONS once per session and store the new
        version; the caller then retries its request once. Pinned: raise a
        ``ServerError`` naming the versions the server offers. Raises ``refused``
        itself when a retry cannot help (the command, not the version, is refused).
        """
        if self._pinned != versions.AUTO:
            offered = refused.offered or self._offered_versions()
            if self._pinned in offered:
                raise refused  # the version is fine: the command is not supported
            usable = [v for v in versions.SUPPORTED if v in offered]
            raise ServerError(
                f"account {self.name!r}: {self._transport.host} no longer supports the "
                f"pinned protocol version {self._pinned}; it offers "
                f"{', '.join(offered) or 'none'} (HTTP {refused.status})",
                status=refused.status,
                hint=(
                    f"set protocol_version to auto, or pin one of {', '.join(usable)}"
                    if usable
                    else "the server offers no protocol version eassync speaks"
                ),
            ) from None
        if self._version_reprobed:
            raise refused
        self._version_reprobed = True
        log.info(
            "account %r: the server refused protocol %s (HTTP %s); asking it again",
            self.name,
            used,
            refused.status,
        )
        if self.negotiate() == used:
            raise refused  # same version again: the command itself is not supported

    def _adopt_versions(self, offered: list[str], *, source: str) -> str:
        if self._pinned != versions.AUTO:
            return self._pinned
        chosen = versions.choose(offered)
        if chosen is None:
            raise ServerError(
                f"account {self.name!r}: {self._transport.host} offers protocol versions "
                f"{', '.join(offered) or 'none'} ({source}); eassync speaks "
                f"{', '.join(versions.SUPPORTED)}",
                hint="set protocol_version to pin one if the server accepts unadvertised ones",
            )
        if chosen != self._state.protocol_version or offered != self._state.server_versions:
            log.info("account %r: using EAS protocol %s (server: %s)", self.name, chosen, offered)
            self._state.protocol_version = chosen
            self._state.server_versions = offered
            self._save()
        self._version = chosen
        return chosen

    # --- the one request path ---

    def _execute(
        self,
        cmd: str,
        body: RequestBody,
        *,
        timeout: float | None = None,
        idempotent: bool = True,
        fail_fast: bool = False,
    ) -> Element | None:
        """Send one command and return the decoded answer (None for an empty body),
        after the HTTP- and common-status recoveries (§2.5, §2.6). ``fail_fast``: see
        :meth:`Transport.post` (a server failure is the caller's to retry)."""
        if self.settings.provision_first and not self._provisioned and cmd != "Provision":
            self.provision()
        request: Element | None = None
        payload: bytes | None = None
        built_for: str | None = None
        provisioned = False
        redirects = 0
        renegotiated = False
        throttle = Backoff(self.settings.retry)
        resent_149 = False
        device_info_resent = False
        while True:
            version = self.version
            if version != built_for:
                request = body(version) if callable(body) else body
                payload = wbxml.encode(request) if request is not None else None
                built_for = version
            try:
                response = self._post(
                    cmd, payload, timeout=timeout, idempotent=idempotent, fail_fast=fail_fast
                )
            except ProvisionRequired:
                if provisioned:
                    raise ProvisionError(
                        f"account {self.name!r}: the server still demands provisioning after "
                        "a successful Provision (HTTP 449)",
                        status=449,
                        hint="the device may be quarantined: give the administrator "
                        f"DeviceId {self.device_id} and DeviceType {self.device_type}",
                    ) from None
                self.provision()
                provisioned = True
                continue
            except AccessDenied:
                # ≤12.1 servers send 403 for a missing policy key: provision once (§2.5)
                if provisioned or self._state.policy_key is not None:
                    raise self.device_blocked(403) from None
                try:
                    self.provision()
                except ProvisionError:
                    raise self.device_blocked(403) from None
                provisioned = True
                continue
            except Redirected as redirect:
                redirects += 1
                if redirects > _MAX_REDIRECTS:
                    raise ServerError(
                        f"account {self.name!r}: too many HTTP 451 redirects", status=451
                    ) from None
                self._follow_redirect(redirect.location)
                continue
            except VersionRejected as refused:
                self._recover_from_refused_version(refused, version)
                continue

            self._notice_version_announcements(cmd, response)
            if not response.content:
                return None
            try:
                root = wbxml.decode(response.content)
            except ProtocolError:
                failed = broken_off(cmd, self._transport.host, self.name, response.content)
                if failed is None:
                    raise
                raise failed from None
            status = cmds.top_level_status(root)
            if status is None or status < 100:
                return root
            # common statuses (§2.6)
            if status == 140 and provisioned:
                self._remote_wipe_requested()
            # 140 (wipe requested): Provision, which carries RemoteWipe and raises
            # RemoteWipeRequested; 142–144: provision and retry once.
            if status in (140, 142, 143, 144) and cmd != "Provision":
                if provisioned:
                    raise ProvisionError(
                        f"account {self.name!r}: policy still refused after provisioning "
                        f"(status {status})",
                        status=status,
                    )
                self.provision()
                provisioned = True
                continue
            if status == 140:
                self._remote_wipe_requested()
            if status in (110, 111):
                if throttle.wait():
                    continue
                problem = "a server error" if status == 110 else "a transient problem"
                raise ThrottledError(
                    f"account {self.name!r}: the server reports {problem} "
                    f"(status {status}) and asks to retry later"
                )
            if (
                status in (138, 165)
                and not device_info_resent
                and not (cmd == "Settings" and self._sending_device_info)
            ):
                # Exchange Online (16.1 only since March 2026) answers Status 138 or 165
                # until it has seen Settings/DeviceInformation, even from a provisioned
                # device (issue 15): send it, then retry once.
                device_info_resent = True
                self._send_device_information(reason=f"{cmd} status {status}")
                continue
            if status in (137, 138) and not renegotiated and self._pinned == versions.AUTO:
                self.negotiate()
                renegotiated = True
                continue
            if status == 149 and not resent_149:
                resent_149 = True  # cached request lost: we always send full requests
                continue
            self._raise_common(cmd, status, request)

    def _post(
        self,
        cmd: str,
        payload: bytes | None,
        *,
        timeout: float | None,
        idempotent: bool,
        fail_fast: bool = False,
    ) -> HttpResponse:
        return self._transport.post(
            cmd,
            payload,
            version=self.version,
            policy_key=self._state.policy_key,
            timeout=timeout,
            idempotent=idempotent,
            fail_fast=fail_fast,
        )

    def _redirect_problem(self, current: str, target: str) -> str | None:
        return redirect_problem(
            current,
            target,
            domains=redirect_domains(self.settings.url, self.settings.redirect_domains),
            trusted_hosts=self.settings.redirect_trust,
        )

    def _stored_redirect(self) -> str | None:
        """The 451 target kept from an earlier run, if it still holds: answered for
        the URL configured now, and allowed by today's trust settings."""
        state = self._state
        if state.url is None:
            return None
        if state.url_from is None:
            why = "kept by an older eassync, which did not record for which url"
        elif state.url_from != self.settings.url:
            why = "the configured url changed since"
        else:
            why = self._redirect_problem(self.settings.url, state.url) or ""
        if not why:
            return state.url
        log.warning(
            "account %r: dropping the stored server move to %s (%s); using %s",
            self.name,
            state.url,
            why,
            self.settings.url,
        )
        state.url = state.url_from = state.protocol_version = None
        state.server_versions = []
        self._save()
        return None

    def _follow_redirect(self, location: str) -> None:
        """HTTP 451 (MS-ASHTTP 3.2.5.1): the mailbox moved. The new URL gets the
        password from now on, so it is checked first; a refused or malformed one is an
        error of this request and nothing is stored."""
        problem = self._redirect_problem(self.url, location)
        if problem:
            target = origin_of(location) if "://" in location else None
            raise ServerError(
                f"account {self.name!r}: the server at {self._transport.host} says the "
                f"mailbox moved (HTTP 451), but eassync will not follow: {problem}",
                status=451,
                hint=(
                    f"if {target.host} is really your mail server, add it to the account: "
                    f"autodiscover_trust: [{target.host}]"
                    if target is not None and target.scheme == "https"
                    else "the server sent an address eassync cannot use; ask its administrator"
                ),
            )
        log.warning(
            "account %r: the server moved the mailbox to %s (HTTP 451); using it from now "
            "on (until the configured url changes)",
            self.name,
            location,
        )
        self._transport.url = location
        self._state.url = location
        self._state.url_from = self.settings.url
        self._save()
        if self._pinned == versions.AUTO:
            self.negotiate()

    def _notice_version_announcements(self, cmd: str, response: HttpResponse) -> None:
        """``X-MS-RP`` / ``MS-ASProtocolVersions`` on a POST: the server wants us to
        re-check versions (§2.3; Z-Push sends it on a new device's first POST)."""
        if self._reprobed or self._pinned != versions.AUTO:
            return
        offered = versions.parse_header(iter_header_versions(response))
        if not offered:
            return
        self._reprobed = True
        self._adopt_versions(offered, source=f"{cmd} response")

    def device_blocked(self, status: int) -> DeviceBlocked:
        """The error for a refused user or device (Status 126/129/130/177, HTTP 403)."""
        reason, todo = _DEVICE_REFUSED[status]
        return DeviceBlocked(
            f"account {self.name!r} at {self._transport.host}: {reason}. For the "
            f"administrator: user {self.settings.username}, DeviceId {self.device_id}, "
            f"DeviceType {self.device_type}",
            device_id=self.device_id,
            device_type=self.device_type,
            status=status,
            hint=f"{todo} (DeviceId {self.device_id}, DeviceType {self.device_type}); "
            "admins allow, block and quarantine devices by DeviceType, model "
            "(device_model) and User-Agent (user_agent)",
        )

    def _raise_common(self, cmd: str, status: int, body: Element | None) -> None:
        where = f"account {self.name!r}"
        if status in _DEVICE_REFUSED:
            raise self.device_blocked(status)
        if status in _ACCOUNT_REFUSED:
            raise AuthError(
                f"{where}: {_ACCOUNT_REFUSED[status]}",
                hint="ask the server administrator; nothing to retry",
            )
        if 132 <= status <= 136:
            raise CollectionInvalidSyncKey(
                f"{where}: the server lost or locked the sync state (status {status})",
                collection_id=None,
                status=status,
            )
        if status == 165:
            raise ProvisionError(
                f"{where}: the server requires this device's DeviceInformation and did not "
                "accept it (status 165, DeviceInformationRequired)",
                status=status,
                hint="rerun with -vv and report the log",
            )
        if status in (139, 141, 145):
            raise ProvisionError(
                f"{where}: the device cannot be provisioned (status {status})", status=status
            )
        if 101 <= status <= 107:
            log.debug("%s request rejected with %s:\n%s", cmd, status, _xml(body))
            raise ServerError(
                f"{where}: the server rejected the {cmd} request as malformed (status {status})",
                status=status,
                hint="this is likely a bug in eassync; rerun with -vv and report the log",
            )
        if status in (112, 113, 114, 115):
            raise ServerError(
                f"{where}: mailbox unavailable or over quota (status {status})", status=status
            )
        raise ServerError(f"{where}: {cmd} failed with status {status}", status=status)

    # --- provisioning (§3) ---

    def _device_info(self) -> DeviceInfo:
        host = platform.node() or "localhost"
        return DeviceInfo(
            model=self.settings.device_model,
            friendly_name=self.settings.friendly_name or f"eassync on {host}",
            os=f"Linux {platform.release()}".strip() if platform.system() == "Linux" else "Linux",
            user_agent=self.user_agent,
        )

    def _device_fingerprint(self) -> str:
        info = self._device_info()
        fields = [info.model, info.friendly_name, info.os, info.os_language, info.user_agent]
        fields.append(self.device_type)
        return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:16]

    @property
    def device_information_sent(self) -> bool:
        """True when the server has been sent this device's current DeviceInformation."""
        return self._state.device_info == self._device_fingerprint()

    def ensure_device_information(self) -> bool:
        """Send Settings/DeviceInformation once per account at ≥14.1, and again when the
        device fields changed; True when it was sent now.

        MS-ASCMD 2.2.1.18.1: ≥14.1 clients send DeviceInformation; Exchange Online,
        16.1 only since March 2026, answers Provision 165 and Settings 138 until it has
        it, even where it never asked for provisioning (issue 15).
        """
        if not versions.at_least(self.version, "14.1") or self.device_information_sent:
            return False
        return self._send_device_information(reason="first contact")

    def send_device_information(self) -> bool:
        """Settings/DeviceInformation now, whatever was sent before; False when the
        server refused it (``eassync doctor``)."""
        return self._send_device_information(reason="asked for")

    def _send_device_information(self, *, reason: str) -> bool:
        """Settings/DeviceInformation now; remembered in the account state either way.

        A server that refuses it is noted (a warning), not fatal: sync may work without,
        and a server that needs it says so with Status 165 or 138, which sends it again.
        Remembering the refusal keeps a server without Settings from a warning per run.
        """
        log.info("account %r: sending Settings/DeviceInformation (%s)", self.name, reason)
        self._sending_device_info = True
        accepted = True
        try:
            self.settings_device_information()
        except ProvisionError as exc:
            if exc.status != 165:  # 165 here: refused, like any other Settings status
                raise
            accepted = self._refused_device_information(exc)
        except (AuthError, RemoteWipeRequested):
            raise
        except (ServerError, ProtocolError) as exc:
            accepted = self._refused_device_information(exc)
        finally:
            self._sending_device_info = False
        self._state.device_info = self._device_fingerprint()
        self._save()
        return accepted

    def _refused_device_information(self, exc: Exception) -> bool:
        log.warning("account %r: the server refused Settings/DeviceInformation: %s", self.name, exc)
        return False

    def _provision_call(self, body: Element, policy_key: str | None) -> cmds.ProvisionResult:
        try:
            response = self._transport.post(
                "Provision", wbxml.encode(body), version=self.version, policy_key=policy_key
            )
        except AccessDenied:
            raise self.device_blocked(403) from None
        except ProvisionRequired:
            raise ProvisionError(
                f"account {self.name!r}: the server answers Provision itself with HTTP 449",
                status=449,
            ) from None
        if not response.content:
            raise ProvisionError(f"account {self.name!r}: empty Provision answer")
        return cmds.parse_provision(wbxml.decode(response.content))

    def provision(self) -> None:
        """Two-phase Provision; the final policy key is kept in the account state.

        Status 165 (DeviceInformationRequired) although the request carried
        DeviceInformation (Exchange Online wants it by Settings first): send it by
        Settings, then provision once more.
        """
        resent_device_info = False
        while True:
            version = self.version
            try:
                self._provision(version)
                return
            except VersionRejected as refused:
                self._recover_from_refused_version(refused, version)
            except ProvisionError as exc:
                if exc.status != 165 or resent_device_info or self._sending_device_info:
                    raise
                resent_device_info = True
                if not self._send_device_information(reason="Provision status 165"):
                    raise

    def _provision(self, version: str) -> None:
        first = self._provision_call(
            cmds.build_provision_request(version, self._device_info()), policy_key="0"
        )
        if first.remote_wipe or first.account_only_wipe:
            self._remote_wipe_requested()
        self._check_provision(first, phase=1)
        if first.policy_status == 2 or (first.policy_key is None and first.policy_status is None):
            # "no policy for this client" (SOGo): carry on without a key
            log.info("account %r: server has no policy for this device", self.name)
            self._state.policy_key = None
            self._save()
            self._provisioned = True
            return
        if first.policy_status != 1 or not first.policy_key:
            raise ProvisionError(
                f"account {self.name!r}: Provision refused (policy status {first.policy_status})",
                status=first.policy_status,
            )
        second = self._provision_call(
            cmds.build_provision_ack(first.policy_key), policy_key=first.policy_key
        )
        if second.remote_wipe or second.account_only_wipe:
            self._remote_wipe_requested()
        self._check_provision(second, phase=2)
        final_key = second.policy_key
        if second.policy_status not in (None, 1) or not final_key:
            raise ProvisionError(
                f"account {self.name!r}: policy acknowledgement refused "
                f"(policy status {second.policy_status})",
                status=second.policy_status,
            )
        self._state.policy_key = final_key
        self._save()
        self._provisioned = True
        log.info("account %r: provisioned", self.name)

    def _check_provision(self, result: cmds.ProvisionResult, *, phase: int) -> None:
        if result.ok:
            return
        status = result.status
        if status == 140:
            self._remote_wipe_requested()
        if status is not None and status >= 100:
            self._raise_common("Provision", status, None)
        raise ProvisionError(
            f"account {self.name!r}: Provision phase {phase} failed (status {status})",
            status=status,
        )

    def _remote_wipe_requested(self) -> None:
        """Status 140 / RemoteWipe: stop at once; touch nothing local (§3, product rule)."""
        raise RemoteWipeRequested(
            f"the server of account {self.name!r} ({self._transport.host}) asked this device "
            "to wipe itself. eassync stopped and changed nothing locally.",
            hint=f"if this is expected, acknowledge it for account {self.name!r} explicitly; "
            "otherwise ask the server administrator to cancel the wipe",
        )

    def acknowledge_wipe(self) -> bool:
        """Acknowledge a pending remote wipe, then forget this account's EAS state.

        Only ever called on an explicit user command. Local collections are not
        touched. Returns False if the server has no wipe pending.
        """
        first = self._provision_call(
            cmds.build_provision_request(self.version, self._device_info()), policy_key="0"
        )
        if not (first.remote_wipe or first.account_only_wipe):
            return False
        body = cmds.build_wipe_ack(
            1, account_only=first.account_only_wipe and not first.remote_wipe
        )
        self._transport.post("Provision", wbxml.encode(body), version=self.version, policy_key="0")
        self._state_file.delete()
        log.warning("account %r: remote wipe acknowledged; account state removed", self.name)
        return True

    # --- FolderSync (§4) ---

    def folder_sync(self) -> list[Folder]:
        """Bring the folder map up to date and return every known folder.

        Status 9 (key rejected) → full FolderSync from "0", rebuilding the map; the
        differences are in :attr:`folder_changes` either way.
        """
        self.ensure_device_information()
        before = self._folders()
        key = self._state.folder_sync_key
        resynced = False
        try:
            result = self._folder_sync_request(key)
        except CollectionInvalidSyncKey:  # 132–136: server state gone
            result = None
        if result is None or result.status == 9 or (result.status == 11 and key != "0"):
            if key == "0" and result is not None:
                raise InvalidSyncKey(
                    f"account {self.name!r}: FolderSync rejected even the initial key",
                    status=result.status,
                )
            log.warning(
                "account %r: folder hierarchy state rejected; full folder resync", self.name
            )
            resynced = True
            result = self._folder_sync_request("0")
            self._state.folders = {}
        if result.status != 1:
            raise ServerError(
                f"account {self.name!r}: FolderSync failed with status {result.status}",
                status=result.status,
            )
        folders = self._state.folders
        for folder in [*result.added, *result.updated]:
            folders[folder.server_id] = FolderRecord(
                folder.parent_id, folder.display_name, folder.type
            )
        for server_id in result.deleted:
            folders.pop(server_id, None)
        if result.sync_key:
            self._state.folder_sync_key = result.sync_key
        self._save()
        after = self._folders()
        old = {f.server_id: f for f in before}
        new = {f.server_id: f for f in after}
        self.folder_changes = FolderChanges(
            resynced=resynced,
            appeared=[f for sid, f in new.items() if sid not in old],
            vanished=[f for sid, f in old.items() if sid not in new],
            changed=[f for sid, f in new.items() if sid in old and old[sid] != f],
        )
        if resynced and (self.folder_changes.vanished or self.folder_changes.appeared):
            log.warning(
                "account %r: after the folder resync %d folder(s) vanished, %d appeared",
                self.name,
                len(self.folder_changes.vanished),
                len(self.folder_changes.appeared),
            )
        return after

    def _folder_sync_request(self, key: str) -> cmds.FolderSyncResult:
        for attempt in (1, 2):
            root = self._execute("FolderSync", cmds.build_folder_sync(key))
            if root is None:
                raise ProtocolError(f"account {self.name!r}: empty FolderSync answer")
            result = cmds.parse_folder_sync(root)
            if result.status == 6 and attempt == 1:  # server error: retry once (§4)
                continue
            return result
        return result

    def _folders(self) -> list[Folder]:
        return [
            Folder.of(sid, rec.parent_id, rec.display_name, rec.type)
            for sid, rec in self._state.folders.items()
        ]

    def folders(self) -> list[Folder]:
        """The folder map as last synced (no request)."""
        return self._folders()

    # --- Sync (§5) ---

    def sync(
        self,
        collections: Sequence[CollectionRequest],
        *,
        wait: int | None = None,
        heartbeat: int | None = None,
    ) -> list[CollectionResponse]:
        """One Sync request (or several, if the server limits collections per request).

        Returns one response per requested collection, in request order. Raises
        :class:`CollectionInvalidSyncKey` (Status 3), ``FolderHierarchyChanged``
        (Status 12), ``ServerError`` for the rest. Item statuses stay in the
        responses for the engine.
        """
        if wait is not None and heartbeat is not None:
            raise ValueError("pass wait (minutes) or heartbeat (seconds), not both")
        if not collections:
            return []
        return self._sync(list(collections), wait, heartbeat)

    def _sync(
        self, collections: list[CollectionRequest], wait: int | None, heartbeat: int | None
    ) -> list[CollectionResponse]:
        retried = resent = adjusted = False
        # commands carried: a server failure may be one item's doing, which the engine
        # isolates (RequestFailed); an empty answer cannot be success (no new SyncKey)
        commands = sum(len(c.commands or ()) for c in collections)
        while True:

            def build(
                version: str, wait: int | None = wait, heartbeat: int | None = heartbeat
            ) -> Element:
                return cmds.build_sync(collections, version, wait=wait, heartbeat=heartbeat)

            timeout = None
            if wait is not None:
                timeout = wait * 60 + 30.0
            elif heartbeat is not None:
                timeout = heartbeat + 30.0
            root = self._execute("Sync", build, timeout=timeout, fail_fast=bool(commands))
            if root is None:
                if commands:
                    # Horde's fatal errors answer HTTP 200 with no body (horde-notes §6)
                    raise RequestFailed(
                        f"account {self.name!r}: the server answered a Sync carrying "
                        f"{commands} command(s) with an empty body (no new SyncKey)",
                        status=200,
                        hint="the server probably failed halfway (see the server's log); "
                        "the items it failed on are named and sent again later",
                    )
                # HTTP 200 without body: nothing changed (§5.6)
                return [_unchanged(c) for c in collections]
            parsed = cmds.parse_sync(root)
            # A whole-request status, or the first bad collection status, decides.
            status = parsed.status
            failing: str | None = None
            if status in (None, 1):
                status = None
                for coll in parsed.collections:
                    if coll.status != 1:
                        status, failing = coll.status, coll.collection_id
                        break
            if status is None:
                return _order(collections, parsed.collections)
            if commands and (status in (4, 6) or (status in (5, 16) and retried)):
                raise RequestFailed(
                    f"account {self.name!r}"
                    + (f", collection {failing!r}" if failing else "")
                    + f": the server failed on a Sync carrying {commands} command(s) "
                    f"(status {status})",
                    status=status,
                )
            if status in (5, 16) and not retried:
                retried = True
                log.info("account %r: Sync status %s; retrying once", self.name, status)
                continue
            if status == 13 and not resent:
                resent = True  # the server lost its cached request: resend it in full
                continue
            if status == 14 and not adjusted and (wait is not None or heartbeat is not None):
                adjusted = True
                if parsed.limit is None:
                    wait = heartbeat = None
                elif heartbeat is not None:
                    heartbeat = parsed.limit
                else:
                    wait = parsed.limit
                continue
            if status == 15 and parsed.limit and 0 < parsed.limit < len(collections):
                out: list[CollectionResponse] = []
                for start in range(0, len(collections), parsed.limit):
                    chunk = collections[start : start + parsed.limit]
                    out.extend(self._sync(chunk, wait, heartbeat))
                return out
            self._raise_sync_status(status, failing, collections, parsed, build(self.version))

    def _raise_sync_status(
        self,
        status: int,
        failing: str | None,
        collections: list[CollectionRequest],
        parsed: cmds.SyncResponse,
        request: Element,
    ) -> None:
        where = f"account {self.name!r}" + (f", collection {failing!r}" if failing else "")
        if status == 3:
            if failing is None and len(collections) == 1:
                failing = collections[0].collection_id
            others = [c for c in parsed.collections if c.collection_id != failing and c.status == 1]
            raise CollectionInvalidSyncKey(
                f"{where}: the server does not know our SyncKey (status 3)",
                collection_id=failing,
                others=others,
            )
        if status == 12:
            raise FolderHierarchyChanged(
                f"{where}: the folder hierarchy changed (status 12)",
                status=12,
                hint="folders are synced again on the next run",
            )
        if status == 4:
            log.debug("Sync request rejected with status 4:\n%s", _xml(request))
            raise ServerError(
                f"{where}: the server rejected the Sync request as malformed (status 4)",
                status=4,
                hint="this is likely a bug in eassync; rerun with -vv and report the log",
            )
        if status >= 100:
            self._raise_common("Sync", status, request)
        raise ServerError(f"{where}: Sync failed with status {status}", status=status)

    # --- other commands (§6) ---

    def get_item_estimate(
        self, collections: Sequence[tuple[str, str, int]]
    ) -> dict[str, int | None]:
        """Estimated pending changes per collection; None where the server could not
        tell (not primed, unknown collection, bad key). Informational only."""
        if not collections:
            return {}
        entries = [
            EstimateRequest(cid, key, ftype, self._class_of(cid)) for cid, key, ftype in collections
        ]
        root = self._execute(
            "GetItemEstimate", lambda version: cmds.build_get_item_estimate(entries, version)
        )
        result: dict[str, int | None] = dict.fromkeys((cid for cid, _, _ in collections), None)
        if root is None:
            return result
        for estimate in cmds.parse_get_item_estimate(root):
            result[estimate.collection_id] = estimate.estimate
        return result

    def _class_of(self, collection_id: str) -> str | None:
        rec = self._state.folders.get(collection_id)
        return cmds.folder_class(rec.type) if rec else None

    def fetch_item(self, collection_id: str, server_id: str, body_type: int = 1) -> Element:
        """ItemOperations Fetch of one item; returns its ``Properties`` element."""
        root = self._execute(
            "ItemOperations", cmds.build_fetch_item(collection_id, server_id, body_type)
        )
        return self._single_fetch(root, f"item {server_id!r} in {collection_id!r}")

    def fetch_attachment(self, file_reference: str) -> tuple[bytes, str | None]:
        root = self._execute("ItemOperations", cmds.build_fetch_attachment(file_reference))
        properties = self._single_fetch(root, f"attachment {file_reference!r}")
        return cmds.attachment_bytes(properties)

    def _single_fetch(self, root: Element | None, what: str) -> Element:
        if root is None:
            raise ProtocolError(f"account {self.name!r}: empty ItemOperations answer for {what}")
        result = cmds.parse_item_operations(root)
        if result.status != 1:
            raise ServerError(
                f"account {self.name!r}: ItemOperations failed for {what} (status {result.status})",
                status=result.status,
            )
        if not result.fetches:
            raise ProtocolError(f"account {self.name!r}: no Fetch result for {what}")
        fetch = result.fetches[0]
        if fetch.status in (6, 15):  # object / attachment not found
            raise NotFoundError(f"account {self.name!r}: {what} not found (status {fetch.status})")
        if fetch.status != 1 or fetch.properties is None:
            raise ServerError(
                f"account {self.name!r}: fetching {what} failed (status {fetch.status})",
                status=fetch.status,
            )
        return fetch.properties

    def ping(self, folders: Sequence[tuple[str, str]] | None, heartbeat: int | None) -> PingResult:
        """Wait for changes (§6.3). ``folders`` are (collection id, class) pairs; with
        neither folders nor heartbeat an empty Ping reuses the server's cached one."""
        body = cmds.build_ping(heartbeat, folders)
        if heartbeat is not None:
            self._last_heartbeat = heartbeat
        # the HTTP timeout must outlast the heartbeat (§6.3)
        timeout = float(self._last_heartbeat or 3540) + 30.0
        root = self._execute("Ping", body, timeout=timeout)
        if root is None:
            return PingResult(status=1)
        result = cmds.parse_ping(root)
        if result.status == 5 and result.heartbeat:
            self._last_heartbeat = result.heartbeat
        return result

    def settings_device_information(self) -> None:
        root = self._execute(
            "Settings", cmds.build_settings_device_information(self._device_info())
        )
        if root is None:
            return
        status, section = cmds.parse_settings_status(root, "DeviceInformation")
        if status != 1 or section not in (None, 1):
            raise ServerError(
                f"account {self.name!r}: Settings DeviceInformation failed "
                f"(status {status}/{section})",
                status=status if status != 1 else section,
            )

    def user_information(self) -> dict[str, object]:
        """``{"display_name", "primary_smtp_address", "addresses"}`` from Settings."""
        root = self._execute("Settings", cmds.build_user_information())
        if root is None:
            return {"display_name": None, "primary_smtp_address": None, "addresses": []}
        status, section = cmds.parse_settings_status(root, "UserInformation")
        if status != 1 or section not in (None, 1):
            raise ServerError(
                f"account {self.name!r}: Settings UserInformation failed "
                f"(status {status}/{section})",
                status=status if status != 1 else section,
            )
        info = cmds.parse_user_information(root)
        return {
            "display_name": info.display_name,
            "primary_smtp_address": info.primary_smtp_address,
            "addresses": list(info.addresses),
        }

    # --- commands a person runs by hand (eas/pim.py) ---

    def _pim(self, cmd: str, body: RequestBody, what: str) -> Element:
        try:
            root = self._execute(cmd, body, idempotent=cmd != "MeetingResponse")
        except VersionRejected as exc:
            raise ServerError(
                f"account {self.name!r}: the server does not offer {what} ({cmd}, HTTP "
                f"{exc.status})",
                status=exc.status,
            ) from None
        except (ProtocolError, RequestFailed) as exc:
            # Horde 5.2 dies on MeetingResponse and ResolveRecipients without IMAP or
            # with PHP 8 (an HTML error page, sometimes after a WBXML header)
            raise ServerError(
                f"account {self.name!r}: the server failed on {cmd} ({what}): {exc}",
                hint=f"if syncing works on this account, the server cannot do {cmd} "
                "(its log says why)",
            ) from None
        if root is None:
            raise ServerError(
                f"account {self.name!r}: the server answered {cmd} with an empty body: it "
                f"does not provide {what}"
            )
        return root

    def meeting_response(self, request: pim.MeetingRequest) -> pim.MeetingResult:
        """Answer one invitation (MS-ASCMD 2.2.1.11); ServerError unless Status 1."""
        root = self._pim(
            "MeetingResponse",
            lambda version: pim.build_meeting_response([request], version),
            "answering invitations",
        )
        results = pim.parse_meeting_response(root)
        result = results[0] if results else pim.MeetingResult(None, _status_of(root), None)
        if result.status != 1:
            reason = pim.MEETING_STATUS.get(result.status, "unknown status")
            raise ServerError(
                f"account {self.name!r}: the server refused the answer to item "
                f"{request.request_id!r} in {request.collection_id!r}: {reason} "
                f"(status {result.status})",
                status=result.status,
            )
        return result

    def search_gal(
        self, query: str, start: int, end: int, *, picture_max_size: int | None = None
    ) -> pim.GalPage:
        """One page of a GAL search (2.2.1.16); the Store status stays in the page."""
        root = self._pim(
            "Search",
            lambda version: pim.build_search_gal(
                query,
                start,
                end,
                version,
                picture_max_size=picture_max_size,
                max_pictures=end - start + 1 if picture_max_size else None,
            ),
            "the address book search (GAL)",
        )
        page = pim.parse_search_gal(root)
        if page.status != 1:
            raise ServerError(
                f"account {self.name!r}: the GAL search failed: "
                f"{pim.SEARCH_STATUS.get(page.status, 'unknown status')} (status {page.status})",
                status=page.status,
            )
        return page

    def availability(
        self, addresses: Sequence[str], start: datetime, end: datetime
    ) -> pim.ResolveResult:
        """Free/busy of up to 20 addresses (ResolveRecipients + Availability, 14.0+)."""
        if not versions.at_least(self.version, "14.0"):
            raise ServerError(
                f"account {self.name!r}: free/busy needs EAS 14.0; the server speaks "
                f"{self.version}",
                hint="a server offering 14.0 or later is needed (protocol_version: auto)",
            )
        root = self._pim(
            "ResolveRecipients",
            lambda version: pim.build_resolve_availability(addresses, start, end, version),
            "free/busy lookups",
        )
        result = pim.parse_resolve_recipients(root)
        if result.status != 1:
            raise ServerError(
                f"account {self.name!r}: the free/busy lookup failed (status {result.status})",
                status=result.status,
            )
        return result

    def oof_get(self, body_type: str = "Text") -> pim.OofSettings:
        root = self._pim("Settings", pim.build_oof_get(body_type), "out-of-office settings")
        self._require_oof(root)
        status, oof_status, settings = pim.parse_oof(root)
        self._check_oof(status, oof_status, "reading")
        if settings is None:
            raise ProtocolError(f"account {self.name!r}: the Oof answer holds no settings")
        return settings

    def oof_set(self, settings: pim.OofSettings) -> None:
        root = self._pim("Settings", pim.build_oof_set(settings), "out-of-office settings")
        self._require_oof(root)
        status, oof_status, _ = pim.parse_oof(root)
        self._check_oof(status, oof_status, "setting")

    def _require_oof(self, root: Element) -> None:
        # SOGo 5.8 without mail answers Status 1 and leaves the Oof part out: the
        # request was ignored, which must not read as success
        if root.tag == "Settings:Settings" and root.find("Settings:Oof") is None:
            raise ServerError(
                f"account {self.name!r}: the server ignores out-of-office requests (its "
                "Settings answer has no Oof part)",
                hint="set the reply in the server's web interface",
            )

    def _check_oof(self, status: int, oof_status: int | None, doing: str) -> None:
        bad = status if status != 1 else oof_status if oof_status not in (None, 1) else None
        if bad is not None and doing == "setting":
            # Horde 5.2 without a mail filter app (Ingo) answers every Set so
            raise ServerError(
                f"account {self.name!r}: the server did not set the out-of-office reply: "
                f"it answered {'Oof' if status == 1 else 'Settings'} Status {bad} "
                f"({pim.SETTINGS_STATUS.get(bad, 'unknown status')})",
                status=bad,
                hint="a server without an out-of-office function of its own refuses so; set "
                "the reply in the server's web interface",
            )
        if bad is not None:
            raise ServerError(
                f"account {self.name!r}: {doing} the out-of-office reply failed: "
                f"{pim.SETTINGS_STATUS.get(bad, 'unknown status')} (status {bad})",
                status=bad,
            )


def _status_of(root: Element) -> int:
    """A top-level Status, or 2 (an answer without a result is no success)."""
    return cmds.top_level_status(root) or 2


def redirect_domains(url: str, domains: Sequence[str]) -> tuple[str, ...]:
    """The domains an HTTP 451 may lead into without being listed: the configured
    host ``url`` (and its subdomains) and the account's own ``domains``."""
    configured = origin_of(url)
    return (*domains, *([configured.host] if configured else []))


def _unchanged(req: CollectionRequest) -> CollectionResponse:
    return CollectionResponse(req.collection_id, req.sync_key, 1)


def _order(
    requests_: list[CollectionRequest], responses: list[CollectionResponse]
) -> list[CollectionResponse]:
    """Responses in request order; a collection the server left out is unchanged."""
    by_id = {r.collection_id: r for r in responses}
    out: list[CollectionResponse] = []
    for req in requests_:
        resp = by_id.pop(req.collection_id, None)
        if resp is None:
            out.append(_unchanged(req))
            continue
        if not resp.sync_key:
            resp.sync_key = req.sync_key
        out.append(resp)
    out.extend(by_id.values())
    return out


def _xml(element: Element | None) -> str:
    if element is None:
        return "(empty)"
    try:
        return element.to_xml()
    except Exception:  # the XML view is a debugging aid; never fail because of it
        return repr(element)
