"""The one way text reaches the terminal: CLI output and log lines.

Folder names, subjects, error bodies and URLs come from servers and files that
eassync does not control. Printed raw, ``ESC ] 0 ; … BEL`` retitles the terminal,
``ESC [ …`` rewrites the screen, and ``\\r\\n`` forges a line of output. So every
control character is escaped (:mod:`eassync.escape`) in everything printed: :func:`echo` and
friends for output, :class:`SafeFormatter` for log lines. Commands never call
``click.echo`` or ``print`` themselves (tests/unit/test_cli_output.py checks that).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from eassync.escape import safe_text

__all__ = [
    "SafeFormatter",
    "clear_live",
    "colour",
    "echo",
    "echo_block",
    "live",
    "safe_text",
    "secho",
]


def colour(err: bool = False) -> bool:
    """Whether to colour stdout (stderr with ``err``): only a terminal, and never when
    ``NO_COLOR`` is set to anything but the empty string (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    stream = sys.stderr if err else sys.stdout
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def echo(text: object = "", *, err: bool = False, nl: bool = True, fg: str | None = None) -> None:
    """Print one line (to stderr with ``err``); any newline in it is escaped. ``fg``
    colours it where :func:`colour` allows (the escapes are ours, the text escaped)."""
    shown = safe_text(text)
    if fg is not None and colour(err):
        shown = click.style(shown, fg=fg)
    click.echo(shown, err=err, nl=nl)


def secho(text: object = "", *, err: bool = False, **style: Any) -> None:
    """:func:`echo` with click styles (bold…): the styling is ours, the text escaped."""
    click.secho(safe_text(text), err=err, **style)


def echo_block(text: str, *, err: bool = False, nl: bool = True, layout: str = "") -> None:
    """Print text of several lines whose line breaks are eassync's own (JSON from
    ``json.dumps``, an XML dump): every other control character is escaped, but
    those in ``layout`` (see :func:`eassync.escape.safe_text`)."""
    click.echo(safe_text(text, newlines=True, layout=layout), err=err, nl=nl)


def live(text: str) -> None:
    """Show ``text`` as the live line at the bottom of a terminal (stderr): the line
    is rewritten in place (``\\r``, erase to its end); callers check for a terminal."""
    global _live_shown
    click.echo("\r" + safe_text(text) + "\x1b[K", nl=False, err=True)
    _live_shown = True


def clear_live() -> None:
    """Erase the live line (before another line is printed, and at the end)."""
    global _live_shown
    if _live_shown:
        click.echo("\r\x1b[K", nl=False, err=True)
        _live_shown = False


_live_shown = False


class SafeFormatter(logging.Formatter):
    """Log lines with control characters escaped, so a server string in a log message
    can neither drive the terminal nor start a line of its own. DEBUG records (the
    -vv protocol dumps) keep their line breaks, indented under their first line; a
    traceback keeps its lines (its text is escaped all the same)."""

    def format(self, record: logging.LogRecord) -> str:
        clear_live()  # a log line of its own, not after the live line's text
        return super().format(record)

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        if record.levelno > logging.DEBUG:
            return safe_text(text)
        return safe_text(text, newlines=True).replace("\n", "\n    ")

    def formatException(self, ei: Any) -> str:
        return safe_text(super().formatException(ei), newlines=True)

    def formatStack(self, stack_info: str) -> str:
        return safe_text(super().formatStack(stack_info), newlines=True)
