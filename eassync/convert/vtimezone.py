"""Compact VTIMEZONE components: yearly rules instead of lists of dates.

icalendar's ``add_missing_timezones`` writes an IANA zone as ~60 RDATEs with the note
"This timezone only works from 1970 to 2038". Outlook, Thunderbird and Apple write a
zone as what it is: one STANDARD and one DAYLIGHT observance, each with
``RRULE:FREQ=YEARLY;BYMONTH=..;BYDAY=..`` (RFC 5545 3.6.5), the same rule a Windows
TIME_ZONE_INFORMATION holds (week 5 = last → ``-1SU``). This module builds that form:

- the zone's *current* rule is the one in force in :data:`FINAL_YEAR`; it holds from
  the first year since which every year's offset changes are exactly the rule's
  (Berlin: 1996, New York: 2007, Tokyo and other zones without DST: a fixed offset);
- an item reaching back before that year gets those earlier years' changes as
  observances with RDATEs, so its times still read right;
- a zone whose current rule is no yearly weekday rule (or changes again before
  :data:`FINAL_YEAR`) gets None: the caller falls back to icalendar's form.

Pure code, no I/O.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar

from eassync.convert.timezone import (
    SystemTime,
    TimeZoneInfo,
    info_from_zone,
    offset_transitions,
)

#: the year whose rule counts as the zone's current one (zoneinfo's footer rule)
FINAL_YEAR = 2040
#: the current rule must hold this many years before FINAL_YEAR to be taken as a rule
MIN_RULE_YEARS = 10
#: no observance starts earlier: offsets before are local mean times of the 1800s
FLOOR_YEAR = 1900

_DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")

Transition = tuple[datetime, timedelta, timedelta]  # naive UTC instant, before, after


def yearly_rule(st: SystemTime) -> dict[str, list[Any]]:
    """``FREQ=YEARLY;BYMONTH=m;BYDAY=nDD`` of a yearly SYSTEMTIME rule (5 = last)."""
    week = -1 if st.day == 5 else st.day
    return {"FREQ": ["YEARLY"], "BYMONTH": [st.month], "BYDAY": [f"{week}{_DAYS[st.day_of_week]}"]}


def _offset(tz: ZoneInfo, utc: datetime) -> timedelta:
    offset = utc.replace(tzinfo=UTC).astimezone(tz).utcoffset()
    return offset if offset is not None else timedelta(0)


def _rule_transitions(info: TimeZoneInfo, year: int) -> list[Transition]:
    spans = info.transitions_utc(year)
    if spans is None:
        return []
    dst_start, std_start = spans
    return sorted(
        [
            (dst_start, info.standard_offset, info.daylight_offset),
            (std_start, info.daylight_offset, info.standard_offset),
        ]
    )


def _fits(tz: ZoneInfo, info: TimeZoneInfo, year: int) -> bool:
    """Whether the zone's offset changes in ``year`` are exactly the rule's."""
    if offset_transitions(tz, year) != _rule_transitions(info, year):
        return False
    if info.has_dst:
        return True
    return _offset(tz, datetime(year, 1, 1)) == info.standard_offset


@lru_cache(maxsize=256)
def current_rule(key: str) -> tuple[TimeZoneInfo, int] | None:
    """The zone's current rule and the first year since which it holds; None when it
    is no yearly rule a VTIMEZONE RRULE of ours can say."""
    try:
        tz = ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a path
        return None
    info = info_from_zone(tz, FINAL_YEAR)
    year = FINAL_YEAR
    while year > FLOOR_YEAR and _fits(tz, info, year - 1):
        year -= 1
    if year > FINAL_YEAR - MIN_RULE_YEARS or not _fits(tz, info, FINAL_YEAR):
        return None
    return info, year


Observance = icalendar.TimezoneStandard | icalendar.TimezoneDaylight


def _observance(kind: str, start: datetime, before: timedelta, after: timedelta) -> Observance:
    comp: Observance
    comp = icalendar.TimezoneDaylight() if kind == "DAYLIGHT" else icalendar.TimezoneStandard()
    comp.add("dtstart", start)
    comp.add("tzoffsetfrom", before)
    comp.add("tzoffsetto", after)
    return comp


def _tzname(tz: ZoneInfo, utc: datetime) -> str | None:
    return utc.replace(tzinfo=UTC).astimezone(tz).tzname()


def _kind(tz: ZoneInfo, utc: datetime) -> str:
    dst = utc.replace(tzinfo=UTC).astimezone(tz).dst()
    return "DAYLIGHT" if dst is not None and dst > timedelta(0) else "STANDARD"


def _history(tz: ZoneInfo, first: int, until: int) -> list[Observance]:
    """Observances for the years ``first`` .. ``until - 1``: the offset in force at
    the start, then every change as an RDATE of the observance it starts."""
    begin = datetime(first, 1, 1)
    changes = [c for year in range(first, until) for c in offset_transitions(tz, year)]
    out: list[Observance] = []
    if not changes or changes[0][0] + changes[0][1] != begin:
        # the offset before the first change (none at that very instant: two
        # observances starting together leave readers to pick either)
        offset = _offset(tz, begin - timedelta(hours=14))  # local midnight, east or west
        initial = _observance(_kind(tz, begin), begin, offset, offset)
        name = _tzname(tz, begin)
        if name:
            initial.add("tzname", name)
        out.append(initial)
    groups: dict[tuple[str, timedelta, timedelta, str | None], Observance] = {}
    for utc, before, after in changes:
        wall = utc + before  # DTSTART/RDATE are in the offset before (RFC 5545 3.6.5)
        group = (_kind(tz, utc), before, after, _tzname(tz, utc))
        comp = groups.get(group)
        if comp is None:
            comp = groups[group] = _observance(group[0], wall, before, after)
            if group[3]:
                comp.add("tzname", group[3])
            out.append(comp)
        else:
            comp.add("rdate", wall)
    return out


def _rule_observances(tz: ZoneInfo, info: TimeZoneInfo, year: int) -> list[Observance]:
    if not info.has_dst:
        start = datetime(year, 1, 1)
        comp = _observance("STANDARD", start, info.standard_offset, info.standard_offset)
        name = _tzname(tz, start)
        if name:
            comp.add("tzname", name)
        return [comp]
    out = []
    for kind, st, before, after in (
        ("DAYLIGHT", info.daylight_date, info.standard_offset, info.daylight_offset),
        ("STANDARD", info.standard_date, info.daylight_offset, info.standard_offset),
    ):
        wall = st.local_in(year)
        comp = _observance(kind, wall, before, after)
        comp.add("rrule", yearly_rule(st))
        name = _tzname(tz, wall - before)
        if name:
            comp.add("tzname", name)
        out.append(comp)
    return out


@lru_cache(maxsize=1024)
def _compact(key: str, first: int) -> icalendar.Timezone | None:
    found = current_rule(key)
    if found is None:
        return None
    info, since = found
    tz = ZoneInfo(key)
    vtz = icalendar.Timezone()
    vtz.add("tzid", key)
    first = max(first, FLOOR_YEAR)
    if first < since or (first == since and info.has_dst):
        # the item reaches back to the rule's first year (whose start precedes the
        # rule's first switch) or before: observances from the start of its first
        # year, so that no time of it precedes them all
        vtz.subcomponents += _history(tz, first, since)
    vtz.subcomponents += _rule_observances(tz, info, since)
    return vtz


def compact_vtimezone(key: str, first_year: int) -> icalendar.Timezone | None:
    """A compact VTIMEZONE for the IANA zone ``key`` that is right for every time
    from ``first_year`` on; None when the zone has no yearly rule to write."""
    vtz = _compact(key, first_year)
    return None if vtz is None else copy.deepcopy(vtz)  # the cached one stays as built
