"""A small, lossless vCard content-line model (RFC 2426 vCard 3.0, RFC 6350 vCard 4.0).

Why not vobject for this layer: vobject 0.9.9 loses data on a plain re-serialise of
real cards: ``NICKNAME:Bob,Bobby`` becomes ``NICKNAME:Bob``, a vCard 4 photo
``PHOTO:data:image/jpeg;base64,…`` is cut at the comma, and every property is
re-sorted. The merge rule of design.md ("what EAS cannot hold stays in the local
file") needs the local lines back exactly, so we keep each property's value as the
escaped text of the file and only decode what the mapping reads. Tests check that
what we write is readable by vobject.

Pure code: bytes in, bytes out, no I/O.
"""

from __future__ import annotations

import functools
import quopri
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from eassync.errors import ConversionError

CRLF = "\r\n"
#: RFC 6350 3.2: lines SHOULD NOT be longer than 75 octets, excluding the line break.
FOLD_OCTETS = 75

_NAME_RE = re.compile(r"^[A-Za-z0-9-]+$")


@dataclass(frozen=True)
class Property:
    """One content line. ``value`` is the raw (escaped) text as in the file;
    ``params`` keeps file order, names upper-cased, values unquoted.

    Frozen, and ``params`` is never changed in place (``with_params`` makes a copy):
    the contacts converter shares parsed properties between calls (its cache)."""

    name: str
    value: str
    params: list[tuple[str, list[str]]] = field(default_factory=list)
    group: str | None = None

    # --- parameters ---------------------------------------------------------------------

    def param(self, name: str) -> list[str]:
        """Every value of parameter ``name`` (comma lists split, in order)."""
        out: list[str] = []
        for key, values in self.params:
            if key == name:
                for value in values:
                    out.extend(v for v in value.split(",") if v != "")
        return out

    def has_param(self, name: str) -> bool:
        return any(key == name for key, _ in self.params)

    def types(self) -> set[str]:
        """Lower-cased TYPE values; vCard 2.1 bare parameters (``TEL;HOME;FAX``) count too."""
        found = {t.lower() for t in self.param("TYPE")}
        for key, values in self.params:
            if not values and key not in {"PREF"}:
                found.add(key.lower())
            if not values and key == "PREF":
                found.add("pref")
        return found

    def pref_rank(self) -> int:
        """Smaller is more preferred: vCard 4 ``PREF=n`` (1–100), ``TYPE=pref`` counts as 1,
        no preference as 101 (RFC 6350 5.3)."""
        ranks = [int(v) for v in self.param("PREF") if v.isdigit()]
        if ranks:
            return min(ranks)
        return 1 if "pref" in self.types() else 101

    def with_params(self, params: list[tuple[str, list[str]]]) -> Property:
        return replace(self, params=params)

    # --- values -------------------------------------------------------------------------

    def raw_value(self) -> str:
        """The value with vCard 2.1 quoted-printable undone (Outlook exports), else as is."""
        # vCard 2.1 also allows the bare form TEL;QUOTED-PRINTABLE:…
        qp = "QUOTED-PRINTABLE" in {e.upper() for e in self.param("ENCODING")}
        if not qp and not self.has_param("QUOTED-PRINTABLE"):
            return self.value
        charset = (self.param("CHARSET") or ["utf-8"])[0]
        data = quopri.decodestring(self.value.encode("utf-8", "replace"))
        try:
            return data.decode(charset, "replace")
        except LookupError:
            return data.decode("utf-8", "replace")

    def text(self) -> str:
        """The value decoded as TEXT (escapes undone)."""
        return unescape(self.raw_value())

    def components(self) -> list[str]:
        """A structured value (N, ADR, ORG) split on unescaped ``;`` and decoded."""
        return [unescape(part) for part in split_unescaped(self.raw_value(), ";")]

    def list_values(self) -> list[str]:
        """A list value (CATEGORIES, NICKNAME) split on unescaped ``,`` and decoded."""
        return [unescape(part) for part in split_unescaped(self.raw_value(), ",")]


@dataclass
class Card:
    """The properties between BEGIN:VCARD and END:VCARD, in file order."""

    properties: list[Property] = field(default_factory=list)

    @property
    def version(self) -> str:
        prop = self.first("VERSION")
        return prop.value.strip() if prop else "3.0"

    def all(self, name: str) -> list[Property]:
        return [p for p in self.properties if p.name == name]

    def first(self, name: str) -> Property | None:
        return next((p for p in self.properties if p.name == name), None)

    def first_text(self, name: str) -> str | None:
        """Decoded text of the first ``name`` property; empty reads as absent."""
        prop = self.first(name)
        if prop is None:
            return None
        text = prop.text().strip()
        return text or None

    def set_single(self, prop: Property) -> None:
        """Replace every ``prop.name`` property by ``prop`` (at the first one's place)."""
        index = next((i for i, p in enumerate(self.properties) if p.name == prop.name), None)
        others = [p for p in self.properties if p.name != prop.name]
        if index is None:
            # after VERSION when there is one, so the card still starts with it
            index = 1 if self.properties and self.properties[0].name == "VERSION" else 0
            index = len(self.properties) if not self.properties else index
        others.insert(index, prop)
        self.properties = others


