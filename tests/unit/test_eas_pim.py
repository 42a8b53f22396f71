"""Builders and parsers of eassync/eas/pim.py (MeetingResponse, Search GAL,
ResolveRecipients Availability, Settings Oof): request bytes, version rules, and
answers from a careless or hostile server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eassync.eas import pim
from eassync.eas.element import E
from eassync.eas.wbxml import decode, encode
from eassync.eas.xmlform import from_xml

START = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def test_meeting_response_14_1_bytes() -> None:
    body = pim.build_meeting_response([pim.MeetingRequest("accept", "7", "7:12")], "14.1")
    # header; SWITCH_PAGE 8; MeetingResponse, Request, UserResponse "1", CollectionId
    # "7", RequestId "7:12" (content tags have bit 0x40), each closed by END (01)
    assert encode(body) == bytes.fromhex("03016a00000847494c0331000146033700014803373a313200010101")


def test_meeting_response_16_sends_only_when_asked_and_carries_the_comment() -> None:
    sent = pim.build_meeting_response(
        [pim.MeetingRequest("tentative", "7", "7:12", comment="late")], "16.1"
    )
    silent = pim.build_meeting_response(
        [pim.MeetingRequest("decline", "7", "7:12", send=False)], "16.1"
    )

    request = sent.find("MeetingResponse:Request")
    assert request is not None
    assert request.text("MeetingResponse:UserResponse") == "2"
    assert request.text("MeetingResponse:SendResponse/AirSyncBase:Body/AirSyncBase:Data") == "late"
    assert silent.find("MeetingResponse:Request/MeetingResponse:SendResponse") is None
    assert silent.find("MeetingResponse:Request/MeetingResponse:UserResponse").value == "3"  # type: ignore[union-attr]


@pytest.mark.parametrize("version", ["12.1", "14.0", "14.1"])
def test_meeting_response_before_16_refuses_no_send_and_comments(version: str) -> None:
    with pytest.raises(ValueError, match=r"16\.0"):
        pim.build_meeting_response([pim.MeetingRequest("accept", "7", "1", send=False)], version)
    with pytest.raises(ValueError, match=r"16\.0"):
        pim.build_meeting_response([pim.MeetingRequest("accept", "7", "1", comment="x")], version)


def test_meeting_response_results_keep_status_and_calendar_id() -> None:
    root = from_xml(
        b'<MeetingResponse xmlns="MeetingResponse:"><Result><RequestId>7:12</RequestId>'
        b"<Status>2</Status></Result><Result><RequestId>7:13</RequestId><Status>1</Status>"
        b"<CalendarId>7:13</CalendarId></Result></MeetingResponse>"
    )
    results = pim.parse_meeting_response(root)
    assert [(r.request_id, r.status, r.calendar_id) for r in results] == [
        ("7:12", 2, None),
        ("7:13", 1, "7:13"),
    ]


def test_search_gal_request_pictures_only_from_14_1() -> None:
    old = pim.build_search_gal("ann", 0, 9, "14.0", picture_max_size=1000, max_pictures=10)
    new = pim.build_search_gal("ann", 0, 9, "14.1", picture_max_size=1000, max_pictures=10)
    assert old.find("Search:Store/Search:Options/Search:Picture") is None
    assert new.text("Search:Store/Search:Options/Search:Picture/Search:MaxSize") == "1000"
    assert new.text("Search:Store/Search:Options/Search:Range") == "0-9"
    with pytest.raises(ValueError, match="range"):
        pim.build_search_gal("ann", 5, 4, "14.1")


def _gal_answer(results: list[object], extra: list[object] | None = None) -> object:
    return E(
        "Search:Search",
        E("Search:Status", value=1),
        E(
            "Search:Response",
            E("Search:Store", E("Search:Status", value=1), *results, *(extra or [])),
        ),  # type: ignore[arg-type]
    )


def test_search_gal_parser_caps_a_flood_and_oversized_fields() -> None:
    big = E("Search:Result", E("Search:Properties", E("Gal:DisplayName", value="x" * 100_000)))
    flood = [
        E("Search:Result", E("Search:Properties", E("Gal:EmailAddress", value=f"u{i}@x")))
        for i in range(pim.MAX_RESULTS + 50)
    ]
    page = pim.parse_search_gal(
        _gal_answer([big, *flood], [E("Search:Range", value="9-3"), E("Search:Total", value=-5)])
    )  # type: ignore[arg-type]

    assert len(page.entries) == pim.MAX_RESULTS
    assert len(page.entries[0].display_name or "") == pim.MAX_FIELD
    assert page.range is None  # 9-3 is no range
    assert page.total is None


def test_search_gal_parser_reads_the_empty_result_and_bad_pictures() -> None:
    empty = pim.parse_search_gal(_gal_answer([E("Search:Result")], [E("Search:Total", value=0)]))  # type: ignore[arg-type]
    bad_picture = E(
        "Search:Result",
        E(
            "Search:Properties",
            E("Gal:EmailAddress", value="a@x"),
            E("Gal:Picture", E("Gal:Status", value=1), E("Gal:Data", value="%%%not base64")),
        ),
    )
    no_photo = E(
        "Search:Result",
        E(
            "Search:Properties",
            E("Gal:EmailAddress", value="b@x"),
            E("Gal:Picture", E("Gal:Status", value=173)),
        ),
    )
    page = pim.parse_search_gal(_gal_answer([bad_picture, no_photo]))  # type: ignore[arg-type]

    assert empty.entries == []
    assert empty.total == 0
    assert [e.email for e in page.entries] == ["a@x", "b@x"]
    assert all(e.picture in (None, b"") for e in page.entries)


def test_resolve_availability_request_and_limits() -> None:
    body = pim.build_resolve_availability(["a@x"], START, START + timedelta(hours=8), "14.0")
    assert (
        body.text(
            "ResolveRecipients:Options/ResolveRecipients:Availability/ResolveRecipients:StartTime"
        )
        == "2026-12-07T08:00:00.000Z"
    )
    assert decode(encode(body)) == body
    with pytest.raises(ValueError, match=r"14\.0"):
        pim.build_resolve_availability(["a@x"], START, START + timedelta(hours=1), "12.1")
    with pytest.raises(ValueError, match="20"):
        pim.build_resolve_availability(
            [f"u{i}@x" for i in range(21)], START, START + timedelta(hours=1), "14.1"
        )
    with pytest.raises(ValueError, match="after"):
        pim.build_resolve_availability(["a@x"], START, START, "14.1")


def test_resolve_recipients_parser_caps_the_free_busy_string() -> None:
    root = E(
        "ResolveRecipients:ResolveRecipients",
        E("ResolveRecipients:Status", value=1),
        E(
            "ResolveRecipients:Response",
            E("ResolveRecipients:To", value="a@x"),
            E("ResolveRecipients:Status", value=1),
            E(
                "ResolveRecipients:Recipient",
                E("ResolveRecipients:EmailAddress", value="a@x"),
                E(
                    "ResolveRecipients:Availability",
                    E("ResolveRecipients:Status", value=1),
                    E("ResolveRecipients:MergedFreeBusy", value="2" * 10**6),
                ),
            ),
        ),
    )
    result = pim.parse_resolve_recipients(root)
    (rec,) = result.responses[0].recipients
    assert len(rec.merged_free_busy or "") == pim.MAX_FREEBUSY


def test_oof_set_scheduled_order_and_refusals() -> None:
    settings = pim.OofSettings(
        2,
        START,
        START + timedelta(days=3),
        [
            pim.OofMessage("internal", True, "away", "Text"),
            pim.OofMessage("external_unknown", False, None),
        ],
    )
    body = pim.build_oof_set(settings)
    put = body.find("Settings:Oof/Settings:Set")
    assert put is not None
    assert [c.name for c in put] == ["OofState", "StartTime", "EndTime", "OofMessage", "OofMessage"]
    assert [c.name for c in put.children[3]] == [
        "AppliesToInternal",
        "Enabled",
        "ReplyMessage",
        "BodyType",
    ]
    assert [c.name for c in put.children[4]] == ["AppliesToExternalUnknown", "Enabled"]
    with pytest.raises(ValueError, match="start and an end"):
        pim.build_oof_set(pim.OofSettings(2, START, None))
    with pytest.raises(ValueError, match="after"):
        pim.build_oof_set(pim.OofSettings(2, START, START))


def test_oof_get_answer_is_read_whatever_the_case_of_body_type() -> None:
    root = from_xml(
        b'<Settings xmlns="Settings:"><Status>1</Status><Oof><Status>1</Status><Get>'
        b"<OofState>2</OofState><StartTime>2026-12-24T00:00:00.000Z</StartTime>"
        b"<EndTime>garbage</EndTime><OofMessage><AppliesToInternal/><Enabled>1</Enabled>"
        b"<ReplyMessage>Away</ReplyMessage><BodyType>TEXT</BodyType></OofMessage>"
        b"<OofMessage><Enabled>1</Enabled></OofMessage></Get></Oof></Settings>"
    )
    status, oof_status, settings = pim.parse_oof(root)
    assert (status, oof_status) == (1, 1)
    assert settings is not None
    assert settings.state == 2
    assert settings.start == datetime(2026, 12, 24, tzinfo=UTC)
    assert settings.end is None  # a bad date is no date, not a crash
    assert [(m.audience, m.text, m.body_type) for m in settings.messages] == [
        ("internal", "Away", "Text")
    ]


@given(
    st.datetimes(
        timezones=st.just(UTC), min_value=datetime(1990, 1, 1), max_value=datetime(2200, 1, 1)
    )
)
def test_eas_datetime_round_trips(moment: datetime) -> None:
    moment = moment.replace(microsecond=0)
    assert pim.parse_eas_datetime(pim.eas_datetime(moment)) == moment
