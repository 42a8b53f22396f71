"""Requests that end in time and answers that fit in memory.

``requests`` has only a per-read timeout: a server that sends one byte every few
seconds holds a request forever. And it inflates a gzip answer without limit: a 1 MB
answer of zeros becomes gigabytes. :func:`send` fixes both for one request:

- a **deadline** for the whole request (connect, send, status line, headers, body).
  A watchdog thread shuts the request's socket down when it passes, which wakes a
  blocked read at once; the body loop checks the clock too. The per-read timeout
  still bounds each wait on its own.
- a **size cap** on the body *after* decompression. The body is streamed raw and
  inflated here, ``max_length`` at a time (zlib), so a bomb stops at the cap plus one
  chunk; only gzip and deflate are asked for (Accept-Encoding) or accepted.

The answer is an ordinary ``requests.Response`` whose body is already read, so
callers use ``.content`` as before.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import logging
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from eassync.errors import ProtocolError, RequestTimeout, ResponseTooLarge

log = logging.getLogger(__name__)

#: decoded bytes handed on at a time; also the most a bomb overshoots the cap by
CHUNK = 64 * 1024
#: the content codings we ask for and can inflate with a bound (RFC 9110 §8.4.1)
ACCEPT_ENCODING = "gzip, deflate"
#: default cap on one answer, decompressed (see the man page, max_response_size)
DEFAULT_MAX_SIZE = 64 * 1024 * 1024


@dataclass(frozen=True)
class Limits:
    #: seconds for the whole request, from connecting to the last byte of the answer
    timeout: float
    #: bytes of one answer's body after decompression
    max_size: int = DEFAULT_MAX_SIZE


# --- the deadline ----------------------------------------------------------------------


class _Watchdog:
    """One daemon thread that runs callbacks at monotonic times (cheaper than a
    thread per request: DAV sends one request per item)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, list[Any]]] = []
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, when: float, fire: Callable[[], None]) -> list[Any]:
        entry: list[Any] = [fire]  # entry[0] = None once disarmed
        with self._cond:
            heapq.heappush(self._heap, (when, next(self._ids), entry))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="eassync-deadline", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return entry

    @staticmethod
    def disarm(entry: list[Any]) -> None:
        entry[0] = None

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][2][0] is None:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                when, _, entry = self._heap[0]
                delay = when - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
                fire = entry[0]
            if fire is not None:
                try:
                    fire()
                except Exception:  # a watchdog that dies would stop every deadline
                    log.debug("deadline callback failed", exc_info=True)


_WATCHDOG = _Watchdog()
_CURRENT: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "eassync_deadline", default=None
)


class Deadline:
    """The end of one request. Sockets used within ``with deadline:`` are attached
    by the connection classes below and shut down when the deadline passes."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._entry: list[Any] | None = None
        self._token: contextvars.Token[Deadline | None] | None = None

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def passed(self) -> bool:
        return self.expired or time.monotonic() >= self.at

    def attach(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if not any(s is sock for s in self._sockets):
                self._sockets.append(sock)
            if self.expired:
                _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)

    def __enter__(self) -> Deadline:
        self._token = _CURRENT.set(self)
        self._entry = _WATCHDOG.arm(self.at, self._fire)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._entry is not None:
            _WATCHDOG.disarm(self._entry)
        if self._token is not None:
            _CURRENT.reset(self._token)
        with self._lock:
            self._sockets.clear()


def _shutdown(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for an SSLSocket: it wakes a read blocked in
    # another thread (Linux returns EOF) without touching the TLS object under it.
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


class _Watched:
    """Connection mixin: attach the socket to the current deadline whenever it is
    used (a pooled keep-alive connection does not connect again)."""

    sock: socket.socket | None

    def _attach(self) -> None:
        deadline = _CURRENT.get()
        if deadline is not None:
            deadline.attach(self.sock)

    def _new_conn(self) -> socket.socket:
        # the plain TCP socket, before the TLS handshake: a server that dribbles its
        # handshake is cut off too
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        deadline = _CURRENT.get()
        if deadline is not None:
            deadline.attach(sock)
        return sock

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self._attach()

    def request(self, *args: Any, **kwargs: Any) -> Any:
        self._attach()
        return super().request(*args, **kwargs)  # type: ignore[misc]

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        self._attach()
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


def watch_session(session: requests.Session) -> requests.Session:
    """Make every adapter of ``session`` use connections that honour :class:`Deadline`.
    Works on any ``HTTPAdapter`` (tests mount their own routing adapters)."""
    for adapter in session.adapters.values():
        manager = getattr(adapter, "poolmanager", None)
        if manager is not None and manager.pool_classes_by_scheme is not _POOLS:
            manager.clear()
            manager.pool_classes_by_scheme = _POOLS
    return session


# --- decompression with a bound ------------------------------------------------------------


class _Inflater:
    """One gzip or deflate layer, giving out at most :data:`CHUNK` bytes at a time."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        gzip = coding in ("gzip", "x-gzip")
        self._wbits = 16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS
        self._obj = zlib.decompressobj(self._wbits)
        #: deflate only: the first bytes, until two tell zlib-wrapped from raw
        self._head: bytes | None = b"" if coding == "deflate" else None

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._head is not None:
            # "deflate" should be zlib-wrapped (RFC 9110 §8.4.1.2); some servers (IIS)
            # send raw deflate. The two-byte zlib header tells, as urllib3 finds out.
            self._head += data
            if len(self._head) < 2:
                return
            data, self._head = self._head, None
            try:
                zlib.decompressobj(self._wbits).decompress(data[:2])
            except zlib.error:
                self._wbits = -zlib.MAX_WBITS
                self._obj = zlib.decompressobj(self._wbits)
        while data:
            if self._obj.eof:
                if not (self._wbits > 16 and data.startswith(b"\x1f\x8b")):
                    return  # trailing bytes after the stream: ignored, as urllib3 does
                self._obj = zlib.decompressobj(self._wbits)  # the next gzip member
            out = self._obj.decompress(data, CHUNK)
            if out:
                yield out
            data = self._obj.unused_data if self._obj.eof else self._obj.unconsumed_tail
        yield from self.drain()

    def drain(self) -> Iterator[bytes]:
        """Output zlib still holds without more input (never ``flush()``: unbounded)."""
        if self._head:  # a one-byte body: let zlib judge it
            head, self._head = self._head, None
            yield from self.feed(head)
        while not self._obj.eof:
            out = self._obj.decompress(b"", CHUNK)
            if not out:
                return
            yield out


