"""The EAS ``Calendar:TimeZone`` blob ⇄ Python time zones.

The blob is base64 of a 172-byte little-endian Windows TIME_ZONE_INFORMATION
(eas-protocol.md §7.2): Bias, StandardName, StandardDate, StandardBias, DaylightName,
DaylightDate, DaylightBias. A SYSTEMTIME with wYear 0 is a yearly rule ("wDay-th
wDayOfWeek of wMonth", 5 = last) at the local wall time just before the switch.

- ``decode_blob`` parses leniently: SOGo sends heap garbage in StandardDate when the
  DaylightDate is all zero (sogo-notes Q10), blobs come truncated or as broken base64.
  Whatever cannot be read gives a note and a UTC-like answer, never an exception.
- ``info_from_zone`` describes any ``tzinfo`` for one year, from its real offset
  transitions (standard = the smaller offset, so negative-DST Europe/Dublin works).
- ``zone_from_info`` matches a blob to an IANA zone by its *rules* (offsets and the
  instants of both transitions in the given year), trying the blob's Windows name first
  (icalendar's Windows → IANA map) and then every zone of that map; failing that it
  builds a :class:`RuleZone` that applies the blob's rules to every year.

Pure code, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import calendar as _calendar
import logging
import struct
import unicodedata
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

log = logging.getLogger(__name__)

BLOB_SIZE = 172
_HEAD = struct.Struct("<i64s8H")  # Bias, StandardName, StandardDate
_MIDDLE = struct.Struct("<i64s8Hi")  # StandardBias, DaylightName, DaylightDate, DaylightBias


@dataclass(frozen=True)
class SystemTime:
    """A Windows SYSTEMTIME as used in TIME_ZONE_INFORMATION transition dates."""

    year: int = 0
    month: int = 0
    day_of_week: int = 0  # 0 = Sunday
    day: int = 0  # week of the month 1–5 (5 = last) for yearly rules
    hour: int = 0
    minute: int = 0
    second: int = 0
    millisecond: int = 0

    def pack(self) -> tuple[int, ...]:
        return (
            self.year,
            self.month,
            self.day_of_week,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.millisecond,
        )

    def valid(self) -> bool:
        if not 1 <= self.month <= 12 or self.hour > 23 or self.minute > 59 or self.second > 59:
            return False
        if not 0 <= self.day_of_week <= 6 or self.millisecond > 999:  # any SYSTEMTIME
            return False
        if self.year == 0:
            return 0 <= self.day_of_week <= 6 and 1 <= self.day <= 5
        return 1 <= self.day <= _calendar.monthrange(self.year, self.month)[1]

    def local_in(self, year: int) -> datetime:
        """The naive local wall time of this rule's switch in ``year``."""
        if self.year:  # absolute date: MS-ASDTYPE allows it; reused every year
            last = _calendar.monthrange(year, self.month)[1]
            day = min(self.day, last)
        else:
            day = nth_weekday(year, self.month, self.day_of_week, self.day)
        return datetime(year, self.month, day, self.hour, self.minute, self.second) + timedelta(
            milliseconds=self.millisecond
        )


def nth_weekday(year: int, month: int, day_of_week: int, week: int) -> int:
    """Day of month of the ``week``-th ``day_of_week`` (0 = Sunday; week 5 = last)."""
    first_weekday = (date(year, month, 1).weekday() + 1) % 7  # Sunday-based
    day = 1 + (day_of_week - first_weekday) % 7 + 7 * (week - 1)
    last = _calendar.monthrange(year, month)[1]
    while day > last:
        day -= 7
    return day


