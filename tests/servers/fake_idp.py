"""A small OAuth2 identity provider on loopback HTTPS, shaped like Microsoft's v2.0
endpoint enough for msal: OpenID configuration, device code, token (device code and
refresh token grants). Issued access tokens can be checked by the devserver
(``DevServer(bearer=idp.user_of)``).
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.servers.certs import Certs

TENANT = "contoso.test"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@dataclass
class FakeIdP:
    user: str = "alice"
    email: str = "alice@contoso.test"
    port: int = 0
    #: device codes are approved as soon as they are issued
    approve: bool = True
    #: refresh tokens are refused (password changed, token revoked)
    revoked: bool = False
    #: the token endpoint refuses every grant with this AADSTS code, as Microsoft's does
    #: (e.g. "65001" consent required, "53003" Conditional Access); None: it does not
    aadsts: str | None = None
    access: dict[str, str] = field(default_factory=dict)  # access token → user
    refresh: set[str] = field(default_factory=set)
    grants: list[str] = field(default_factory=list)  # grant types seen, in order
    scopes: list[str] = field(default_factory=list)
    client_ids: list[str] = field(default_factory=list)
    device_codes: set[str] = field(default_factory=set)

    @property
    def host(self) -> str:
        return f"https://localhost:{self.port}"

    def user_of(self, token: str) -> str | None:
        return self.access.get(token)

    def expire_access_tokens(self) -> None:
        self.access.clear()

    # --- endpoints ---

    def openid_configuration(self, tenant: str) -> dict[str, Any]:
        base = f"{self.host}/{tenant}"
        return {
            "issuer": f"{self.host}/{tenant}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "response_types_supported": ["code"],
        }

    def device_code(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.client_ids.append(form.get("client_id", ""))
        self.scopes.append(form.get("scope", ""))
        code = secrets.token_urlsafe(16)
        self.device_codes.add(code)
        return 200, {
            "device_code": code,
            "user_code": "ABCD-EFGH",
            "verification_uri": "https://microsoft.com/devicelogin",
            "expires_in": 900,
            "interval": 1,
            "message": "To sign in, open https://microsoft.com/devicelogin and enter ABCD-EFGH.",
        }

    def token(self, tenant: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        grant = form.get("grant_type", "")
        self.grants.append(grant)
        self.scopes.append(form.get("scope", ""))
        if self.aadsts is not None:
            return aadsts_error(self.aadsts)
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            if form.get("device_code") not in self.device_codes:
                return 400, {"error": "invalid_grant", "error_description": "unknown code"}
            if not self.approve:
                return 400, {"error": "authorization_pending", "error_description": "pending"}
            self.device_codes.discard(form["device_code"])
        elif grant == "refresh_token":
            if self.revoked or form.get("refresh_token") not in self.refresh:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "AADSTS700082: The refresh token has expired.",
                }
        else:
            return 400, {"error": "unsupported_grant_type"}
        return 200, self._tokens(tenant, form.get("client_id", ""))

    def _tokens(self, tenant: str, client_id: str) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.access[access] = self.user
        self.refresh.add(refresh)
        now = int(time.time())
        claims = {
            "iss": f"{self.host}/{tenant}/v2.0",
            "aud": client_id,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "sub": "sub-alice",
            "oid": "00000000-0000-0000-0000-0000000a11ce",
            "tid": "00000000-0000-0000-0000-00000000c0de",
            "preferred_username": self.email,
            "name": "Alice Example",
        }
        id_token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
        return {
            "token_type": "Bearer",
            "scope": "https://outlook.office365.com/EAS.AccessAsUser.All",
            "expires_in": 3600,
            "access_token": access,
            "refresh_token": refresh,
            "id_token": id_token,
            "client_info": _b64({"uid": claims["oid"], "utid": claims["tid"]}),
        }


#: AADSTS code → (OAuth error, description), shaped like Microsoft's token endpoint answers
AADSTS_ERRORS = {
    "65001": ("invalid_grant", "The user or administrator has not consented to use the app."),
    "7000112": ("unauthorized_client", "Application is disabled."),
    "700016": ("unauthorized_client", "Application was not found in the directory."),
    "53003": ("invalid_grant", "Access has been blocked by Conditional Access policies."),
    "70011": ("invalid_scope", "The provided value for the input parameter 'scope' is not valid."),
}


def aadsts_error(code: str) -> tuple[int, dict[str, Any]]:
    error, text = AADSTS_ERRORS.get(code, ("invalid_request", "Sign-in refused."))
    return 400, {
        "error": error,
        "error_description": f"AADSTS{code}: {text}\r\nTrace ID: 0000\r\nTimestamp: now",
        "error_codes": [int(code)],
        "suberror": "consent_required" if code == "65001" else None,
    }


def _handler(idp: FakeIdP) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parts = [p for p in urlsplit(self.path).path.split("/") if p]
            if parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
                self._json(200, idp.openid_configuration(parts[0]))
                return
            self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            form = {k: v[0] for k, v in parse_qs(raw).items()}
            parts = [p for p in urlsplit(self.path).path.split("/") if p]
            if parts[1:] == ["oauth2", "v2.0", "devicecode"]:
                self._json(*idp.device_code(form))
            elif parts[1:] == ["oauth2", "v2.0", "token"]:
                self._json(*idp.token(parts[0], form))
            else:
                self._json(404, {"error": "not_found"})

    return Handler


@contextmanager
def fake_idp(certs: Certs) -> Iterator[FakeIdP]:
    idp = FakeIdP()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(idp))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs.cert, certs.key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    httpd.daemon_threads = True
    idp.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield idp
    finally:
        httpd.shutdown()
        httpd.server_close()
