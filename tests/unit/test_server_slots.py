"""What a folder's server holds (eassync.sync.slots) and how the contacts handler uses
it: the projection leaves dropped fields out, the merge keeps local values the server
is not known to hold, and a server copy is recognised although it lacks them."""

from __future__ import annotations

from eassync.convert.contacts import ContactsHandler, slots_of_data
from eassync.eas.element import E
from eassync.model.knowledge import SlotKnowledge
from eassync.storage.base import Item

ANNIVERSARY, SPOUSE = "Contacts:Anniversary", "Contacts:Spouse"
TITLE, STREET = "Contacts:JobTitle", "Contacts:HomeAddressStreet"

CARD = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u-1\r\nFN:Ada Lovelace\r\nN:Lovelace;Ada;;;\r\n"
    "TITLE:Analyst\r\nX-ANNIVERSARY:1835-07-08\r\nX-SPOUSE:William King\r\n"
    "ADR;TYPE=HOME:;;1 Main St\\nFlat 2\\nBack door;London;;;UK\r\nEND:VCARD\r\n"
)


def _card(text: str = CARD) -> Item:
    return Item(text.encode(), "u-1")


def _server_copy(handler: ContactsHandler, local: Item, drop: set[str], street: str = "") -> Item:
    """What a server that drops ``drop`` (and lays the street out as ``street``) sends."""
    data = handler.to_eas(local, "14.1")
    children = [c for c in data.children if c.tag not in drop]
    if street:
        children = [E(STREET, value=street) if c.tag == STREET else c for c in children]
    return ContactsHandler().from_eas(E(data.tag, *children), "14.1")


def test_downloads_mark_slots_held_and_read_back_marks_the_missing_ones_dropped() -> None:
    knowledge = SlotKnowledge()
    knowledge.saw({TITLE})
    knowledge.read_back(sent={TITLE, ANNIVERSARY, SPOUSE}, returned={TITLE, SPOUSE})
    assert knowledge.held == {TITLE, SPOUSE}
    assert knowledge.dropped == {ANNIVERSARY}
    assert knowledge.unclassified({TITLE, ANNIVERSARY, STREET}) == {STREET}
    # a server that sends a dropped slot after all (an upgrade) holds it
    knowledge.saw({ANNIVERSARY})
    assert knowledge.dropped == set()
    assert ANNIVERSARY in knowledge.held


def test_knowledge_survives_a_dump_and_ignores_garbage() -> None:
    knowledge = SlotKnowledge()
    knowledge.read_back(sent={TITLE, ANNIVERSARY}, returned={TITLE})
    assert knowledge.dirty
    copy = SlotKnowledge()
    copy.load(knowledge.dump())
    assert (copy.held, copy.dropped, copy.dirty) == ({TITLE}, {ANNIVERSARY}, False)
    assert copy.dropped_key == frozenset({ANNIVERSARY})
    for garbage in ("not json", "[1, 2]", '{"held": 5}', None):
        copy.load(garbage)
        assert (copy.held, copy.dropped) == (set(), set())


def test_slots_of_data_are_the_filled_tags_as_sent() -> None:
    data = E(
        "AirSync:ApplicationData",
        E("Contacts:FirstName", value="Ada"),
        E("Contacts:LastName", value=""),
        E("Contacts2:IMAddress", value="a@x"),
        E("Contacts2:IMAddress3", value="c@x"),
        E("Contacts:Picture", value="https://sogo.example/photo"),
        E("AirSyncBase:Body", E("AirSyncBase:Type", value="1"), E("AirSyncBase:Data", value="")),
        E("Contacts:Categories", E("Contacts:Category", value="x")),
        E("Contacts:WeightedRank", value="3"),
    )
    assert slots_of_data(data) == {
        "Contacts:FirstName",
        "Contacts2:IMAddress",
        "Contacts2:IMAddress3",  # not compacted into IMAddress2
        "Contacts:Picture",  # a URL: held, in a form we cannot read
        "Contacts:Categories",
    }


