"""``inspect_text`` skips the checks of ordinary property lines (a name starting with
an ASCII letter or digit other than B, E, U): it must answer exactly as the full
check of every line does, for well-formed and broken objects alike."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from eassync.storage import vdir

STARTS = st.sampled_from(
    [
        "FN",
        "BEGIN",
        "begin",
        "END",
        "End",
        "UID",
        "uid",
        "item1.UID",
        " UID",
        "\u00a0END",
        "ı",
        "X-A",
        "9",
        "",
        " ",
        "\t",
        "TEL;TYPE=a",
        "Email",
    ]
)
VALUES = st.sampled_from(["VCARD", "VCALENDAR", "VEVENT", "VALARM", "VTIMEZONE", "x", "", " u1 "])


@st.composite
def texts(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["VCARD", "VCALENDAR", None]))
    lines = [f"BEGIN:{kind}"] if kind else []
    if kind == "VCALENDAR" and draw(st.booleans()):
        lines.append("BEGIN:VEVENT")
    for _ in range(draw(st.integers(0, 10))):
        start = draw(st.one_of(STARTS, st.sampled_from(["UID", "uid", "FN", "NOTE"])))
        sep = draw(st.sampled_from([":"] * 8 + [";P=1:", ""]))
        lines.append(start + sep + draw(VALUES))
    if kind == "VCALENDAR" and "BEGIN:VEVENT" in lines and draw(st.booleans()):
        lines.append("END:VEVENT")
    if kind and draw(st.integers(0, 4)):
        lines.append(f"END:{kind}")
    eol = draw(st.sampled_from(["\r\n", "\n"]))
    return eol.join(lines) + eol


def outcome(text: str) -> tuple[str, str | None]:
    try:
        return "ok", vdir.inspect_text(text)
    except ValueError as exc:
        return "error", str(exc)


def full_check(text: str) -> tuple[str, str | None]:
    saved = vdir._ORDINARY_START
    vdir._ORDINARY_START = frozenset()  # every line takes the full check
    try:
        return outcome(text)
    finally:
        vdir._ORDINARY_START = saved


@settings(max_examples=500, deadline=None)
@given(texts())
def test_fast_path_answers_as_the_full_check(text: str) -> None:
    assert outcome(text) == full_check(text)


def test_fast_path_answers_as_the_full_check_for_a_usual_card() -> None:
    card = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada\r\nUID:u-1\r\nEMAIL:a@b\r\nEND:VCARD\r\n"
    assert outcome(card) == full_check(card) == ("ok", "u-1")
