"""GetItemEstimate (MS-ASCMD 2.2.1.9; eas-protocol.md §6.1): how many changes are waiting.

Both request shapes are read: ≥14.0 ``AirSync:SyncKey`` + ``AirSync:Options/FilterType``,
≤12.1 page-6 ``Class`` + ``AirSync:FilterType`` directly in the Collection.
"""

from __future__ import annotations

from eassync.devserver.commands.context import Context
from eassync.devserver.state import count_changes, load_sync_state, make_filter
from eassync.eas.element import E, Element

OK = 1
UNKNOWN_COLLECTION = 2
NOT_PRIMED = 3
INVALID_SYNC_KEY = 4
PROTOCOL_ERROR = 2


def handle(ctx: Context, body: Element | None) -> Element | None:
    if body is None or body.tag != "GetItemEstimate:GetItemEstimate":
        return E(
            "GetItemEstimate:GetItemEstimate", E("GetItemEstimate:Status", value=PROTOCOL_ERROR)
        )
    response = E("GetItemEstimate:GetItemEstimate")
    for request in body.findall("GetItemEstimate:Collections/GetItemEstimate:Collection"):
        collection_id = request.text("GetItemEstimate:CollectionId") or ""
        status, estimate = _estimate(ctx, request, collection_id)
        collection = E(
            "GetItemEstimate:Collection",
            E("GetItemEstimate:CollectionId", value=collection_id),
        )
        if estimate is not None:
            collection.add("GetItemEstimate:Estimate", estimate)
        response.append(
            E("GetItemEstimate:Response", E("GetItemEstimate:Status", value=status), collection)
        )
    return response


def _estimate(ctx: Context, request: Element, collection_id: str) -> tuple[int, int | None]:
    folder = ctx.store.folder(ctx.user, collection_id)
    if folder is None:
        return UNKNOWN_COLLECTION, None
    key = request.text("AirSync:SyncKey")
    if key is None or key == "0":
        return NOT_PRIMED, None
    state = load_sync_state(ctx.store, ctx.user, ctx.device, collection_id)
    if state is None or key not in (state.key, state.prev_key):
        return INVALID_SYNC_KEY, None
    watermark = state.watermark if key == state.key else state.prev_watermark or 0
    filter_type = request.int("AirSync:Options/AirSync:FilterType")
    if filter_type is None:
        filter_type = request.int("AirSync:FilterType")
    if filter_type is None:
        filter_type = int(state.options.get("filter_type", 0))
    estimate = count_changes(
        ctx.store,
        ctx.user,
        collection_id,
        ctx.device,
        watermark=watermark,
        prime=state.prime,
        filt=make_filter(folder.item_class, filter_type),
    )
    return OK, estimate
