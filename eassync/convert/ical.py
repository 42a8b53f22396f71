"""iCalendar helpers shared by the calendar and tasks converters.

Parsing and writing through the ``icalendar`` library, and the small mappings both
VEVENT and VTODO use: CLASS ⇄ Sensitivity, CATEGORIES, DESCRIPTION ⇄ Body, the
fingerprint of a VCALENDAR, and the VTIMEZONEs of the zones an item uses: ours for a
:class:`~timezone.RuleZone`, compact yearly rules for IANA zones (:mod:`.vtimezone`).

Pure code, no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

import icalendar
from icalendar.cal import Component

from eassync.convert import normalize
from eassync.convert.recurrence import MAX_YEAR, MIN_YEAR
from eassync.convert.timezone import RuleZone, TimeZoneInfo
from eassync.convert.vtimezone import compact_vtimezone, yearly_rule
from eassync.eas.element import E, Element
from eassync.errors import ConversionError
from eassync.model.items import Item

PRODID = "-//eassync//EAS bridge//EN"

#: properties that change without the item changing (servers rewrite them: Exchange bumps
#: DTSTAMP on every read, SOGo rewrites PRODID and LAST-MODIFIED); UID is identity, not
#: content (in 16.x the server assigns its own UID while the local file keeps its own).
VOLATILE = frozenset(
    {"DTSTAMP", "PRODID", "LAST-MODIFIED", "CREATED", "UID", "SEQUENCE", "X-EAS-UID"}
)

SENSITIVITY_TO_CLASS = {0: "PUBLIC", 1: "X-PERSONAL", 2: "PRIVATE", 3: "CONFIDENTIAL"}
# RFC 5545 3.8.1.3: unknown CLASS values must be treated as PRIVATE, so EAS "personal"
# (no iCalendar word) travels as X-PERSONAL and reads as private elsewhere.
CLASS_TO_SENSITIVITY = {v: k for k, v in SENSITIVITY_TO_CLASS.items()}


def parse(item: Item) -> icalendar.Calendar:
    try:
        cal = icalendar.Calendar.from_ical(item.raw)
    except (ValueError, IndexError, KeyError) as exc:
        raise ConversionError(f"unreadable iCalendar data: {exc}") from exc
    if not isinstance(cal, icalendar.Calendar):
        raise ConversionError("not a VCALENDAR")
    return cal


def serialize(cal: icalendar.Calendar) -> bytes:
    return bytes(cal.to_ical())


def new_calendar() -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    return cal


def components(cal: icalendar.Calendar, name: str) -> list[Component]:
    return [c for c in cal.subcomponents if c.name == name]


def master_and_overrides(
    cal: icalendar.Calendar, name: str
) -> tuple[Component | None, list[Component]]:
    """The component without RECURRENCE-ID, and the overrides (RFC 5545 3.8.4.4)."""
    master: Component | None = None
    overrides: list[Component] = []
    for comp in components(cal, name):
        if comp.get("RECURRENCE-ID") is None and master is None:
            master = comp
        elif comp.get("RECURRENCE-ID") is not None:
            overrides.append(comp)
    return master, overrides


def text(comp: Component, name: str) -> str | None:
    value = comp.get(name)
    if value is None:
        return None
    if isinstance(value, list):
        value = value[0]
    result = str(value)
    return result if result.strip() else None


def decoded(comp: Component, name: str) -> Any:
    """The value of a property; None if absent or unreadable. A date or time outside
    the years EAS dates may have (``MIN_YEAR``..``MAX_YEAR``) is unreadable too: a
    shift to UTC or by the event's length would leave Python's range (OverflowError)."""
    if comp.get(name) is None:
        return None
    try:
        value = comp.decoded(name)
    except (ValueError, KeyError, TypeError):
        return None
    if isinstance(value, date) and not in_range(value):
        return None
    return value


def shifted(value: Any, duration: Any) -> Any:
    """``value + duration`` (DTSTART + DURATION), or None when there is no duration or
    the sum leaves the years a calendar can hold (DURATION:-P99999999W)."""
    if not isinstance(duration, timedelta) or not isinstance(value, date):
        return None
    try:
        moved = value + duration
    except OverflowError:
        return None
    return moved if in_range(moved) else None


def in_range(value: date) -> bool:
    return MIN_YEAR <= value.year <= MAX_YEAR


def date_values(comp: Component, name: str) -> list[date]:
    """Every readable date or date-time of a list property (EXDATE), in range."""
    out: list[date] = []
    for prop in comp.get(name) if isinstance(comp.get(name), list) else [comp.get(name)]:
        try:
            values = [v.dt for v in getattr(prop, "dts", [])]
        except (ValueError, TypeError):  # icalendar's BrokenCalendarProperty is a ValueError
            continue
        out += [v for v in values if isinstance(v, date) and in_range(v)]
    return out


def categories(comp: Component) -> tuple[str, ...]:
    values = comp.get("CATEGORIES")
    if values is None:
        return ()
    props = values if isinstance(values, list) else [values]
    out: list[str] = []
    for prop in props:
        for cat in getattr(prop, "cats", []):
            word = str(cat).strip()
            if word and word not in out:
                out.append(word)
    return tuple(out)


def sensitivity(comp: Component) -> int | None:
    word = text(comp, "CLASS")
    if word is None:
        return None
    return CLASS_TO_SENSITIVITY.get(word.upper().strip(), 2)


def body_text(comp: Component) -> str | None:
    value = text(comp, "DESCRIPTION")
    return normalize.lf(value).rstrip("\n") if value else None


def body_element(value: str | None) -> Element:
    """AirSyncBase:Body Type 1 (plain text). Always sent: an omitted Body stays on the
    server (eas-protocol.md §5.1), so an empty Data clears it."""
    return E(
        "AirSyncBase:Body",
        E("AirSyncBase:Type", value="1"),
        E("AirSyncBase:Data", value=normalize.crlf(value or "")),
    )


def read_body(data: Element, legacy_tag: str) -> str | None:
    node = data.find("AirSyncBase:Body")
    raw = node.text("AirSyncBase:Data") if node is not None else data.text(legacy_tag)
    if not raw or not raw.strip():
        return None
    return normalize.lf(raw).rstrip("\n")


def categories_element(page: str, cats: Iterable[str]) -> Element | None:
    cats = list(cats)
    if not cats:
        return None
    return E(f"{page}:Categories", *(E(f"{page}:Category", value=c) for c in cats))


def read_categories(data: Element, page: str) -> tuple[str, ...]:
    out: list[str] = []
    for node in data.findall(f"{page}:Categories/{page}:Category"):
        word = (node.text() or "").strip()
        if word and word not in out:
            out.append(word)
    return tuple(out)


# --- fingerprint ----------------------------------------------------------------------------


def _prop_line(name: str, prop: Any) -> str:
    params = getattr(prop, "params", {}) or {}
    parts = sorted(f"{k.upper()}={v}" for k, v in params.items())
    value = prop.to_ical() if hasattr(prop, "to_ical") else str(prop)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if name in ("DESCRIPTION", "SUMMARY", "LOCATION"):
        value = normalize.lf(value).rstrip("\n").replace("\\n", "\n").rstrip("\n")
    return f"{name};{';'.join(parts)}:{value}"


def _component_lines(comp: Component, path: str) -> Iterator[str]:
    for name, value in comp.property_items(recursive=False):
        name = name.upper()
        if name in VOLATILE or name in ("BEGIN", "END"):
            continue
        yield f"{path}|{_prop_line(name, value)}"
    counts: dict[str | None, int] = {}
    for sub in comp.subcomponents:
        if sub.name == "VTIMEZONE":
            continue  # the TZID names the zone; generators write different VTIMEZONEs
        index = counts.get(sub.name, 0)
        counts[sub.name] = index + 1
        key = str(index)
        if sub.get("RECURRENCE-ID") is not None:
            found: Any = sub["RECURRENCE-ID"]  # a list where a file repeats the property
            rids = found if isinstance(found, list) else [found]
            key = "R" + ",".join(_ical_text(r) for r in rids)
        yield from _component_lines(sub, f"{path}/{sub.name}[{key}]")


def _ical_text(prop: Any) -> str:
    text = prop.to_ical()
    return text.decode() if isinstance(text, bytes) else str(text)


def fingerprint(item: Item) -> str:
    """sha256 over the canonical lines of every component (order-independent)."""
    cal = parse(item)
    lines = list(_component_lines(cal, "VCALENDAR"))
    return normalize.digest(lines)


def short_hash(text_value: str) -> str:
    return hashlib.sha256(text_value.encode("utf-8")).hexdigest()[:16]


# --- VTIMEZONE for a rule zone --------------------------------------------------------------


def vtimezone_for(zone: RuleZone) -> icalendar.Timezone:
    """A VTIMEZONE with yearly rules for a zone no IANA zone matched (§7.2 step 3)."""
    info: TimeZoneInfo = zone.info
    tz = icalendar.Timezone()
    tz.add("tzid", zone.name)
    std = icalendar.TimezoneStandard()
    std.add("tzoffsetto", info.standard_offset)
    if not info.has_dst:
        std.add("dtstart", datetime(1601, 1, 1))
        std.add("tzoffsetfrom", info.standard_offset)
        tz.add_component(std)
        return tz
    dst = icalendar.TimezoneDaylight()
    std.add("dtstart", info.standard_date.local_in(1601).replace(year=1601))
    std.add("tzoffsetfrom", info.daylight_offset)
    std.add("rrule", yearly_rule(info.standard_date))
    dst.add("dtstart", info.daylight_date.local_in(1601).replace(year=1601))
    dst.add("tzoffsetfrom", info.standard_offset)
    dst.add("tzoffsetto", info.daylight_offset)
    dst.add("rrule", yearly_rule(info.daylight_date))
    tz.add_component(std)
    tz.add_component(dst)
    return tz


def add_timezones(cal: icalendar.Calendar, zones: Iterable[tzinfo]) -> None:
    """VTIMEZONE blocks for every zone used: ours for rule zones, compact yearly rules
    for IANA zones (:mod:`~eassync.convert.vtimezone`), icalendar's for the rest."""
    have = {str(t.get("TZID")) for t in components(cal, "VTIMEZONE")}
    for zone in zones:
        if isinstance(zone, RuleZone) and zone.name not in have:
            cal.subcomponents.insert(0, vtimezone_for(zone))
            have.add(zone.name)
    for tzid, first in sorted(first_years(cal).items()):
        if tzid in have:
            continue
        vtz = compact_vtimezone(tzid, first)
        if vtz is not None:
            cal.subcomponents.insert(0, vtz)
            have.add(tzid)
    try:
        cal.add_missing_timezones()
    except (ValueError, KeyError):  # an unknown TZID stays without VTIMEZONE
        pass


