"""HTTP for EAS (MS-ASHTTP): one ``requests.Session`` per account, the request line
and headers of §2.1–2.2, HTTP status mapping (§2.5), bounded retries with back-off.

The transport moves bytes; it does not know commands. Statuses that need the
client's help (449 provision, 451 redirect, 501/505 or 400 with a version list:
renegotiate) are raised as :class:`HttpSignal` subclasses that the client catches;
everything else becomes an error of :mod:`eassync.errors`.
"""

from __future__ import annotations

import logging
import re
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
import urllib3

from eassync import __version__
from eassync.eas import trace
from eassync.eas.auth import Auth
from eassync.eas.versions import parse_header
from eassync.errors import (
    AuthError,
    CredentialsError,
    ProtocolError,
    RequestFailed,
    RequestTimeout,
    ServerError,
    ThrottledError,
    TLSError,
    TransportError,
)
from eassync.net import bounded
from eassync.net.origin import is_loopback, plain_http_warning
from eassync.net.reason import host_port, refused
from eassync.net.tls import CERTIFICATE, NOT_TLS, not_tls_hint, not_tls_message, tls_failure_kind

log = logging.getLogger(__name__)

#: Constant on every request: Exchange autoblock rules quarantine devices whose
#: User-Agent changes (MS-ASHTTP 3.1.4.1, eas-protocol.md §8).
USER_AGENT = f"eassync/{__version__}"
WBXML_TYPE = "application/vnd.ms-sync.wbxml"
MULTIPART_TYPE = "application/vnd.ms-sync.multipart"
WBXML_MAGIC = b"\x03\x01"  # WBXML 1.3, public id 1 (§1.1)

_RETRYABLE_HTTP = frozenset({500, 502, 503, 504})


@dataclass
class RetryPolicy:
    """Bounded back-off for transient failures; injectable so tests wait milliseconds."""

    attempts: int = 4  # total tries, the first included
    base_delay: float = 1.0
    max_delay: float = 30.0
    #: the sum of all waits for one request never exceeds this (Retry-After included)
    max_total_wait: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Wait before try number ``attempt + 1`` (attempt counts from 1)."""
        if retry_after is not None:
            # honoured as given; if it exceeds the budget the caller gives up at once
            return retry_after
        return min(self.base_delay * 2.0 ** (attempt - 1), self.max_delay)


class Backoff:
    """Tracks one request's retries against a :class:`RetryPolicy`."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.attempt = 1
        self.waited = 0.0

    def wait(self, retry_after: float | None = None, *, immediate: bool = False) -> bool:
        """Sleep before the next try; False when the budget is spent (give up).
        ``immediate`` retries without sleeping (still counted as an attempt)."""
        if self.attempt >= self.policy.attempts:
            return False
        pause = 0.0 if immediate else self.policy.delay(self.attempt, retry_after)
        if self.waited + pause > self.policy.max_total_wait:
            return False
        if pause > 0:
            self.policy.sleep(pause)
        self.waited += pause
        self.attempt += 1
        return True


@dataclass
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    content: bytes
    content_type: str

    def header_values(self, name: str) -> list[str]:
        """Every value of a header; ``requests`` joins repeated headers with commas."""
        value = self.headers.get(name)
        return [value] if value is not None else []


# --- signals the client handles ---------------------------------------------------------


class HttpSignal(ServerError):
    """An HTTP status the client reacts to (not an end state by itself)."""


class ProvisionRequired(HttpSignal):
    """HTTP 449: "retry after sending a Provision command" (§2.5)."""


class Redirected(HttpSignal):
    """HTTP 451: the mailbox lives at ``location`` (``X-MS-Location``)."""

    def __init__(self, message: str, *, location: str) -> None:
        super().__init__(message, status=451)
        self.location = location


class VersionRejected(HttpSignal):
    """HTTP 501/505, or 400 carrying the server's version list: the command or the
    protocol version we sent is not (or no longer) supported: renegotiate.

    ``offered`` holds the versions the answer listed (``MS-ASProtocolVersions`` /
    ``X-MS-RP``), empty when it listed none.
    """

    def __init__(self, message: str, *, status: int, offered: list[str] | None = None) -> None:
        super().__init__(message, status=status)
        self.offered = list(offered or [])


