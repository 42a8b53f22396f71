"""WBXML ⇄ Element, as EAS uses it (eas-protocol.md §1.1, MS-ASWBXML 2.1).

``encode(root) -> bytes`` and ``decode(data) -> Element``. Pure functions, no I/O.

Encoding rules:

* Header ``03 01 6A 00``: WBXML 1.3, public id 1 (unknown), UTF-8, no string table.
* SWITCH_PAGE only when the next tag's page differs from the current one; the page is
  global state, not restored by END.
* An element without children and without value is the bare token; otherwise
  ``token | 0x40`` … END.
* A ``str`` value is STR_I (UTF-8 + NUL); a ``bytes`` value is OPAQUE (mb_u_int32
  length + raw bytes), whatever the tag (see ``codepages.OPAQUE_TAGS`` for where the
  wire carries byte arrays). STR_I cannot carry NUL: text containing ``"\\0"`` is
  refused with ProtocolError rather than silently altered (Z-Push strips NULs on its
  side, ``replacenullcharfilter.php``; stripping is the caller's decision).
* An element with both children and a value is refused (EAS has no mixed content).

Decoding is strict, because a bad byte usually means a broken proxy or a truncated
response and guessing would corrupt data. Anything malformed raises
``ProtocolError`` carrying the byte offset, never another exception:

* version 1.1–1.3 (all with a charset field); a public id of 0 is followed by a
  string-table index (libwbxml's ``xml2wbxml`` writes the DTD's public id that way);
  the string table is skipped (EAS never refers to it);
* charset must be UTF-8 (106), or 0 "unknown", taken as UTF-8: EAS is UTF-8 only;
* several STR_I/OPAQUE chunks inside one element are concatenated; if any chunk is
  OPAQUE the value is ``bytes`` (text chunks encoded as UTF-8), else ``str``;
* ``token | 0x40`` followed directly by END decodes as an empty element;
* refused: unknown page or token, attributes (bit 0x80), the unused global tokens
  (ENTITY, LITERAL*, EXT*, PI, STR_T), text outside an element or next to child
  elements, invalid UTF-8, an mb_u_int32 longer than 5 bytes or above 2**32-1, a
  declared length beyond the end of the data, nesting deeper than ``MAX_DEPTH``,
  truncation, and any byte after the root element's END.
"""

from __future__ import annotations

import gc

from eassync.eas.codepages import BY_TAG, BY_TOKEN, PAGE_NAMES, TAG_ALIASES
from eassync.eas.element import Element
from eassync.errors import ProtocolError

HEADER = b"\x03\x01\x6a\x00"

#: Deepest nesting the decoder accepts. Real EAS documents stay below 15 levels
#: (Sync/Collections/Collection/Commands/Add/ApplicationData/Exceptions/Exception/…).
MAX_DEPTH = 100

_SWITCH_PAGE = 0x00
_END = 0x01
_STR_I = 0x03
_OPAQUE = 0xC3
_CONTENT = 0x40
_ATTRIBUTES = 0x80
_CHARSET_UTF8 = 106
_CHARSET_UNKNOWN = 0

# page number → 64-slot list: token → "Page:Name" (None where the page has no token)
_DECODE_TABLE: dict[int, list[str | None]] = {page: [None] * 64 for page in PAGE_NAMES}
for (_page, _token), _info in BY_TOKEN.items():
    _DECODE_TABLE[_page][_token] = _info.tag

# page number → 256-slot list: tag byte (token, or token|0x40) → "Page:Name"; None for
# every other byte (global tokens, attribute bit, unknown tokens), so the decoder's
# hot path is one list index.
_TAG_BYTES: dict[int, list[str | None]] = {
    page: table + table + [None] * 128 for page, table in _DECODE_TABLE.items()
}

# "Page:Name" (canonical or alias) → (page, token)
_ENCODE_TABLE: dict[str, tuple[int, int]] = {tag: (i.page, i.token) for tag, i in BY_TAG.items()}
for _alias, _canonical in TAG_ALIASES.items():
    _ENCODE_TABLE[_alias] = _ENCODE_TABLE[_canonical]

_GLOBAL_TOKEN_NAMES = {
    0x02: "ENTITY",
    0x04: "LITERAL",
    0x40: "EXT_I_0",
    0x41: "EXT_I_1",
    0x42: "EXT_I_2",
    0x43: "PI",
    0x44: "LITERAL_C",
    0x80: "EXT_T_0",
    0x81: "EXT_T_1",
    0x82: "EXT_T_2",
    0x83: "STR_T",
    0x84: "LITERAL_A",
    0xC0: "EXT_0",
    0xC1: "EXT_1",
    0xC2: "EXT_2",
    0xC4: "LITERAL_AC",
}


