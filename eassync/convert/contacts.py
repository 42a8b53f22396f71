"""EAS Contacts (code pages Contacts, Contacts2, AirSyncBase Body) ⇄ vCard.

The mapping (eas-protocol.md §7.1; the user-facing table is ``tables.CONTACTS``):

- ``extract(card)`` reads a vCard into *slot values*: EAS tag → value, the exact values
  ``to_eas`` sends. It also records, per property, which tags it *feeds*.
- ``from_eas`` turns slot values into a canonical vCard 3.0; ``extract`` of that card gives
  the same slot values back (slots compacted: a lone Email2 comes back as Email1).
- ``merge`` compares the slot values of the remote and the local card. A local property
  is replaced only if a tag it feeds changed; every property that feeds no changed tag —
  including everything EAS cannot hold — is kept byte for byte. So a round trip
  local → to_eas → from_eas → merge gives the local card back exactly (design rule 2).

Overflow rule (deterministic): for multi-slot families (EMAIL, TEL, IMPP, ADR) the
properties are taken in order of preference (vCard 4 ``PREF=n``, then ``TYPE=pref``)
and then file order; the first N fill the EAS slots, the rest stay local-only.

Phones without a type (or only ``VOICE``/``OTHER``): EAS has no "other phone", so they
fill a free home slot (HomePhoneNumber, Home2PhoneNumber) after the typed home phones;
the server shows them as home phones, the local file keeps its own line.

Clearing (SOGo Q9, §5.1): ``to_eas`` sends every mapped field that has a value and omits
the rest; with the tags of ``supported()`` declared, omitted fields are deleted by the
server (and SOGo replaces the whole item on Change anyway). The two exceptions the spec
names, ``AirSyncBase:Body`` and ``Contacts:Picture``, stay on the server when omitted, so
they are always sent — empty to clear. Exceptions to the exception: a card whose
picture is only known as a server URL (``X-EAS-PICTURE-URL``) omits Picture, and a note
the server sent truncated (``NOTE;X-EAS-TRUNCATED=1``) omits Body, so the server keeps
what we never fully saw.

Versions: ``from_eas`` writes vCard 3.0; ``merge`` keeps the local file's VERSION and
writes incoming properties in 4.0 form into a 4.0 file (``to_v4``). ``merge`` with no
local card gives the remote card with a fresh random UID (EAS contacts carry none).

X- names written for fields vCard 3.0 lacks: X-ANNIVERSARY, X-SPOUSE, X-ASSISTANT,
X-MANAGER (read by Evolution/Thunderbird-era tools), X-CHILD, X-PHONETIC-* (Apple,
Android), X-EVOLUTION-RADIO/ASSISTANT/COMPANY phone types, X-EAS-* for the rest.

Pure code: no I/O (unreadable server values are skipped with a log warning).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import re
import threading
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

from eassync.convert import normalize, vcard
from eassync.convert.base import item_failures
from eassync.convert.vcard import (
    Card,
    Property,
    card_lines,
    escape,
    fold,
    line_text,
    parse,
    parse_line,
    property_of,
    serialize,
    split_unescaped,
    structured,
    unescape,
)
from eassync.eas.element import E, Element
from eassync.errors import ConversionError
from eassync.model.items import Item
from eassync.model.knowledge import SlotKnowledge

log = logging.getLogger(__name__)

#: MS-ASCMD: larger pictures are refused (item Status 6); ~36 KB of JPEG.
PICTURE_LIMIT = 48 * 1024

Value = str | tuple[str, ...]

# --- the tags -------------------------------------------------------------------------------

FILE_AS = "Contacts:FileAs"
LAST, FIRST, MIDDLE = "Contacts:LastName", "Contacts:FirstName", "Contacts:MiddleName"
TITLE, SUFFIX = "Contacts:Title", "Contacts:Suffix"
NAME_TAGS = (LAST, FIRST, MIDDLE, TITLE, SUFFIX)  # N component order after the family name
NICKNAME = "Contacts2:NickName"
COMPANY, DEPARTMENT = "Contacts:CompanyName", "Contacts:Department"
JOB_TITLE, OFFICE = "Contacts:JobTitle", "Contacts:OfficeLocation"
BIRTHDAY, ANNIVERSARY = "Contacts:Birthday", "Contacts:Anniversary"
SPOUSE, CHILDREN = "Contacts:Spouse", "Contacts:Children"
ASSISTANT, MANAGER = "Contacts:AssistantName", "Contacts2:ManagerName"
CATEGORIES, WEBPAGE, PICTURE = "Contacts:Categories", "Contacts:WebPage", "Contacts:Picture"
BODY = "AirSyncBase:Body"
EMAILS = ("Contacts:Email1Address", "Contacts:Email2Address", "Contacts:Email3Address")
IMS = ("Contacts2:IMAddress", "Contacts2:IMAddress2", "Contacts2:IMAddress3")
ADDRESS_PARTS = ("Street", "City", "State", "PostalCode", "Country")
ADDRESSES = {
    kind: tuple(f"Contacts:{kind}Address{part}" for part in ADDRESS_PARTS)
    for kind in ("Business", "Home", "Other")
}
STREETS = frozenset(tags[0] for tags in ADDRESSES.values())
YOMI_FIRST, YOMI_LAST = "Contacts:YomiFirstName", "Contacts:YomiLastName"
YOMI_COMPANY = "Contacts:YomiCompanyName"
CUSTOMER_ID, GOVERNMENT_ID = "Contacts2:CustomerId", "Contacts2:GovernmentId"
ACCOUNT_NAME = "Contacts2:AccountName"

#: phone slot → the TYPE values we write for it in vCard 3.0. Non-standard kinds use
#: Evolution's X-EVOLUTION-* types, the ones other address books most often read.
PHONES: dict[str, tuple[str, ...]] = {
    "Contacts:MobilePhoneNumber": ("CELL",),
    "Contacts:BusinessPhoneNumber": ("WORK", "VOICE"),
    "Contacts:Business2PhoneNumber": ("WORK", "VOICE"),
    "Contacts:HomePhoneNumber": ("HOME", "VOICE"),
    "Contacts:Home2PhoneNumber": ("HOME", "VOICE"),
    "Contacts:BusinessFaxNumber": ("WORK", "FAX"),
    "Contacts:HomeFaxNumber": ("HOME", "FAX"),
    "Contacts:CarPhoneNumber": ("CAR",),
    "Contacts:PagerNumber": ("PAGER",),
    "Contacts:RadioPhoneNumber": ("X-EVOLUTION-RADIO",),
    "Contacts:AssistantPhoneNumber": ("X-EVOLUTION-ASSISTANT",),
    "Contacts2:CompanyMainPhone": ("X-EVOLUTION-COMPANY",),
    "Contacts2:MMS": ("X-MMS",),
}

#: single-valued text slots carried by one property; first name is the one we write.
TEXT_PROPERTIES: dict[str, tuple[str, ...]] = {
    JOB_TITLE: ("TITLE",),
    WEBPAGE: ("URL",),
    OFFICE: ("X-EAS-OFFICELOCATION", "X-EVOLUTION-OFFICE", "X-KADDRESSBOOK-X-OFFICE"),
    ASSISTANT: ("X-ASSISTANT", "X-EVOLUTION-ASSISTANT", "X-KADDRESSBOOK-X-ASSISTANTSNAME"),
    MANAGER: ("X-MANAGER", "X-EVOLUTION-MANAGER", "X-KADDRESSBOOK-X-MANAGERSNAME"),
    SPOUSE: ("X-SPOUSE", "X-EVOLUTION-SPOUSE", "X-KADDRESSBOOK-X-SPOUSESNAME"),
    YOMI_FIRST: ("X-PHONETIC-FIRST-NAME",),
    YOMI_LAST: ("X-PHONETIC-LAST-NAME",),
    YOMI_COMPANY: ("X-PHONETIC-ORG",),
    CUSTOMER_ID: ("X-EAS-CUSTOMERID",),
    GOVERNMENT_ID: ("X-EAS-GOVERNMENTID",),
    ACCOUNT_NAME: ("X-EAS-ACCOUNTNAME",),
}
DATE_PROPERTIES: dict[str, tuple[str, ...]] = {
    BIRTHDAY: ("BDAY",),
    ANNIVERSARY: (
        "X-ANNIVERSARY",
        "ANNIVERSARY",
        "X-EVOLUTION-ANNIVERSARY",
        "X-KADDRESSBOOK-X-ANNIVERSARY",
    ),
}
CHILD_PROPERTIES = ("X-CHILD",)
#: RELATED;TYPE=… (vCard 4, RFC 6350 6.6.6) with a text value → slot
RELATED_TYPES = {"spouse": SPOUSE, "assistant": ASSISTANT, "manager": MANAGER}
PICTURE_URL = "X-EAS-PICTURE-URL"
#: NOTE parameter marking a body the server sent truncated (AirSyncBase:Truncated)
TRUNCATED = "X-EAS-TRUNCATED"

#: IM properties of vCard 3.0 address books → URI scheme for IMAddress
IM_SCHEMES = {
    "X-AIM": "aim",
    "X-JABBER": "xmpp",
    "X-GOOGLE-TALK": "xmpp",
    "X-GTALK": "xmpp",
    "X-ICQ": "icq",
    "X-MSN": "msnim",
    "X-YAHOO": "ymsgr",
    "X-SKYPE": "skype",
    "X-SKYPE-USERNAME": "skype",
    "X-GADUGADU": "gg",
    "X-GROUPWISE": "groupwise",
    "X-QQ": "qq",
    "X-SIP": "sip",
}

#: The order of elements in ApplicationData (any order is valid; fixed for stable output).
TAG_ORDER: tuple[str, ...] = (
    FILE_AS,
    *NAME_TAGS,
    NICKNAME,
    YOMI_FIRST,
    YOMI_LAST,
    COMPANY,
    DEPARTMENT,
    YOMI_COMPANY,
    JOB_TITLE,
    OFFICE,
    *EMAILS,
    *PHONES,
    *ADDRESSES["Business"],
    *ADDRESSES["Home"],
    *ADDRESSES["Other"],
    WEBPAGE,
    *IMS,
    BIRTHDAY,
    ANNIVERSARY,
    SPOUSE,
    CHILDREN,
    ASSISTANT,
    MANAGER,
    CATEGORIES,
    CUSTOMER_ID,
    GOVERNMENT_ID,
    ACCOUNT_NAME,
    PICTURE,
    BODY,
)
LIST_TAGS = {CATEGORIES: "Contacts:Category", CHILDREN: "Contacts:Child"}


# --- reading a card into slot values --------------------------------------------------------


@dataclass
class Extraction:
    """Slot values of a card, and for each property the tags it feeds."""

    values: dict[str, Value] = field(default_factory=dict)
    feeds: list[frozenset[str]] = field(default_factory=list)
    #: the server's Picture could not be read (a URL, SOGo): leave pictures alone
    unknown_picture: bool = False
    #: the server sent a truncated Body: leave the note alone on both sides
    truncated_body: bool = False

    def feed(self, index: int, *tags: str) -> None:
        self.feeds[index] = self.feeds[index] | frozenset(tags)

    def put(self, tag: str, value: str | None) -> None:
        if value is not None and value.strip() and tag not in self.values:
            self.values[tag] = value


def _related_slot(prop: Property) -> str | None:
    """RELATED with a text value (a name, not a URI) maps to a name slot."""
    if prop.name != "RELATED":
        return None
    if "text" not in {v.lower() for v in prop.param("VALUE")}:
        return None
    for kind in prop.types():
        if kind in RELATED_TYPES:
            return RELATED_TYPES[kind]
        if kind == "child":
            return CHILDREN
    return None


def _photo_base64(prop: Property) -> str | None:
    """Inline photo as canonical base64 (3.0 ENCODING=b, 4.0 data: URI), else None."""
    value = prop.value.strip()
    if value.lower().startswith("data:"):
        header, _, payload = value.partition(",")
        return normalize.clean_base64(payload) if header.lower().endswith(";base64") else None
    encodings = {e.lower() for e in prop.param("ENCODING")}
    if encodings & {"b", "base64"}:
        return normalize.clean_base64(value)
    return None


def _phone_value(prop: Property) -> str:
    """The number of a TEL; vCard 4 ``VALUE=uri`` numbers lose their ``tel:`` scheme."""
    text = prop.text().strip()
    is_uri = "uri" in {v.lower() for v in prop.param("VALUE")}
    return text[4:].strip() if is_uri and text.lower().startswith("tel:") else text


def _im_value(prop: Property) -> str | None:
    if prop.name == "IMPP":
        return prop.value.strip() or None
    scheme = IM_SCHEMES.get(prop.name)
    text = prop.text().strip()
    if scheme is None or not text:
        return None
    return text if text.lower().startswith(scheme + ":") else f"{scheme}:{text}"


_TYPE_SLOTS: list[tuple[frozenset[str], tuple[str, ...]]] = [
    (frozenset({"x-mms", "x-evolution-mms", "mms"}), ("Contacts2:MMS",)),
    (frozenset({"x-evolution-radio", "x-radio", "radio"}), ("Contacts:RadioPhoneNumber",)),
    (
        frozenset({"x-evolution-assistant", "x-assistant", "assistant"}),
        ("Contacts:AssistantPhoneNumber",),
    ),
    (
        frozenset({"x-evolution-company", "x-company-main", "company"}),
        ("Contacts2:CompanyMainPhone",),
    ),
    (frozenset({"car"}), ("Contacts:CarPhoneNumber",)),
    (frozenset({"pager"}), ("Contacts:PagerNumber",)),
    (frozenset({"cell", "mobile", "iphone"}), ("Contacts:MobilePhoneNumber",)),
]


def _phone_slots(types: set[str]) -> tuple[int, tuple[str, ...]]:
    """(round, candidate slots) for a TEL; round 1 = typed, round 2 = untyped fallback."""
    if "fax" in types:
        if "home" in types:
            return 1, ("Contacts:HomeFaxNumber",)
        if "work" in types:
            return 1, ("Contacts:BusinessFaxNumber",)
        return 2, ("Contacts:BusinessFaxNumber", "Contacts:HomeFaxNumber")
    for markers, slots in _TYPE_SLOTS:
        if types & markers:
            return 1, slots
    if "work" in types:
        return 1, ("Contacts:BusinessPhoneNumber", "Contacts:Business2PhoneNumber")
    if "home" in types:
        return 1, ("Contacts:HomePhoneNumber", "Contacts:Home2PhoneNumber")
    return 2, ("Contacts:HomePhoneNumber", "Contacts:Home2PhoneNumber")


def _address_slots(types: set[str]) -> tuple[int, tuple[str, ...]]:
    if "work" in types:
        return 1, ("Business",)
    if "home" in types:
        return 1, ("Home",)
    if types & {"other", "x-other"}:
        return 1, ("Other",)
    return 2, ("Other",)


def _assign(
    card: Card,
    indexes: Sequence[int],
    slots_of: Callable[[Property], tuple[int, tuple[str, ...]]],
) -> dict[str, int]:
    """Deterministic overflow rule: typed before untyped, then preference, then file order;
    each property takes its first free candidate slot; the rest get none."""
    order = sorted(
        indexes,
        key=lambda i: (slots_of(card.properties[i])[0], card.properties[i].pref_rank(), i),
    )
    taken: dict[str, int] = {}
    for index in order:
        for slot in slots_of(card.properties[index])[1]:
            if slot not in taken:
                taken[slot] = index
                break
    return taken


def display_name(values: dict[str, Value]) -> str:
    """FN for a contact without FileAs: "First Middle Last", else company, e-mail, nickname."""
    names = [values.get(t) for t in (FIRST, MIDDLE, LAST)]
    text = " ".join(str(n).strip() for n in names if n)
    if text:
        return text
    for tag in (COMPANY, *EMAILS, NICKNAME):
        value = values.get(tag)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _address_value(prop: Property) -> list[str | None]:
    parts = prop.components() + [""] * 7
    pobox, extended, street, city, region, code, country = parts[:7]
    lines = [line for line in (pobox, extended, street) if line.strip()]
    street_text = normalize.crlf("\n".join(lines).strip()) if lines else None
    return [street_text, *(part.strip() or None for part in (city, region, code, country))]


def extract(card: Card) -> Extraction:
    """The slot values ``to_eas`` sends for ``card``, and what each property feeds."""
    props = card.properties
    ex = Extraction(feeds=[frozenset()] * len(props))
    first: dict[str, int] = {}  # property name → index of its first occurrence
    for i, prop in enumerate(props):
        first.setdefault(prop.name, i)
    emails: list[int] = []
    phones: list[int] = []
    ims: list[int] = []
    addresses: list[int] = []
    categories: list[str] = []
    children: list[str] = []

    for i, prop in enumerate(props):
        name = prop.name
        if name == "FN":
            ex.feed(i, FILE_AS)
            ex.put(FILE_AS, prop.text().strip())
        elif name == "N":
            ex.feed(i, *NAME_TAGS)
            if i == first.get("N"):
                comps = [*prop.components(), "", "", "", "", ""]
                family, given, additional, prefix, suffix = comps[:5]
                for tag, text in zip(
                    NAME_TAGS, (family, given, additional, prefix, suffix), strict=True
                ):
                    ex.put(tag, text.strip())
        elif name == "NICKNAME":
            ex.feed(i, NICKNAME)
            ex.put(NICKNAME, prop.text().strip())
        elif name == "ORG":
            ex.feed(i, COMPANY, DEPARTMENT)
            if i == first.get("ORG"):
                comps = [*prop.components(), "", ""]
                ex.put(COMPANY, comps[0].strip())
                ex.put(DEPARTMENT, comps[1].strip())
        elif name == "NOTE":
            ex.feed(i, BODY)
            if i == first.get("NOTE"):
                if prop.has_param(TRUNCATED):
                    ex.truncated_body = True
                else:
                    ex.put(BODY, normalize.crlf(prop.text()))
        elif name == "PHOTO":
            ex.feed(i, PICTURE)
            if i == first.get("PHOTO"):
                picture = _photo_base64(prop)
                if picture is not None and len(picture) <= PICTURE_LIMIT:
                    ex.put(PICTURE, picture)
        elif name == PICTURE_URL:
            ex.feed(i, PICTURE)
            if first.get("PHOTO") is None:
                ex.unknown_picture = True
        elif name == "CATEGORIES":
            ex.feed(i, CATEGORIES)
            categories.extend(c.strip() for c in prop.list_values() if c.strip())
        elif name in CHILD_PROPERTIES:
            ex.feed(i, CHILDREN)
            if prop.text().strip():
                children.append(prop.text().strip())
        elif name == "RELATED" and _related_slot(prop) is not None:
            slot = _related_slot(prop)
            assert slot is not None
            ex.feed(i, slot)
            if slot == CHILDREN:
                if prop.text().strip():
                    children.append(prop.text().strip())
            else:
                ex.put(slot, prop.text().strip())
        elif name == "EMAIL":
            if prop.text().strip():
                emails.append(i)
        elif name == "TEL":
            if prop.text().strip():
                phones.append(i)
        elif name == "IMPP" or name in IM_SCHEMES:
            if _im_value(prop):
                ims.append(i)
        elif name == "ADR":
            if any(c.strip() for c in prop.components()):
                addresses.append(i)
        else:
            _extract_simple(ex, i, prop)

    if categories:
        ex.values[CATEGORIES] = tuple(dict.fromkeys(categories))
    if children:
        ex.values[CHILDREN] = tuple(children)

    def ranked(indexes: list[int], slots: Sequence[str]) -> dict[str, int]:
        return _assign(card, indexes, lambda _p: (1, tuple(slots)))

    for slot, index in ranked(emails, EMAILS).items():
        ex.feed(index, slot)
        ex.put(slot, bare_address(props[index].text()))
    for slot, index in ranked(ims, IMS).items():
        ex.feed(index, slot)
        ex.put(slot, _im_value(props[index]))
    for slot, index in _assign(card, phones, lambda p: _phone_slots(p.types())).items():
        ex.feed(index, slot)
        ex.put(slot, _phone_value(props[index]))
    for kind, index in _assign(card, addresses, lambda p: _address_slots(p.types())).items():
        tags = ADDRESSES[kind]
        ex.feed(index, *tags)
        for tag, value in zip(tags, _address_value(props[index]), strict=True):
            ex.put(tag, value)

    if FILE_AS not in ex.values:
        # SOGo maps FileAs ⇄ FN (Q17): a card without FN still gets a FileAs, the same
        # one from_eas would derive, so the round trip stays stable.
        ex.put(FILE_AS, display_name(ex.values))
    return ex


def _extract_simple(ex: Extraction, index: int, prop: Property) -> None:
    for tag, names in TEXT_PROPERTIES.items():
        if prop.name in names:
            ex.feed(index, tag)
            ex.put(tag, prop.text().strip())
            return
    for tag, names in DATE_PROPERTIES.items():
        if prop.name in names:
            ex.feed(index, tag)
            day = normalize.parse_vcard_date(prop.value)
            if day is not None:
                ex.put(tag, normalize.date_to_eas_datetime(day))
            return


# --- slot values ⇄ EAS elements -------------------------------------------------------------


def elements_from_values(ex: Extraction) -> Element:
    data = E("AirSync:ApplicationData")
    for tag in TAG_ORDER:
        value = ex.values.get(tag)
        if tag == BODY:
            if ex.truncated_body:
                continue  # omitted: the server keeps its full body (§5.1)
            text = value if isinstance(value, str) else ""
            data.append(
                E(BODY, E("AirSyncBase:Type", value="1"), E("AirSyncBase:Data", value=text))
            )
        elif tag == PICTURE:
            if isinstance(value, str):
                data.append(E(PICTURE, value=value))
            elif not ex.unknown_picture:
                data.append(E(PICTURE))  # empty clears: an omitted Picture stays (§5.1)
        elif tag in LIST_TAGS:
            if value:
                data.append(E(tag, *(E(LIST_TAGS[tag], value=v) for v in value)))
        elif isinstance(value, str):
            data.append(E(tag, value=value))
    return data


_ADDRESS_IN_ANGLES = re.compile(r"<\s*([^<>\s]+@[^<>\s]+)\s*>\s*$")


def bare_address(value: str) -> str:
    """``"Ada" <ada@example.org>`` → ``ada@example.org`` (Exchange sends that form)."""
    match = _ADDRESS_IN_ANGLES.search(value)
    return match.group(1) if match else value.strip().strip('"').strip()


@dataclass(frozen=True)
class ServerExtras:
    """What the server sent that is not a slot value but must be kept in the card."""

    #: Contacts:Picture was a URL, not base64 (SOGo, TbSync #236)
    picture_url: str | None = None
    #: AirSyncBase:Body/Truncated was 1: the note is partial
    body_truncated: bool = False


_KNOWN_TAGS = frozenset(TAG_ORDER) | {"Contacts:Body"}


def values_from_elements(data: Element) -> tuple[dict[str, Value], ServerExtras]:
    """Slot values from ApplicationData, and what else the card must carry.
    Empty elements read as absent (SOGo Q16); unknown or unreadable fields are skipped."""
    values: dict[str, Value] = {}
    picture_url: str | None = None
    body_truncated = False
    for child in data:
        tag = child.tag
        if tag not in _KNOWN_TAGS:
            continue  # Alias, WeightedRank: recipient-information cache only (§7.1)
        if tag in LIST_TAGS:
            items = tuple(
                t.strip() for c in child.findall(LIST_TAGS[tag]) if (t := c.text()) and t.strip()
            )
            if items:
                values[tag] = tuple(dict.fromkeys(items)) if tag == CATEGORIES else items
        elif tag in (BODY, "Contacts:Body"):
            text = child.text("AirSyncBase:Data") if tag == BODY else child.text()
            if text and text.strip() and BODY not in values:
                values[BODY] = normalize.crlf(text)
                body_truncated = tag == BODY and child.text("AirSyncBase:Truncated") == "1"
        elif tag == PICTURE:
            raw = child.text()
            if raw is None:
                continue
            picture = normalize.clean_base64(raw)
            if picture is not None:
                values[PICTURE] = picture
            elif raw.strip().lower().startswith(("http://", "https://")):
                picture_url = _one_line(raw)  # SOGo sent a URL (TbSync #236)
            else:
                log.warning("ignoring a contact Picture that is not base64 (%d chars)", len(raw))
        elif tag in (BIRTHDAY, ANNIVERSARY):
            raw = child.text()
            day = normalize.date_from_eas_datetime(raw)
            if day is not None:
                values[tag] = normalize.date_to_eas_datetime(day)
            elif raw:
                log.warning("ignoring unreadable %s %r", child.name, raw[:40])
        else:
            text = child.text()
            if text is None or not text.strip():
                continue
            if tag in EMAILS:
                text = bare_address(text)
            elif tag in IMS:
                text = _one_line(text)  # written unescaped (a URI): a line break would cut it
            elif tag in STREETS:
                text = normalize.crlf(text).strip()
            else:
                text = text.strip()
            if text:
                values[tag] = text
    return _compact(values), ServerExtras(picture_url, body_truncated)


def _one_line(text: str) -> str:
    """Line breaks → spaces, for values written into a vCard line as they are (URIs)."""
    return " ".join(text.replace("\r", "\n").split("\n")).strip()


def _compact(values: dict[str, Value]) -> dict[str, Value]:
    """Fill slots from the first one, as ``extract`` would read the card back."""
    out = dict(values)
    for family in (EMAILS, IMS, ("Contacts:HomePhoneNumber", "Contacts:Home2PhoneNumber")):
        present = [values[t] for t in family if t in values]
        for tag in family:
            out.pop(tag, None)
        out.update(zip(family, present, strict=False))
    business = ("Contacts:BusinessPhoneNumber", "Contacts:Business2PhoneNumber")
    present = [values[t] for t in business if t in values]
    for tag in business:
        out.pop(tag, None)
    out.update(zip(business, present, strict=False))
    return out


# --- slot values → a canonical vCard 3.0 ----------------------------------------------------


def _text_prop(name: str, text: str, params: list[tuple[str, list[str]]] | None = None) -> Property:
    return Property(name, escape(text), params or [])  # escape makes line ends LF


def card_from_values(values: dict[str, Value], extras: ServerExtras | None = None) -> Card:
    extras = extras or ServerExtras()

    # "" for absent and list slots; a bound dict method (called ~65 times per card)
    text: defaultdict[str, str] = defaultdict(
        str, {tag: value for tag, value in values.items() if isinstance(value, str)}
    )
    get = text.__getitem__

    props: list[Property] = [Property("VERSION", "3.0")]
    file_as = get(FILE_AS) or display_name(values)
    props.append(_text_prop("FN", file_as))
    props.append(Property("N", structured(get(t) for t in NAME_TAGS)))
    if get(NICKNAME):
        props.append(_text_prop("NICKNAME", get(NICKNAME)))
    for tag in (YOMI_FIRST, YOMI_LAST):
        if get(tag):
            props.append(_text_prop(TEXT_PROPERTIES[tag][0], get(tag)))
    if get(COMPANY) or get(DEPARTMENT):
        org = [get(COMPANY), get(DEPARTMENT)] if get(DEPARTMENT) else [get(COMPANY)]
        props.append(Property("ORG", structured(org)))
    for tag in (YOMI_COMPANY, JOB_TITLE, OFFICE):
        if get(tag):
            props.append(_text_prop(TEXT_PROPERTIES[tag][0], get(tag)))
    for tag in EMAILS:
        if get(tag):
            props.append(_text_prop("EMAIL", get(tag), [("TYPE", ["INTERNET"])]))
    for tag, types in PHONES.items():
        if get(tag):
            props.append(_text_prop("TEL", get(tag), [("TYPE", list(types))]))
    for kind, tags in ADDRESSES.items():
        parts = [get(t) for t in tags]
        if any(parts):
            street, city, region, code, country = parts
            adr = structured(["", "", normalize.lf(street), city, region, code, country])
            props.append(
                Property("ADR", adr, [("TYPE", [kind.upper().replace("BUSINESS", "WORK")])])
            )
    if get(WEBPAGE):
        props.append(_text_prop("URL", get(WEBPAGE)))  # escaped, as Apple writes URLs
    for tag in IMS:
        if get(tag):
            props.append(Property("IMPP", get(tag)))
    for tag, name in ((BIRTHDAY, "BDAY"), (ANNIVERSARY, "X-ANNIVERSARY")):
        day = normalize.parse_vcard_date(get(tag))
        if day is not None:
            props.append(Property(name, day.isoformat()))
    for tag in (SPOUSE, ASSISTANT, MANAGER):
        if get(tag):
            props.append(_text_prop(TEXT_PROPERTIES[tag][0], get(tag)))
    for child in values.get(CHILDREN, ()) if isinstance(values.get(CHILDREN), tuple) else ():
        props.append(_text_prop(CHILD_PROPERTIES[0], child))
    cats = values.get(CATEGORIES)
    if isinstance(cats, tuple) and cats:
        props.append(Property("CATEGORIES", ",".join(escape(c) for c in cats)))
    for tag in (CUSTOMER_ID, GOVERNMENT_ID, ACCOUNT_NAME):
        if get(tag):
            props.append(_text_prop(TEXT_PROPERTIES[tag][0], get(tag)))
    if get(PICTURE):
        kind = normalize.image_type(base64.b64decode(get(PICTURE)))
        props.append(Property("PHOTO", get(PICTURE), [("ENCODING", ["b"]), ("TYPE", [kind])]))
    elif extras.picture_url:
        props.append(Property(PICTURE_URL, extras.picture_url))
    if get(BODY):
        truncated: list[tuple[str, list[str]]] = [(TRUNCATED, ["1"])]
        props.append(_text_prop("NOTE", get(BODY), truncated if extras.body_truncated else None))
    return Card(props)


# --- vCard 3.0 ⇄ 4.0 forms ------------------------------------------------------------------


def to_v4(prop: Property) -> Property:
    """A vCard 3.0 property as written into a vCard 4.0 file (RFC 6350)."""
    if prop.name == "X-ANNIVERSARY" or (prop.name == "BDAY" and "-" in prop.value):
        name = "ANNIVERSARY" if prop.name == "X-ANNIVERSARY" else "BDAY"
        day = normalize.parse_vcard_date(prop.value)
        if day is not None:
            return Property(name, day.strftime("%Y%m%d"), [], prop.group)
    if prop.name in ("X-SPOUSE", "X-CHILD"):
        kind = "spouse" if prop.name == "X-SPOUSE" else "child"
        return Property("RELATED", prop.value, [("TYPE", [kind]), ("VALUE", ["text"])], prop.group)
    if prop.name == "EMAIL":
        params = [(k, v) for k, v in prop.params if not (k == "TYPE" and v == ["INTERNET"])]
        return Property("EMAIL", prop.value, params, prop.group)
    if prop.name == "PHOTO" and {e.lower() for e in prop.param("ENCODING")} & {"b", "base64"}:
        kind = (prop.param("TYPE") or ["JPEG"])[0].lower()
        return Property("PHOTO", f"data:image/{kind};base64,{prop.value}", [], prop.group)
    return prop


def to_v3(prop: Property) -> Property:
    """The vCard 3.0 form of a vCard 4.0 property (for comparing 3.0 and 4.0 files)."""
    if prop.name == "ANNIVERSARY":
        return Property("X-ANNIVERSARY", prop.value, [], prop.group)
    if prop.name == "RELATED":
        slot = _related_slot(prop)
        if slot == SPOUSE:
            return Property("X-SPOUSE", prop.value, [], prop.group)
        if slot == CHILDREN:
            return Property("X-CHILD", prop.value, [], prop.group)
    if prop.name == "PHOTO" and prop.value.lower().startswith("data:"):
        header, _, payload = prop.value.partition(",")
        kind = header[5:].split(";")[0].partition("/")[2].upper() or "JPEG"
        return Property("PHOTO", payload, [("ENCODING", ["b"]), ("TYPE", [kind])], prop.group)
    return prop


# --- the handler ----------------------------------------------------------------------------

#: stripped before hashing: every writer restamps these on save (Nextcloud, SOGo and
#: khard rewrite REV; PRODID names the last writer); VERSION because a 3.0 and a 4.0
#: file with the same content are the same contact.
VOLATILE = frozenset({"REV", "PRODID", "VERSION"})
#: parameters that do not change meaning
_IGNORED_PARAMS = frozenset({"CHARSET", "ENCODING", "VALUE", "PID"})
_DEFAULT_TYPES = {"EMAIL": {"internet"}, "TEL": {"voice"}}


#: a blank ending a list item or the value: the one thing the plain case canonicalises
_TRAILING_BLANK = re.compile(r"\s(?:[;,]|\Z)")


def _canonical_value(prop: Property) -> str:
    if prop.name == "PHOTO":
        picture = _photo_base64(prop)
        if picture is not None:
            return "sha256:" + normalize.digest([picture])
        return prop.value.strip()
    if prop.name in ("BDAY", "ANNIVERSARY", "X-ANNIVERSARY"):
        day = normalize.parse_vcard_date(prop.value)
        if day is not None:
            return day.isoformat()
    value = prop.value
    if "\\" not in value and "\r" not in value and "\n" not in value:
        # the usual case: nothing to unescape, so unescape+escape is the identity and
        # only the trailing blanks of each list item go (same result, 5x faster) …
        if _TRAILING_BLANK.search(value) is None:
            return value.rstrip(";")  # … and mostly there are none
        return ";".join(
            ",".join(v.rstrip() for v in part.split(",")) for part in value.split(";")
        ).rstrip(";")
    parts = []
    for component in _split_all(value):
        parts.append(",".join(escape(normalize.lf(v).rstrip()) for v in component))
    return ";".join(parts).rstrip(";")


def _split_all(value: str) -> list[list[str]]:
    return [
        [unescape(v) for v in split_unescaped(part, ",")] for part in split_unescaped(value, ";")
    ]


#: the properties to_v3 changes
_V4_FORMS = frozenset({"ANNIVERSARY", "RELATED", "PHOTO"})


def _canonical_line(prop: Property) -> str | None:
    if prop.name in _V4_FORMS:
        prop = to_v3(prop)
    value = _canonical_value(prop)
    if not value.strip():
        return None  # SOGo sends empty properties for absent values (Q16)
    if not prop.params:
        return f"{prop.name}:{value}"  # what the general case gives without parameters
    params = tuple((key, tuple(values)) for key, values in prop.params)
    return _canonical_head(prop.name, params) + ":" + value


@functools.lru_cache(maxsize=1024)
def _canonical_head(name: str, params: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """Name and parameters of a canonical line: a few dozen distinct ones recur in
    every address book (``TEL;TYPE=CELL``), so they are worked out once each."""
    prop = Property(name, "", [(key, list(values)) for key, values in params])
    types = prop.types() - _DEFAULT_TYPES.get(name, set())
    canonical: list[str] = []
    if "pref" in types or prop.param("PREF"):
        types.discard("pref")
        canonical.append("PREF")
    if types:
        canonical.append("TYPE=" + ",".join(sorted(types)))
    for key, values in params:
        if key in _IGNORED_PARAMS or key in {"TYPE", "PREF"} or not values:
            continue
        canonical.append(f"{key}={','.join(sorted(values))}")
    return ";".join([name, *sorted(canonical)])


# --- memoisation ----------------------------------------------------------------------------
#
# Within one run the engine converts the same bytes several times (fingerprint of a
# download, project() of it, merge(), fingerprint of the result …: 6 fingerprints and
# 13 parses per downloaded contact, profiled). Items are immutable bytes, so results
# are cached by the raw bytes: parsed cards, extractions and projections (CACHE_ENTRIES
# each; cards larger than CACHE_MAX_BYTES, i.e. big photos, are not cached), and
# fingerprints by a digest of the bytes (small entries, so many). One level down, the
# parsed property and the canonical fingerprint form of each line are cached by the
# line's text (vcard.LINE_CACHE_ENTRIES), so a download and the file written from it
# with a UID added share all other lines. Cached values are immutable (str, Item,
# frozen Property) or copied before they leave (Card lists, Extraction).

CACHE_ENTRIES = 512
CACHE_MAX_BYTES = 32 * 1024
#: bytes of cards kept by each of the made-card caches (512 plain cards are ~0.3 MB)
MADE_CACHE_BYTES = 4 * 1024 * 1024


def _cacheable(raw: bytes) -> bool:
    return len(raw) <= CACHE_MAX_BYTES


@functools.lru_cache(maxsize=CACHE_ENTRIES)
def _parsed(raw: bytes) -> tuple[Property, ...]:
    return tuple(parse(raw).properties)


def _card(item: Item) -> Card:
    """The card of ``item`` (a fresh Card; its frozen properties may be shared)."""
    if not _cacheable(item.raw):
        return parse(item.raw)
    made = _made_cards.get(item.raw)
    if made is not None:
        return Card(list(made))
    return Card(list(_parsed(item.raw)))


@functools.lru_cache(maxsize=CACHE_ENTRIES)
def _extraction_of(raw: bytes) -> Extraction:
    return extract(_card(Item(raw)))


def _extraction(item: Item) -> Extraction:
    """``extract`` of the item's card; a copy, so callers cannot alter the cache."""
    if not _cacheable(item.raw):
        return extract(parse(item.raw))
    cached = _extraction_of(item.raw)
    return replace(cached, values=dict(cached.values), feeds=list(cached.feeds))


