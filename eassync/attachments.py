"""Calendar attachments: downloaded through ItemOperations and inlined in the .ics.

``CalendarHandler.from_eas`` turns ``AirSyncBase:Attachments`` into
``X-EAS-ATTACHMENT`` properties (the FileReference with name, size and type as
parameters). After that conversion the EAS side (``EasRemoteCollection``'s ``enrich``
hook) calls :func:`inline_attachments`, which fetches each referenced attachment with
ItemOperations Fetch (MS-ASCMD 2.2.1.10, ``AirSyncBase:FileReference``) and adds it as

    ATTACH;ENCODING=BASE64;VALUE=BINARY;FMTTYPE=…;X-FILENAME=…;X-EAS-FILEREFERENCE=…:<base64>

(RFC 5545 3.8.1.1) when it is at most ``attachments_max_inline`` bytes. Larger ones
(by the server's ``EstimatedDataSize`` before any download, else by their real size)
and unreadable ones are skipped with a note in the log; their ``X-EAS-ATTACHMENT``
reference stays. ``X-EAS-FILEREFERENCE`` marks an ATTACH as the server's: the calendar
merge replaces those when the server's copy changes and keeps the user's own ATTACH
lines; nothing here is ever sent back (EAS Sync cannot upload attachments before 16.0
and eassync does not).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from icalendar.prop import vBinary

from eassync.convert import ical
from eassync.errors import NotFoundError, ProtocolError, ServerError
from eassync.model.items import Item

if TYPE_CHECKING:
    from eassync.eas.client import EasClient

log = logging.getLogger(__name__)

#: the ATTACH parameter naming the server's FileReference (shared with convert.calendar)
SERVER_ATTACH_PARAM = "X-EAS-FILEREFERENCE"

#: file reference → (data, content type); raises NotFoundError, ServerError …
Fetcher = Callable[[str], tuple[bytes, str | None]]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _clean_param(value: str) -> str:
    # parameter values cannot hold quotes or line breaks (RFC 5545 3.2)
    return value.replace('"', "'").replace("\r", " ").replace("\n", " ")


def inline_attachments(item: Item, fetch: Fetcher, max_inline: int, *, where: str = "") -> Item:
    """``item`` with each ``X-EAS-ATTACHMENT`` of at most ``max_inline`` bytes added as
    an inline ATTACH (module doc). Items without attachment references come back as
    they are, without parsing."""
    if b"X-EAS-ATTACHMENT" not in item.raw.upper():
        return item
    cal = ical.parse(item)
    added = 0
    for comp in cal.walk("VEVENT"):
        have = {
            str(a.params.get(SERVER_ATTACH_PARAM))
            for a in _as_list(comp.get("ATTACH"))
            if hasattr(a, "params") and SERVER_ATTACH_PARAM in a.params
        }
        for prop in _as_list(comp.get("X-EAS-ATTACHMENT")):
            reference = str(prop)
            if reference in have:
                continue
            params = getattr(prop, "params", {})
            name = str(params.get("FILENAME") or reference)
            label = f"attachment {name!r}" + (f" of {where}" if where else "")
            data = _download(fetch, reference, params, max_inline, label)
            if data is None:
                continue
            content, content_type = data
            attach_params = {
                "FMTTYPE": _clean_param(
                    content_type or str(params.get("FMTTYPE") or "application/octet-stream")
                ),
                "X-FILENAME": _clean_param(name),
                SERVER_ATTACH_PARAM: _clean_param(reference),
            }
            comp.add("ATTACH", vBinary(content), parameters=attach_params)
            have.add(reference)
            added += 1
    if not added:
        return item
    return Item(ical.serialize(cal), item.uid)


def _download(
    fetch: Fetcher, reference: str, params: Any, max_inline: int, label: str
) -> tuple[bytes, str | None] | None:
    estimated = str(params.get("X-EAS-SIZE") or "")
    if max_inline <= 0:
        log.info("%s: not downloaded (attachments_max_inline is 0)", label)
        return None
    if estimated.isdigit() and int(estimated) > max_inline:
        log.info(
            "%s: %s bytes, more than attachments_max_inline (%d): not downloaded",
            label,
            estimated,
            max_inline,
        )
        return None
    try:
        content, content_type = fetch(reference)
    except (NotFoundError, ServerError, ProtocolError) as exc:
        # one missing attachment never stops the item; the reference stays in the file
        log.warning("%s: could not be downloaded: %s", label, exc)
        return None
    if len(content) > max_inline:
        log.info(
            "%s: %d bytes, more than attachments_max_inline (%d): not inlined",
            label,
            len(content),
            max_inline,
        )
        return None
    return content, content_type


def attachment_enricher(client: EasClient, max_inline: int) -> Callable[[Item], Item]:
    """The ``enrich`` hook of a calendar ``EasRemoteCollection``: inline the
    attachments of each item the server sends, fetched with ``client``."""

    def enrich(item: Item) -> Item:
        return inline_attachments(
            item, client.fetch_attachment, max_inline, where=item.uid or "an event"
        )

    return enrich
