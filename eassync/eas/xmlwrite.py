"""Writing the XML form of an EAS document (the form is described in
:mod:`eassync.eas.xmlform`, which reads it back). Apart from the reader so that
:meth:`Element.to_xml` can use it without an import circle: this module knows an element
only by its shape."""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import Protocol

from eassync.eas.codepages import OPAQUE_TAGS


class Node(Protocol):
    """The shape of :class:`eassync.eas.element.Element` that writing needs."""

    @property
    def tag(self) -> str: ...
    @property
    def children(self) -> Sequence[Node]: ...
    @property
    def value(self) -> str | bytes | None: ...


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

# Characters XML 1.0 cannot carry even as character references.
_NOT_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# --- writing ----------------------------------------------------------------------------


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _content(element: Node) -> tuple[str, str]:
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


def _reads_as_empty(element: Node) -> bool:
    """True when the element is written ``<Name/>`` (no value, "" or empty binary)."""
    value = element.value
    return value is None or value == "" or (not value and element.tag in OPAQUE_TAGS)


def to_xml(root: Node, indent: str = "  ", *, libwbxml_names: bool = False) -> str:
    """The XML form of a tree. ``indent=""`` writes one line per element, no indentation."""
    lines = [XML_DECLARATION, DOCTYPE]
    # Explicit stack (no recursion): (element, depth, page of the parent) or a closing line.
    stack: list[tuple[Node, int, str] | str] = [(root, 0, "")]
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