@functools.lru_cache(maxsize=vcard.LINE_CACHE_ENTRIES)
def _canonical_of_line(line: str) -> str | None:
    """The canonical form of one property line for the fingerprint (None: left out)."""
    prop = property_of(line)
    if prop.name in VOLATILE:
        return None
    return _canonical_line(prop)


def _fingerprint_of(raw: bytes) -> str:
    canonical: list[str] = []
    for number, line in card_lines(raw):
        if len(line) > vcard.LINE_CACHE_MAX_CHARS:
            prop = parse_line(line, number)
            text = None if prop.name in VOLATILE else _canonical_line(prop)
        else:
            try:
                text = _canonical_of_line(line)
            except ConversionError:
                parse_line(line, number)  # raises again, naming the line number
                raise
        if text is not None:
            canonical.append(text)
    return normalize.digest(canonical)


# --- setting a UID without reading the card back -------------------------------------------
#
# A downloaded contact has no UID: the engine sets a placeholder UID to hash its
# content (bare hash), then a derived UID to write it, and hashes that. Serialising
# the card and reading the bytes back only to hash them cost ~0.2 ms per contact
# (profiled, 5000 contacts). The logical lines card_lines reads back from
# serialize(card) are exactly line_text(p) of its properties (fold and _unfold are
# inverse), except in the cases _line_of refuses; so the lines other than UID are
# rendered and canonicalised once per card (_UidTemplate), and each UID added costs
# one line. Same bytes and fingerprints as the slow path
# (tests/unit/test_contacts_uid_template.py checks it against the slow path).


