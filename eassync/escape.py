"""Control characters in text from servers and files, shown escaped.

Folder names, subjects, error bodies and URLs come from servers and files that
eassync does not control. Printed raw, ``ESC ] 0 ; … BEL`` retitles the terminal,
``ESC [ …`` rewrites the screen, and ``\\r\\n`` forges a line of output. This leaf
module holds the one escaping; :mod:`eassync.cli.output` prints with it, and the
formatters of lower layers (``eassync.pim``) use it for text they lay out in lines.
"""

from __future__ import annotations

import re

#: C0 controls, DEL, C1 controls (U+0080–U+009F: 8-bit CSI/OSC to some terminals),
#: line/paragraph separators and the bidi overrides/isolates that reorder text on
#: screen ("Trojan source", CVE-2021-42574).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_UNSAFE_KEEP_NL = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    # \xNN for C0 as Python writes them; \uNNNN from DEL up, which JSON reads back
    # too (json.dumps escapes C0 itself, but leaves DEL, C1 and the rest raw)
    return f"\\x{code:02x}" if code < 0x20 else f"\\u{code:04x}"


def safe_text(text: object, *, newlines: bool = False, layout: str = "") -> str:
    """``text`` with every control character escaped (``\\x1b``, ``\\r``, ``\\n``…).

    ``newlines=True`` keeps line feeds: only for text whose line structure is
    eassync's own (JSON it encoded, a config file it wrote, a protocol dump).
    ``layout`` names further characters to keep (``"\\t\\r"``) in documents eassync
    laid out itself from values its formatter escaped (tab-separated lines for mutt,
    iCalendar/vCard lines ending in CRLF)."""
    pattern = _UNSAFE_KEEP_NL if newlines else _UNSAFE
    if not layout:
        return pattern.sub(_escape, str(text))
    return pattern.sub(lambda m: m.group() if m.group() in layout else _escape(m), str(text))
