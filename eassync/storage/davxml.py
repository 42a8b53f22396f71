"""WebDAV/CalDAV/CardDAV request bodies and multistatus parsing (pure: no I/O).

Bodies follow RFC 4918 (PROPFIND), RFC 6578 (sync-collection), RFC 4791 §7.9
(calendar-multiget, calendar-query) and RFC 6352 §8.7 (addressbook-multiget),
RFC 4791 §5.3.1 (MKCALENDAR) and RFC 5689 (extended MKCOL). Answers come from the
network, so they are parsed with ``defusedxml`` (no entities, no external DTDs).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urljoin, urlsplit
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from defusedxml.ElementTree import ParseError, fromstring

from eassync.errors import ProtocolError

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CARDDAV = "urn:ietf:params:xml:ns:carddav"
CS = "http://calendarserver.org/ns/"

#: characters left as they are when an href path is (re)quoted; everything else is
#: percent-encoded, so that two spellings of one href compare equal
_HREF_SAFE = "/@:+!$&'()*,;=~-._"

_NAMESPACES = f'xmlns:D="{DAV}" xmlns:C="{CALDAV}" xmlns:CR="{CARDDAV}" xmlns:CS="{CS}"'
_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n'


def q(name: str, ns: str = DAV) -> str:
    """ElementTree's ``{namespace}name`` spelling."""
    return f"{{{ns}}}{name}"


def normalize_href(href: str, base: str) -> str:
    """The path of ``href`` (absolute or relative to ``base``) in one canonical
    percent-encoding. Servers answer with full URLs, paths, or other encodings of
    the hrefs we sent (Radicale quotes ``@``, SOGo does not)."""
    path = urlsplit(urljoin(base, href.strip())).path
    return quote(unquote(path), safe=_HREF_SAFE)