@dataclass(frozen=True)
class TimeZoneInfo:
    """The fields of TIME_ZONE_INFORMATION. Offsets in minutes; UTC = local + bias."""

    bias: int = 0
    standard_name: str = ""
    standard_date: SystemTime = SystemTime()
    standard_bias: int = 0
    daylight_name: str = ""
    daylight_date: SystemTime = SystemTime()
    daylight_bias: int = 0

    @property
    def has_dst(self) -> bool:
        return (
            self.standard_date.month != 0
            and self.daylight_date.month != 0
            and self.standard_bias != self.daylight_bias
        )

    @property
    def is_zero(self) -> bool:
        """The all-zero blob of Z-Push/grommunio: "no zone said", not a real UTC choice."""
        return self == TimeZoneInfo()

    @property
    def standard_offset(self) -> timedelta:
        return timedelta(minutes=-(self.bias + self.standard_bias))

    @property
    def daylight_offset(self) -> timedelta:
        if not self.has_dst:
            return self.standard_offset
        return timedelta(minutes=-(self.bias + self.daylight_bias))

    def transitions_utc(self, year: int) -> tuple[datetime, datetime] | None:
        """(start of daylight time, start of standard time) in ``year`` as naive UTC."""
        if not self.has_dst:
            return None
        dst_start = self.daylight_date.local_in(year) - self.standard_offset
        std_start = self.standard_date.local_in(year) - self.daylight_offset
        return dst_start, std_start

    def offset_at_utc(self, moment: datetime) -> timedelta:
        """The UTC offset at a naive-UTC instant under these rules."""
        spans = self.transitions_utc(moment.year)
        if spans is None:
            return self.standard_offset
        dst_start, std_start = spans
        if dst_start < std_start:
            in_dst = dst_start <= moment < std_start
        else:  # southern hemisphere: daylight time spans the new year
            in_dst = moment >= dst_start or moment < std_start
        return self.daylight_offset if in_dst else self.standard_offset

    def rules_key(self, year: int) -> tuple[object, ...]:
        """What two infos must share to describe the same clock in ``year``."""
        return (self.standard_offset, self.daylight_offset, self.transitions_utc(year))


ZERO = TimeZoneInfo()


def _name(raw: bytes) -> str:
    """The zone's name without control characters: it becomes a TZID, and a line
    break inside one (even a vertical tab) makes the iCalendar file unreadable."""
    name = raw.decode("utf-16-le", "replace").split("\x00", 1)[0]
    return "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()


def _encode_name(name: str) -> bytes:
    data = name.encode("utf-16-le")[:62]  # 32 units, the last one NUL
    return data.ljust(64, b"\x00")


