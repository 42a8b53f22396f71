"""Framing rules of the WBXML codec, with the verified byte examples of eas-protocol.md §1.1."""

from __future__ import annotations

import contextlib
import gc

import pytest

from eassync.eas import codepages
from eassync.eas.element import E, Element
from eassync.eas.wbxml import HEADER, MAX_DEPTH, decode, encode
from eassync.errors import ProtocolError

INITIAL_FOLDERSYNC = bytes.fromhex("03016a00 0007 56 52 03 3000 01 01")

SYNC_REQUEST = bytes.fromhex(
    "03016a00"
    "45 5c 4f"  # Sync, Collections, Collection
    "4b 03 31 00 01"  # SyncKey "1"
    "52 03 32 00 01"  # CollectionId "2"
    "13"  # <GetChanges/>
    "55 03 353132 00 01"  # WindowSize "512"
    "57 58 03 34 00 01"  # Options, FilterType "4"
    "00 11 45 46 03 31 00 01 01"  # AirSyncBase: BodyPreference, Type "1", END
    "01"  # END Options
    "00 00 56 48 4d 03 323a31 00 01 5d"  # AirSync: Commands, Change, ServerId "2:1", AppData
    "00 04 66 03 48 69 00 01"  # Calendar:Subject "Hi"
    "01 01 01 01 01 01"  # ApplicationData, Change, Commands, Collection, Collections, Sync
)


def sync_request_tree() -> Element:
    return E(
        "AirSync:Sync",
        E(
            "AirSync:Collections",
            E(
                "AirSync:Collection",
                E("AirSync:SyncKey", value="1"),
                E("AirSync:CollectionId", value="2"),
                E("AirSync:GetChanges"),
                E("AirSync:WindowSize", value=512),
                E(
                    "AirSync:Options",
                    E("AirSync:FilterType", value="4"),
                    E("AirSyncBase:BodyPreference", E("AirSyncBase:Type", value="1")),
                ),
                E(
                    "AirSync:Commands",
                    E(
                        "AirSync:Change",
                        E("AirSync:ServerId", value="2:1"),
                        E("AirSync:ApplicationData", E("Calendar:Subject", value="Hi")),
                    ),
                ),
            ),
        ),
    )


# --- verified byte examples ---------------------------------------------------------------


def test_initial_foldersync_encodes_to_the_verified_bytes() -> None:
    tree = E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", value="0"))
    assert encode(tree) == INITIAL_FOLDERSYNC


def test_initial_foldersync_decodes_from_the_verified_bytes() -> None:
    assert decode(INITIAL_FOLDERSYNC) == E(
        "FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", value="0")
    )


def test_sync_request_switches_pages_only_when_needed() -> None:
    assert encode(sync_request_tree()) == SYNC_REQUEST
    assert decode(SYNC_REQUEST) == sync_request_tree()


# --- encoder framing ----------------------------------------------------------------------


def test_header_is_wbxml13_unknown_public_id_utf8_no_string_table() -> None:
    assert HEADER == b"\x03\x01\x6a\x00"
    assert encode(E("AirSync:Sync")).startswith(HEADER)


def test_empty_element_is_the_bare_token() -> None:
    assert encode(E("AirSync:Sync")) == HEADER + b"\x05"


def test_empty_string_value_is_an_empty_inline_string() -> None:
    assert encode(E("AirSync:SyncKey", value="")) == HEADER + b"\x4b\x03\x00\x01"
    assert decode(HEADER + b"\x4b\x03\x00\x01").value == ""


def test_page_is_not_restored_by_end() -> None:
    # Contacts:FirstName then AirSync:Status: a SWITCH back to 0 is needed after the END.
    tree = E(
        "AirSync:ApplicationData",
        E("Contacts:FirstName", value="A"),
        E("Contacts:LastName", value="B"),
    )
    assert encode(tree) == HEADER + bytes.fromhex("5d 0001 5f034100 01 69034200 01 01")


def test_bytes_value_is_opaque_with_mb_u_int32_length() -> None:
    payload = bytes(range(256)) * 2  # 512 bytes → length 84 00
    data = encode(E("ComposeMail:Mime", value=payload))
    assert data == HEADER + b"\x00\x15\x50\xc3\x84\x00" + payload + b"\x01"
    assert decode(data).value == payload


