"""``ContactsHandler.with_uid`` and ``fingerprint_with_uid`` take a shortcut (the
card's other lines rendered once, no read-back of the new bytes): they must give the
bytes, fingerprints and errors of the plain path they shortcut, byte for byte."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eassync.convert import contacts
from eassync.convert.contacts import HANDLER
from eassync.convert.vcard import parse, serialize
from eassync.errors import ConversionError
from eassync.storage.base import Item
from tests.unit.test_convert_contacts_props import VERSION, app_data, vcards

SETTINGS = settings(max_examples=300, deadline=None)

# every character the reading and writing of lines branch on, plus multi-byte UTF-8
CHARS = st.sampled_from(list('aZ09 \\,;:="=.-\t\r\näß山🎌'))
NAMES = st.sampled_from(
    ["FN", "N", "UID", "EMAIL", "TEL", "NOTE", "PHOTO", "X-Y", "VERSION", "BEGIN", "END", "REV"]
)
PARAMS = st.sampled_from(
    ["", ";TYPE=home", ';X-Q="a:b;c"', ";ENCODING=QUOTED-PRINTABLE", ";QUOTED-PRINTABLE"]
)
UIDS = st.one_of(
    st.sampled_from(["eassync-bare-content", "6f1c2a8e-5d7b-4c1e-9a0f-3b2d4e6f8a10", ""]),
    st.text(CHARS, max_size=20),
    st.just("x QUOTED-PRINTABLE ="),
)


@st.composite
def odd_cards(draw: st.DrawFn) -> Item:
    """Cards with the lines a shortcut could read differently: quotes, soft breaks,
    long folded lines, groups, several UIDs, BEGIN/END properties, broken lines."""
    lines = ["BEGIN:VCARD"]
    if draw(st.booleans()):
        lines.append("VERSION:3.0")
    for _ in range(draw(st.integers(0, 8))):
        group = draw(st.sampled_from(["", "item1."]))
        value = draw(st.text(CHARS, max_size=30)).replace("\r", "").replace("\n", "")
        value *= draw(st.sampled_from([1, 1, 5]))
        lines.append(f"{group}{draw(NAMES)}{draw(PARAMS)}:{value}")
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from(["no colon here", ":empty name", "B@D:x"])))
    lines.append("END:VCARD")
    return Item(("\r\n".join(lines) + "\r\n").encode(), None)


def slow_with_uid(item: Item, uid: str) -> Item:
    card = parse(item.raw)
    card.set_single(contacts._text_prop("UID", uid))
    return Item(serialize(card), uid)


def outcome(call: object) -> tuple[str, object]:
    try:
        return "ok", call()  # type: ignore[operator]
    except ConversionError as exc:
        return "error", str(exc)


def check(item: Item, uid: str) -> None:
    contacts.clear_caches()
    expected = outcome(lambda: slow_with_uid(item, uid))
    got = outcome(lambda: HANDLER.with_uid(item, uid))
    assert got == expected
    # cold caches: the slow path hashes from the bytes alone
    contacts.clear_caches()
    slow_hash = outcome(lambda: contacts._fingerprint_of(slow_with_uid(item, uid).raw))
    contacts.clear_caches()
    assert outcome(lambda: HANDLER.fingerprint_with_uid(item, uid)) == slow_hash
    contacts.clear_caches()
    made = outcome(lambda: HANDLER.with_uid(item, uid))
    if made[0] == "ok":
        assert isinstance(made[1], Item)
        new = made[1]
        # what with_uid stored for the engine (fingerprint, parsed card) is what its
        # bytes give
        assert outcome(lambda: HANDLER.fingerprint(new)) == slow_hash
        parsed = outcome(lambda: parse(new.raw).properties)
        assert outcome(lambda: contacts._card(new).properties) == parsed
        for card_uid in (None, "other"):
            remote = Item(new.raw, card_uid)
            merged = outcome(lambda r=remote: HANDLER.merge(r, None))
            # merge(remote, None) as it read the UID before the shortcut
            expected = outcome(lambda r=remote: contacts._uid(parse(r.raw)) or r.uid)
            if expected[0] == "error":
                assert merged == expected
            elif expected[1] is not None:  # else a random UID is drawn: nothing to compare
                assert isinstance(merged[1], Item)
                assert (merged[1].raw, merged[1].uid) == (new.raw, expected[1])


@SETTINGS
@given(odd_cards(), UIDS)
def test_odd_cards_get_the_bytes_and_fingerprint_of_the_plain_path(item: Item, uid: str) -> None:
    check(item, uid)


@SETTINGS
@given(vcards(), UIDS)
def test_local_cards_get_the_bytes_and_fingerprint_of_the_plain_path(item: Item, uid: str) -> None:
    check(item, uid)


@settings(max_examples=150, deadline=None)
@given(app_data(), UIDS)
def test_downloads_get_the_bytes_and_fingerprint_of_the_plain_path(data: object, uid: str) -> None:
    check(HANDLER.from_eas(data, VERSION), uid)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(app_data(), UIDS)
def test_downloads_hashed_from_what_from_eas_remembered_match_the_plain_path(
    data: object, uid: str
) -> None:
    """from_eas stores the parse and the UID template of the bytes it makes (no
    read-back); everything derived from that must equal what the bytes give."""
    contacts.clear_caches()
    item = HANDLER.from_eas(data, VERSION)  # type: ignore[arg-type]
    assert item.raw == serialize(contacts.card_from_values(*contacts.values_from_elements(data)))  # type: ignore[arg-type]
    assert contacts._card(item).properties == parse(item.raw).properties
    expected = outcome(lambda: slow_with_uid(item, uid))
    warm_hash = outcome(lambda: HANDLER.fingerprint_with_uid(item, uid))
    assert outcome(lambda: HANDLER.with_uid(item, uid)) == expected
    if expected[0] == "ok":
        assert isinstance(expected[1], Item)
        assert warm_hash == ("ok", contacts._fingerprint_of(expected[1].raw))
        assert HANDLER.fingerprint(HANDLER.with_uid(item, uid)) == warm_hash[1]


@pytest.mark.parametrize(
    "raw",
    [
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nUID:old\r\nUID:older\r\nEND:VCARD\r\n",
        b"BEGIN:VCARD\r\nFN:A\r\nEND:VCARD\r\n",
        b"BEGIN:VCARD\r\nEND:VCARD\r\n",
        b"BEGIN:VCARD\r\nNOTE;ENCODING=QUOTED-PRINTABLE:a=\r\nFN:B\r\nEND:VCARD\r\n",
        b"BEGIN:VCARD\r\nFN:A\r\n",
        # read back as a nested BEGIN / an early END once the empty parameter is gone
        b"BEGIN:VCARD\r\nBEGIN;:VCARD\r\nFN:A\r\nEND:VCARD\r\n",
        b"BEGIN:VCARD\r\nFN:A\r\nEND;:VCARD\r\nNOTE:b\r\nEND:VCARD\r\n",
        b'BEGIN:VCARD\r\nEMAIL;X-A="q:1";TYPE=work:a@b\r\nEND:VCARD\r\n',
        b"BEGIN:VCARD\r\nNOTE:" + "山".encode() * 60 + b"\r\nEND:VCARD\r\n",
    ],
)
def test_known_edge_cards(raw: bytes) -> None:
    for uid in ("eassync-bare-content", "a,b;c\nd", ""):
        check(Item(raw), uid)