# --- escaping -------------------------------------------------------------------------------


_ESCAPED_CHARS = re.compile(r"[\\,;\r\n]")


def escape(text: str) -> str:
    """TEXT escaping of RFC 6350 3.4: backslash, comma, semicolon, newline."""
    if _ESCAPED_CHARS.search(text) is None:
        return text  # the usual case: nothing to escape
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;").replace("\n", "\\n")


_ESCAPE_SEQUENCE = re.compile(r"\\(.?)", re.DOTALL)


def _unescaped_char(match: re.Match[str]) -> str:
    char = match.group(1)
    return "\n" if char in ("n", "N") else char


def unescape(text: str) -> str:
    """Undo TEXT escaping: ``\\n``/``\\N`` → newline, ``\\x`` → ``x``; a lone backslash
    at the end is dropped."""
    if "\\" not in text:
        return text  # the usual case: no escape at all
    return _ESCAPE_SEQUENCE.sub(_unescaped_char, text)


def split_unescaped(text: str, sep: str) -> list[str]:
    """Split on ``sep`` where it is not escaped by a backslash (escapes kept)."""
    if "\\" not in text:
        return text.split(sep)  # the usual case: nothing escaped
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


def structured(components: Iterable[str]) -> str:
    """Escaped structured value from decoded components (N, ADR, ORG)."""
    return ";".join(escape(c) for c in components)


# --- parsing --------------------------------------------------------------------------------


def decode_bytes(raw: bytes) -> str:
    """vCard 3.0/4.0 are UTF-8 (RFC 6350 3.1). Old exports (Outlook, vCard 2.1) are often
    Windows-1252; such bytes are read as cp1252, then latin-1, rather than refused, because
    the user's own file is better read approximately than not synced at all."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    for encoding in ("utf-8", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def _unfold(text: str) -> Iterator[tuple[int, str]]:
    """Logical lines with their 1-based first physical line number."""
    current: list[str] = []
    start = 0
    for number, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
        if line[:1] in (" ", "\t") and current:
            current.append(line[1:])
            continue
        # vCard 2.1 quoted-printable soft line break: "=" at the end continues the value
        if current and current[-1].endswith("=") and "QUOTED-PRINTABLE" in current[0].upper():
            current[-1] = current[-1][:-1]
            current.append(line)
            continue
        if current:
            yield start, "".join(current)
        current, start = [line], number
    if current:
        yield start, "".join(current)


def _split_params(head: str) -> list[str]:
    """Split ``NAME;P=a;Q="x;y"`` on semicolons outside double quotes."""
    return _split_unquoted(head, ";", keep_quotes=True)


def _split_unquoted(text: str, separator: str, *, keep_quotes: bool) -> list[str]:
    """Split on ``separator`` outside double quotes; the quotes themselves are kept
    (parameter lists) or dropped (parameter values)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
            if keep_quotes:
                current.append(char)
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _value_start(line: str) -> int:
    """Index of the colon that ends name+parameters (colons inside quotes do not count)."""
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return index
    return -1


def _split_param_values(raw: str) -> list[str]:
    return _split_unquoted(raw, ",", keep_quotes=False)


def parse_line(line: str, number: int = 0) -> Property:
    if '"' in line:
        # quoted parameter values may hold ':' ';' ','
        colon = _value_start(line)
        head = line[:colon]
        pieces = _split_params(head)
        split_values = _split_param_values
    else:
        # the usual case, a plain split (profiled: 3x faster than the quote-aware scan)
        colon = line.find(":")
        head = line[:colon]
        pieces = head.split(";")
        split_values = _split_on_commas
    if colon <= 0:
        raise ConversionError(f"vCard line {number}: no 'name:value' in {line[:40]!r}")
    value = line[colon + 1 :]
    group, _, name = pieces[0].rpartition(".")
    if not _NAME_RE.match(name):
        raise ConversionError(f"vCard line {number}: bad property name {pieces[0][:40]!r}")
    params: list[tuple[str, list[str]]] = []
    for piece in pieces[1:]:
        key, eq, raw = piece.partition("=")
        key = key.strip().upper()
        if not key:
            continue
        params.append((key, split_values(raw) if eq else []))
    return Property(name.upper(), value, params, group or None)


