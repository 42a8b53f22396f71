"""Value normalisation shared by the converters: EAS date formats, line endings,
base64 pictures, and the digest behind ``ContentHandler.fingerprint``.

Pure code, no I/O. The calendar and tasks converters reuse the dateTime helpers
(Tasks dates use the same MS-ASDTYPE dateTime format as contact birthdays).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from datetime import date, timedelta

# --- EAS dateTime (MS-ASDTYPE 2.3: YYYY-MM-DDTHH:MM:SS.sssZ) --------------------------------

_EAS_DATETIME = re.compile(
    r"^\s*(\d{4})-?(\d{2})-?(\d{2})"  # date, extended or basic (compact DateTime)
    r"(?:[T ](\d{2}):?(\d{2})(?::?(\d{2})(?:[.,]\d+)?)?)?"  # optional time
    r"\s*(?:Z|[+-]\d{2}:?\d{2})?\s*$"
)


def date_from_eas_datetime(value: str | None) -> date | None:
    """The calendar date of an EAS birthday/anniversary dateTime, or None if unreadable.

    The time part is not a time: the spec says to ignore it, and clients write anything
    from ``00:00`` to ``11:59``. Some servers store the local midnight of a zone east of
    UTC as UTC, so 1990-01-31 arrives as ``1990-01-30T22:00:00.000Z``. Heuristic
    (eas-protocol.md §7.1, unverified against a real Exchange): a time at or after
    12:00 means the date was shifted back, so the intended date is the next day.
    """
    if not value:
        return None
    match = _EAS_DATETIME.match(value)
    if not match:
        return None
    year, month, day, hour = (
        match.group(1),
        match.group(2),
        match.group(3),
        match.group(4),
    )
    try:
        result = date(int(year), int(month), int(day))
    except ValueError:
        return None
    if hour is not None and int(hour) >= 12:
        try:
            result += timedelta(days=1)
        except OverflowError:
            return None
    return result


def date_to_eas_datetime(value: date) -> str:
    """The dateTime we send for a date: midnight UTC with milliseconds (eas-protocol.md §7.1)."""
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}T00:00:00.000Z"


_VCARD_DATE = re.compile(r"^\s*(\d{4})-?(\d{2})-?(\d{2})(?:T.*)?\s*$")


def parse_vcard_date(text: str | None) -> date | None:
    """A full date from a vCard BDAY/ANNIVERSARY value (``1990-01-31``, ``19900131``,
    with or without a time part). Dates without a year (``--0131``) give None: EAS has
    no way to say "no year", so such values stay local-only."""
    if not text:
        return None
    match = _VCARD_DATE.match(text)
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


# --- text -----------------------------------------------------------------------------------


def lf(text: str) -> str:
    """Line ends as LF (vCard/iCalendar text values)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def crlf(text: str) -> str:
    """Line ends as CRLF: Exchange stores bodies and street lines with CRLF (§7.0)."""
    return lf(text).replace("\n", "\r\n")


# --- pictures -------------------------------------------------------------------------------

_BASE64_CHARS = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


def clean_base64(text: str | bytes | None) -> str | None:
    """Canonical base64 (no whitespace, padded) of valid base64 input, else None.

    Validated before decoding because servers have sent other things in base64 slots
    (SOGo sent a URL as Contacts:Picture, TbSync #236)."""
    if text is None:
        return None
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            return None
    compact = re.sub(r"\s+", "", text)
    if not compact:
        return None
    if len(compact) % 4:
        compact += "=" * (-len(compact) % 4)
    if not _BASE64_CHARS.match(compact):
        return None
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not data:
        return None
    return base64.b64encode(data).decode("ascii")


def image_type(data: bytes) -> str:
    """The vCard 3.0 TYPE of an image from its magic bytes (EAS does not say; JPEG usual)."""
    if data.startswith(b"\x89PNG"):
        return "PNG"
    if data.startswith(b"GIF8"):
        return "GIF"
    return "JPEG"


# --- digests --------------------------------------------------------------------------------


def digest(lines: Iterable[str]) -> str:
    """sha256 over normalised lines in sorted order: order-independent by design."""
    ordered = sorted(lines)
    # each line followed by "\n", hashed in one piece
    text = "\n".join(ordered) + "\n" if ordered else ""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
