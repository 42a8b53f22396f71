"""Test-only servers and plumbing for account setup: a private CA, an autodiscover
server on loopback, and a requests adapter that routes made-up host names there.

Nothing here touches the system resolver: a test hands :func:`loopback_session` to
the code under test (DNS is injected, not faked globally). Certificates are checked
against the real host names (SNI and hostname verification use the made-up name),
so the client code runs exactly the TLS checks it runs in production.
"""

from __future__ import annotations

import base64
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters

from tests.servers.certs import Certs

RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"


# --- certificates -----------------------------------------------------------------------


# --- routing made-up names to loopback ----------------------------------------------------


class LoopbackAdapter(requests.adapters.HTTPAdapter):
    """Sends ``scheme://host[:port]`` to a loopback port; unknown hosts do not resolve.

    ``routes`` maps ``"https://mail.example.test"`` (default port implied) or
    ``"https://mail.example.test:8443"`` to a port on 127.0.0.1.
    """

    def __init__(self, routes: dict[str, int]) -> None:
        self.routes = {k.lower(): v for k, v in routes.items()}
        super().__init__()

    def _route(self, scheme: str, host: str, port: int | None) -> int:
        default = 443 if scheme == "https" else 80
        keys = [f"{scheme}://{host}:{port or default}"]
        if port in (None, default):
            keys.append(f"{scheme}://{host}")
        for key in keys:
            if key in self.routes:
                return self.routes[key]
        raise requests.exceptions.ConnectionError(f"test DNS: {host} does not resolve")

    def build_connection_pool_key_attributes(  # type: ignore[override]
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        scheme, host, port = host_params["scheme"], host_params["host"], host_params["port"]
        routed = self._route(scheme, host, port)
        host_params = {"scheme": scheme, "host": "127.0.0.1", "port": routed}
        if scheme == "https":
            pool_kwargs["server_hostname"] = host
            pool_kwargs["assert_hostname"] = host
        return host_params, pool_kwargs

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        parts = urlsplit(request.url)
        request.headers["Host"] = parts.netloc
        return super().send(request, *args, **kwargs)


def loopback_session(routes: dict[str, int]) -> requests.Session:
    session = requests.Session()
    adapter = LoopbackAdapter(routes)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


# --- the autodiscover server ------------------------------------------------------------


@dataclass
class HostPlan:
    """How one made-up host answers autodiscover requests."""

    #: answer with this MobileSync URL
    url: str | None = None
    #: answer Action/Redirect to this e-mail address
    redirect_email: str | None = None
    #: answer Action/Error with this message
    error: str | None = None
    #: answer this HTTP status (no body) instead
    status: int | None = None
    #: answer 302 to this location over plain http (the unauthenticated GET probe)
    location: str | None = None
    #: answer 302 to this location over https (a POST redirect)
    https_location: str | None = None
    #: require Basic auth with these users ({user: password}); None: any credentials
    users: dict[str, str] | None = None
    #: what to send: raw bytes replace the generated document
    body: bytes | None = None


@dataclass
class Seen:
    method: str
    host: str
    path: str
    authorization: str | None
    scheme: str


@dataclass
class AutodiscoverServer:
    """One HTTPS and one HTTP listener on loopback; behaviour per Host header."""

    certs: Certs
    plans: dict[str, HostPlan] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    https_port: int = 0
    http_port: int = 0

    def routes(self, *hosts: str) -> dict[str, int]:
        """Routes for ``hosts`` (https and http) to this server, for LoopbackAdapter."""
        out: dict[str, int] = {}
        for host in hosts:
            out[f"https://{host}"] = self.https_port
            out[f"http://{host}"] = self.http_port
        return out

    def answer(self, method: str, scheme: str, host: str, path: str, auth: str | None) -> tuple:
        self.seen.append(Seen(method, host, path, auth, scheme))
        plan = self.plans.get(host)
        if plan is None or not path.lower().startswith("/autodiscover/autodiscover.xml"):
            return 404, {}, b""
        if scheme == "http":
            if plan.location is not None:
                return 302, {"Location": plan.location}, b""
            return 404, {}, b""
        if plan.https_location is not None:
            return 302, {"Location": plan.https_location}, b""
        if plan.status is not None:
            return plan.status, {}, b""
        if method != "POST" or (plan.url is plan.redirect_email is plan.error is plan.body is None):
            return 404, {}, b""
        if not _basic_ok(auth, plan.users):
            return 401, {"WWW-Authenticate": 'Basic realm="autodiscover"'}, b""
        if plan.body is not None:
            return 200, {"Content-Type": "text/xml"}, plan.body
        return 200, {"Content-Type": "text/xml; charset=utf-8"}, _document(plan)


def _basic_ok(header: str | None, users: dict[str, str] | None) -> bool:
    if not header:
        return False
    if users is None:
        return True
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    user, _, password = base64.b64decode(value).decode("utf-8").partition(":")
    return users.get(user) == password


def _document(plan: HostPlan) -> bytes:
    if plan.redirect_email is not None:
        action = f"<Redirect>{plan.redirect_email}</Redirect>"
    elif plan.error is not None:
        action = (
            f"<Error><Status>1</Status><Message>{plan.error}</Message>"
            "<DebugData>MailUser</DebugData><ErrorCode>600</ErrorCode></Error>"
        )
    else:
        action = (
            "<Settings>"
            "<Server><Type>CertEnroll</Type><Url>https://cert.example.test/x</Url></Server>"
            f"<Server><Type>MobileSync</Type><Url>{plan.url}</Url><Name>{plan.url}</Name></Server>"
            "</Settings>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">'
        f'<Response xmlns="{RESPONSE_NS}"><Culture>en:us</Culture>'
        "<User><DisplayName>Alice Example</DisplayName>"
        "<EMailAddress>alice@example.test</EMailAddress></User>"
        f"<Action>{action}</Action></Response></Autodiscover>"
    ).encode()


def _handler(server: AutodiscoverServer, scheme: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
            path = urlsplit(self.path).path
            status, headers, body = server.answer(
                method, scheme, host, path, self.headers.get("Authorization")
            )
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

    return Handler


@contextmanager
def autodiscover_server(certs: Certs) -> Iterator[AutodiscoverServer]:
    server = AutodiscoverServer(certs)
    https = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server, "https"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs.cert, certs.key)
    https.socket = ctx.wrap_socket(https.socket, server_side=True)
    http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server, "http"))
    https.daemon_threads = http.daemon_threads = True
    server.https_port = https.server_address[1]
    server.http_port = http.server_address[1]
    threads = [
        threading.Thread(target=s.serve_forever, args=(0.05,), daemon=True) for s in (https, http)
    ]
    for thread in threads:
        thread.start()
    try:
        yield server
    finally:
        for s in (https, http):
            s.shutdown()
            s.server_close()


SrvTable = dict[str, list[tuple[int, int, str, int]]]


def srv_lookup(table: SrvTable) -> Callable[[str], list[tuple[int, int, str, int]]]:
    """An injected SRV resolver answering from ``table``."""

    def lookup(name: str) -> list[tuple[int, int, str, int]]:
        return list(table.get(name, []))

    return lookup
