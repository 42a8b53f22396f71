"""TIME_ZONE_INFORMATION blob ⇄ zones: known blobs, lenient parsing, property round trips."""

from __future__ import annotations

import base64
import calendar as _calendar
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eassync.convert.timezone import (
    BLOB_SIZE,
    ZERO,
    RuleZone,
    SystemTime,
    TimeZoneInfo,
    decode_blob,
    encode_blob,
    info_from_zone,
    offset_transitions,
    zone_from_info,
)

YEAR = 2025
UTC_ZONE = ZoneInfo("UTC")


def test_berlin_blob_matches_the_checked_example():
    info = info_from_zone(ZoneInfo("Europe/Berlin"), YEAR)
    assert info.bias == -60
    assert info.standard_date == SystemTime(0, 10, 0, 5, 3, 0, 0, 0)
    assert info.daylight_date == SystemTime(0, 3, 0, 5, 2, 0, 0, 0)
    assert info.daylight_bias == -60
    blob = encode_blob(info)
    assert blob.startswith("xP///")
    assert blob.endswith("xP///w==")
    assert len(base64.b64decode(blob)) == BLOB_SIZE


def test_new_york_and_utc_examples():
    info = info_from_zone(ZoneInfo("America/New_York"), YEAR)
    assert info.bias == 300
    assert (info.standard_date.month, info.standard_date.day) == (11, 1)
    assert (info.daylight_date.month, info.daylight_date.day) == (3, 2)
    utc = encode_blob(info_from_zone(UTC_ZONE, YEAR))
    assert utc == "A" * 228 + "AA=="  # 232 chars of zeros
    assert decode_blob(utc) == ZERO


@pytest.mark.parametrize(
    "key",
    [
        "Europe/Berlin",
        "America/New_York",
        "Australia/Sydney",
        "Asia/Kolkata",
        "Europe/Dublin",
        "America/Sao_Paulo",
        "Pacific/Auckland",
    ],
)
def test_known_zones_come_back_by_rules(key: str):
    info = decode_blob(encode_blob(info_from_zone(ZoneInfo(key), YEAR)))
    assert info is not None
    zone = zone_from_info(info, YEAR)
    assert _offsets(zone) == _offsets(ZoneInfo(key))


def test_dublin_negative_dst_has_the_smaller_offset_as_standard():
    info = info_from_zone(ZoneInfo("Europe/Dublin"), YEAR)
    assert info.standard_offset == timedelta(0)
    assert info.daylight_offset == timedelta(hours=1)


def test_matching_is_by_rules_not_by_name():
    info = info_from_zone(ZoneInfo("Europe/Berlin"), YEAR)
    renamed = TimeZoneInfo(
        bias=info.bias,
        standard_name="Eastern Standard Time",  # a lie: the rules are Berlin's
        standard_date=info.standard_date,
        daylight_date=info.daylight_date,
        daylight_bias=info.daylight_bias,
    )
    assert _offsets(zone_from_info(renamed, YEAR)) == _offsets(ZoneInfo("Europe/Berlin"))


def test_sogo_garbage_in_standard_date_is_ignored_without_daylight_rules():
    raw = bytearray(base64.b64decode(encode_blob(ZERO)))
    raw[68:84] = bytes.fromhex("70ea1300ff7f0102030405060708090a")
    info = decode_blob(base64.b64encode(bytes(raw)).decode())
    assert info is not None
    assert not info.has_dst
    assert zone_from_info(info, YEAR) == UTC_ZONE


def test_control_characters_in_zone_names_are_dropped():
    # found by fuzzing: a vertical tab in StandardName became a line break inside the
    # TZID, and the written .ics could not be read back
    raw = bytearray(base64.b64decode(encode_blob(TimeZoneInfo(bias=-60))))
    raw[4:20] = "Eu\x0bro\x01pe\r\n".encode("utf-16-le")
    info = decode_blob(base64.b64encode(bytes(raw)).decode())
    assert info is not None
    assert info.standard_name == "Europe"


@pytest.mark.parametrize(
    "value", ["", "   ", "not-base64!!", "AAAA", base64.b64encode(b"\x00" * 300).decode()]
)
def test_broken_blobs_are_read_leniently(value: str):
    info = decode_blob(value)
    assert info is None or not info.has_dst


