"""The devserver's HTTP side: routing, Basic auth, versions, policy keys, faults, logging.

``ThreadingHTTPServer`` with HTTP/1.1 keep-alive; with TLS each accepted socket is
wrapped in its own thread (a slow handshake never blocks the accept loop). Open
connections are tracked so ``stop()`` can close idle keep-alive sockets too.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import logging
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from eassync.devserver import control, itemdata
from eassync.devserver.commands import Caches, Context, ServerSettings, handlers
from eassync.devserver.faults import Faults
from eassync.devserver.ntlm import NtlmAcceptor
from eassync.devserver.protocol import (
    BadRequest,
    parse_query,
    status_response,
    version_tuple,
)
from eassync.devserver.store import Store
from eassync.eas import wbxml
from eassync.eas.element import Element
from eassync.errors import ProtocolError

log = logging.getLogger("eassync.devserver")

EAS_PATH = "/microsoft-server-activesync"
CONTROL_PREFIX = "/_devserver/"
WBXML_TYPE = "application/vnd.ms-sync.wbxml"
SERVER_BUILD = "15.1 (eassync devserver)"
#: Commands that need no policy key (MS-ASPROV 3.1.5.1; Ping per eas-protocol.md §2.2).
POLICY_FREE = frozenset({"Provision", "Ping"})
IDLE_TIMEOUT = 300.0


class EasHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        store: Store,
        users: dict[str, str],
        versions: list[str],
        settings: ServerSettings,
        faults: Faults,
        control_enabled: bool,
        tls: ssl.SSLContext | None,
    ) -> None:
        self.store = store
        self.users = users
        self.versions = versions
        self.settings = settings
        self.faults = faults
        self.control_enabled = control_enabled
        self.tls = tls
        self.caches = Caches()
        #: set by DevServer(ntlm=True): NTLM accepted besides Basic
        self.ntlm: NtlmAcceptor | None = None
        #: set by DevServer(bearer=…): OAuth2 access token → user (None: refused)
        self.bearer: Callable[[str], str | None] | None = None
        self.handlers = handlers()
        self.requests: Counter[str] = Counter()
        self.requests_lock = threading.Lock()
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, EasRequestHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is not None:
            try:
                request.settimeout(30)
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError) as exc:
                log.info("TLS handshake with %s failed: %s", client_address[0], exc)
                return
        with self.connections_lock:
            self.connections.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self.connections_lock:
                self.connections.discard(request)

    def close_connections(self) -> None:
        with self.connections_lock:
            open_sockets = list(self.connections)
        for sock in open_sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def count(self, command: str) -> None:
        with self.requests_lock:
            self.requests[command] += 1


class EasHTTPServer6(EasHTTPServer):
    address_family = socket.AF_INET6


class EasRequestHandler(BaseHTTPRequestHandler):
    server: EasHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "eassync-devserver"
    timeout = IDLE_TIMEOUT

    # --- plumbing ----------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one INFO line per request is written by _log_request instead

    def _send(
        self,
        code: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
        drop_after: int | None = None,
    ) -> None:
        lines = [f"{self.protocol_version} {code} {self.responses.get(code, ('',))[0]}\r\n"]
        all_headers = {"Server": self.server_version, "MS-Server-ActiveSync": SERVER_BUILD}
        if content_type and body:
            all_headers["Content-Type"] = content_type
        all_headers.update(headers or {})
        all_headers["Content-Length"] = str(len(body))
        lines.extend(f"{name}: {value}\r\n" for name, value in all_headers.items())
        raw = "".join(lines).encode("latin-1") + b"\r\n" + body
        if drop_after is not None:
            # Fault: the answer is cut off and the connection closed (a lost response).
            self.wfile.write(raw[:drop_after])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.wfile.write(raw)
        self.wfile.flush()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # NTLM authenticates the connection (this handler lives as long as it does)
    _ntlm_context: Any = None
    _ntlm_user: str | None = None
    _ntlm_challenge: bytes | None = None

    def _authenticated_user(self) -> str | None:
        header = self.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        if self.server.ntlm is not None:
            if scheme.lower() == "ntlm":
                return self._ntlm_step(credentials)
            if self._ntlm_user is not None and not header:
                return self._ntlm_user
        if scheme.lower() == "bearer" and self.server.bearer is not None:
            user = self.server.bearer(credentials.strip())
            return user if user in self.server.users else None
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(credentials).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        expected = self.server.users.get(user)
        return user if expected is not None and expected == password else None

    def _ntlm_step(self, credentials: str) -> str | None:
        acceptor = self.server.ntlm
        assert acceptor is not None
        if self._ntlm_context is None or self._ntlm_context.complete:
            self._ntlm_context, self._ntlm_user = acceptor.new_context(), None
        token, user = acceptor.step(self._ntlm_context, credentials)
        if user is not None and user in self.server.users:
            self._ntlm_user = user
            return user
        self._ntlm_challenge = token
        if token is None:
            self._ntlm_context = None
        return None

    def _unauthorized(self) -> None:
        if self.server.ntlm is not None:
            challenge, self._ntlm_challenge = self._ntlm_challenge, None
            if challenge is not None:
                value = "NTLM " + base64.b64encode(challenge).decode("ascii")
                self._send(401, headers={"WWW-Authenticate": value})
                return
            self.send_response_only(401)
            self.send_header("WWW-Authenticate", "NTLM")
            self.send_header("WWW-Authenticate", 'Basic realm="eassync devserver"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        offer = 'Basic realm="eassync devserver"'
        if self.server.bearer is not None:
            offer = 'Bearer realm="eassync devserver"'
        self._send(401, headers={"WWW-Authenticate": offer})

    def _is_loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.client_address[0]).is_loopback
        except ValueError:
            return False

    # --- verbs -------------------------------------------------------------------------

    def do_OPTIONS(self) -> None:
        started = time.monotonic()
        if urlsplit(self.path).path.lower() != EAS_PATH:
            self._send(404)
            return
        self.server.count("OPTIONS")
        if self._answer_http_fault("OPTIONS"):
            return
        user = self._authenticated_user()
        if user is None:
            self._unauthorized()
            return
        self._send(
            200,
            headers={
                "Allow": "OPTIONS,POST",
                "Public": "OPTIONS,POST",
                **self._version_headers(),
                "Cache-Control": "private",
            },
        )
        _log_request("OPTIONS", user, 200, started)

    def _version_headers(self) -> dict[str, str]:
        return {
            "MS-ASProtocolVersions": ",".join(self.server.versions),
            "MS-ASProtocolCommands": ",".join(sorted(self.server.handlers)),
        }

    def do_GET(self) -> None:
        if urlsplit(self.path).path.startswith(CONTROL_PREFIX):
            self._control("GET")
            return
        self._send(404)

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        if parts.path.startswith(CONTROL_PREFIX):
            self._control("POST")
            return
        if parts.path.lower() != EAS_PATH:
            self._read_body()
            self._send(404)
            return
        self._eas(parts.query)

    # --- EAS ---------------------------------------------------------------------------

    def _eas(self, query: str) -> None:
        started = time.monotonic()
        raw = self._read_body()
        try:
            line = parse_query(query)
        except BadRequest as exc:
            self._send(400, str(exc).encode(), content_type="text/plain")
            return
        command = line.command
        self.server.count(command)
        faults = self.server.faults
        delay = faults.take("delay", command)
        if delay is not None:
            time.sleep(delay.seconds)
        if self._answer_http_fault(command):
            _log_request(command, line.user, "fault", started)
            return

        user = self._authenticated_user()
        if user is None:
            self._unauthorized()
            _log_request(command, line.user, 401, started)
            return
        version = line.version or self.headers.get("MS-ASProtocolVersion")
        if version not in self.server.versions:
            # As Exchange does: 400 plus the OPTIONS headers. A version list on a POST
            # answer tells the client to re-initialise (MS-ASHTTP 2.2.2.1.2.7–8,
            # 3.2.5.1), so a client whose version went away (server downgraded) can
            # ask OPTIONS again. Not X-MS-RP: that one also orders a full resync of
            # the local data (2.2.2.1.2.9), which a version change does not need.
            self._send(
                400,
                b"version not supported",
                headers=self._version_headers(),
                content_type="text/plain",
            )
            _log_request(command, user, 400, started)
            return
        if not line.device_id or not line.device_id.isalnum() or len(line.device_id) > 32:
            self._send(400, b"missing or invalid DeviceId", content_type="text/plain")
            return
        handler = self.server.handlers.get(command)
        if handler is None:
            self._send(501, b"command not supported", content_type="text/plain")
            _log_request(command, user, 501, started)
            return

        quarantine = self.server.settings.quarantine
        if quarantine is not None:
            # a device blocked or quarantined by an admin rule (MS-ASCMD 2.2.2 126/129/
            # 130/177; MS-ASHTTP 2.2.2.1.1 403)
            if quarantine == 403:
                self._send(403, b"device blocked", content_type="text/plain")
            else:
                self._answer(status_response(command, quarantine), command, user, started)
            return
        status_fault = faults.take("status", command)
        if status_fault is not None:
            self._answer(status_response(command, status_fault.code), command, user, started)
            return
        try:
            body = wbxml.decode(raw) if raw else None
        except ProtocolError as exc:
            log.info("%s: undecodable body from %s: %s", command, user, exc)
            self._send(400, b"malformed WBXML", content_type="text/plain")
            _log_request(command, user, 400, started)
            return
        if body is not None and log.isEnabledFor(logging.DEBUG):
            log.debug("%s request from %s:\n%s", command, user, body.to_xml())
        if command == "Sync" and body is not None and self._answer_add_crash(body, version):
            _log_request(command, user, "fatal", started)
            return
        if command == "Sync" and body is not None and self._answer_poison(body):
            _log_request(command, user, "poison", started)
            return

        policy_key = line.policy_key or self.headers.get("X-MS-PolicyKey")
        refusal = self._policy_refusal(command, user, line.device_id, version, policy_key)
        if refusal is None:
            refusal = self._device_info_refusal(command, user, line.device_id)
        if refusal is not None:
            if isinstance(refusal, int):
                self._send(refusal)
                _log_request(command, user, refusal, started)
            else:
                self._answer(refusal, command, user, started)
            return

        ctx = Context(
            store=self.server.store,
            settings=self.server.settings,
            caches=self.server.caches,
            user=user,
            device=line.device_id,
            device_type=line.device_type,
            version=version,
            params=line.params,
            faults=faults,
        )
        endless = faults.take("endless_more", command) if body is not None else None
        if endless is not None and endless.new_items:
            assert body is not None
            _add_one_item_to_each_folder(ctx, body)
        try:
            response = handler(ctx, body)
            if endless is not None and response is not None:
                for collection in response.findall("AirSync:Collections/AirSync:Collection"):
                    if collection.find("AirSync:MoreAvailable") is None:
                        collection.add("AirSync:MoreAvailable")
        except Exception:
            log.exception("%s from %s failed", command, user)
            self._send(500)
            _log_request(command, user, 500, started)
            return
        self._answer(response, command, user, started)

    def _answer(self, response: Element | None, command: str, user: str, started: float) -> None:
        drop = self.server.faults.take("drop", command)
        drop_after = drop.after_bytes if drop is not None else None
        if response is None:
            self._send(200, drop_after=drop_after)
            _log_request(command, user, 200, started)
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s response to %s:\n%s", command, user, response.to_xml())
        self._send(200, wbxml.encode(response), content_type=WBXML_TYPE, drop_after=drop_after)
        status = response.text(f"{response.page}:Status") or "1"
        if command == "Sync" and response.find("AirSync:Collections") is not None:
            status = ",".join(  # one status per collection, with its item count
                f"{c.text('AirSync:Status')}"
                f"+{len(c.find('AirSync:Commands') or [])}"
                f"{'…' if c.find('AirSync:MoreAvailable') is not None else ''}"
                for c in response.findall("AirSync:Collections/AirSync:Collection")
            )
        _log_request(command, user, f"200/{status}", started)

    def _answer_poison(self, body: Element) -> bool:
        """A Sync carrying an item an armed ``poison`` fault selects fails whole."""
        path = "AirSync:Collections/AirSync:Collection/AirSync:Commands"
        for commands in body.findall(path):
            for cmd in commands:
                if cmd.tag not in ("AirSync:Add", "AirSync:Change"):
                    continue
                data = cmd.find("AirSync:ApplicationData")
                if data is None:
                    continue
                fault = self.server.faults.take_item("poison", "Sync", data.to_xml())
                if fault is None:
                    continue
                if fault.answer == "500":
                    self._send(500, b"Internal Server Error", content_type="text/plain")
                elif fault.answer == "empty":
                    self._send(200)
                else:
                    page = b"<html><head><title>Fatal Error</title></head><body>oops</body></html>"
                    self._send(200, page, content_type="text/html")
                return True
        return False

    def _answer_add_crash(self, body: Element, version: str) -> bool:
        """Horde 5.2 stock at 16.0 crashes on an Add whose Exceptions carry InstanceId."""
        if not self.server.store.add_exceptions_crash or not version.startswith("16"):
            return False
        path = "AirSync:Collections/AirSync:Collection/AirSync:Commands/AirSync:Add"
        for add in body.findall(path):
            data = add.find("AirSync:ApplicationData")
            if data is not None and itemdata.exceptions_by_instance(data):
                self.server.store.add_exceptions_failures += 1
                page = b"<html><head><title>Fatal Error</title></head><body>oops</body></html>"
                self._send(200, page, content_type="text/html")
                return True
        return False

    def _answer_http_fault(self, command: str) -> bool:
        fault = self.server.faults.take("http_status", command)
        if fault is None:
            return False
        self._send(fault.code, fault.body, headers=fault.headers)
        return True

    def _policy_refusal(
        self, command: str, user: str, device: str, version: str, policy_key: str | None
    ) -> Element | int | None:
        """HTTP 449 (≤12.1) or Status 142/144 (≥14.0) when the device must Provision first."""
        store = self.server.store
        if command == "Provision":
            return None
        wipe = store.wipe_pending(user)
        free = command in POLICY_FREE or (
            command == "Settings" and self.server.settings.device_info_required
        )
        if not wipe and (free or not self.server.settings.require_provision):
            return None
        known = store.device(user, device)["policy_key"]
        if not wipe and known is not None and policy_key == known:
            return None
        if version_tuple(version) < (14, 0):
            return 449
        missing = policy_key in (None, "", "0") or wipe
        return status_response(command, 142 if missing else 144)

    def _device_info_refusal(self, command: str, user: str, device: str) -> Element | None:
        """Exchange Online: Status 138 until Settings/DeviceInformation (issue 15)."""
        if not self.server.settings.device_info_required or command in ("Provision", "Settings"):
            return None
        if self.server.store.device(user, device)["info"] is not None:
            return None
        return status_response(command, 138)

    # --- control endpoint --------------------------------------------------------------

    def _control(self, verb: str) -> None:
        raw = self._read_body() if verb == "POST" else b""
        if not self.server.control_enabled or not self._is_loopback():
            self._send(404)
            return
        parts = urlsplit(self.path)
        try:
            payload = json.loads(raw) if raw else {}
            result = control.dispatch(self.server, verb, parts.path, parts.query, payload)
        except control.NotFound as exc:
            self._send_json(404, {"error": str(exc)})
            return
        except (ValueError, KeyError, TypeError, ProtocolError) as exc:
            self._send_json(400, {"error": f"{type(exc).__name__}: {exc}"})
            return
        self._send_json(200, result)

    def _send_json(self, code: int, payload: Any) -> None:
        self._send(code, json.dumps(payload).encode(), content_type="application/json")


def _add_one_item_to_each_folder(ctx: Context, body: Element) -> None:
    """The ``endless_more`` fault with new items: a contact appears in each folder the
    Sync names (another device adding, as fast as the client downloads)."""
    from eassync.eas.element import E

    for collection in body.findall("AirSync:Collections/AirSync:Collection"):
        folder_id = collection.text("AirSync:CollectionId")
        if folder_id is None or ctx.store.folder(ctx.user, folder_id) is None:
            continue
        n = ctx.store.count_items(ctx.user, folder_id)
        data = E(
            "AirSync:ApplicationData",
            E("Contacts:FirstName", value=f"Endless{n:05d}"),
            E("Contacts:LastName", value="Example"),
        )
        ctx.store.add_item(ctx.user, folder_id, data)


def _log_request(command: str, user: str, status: object, started: float) -> None:
    elapsed = (time.monotonic() - started) * 1000
    log.info("%s user=%s status=%s %.1fms", command, user or "-", status, elapsed)


def make_server(
    host: str,
    port: int,
    *,
    store: Store,
    users: dict[str, str],
    versions: list[str],
    settings: ServerSettings,
    faults: Faults,
    control_enabled: bool,
    tls: ssl.SSLContext | None,
) -> EasHTTPServer:
    server_class: type[EasHTTPServer] = EasHTTPServer
    if ":" in host:  # an IPv6 literal such as ::1
        server_class = EasHTTPServer6
    return server_class(
        (host, port),
        store=store,
        users=users,
        versions=versions,
        settings=settings,
        faults=faults,
        control_enabled=control_enabled,
        tls=tls,
    )
