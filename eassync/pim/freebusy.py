"""``eassync freebusy``: the MergedFreeBusy string of ResolveRecipients turned into busy
blocks, and those into lines for people, JSON, or one VFREEBUSY per person.

MergedFreeBusy (MS-ASCMD 2.2.3.107) has one digit per 30 minutes from the requested
start: 0 free, 1 tentative, 2 busy, 3 out of office, 4 no data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

from eassync.eas.pim import (
    AVAILABILITY_STATUS,
    FREEBUSY_SLOT_MINUTES,
    RECIPIENT_STATUS,
    RecipientResponse,
)

SLOT = timedelta(minutes=FREEBUSY_SLOT_MINUTES)
KINDS = {"1": "tentative", "2": "busy", "3": "away", "4": "unknown"}
#: RFC 5545 §3.2.9 FBTYPE of each kind ("unknown" has none: it is left out)
FBTYPE = {"tentative": "BUSY-TENTATIVE", "busy": "BUSY", "away": "BUSY-UNAVAILABLE"}
#: the longest span asked at once (the 32 KB string would allow more; servers less)
MAX_SPAN = timedelta(days=62)


@dataclass(frozen=True)
class Block:
    start: datetime
    end: datetime
    kind: str


@dataclass
class Person:
    asked: str
    email: str | None = None
    name: str | None = None
    #: None: resolved with free/busy; else why there is none
    problem: str | None = None
    blocks: list[Block] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)


def blocks(merged: str, start: datetime, end: datetime) -> list[Block]:
    """Runs of equal non-free digits as blocks, clipped to [start, end). Digits past the
    span are ignored; a character that is no digit counts as "unknown"."""
    slots = -(-(end - start) // SLOT)
    out: list[Block] = []
    run_kind: str | None = None
    run_start = 0
    for i in range(min(len(merged), slots) + 1):
        char = merged[i] if i < min(len(merged), slots) else "0"
        kind = None if char == "0" else KINDS.get(char, "unknown")
        if kind != run_kind:
            if run_kind is not None:
                out.append(Block(start + run_start * SLOT, min(start + i * SLOT, end), run_kind))
            run_kind, run_start = kind, i
    return out


def match(asked: Sequence[str], responses: Sequence[RecipientResponse]) -> list[RecipientResponse]:
    """One response per asked address, in the asked order. Responses echo the asked
    ``To``; SOGo leaves an unknown address out (then: "not found"). A server that
    echoes something else is matched by position, but only if it answered each one."""
    by_to = {r.to.lower(): r for r in responses}
    out = []
    for i, address in enumerate(asked):
        found = by_to.get(address.lower())
        if (
            found is None
            and len(responses) == len(asked)
            and responses[i].to.lower() not in {a.lower() for a in asked}
        ):
            found = responses[i]
        out.append(found or RecipientResponse(address, 4))
    return out


def people(responses: Sequence[RecipientResponse], start: datetime, end: datetime) -> list[Person]:
    out = []
    for resp in responses:
        person = Person(resp.to)
        if resp.status != 1 or not resp.recipients:
            person.problem = RECIPIENT_STATUS.get(resp.status, f"status {resp.status}")
            person.candidates = [r.email or r.display_name or "?" for r in resp.recipients[:10]]
            out.append(person)
            continue
        rec = resp.recipients[0]
        person.email, person.name = rec.email, rec.display_name
        if rec.availability_status not in (None, 1):
            status = rec.availability_status
            person.problem = AVAILABILITY_STATUS.get(status or 0, f"status {status}")
        elif rec.merged_free_busy is None:
            person.problem = "the server sent no free/busy data"
        else:
            person.blocks = blocks(rec.merged_free_busy, start, end)
        out.append(person)
    return out


def _when(moment: datetime, zone: tzinfo | None, *, with_date: bool) -> str:
    local = moment.astimezone(zone)
    return local.strftime("%a %Y-%m-%d %H:%M" if with_date else "%H:%M")


def format_line(person: Person, zone: tzinfo | None = None) -> str:
    from eassync.pim.text import safe

    who = safe(person.email or person.asked, one_line=True)
    if person.name:
        who += f" ({safe(person.name, one_line=True)})"
    if person.problem:
        extra = f": {', '.join(safe(c, one_line=True) for c in person.candidates)}"
        return f"{who}: {person.problem}" + (extra if person.candidates else "")
    if not person.blocks:
        return f"{who}: free"
    parts = []
    for block in person.blocks:
        first = block.start.astimezone(zone)
        last = block.end.astimezone(zone)
        same_day = first.date() == last.date() or last - first <= timedelta(0)
        span = f"{_when(block.start, zone, with_date=True)}–" + _when(
            block.end, zone, with_date=not same_day
        )
        parts.append(f"{block.kind} {span}")
    return f"{who}: " + ", ".join(parts)


def to_json(person: Person) -> dict[str, object]:
    return {
        "address": person.asked,
        "email": person.email,
        "name": person.name,
        "problem": person.problem,
        "candidates": person.candidates,
        "busy": [
            {"start": b.start.isoformat(), "end": b.end.isoformat(), "kind": b.kind}
            for b in person.blocks
        ],
    }


def to_ics(persons: Sequence[Person], start: datetime, end: datetime, now: datetime) -> bytes:
    """One VCALENDAR with a VFREEBUSY per resolved person (RFC 5545 §3.6.4)."""
    import icalendar

    cal = icalendar.Calendar()
    cal.add("PRODID", "-//eassync//freebusy//EN")
    cal.add("VERSION", "2.0")
    cal.add("METHOD", "PUBLISH")
    for person in persons:
        if person.problem or not person.email:
            continue
        fb = icalendar.FreeBusy()
        fb.add("DTSTAMP", now)
        fb.add("DTSTART", start)
        fb.add("DTEND", end)
        fb.add("UID", f"freebusy-{person.email}-{int(start.timestamp())}")
        attendee = icalendar.vCalAddress(f"mailto:{person.email}")
        if person.name:
            attendee.params["CN"] = icalendar.vText(person.name)
        fb.add("ORGANIZER", attendee)
        for block in person.blocks:
            if block.kind in FBTYPE:
                fb.add(
                    "FREEBUSY",
                    icalendar.vPeriod((block.start, block.end)),
                    parameters={"FBTYPE": FBTYPE[block.kind]},
                )
        cal.add_component(fb)
    return bytes(cal.to_ical())
