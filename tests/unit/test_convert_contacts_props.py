"""Hypothesis properties of the contacts converter.

The key one: local → to_eas → (WBXML) → from_eas → merge(…, local) gives the local
card back, property for property, whatever the card holds (design rule 2).
"""

from __future__ import annotations

import base64
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eassync.convert import contacts
from eassync.convert.contacts import HANDLER, display_name, values_from_elements
from eassync.convert.vcard import Card, escape, fold, line_text, parse, serialize
from eassync.eas import wbxml
from eassync.eas.element import E, Element
from eassync.storage.base import Item

VERSION = "14.1"
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ALPHABET = st.sampled_from(list("abcXYZ019 ,;:\\\"'<>@.-+äß山🎌"))
word = st.text(ALPHABET, min_size=0, max_size=12)
multiline = st.lists(word, min_size=1, max_size=3).map("\n".join)
escaped = word.map(escape)


def structured(n: int) -> st.SearchStrategy[str]:
    return st.lists(word, min_size=n, max_size=n).map(lambda parts: ";".join(map(escape, parts)))


def types_param(pool: list[str]) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(pool), max_size=3, unique=True).map(
        lambda ts: f";TYPE={','.join(ts)}" if ts else ""
    )


PHONE_TYPES = [
    "CELL", "HOME", "WORK", "FAX", "CAR", "PAGER", "VOICE", "X-EVOLUTION-RADIO",
    "X-EVOLUTION-ASSISTANT", "X-EVOLUTION-COMPANY", "X-MMS", "TEXT", "IPHONE", "OTHER", "PREF",
]  # fmt: skip
ADR_TYPES = ["HOME", "WORK", "OTHER", "POSTAL", "PREF"]
EMAIL_TYPES = ["INTERNET", "HOME", "WORK", "PREF"]
dates = st.dates(min_value=date(1601, 1, 1), max_value=date(2200, 12, 31))
photo = st.binary(min_size=1, max_size=64).map(lambda b: base64.b64encode(b"\xff\xd8" + b).decode())


def date_text(version: str) -> st.SearchStrategy[str]:
    return st.one_of(
        dates.map(lambda d: d.strftime("%Y%m%d" if version == "4.0" else "%Y-%m-%d")),
        st.just("--0315"),
        st.just("not a date"),
    )


def line(version: str) -> st.SearchStrategy[str]:
    return st.one_of(
        escaped.map(lambda v: f"FN:{v}"),
        structured(5).map(lambda v: f"N:{v}"),
        escaped.map(lambda v: f"NICKNAME:{v}"),
        st.integers(1, 3).flatmap(structured).map(lambda v: f"ORG:{v}"),
        escaped.map(lambda v: f"TITLE:{v}"),
        multiline.map(lambda v: f"NOTE:{escape(v)}"),
        escaped.map(lambda v: f"URL:{v}"),
        st.tuples(types_param(EMAIL_TYPES), escaped).map(lambda t: f"EMAIL{t[0]}:{t[1]}"),
        st.tuples(types_param(PHONE_TYPES), escaped).map(lambda t: f"TEL{t[0]}:{t[1]}"),
        st.tuples(types_param(ADR_TYPES), structured(7)).map(lambda t: f"ADR{t[0]}:{t[1]}"),
        date_text(version).map(lambda v: f"BDAY:{v}"),
        date_text(version).map(
            lambda v: f"{'ANNIVERSARY' if version == '4.0' else 'X-ANNIVERSARY'}:{v}"
        ),
        st.tuples(st.sampled_from(["spouse", "child", "friend"]), escaped).map(
            lambda t: (
                f"RELATED;TYPE={t[0]};VALUE=text:{t[1]}"
                if version == "4.0"
                else f"X-{'SPOUSE' if t[0] == 'spouse' else 'CHILD'}:{t[1]}"
            )
        ),
        escaped.map(lambda v: f"X-ASSISTANT:{v}"),
        escaped.map(lambda v: f"X-MANAGER:{v}"),
        st.lists(escaped, max_size=3).map(lambda vs: f"CATEGORIES:{','.join(vs)}"),
        word.map(lambda v: f"IMPP:xmpp:{v}"),
        escaped.map(lambda v: f"X-AIM:{v}"),
        photo.map(
            lambda b: (
                f"PHOTO:data:image/jpeg;base64,{b}"
                if version == "4.0"
                else f"PHOTO;ENCODING=b;TYPE=JPEG:{b}"
            )
        ),
        st.just("PHOTO;VALUE=uri:https://example.org/p.jpg"),
        escaped.map(lambda v: f"X-PHONETIC-FIRST-NAME:{v}"),
        escaped.map(lambda v: f"X-EAS-CUSTOMERID:{v}"),
        escaped.map(lambda v: f"X-EAS-OFFICELOCATION:{v}"),
        st.sampled_from(["GENDER:F", 'X-FOO;X-P="a:b":zz', "REV:20240101T000000Z", "UID:u-1"]),
        escaped.map(lambda v: f"item1.X-ABLabel:{v}"),
    )


