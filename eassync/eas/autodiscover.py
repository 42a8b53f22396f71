"""Autodiscover (mobile POX schema): find the ActiveSync URL from an e-mail address.

eas-protocol.md §6.5 (MS-ASCMD 2.2.1.1, MS-OXDISCO). For ``user@domain`` we try, in
order, stopping at the first answer that names a ``MobileSync`` server:

1. POST ``https://domain/autodiscover/autodiscover.xml``
2. POST ``https://autodiscover.domain/autodiscover/autodiscover.xml``
3. GET ``http://autodiscover.domain/autodiscover/autodiscover.xml`` without
   credentials; a redirect to an https ``…/autodiscover.xml`` gives the next POST target
4. DNS SRV ``_autodiscover._tcp.domain`` → ``https://target[:port]/autodiscover/autodiscover.xml``

An answer may redirect to another e-mail address (``Action/Redirect``): discovery
restarts with its domain, at most :data:`MAX_REDIRECTS` times. There is never a
fallback to a parent domain.

Security: the password goes only over HTTPS with a verified certificate, and only
to a host in the user's own domain or one listed in ``autodiscover_trust``. Hosts
reached through the SRV record (unsigned DNS) or through a redirect to another
domain are trusted only when listed; otherwise :class:`UntrustedHost` stops the
run and names the host to add. XML from the network is parsed with defusedxml.

Every attempt is logged at INFO (``eassync discover -v``) and kept in
:attr:`Discovery.attempts` with the reason it failed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element as XmlElement
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeET
import requests
from defusedxml import DefusedXmlException

from eassync.eas.state import safe_file_stem, write_private_file
from eassync.errors import ConfigError, CredentialsError, EassyncError
from eassync.net import bounded
from eassync.net.reason import reason
from eassync.net.tls import CERTIFICATE, NOT_TLS, tls_failure_kind

log = logging.getLogger(__name__)

REQUEST_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"
RESPONSE_SCHEMA = (
    "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
)
AUTODISCOVER_PATH = "/autodiscover/autodiscover.xml"
#: e-mail redirects (``Action/Redirect``) followed before giving up (§6.5: 10 hops)
MAX_REDIRECTS = 10
#: HTTP redirects (30x) followed for one candidate
MAX_HTTP_REDIRECTS = 3
_HTTP_REDIRECT = frozenset({301, 302, 303, 307, 308})
#: bytes an autodiscover answer may hold, decompressed (a real one is a few kB)
MAX_ANSWER_SIZE = 1024 * 1024

#: ``srv_lookup(name)`` → ``[(priority, weight, target host, port), …]``
SrvLookup = Callable[[str], Sequence[tuple[int, int, str, int]]]


class AutodiscoverError(EassyncError):
    """No candidate gave an ActiveSync URL; ``attempts`` says what each one answered."""

    def __init__(
        self, message: str, *, attempts: Sequence[Attempt] = (), hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.attempts = list(attempts)

    @property
    def details(self) -> list[str]:
        """One line per URL tried, in order: how, where, what came of it."""
        return [f"{a.method} {a.url}: {a.outcome}" for a in self.attempts]


class UntrustedHost(ConfigError):
    """Discovery leads to a host that may get the password only if the user says so."""

    def __init__(self, message: str, *, host: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.host = host


@dataclass(frozen=True)
class Attempt:
    """One URL tried: how, and what came of it (``ok`` or why it failed)."""

    method: str  # POST, GET or SRV
    url: str
    outcome: str


@dataclass(frozen=True)
class Discovery:
    url: str  # the ActiveSync endpoint
    email: str  # the address the answer was for (after redirects)
    display_name: str | None
    attempts: list[Attempt] = field(default_factory=list)


def request_body(email: str) -> bytes:
    """The mobile POX request for ``email`` (§6.5)."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<Autodiscover xmlns="{REQUEST_SCHEMA}">\n'
        f" <Request><EMailAddress>{escape(email)}</EMailAddress>\n"
        f"  <AcceptableResponseSchema>{RESPONSE_SCHEMA}</AcceptableResponseSchema>\n"
        " </Request></Autodiscover>\n"
    ).encode()


