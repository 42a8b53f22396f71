"""The XML form of EAS documents (libwbxml's), both ways."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from eassync.eas import codepages
from eassync.eas.element import E, Element
from eassync.eas.xmlform import from_xml, to_xml
from eassync.errors import ProtocolError
from tests.unit.test_wbxml_properties import trees

FOLDERSYNC_XML = """<?xml version="1.0"?>
<!DOCTYPE ActiveSync PUBLIC "-//MICROSOFT//DTD ActiveSync//EN" "http://www.microsoft.com/">
<FolderSync xmlns="FolderHierarchy:">
  <SyncKey>0</SyncKey>
</FolderSync>
"""


def xml_normal_form(tree: Element) -> Element:
    """What the XML form can carry: "" is an empty element; binary elements hold bytes."""
    value = tree.value
    if tree.tag in codepages.OPAQUE_TAGS and isinstance(value, str):
        value = value.encode("utf-8")
    if value == "" or (tree.tag in codepages.OPAQUE_TAGS and value == b""):
        value = None
    return Element(tree.tag, [xml_normal_form(c) for c in tree.children], value)


def test_writes_the_libwbxml_form() -> None:
    tree = E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", value="0"))
    assert to_xml(tree) == FOLDERSYNC_XML


def test_namespace_declared_where_the_page_changes() -> None:
    tree = E(
        "AirSync:ApplicationData",
        E("Calendar:Recurrence", E("Calendar:Type", value="1")),
        E("AirSync:Status", value="1"),
    )
    body = to_xml(tree, indent="").splitlines()[2:]
    assert body == [
        '<ApplicationData xmlns="AirSync:">',
        '<Recurrence xmlns="Calendar:">',
        "<Type>1</Type>",
        "</Recurrence>",
        "<Status>1</Status>",
        "</ApplicationData>",
    ]


def test_libwbxml_names_on_request() -> None:
    tree = E("Calendar:Recurrence", E("Calendar:Type", value="1"))
    assert "<Recurrence_Type>1</Recurrence_Type>" in to_xml(tree, libwbxml_names=True)
    assert "<Type>1</Type>" in to_xml(tree)


def test_reads_libwbxml_names_and_aliases() -> None:
    xml = (
        '<Recurrence xmlns="Calendar:"><Recurrence_Type>1</Recurrence_Type>'
        "<Timezone>x</Timezone><Attendee_Email>a@b</Attendee_Email></Recurrence>"
    )
    assert from_xml(xml) == E(
        "Calendar:Recurrence",
        E("Calendar:Type", value="1"),
        E("Calendar:TimeZone", value="x"),
        E("Calendar:Email", value="a@b"),
    )


def test_reads_without_declaration_prefixed_and_colonless_namespaces() -> None:
    expected = E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", value="0"))
    assert from_xml(FOLDERSYNC_XML) == expected
    assert from_xml(FOLDERSYNC_XML.encode()) == expected
    assert from_xml('<FolderSync xmlns="FolderHierarchy"><SyncKey>0</SyncKey></FolderSync>') == (
        expected
    )
    prefixed = '<f:FolderSync xmlns:f="FolderHierarchy:"><f:SyncKey>0</f:SyncKey></f:FolderSync>'
    assert from_xml(prefixed) == expected


def test_binary_elements_are_base64_like_libwbxml() -> None:
    tree = E("ComposeMail:SendMail", E("ComposeMail:Mime", value=b"From: a\r\n\r\nhi\x00\xff"))
    xml = to_xml(tree)
    assert "<Mime>RnJvbTogYQ0KDQpoaQD/</Mime>" in xml
    assert from_xml(xml) == tree
    assert from_xml(xml.replace("<Mime>", "<MIME>").replace("</Mime>", "</MIME>")) == tree


def test_bytes_outside_binary_elements_and_control_characters_round_trip() -> None:
    tree = E(
        "AirSync:ApplicationData",
        E("Contacts:Picture", value=b"\x89PNG\x00"),
        E("Contacts:FirstName", value="bell\x07 and \x1b"),
        E("Contacts:LastName", value=" line\r\nbreaks\r "),
    )
    xml = to_xml(tree)
    assert 'base64="opaque"' in xml
    assert 'base64="text"' in xml
    assert from_xml(xml) == tree


def test_text_is_escaped() -> None:
    tree = E("Calendar:Subject", value="a<b & c>d")
    assert '<Subject xmlns="Calendar:">a&lt;b &amp; c&gt;d</Subject>' in to_xml(tree)
    assert from_xml(to_xml(tree)) == tree


def test_empty_string_reads_back_as_empty_element() -> None:
    assert from_xml(to_xml(E("AirSync:SyncKey", value=""))) == E("AirSync:SyncKey")


def test_deep_tree_round_trips_without_recursion() -> None:
    root = node = E("AirSync:Sync")
    for _ in range(3000):
        node = node.append(E("AirSync:Sync"))
    xml = to_xml(root)
    assert to_xml(from_xml(xml)) == xml  # (== on the trees themselves would recurse)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
def test_from_xml_of_to_xml_keeps_what_xml_can_carry(tree: Element) -> None:
    assert from_xml(to_xml(tree)) == xml_normal_form(tree)
    assert from_xml(to_xml(tree, libwbxml_names=True)) == xml_normal_form(tree)


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<Sync>", "not well-formed"),
        ("<Sync/>", "no code-page namespace"),
        ('<Sync xmlns="Nope:"/>', "unknown code-page namespace"),
        ('<Nope xmlns="AirSync:"/>', "unknown tag"),
        ('<Sync xmlns="AirSync:">text<Status/></Sync>', "mixes text"),
        ('<Sync xmlns="AirSync:"><Status/>tail</Sync>', "mixes text"),
        ('<Mime xmlns="ComposeMail:">not base64!</Mime>', "base64"),
        ('<Status xmlns="AirSync:" x="1">1</Status>', "attributes"),
        ('<Sync xmlns="AirSync:" x="1"><Status/></Sync>', "attributes"),
        ('<!DOCTYPE x [<!ENTITY e "boom">]><Status xmlns="AirSync:">&e;</Status>', "refused"),
    ],
)
def test_bad_xml_raises_protocol_error(xml: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        from_xml(xml)