def test_from_eas_teaches_the_handler_what_the_server_sent() -> None:
    knowledge = SlotKnowledge()
    handler = ContactsHandler(knowledge)
    handler.from_eas(handler.to_eas(_card(), "14.1"), "14.1")
    assert {TITLE, ANNIVERSARY, STREET} <= knowledge.held
    # a projection is not a download: it teaches nothing
    fresh = SlotKnowledge()
    ContactsHandler(fresh).project(_card(), "14.1")
    assert fresh.held == set()


def test_projection_leaves_out_what_the_server_drops() -> None:
    knowledge = SlotKnowledge()
    handler = ContactsHandler(knowledge)
    assert b"X-ANNIVERSARY" in handler.project(_card(), "14.1").raw
    knowledge.read_back(sent={TITLE, ANNIVERSARY}, returned={TITLE})
    projected = handler.project(_card(), "14.1")
    assert b"X-ANNIVERSARY" not in projected.raw
    assert b"X-SPOUSE" in projected.raw  # unclassified: predicted as held
    server = _server_copy(handler, _card(), {ANNIVERSARY})
    assert handler.fingerprint(handler.with_uid(server, "u-1")) == handler.fingerprint(
        handler.with_uid(projected, "u-1")
    )


def test_merge_keeps_local_values_of_slots_the_server_is_not_known_to_hold() -> None:
    knowledge = SlotKnowledge()
    handler = ContactsHandler(knowledge)
    knowledge.read_back(sent={TITLE, ANNIVERSARY, STREET}, returned={TITLE, STREET})
    changed = _card(CARD.replace("TITLE:Analyst", "TITLE:Countess"))
    server = _server_copy(handler, changed, {ANNIVERSARY, SPOUSE})
    merged = handler.merge(server, _card()).raw.decode()
    assert "TITLE:Countess" in merged
    assert "X-ANNIVERSARY:1835-07-08" in merged  # dropped by the server
    assert "X-SPOUSE:William King" in merged  # never seen: not known to be held


def test_merge_follows_a_delete_of_a_slot_the_server_holds() -> None:
    knowledge = SlotKnowledge()
    handler = ContactsHandler(knowledge)
    knowledge.saw({TITLE, SPOUSE, ANNIVERSARY})
    server = _server_copy(handler, _card(), {SPOUSE, TITLE})
    merged = handler.merge(server, _card()).raw.decode()
    assert "X-SPOUSE" not in merged
    assert "TITLE" not in merged
    assert "X-ANNIVERSARY:1835-07-08" in merged


def test_a_street_laid_out_anew_by_the_server_is_not_a_change() -> None:
    handler = ContactsHandler(SlotKnowledge())
    joined = "1 Main St\r\nFlat 2 Back door"  # SOGo keeps two lines
    server = _server_copy(handler, _card(), set(), street=joined)
    merged = handler.merge(server, _card()).raw.decode()
    assert "1 Main St\\nFlat 2\\nBack door" in merged
    moved = _server_copy(handler, _card(), set(), street="2 High St")
    assert "2 High St" in handler.merge(moved, _card()).raw.decode()


def test_same_held_content_and_anchor() -> None:
    knowledge = SlotKnowledge()
    handler = ContactsHandler(knowledge)
    joined = "1 Main St\r\nFlat 2 Back door"
    server = _server_copy(handler, _card(), {ANNIVERSARY, SPOUSE}, street=joined)
    handler.from_eas(handler.to_eas(server, "14.1"), "14.1")  # the download teaches
    assert handler.match_anchor(server) == handler.match_anchor(_card()) != ""
    assert handler.same_held_content(_card(), server, "14.1")
    # a slot the server holds and that differs: another contact (or another version)
    other = _server_copy(handler, _card(CARD.replace("Analyst", "Poet")), {ANNIVERSARY})
    assert not handler.same_held_content(_card(), other, "14.1")
    # a slot the server is known to hold, missing from its copy: not the same either
    knowledge.saw({SPOUSE})
    assert not handler.same_held_content(_card(), server, "14.1")