def _line_of(prop: Property) -> str | None:
    """The logical line ``card_lines(serialize(...))`` yields for ``prop``, or None where
    reading it back could differ from ``line_text`` (a CR/LF in it; a vCard 2.1
    quoted-printable soft break that joins the next line; a BEGIN/END property)."""
    if prop.name in ("BEGIN", "END"):
        return None
    line = line_text(prop)
    if "\r" in line or "\n" in line:
        return None
    if line.endswith("=") and "QUOTED-PRINTABLE" in line.upper():
        return None
    return line


def _canonical_text(line: str) -> str | None:
    """``_fingerprint_of``'s canonical form of one logical line (None: left out)."""
    if len(line) > vcard.LINE_CACHE_MAX_CHARS:
        prop = parse_line(line)
        return None if prop.name in VOLATILE else _canonical_line(prop)
    return _canonical_of_line(line)


@dataclass(frozen=True)
class _UidTemplate:
    """A card's lines without its UID, the properties they read back as, and where
    ``Card.set_single`` puts the UID."""

    lines: tuple[str, ...]
    properties: tuple[Property, ...]
    canonical: tuple[str, ...]
    uid_index: int

    def with_uid(self, uid: str) -> tuple[list[str], str, tuple[Property, ...]] | None:
        """The card's lines with UID ``uid``, their fingerprint, and the properties
        ``parse`` reads back from them; None: take the slow path."""
        uid_line = _uid_line(uid)
        if uid_line is None:
            return None
        line, prop, text = uid_line
        at = self.uid_index
        lines = [*self.lines[:at], line, *self.lines[at:]]
        canonical = self.canonical if text is None else (*self.canonical, text)
        properties = (*self.properties[:at], prop, *self.properties[at:])
        return lines, normalize.digest(canonical), properties


