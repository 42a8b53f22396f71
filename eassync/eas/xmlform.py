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
import re
from xml.etree.ElementTree import Element as XmlElement
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeTree
from defusedxml.common import DefusedXmlException

from eassync.eas.codepages import BY_TAG, OPAQUE_TAGS, PAGE_NUMBERS, TAG_ALIASES
from eassync.eas.element import Element
from eassync.errors import ProtocolError

XML_DECLARATION = '<?xml version="1.0"?>'
DOCTYPE = (
    '<!DOCTYPE ActiveSync PUBLIC "-//MICROSOFT//DTD ActiveSync//EN" "http://www.microsoft.com/">'
)

#: our tag → libwbxml 0.11.8's name for it on the same page (from ``wbxml2xml`` output).
#: libwbxml lacks MeetingResponse 10/11, Provision 3B and page 25 (Find) altogether.
LIBWBXML_NAMES: dict[str, str] = {
    "Contacts:AssistantPhoneNumber": "AssistantTelephoneNumber",
    "Contacts:BusinessAddressCity": "BusinessCity",
    "Contacts:BusinessAddressCountry": "BusinessCountry",
    "Contacts:BusinessAddressPostalCode": "BusinessPostalCode",
    "Contacts:BusinessAddressState": "BusinessState",
    "Contacts:BusinessAddressStreet": "BusinessStreet",
    "Contacts:HomeAddressCity": "HomeCity",
    "Contacts:HomeAddressCountry": "HomeCountry",
    "Contacts:HomeAddressPostalCode": "HomePostalCode",
    "Contacts:HomeAddressState": "HomeState",
    "Contacts:HomeAddressStreet": "HomeStreet",
    "Contacts:OtherAddressCity": "OtherCity",
    "Contacts:OtherAddressCountry": "OtherCountry",
    "Contacts:OtherAddressPostalCode": "OtherPostalCode",
    "Contacts:OtherAddressState": "OtherState",
    "Contacts:OtherAddressStreet": "OtherStreet",
    "Email:AttOid": "AttOId",
    "Email:DtStamp": "DTStamp",
    "Email:ReplyTo": "Reply-To",
    "Email:Type": "Recurrence_Type",
    "Email:Until": "Recurrence_Until",
    "Email:Occurrences": "Recurrence_Occurrences",
    "Email:Interval": "Recurrence_Interval",
    "Email:DayOfWeek": "Recurrence_DayOfWeek",
    "Email:DayOfMonth": "Recurrence_DayOfMonth",
    "Email:WeekOfMonth": "Recurrence_WeekOfMonth",
    "Email:MonthOfYear": "Recurrence_MonthOfYear",
    "Email:Status": "FlagStatus",
    "Calendar:Email": "Attendee_Email",
    "Calendar:Name": "Attendee_Name",
    "Calendar:CompressedRTF": "Compressed_RTF",
    "Calendar:DtStamp": "DTStamp",
    "Calendar:Deleted": "Exception_Deleted",
    "Calendar:ExceptionStartTime": "Exception_StartTime",
    "Calendar:OrganizerEmail": "Organizer_Email",
    "Calendar:OrganizerName": "Organizer_Name",
    "Calendar:Type": "Recurrence_Type",
    "Calendar:Until": "Recurrence_Until",
    "Calendar:Occurrences": "Recurrence_Occurrences",
    "Calendar:Interval": "Recurrence_Interval",
    "Calendar:DayOfWeek": "Recurrence_DayOfWeek",
    "Calendar:DayOfMonth": "Recurrence_DayOfMonth",
    "Calendar:WeekOfMonth": "Recurrence_WeekOfMonth",
    "Calendar:MonthOfYear": "Recurrence_MonthOfYear",
    "Calendar:AttendeeStatus": "Attendee_Status",
    "Calendar:AttendeeType": "Attendee_Type",
    "Tasks:UtcDueDate": "UTCDueDate",
    "Tasks:Type": "Recurrence_Type",
    "Tasks:Start": "Recurrence_Start",
    "Tasks:Until": "Recurrence_Until",
    "Tasks:Occurrences": "Recurrence_Occurrences",
    "Tasks:Interval": "Recurrence_Interval",
    "Tasks:DayOfMonth": "Recurrence_DayOfMonth",
    "Tasks:DayOfWeek": "Recurrence_DayOfWeek",
    "Tasks:WeekOfMonth": "Recurrence_WeekOfMonth",
    "Tasks:MonthOfYear": "Recurrence_MonthOfYear",
    "Tasks:Regenerate": "Recurrence_Regenerate",
    "Tasks:DeadOccur": "Recurrence_DeadOccur",
    "Tasks:UtcStartDate": "UTCStartDate",
    "Provision:RequireStorageCardEncryption": "DeviceEncryptionEnabled",
    "Settings:SMTPAddress": "SmtpAddress",
    # sic: libwbxml 0.11.8 wbxml_tables.c misspells Settings 2B
    "Settings:RightsManagementInformation": "ihsManagementInformation",
    "ComposeMail:Mime": "MIME",
    "ComposeMail:Name": "ForwardeeName",
    "ComposeMail:Email": "ForwardeeEmail",
    "RightsManagement:Owner": "RMOwner",
    "RightsManagement:RemoveRightsManagementProtection": "RemoveRightsManagementDistribution",
}

