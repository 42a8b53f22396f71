"""Search (MS-ASCMD 2.2.1.16), the GAL store only: the devserver holds no mail.

Range is zero-based and inclusive; the GAL gives at most 100 entries, and a Range
reaching past index 99 is answered with Status 12 (2.2.3.143.3). Pictures (14.1+)
come from ``gal.json`` entries that carry one.
"""

from __future__ import annotations

import base64

from eassync.devserver.commands import gal
from eassync.devserver.commands.context import Context
from eassync.eas.element import E, Element

SUCCESS = 1
INVALID_REQUEST = 2
RANGE_EXCEEDED = 12
GAL_MAX = 100


def handle(ctx: Context, body: Element | None) -> Element | None:
    store = body.find("Search:Store") if body is not None else None
    if body is None or body.tag != "Search:Search" or store is None:
        return E("Search:Search", E("Search:Status", value=INVALID_REQUEST))
    if (store.text("Search:Name") or "") != "GAL":
        return _store_status(INVALID_REQUEST)  # no mailbox or document library here
    query = store.text("Search:Query") or ""
    first, last = 0, GAL_MAX - 1
    wanted = store.text("Search:Options/Search:Range")
    if wanted:
        try:
            lo, _, hi = wanted.partition("-")
            first, last = int(lo), int(hi)
        except ValueError:
            return _store_status(INVALID_REQUEST)
        if first < 0 or last < first:
            return _store_status(INVALID_REQUEST)
        if last >= GAL_MAX:
            return _store_status(RANGE_EXCEEDED)
    picture = store.find("Search:Options/Search:Picture")
    max_size = picture.int("Search:MaxSize") if picture is not None else None
    found = gal.load(ctx).search(query)
    page = found[first : last + 1]
    results = [
        _result(entry, picture is not None and ctx.at_least("14.1"), max_size) for entry in page
    ]
    if not results:
        results = [E("Search:Result")]  # Exchange answers "nothing" with an empty Result
    store_el = E(
        "Search:Store",
        E("Search:Status", value=SUCCESS),
        *results,
        E("Search:Range", value=f"{first}-{first + len(page) - 1}") if page else None,
        E("Search:Total", value=len(found)),
    )
    return E("Search:Search", E("Search:Status", value=SUCCESS), E("Search:Response", store_el))


def _result(entry: dict[str, object], pictures: bool, max_size: int | None) -> Element:
    props = E("Search:Properties")
    for name, key in gal.FIELDS.items():
        value = entry.get(key)
        if isinstance(value, str) and value:
            props.add(f"Gal:{name}", value)
    if pictures:
        data = entry.get("picture")
        if isinstance(data, str) and data:
            raw = base64.b64decode(data)
            if max_size is not None and len(raw) > max_size:
                props.append(E("Gal:Picture", E("Gal:Status", value=174)))  # too large
            else:
                props.append(E("Gal:Picture", E("Gal:Status", value=1), E("Gal:Data", value=data)))
        else:
            props.append(E("Gal:Picture", E("Gal:Status", value=173)))  # no photo
    return E("Search:Result", props)


def _store_status(status: int) -> Element:
    return E(
        "Search:Search",
        E("Search:Status", value=SUCCESS),
        E("Search:Response", E("Search:Store", E("Search:Status", value=status))),
    )
