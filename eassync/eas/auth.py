"""Pluggable HTTP authentication for the EAS transport.

An :class:`Auth` is a ``requests`` auth object (it sets the ``Authorization`` header
on each prepared request) plus one extension point, :meth:`Auth.refresh`, which the
transport calls once after an HTTP 401 before giving up: an OAuth2 token may simply
have expired (eas-protocol.md §2.5 "refresh OAuth token once"). :class:`NtlmAuth`
runs the NTLM handshake as a response hook.

Credentials never reach logs: ``repr`` of these objects hides them.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

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


class NtlmAuth(Auth):
    """NTLM (on-premises Exchange / IIS), via pyspnego.

    NTLM authenticates a *connection*, not a request: on a 401 offering NTLM we send
    the Negotiate message, read the Challenge and answer with the Authenticate
    message on the same keep-alive connection (the response hook below resends
    through the same ``requests`` adapter, whose pool hands back the connection we
    just released). Later requests on that connection need no handshake; a new
    connection gets a 401 and repeats it. ``username`` is ``DOMAIN\\user`` or a UPN.
    """

    method = "ntlm"

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self._password = password

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Connection"] = "Keep-Alive"
        r.register_hook("response", self._on_response)  # type: ignore[no-untyped-call]
        return r

    def _on_response(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.status_code != 401 or not _offers(response, "NTLM"):
            return response
        request = response.request
        if request.headers.get("Authorization", "").startswith("NTLM "):
            return response  # our own handshake was refused: wrong password
        import spnego  # heavy import only for NTLM accounts

        host = urlsplit(request.url or "").hostname or "unspecified"
        context = spnego.client(
            self.username, self._password, hostname=host, service="http", protocol="ntlm"
        )
        kwargs = {k: v for k, v in kwargs.items() if k in _SEND_ARGS}
        # 1. Negotiate, on the same connection (drain the 401 so it goes back to the pool)
        negotiate = context.step()
        assert negotiate is not None
        challenge_response = self._resend(response, request, negotiate, kwargs)
        challenge = _token(challenge_response, "NTLM")
        if challenge_response.status_code != 401 or challenge is None:
            return challenge_response
        # 2. Authenticate with the answer to the server's challenge
        authenticate = context.step(challenge)
        assert authenticate is not None
        final = self._resend(challenge_response, request, authenticate, kwargs)
        final.history[:0] = [response, challenge_response]
        return final

    @staticmethod
    def _resend(
        previous: requests.Response,
        request: requests.PreparedRequest,
        token: bytes,
        kwargs: dict[str, Any],
    ) -> requests.Response:
        _ = previous.content
        previous.close()  # releases the connection to the pool for the next send
        again = request.copy()
        again.headers["Authorization"] = "NTLM " + base64.b64encode(token).decode("ascii")
        again.headers["Connection"] = "Keep-Alive"
        adapter = previous.connection
        sent: requests.Response = adapter.send(again, **kwargs)
        sent.request = again
        return sent

    def __repr__(self) -> str:
        return f"<NtlmAuth user={self.username!r}>"


_SEND_ARGS = frozenset({"stream", "timeout", "verify", "cert", "proxies"})


def _offers(response: requests.Response, scheme: str) -> bool:
    header = response.headers.get("WWW-Authenticate", "")
    return any(part.strip().split(" ")[0].lower() == scheme.lower() for part in header.split(","))


def _token(response: requests.Response, scheme: str) -> bytes | None:
    """The token of ``WWW-Authenticate: <scheme> <base64>``, if the server sent one."""
    header = response.headers.get("WWW-Authenticate", "")
    for part in header.split(","):
        name, _, value = part.strip().partition(" ")
        if name.lower() == scheme.lower() and value.strip():
            try:
                return base64.b64decode(value.strip())
            except ValueError:
                return None
    return None