@st.composite
def vcards(draw: st.DrawFn) -> Item:
    version = draw(st.sampled_from(["3.0", "4.0"]))
    lines = draw(st.lists(line(version), max_size=14))
    body = ["BEGIN:VCARD", f"VERSION:{version}", *lines, "END:VCARD"]
    return Item(("\r\n".join(body) + "\r\n").encode(), None)


def wire(data: Element) -> Element:
    found = wbxml.decode(wbxml.encode(E("AirSync:Sync", data))).find("AirSync:ApplicationData")
    assert found is not None
    return found


@SETTINGS
@given(vcards())
def test_local_round_trip_through_eas_gives_the_local_card_back(local: Item) -> None:
    remote = HANDLER.from_eas(wire(HANDLER.to_eas(local, VERSION)), VERSION)
    merged = HANDLER.merge(remote, local)
    assert parse(merged.raw).properties == parse(local.raw).properties
    assert HANDLER.fingerprint(merged) == HANDLER.fingerprint(local)


@SETTINGS
@given(vcards())
def test_projection_is_idempotent(local: Item) -> None:
    once = HANDLER.project(local, VERSION)
    assert HANDLER.project(once, VERSION).raw == once.raw


@SETTINGS
@given(vcards(), st.randoms(use_true_random=False))
def test_fingerprint_ignores_order_and_folding(local: Item, rnd: object) -> None:
    card = parse(local.raw)
    shuffled = list(card.properties)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    refolded = serialize(Card(shuffled)).replace(b"\r\n", b"\n")
    assert HANDLER.fingerprint(Item(refolded)) == HANDLER.fingerprint(local)


# --- EAS side -------------------------------------------------------------------------------

TEXT_TAGS = [
    t
    for t in contacts.TAG_ORDER
    if t not in (contacts.BODY, contacts.PICTURE, contacts.BIRTHDAY, contacts.ANNIVERSARY)
    and t not in contacts.LIST_TAGS
]


@st.composite
def app_data(draw: st.DrawFn) -> Element:
    data = E("AirSync:ApplicationData")
    for tag in draw(st.lists(st.sampled_from(TEXT_TAGS), unique=True, max_size=20)):
        text = draw(multiline if tag in contacts.STREETS else word)
        data.append(E(tag, value=text.replace("\n", "\r\n")))
    for tag in (contacts.BIRTHDAY, contacts.ANNIVERSARY):
        if draw(st.booleans()):
            day = draw(dates)
            data.append(E(tag, value=f"{day.isoformat()}T00:00:00.000Z"))
    for tag, item in contacts.LIST_TAGS.items():
        names = draw(st.lists(word, max_size=3))
        if names:
            data.append(E(tag, *(E(item, value=n) for n in names)))
    if draw(st.booleans()):
        data.append(E(contacts.PICTURE, value=draw(photo)))
    if draw(st.booleans()):
        body = draw(multiline).replace("\n", "\r\n")
        data.append(
            E(contacts.BODY, E("AirSyncBase:Type", value="1"), E("AirSyncBase:Data", value=body))
        )
    return data


@SETTINGS
@given(app_data())
def test_eas_to_vcard_to_eas_keeps_every_value(data: Element) -> None:
    sent, _ = values_from_elements(data)
    back, _ = values_from_elements(HANDLER.to_eas(HANDLER.from_eas(wire(data), VERSION), VERSION))
    if contacts.FILE_AS not in sent:  # we always send a FileAs (SOGo Q17)
        sent[contacts.FILE_AS] = display_name(sent)
        if not sent[contacts.FILE_AS]:
            del sent[contacts.FILE_AS]
    assert back == sent


# arbitrary (also nonsensical) server data: never a crash, always a card we can read back
any_value = st.one_of(st.none(), st.text(max_size=20), st.binary(max_size=20))
any_tag = st.sampled_from([*contacts.TAG_ORDER, "Contacts:Alias", "Contacts:Category", "Email:To"])
elements = st.recursive(
    st.builds(lambda t, v: E(t, value=v), any_tag, any_value),
    lambda kids: st.builds(lambda t, cs: E(t, *cs), any_tag, st.lists(kids, max_size=4)),
    max_leaves=20,
)


@SETTINGS
@given(st.lists(elements, max_size=12))
def test_weird_server_data_never_crashes(children: list[Element]) -> None:
    item = HANDLER.from_eas(E("AirSync:ApplicationData", *children), VERSION)
    card = parse(item.raw)
    assert card.version == "3.0"
    assert all(len(fold(line_text(p)).split("\r\n")[0].encode()) <= 75 for p in card.properties)
    HANDLER.to_eas(item, VERSION)
    HANDLER.fingerprint(item)
