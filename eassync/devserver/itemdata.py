"""How the devserver keeps an item: an ``AirSync:ApplicationData`` tree as compact JSON.

Items are stored once, serialised with the C-speed ``json`` module rather than as
WBXML, because a Sync response embeds many items in one document and WBXML code-page
state is global (eas-protocol.md §1.1): encoded fragments cannot be spliced, so every
item is rebuilt as an Element and encoded with its response anyway.

The form of one node is ``[tag]`` (empty), ``[tag, "text"]``, ``[tag, [children…]]``
or ``[tag, null, "base64"]`` (OPAQUE bytes).

Besides the tree, a few facts used by Sync filters (MS-ASCMD FilterType) are pulled
out into columns: the end of a calendar event, whether it recurs, whether a task is
complete.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from eassync.eas.element import Element

#: Which code pages may appear at the top of an item of a given class (MS-ASCNTC,
#: MS-ASCAL, MS-ASTASK); anything else is answered with item Status 6. Email is
#: absent on purpose: e-mail cannot be added by Sync (MS-ASCMD 2.2.3.7.2, use SendMail).
CLASS_PAGES: dict[str, frozenset[str]] = {
    "Contacts": frozenset({"Contacts", "Contacts2", "AirSyncBase"}),
    "Calendar": frozenset({"Calendar", "AirSyncBase"}),
    "Tasks": frozenset({"Tasks", "AirSyncBase"}),
    "Notes": frozenset({"Notes", "AirSyncBase"}),
}

#: Folder Type → Sync class (eas-protocol.md §4).
TYPE_CLASS: dict[int, str] = {
    2: "Email",
    3: "Email",
    4: "Email",
    5: "Email",
    6: "Email",
    12: "Email",
    7: "Tasks",
    15: "Tasks",
    8: "Calendar",
    13: "Calendar",
    9: "Contacts",
    14: "Contacts",
    10: "Notes",
    17: "Notes",
}


def to_json(node: Element) -> Any:
    if node.children:
        return [node.tag, [to_json(c) for c in node.children]]
    if node.value is None:
        return [node.tag]
    if isinstance(node.value, bytes):
        return [node.tag, None, base64.b64encode(node.value).decode("ascii")]
    return [node.tag, node.value]


def from_json(data: Any) -> Element:
    tag = data[0]
    if len(data) == 1:
        return Element(tag)
    if len(data) == 3:
        return Element(tag, value=base64.b64decode(data[2]))
    payload = data[1]
    if isinstance(payload, list):
        return Element(tag, [from_json(c) for c in payload])
    return Element(tag, value=payload)


def dumps(node: Element) -> str:
    return json.dumps(to_json(node), separators=(",", ":"), ensure_ascii=False)


def loads(text: str) -> Element:
    return from_json(json.loads(text))


@dataclass(frozen=True)
class FilterFacts:
    """The columns Sync filters query: see module docstring."""

    end_time: str | None  # Calendar:EndTime, compact UTC (sorts as text)
    recurring: bool
    complete: bool


def filter_facts(data: Element) -> FilterFacts:
    end = data.text("Calendar:EndTime") or data.text("Calendar:StartTime")
    recurring = data.find("Calendar:Recurrence") is not None
    complete = data.text("Tasks:Complete") == "1"
    end_time = _compact(end) if end else None
    return FilterFacts(end_time=end_time, recurring=recurring, complete=complete)


def _compact(value: str) -> str:
    """Normalise ``2024-01-02T03:04:05.000Z`` and ``20240102T030405Z`` to the compact form."""
    digits = "".join(ch for ch in value if ch.isdigit())[:14].ljust(14, "0")
    return f"{digits[:8]}T{digits[8:]}Z"


def invalid_reason(data: Element | None, item_class: str) -> str | None:
    """Why ``data`` is not a valid ApplicationData of ``item_class`` (→ Status 6), or None."""
    if data is None or not data.children:
        return "empty ApplicationData"
    allowed = CLASS_PAGES.get(item_class)
    if allowed is None:
        return f"items of class {item_class} cannot be created here"
    for child in data.children:
        if child.page not in allowed:
            return f"{child.tag} does not belong in a {item_class} item"
    return None


#: Omitted from a Change, these keep their server value whatever Supported says
#: (MS-ASCMD 2.2.3.179: Body, Picture and Exceptions are never deleted by omission).
ALWAYS_KEPT = frozenset({"AirSyncBase:Body", "Contacts:Picture", "Calendar:Exceptions"})


def merge_change(
    old: Element, new: Element, supported: list[str] | None, all_ghosted: bool = False
) -> Element:
    """The item after a client Change (eas-protocol.md §5.1, "ghosting").

    The client's elements replace the old ones. An element the client omitted is kept
    when it is ghosted: ``supported`` is None → nothing ghosted; a list → every element
    not in it; ``all_ghosted`` (16.x calendars) → everything. Otherwise it is deleted,
    except for ``ALWAYS_KEPT``. An empty element in the Change clears the value.
    """
    present = {c.tag for c in new.children}
    merged = [c for c in new.children if c.children or c.value not in (None, "", b"")]
    for child in old.children:
        if child.tag in present:
            continue
        ghosted = all_ghosted or (supported is not None and child.tag not in supported)
        if ghosted or child.tag in ALWAYS_KEPT:
            merged.append(child)
    return Element(new.tag, merged)


def shape_body(data: Element, truncation: int | None) -> Element:
    """Apply a BodyPreference TruncationSize to the item's ``AirSyncBase:Body`` on output."""
    body = data.find("AirSyncBase:Body")
    if body is None:
        return data
    text = body.text("AirSyncBase:Data") or ""
    size = len(text.encode("utf-8"))
    shaped = Element("AirSyncBase:Body")
    shaped.add("AirSyncBase:Type", body.text("AirSyncBase:Type", "1"))
    shaped.add("AirSyncBase:EstimatedDataSize", size)
    if truncation is not None and size > truncation:
        shaped.add("AirSyncBase:Truncated", 1)
        text = text.encode("utf-8")[:truncation].decode("utf-8", "ignore")
    shaped.add("AirSyncBase:Data", text)
    children = [shaped if c is body else c for c in data.children]
    return Element(data.tag, children)


