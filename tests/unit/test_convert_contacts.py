"""EAS Contacts ⇄ vCard: fixtures, round trips, merge, fingerprint, server quirks."""

from __future__ import annotations

import base64
from datetime import date
from pathlib import Path

import pytest
import vobject

from eassync.convert import contacts
from eassync.convert.contacts import HANDLER, ContactsHandler
from eassync.convert.normalize import date_from_eas_datetime, date_to_eas_datetime
from eassync.convert.vcard import parse
from eassync.eas import codepages, wbxml
from eassync.eas.element import E, Element
from eassync.errors import ConversionError
from eassync.storage.base import Item

DATA = Path(__file__).parent.parent / "data" / "contacts"
GOOD = sorted(p.name for p in DATA.glob("*.vcf") if not p.name.startswith("broken_"))
BROKEN = sorted(p.name for p in DATA.glob("broken_*.vcf"))
VERSION = "14.1"


def load(name: str) -> Item:
    raw = (DATA / name).read_bytes()
    return Item(raw, None)


def card(*lines: str, version: str = "3.0") -> Item:
    body = ["BEGIN:VCARD", f"VERSION:{version}", *lines, "END:VCARD"]
    return Item(("\r\n".join(body) + "\r\n").encode(), None)


def props(item: Item) -> list[tuple[str | None, str, list[tuple[str, list[str]]], str]]:
    return [(p.group, p.name, p.params, p.value) for p in parse(item.raw).properties]


def over_the_wire(data: Element) -> Element:
    """ApplicationData through real WBXML bytes, as the server would see and echo it."""
    decoded = wbxml.decode(wbxml.encode(E("AirSync:Sync", data)))
    found = decoded.find("AirSync:ApplicationData")
    assert found is not None
    return found


def round_trip(local: Item) -> Item:
    remote = HANDLER.from_eas(over_the_wire(HANDLER.to_eas(local, VERSION)), VERSION)
    return HANDLER.merge(remote, local)


def app_data(**fields: str | Element) -> Element:
    data = E("AirSync:ApplicationData")
    for key, value in fields.items():
        page = "Contacts2" if key in {"NickName", "IMAddress", "ManagerName", "MMS"} else "Contacts"
        if isinstance(value, Element):
            data.append(value)
        else:
            data.append(E(f"{page}:{key}", value=value))
    return data


# --- the handler satisfies the interface ----------------------------------------------------


def test_handler_identity() -> None:
    assert isinstance(HANDLER, ContactsHandler)
    assert (HANDLER.kind, HANDLER.eas_class, HANDLER.fileext) == ("contacts", "Contacts", ".vcf")


def test_supported_lists_only_real_managed_tags() -> None:
    tags = HANDLER.supported(VERSION)
    assert all(codepages.lookup(t) is not None for t in tags)
    assert {"Contacts:FileAs", "Contacts:Email3Address", "Contacts2:MMS"} <= set(tags)
    assert "Contacts:Picture" in tags
    # not managed, so the server ghosts (keeps) them
    assert not {"Contacts:Alias", "Contacts:WeightedRank", "AirSyncBase:Body"} & set(tags)


def test_every_emitted_tag_is_in_the_code_pages() -> None:
    data = HANDLER.to_eas(load("many_emails_phones.vcf"), VERSION)
    for child in data:
        assert codepages.lookup(child.tag) is not None, child.tag


# --- fixtures -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", GOOD)
def test_fixture_round_trip_gives_the_local_card_back(name: str) -> None:
    local = load(name)
    merged = round_trip(local)
    assert props(merged) == props(local)
    assert HANDLER.fingerprint(merged) == HANDLER.fingerprint(local)


@pytest.mark.parametrize("name", GOOD)
def test_fixture_projection_is_a_stable_valid_vcard3(name: str) -> None:
    projected = HANDLER.project(load(name), VERSION)
    text = projected.raw.decode("utf-8")
    assert text.startswith("BEGIN:VCARD\r\nVERSION:3.0\r\n")
    assert text.endswith("END:VCARD\r\n")
    assert "\n" not in text.replace("\r\n", "")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    parsed = vobject.readOne(text)  # other tools can read what we write
    assert parsed.fn.value
    # projecting twice changes nothing: EAS → vCard → EAS is stable
    assert HANDLER.project(projected, VERSION).raw == projected.raw


