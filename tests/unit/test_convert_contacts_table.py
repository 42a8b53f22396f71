"""The contacts support table cannot lie: every Supported row round-trips."""

from __future__ import annotations

import pytest

from eassync.convert import tables
from eassync.convert.contacts import HANDLER, extract
from eassync.convert.vcard import parse
from eassync.eas import codepages, wbxml
from eassync.eas.element import E, Element
from eassync.storage.base import Item

VERSION = "14.1"
SUPPORTED_ROWS = [r for r in tables.CONTACTS if r.level == tables.SUPPORTED]
CASES = [
    pytest.param(row, version, lines, id=f"{row.vcard.split(' ')[0]}-{version}")
    for row in SUPPORTED_ROWS
    for version, lines in (("3.0", row.examples), ("4.0", row.examples_v4))
    if lines
]


def make(version: str, lines: tuple[str, ...]) -> Item:
    head = ["BEGIN:VCARD", f"VERSION:{version}", "UID:table-test"]
    if not any(line.startswith("FN:") for line in lines):
        head.append("FN:Ada Lovelace")
    if not any(line.startswith("N:") for line in lines):
        head.append("N:Lovelace;Ada;;;")
    return Item(("\r\n".join([*head, *lines, "END:VCARD"]) + "\r\n").encode(), "table-test")


def wire(data: Element) -> Element:
    found = wbxml.decode(wbxml.encode(E("AirSync:Sync", data))).find("AirSync:ApplicationData")
    assert found is not None
    return found


def test_every_supported_row_has_examples() -> None:
    assert all(row.examples for row in SUPPORTED_ROWS)


def test_table_tags_exist() -> None:
    for row in tables.CONTACTS:
        for tag in row.eas:
            assert codepages.lookup(tag) is not None, tag


@pytest.mark.parametrize(("row", "version", "lines"), CASES)
def test_supported_row_round_trips(row: tables.Row, version: str, lines: tuple[str, ...]) -> None:
    local = make(version, lines)
    sent = HANDLER.to_eas(local, VERSION)
    for tag in row.eas:  # the row's fields really go to the server
        element = sent.find(tag)
        assert element is not None, tag
        assert element.text() or element.children, tag
    remote = HANDLER.from_eas(wire(sent), VERSION)
    # the server's copy alone carries the same EAS values …
    remote_values = extract(parse(remote.raw)).values
    local_values = extract(parse(local.raw)).values
    for tag in row.eas:
        assert remote_values.get(tag) == local_values.get(tag), tag
    # … and merged into the local file it changes nothing
    merged = HANDLER.merge(remote, local)
    assert parse(merged.raw).properties == parse(local.raw).properties


def test_render_markdown_has_one_line_per_row() -> None:
    text = tables.render_markdown("contacts")
    lines = text.strip().split("\n")
    assert lines[0].startswith("| vCard | EAS |")
    assert len(lines) == 2 + len(tables.CONTACTS)
    assert lines[1] == "|---|---|---|---|"
    assert all(line.startswith("| ") and line.endswith(" |") for line in lines[2:])
    assert "`Contacts2:NickName`" in text
