"""Realistic sample contacts for ``--seed-contacts`` and benchmarks (deterministic, fast)."""

from __future__ import annotations

import random

from eassync.eas.element import E, Element

FIRST = (  # noqa: SIM905 (a word list reads better as text)
    "Ada Alan Barbara Claude Dennis Edsger Frances Grace Hedy Ivan John Katherine Linus "
    "Margaret Niklaus Ole Peter Radia Shafi Tim Ursula Vint Whitfield Xiao Yukihiro Zhang"
).split()
LAST = (  # noqa: SIM905
    "Lovelace Turing Liskov Shannon Ritchie Dijkstra Allen Hopper Lamarr Sutherland Backus "
    "Johnson Torvalds Hamilton Wirth Dahl Naur Perlman Goldwasser Berners-Lee Franklin Cerf "
    "Diffie Li Matsumoto Wei"
).split()
COMPANIES = ("Analytical Engines Ltd", "Bletchley Park", "Bell Labs", "Xerox PARC", "CERN")
CITIES = (
    ("London", "EC1A 1BB", "United Kingdom"),
    ("Berlin", "10115", "Germany"),
    ("Paris", "75001", "France"),
    ("Boston", "02108", "United States"),
    ("Zürich", "8001", "Switzerland"),
)
STREETS = ("High Street", "Hauptstraße", "Rue de la Paix", "Main Street", "Bahnhofstrasse")


def make_contact(index: int, rng: random.Random) -> Element:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    city, postcode, country = rng.choice(CITIES)
    birthday = (
        f"19{rng.randrange(40, 99)}-0{rng.randrange(1, 10)}-1{rng.randrange(0, 10)}T00:00:00.000Z"
    )
    phone = f"+44 20 7{index % 1000:03d} {rng.randrange(10000):04d}"
    return E(
        "AirSync:ApplicationData",
        E("Contacts:FileAs", value=f"{last}, {first}"),
        E("Contacts:FirstName", value=first),
        E("Contacts:LastName", value=last),
        E("Contacts:CompanyName", value=rng.choice(COMPANIES)),
        E("Contacts:JobTitle", value="Engineer"),
        E("Contacts:Email1Address", value=f"{first}.{last}.{index}@example.org".lower()),
        E("Contacts:MobilePhoneNumber", value=phone),
        E("Contacts:BusinessPhoneNumber", value=f"+49 30 {rng.randrange(10**7):07d}"),
        E("Contacts:HomeAddressStreet", value=f"{rng.randrange(1, 200)} {rng.choice(STREETS)}"),
        E("Contacts:HomeAddressCity", value=city),
        E("Contacts:HomeAddressPostalCode", value=postcode),
        E("Contacts:HomeAddressCountry", value=country),
        E("Contacts:Birthday", value=birthday),
        E(
            "AirSyncBase:Body",
            E("AirSyncBase:Type", value=1),
            E("AirSyncBase:Data", value=f"Seeded contact #{index}."),
        ),
    )


def make_contacts(n: int, seed: int = 1) -> list[Element]:
    rng = random.Random(seed)
    return [make_contact(i, rng) for i in range(n)]