@pytest.mark.parametrize("name", BROKEN)
def test_broken_fixture_is_a_conversion_error(name: str) -> None:
    with pytest.raises(ConversionError):
        HANDLER.to_eas(load(name), VERSION)
    with pytest.raises(ConversionError):
        HANDLER.fingerprint(load(name))
    assert HANDLER.describe(load(name)) == "(unreadable vCard)"


def test_latin1_file_is_read_not_refused() -> None:
    data = HANDLER.to_eas(load("latin1.vcf"), VERSION)
    assert data.text("Contacts:LastName") == "Müller"
    assert data.text("AirSyncBase:Body/AirSyncBase:Data") == "Café"


def test_vcard21_quoted_printable_address_is_decoded() -> None:
    data = HANDLER.to_eas(load("outlook_21.vcf"), VERSION)
    assert data.text("Contacts:BusinessAddressStreet") == "Hauptstr. 1\r\nHinterhaus"
    assert data.text("Contacts:Email1Address") == "hans@example.de"
    assert data.text("Contacts:MobilePhoneNumber") == "+49 170 1234"


def test_apple_card_maps_its_fields() -> None:
    data = HANDLER.to_eas(load("apple_3.vcf"), VERSION)
    assert data.text("Contacts:FileAs") == "Dr. Johnny Q. Appleseed Jr."
    assert data.text("Contacts:Title") == "Dr."
    assert data.text("Contacts:Suffix") == "Jr."
    assert data.text("Contacts:Email1Address") == "johnny@home.example"
    assert data.text("Contacts:MobilePhoneNumber") == "+1 (408) 555-0100"
    assert data.text("Contacts:WebPage") == "https://www.apple.example"
    assert data.text("Contacts:HomeAddressStreet") == "1 Infinite Loop\r\nBuilding 2"
    assert data.text("Contacts2:IMAddress") == "skype:johnny.appleseed"
    assert data.text("Contacts:YomiFirstName") == "Jonni"
    assert data.text("Contacts:Birthday") == "1774-09-26T00:00:00.000Z"
    picture = data.text("Contacts:Picture")
    assert picture is not None
    assert base64.b64decode(picture).startswith(b"\xff\xd8")


def test_vcard4_card_maps_its_fields() -> None:
    data = HANDLER.to_eas(load("nextcloud_4.vcf"), VERSION)
    assert data.text("Contacts:Email1Address") == "kjohnson@nasa.example"
    assert data.text("Contacts:MobilePhoneNumber") == "+1-757-555-0101"
    assert data.text("Contacts:Anniversary") == "1959-01-01T00:00:00.000Z"
    assert data.text("Contacts:Spouse") == "James Johnson"
    children = data.find("Contacts:Children")
    assert children is not None
    assert [c.text() for c in children] == ["Constance", "Joylette"]
    assert data.text("Contacts:Picture") is not None


def test_unicode_and_multiline_address() -> None:
    data = HANDLER.to_eas(load("unicode_multiline.vcf"), VERSION)
    assert data.text("Contacts:FileAs") == "山田 太郎 🎌"
    assert data.text("Contacts:HomeAddressStreet") == (
        "私書箱 1\r\nアパート 2\r\n東京都千代田区\r\n丸の内1-1-1\r\n三階"
    )
    assert data.text("Contacts:CompanyName") == "株式会社テスト"
    assert data.text("Contacts:Department") == "開発部"


# --- overflow: deterministic, PREF first, the rest stays local ------------------------------


