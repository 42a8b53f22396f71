"""The XML view of an EAS document, in the form libwbxml's ``wbxml2xml``/``xml2wbxml`` use.

``to_xml(root)`` renders an Element tree; ``from_xml(text)`` parses one back. Used by
``eassync debug wbxml`` and for readable protocol logs. Pure functions, no I/O.

The form (checked against libwbxml 0.11.8 output):

* ``<?xml version="1.0"?>`` and the ActiveSync DOCTYPE (``xml2wbxml`` needs it to
  recognise the language); both optional when reading.
* One default namespace per code page, the page name plus a colon (``xmlns="AirSync:"``),
  declared on the root and wherever the page changes. Reading also accepts the name
  without colon (``xmlns="AirSync"``, eas-protocol.md §1.1) and prefixed forms
  (``<as:Sync xmlns:as="AirSync:">``).
* Tag names are ours (the names of ``codepages``) unless ``libwbxml_names=True``, which
  writes libwbxml's own spellings (``Recurrence_Type``, ``Attendee_Email``,
  ``MIME`` …; libwbxml cannot read ours for those tags). Reading accepts ours, the
  aliases of ``codepages.TAG_ALIASES`` and libwbxml's.
* Content of the elements libwbxml treats as binary (``codepages.OPAQUE_TAGS``) is
  base64, as libwbxml writes it; reading gives ``bytes`` for them.
* Where plain XML text could not carry a value faithfully, the element gets a
  ``base64`` attribute (our extension; libwbxml never needs it for EAS data):
  ``base64="opaque"`` for ``bytes`` in other elements, ``base64="text"`` for text with
  characters XML 1.0 cannot hold (control characters). Carriage returns are written
  as ``&#13;`` so XML line-end normalisation keeps them.
* Text is kept exactly, whitespace included (``xml2wbxml`` strips it unless ``-k``).
  Whitespace between child elements is ignored. XML cannot tell an empty string from
  an empty element: ``<SyncKey></SyncKey>`` reads as an empty element, as in libwbxml.

XML is parsed with defusedxml: no entity expansion, no external resources.
"""

from __future__ import annotations

import base64
import binascii
from xml.etree.ElementTree import Element as XmlElement
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeTree
from defusedxml.common import DefusedXmlException

from eassync.eas.codepages import BY_TAG, OPAQUE_TAGS, PAGE_NUMBERS, TAG_ALIASES
from eassync.eas.element import Element
from eassync.eas.xmlwrite import DOCTYPE as DOCTYPE
from eassync.eas.xmlwrite import LIBWBXML_NAMES
from eassync.eas.xmlwrite import XML_DECLARATION as XML_DECLARATION
from eassync.eas.xmlwrite import to_xml as to_xml
from eassync.errors import ProtocolError

# "Page:Name" as read from XML (ours, aliases, libwbxml's) → our tag
_READ_NAMES: dict[str, str] = {tag: tag for tag in BY_TAG}
_READ_NAMES.update(TAG_ALIASES)
for _tag, _name in LIBWBXML_NAMES.items():
    _READ_NAMES.setdefault(f"{_tag.partition(':')[0]}:{_name}", _tag)

_PAGES_BY_LOWER_NAME = {name.lower(): name for name in PAGE_NUMBERS}

# --- reading ----------------------------------------------------------------------------


def _tag_of(xml_tag: str) -> str:
    if not xml_tag.startswith("{"):
        raise ProtocolError(
            f'element <{xml_tag}> has no code-page namespace (e.g. xmlns="AirSync:")'
        )
    namespace, _, name = xml_tag[1:].partition("}")
    page = _PAGES_BY_LOWER_NAME.get(namespace.rstrip(":").lower())
    if page is None:
        raise ProtocolError(f"unknown code-page namespace {namespace!r} of <{name}>")
    tag = _READ_NAMES.get(f"{page}:{name}")
    if tag is None:
        raise ProtocolError(f"unknown tag {name!r} in code page {page}")
    return tag


def _value_of(node: XmlElement, tag: str) -> str | bytes | None:
    text = node.text or ""
    encoding = node.attrib.get("base64")
    if set(node.attrib) - {"base64"} or encoding not in (None, "opaque", "text"):
        raise ProtocolError(f"unexpected attributes on <{tag}>: {dict(node.attrib)}")
    if encoding is None and tag not in OPAQUE_TAGS:
        return text if text else None
    try:
        raw = base64.b64decode("".join(text.split()), validate=True)
    except binascii.Error:
        raise ProtocolError(f"<{tag}> does not hold valid base64") from None
    if encoding == "text":
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(f"<{tag}> base64 text is not UTF-8") from None
    if encoding is None and not raw:
        return None  # an empty binary element, as libwbxml writes it
    return raw


def from_xml(text: str | bytes) -> Element:
    """Parse the XML form back into a tree. Raises ProtocolError on anything it cannot map."""
    try:
        xml_root = SafeTree.fromstring(text)
    except ParseError as exc:
        raise ProtocolError(f"not well-formed XML: {exc}") from None
    except DefusedXmlException as exc:
        raise ProtocolError(f"refused XML: {exc}") from None
    root = Element(_tag_of(xml_root.tag))
    stack: list[tuple[XmlElement, Element]] = [(xml_root, root)]
    while stack:
        node, element = stack.pop()
        children = list(node)
        if not children:
            element.value = _value_of(node, element.tag)
            continue
        if (node.text or "").strip() or any((c.tail or "").strip() for c in children):
            raise ProtocolError(f"<{element.tag}> mixes text and child elements")
        if node.attrib:
            raise ProtocolError(f"unexpected attributes on <{element.tag}>: {dict(node.attrib)}")
        for child_node in children:
            child = Element(_tag_of(child_node.tag))
            element.children.append(child)
            stack.append((child_node, child))
    return root