# --- parsing (pure) -----------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """A parsed autodiscover answer: exactly one of url, redirect, error is set."""

    url: str | None = None
    redirect: str | None = None
    error: str | None = None
    display_name: str | None = None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(parent: XmlElement | None, name: str) -> XmlElement | None:
    if parent is None:
        return None
    for child in parent:
        if _local(child.tag) == name:
            return child
    return None


def _children(parent: XmlElement | None, name: str) -> list[XmlElement]:
    if parent is None:
        return []
    return [c for c in parent if _local(c.tag) == name]


def _text(parent: XmlElement | None, name: str) -> str | None:
    node = _child(parent, name)
    if node is None or node.text is None:
        return None
    return node.text.strip() or None


def parse_answer(data: bytes) -> Answer:
    """Parse an autodiscover answer, matching local names (namespaces vary by server).

    Raises ValueError for anything that is not an autodiscover document.
    """
    try:
        root = SafeET.fromstring(data)
    except (SafeET.ParseError, DefusedXmlException) as exc:
        raise ValueError(f"not XML ({type(exc).__name__})") from None
    if _local(root.tag) != "Autodiscover":
        raise ValueError(f"not an autodiscover answer (root element {_local(root.tag)})")
    response = _child(root, "Response")
    if response is None:
        raise ValueError("no Response element")
    top_error = _child(response, "Error")
    if top_error is not None:  # the request itself was refused (600, 601)
        return Answer(error=_describe_error(top_error))
    user = _child(response, "User")
    display_name = _text(user, "DisplayName")
    action = _child(response, "Action")
    if action is None:
        raise ValueError("no Action element")
    redirect = _text(action, "Redirect")
    if redirect:
        return Answer(redirect=redirect, display_name=display_name)
    error = _child(action, "Error")
    if error is not None:
        return Answer(error=_describe_error(error), display_name=display_name)
    for server in _children(_child(action, "Settings"), "Server"):
        if (_text(server, "Type") or "").lower() == "mobilesync":
            url = _text(server, "Url")
            if url:
                return Answer(url=url, display_name=display_name)
    return Answer(error="the answer names no MobileSync server", display_name=display_name)


def _describe_error(error: XmlElement) -> str:
    parts = [
        f"{name} {value}"
        for name in ("ErrorCode", "Status")
        if (value := _text(error, name)) is not None
    ]
    message = _text(error, "Message")
    text = "server error" + (f" ({', '.join(parts)})" if parts else "")
    return f"{text}: {message}" if message else text


# --- DNS ----------------------------------------------------------------------------


def srv_records(name: str) -> list[tuple[int, int, str, int]]:
    """SRV records of ``name`` via dnspython; empty when there are none."""
    import dns.exception
    import dns.resolver

    try:
        answer = dns.resolver.resolve(name, "SRV", lifetime=10.0)
    except dns.exception.DNSException as exc:
        log.debug("SRV %s: %s", name, exc)
        return []
    return [
        (int(r.priority), int(r.weight), str(r.target).rstrip("."), int(r.port)) for r in answer
    ]


def new_session() -> requests.Session:
    """The HTTP session autodiscover uses (a test may replace this factory)."""
    return requests.Session()


# --- the search ---------------------------------------------------------------------


def _domain_of(email: str) -> str:
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        raise ConfigError(f"{email!r} is not an e-mail address")
    return domain.strip().rstrip(".").lower()


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return host


class _Stop(Exception):
    """Internal: the attempt failed in a way that ends the whole search."""


