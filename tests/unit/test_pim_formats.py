"""What respond/gal/freebusy/oof print: free/busy blocks, mutt query lines, vCards,
the GAL paging loop and its cache, for any text a server may send."""

from __future__ import annotations

import itertools
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eassync.eas.pim import GalEntry, GalPage
from eassync.errors import UsageError
from eassync.pim import freebusy, gal
from eassync.pim.text import safe

START = datetime(2030, 6, 3, 8, 0, tzinfo=UTC)
SLOT = timedelta(minutes=30)


@given(st.text(alphabet="012345x", max_size=80), st.integers(min_value=1, max_value=60))
def test_blocks_cover_exactly_the_non_free_slots(merged: str, slots: int) -> None:
    end = START + slots * SLOT
    found = freebusy.blocks(merged, START, end)
    covered = set()
    for prev, block in itertools.pairwise(found):
        assert prev.end <= block.start
    for block in found:
        assert START <= block.start < block.end <= end
        n = (block.start - START) // SLOT
        while START + n * SLOT < block.end:
            covered.add(n)
            n += 1
    expected = {i for i, c in enumerate(merged[:slots]) if c != "0"}
    assert covered == expected


def test_blocks_merge_runs_and_name_kinds() -> None:
    found = freebusy.blocks("0221003", START, START + 7 * SLOT)
    assert [(b.kind, (b.start - START) // SLOT, (b.end - START) // SLOT) for b in found] == [
        ("busy", 1, 3),
        ("tentative", 3, 4),
        ("away", 6, 7),
    ]


text_values = st.text(max_size=40)


@given(
    st.lists(
        st.builds(
            GalEntry,
            display_name=text_values,
            email=text_values,
            company=text_values,
            phone=text_values,
        ),
        max_size=8,
    )
)
def test_mutt_lines_have_three_fields_and_no_control_characters(entries: list[GalEntry]) -> None:
    lines = gal.format_mutt(gal.GalResult("q", entries), "acc")
    assert len(lines) == 1 + sum(1 for e in entries if e.email)
    for line in lines[1:]:
        assert line.count("\t") == 2
        assert not any((ord(c) < 32 and c != "\t") or 0x7F <= ord(c) <= 0x9F for c in line)


@given(
    st.lists(
        st.builds(
            GalEntry,
            # vCard escapes line breaks as \n only: a lone CR comes back as LF
            display_name=st.text(min_size=1, max_size=60).filter(
                lambda s: s.strip() == s and "\r" not in s
            ),
            email=st.emails(),
            company=text_values,
        ),
        min_size=1,
        max_size=5,
    )
)
def test_vcards_parse_back_with_the_same_names(entries: list[GalEntry]) -> None:
    import vobject

    stream = gal.format_vcards(gal.GalResult("q", entries))
    cards = list(vobject.readComponents(stream))
    assert [c.fn.value for c in cards] == [e.display_name for e in entries]
    assert [c.email.value for c in cards] == [e.email for e in entries]


def _pager(total: int, *, ignore_range: bool = False, stop_at: int | None = None):  # type: ignore[no-untyped-def]
    calls: list[tuple[int, int]] = []

    def fetch(start: int, end: int) -> GalPage:
        calls.append((start, end))
        if stop_at is not None and end >= stop_at:
            return GalPage(1, 12, [], None, None)
        lo, hi = (0, 49) if ignore_range else (start, end)
        people = [GalEntry(email=f"p{i}@x") for i in range(lo, min(hi + 1, total))]
        return GalPage(1, 1, people, None, total)

    return fetch, calls


def test_search_pages_until_the_limit() -> None:
    fetch, calls = _pager(500)
    result = gal.search(fetch, "p", limit=100, page_size=30)
    assert calls == [(0, 29), (30, 59), (60, 89), (90, 99)]
    assert len(result.entries) == 100


def test_search_ends_when_the_server_ignores_range() -> None:
    fetch, calls = _pager(500, ignore_range=True)
    result = gal.search(fetch, "p", limit=100, page_size=50)
    assert len(calls) == 2  # the second page brought nothing new: stop
    assert len(result.entries) == 50


def test_search_keeps_what_came_before_status_12() -> None:
    fetch, _ = _pager(500, stop_at=60)
    result = gal.search(fetch, "p", limit=100, page_size=30)
    assert len(result.entries) == 60  # pages 0-29 and 30-59; 60-89 was refused


def test_short_query_refused_says_type_more() -> None:
    def fetch(start: int, end: int) -> GalPage:
        return GalPage(1, 8, [], None, None)

    with pytest.raises(UsageError) as info:
        gal.search(fetch, "ab", limit=10)
    assert "characters" in (info.value.hint or "")


def test_cache_is_private_fresh_only_and_ignores_garbage(tmp_path: Path) -> None:
    path = gal.cache_file(tmp_path, "acc", "Smith", 50, False)
    gal.cache_store(
        path, gal.GalResult("Smith", [GalEntry(email="s@x", picture=b"\x89PNG")], 1), now=1000.0
    )

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    loaded = gal.cache_load(path, now=1000.0 + gal.CACHE_TTL - 1)
    assert loaded is not None
    assert loaded.entries[0].picture == b"\x89PNG"
    assert gal.cache_load(path, now=1000.0 + gal.CACHE_TTL + 1) is None
    path.write_text("{not json", encoding="utf-8")
    assert gal.cache_load(path, now=1000.0) is None
    assert gal.cache_file(tmp_path, "acc", " smith ", 50, False) == path


def test_safe_escapes_terminal_controls_and_bidi_overrides() -> None:
    assert safe("a\x1b[31mb\u202ec") == "a\\x1b[31mb\\u202ec"
    assert safe("a\tb\nc", one_line=True) == "a b c"
    assert safe("line\nnext") == "line\nnext"


def test_freebusy_ics_has_one_vfreebusy_per_resolved_person() -> None:
    import icalendar

    found = freebusy.Person(
        "a@x", "a@x", "A", blocks=freebusy.blocks("0120", START, START + 4 * SLOT)
    )
    missing = freebusy.Person("b@x", problem="not found")
    cal = icalendar.Calendar.from_ical(
        freebusy.to_ics([found, missing], START, START + 4 * SLOT, START)
    )
    (fb,) = list(cal.walk("VFREEBUSY"))
    assert [p.params["FBTYPE"] for p in fb.get("FREEBUSY")] == ["BUSY-TENTATIVE", "BUSY"]


def test_freebusy_answers_are_matched_to_the_asked_addresses() -> None:
    from eassync.eas.pim import RecipientResponse

    a, b = RecipientResponse("A@x", 1), RecipientResponse("b@x", 1)
    other = RecipientResponse("Bob Example", 1)

    assert freebusy.match(["b@x", "a@x"], [a, b]) == [b, a]  # by To, any case
    # SOGo leaves the unknown one out: it is not found, the other keeps its answer
    assert [r.status for r in freebusy.match(["a@x", "zz@x"], [a])] == [1, 4]
    # an answer echoing something else is taken by position when all were answered
    assert freebusy.match(["a@x", "bob@x"], [a, other]) == [a, other]
