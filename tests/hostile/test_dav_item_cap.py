"""Issue 14 item 7 on a real DAV server: an item larger than max_response_size fails
by name, and the other items of the same multiget batch still arrive."""

from __future__ import annotations

import base64

import pytest

from eassync.errors import ItemError
from eassync.storage.base import Item
from eassync.storage.dav import DavSession, DavStorage
from tests.integration.conftest_dav import DavServer, radicale  # noqa: F401

pytestmark = [pytest.mark.radicale, pytest.mark.timeout(60)]


def card(uid: str, photo: bytes = b"") -> Item:
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{uid}", f"FN:{uid}", f"N:{uid};;;;"]
    if photo:
        lines.append("PHOTO;ENCODING=b;TYPE=JPEG:" + base64.b64encode(photo).decode())
    lines.append("END:VCARD")
    return Item(raw=("\r\n".join(lines) + "\r\n").encode(), uid=uid)


def test_item_over_the_cap_fails_by_name_and_the_batch_goes_on(radicale: DavServer) -> None:  # noqa: F811
    url = radicale.new_collection("carddav")
    writer = DavStorage(radicale.session("carddav"), url, "carddav")
    small_a, _ = writer.add(card("small-a"))
    big, _ = writer.add(card("big", photo=bytes(range(256)) * 400))  # ~137 kB as base64
    small_b, _ = writer.add(card("small-b"))

    capped = DavSession(
        username=radicale.username,
        password=radicale.password,
        base_url=url,
        label="CardDAV",
        max_response_size=65536,
    )
    reader = DavStorage(capped, url, "carddav")
    got = {ident: result for ident, result, _ in reader.get_many([small_a, big, small_b])}

    assert isinstance(got[small_a], Item)
    assert isinstance(got[small_b], Item)
    assert isinstance(got[big], ItemError)
    assert got[big].ident == big
    assert big in str(got[big])
    assert "max_response_size" in str(got[big])
