"""The one way text reaches the terminal: CLI output and log lines.

Folder names, subjects, error bodies and URLs come from servers and files that
eassync does not control. Printed raw, ``ESC ] 0 ; … BEL`` retitles the terminal,
``ESC [ …`` rewrites the screen, and ``\\r\\n`` forges a line of output. So every
control character is escaped here, once, for everything printed: :func:`echo` and
friends for output, :class:`SafeFormatter` for log lines. Commands never call
``click.echo`` or ``print`` themselves (tests/unit/test_cli_output.py checks that).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import click

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


def safe_text(text: object, *, newlines: bool = False) -> str:
    """``text`` with every control character escaped (``\\x1b``, ``\\r``, ``\\n``…).

    ``newlines=True`` keeps line feeds: only for text whose line structure is
    eassync's own (JSON it encoded, a config file it wrote, a protocol dump)."""
    pattern = _UNSAFE_KEEP_NL if newlines else _UNSAFE
    return pattern.sub(_escape, str(text))


def echo(text: object = "", *, err: bool = False, nl: bool = True) -> None:
    """Print one line (to stderr with ``err``); any newline in it is escaped."""
    click.echo(safe_text(text), err=err, nl=nl)


def secho(text: object = "", *, err: bool = False, **style: Any) -> None:
    """:func:`echo` with click styles (bold…): the styling is ours, the text escaped."""
    click.secho(safe_text(text), err=err, **style)


def echo_block(text: str, *, err: bool = False, nl: bool = True) -> None:
    """Print text of several lines whose line breaks are eassync's own (JSON from
    ``json.dumps``, an XML dump): every other control character is escaped."""
    click.echo(safe_text(text, newlines=True), err=err, nl=nl)


def progress(text: str) -> None:
    """Rewrite the current stderr line (a counter on a TTY): the ``\\r`` is ours."""
    click.echo("\r" + safe_text(text), nl=False, err=True)


class SafeFormatter(logging.Formatter):
    """Log lines with control characters escaped, so a server string in a log message
    can neither drive the terminal nor start a line of its own. DEBUG records (the
    -vv protocol dumps) keep their line breaks, indented under their first line; a
    traceback keeps its lines (its text is escaped all the same)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        if record.levelno > logging.DEBUG:
            return safe_text(text)
        return safe_text(text, newlines=True).replace("\n", "\n    ")

    def formatException(self, ei: Any) -> str:
        return safe_text(super().formatException(ei), newlines=True)

    def formatStack(self, stack_info: str) -> str:
        return safe_text(super().formatStack(stack_info), newlines=True)
