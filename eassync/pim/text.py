"""Text from a server laid out in lines (mutt query lines, free/busy lines, an
out-of-office message): control characters shown escaped (:mod:`eassync.escape`)."""

from __future__ import annotations

import re

from eassync.escape import safe_text


def safe(text: str | None, *, one_line: bool = False) -> str:
    """``text`` with control and bidi-override characters as ``\\xNN``/``\\uNNNN``,
    line feeds kept; ``one_line`` turns tabs and line breaks into spaces first
    (tab-separated output)."""
    if text is None:
        return ""
    if one_line:
        text = re.sub(r"[\t\r\n]+", " ", text)
    return safe_text(text, newlines=True)
