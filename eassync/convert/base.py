"""The interface of a content handler: one per item kind (contacts, calendar, tasks).

Handlers are pure: they take values and return values, never touch files or sockets.
The EAS storage uses ``to_eas``/``from_eas``; the sync engine uses ``fingerprint``,
``project``, ``merge`` and ``with_uid``.
"""

from __future__ import annotations

from typing import Protocol

from eassync.eas.element import Element
from eassync.storage.base import Item


class ContentHandler(Protocol):
    #: "contacts", "calendar" or "tasks"
    kind: str
    #: the EAS class name ("Contacts", "Calendar", "Tasks")
    eas_class: str
    #: file extension for vdir items (".vcf", ".ics")
    fileext: str

    def to_eas(self, item: Item, version: str) -> Element:
        """Local item → ``AirSync:ApplicationData`` for protocol ``version`` ("14.1" …).
        Raises ConversionError for an item that cannot be expressed at all."""
        ...

    def from_eas(self, data: Element, version: str) -> Item:
        """``AirSync:ApplicationData`` → a local item (vCard 3.0 / VCALENDAR bytes).
        EAS fields without a standard property travel as ``X-EAS-*`` properties.
        Raises ConversionError on data that makes no sense."""
        ...

    def supported(self, version: str) -> list[str]:
        """Tags to declare in ``AirSync:Supported`` on the first Sync (no ghosting); an
        empty list sends no Supported element."""
        ...

    def project(self, item: Item, version: str) -> Item:
        """What of a local item survives a round trip through EAS:
        ``from_eas(to_eas(item))``, used to predict the server's copy."""
        ...

    def merge(self, remote: Item, local: Item | None) -> Item:
        """The new local item after a server change: every EAS-representable property
        from ``remote``, every property EAS cannot hold kept from ``local``, and the
        local UID kept. With ``local`` None, ``remote`` itself (plus a UID)."""
        ...

    def fingerprint(self, item: Item) -> str:
        """A hash of the normalised item: volatile properties (DTSTAMP, PRODID, REV …)
        stripped and the rest put in a canonical order, so a server that rewrites an
        item without changing it does not look like a change."""
        ...

    def with_uid(self, item: Item, uid: str) -> Item:
        """The same item with its UID set to ``uid`` (used for keep_both and for
        remote items that arrive without one)."""
        ...

    def describe(self, item: Item) -> str:
        """A one-line human summary (FN of a card, SUMMARY of an event) for messages."""
        ...
