"""The devserver's MeetingResponse, Search GAL, ResolveRecipients and Settings Oof
follow MS-ASCMD where the CLI tests do not reach: limits and refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from eassync.devserver.commands import Caches, Context, ServerSettings, handlers
from eassync.devserver.store import Store
from eassync.eas.element import E, Element


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "devserver.sqlite3")
    s.ensure_user("alice")
    s.ensure_user("bob")
    yield s
    s.close()


def call(store: Store, command: str, body: Element, version: str = "14.1") -> Element:
    ctx = Context(store, ServerSettings(), Caches(), "alice", "dev1", "test", version)
    answer = handlers()[command](ctx, body)
    assert answer is not None
    return answer


def gal_search(store: Store, query: str, rng: str) -> Element:
    body = E(
        "Search:Search",
        E(
            "Search:Store",
            E("Search:Name", value="GAL"),
            E("Search:Query", value=query),
            E("Search:Options", E("Search:Range", value=rng)),
        ),
    )
    return call(store, "Search", body)


def test_gal_range_past_the_100th_entry_is_status_12(store: Store) -> None:
    entries = [{"display_name": f"P{i}", "email": f"p{i}@x.org"} for i in range(150)]
    (store.path.parent / "gal.json").write_text(json.dumps({"entries": entries}), "utf-8")

    page = gal_search(store, "x.org", "90-99")
    beyond = gal_search(store, "x.org", "90-109")

    assert page.text("Search:Response/Search:Store/Search:Range") == "90-99"
    assert page.text("Search:Response/Search:Store/Search:Total") == "150"
    assert beyond.text("Search:Response/Search:Store/Search:Status") == "12"


def test_availability_for_more_than_20_recipients_is_status_160(store: Store) -> None:
    body = E(
        "ResolveRecipients:ResolveRecipients",
        *(E("ResolveRecipients:To", value="bob@devserver.test") for _ in range(21)),
        E(
            "ResolveRecipients:Options",
            E(
                "ResolveRecipients:Availability",
                E("ResolveRecipients:StartTime", value="2030-01-01T00:00:00.000Z"),
                E("ResolveRecipients:EndTime", value="2030-01-01T02:00:00.000Z"),
            ),
        ),
    )
    answer = call(store, "ResolveRecipients", body)
    statuses = {
        r.text(
            "ResolveRecipients:Recipient/ResolveRecipients:Availability/ResolveRecipients:Status"
        )
        for r in answer.findall("ResolveRecipients:Response")
    }
    assert statuses == {"160"}


def test_meeting_response_instance_id_before_14_1_and_unknown_items_are_status_2(
    store: Store,
) -> None:
    cal = store.default_folder("alice", 8)

    def request(*extra: Element) -> Element:
        return E(
            "MeetingResponse:MeetingResponse",
            E(
                "MeetingResponse:Request",
                E("MeetingResponse:UserResponse", value=1),
                E("MeetingResponse:CollectionId", value=cal),
                E("MeetingResponse:RequestId", value=f"{cal}:999"),
                *extra,
            ),
        )

    unknown = call(store, "MeetingResponse", request())
    instance = call(
        store,
        "MeetingResponse",
        request(E("MeetingResponse:InstanceId", value="2030-01-01T00:00:00.000Z")),
        version="14.0",
    )
    assert unknown.text("MeetingResponse:Result/MeetingResponse:Status") == "2"
    assert instance.text("MeetingResponse:Result/MeetingResponse:Status") == "2"


def test_oof_set_scheduled_without_times_is_refused_and_nothing_stored(store: Store) -> None:
    bad = E(
        "Settings:Settings", E("Settings:Oof", E("Settings:Set", E("Settings:OofState", value=2)))
    )
    get = E(
        "Settings:Settings",
        E("Settings:Oof", E("Settings:Get", E("Settings:BodyType", value="Text"))),
    )

    refused = call(store, "Settings", bad)
    current = call(store, "Settings", get)

    assert refused.text("Settings:Oof/Settings:Status") == "5"
    assert current.text("Settings:Oof/Settings:Get/Settings:OofState") == "0"