def _offsets(zone: object) -> list[timedelta]:
    """UTC offset at every day of YEAR, at noon UTC."""
    start = datetime(YEAR, 1, 1, 12, tzinfo=UTC_ZONE)
    return [
        (start + timedelta(days=d)).astimezone(zone).utcoffset()  # type: ignore[arg-type]
        for d in range(365)
    ]


def _valid_rule() -> st.SearchStrategy[SystemTime]:
    return st.builds(
        SystemTime,
        month=st.integers(1, 12),
        day_of_week=st.integers(0, 6),
        day=st.integers(1, 5),
        hour=st.integers(0, 23),
        minute=st.sampled_from([0, 30]),
    )


@st.composite
def time_zone_infos(draw: st.DrawFn) -> TimeZoneInfo:
    bias = draw(st.integers(-14 * 4, 12 * 4)) * 15
    if not draw(st.booleans()):
        return TimeZoneInfo(bias=bias)
    dst, std = draw(_valid_rule()), draw(_valid_rule())
    if abs(dst.month - std.month) < 2:  # rules that overlap are not a clock
        std = SystemTime(0, (dst.month + 5) % 12 + 1, std.day_of_week, std.day, std.hour)
    return TimeZoneInfo(
        bias=bias,
        standard_date=std,
        daylight_date=dst,
        daylight_bias=draw(st.sampled_from([-60, -30, -120])),
    )


@settings(max_examples=60, deadline=None)
@given(time_zone_infos())
def test_random_rules_to_zone_to_blob_keep_every_days_offset(info: TimeZoneInfo):
    decoded = decode_blob(encode_blob(info))
    assert decoded is not None
    zone = zone_from_info(decoded, YEAR)
    back = decode_blob(encode_blob(info_from_zone(zone, YEAR)))
    assert back is not None
    assert _offsets(RuleZone(back)) == _offsets(RuleZone(info))
    assert _offsets(zone) == _offsets(RuleZone(info))


def _regular(key: str) -> bool:
    """Zones whose YEAR is one offset or one DST pair (what a blob can describe)."""
    changes = offset_transitions(ZoneInfo(key), YEAR)
    return len(changes) in (0, 2)


SAMPLE = [
    k
    for k in [
        "Europe/Berlin",
        "Europe/London",
        "Europe/Dublin",
        "Europe/Moscow",
        "America/New_York",
        "America/Los_Angeles",
        "America/Chicago",
        "America/Sao_Paulo",
        "America/St_Johns",
        "America/Havana",
        "Australia/Sydney",
        "Australia/Adelaide",
        "Australia/Lord_Howe",
        "Australia/Perth",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "Asia/Tehran",
        "Asia/Tokyo",
        "Pacific/Auckland",
        "Pacific/Chatham",
        "Pacific/Apia",
        "Africa/Cairo",
        "Asia/Jerusalem",
        "America/Santiago",
        "America/Asuncion",
        "Atlantic/Azores",
        "UTC",
    ]
    if _regular(k)
]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(SAMPLE))
def test_iana_zone_to_blob_to_zone_keeps_the_offset_around_every_transition(key: str):
    zone = ZoneInfo(key)
    back = zone_from_info(decode_blob(encode_blob(info_from_zone(zone, YEAR))) or ZERO, YEAR)
    moments = [datetime(YEAR, 1, 1, tzinfo=UTC_ZONE)]
    for instant, _before, _after in offset_transitions(zone, YEAR):
        at = instant.replace(tzinfo=UTC_ZONE)
        moments += [at - timedelta(hours=1), at, at + timedelta(hours=1)]
    for moment in moments:
        assert moment.astimezone(back).utcoffset() == moment.astimezone(zone).utcoffset()


def test_rule_zone_wall_times_and_fromutc_agree():
    zone = RuleZone(info_from_zone(ZoneInfo("Australia/Sydney"), YEAR), "Sydney rules")
    for day in range(0, 365, 7):
        instant = datetime(YEAR, 1, 1, 3, tzinfo=UTC_ZONE) + timedelta(days=day)
        local = instant.astimezone(zone)
        assert local.utcoffset() == instant.astimezone(ZoneInfo("Australia/Sydney")).utcoffset()
        assert _calendar.isleap(YEAR) is False
