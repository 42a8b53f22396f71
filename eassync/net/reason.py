"""Why a connection failed, in the operating system's words ("Connection refused",
"Name or service not known"), not urllib3's pool message, which repeats the whole
URL and, cut to fit a line, ends mid-word."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import requests


def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: requests → urllib3 → socket/ssl, by cause, context,
    ``reason`` or ``args``."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        cause = todo.pop(0)
        if id(cause) in seen:
            continue
        seen.add(id(cause))
        yield cause
        nested = [getattr(cause, "reason", None), cause.__cause__, cause.__context__]
        nested.extend(cause.args)
        todo.extend(n for n in nested if isinstance(n, BaseException))


def reason(exc: BaseException, *, limit: int = 120) -> str:
    """The innermost OS reason; else the exception's own words, cut at a word."""
    for cause in chain(exc):
        if isinstance(cause, OSError) and not isinstance(cause, requests.RequestException):
            if cause.strerror:
                return str(cause.strerror)
            ssl_reason = getattr(cause, "reason", None)
            if isinstance(ssl_reason, str) and ssl_reason:
                return ssl_reason.replace("_", " ").lower()
    return shorten(str(exc) or type(exc).__name__, limit)


def shorten(text: str, limit: int) -> str:
    """``text`` cut at the last space before ``limit``, with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut + " …"


def refused(exc: BaseException) -> bool:
    """The connection was refused (nothing listens on that port)."""
    return any(isinstance(cause, ConnectionRefusedError) for cause in chain(exc))


def host_port(url: str) -> str:
    """``host:port`` of ``url``, the default port written out (what a person checks)."""
    parts = urlsplit(url)
    host = parts.hostname or url
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port or (443 if parts.scheme == 'https' else 80)}"