def test_overflow_rule_fills_slots_by_preference_then_file_order() -> None:
    data = HANDLER.to_eas(load("many_emails_phones.vcf"), VERSION)
    emails = [data.text(t) for t in contacts.EMAILS]
    assert emails == ["three@example.org", "one@example.org", "two@example.org"]
    assert data.text("Contacts:HomePhoneNumber") == "+1 1"
    assert data.text("Contacts:Home2PhoneNumber") == "+1 2"
    assert data.text("Contacts:BusinessPhoneNumber") == "+1 4"
    assert data.text("Contacts:Business2PhoneNumber") == "+1 5"
    assert data.text("Contacts:MobilePhoneNumber") == "+1 7"
    assert data.text("Contacts:BusinessFaxNumber") == "+1 9"
    assert data.text("Contacts:HomeFaxNumber") == "+1 10"
    assert data.text("Contacts:RadioPhoneNumber") == "+1 16"
    assert data.text("Contacts:AssistantPhoneNumber") == "+1 17"
    assert data.text("Contacts2:CompanyMainPhone") == "+1 18"
    assert data.text("Contacts2:MMS") == "+1 19"
    assert data.text("Contacts:BusinessAddressStreet") == "w1"
    assert data.text("Contacts:OtherAddressStreet") == "o1"  # typed OTHER before untyped
    assert [data.text(t) for t in contacts.IMS] == ["xmpp:a@x", "xmpp:b@x", "xmpp:c@x"]
    sent = wbxml.encode(E("AirSync:Sync", data))
    for local_only in (b"four@", b"five@", b"+1 3", b"+1 6", b"+1 8", b"+1 14", b"w2", b"u1"):
        assert local_only not in sent


def test_untyped_phone_fills_a_free_home_slot() -> None:
    data = HANDLER.to_eas(card("FN:x", "TEL:+1 5", "TEL;TYPE=HOME:+1 6"), VERSION)
    assert data.text("Contacts:HomePhoneNumber") == "+1 6"  # typed first
    assert data.text("Contacts:Home2PhoneNumber") == "+1 5"


# --- what the server sends ------------------------------------------------------------------


def test_empty_elements_from_sogo_read_as_absent() -> None:
    data = app_data(
        FileAs="Ada Lovelace",
        FirstName="Ada",
        LastName="Lovelace",
        MiddleName="",
        NickName=E("Contacts2:NickName"),
        Email1Address="",
        Picture=E("Contacts:Picture"),
        Body=E("AirSyncBase:Body", E("AirSyncBase:Type", value="1"), E("AirSyncBase:Data")),
    )
    item = HANDLER.from_eas(data, VERSION)
    text = item.raw.decode()
    for absent in ("NICKNAME", "EMAIL", "PHOTO", "NOTE"):
        assert f"\r\n{absent}" not in text
    assert "\r\nN:Lovelace;Ada;;;\r\n" in text


def test_file_as_becomes_fn_and_fn_always_goes_back_as_file_as() -> None:
    item = HANDLER.from_eas(app_data(FileAs="Lovelace, Ada", FirstName="Ada"), VERSION)
    assert parse(item.raw).first_text("FN") == "Lovelace, Ada"
    assert HANDLER.to_eas(item, VERSION).text("Contacts:FileAs") == "Lovelace, Ada"


def test_missing_file_as_gets_a_display_name() -> None:
    """SOGo loses FN on a Change without FileAs (Q17): we always have one to send."""
    item = HANDLER.from_eas(app_data(FirstName="Ada", LastName="Lovelace"), VERSION)
    assert parse(item.raw).first_text("FN") == "Ada Lovelace"
    no_fn = card("N:Lovelace;Ada;;;", "EMAIL:ada@example.org")
    assert HANDLER.to_eas(no_fn, VERSION).text("Contacts:FileAs") == "Ada Lovelace"
    only_mail = card("EMAIL:ada@example.org")
    assert HANDLER.to_eas(only_mail, VERSION).text("Contacts:FileAs") == "ada@example.org"


def test_named_email_address_is_stripped() -> None:
    data = app_data(
        FileAs="x",
        Email1Address='"Ada Lovelace" <ada@example.org>',
        Email2Address="Ada <ada2@example.org>",
    )
    text = HANDLER.from_eas(data, VERSION).raw.decode()
    assert "EMAIL;TYPE=INTERNET:ada@example.org\r\n" in text
    assert "EMAIL;TYPE=INTERNET:ada2@example.org\r\n" in text