@functools.lru_cache(maxsize=8)
def _uid_line(uid: str) -> tuple[str, Property, str | None] | None:
    """The UID line, its property and canonical form; None: take the slow path.
    Cached for the placeholder UID of every bare hash; not in the line caches, where
    the unique derived UIDs would only evict other lines."""
    line = _line_of(_text_prop("UID", uid))
    if line is None:
        return None
    try:
        prop = parse_line(line)
        return line, prop, _canonical_line(prop)
    except ConversionError:
        return None


def _uid_template(raw: bytes) -> _UidTemplate | None:
    made = _templates.get(raw)
    if made is not None:
        return made
    template = _template_of(_parsed(raw))
    if template is not None:
        _templates.put(raw, template)
    return template


def _template_of(properties: tuple[Property, ...]) -> _UidTemplate | None:
    """The template of a card whose bytes parse as ``properties``."""
    index = next((i for i, p in enumerate(properties) if p.name == "UID"), None)
    if index is None:  # as Card.set_single places a new UID
        index = 1 if properties and properties[0].name == "VERSION" else 0
    lines: list[str] = []
    read_back: list[Property] = []
    canonical: list[str] = []
    try:
        for prop in properties:
            if prop.name == "UID":
                continue
            line = _line_of(prop)
            if line is None:
                return None
            lines.append(line)
            text = _canonical_text(line)  # first: it fills the line cache property_of reads
            read_back.append(property_of(line))
            if text is not None:
                canonical.append(text)
    except ConversionError:
        return None
    return _UidTemplate(tuple(lines), tuple(read_back), tuple(canonical), index)


