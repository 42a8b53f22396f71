"""Horde's own CalDAV/CardDAV view of a user's data, for checking what EAS did.

Collections (horde-notes 1): ``/rpc.php/calendars/<user>/calendar~<share>/`` (VEVENTs),
``…/tasks~<share>/`` (VTODOs) and ``/rpc.php/addressbooks/<user>/contacts~<share>/``
(vCards; ``contacts~favourites/`` is virtual and ignored). An item's UID is its EAS
ServerId; the resource name is Horde's internal id, not the UID.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from defusedxml import ElementTree

from tests.integration.sogo_dav import DavItem, SogoDav, property_values

_NS = {"d": "DAV:"}

#: kind → (home under /rpc.php/, collection name prefix, component or None for vCards)
KINDS = {
    "calendar": ("calendars", "calendar~", "VEVENT"),
    "tasks": ("calendars", "tasks~", "VTODO"),
    "contacts": ("addressbooks", "contacts~", None),
}

_ADDRESSBOOK_QUERY = """<?xml version="1.0" encoding="utf-8"?>
<a:addressbook-query xmlns:d="DAV:" xmlns:a="urn:ietf:params:xml:ns:carddav">
  <d:prop><d:getetag/><a:address-data/></d:prop>
</a:addressbook-query>"""


class HordeDav(SogoDav):
    """DAV requests as one Horde user; collections are paths under ``/rpc.php/``."""

    def __init__(self, base_url: str, user: str, password: str) -> None:
        super().__init__(f"{base_url.rstrip('/')}/rpc.php", user, password)
        self.root = f"{base_url.rstrip('/')}/rpc.php/"
        self.user = user

    def collections(self, kind: str) -> list[str]:
        """The user's collections of one kind (``calendar``, ``tasks``, ``contacts``)."""
        home, prefix, _ = KINDS[kind]
        body = (
            '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/>'
            "</d:prop></d:propfind>"
        )
        response = self.session.request(
            "PROPFIND",
            f"{self.root}{home}/{self.user}/",
            data=body,
            headers={"Depth": "1", "Content-Type": "application/xml; charset=utf-8"},
        )
        response.raise_for_status()
        found = []
        for node in ElementTree.fromstring(response.content).findall("d:response", _NS):
            path = unquote(urlsplit(node.findtext("d:href", "", _NS)).path).rstrip("/")
            name = path.rsplit("/", 1)[-1]
            if name.startswith(prefix) and name != "contacts~favourites":
                found.append(f"{home}/{self.user}/{name}")
        return sorted(found)

    def items(self, kind: str) -> list[DavItem]:
        """Every item of every collection of one kind, with its text."""
        _, _, component = KINDS[kind]
        out: list[DavItem] = []
        for collection in self.collections(kind):
            if component is not None:
                out += self.calendar_query(component, collection)
                continue
            response = self.session.request(
                "REPORT",
                self.collection_url(collection),
                data=_ADDRESSBOOK_QUERY,
                headers={"Depth": "1", "Content-Type": "application/xml; charset=utf-8"},
            )
            out += self._multistatus(response, collection)
        return out

    def values(self, kind: str, name: str) -> list[str]:
        """Sorted values of property ``name`` over every item of one kind."""
        items = self.items(kind)
        return sorted(v for item in items for v in property_values(item.data or "", name))

    def clear_all(self) -> None:
        """Delete every item of the user's calendars, task lists and address books."""
        for kind in KINDS:
            for collection in self.collections(kind):
                self.clear(collection)