def test_email_slots_are_compacted() -> None:
    text = HANDLER.from_eas(app_data(FileAs="x", Email3Address="c@x.org"), VERSION).raw
    again = HANDLER.to_eas(Item(text), VERSION)
    assert again.text("Contacts:Email1Address") == "c@x.org"


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("1990-01-31T00:00:00.000Z", date(1990, 1, 31)),
        ("1990-01-31T11:59:00.000Z", date(1990, 1, 31)),
        ("1990-01-30T22:00:00.000Z", date(1990, 1, 31)),  # local midnight east of UTC
        ("1990-01-30T12:00:00Z", date(1990, 1, 31)),
        ("1999-12-31T23:00:00.000Z", date(2000, 1, 1)),
        ("2024-02-28T23:00:00.000Z", date(2024, 2, 29)),
        ("19900131T000000Z", date(1990, 1, 31)),
        ("1990-01-31", date(1990, 1, 31)),
        ("", None),
        (None, None),
        ("garbage", None),
        ("1990-13-45T00:00:00.000Z", None),
        ("9999-12-31T23:00:00.000Z", None),
    ],
)
def test_birthday_heuristic_time_after_noon_means_next_day(
    wire: str | None, expected: date | None
) -> None:
    assert date_from_eas_datetime(wire) == expected


def test_dates_are_sent_as_utc_midnight() -> None:
    assert date_to_eas_datetime(date(1815, 12, 10)) == "1815-12-10T00:00:00.000Z"
    data = HANDLER.to_eas(card("FN:x", "BDAY:18151210", "X-ANNIVERSARY:1835-07-08"), VERSION)
    assert data.text("Contacts:Birthday") == "1815-12-10T00:00:00.000Z"
    assert data.text("Contacts:Anniversary") == "1835-07-08T00:00:00.000Z"


def test_birthday_without_year_stays_local() -> None:
    local = card("FN:x", "BDAY:--0315", version="4.0")
    data = HANDLER.to_eas(local, VERSION)
    assert data.find("Contacts:Birthday") is None
    assert props(round_trip(local)) == props(local)


def test_bad_birthday_from_server_is_ignored() -> None:
    text = HANDLER.from_eas(app_data(FileAs="x", Birthday="soon"), VERSION).raw.decode()
    assert "BDAY" not in text


# --- pictures -------------------------------------------------------------------------------

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9"
JPEG64 = base64.b64encode(JPEG).decode()


def test_picture_url_from_sogo_is_kept_as_x_property_and_never_sent_back() -> None:
    data = app_data(FileAs="x", Picture="https://sogo.example/photo/1")
    remote = HANDLER.from_eas(data, VERSION)
    assert b"X-EAS-PICTURE-URL:https://sogo.example/photo/1" in remote.raw
    assert b"PHOTO" not in remote.raw
    back = HANDLER.to_eas(remote, VERSION)
    assert back.find("Contacts:Picture") is None  # omitted: the server keeps its picture


def test_picture_url_from_server_does_not_delete_the_local_photo() -> None:
    local = card("FN:x", f"PHOTO;ENCODING=b;TYPE=JPEG:{JPEG64}")
    remote = HANDLER.from_eas(app_data(FileAs="x", Picture="http://sogo/p.jpg"), VERSION)
    assert props(HANDLER.merge(remote, local)) == props(local)


def test_invalid_base64_picture_is_dropped_without_crash() -> None:
    for junk in ("not base64 !!!", "AAA*", "=====", "\x00\x01"):
        remote = HANDLER.from_eas(app_data(FileAs="x", Picture=junk), VERSION)
        assert b"PHOTO" not in remote.raw


def test_picture_from_server_becomes_photo() -> None:
    remote = HANDLER.from_eas(app_data(FileAs="x", Picture=JPEG64), VERSION)
    photo = parse(remote.raw).first("PHOTO")
    assert photo is not None
    assert photo.param("ENCODING") == ["b"]
    assert photo.param("TYPE") == ["JPEG"]
    assert base64.b64decode(photo.value) == JPEG


def test_oversized_photo_is_not_sent_and_stays_local() -> None:
    big = base64.b64encode(bytes(40_000)).decode()  # 53 336 base64 chars > 48 KB
    local = card("FN:x", f"PHOTO;ENCODING=b;TYPE=JPEG:{big}")
    data = HANDLER.to_eas(local, VERSION)
    picture = data.find("Contacts:Picture")
    assert picture is not None
    assert picture.text() is None  # sent empty, never the big one
    assert props(round_trip(local)) == props(local)


