"""Property support tables as data, rendered to Markdown for the README.

Each row names the vCard property, the EAS element(s), a support level and a note.
``examples`` are content lines that exercise the row; the test suite round-trips every
example of every "Supported" row, so the table cannot claim more than the code does.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

SUPPORTED = "Supported"
LIMITED = "Limited"
NOT_SUPPORTED = "Not supported"

# the start and end markers of a JPEG: a picture small enough for the Picture slot
_TINY_JPEG = base64.b64encode(
    bytes.fromhex("ffd8ffe000104a46494600010100000100010000") + b"eassync" * 8 + b"\xff\xd9"
).decode("ascii")


def _address(kind: str) -> tuple[str, ...]:
    return tuple(
        f"Contacts:{kind}Address{part}"
        for part in ("Street", "City", "State", "PostalCode", "Country")
    )


@dataclass(frozen=True)
class Row:
    vcard: str
    eas: tuple[str, ...]
    level: str
    note: str = ""
    #: vCard 3.0 content lines that exercise the row (added to a card with FN and N)
    examples: tuple[str, ...] = ()
    #: the same for a vCard 4.0 card, where the 4.0 form differs
    examples_v4: tuple[str, ...] = ()


CONTACTS: tuple[Row, ...] = (
    Row(
        "FN",
        ("Contacts:FileAs",),
        SUPPORTED,
        "SOGo stores FileAs as FN and drops FN on a Change without FileAs, so FileAs is always"
        " sent; a card without FN sends First Middle Last (or company, e-mail).",
        ("FN:Countess of Lovelace",),
    ),
    Row(
        "N (family; given; additional; prefix; suffix)",
        (
            "Contacts:LastName",
            "Contacts:FirstName",
            "Contacts:MiddleName",
            "Contacts:Title",
            "Contacts:Suffix",
        ),
        SUPPORTED,
        "EAS `Title` is the honorific prefix (as TbSync and Outlook use it); job title is"
        " `JobTitle`.",
        ("N:Lovelace;Ada;King;Lady;Countess",),
    ),
    Row(
        "NICKNAME",
        ("Contacts2:NickName",),
        SUPPORTED,
        "The first NICKNAME property; further ones stay local.",
        ("NICKNAME:Enchantress of Numbers",),
    ),
    Row(
        "ORG (company; department)",
        ("Contacts:CompanyName", "Contacts:Department"),
        SUPPORTED,
        "Further organisational units stay in the local file while the server does not"
        " change the organisation.",
        ("ORG:Analytical Engines Ltd;Research",),
    ),
    Row("TITLE", ("Contacts:JobTitle",), SUPPORTED, "", ("TITLE:Mathematician",)),
    Row(
        "X-EAS-OFFICELOCATION",
        ("Contacts:OfficeLocation",),
        SUPPORTED,
        "Also read from X-EVOLUTION-OFFICE. SOGo 5.8 does not store it.",
        ("X-EAS-OFFICELOCATION:Room 101",),
    ),
    Row(
        "BDAY",
        ("Contacts:Birthday",),
        SUPPORTED,
        "Sent as `YYYY-MM-DDT00:00:00.000Z`; read ignoring the time, except that a time at"
        " or after 12:00 means the next day (servers that store local midnight as UTC)."
        " Dates without a year (`--MMDD`) stay local.",
        ("BDAY:1815-12-10",),
        ("BDAY:18151210",),
    ),
    Row(
        "X-ANNIVERSARY (3.0), ANNIVERSARY (4.0)",
        ("Contacts:Anniversary",),
        SUPPORTED,
        "Also read from X-EVOLUTION-ANNIVERSARY. SOGo 5.8 does not store it.",
        ("X-ANNIVERSARY:1835-07-08",),
        ("ANNIVERSARY:18350708",),
    ),
    Row(
        "X-SPOUSE (3.0), RELATED;TYPE=spouse;VALUE=text (4.0)",
        ("Contacts:Spouse",),
        SUPPORTED,
        "Also read from X-EVOLUTION-SPOUSE. SOGo 5.8 does not store it.",
        ("X-SPOUSE:William King",),
        ("RELATED;TYPE=spouse;VALUE=text:William King",),
    ),
    Row(
        "X-CHILD (3.0), RELATED;TYPE=child;VALUE=text (4.0)",
        ("Contacts:Children",),
        SUPPORTED,
        "One property per child. SOGo 5.8 does not store them.",
        ("X-CHILD:Byron", "X-CHILD:Anne Isabella"),
        ("RELATED;TYPE=child;VALUE=text:Byron",),
    ),
    Row(
        "X-ASSISTANT",
        ("Contacts:AssistantName",),
        SUPPORTED,
        "Also read from X-EVOLUTION-ASSISTANT. SOGo 5.8 does not store it.",
        ("X-ASSISTANT:Mary Somerville",),
    ),
    Row(
        "X-MANAGER",
        ("Contacts2:ManagerName",),
        SUPPORTED,
        "Also read from X-EVOLUTION-MANAGER. SOGo 5.8 does not store it.",
        ("X-MANAGER:Charles Babbage",),
    ),
    Row(
        "CATEGORIES",
        ("Contacts:Categories",),
        SUPPORTED,
        "All CATEGORIES properties together; duplicates sent once.",
        ("CATEGORIES:friends,science",),
    ),
    Row(
        "NOTE",
        ("AirSyncBase:Body",),
        SUPPORTED,
        "Plain text (Body Type 1), CRLF line ends on the server. Always sent, empty to clear.",
        ("NOTE:First line\\nsecond line\\, with a comma",),
    ),
    Row(
        "URL", ("Contacts:WebPage",), SUPPORTED, "The first URL.", ("URL:https://example.org/ada",)
    ),
    Row(
        "PHOTO",
        ("Contacts:Picture",),
        SUPPORTED,
        "Inline base64 photos up to 48 KB of base64 (about 36 KB of image). Larger photos and"
        " photo URLs are not sent and stay local; a server Picture that is a URL (SOGo) is"
        " kept as X-EAS-PICTURE-URL, invalid base64 is ignored.",
        (f"PHOTO;ENCODING=b;TYPE=JPEG:{_TINY_JPEG}",),
        (f"PHOTO:data:image/jpeg;base64,{_TINY_JPEG}",),
    ),
    Row(
        "IMPP, X-AIM, X-JABBER, X-ICQ, X-MSN, X-YAHOO, X-SKYPE …",
        ("Contacts2:IMAddress", "Contacts2:IMAddress2", "Contacts2:IMAddress3"),
        SUPPORTED,
        "The first three in order of preference; X- forms are sent as URIs (`xmpp:…`)."
        " SOGo 5.8 stores only the first.",
        ("IMPP:xmpp:ada@example.org", "X-AIM:ada42", "IMPP;PREF=1:sip:ada@example.org"),
    ),
    Row(
        "EMAIL",
        ("Contacts:Email1Address", "Contacts:Email2Address", "Contacts:Email3Address"),
        SUPPORTED,
        "The first three in order of preference (PREF, then file order); further ones stay"
        ' local. `"Name" <addr>` from the server is read as `addr`.',
        (
            "EMAIL;TYPE=INTERNET:ada@example.org",
            "EMAIL;TYPE=INTERNET,PREF:lovelace@example.org",
            "EMAIL:third@example.org",
        ),
    ),
    Row(
        "TEL;TYPE=CELL",
        ("Contacts:MobilePhoneNumber",),
        SUPPORTED,
        "One mobile; further ones stay local.",
        ("TEL;TYPE=CELL:+44 7700 900001",),
    ),
    Row(
        "TEL;TYPE=WORK",
        ("Contacts:BusinessPhoneNumber", "Contacts:Business2PhoneNumber"),
        SUPPORTED,
        "Two work phones. SOGo 5.8 stores only the first.",
        ("TEL;TYPE=WORK,VOICE:+44 20 7946 0001", "TEL;TYPE=WORK:+44 20 7946 0002"),
    ),
    Row(
        "TEL;TYPE=HOME",
        ("Contacts:HomePhoneNumber", "Contacts:Home2PhoneNumber"),
        SUPPORTED,
        "Two home phones. SOGo 5.8 stores only the first.",
        ("TEL;TYPE=HOME:+44 1865 000001", "TEL;TYPE=HOME,VOICE:+44 1865 000002"),
    ),
    Row(
        "TEL;TYPE=WORK,FAX",
        ("Contacts:BusinessFaxNumber",),
        SUPPORTED,
        "",
        ("TEL;TYPE=WORK,FAX:+44 20 7946 0009",),
    ),
    Row(
        "TEL;TYPE=HOME,FAX",
        ("Contacts:HomeFaxNumber",),
        SUPPORTED,
        "SOGo 5.8 does not store it.",
        ("TEL;TYPE=HOME,FAX:+44 1865 000009",),
    ),
    Row(
        "TEL;TYPE=CAR",
        ("Contacts:CarPhoneNumber",),
        SUPPORTED,
        "SOGo 5.8 does not store it.",
        ("TEL;TYPE=CAR:+44 1",),
    ),
    Row("TEL;TYPE=PAGER", ("Contacts:PagerNumber",), SUPPORTED, "", ("TEL;TYPE=PAGER:+44 2",)),
    Row(
        "TEL;TYPE=X-EVOLUTION-RADIO",
        ("Contacts:RadioPhoneNumber",),
        SUPPORTED,
        "Evolution's type. SOGo 5.8 does not store it.",
        ("TEL;TYPE=X-EVOLUTION-RADIO:+44 3",),
    ),
    Row(
        "TEL;TYPE=X-EVOLUTION-ASSISTANT",
        ("Contacts:AssistantPhoneNumber",),
        SUPPORTED,
        "Evolution's type. SOGo 5.8 does not store it.",
        ("TEL;TYPE=X-EVOLUTION-ASSISTANT:+44 4",),
    ),
    Row(
        "TEL;TYPE=X-EVOLUTION-COMPANY",
        ("Contacts2:CompanyMainPhone",),
        SUPPORTED,
        "Evolution's type. SOGo 5.8 does not store it.",
        ("TEL;TYPE=X-EVOLUTION-COMPANY:+44 5",),
    ),
    Row(
        "TEL;TYPE=X-MMS",
        ("Contacts2:MMS",),
        SUPPORTED,
        "SOGo 5.8 does not store it.",
        ("TEL;TYPE=X-MMS:+44 6",),
    ),
    Row(
        "TEL without a type (or VOICE, OTHER)",
        ("Contacts:HomePhoneNumber", "Contacts:Home2PhoneNumber"),
        LIMITED,
        'EAS has no "other" phone: such numbers fill a free home slot after the typed home'
        " phones and show as home phones on the server; the local file keeps its own line.",
        ("TEL:+44 7",),
    ),
    Row(
        "ADR;TYPE=WORK",
        _address("Business"),
        SUPPORTED,
        "One work address. Street lines are joined with CRLF; PO box and extended address"
        " become leading street lines. SOGo 5.8 keeps the first street line and joins the"
        " others with spaces (all addresses).",
        (
            "ADR;TYPE=WORK:;;12 St James's Square\\nFloor 2;London;Greater London;SW1Y 4LB;"
            "United Kingdom",
        ),
    ),
    Row(
        "ADR;TYPE=HOME",
        _address("Home"),
        SUPPORTED,
        "One home address.",
        ("ADR;TYPE=HOME:;;Ockham Park;Ockham;Surrey;GU23 6NP;United Kingdom",),
    ),
    Row(
        "ADR;TYPE=OTHER or ADR without a type",
        _address("Other"),
        SUPPORTED,
        "One other address; typed OTHER first, then untyped.",
        ("ADR;TYPE=OTHER:;;Newstead Abbey;Ravenshead;Nottinghamshire;NG15 8NA;United Kingdom",),
    ),
    Row(
        "X-PHONETIC-FIRST-NAME, X-PHONETIC-LAST-NAME, X-PHONETIC-ORG",
        ("Contacts:YomiFirstName", "Contacts:YomiLastName", "Contacts:YomiCompanyName"),
        SUPPORTED,
        "Apple's and Android's names for phonetic (Yomi) names. SOGo 5.8 does not store them.",
        (
            "X-PHONETIC-FIRST-NAME:Eida",
            "X-PHONETIC-LAST-NAME:Lavleis",
            "X-PHONETIC-ORG:Anaritikaru",
        ),
    ),
    Row(
        "X-EAS-CUSTOMERID, X-EAS-GOVERNMENTID, X-EAS-ACCOUNTNAME",
        ("Contacts2:CustomerId", "Contacts2:GovernmentId", "Contacts2:AccountName"),
        SUPPORTED,
        "EAS fields with no vCard property. SOGo 5.8 does not store them.",
        ("X-EAS-CUSTOMERID:C-1815", "X-EAS-GOVERNMENTID:GB-42", "X-EAS-ACCOUNTNAME:ada"),
    ),
    Row(
        "4th+ EMAIL, 3rd+ work/home TEL, 2nd+ ADR of a kind, 4th+ IMPP",
        (),
        NOT_SUPPORTED,
        "EAS has no slot: kept in the local file, never sent.",
    ),
    Row(
        "UID, REV, PRODID, GENDER, KIND, GEO, TZ, KEY, LOGO, SOUND, MEMBER, X- of other apps",
        (),
        NOT_SUPPORTED,
        "Kept in the local file, never sent. The merged file keeps the local vCard version.",
    ),
    Row(
        "—",
        ("Contacts:Alias", "Contacts:WeightedRank"),
        NOT_SUPPORTED,
        "Recipient-information cache only; ignored and never sent.",
    ),
)

TABLES: dict[str, tuple[Row, ...]] = {"contacts": CONTACTS}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(kind: str) -> str:
    """The support table of ``kind`` ("contacts") as a Markdown table."""
    rows = TABLES[kind]
    lines = ["| vCard | EAS | Support | Notes |", "|---|---|---|---|"]
    for row in rows:
        eas = ", ".join(f"`{tag}`" for tag in row.eas) or "—"
        lines.append(f"| {_cell(row.vcard)} | {_cell(eas)} | {row.level} | {_cell(row.note)} |")
    return "\n".join(lines) + "\n"