@pytest.mark.parametrize(
    ("length", "encoded"),
    [(0, "00"), (127, "7f"), (128, "8100"), (200, "8148"), (16384, "818000")],
)
def test_mb_u_int32_lengths(length: int, encoded: str) -> None:
    data = encode(E("ComposeMail:Mime", value=b"x" * length))
    assert data[8 : 8 + len(encoded) // 2] == bytes.fromhex(encoded)
    assert decode(data).value == b"x" * length


def test_str_value_is_utf8_inline_string() -> None:
    data = encode(E("Contacts:FirstName", value="Zoë 日本"))
    assert data == HEADER + b"\x00\x01\x5f\x03" + "Zoë 日本".encode() + b"\x00\x01"


def test_text_with_nul_is_refused() -> None:
    with pytest.raises(ProtocolError, match="NUL"):
        encode(E("Contacts:FirstName", value="a\x00b"))


def test_lone_surrogate_is_refused() -> None:
    with pytest.raises(ProtocolError, match="Unicode"):
        encode(E("Contacts:FirstName", value="\ud800"))


def test_unknown_tag_is_refused() -> None:
    with pytest.raises(ProtocolError, match="unknown tag"):
        encode(E("AirSync:NoSuchThing"))


def test_children_and_value_together_are_refused() -> None:
    with pytest.raises(ProtocolError, match="both children and a value"):
        encode(Element("AirSync:Sync", [E("AirSync:Status")], "x"))


def test_aliases_encode_to_the_canonical_token() -> None:
    assert encode(E("Calendar:Timezone", value="x")) == encode(E("Calendar:TimeZone", value="x"))
    assert decode(encode(E("Email:FlagStatus", value="2"))).tag == "Email:Status"


def test_legacy_tokens_decode_and_encode() -> None:
    assert codepages.BY_TAG["AirSync:Truncation"].legacy
    assert decode(HEADER + b"\x19").tag == "AirSync:Truncation"
    assert encode(E("AirSync:Truncation")) == HEADER + b"\x19"


def test_deep_tree_encodes_without_recursion() -> None:
    root = node = E("AirSync:Sync")
    for _ in range(5000):
        child = E("AirSync:Sync")
        node.children.append(child)
        node = child
    data = encode(root)
    assert data == HEADER + b"\x45" * 5000 + b"\x05" + b"\x01" * 5000


# --- decoder leniency that the spec requires --------------------------------------------


def test_content_flag_followed_by_end_is_an_empty_element() -> None:
    assert decode(HEADER + b"\x45\x01") == E("AirSync:Sync")


def test_several_inline_strings_are_concatenated() -> None:
    data = HEADER + b"\x5f" + b"\x03ab\x00\x03cd\x00\x01"
    assert decode(HEADER + b"\x00\x01" + data[4:]).value == "abcd"


def test_string_and_opaque_chunks_concatenate_to_bytes() -> None:
    data = HEADER + b"\x00\x15\x50\x03ab\x00\xc3\x02\xff\xfe\x01"
    assert decode(data).value == b"ab\xff\xfe"


def test_public_id_zero_with_string_table_as_libwbxml_writes_it() -> None:
    table = b"-//MICROSOFT//DTD ActiveSync//EN\x00"
    data = (
        b"\x03\x00\x00\x6a" + bytes([len(table)]) + table + b"\x00\x07\x56\x52\x03\x30\x00\x01\x01"
    )
    assert decode(data) == decode(INITIAL_FOLDERSYNC)


def test_charset_unknown_is_read_as_utf8() -> None:
    assert decode(b"\x03\x01\x00\x00\x05").tag == "AirSync:Sync"


def test_accepts_bytearray_and_memoryview() -> None:
    assert decode(bytearray(INITIAL_FOLDERSYNC)) == decode(memoryview(INITIAL_FOLDERSYNC))


def test_every_token_of_every_page_decodes_to_its_tag() -> None:
    for (page, token), info in codepages.BY_TOKEN.items():
        tree = decode(HEADER + bytes([0, page, token]))
        assert tree.tag == info.tag
        assert encode(tree) == HEADER + (bytes([0, page]) if page else b"") + bytes([token])


# --- malformed input: always ProtocolError with an offset -------------------------------


@pytest.mark.parametrize(
    ("data", "message", "offset"),
    [
        (b"", "empty", 0),
        (b"\x04\x01\x6a\x00\x05", "version", 0),
        (b"\x03", "public id", 1),
        (b"\x03\x01", "charset", 2),
        (b"\x03\x01\x04\x00\x05", "charset", 2),
        (b"\x03\x01\x6a", "string table length", 3),
        (b"\x03\x01\x6a\x05ab", "string table", 3),
        (b"\x03\x01\x6a\x00", "no root", 4),
        (b"\x03\x01\x6a\x8f\xff\xff\xff\xff\x7f", "longer than 5 bytes", 3),
        (b"\x03\x01\x6a\x9f\xff\xff\xff\x7f", "32 bits", 3),
        (HEADER + b"\x45", "not closed", 5),
        (HEADER + b"\x45\x4b\x03ab", "unterminated", 6),
        (HEADER + b"\x45\x01\x01", "after the end", 6),
        (HEADER + b"\x05\x05", "after the end", 5),
        (HEADER + b"\x01", "END without", 4),
        (HEADER + b"\x03a\x00", "outside", 4),
        (HEADER + b"\x00", "SWITCH_PAGE", 4),
        (HEADER + b"\x00\x1a\x05", "unknown code page 26", 5),
        (HEADER + b"\x04", "LITERAL", 4),
        (HEADER + b"\x02", "ENTITY", 4),
        (HEADER + b"\x43", "PI", 4),
        (HEADER + b"\x83", "STR_T", 4),
        (HEADER + b"\xc0", "EXT_0", 4),
        (HEADER + b"\x85", "attributes", 4),
        (HEADER + b"\xc5\x01", "attributes", 4),
        (HEADER + b"\x2a", "unknown token 0x2A on code page 0", 4),
        (HEADER + b"\x00\x03\x3f", "unknown token 0x3F on code page 3", 6),
        (HEADER + b"\x4b\x03\xff\xfe\x00\x01", "UTF-8", 6),
        (HEADER + b"\x4b\xc3\x90\x80\x80\x80\x00\x01", "opaque length", 6),
        (HEADER + b"\x4b\xc3\x0a\x00\x01", "runs past the end", 5),
        (HEADER + b"\x45\x4b\x01\x03a\x00\x01", "text next to child", 7),
        (HEADER + b"\x4b\x03a\x00\x4b\x01\x01", "child element next to text", 8),
    ],
)
def test_malformed_input_raises_protocol_error_with_offset(
    data: bytes, message: str, offset: int
) -> None:
    with pytest.raises(ProtocolError, match=message) as info:
        decode(data)
    assert info.value.offset == offset


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    ok = HEADER + b"\x45" * MAX_DEPTH + b"\x01" * MAX_DEPTH
    assert decode(ok).tag == "AirSync:Sync"
    too_deep = HEADER + b"\x45" * (MAX_DEPTH + 1) + b"\x01" * (MAX_DEPTH + 1)
    with pytest.raises(ProtocolError, match="nested deeper") as info:
        decode(too_deep)
    assert info.value.offset == 4 + MAX_DEPTH


@pytest.mark.parametrize("data", [INITIAL_FOLDERSYNC, INITIAL_FOLDERSYNC[:-1]])
@pytest.mark.parametrize("enabled", [True, False])
def test_decode_leaves_the_garbage_collector_as_it_found_it(data: bytes, enabled: bool) -> None:
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with contextlib.suppress(ProtocolError):
            decode(data)
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


# --- code-page data -----------------------------------------------------------------------


def test_code_pages_hold_the_586_current_tags_of_the_spec_sheet() -> None:
    assert sorted(codepages.PAGE_NAMES) == list(range(26))
    current = [i for i in codepages.BY_TAG.values() if not i.legacy]
    assert len(current) == 586
    assert all(0x05 <= i.token <= 0x3F for i in codepages.BY_TAG.values())
    assert codepages.PAGE_NUMBERS["AirSyncBase"] == 17


def test_tag_versions_are_data() -> None:
    wait = codepages.BY_TAG["AirSync:Wait"]
    assert (wait.min_version, wait.max_version) == ("12.1", None)
    assert not wait.in_version("12.0")
    assert wait.in_version("16.1")
    location = codepages.BY_TAG["Calendar:Location"]
    assert location.in_version("14.1")
    assert not location.in_version("16.0")
    assert codepages.BY_TAG["Find:Find"].in_version("16.1")
    assert not codepages.BY_TAG["Find:Find"].in_version("16.0")


def test_lookup_accepts_aliases() -> None:
    assert codepages.lookup("Calendar:Timezone") is codepages.BY_TAG["Calendar:TimeZone"]
    assert codepages.lookup("Calendar:Nope") is None
    assert [i.token for i in codepages.tags_of_page("Notes")] == [5, 6, 7, 8, 9]
