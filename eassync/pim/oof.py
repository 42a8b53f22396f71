"""``eassync oof``: the out-of-office reply as Settings Oof carries it (MS-ASCMD
2.2.3.119): a state (off, on, on between two times) and up to three messages, for
internal senders, known external ones and all other external ones."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from eassync.eas.pim import OOF_STATES, OofMessage, OofSettings
from eassync.errors import UsageError

#: the largest message file read (Exchange keeps far less; a typo'd path to a big
#: file must not be sent)
MAX_MESSAGE_FILE = 128 * 1024
HTML_SUFFIXES = (".html", ".htm", ".xhtml")


def read_message(path: str, *, html: bool) -> tuple[str, str]:
    """(text, BodyType) of a message file ("-": standard input); HTML when the name
    says so or ``html``."""
    try:
        if path == "-":
            raw = sys.stdin.buffer.read(MAX_MESSAGE_FILE + 1)
        else:
            with open(Path(path).expanduser(), "rb") as f:
                raw = f.read(MAX_MESSAGE_FILE + 1)
    except OSError as exc:
        raise UsageError(f"cannot read the message {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_MESSAGE_FILE:
        raise UsageError(f"the message {path} is over {MAX_MESSAGE_FILE // 1024} KB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"the message {path} is not UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise UsageError(f"the message {path} is empty")
    is_html = html or path.lower().endswith(HTML_SUFFIXES)
    return text, "HTML" if is_html else "Text"


def settings_on(
    internal: tuple[str, str],
    external: tuple[str, str] | None,
    start: datetime | None,
    end: datetime | None,
) -> OofSettings:
    """On now (state 1) or between ``start`` and ``end`` (state 2). Without an external
    message, external senders get no reply: an internal text may say more than
    outsiders should read."""
    if (start is None) != (end is None):
        raise UsageError("a scheduled reply needs both --from and --until")
    if start is not None and end is not None and end <= start:
        raise UsageError("--until must come after --from")
    messages = [OofMessage("internal", True, internal[0], internal[1])]
    for audience in ("external_known", "external_unknown"):
        if external is None:
            messages.append(OofMessage(audience, False, None))
        else:
            messages.append(OofMessage(audience, True, external[0], external[1]))
    return OofSettings(2 if start else 1, start, end, messages)


def settings_off() -> OofSettings:
    return OofSettings(0)


AUDIENCE_NAMES = {
    "internal": "internal senders",
    "external_known": "external senders in your contacts",
    "external_unknown": "other external senders",
}


def describe(settings: OofSettings) -> list[str]:
    from eassync.pim.text import safe

    state = OOF_STATES.get(settings.state, "off")
    head = f"out of office: {state}"
    if settings.state == 2 and settings.start and settings.end:
        fmt = "%a %Y-%m-%d %H:%M"
        head += (
            f" from {settings.start.astimezone().strftime(fmt)}"
            f" until {settings.end.astimezone().strftime(fmt)}"
        )
    lines = [head]
    for msg in settings.messages:
        name = AUDIENCE_NAMES[msg.audience]
        if not msg.enabled:
            lines.append(f"{name}: no reply")
            continue
        lines.append(f"{name} ({msg.body_type or 'Text'}):")
        lines.extend("  " + safe(line) for line in (msg.text or "").splitlines() or [""])
    return lines


def to_json(settings: OofSettings) -> dict[str, object]:
    return {
        "state": OOF_STATES.get(settings.state, "off"),
        "from": settings.start.isoformat() if settings.start else None,
        "until": settings.end.isoformat() if settings.end else None,
        "messages": {
            m.audience: {"enabled": m.enabled, "body_type": m.body_type, "text": m.text}
            for m in settings.messages
        },
    }
