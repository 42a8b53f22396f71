"""SOGo's own CardDAV/CalDAV view of a user's data, for checking what EAS did.

Collections: ``<dav_url>/<user>/Contacts/personal/`` (vCards) and
``<dav_url>/<user>/Calendar/personal/`` (VEVENTs *and* VTODOs: SOGo keeps tasks in the
calendar collection). Resource names vs EAS ServerIds (sogo-notes Q6): contacts and
tasks use the resource name as ServerId; events use the iCal UID without ``.ics``.
"""

from __future__ import annotations

import builtins
import time
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

import requests
from defusedxml import ElementTree
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

_NS = {"d": "DAV:", "c": "urn:ietf:params:xml:ns:caldav", "a": "urn:ietf:params:xml:ns:carddav"}

CONTACTS = "Contacts/personal"
CALENDAR = "Calendar/personal"

_CALENDAR_QUERY = """<?xml version="1.0" encoding="utf-8"?>
<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
  <d:prop><d:getetag/><c:calendar-data/></d:prop>
  <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="{component}"/></c:comp-filter>
  </c:filter>
</c:calendar-query>"""


def pass_one_second() -> None:
    """Let SOGo's change clock tick over (quirk Q2): its SyncKeys are ctags in whole
    seconds, and a DAV change made in the same second as the key an EAS client holds
    is never reported. Call it between an EAS Sync and a DAV write (and back)."""
    time.sleep(1.1)


@dataclass(frozen=True)
class DavItem:
    name: str  # resource name inside the collection, e.g. "1C92-….vcf"
    etag: str | None
    data: str | None = None  # the vCard/iCalendar text when the request returned it


def unfolded_lines(text: str) -> list[str]:
    """Content lines of a vCard/iCalendar text with RFC 5545 §3.1 folding undone."""
    return text.replace("\r\n", "\n").replace("\n ", "").replace("\n\t", "").splitlines()


def property_values(text: str, name: str) -> list[str]:
    """Values of every property ``name`` (parameters ignored), unescaped minimally."""
    found = []
    for line in unfolded_lines(text):
        head, sep, value = line.partition(":")
        if sep and head.split(";", 1)[0].upper() == name.upper():
            found.append(value.replace("\\,", ",").replace("\\;", ";").replace("\\n", "\n"))
    return found


def component(text: str, name: str) -> str:
    """The first ``BEGIN:<name>`` … ``END:<name>`` block of an iCalendar text (so that
    e.g. a VTIMEZONE's DTSTART is not mistaken for the event's)."""
    lines = unfolded_lines(text)
    start = lines.index(f"BEGIN:{name}")
    end = lines.index(f"END:{name}", start)
    return "\n".join(lines[start : end + 1])


class SogoDav:
    """DAV requests as one SOGo user."""

    def __init__(self, dav_url: str, user: str, password: str) -> None:
        self.root = f"{dav_url.rstrip('/')}/{quote(user)}/"
        self.session = requests.Session()
        self.session.auth = (user, password)
        # sogod closes the connection after every response without saying so (Q15); a
        # pooled connection reused in that instant gives "Connection reset by peer".
        self.session.headers["Connection"] = "close"
        # Under load (parallel test runs, long Pings holding workers) sogod's watchdog
        # still resets the odd connection: retry. Every request here is idempotent for
        # the tests (delete() accepts the 404 of a retried DELETE).
        retry = Retry(
            total=3,
            connect=3,
            read=3,
            status=0,
            allowed_methods=None,
            backoff_factor=0.2,
            raise_on_status=False,
        )
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))

    def close(self) -> None:
        self.session.close()

    def collection_url(self, collection: str) -> str:
        return f"{self.root}{collection.strip('/')}/"

    def item_url(self, collection: str, name: str) -> str:
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"not a resource name: {name!r}")
        return self.collection_url(collection) + quote(name)

    def _multistatus(self, response: requests.Response, collection: str) -> list[DavItem]:
        response.raise_for_status()
        base = urlsplit(self.collection_url(collection)).path
        items = []
        for node in ElementTree.fromstring(response.content).findall("d:response", _NS):
            href = unquote(node.findtext("d:href", "", _NS))
            path = urlsplit(href).path
            if path.rstrip("/") == base.rstrip("/"):
                continue  # the collection itself
            name = path.rsplit("/", 1)[-1]
            etag = node.findtext(".//d:getetag", None, _NS)
            data = node.findtext(".//c:calendar-data", None, _NS) or node.findtext(
                ".//a:address-data", None, _NS
            )
            items.append(DavItem(name, etag, data))
        return sorted(items, key=lambda item: item.name)

    def list(self, collection: str) -> list[DavItem]:
        """PROPFIND Depth 1: the resources of a collection (names and etags)."""
        body = (
            '<?xml version="1.0"?>'
            '<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>'
        )
        response = self.session.request(
            "PROPFIND",
            self.collection_url(collection),
            data=body,
            headers={"Depth": "1", "Content-Type": "application/xml; charset=utf-8"},
        )
        return self._multistatus(response, collection)

    def calendar_query(self, component: str, collection: str = CALENDAR) -> builtins.list[DavItem]:
        """calendar-query REPORT for one component type (VEVENT or VTODO), with data."""
        response = self.session.request(
            "REPORT",
            self.collection_url(collection),
            data=_CALENDAR_QUERY.format(component=component),
            headers={"Depth": "1", "Content-Type": "application/xml; charset=utf-8"},
        )
        return self._multistatus(response, collection)

    def get(self, collection: str, name: str) -> str | None:
        """The item's text, or None if it does not exist."""
        response = self.session.get(self.item_url(collection, name))
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.content.decode("utf-8")

    def put(self, collection: str, name: str, text: str) -> str | None:
        """Create or replace an item; returns the new ETag if the server sent one."""
        content_type = "text/vcard" if name.endswith(".vcf") else "text/calendar"
        response = self.session.put(
            self.item_url(collection, name),
            data=text.encode("utf-8"),
            headers={"Content-Type": f"{content_type}; charset=utf-8"},
        )
        response.raise_for_status()
        return response.headers.get("ETag")

    def delete(self, collection: str, name: str) -> None:
        response = self.session.delete(self.item_url(collection, name))
        if response.status_code != 404:
            response.raise_for_status()

    def clear(self, collection: str) -> int:
        """Delete every item of a collection; returns how many there were."""
        items = self.list(collection)
        for item in items:
            self.delete(collection, item.name)
        return len(items)
