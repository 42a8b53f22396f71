"""ResolveRecipients (MS-ASCMD 2.2.1.15) against the devserver's GAL, with
Availability (14.0+): MergedFreeBusy from the user's calendar items.

Each digit covers 30 minutes from StartTime; where items overlap a slot the higher
digit wins (2.2.3.107): BusyStatus 0 free → 0, 1 tentative → 1, 2 busy → 2, 3 out of
office → 3; 4 (working elsewhere, 16.0) counts as free. An entry without a mailbox
here gives "4" (no data) throughout. Recurring items count with their first
occurrence only: the devserver does not expand series.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eassync.devserver.commands import gal
from eassync.devserver.commands.context import Context
from eassync.eas.element import E, Element

SUCCESS = 1
PROTOCOL_ERROR = 5
AMBIGUOUS = 2
NOT_FOUND = 4
TOO_MANY = 160
MAX_AVAILABILITY = 20
SLOT = timedelta(minutes=30)
MAX_SLOTS = 32 * 1024  # the 32 KB cap of MergedFreeBusy
CALENDAR_TYPES = (8, 13)
R = "ResolveRecipients:"


def _when(text: str | None) -> datetime | None:
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ", "%Y%m%dT%H%M%SZ"):
        try:
            return datetime.strptime(text or "", fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def handle(ctx: Context, body: Element | None) -> Element | None:
    if body is None or body.tag != R + "ResolveRecipients":
        return E(R + "ResolveRecipients", E(R + "Status", value=PROTOCOL_ERROR))
    targets = [t.text() or "" for t in body.findall(R + "To")]
    avail = body.find(R + "Options/" + R + "Availability")
    window: tuple[datetime, datetime] | None = None
    if avail is not None:
        start, end = _when(avail.text(R + "StartTime")), _when(avail.text(R + "EndTime"))
        if not ctx.at_least("14.0") or start is None or end is None or end <= start:
            return E(R + "ResolveRecipients", E(R + "Status", value=PROTOCOL_ERROR))
        window = (start, end)
    directory = gal.load(ctx)
    responses = []
    for to in targets:
        found = directory.resolve(to)
        status = SUCCESS if len(found) == 1 else NOT_FOUND if not found else AMBIGUOUS
        recipients = []
        for entry in found[:10]:
            rec = E(
                R + "Recipient",
                E(R + "Type", value=1),  # 1 = from the GAL
                E(R + "DisplayName", value=str(entry.get("display_name") or "")),
                E(R + "EmailAddress", value=str(entry.get("email") or "")),
            )
            if window is not None:
                if len(targets) > MAX_AVAILABILITY:
                    rec.append(E(R + "Availability", E(R + "Status", value=TOO_MANY)))
                else:
                    user = directory.mailboxes.get(str(entry.get("email") or "").lower())
                    rec.append(
                        E(
                            R + "Availability",
                            E(R + "Status", value=SUCCESS),
                            E(R + "MergedFreeBusy", value=_merged(ctx, user, *window)),
                        )
                    )
            recipients.append(rec)
        responses.append(
            E(
                R + "Response",
                E(R + "To", value=to),
                E(R + "Status", value=status),
                E(R + "RecipientCount", value=len(recipients)),
                *recipients,
            )
        )
    return E(R + "ResolveRecipients", E(R + "Status", value=SUCCESS), *responses)


def _merged(ctx: Context, user: str | None, start: datetime, end: datetime) -> str:
    slots = min(-(-(end - start) // SLOT), MAX_SLOTS)
    if user is None:
        return "4" * slots
    digits = [0] * slots
    for folder in ctx.store.folders(user):
        if folder.type not in CALENDAR_TYPES:
            continue
        for data in ctx.store.items(user, folder.server_id).values():
            begin, finish = (
                _when(data.text("Calendar:StartTime")),
                _when(data.text("Calendar:EndTime")),
            )
            busy = data.int("Calendar:BusyStatus", 2)
            if begin is None or finish is None or busy not in (1, 2, 3):
                continue
            first = max(0, (begin - start) // SLOT)
            last = min(slots, -(-(finish - start) // SLOT))
            for i in range(first, last):
                digits[i] = max(digits[i], busy)
    return "".join(map(str, digits))
