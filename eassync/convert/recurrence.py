"""RRULE ⇄ EAS ``Recurrence`` (eas-protocol.md §7.2 table; MS-ASCAL 2.2.2.43).

``from_rrule`` returns None for a rule EAS cannot express (several month days, a BYDAY
ordinal other than 1–4/last, BYSETPOS combinations, BYHOUR, BYWEEKNO, RSCALE …); the
caller then keeps the rule local-only (table row "Limited"). Rules that are expressed
are expressed exactly: the occurrences of ``to_rrule(from_rrule(r))`` equal those of r.

Shared by calendar (compact DateTime Until) and tasks (dateTime Until, plus Start,
Regenerate and DeadOccur, which ``tasks.py`` adds). Pure code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, TypedDict

from eassync.eas.element import E, Element
from eassync.errors import ConversionError

DAILY, WEEKLY, MONTHLY, MONTHLY_NTH, YEARLY, YEARLY_NTH = 0, 1, 2, 3, 5, 6
DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")  # bit i = 1 << i (MS-ASCAL DayOfWeek)
ANY_DAY = 127
KNOWN_PARTS = frozenset(
    {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS", "WKST"}
)


@dataclass(frozen=True)
class Recurrence:
    type: int
    interval: int = 1
    occurrences: int | None = None
    #: aware UTC datetime for timed items, a date for all-day items
    until: datetime | date | None = None
    day_of_week: int | None = None
    day_of_month: int | None = None
    week_of_month: int | None = None
    month_of_year: int | None = None
    first_day_of_week: int | None = None
    calendar_type: int | None = None
    is_leap_month: int | None = None


class _Common(TypedDict, total=False):
    """The fields every kind of rule sets alike (from_rrule)."""

    interval: int
    occurrences: int | None
    until: datetime | date | None
    first_day_of_week: int


def _mask(days: list[str]) -> int:
    mask = 0
    for day in days:
        mask |= 1 << DAYS.index(day)
    return mask


def mask_days(mask: int) -> list[str]:
    return [DAYS[i] for i in (1, 2, 3, 4, 5, 6, 0) if mask & (1 << i)]


def _weekday_code(day: date) -> str:
    return DAYS[(day.weekday() + 1) % 7]


def _split_byday(values: list[Any]) -> list[tuple[int, str]] | None:
    """BYDAY values → (ordinal or 0, day code); None if any is unreadable."""
    out: list[tuple[int, str]] = []
    for value in values:
        text = str(value).upper().strip()
        code, number = text[-2:], text[:-2]
        if code not in DAYS:
            return None
        try:
            out.append((int(number) if number not in ("", "+") else 0, code))
        except ValueError:
            return None
    return out


def _week(n: int) -> int | None:
    if 1 <= n <= 4:
        return n
    if n == -1:
        return 5
    return None


def _single(rule: dict[str, list[Any]], key: str) -> int | bool | None:
    """The one integer of a BY part; None if absent; False if several or unreadable."""
    values = rule.get(key)
    if not values:
        return None
    if len(values) != 1:
        return False
    try:
        return int(values[0])
    except (TypeError, ValueError):
        return False


def from_rrule(
    rule: dict[str, list[Any]],
    start: datetime | date,
    tz: tzinfo | None,
    all_day: bool,
) -> Recurrence | None:
    """An icalendar ``vRecur`` (keys upper-case, values lists) → Recurrence, or None when
    EAS cannot express it. ``start`` is the DTSTART value (defaults for missing BY parts),
    ``tz`` the zone that floating/DATE UNTIL values are read in."""
    rule = {
        str(k).upper(): list(v) if isinstance(v, list | tuple) else [v] for k, v in rule.items()
    }
    if set(rule) - KNOWN_PARTS or not rule.get("FREQ"):
        return None
    freq = str(rule["FREQ"][0]).upper()
    try:
        interval = int(rule.get("INTERVAL", [1])[0])
        count = int(rule["COUNT"][0]) if "COUNT" in rule else None
    except (TypeError, ValueError):
        return None
    if not 1 <= interval <= 999 or (count is not None and not 1 <= count <= 999):
        return None
    until = _until(rule["UNTIL"][0], tz, all_day) if "UNTIL" in rule else None
    byday = _split_byday(rule.get("BYDAY", []))
    if byday is None:
        return None
    monthday = _single(rule, "BYMONTHDAY")
    month = _single(rule, "BYMONTH")
    setpos = _single(rule, "BYSETPOS")
    if monthday is False or month is False or setpos is False:
        return None
    day = start
    plain = [code for n, code in byday if n == 0]
    ordinals = [(n, code) for n, code in byday if n != 0]
    common: _Common = {"interval": interval, "occurrences": count, "until": until}
    wkst = rule.get("WKST")
    if wkst and str(wkst[0]).upper() in DAYS:
        common["first_day_of_week"] = DAYS.index(str(wkst[0]).upper())

    def nth(kind: int, month_of_year: int | None) -> Recurrence | None:
        of_year = month_of_year or None
        if monthday is not None:
            if monthday == -1 and not byday and setpos is None:
                return Recurrence(
                    kind, day_of_week=ANY_DAY, week_of_month=5, month_of_year=of_year, **common
                )
            return None
        if len(ordinals) == 1 and not plain and setpos is None:
            week = _week(ordinals[0][0])
            if week is None:
                return None
            return Recurrence(
                kind,
                day_of_week=_mask([ordinals[0][1]]),
                week_of_month=week,
                month_of_year=of_year,
                **common,
            )
        if plain and not ordinals and isinstance(setpos, int):
            week = _week(setpos)
            if week is None:
                return None
            return Recurrence(
                kind, day_of_week=_mask(plain), week_of_month=week, month_of_year=of_year, **common
            )
        return None

    if freq == "DAILY":
        if ordinals or monthday is not None or month is not None or setpos is not None:
            return None
        return Recurrence(DAILY, day_of_week=_mask(plain) if plain else None, **common)
    if freq == "WEEKLY":
        if ordinals or monthday is not None or month is not None or setpos is not None:
            return None
        return Recurrence(WEEKLY, day_of_week=_mask(plain or [_weekday_code(day)]), **common)
    if freq == "MONTHLY":
        if month is not None:
            return None
        if not byday and setpos is None and (monthday is None or monthday > 0):
            return Recurrence(MONTHLY, day_of_month=monthday or day.day, **common)
        return nth(MONTHLY_NTH, None)
    if freq == "YEARLY":
        month_of_year = month if isinstance(month, int) else day.month
        if not byday and setpos is None and (monthday is None or monthday > 0):
            if month is None and monthday is not None:
                return None  # a month day in every month of the year: not a yearly rule
            return Recurrence(
                YEARLY, day_of_month=monthday or day.day, month_of_year=month_of_year, **common
            )
        return nth(YEARLY_NTH, month_of_year)
    return None


def _until(value: Any, tz: tzinfo | None, all_day: bool) -> datetime | date:
    """UNTIL as the EAS wants it: a date for all-day items, else an aware UTC instant.
    A DATE UNTIL on a timed item means "through that day" in the item's zone."""
    if isinstance(value, datetime):
        moment: datetime = value
        if all_day:
            return moment.date()
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz or UTC)
        return moment.astimezone(UTC)
    if isinstance(value, date):
        if all_day:
            return value
        end = datetime.combine(value, time(23, 59, 59), tzinfo=tz or UTC)
        return end.astimezone(UTC)
    raise ValueError(f"unreadable UNTIL {value!r}")


