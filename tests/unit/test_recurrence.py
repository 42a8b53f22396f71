"""RRULE ⇄ EAS Recurrence: expressible rules keep their occurrences, the rest are refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from dateutil.rrule import rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import vRecur

from eassync.convert import recurrence as rec
from eassync.eas.element import E

START = datetime(2024, 1, 31, 9, 0, tzinfo=UTC)
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


def expand(rule: dict[str, list[object]]) -> list[datetime]:
    text = vRecur(rule).to_ical().decode()
    return list(rrulestr(f"RRULE:{text}", dtstart=START).between(START, START.replace(year=2026)))


def round_trip(rule: dict[str, list[object]]) -> dict[str, list[object]] | None:
    parsed = rec.from_rrule(rule, START, UTC, all_day=False)
    if parsed is None:
        return None
    node = rec.calendar_element(parsed, "14.1")
    back = rec.read_element(node, "Calendar")
    assert back is not None
    return rec.to_rrule(back)


@st.composite
def rules(draw: st.DrawFn) -> dict[str, list[object]]:
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]))
    rule: dict[str, list[object]] = {"FREQ": [freq], "INTERVAL": [draw(st.integers(1, 3))]}
    end = draw(st.sampled_from(["count", "until", "none"]))
    if end == "count":
        rule["COUNT"] = [draw(st.integers(1, 30))]
    elif end == "until":
        rule["UNTIL"] = [datetime(2025, draw(st.integers(1, 12)), 1, tzinfo=UTC)]
    days = draw(st.lists(st.sampled_from(DAYS), min_size=0, max_size=3, unique=True))
    if freq in ("DAILY", "WEEKLY") and days:
        rule["BYDAY"] = days
    elif freq in ("MONTHLY", "YEARLY"):
        kind = draw(st.sampled_from(["monthday", "nth", "setpos", "last", "plain"]))
        if freq == "YEARLY":
            rule["BYMONTH"] = [draw(st.integers(1, 12))]
        if kind == "monthday":
            rule["BYMONTHDAY"] = [draw(st.integers(1, 28))]
        elif kind == "nth":
            rule["BYDAY"] = [
                f"{draw(st.sampled_from([1, 2, 3, 4, -1]))}{draw(st.sampled_from(DAYS))}"
            ]
        elif kind == "setpos" and days:
            rule["BYDAY"] = days
            rule["BYSETPOS"] = [draw(st.sampled_from([1, 2, 3, 4, -1]))]
        elif kind == "last":
            rule["BYMONTHDAY"] = [-1]
    return rule


@settings(max_examples=150, deadline=None)
@given(rules())
def test_expressible_rules_keep_their_occurrences(rule: dict[str, list[object]]):
    back = round_trip(rule)
    assert back is not None, rule
    assert expand(back) == expand(rule)


@pytest.mark.parametrize(
    "rule",
    [
        {"FREQ": ["MONTHLY"], "BYMONTHDAY": [1, 15]},
        {"FREQ": ["MONTHLY"], "BYDAY": ["-2FR"]},
        {"FREQ": ["WEEKLY"], "BYHOUR": [9, 17]},
        {"FREQ": ["YEARLY"], "BYWEEKNO": [20]},
        {"FREQ": ["HOURLY"]},
        {"FREQ": ["MONTHLY"], "BYDAY": ["1MO", "3MO"]},
    ],
)
def test_rules_eas_cannot_express_are_refused(rule: dict[str, list[object]]):
    assert rec.from_rrule(rule, START, UTC, all_day=False) is None


def test_day_masks_and_last_day():
    assert rec.mask_days(62) == ["MO", "TU", "WE", "TH", "FR"]
    last = rec.read_element(
        E(
            "Calendar:Recurrence",
            E("Calendar:Type", value="3"),
            E("Calendar:DayOfWeek", value="127"),
            E("Calendar:WeekOfMonth", value="5"),
        ),
        "Calendar",
    )
    assert last is not None
    assert rec.to_rrule(last)["BYMONTHDAY"] == [-1]
