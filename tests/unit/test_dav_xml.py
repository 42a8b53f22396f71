"""The pure DAV XML helpers: href normalisation, multistatus parsing, error bodies,
line ends and components (eassync.storage.davxml)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eassync.errors import ProtocolError
from eassync.storage import davxml
from eassync.storage.davxml import q

BASE = "https://dav.example.com/u/alice/book/"


@pytest.mark.parametrize(
    "href",
    [
        "/u/alice/book/a%40b.vcf",
        "/u/alice/book/a@b.vcf",
        "https://dav.example.com/u/alice/book/a@b.vcf",
        "a@b.vcf",
        " /u/alice/book/a%40b.vcf\n",
    ],
)
def test_spellings_of_one_href_normalise_to_one_ident(href: str) -> None:
    assert davxml.normalize_href(href, BASE) == "/u/alice/book/a@b.vcf"


def test_normalised_href_quotes_spaces_and_non_ascii() -> None:
    assert davxml.normalize_href("/book/ä b.vcf", BASE) == "/book/%C3%A4%20b.vcf"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30))
def test_normalising_is_idempotent(name: str) -> None:
    once = davxml.normalize_href("/book/" + name.replace("/", "_"), BASE)
    assert davxml.normalize_href(once, BASE) == once


MULTISTATUS = b"""<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
  <d:response>
    <d:href>https://dav.example.com/u/alice/book/</d:href>
    <d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype></d:prop>
      <d:status>HTTP/1.1 200 OK</d:status></d:propstat>
  </d:response>
  <d:response>
    <d:href>/u/alice/book/one.vcf</d:href>
    <d:propstat><d:prop><d:getetag>"e1"</d:getetag></d:prop>
      <d:status>HTTP/1.1 200 OK</d:status></d:propstat>
    <d:propstat><d:prop><c:calendar-data/></d:prop>
      <d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>
  </d:response>
  <d:response>
    <d:href>/u/alice/book/gone.vcf</d:href>
    <d:status>HTTP/1.1 404 Not Found</d:status>
  </d:response>
  <d:sync-token>http://example.com/sync/7</d:sync-token>
</d:multistatus>"""


def test_multistatus_gives_hrefs_props_statuses_and_token() -> None:
    ms = davxml.parse_multistatus(MULTISTATUS, BASE)
    assert [r.href for r in ms.responses] == [
        "/u/alice/book/",
        "/u/alice/book/one.vcf",
        "/u/alice/book/gone.vcf",
    ]
    collection, one, gone = ms.responses
    assert collection.resource_types() == {q("collection")}
    assert one.text(q("getetag")) == '"e1"'
    assert one.missing == {q("calendar-data", davxml.CALDAV): 404}
    assert gone.status == 404
    assert ms.sync_token == "http://example.com/sync/7"


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b"<d:error xmlns:d='DAV:'/>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
    ],
)
def test_what_is_no_multistatus_is_a_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        davxml.parse_multistatus(body, BASE)


def test_error_body_gives_its_preconditions_and_description() -> None:
    body = (
        b'<d:error xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
        b"<c:no-uid-conflict><d:href>/x.ics</d:href></c:no-uid-conflict>"
        b"<d:responsedescription>UID  taken</d:responsedescription></d:error>"
    )
    assert davxml.error_conditions(body) == {q("no-uid-conflict", davxml.CALDAV)}
    assert davxml.error_description(body) == "UID taken"
    assert davxml.error_conditions(b"<html/>") == set()
    assert davxml.error_description(b"garbage") is None


def test_crlf_restores_line_ends_xml_parsing_took() -> None:
    assert davxml.crlf("A:1\nB:2\r\nC:3\rD:4\n") == "A:1\r\nB:2\r\nC:3\r\nD:4\r\n"


def test_top_components_skip_timezones_and_alarms() -> None:
    text = (
        "BEGIN:VCALENDAR\nBEGIN:VTIMEZONE\nBEGIN:STANDARD\nEND:STANDARD\nEND:VTIMEZONE\n"
        "BEGIN:VEVENT\nBEGIN:VALARM\nEND:VALARM\nEND:VEVENT\n"
        "BEGIN:VEVENT\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    assert list(davxml.top_components(text)) == ["VEVENT", "VEVENT"]


def test_request_bodies_escape_what_they_carry() -> None:
    assert b"a&amp;b" in davxml.sync_collection("a&b")
    assert b"<D:href>/x&lt;y.ics</D:href>" in davxml.multiget("caldav", ["/x<y.ics"])
    assert b"calendar-multiget" in davxml.multiget("caldav", [])
    assert b"addressbook-multiget" in davxml.multiget("carddav", [])
    assert b'name="VTODO"' in davxml.mkcalendar("Tasks & more", "VTODO")
    assert b"Tasks &amp; more" in davxml.mkcalendar("Tasks & more", "VTODO")
    assert b"<CR:addressbook/>" in davxml.mkcol_addressbook("Friends")
