"""Where a URL points, and whether credentials may follow it there. Pure functions.

An *origin* is (scheme, host, port) as RFC 6454 §4 defines it. eassync sends a login
only to the origin the config names, to hosts the config trusts explicitly, and never
from https down to plain http.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import NamedTuple
from urllib.parse import urlsplit

_DEFAULT_PORT = {"http": 80, "https": 443}


class Origin(NamedTuple):
    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        default = _DEFAULT_PORT.get(self.scheme)
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + ("" if self.port == default else f":{self.port}")


def origin_of(url: str) -> Origin | None:
    """The origin of an http(s) URL; None when ``url`` is not one (no host, another
    scheme, a bad port)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".").lower()
    if scheme not in _DEFAULT_PORT or not host:
        return None
    return Origin(scheme, host, port or _DEFAULT_PORT[scheme])


def http_url_problem(url: str) -> str | None:
    """Why ``url`` is no usable http(s) URL (None: it is one). Checked before a URL
    from a server is stored: ``ftp://…``, ``nonsense`` and ``http://`` all fail."""
    if not isinstance(url, str) or not url.strip():
        return "it is empty"
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url.strip()):
        return "it contains spaces or control characters"
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:  # "https://[::1": a bracket not closed
        return "it cannot be parsed"
    if scheme not in _DEFAULT_PORT:
        return f"the scheme is {scheme or 'missing'}, not https"
    if origin_of(url) is None:
        return "it names no host (or a bad port)"
    if "@" in urlsplit(url).netloc:
        return "it carries a user name or password"
    return None


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: traffic that never leaves the machine."""
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def in_domain(host: str, domain: str) -> bool:
    """``host`` is ``domain`` or below it (``mail.example.com`` in ``example.com``)."""
    host, domain = host.rstrip(".").lower(), domain.rstrip(".").lower()
    return bool(domain) and (host == domain or host.endswith("." + domain))


def normalise_hosts(hosts: Iterable[str]) -> frozenset[str]:
    return frozenset(h.strip().rstrip(".").lower() for h in hosts if h and h.strip())


def may_follow(current: Origin, target: Origin, trusted_hosts: Iterable[str] = ()) -> str | None:
    """Why credentials must not follow from ``current`` to ``target`` (None: they may).

    The same origin may always be followed. Another origin only when its host is
    trusted, and never from https down to http.
    """
    if current.scheme == "https" and target.scheme != "https":
        return f"it leads from https down to unencrypted {target.scheme}"
    if target == current:
        return None
    hosts = normalise_hosts(trusted_hosts)
    if target.host in hosts or f"{target.host}:{target.port}" in hosts:
        return None
    return f"{target} is another origin than {current}"


def redirect_problem(
    current: str,
    target: str,
    *,
    domains: Iterable[str] = (),
    trusted_hosts: Iterable[str] = (),
) -> str | None:
    """Why an EAS client must not move from ``current`` to ``target`` (HTTP 451,
    MS-ASHTTP 3.2.5.1), or None when it may.

    The target must be a well-formed https URL whose host is in one of ``domains``
    (the account's e-mail domain, the configured host) or listed in
    ``trusted_hosts``. Plain http is tolerated only from loopback to loopback: test
    servers, where nothing leaves the machine.
    """
    bad = http_url_problem(target)
    if bad:
        return f"{target!r} is not a usable URL: {bad}"
    here, there = origin_of(current), origin_of(target)
    assert there is not None  # http_url_problem passed
    if there.scheme != "https" and not (
        here is not None
        and here.scheme == "http"
        and is_loopback(here.host)
        and is_loopback(there.host)
    ):
        return f"{target} is not https"
    if there.host in normalise_hosts(trusted_hosts):
        return None
    if any(in_domain(there.host, d) for d in domains if d):
        return None
    return f"{there.host} is outside the account's domain ({', '.join(sorted(set(domains)))})"


def plain_http_warning(url: str, who: str) -> str | None:
    """The warning for a login sent over plain http, where anyone on the way can read
    it; None for https, and for loopback (test and demo servers on this machine)."""
    there = origin_of(url)
    if there is None or there.scheme != "http" or is_loopback(there.host):
        return None
    return f"{who}: {there} is plain http: the password travels unencrypted; use https"
