"""Text from a server or a file on its way to a terminal: control characters (ESC
sequences could move the cursor, retitle the window or hide text) are shown escaped."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def safe(text: str | None, *, one_line: bool = False) -> str:
    """``text`` with control and bidi-override characters as ``\\xNN``/``\\uNNNN``;
    ``one_line`` also turns tabs and line breaks into spaces (tab-separated output)."""
    if text is None:
        return ""
    if one_line:
        text = re.sub(r"[\t\r\n]+", " ", text)

    def escape(m: re.Match[str]) -> str:
        code = ord(m.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _CONTROL.sub(escape, text)
