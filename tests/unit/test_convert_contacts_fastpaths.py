"""The fast paths and caches of the contacts converter behave exactly like the plain
code they shortcut (performance work must not change a single output byte).

The reference functions below are the original character-by-character versions of
``eassync.convert.vcard``; hypothesis compares them with the current ones.
"""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eassync.convert import contacts, normalize, vcard
from eassync.convert.contacts import HANDLER
from eassync.convert.vcard import Property, fold, parse_line, split_unescaped, unescape
from eassync.storage.base import Item
from tests.unit.test_convert_contacts_props import vcards

DATA = Path(__file__).resolve().parents[1] / "data" / "contacts"
SETTINGS = settings(max_examples=300, deadline=None)

# every character class the fast paths branch on, plus multi-byte UTF-8
CHARS = st.sampled_from(list('abZ09 \\,;:="=.-nN\t\r\näß山🎌'))
text = st.text(CHARS, max_size=40)


def reference_unescape(text: str) -> str:
    out: list[str] = []
    chars = iter(text)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        nxt = next(chars, "")
        out.append("\n" if nxt in ("n", "N") else nxt)
    return "".join(out)


def reference_split_unescaped(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            current.append(char)
            current.append(next(chars, ""))
        elif char == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def reference_fold(line: str) -> str:
    if len(line.encode("utf-8")) <= vcard.FOLD_OCTETS:
        return line
    out: list[str] = []
    current: list[str] = []
    size = 0
    limit = vcard.FOLD_OCTETS
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            out.append("".join(current))
            current, size, limit = [], 0, vcard.FOLD_OCTETS - 1
        current.append(char)
        size += width
    out.append("".join(current))
    return "\r\n ".join(out)


def reference_parse_line(line: str) -> Property:
    """The quote-aware scan, used for every line before the plain-split fast path."""
    colon = vcard._value_start(line)
    if colon <= 0:
        raise vcard.ConversionError("no colon")
    head, value = line[:colon], line[colon + 1 :]
    pieces = vcard._split_params(head)
    group, _, name = pieces[0].rpartition(".")
    if not vcard._NAME_RE.match(name):
        raise vcard.ConversionError("bad name")
    params: list[tuple[str, list[str]]] = []
    for piece in pieces[1:]:
        key, eq, raw = piece.partition("=")
        key = key.strip().upper()
        if key:
            params.append((key, vcard._split_param_values(raw) if eq else []))
    return Property(name.upper(), value, params, group or None)


def reference_escape(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;").replace("\n", "\\n")


@SETTINGS
@given(st.one_of(text, st.text(max_size=30)))
def test_escape_matches_the_reference(value: str) -> None:
    assert vcard.escape(value) == reference_escape(value)


@SETTINGS
@given(text)
def test_unescape_matches_the_reference(value: str) -> None:
    assert unescape(value) == reference_unescape(value)


@SETTINGS
@given(text, st.sampled_from([",", ";"]))
def test_split_unescaped_matches_the_reference(value: str, sep: str) -> None:
    assert split_unescaped(value, sep) == reference_split_unescaped(value, sep)


@SETTINGS
@given(st.one_of(text, st.text(CHARS, min_size=60, max_size=400), st.text(max_size=300)))
def test_fold_matches_the_reference(line: str) -> None:
    assert fold(line) == reference_fold(line)


@SETTINGS
@given(
    st.sampled_from(["", "item1."]),
    st.sampled_from(["TEL", "EMAIL", "x-custom", "N"]),
    st.lists(st.tuples(st.sampled_from(["TYPE", "pref", "X-A"]), text), max_size=3),
    text,
)
def test_parse_line_matches_the_quote_aware_scan(
    group: str, name: str, params: list[tuple[str, str]], value: str
) -> None:
    line = group + name + "".join(f";{k}={v}" for k, v in params) + ":" + value
    try:
        expected = reference_parse_line(line)
    except vcard.ConversionError:
        with pytest.raises(vcard.ConversionError):
            parse_line(line)
        return
    assert parse_line(line) == expected


def fixture_items() -> list[Item]:
    items = []
    for path in sorted(DATA.glob("*.vcf")):
        if not path.name.startswith("broken"):
            items.append(Item(path.read_bytes()))
    return items


@pytest.mark.parametrize("item", fixture_items(), ids=lambda i: str(len(i.raw)))
def test_cached_results_equal_uncached_ones(item: Item) -> None:
    contacts.clear_caches()
    cold = (
        HANDLER.fingerprint(item),
        HANDLER.project(item, "16.1"),
        HANDLER.to_eas(item, "16.1"),
        HANDLER.describe(item),
    )
    warm = (
        HANDLER.fingerprint(item),
        HANDLER.project(item, "16.1"),
        HANDLER.to_eas(item, "16.1"),
        HANDLER.describe(item),
    )
    assert warm == cold
    uncached_projection = HANDLER.from_eas(HANDLER.to_eas(item, "16.1"), "16.1")
    assert cold[1] == uncached_projection


def test_callers_cannot_alter_cached_conversions() -> None:
    item = fixture_items()[0]
    contacts.clear_caches()
    first = HANDLER.to_eas(item, "16.1")
    first.append(contacts.E("Contacts:Spouse", value="intruder"))
    extraction = contacts._extraction(item)
    extraction.values[contacts.SPOUSE] = "intruder"
    extraction.feeds.clear()
    again = HANDLER.to_eas(item, "16.1")
    assert again.find(contacts.SPOUSE) is None
    assert contacts._extraction(item).feeds
    prop = contacts._card(item).properties[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        prop.value = "changed"  # type: ignore[misc]


def test_cards_larger_than_the_cache_limit_convert_the_same(tmp_path: Path) -> None:
    photo = "A" * (contacts.CACHE_MAX_BYTES + 10)
    raw = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Big\r\nN:Big;;;;\r\n"
        f"PHOTO;ENCODING=b;TYPE=JPEG:{photo}\r\nEND:VCARD\r\n"
    ).encode()
    item = Item(raw)
    contacts.clear_caches()
    assert HANDLER.fingerprint(item) == HANDLER.fingerprint(Item(bytes(raw)))
    assert HANDLER.project(item, "16.1") == HANDLER.from_eas(HANDLER.to_eas(item, "16.1"), "16.1")
    assert contacts._parsed.cache_info().currsize == 0  # never cached


def reference_canonical_line(prop: Property) -> str | None:
    """``_canonical_line`` as first written: no fast paths, reference (un)escaping."""
    prop = contacts.to_v3(prop)
    value: str | None = None
    if prop.name == "PHOTO":
        picture = contacts._photo_base64(prop)
        value = "sha256:" + normalize.digest([picture]) if picture else prop.value.strip()
    elif prop.name in ("BDAY", "ANNIVERSARY", "X-ANNIVERSARY"):
        day = normalize.parse_vcard_date(prop.value)
        value = day.isoformat() if day is not None else None
    if value is None:
        parts = []
        for part in reference_split_unescaped(prop.value, ";"):
            items = [reference_unescape(v) for v in reference_split_unescaped(part, ",")]
            parts.append(",".join(vcard.escape(normalize.lf(v).rstrip()) for v in items))
        value = ";".join(parts).rstrip(";")
    if not value.strip():
        return None
    types = prop.types() - contacts._DEFAULT_TYPES.get(prop.name, set())
    params: list[str] = []
    if "pref" in types or prop.param("PREF"):
        types.discard("pref")
        params.append("PREF")
    if types:
        params.append("TYPE=" + ",".join(sorted(types)))
    for key, values in prop.params:
        if key in contacts._IGNORED_PARAMS or key in {"TYPE", "PREF"} or not values:
            continue
        params.append(f"{key}={','.join(sorted(values))}")
    return ";".join([prop.name, *sorted(params)]) + ":" + value


def reference_fingerprint(item: Item) -> str:
    """The fingerprint as first written: a full parse, every line canonicalised."""
    card = vcard.parse(item.raw)
    lines = [
        line
        for prop in card.properties
        if prop.name not in contacts.VOLATILE
        and (line := reference_canonical_line(prop)) is not None
    ]
    return normalize.digest(lines)


@SETTINGS
@given(vcards())
def test_line_cached_fingerprint_matches_the_full_parse(local: Item) -> None:
    expected = reference_fingerprint(local)
    assert HANDLER.fingerprint(local) == expected
    contacts.clear_caches()
    assert HANDLER.fingerprint(local) == expected
    assert HANDLER.fingerprint(local) == expected  # warm


@pytest.mark.parametrize("item", fixture_items(), ids=lambda i: str(len(i.raw)))
def test_fixture_fingerprints_match_the_reference(item: Item) -> None:
    contacts.clear_caches()
    assert HANDLER.fingerprint(item) == reference_fingerprint(item)


def reference_digest(lines: list[str]) -> str:
    """``normalize.digest`` as first written (stored hashes depend on it)."""
    import hashlib

    hasher = hashlib.sha256()
    for line in sorted(lines):
        hasher.update(line.encode("utf-8"))
        hasher.update(b"\n")
    return hasher.hexdigest()


@SETTINGS
@given(st.lists(text, max_size=6))
def test_digest_matches_the_line_by_line_reference(lines: list[str]) -> None:
    assert normalize.digest(lines) == reference_digest(lines)
    assert normalize.digest(iter(lines)) == reference_digest(lines)


# names the canonical form treats specially, and plain ones
PROPERTY_NAMES = st.sampled_from(
    [
        "FN",
        "N",
        "TEL",
        "EMAIL",
        "ADR",
        "PHOTO",
        "BDAY",
        "ANNIVERSARY",
        "X-ANNIVERSARY",
        "RELATED",
        "NOTE",
        "CATEGORIES",
        "X-Y",
    ]
)
PARAM_KEYS = st.sampled_from(["TYPE", "PREF", "ENCODING", "VALUE", "X-A", "HOME", "CHARSET"])
PARAM_VALUES = st.lists(
    st.one_of(st.sampled_from(["b", "base64", "home", "pref", "1", "INTERNET", "voice"]), text),
    max_size=3,
)
VALUES = st.one_of(
    text,
    st.sampled_from(["data:image/png;base64,iVBORw0KGgo=", "1985-04-12", "19850412", "--0412"]),
    st.builds(lambda a, b: f"{a} ;{b}, ", text, text),
)


@SETTINGS
@given(PROPERTY_NAMES, st.lists(st.tuples(PARAM_KEYS, PARAM_VALUES), max_size=3), VALUES)
def test_canonical_line_matches_the_reference(
    name: str, params: list[tuple[str, list[str]]], value: str
) -> None:
    prop = Property(name, value, params)
    assert contacts._canonical_line(prop) == reference_canonical_line(prop)
    assert contacts._canonical_line(prop) == reference_canonical_line(prop)  # warm head cache


def test_made_card_caches_are_bounded_by_entries_and_bytes() -> None:
    lru: contacts._LruMap[bytes, int] = contacts._LruMap(3, max_bytes=10)
    for n, key in enumerate([b"aaaa", b"bbbb", b"cc"]):
        lru.put(key, n)
    assert len(lru) == 3
    lru.put(b"dddd", 3)  # 14 bytes of keys: the oldest goes
    assert lru.get(b"aaaa") is None
    assert [lru.get(k) for k in (b"bbbb", b"cc", b"dddd")] == [1, 2, 3]
    lru.put(b"bbbb", 4)  # the same key again does not count twice
    lru.put(b"e", 5)
    assert len(lru) == 3  # 11 bytes of keys: the oldest (cc) went
    assert lru.get(b"cc") is None
    lru.put(b"x" * 50, 6)  # larger than the budget alone: kept nothing else, nor itself
    assert len(lru) == 0


def test_downloads_with_large_photos_convert_the_same_after_eviction() -> None:
    """More photo cards than the byte budget holds: the oldest lose their shortcut
    and take the plain path, with the same result."""
    contacts.clear_caches()
    photo = base64.b64encode(b"\xff\xd8" + b"p" * 20_000).decode()
    downloads = []
    for n in range(300):  # ~27 KB each: well over MADE_CACHE_BYTES together
        data = contacts.E(
            "AirSync:ApplicationData",
            contacts.E("Contacts:FileAs", value=f"Person {n}"),
            contacts.E("Contacts:Picture", value=photo),
        )
        downloads.append(HANDLER.from_eas(data, "14.1"))
    assert len(contacts._templates) < 300
    for item in (downloads[0], downloads[-1]):
        expected = vcard.serialize(_with_uid_plain(item, "u"))
        assert HANDLER.with_uid(item, "u").raw == expected
        assert HANDLER.fingerprint_with_uid(item, "u") == reference_fingerprint(Item(expected))


def _with_uid_plain(item: Item, uid: str) -> vcard.Card:
    card = vcard.parse(item.raw)
    card.set_single(contacts._text_prop("UID", uid))
    return card
