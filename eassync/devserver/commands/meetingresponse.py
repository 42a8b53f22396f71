"""MeetingResponse (MS-ASCMD 2.2.1.11): answer an invitation held in a calendar folder.

The calendar item is the request (RequestId = its ServerId, CollectionId = its folder,
as Exchange allows from 14.1). Accepting or declining changes the item the way a
server does: the user's own attendee entry and ResponseType/BusyStatus; the change
then reaches every device through Sync. Nothing is mailed: each reply the server
"would send" to the organizer is written to the ``sent_responses`` table, which the
tests read to check that ``--no-send`` sends none.
"""

from __future__ import annotations

from eassync.devserver.commands.context import Context
from eassync.devserver.commands.settings import MAIL_DOMAIN
from eassync.eas.element import E, Element

SUCCESS = 1
INVALID_REQUEST = 2
#: UserResponse → (AttendeeStatus/ResponseType, BusyStatus) (MS-ASCAL 2.2.2.4, 2.2.2.10)
EFFECT = {1: (3, 2), 2: (2, 1), 3: (4, 0)}
CALENDAR_TYPES = (8, 13)

SCHEMA = """CREATE TABLE IF NOT EXISTS sent_responses (
    user TEXT NOT NULL, request_id TEXT NOT NULL, answer INTEGER NOT NULL,
    organizer TEXT, comment TEXT)"""


def handle(ctx: Context, body: Element | None) -> Element | None:
    if body is None or body.tag != "MeetingResponse:MeetingResponse":
        return E("MeetingResponse:MeetingResponse", E("MeetingResponse:Status", value=2))
    results = [_answer(ctx, req) for req in body.findall("MeetingResponse:Request")]
    return E("MeetingResponse:MeetingResponse", *results)


def _answer(ctx: Context, req: Element) -> Element:
    request_id = req.text("MeetingResponse:RequestId") or ""
    status, calendar_id = _apply(ctx, req, request_id)
    return E(
        "MeetingResponse:Result",
        E("MeetingResponse:RequestId", value=request_id),
        E("MeetingResponse:Status", value=status),
        E("MeetingResponse:CalendarId", value=calendar_id) if calendar_id else None,
    )


def _apply(ctx: Context, req: Element, request_id: str) -> tuple[int, str | None]:
    answer = req.int("MeetingResponse:UserResponse")
    collection_id = req.text("MeetingResponse:CollectionId") or ""
    if answer not in EFFECT or not request_id:
        return INVALID_REQUEST, None
    # InstanceId is 14.1+; SendResponse 16.0+ (the spec answers Status 2 otherwise)
    if req.find("MeetingResponse:InstanceId") is not None and not ctx.at_least("14.1"):
        return INVALID_REQUEST, None
    send = req.find("MeetingResponse:SendResponse")
    if send is not None and not ctx.at_least("16.0"):
        return INVALID_REQUEST, None
    folder = ctx.store.folder(ctx.user, collection_id)
    if folder is None or folder.type not in CALENDAR_TYPES:
        return INVALID_REQUEST, None
    try:
        data = ctx.store.get_item(ctx.user, collection_id, request_id)
    except KeyError:
        return INVALID_REQUEST, None
    me = f"{ctx.user}@{MAIL_DOMAIN}".lower()
    organizer = (data.text("Calendar:OrganizerEmail") or "").lower()
    if not (data.int("Calendar:MeetingStatus", 0) or 0) & 1 or not organizer or organizer == me:
        return INVALID_REQUEST, None  # not a meeting, or one this user organises
    status, busy = EFFECT[answer]
    _set(data, "Calendar:ResponseType", str(status))
    _set(data, "Calendar:BusyStatus", str(busy))
    attendees = data.find("Calendar:Attendees")
    for attendee in attendees.children if attendees is not None else []:
        if (attendee.text("Calendar:Email") or "").lower() == me:
            _set(attendee, "Calendar:AttendeeStatus", str(status))
    ctx.store.change_item(ctx.user, collection_id, request_id, data)
    # before 16.0 the server always replies to the organizer; from 16.0 only when asked
    if send is not None or not ctx.at_least("16.0"):
        comment = send.text("AirSyncBase:Body/AirSyncBase:Data") if send is not None else None
        with ctx.store.transaction() as db:
            db.execute(SCHEMA)
            db.execute(
                "INSERT INTO sent_responses VALUES (?, ?, ?, ?, ?)",
                (ctx.user, request_id, answer, organizer, comment),
            )
    return SUCCESS, request_id


def _set(node: Element, tag: str, value: str) -> None:
    child = node.find(tag)
    if child is None:
        node.add(tag, value)
    else:
        child.value = value