class Autodiscover:
    """One discovery for one account.

    ``auth`` is a requests auth object (Basic, NTLM, Bearer) used only for hosts that
    pass :meth:`trusted`. ``srv_lookup`` and ``session`` are injectable so tests run
    against loopback servers without touching the system's resolver.
    """

    def __init__(
        self,
        email: str,
        *,
        auth: requests.auth.AuthBase | None,
        account: str = "",
        trust: Iterable[str] = (),
        verify: bool | str = True,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        srv_lookup: SrvLookup | None = None,
    ) -> None:
        self.email = email.strip()
        self.domain = _domain_of(self.email)
        self.account = account or self.email
        self.auth = auth
        self.trust = {h.lower().rstrip(".") for h in trust}
        self.verify = verify
        self.timeout = timeout
        self.session = bounded.watch_session(session or new_session())
        #: a whole-request deadline, and a cap: an autodiscover answer is a few kB
        self._limits = bounded.Limits(timeout, MAX_ANSWER_SIZE)
        self.srv_lookup = srv_lookup or srv_records
        self.attempts: list[Attempt] = []
        self._saw_401 = False

    # --- policy ---

    def trusted(self, host: str, *, via: str) -> bool:
        """May ``host`` get the password? ``via`` is how we got there: ``domain``
        (the candidates of the user's own domain), ``redirect`` or ``srv``."""
        host = host.lower().rstrip(".")
        if host in self.trust:
            return True
        if via == "srv":  # unsigned DNS may point anywhere (issue 6)
            return False
        return host == self.domain or host.endswith("." + self.domain)

    def _require_trust(self, url: str, *, via: str, how: str) -> None:
        host = _host_port(url)
        if self.trusted(host, via=via):
            return
        self._record("POST", url, f"not sent: {host} is not trusted ({how})")
        raise UntrustedHost(
            f"account {self.account!r}: autodiscover for {self.email} leads to {host} ({how}); "
            "eassync sends the password there only if you trust that host",
            host=host,
            hint=f"if {host} is really your mail provider, add it to the account: "
            f"autodiscover_trust: [{host}]",
        )

    # --- the search ---

    def discover(self) -> Discovery:
        """Run the search; raises AutodiscoverError, UntrustedHost, AuthError, TLSError."""
        if self.verify is False:
            raise ConfigError(
                f"account {self.account!r}: autodiscover sends the password only to "
                "servers whose certificate is verified, and this account has verify: false",
                hint="set url: instead of autodiscover, or give verify: the CA file",
            )
        email = self.email
        seen = {email.lower()}
        for _ in range(MAX_REDIRECTS + 1):
            answer = self._search_domain(email)
            if answer.redirect is None:
                assert answer.url is not None
                self._check_eas_url(answer.url)
                log.info("autodiscover: ActiveSync URL for %s is %s", email, answer.url)
                return Discovery(answer.url, email, answer.display_name, list(self.attempts))
            target = answer.redirect.strip()
            if target.lower() in seen:
                raise AutodiscoverError(
                    f"account {self.account!r}: autodiscover redirects in a loop "
                    f"({email} → {target})",
                    attempts=self.attempts,
                    hint="the server's autodiscover setup is broken; set url: instead",
                )
            seen.add(target.lower())
            log.info("autodiscover: %s is redirected to address %s", email, target)
            _domain_of(target)
            email = target
        raise AutodiscoverError(
            f"account {self.account!r}: more than {MAX_REDIRECTS} autodiscover redirects",
            attempts=self.attempts,
            hint="set url: instead of autodiscover",
        )

    def _search_domain(self, email: str) -> Answer:
        domain = _domain_of(email)
        foreign = domain != self.domain and not domain.endswith("." + self.domain)
        via = "redirect" if foreign else "domain"
        how = f"address redirect to {email}" if foreign else "the user's domain"
        errors: list[str] = []
        for url in (
            f"https://{domain}{AUTODISCOVER_PATH}",
            f"https://autodiscover.{domain}{AUTODISCOVER_PATH}",
        ):
            answer = self._try_post(email, url, via=via, how=how)
            if answer is not None:
                if answer.error is None:
                    return answer
                errors.append(answer.error)
        target = self._probe_http_redirect(domain)
        if target is not None:
            inside = _host_port(target) == domain or _host_port(target).endswith("." + domain)
            answer = self._try_post(
                email,
                target,
                via=via if inside else "redirect",
                how=f"HTTP redirect from http://autodiscover.{domain}",
            )
            if answer is not None:
                if answer.error is None:
                    return answer
                errors.append(answer.error)
        for url in self._srv_candidates(domain):
            answer = self._try_post(
                email, url, via="srv", how=f"DNS SRV record _autodiscover._tcp.{domain}"
            )
            if answer is not None:
                if answer.error is None:
                    return answer
                errors.append(answer.error)
        raise self._failure(email, errors)

    def _failure(self, email: str, errors: list[str]) -> EassyncError:
        if self._saw_401 and not errors:
            return CredentialsError(
                f"account {self.account!r}: autodiscover for {email} was refused with "
                "HTTP 401 (wrong username or password)",
                hint="check username and password; or set url: to skip autodiscover",
            )
        if errors:
            return AutodiscoverError(
                f"account {self.account!r}: autodiscover for {email} failed: {errors[-1]}",
                attempts=self.attempts,
                hint="set url: to the ActiveSync URL (ask your provider)",
            )
        return AutodiscoverError(
            f"account {self.account!r}: autodiscover found no ActiveSync server for {email} "
            f"(tried {len(self.attempts)} places)",
            attempts=self.attempts,
            hint="set url: to the ActiveSync URL (ask your provider); "
            f"run `eassync discover {self.account} -v` to see each step",
        )

    def _check_eas_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() != "https" or not parts.hostname:
            raise AutodiscoverError(
                f"account {self.account!r}: autodiscover named {url!r} as the ActiveSync "
                "URL; eassync only sends the password over https",
                attempts=self.attempts,
                hint="set url: to the https ActiveSync URL",
            )

    def _record(self, method: str, url: str, outcome: str) -> None:
        self.attempts.append(Attempt(method, url, outcome))
        log.info("autodiscover: %s %s: %s", method, url, outcome)

    def _try_post(self, email: str, url: str, *, via: str, how: str) -> Answer | None:
        """POST to one candidate; the answer, or None when this candidate failed."""
        for _ in range(MAX_HTTP_REDIRECTS + 1):
            if urlsplit(url).scheme.lower() != "https":
                self._record("POST", url, "skipped: not https (the password never goes over http)")
                return None
            self._require_trust(url, via=via, how=how)
            try:
                raw = bounded.send(
                    self.session,
                    "POST",
                    url,
                    limits=self._limits,
                    what="autodiscover answer",
                    data=request_body(email),
                    headers={"Content-Type": "text/xml; charset=utf-8"},
                    auth=self.auth,
                    verify=self.verify,
                    allow_redirects=False,
                )
            except requests.exceptions.SSLError as exc:
                self._record("POST", url, _tls_outcome(exc))
                return None
            except requests.exceptions.RequestException as exc:
                self._record("POST", url, f"cannot connect ({_short(exc)})")
                return None
            except EassyncError as exc:  # too slow, too large, broken compression
                self._record("POST", url, str(exc))
                return None
            status = raw.status_code
            if status in _HTTP_REDIRECT and raw.headers.get("Location"):
                location = raw.headers["Location"]
                self._record("POST", url, f"HTTP {status} redirect to {location}")
                host = _host_port(location)
                if host != _host_port(url):
                    inside = host == self.domain or host.endswith("." + self.domain)
                    via = via if inside and via != "srv" else "redirect"
                    how = f"HTTP redirect from {_host_port(url)}"
                url = location
                continue
            if status == 401:
                self._saw_401 = True
                self._record("POST", url, "HTTP 401 (wrong password, or not the right server)")
                return None
            if status != 200:
                self._record("POST", url, f"HTTP {status}")
                return None
            try:
                answer = parse_answer(raw.content)
            except ValueError as exc:
                self._record("POST", url, f"not an autodiscover answer: {exc}")
                return None
            if answer.redirect:
                self._record("POST", url, f"redirect to address {answer.redirect}")
            elif answer.error:
                self._record("POST", url, answer.error)
            else:
                self._record("POST", url, f"ok: {answer.url}")
            return answer
        self._record("POST", url, "too many HTTP redirects")
        return None

    def _probe_http_redirect(self, domain: str) -> str | None:
        """Step 3: unauthenticated GET over http; only an https autodiscover target counts."""
        url = f"http://autodiscover.{domain}{AUTODISCOVER_PATH}"
        try:
            raw = bounded.send(
                self.session,
                "GET",
                url,
                limits=self._limits,
                what="autodiscover redirect probe",
                allow_redirects=False,
                auth=None,
            )
        except requests.exceptions.RequestException as exc:
            self._record("GET", url, f"cannot connect ({_short(exc)})")
            return None
        except EassyncError as exc:
            self._record("GET", url, str(exc))
            return None
        location = raw.headers.get("Location") if raw.status_code in _HTTP_REDIRECT else None
        if not location:
            self._record("GET", url, f"HTTP {raw.status_code}, no redirect")
            return None
        parts = urlsplit(location)
        if parts.scheme.lower() != "https" or not parts.path.lower().endswith("autodiscover.xml"):
            self._record(
                "GET", url, f"redirect to {location} ignored (not https …/autodiscover.xml)"
            )
            return None
        self._record("GET", url, f"redirect to {location}")
        return location

    def _srv_candidates(self, domain: str) -> list[str]:
        name = f"_autodiscover._tcp.{domain}"
        try:
            records = list(self.srv_lookup(name))
        except Exception as exc:  # a resolver failure is one failed candidate, not a crash
            self._record("SRV", name, f"lookup failed ({_short(exc)})")
            return []
        if not records:
            self._record("SRV", name, "no record")
            return []
        # lowest priority first, then highest weight (RFC 2782, without the lottery)
        records.sort(key=lambda r: (r[0], -r[1]))
        urls = []
        for _priority, _weight, target, port in records:
            target = target.rstrip(".")
            if not target:
                continue
            netloc = target if port in (443, 0) else f"{target}:{port}"
            urls.append(f"https://{netloc}{AUTODISCOVER_PATH}")
        self._record("SRV", name, "→ " + ", ".join(urls))
        return urls