class AccessDenied(AuthError):
    """HTTP 403: user not enabled for EAS, device blocked; ≤12.1 also "no policy key"."""


# --- the transport ----------------------------------------------------------------------


class Transport:
    def __init__(
        self,
        *,
        account: str,
        url: str,
        username: str,
        device_id: str,
        device_type: str,
        auth: Auth,
        verify: bool | str = True,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        max_response_size: int = bounded.DEFAULT_MAX_SIZE,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self.account = account
        #: where each request and answer is written (``--trace``); the run's by default
        self.tracer = tracer if tracer is not None else trace.active()
        self.url = url
        self.username = username
        self.device_id = device_id
        self.device_type = device_type
        self.auth = auth
        #: the deadline of one whole request, from connecting to the last byte
        self.timeout = timeout
        #: the most bytes one answer may hold once decompressed
        self.max_response_size = max_response_size
        self.retry = retry or RetryPolicy()
        self.session = bounded.watch_session(session or requests.Session())
        self.session.auth = auth
        self.session.verify = verify
        self.session.headers["User-Agent"] = USER_AGENT
        self.verify = verify
        #: a WBXML answer came from this endpoint: a later HTML page is the server
        #: failing on one request, not a url that points at a web page
        self.answered_wbxml = False
        if verify is False:
            log.warning(
                "TLS certificate verification is OFF for account %r (verify: false)", account
            )
            warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
        plain = plain_http_warning(url, f"account {account!r}")
        if plain:
            log.warning("%s", plain)

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or self.url

    def close(self) -> None:
        self.session.close()

    # --- requests ---

    def options(self) -> HttpResponse:
        """``OPTIONS`` with Authorization only (§2.4)."""
        return self._send("OPTIONS", None, params=None, headers={}, idempotent=True, timeout=None)

    def post(
        self,
        cmd: str,
        body: bytes | None,
        *,
        version: str,
        policy_key: str | None,
        params: Mapping[str, str] | None = None,
        idempotent: bool = True,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
        fail_fast: bool = False,
    ) -> HttpResponse:
        """``fail_fast``: a server failure (HTTP 500/502/504) is raised at once as
        :class:`RequestFailed` instead of being retried here: the caller retries
        and isolates (a Sync carrying commands, where one item may be the cause)."""
        query = {
            "Cmd": cmd,
            "User": self.username,
            "DeviceId": self.device_id,
            "DeviceType": self.device_type,
        }
        query.update(params or {})
        headers = {"MS-ASProtocolVersion": version}
        # Not on Ping (MS-ASPROV 3.1.5.1); absent before provisioning (§2.2).
        if policy_key is not None and cmd != "Ping":
            headers["X-MS-PolicyKey"] = policy_key
        if body:
            headers["Content-Type"] = WBXML_TYPE
        headers.update(extra_headers or {})
        response = self._send(
            "POST",
            body,
            params=query,
            headers=headers,
            idempotent=idempotent,
            timeout=timeout,
            fail_fast=fail_fast,
        )
        self._check_body(cmd, response, known_endpoint=fail_fast)
        return response

    # --- machinery ---

    def _send(
        self,
        method: str,
        body: bytes | None,
        *,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str],
        idempotent: bool,
        timeout: float | None,
        fail_fast: bool = False,
    ) -> HttpResponse:
        backoff = Backoff(self.retry)
        refreshed = False
        fresh_connection_tried = False
        label = f"{method} {params.get('Cmd') if params else ''}".strip()
        limits = bounded.Limits(timeout or self.timeout, self.max_response_size)
        while True:
            try:
                raw = self._exchange(method, body, params, headers, limits, label)
            except RequestTimeout:
                # not retried: a server that dribbles would do it again, times attempts
                raise
            except requests.exceptions.SSLError as exc:
                raise self._tls_error(exc) from exc
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                if refused(exc) and is_loopback(self.host):
                    # nothing listens on this machine's port: no wait makes it listen
                    # (a refusal is no pooled connection gone stale either)
                    raise TransportError(
                        f"cannot reach {self.host} for account {self.account!r}: {_short(exc)}",
                        hint=f"nothing listens on {host_port(self.url)} on this machine: "
                        "start the server or fix the port in the url",
                    ) from exc
                # The first failure is retried at once on a new connection: sogod closes
                # every connection after its answer without saying so (sogo-notes Q15),
                # so a pooled connection can be dead before we write to it.
                immediate = not fresh_connection_tried
                fresh_connection_tried = True
                waited = backoff.waited
                if idempotent and backoff.wait(immediate=immediate):
                    # a wait is told at the default level: seconds of silence look hung
                    log.log(
                        logging.DEBUG if immediate else logging.WARNING,
                        "%s to %s failed (%s); retrying%s",
                        label,
                        self.host,
                        _short(exc),
                        "" if immediate else f" after {backoff.waited - waited:g} s",
                    )
                    continue
                raise TransportError(
                    f"cannot reach {self.host} for account {self.account!r}: {_short(exc)}",
                    hint="check the network and the url; run again later",
                ) from exc
            except requests.exceptions.RequestException as exc:  # a URL requests refuses
                raise TransportError(
                    f"account {self.account!r}: cannot send {label} to {self.url}: {_short(exc)}",
                    hint="check the url in the config",
                ) from exc

            status = raw.status_code
            log.debug("%s → HTTP %s (%d bytes)", label, status, len(raw.content))
            headers_in = raw.headers
            if status == 200:
                return HttpResponse(
                    status,
                    headers_in,
                    raw.content,
                    headers_in.get("Content-Type", "").split(";")[0].strip().lower(),
                )
            if status == 401:
                if not refreshed and self.auth.refresh():
                    refreshed = True
                    continue
                raise CredentialsError(
                    f"wrong username or password for account {self.account!r} at {self.host}",
                    hint="check username and password of the account in the config (with "
                    "password: {command: [...]}, what the command prints); `eassync doctor` "
                    "tries the login step by step",
                )
            if status in _RETRYABLE_HTTP and status != 503 and fail_fast:
                raise RequestFailed(
                    f"{self.host} failed on {label} (HTTP {status}) for account {self.account!r}",
                    status=status,
                )
            if status in _RETRYABLE_HTTP:
                retry_after = _retry_after(headers_in.get("Retry-After"))
                waited = backoff.waited
                if backoff.wait(retry_after):
                    log.warning(
                        "%s: HTTP %s from %s; retrying after %g s",
                        label,
                        status,
                        self.host,
                        backoff.waited - waited,
                    )
                    continue
                if status == 503:
                    raise ThrottledError(
                        f"{self.host} keeps answering 503 (busy or throttling) for account "
                        f"{self.account!r}",
                        retry_after=retry_after,
                    )
                raise TransportError(
                    f"{self.host} answered HTTP {status} for account {self.account!r} "
                    f"{backoff.attempt} times",
                    hint="the server has a problem; run again later",
                )
            self._raise_for_status(status, headers_in, label)

    def _exchange(
        self,
        method: str,
        body: bytes | None,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str],
        limits: bounded.Limits,
        label: str,
    ) -> requests.Response:
        """One try of a request; traced (``--trace``) whatever comes of it."""
        started = time.monotonic()
        try:
            raw = bounded.send(
                self.session,
                method,
                self.url,
                limits=limits,
                what=f"account {self.account!r} at {self.host}: {label}",
                params=params,
                data=body,
                headers=dict(headers),
                # per request: requests lets REQUESTS_CA_BUNDLE override session.verify
                verify=self.verify,
                # 451 is our redirect; a 30x to another host must not get credentials
                allow_redirects=False,
            )
        except Exception as exc:
            if self.tracer is not None:
                self._trace(method, params, headers, body, started, error=exc)
            raise
        if self.tracer is not None:
            self._trace(method, params, headers, body, started, raw=raw)
        return raw

    def _trace(
        self,
        method: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str],
        body: bytes | None,
        started: float,
        *,
        raw: requests.Response | None = None,
        error: BaseException | None = None,
    ) -> None:
        assert self.tracer is not None
        if raw is not None and raw.request is not None:
            # what went on the wire: the session's headers and the auth's too
            url = raw.request.url or self.url
            sent: Mapping[str, str] = raw.request.headers
        else:
            prepared = requests.Request(method, self.url, params=dict(params or {})).prepare()
            url = prepared.url or self.url
            sent = {**{k: str(v) for k, v in self.session.headers.items()}, **headers}
        exchange = trace.Exchange(
            method=method,
            url=url,
            request_headers=sent,
            request_body=body,
            status=raw.status_code if raw is not None else None,
            response_headers=raw.headers if raw is not None else None,
            response_body=raw.content if raw is not None else None,
            error=_short(error) if error is not None else None,
            seconds=time.monotonic() - started,
        )
        try:
            self.tracer.record(exchange)
        except OSError as exc:  # a full disk must not fail the sync it traces
            log.warning("cannot write the protocol trace to %s: %s", self.tracer.directory, exc)

    def _tls_error(self, exc: requests.exceptions.SSLError) -> TLSError:
        where = f"for account {self.account!r}"
        kind = tls_failure_kind(exc)
        if kind == NOT_TLS:
            return TLSError(
                f"account {self.account!r}: {not_tls_message(host_port(self.url))}",
                hint=not_tls_hint(),
            )
        if kind == CERTIFICATE:
            return TLSError(
                f"TLS certificate of {self.host} could not be verified {where}: {_short(exc)}",
                hint="if the server uses a private CA, set `verify: /path/to/ca.pem` "
                "for this account",
            )
        return TLSError(
            f"TLS handshake with {host_port(self.url)} failed {where}: {_short(exc)}",
            hint="check the port in the url; the server's TLS setup may be broken",
        )

    def _raise_for_status(self, status: int, headers: Mapping[str, str], label: str) -> None:
        where = f"account {self.account!r} at {self.host}"
        if status == 403:
            raise AccessDenied(
                f"{where}: not allowed to use ActiveSync (HTTP 403: user not enabled, or "
                "device blocked or quarantined)",
                hint="ask the server administrator to allow ActiveSync for this user/device",
            )
        if status == 449:
            raise ProvisionRequired(f"{where}: the server requires provisioning", status=449)
        if status == 451:
            location = headers.get("X-MS-Location")
            if not location:
                raise ServerError(
                    f"{where}: mailbox moved (HTTP 451) but no new address given",
                    status=451,
                    hint="run autodiscover or set the new server url in the config",
                )
            raise Redirected(f"{where}: mailbox moved to {location}", location=location)
        if status == 456:
            raise AuthError(
                f"{where}: the account is blocked (HTTP 456)",
                hint="contact the server administrator",
            )
        if status == 457:
            service = headers.get("X-MS-Credential-Service-Url")
            raise AuthError(
                f"{where}: the password has expired (HTTP 457)",
                hint=f"change it at {service}" if service else "change the password, then rerun",
            )
        offered = parse_header(_header_versions(headers))
        if status in (501, 505):
            raise VersionRejected(
                f"{where}: {label} or the protocol version is not supported (HTTP {status})",
                status=status,
                offered=offered,
            )
        if status == 400 and offered:
            # A version list on a POST answer means "re-initialise" (MS-ASHTTP 2.2.2.1.2.8,
            # 3.2.5.1); with 400 it is how a server refuses the MS-ASProtocolVersion we
            # sent, e.g. after a downgrade (the devserver answers so too).
            raise VersionRejected(
                f"{where}: the server refused the protocol version sent with {label} "
                f"(HTTP 400; it offers {', '.join(offered)})",
                status=400,
                offered=offered,
            )
        if status == 404:
            raise ServerError(
                f"{where}: not an ActiveSync endpoint (HTTP 404)",
                status=404,
                hint="check the url (usually https://host/Microsoft-Server-ActiveSync)",
            )
        if status == 507:
            raise ServerError(f"{where}: mailbox full (HTTP 507)", status=507)
        if status == 400:
            raise ServerError(
                f"{where}: the server rejected the {label} request as malformed (HTTP 400)",
                status=400,
                hint="rerun with -vv and report the logged request",
            )
        raise ServerError(f"{where}: unexpected HTTP {status} for {label}", status=status)

    def _check_body(self, cmd: str, response: HttpResponse, *, known_endpoint: bool) -> None:
        """200 with a body that is not WBXML (an HTML login page, JSON) is an error (§2.3)."""
        body = response.content
        kind = response.content_type
        if body.startswith(WBXML_MAGIC) and _page_after_header(body):
            # Horde 5.2 may write a WBXML header and then die with a PHP error page
            # (MeetingResponse without IMAP): the page is the answer
            body, kind = body[_WBXML_HEADER_LEN:], "a WBXML header, then a page"
        elif body.startswith(WBXML_MAGIC) or response.content_type == MULTIPART_TYPE:
            self.answered_wbxml = True
            return
        if not body:
            return
        if self.answered_wbxml or known_endpoint or cmd in _DATA_COMMANDS:
            # the endpoint answered WBXML before (data commands follow a FolderSync):
            # this page is the server failing (Horde 5.2 when PHP dies), not a wrong url
            raise RequestFailed(
                f"{self.host} failed on {cmd} for account {self.account!r}: it answered "
                f"{_page_summary(body, kind)} instead of WBXML",
                status=200,
                hint="the server failed on this request: see the server's log",
            )
        hint = "the url probably points at a web page, not the ActiveSync endpoint"
        raise ProtocolError(
            f"{cmd} answer from {self.host} is not WBXML: it is {_page_summary(body, kind)}",
            hint=hint,
        )