def test_vcard4_data_uri_photo_is_sent() -> None:
    local = card("FN:x", f"PHOTO:data:image/jpeg;base64,{JPEG64}", version="4.0")
    assert HANDLER.to_eas(local, VERSION).text("Contacts:Picture") == JPEG64


def test_photo_url_is_not_sent() -> None:
    local = card("FN:x", "PHOTO;VALUE=uri:https://example.org/me.jpg")
    picture = HANDLER.to_eas(local, VERSION).find("Contacts:Picture")
    assert picture is not None
    assert picture.text() is None


# --- clearing (SOGo Q9: a Change replaces the whole item) -----------------------------------


def test_body_and_picture_are_always_sent_to_clear_them() -> None:
    data = HANDLER.to_eas(card("FN:x"), VERSION)
    assert data.find("Contacts:Picture") is not None
    assert data.text("AirSyncBase:Body/AirSyncBase:Type") == "1"
    body_data = data.find("AirSyncBase:Body/AirSyncBase:Data")
    assert body_data is not None
    assert body_data.text() is None


def test_absent_fields_are_omitted_not_sent_empty() -> None:
    data = HANDLER.to_eas(card("FN:x", "N:Lovelace;;;;"), VERSION)
    tags = {c.tag for c in data}
    assert tags == {"Contacts:FileAs", "Contacts:LastName", "Contacts:Picture", "AirSyncBase:Body"}


def test_note_line_ends_are_crlf_on_the_wire_and_lf_in_the_file() -> None:
    data = HANDLER.to_eas(card("FN:x", "NOTE:a\\nb"), VERSION)
    assert data.text("AirSyncBase:Body/AirSyncBase:Data") == "a\r\nb"
    back = HANDLER.from_eas(data, VERSION)
    assert b"NOTE:a\\nb\r\n" in back.raw


# --- merge ----------------------------------------------------------------------------------


def server_edit(local: Item, **changes: str | None) -> Item:
    """The remote item after a server-side edit of some EAS fields of ``local``."""
    data = HANDLER.to_eas(local, VERSION)
    for key, value in changes.items():
        tag = next(t for t in contacts.TAG_ORDER if t.endswith(":" + key))
        data.children = [c for c in data.children if c.tag != tag]
        if value is not None:
            data.append(E(tag, value=value))
    return HANDLER.from_eas(over_the_wire(data), VERSION)


def test_server_change_replaces_that_field_and_keeps_local_only_data() -> None:
    local = load("many_emails_phones.vcf")
    merged = HANDLER.merge(server_edit(local, Email2Address="new@example.org"), local)
    text = merged.raw.decode()
    assert "one@example.org" not in text
    assert "new@example.org" in text
    for kept in ("four@example.org", "five@example.org", "GENDER:O", "X-EVOLUTION-FILE-AS"):
        assert kept in text
    assert merged.uid == "many-1"
    data = HANDLER.to_eas(merged, VERSION)
    assert data.text("Contacts:Email2Address") == "new@example.org"


def test_server_deletion_removes_the_local_property() -> None:
    local = load("google_3.vcf")
    merged = HANDLER.merge(server_edit(local, JobTitle=None, MobilePhoneNumber=None), local)
    text = merged.raw.decode()
    assert "TITLE:" not in text
    assert "+1 202-555-0199" not in text
    assert "+1 202-555-0142" in text


def test_server_change_of_a_changed_field_is_written_in_place() -> None:
    local = card("UID:u", "FN:Ada", "TITLE:Countess", "NOTE:hello")
    merged = HANDLER.merge(server_edit(local, JobTitle="Mathematician"), local)
    names = [p.name for p in parse(merged.raw).properties]
    assert names == ["VERSION", "UID", "FN", "TITLE", "NOTE"]
    assert parse(merged.raw).first_text("TITLE") == "Mathematician"