def decode_blob(value: str | bytes | None) -> TimeZoneInfo | None:
    """A TimeZone element's value → TimeZoneInfo; None when absent or unreadable.

    Lenient by design (a bad zone must never lose an item): short blobs are padded with
    zeros, long ones cut, transition dates that make no sense are dropped together
    (no DST), with a log note."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    text = "".join(value.split())
    if not text:
        return None
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        log.warning("ignoring a TimeZone that is not base64 (%d chars); using UTC", len(text))
        return None
    if len(raw) != BLOB_SIZE:
        log.info("TimeZone blob of %d bytes (expected %d); reading leniently", len(raw), BLOB_SIZE)
        raw = raw[:BLOB_SIZE].ljust(BLOB_SIZE, b"\x00")
    bias, std_name, *std = _HEAD.unpack_from(raw, 0)
    std_bias, dst_name, *rest = _MIDDLE.unpack_from(raw, _HEAD.size)
    dst, dst_bias = rest[:8], rest[8]
    info = TimeZoneInfo(
        bias=bias,
        standard_name=_name(std_name),
        standard_date=SystemTime(*std),
        standard_bias=std_bias,
        daylight_name=_name(dst_name),
        daylight_date=SystemTime(*dst),
        daylight_bias=dst_bias,
    )
    if abs(bias) > 24 * 60 or abs(std_bias) > 24 * 60 or abs(dst_bias) > 24 * 60:
        log.warning("ignoring a TimeZone with an impossible bias %d; using UTC", bias)
        return None
    dates_ok = info.standard_date.valid() and info.daylight_date.valid()
    if not info.daylight_date.month or not info.standard_date.month or not dates_ok:
        if info.daylight_date.month and not dates_ok:
            log.warning("ignoring unreadable DST rules in a TimeZone blob")
        # SOGo: garbage in StandardDate when DaylightDate is all zero (Q10).
        info = replace(
            info, standard_date=SystemTime(), daylight_date=SystemTime(), daylight_bias=0
        )
    return info


def encode_blob(info: TimeZoneInfo) -> str:
    raw = _HEAD.pack(info.bias, _encode_name(info.standard_name), *info.standard_date.pack())
    raw += _MIDDLE.pack(
        info.standard_bias,
        _encode_name(info.daylight_name),
        *info.daylight_date.pack(),
        info.daylight_bias,
    )
    assert len(raw) == BLOB_SIZE
    return base64.b64encode(raw).decode("ascii")


# --- tzinfo → TimeZoneInfo ------------------------------------------------------------------

OLSON_TO_WINDOWS: dict[str, str] = {}
for _win, _olson in sorted(WINDOWS_TO_OLSON.items()):
    OLSON_TO_WINDOWS.setdefault(_olson, _win)


def zone_key(tz: tzinfo | None) -> str | None:
    """The IANA key of a zone, or its own name for a RuleZone; None for naive/UTC-less."""
    if tz is None:
        return None
    key = getattr(tz, "key", None)
    if isinstance(key, str):
        return key
    if isinstance(tz, RuleZone):
        return tz.name
    if tz.utcoffset(datetime(2000, 1, 1)) == timedelta(0) and tz.tzname(None) in ("UTC", "Z"):
        return "UTC"
    return None


def _offset(tz: tzinfo, moment: datetime) -> timedelta:
    offset = moment.replace(tzinfo=UTC).astimezone(tz).utcoffset()
    return offset if offset is not None else timedelta(0)


def offset_transitions(tz: tzinfo, year: int) -> list[tuple[datetime, timedelta, timedelta]]:
    """Every (naive UTC instant, offset before, offset after) change within ``year``."""
    found: list[tuple[datetime, timedelta, timedelta]] = []
    start = datetime(year, 1, 1)
    previous = _offset(tz, start)
    for day in range(1, 367):
        moment = start + timedelta(days=day)
        if moment.year > year:
            moment = datetime(year + 1, 1, 1)
        current = _offset(tz, moment)
        if current != previous:
            low, high = moment - timedelta(days=1), moment
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                middle = middle.replace(second=0, microsecond=0)
                if middle <= low:
                    middle = low + timedelta(minutes=1)
                if _offset(tz, middle) == previous:
                    low = middle
                else:
                    high = middle
            found.append((high, previous, current))
            previous = current
        if moment.year > year:
            break
    return found


def _system_time(local: datetime) -> SystemTime:
    week = (local.day - 1) // 7 + 1
    if (local + timedelta(days=7)).month != local.month:
        week = 5  # the last such weekday of the month
    return SystemTime(
        month=local.month,
        day_of_week=(local.weekday() + 1) % 7,
        day=week,
        hour=local.hour,
        minute=local.minute,
        second=local.second,
    )


def info_from_zone(tz: tzinfo | None, year: int) -> TimeZoneInfo:
    """TIME_ZONE_INFORMATION describing ``tz`` in ``year`` (None, UTC → all zero)."""
    if tz is None:
        return ZERO
    if isinstance(tz, RuleZone):
        return tz.info
    key = zone_key(tz)
    if key is not None and isinstance(tz, ZoneInfo):
        return _info_for_key(key, year)
    return _info_from_tzinfo(tz, year, key)


@lru_cache(maxsize=1024)
def _info_for_key(key: str, year: int) -> TimeZoneInfo:
    return _info_from_tzinfo(ZoneInfo(key), year, key)


def _info_from_tzinfo(tz: tzinfo, year: int, key: str | None) -> TimeZoneInfo:
    changes = offset_transitions(tz, year)
    name = OLSON_TO_WINDOWS.get(key or "", key or "")[:31]
    if key in ("UTC", "Etc/UTC", "Etc/GMT", "GMT", "Z"):
        return ZERO
    offsets = {before for _, before, _ in changes} | {after for _, _, after in changes}
    if len(changes) != 2 or len(offsets) != 2:
        # No DST this year (or an irregular year): the offset in force at its end.
        offset = _offset(tz, datetime(year, 12, 31, 12))
        return TimeZoneInfo(
            bias=-int(offset.total_seconds() // 60), standard_name=name, daylight_name=name
        )
    standard, daylight = min(offsets), max(offsets)
    dates: dict[timedelta, SystemTime] = {}
    for moment, before, after in changes:
        dates[after] = _system_time(moment + before)
    std_minutes = int(standard.total_seconds() // 60)
    return TimeZoneInfo(
        bias=-std_minutes,
        standard_name=name,
        standard_date=dates[standard],
        standard_bias=0,
        daylight_name=name,
        daylight_date=dates[daylight],
        daylight_bias=-int((daylight - standard).total_seconds() // 60),
    )


# --- TimeZoneInfo → tzinfo ------------------------------------------------------------------


class RuleZone(tzinfo):
    """A zone that applies one TIME_ZONE_INFORMATION's rules to every year.

    Used when no IANA zone has the same rules; written to iCalendar as a VTIMEZONE
    with yearly RRULEs (``vtimezone_for``)."""

    def __init__(self, info: TimeZoneInfo, name: str | None = None) -> None:
        self.info = info
        self.name = name or info.standard_name or _offset_name(info.standard_offset)

    def __repr__(self) -> str:
        return f"RuleZone({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RuleZone) and other.info == self.info

    def __hash__(self) -> int:
        return hash(self.info)

    def _in_dst_wall(self, dt: datetime) -> bool:
        spans = self.info.transitions_utc(dt.year)
        if spans is None:
            return False
        wall = dt.replace(tzinfo=None)
        dst_start = spans[0] + self.info.standard_offset
        std_start = spans[1] + self.info.daylight_offset
        if dst_start < std_start:
            return dst_start <= wall < std_start
        return wall >= dst_start or wall < std_start

    def utcoffset(self, dt: datetime | None) -> timedelta:
        if dt is None:
            return self.info.standard_offset
        return self.info.daylight_offset if self._in_dst_wall(dt) else self.info.standard_offset

    def dst(self, dt: datetime | None) -> timedelta:
        if dt is None or not self._in_dst_wall(dt):
            return timedelta(0)
        return self.info.daylight_offset - self.info.standard_offset

    def tzname(self, dt: datetime | None) -> str:
        return self.name

    def fromutc(self, dt: datetime) -> datetime:
        offset = self.info.offset_at_utc(dt.replace(tzinfo=None))
        return (dt + offset).replace(tzinfo=self)


def _offset_name(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def _candidates(info: TimeZoneInfo) -> list[str]:
    first: list[str] = []
    for name in (info.standard_name, info.daylight_name):
        if name in WINDOWS_TO_OLSON:
            first.append(WINDOWS_TO_OLSON[name])
        elif "/" in name:
            first.append(name)  # we write IANA keys for zones without a Windows name
    return list(dict.fromkeys([*first, *_ALL_CANDIDATES]))


_ALL_CANDIDATES = sorted(set(WINDOWS_TO_OLSON.values()) | {"Europe/Dublin", "Asia/Kolkata"})


@lru_cache(maxsize=512)
def zone_from_info(info: TimeZoneInfo, year: int) -> tzinfo:
    """The IANA zone with the rules of ``info`` in ``year``, else a RuleZone.
    The all-zero blob and plain UTC give ``ZoneInfo("UTC")``."""
    if info.is_zero or (not info.has_dst and info.standard_offset == timedelta(0)):
        return ZoneInfo("UTC")
    wanted = info.rules_key(year)
    for key in _candidates(info):
        try:
            candidate = _info_for_key(key, year)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        if candidate.rules_key(year) == wanted:
            return ZoneInfo(key)
    return RuleZone(info)


def zone_by_name(name: str | None) -> tzinfo | None:
    """An IANA or Windows zone name → ZoneInfo; None if unknown."""
    if not name:
        return None
    key = WINDOWS_TO_OLSON.get(name, name)
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        return None