def same_collection(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


# --- request bodies ------------------------------------------------------------------------


def propfind(*props: str) -> bytes:
    """A PROPFIND body asking for ``props`` (each ``D:name``, ``C:name`` …)."""
    inner = "".join(f"<{p}/>" for p in props)
    return f"{_HEAD}<D:propfind {_NAMESPACES}><D:prop>{inner}</D:prop></D:propfind>".encode()


def sync_collection(token: str | None) -> bytes:
    """RFC 6578 §3.2: changes since ``token`` (None = every member, and a first token)."""
    token_el = f"<D:sync-token>{escape(token)}</D:sync-token>" if token else "<D:sync-token/>"
    return (
        f"{_HEAD}<D:sync-collection {_NAMESPACES}>{token_el}<D:sync-level>1</D:sync-level>"
        "<D:prop><D:getetag/></D:prop></D:sync-collection>"
    ).encode()


def multiget(kind: str, hrefs: Iterable[str]) -> bytes:
    """calendar-multiget (RFC 4791 §7.9) or addressbook-multiget (RFC 6352 §8.7)."""
    refs = "".join(f"<D:href>{escape(h)}</D:href>" for h in hrefs)
    if kind == "caldav":
        report, data = "C:calendar-multiget", "C:calendar-data"
    else:
        report, data = "CR:addressbook-multiget", "CR:address-data"
    return (
        f"{_HEAD}<{report} {_NAMESPACES}><D:prop><D:getetag/><{data}/></D:prop>{refs}</{report}>"
    ).encode()


def calendar_query_etags(component: str) -> bytes:
    """RFC 4791 §7.8: href + etag of every object holding a ``component``."""
    return (
        f"{_HEAD}<C:calendar-query {_NAMESPACES}><D:prop><D:getetag/></D:prop>"
        f'<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="{escape(component)}"/>'
        "</C:comp-filter></C:filter></C:calendar-query>"
    ).encode()


def mkcalendar(display_name: str, component: str | None) -> bytes:
    """RFC 4791 §5.3.1; the component set keeps a task list and a calendar apart."""
    comps = (
        f'<C:supported-calendar-component-set><C:comp name="{escape(component)}"/>'
        "</C:supported-calendar-component-set>"
        if component
        else ""
    )
    return (
        f"{_HEAD}<C:mkcalendar {_NAMESPACES}><D:set><D:prop>"
        f"<D:displayname>{escape(display_name)}</D:displayname>{comps}"
        "</D:prop></D:set></C:mkcalendar>"
    ).encode()


def mkcol_addressbook(display_name: str) -> bytes:
    """RFC 5689 extended MKCOL creating an address book (RFC 6352 §6.3.1)."""
    return (
        f"{_HEAD}<D:mkcol {_NAMESPACES}><D:set><D:prop>"
        "<D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype>"
        f"<D:displayname>{escape(display_name)}</D:displayname>"
        "</D:prop></D:set></D:mkcol>"
    ).encode()


# --- multistatus ---------------------------------------------------------------------------


@dataclass
class Response:
    """One ``D:response``: its href (normalised), overall status (when the server gave
    one for the whole response), and the properties that came back with 200."""

    href: str
    status: int | None = None
    props: dict[str, Element] = field(default_factory=dict)
    #: per-property status for properties that did not come back with 200
    missing: dict[str, int] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        el = self.props.get(name)
        if el is None:
            return None
        return "".join(el.itertext())

    def hrefs(self, name: str) -> list[str]:
        """The ``D:href`` children of a property (home sets, principals)."""
        el = self.props.get(name)
        if el is None:
            return []
        return [(h.text or "").strip() for h in el.iter(q("href")) if (h.text or "").strip()]

    def resource_types(self) -> set[str]:
        el = self.props.get(q("resourcetype"))
        return {child.tag for child in el} if el is not None else set()

    def components(self) -> set[str] | None:
        """supported-calendar-component-set, or None when the server did not say."""
        el = self.props.get(q("supported-calendar-component-set", CALDAV))
        if el is None:
            return None
        return {c.get("name", "").upper() for c in el if c.get("name")}


@dataclass
class Multistatus:
    responses: list[Response]
    sync_token: str | None = None


def parse_status(line: str | None) -> int | None:
    """``HTTP/1.1 404 Not Found`` → 404."""
    if not line:
        return None
    parts = line.split()
    if len(parts) >= 2 and parts[1].isdigit():
        return int(parts[1])
    return None


def parse_multistatus(data: bytes, base: str) -> Multistatus:
    """A 207 body → responses with normalised hrefs. ProtocolError if it is not one."""
    try:
        root = fromstring(data)
    except (ParseError, ValueError) as exc:
        raise ProtocolError(f"the server's multistatus answer is not XML: {exc}") from None
    except Exception as exc:  # defusedxml refuses entities, DTDs
        raise ProtocolError(f"refusing the server's multistatus answer: {exc}") from None
    if root.tag != q("multistatus"):
        raise ProtocolError(f"expected a DAV multistatus answer, got <{root.tag}>")
    responses = []
    for el in root.findall(q("response")):
        href_el = el.find(q("href"))
        if href_el is None or not (href_el.text or "").strip():
            continue
        response = Response(
            normalize_href(href_el.text or "", base),
            parse_status(el.findtext(q("status"))),
        )
        for propstat in el.findall(q("propstat")):
            status = parse_status(propstat.findtext(q("status"))) or 200
            prop = propstat.find(q("prop"))
            if prop is None:
                continue
            for child in prop:
                if 200 <= status < 300:
                    response.props[child.tag] = child
                else:
                    response.missing[child.tag] = status
        responses.append(response)
    token = root.findtext(q("sync-token"))
    return Multistatus(responses, token.strip() if token else None)


def error_conditions(data: bytes) -> set[str]:
    """The precondition elements of a ``D:error`` body (RFC 4918 §16), e.g.
    ``{DAV:}valid-sync-token``; empty when the body is not one."""
    try:
        root = fromstring(data)
    except Exception:
        return set()
    if root.tag != q("error"):
        return set()
    return {child.tag for child in root if child.tag != q("responsedescription")}


def error_description(data: bytes) -> str | None:
    """The ``D:responsedescription`` of a ``D:error`` body, if the server wrote one."""
    try:
        root = fromstring(data)
    except Exception:
        return None
    if root.tag != q("error"):
        return None
    text = root.findtext(q("responsedescription"))
    return " ".join(text.split())[:300] if text else None


# --- content -------------------------------------------------------------------------------


def crlf(text: str) -> str:
    """Line ends as RFC 5545 §3.1 / RFC 6350 §3.2 want them. XML parsing turns every
    CRLF of calendar-data into LF (XML 1.0 §2.11), so the lines come back bare."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def top_components(text: str) -> Iterator[str]:
    """The components directly inside VCALENDAR (VEVENT, VTODO …), VTIMEZONE skipped."""
    depth = 0
    for line in text.splitlines():
        upper = line.upper()
        if upper.startswith("BEGIN:"):
            depth += 1
            name = upper[6:].strip()
            if depth == 2 and name != "VTIMEZONE":
                yield name
        elif upper.startswith("END:"):
            depth -= 1