def _template_of_made(properties: list[Property]) -> _UidTemplate | None:
    """The template of a card ``card_from_values`` made, from its properties alone.

    ``card_from_values`` writes upper-case names and parameter keys, no group, no
    double quote in parameter values, and every value on one line (``escape`` or
    ``_one_line``), so each line reads back as the property it was rendered from and
    the parse that ``_template_of`` does would only repeat it (~40 % of a download's
    conversion, profiled). Lines ``_line_of`` refuses take the slow path.
    tests/unit/test_contacts_uid_template.py checks both paths give the same."""
    lines: list[str] = []
    canonical: list[str] = []
    read_back: list[Property] = []
    for prop in properties:
        if prop.name == "UID":
            return None  # never made; the general path places it
        line = _line_of(prop)
        if line is None:
            return None
        lines.append(line)
        read_back.append(prop)
        if prop.name not in VOLATILE:
            text = _canonical_line(prop)
            if text is not None:
                canonical.append(text)
    index = 1 if properties and properties[0].name == "VERSION" else 0
    return _UidTemplate(tuple(lines), tuple(read_back), tuple(canonical), index)


def _uid_lines(item: Item, uid: str) -> tuple[list[str], str, tuple[Property, ...]] | None:
    """The lines, fingerprint and read-back properties of ``with_uid(item, uid)``; None:
    take the slow path."""
    if not _cacheable(item.raw):
        return None
    template = _uid_template(item.raw)
    return None if template is None else template.with_uid(uid)