def to_rrule(rec: Recurrence) -> dict[str, list[Any]]:
    """Recurrence → the parts of an icalendar ``vRecur`` (in RFC 5545 order)."""
    freq = {
        DAILY: "DAILY",
        WEEKLY: "WEEKLY",
        MONTHLY: "MONTHLY",
        MONTHLY_NTH: "MONTHLY",
        YEARLY: "YEARLY",
        YEARLY_NTH: "YEARLY",
    }.get(rec.type)
    if freq is None:
        raise ValueError(f"unknown recurrence Type {rec.type}")
    rule: dict[str, list[Any]] = {"FREQ": [freq]}
    if rec.until is not None:
        rule["UNTIL"] = [rec.until]
    elif rec.occurrences:
        rule["COUNT"] = [rec.occurrences]
    if rec.interval and rec.interval != 1:
        rule["INTERVAL"] = [rec.interval]
    mask = rec.day_of_week or 0
    if rec.type in (DAILY, WEEKLY) and mask:
        rule["BYDAY"] = mask_days(mask)
    elif rec.type in (MONTHLY, YEARLY):
        if rec.type == YEARLY:
            rule["BYMONTH"] = [rec.month_of_year or 1]
        rule["BYMONTHDAY"] = [rec.day_of_month or 1]
    elif rec.type in (MONTHLY_NTH, YEARLY_NTH):
        if rec.type == YEARLY_NTH:
            rule["BYMONTH"] = [rec.month_of_year or 1]
        week = rec.week_of_month or 1
        n = -1 if week == 5 else week
        if mask == ANY_DAY:
            rule["BYMONTHDAY"] = [n]
        elif mask and bin(mask).count("1") == 1:
            rule["BYDAY"] = [f"{n}{mask_days(mask)[0]}"]
        elif mask:
            rule["BYDAY"] = mask_days(mask)
            rule["BYSETPOS"] = [n]
    if rec.first_day_of_week is not None and 0 <= rec.first_day_of_week <= 6:
        rule["WKST"] = [DAYS[rec.first_day_of_week]]
    return rule


