"""Benchmark of the WBXML codec on a 10,000-contact Sync response (a script, not a test).

Run: ``python tests/bench/bench_wbxml.py [ITEMS]``. Prints encode and decode
throughput (MB/s, items/s) and the peak memory the codec allocates for each step.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from eassync.eas.element import E, Element
from eassync.eas.wbxml import decode, encode

CONTACT_FIELDS = (
    ("FileAs", "{last}, {first}"),
    ("FirstName", "{first}"),
    ("LastName", "{last}"),
    ("MiddleName", "Q."),
    ("Title", "Dr."),
    ("CompanyName", "Analytical Engines Ltd"),
    ("Department", "Department {n}"),
    ("JobTitle", "Engineer"),
    ("Email1Address", "{first}.{last}@example.org"),
    ("Email2Address", "{first}{n}@home.example"),
    ("BusinessPhoneNumber", "+44 20 7946 {n:04d}"),
    ("HomePhoneNumber", "+44 20 7000 {n:04d}"),
    ("MobilePhoneNumber", "+44 7700 9{n:05d}"),
    ("BusinessAddressStreet", "{n} St James's Square"),
    ("BusinessAddressCity", "London"),
    ("BusinessAddressPostalCode", "SW1Y 4JH"),
    ("BusinessAddressCountry", "United Kingdom"),
    ("HomeAddressStreet", "{n} Rue de l'Église"),
    ("HomeAddressCity", "Zürich"),
    ("Birthday", "1980-12-10T00:00:00.000Z"),
    ("WebPage", "https://example.org/people/{n}"),
)


def sync_response(items: int) -> Element:
    adds = []
    for n in range(items):
        names = {"first": f"Ada{n}", "last": f"Lovelace{n % 97}", "n": n}
        data = [E(f"Contacts:{tag}", value=text.format(**names)) for tag, text in CONTACT_FIELDS]
        data.append(
            E(
                "AirSyncBase:Body",
                E("AirSyncBase:Type", value="1"),
                E("AirSyncBase:Data", value=f"Notes for contact {n}.\nSecond line."),
            )
        )
        adds.append(
            E(
                "AirSync:Add",
                E("AirSync:ServerId", value=f"{n:08x}.vcf"),
                E("AirSync:ApplicationData", *data),
            )
        )
    return E(
        "AirSync:Sync",
        E(
            "AirSync:Collections",
            E(
                "AirSync:Collection",
                E("AirSync:SyncKey", value="{4f1c}2"),
                E("AirSync:CollectionId", value="vcard%2Fpersonal"),
                E("AirSync:Status", value="1"),
                E("AirSync:Commands", *adds),
            ),
        ),
    )


def measure(step: Callable[[], Any], repeat: int = 5) -> tuple[float, int, Any]:
    """Best wall time of ``repeat`` runs, and the peak memory of one traced run."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = step()
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    step()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak, result


def main() -> None:
    items = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    tree = sync_response(items)
    encode_time, encode_peak, data = measure(lambda: encode(tree))
    decode_time, decode_peak, decoded = measure(lambda: decode(data))
    assert decoded == tree
    megabytes = len(data) / 1e6
    fields = len(CONTACT_FIELDS) + 1  # + the AirSyncBase:Body
    print(f"document: {items} contacts, {fields} fields each, {megabytes:.2f} MB of WBXML")
    for name, seconds, peak in (
        ("encode", encode_time, encode_peak),
        ("decode", decode_time, decode_peak),
    ):
        print(
            f"{name}: {seconds * 1000:7.1f} ms  {megabytes / seconds:6.1f} MB/s"
            f"  {items / seconds:9.0f} items/s  peak {peak / 1e6:6.1f} MB"
        )


if __name__ == "__main__":
    main()
