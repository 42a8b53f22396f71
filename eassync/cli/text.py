"""Text from servers and files, made safe for a terminal.

A folder name, an item's summary or a server's error page reaches the terminal in
``status``, ``discover`` and ``sync`` output. :func:`eassync.cli.output.safe_text`
escapes control characters and the bidirectional overrides; here every other Unicode
format character (category Cf: zero-width and invisible characters) is shown as a
``\\uNNNN`` escape too, for names a user must be able to tell apart.
"""

from __future__ import annotations

import unicodedata

from eassync.cli.output import safe_text


def printable(text: object) -> str:
    """``text`` with control and format characters escaped."""
    out = []
    for ch in safe_text(text):
        if unicodedata.category(ch) == "Cf":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)
