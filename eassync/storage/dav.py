"""CalDAV calendars / task lists and CardDAV address books as the local side.

- ident = the item's href path (percent-encoding normalised, see ``davxml.normalize_href``);
  an item keeps its href once created;
- etag  = the server's ETag, exactly as sent (quotes included), used in ``If-Match``;
- token = ``sync:<RFC 6578 sync-token>`` where the server offers sync-collection (a
  no-op run is one REPORT), else ``ctag:<getctag or sync-token property>`` with a
  full etag listing whenever it moved.

Items are read in batches with calendar-multiget / addressbook-multiget. Writes are
guarded (``If-None-Match: *`` for adds, ``If-Match`` for updates and deletes): a 412
is a :class:`PreconditionFailed`, which the engine treats as a conflict to decide on
the next pass, never a lost update.

In a calendar holding both events and tasks (Radicale's and Nextcloud's default),
a pair sees only its own component: listings use calendar-query, and objects of
another component met through sync-collection read as "not found" (skipped).
One calendar object resource holds every component with one UID (a series and its
exceptions, RFC 4791 §4.1), which is exactly one item for the calendar conversion.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import requests
from requests.auth import HTTPDigestAuth

from eassync.errors import (
    ConfigError,
    CredentialsError,
    EassyncError,
    ItemError,
    NotFoundError,
    PreconditionFailed,
    ProtocolError,
    ResponseTooLarge,
    ServerError,
    StorageError,
    TLSError,
    TransportError,
)
from eassync.model.items import Changes, Item
from eassync.net import bounded
from eassync.net.origin import may_follow, origin_of, plain_http_warning
from eassync.net.reason import host_port
from eassync.net.tls import NOT_TLS, not_tls_hint, not_tls_message, tls_failure_kind
from eassync.storage import davxml
from eassync.storage.davxml import CALDAV, CARDDAV, CS, q
from eassync.storage.vdir import file_name_for_uid, inspect_text

if TYPE_CHECKING:
    from eassync.config import StorageConfig
    from eassync.convert.base import ContentHandler
    from eassync.pairs import Selection

log = logging.getLogger(__name__)

#: the calendar component a pair of this kind syncs (None: CardDAV)
KIND_COMPONENT: dict[str, str | None] = {"calendar": "VEVENT", "tasks": "VTODO", "contacts": None}
#: hrefs per multiget REPORT: big enough to save round trips, small enough for any server
MULTIGET_BATCH = 100
#: seconds to connect; the whole request's deadline is the storage's ``timeout``
CONNECT_TIMEOUT = 15.0
#: seconds one whole request may take by default (a PUT into a big Radicale collection
#: can take a while); the storage key ``timeout``
DEFAULT_TIMEOUT = 120.0
#: sync-collection answers that are truncated (RFC 6578 §3.6) are continued at most this often
MAX_SYNC_ROUNDS = 1000

_CONTENT_TYPE = {"caldav": "text/calendar; charset=utf-8", "carddav": "text/vcard; charset=utf-8"}
_FILE_EXT = {"caldav": ".ics", "carddav": ".vcf"}
_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9._-]{1,64}\Z")


def _is_reset(exc: requests.exceptions.ConnectionError) -> bool:
    """A connection the server closed or reset (not: refused, DNS, timeout)."""
    text = str(exc)
    return any(
        marker in text
        for marker in ("Connection aborted", "RemoteDisconnected", "ConnectionResetError")
    )


class _DigestAuth(HTTPDigestAuth):
    """Digest auth that never reads the body of the 401 it answers: requests' own
    handler reads it whole (``r.content``), past max_response_size, so a gzip bomb
    in a 401 grew the process to 2 GB. The connection is dropped instead."""

    def handle_401(self, r: requests.Response, **kwargs: Any) -> requests.Response:
        challenge = r.headers.get("www-authenticate", "").lower()
        if r.status_code == 401 and "digest" in challenge:
            r.raw.close()  # the unread body goes with its connection
            r._content = b""
            r._content_consumed = True  # type: ignore[attr-defined]
        return super().handle_401(r, **kwargs)  # type: ignore[no-untyped-call, no-any-return]


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _redact(url: str) -> str:
    """The URL without any user:password@ part, for messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


