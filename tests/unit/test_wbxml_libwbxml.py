"""Cross-check of our WBXML codec with libwbxml 0.11.8 (``wbxml2xml``/``xml2wbxml``).

The corpus ``tests/data/wbxml/*.xml`` holds realistic EAS documents, written with
libwbxml's tag names (``Recurrence_Type`` …) so both tools read the same files, and
together touching every code page 0–25. For each document libwbxml can handle:

(a) our ``encode`` bytes, decoded by ``wbxml2xml``, give the same tree;
(b) our bytes equal ``xml2wbxml``'s after the header (libwbxml writes the DTD public
    id through a string table: ``03 00 00 6A 21 "-//MICROSOFT//DTD ActiveSync//EN"``);
(c) our ``decode`` of ``xml2wbxml``'s bytes gives the same tree.

libwbxml does not know page 25 (Find), MeetingResponse 10/11 (ProposedStartTime/
EndTime, 16.1) nor Provision 3B (AccountOnlyRemoteWipe, 16.1): the documents using
them are only checked by our own round trip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from eassync.eas import codepages
from eassync.eas.element import Element
from eassync.eas.wbxml import HEADER, decode, encode
from eassync.eas.xmlform import from_xml

CORPUS = Path(__file__).parent.parent / "data" / "wbxml"
DOCUMENTS = sorted(CORPUS.glob("*.xml"))

#: documents using tokens libwbxml 0.11.8 lacks (see the module docstring)
NOT_IN_LIBWBXML = {
    "find.xml",
    "find_gal.xml",
    "find_response.xml",
    "meetingresponse_proposal.xml",
    "provision_account_wipe.xml",
}
LIBWBXML_DOCUMENTS = [p for p in DOCUMENTS if p.name not in NOT_IN_LIBWBXML]


def walk(tree: Element) -> list[Element]:
    out, stack = [], [tree]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(node.children)
    return out


def require_libwbxml() -> None:
    if shutil.which("wbxml2xml") and shutil.which("xml2wbxml"):
        return
    reason = "libwbxml tools missing: apt-get install -y libwbxml2-utils"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def run(tool: str, *args: str) -> None:
    done = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)
    # The tools print "… failed: reason" yet may exit 0, so check both.
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "failed" not in output, output


def body_after_header(data: bytes) -> bytes:
    """The token stream after a WBXML header (version, public id, charset, string table)."""

    def mb(pos: int) -> tuple[int, int]:
        value = 0
        while True:
            byte = data[pos]
            value = (value << 7) | (byte & 0x7F)
            pos += 1
            if not byte & 0x80:
                return value, pos

    public_id, pos = mb(1)
    if public_id == 0:
        _, pos = mb(pos)
    _, pos = mb(pos)  # charset
    table_length, pos = mb(pos)
    return data[pos + table_length :]


def test_corpus_touches_every_code_page() -> None:
    pages = {
        codepages.PAGE_NUMBERS[node.page]
        for path in DOCUMENTS
        for node in walk(from_xml(path.read_bytes()))
    }
    assert pages == set(range(26))


def test_corpus_uses_most_tags() -> None:
    used = {node.tag for path in DOCUMENTS for node in walk(from_xml(path.read_bytes()))}
    current = {tag for tag, info in codepages.BY_TAG.items() if not info.legacy}
    # A guard against the corpus shrinking; the figure is reported by the print.
    print(f"corpus uses {len(used & current)} of {len(current)} current tags")
    assert len(used & current) >= 0.95 * len(current)


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_our_round_trip(path: Path) -> None:
    tree = from_xml(path.read_bytes())
    assert decode(encode(tree)) == tree


@pytest.mark.parametrize("path", LIBWBXML_DOCUMENTS, ids=lambda p: p.name)
def test_libwbxml_agrees(path: Path, tmp_path: Path) -> None:
    require_libwbxml()
    tree = from_xml(path.read_bytes())
    ours = encode(tree)

    # (a) wbxml2xml reads our bytes as the same tree
    (tmp_path / "ours.wbxml").write_bytes(ours)
    run(
        "wbxml2xml",
        "-l",
        "ACTIVESYNC",
        "-o",
        str(tmp_path / "ours.xml"),
        str(tmp_path / "ours.wbxml"),
    )
    assert from_xml((tmp_path / "ours.xml").read_bytes()) == tree

    # (b) xml2wbxml writes the same token stream (-n: no string table for text)
    run("xml2wbxml", "-n", "-o", str(tmp_path / "theirs.wbxml"), str(path))
    theirs = (tmp_path / "theirs.wbxml").read_bytes()
    assert ours.startswith(HEADER)
    assert body_after_header(theirs) == ours[len(HEADER) :]

    # (c) we read libwbxml's bytes (public id via string table) as the same tree
    assert decode(theirs) == tree


def _pim_requests() -> dict[str, Element]:
    """Every request shape the commands of eassync/eas/pim.py emit."""
    from datetime import UTC, datetime

    from eassync.eas import pim

    start = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    end = datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
    messages = [
        pim.OofMessage("internal", True, "Back on Monday\nAsk Carol", "Text"),
        pim.OofMessage("external_known", True, "<p>Away</p>", "HTML"),
        pim.OofMessage("external_unknown", False, None),
    ]
    return {
        "meeting_14.1": pim.build_meeting_response(
            [pim.MeetingRequest("accept", "cal", "cal:7")], "14.1"
        ),
        "meeting_16.1_comment": pim.build_meeting_response(
            [pim.MeetingRequest("tentative", "cal", "cal:7", comment="late, sorry")], "16.1"
        ),
        "meeting_16.1_no_send": pim.build_meeting_response(
            [pim.MeetingRequest("decline", "cal", "cal:7", send=False)], "16.1"
        ),
        "gal_page": pim.build_search_gal("smith", 50, 99, "14.0"),
        "gal_pictures": pim.build_search_gal(
            "smith", 0, 9, "16.1", picture_max_size=65536, max_pictures=10
        ),
        "availability": pim.build_resolve_availability(
            ["a@example.org", "b@example.org"], start, end, "14.1"
        ),
        "oof_get_html": pim.build_oof_get("HTML"),
        "oof_set_scheduled": pim.build_oof_set(pim.OofSettings(2, start, end, messages)),
        "oof_set_off": pim.build_oof_set(pim.OofSettings(0)),
    }


@pytest.mark.parametrize("name", sorted(_pim_requests()))
def test_libwbxml_reads_our_pim_requests(name: str, tmp_path: Path) -> None:
    """What respond/gal/freebusy/oof send decodes with libwbxml to the same document."""
    require_libwbxml()
    tree = _pim_requests()[name]
    (tmp_path / "ours.wbxml").write_bytes(encode(tree))
    run(
        "wbxml2xml",
        "-l",
        "ACTIVESYNC",
        "-o",
        str(tmp_path / "ours.xml"),
        str(tmp_path / "ours.wbxml"),
    )
    assert from_xml((tmp_path / "ours.xml").read_bytes()) == tree