# --- 16.x calendar occurrences (AirSyncBase:InstanceId) ------------------------------

EXCEPTIONS = "Calendar:Exceptions"
INSTANCE_ID = "AirSyncBase:InstanceId"


def _exception_key(exc: Element) -> str | None:
    raw = exc.text(INSTANCE_ID) or exc.text("Calendar:ExceptionStartTime")
    return _compact(raw) if raw else None


def is_occurrence(data: Element, instance_id: str) -> bool:
    """Whether ``instance_id`` is the original start of an occurrence of the series
    ``data`` (deleted ones included). Expanded with the client's own converter and
    dateutil: the devserver only needs to refuse ids that name no occurrence."""
    from datetime import date, datetime, time

    from dateutil.rrule import rrulestr

    from eassync.convert import ical
    from eassync.convert.calendar import CalendarHandler
    from eassync.convert.recurrence import parse_eas_time
    from eassync.errors import ConversionError

    wanted = parse_eas_time(instance_id)
    if wanted is None or data.find("Calendar:Recurrence") is None:
        return False
    try:
        item = CalendarHandler().from_eas(data, "16.1")
    except ConversionError:
        return False
    master, _ = ical.master_and_overrides(ical.parse(item), "VEVENT")
    if master is None or master.get("RRULE") is None:
        return False
    start = master.decoded("DTSTART")
    raw_rule = master["RRULE"].to_ical()
    rule_text = raw_rule.decode() if isinstance(raw_rule, bytes) else str(raw_rule)
    try:
        if isinstance(start, datetime):
            return wanted in rrulestr(rule_text, dtstart=start)
        assert isinstance(start, date)
        # all-day: InstanceId is the date at 00:00:00Z (MS-ASCAL 2.2.2.42, 16.x)
        naive = rrulestr(rule_text.replace("Z", ""), dtstart=datetime.combine(start, time()))
        return datetime.combine(wanted.date(), time()) in naive
    except (ValueError, TypeError):  # a rule dateutil cannot expand: accept its times
        return _compact(instance_id) >= _compact(data.text("Calendar:StartTime") or "")


