"""A protocol trace for bug reports (``--trace DIR``): each EAS request and its answer
in one numbered file, bodies as the readable XML of ``eassync debug wbxml decode``.

What a trace must never hold, since users attach it to public issues: credentials
(the Authorization header, cookies, passwords in a body) and, unless asked
(``--trace-items``), what the items say: the content of ``ApplicationData`` and of the
other elements that carry names, addresses and bodies (:data:`ITEM_DATA`) is replaced
by :data:`REDACTED`, keeping the element names so a report still shows which fields
went where. The user name is personal too: the ``User`` of the URL is redacted. The
DeviceId stays (administrators need it, and it identifies no person).

The folder is made 0700 and each file 0600. Pure redaction (:func:`redact_tree`,
:func:`redact_url`, :func:`redact_headers`) is separate from the writing
(:class:`Tracer`) so it is tested without files.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from eassync.eas.element import Element
from eassync.errors import ProtocolError, UsageError

REDACTED = "[redacted]"

#: elements whose whole content is item data: names, addresses, bodies, photos
ITEM_DATA = frozenset(
    {
        "AirSync:ApplicationData",  # contacts, events, tasks, notes (MS-ASCMD 2.2.3.11)
        "ItemOperations:Properties",  # a fetched item
        "ItemOperations:Data",  # a fetched attachment
        "Search:Properties",  # GAL results
        "Search:Query",  # what the user searched for
        "Find:Properties",
        "Find:Query",
        "ResolveRecipients:To",  # free/busy: whom the user asks about
        "ResolveRecipients:Recipient",
        "Settings:UserInformation",  # the user's addresses and display name
        "Settings:ReplyMessage",  # the out-of-office text
        "Settings:FriendlyName",  # "eassync on <host name>"
        "ComposeMail:Mime",
        "MeetingResponse:SendResponse",  # the comment sent to the organizer
    }
)

#: elements that carry a password: redacted even with ``--trace-items``
SECRETS = frozenset(
    {"Settings:Password", "Settings:DevicePassword", "ItemOperations:Password", "Search:Password"}
)

#: headers that carry credentials: only their scheme is kept ("Basic [redacted]")
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization"})
_COOKIE_HEADERS = frozenset({"cookie", "set-cookie"})
#: query parameters that name the person
_PERSONAL_PARAMS = frozenset({"user"})

#: bytes of an undecodable body shown as hex when item data is redacted: enough to
#: see the header and where decoding went wrong, not a whole item
HEX_PREVIEW = 256
#: bytes of a non-WBXML answer (an HTML error page) kept as text
TEXT_LIMIT = 64 * 1024

_NUMBERED = re.compile(r"^(\d{4,})-[A-Za-z0-9_.-]*\.txt$")


def redact_tree(root: Element, *, items: bool) -> Element:
    """A copy of ``root`` with secrets, and item data unless ``items``, redacted."""

    def copy(node: Element, hidden: bool) -> Element:
        hidden = hidden or (not items and node.tag in ITEM_DATA)
        if node.tag in SECRETS or (hidden and not node.children and node.value is not None):
            return Element(node.tag, value=REDACTED)
        return Element(node.tag, [copy(c, hidden) for c in node.children], node.value)

    return copy(root, False)


def redact_url(url: str) -> str:
    """``url`` with the user name in its query (``User=``) and any userinfo redacted."""
    parts = urlsplit(url)
    query = [
        (key, REDACTED if key.lower() in _PERSONAL_PARAMS else value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    return urlunsplit(
        (parts.scheme, netloc, parts.path, urlencode(query, safe="[]"), parts.fragment)
    )


def redact_headers(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    out = []
    for name, value in headers.items():
        lower = name.lower()
        if lower in _CREDENTIAL_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value else ""
            value = f"{scheme} {REDACTED}".strip()
        elif lower in _COOKIE_HEADERS:
            value = REDACTED
        out.append((name, value))
    return out


def render_body(body: bytes | None, content_type: str, *, items: bool) -> str:
    """A request or answer body as a person reads it: WBXML as XML (redacted), a
    body that does not decode as hex with the error, other text as text."""
    from eassync.eas.wbxml import decode
    from eassync.eas.xmlform import to_xml

    if not body:
        return "(no body)\n"
    if body.startswith(b"\x03\x01"):
        try:
            tree = decode(body)
        except ProtocolError as exc:
            return f"(WBXML that does not decode: {exc})\n" + _hex(body, items=items)
        return to_xml(redact_tree(tree, items=items))
    if content_type == "application/vnd.ms-sync.multipart":
        return f"(multipart answer, {len(body)} bytes: not shown)\n"
    if content_type.startswith("application/vnd.ms-sync") or b"\x00" in body[:512]:
        return f"(binary, {len(body)} bytes)\n" + _hex(body, items=items)
    text = body[:TEXT_LIMIT].decode("utf-8", "replace")
    more = f"\n(… {len(body) - TEXT_LIMIT} more bytes)" if len(body) > TEXT_LIMIT else ""
    return text + more + "\n"


def _hex(body: bytes, *, items: bool) -> str:
    shown = body if items else body[:HEX_PREVIEW]
    lines = [shown[i : i + 32].hex(" ") for i in range(0, len(shown), 32)]
    if len(shown) < len(body):
        lines.append(
            f"(… {len(body) - len(shown)} more bytes left out: they may hold item data; "
            "--trace-items includes them)"
        )
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Exchange:
    """One request and its answer (``status`` None: no answer, ``error`` says why)."""

    method: str
    url: str
    request_headers: Mapping[str, str]
    request_body: bytes | None
    status: int | None = None
    response_headers: Mapping[str, str] | None = None
    response_body: bytes | None = None
    error: str | None = None
    seconds: float | None = None


def render(number: int, exchange: Exchange, *, items: bool) -> str:
    """The text of one trace file."""
    ex = exchange
    cmd = dict(parse_qsl(urlsplit(ex.url).query)).get("Cmd", "")
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    took = f", {ex.seconds:.3f} s" if ex.seconds is not None else ""
    out = [
        f"# eassync protocol trace {number:04d}: {ex.method} {cmd}".rstrip(),
        f"# {when}{took}; credentials, the user name"
        + ("" if items else " and item data")
        + f" replaced by {REDACTED}",
        "",
        f"{ex.method} {redact_url(ex.url)}",
        *(f"{k}: {v}" for k, v in redact_headers(ex.request_headers)),
        "",
        render_body(ex.request_body, "", items=items),
    ]
    if ex.status is None:
        out.append(f"(no answer: {ex.error or 'unknown error'})\n")
    else:
        headers = ex.response_headers or {}
        content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
        out += [
            f"HTTP {ex.status}",
            *(f"{k}: {v}" for k, v in redact_headers(headers)),
            "",
            render_body(ex.response_body, content_type, items=items),
        ]
    return "\n".join(out)


class Tracer:
    """Writes each exchange to ``NNNN-CMD.txt`` in a private folder; a folder used
    before goes on after its highest number, so several runs read in order."""

    def __init__(self, directory: Path, *, items: bool = False) -> None:
        self.directory = directory
        self.items = items
        self._lock = threading.Lock()
        self._number = _prepare(directory)

    def record(self, exchange: Exchange) -> Path:
        cmd = dict(parse_qsl(urlsplit(exchange.url).query)).get("Cmd") or exchange.method
        safe_cmd = re.sub(r"[^A-Za-z0-9_]", "_", cmd)[:40]
        with self._lock:
            self._number += 1
            number = self._number
        text = render(number, exchange, items=self.items)
        path = self.directory / f"{number:04d}-{safe_cmd}.txt"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        return path


def _prepare(directory: Path) -> int:
    """Create or check the folder (0700); the highest number of the files in it.
    A folder that holds anything but trace files is refused: it is made private,
    which would be wrong for a folder such as ``/tmp`` or the home folder."""
    try:
        if not directory.exists():
            directory.mkdir(parents=True, mode=0o700)
        if not directory.is_dir():
            raise UsageError(f"--trace {directory}: not a folder")
        names = [entry.name for entry in directory.iterdir()]
        strangers = [n for n in names if not _NUMBERED.match(n)]
        if strangers:
            raise UsageError(
                f"--trace {directory}: the folder holds other files ({_few(strangers)})",
                hint="give a new or empty folder: the trace makes it private (mode 0700)",
            )
        os.chmod(directory, 0o700)
    except OSError as exc:
        raise UsageError(
            f"--trace {directory}: cannot use this folder: {exc.strerror or exc}",
            hint="give a folder you can write to",
        ) from None
    numbers = [int(m.group(1)) for n in names if (m := _NUMBERED.match(n))]
    return max(numbers, default=0)


def _few(names: Iterable[str]) -> str:
    listed = sorted(names)
    return ", ".join(listed[:3]) + (", …" if len(listed) > 3 else "")


# --- the trace of this process ----------------------------------------------------------
# Like the logging setup, a trace is the whole run's: every transport the run opens
# (sync, watch's Ping beside it, discover) writes to it.

_active: Tracer | None = None


def start(directory: Path, *, items: bool = False) -> Tracer:
    global _active
    _active = Tracer(directory, items=items)
    return _active


def stop() -> None:
    global _active
    _active = None


def active() -> Tracer | None:
    return _active