def _split_on_commas(raw: str) -> list[str]:
    return raw.split(",")


#: Parsed lines are cached by their text: within a run the same lines recur (a
#: download, its projection, the file written with a UID added, …). Bounded: this many
#: lines, none longer than LINE_CACHE_MAX_CHARS (photos are parsed each time).
LINE_CACHE_ENTRIES = 4096
LINE_CACHE_MAX_CHARS = 512


@functools.lru_cache(maxsize=LINE_CACHE_ENTRIES)
def _parse_line_cached(line: str) -> Property:
    return parse_line(line)


def property_of(line: str, number: int = 0) -> Property:
    """``parse_line``, cached for short lines; the Property may be shared (it is frozen)."""
    if len(line) > LINE_CACHE_MAX_CHARS:
        return parse_line(line, number)
    try:
        return _parse_line_cached(line)
    except ConversionError:
        return parse_line(line, number)  # raises again, naming the line number


def clear_caches() -> None:
    """Empty the line cache (benchmarks measure cold calls with it)."""
    _parse_line_cached.cache_clear()


def card_lines(raw: bytes | str) -> Iterator[tuple[int, str]]:
    """The property lines (unfolded, with their first line number) of exactly one
    vCard, checking its BEGIN/END structure. Raises ConversionError with a short reason
    as the lines are consumed."""
    text = decode_bytes(raw) if isinstance(raw, bytes) else raw
    seen = False
    cards = 0
    depth = 0
    for number, line in _unfold(text):
        stripped = line.strip()
        if not stripped:
            continue
        # only BEGIN/END lines are compared upper-cased (most lines are neither)
        upper = stripped.upper() if stripped[:1] in "BbEe" else stripped
        if upper == "BEGIN:VCARD":
            if depth:
                raise ConversionError(f"vCard line {number}: nested BEGIN:VCARD")
            depth = 1
            cards += 1
            seen = True
            continue
        if upper == "END:VCARD":
            if not depth:
                raise ConversionError(f"vCard line {number}: END:VCARD without BEGIN")
            depth = 0
            continue
        if depth == 0:
            raise ConversionError(f"vCard line {number}: text outside BEGIN:VCARD/END:VCARD")
        if cards == 1:
            yield number, line
    if not seen:
        raise ConversionError("not a vCard: no BEGIN:VCARD")
    if depth != 0:
        raise ConversionError("vCard is cut short: no END:VCARD")
    if cards > 1:
        raise ConversionError(f"one file holds {cards} vCards; expected one")


def parse(raw: bytes | str) -> Card:
    """Parse exactly one vCard. Raises ConversionError with a short reason."""
    return Card([property_of(line, number) for number, line in card_lines(raw)])


# --- serialising ----------------------------------------------------------------------------

_PARAM_NEEDS_QUOTES = re.compile(r'[:;,"]')


def _param_text(key: str, values: list[str]) -> str:
    if not values:
        return key
    quoted = [f'"{v}"' if _PARAM_NEEDS_QUOTES.search(v) else v for v in values]
    return f"{key}={','.join(quoted)}"


def line_text(prop: Property) -> str:
    head = f"{prop.group}.{prop.name}" if prop.group else prop.name
    for key, values in prop.params:
        # a double quote cannot appear inside a quoted parameter value (RFC 6350 3.3)
        head += ";" + _param_text(key, [v.replace('"', "'") for v in values])
    return f"{head}:{prop.value}"


def fold(line: str) -> str:
    """Fold at 75 octets without splitting a UTF-8 sequence (RFC 6350 3.2)."""
    encoded = line.encode("utf-8")
    if len(encoded) <= FOLD_OCTETS:
        return line
    # continuation lines start with a space, so they carry one octet less
    if len(encoded) == len(line):  # ASCII (base64 photos): plain slices
        step = FOLD_OCTETS - 1
        chunks = [line[:FOLD_OCTETS]]
        chunks.extend(line[i : i + step] for i in range(FOLD_OCTETS, len(line), step))
        return (CRLF + " ").join(chunks)
    out: list[str] = []
    start, limit = 0, FOLD_OCTETS
    while len(encoded) - start > limit:
        end = start + limit
        while encoded[end] & 0xC0 == 0x80:  # a continuation byte: cut before its sequence
            end -= 1
        out.append(encoded[start:end].decode("utf-8"))
        start, limit = end, FOLD_OCTETS - 1
    out.append(encoded[start:].decode("utf-8"))
    return (CRLF + " ").join(out)


def serialize(card: Card) -> bytes:
    lines = ["BEGIN:VCARD"]
    lines.extend(fold(line_text(p)) for p in card.properties)
    lines.append("END:VCARD")
    return (CRLF.join(lines) + CRLF).encode("utf-8")