# --- encoding ---------------------------------------------------------------------------


def _mb_u_int32(value: int) -> bytes:
    """Big-endian base-128, bit 7 set on every byte but the last (WBXML 1.3 §5.1)."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def encode(root: Element) -> bytes:
    """The WBXML bytes of the document whose root element is ``root``."""
    out = bytearray(HEADER)
    page = 0
    table = _ENCODE_TABLE
    # Explicit stack instead of recursion: None marks "write the END of an element".
    stack: list[Element | None] = [root]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        element = pop()
        if element is None:
            out.append(_END)
            continue
        try:
            tag_page, token = table[element.tag]
        except (KeyError, TypeError):
            raise ProtocolError(f"cannot encode unknown tag {element.tag!r}") from None
        if tag_page != page:
            out.append(_SWITCH_PAGE)
            out.append(tag_page)
            page = tag_page
        children = element.children
        value = element.value
        if children:
            if value is not None:
                raise ProtocolError(f"{element.tag} has both children and a value")
            out.append(token | _CONTENT)
            push(None)
            extend(reversed(children))
        elif value is None:
            out.append(token)
        elif isinstance(value, str):
            try:
                data = value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ProtocolError(f"{element.tag}: text is not valid Unicode ({exc})") from None
            if b"\x00" in data:
                raise ProtocolError(f"{element.tag}: text contains NUL, which STR_I cannot carry")
            out.append(token | _CONTENT)
            out.append(_STR_I)
            out += data
            out += b"\x00\x01"
        elif isinstance(value, bytes | bytearray | memoryview):
            out.append(token | _CONTENT)
            out.append(_OPAQUE)
            out += _mb_u_int32(len(value))
            out += value
            out.append(_END)
        else:
            raise ProtocolError(
                f"{element.tag}: value must be str or bytes, not {type(value).__name__}"
            )
    return bytes(out)


# --- decoding ---------------------------------------------------------------------------


def _read_mb_u_int32(buf: bytes, pos: int, what: str) -> tuple[int, int]:
    """Read an mb_u_int32 at ``pos``; return (value, position after it)."""
    start = pos
    value = 0
    end = len(buf)
    for _ in range(5):
        if pos >= end:
            raise ProtocolError(f"truncated {what}", offset=start)
        byte = buf[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            if value > 0xFFFFFFFF:
                raise ProtocolError(f"{what} does not fit in 32 bits", offset=start)
            return value, pos
    raise ProtocolError(f"{what} is longer than 5 bytes", offset=start)


def _read_header(buf: bytes) -> int:
    """Check the header; return the offset of the body."""
    if not buf:
        raise ProtocolError("empty WBXML document", offset=0)
    version = buf[0]
    if version not in (0x01, 0x02, 0x03):
        raise ProtocolError(
            f"unsupported WBXML version byte 0x{version:02X} (EAS uses 0x03)", offset=0
        )
    public_id, pos = _read_mb_u_int32(buf, 1, "public id")
    if public_id == 0:  # the public id is a string-table index (libwbxml writes this)
        _, pos = _read_mb_u_int32(buf, pos, "public id string index")
    charset_at = pos
    charset, pos = _read_mb_u_int32(buf, pos, "charset")
    if charset not in (_CHARSET_UTF8, _CHARSET_UNKNOWN):
        raise ProtocolError(
            f"unsupported charset MIBenum {charset} (EAS uses UTF-8, 106)", offset=charset_at
        )
    table_at = pos
    table_length, pos = _read_mb_u_int32(buf, pos, "string table length")
    if table_length > len(buf) - pos:
        raise ProtocolError("string table runs past the end of the data", offset=table_at)
    return pos + table_length


def decode(data: bytes | bytearray | memoryview) -> Element:
    """The element tree of a WBXML document. Raises ProtocolError on any malformation."""
    # A 10,000-item Sync response creates ~250,000 objects; each burst of allocations
    # triggers cyclic-GC passes that rescan the whole heap (3x the decoding time in
    # tests/bench/bench_wbxml.py). A tree has no cycles, so pause the collector.
    # Only re-enable it if it was on: concurrent decodes leave it as they found it.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _decode(data)
    finally:
        if gc_was_enabled:
            gc.enable()


def _decode(data: bytes | bytearray | memoryview) -> Element:
    buf = bytes(data)
    n = len(buf)
    pos = _read_header(buf)
    tag_bytes = _TAG_BYTES
    page = 0
    tags = tag_bytes[0]
    find = buf.find
    new = Element
    root: Element | None = None
    stack: list[Element] = []
    current: Element | None = None  # the innermost open element
    # One loop over the bytes with an explicit stack; the branches are ordered by how
    # often they occur in a Sync response (tags, END, text, SWITCH_PAGE).
    while pos < n:
        byte = buf[pos]
        tag = tags[byte]
        if tag is not None:
            if current is None:  # the root element
                root = current = new(tag, [], None)
                pos += 1
                if not byte & _CONTENT:
                    break  # an empty root element is the whole document
                stack.append(root)
                continue
            if current.value is not None:
                raise ProtocolError(f"child element next to text in {current.tag}", offset=pos)
            if not byte & _CONTENT:
                current.children.append(new(tag, [], None))
                pos += 1
                continue
            if pos + 1 < n and buf[pos + 1] == _STR_I:
                # Fast path for the common leaf <Tag>text</Tag> (one step instead of
                # three). Anything unusual (bad UTF-8, several chunks …) takes the
                # general path below, which reports it.
                end = find(0, pos + 2)
                if 0 < end < n - 1 and buf[end + 1] == _END:
                    try:
                        text = buf[pos + 2 : end].decode("utf-8")
                    except UnicodeDecodeError:
                        pass
                    else:
                        current.children.append(new(tag, [], text))
                        pos = end + 2
                        continue
            if len(stack) >= MAX_DEPTH:
                raise ProtocolError(f"elements nested deeper than {MAX_DEPTH}", offset=pos)
            element = new(tag, [], None)
            current.children.append(element)
            stack.append(element)
            current = element
            pos += 1
        elif byte == _END:
            if current is None:
                raise ProtocolError("END without an open element", offset=pos)
            stack.pop()
            pos += 1
            if not stack:
                break
            current = stack[-1]
        elif byte in (_STR_I, _OPAQUE):
            if current is None:
                raise ProtocolError("text outside any element", offset=pos)
            if current.children:
                raise ProtocolError(f"text next to child elements in {current.tag}", offset=pos)
            chunk: str | bytes
            if byte == _STR_I:
                end = find(0, pos + 1)
                if end < 0:
                    raise ProtocolError("unterminated inline string", offset=pos)
                try:
                    chunk = buf[pos + 1 : end].decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise ProtocolError(
                        f"invalid UTF-8 in {current.tag}", offset=pos + 1 + exc.start
                    ) from None
                next_pos = end + 1
            else:
                length, start = _read_mb_u_int32(buf, pos + 1, "opaque length")
                if length > n - start:
                    raise ProtocolError(
                        f"opaque data of {length} bytes runs past the end of the data", offset=pos
                    )
                next_pos = start + length
                chunk = buf[start:next_pos]
            previous = current.value
            if previous is None:
                current.value = chunk
            elif isinstance(previous, str) and isinstance(chunk, str):
                current.value = previous + chunk
            else:  # any OPAQUE chunk makes the whole value bytes
                head = previous.encode("utf-8") if isinstance(previous, str) else previous
                tail = chunk.encode("utf-8") if isinstance(chunk, str) else chunk
                current.value = head + tail
            pos = next_pos
        elif byte == _SWITCH_PAGE:
            if pos + 1 >= n:
                raise ProtocolError("truncated SWITCH_PAGE", offset=pos)
            page = buf[pos + 1]
            new_tags = tag_bytes.get(page)
            if new_tags is None:
                raise ProtocolError(f"unknown code page {page}", offset=pos + 1)
            tags = new_tags
            pos += 2
        else:
            raise ProtocolError(_why_not_a_tag(byte, page), offset=pos)
    if root is None:
        raise ProtocolError("no root element", offset=pos)
    if stack:
        raise ProtocolError(f"truncated document: {stack[-1].tag} is not closed", offset=n)
    if pos != n:
        raise ProtocolError("data after the end of the root element", offset=pos)
    return root


def _why_not_a_tag(byte: int, page: int) -> str:
    """The error message for a byte that is neither a known tag nor a used global token."""
    name = _GLOBAL_TOKEN_NAMES.get(byte)
    if name is not None:
        return f"{name} is not used in EAS WBXML"
    if byte & _ATTRIBUTES:
        return "an element with attributes is not used in EAS WBXML"
    return f"unknown token 0x{byte & 0x3F:02X} on code page {page} ({PAGE_NAMES[page]})"
