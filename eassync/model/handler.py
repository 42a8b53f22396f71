"""What the sync engine needs of a content handler (one per item kind): pure
functions over items, free of any protocol. The EAS mapping (``to_eas``/``from_eas``)
is the converters' own business (:class:`eassync.convert.base.ContentHandler`)."""

from __future__ import annotations

from typing import Protocol

from eassync.model.items import Item


class ItemHandler(Protocol):
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