class DavSession:
    """HTTP to one DAV server: one keep-alive session, Basic auth (Digest when the
    server asks for it), TLS verified unless the config says otherwise, and errors
    that name the server, the collection and the HTTP status.

    The login goes only to the origin of ``base_url`` (scheme, host, port; without
    it: of the first URL requested) and to the hosts in ``trust``: a redirect or a
    discovered URL leading elsewhere, or from https down to http, is refused before
    anything is sent there. Every request ends within ``timeout`` seconds, and an
    answer may hold ``max_response_size`` bytes once decompressed.
    """

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        verify: bool | str = True,
        label: str = "DAV",
        base_url: str | None = None,
        trust: Sequence[str] = (),
        timeout: float = DEFAULT_TIMEOUT,
        max_response_size: int = bounded.DEFAULT_MAX_SIZE,
    ) -> None:
        self.session = bounded.watch_session(requests.Session())
        self.session.headers["User-Agent"] = "eassync"
        self.username = username
        self.password = password
        if username is not None:
            self.session.auth = (username, password or "")
        self.verify = verify
        if verify is False:
            log.warning("TLS certificate verification is OFF for this DAV storage (verify: false)")
        self.label = label
        self.origin = origin_of(base_url) if base_url else None
        self.trust = tuple(trust)
        self.limits = bounded.Limits(timeout, max_response_size)
        if base_url and username is not None:
            plain = plain_http_warning(base_url, f"{label} storage")
            if plain:
                log.warning("%s", plain)
        #: HTTP requests sent (benchmarks and logs)
        self.requests = 0
        #: whether the last request() was sent again after a connection reset
        self.last_was_retried = False

    def close(self) -> None:
        self.session.close()

    def check_url(self, url: str, *, how: str = "a discovered URL") -> None:
        """Refuse ``url`` unless it is on our origin or a trusted host (see class doc);
        ``how`` says how the server pointed there, for the message."""
        target = origin_of(url)
        if self.origin is None and target is not None:
            self.origin = target  # the first URL requested is the configured one
        if target is None:
            raise ProtocolError(f"{self.label}: {how} is no http(s) URL: {_redact(url)!r}")
        assert self.origin is not None
        problem = may_follow(self.origin, target, self.trust)
        if problem is None:
            return
        host = (
            target.host
            if target.port == _default_port(target.scheme)
            else (f"{target.host}:{target.port}")
        )
        raise ServerError(
            f"{self.label} {self.origin}: refusing to follow {how} to {_redact(url)}: "
            f"{problem}; eassync sends the login only to {self.origin}",
            hint=(
                f"if {host} is really part of your DAV server, add it to the storage: "
                f"trust: [{host}]"
                if not problem.startswith("it leads from https")
                else "the server points at an unencrypted address; ask its administrator"
            ),
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        depth: str | None = None,
        where: str = "",
        how: str = "a discovered URL",
    ) -> requests.Response:
        """Send one request; transport problems become eassync errors. HTTP error
        statuses are returned: what they mean depends on the call."""
        all_headers = dict(headers or {})
        if depth is not None:
            all_headers["Depth"] = depth
        if body is not None and "Content-Type" not in all_headers:
            all_headers["Content-Type"] = "application/xml; charset=utf-8"
        self.last_was_retried = False
        for attempt in range(3):
            self.check_url(url, how=how)
            self.requests += 1
            try:
                response = bounded.send(
                    self.session,
                    method,
                    url,
                    limits=self.limits,
                    what=f"{self.label} {_redact(url)}: {method}",
                    connect_timeout=CONNECT_TIMEOUT,
                    data=body,
                    headers=all_headers,
                    # per request: requests lets REQUESTS_CA_BUNDLE override session.verify
                    verify=self.verify,
                    allow_redirects=False,
                )
            except requests.exceptions.SSLError as exc:
                if tls_failure_kind(exc) == NOT_TLS:
                    raise TLSError(
                        f"{self.label}: {not_tls_message(host_port(url))}", hint=not_tls_hint()
                    ) from None
                raise TLSError(
                    f"{self.label} {_redact(url)}: TLS verification failed: {exc}",
                    hint="if the server uses a private CA, set `verify: /path/to/ca.pem` "
                    "for this storage",
                ) from None
            except requests.exceptions.ConnectionError as exc:
                if attempt == 0 and _is_reset(exc):
                    # SOGo (and proxies) drop idle keep-alive connections: the request
                    # met a closed socket. Once more on a fresh connection; add() knows
                    # (last_was_retried) that its first attempt may have landed.
                    log.debug("%s %s: connection reset, retrying once", method, _redact(url))
                    self.last_was_retried = True
                    continue
                raise TransportError(
                    f"{self.label} {_redact(url)}: {method} failed: {type(exc).__name__}: {exc}"
                ) from None
            except requests.exceptions.RequestException as exc:
                raise TransportError(
                    f"{self.label} {_redact(url)}: {method} failed: {type(exc).__name__}: {exc}"
                ) from None
            if (
                response.status_code == 401
                and not isinstance(self.session.auth, HTTPDigestAuth)
                and self.username is not None
                and "digest" in response.headers.get("WWW-Authenticate", "").lower()
            ):
                # the server wants Digest (RFC 7616): switch once and for all
                self.session.auth = _DigestAuth(self.username, self.password or "")
                continue
            if response.status_code in (301, 302, 307, 308) and method in ("PROPFIND",):
                location = response.headers.get("Location")
                if location and url != urljoin(url, location):
                    url = urljoin(url, location)
                    how = f"a redirect (HTTP {response.status_code})"
                    continue
            return response
        return response

    def fail(self, response: requests.Response, what: str) -> EassyncError:
        """The error to raise for an unexpected answer to ``what``."""
        status = response.status_code
        message = f"{self.label} {what}: HTTP {status} {response.reason or ''}".rstrip()
        if status == 401:
            return CredentialsError(
                message + " (login refused)",
                hint="check username and password of this storage",
            )
        if status == 403:
            return ServerError(message + " (forbidden)", status=status)
        if status == 404:
            return NotFoundError(message + " (no such collection or item)")
        if status >= 500:
            return TransportError(message + " (server error; try again later)")
        return ServerError(message, status=status)

    def multistatus(
        self,
        method: str,
        url: str,
        body: bytes,
        *,
        depth: str,
        what: str,
    ) -> davxml.Multistatus:
        response = self.request(method, url, body=body, depth=depth)
        if response.status_code != 207:
            raise self.fail(response, what)
        try:
            return davxml.parse_multistatus(response.content, url)
        except ProtocolError as exc:
            raise ProtocolError(f"{self.label} {what}: {exc}") from None


