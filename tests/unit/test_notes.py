"""The notes handler (MS-ASNOTE ⇄ Markdown note documents): the README table row by
row through the real storage, round trips, front matter, HTML and hostile bodies."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eassync.convert import tables_notes
from eassync.convert.notes import HANDLER, Note, document, parse, parse_text, render_text
from eassync.eas.element import E, Element
from eassync.errors import ConversionError
from eassync.storage.base import Item
from eassync.storage.notes import NotesStorage

VERSIONS = ["14.0", "14.1", "16.1"]

ROWS = [
    (row, example)
    for row in tables_notes.NOTES
    if row.level == tables_notes.SUPPORTED
    for example in row.examples
]


def values(data: Element, path: str) -> str:
    parent, _, last = path.rpartition("/")
    nodes = data.findall(path) if parent else data.findall(last)
    return "|".join(node.text() or "" for node in nodes)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("row", "example"), ROWS, ids=[f"{r.markdown[:20]}:{e[0]}" for r, e in ROWS]
)
def test_every_supported_row_maps_both_ways(
    tmp_path: Path, version: str, row: tables_notes.Row, example: tuple[str, str, dict[str, str]]
) -> None:
    name, text, expected = example
    here = NotesStorage(tmp_path / "a", create=True)
    (here.path / name).write_text(text, encoding="utf-8")
    item, _ = here.get(name)
    data = HANDLER.to_eas(item, version)
    for path, value in expected.items():
        assert values(data, path) == value, path
    # the way back: a second device stores the server's copy, and reads the same note
    there = NotesStorage(tmp_path / "b", create=True)
    ident, _ = there.add(HANDLER.merge(HANDLER.from_eas(data, version), None))
    assert HANDLER.fingerprint(there.get(ident)[0]) == HANDLER.fingerprint(item)


def test_the_readme_table_lists_every_notes_element_we_send() -> None:
    listed = {tag for row in tables_notes.NOTES for tag in row.eas}
    data = HANDLER.to_eas(document(Note("s", "b", ("c",))), "14.1")
    sent = {child.tag for child in data}
    assert sent <= listed


def test_message_class_is_sticky_note_and_last_modified_is_not_stored() -> None:
    data = HANDLER.to_eas(document(Note("s", "b")), "14.1")
    assert data.text("Notes:MessageClass") == "IPM.StickyNote"
    incoming = E(
        "AirSync:ApplicationData",
        E("Notes:Subject", value="s"),
        E("Notes:LastModifiedDate", value="2026-01-01T10:00:00.000Z"),
        E("AirSyncBase:Body", E("AirSyncBase:Type", value="1"), E("AirSyncBase:Data", value="b")),
    )
    assert HANDLER.from_eas(incoming, "14.1").raw == b"# s\n\nb\n"


# --- round trips --------------------------------------------------------------------------

subjects = st.text(st.characters(blacklist_categories=("Cs",)), max_size=50)
bodies = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)
categories = st.lists(
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=10),
    max_size=4,
    unique=True,
)


@settings(max_examples=150)
@given(subject=subjects, body=bodies, cats=categories)
def test_a_document_parses_back(subject: str, body: str, cats: list[str]) -> None:
    item = HANDLER.merge(document(Note(subject, body, tuple(cats))), None)
    again = parse(item)
    assert HANDLER.fingerprint(document(again)) == HANDLER.fingerprint(item)


@settings(max_examples=150)
@given(subject=subjects, body=bodies, cats=categories, version=st.sampled_from(VERSIONS))
def test_eas_round_trip_keeps_what_eas_holds(
    subject: str, body: str, cats: list[str], version: str
) -> None:
    item = document(Note(subject, body, tuple(cats)))
    back = HANDLER.project(item, version)
    assert HANDLER.fingerprint(back) == HANDLER.fingerprint(item)
    # the server's copy merged into the file changes nothing
    assert HANDLER.fingerprint(HANDLER.merge(back, item)) == HANDLER.fingerprint(item)


def test_line_ends_and_trailing_blank_lines_are_no_change() -> None:
    local = document(Note("s", "one\ntwo"))
    remote = document(Note("s", "one\r\ntwo\r\n"))
    assert HANDLER.fingerprint(local) == HANDLER.fingerprint(remote)
    assert HANDLER.merge(remote, local).raw == local.raw


# --- front matter ---------------------------------------------------------------------------


def test_other_front_matter_stays_local_through_a_server_change() -> None:
    text = "---\ntags:\n  - x\n  - y\ncategories: [a]\naliases: [z]\n---\n# S\n\nbody\n"
    local = Item(text.encode())
    remote = HANDLER.from_eas(
        HANDLER.to_eas(document(Note("S", "new body", ("b",))), "14.1"), "14.1"
    )
    merged = parse(HANDLER.merge(remote, local))
    assert merged.categories == ("b",)
    assert merged.body == "new body"
    assert "tags:\n  - x\n  - y" in merged.extra
    assert "aliases: [z]" in merged.extra
    assert "categories" not in merged.extra
    # and nothing of it goes to the server
    assert "tags" not in repr(HANDLER.to_eas(local, "14.1"))


def test_categories_gone_remove_the_front_matter() -> None:
    assert render_text(Note("S", "b", ())) == "# S\n\nb\n"
    assert render_text(Note("S", "b", ("x, y", "plain"))) == (
        '---\ncategories: ["x, y", plain]\n---\n# S\n\nb\n'
    )


@pytest.mark.parametrize(
    ("text", "cats"),
    [
        ("---\ncategories: a, b\n---\nx\n", ("a", "b")),
        ("---\ncategories:\n  - a\n  - 7\n---\nx\n", ("a", "7")),
        ("---\ncategories: [a, a, '']\n---\nx\n", ("a",)),
    ],
)
def test_categories_forms(text: str, cats: tuple[str, ...]) -> None:
    assert parse_text(text, "n")[0].categories == cats


@pytest.mark.parametrize(
    "text",
    [
        "---\nnot: [closed\n---\nbody\n",  # not YAML
        "---\n- a list\n---\nbody\n",  # not a mapping
        "---\nno end of front matter\n",
    ],
)
def test_what_is_not_front_matter_is_body(text: str) -> None:
    parsed, heading = parse_text(text, "Name")
    assert parsed.subject == "Name"
    assert not heading
    assert parsed.body == text[:-1]
    assert parsed.categories == ()


def test_a_uid_in_front_matter_is_read_and_replaced_by_with_uid() -> None:
    item = Item(b"---\nuid: abc\n---\n# S\n\nb\n")
    assert parse(item).uid == "abc"
    copy = HANDLER.with_uid(item, "def")
    assert copy.uid == "def"
    assert parse(Item(copy.raw)).uid == "def"
    plain = HANDLER.with_uid(document(Note("S", "b")), "u")
    assert plain.uid == "u"
    assert plain.raw == document(Note("S", "b")).raw  # files stay clean


# --- what servers send ----------------------------------------------------------------------


def server_note(body_type: str, data: str, *, truncated: bool = False) -> Element:
    body = E("AirSyncBase:Body", E("AirSyncBase:Type", value=body_type))
    if truncated:
        body.add("AirSyncBase:Truncated", "1")
    body.add("AirSyncBase:Data", data)
    return E("AirSync:ApplicationData", E("Notes:Subject", value="S"), body)


def test_an_html_body_becomes_markdown() -> None:
    html = (
        "<html><head><style>p{color:red}</style></head><body><p>Hello <b>you</b></p>"
        "<ol><li>one</li></ol><p><a href='https://example.org'>link</a></p>"
        "<script>alert(1)</script></body></html>"
    )
    body = parse(HANDLER.from_eas(server_note("2", html), "14.1")).body
    assert body == "Hello **you**\n\n1. one\n\n[link](https://example.org)"


def test_a_truncated_body_is_refused() -> None:
    with pytest.raises(ConversionError, match="truncated"):
        HANDLER.from_eas(server_note("1", "part", truncated=True), "14.1")


def test_an_rtf_body_is_refused() -> None:
    with pytest.raises(ConversionError, match="Type 3"):
        HANDLER.from_eas(server_note("3", "e1xydGYxfQ=="), "14.1")


def test_a_subject_with_line_breaks_and_controls_is_one_clean_line() -> None:
    data = E("AirSync:ApplicationData", E("Notes:Subject", value="a\r\nb\x1b[2J\tc"))
    note = parse(HANDLER.from_eas(data, "14.1"))
    assert note.subject == "a b[2J\tc"
    assert note.body == ""


def test_describe() -> None:
    assert HANDLER.describe(document(Note("Plan", "x"))) == "Plan"
    assert HANDLER.describe(document(Note("", "x"))) == "(untitled note)"
    assert HANDLER.describe(Item(b"\xff")) == "(unreadable note)"


def test_categories_differing_in_case_or_order_are_no_change() -> None:
    local = document(Note("s", "b", ("work", "ideas")))
    remote = document(Note("s", "b", ("Ideas", "Work")))
    assert HANDLER.fingerprint(local) == HANDLER.fingerprint(remote)
    assert HANDLER.merge(remote, local).raw == local.raw
    assert parse(HANDLER.merge(document(Note("s", "b", ("other",))), local)).categories == (
        "other",
    )
