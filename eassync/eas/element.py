"""The in-memory form of an EAS document: a tree of elements qualified by code page.

A tag is ``"Page:Name"`` where Page is the code-page name of eas-protocol.md §1.2
(``AirSync``, ``Contacts``, ``Calendar``, ``AirSyncBase`` …) and Name the tag name,
e.g. ``"AirSync:Sync"``. An element has either children, or a value (``str`` for
STR_I content, ``bytes`` for OPAQUE content), or nothing (an empty element).

This module knows nothing of WBXML bytes (``wbxml.py``) nor of item formats.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field


@dataclass(slots=True)
class Element:
    tag: str
    children: list[Element] = field(default_factory=list)
    value: str | bytes | None = None

    @property
    def page(self) -> str:
        return self.tag.partition(":")[0]

    @property
    def name(self) -> str:
        return self.tag.partition(":")[2]

    def __iter__(self) -> Iterator[Element]:
        return iter(self.children)

    def __len__(self) -> int:
        return len(self.children)

    def add(self, tag: str, value: str | bytes | int | None = None) -> Element:
        """Append a new child and return it (ints become their decimal string)."""
        child = Element(tag, value=str(value) if isinstance(value, int) else value)
        self.children.append(child)
        return child

    def append(self, child: Element) -> Element:
        self.children.append(child)
        return child

    def extend(self, children: Iterable[Element]) -> None:
        self.children.extend(children)

    def find(self, path: str) -> Element | None:
        """First descendant matching a ``/``-separated path of tags, or None."""
        node: Element | None = self
        for step in path.split("/"):
            assert node is not None
            node = next((c for c in node.children if c.tag == step), None)
            if node is None:
                return None
        return node

    def findall(self, path: str) -> list[Element]:
        """Every element matching the path (the last step may match several)."""
        head, _, last = path.rpartition("/")
        parent = self.find(head) if head else self
        if parent is None:
            return []
        return [c for c in parent.children if c.tag == last]

    def text(self, path: str | None = None, default: str | None = None) -> str | None:
        """Text of the element (or of the descendant at ``path``).

        Empty elements and empty strings read as ``default``: servers send empty tags
        for absent values (SOGo, sogo-notes Q16). OPAQUE bytes are decoded as UTF-8
        with replacement, since callers asking for text want text.
        """
        node = self if path is None else self.find(path)
        if node is None or node.value is None:
            return default
        value = node.value
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        return value if value != "" else default

    def int(self, path: str | None = None, default: int | None = None) -> int | None:
        """Integer value at ``path``; a missing or non-numeric value gives ``default``."""
        raw = self.text(path)
        if raw is None:
            return default
        try:
            return int(raw.strip())
        except ValueError:
            return default

    def to_xml(self, indent: str = "  ") -> str:
        """A readable XML rendering for logs and ``eassync debug`` (not for parsing)."""
        from eassync.eas.xmlwrite import to_xml

        return to_xml(self, indent=indent)


def E(tag: str, *children: Element | None, value: str | bytes | int | None = None) -> Element:
    """Build an element: ``E("AirSync:Sync", E("AirSync:Collections", ...))``.

    ``None`` children are skipped so optional parts can be written inline.
    """
    if isinstance(value, int):
        value = str(value)
    return Element(tag, [c for c in children if c is not None], value)
