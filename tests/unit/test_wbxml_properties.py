"""Property tests of the WBXML codec: round trips over random trees, fuzzing the decoder."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eassync.eas import codepages
from eassync.eas.element import Element
from eassync.eas.wbxml import decode, encode
from eassync.errors import ProtocolError

ALL_TAGS = sorted(codepages.BY_TAG)
OPAQUE_TAGS = sorted(codepages.OPAQUE_TAGS)

# STR_I text: any Unicode scalar value except NUL (STR_I is NUL-terminated).
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))

leaves = st.one_of(
    st.builds(lambda tag: Element(tag), st.sampled_from(ALL_TAGS)),
    st.builds(lambda tag, text: Element(tag, value=text), st.sampled_from(ALL_TAGS), texts),
    st.builds(lambda tag, raw: Element(tag, value=raw), st.sampled_from(OPAQUE_TAGS), st.binary()),
)

trees = st.recursive(
    leaves,
    lambda children: st.builds(
        lambda tag, kids: Element(tag, kids),
        st.sampled_from(ALL_TAGS),
        st.lists(children, min_size=1, max_size=6),
    ),
    max_leaves=40,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
def test_decode_of_encode_is_identity(tree: Element) -> None:
    assert decode(encode(tree)) == tree


def decode_or_protocol_error(data: bytes) -> None:
    """The only outcomes allowed: a tree, or ProtocolError with an offset in range."""
    offset: int | None = 0
    try:
        decode(data)
    except ProtocolError as exc:
        offset = exc.offset
    assert offset is not None
    assert 0 <= offset <= len(data)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_bytes_decode_or_raise_protocol_error(data: bytes) -> None:
    decode_or_protocol_error(data)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_bodies_after_a_valid_header_decode_or_raise(body: bytes) -> None:
    decode_or_protocol_error(b"\x03\x01\x6a\x00" + body)


@st.composite
def mutated_documents(draw: st.DrawFn) -> bytes:
    data = bytearray(encode(draw(trees)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=6))
        elif data:
            del data[at]
    return bytes(data)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_documents())
def test_mutated_documents_decode_or_raise_protocol_error(data: bytes) -> None:
    decode_or_protocol_error(data)


def test_huge_declared_opaque_length_does_not_allocate() -> None:
    # 4 GiB declared, 3 bytes present: refused from the length alone.
    data = b"\x03\x01\x6a\x00\x00\x15\x50\xc3\x8f\xff\xff\xff\x7f abc\x01"
    with pytest.raises(ProtocolError, match="past the end"):
        decode(data)