# --- the storage -----------------------------------------------------------------------------


@dataclass
class _Listing:
    etags: dict[str, str]
    token: str | None


class DavStorage:
    """One CalDAV calendar (or task list) or CardDAV address book."""

    def __init__(
        self,
        session: DavSession,
        url: str,
        dav_type: str,
        *,
        component: str | None = None,
        read_only: bool = False,
        rediscover: Callable[[], str] | None = None,
    ) -> None:
        if dav_type not in ("caldav", "carddav"):
            raise ConfigError(f"unknown DAV storage type {dav_type!r}")
        self.session = session
        self._set_url(url)
        #: finds the collection again when a remembered URL is gone (see open_dav_storage)
        self._rediscover = rediscover
        self.dav_type = dav_type
        self.component = component if dav_type == "caldav" else None
        self.read_only = read_only
        #: None = not known yet; False once the server refused sync-collection
        self.supports_sync: bool | None = None

    def _set_url(self, url: str) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.path = davxml.normalize_href(self.url, self.url)
        self.location = _redact(self.url)

    def __repr__(self) -> str:
        return f"DavStorage({self.location!r}, {self.dav_type!r}, {self.component!r})"

    @property
    def request_count(self) -> int:
        """HTTP requests this storage's session sent so far."""
        return self.session.requests

    def _url(self, ident: str) -> str:
        return urljoin(self.url, ident)

    def _what(self, method: str, ident: str | None = None) -> str:
        target = f" {ident}" if ident else ""
        return f"{self.location}: {method}{target}"

    def _check_ident(self, ident: str) -> None:
        """An ident is a member href of this collection, nothing else."""
        if not ident.startswith(self.path) or ident == self.path or "/" in ident[len(self.path) :]:
            raise ItemError(
                f"{self.location}: refusing href {ident!r} outside this collection",
                ident=ident,
                hint="the status may be corrupt; run `eassync repair`",
            )

    def _is_member(self, href: str) -> bool:
        return href.startswith(self.path) and href != self.path and not href.endswith("/")

    # --- listings ------------------------------------------------------------------------------

    def list(self) -> Iterator[tuple[str, str]]:
        yield from self._etag_listing().items()

    def _etag_listing(self) -> dict[str, str]:
        """href → etag of every member (of our component, for calendars)."""
        if self.component:
            ms = self.session.multistatus(
                "REPORT",
                self.url,
                davxml.calendar_query_etags(self.component),
                depth="1",
                what=self._what("REPORT calendar-query"),
            )
        else:
            ms = self.session.multistatus(
                "PROPFIND",
                self.url,
                davxml.propfind("D:getetag", "D:resourcetype"),
                depth="1",
                what=self._what("PROPFIND"),
            )
        etags = {}
        for r in ms.responses:
            if r.status == 404 and davxml.same_collection(r.href, self.path):
                # Xandikos answers 207 with a 404 inside for a missing collection
                raise NotFoundError(
                    f"{self.session.label} {self._what('PROPFIND')}: HTTP 404 (no such collection)"
                )
            etag = r.text(q("getetag"))
            if not self._is_member(r.href) or r.resource_types() or not etag:
                continue
            etags[r.href] = etag
        return etags

    def _ctag(self) -> str | None:
        """The collection's change tag: getctag (calendarserver), else the sync-token
        property (RFC 6578 §4), else None."""
        ms = self.session.multistatus(
            "PROPFIND",
            self.url,
            davxml.propfind("CS:getctag", "D:sync-token"),
            depth="0",
            what=self._what("PROPFIND"),
        )
        for r in ms.responses:
            if davxml.same_collection(r.href, self.path):
                return r.text(q("getctag", CS)) or r.text(q("sync-token"))
        return None

    def changes(self, token: str | None, known: Mapping[str, str]) -> Changes:
        try:
            return self._changes(token, known)
        except NotFoundError:
            if self._rediscover is None:
                raise
            # the remembered collection URL is gone (renamed, recreated): look again
            rediscover, self._rediscover = self._rediscover, None
            self._set_url(rediscover())
            return self._changes(None, known)

    def _changes(self, token: str | None, known: Mapping[str, str]) -> Changes:
        # A status row whose etag is not known (empty) must be looked at whatever the
        # token says: only a full listing tells its current etag.
        if token is not None and any(not etag for etag in known.values()):
            token = None
        if self.supports_sync is not False and not (token or "").startswith("ctag:"):
            sync_token = token[5:] if token and token.startswith("sync:") else None
            result = self._sync_changes(sync_token, known)
            if result is not None:
                return result
        return self._ctag_changes(token, known)

    def _sync_changes(self, sync_token: str | None, known: Mapping[str, str]) -> Changes | None:
        """Changes through sync-collection; None when the server does not offer it."""
        try:
            delta, gone, new_token, full = self._sync_collection(sync_token)
        except _SyncTokenInvalid:
            log.info("%s: sync-token no longer valid; listing the collection", self.location)
            try:
                delta, gone, new_token, full = self._sync_collection(None)
            except (_SyncTokenInvalid, _SyncUnsupported):
                self.supports_sync = False
                return None
        except _SyncUnsupported:
            self.supports_sync = False
            return None
        self.supports_sync = True
        changed = {href: etag for href, etag in delta.items() if known.get(href) != etag}
        if full:
            deleted = {href for href in known if href not in delta}
        else:
            deleted = {href for href in gone if href in known}
        return Changes(changed=changed, deleted=deleted, token=f"sync:{new_token}")

    def _sync_collection(self, token: str | None) -> tuple[dict[str, str], set[str], str, bool]:
        """(changed href → etag, removed hrefs, new token, whether it was a full listing)."""
        full = token is None
        delta: dict[str, str] = {}
        gone: set[str] = set()
        for _ in range(MAX_SYNC_ROUNDS):
            response = self.session.request(
                "REPORT", self.url, body=davxml.sync_collection(token), depth="0"
            )
            status = response.status_code
            conditions = davxml.error_conditions(response.content) if status >= 400 else set()
            # RFC 6578 §3.2 says 403/409 + valid-sync-token; Xandikos answers 412. A token
            # refused in any such way is retried once as a full listing.
            if token and (q("valid-sync-token") in conditions or status in (403, 409, 412)):
                raise _SyncTokenInvalid
            if status in (400, 403, 405, 409, 415, 422, 501):
                raise _SyncUnsupported
            if status != 207:
                raise self.session.fail(response, self._what("REPORT sync-collection"))
            try:
                ms = davxml.parse_multistatus(response.content, self.url)
            except ProtocolError as exc:
                raise ProtocolError(f"{self._what('REPORT sync-collection')}: {exc}") from None
            if ms.sync_token is None:
                raise _SyncUnsupported
            truncated = False
            for r in ms.responses:
                if davxml.same_collection(r.href, self.path):
                    truncated = r.status == 507  # RFC 6578 §3.6: ask again from the new token
                    continue
                if not self._is_member(r.href):
                    continue
                etag = r.text(q("getetag"))
                if r.status == 404 or (etag is None and r.missing.get(q("getetag")) == 404):
                    delta.pop(r.href, None)
                    gone.add(r.href)
                elif etag:
                    gone.discard(r.href)
                    delta[r.href] = etag
            token = ms.sync_token
            if not truncated:
                return delta, gone, token, full
        raise ProtocolError(f"{self._what('REPORT sync-collection')}: answer never completes")

    def _ctag_changes(self, token: str | None, known: Mapping[str, str]) -> Changes:
        ctag = self._ctag()
        new_token = f"ctag:{ctag}" if ctag else None
        if new_token is not None and token == new_token:
            return Changes(token=new_token)
        listing = self._etag_listing()
        changed = {href: etag for href, etag in listing.items() if known.get(href) != etag}
        deleted = {href for href in known if href not in listing}
        return Changes(changed=changed, deleted=deleted, token=new_token)

    # --- reading -------------------------------------------------------------------------------

    def get(self, ident: str) -> tuple[Item, str]:
        ((_, result, etag),) = self.get_many([ident])
        if isinstance(result, Exception):
            raise result
        return result, etag

    def get_many(self, idents: Iterable[str]) -> Iterator[tuple[str, Item | Exception, str]]:
        batch: list[str] = []
        seen: set[str] = set()
        for ident in idents:
            if ident in seen:
                continue
            seen.add(ident)
            try:
                self._check_ident(ident)
            except ItemError as exc:
                yield ident, exc, ""
                continue
            batch.append(ident)
            if len(batch) >= MULTIGET_BATCH:
                yield from self._multiget(batch)
                batch = []
        if batch:
            yield from self._multiget(batch)

    def _multiget(self, idents: Sequence[str]) -> Iterator[tuple[str, Item | Exception, str]]:
        try:
            ms = self.session.multistatus(
                "REPORT",
                self.url,
                davxml.multiget(self.dav_type, idents),
                depth="1",
                what=self._what("REPORT multiget"),
            )
        except (ProtocolError, ResponseTooLarge) as exc:
            # One item the server cannot put in XML (a NUL byte: Xandikos), or one too
            # big for max_response_size, spoils the whole answer: fetch this batch one
            # by one so only that item fails.
            log.info("%s; fetching %d items one by one", exc, len(idents))
            for ident in idents:
                yield self._get_one(ident)
            return
        data_tag = (
            q("calendar-data", CALDAV) if self.dav_type == "caldav" else q("address-data", CARDDAV)
        )
        answers = {r.href: r for r in ms.responses}
        for ident in idents:
            r = answers.get(ident)
            text = r.text(data_tag) if r is not None else None
            if r is None or text is None or r.status == 404:
                yield ident, NotFoundError(f"{self.location}: no item {ident}"), ""
                continue
            etag = r.text(q("getetag")) or ""
            try:
                item = self._to_item(ident, text)
            except NotFoundError as exc:
                yield ident, exc, ""
            except ItemError as exc:
                yield ident, exc, etag
            else:
                yield ident, item, etag

    def _get_one(self, ident: str) -> tuple[str, Item | Exception, str]:
        try:
            response = self.session.request("GET", self._url(ident))
        except ResponseTooLarge as exc:
            error = ItemError(f"{self.location}: item {ident}: {exc}", ident=ident, hint=exc.hint)
            return ident, error, ""
        if response.status_code in (404, 410):
            return ident, NotFoundError(f"{self.location}: no item {ident}"), ""
        if response.status_code != 200:
            return ident, self.session.fail(response, self._what("GET", ident)), ""
        etag = response.headers.get("ETag", "")
        try:
            text = response.content.decode("utf-8")
        except UnicodeDecodeError as exc:
            error = ItemError(
                f"{self.location}: {ident}: not valid UTF-8 (byte {exc.start})", ident=ident
            )
            return ident, error, etag
        try:
            return ident, self._to_item(ident, text), etag
        except (NotFoundError, ItemError) as exc:
            return ident, exc, etag

    def _to_item(self, ident: str, text: str) -> Item:
        text = davxml.crlf(text)
        try:
            uid = inspect_text(text)
        except ValueError as exc:
            raise ItemError(
                f"{self.location}: {ident}: not a vCard/iCalendar object: {exc}", ident=ident
            ) from None
        if self.component and self.component not in set(davxml.top_components(text)):
            # another component's object in a mixed calendar: not this pair's item
            raise NotFoundError(f"{self.location}: {ident} holds no {self.component}")
        return Item(raw=text.encode("utf-8"), uid=uid)

    # --- writing -------------------------------------------------------------------------------

    def _check_writable(self) -> None:
        if self.read_only:
            raise StorageError(f"{self.location}: storage is read-only")

    def _body(self, item: Item, what: str) -> bytes:
        try:
            text = item.raw.decode("utf-8")
            inspect_text(text)
        except (UnicodeError, ValueError) as exc:
            label = f"item {item.uid!r}" if item.uid else "an item"
            raise ItemError(f"{self.location}: cannot {what} {label}: {exc}") from None
        return davxml.crlf(text).encode("utf-8")

    def _put(self, ident: str, body: bytes, headers: dict[str, str]) -> requests.Response:
        headers = {"Content-Type": _CONTENT_TYPE[self.dav_type], **headers}
        return self.session.request("PUT", self._url(ident), body=body, headers=headers)

    def _etag_after_write(self, ident: str, response: requests.Response) -> str:
        """The new ETag: from the PUT answer, else (the server rewrote the item and so
        may not send one, RFC 4791 §5.3.4) asked for."""
        etag = response.headers.get("ETag")
        if etag:
            return etag
        ms = self.session.multistatus(
            "PROPFIND",
            self._url(ident),
            davxml.propfind("D:getetag"),
            depth="0",
            what=self._what("PROPFIND", ident),
        )
        for r in ms.responses:
            found = r.text(q("getetag"))
            if found:
                return found
        raise ProtocolError(f"{self._what('PUT', ident)}: the server tells no ETag for the item")

    def _item_refused(self, response: requests.Response, ident: str, what: str) -> EassyncError:
        """A write answer other than success/412: which item, which status."""
        status = response.status_code
        if status in (400, 403, 409, 412, 413, 415, 422, 507):
            conditions = {c.split("}")[-1] for c in davxml.error_conditions(response.content)}
            detail = f" ({', '.join(sorted(conditions))})" if conditions else ""
            description = davxml.error_description(response.content)
            if description:
                detail += f": {description}"
            return ItemError(
                f"{self.session.label} {self._what(what, ident)}: the server refused the item: "
                f"HTTP {status} {response.reason or ''}{detail}".rstrip(),
                ident=ident,
            )
        return self.session.fail(response, self._what(what, ident))

    def _new_name(self, uid: str | None, attempt: int) -> str:
        ext = _FILE_EXT[self.dav_type]
        name = file_name_for_uid(uid, ext) if attempt == 0 else None
        return quote(name or uuid.uuid4().hex + ext, safe="@+-._")

    def add(self, item: Item) -> tuple[str, str]:
        self._check_writable()
        body = self._body(item, "add")
        uid = item.uid if item.uid is not None else inspect_text(body.decode("utf-8"))
        for attempt in range(4):
            ident = self.path + self._new_name(uid, attempt)
            response = self._put(ident, body, {"If-None-Match": "*"})
            if response.status_code == 412 and not davxml.error_conditions(response.content):
                if self.session.last_was_retried:
                    # the first attempt may have been stored before the reset
                    landed = self._own_write(ident, body)
                    if landed is not None:
                        return ident, landed
                continue  # the name is taken (another item with this UID): a random one
            if response.status_code not in (200, 201, 204):
                raise self._item_refused(response, ident, "PUT")
            return ident, self._etag_after_write(ident, response)
        raise StorageError(f"{self.location}: could not find a free name for a new item")

    def _own_write(self, ident: str, body: bytes) -> str | None:
        """The etag of ``ident`` if it holds exactly what we sent (our own PUT whose
        answer was lost), else None."""
        ((_, result, etag),) = self._multiget([ident])
        if isinstance(result, Item) and result.raw == davxml.crlf(body.decode()).encode():
            return etag or None
        return None

    def update(self, ident: str, item: Item, etag: str) -> str:
        self._check_writable()
        self._check_ident(ident)
        body = self._body(item, "update")
        response = self._put(ident, body, {"If-Match": etag})
        if response.status_code in (404, 410, 412):
            raise PreconditionFailed(
                f"{self.location}: {ident} changed or vanished since it was read "
                f"(HTTP {response.status_code})",
                ident=ident,
            )
        if response.status_code not in (200, 201, 204):
            raise self._item_refused(response, ident, "PUT")
        return self._etag_after_write(ident, response)

    def delete(self, ident: str, etag: str) -> None:
        self._check_writable()
        self._check_ident(ident)
        response = self.session.request("DELETE", self._url(ident), headers={"If-Match": etag})
        if response.status_code in (404, 410, 412):
            raise PreconditionFailed(
                f"{self.location}: {ident} changed or vanished since it was read "
                f"(HTTP {response.status_code})",
                ident=ident,
            )
        if response.status_code not in (200, 204):
            raise self._item_refused(response, ident, "DELETE")