def _serialize_lines(lines: list[str]) -> bytes:
    """``vcard.serialize`` of a card whose properties have these line texts."""
    out = ["BEGIN:VCARD"]
    out.extend(fold(line) for line in lines)
    out.append("END:VCARD")
    return (vcard.CRLF.join(out) + vcard.CRLF).encode("utf-8")


K = TypeVar("K")
V = TypeVar("V")


class _LruMap(Generic[K, V]):
    """A bounded, thread-safe LRU map (functools.lru_cache cannot be filled from
    outside: from_eas and with_uid store what they know of the bytes they made).

    At most ``entries`` entries and, with ``max_bytes``, at most that many bytes of
    ``bytes`` keys (the cards themselves: a batch of 512 cards with photos must not
    hold hundreds of MB; evicted cards just take the slow path)."""

    def __init__(self, entries: int, max_bytes: int | None = None) -> None:
        self.entries = entries
        self.max_bytes = max_bytes
        self._data: OrderedDict[K, V] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def _size(key: K) -> int:
        return len(key) if isinstance(key, bytes) else 0

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            if key not in self._data:
                self._bytes += self._size(key)
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.entries or (
                self.max_bytes is not None and self._bytes > self.max_bytes and self._data
            ):
                evicted, _ = self._data.popitem(last=False)
                self._bytes -= self._size(evicted)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0


