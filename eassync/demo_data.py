"""Sample contacts for ``eassync demo`` (EAS ApplicationData, as a server holds them)."""

from __future__ import annotations

from eassync.eas.element import E, Element

SAMPLE_CONTACTS: list[dict[str, str]] = [
    {
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "FileAs": "Lovelace, Ada",
        "CompanyName": "Analytical Engines Ltd",
        "JobTitle": "Mathematician",
        "Email1Address": "ada@example.org",
        "MobilePhoneNumber": "+44 20 7946 0001",
        "HomeAddressCity": "London",
        "HomeAddressCountry": "United Kingdom",
        "Birthday": "1815-12-10T00:00:00.000Z",
    },
    {
        "FirstName": "Alan",
        "LastName": "Turing",
        "FileAs": "Turing, Alan",
        "CompanyName": "National Physical Laboratory",
        "Email1Address": "alan@example.org",
        "BusinessPhoneNumber": "+44 20 7946 0002",
    },
    {
        "FirstName": "Grace",
        "LastName": "Hopper",
        "FileAs": "Hopper, Grace",
        "JobTitle": "Rear Admiral",
        "Email1Address": "grace@example.org",
        "Email2Address": "amazing.grace@example.net",
        "WebPage": "https://example.org/grace",
    },
    {
        "FirstName": "Edsger",
        "LastName": "Dijkstra",
        "FileAs": "Dijkstra, Edsger",
        "Email1Address": "ewd@example.org",
        "BusinessAddressCity": "Austin",
        "BusinessAddressState": "TX",
    },
]


def contact(fields: dict[str, str], note: str | None = None) -> Element:
    """ApplicationData for a contact; ``note`` becomes the AirSyncBase body."""
    data = E("AirSync:ApplicationData")
    for name, value in fields.items():
        data.add(f"Contacts:{name}", value)
    if note:
        data.append(
            E("AirSyncBase:Body", E("AirSyncBase:Type", value=1), E("AirSyncBase:Data", value=note))
        )
    return data


def note(subject: str, body: str, categories: tuple[str, ...] = ()) -> Element:
    """ApplicationData for a note (MS-ASNOTE): subject, plain body, categories."""
    data = E(
        "AirSync:ApplicationData",
        E("AirSyncBase:Body", E("AirSyncBase:Type", value=1), E("AirSyncBase:Data", value=body)),
        E("Notes:Subject", value=subject),
        E("Notes:MessageClass", value="IPM.StickyNote"),
    )
    if categories:
        data.append(E("Notes:Categories", *(E("Notes:Category", value=c) for c in categories)))
    return data