#: the COMMENT icalendar's ``add_missing_timezones`` puts in its long RDATE form
_LONG_FORM = "This timezone only works from"


def compact_timezones(cal: icalendar.Calendar) -> None:
    """Replace VTIMEZONEs in icalendar's long form (ours before, or another
    icalendar-based program's) by the compact one for the same IANA zone; any
    other VTIMEZONE is someone's own and stays."""
    firsts = first_years(cal)
    for index, vtz in enumerate(cal.subcomponents):
        if vtz.name != "VTIMEZONE":
            continue
        comments = vtz.get("COMMENT")
        texts = comments if isinstance(comments, list) else [comments]
        if not any(str(c).startswith(_LONG_FORM) for c in texts if c is not None):
            continue
        tzid = str(vtz.get("TZID"))
        compact = compact_vtimezone(tzid, firsts[tzid]) if tzid in firsts else None
        if compact is not None:
            cal.subcomponents[index] = compact


def first_years(cal: icalendar.Calendar) -> dict[str, int]:
    """TZID → the earliest year of a date-time given in that zone (DTSTART, EXDATE …):
    the VTIMEZONE must be right from then on."""
    out: dict[str, int] = {}
    for comp in cal.walk():
        if comp.name in ("VTIMEZONE", "STANDARD", "DAYLIGHT"):
            continue
        for _name, prop in comp.property_items(recursive=False):
            params = getattr(prop, "params", None)
            tzid = params.get("TZID") if params else None
            if not tzid:
                continue
            values = [prop.dt] if hasattr(prop, "dt") else [v.dt for v in getattr(prop, "dts", [])]
            for value in values:
                if isinstance(value, date):
                    out[str(tzid)] = min(out.get(str(tzid), value.year), value.year)
    return out


def set_dt(comp: Component, name: str, value: date | datetime, tz: tzinfo | None) -> None:
    """Write DTSTART/DTEND/RECURRENCE-ID …: a DATE, a UTC time, or a local time with TZID."""
    if isinstance(value, datetime):
        if tz is not None and value.tzinfo is not None:
            value = value.astimezone(tz)
        comp.add(name, value)
        if isinstance(tz, RuleZone):
            comp[name].params["TZID"] = tz.name
    else:
        comp.add(name, value)


def as_minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)