# "Page:Name" as read from XML (ours, aliases, libwbxml's) → our tag
_READ_NAMES: dict[str, str] = {tag: tag for tag in BY_TAG}
_READ_NAMES.update(TAG_ALIASES)
for _tag, _name in LIBWBXML_NAMES.items():
    _READ_NAMES.setdefault(f"{_tag.partition(':')[0]}:{_name}", _tag)

_PAGES_BY_LOWER_NAME = {name.lower(): name for name in PAGE_NUMBERS}

# Characters XML 1.0 cannot carry even as character references.
_NOT_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# --- writing ----------------------------------------------------------------------------


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _content(element: Element) -> tuple[str, str]:
    """(attribute text, escaped content) of a leaf with a value."""
    value = element.value
    assert value is not None
    if element.tag in OPAQUE_TAGS:
        raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        return "", base64.b64encode(raw).decode("ascii")
    if isinstance(value, bytes | bytearray | memoryview):
        return ' base64="opaque"', base64.b64encode(bytes(value)).decode("ascii")
    if _NOT_XML_CHARS.search(value):
        return ' base64="text"', base64.b64encode(value.encode("utf-8", "surrogatepass")).decode(
            "ascii"
        )
    return "", _escape(value)


def _reads_as_empty(element: Element) -> bool:
    """True when the element is written ``<Name/>`` (no value, "" or empty binary)."""
    value = element.value
    return value is None or value == "" or (not value and element.tag in OPAQUE_TAGS)


def to_xml(root: Element, indent: str = "  ", *, libwbxml_names: bool = False) -> str:
    """The XML form of a tree. ``indent=""`` writes one line per element, no indentation."""
    lines = [XML_DECLARATION, DOCTYPE]
    # Explicit stack (no recursion): (element, depth, page of the parent) or a closing line.
    stack: list[tuple[Element, int, str] | str] = [(root, 0, "")]
    while stack:
        entry = stack.pop()
        if isinstance(entry, str):
            lines.append(entry)
            continue
        element, depth, parent_page = entry
        page, _, name = element.tag.partition(":")
        if libwbxml_names:
            name = LIBWBXML_NAMES.get(element.tag, name)
        pad = indent * depth
        xmlns = f' xmlns="{page}:"' if page != parent_page else ""
        if element.children:
            lines.append(f"{pad}<{name}{xmlns}>")
            stack.append(f"{pad}</{name}>")
            stack.extend((c, depth + 1, page) for c in reversed(element.children))
        elif _reads_as_empty(element):
            lines.append(f"{pad}<{name}{xmlns}/>")
        else:
            attribute, content = _content(element)
            lines.append(f"{pad}<{name}{xmlns}{attribute}>{content}</{name}>")
    return "\n".join(lines) + "\n"


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