#: version, public id, charset (UTF-8) and string table length, one byte each
_WBXML_HEADER_LEN = 4


def _page_after_header(body: bytes) -> bool:
    """A WBXML header followed by text markup: no WBXML token is ``<`` (0x3C would be
    a tag beyond every code page), so this is a page, not a document."""
    return body[_WBXML_HEADER_LEN : _WBXML_HEADER_LEN + 1] == b"<"


def _page_summary(body: bytes, content_type: str) -> str:
    """An error page in a few words: its HTML title (the server's own words, e.g.
    "Horde :: Fatal Error"), else the start of its text."""
    text = body[:4096].decode("utf-8", "replace")
    found = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    words = found.group(1) if found else re.sub(r"<[^>]*>", " ", text)
    words = " ".join(words.split())[:120]
    kind = content_type or "an answer without Content-Type"
    return f"{kind} {words!r}" if words else kind


#: where an error page starts inside an answer that began as WBXML
_PAGE_START = re.compile(rb"<(?:html|!doctype|head|body|br|b>|h1|p>)", re.IGNORECASE)


def broken_off(cmd: str, host: str, account: str, body: bytes) -> RequestFailed | None:
    """The failure of an answer that starts as WBXML and breaks off into an error page
    (Horde 5.2 at 16.0 when a PHP exception is thrown mid-answer, as for a series with
    exceptions: horde-notes 5); None when no page is found (the bytes are just bad).
    Only asked once decoding failed: a good document may hold such text in a string."""
    found = _PAGE_START.search(body, _WBXML_HEADER_LEN)
    if found is None:
        return None
    page = _page_summary(body[found.start() :], "a page")
    return RequestFailed(
        f"{host} failed on {cmd} for account {account!r}: its answer broke off after "
        f"{found.start()} bytes into {page}",
        status=200,
        hint="the server failed while answering: see the server's log. A server that fails "
        'so only at EAS 16.x may work with protocol_version: "14.1" in the account (Horde '
        "5.2 fails at 16.0 to send a series with moved or deleted occurrences)",
    )


