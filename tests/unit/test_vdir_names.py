"""File names from UIDs, and reading the UID without a parse (hypothesis)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from eassync.storage.vdir import (
    MAX_NAME_LENGTH,
    file_name_for_uid,
    inspect_text,
    read_uid,
)

SAFE = re.compile(r"[A-Za-z0-9._@+-]+\.ics\Z")


@given(st.text())
def test_a_uid_becomes_a_safe_file_name_or_none(uid: str) -> None:
    name = file_name_for_uid(uid, ".ics")
    if name is None:
        return
    assert SAFE.match(name)
    assert not name.startswith(".")
    assert ".." not in name
    assert "/" not in name
    assert len(name.encode()) <= MAX_NAME_LENGTH
    assert name == uid + ".ics"


@given(st.from_regex(r"[A-Za-z0-9@+_-][A-Za-z0-9._@+-]{0,100}", fullmatch=True))
def test_plainly_safe_uids_keep_their_name(uid: str) -> None:
    expected = None if ".." in uid else uid + ".vcf"
    assert file_name_for_uid(uid, ".vcf") == expected


def fold(line: str, width: int) -> str:
    """RFC 5545 §3.1 folding at ``width`` characters."""
    parts = [line[i : i + width] for i in range(0, len(line), width)] or [""]
    return "\r\n ".join(parts)


uids = (
    st.text(alphabet=st.characters(blacklist_categories=["Cc", "Cs", "Zl", "Zp"]), min_size=1)
    .map(str.strip)
    .filter(bool)
)


def _escaped(value: str) -> str:
    """A TEXT value as a writer escapes it (RFC 5545 3.3.11): the file's UID is the
    unescaped one, as the converters read it."""
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")


@given(uid=uids, width=st.integers(min_value=1, max_value=75))
def test_uid_is_read_through_folding(uid: str, width: int) -> None:
    text = (
        "BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nEND:VTIMEZONE\r\n"
        "BEGIN:VEVENT\r\nBEGIN:VALARM\r\nUID:alarm-uid\r\nEND:VALARM\r\n"
        f"{fold('UID:' + _escaped(uid), width)}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    assert inspect_text(text) == uid
    assert read_uid(text.encode()) == uid


def test_uid_with_parameters_and_lowercase_names_and_lf_endings() -> None:
    assert inspect_text("begin:vcard\nuid;value=text:abc\nend:vcard\n") == "abc"


def test_card_without_uid_has_none() -> None:
    assert inspect_text("BEGIN:VCARD\r\nFN:Ada\r\nEND:VCARD\r\n") is None


def test_byte_order_mark_is_tolerated() -> None:
    assert inspect_text("\ufeffBEGIN:VCARD\r\nUID:x\r\nEND:VCARD\r\n") == "x"


def test_unreadable_bytes_have_no_uid() -> None:
    assert read_uid(b"\xff\xfe") is None
    assert read_uid(b"garbage") is None


def test_vcard21_quoted_printable_soft_breaks_are_one_line() -> None:
    text = (
        "BEGIN:VCARD\r\nVERSION:2.1\r\n"
        "NOTE;ENCODING=QUOTED-PRINTABLE:first line=0D=0A=\r\nsecond line\r\n"
        "UID:qp\r\nEND:VCARD\r\n"
    )
    assert inspect_text(text) == "qp"
