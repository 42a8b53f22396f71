"""Pluggable HTTP authentication for the EAS transport.

An :class:`Auth` is a ``requests`` auth object (it sets the ``Authorization`` header
on each prepared request) plus one extension point, :meth:`Auth.refresh`, which the
transport calls once after an HTTP 401 before giving up: an OAuth2 token may simply
have expired (eas-protocol.md §2.5 "refresh OAuth token once"). NTLM can drop in as
another subclass wrapping ``requests_ntlm``.

Credentials never reach logs: ``repr`` of these objects hides them.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import requests
import requests.auth


class Auth(requests.auth.AuthBase):
    """Base class of every authentication method."""

    #: short method name for messages ("basic", "bearer" …)
    method = "none"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r

    def refresh(self) -> bool:
        """Called once after a 401. Return True if new credentials are worth a retry."""
        return False

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class BasicAuth(Auth):
    """HTTP Basic: ``base64(utf8(user:password))`` (MS-ASHTTP 2.2.1.1.2.1).

    Encoded as UTF-8 explicitly: ``requests``' own HTTPBasicAuth uses latin-1, which
    breaks non-ASCII passwords on Exchange.
    """

    method = "basic"

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self._password = password
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._header = f"Basic {token}"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = self._header
        return r

    def __repr__(self) -> str:
        return f"<BasicAuth user={self.username!r}>"


class BearerAuth(Auth):
    """OAuth2 bearer token (Exchange Online; eas-protocol.md §8).

    ``token_provider(force_refresh)`` returns an access token; it is asked again with
    ``force_refresh=True`` after a 401. Obtaining and caching tokens is the provider's job.
    """

    method = "bearer"

    def __init__(self, token_provider: Callable[[bool], str]) -> None:
        self._provider = token_provider
        self._token: str | None = None

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if self._token is None:
            self._token = self._provider(False)
        r.headers["Authorization"] = f"Bearer {self._token}"
        return r

    def refresh(self) -> bool:
        try:
            self._token = self._provider(True)
        except Exception:  # a provider that cannot refresh means: no retry
            return False
        return True
