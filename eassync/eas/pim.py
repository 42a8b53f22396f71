"""Requests and answers of the commands a person runs by hand: MeetingResponse
(MS-ASCMD 2.2.1.11), Search of the GAL (2.2.1.16), ResolveRecipients with
Availability (2.2.1.15) and Settings Oof (2.2.1.18, 2.2.3.119).

Pure: values in, Element trees out, and back. Every size that comes from a server is
capped here, so a hostile answer cannot make the callers hold megabytes per field.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from eassync.eas.element import E, Element
from eassync.eas.versions import at_least
from eassync.errors import ProtocolError

#: longest text kept of one field of a GAL entry or recipient (display names, phones)
MAX_FIELD = 1024
#: most GAL entries / recipients read from one answer, whatever the server sends
MAX_RESULTS = 1000
#: the spec caps MergedFreeBusy at 32 KB (2.2.3.107)
MAX_FREEBUSY = 32 * 1024
#: most bytes of one GAL picture kept (the request asks for less)
MAX_PICTURE = 1024 * 1024
#: most characters of an out-of-office message read from a server
MAX_OOF_MESSAGE = 256 * 1024


def eas_datetime(moment: datetime) -> str:
    """MS-ASDTYPE 2.3 dateTime in UTC, as ResolveRecipients and Oof take it."""
    if moment.tzinfo is None:
        raise ValueError("an aware datetime is needed")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def parse_eas_datetime(text: str | None) -> datetime | None:
    """dateTime (``2026-12-05T14:00:00.000Z``) or compact (``20261205T140000Z``); None
    when absent or not a date, since a bad date from a server must not stop a listing."""
    if not text:
        return None
    text = text.strip()
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ", "%Y%m%dT%H%M%SZ"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def _capped(text: str | None, limit: int = MAX_FIELD) -> str | None:
    if text is None:
        return None
    return text[:limit]


def _expect(root: Element, tag: str) -> None:
    if root.tag != tag:
        raise ProtocolError(f"expected a {tag} response, got {root.tag}")


# --- MeetingResponse (2.2.1.11) ----------------------------------------------------------

Answer = Literal["accept", "tentative", "decline"]
#: UserResponse values (2.2.3.181)
USER_RESPONSE: dict[str, int] = {"accept": 1, "tentative": 2, "decline": 3}

#: Result/Status (2.2.3.177.8)
MEETING_STATUS = {
    1: "success",
    2: "invalid meeting request (not a meeting, or not one this user was invited to)",
    3: "an error occurred on the server mailbox",
    4: "an error occurred on the server",
}


@dataclass(frozen=True)
class MeetingRequest:
    answer: Answer
    collection_id: str
    request_id: str
    #: one occurrence (14.1+, dateTime of its start); None: the whole series
    instance_id: str | None = None
    #: 16.x: False answers without mailing the organizer (no SendResponse element)
    send: bool = True
    #: 16.x: the text of the reply mail
    comment: str | None = None


@dataclass(frozen=True)
class MeetingResult:
    request_id: str | None
    status: int
    calendar_id: str | None


def build_meeting_response(requests: Sequence[MeetingRequest], version: str) -> Element:
    """MeetingResponse. Before 16.0 the server always mails the organizer and takes no
    text; from 16.0 the reply is sent only when SendResponse is present (2.2.3.163),
    carrying ``comment`` as its body. InstanceId needs 14.1 (Status 2 otherwise)."""
    nodes: list[Element] = []
    for req in requests:
        if req.answer not in USER_RESPONSE:
            raise ValueError(f"unknown answer {req.answer!r}")
        modern = at_least(version, "16.0")
        if not modern and (not req.send or req.comment):
            raise ValueError("a reply without mail or with a comment needs protocol 16.0")
        if req.instance_id is not None and not at_least(version, "14.1"):
            raise ValueError("answering one occurrence needs protocol 14.1")
        send = None
        if modern and req.send:
            body = None
            if req.comment:
                body = E(
                    "AirSyncBase:Body",
                    E("AirSyncBase:Type", value=1),
                    E("AirSyncBase:Data", value=req.comment),
                )
            send = E("MeetingResponse:SendResponse", body)
        nodes.append(
            E(
                "MeetingResponse:Request",
                E("MeetingResponse:UserResponse", value=USER_RESPONSE[req.answer]),
                E("MeetingResponse:CollectionId", value=req.collection_id),
                E("MeetingResponse:RequestId", value=req.request_id),
                E("MeetingResponse:InstanceId", value=req.instance_id)
                if req.instance_id is not None
                else None,
                send,
            )
        )
    return E("MeetingResponse:MeetingResponse", *nodes)


def parse_meeting_response(root: Element) -> list[MeetingResult]:
    _expect(root, "MeetingResponse:MeetingResponse")
    return [
        MeetingResult(
            request_id=_capped(node.text("MeetingResponse:RequestId")),
            # Status is required (2.2.3.177.8); a server leaving it out reported nothing
            status=node.int("MeetingResponse:Status", 1) or 1,
            calendar_id=_capped(node.text("MeetingResponse:CalendarId")),
        )
        for node in root.findall("MeetingResponse:Result")[:MAX_RESULTS]
    ]


# --- Search GAL (2.2.1.16) ---------------------------------------------------------------

#: GAL store default and maximum range: 100 entries (2.2.3.143.3)
GAL_MAX_RANGE = 100

#: Store/Status (2.2.3.177.16)
SEARCH_STATUS = {
    1: "success",
    2: "invalid request",
    3: "server error",
    4: "bad link",
    5: "access denied",
    6: "not found",
    7: "connection failed",
    8: "query too complex",
    10: "the search timed out",
    11: "folder hierarchy out of date",
    12: "end of the retrievable range exceeded",
    13: "access blocked",
    14: "credentials required",
}

#: Gal fields (MS-ASCMD 2.2.3: page 16) → our keys
GAL_FIELDS = {
    "Gal:DisplayName": "display_name",
    "Gal:EmailAddress": "email",
    "Gal:FirstName": "first_name",
    "Gal:LastName": "last_name",
    "Gal:Alias": "alias",
    "Gal:Title": "title",
    "Gal:Company": "company",
    "Gal:Office": "office",
    "Gal:Phone": "phone",
    "Gal:MobilePhone": "mobile_phone",
    "Gal:HomePhone": "home_phone",
}


@dataclass
class GalEntry:
    display_name: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    alias: str | None = None
    title: str | None = None
    company: str | None = None
    office: str | None = None
    phone: str | None = None
    mobile_phone: str | None = None
    home_phone: str | None = None
    picture: bytes | None = None

    def to_dict(self) -> dict[str, str | None]:
        out = {key: getattr(self, key) for key in GAL_FIELDS.values()}
        out["picture"] = base64.b64encode(self.picture).decode() if self.picture else None
        return out

    @classmethod
    def from_dict(cls, doc: dict[str, object]) -> GalEntry:
        entry = cls()
        for key in GAL_FIELDS.values():
            value = doc.get(key)
            if isinstance(value, str):
                setattr(entry, key, value[:MAX_FIELD])
        picture = doc.get("picture")
        if isinstance(picture, str):
            try:
                entry.picture = base64.b64decode(picture, validate=True)[:MAX_PICTURE]
            except (binascii.Error, ValueError):
                entry.picture = None
        return entry


@dataclass(frozen=True)
class GalPage:
    status: int
    store_status: int | None
    entries: list[GalEntry]
    #: the range the server answered (``0-9``), and its estimate of all matches
    range: tuple[int, int] | None
    total: int | None


def build_search_gal(
    query: str,
    start: int,
    end: int,
    version: str,
    *,
    picture_max_size: int | None = None,
    max_pictures: int | None = None,
) -> Element:
    """Search of the GAL for entries ``start``–``end`` (zero-based, inclusive).
    Pictures (Search:Picture) exist from 14.1 and are asked for only when sized."""
    if not 0 <= start <= end:
        raise ValueError(f"bad range {start}-{end}")
    picture = None
    if picture_max_size is not None and at_least(version, "14.1"):
        picture = E(
            "Search:Picture",
            E("Search:MaxSize", value=picture_max_size),
            E("Search:MaxPictures", value=max_pictures) if max_pictures is not None else None,
        )
    return E(
        "Search:Search",
        E(
            "Search:Store",
            E("Search:Name", value="GAL"),
            E("Search:Query", value=query),
            E("Search:Options", E("Search:Range", value=f"{start}-{end}"), picture),
        ),
    )


def _parse_range(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    first, sep, last = text.partition("-")
    try:
        lo, hi = int(first), int(last)
    except ValueError:
        return None
    if not sep or lo < 0 or hi < lo:
        return None
    return lo, hi


def _gal_picture(node: Element | None) -> bytes | None:
    if node is None or node.int("Gal:Status", 1) != 1:
        return None  # 173 no photo, 174 too large, 175 too many (2.2.3.177.5)
    data = node.find("Gal:Data")
    if data is None or data.value is None:
        return None
    if isinstance(data.value, bytes):
        return data.value[:MAX_PICTURE]
    try:
        return base64.b64decode(data.value[: MAX_PICTURE * 2], validate=False)[:MAX_PICTURE]
    except (binascii.Error, ValueError):
        return None  # a picture is decoration: a bad one is dropped, not fatal


def parse_search_gal(root: Element) -> GalPage:
    _expect(root, "Search:Search")
    status = root.int("Search:Status", 1) or 1
    store = root.find("Search:Response/Search:Store")
    if store is None:
        return GalPage(status, None, [], None, None)
    entries: list[GalEntry] = []
    for result in store.findall("Search:Result")[:MAX_RESULTS]:
        props = result.find("Search:Properties")
        if props is None:
            continue  # Exchange answers "no match" with one empty Result
        entry = GalEntry()
        for child in props:
            key = GAL_FIELDS.get(child.tag)
            if key is not None:
                setattr(entry, key, _capped(child.text()))
        entry.picture = _gal_picture(props.find("Gal:Picture"))
        if any(getattr(entry, key) for key in GAL_FIELDS.values()):
            entries.append(entry)
    total = store.int("Search:Total")
    return GalPage(
        status,
        store.int("Search:Status", 1) or 1,
        entries,
        _parse_range(store.text("Search:Range")),
        total if total is not None and total >= 0 else None,
    )


# --- ResolveRecipients with Availability (2.2.1.15) --------------------------------------

#: most recipients one request may ask free/busy for (Availability Status 160 beyond 20)
MAX_AVAILABILITY_RECIPIENTS = 20
#: minutes per MergedFreeBusy digit (2.2.3.107)
FREEBUSY_SLOT_MINUTES = 30

#: Response/Status (2.2.3.177.12)
RECIPIENT_STATUS = {
    1: "resolved",
    2: "ambiguous: several matches",
    3: "ambiguous: several matches, partial list",
    4: "not found",
}
#: Availability/Status
AVAILABILITY_STATUS = {
    1: "ok",
    160: "too many recipients asked at once",
    161: "the distribution list is too large",
    162: "free/busy data could not be retrieved (try again later)",
    163: "no permission to see this free/busy data",
}


@dataclass(frozen=True)
class Recipient:
    display_name: str | None
    email: str | None
    availability_status: int | None
    merged_free_busy: str | None


@dataclass(frozen=True)
class RecipientResponse:
    to: str
    status: int
    recipients: list[Recipient] = field(default_factory=list)


@dataclass(frozen=True)
class ResolveResult:
    status: int
    responses: list[RecipientResponse]


def build_resolve_availability(
    addresses: Sequence[str], start: datetime, end: datetime, version: str
) -> Element:
    """ResolveRecipients asking free/busy of ``addresses`` for [start, end) (14.0+)."""
    if not at_least(version, "14.0"):
        raise ValueError("free/busy (Availability) needs protocol 14.0")
    if not addresses:
        raise ValueError("no recipient")
    if len(addresses) > MAX_AVAILABILITY_RECIPIENTS:
        raise ValueError(f"at most {MAX_AVAILABILITY_RECIPIENTS} recipients per request")
    if end <= start:
        raise ValueError("the end must come after the start")
    return E(
        "ResolveRecipients:ResolveRecipients",
        *(E("ResolveRecipients:To", value=a) for a in addresses),
        E(
            "ResolveRecipients:Options",
            E(
                "ResolveRecipients:Availability",
                E("ResolveRecipients:StartTime", value=eas_datetime(start)),
                E("ResolveRecipients:EndTime", value=eas_datetime(end)),
            ),
        ),
    )


def parse_resolve_recipients(root: Element) -> ResolveResult:
    _expect(root, "ResolveRecipients:ResolveRecipients")
    responses: list[RecipientResponse] = []
    for resp in root.findall("ResolveRecipients:Response")[:MAX_RESULTS]:
        recipients = []
        for rec in resp.findall("ResolveRecipients:Recipient")[:MAX_RESULTS]:
            avail = rec.find("ResolveRecipients:Availability")
            recipients.append(
                Recipient(
                    display_name=_capped(rec.text("ResolveRecipients:DisplayName")),
                    email=_capped(rec.text("ResolveRecipients:EmailAddress")),
                    availability_status=avail.int("ResolveRecipients:Status", 1)
                    if avail is not None
                    else None,
                    merged_free_busy=_capped(
                        avail.text("ResolveRecipients:MergedFreeBusy"), MAX_FREEBUSY
                    )
                    if avail is not None
                    else None,
                )
            )
        responses.append(
            RecipientResponse(
                to=_capped(resp.text("ResolveRecipients:To", "")) or "",
                status=resp.int("ResolveRecipients:Status", 1) or 1,
                recipients=recipients,
            )
        )
    return ResolveResult(root.int("ResolveRecipients:Status", 1) or 1, responses)


# --- Settings Oof (2.2.3.119) ------------------------------------------------------------

Audience = Literal["internal", "external_known", "external_unknown"]
AUDIENCE_TAGS: dict[str, str] = {
    "internal": "Settings:AppliesToInternal",
    "external_known": "Settings:AppliesToExternalKnown",
    "external_unknown": "Settings:AppliesToExternalUnknown",
}
#: OofState (2.2.3.120): 0 off, 1 on, 2 on between StartTime and EndTime
OOF_STATES = {0: "off", 1: "on", 2: "scheduled"}

#: Settings Status values (2.2.3.177.14)
SETTINGS_STATUS = {
    1: "success",
    2: "protocol error",
    3: "access denied",
    4: "server unavailable",
    5: "invalid arguments",
    6: "conflicting arguments",
    7: "denied by policy",
}


@dataclass(frozen=True)
class OofMessage:
    audience: Audience
    enabled: bool
    text: str | None
    #: "Text" or "HTML" (2.2.3.18)
    body_type: str | None = None


@dataclass(frozen=True)
class OofSettings:
    state: int
    start: datetime | None = None
    end: datetime | None = None
    messages: list[OofMessage] = field(default_factory=list)

    def message(self, audience: Audience) -> OofMessage | None:
        return next((m for m in self.messages if m.audience == audience), None)


def build_oof_get(body_type: str = "Text") -> Element:
    if body_type not in ("Text", "HTML"):
        raise ValueError("BodyType is Text or HTML")
    return E(
        "Settings:Settings",
        E("Settings:Oof", E("Settings:Get", E("Settings:BodyType", value=body_type))),
    )


def build_oof_set(settings: OofSettings) -> Element:
    """Oof Set. A scheduled state (2) needs both times; the others send none."""
    if settings.state not in OOF_STATES:
        raise ValueError(f"unknown OofState {settings.state}")
    if settings.state == 2 and (settings.start is None or settings.end is None):
        raise ValueError("a scheduled out-of-office needs a start and an end")
    if settings.state == 2 and settings.start and settings.end and settings.end <= settings.start:
        raise ValueError("the end must come after the start")
    times: list[Element | None] = [None, None]
    if settings.state == 2 and settings.start and settings.end:
        times = [
            E("Settings:StartTime", value=eas_datetime(settings.start)),
            E("Settings:EndTime", value=eas_datetime(settings.end)),
        ]
    messages = []
    for msg in settings.messages:
        messages.append(
            E(
                "Settings:OofMessage",
                E(AUDIENCE_TAGS[msg.audience]),
                E("Settings:Enabled", value=1 if msg.enabled else 0),
                E("Settings:ReplyMessage", value=msg.text or "") if msg.enabled else None,
                E("Settings:BodyType", value=msg.body_type or "Text") if msg.enabled else None,
            )
        )
    return E(
        "Settings:Settings",
        E(
            "Settings:Oof",
            E("Settings:Set", E("Settings:OofState", value=settings.state), *times, *messages),
        ),
    )


def parse_oof(root: Element) -> tuple[int, int | None, OofSettings | None]:
    """(Settings Status, Oof Status, what Get returned: None for a Set's answer)."""
    _expect(root, "Settings:Settings")
    status = root.int("Settings:Status", 1) or 1
    oof = root.find("Settings:Oof")
    if oof is None:
        return status, None, None
    get = oof.find("Settings:Get")
    if get is None:
        return status, oof.int("Settings:Status"), None
    messages: list[OofMessage] = []
    for node in get.findall("Settings:OofMessage")[:3]:
        audience = next((a for a, tag in AUDIENCE_TAGS.items() if node.find(tag) is not None), None)
        if audience is None:
            continue
        raw_type = (node.text("Settings:BodyType") or "").upper()
        body_type = {"TEXT": "Text", "HTML": "HTML"}.get(raw_type)
        messages.append(
            OofMessage(
                audience,  # type: ignore[arg-type]  # a key of AUDIENCE_TAGS
                enabled=node.int("Settings:Enabled", 0) == 1,
                text=_capped(node.text("Settings:ReplyMessage"), MAX_OOF_MESSAGE),
                body_type=body_type,
            )
        )
    state = get.int("Settings:OofState", 0) or 0
    return (
        status,
        oof.int("Settings:Status"),
        OofSettings(
            state=state if state in OOF_STATES else 0,
            start=parse_eas_datetime(get.text("Settings:StartTime")),
            end=parse_eas_datetime(get.text("Settings:EndTime")),
            messages=messages,
        ),
    )
