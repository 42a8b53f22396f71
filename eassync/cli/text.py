"""Text from servers and files, made safe for a terminal.

A folder name, an item's summary or a server's error page reaches the terminal in
``status``, ``discover`` and ``sync`` output. Control characters in it (ESC starts a
terminal escape sequence that can rewrite the screen or the title) are shown as
``\\xNN`` escapes instead, as are Unicode format characters that reorder the text
(bidirectional overrides).
"""

from __future__ import annotations

import unicodedata


def printable(text: object) -> str:
    """``text`` as a string in which every control or format character (Unicode
    categories Cc, Cf) but a plain space is replaced by a visible escape."""
    out = []
    for ch in str(text):
        if unicodedata.category(ch) in ("Cc", "Cf"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)
