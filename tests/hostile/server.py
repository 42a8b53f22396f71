"""The scripted loopback servers of :mod:`tests.hostile` (see its docstring)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.servers.certs import Certs

#: headers that carry credentials; the trap records any request holding one
CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")


@dataclass(frozen=True)
class Seen:
    """One request as it arrived."""

    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    server: str  # "127.0.0.2:41234"

    @property
    def credentials(self) -> dict[str, str]:
        return {k: v for k, v in self.headers.items() if k in CREDENTIAL_HEADERS}


class Reply:
    """How the server answers one request; subclasses write to the handler."""

    def send(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError


@dataclass
class Answer(Reply):
    """A plain answer: status, headers, body (Content-Length set unless given)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def send(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(self.status)
        headers = {"Content-Length": str(len(self.body)), **self.headers}
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(self.body)


def redirect(location: str, status: int = 302) -> Answer:
    """An HTTP redirect (30x) to ``location``."""
    return Answer(status, {"Location": location})


def moved(location: str) -> Answer:
    """EAS "mailbox moved": HTTP 451 with ``X-MS-Location`` (MS-ASHTTP 3.2.5.1)."""
    return Answer(451, {"X-MS-Location": location})


def html_page(status: int = 200, title: str = "Sign in") -> Answer:
    """What a captive portal or a login proxy answers instead of the protocol."""
    body = f"<!DOCTYPE html><html><head><title>{title}</title></head><body>" + "x" * 200
    return Answer(status, {"Content-Type": "text/html; charset=utf-8"}, body.encode())


@dataclass
class Dribble(Reply):
    """Sends ``body`` ``step`` bytes every ``interval`` seconds, after the headers, or
    the headers themselves that slowly with ``headers_too``. Stops at once when the
    client goes away or the server stops."""

    body: bytes = b"x" * 10_000
    interval: float = 0.2
    step: int = 1
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    headers_too: bool = False

    def send(self, handler: BaseHTTPRequestHandler) -> None:
        server: _Server = handler.server  # type: ignore[assignment]
        head = f"HTTP/1.1 {self.status} OK\r\n".encode()
        fields = {"Content-Length": str(len(self.body)), **self.headers}
        lines = "".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode() + b"\r\n"
        slow = head + lines + self.body if self.headers_too else self.body
        if not self.headers_too:
            handler.wfile.write(head + lines)
        for start in range(0, len(slow), self.step):
            if server.stopping.is_set():
                return
            try:
                handler.wfile.write(slow[start : start + self.step])
                handler.wfile.flush()
            except OSError:
                return  # the client hung up: what it should do
            server.stopping.wait(self.interval)


@cache
def compressed_zeros(size: int, coding: str) -> bytes:
    """``size`` zeros, compressed, built in milliseconds: once zlib's window is all
    zeros, each further MiB compresses to the same bytes (after a full flush), so
    the stream is the first MiB, that block repeated, and the rest."""
    mib = 1 << 20
    zeros = b"\0" * mib
    raw = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = raw.compress(zeros) + raw.flush(zlib.Z_FULL_FLUSH)
    repeat = raw.compress(zeros) + raw.flush(zlib.Z_FULL_FLUSH)
    whole, rest = divmod(size, mib)
    blocks = [first, repeat * (whole - 1)] if whole else []
    body = b"".join([*blocks, raw.compress(b"\0" * rest), raw.flush()])
    check = zlib.crc32(b"") if coding == "gzip" else zlib.adler32(b"")
    for _ in range(whole):
        check = zlib.crc32(zeros, check) if coding == "gzip" else zlib.adler32(zeros, check)
    tail = b"\0" * rest
    check = zlib.crc32(tail, check) if coding == "gzip" else zlib.adler32(tail, check)
    if coding == "gzip":  # RFC 1952: header, deflate data, CRC32, size mod 2^32
        return (
            b"\x1f\x8b\x08\x00\0\0\0\0\x02\xff"
            + body
            + struct.pack("<II", check, size & 0xFFFFFFFF)
        )
    return b"\x78\xda" + body + struct.pack(">I", check)  # RFC 1950


@dataclass
class Bomb(Reply):
    """A compressed answer of ``size`` zero bytes (1 GiB ≈ 1 MB on the wire)."""

    size: int = 1 << 30
    coding: str = "gzip"  # or deflate
    status: int = 200
    content_type: str = "application/octet-stream"

    def send(self, handler: BaseHTTPRequestHandler) -> None:
        body = compressed_zeros(self.size, self.coding)
        Answer(
            self.status,
            {"Content-Type": self.content_type, "Content-Encoding": self.coding},
            body,
        ).send(handler)


Script = Callable[[Seen], Reply | None]


@dataclass
class _Rule:
    reply: Reply | Script
    method: str | None
    path: str | None
    times: int | None

    def answer(self, seen: Seen) -> Reply | None:
        if self.method is not None and seen.method != self.method:
            return None
        if self.path is not None and not seen.path.startswith(self.path):
            return None
        if self.times is not None:
            if self.times <= 0:
                return None
            self.times -= 1
        return self.reply(seen) if callable(self.reply) else self.reply


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], owner: HostileServer) -> None:
        self.owner = owner
        self.stopping = threading.Event()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up on a bomb or a dribble is the expected outcome


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = Seen(
            self.command,
            self.path,
            {k.lower(): v for k, v in self.headers.items()},
            body,
            f"{self.server.server_address[0]}:{self.server.server_address[1]}",
        )
        owner = self.server.owner
        with owner.lock:
            owner.seen.append(seen)
            rules = list(owner.rules)
        for rule in rules:
            reply = rule.answer(seen)
            if reply is not None:
                break
        else:
            reply = owner.default(seen)
        reply.send(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = _handle
    do_PROPFIND = do_REPORT = do_MKCOL = do_MKCALENDAR = do_HEAD = _handle


class HostileServer:
    """An HTTP(S) server on a loopback address that answers as a test scripts it.

    Rules added with :meth:`on` are tried in order; the first that matches answers.
    Without a match the server answers :meth:`default` (404). ``seen`` holds every
    request, in order of arrival.
    """

    def __init__(self, host: str = "127.0.0.1", *, certs: Certs | None = None) -> None:
        self.host = host
        self.certs = certs
        self.rules: list[_Rule] = []
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self._server = _Server((host, 0), self)
        if certs is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certs.cert, certs.key)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread: threading.Thread | None = None

    # --- scripting ---

    def on(
        self,
        reply: Reply | Script,
        *,
        method: str | None = None,
        path: str | None = None,
        times: int | None = None,
    ) -> HostileServer:
        """Answer requests matching ``method`` and the ``path`` prefix with ``reply``
        (a Reply, or a callable returning one or None to pass), ``times`` times or
        for ever."""
        with self.lock:
            self.rules.append(_Rule(reply, method, path, times))
        return self

    def default(self, seen: Seen) -> Reply:
        return Answer(404, {"Content-Type": "text/plain"}, b"not scripted")

    def requests(self, method: str | None = None) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if method is None or s.method == method]

    # --- where ---

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        scheme = "https" if self.certs else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.origin + path

    # --- life ---

    def start(self) -> HostileServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class CredentialTrap(HostileServer):
    """ "Another host" on 127.0.0.2: answers 401 + a Basic challenge to everything, so
    that a client willing to log in there would; ``credentials`` lists the requests
    that carried Authorization, Proxy-Authorization or Cookie."""

    def __init__(self, host: str = "127.0.0.2", *, certs: Certs | None = None) -> None:
        super().__init__(host, certs=certs)

    def default(self, seen: Seen) -> Reply:
        return Answer(401, {"WWW-Authenticate": 'Basic realm="trap"'}, b"")

    @property
    def credentials(self) -> list[Seen]:
        return [s for s in self.requests() if s.credentials]