# --- elements -------------------------------------------------------------------------------


def compact_utc(value: datetime | date) -> str:
    """MS-ASDTYPE compact DateTime ``YYYYMMDDTHHMMSSZ``; a date is its 00:00:00Z."""
    if not isinstance(value, datetime):
        return f"{value.year:04d}{value.month:02d}{value.day:02d}T000000Z"
    value = value.astimezone(UTC) if value.tzinfo else value
    # not strftime: glibc's %Y writes year 1 as "1", which no parser reads back
    return (
        f"{value.year:04d}{value.month:02d}{value.day:02d}"
        f"T{value.hour:02d}{value.minute:02d}{value.second:02d}Z"
    )


def eas_datetime(value: datetime | date) -> str:
    """MS-ASDTYPE dateTime ``YYYY-MM-DDTHH:MM:SS.000Z`` (Tasks)."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0))
    value = value.astimezone(UTC) if value.tzinfo else value
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}.000Z"
    )


#: Years a server's date may have. Outside them a time-zone shift or an event's length
#: leaves Python's datetime range (OverflowError): such a date is unreadable, like any
#: other garbage (the "none" dates servers use, 1601-01-01 and 4501-01-01, are inside).
MIN_YEAR, MAX_YEAR = 2, 9997


def parse_eas_time(text: str | None) -> datetime | None:
    """Compact DateTime or dateTime → aware UTC datetime; None if absent/unreadable
    (or outside MIN_YEAR..MAX_YEAR)."""
    if not text:
        return None
    raw = text.strip().rstrip("Zz").replace("-", "").replace(":", "")
    raw = raw.split(".", 1)[0]
    for fmt in ("%Y%m%dT%H%M%S", "%Y%m%dT%H%M", "%Y%m%d"):
        try:
            value = datetime.strptime(raw, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        return value if MIN_YEAR <= value.year <= MAX_YEAR else None
    return None


CALENDAR_ORDER = (
    "Type",
    "Occurrences",
    "Interval",
    "WeekOfMonth",
    "DayOfWeek",
    "MonthOfYear",
    "Until",
    "DayOfMonth",
    "CalendarType",
    "IsLeapMonth",
    "FirstDayOfWeek",
)


def fields(rec: Recurrence, version: str) -> dict[str, str]:
    """Element name → text of a Recurrence (Until left to the caller's format)."""
    out: dict[str, str] = {"Type": str(rec.type)}
    if rec.occurrences and rec.until is None:
        out["Occurrences"] = str(rec.occurrences)
    out["Interval"] = str(rec.interval or 1)
    for name, value in (
        ("WeekOfMonth", rec.week_of_month),
        ("DayOfWeek", rec.day_of_week),
        ("MonthOfYear", rec.month_of_year),
        ("DayOfMonth", rec.day_of_month),
    ):
        if value is not None:
            out[name] = str(value)
    if _at_least(version, "14.0"):
        if rec.calendar_type is not None:
            out["CalendarType"] = str(rec.calendar_type)
        if rec.is_leap_month is not None:
            out["IsLeapMonth"] = str(rec.is_leap_month)
    if _at_least(version, "14.1") and rec.first_day_of_week is not None:
        out["FirstDayOfWeek"] = str(rec.first_day_of_week)
    return out


def calendar_element(rec: Recurrence, version: str) -> Element:
    values = fields(rec, version)
    if rec.until is not None:
        values["Until"] = compact_utc(rec.until)
    node = E("Calendar:Recurrence")
    for name in CALENDAR_ORDER:
        if name in values:
            node.add(f"Calendar:{name}", values[name])
    return node


#: MS-ASCAL 2.2.2.25/.35/.13/.14/.47/.31: the ranges of the Recurrence fields. A value
#: outside them has no faithful local form: clamped it would move occurrences, dropped
#: it would lose the series on the next local edit. The item is refused instead (the
#: server's copy stays as it is) with a message naming the field.
RECURRENCE_RANGES = {
    "Interval": (0, 999),
    "Occurrences": (0, 999),
    "DayOfWeek": (0, 127),
    "DayOfMonth": (0, 31),
    "WeekOfMonth": (0, 5),
    "MonthOfYear": (0, 12),
}


def read_element(node: Element, page: str) -> Recurrence | None:
    """A Recurrence element (Calendar or Tasks page) → Recurrence with a UTC-datetime
    Until (callers turn it into a date for all-day items); None if Type is unreadable.
    Raises ConversionError for a field outside its range (RECURRENCE_RANGES); 0 reads
    as absent (servers send it for fields the Type does not use)."""
    kind = node.int(f"{page}:Type")
    if kind not in (DAILY, WEEKLY, MONTHLY, MONTHLY_NTH, YEARLY, YEARLY_NTH):
        return None
    ranged: dict[str, int | None] = {}
    for name, (low, high) in RECURRENCE_RANGES.items():
        value = node.int(f"{page}:{name}")
        if value is not None and not low <= value <= high:
            raise ConversionError(
                f"the server's recurrence has {name} {value}, outside {low}–{high} "
                "(MS-ASCAL); the item is not stored",
                hint="correct the series on the server (or in Outlook)",
            )
        ranged[name] = value or None
    # informational fields: an impossible value is dropped, not worth an item
    first_day = _within(node.int(f"{page}:FirstDayOfWeek"), 0, 6)
    calendar_type = _within(node.int(f"{page}:CalendarType"), 0, 23)
    leap = _within(node.int(f"{page}:IsLeapMonth"), 0, 1)
    return Recurrence(
        type=kind,
        interval=ranged["Interval"] or 1,
        occurrences=ranged["Occurrences"],
        until=parse_eas_time(node.text(f"{page}:Until")),
        day_of_week=ranged["DayOfWeek"],
        day_of_month=ranged["DayOfMonth"],
        week_of_month=ranged["WeekOfMonth"],
        month_of_year=ranged["MonthOfYear"],
        first_day_of_week=first_day,
        calendar_type=calendar_type,
        is_leap_month=leap,
    )


def _within(value: int | None, low: int, high: int) -> int | None:
    return value if value is not None and low <= value <= high else None


def _at_least(version: str, minimum: str) -> bool:
    def parts(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split(".") if p.isdigit())

    return parts(version) >= parts(minimum)


def at_least(version: str, minimum: str) -> bool:
    """Protocol version comparison ("14.1" ≥ "14.0")."""
    return _at_least(version, minimum)


def shift_days(value: date, days: int) -> date:
    return value + timedelta(days=days)