def _decoders(header: str | None) -> list[_Inflater]:
    """The layers to undo, outermost first (codings are listed in the order applied)."""
    codings = [c.strip().lower() for c in (header or "").split(",") if c.strip()]
    layers = []
    for coding in reversed(codings):
        if coding == "identity":
            continue
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise ValueError(f"unsupported Content-Encoding {coding!r}")
        layers.append(_Inflater(coding))
    return layers


def _decode(chunks: Iterator[bytes], layers: list[_Inflater]) -> Iterator[bytes]:
    if not layers:
        yield from chunks
        return
    first, rest = layers[0], layers[1:]

    def inner() -> Iterator[bytes]:
        for chunk in chunks:
            yield from first.feed(chunk)
        yield from first.drain()

    yield from _decode(inner(), rest)


# --- one request -------------------------------------------------------------------------


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    limits: Limits,
    what: str,
    connect_timeout: float | None = None,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> requests.Response:
    """``session.request`` within ``limits``; the body is read and decoded here.

    ``what`` names the request in errors ("account 'work' at host: Sync"). Raises
    :class:`RequestTimeout`, :class:`ResponseTooLarge`, :class:`ProtocolError` (a
    coding we cannot undo, a broken gzip stream) or what ``requests`` raises.
    """
    all_headers = {"Accept-Encoding": ACCEPT_ENCODING, **(headers or {})}
    # each wait (connect, every read) is bounded on its own too: the socket timeouts
    connect = min(connect_timeout or limits.timeout, limits.timeout)
    with Deadline(limits.timeout) as deadline:
        try:
            response = session.request(
                method,
                url,
                headers=all_headers,
                timeout=(connect, limits.timeout),
                stream=True,
                **kwargs,
            )
        except (requests.exceptions.RequestException, OSError) as exc:
            if deadline.passed():
                raise _timeout(what, limits) from exc
            raise
        try:
            _read_body(response, limits, what, deadline)
        except BaseException:
            response.close()  # never reuse a connection with an unread answer
            raise
    return response


def _read_body(response: requests.Response, limits: Limits, what: str, deadline: Deadline) -> None:
    try:
        layers = _decoders(response.headers.get("Content-Encoding"))
    except ValueError as exc:
        raise ProtocolError(f"{what}: {exc}") from None
    declared = response.headers.get("Content-Length", "")
    if not layers and declared.isdigit() and int(declared) > limits.max_size:
        raise _too_large(what, limits)
    chunks: list[bytes] = []
    size = 0
    raw = response.raw.stream(CHUNK, decode_content=False)
    try:
        for chunk in _decode(raw, layers):
            size += len(chunk)
            if size > limits.max_size:
                raise _too_large(what, limits)
            chunks.append(chunk)
            if deadline.passed():
                raise _timeout(what, limits)
    except zlib.error as exc:
        if deadline.passed():
            raise _timeout(what, limits) from None
        raise ProtocolError(f"{what}: the compressed answer is broken: {exc}") from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        if deadline.passed():
            raise _timeout(what, limits) from None
        # the same classes requests' own reading raises, so callers map them once
        if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
            raise requests.exceptions.ReadTimeout(exc) from exc
        if isinstance(exc, urllib3.exceptions.ProtocolError):
            raise requests.exceptions.ChunkedEncodingError(exc) from exc
        raise requests.exceptions.ConnectionError(exc) from exc
    if deadline.passed():  # a connection-close body cut short by the watchdog
        raise _timeout(what, limits)
    # requests' own cache of a read body: .content / .text work as usual
    response._content = b"".join(chunks)
    response._content_consumed = True  # type: ignore[attr-defined]


def _timeout(what: str, limits: Limits) -> RequestTimeout:
    return RequestTimeout(
        f"{what}: no complete answer within {limits.timeout:g} s",
        hint="the server is too slow or stalls; raise `timeout` if it is only slow",
    )


def _too_large(what: str, limits: Limits) -> ResponseTooLarge:
    return ResponseTooLarge(
        f"{what}: the answer is larger than {_size(limits.max_size)} (max_response_size)",
        hint="if the data is genuine (a big attachment or photo), raise max_response_size",
    )


def _size(n: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} bytes"
