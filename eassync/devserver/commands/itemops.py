"""ItemOperations Fetch (MS-ASCMD 2.2.1.10; eas-protocol.md §6.2): whole items and attachments.

An item is named by ``AirSync:CollectionId`` + ``AirSync:ServerId``; an attachment by
``AirSyncBase:FileReference`` (from the stored attachment table), returned inline as
base64 ``Properties/Data`` with an optional ``Options/Range``. Multipart answers
(``MS-ASAcceptMultiPart``) are not implemented: the answer is always inline.
"""

from __future__ import annotations

import base64

from eassync.devserver import itemdata
from eassync.devserver.commands.context import Context
from eassync.eas.element import E, Element

OK = 1
PROTOCOL_ERROR = 2
NOT_FOUND = 6
BAD_RANGE = 8
UNKNOWN_STORE = 9
BAD_ATTACHMENT = 15


def handle(ctx: Context, body: Element | None) -> Element | None:
    if body is None or body.tag != "ItemOperations:ItemOperations":
        return E("ItemOperations:ItemOperations", E("ItemOperations:Status", value=PROTOCOL_ERROR))
    response = E("ItemOperations:Response")
    for operation in body:
        if operation.name == "Fetch":
            response.append(_fetch(ctx, operation))
        else:
            response.append(E(operation.tag, E("ItemOperations:Status", value=PROTOCOL_ERROR)))
    return E("ItemOperations:ItemOperations", E("ItemOperations:Status", value=OK), response)


def _fetch(ctx: Context, fetch: Element) -> Element:
    store_name = fetch.text("ItemOperations:Store") or "Mailbox"
    if store_name.lower() != "mailbox":
        return E("ItemOperations:Fetch", E("ItemOperations:Status", value=UNKNOWN_STORE))
    file_reference = fetch.text("AirSyncBase:FileReference")
    if file_reference is not None:
        return _fetch_attachment(ctx, fetch, file_reference)
    collection_id = fetch.text("AirSync:CollectionId") or ""
    server_id = fetch.text("AirSync:ServerId") or ""
    answer = E("ItemOperations:Fetch")
    try:
        data = ctx.store.get_item(ctx.user, collection_id, server_id)
    except KeyError:
        answer.add("ItemOperations:Status", NOT_FOUND)
        answer.add("AirSync:CollectionId", collection_id)
        answer.add("AirSync:ServerId", server_id)
        return answer
    folder = ctx.store.folder(ctx.user, collection_id)
    preference = "ItemOperations:Options/AirSyncBase:BodyPreference"
    truncation = fetch.int(f"{preference}/AirSyncBase:TruncationSize")
    shaped = itemdata.shape_body(data, truncation)
    answer.add("ItemOperations:Status", OK)
    answer.add("AirSync:CollectionId", collection_id)
    answer.add("AirSync:ServerId", server_id)
    if folder is not None and folder.item_class:
        answer.add("AirSync:Class", folder.item_class)
    answer.append(E("ItemOperations:Properties", *shaped.children))
    return answer


def _fetch_attachment(ctx: Context, fetch: Element, file_reference: str) -> Element:
    answer = E("ItemOperations:Fetch")
    found = ctx.store.get_attachment(ctx.user, file_reference)
    if found is None:
        answer.add("ItemOperations:Status", BAD_ATTACHMENT)
        answer.add("AirSyncBase:FileReference", file_reference)
        return answer
    data, content_type, _name = found
    total = len(data)
    properties = E("ItemOperations:Properties", E("AirSyncBase:ContentType", value=content_type))
    byte_range = fetch.text("ItemOperations:Options/ItemOperations:Range")
    if byte_range is not None:
        try:
            first, last = (int(part) for part in byte_range.split("-", 1))
        except ValueError:
            first, last = -1, -1
        if first < 0 or last < first:
            answer.add("ItemOperations:Status", BAD_RANGE)
            answer.add("AirSyncBase:FileReference", file_reference)
            return answer
        data = data[first : last + 1]
        properties.add("ItemOperations:Range", f"{first}-{first + max(len(data) - 1, 0)}")
        properties.add("ItemOperations:Total", total)
    properties.add("ItemOperations:Data", base64.b64encode(data).decode("ascii"))
    answer.add("ItemOperations:Status", OK)
    answer.add("AirSyncBase:FileReference", file_reference)
    answer.append(properties)
    return answer