def _digest_key(raw: bytes) -> bytes:
    """Fingerprints are kept by a digest of the bytes, not the bytes: entries stay
    small whatever the card's size, so the cache can hold many (the engine asks again
    for items it saw thousands of items earlier)."""
    return hashlib.blake2b(raw, digest_size=20).digest()


_fingerprints: _LruMap[bytes, str] = _LruMap(8192)
# The next two hold what from_eas learnt of the cards it made until the engine hashes
# them, after converting the whole Sync batch (WindowSize 512): as many entries.
#: ``parse(raw).properties`` of the cards from_eas and with_uid made lately
_made_cards: _LruMap[bytes, tuple[Property, ...]] = _LruMap(CACHE_ENTRIES, MADE_CACHE_BYTES)
#: the _UidTemplate of recent cards (by their bytes)
_templates: _LruMap[bytes, _UidTemplate] = _LruMap(CACHE_ENTRIES, MADE_CACHE_BYTES)


def _fingerprint(raw: bytes) -> str:
    key = _digest_key(raw)
    found = _fingerprints.get(key)
    if found is None:
        found = _fingerprint_of(raw)
        _fingerprints.put(key, found)
    return found


def clear_caches() -> None:
    """Empty the conversion caches (benchmarks measure cold calls with it)."""
    caches = (_parsed, _extraction_of, _canonical_of_line, _projected, _uid_line, _canonical_head)
    for cache in caches:
        cache.cache_clear()
    vcard.clear_caches()
    for made in (_fingerprints, _made_cards, _templates):
        made.clear()


def _uid(card: Card) -> str | None:
    return card.first_text("UID")