class _SyncTokenInvalid(Exception):
    """RFC 6578 §3.2: DAV:valid-sync-token precondition failed."""


class _SyncUnsupported(Exception):
    """The server does not offer sync-collection on this collection."""


# --- discovery -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DavCollection:
    url: str
    display_name: str | None
    components: frozenset[str] | None  # None: not said (CardDAV, or the server is silent)

    @property
    def segment(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    def matches(self, name: str) -> bool:
        from urllib.parse import unquote

        return name in (self.display_name, unquote(self.segment))


_HOME_SET = {
    "caldav": q("calendar-home-set", CALDAV),
    "carddav": q("addressbook-home-set", CARDDAV),
}
_HOME_PROP = {"caldav": "C:calendar-home-set", "carddav": "CR:addressbook-home-set"}
_COLLECTION_TYPE = {"caldav": q("calendar", CALDAV), "carddav": q("addressbook", CARDDAV)}


def find_home_set(session: DavSession, url: str, dav_type: str) -> str:
    """The URL of the user's calendar or address book home (RFC 4791 §6.2.1,
    RFC 6352 §7.1.1): through current-user-principal (RFC 5397), trying the URL
    itself, then its ``/.well-known/`` (RFC 6764 §5). If nothing says, ``url`` is
    taken as the home itself."""
    prop = _HOME_PROP[dav_type]
    candidates = [url, urljoin(url, f"/.well-known/{dav_type}")]
    for candidate in candidates:
        response = session.request(
            "PROPFIND",
            candidate,
            body=davxml.propfind("D:current-user-principal", prop),
            depth="0",
        )
        if response.status_code != 207:
            continue
        ms = davxml.parse_multistatus(response.content, candidate)
        for r in ms.responses:
            homes = r.hrefs(_HOME_SET[dav_type])
            if homes:
                return urljoin(candidate, homes[0])
            principals = r.hrefs(q("current-user-principal"))
            if principals:
                principal = urljoin(candidate, principals[0])
                pms = session.multistatus(
                    "PROPFIND",
                    principal,
                    davxml.propfind(prop),
                    depth="0",
                    what=f"{_redact(principal)}: PROPFIND {prop}",
                )
                for pr in pms.responses:
                    homes = pr.hrefs(_HOME_SET[dav_type])
                    if homes:
                        return urljoin(principal, homes[0])
    return url


def list_collections(session: DavSession, home: str, dav_type: str) -> list[DavCollection]:
    """The calendars or address books directly under ``home``."""
    home = home if home.endswith("/") else home + "/"
    props = ["D:resourcetype", "D:displayname"]
    if dav_type == "caldav":
        props.append("C:supported-calendar-component-set")
    ms = session.multistatus(
        "PROPFIND",
        home,
        davxml.propfind(*props),
        depth="1",
        what=f"{_redact(home)}: PROPFIND collections",
    )
    home_path = davxml.normalize_href(home, home)
    found = []
    for r in ms.responses:
        if davxml.same_collection(r.href, home_path):
            continue
        if _COLLECTION_TYPE[dav_type] not in r.resource_types():
            continue
        comps = r.components()
        url = urljoin(home, r.href if r.href.endswith("/") else r.href + "/")
        found.append(DavCollection(url, r.text(q("displayname")), frozenset(comps or ()) or None))
    return found


def create_collection(
    session: DavSession, home: str, dav_type: str, name: str, component: str | None
) -> str:
    """Create a calendar (MKCALENDAR) or address book (extended MKCOL) called ``name``
    under ``home``; returns its URL. The path segment is ``name`` when plainly safe
    (nothing from a server or config becomes a path unsanitised), else random."""
    home = home if home.endswith("/") else home + "/"
    segments = [name] if _SAFE_SEGMENT.match(name) and not name.startswith(".") else []
    segments += [uuid.uuid4().hex for _ in range(2)]
    for segment in segments:
        url = urljoin(home, segment + "/")
        if dav_type == "caldav":
            response = session.request("MKCALENDAR", url, body=davxml.mkcalendar(name, component))
        else:
            response = session.request("MKCOL", url, body=davxml.mkcol_addressbook(name))
        if response.status_code in (200, 201):
            log.info("created %s collection %s", dav_type, _redact(url))
            return url
        if response.status_code == 405:  # something exists there already
            continue
        raise session.fail(response, f"{_redact(url)}: creating collection {name!r}")
    raise StorageError(f"{_redact(home)}: could not find a free name for collection {name!r}")


def resolve_collection(
    session: DavSession,
    url: str,
    dav_type: str,
    name: str,
    component: str | None,
    *,
    create: bool,
) -> str:
    """The URL of the collection called ``name`` (display name or last path segment)
    under the user's home set found from ``url``; created when ``create``."""
    home = find_home_set(session, url, dav_type)
    collections = list_collections(session, home, dav_type)
    usable = [
        c
        for c in collections
        if component is None or c.components is None or component in c.components
    ]
    for c in usable:
        if c.matches(name):
            return c.url
    if create:
        return create_collection(session, home, dav_type, name, component)
    names = ", ".join(sorted(c.display_name or c.segment for c in usable)) or "none"
    raise NotFoundError(
        f"{session.label} {_redact(home)}: no {dav_type} collection {name!r}",
        hint=f"collections found there: {names}",
    )


def open_dav_storage(
    storage_cfg: StorageConfig,
    sel: Selection,
    handler: ContentHandler,
    *,
    state_dir: Path | None = None,
    dry_run: bool = False,
) -> DavStorage:
    """The DAV collection of one selected EAS folder (called by ``runner.open_local``).
    Discovered collection URLs are remembered under ``state_dir`` (the config's
    status dir; default: the XDG state dir). A dry run creates no collection and
    remembers nothing (NotFoundError if the collection does not exist yet)."""
    del handler  # the DAV side stores items as they are; conversion is the engine's
    dav_type = storage_cfg.type
    if dav_type not in ("caldav", "carddav"):
        raise ConfigError(f"storage {storage_cfg.name!r}: not a DAV storage ({dav_type})")
    if not storage_cfg.url:
        raise ConfigError(f"storage {storage_cfg.name!r}: url is missing")
    component = KIND_COMPONENT.get(sel.kind)
    if (dav_type == "carddav") != (sel.kind == "contacts"):
        raise ConfigError(
            f"storage {storage_cfg.name!r} ({dav_type}) cannot hold {sel.kind}",
            hint="use carddav for contacts, caldav for calendar and tasks",
        )
    password = storage_cfg.password.get() if storage_cfg.password is not None else None
    session = DavSession(
        username=storage_cfg.username,
        password=password,
        verify=storage_cfg.verify,
        label="CardDAV" if dav_type == "carddav" else "CalDAV",
        base_url=storage_cfg.url,
        trust=storage_cfg.trust,
        timeout=storage_cfg.timeout,
        max_response_size=storage_cfg.max_response_size,
    )
    collection = storage_cfg.collection
    if not collection:
        return DavStorage(session, storage_cfg.url, dav_type, component=component)
    per_folder = collection == "all"
    create = per_folder and not dry_run
    name = (
        (sel.subdir or sel.folder.display_name or sel.folder.server_id)
        if per_folder
        else collection
    )
    base_url = storage_cfg.url
    key = " ".join([dav_type, base_url, storage_cfg.username or "", component or "", name])

    def discover() -> str:
        found = resolve_collection(session, base_url, dav_type, name, component, create=create)
        session.check_url(found, how="the discovered collection")  # before it is kept
        if not dry_run:
            remember_collection(key, found, state_dir)
        return found

    # Discovery costs two to four requests; remembered, a no-op run is one request.
    remembered = recall_collection(key, state_dir)
    if remembered is not None and not _may_use(session, remembered):
        log.warning(
            "%s storage %r: forgetting the remembered collection %s: not on %s or a trusted host",
            session.label,
            storage_cfg.name,
            _redact(remembered),
            session.origin,
        )
        remembered = None
    if remembered is None:
        return DavStorage(session, discover(), dav_type, component=component)
    return DavStorage(session, remembered, dav_type, component=component, rediscover=discover)


def _may_use(session: DavSession, url: str) -> bool:
    try:
        session.check_url(url)
    except (ServerError, ProtocolError):
        return False
    return True


# --- remembered discoveries --------------------------------------------------------------------


def _collections_file(state_dir: Path | None = None) -> Path:
    if state_dir is None:
        from eassync.paths import state_dir as default_state_dir

        state_dir = default_state_dir()
    return state_dir / "dav-collections.json"


def recall_collection(key: str, state_dir: Path | None = None) -> str | None:
    """The collection URL discovery found last time for ``key``, if any."""
    try:
        data = json.loads(_collections_file(state_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    found = data.get(key) if isinstance(data, dict) else None
    return found if isinstance(found, str) and found.startswith(("http://", "https://")) else None


def remember_collection(key: str, url: str, state_dir: Path | None = None) -> None:
    """Keep a discovered collection URL (a cache: losing it costs one discovery)."""
    from eassync.paths import ensure_private_dir
    from eassync.storage.atomic import write_atomic

    path = _collections_file(state_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    data[key] = url
    try:
        ensure_private_dir(path.parent)
        write_atomic(path, json.dumps(data, indent=1, sort_keys=True).encode(), mode=0o600)
    except OSError as exc:
        log.warning("cannot remember DAV collection in %s: %s", path, exc.strerror)