def test_merge_into_vcard4_keeps_version_and_writes_4_forms() -> None:
    local = card("UID:u", "FN:Ada", "GENDER:F", version="4.0")
    remote = server_edit(
        local,
        Anniversary="1835-07-08T00:00:00.000Z",
        Spouse="William",
        Email1Address="ada@example.org",
        Picture=JPEG64,
    )
    merged = parse(HANDLER.merge(remote, local).raw)
    assert merged.version == "4.0"
    assert merged.first_text("ANNIVERSARY") == "18350708"
    related = merged.first("RELATED")
    assert related is not None
    assert related.text() == "William"
    assert related.param("TYPE") == ["spouse"]
    email = merged.first("EMAIL")
    assert email is not None
    assert email.params == []
    photo = merged.first("PHOTO")
    assert photo is not None
    assert photo.value.startswith("data:image/jpeg;base64,")
    assert merged.first_text("GENDER") == "F"
    assert merged.first("X-ANNIVERSARY") is None


def test_merge_without_local_gives_the_remote_with_a_uid() -> None:
    remote = HANDLER.from_eas(app_data(FileAs="x"), VERSION)
    assert remote.uid is None
    merged = HANDLER.merge(remote, None)
    assert merged.uid
    assert parse(merged.raw).first_text("UID") == merged.uid


def test_merge_never_duplicates_single_properties() -> None:
    local = card("FN:x", "BDAY:--0315", "PHOTO;VALUE=uri:https://example.org/a.jpg", version="4.0")
    remote = server_edit(local, Birthday="2000-03-15T00:00:00.000Z", Picture=JPEG64)
    merged = parse(HANDLER.merge(remote, local).raw)
    assert len(merged.all("BDAY")) == 1
    assert len(merged.all("PHOTO")) == 1


# --- fingerprint, with_uid, describe --------------------------------------------------------


def test_fingerprint_ignores_volatile_and_formatting_differences() -> None:
    a = card("UID:1", "FN:Ada", "REV:20240101T000000Z", "PRODID:-//A//EN", "TEL;TYPE=WORK,VOICE:1")
    b_raw = (
        b"BEGIN:VCARD\nVERSION:3.0\nUID:1\nREV:20250101T000000Z\nPRODID:-//B//EN\n"
        b"tel;type=voice;type=work:1\nFN:A\n da  \nEND:VCARD\n"
    )
    assert HANDLER.fingerprint(a) == HANDLER.fingerprint(Item(b_raw))


def test_fingerprint_equal_for_vcard3_and_vcard4_forms() -> None:
    v3 = card(
        "FN:Ada",
        "X-ANNIVERSARY:1835-07-08",
        "X-SPOUSE:William",
        f"PHOTO;ENCODING=b;TYPE=JPEG:{JPEG64}",
        "EMAIL;TYPE=INTERNET,PREF:a@x",
    )
    v4 = card(
        "FN:Ada",
        "ANNIVERSARY:18350708",
        "RELATED;TYPE=spouse;VALUE=text:William",
        f"PHOTO:data:image/jpeg;base64,{JPEG64}",
        "EMAIL;PREF=1:a@x",
        version="4.0",
    )
    assert HANDLER.fingerprint(v3) == HANDLER.fingerprint(v4)


def test_fingerprint_sees_real_changes() -> None:
    base = HANDLER.fingerprint(card("FN:Ada", "EMAIL:a@x"))
    assert HANDLER.fingerprint(card("FN:Ada", "EMAIL:b@x")) != base
    assert HANDLER.fingerprint(card("FN:Ada", "EMAIL;TYPE=WORK:a@x")) != base
    assert HANDLER.fingerprint(card("FN:Ada", "EMAIL:a@x", "GENDER:F")) != base


def test_with_uid_sets_or_replaces_the_uid() -> None:
    item = HANDLER.with_uid(card("FN:x"), "new-uid")
    assert item.uid == "new-uid"
    assert parse(item.raw).first_text("UID") == "new-uid"
    again = HANDLER.with_uid(item, "other")
    assert [p.text() for p in parse(again.raw).all("UID")] == ["other"]
    assert parse(again.raw).properties[0].name == "VERSION"


def test_describe() -> None:
    assert HANDLER.describe(card("FN:Ada Lovelace")) == "Ada Lovelace"
    assert HANDLER.describe(card("N:Lovelace;Ada;;;")) == "Ada Lovelace"
    assert HANDLER.describe(card("EMAIL:ada@example.org")) == "ada@example.org"
    assert HANDLER.describe(card("NOTE:x")) == "(unnamed contact)"


