"""Which fields ("slots", see :mod:`eassync.sync.slots`) an EAS calendar or task item
fills, and the item without the slots a server is known to drop.

A slot is a wire tag, with a few names folded into one where the protocol has two
spellings of one field (``AirSyncBase:Location`` of 16.x is ``Calendar:Location``).
Fields nested one level inside a list (an attendee's ``AttendeeType``) are slots of
their own: a server may keep the attendees but not their roles.

Pure code, no I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from eassync.eas.element import Element


def filled(node: Element) -> bool:
    """Whether an element carries a value: an empty element clears a field
    (MS-ASAIRS 2.2.2.28), an empty Body ``Data`` holds no text."""
    if node.tag == "AirSyncBase:Body":
        return bool((node.text("AirSyncBase:Data") or "").strip())
    if node.children:
        return any(filled(c) for c in node.children)
    return node.value is not None and bool(str(node.value).strip())


def slots_of(
    data: Element,
    *,
    ignored: Collection[str],
    aliases: Mapping[str, str],
    nested: Mapping[str, str],
) -> set[str]:
    """The slots ``data`` fills. ``ignored``: tags that are identity or always rewritten
    (UID, DtStamp …), never slots. ``nested``: a list tag → the path of its entries
    (``Calendar:Attendees`` → ``Calendar:Attendees/Calendar:Attendee``), whose filled
    children are slots too."""
    slots: set[str] = set()
    for child in data:
        tag = aliases.get(child.tag, child.tag)
        if tag in ignored or not filled(child):
            continue
        slots.add(tag)
        path = nested.get(child.tag)
        if path is None:
            continue
        for entry in data.findall(path):
            slots.update(aliases.get(c.tag, c.tag) for c in entry if filled(c))
    return slots


def without(data: Element, dropped: Collection[str], aliases: Mapping[str, str]) -> Element:
    """``data`` as a server that drops ``dropped`` keeps it: those tags gone at any
    depth (a dropped field is dropped from each exception and attendee too)."""
    if not dropped:
        return data

    def keep(node: Element) -> Element:
        if not node.children:
            return node
        children = [keep(c) for c in node.children if aliases.get(c.tag, c.tag) not in dropped]
        return Element(node.tag, children, node.value)

    return keep(data)