@item_failures
class ContactsHandler:
    kind = "contacts"
    eas_class = "Contacts"
    fileext = ".vcf"

    def __init__(self, knowledge: SlotKnowledge | None = None) -> None:
        #: what the folder's server holds (eassync.sync.slots); None: unknown, every
        #: slot is taken as held (the handler of tools that know no folder)
        self.knowledge = knowledge

    def to_eas(self, item: Item, version: str) -> Element:
        return elements_from_values(_extraction(item))

    def from_eas(self, data: Element, version: str) -> Item:
        if self.knowledge is not None:
            self.knowledge.saw(slots_of_data(data))
        return _card_item(*values_from_elements(data))

    def slots_of_data(self, data: Element) -> set[str]:
        """The slots a server item fills (read-back after a push)."""
        return slots_of_data(data)

    def slots_of_item(self, item: Item) -> set[str]:
        """The slots a local item asks the server to hold."""
        return set(_extraction(item).values)

    def supported(self, version: str) -> list[str]:
        # Everything we map, so the server ghosts (keeps) only what we do not manage
        # (Alias, WeightedRank, future fields). AirSyncBase:Body is not a ghostable
        # element; it is always sent instead (empty to clear).
        tags = [t for t in TAG_ORDER if t != BODY]
        return tags

    def project(self, item: Item, version: str) -> Item:
        """``from_eas(to_eas(item))`` without the slots the server is known to drop."""
        dropped = self.knowledge.dropped_key if self.knowledge is not None else frozenset()
        if not _cacheable(item.raw):
            return _project(item, dropped)
        return _projected(item.raw, version, dropped)

    def merge(self, remote: Item, local: Item | None) -> Item:
        remote_card = _card(remote)
        if local is None:
            uid = _uid(remote_card) or remote.uid
            if uid is None:
                return self.with_uid(remote, str(uuid.uuid4()))
            return Item(remote.raw, uid)
        local_card = _card(local)
        remote_ex, local_ex = _extraction(remote), _extraction(local)
        merged = merge_cards(
            remote_card,
            local_card,
            remote_ex=remote_ex,
            local_ex=local_ex,
            keep=self._not_held(local_ex, remote_ex),
        )
        return Item(serialize(merged), _uid(merged) or local.uid)

    def _not_held(self, local_ex: Extraction, remote_ex: Extraction) -> frozenset[str]:
        """Local slots the server's copy lacks and the server is not known to hold:
        their absence says nothing about an edit elsewhere, the local values stay."""
        if self.knowledge is None:
            return frozenset()
        held = self.knowledge.held
        return frozenset(t for t in local_ex.values if t not in remote_ex.values and t not in held)

    def match_anchor(self, item: Item) -> str:
        """A coarse key for matching a server item to a local one when their content
        hashes differ (see :meth:`same_held_content`): the names, or the first e-mail."""
        values = _extraction(item).values
        parts = [_layout(values.get(t)).casefold() for t in (FIRST, LAST, COMPANY)]
        if any(parts):
            return "n:" + "\0".join(parts)
        for tag in (FILE_AS, *EMAILS):
            if values.get(tag):
                return f"{tag}:" + _layout(values.get(tag)).casefold()
        return ""

    def same_held_content(self, local: Item, remote: Item, version: str) -> bool:
        """Whether ``remote`` is the server's copy of ``local`` as far as the server
        holds it: equal in every slot the server is known to hold or sent, where streets
        compare without regard to line layout (SOGo joins lines after the second). Local
        slots the server is not known to hold are not compared."""
        mine = _extraction(self.project(local, version)).values
        theirs_ex = _extraction(remote)
        theirs = theirs_ex.values
        compared = set(theirs) | (self.knowledge.held if self.knowledge is not None else set())
        for tag in compared:
            if tag == PICTURE and theirs_ex.unknown_picture:
                continue
            if tag == BODY and theirs_ex.truncated_body:
                continue
            if not _same_value(tag, mine.get(tag), theirs.get(tag)):
                return False
        return True

    def fingerprint(self, item: Item) -> str:
        return _fingerprint(item.raw)

    def with_uid(self, item: Item, uid: str) -> Item:
        fast = _uid_lines(item, uid)
        if fast is None:
            card = _card(item)
            card.set_single(_text_prop("UID", uid))
            return Item(serialize(card), uid)
        lines, found, properties = fast
        raw = _serialize_lines(lines)
        # the engine hashes, merges and describes it next: its fingerprint and parse
        # are known already, without reading the bytes back
        _fingerprints.put(_digest_key(raw), found)
        if _cacheable(raw):
            _made_cards.put(raw, properties)
        return Item(raw, uid)

    def fingerprint_with_uid(self, item: Item, uid: str) -> str:
        """``fingerprint(with_uid(item, uid))`` without building the new item (the
        engine's bare hash of every downloaded contact)."""
        fast = _uid_lines(item, uid)
        if fast is None:
            return self.fingerprint(self.with_uid(item, uid))
        return fast[1]

    def describe(self, item: Item) -> str:
        try:
            card = _card(item)
        except ConversionError:
            return "(unreadable vCard)"
        name = card.first_text("FN")
        if name:
            return name
        values = _extraction(item).values
        return display_name(values) or "(unnamed contact)"


@functools.lru_cache(maxsize=CACHE_ENTRIES)
def _projected(raw: bytes, version: str, dropped: frozenset[str]) -> Item:
    return _project(Item(raw), dropped)


def _project(item: Item, dropped: frozenset[str]) -> Item:
    data = elements_from_values(_extraction(item))
    if dropped:
        data = Element(data.tag, [c for c in data.children if c.tag not in dropped])
    return _card_item(*values_from_elements(data))


def _card_item(values: dict[str, Value], extras: ServerExtras) -> Item:
    properties = card_from_values(values, extras).properties
    template = _template_of_made(properties)
    if template is None:
        return Item(serialize(Card(properties)), None)
    raw = _serialize_lines(list(template.lines))
    if _cacheable(raw):
        # the engine hashes it with a UID set next: known without a parse
        _templates.put(raw, template)
        _made_cards.put(raw, tuple(properties))
    return Item(raw, None)


def slots_of_data(data: Element) -> set[str]:
    """The slots a server item fills, by the tags it sent: not compacted like the
    values (a server keeping IMAddress and IMAddress3 has no IMAddress2)."""
    slots: set[str] = set()
    for child in data:
        tag = BODY if child.tag == "Contacts:Body" else child.tag
        if tag not in _KNOWN_TAGS:
            continue
        if tag == BODY and child.tag == BODY:
            filled = bool((child.text("AirSyncBase:Data") or "").strip())
        elif child.children:
            filled = True
        else:
            filled = bool(child.value) and bool(str(child.value).strip())
        if filled:
            slots.add(tag)  # a Picture URL (SOGo) too: held, in a form we cannot read
    return slots


def _layout(value: Value | None) -> str:
    """Text with every run of white space (line breaks too) as one space."""
    return " ".join(value.split()) if isinstance(value, str) else ""


def _same_value(tag: str, mine: Value | None, theirs: Value | None) -> bool:
    if mine == theirs:
        return True
    return tag in STREETS and _layout(mine) == _layout(theirs)


def merge_cards(
    remote: Card,
    local: Card,
    *,
    remote_ex: Extraction | None = None,
    local_ex: Extraction | None = None,
    keep: frozenset[str] = frozenset(),
) -> Card:
    """Local properties whose slots did not change stay as they are; the rest come from
    ``remote``, written in the local file's vCard version. ``remote_ex``/``local_ex``:
    the cards' extractions when the caller has them already (read only). ``keep``:
    slots whose local values stay whatever ``remote`` holds (the server does not keep
    them). A street that differs only in line layout has not changed."""
    remote_ex = remote_ex if remote_ex is not None else extract(remote)
    local_ex = local_ex if local_ex is not None else extract(local)
    tags = (set(remote_ex.values) | set(local_ex.values)) - keep
    changed = {
        t for t in tags if not _same_value(t, local_ex.values.get(t), remote_ex.values.get(t))
    }
    if remote_ex.unknown_picture:
        changed.discard(PICTURE)
    if remote_ex.truncated_body:
        changed.discard(BODY)
    v4 = local.version.startswith("4")
    incoming = [
        (i, to_v4(p) if v4 else p)
        for i, p in enumerate(remote.properties)
        if remote_ex.feeds[i] & changed
    ]
    placed: set[int] = set()
    out: list[Property] = []
    for i, prop in enumerate(local.properties):
        dropped = local_ex.feeds[i] & changed
        if not dropped:
            out.append(prop)
            continue
        for j, new in incoming:
            if j not in placed and remote_ex.feeds[j] & dropped:
                out.append(new)
                placed.add(j)
    out.extend(new for j, new in incoming if j not in placed)
    return Card(out)


HANDLER = ContactsHandler()