def put_exception(data: Element, instance_id: str, fields: Element | None) -> Element:
    """The series ``data`` with the exception for ``instance_id`` set (MS-ASCMD
    2.2.3.24, 16.x): ``fields`` None deletes the occurrence (``Deleted`` 1); otherwise
    its elements replace those of a previous exception, whose other elements stay (16.x
    calendar elements are ghosted). Explicitly empty elements are kept: in an
    exception they say "none" instead of "as the series"."""
    wanted = _compact(instance_id)
    old: Element | None = None
    kept: list[Element] = []
    container = data.find(EXCEPTIONS)
    for exc in container.children if container is not None else []:
        if _exception_key(exc) == wanted:
            old = exc
        else:
            kept.append(exc)
    if fields is None:
        new = Element(
            "Calendar:Exception",
            [Element("Calendar:Deleted", value="1"), Element(INSTANCE_ID, value=instance_id)],
        )
    else:
        merged: dict[str, Element] = {}
        if old is not None and old.text("Calendar:Deleted") != "1":
            merged = {c.tag: c for c in old.children}
        merged.pop("Calendar:ExceptionStartTime", None)
        merged.pop("Calendar:Deleted", None)
        merged[INSTANCE_ID] = Element(INSTANCE_ID, value=instance_id)
        for child in fields.children:
            merged[child.tag] = child
        new = Element("Calendar:Exception", list(merged.values()))
    kept.append(new)
    kept.sort(key=lambda e: _exception_key(e) or "")
    exceptions = Element(EXCEPTIONS, kept)
    children = [c for c in data.children if c.tag != EXCEPTIONS] + [exceptions]
    return Element(data.tag, children)


def series_shape(data: Element) -> tuple[str | None, str | None, tuple[Any, ...] | None]:
    """Start, end and recurrence pattern: a 16.x Change that alters one of them drops
    the series' exceptions (MS-ASCAL 2.2.2.22)."""
    rule = data.find("Calendar:Recurrence")
    pattern = None if rule is None else tuple(sorted((c.tag, str(c.value)) for c in rule))
    start, end = data.text("Calendar:StartTime"), data.text("Calendar:EndTime")
    return (
        _compact(start) if start else None,
        _compact(end) if end else None,
        pattern,
    )


def without_exceptions(data: Element) -> Element:
    return Element(data.tag, [c for c in data.children if c.tag != EXCEPTIONS])


# --- a server that stores the moved occurrences of an Add apart (Horde) ---------------

#: what a one-off made of an exception does not take over from its series
_SERIES_ONLY = frozenset({"Calendar:Recurrence", EXCEPTIONS, "Calendar:UID", "Calendar:ClientUid"})
#: what an exception carries that is no field of the one-off
_EXCEPTION_ONLY = frozenset({"Calendar:ExceptionStartTime", INSTANCE_ID, "Calendar:Deleted"})


def split_exceptions(data: Element) -> tuple[Element, list[Element]]:
    """The series ``data`` with each modified occurrence turned into a deleted one, and
    those occurrences as stand-alone events (the series' fields overlaid with the
    exception's, without a UID: the caller assigns one). Horde 5.2 stores the
    exceptions of a Sync Add like this (horde-notes §6); a Change keeps them linked."""
    from datetime import timedelta

    from eassync.convert.recurrence import compact_utc, parse_eas_time

    container = data.find(EXCEPTIONS)
    if container is None or data.find("Calendar:Recurrence") is None:
        return data, []
    start = parse_eas_time(data.text("Calendar:StartTime"))
    end = parse_eas_time(data.text("Calendar:EndTime"))
    length = end - start if start and end else timedelta(0)
    kept: list[Element] = []
    one_offs: list[Element] = []
    for exc in container.children:
        key = exc.find(INSTANCE_ID)
        if key is None:
            key = exc.find("Calendar:ExceptionStartTime")
        if exc.text("Calendar:Deleted") == "1" or key is None:
            kept.append(exc)
            continue
        fields = {c.tag: c for c in data.children if c.tag not in _SERIES_ONLY}
        fields.update({c.tag: c for c in exc.children if c.tag not in _EXCEPTION_ONLY})
        # the occurrence's own times, else the original start and the series' length
        own = {c.tag for c in exc.children}
        begin = parse_eas_time(exc.text("Calendar:StartTime")) or parse_eas_time(key.text())
        if begin is not None:
            if "Calendar:StartTime" not in own:
                fields["Calendar:StartTime"] = Element(
                    "Calendar:StartTime", value=compact_utc(begin)
                )
            if "Calendar:EndTime" not in own:
                fields["Calendar:EndTime"] = Element(
                    "Calendar:EndTime", value=compact_utc(begin + length)
                )
        one_offs.append(Element(data.tag, list(fields.values())))
        kept.append(Element("Calendar:Exception", [Element("Calendar:Deleted", value="1"), key]))
    children = [c for c in data.children if c.tag != EXCEPTIONS]
    return Element(data.tag, [*children, Element(EXCEPTIONS, kept)]), one_offs


def exceptions_by_instance(data: Element) -> bool:
    """A calendar item whose Exceptions name their occurrences by InstanceId (16.x)."""
    exceptions = data.find("Calendar:Exceptions")
    return exceptions is not None and any(
        e.find("AirSyncBase:InstanceId") is not None for e in exceptions
    )