#: commands sent only after the endpoint answered FolderSync: a web page there is an error
_DATA_COMMANDS = frozenset({"Sync", "ItemOperations", "MoveItems", "GetItemEstimate", "Ping"})


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _short(exc: BaseException) -> str:
    """The reason a person can act on: the innermost OS error ("Connection refused",
    "Name or service not known") rather than urllib3's pool message, which repeats the
    whole query string."""
    reason = _os_reason(exc)
    text = reason or str(exc)
    return text if len(text) <= 200 else text[:197] + "..."


def _os_reason(exc: BaseException) -> str | None:
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if (
            isinstance(cause, OSError)
            and not isinstance(cause, requests.RequestException)
            and cause.strerror
        ):
            return str(cause.strerror)
        nested = getattr(cause, "reason", None)
        if not isinstance(nested, BaseException) and cause.args:
            nested = cause.args[0]
        if not isinstance(nested, BaseException):
            nested = cause.__cause__ or cause.__context__
        cause = nested
    return None


def iter_header_versions(response: HttpResponse) -> Iterator[str]:
    return _header_versions(response.headers)


def _header_versions(headers: Mapping[str, str]) -> Iterator[str]:
    """Values of the headers that carry a version list on a POST answer (§2.3)."""
    for name in ("MS-ASProtocolVersions", "X-MS-RP"):
        value = headers.get(name)
        if value is not None:
            yield value