def _short(exc: BaseException) -> str:
    """The OS reason ("Connection refused"), not urllib3's pool message."""
    return reason(exc)


def _tls_outcome(exc: BaseException) -> str:
    kind = tls_failure_kind(exc)
    if kind == NOT_TLS:
        return "this port does not speak TLS"
    if kind == CERTIFICATE:
        return f"TLS certificate not verified ({_short(exc)})"
    return f"TLS handshake failed ({_short(exc)})"


# --- the cache ----------------------------------------------------------------------


class DiscoveryCache:
    """The found URL per account, ``<state_dir>/autodiscover/<account>.json`` (0600).

    Keyed by the e-mail address, so changing ``email:`` in the config discovers anew.
    """

    def __init__(self, state_dir: Path, account: str) -> None:
        self.path = Path(state_dir) / "autodiscover" / f"{safe_file_stem(account)}.json"

    def load(self, email: str) -> str | None:
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or str(data.get("email", "")).lower() != email.lower():
            return None
        url = data.get("url")
        return url if isinstance(url, str) and url.lower().startswith("https://") else None

    def save(self, email: str, url: str) -> None:
        payload = json.dumps({"email": email, "url": url, "found": int(time.time())})
        write_private_file(self.path, payload.encode())

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


__all__ = [
    "Attempt",
    "Autodiscover",
    "AutodiscoverError",
    "Discovery",
    "DiscoveryCache",
    "UntrustedHost",
    "parse_answer",
    "request_body",
]
