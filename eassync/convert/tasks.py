"""EAS Tasks (code page Tasks + AirSyncBase) ⇄ iCalendar VTODO.

The mapping is eas-protocol.md §7.3; the user-facing table is ``tables_calendar.TASKS``.
Same shape as ``calendar.py``: ``extract`` reads a VTODO into :class:`Task` (the values
``to_eas`` sends), ``from_eas`` writes a canonical VTODO, and ``merge`` replaces only the
groups of properties the server changed, so everything EAS cannot hold stays.

Dates: Tasks have no TimeZone. ``StartDate``/``DueDate`` are local wall-clock times
written with ``Z`` ("fake UTC"), ``UtcStartDate``/``UtcDueDate`` the real instants; we send
both. A DATE-valued DTSTART/DUE is sent as local midnight; read back, a local form at
00:00:00 is a DATE (Limited: a timed task due exactly at local midnight comes back as
a date). Timed values come back in UTC; the instant is what counts in ``merge``.

EAS Tasks have no UID: the local file keeps its own (``merge``), a new server task gets one.
Pure code, no I/O.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
from icalendar.cal import Component

from eassync.convert import held, ical
from eassync.convert import recurrence as rec_mod
from eassync.convert import timezone as tz_mod
from eassync.convert.base import item_failures
from eassync.convert.recurrence import Recurrence, compact_utc, eas_datetime, parse_eas_time
from eassync.eas.element import E, Element
from eassync.errors import ConversionError
from eassync.model.items import Item
from eassync.model.knowledge import SlotKnowledge

T = "Tasks:"
IMPORTANCE_TO_PRIORITY = {0: 9, 1: 5, 2: 1}

GROUPS: dict[str, tuple[str, ...]] = {
    "subject": ("SUMMARY",),
    "body": ("DESCRIPTION",),
    "start": ("DTSTART",),
    "due": ("DUE", "DURATION"),
    "complete": ("STATUS", "COMPLETED", "PERCENT-COMPLETE"),
    "importance": ("PRIORITY",),
    "class": ("CLASS",),
    "categories": ("CATEGORIES",),
    "recurrence": ("RRULE", "X-EAS-REGENERATE", "X-EAS-DEADOCCUR"),
}


def priority_to_importance(priority: int | None) -> int | None:
    """RFC 5545 PRIORITY → EAS Importance: 1–4 high, 5 normal, 6–9 low, 0 undefined."""
    if priority is None or priority <= 0 or priority > 9:
        return None
    if priority < 5:
        return 2
    return 1 if priority == 5 else 0


@dataclass
class Task:
    subject: str | None = None
    body: str | None = None
    start: datetime | date | None = None  # aware datetime or date
    due: datetime | date | None = None
    complete: bool = False
    completed: datetime | None = None
    importance: int | None = None
    sensitivity: int | None = None
    categories: tuple[str, ...] = ()
    reminder: datetime | None = None  # absolute, aware
    recurrence: Recurrence | None = None
    recurrence_unsupported: bool = False
    regenerate: bool | None = None
    dead_occur: bool | None = None
    uid: str | None = None
    #: LAST-MODIFIED (aware): the best known completion date after COMPLETED
    modified: datetime | None = None

    def group_keys(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "body": self.body,
            "start": _key(self.start),
            "due": _key(self.due),
            "complete": (self.complete, _key(self.completed) if self.complete else None),
            "importance": self.importance if self.importance is not None else 1,
            "class": self.sensitivity or 0,
            "categories": self.categories,
            "recurrence": (self.recurrence, self.regenerate or False, self.dead_occur or False),
        }


def _key(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return compact_utc(value)
    return value.isoformat()


@item_failures
class TasksHandler:
    kind = "tasks"
    eas_class = "Tasks"
    fileext = ".ics"

    def __init__(
        self, default_timezone: str | None = None, knowledge: SlotKnowledge | None = None
    ) -> None:
        zone = tz_mod.zone_by_name(default_timezone) if default_timezone else None
        if default_timezone and zone is None:
            raise ConversionError(f"unknown time zone {default_timezone!r}")
        self.default_timezone = default_timezone
        self.zone: tzinfo = zone or ZoneInfo("UTC")
        #: what the folder's server holds (eassync.sync.slots); None: unknown, every
        #: slot is taken as held (the handler of tools that know no folder)
        self.knowledge = knowledge

    # --- VTODO → Task -----------------------------------------------------------------------

    def extract(self, item: Item) -> Task:
        cal = ical.parse(item)
        todo, _overrides = ical.master_and_overrides(cal, "VTODO")
        if todo is None:
            raise ConversionError("no VTODO in the calendar object")
        return self._task(todo)

    def _aware(self, value: Any) -> datetime | date | None:
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=self.zone)
        return value if isinstance(value, date) else None

    def _task(self, comp: Component) -> Task:
        task = Task(
            subject=ical.text(comp, "SUMMARY"),
            body=ical.body_text(comp),
            sensitivity=ical.sensitivity(comp),
            categories=ical.categories(comp),
            uid=ical.text(comp, "UID"),
        )
        task.start = self._aware(ical.decoded(comp, "DTSTART"))
        task.due = self._aware(ical.decoded(comp, "DUE"))
        duration = ical.decoded(comp, "DURATION")
        if task.due is None and task.start is not None:
            task.due = ical.shifted(task.start, duration)
        status = (ical.text(comp, "STATUS") or "").upper()
        completed = self._aware(ical.decoded(comp, "COMPLETED"))
        task.complete = status == "COMPLETED" or (status == "" and completed is not None)
        if task.complete:
            if isinstance(completed, datetime):
                task.completed = completed
            elif isinstance(completed, date):
                task.completed = datetime.combine(completed, time(0), tzinfo=UTC)
            modified = self._aware(ical.decoded(comp, "LAST-MODIFIED"))
            task.modified = modified if isinstance(modified, datetime) else None
        priority = ical.decoded(comp, "PRIORITY")
        task.importance = priority_to_importance(priority if isinstance(priority, int) else None)
        alarms = [c for c in comp.subcomponents if c.name == "VALARM"]
        if alarms:
            task.reminder = self._alarm_time(alarms[0], task)
        rules = comp.get("RRULE")
        if rules is not None:
            anchor = task.start or task.due
            rule = None
            if not isinstance(rules, list) and anchor is not None and comp.get("RDATE") is None:
                try:
                    rule = rec_mod.from_rrule(
                        dict(rules), anchor, self.zone, not isinstance(anchor, datetime)
                    )
                except (ValueError, TypeError):
                    rule = None
            if rule is None:
                task.recurrence_unsupported = True  # Limited: stays local
            else:
                task.recurrence = rule
                task.regenerate = _flag(ical.text(comp, "X-EAS-REGENERATE"))
                task.dead_occur = _flag(ical.text(comp, "X-EAS-DEADOCCUR"))
        return task

    def _alarm_time(self, alarm: Component, task: Task) -> datetime | None:
        """An absolute reminder instant; relative triggers count from DTSTART (or DUE
        with RELATED=END), as ReminderTime must be absolute (MS-ASTASK 2.2.2.21)."""
        try:
            value = alarm.decoded("TRIGGER")
        except (KeyError, ValueError, TypeError):
            return None
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=self.zone)
        if isinstance(value, timedelta):
            related = str(alarm["TRIGGER"].params.get("RELATED", "START")).upper()
            anchor = task.due if related == "END" or task.start is None else task.start
            if anchor is None:
                return None
            if not isinstance(anchor, datetime):
                anchor = datetime.combine(anchor, time(0), tzinfo=self.zone)
            try:
                return anchor + value
            except OverflowError:  # TRIGGER:-P99999999W: no instant to send; kept locally
                return None
        return None

    # --- Task → EAS -------------------------------------------------------------------------

    def to_eas(self, item: Item, version: str) -> Element:
        return self.elements(self.extract(item), version)

    def _dates(self, value: datetime | date) -> tuple[str, str]:
        """(local "fake UTC", real UTC) dateTime strings of a DTSTART/DUE value."""
        if isinstance(value, datetime):
            shown = value.astimezone(self.zone) if _is_utc(value.tzinfo) else value
            wall = shown.replace(tzinfo=None)
            return eas_datetime(wall), eas_datetime(value)
        midnight = datetime.combine(value, time(0), tzinfo=self.zone)
        return eas_datetime(value), eas_datetime(midnight)

    def elements(self, task: Task, version: str, *, guess_completion: bool = True) -> Element:
        """The ApplicationData of ``task``. ``guess_completion``: a completed task
        without COMPLETED gets the best date known (LAST-MODIFIED, else now), as
        DateCompleted is required with Complete 1 (MS-ASTASK 2.2.2.9); without it the
        date is left out (a projection cannot know the instant of a later push)."""
        data = E("AirSync:ApplicationData")
        data.append(ical.body_element(task.body))
        cats = ical.categories_element("Tasks", task.categories)
        if cats is not None:
            data.append(cats)
        data.add(T + "Complete", "1" if task.complete else "0")
        if task.complete:
            # never the epoch: a device whose server dropped the date (SOGo) would
            # tell every other device the task was done in 1970
            when = task.completed or task.modified
            if when is None and guess_completion:
                when = datetime.now(UTC)
            if when is not None:
                data.add(T + "DateCompleted", eas_datetime(when))
        if task.due is not None:
            local, utc = self._dates(task.due)
            data.add(T + "DueDate", local)
            data.add(T + "UtcDueDate", utc)
        if task.importance is not None:
            data.add(T + "Importance", task.importance)
        if task.recurrence is not None:
            data.append(self._recurrence(task, version))
        data.add(T + "ReminderSet", "1" if task.reminder else "0")
        if task.reminder is not None:
            data.add(T + "ReminderTime", eas_datetime(task.reminder))
        data.add(T + "Sensitivity", task.sensitivity or 0)
        if task.start is not None:
            local, utc = self._dates(task.start)
            data.add(T + "StartDate", local)
            data.add(T + "UtcStartDate", utc)
        if task.subject:
            data.add(T + "Subject", task.subject)
        return data

    def _recurrence(self, task: Task, version: str) -> Element:
        rule = task.recurrence
        assert rule is not None
        values = rec_mod.fields(rule, version)
        anchor = task.start or task.due
        node = E(T + "Recurrence")
        node.add(T + "Type", values.pop("Type"))
        if anchor is not None:
            # Start: Exchange 14.1 reads it as real UTC, Office 365 16.1 as local (TbSync);
            # we send the local "fake UTC" form, which both read as the right day.
            node.add(T + "Start", self._dates(anchor)[0])
        if rule.until is not None:
            until = rule.until
            node.add(T + "Until", eas_datetime(until))
        for name in ("Occurrences", "Interval", "DayOfWeek", "DayOfMonth", "WeekOfMonth"):
            if name in values:
                node.add(T + name, values[name])
        if "MonthOfYear" in values:
            node.add(T + "MonthOfYear", values["MonthOfYear"])
        node.add(T + "Regenerate", "1" if task.regenerate else "0")
        node.add(T + "DeadOccur", "1" if task.dead_occur else "0")
        for name in ("CalendarType", "IsLeapMonth", "FirstDayOfWeek"):
            if name in values:
                node.add(T + name, values[name])
        return node

    # --- EAS → Task -------------------------------------------------------------------------

    def _read_date(self, data: Element, local_tag: str, utc_tag: str) -> datetime | date | None:
        local = parse_eas_time(data.text(T + local_tag))
        utc = parse_eas_time(data.text(T + utc_tag))
        if local is not None and local.time() == time(0):
            return local.date()
        if utc is not None:
            return utc
        if local is not None:  # only the wall time: read it in the default zone
            return local.replace(tzinfo=self.zone)
        return None

    def read(self, data: Element, version: str) -> Task:
        task = Task(
            subject=_clean(data.text(T + "Subject")),
            body=ical.read_body(data, T + "Body"),
            categories=ical.read_categories(data, "Tasks"),
        )
        task.start = self._read_date(data, "StartDate", "UtcStartDate")
        task.due = self._read_date(data, "DueDate", "UtcDueDate")
        task.complete = data.int(T + "Complete") == 1
        if task.complete:
            task.completed = parse_eas_time(data.text(T + "DateCompleted"))
        importance = data.int(T + "Importance")
        task.importance = importance if importance in (0, 1, 2) else None
        sensitivity = data.int(T + "Sensitivity")
        task.sensitivity = sensitivity if sensitivity in (0, 1, 2, 3) else None
        if data.int(T + "ReminderSet") == 1:
            task.reminder = parse_eas_time(data.text(T + "ReminderTime"))
        node = data.find(T + "Recurrence")
        if node is not None:
            rule = rec_mod.read_element(node, "Tasks")
            if rule is not None:
                anchor = task.start or task.due
                all_day = anchor is not None and not isinstance(anchor, datetime)
                if isinstance(rule.until, datetime) and all_day:
                    rule = replace(rule, until=rule.until.date())
                task.recurrence = rule
                task.regenerate = _flag(node.text(T + "Regenerate"))
                task.dead_occur = _flag(node.text(T + "DeadOccur"))
                if task.start is None and task.due is None:
                    start = parse_eas_time(node.text(T + "Start"))
                    task.start = start.date() if start else None
        return task

    def from_eas(self, data: Element, version: str) -> Item:
        if self.knowledge is not None:
            self.knowledge.saw(slots_of_data(data))  # a download: the server holds these
        return self.item(self.read(data, version))

    def item(self, task: Task) -> Item:
        cal = ical.new_calendar()
        comp = icalendar.Todo()
        if task.uid:
            comp.add("uid", task.uid)
        if task.subject:
            comp.add("summary", task.subject)
        if task.body:
            comp.add("description", task.body)
        if task.start is not None:
            comp.add("dtstart", _utc(task.start))
        if task.due is not None:
            comp.add("due", _utc(task.due))
        if task.complete:
            comp.add("status", "COMPLETED")
            comp.add("percent-complete", 100)
            if task.completed is not None:
                comp.add("completed", task.completed.astimezone(UTC))
        else:
            comp.add("status", "NEEDS-ACTION")
        if task.importance is not None:
            comp.add("priority", IMPORTANCE_TO_PRIORITY[task.importance])
        if task.sensitivity is not None:
            comp.add("class", ical.SENSITIVITY_TO_CLASS[task.sensitivity])
        if task.categories:
            comp.add("categories", list(task.categories))
        if task.recurrence is not None:
            comp.add("rrule", rec_mod.to_rrule(task.recurrence))
            if task.regenerate:
                comp.add("x-eas-regenerate", "1")
            if task.dead_occur:
                comp.add("x-eas-deadoccur", "1")
        if task.reminder is not None:
            alarm = icalendar.Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", "Reminder")
            alarm.add("trigger", task.reminder.astimezone(UTC))
            comp.add_component(alarm)
        cal.add_component(comp)
        return Item(ical.serialize(cal), task.uid)

    # --- the ContentHandler protocol --------------------------------------------------------

    def supported(self, version: str) -> list[str]:
        return []  # MS-ASCMD 2.2.3.179: Supported is for Contacts and Calendar only

    def project(self, item: Item, version: str) -> Item:
        """``from_eas(to_eas(item))`` without the slots the server is known to drop; a
        projection is no download, it teaches the knowledge nothing."""
        data = self.elements(self.extract(item), version, guess_completion=False)
        if self.knowledge is not None:
            data = held.without(data, self.knowledge.dropped_key, SLOT_ALIASES)
        return self.item(self.read(data, version))

    def merge(self, remote: Item, local: Item | None) -> Item:
        if local is None:
            uid = remote.uid or _first_uid(remote)
            return self.with_uid(remote, uid or str(uuid.uuid4()))
        remote_cal, local_cal = ical.parse(remote), ical.parse(local)
        remote_todo, _ = ical.master_and_overrides(remote_cal, "VTODO")
        out = copy.deepcopy(local_cal)
        local_todo, _ = ical.master_and_overrides(out, "VTODO")
        if remote_todo is None or local_todo is None:
            return remote
        r, l_task = self._task(remote_todo), self._task(local_todo)
        rk, lk = r.group_keys(), l_task.group_keys()
        not_held, kept = self._not_held(l_task)
        for group, names in GROUPS.items():
            if group == "recurrence" and l_task.recurrence_unsupported and r.recurrence is None:
                continue
            if group in kept:
                continue
            if rk[group] != lk[group]:
                flag_only = group == "complete" and DATE_COMPLETED in not_held
                if flag_only and rk[group][0] == lk[group][0]:
                    continue  # done on both sides; the local date stays
                for name in names:
                    local_todo.pop(name, None)
                    if name in remote_todo:
                        local_todo[name] = copy.deepcopy(remote_todo[name])
        if "reminder" not in kept and _key(r.reminder) != _key(l_task.reminder):
            alarms = [c for c in local_todo.subcomponents if c.name == "VALARM"]
            others = [c for c in local_todo.subcomponents if c.name != "VALARM"]
            incoming = [c for c in remote_todo.subcomponents if c.name == "VALARM"][:1]
            local_todo.subcomponents = others + copy.deepcopy(incoming) + alarms[1:]
        uid = local.uid or l_task.uid
        return Item(ical.serialize(out), uid)

    # --- what the server holds (eassync.sync.slots) -----------------------------------------

    def slots_of_data(self, data: Element) -> set[str]:
        """The slots a server item fills (a download, a read-back after a push)."""
        return slots_of_data(data)

    def slots_of_item(self, item: Item) -> set[str]:
        """The slots a local item asks the server to hold."""
        return slots_of_data(self.elements(self.extract(item), "14.1"))

    def _not_held(self, task: Task) -> tuple[frozenset[str], frozenset[str]]:
        """Slots of a local task the server is not known to hold, and the groups whose
        local values therefore stay. Every slot of a downloaded item is held
        (``from_eas``), so these are slots the server's copy lacks: their absence says
        nothing about an edit elsewhere."""
        if self.knowledge is None:
            return frozenset(), frozenset()
        known = self.knowledge.held
        mine = slots_of_data(self.elements(task, "14.1"))
        not_held = frozenset(s for s in mine if s not in known)
        return not_held, _groups_not_held(mine, not_held)

    def match_anchor(self, item: Item) -> str:
        """A coarse key for matching a server task to a local one their content hashes
        do not match (see :meth:`same_held_content`): the summary and the due date
        (else the start)."""
        task = self.extract(item)
        summary = " ".join((task.subject or "").split()).casefold()
        return f"{summary}\0{_key(task.due) or _key(task.start) or ''}"

    def same_held_content(self, local: Item, remote: Item, version: str) -> bool:
        """Whether ``remote`` is the server's copy of ``local`` as far as the server
        holds it: equal in every group whose slots the server is known to hold (or
        not known to drop, for slots the local task lacks). A completion date the
        local task does not know (a server that dropped it) is not compared."""
        mine_task = self.extract(local)
        not_held, skipped = self._not_held(mine_task)
        mine = self.extract(self.project(local, version))
        theirs = self.extract(remote)
        mk, tk = mine.group_keys(), theirs.group_keys()
        for group in mk:
            if group in skipped:
                continue
            if group == "recurrence" and mine_task.recurrence_unsupported:
                continue  # the server holds one task of the local rule (Limited)
            if group == "body":
                same = " ".join((mine.body or "").split()) == " ".join((theirs.body or "").split())
            elif group == "complete" and (DATE_COMPLETED in not_held or mine.completed is None):
                same = mk[group][0] == tk[group][0]
            else:
                same = mk[group] == tk[group]
            if not same:
                return False
        return "reminder" in skipped or _key(mine.reminder) == _key(theirs.reminder)

    def fingerprint(self, item: Item) -> str:
        return ical.fingerprint(item)

    def with_uid(self, item: Item, uid: str) -> Item:
        cal = ical.parse(item)
        for comp in cal.subcomponents:
            if comp.name == "VTODO":
                comp.pop("UID", None)
                comp.add("uid", uid)
        return Item(ical.serialize(cal), uid)

    def describe(self, item: Item) -> str:
        try:
            task = self.extract(item)
        except ConversionError:
            return "(unreadable task)"
        due = f" (due {task.due.isoformat()})" if task.due is not None else ""
        return f"{task.subject or '(no title)'}{due}"


def _utc(value: datetime | date) -> datetime | date:
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def _is_utc(zone: tzinfo | None) -> bool:
    if zone is None:
        return True
    return datetime(2001, 1, 15, tzinfo=UTC).astimezone(zone).utcoffset() == timedelta(
        0
    ) and datetime(2001, 7, 15, tzinfo=UTC).astimezone(zone).utcoffset() == timedelta(0)


DATE_COMPLETED = T + "DateCompleted"
#: slot → the merge group it feeds
SLOT_GROUPS: dict[str, str] = {
    T + "Subject": "subject",
    "AirSyncBase:Body": "body",
    T + "StartDate": "start",
    T + "UtcStartDate": "start",
    T + "DueDate": "due",
    T + "UtcDueDate": "due",
    T + "Complete": "complete",
    T + "Importance": "importance",
    T + "Sensitivity": "class",
    T + "Categories": "categories",
    T + "Recurrence": "recurrence",
    # ReminderSet is a flag sent always; the reminder is its time
    T + "ReminderTime": "reminder",
}
#: one field, two spellings (2.5 Body)
SLOT_ALIASES = {T + "Body": "AirSyncBase:Body"}
_NOT_SLOTS = frozenset({"AirSyncBase:NativeBodyType"})


def slots_of_data(data: Element) -> set[str]:
    """The slots an EAS task fills (:mod:`eassync.convert.held`)."""
    return held.slots_of(data, ignored=_NOT_SLOTS, aliases=SLOT_ALIASES, nested={})


def _groups_not_held(mine: set[str], not_held: frozenset[str]) -> frozenset[str]:
    """Groups of a local task none of whose slots the server is known to hold (one
    keeping DueDate but not UtcDueDate still holds the due date)."""
    groups = {SLOT_GROUPS[s] for s in not_held if s in SLOT_GROUPS}
    return frozenset(
        g for g in groups if all(s in not_held for s in mine if SLOT_GROUPS.get(s) == g)
    )


def _flag(text: str | None) -> bool | None:
    if text is None:
        return None
    return text.strip().upper() in ("1", "TRUE")


def _clean(text: str | None) -> str | None:
    return text.strip() or None if text else None


def _first_uid(item: Item) -> str | None:
    for comp in ical.parse(item).subcomponents:
        if comp.name == "VTODO" and comp.get("UID") is not None:
            return str(comp["UID"])
    return None


HANDLER = TasksHandler()