# --- EAS → vCard → EAS ----------------------------------------------------------------------


def full_app_data() -> Element:
    data = E("AirSync:ApplicationData")
    for tag in contacts.TAG_ORDER:
        if tag in (contacts.BIRTHDAY, contacts.ANNIVERSARY):
            data.append(E(tag, value="1990-01-31T00:00:00.000Z"))
        elif tag == contacts.PICTURE:
            data.append(E(tag, value=JPEG64))
        elif tag == contacts.BODY:
            data.append(
                E(tag, E("AirSyncBase:Type", value="1"), E("AirSyncBase:Data", value="a\r\nb"))
            )
        elif tag in contacts.LIST_TAGS:
            item_tag = contacts.LIST_TAGS[tag]
            data.append(E(tag, E(item_tag, value="one"), E(item_tag, value="two; three")))
        elif tag in contacts.STREETS:
            data.append(E(tag, value="line 1\r\nline 2"))
        else:
            data.append(E(tag, value=f"{tag.partition(':')[2]} value, with; specials\\"))
    data.append(E("Contacts:Alias", value="ignored"))
    data.append(E("Contacts:WeightedRank", value="3"))
    return data


def test_every_eas_field_survives_eas_to_vcard_to_eas() -> None:
    sent = full_app_data()
    back = HANDLER.to_eas(HANDLER.from_eas(over_the_wire(sent), VERSION), VERSION)
    expected = [c for c in sent if c.name not in ("Alias", "WeightedRank")]
    assert back.children == expected


def test_unknown_and_opaque_elements_do_not_crash() -> None:
    data = E(
        "AirSync:ApplicationData",
        E("Contacts:FirstName", value=b"Ada\xff"),
        E("Contacts:Categories", E("Contacts:Category"), E("Contacts:Category", value="x")),
        E("Contacts:Children"),
        E("Email:Subject", value="?"),
        E("Contacts:Picture", value=b"\x00\x01"),
        E("Contacts:Body", value="legacy body"),
    )
    item = HANDLER.from_eas(data, VERSION)
    text = item.raw.decode()
    assert "N:;Ada\ufffd;;;" in text
    assert "CATEGORIES:x" in text
    assert "NOTE:legacy body" in text


def test_truncated_body_never_overwrites_the_full_local_note() -> None:
    body = E(
        "AirSyncBase:Body",
        E("AirSyncBase:Type", value="1"),
        E("AirSyncBase:Truncated", value="1"),
        E("AirSyncBase:Data", value="The first part"),
    )
    remote = HANDLER.from_eas(app_data(FileAs="x", Body=body), VERSION)
    assert b"NOTE;X-EAS-TRUNCATED=1:The first part" in remote.raw
    assert HANDLER.to_eas(remote, VERSION).find("AirSyncBase:Body") is None
    local = card("FN:x", "NOTE:The first part and the rest")
    assert props(HANDLER.merge(remote, local)) == props(local)


def test_vcard21_bare_quoted_printable_parameter() -> None:
    local = card("FN:x", "NOTE;QUOTED-PRINTABLE;CHARSET=UTF-8:Gr=C3=BC=C3=9Fe", version="2.1")
    assert HANDLER.to_eas(local, VERSION).text("AirSyncBase:Body/AirSyncBase:Data") == "Grüße"
    assert props(round_trip(local)) == props(local)


def test_line_breaks_in_unescaped_server_values_do_not_break_the_card() -> None:
    # IMPP and X-EAS-PICTURE-URL are written unescaped (URIs); a CR sent by a server
    # once produced a card that could not be read back (found by hypothesis).
    data = E(
        "AirSync:ApplicationData",
        E("Contacts2:IMAddress", value="xmpp:a\r@b"),
        E("Contacts:Picture", value="https://x/p\n.jpg"),
    )
    card = parse(HANDLER.from_eas(data, VERSION).raw)
    assert card.first("IMPP") is not None
    assert card.first("IMPP").value == "xmpp:a @b"  # type: ignore[union-attr]
    assert card.first("X-EAS-PICTURE-URL").value == "https://x/p .jpg"  # type: ignore[union-attr]