class DribblingRelay:
    """A TCP relay on 127.0.0.1 in front of ``upstream`` (host, port) that passes the
    client's bytes on at once but the server's ``step`` bytes every ``interval``
    seconds: a slow link, or a hostile middlebox, below TLS (the handshake dribbles
    too). ``url(path)`` uses ``scheme`` so certificates still match 127.0.0.1."""

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        scheme: str = "https",
        interval: float = 0.05,
        step: int = 1,
    ) -> None:
        self.upstream = upstream
        self.scheme = scheme
        self.interval = interval
        self.step = step
        self.stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self._spawn(self._pipe, client, server, 0.0)
            self._spawn(self._pipe, server, client, self.interval)

    def _pipe(self, src: socket.socket, dst: socket.socket, interval: float) -> None:
        try:
            while not self.stopping.is_set():
                data = src.recv(65536)
                if not data:
                    break
                if not interval:
                    dst.sendall(data)
                    continue
                for start in range(0, len(data), self.step):
                    if self.stopping.wait(interval):
                        return
                    dst.sendall(data[start : start + self.step])
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> DribblingRelay:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._listener.close()


def wait_until(predicate: Callable[[], bool], seconds: float = 5.0) -> bool:
    """Poll ``predicate`` (for a server thread to record something); not a timing
    assertion: it only waits for an event that must come."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
