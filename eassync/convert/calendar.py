"""EAS Calendar (code page Calendar + AirSyncBase) ⇄ iCalendar VEVENT.

The mapping is eas-protocol.md §7.2; the user-facing table is
``tables_calendar.CALENDAR``. Shape (as ``contacts.py``):

- ``extract`` reads a VEVENT (master + RECURRENCE-ID overrides) into an :class:`Event`:
  the exact values ``to_eas`` sends. ``from_eas`` writes an Event as a canonical
  VCALENDAR; extracting that gives the same Event back.
- ``merge`` compares remote and local Events *group by group* (times, subject, body,
  recurrence, first alarm …). A group that did not change keeps the local properties byte
  for byte; everything EAS cannot hold (COLOR, URL, RDATE, a second VALARM, a rule EAS
  cannot express …) is never touched. So local → to_eas → from_eas → merge gives the
  local item back (design rule 2).

Times: wire times are UTC; the zone travels as the TIME_ZONE_INFORMATION blob
(``timezone.py``). All-day (≤14.1): local midnights of the zone (the handler's
``default_timezone``, else UTC) in UTC; read back as "00:00:00Z ⇒ that date, else the
local date in the blob's (or default) zone" (TbSync), so Z-Push's all-zero blob with
``T000000Z`` and Exchange's ``T220000Z`` without TimeZone both read right. ≥16.0: no
TimeZone for all-day items and dates without a time part (MS-ASCAL 2.2.2.42).

Invitations: with ≤14.1 a Sync stores a meeting and the server sends nothing
(MS-ASCAL 3.1.4.4). From 16.0 the server itself sends meeting requests for meetings
added or changed through Sync (the organizer no longer mails iTIP; inference from
MS-ASCAL 16.x, unverified against a live server). With ``send_invitations=False`` (the
default) a 16.x request therefore carries no Attendees and no MeetingStatus; both are
ghosted in 16.x (kept on the server when absent) and stay in the local file.

16.x exceptions: an exception is keyed by ``AirSyncBase:InstanceId`` (the original start,
compact DateTime) instead of ``ExceptionStartTime``. A 16.x client must not change an
occurrence through ``Exceptions`` (MS-ASCAL 2.2.2.22): ``instance_plan`` turns a Change
of a series into the series without exceptions plus ``Change``/``Delete`` with
``InstanceId`` per occurrence (sent by ``storage/eas.py``). ``to_eas`` still puts the
exceptions inside the item: for Adds (the spec forbids them only to change an
occurrence) and for the Changes ``instance_plan`` cannot express.

Pure code, no I/O.
"""

from __future__ import annotations

import copy
import logging
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
from icalendar.cal import Component

from eassync.convert import held, ical
from eassync.convert import recurrence as rec_mod
from eassync.convert import timezone as tz_mod
from eassync.convert.base import item_failures
from eassync.convert.recurrence import Recurrence, at_least, compact_utc, parse_eas_time
from eassync.eas.element import E, Element
from eassync.errors import ConversionError
from eassync.model.items import Item
from eassync.model.knowledge import SlotKnowledge

log = logging.getLogger(__name__)

C = "Calendar:"

BUSY_TO_CDO = {0: "FREE", 1: "TENTATIVE", 2: "BUSY", 3: "OOF", 4: "WORKINGELSEWHERE"}
CDO_TO_BUSY = {v: k for k, v in BUSY_TO_CDO.items()}
STATUS_TO_PARTSTAT = {2: "TENTATIVE", 3: "ACCEPTED", 4: "DECLINED", 5: "NEEDS-ACTION"}
PARTSTAT_TO_STATUS = {v: k for k, v in STATUS_TO_PARTSTAT.items()}
#: response-only fields (MS-ASCAL 2.2.2: server → client); kept as X- properties
SERVER_FIELDS = {
    "ResponseType": "X-EAS-RESPONSETYPE",
    "AppointmentReplyTime": "X-EAS-APPOINTMENTREPLYTIME",
    "OnlineMeetingConfLink": "X-EAS-ONLINEMEETINGCONFLINK",
    "OnlineMeetingExternalLink": "X-EAS-ONLINEMEETINGEXTERNALLINK",
}
MAX_EXCEPTIONS = 256  # MS-ASCAL 2.2.2.22

# iCalendar properties owned by each merge group (everything else is local-only)
GROUPS: dict[str, tuple[str, ...]] = {
    "times": ("DTSTART", "DTEND", "DURATION"),
    "subject": ("SUMMARY",),
    "body": ("DESCRIPTION",),
    "location": ("LOCATION",),
    "busy": ("TRANSP", "X-MICROSOFT-CDO-BUSYSTATUS"),
    "class": ("CLASS",),
    "categories": ("CATEGORIES",),
    "status": ("STATUS", "X-EAS-MEETINGSTATUS"),
    "organizer": ("ORGANIZER",),
    "attendees": ("ATTENDEE",),
    "recurrence": ("RRULE", "EXDATE", "X-EAS-CALENDARTYPE", "X-EAS-ISLEAPMONTH"),
    "request": ("X-EAS-RESPONSEREQUESTED", "X-MICROSOFT-DISALLOW-COUNTER"),
    "server": tuple(SERVER_FIELDS.values()),
    "attachments": ("X-EAS-ATTACHMENT",),
}


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str | None = None
    status: int | None = None  # AttendeeStatus; None = 0 "unknown"
    type: int = 1  # 1 required, 2 optional, 3 resource


@dataclass
class Event:
    """The EAS-side values of one VEVENT (a master or one override)."""

    all_day: bool
    start: datetime | date  # aware datetime, or a date for all-day items
    end: datetime | date
    tz: tzinfo | None = None  # the zone shown (None: floating / unknown)
    subject: str | None = None
    body: str | None = None
    location: str | None = None
    busy: int | None = None
    sensitivity: int | None = None
    categories: tuple[str, ...] = ()
    reminder: int | None = None
    organizer: tuple[str, str | None] | None = None
    attendees: tuple[Attendee, ...] = ()
    meeting_status: int = 0
    recurrence: Recurrence | None = None
    recurrence_unsupported: bool = False
    exdates: tuple[datetime | date, ...] = ()
    overrides: dict[datetime | date, Event] = field(default_factory=dict)
    uid: str | None = None
    dtstamp: datetime | None = None
    response_requested: bool | None = None
    disallow_counter: bool | None = None
    server: tuple[tuple[str, str], ...] = ()
    #: (FileReference, ((param, value), …)) of each AirSyncBase:Attachment
    attachments: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()

    def group_keys(self) -> dict[str, Any]:
        rec = self.recurrence
        if rec is not None and not (rec.type == rec_mod.WEEKLY and rec.interval > 1):
            rec = replace(rec, first_day_of_week=None)  # WKST matters only there
        return {
            "subject": self.subject,
            "body": self.body,
            "location": self.location,
            "busy": self.busy if self.busy is not None else 2,
            "class": self.sensitivity or 0,
            "categories": self.categories,
            "status": self.meeting_status & 7,
            "organizer": self.organizer[0].lower() if self.organizer else None,
            # status compared apart (``_same_attendees``): 16.x requests carry none
            "attendees": tuple((a.email.lower(), a.name, a.type) for a in self.attendees),
            "recurrence": (rec, tuple(sorted(map(_instant_key, self.exdates)))),
            "request": (self.response_requested, self.disallow_counter),
            "server": self.server,
            "attachments": self.attachments,
        }


def _instant_key(value: datetime | date) -> str:
    if isinstance(value, datetime):
        return compact_utc(value)
    return value.isoformat()


def _same_times(a: Event, b: Event) -> bool:
    if a.all_day != b.all_day:
        return False
    if a.all_day:
        return (a.start, a.end) == (b.start, b.end)
    if _instant_key(a.start) != _instant_key(b.start) or _instant_key(a.end) != _instant_key(b.end):
        return False
    # A zone counts only when both sides name a real one: SOGo answers every zone with
    # UTC (sogo-notes Q10), which must not rewrite the local TZID.
    if _is_utc(a.tz) or _is_utc(b.tz) or a.recurrence is None:
        return True
    year = a.start.year
    return tz_mod.info_from_zone(a.tz, year).rules_key(year) == tz_mod.info_from_zone(
        b.tz, year
    ).rules_key(year)


def _is_utc(tz: tzinfo | None) -> bool:
    if tz is None:
        return True
    sample = datetime(2001, 1, 15, tzinfo=UTC)
    summer = datetime(2001, 7, 15, tzinfo=UTC)
    return sample.astimezone(tz).utcoffset() == timedelta(0) == summer.astimezone(tz).utcoffset()


# --- VEVENT → Event -------------------------------------------------------------------------


@item_failures
class CalendarHandler:
    kind = "calendar"
    eas_class = "Calendar"
    fileext = ".ics"

    #: a server may store its own UID instead of ours (16.x always, MS-ASCAL 2.2.2.46;
    #: Horde at any version): a UID that differs does not make a server item another
    #: event than a local one of the same held content (eassync.sync.loose)
    server_assigns_uids = True

    def __init__(
        self,
        default_timezone: str | None = None,
        send_invitations: bool = False,
        knowledge: SlotKnowledge | None = None,
    ) -> None:
        self.default_timezone = default_timezone
        self.send_invitations = send_invitations
        #: what the folder's server holds (eassync.sync.slots); None: unknown, every
        #: slot is taken as held (the handler of tools that know no folder)
        self.knowledge = knowledge
        #: the protocol version last converted for (slots depend on it: 16.x sends no
        #: attendees without send_invitations, Location moves to AirSyncBase)
        self._version = "14.1"
        zone = tz_mod.zone_by_name(default_timezone) if default_timezone else None
        if default_timezone and zone is None:
            raise ConversionError(f"unknown time zone {default_timezone!r}")
        self._default_zone: tzinfo | None = zone

    @property
    def zone(self) -> tzinfo:
        """The zone for floating times, all-day items and blobs that say nothing."""
        return self._default_zone or ZoneInfo("UTC")

    # --- reading iCalendar ------------------------------------------------------------------

    def extract(self, item: Item) -> Event:
        cal = ical.parse(item)
        master, overrides = ical.master_and_overrides(cal, "VEVENT")
        if master is None:
            if not overrides:
                raise ConversionError("no VEVENT in the calendar object")
            master = overrides.pop(0)  # an orphan override: sync it as a single event
        event = self._event(master)
        if event.recurrence is not None:
            for comp in overrides:
                original = self._original(comp, event)
                if original is not None and len(event.overrides) < MAX_EXCEPTIONS:
                    event.overrides[original] = self._event(comp)
        return event

    def _original(self, comp: Component, master: Event) -> datetime | date | None:
        value = ical.decoded(comp, "RECURRENCE-ID")
        return self._norm_instant(value, master.all_day)

    def _norm_instant(self, value: Any, all_day: bool) -> datetime | date | None:
        if isinstance(value, datetime):
            moment: datetime = value
            if all_day:
                return moment.date()
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=self.zone)
            return moment.astimezone(UTC)
        if isinstance(value, date):
            if all_day:
                return value
            return datetime.combine(value, time(0), tzinfo=self.zone).astimezone(UTC)
        return None

    def _event(self, comp: Component) -> Event:
        start = ical.decoded(comp, "DTSTART")
        if not isinstance(start, date):
            raise ConversionError("VEVENT without a readable DTSTART")
        all_day = not isinstance(start, datetime)
        end = ical.decoded(comp, "DTEND")
        duration = ical.decoded(comp, "DURATION")
        if all_day:
            if isinstance(end, datetime):
                end = end.date()
            if not isinstance(end, date):
                end = ical.shifted(start, duration) or start + timedelta(days=1)
            if end <= start:
                end = start + timedelta(days=1)
            tz: tzinfo | None = None
        else:
            assert isinstance(start, datetime)
            floating = start.tzinfo is None
            tz = None if floating else start.tzinfo
            if floating:
                start = start.replace(tzinfo=self.zone)
            if isinstance(end, datetime):
                if end.tzinfo is None:
                    end = end.replace(tzinfo=self.zone)
            else:
                end = ical.shifted(start, duration) or start
            if end < start:
                end = start
        event = Event(all_day=all_day, start=start, end=end, tz=tz)
        event.uid = ical.text(comp, "UID")
        stamp = ical.decoded(comp, "DTSTAMP")
        event.dtstamp = stamp if isinstance(stamp, datetime) else None
        event.subject = ical.text(comp, "SUMMARY")
        event.body = ical.body_text(comp)
        event.location = ical.text(comp, "LOCATION")
        event.sensitivity = ical.sensitivity(comp)
        event.categories = ical.categories(comp)
        cdo = (ical.text(comp, "X-MICROSOFT-CDO-BUSYSTATUS") or "").upper()
        transp = (ical.text(comp, "TRANSP") or "").upper()
        if cdo in CDO_TO_BUSY:
            event.busy = CDO_TO_BUSY[cdo]
        elif transp == "TRANSPARENT":
            event.busy = 0
        elif transp == "OPAQUE":
            event.busy = 2
        event.reminder = self._reminder(comp, event)
        event.organizer = _organizer(comp)
        event.attendees = tuple(_attendees(comp))
        status = (ical.text(comp, "STATUS") or "").upper()
        raw_ms = ical.text(comp, "X-EAS-MEETINGSTATUS")
        meeting = int(raw_ms) if raw_ms and raw_ms.strip().isdigit() else None
        if meeting is None:
            meeting = 1 if event.attendees else 0
        if status == "CANCELLED":
            meeting |= 5
        else:
            meeting &= ~4
        event.meeting_status = meeting & 7
        event.response_requested = _flag(ical.text(comp, "X-EAS-RESPONSEREQUESTED"))
        event.disallow_counter = _flag(ical.text(comp, "X-MICROSOFT-DISALLOW-COUNTER"))
        event.server = tuple(
            (name, value)
            for name in SERVER_FIELDS.values()
            if (value := ical.text(comp, name)) is not None
        )
        event.attachments = tuple(
            (str(p), tuple(sorted((k.upper(), str(v)) for k, v in p.params.items())))
            for p in _as_list(comp.get("X-EAS-ATTACHMENT"))
        )
        if comp.get("RRULE") is not None and comp.get("RECURRENCE-ID") is None:
            self._read_rule(comp, event)
        return event

    def _read_rule(self, comp: Component, event: Event) -> None:
        rules = _as_list(comp.get("RRULE"))
        zone = event.tz or self.zone
        parsed = None
        if len(rules) == 1 and comp.get("RDATE") is None and comp.get("EXRULE") is None:
            try:
                parsed = rec_mod.from_rrule(dict(rules[0]), event.start, zone, event.all_day)
            except (ValueError, TypeError):
                parsed = None
        if parsed is None:
            # Limited: EAS cannot hold this rule; the server gets the first occurrence
            # only and the rule (with its overrides) stays in the local file.
            event.recurrence_unsupported = True
            return

        def number(name: str, default: int | None) -> int | None:
            raw = ical.text(comp, name)
            return int(raw) if raw and raw.strip().isdigit() else default

        event.recurrence = replace(
            parsed,
            calendar_type=number("X-EAS-CALENDARTYPE", parsed.calendar_type),
            is_leap_month=number("X-EAS-ISLEAPMONTH", parsed.is_leap_month),
        )
        exdates: list[datetime | date] = []
        for value in ical.date_values(comp, "EXDATE"):
            instant = self._norm_instant(value, event.all_day)
            if instant is not None and instant not in exdates:
                exdates.append(instant)
        event.exdates = tuple(exdates)

    def _reminder(self, comp: Component, event: Event) -> int | None:
        alarms = [c for c in comp.subcomponents if c.name == "VALARM"]
        if not alarms:
            return None
        return alarm_minutes(alarms[0], event.start, event.end, self.zone)

    # --- Event → EAS ------------------------------------------------------------------------

    def to_eas(self, item: Item, version: str) -> Element:
        self._version = version
        event = self.extract(item)
        return self.elements(event, version)

    def _wire_time(self, value: datetime | date, version: str) -> str:
        if isinstance(value, datetime):
            return compact_utc(value)
        if at_least(version, "16.0"):
            return compact_utc(value)  # 16.x: all-day dates without a time part
        return compact_utc(datetime.combine(value, time(0), tzinfo=self.zone))

    def _blob(self, event: Event, version: str) -> str | None:
        if event.all_day:
            if at_least(version, "16.0"):
                return None
            return tz_mod.encode_blob(tz_mod.info_from_zone(self.zone, event.start.year))
        zone = event.tz if event.tz is not None else self.zone
        if _is_utc(zone):
            return tz_mod.encode_blob(tz_mod.ZERO)
        return tz_mod.encode_blob(tz_mod.info_from_zone(zone, event.start.year))

    def elements(self, event: Event, version: str) -> Element:
        v16 = at_least(version, "16.0")
        data = E("AirSync:ApplicationData")
        blob = self._blob(event, version)
        if blob is not None:
            data.add(C + "TimeZone", blob)
        data.add(C + "AllDayEvent", "1" if event.all_day else "0")
        data.append(ical.body_element(event.body))
        data.add(C + "BusyStatus", event.busy if event.busy is not None else 2)
        if event.organizer and not v16:
            email, name = event.organizer
            if name:
                data.add(C + "OrganizerName", name)
            data.add(C + "OrganizerEmail", email)
        if event.dtstamp is not None and not v16:
            data.add(C + "DtStamp", compact_utc(event.dtstamp))
        data.add(C + "EndTime", self._wire_time(event.end, version))
        if v16:
            data.append(
                E("AirSyncBase:Location", E("AirSyncBase:DisplayName", value=event.location))
                if event.location
                else E("AirSyncBase:Location")  # empty clears (MS-ASAIRS 2.2.2.28)
            )
        elif event.location:
            data.add(C + "Location", event.location)
        if event.reminder is not None:
            data.add(C + "Reminder", event.reminder)
        data.add(C + "Sensitivity", event.sensitivity or 0)
        if event.subject:
            data.add(C + "Subject", event.subject)
        data.add(C + "StartTime", self._wire_time(event.start, version))
        if v16:
            if event.uid:
                data.add(C + "ClientUid", event.uid[:300])  # MS-ASCAL 2.2.2.13
        elif event.uid:
            data.add(C + "UID", event.uid)
        invitations = self.send_invitations or not v16
        if invitations:
            data.add(C + "MeetingStatus", event.meeting_status)
            attendees = self._attendees(event.attendees, version)
            if attendees is not None:
                data.append(attendees)
        cats = ical.categories_element("Calendar", event.categories)
        if cats is not None:
            data.append(cats)
        if event.recurrence is not None:
            rule = self._wire_rule(event.recurrence, version)
            data.append(rec_mod.calendar_element(rule, version))
            exceptions = self._exceptions(event, version)
            if exceptions is not None:
                data.append(exceptions)
        if at_least(version, "14.0"):
            if event.response_requested is not None:
                data.add(C + "ResponseRequested", "1" if event.response_requested else "0")
            if event.disallow_counter is not None:
                data.add(C + "DisallowNewTimeProposal", "1" if event.disallow_counter else "0")
        return data

    def _wire_rule(self, rule: Recurrence, version: str) -> Recurrence:
        until = rule.until
        if until is not None and not isinstance(until, datetime):
            # all-day Until: written like StartTime (the last day's local midnight up to
            # 14.1, a date without time part from 16.0); a local midnight east of UTC
            # would read back as the day before on a 16.x device
            until = datetime.combine(until, time(0), tzinfo=self.zone)
            if at_least(version, "16.0"):
                until = datetime.combine(rule.until, time(0), tzinfo=UTC)  # type: ignore[arg-type]
        return replace(rule, until=until)

    def _attendees(self, attendees: tuple[Attendee, ...], version: str) -> Element | None:
        if not attendees:
            return None
        node = E(C + "Attendees")
        for att in attendees:
            one = node.add(C + "Attendee")
            one.add(C + "Email", att.email)
            one.add(C + "Name", att.name or att.email)
            if at_least(version, "12.0"):
                if att.status is not None and not at_least(version, "16.0"):
                    one.add(C + "AttendeeStatus", att.status)
                one.add(C + "AttendeeType", att.type)
        return node

    def _exceptions(self, event: Event, version: str) -> Element | None:
        if not event.exdates and not event.overrides:
            return None
        v16 = at_least(version, "16.0")
        node = E(C + "Exceptions")
        key_tag = "AirSyncBase:InstanceId" if v16 else C + "ExceptionStartTime"
        originals = sorted(
            [(o, None) for o in event.exdates] + list(event.overrides.items()),
            key=lambda pair: _instant_key(pair[0]),
        )
        for original, override in originals[:MAX_EXCEPTIONS]:
            exc = node.add(C + "Exception")
            if override is None:
                exc.add(C + "Deleted", "1")
                exc.add(key_tag, self._wire_time(original, version))
                continue
            exc.add(key_tag, self._wire_time(original, version))
            self._exception_fields(exc, event, override, version)
        return node

    def _exception_fields(self, exc: Element, master: Event, ov: Event, version: str) -> None:
        """Only what differs from the master (missing fields inherit, MS-ASCAL 2.2.2.21);
        an empty element says "none" where the master has a value."""

        def text_field(tag: str, mine: str | None, theirs: str | None) -> None:
            if mine != theirs:
                exc.add(C + tag, mine or "")

        text_field("Subject", ov.subject, master.subject)
        exc.add(C + "StartTime", self._wire_time(ov.start, version))
        exc.add(C + "EndTime", self._wire_time(ov.end, version))
        if ov.body != master.body:
            exc.append(ical.body_element(ov.body))
        if not at_least(version, "16.0"):
            text_field("Location", ov.location, master.location)
        elif ov.location != master.location:
            exc.append(
                E("AirSyncBase:Location", E("AirSyncBase:DisplayName", value=ov.location))
                if ov.location
                else E("AirSyncBase:Location")
            )
        if ov.categories != master.categories:
            exc.append(ical.categories_element("Calendar", ov.categories) or E(C + "Categories"))
        if (ov.sensitivity or 0) != (master.sensitivity or 0):
            exc.add(C + "Sensitivity", ov.sensitivity or 0)
        if ov.busy != master.busy:
            exc.add(C + "BusyStatus", ov.busy if ov.busy is not None else 2)
        if ov.all_day != master.all_day:
            exc.add(C + "AllDayEvent", "1" if ov.all_day else "0")
        if ov.reminder != master.reminder:
            exc.add(C + "Reminder", "" if ov.reminder is None else str(ov.reminder))
        if (self.send_invitations or not at_least(version, "16.0")) and at_least(version, "14.0"):
            if ov.meeting_status != master.meeting_status:
                exc.add(C + "MeetingStatus", ov.meeting_status)
            if ov.attendees != master.attendees:
                exc.append(self._attendees(ov.attendees, version) or E(C + "Attendees"))

    # --- EAS → Event ------------------------------------------------------------------------

    def read(self, data: Element, version: str) -> Event:
        blob = tz_mod.decode_blob(data.text(C + "TimeZone"))
        start = parse_eas_time(data.text(C + "StartTime"))
        if start is None:
            raise ConversionError("calendar item without a readable StartTime")
        end = parse_eas_time(data.text(C + "EndTime")) or start
        zone_known = blob is not None and not blob.is_zero
        if zone_known:
            assert blob is not None
            zone = tz_mod.zone_from_info(blob, start.year)
        else:
            zone = self.zone
        all_day = data.int(C + "AllDayEvent") == 1
        date_zone = zone if (zone_known or self._default_zone is not None) else None
        event = Event(all_day=all_day, start=start, end=end, tz=zone)
        if all_day:
            event.start = eas_date(start, date_zone)
            event.end = eas_date(end, date_zone)
            if event.end <= event.start:
                event.end = event.start + timedelta(days=1)
            event.tz = None
        elif end < start:
            event.end = start
        self._read_common(data, event, version)
        event.uid = _one_line(data.text(C + "UID")) or _one_line(data.text(C + "ClientUid"))
        event.dtstamp = parse_eas_time(data.text(C + "DtStamp"))
        node = data.find(C + "Recurrence")
        if node is not None:
            rule = rec_mod.read_element(node, "Calendar")
            if rule is not None:
                if all_day and isinstance(rule.until, datetime):
                    rule = replace(rule, until=eas_date(rule.until, date_zone))
                event.recurrence = rule
                self._read_exceptions(data, event, date_zone, version)
                _snap_originals(event)
        event.server = tuple(
            (prop, value)
            for tag, prop in SERVER_FIELDS.items()
            if (value := (data.text(C + tag) or "").strip())
        )
        event.attachments = tuple(_attachment_lines(data))
        return event

    def _read_common(self, data: Element, event: Event, version: str) -> None:
        event.subject = _clean(data.text(C + "Subject"))
        event.body = ical.read_body(data, C + "Body")
        event.location = _read_location(data)
        event.busy = _bounded(data.int(C + "BusyStatus"), 0, 4)
        event.sensitivity = _bounded(data.int(C + "Sensitivity"), 0, 3)
        event.categories = ical.read_categories(data, "Calendar")
        event.reminder = reminder_in_range(data.int(C + "Reminder"), event.start)
        email = _one_line(data.text(C + "OrganizerEmail"))
        if email:
            event.organizer = (email, _one_line(data.text(C + "OrganizerName")))
        event.attendees = tuple(_read_attendees(data))
        meeting = data.int(C + "MeetingStatus")
        event.meeting_status = (meeting & 7) if meeting is not None else 0
        event.response_requested = _flag(data.text(C + "ResponseRequested"))
        event.disallow_counter = _flag(data.text(C + "DisallowNewTimeProposal"))

    def _read_exceptions(
        self, data: Element, event: Event, date_zone: tzinfo | None, version: str
    ) -> None:
        exdates: list[datetime | date] = []
        for exc in data.findall(C + "Exceptions/" + C + "Exception"):
            raw = exc.text(C + "ExceptionStartTime") or exc.text("AirSyncBase:InstanceId")
            instant = parse_eas_time(raw)
            if instant is None:
                log.warning("skipping a calendar exception without a readable start")
                continue
            original: datetime | date = eas_date(instant, date_zone) if event.all_day else instant
            if exc.int(C + "Deleted") == 1:
                if original not in exdates:
                    exdates.append(original)
                continue
            event.overrides[original] = self._read_override(exc, event, original, date_zone)
        event.exdates = tuple(exdates)

    def _read_override(
        self, exc: Element, master: Event, original: datetime | date, date_zone: tzinfo | None
    ) -> Event:
        ov = copy.copy(master)
        ov.recurrence = None
        ov.exdates = ()
        ov.overrides = {}
        all_day = exc.int(C + "AllDayEvent")
        if all_day is not None:
            ov.all_day = all_day == 1
        start = parse_eas_time(exc.text(C + "StartTime"))
        end = parse_eas_time(exc.text(C + "EndTime"))
        length = _length(master)
        if ov.all_day:
            ov.tz = None
            ov.start = eas_date(start, date_zone) if start else _as_date(original, date_zone)
            ov.end = eas_date(end, date_zone) if end else ov.start + max(length, timedelta(1))
            if ov.end <= ov.start:
                ov.end = ov.start + timedelta(days=1)
        else:
            if ov.tz is None:
                ov.tz = master.tz or self.zone
            base = original if isinstance(original, datetime) else _midnight(original, ov.tz)
            ov.start = start or base
            ov.end = end or ov.start + length
        present = {child.tag for child in exc}
        if C + "Subject" in present:
            ov.subject = _clean(exc.text(C + "Subject"))
        if "AirSyncBase:Body" in present or C + "Body" in present:
            ov.body = ical.read_body(exc, C + "Body")
        if C + "Location" in present or "AirSyncBase:Location" in present:
            ov.location = _read_location(exc)
        if C + "Categories" in present:
            ov.categories = ical.read_categories(exc, "Calendar")
        if C + "Sensitivity" in present:
            ov.sensitivity = _bounded(exc.int(C + "Sensitivity"), 0, 3)
        if C + "BusyStatus" in present:
            ov.busy = _bounded(exc.int(C + "BusyStatus"), 0, 4)
        if C + "Reminder" in present:
            ov.reminder = reminder_in_range(exc.int(C + "Reminder"), ov.start)
        if C + "MeetingStatus" in present:
            ov.meeting_status = (exc.int(C + "MeetingStatus") or 0) & 7
        if C + "Attendees" in present:
            ov.attendees = tuple(_read_attendees(exc))
        stamp = parse_eas_time(exc.text(C + "DtStamp"))
        if stamp is not None:
            ov.dtstamp = stamp
        return ov

    def from_eas(self, data: Element, version: str) -> Item:
        self._version = version
        if self.knowledge is not None:
            self.knowledge.saw(slots_of_data(data))  # a download: the server holds these
        event = self.read(data, version)
        return self.item(event)

    # --- Event → iCalendar ------------------------------------------------------------------

    def item(self, event: Event) -> Item:
        cal = ical.new_calendar()
        zones: list[tzinfo] = []
        master = self._vevent(event, None, event, zones)
        cal.add_component(master)
        for original in sorted(event.overrides, key=_instant_key):
            cal.add_component(self._vevent(event.overrides[original], original, event, zones))
        ical.add_timezones(cal, zones)
        return Item(ical.serialize(cal), event.uid)

    def _vevent(
        self, ev: Event, original: datetime | date | None, master: Event, zones: list[tzinfo]
    ) -> icalendar.Event:
        comp = icalendar.Event()
        if ev.uid:
            comp.add("uid", ev.uid)
        stamp = ev.dtstamp or (ev.start if isinstance(ev.start, datetime) else None)
        if isinstance(stamp, datetime):
            comp.add("dtstamp", stamp.astimezone(UTC))
        zone = None if ev.all_day else ev.tz
        if zone is not None and not _is_utc(zone):
            zones.append(zone)
        elif zone is not None:
            zone = UTC
        if original is not None:
            rid_zone = None if master.all_day else (master.tz or zone)
            if rid_zone is not None and _is_utc(rid_zone):
                rid_zone = UTC
            ical.set_dt(comp, "recurrence-id", original, rid_zone)
        ical.set_dt(comp, "dtstart", ev.start, zone)
        ical.set_dt(comp, "dtend", ev.end, zone)
        if ev.subject:
            comp.add("summary", ev.subject)
        if ev.location:
            comp.add("location", ev.location)
        if ev.body:
            comp.add("description", ev.body)
        if ev.sensitivity is not None:
            comp.add("class", ical.SENSITIVITY_TO_CLASS[ev.sensitivity])
        if ev.busy is not None:
            comp.add("transp", "TRANSPARENT" if ev.busy == 0 else "OPAQUE")
            comp.add("x-microsoft-cdo-busystatus", BUSY_TO_CDO[ev.busy])
        if ev.categories:
            comp.add("categories", list(ev.categories))
        if ev.meeting_status & 4:
            comp.add("status", "CANCELLED")
        derived = 1 if ev.attendees else 0
        if ev.meeting_status & 4:
            derived |= 5
        if ev.meeting_status != derived:
            comp.add("x-eas-meetingstatus", str(ev.meeting_status))
        if ev.organizer:
            email, name = ev.organizer
            params = {"CN": name} if name else {}
            comp.add("organizer", f"mailto:{email}", parameters=params)
        for att in ev.attendees:
            params = {"CN": att.name or att.email}
            if att.type == 3:
                params["CUTYPE"] = "RESOURCE"
                params["ROLE"] = "NON-PARTICIPANT"
            else:
                params["ROLE"] = "OPT-PARTICIPANT" if att.type == 2 else "REQ-PARTICIPANT"
            if att.status in STATUS_TO_PARTSTAT:
                params["PARTSTAT"] = STATUS_TO_PARTSTAT[att.status]
            comp.add("attendee", f"mailto:{att.email}", parameters=params)
        if ev.recurrence is not None and original is None:
            comp.add("rrule", rec_mod.to_rrule(ev.recurrence))
            if ev.recurrence.calendar_type is not None:
                comp.add("x-eas-calendartype", str(ev.recurrence.calendar_type))
            if ev.recurrence.is_leap_month is not None:
                comp.add("x-eas-isleapmonth", str(ev.recurrence.is_leap_month))
            rid_zone = None if ev.all_day else (ev.tz if not _is_utc(ev.tz) else UTC)
            for ex in sorted(ev.exdates, key=_instant_key):
                ical.set_dt(comp, "exdate", ex, rid_zone)
        if ev.response_requested is not None:
            comp.add("x-eas-responserequested", "1" if ev.response_requested else "0")
        if ev.disallow_counter is not None:
            comp.add("x-microsoft-disallow-counter", "TRUE" if ev.disallow_counter else "FALSE")
        for name, value in ev.server:
            comp.add(name, value)
        for reference, attachment_params in ev.attachments:
            comp.add("x-eas-attachment", reference, parameters=dict(attachment_params))
        if ev.reminder is not None:
            comp.add_component(reminder_alarm(ev.reminder))
        return comp

    # --- the ContentHandler protocol --------------------------------------------------------

    def supported(self, version: str) -> list[str]:
        if at_least(version, "16.0"):
            # MS-ASCAL 3.1.5.3: from 16.0 every top-level calendar element is ghosted
            # when absent, whatever Supported says; the list is not sent.
            return []
        tags = [
            "TimeZone",
            "AllDayEvent",
            "BusyStatus",
            "OrganizerName",
            "OrganizerEmail",
            "DtStamp",
            "EndTime",
            "Location",
            "Reminder",
            "Sensitivity",
            "Subject",
            "StartTime",
            "UID",
            "MeetingStatus",
            "Attendees",
            "Categories",
            "Recurrence",
        ]
        if at_least(version, "14.0"):
            tags += ["ResponseRequested", "DisallowNewTimeProposal"]
        return [C + t for t in tags]

    def project(self, item: Item, version: str) -> Item:
        """``from_eas(to_eas(item))`` without the slots the server is known to drop; a
        projection is no download, it teaches the knowledge nothing."""
        data = self.to_eas(item, version)
        if self.knowledge is not None:
            data = held.without(data, self.knowledge.dropped_key, SLOT_ALIASES)
        projected = self.item(self.read(data, version))
        carried = ["server", "attachments"]
        if at_least(version, "16.0"):
            carried.append("organizer")  # not sent in 16.x; the server keeps its own
            if not self.send_invitations:
                carried += ["attendees", "status"]
        return _carry(projected, item, carried)

    def merge(self, remote: Item, local: Item | None) -> Item:
        if local is None:
            uid = remote.uid or _first_uid(ical.parse(remote))
            if uid is None:
                return self.with_uid(remote, str(uuid.uuid4()))
            return Item(remote.raw, uid)
        return merge_items(self, remote, local, self._not_held(local))

    # --- what the server holds (eassync.sync.slots) -----------------------------------------

    def slots_of_data(self, data: Element) -> set[str]:
        """The slots a server item fills (a download, a read-back after a push)."""
        return slots_of_data(data)

    def slots_of_item(self, item: Item) -> set[str]:
        """The slots a local item asks the server to hold (as last sent)."""
        return slots_of_data(self.to_eas(item, self._version))

    def _not_held(self, local: Item) -> frozenset[str]:
        """Local slots the server is not known to hold. Every slot of a downloaded item
        is held (``from_eas``), so these are slots the server's copy lacks: their
        absence says nothing about an edit elsewhere, the local values stay."""
        if self.knowledge is None:
            return frozenset()
        known = self.knowledge.held
        return frozenset(s for s in self.slots_of_item(local) if s not in known)

    def match_anchor(self, item: Item) -> str:
        """A coarse key for matching a server item to a local one their content hashes
        do not match (see :meth:`same_held_content`): the summary and the first start."""
        event = self.extract(item)
        summary = " ".join((event.subject or "").split()).casefold()
        return f"{summary}\0{_instant_key(event.start)}"

    def same_held_content(self, local: Item, remote: Item, version: str) -> bool:
        """Whether ``remote`` is the server's copy of ``local`` as far as the server
        holds it: the same times (instants; dates for all-day items; zones where both
        name a real one), and equal in every slot the server is known to hold. Slots of
        the local item the server is not known to hold are not compared, nor the UID
        (the server's own at 16.x), nor what this client does not send at ``version``
        (a 16.x server fills in its own organizer, attendees and meeting status)."""
        not_held = self._not_held(local)
        mine = self.extract(self.project(local, version))
        theirs = self.extract(remote)
        unsent: set[str] = set()
        if at_least(version, "16.0"):
            unsent.add("organizer")
            if not self.send_invitations:
                unsent |= {"attendees", "status"}
        if not _same_held(mine, theirs, not_held, unsent=frozenset(unsent)):
            return False
        if C + "Exceptions" in not_held:
            return True
        if set(mine.overrides) != set(theirs.overrides):
            return False
        for original, override in mine.overrides.items():
            other = theirs.overrides[original]
            if not _same_held(override, other, not_held, override=True, unsent=frozenset(unsent)):
                return False
        return True

    # --- a server that stores moved occurrences apart (Horde) ------------------------------

    def read_back_added(self, item: Item) -> bool:
        """Whether the server's copy of ``item``, just added, is worth reading back: a
        series with moved occurrences, which a server may store apart
        (:meth:`stored_apart`)."""
        if b"RECURRENCE-ID" not in item.raw.upper():
            return False
        try:
            event = self.extract(item)
        except ConversionError:
            return False
        return bool(event.recurrence is not None and event.overrides)

    def stored_apart(self, sent: Item, stored: Item) -> list[str]:
        """The moved occurrences of ``sent`` (a series just added) that the server's
        copy ``stored`` holds as deleted occurrences instead: Horde 5.2 stores each
        moved occurrence of an Add as an event of its own, which every device
        downloads (horde-notes §6). Described for a message; empty when the server
        kept them as exceptions (SOGo keeps none at all: nothing is compared then)."""
        mine, theirs = self.extract(sent), self.extract(stored)
        if theirs.recurrence is None:
            return []
        deleted = {_instant_key(original) for original in theirs.exdates}
        return [
            f"{override.subject or '(no title)'} ({override.start.isoformat()})"
            for original, override in sorted(
                mine.overrides.items(), key=lambda o: _instant_key(o[0])
            )
            if _instant_key(original) in deleted and original not in theirs.overrides
        ]

    def fingerprint(self, item: Item) -> str:
        return ical.fingerprint(item)

    def with_uid(self, item: Item, uid: str) -> Item:
        cal = ical.parse(item)
        for comp in cal.subcomponents:
            if comp.name in ("VEVENT", "VTODO"):
                comp.pop("UID", None)
                comp.add("uid", uid)
        return Item(ical.serialize(cal), uid)

    def describe(self, item: Item) -> str:
        try:
            cal = ical.parse(item)
        except ConversionError:
            return "(unreadable event)"
        master, overrides = ical.master_and_overrides(cal, "VEVENT")
        comp = master or (overrides[0] if overrides else None)
        if comp is None:
            return "(no event)"
        start = ical.decoded(comp, "DTSTART")
        when = start.isoformat() if isinstance(start, date) else "?"
        return f"{ical.text(comp, 'SUMMARY') or '(no title)'} ({when})"

    def instance_ops(self, old: Item, new: Item) -> list[InstanceOp]:
        """16.x per-occurrence commands turning ``old``'s exceptions into ``new``'s:
        a Change with ``InstanceId`` for each new/changed override, a Delete with
        ``InstanceId`` for each new EXDATE (MS-ASCMD 2.2.3.87 16.x). What is sent is
        ``instance_plan``, which compares with the server's copy instead."""
        before, after = self.extract(old), self.extract(new)
        ops: list[InstanceOp] = []
        for original in after.exdates:
            if original not in before.exdates:
                ops.append(InstanceOp("delete", self._wire_time(original, "16.1"), None))
        for original, ov in after.overrides.items():
            previous = before.overrides.get(original)
            if previous is None or previous != ov:
                node = E("AirSync:ApplicationData")
                self._exception_fields(node, after, ov, "16.1")
                ops.append(InstanceOp("change", self._wire_time(original, "16.1"), node))
        return ops

    def instance_plan(
        self, server: Element, new: Item, version: str, *, resend: bool = False
    ) -> InstancePlan | None:
        """How a 16.x client changes the series ``server`` (its ApplicationData as the
        server holds it) into ``new``: MS-ASCAL 2.2.2.22 forbids ``Exceptions`` in a 16.x
        Change; occurrences are changed/deleted by ``InstanceId`` (MS-ASCMD 2.2.3.24).

        A series whose Recurrence, StartTime or EndTime changes loses all its exceptions
        on the server (MS-ASCAL 2.2.2.22), so then every exception is sent again; an
        unchanged Recurrence is not sent. None
        when ``new`` does not recur (no exceptions: the plain Change is right) or when an
        occurrence deleted on the server is restored locally: no 16.x command undeletes
        one, the caller falls back to the whole-item Change. ``resend``: every exception
        is sent again, as if the series changed shape.
        """
        after = self.extract(new)
        if after.recurrence is None:
            return None
        before = self.read(server, version)
        bare = copy.copy(after)
        bare.exdates, bare.overrides = (), {}
        series = self.elements(bare, version)
        resets = resend or _series_shape(server) != _series_shape(series)
        if resets:
            before.exdates, before.overrides = (), {}
        else:
            # the rule as the server has it: not sent, as 16.x ghosts what is absent
            # (MS-ASCAL 3.1.5.3). Horde 5.2 rebuilds a series' recurrence from every
            # Change that carries one, with the Exceptions in it: none at 16.x, so
            # each deleted date of the series would be lost (issue 15)
            series = Element(series.tag, [c for c in series.children if c.tag != C + "Recurrence"])
        if any(original not in after.exdates for original in before.exdates):
            return None
        ops: list[InstanceOp] = []
        for original in sorted(after.exdates, key=_instant_key):
            if original not in before.exdates:
                ops.append(InstanceOp("delete", self._wire_time(original, version), None))
        originals = set(before.overrides) | set(after.overrides)
        for original in sorted(originals, key=_instant_key):
            if original in after.exdates:
                continue
            wanted = after.overrides.get(original) or self._plain_occurrence(after, original)
            previous = before.overrides.get(original)
            if previous is not None and self._same_override(before, previous, after, wanted):
                continue
            if previous is None and original not in after.overrides:
                continue
            node = E("AirSync:ApplicationData")
            # 16.x ghosts every calendar element (MS-ASCMD 2.2.3.179): what is omitted
            # keeps the server's value, so write what differs from the server's copy
            self._exception_fields(node, previous or after, wanted, version)
            ops.append(InstanceOp("change", self._wire_time(original, version), node, original))
        return InstancePlan(series, ops, resets)

    # --- a server that applies an occurrence's Change to the series (Horde) ---------------

    def apart_plan(self, server: Element, new: Item, version: str) -> ApartPlan | None:
        """How ``new`` reaches a server that applies a Change with InstanceId to the
        whole series (Horde 5.2 at 16.0, horde-notes §6): the series as ``new`` has it,
        each changed occurrence deleted from it (Delete with InstanceId, which such a
        server does apply) and added as an event of its own, as that server stores the
        moved occurrences of an Add itself. Planned like :meth:`instance_plan` against
        the server's copy ``server``, every deleted date and override sent again: Horde
        5.2 at 16.0 drops the deleted dates of a series on every Change that carries its
        Recurrence. None where that has no per-occurrence form."""
        plan = self.instance_plan(server, new, version, resend=True)
        if plan is None:
            return None
        after = self.extract(new)
        deletes: list[str] = []
        one_offs: list[tuple[Item, Element]] = []
        shaped = copy.copy(after)
        shaped.overrides = dict(after.overrides)
        for op in plan.ops:
            deletes.append(op.instance_id)
            if op.kind != "change" or op.original is None:
                continue
            original = op.original
            shaped.overrides.pop(original, None)
            shaped.exdates = (*shaped.exdates, original)
            event = copy.copy(
                after.overrides.get(original) or self._plain_occurrence(after, original)
            )
            event.recurrence, event.exdates, event.overrides = None, (), {}
            event.uid = str(uuid.uuid4())
            one_off = self.item(event)
            one_offs.append((one_off, self.elements(event, version)))
        return ApartPlan(plan.series, deletes, one_offs, self.item(shaped))

    def series_took_occurrence(
        self, sent: Element, stored: Element, ops: Sequence[InstanceOp]
    ) -> bool:
        """Whether the server's copy ``stored`` of a series holds, where the series
        ``sent`` had its own value, the start, end or subject an occurrence Change of
        ``ops`` carried: the server applied that Change to the whole series (Horde 5.2
        at 16.0 ignores InstanceId, answering Status 1)."""
        mine, theirs = _times(sent), _times(stored)
        for op in ops:
            if op.kind != "change" or op.data is None:
                continue
            for own, kept, shown in zip(_times(op.data), mine, theirs, strict=True):
                if own is not None and shown == own and shown != kept:
                    return True
            subject = op.data.text(C + "Subject")
            if subject and stored.text(C + "Subject") == subject != sent.text(C + "Subject"):
                return True
        return False

    def series_restored(self, sent: Element, stored: Element) -> bool:
        """Whether the server's copy ``stored`` has the start and end of ``sent``."""
        return _times(sent) == _times(stored)

    def _plain_occurrence(self, master: Event, original: datetime | date) -> Event:
        """The occurrence at ``original`` as the master makes it (an override undone)."""
        plain = copy.copy(master)
        plain.recurrence, plain.exdates, plain.overrides = None, (), {}
        plain.start = original
        plain.end = original + _length(master)
        return plain

    def _same_override(self, old_master: Event, old: Event, new_master: Event, new: Event) -> bool:
        """Equal on the wire: only what an Exception carries counts, not DTSTAMP & co."""
        a, b = E("AirSync:ApplicationData"), E("AirSync:ApplicationData")
        self._exception_fields(a, old_master, old, "16.1")
        self._exception_fields(b, new_master, new, "16.1")
        return a.to_xml() == b.to_xml()


@dataclass(frozen=True)
class InstanceOp:
    """One 16.x per-occurrence command: ``Change``/``Delete`` with ServerId + InstanceId."""

    kind: str  # "change" | "delete"
    instance_id: str  # compact DateTime of the original start
    data: Element | None
    #: the original start as read (a changed occurrence of ``instance_plan``)
    original: datetime | date | None = None


@dataclass(frozen=True)
class InstancePlan:
    """A 16.x Change of a series: the series without exceptions, then one command per
    occurrence (``CalendarHandler.instance_plan``)."""

    series: Element  # ApplicationData without Calendar:Exceptions
    ops: list[InstanceOp]
    #: the server drops all exceptions on this Change (MS-ASCAL 2.2.2.22)
    resets_exceptions: bool = False


@dataclass(frozen=True)
class ApartPlan:
    """A series Change for a server that ignores InstanceId on Change
    (``CalendarHandler.apart_plan``): the series, the occurrences deleted from it (new
    EXDATEs and the changed ones), each changed occurrence as an event of its own (the
    local item and its ApplicationData)."""

    series: Element
    deletes: list[str]
    one_offs: list[tuple[Item, Element]]
    #: the local series in the server's shape: those occurrences deleted, not changed
    shaped: Item


# --- helpers --------------------------------------------------------------------------------


def _times(data: Element) -> tuple[datetime | None, datetime | None]:
    return parse_eas_time(data.text(C + "StartTime")), parse_eas_time(data.text(C + "EndTime"))


def _series_shape(data: Element) -> tuple[Any, ...]:
    """What a 16.x server compares to decide that a series changed shape (MS-ASCAL
    2.2.2.22): start, end and the recurrence pattern."""
    rule = data.find(C + "Recurrence")
    pattern = () if rule is None else tuple(sorted((c.tag, c.value) for c in rule))
    times = tuple(parse_eas_time(data.text(C + tag)) for tag in ("StartTime", "EndTime"))
    return times, pattern


def eas_date(value: datetime, zone: tzinfo | None) -> date:
    """The calendar date an all-day wire time means (eas-protocol.md §7.2, TbSync):
    00:00:00Z is that date (Z-Push, 16.x); otherwise the local date in the item's zone
    (Exchange ``T220000Z``). Without any zone, ≥ 12:00Z means the next day."""
    value = value.astimezone(UTC)
    if value.time() == time(0):
        return value.date()
    if zone is not None and not _is_utc(zone):
        local = value.astimezone(zone)
        if local.time() == time(0):
            return local.date()
        return (local + timedelta(hours=12)).date() if local.hour >= 12 else local.date()
    return value.date() + timedelta(days=1) if value.hour >= 12 else value.date()


def _as_date(value: datetime | date, zone: tzinfo | None) -> date:
    return value if not isinstance(value, datetime) else eas_date(value, zone)


def _midnight(value: date, zone: tzinfo) -> datetime:
    return datetime.combine(value, time(0), tzinfo=zone).astimezone(UTC)


def _length(event: Event) -> timedelta:
    try:
        return event.end - event.start  # type: ignore[operator]
    except TypeError:
        return timedelta(0)


def alarm_minutes(
    alarm: Component, start: datetime | date, end: datetime | date, zone: tzinfo
) -> int | None:
    """Minutes before the start of a VALARM trigger; None if after the start or unreadable.
    Absolute triggers and triggers related to the end become minutes before the start."""
    trigger = alarm.get("TRIGGER")
    if trigger is None:
        return None
    try:
        value = alarm.decoded("TRIGGER")
    except (ValueError, KeyError, TypeError):
        return None

    def aware(v: datetime | date) -> datetime:
        if isinstance(v, datetime):
            return v if v.tzinfo else v.replace(tzinfo=zone)
        return datetime.combine(v, time(0), tzinfo=zone)

    if isinstance(value, timedelta):
        related = str(trigger.params.get("RELATED", "START")).upper()
        # durations, not instants: TRIGGER:-P99999999W is a valid duration whose
        # instant lies before year 1 (OverflowError, issue 14)
        offset = aware(end) - aware(start) if related == "END" else timedelta(0)
        before = -(offset + value)
    elif isinstance(value, datetime):
        before = aware(start) - aware(value)
    else:
        return None
    minutes = int(before.total_seconds() // 60)
    return reminder_in_range(minutes, start)


def reminder_in_range(minutes: int | None, start: datetime | date) -> int | None:
    """A reminder (minutes before ``start``) that a calendar can place: None for one
    after the start; at most the minutes since 0002-01-01 and at most 2^31-1 (Exchange
    keeps it as a 32-bit PidLidReminderDelta). A larger one (a Reminder of 2^32
    minutes, a TRIGGER of -P99999999W) is clamped: it already means "as early as
    possible", and its instant would fall before year 1, where no reader can go."""
    if minutes is None or minutes < 0:
        return None
    first = datetime(2, 1, 1, tzinfo=UTC)
    moment = start if isinstance(start, datetime) else datetime.combine(start, time(0))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    earliest = int((moment - first).total_seconds() // 60)
    return max(0, min(minutes, earliest, MAX_REMINDER))


#: the largest Reminder: Exchange stores it as a signed 32-bit PidLidReminderDelta
MAX_REMINDER = 2**31 - 1


def reminder_alarm(minutes: int) -> icalendar.Alarm:
    alarm = icalendar.Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", "Reminder")
    alarm.add("trigger", timedelta(minutes=-minutes))
    return alarm


def _flag(text: str | None) -> bool | None:
    if text is None:
        return None
    word = text.strip().upper()
    if word in ("1", "TRUE"):
        return True
    if word in ("0", "FALSE"):
        return False
    return None


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    return text or None


def _one_line(text: str | None) -> str | None:
    """A one-line server value (an address, a name, a UID): control characters (CR,
    LF, NUL from a hostile server) dropped, blanks around stripped. icalendar refuses
    them in a CAL-ADDRESS, and a UID written with them reads back as another UID."""
    if text is None:
        return None
    return _clean("".join(c for c in text if unicodedata.category(c) != "Cc"))


def _bounded(value: int | None, low: int, high: int) -> int | None:
    return value if value is not None and low <= value <= high else None


#: the largest distance between a wall time read as UTC and its instant (UTC+14)
_SNAP_WINDOW = timedelta(hours=14)


def _snap_originals(event: Event) -> None:
    """Key every exception of a timed series by an occurrence of the series.

    Horde 5.2 sends a modified occurrence's ExceptionStartTime (≤14.1) or InstanceId
    (16.x) as the event zone's wall time labelled UTC (10:00Z for a 09:00Z occurrence
    in Berlin): kept as it is, the override names no occurrence and the original one
    stays (the occurrence doubled). An original that names no occurrence is moved to
    the nearest one within the largest zone offset, unless that one has an exception
    already; one naming an occurrence (every spec-following server) is left alone."""
    if event.all_day or event.recurrence is None or not isinstance(event.start, datetime):
        return
    keys = [o for o in (*event.exdates, *event.overrides) if isinstance(o, datetime)]
    if not keys:
        return
    try:
        rule = _occurrence_rule(event.recurrence, event.start.astimezone(event.tz or UTC))
    except (ValueError, TypeError, OverflowError):
        return  # a rule dateutil cannot expand: keep what the server said
    taken = {_instant_key(k) for k in keys}
    moved: dict[datetime, datetime] = {}
    for original in keys:
        near = rule.between(original - _SNAP_WINDOW, original + _SNAP_WINDOW, inc=True)
        if not near or any(n == original for n in near):
            continue
        best = min(near, key=lambda n: abs(n - original))
        if _instant_key(best) not in taken:
            taken.add(_instant_key(best))
            moved[original] = best.astimezone(UTC)
    if not moved:
        return
    event.exdates = tuple(moved.get(o, o) if isinstance(o, datetime) else o for o in event.exdates)
    event.overrides = {
        (moved.get(o, o) if isinstance(o, datetime) else o): ov for o, ov in event.overrides.items()
    }


def _occurrence_rule(recurrence: Recurrence, start: datetime) -> Any:
    """The series' occurrences as a dateutil rule, expanded from ``start`` in its own
    zone (so BYDAY and DST follow the wall clock); ValueError for an unexpandable rule."""
    from dateutil.rrule import rrulestr

    recur: Any = icalendar.vRecur(rec_mod.to_rrule(recurrence))
    return rrulestr(bytes(recur.to_ical()).decode("ascii"), dtstart=start)


def _read_location(data: Element) -> str | None:
    node = data.find("AirSyncBase:Location")
    if node is not None:
        return _clean(node.text("AirSyncBase:DisplayName"))
    return _clean(data.text(C + "Location"))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _mail(value: Any) -> str:
    text = str(value).strip()
    return text[7:] if text.lower().startswith("mailto:") else text


def _organizer(comp: Component) -> tuple[str, str | None] | None:
    prop = comp.get("ORGANIZER")
    if prop is None:
        return None
    prop = _as_list(prop)[0]
    email = _mail(prop)
    if "@" not in email:
        return None
    name = prop.params.get("CN") if hasattr(prop, "params") else None
    return email, (str(name) if name else None)


def _attendees(comp: Component) -> list[Attendee]:
    out: list[Attendee] = []
    for prop in _as_list(comp.get("ATTENDEE")):
        email = _mail(prop)
        if "@" not in email:
            continue  # EAS needs an address (MS-ASCAL 2.2.2.18)
        params = getattr(prop, "params", {})
        cutype = str(params.get("CUTYPE", "")).upper()
        role = str(params.get("ROLE", "")).upper()
        if cutype in ("RESOURCE", "ROOM"):
            kind = 3
        elif role in ("OPT-PARTICIPANT", "NON-PARTICIPANT"):
            kind = 2
        else:
            kind = 1
        partstat = str(params.get("PARTSTAT", "")).upper()
        name = params.get("CN")
        out.append(
            Attendee(
                email=email,
                name=str(name) if name and str(name) != email else None,
                status=PARTSTAT_TO_STATUS.get(partstat),
                type=kind,
            )
        )
    return out


def _read_attendees(data: Element) -> list[Attendee]:
    out: list[Attendee] = []
    for node in data.findall(C + "Attendees/" + C + "Attendee"):
        email = _one_line(node.text(C + "Email"))
        if not email:
            continue
        name = _one_line(node.text(C + "Name"))
        status = node.int(C + "AttendeeStatus")
        kind = node.int(C + "AttendeeType")
        out.append(
            Attendee(
                email=email,
                name=name if name != email else None,
                status=status if status in STATUS_TO_PARTSTAT else None,
                type=kind if kind in (1, 2, 3) else 1,
            )
        )
    return out


def _attachment_lines(data: Element) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """AirSyncBase:Attachments → (FileReference, params) for X-EAS-ATTACHMENT properties;
    the download through ItemOperations is the storage's job."""
    out: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    for node in data.findall("AirSyncBase:Attachments/AirSyncBase:Attachment"):
        reference = _clean(node.text("AirSyncBase:FileReference"))
        if not reference:
            continue
        params: list[tuple[str, str]] = []
        for tag, param in ATTACHMENT_PARAMS:
            value = _clean(node.text("AirSyncBase:" + tag))
            if value:
                params.append((param, value.replace('"', "'")))
        out.append((reference, tuple(sorted(params))))
    return out


ATTACHMENT_PARAMS = (
    ("DisplayName", "FILENAME"),
    ("Method", "X-EAS-METHOD"),
    ("EstimatedDataSize", "X-EAS-SIZE"),
    ("ContentId", "X-EAS-CONTENTID"),
    ("ContentLocation", "X-EAS-CONTENTLOCATION"),
    ("IsInline", "X-EAS-ISINLINE"),
    ("ContentType", "FMTTYPE"),
)


def _first_uid(cal: icalendar.Calendar) -> str | None:
    for comp in cal.subcomponents:
        if comp.name in ("VEVENT", "VTODO") and comp.get("UID") is not None:
            return str(comp["UID"])
    return None


# --- merge ----------------------------------------------------------------------------------


def _replace_group(target: Component, source: Component, names: tuple[str, ...]) -> None:
    for name in names:
        target.pop(name, None)
        if name in source:
            target[name] = copy.deepcopy(source[name])


def _carry(projected: Item, local: Item, groups: list[str]) -> Item:
    """``projected`` with the properties of ``groups`` taken from ``local`` (data the
    server keeps although we do not send it)."""
    target_cal, source_cal = ical.parse(projected), ical.parse(local)
    tm, tovs = ical.master_and_overrides(target_cal, "VEVENT")
    sm, sovs = ical.master_and_overrides(source_cal, "VEVENT")
    if tm is None or sm is None:
        return projected
    pairs = [(tm, sm)]
    by_rid = {_rid_key(c): c for c in sovs}
    pairs += [(c, by_rid[_rid_key(c)]) for c in tovs if _rid_key(c) in by_rid]
    for target, source in pairs:
        for group in groups:
            _replace_group(target, source, GROUPS[group])
        if "attachments" in groups:
            _replace_server_attaches(target, source)
    return Item(ical.serialize(target_cal), projected.uid)


#: marks an ATTACH inlined from the server (``eassync.attachments``): the server's own
SERVER_ATTACH_PARAM = "X-EAS-FILEREFERENCE"


def _is_server_attach(prop: Any) -> bool:
    return SERVER_ATTACH_PARAM in getattr(prop, "params", {})


def _replace_server_attaches(target: Component, source: Component) -> None:
    """The server's inlined ATTACH lines of ``target`` become those of ``source``; the
    user's own ATTACH lines (never sent: EAS has no upload) stay."""
    mine = [a for a in _as_list(target.get("ATTACH")) if not _is_server_attach(a)]
    theirs = [copy.deepcopy(a) for a in _as_list(source.get("ATTACH")) if _is_server_attach(a)]
    target.pop("ATTACH", None)
    merged = mine + theirs
    if merged:
        target["ATTACH"] = merged if len(merged) > 1 else merged[0]


def _rid_key(comp: Component) -> str:
    value = ical.decoded(comp, "RECURRENCE-ID")
    if isinstance(value, datetime):
        return compact_utc(value if value.tzinfo else value.replace(tzinfo=UTC))
    return value.isoformat() if isinstance(value, date) else ""


#: what an EAS exception can carry (MS-ASCAL 2.2.2.21); the rest of an override is local
OVERRIDE_GROUPS = frozenset(
    {"subject", "body", "location", "busy", "class", "categories", "status"}
)


def _merge_component(
    target: Component,
    remote_comp: Component,
    remote: Event,
    local: Event,
    override: bool = False,
    not_held: frozenset[str] = frozenset(),
) -> None:
    """Replace in ``target`` (a copy of the local component) the groups the server
    changed. ``not_held``: slots the server is not known to hold; their groups (and
    attendee details) keep the local values."""
    rk, lk = remote.group_keys(), local.group_keys()
    kept = _groups_not_held(not_held)
    if not _same_times(remote, local):
        _replace_group(target, remote_comp, GROUPS["times"])
    for group, names in GROUPS.items():
        if group == "times" or (override and group not in OVERRIDE_GROUPS):
            continue
        if group in kept:
            continue
        if group == "recurrence" and local.recurrence_unsupported and remote.recurrence is None:
            continue  # the local rule EAS cannot hold: the server has a single event
        if group in ("attendees", "organizer", "status") and _not_a_meeting(remote):
            # 16.x requests carry no attendees, organizer or MeetingStatus (with
            # send_invitations off), so their absence on the server is no deletion.
            continue
        if group == "request" and rk[group] == (None, None):
            continue  # ResponseRequested/DisallowNewTimeProposal exist from 14.0 only
        if group == "attendees":
            if not _same_attendees(remote.attendees, local.attendees, not_held):
                mine = _as_list(target.get("ATTENDEE"))
                _replace_group(target, remote_comp, names)
                _keep_attendee_details(target, mine, not_held)
            continue
        if group == "recurrence" and C + "Exceptions" in not_held:
            # the server keeps no exceptions: the local EXDATEs stay
            if rk[group][0] != lk[group][0]:
                _replace_group(target, remote_comp, tuple(n for n in names if n != "EXDATE"))
            continue
        if rk[group] != lk[group]:
            _replace_group(target, remote_comp, names)
    if "reminder" not in kept and remote.reminder != local.reminder:
        alarms = [c for c in target.subcomponents if c.name == "VALARM"]
        others = [c for c in target.subcomponents if c.name != "VALARM"]
        incoming = [c for c in remote_comp.subcomponents if c.name == "VALARM"][:1]
        target.subcomponents = others + copy.deepcopy(incoming) + alarms[1:]


#: slot → the merge groups it feeds (an attendee's details: ``_same_attendees``)
SLOT_GROUPS: dict[str, str] = {
    C + "Subject": "subject",
    "AirSyncBase:Body": "body",
    C + "Location": "location",
    C + "BusyStatus": "busy",
    C + "Sensitivity": "class",
    C + "Categories": "categories",
    C + "OrganizerEmail": "organizer",
    C + "MeetingStatus": "status",
    C + "Attendees": "attendees",
    C + "Recurrence": "recurrence",
    C + "ResponseRequested": "request",
    C + "DisallowNewTimeProposal": "request",
    C + "Reminder": "reminder",
}
#: an attendee's details, each a slot: a server may keep attendees but not their roles
ATTENDEE_TYPE, ATTENDEE_STATUS, ATTENDEE_NAME = (
    C + "AttendeeType",
    C + "AttendeeStatus",
    C + "Name",
)
#: one field, two spellings (16.x moved Location to AirSyncBase; 2.5 Body)
SLOT_ALIASES = {"AirSyncBase:Location": C + "Location", C + "Body": "AirSyncBase:Body"}
#: identity, volatile or the times themselves (no server drops a start): never slots
_NOT_SLOTS = frozenset(
    C + t
    for t in ("UID", "ClientUid", "DtStamp", "TimeZone", "AllDayEvent", "StartTime", "EndTime")
) | {"AirSyncBase:NativeBodyType"}


def slots_of_data(data: Element) -> set[str]:
    """The slots an EAS calendar item fills (:mod:`eassync.convert.held`)."""
    return held.slots_of(
        data,
        ignored=_NOT_SLOTS,
        aliases=SLOT_ALIASES,
        nested={C + "Attendees": C + "Attendees/" + C + "Attendee"},
    )


def _groups_not_held(not_held: frozenset[str]) -> frozenset[str]:
    return frozenset(SLOT_GROUPS[s] for s in not_held if s in SLOT_GROUPS)


def _attendee_keys(
    attendees: tuple[Attendee, ...], not_held: frozenset[str]
) -> tuple[tuple[str, str | None, int | None], ...]:
    return tuple(
        (
            a.email.lower(),
            None if ATTENDEE_NAME in not_held else a.name,
            None if ATTENDEE_TYPE in not_held else a.type,
        )
        for a in attendees
    )


def _same_attendees(
    remote: tuple[Attendee, ...], local: tuple[Attendee, ...], not_held: frozenset[str]
) -> bool:
    """Equal attendees, as far as the server holds their details."""
    if _attendee_keys(remote, not_held) != _attendee_keys(local, not_held):
        return False
    return ATTENDEE_STATUS in not_held or _same_statuses(remote, local)


#: ATTENDEE parameters that carry each detail
_DETAIL_PARAMS = {
    ATTENDEE_TYPE: ("ROLE", "CUTYPE"),
    ATTENDEE_STATUS: ("PARTSTAT",),
    ATTENDEE_NAME: ("CN",),
}


def _keep_attendee_details(target: Component, mine: list[Any], not_held: frozenset[str]) -> None:
    """The attendees now in ``target`` (the server's list) get back the local details
    the server does not hold, for each attendee that was there before (``mine``)."""
    params = [p for slot, names in _DETAIL_PARAMS.items() if slot in not_held for p in names]
    if not params:
        return
    before = {_mail(p).lower(): p for p in mine}
    for prop in _as_list(target.get("ATTENDEE")):
        old = before.get(_mail(prop).lower())
        if old is None:
            continue
        for name in params:
            prop.params.pop(name, None)
            if name in old.params:
                prop.params[name] = old.params[name]


def _same_text(a: str | None, b: str | None) -> bool:
    """Equal but for the layout of white space (servers rewrap bodies, end lines
    with CRLF …)."""
    return " ".join((a or "").split()) == " ".join((b or "").split())


def _same_held(
    mine: Event,
    theirs: Event,
    not_held: frozenset[str],
    override: bool = False,
    unsent: frozenset[str] = frozenset(),
) -> bool:
    """``mine`` (a projected local event) equals ``theirs`` (a server copy) in every
    group the server holds (``CalendarHandler.same_held_content``); ``unsent``: groups
    the client does not send, so the server's values are its own."""
    if not _same_times(mine, theirs):
        return False
    skipped = _groups_not_held(not_held) | {"server", "attachments"} | unsent
    mk, tk = mine.group_keys(), theirs.group_keys()
    for group in mk:
        if group in skipped or (override and group not in OVERRIDE_GROUPS):
            continue
        if group in ("attendees", "organizer", "status") and _not_a_meeting(theirs):
            continue  # 16.x without invitations: neither sent nor kept (module doc)
        if group == "request" and tk[group] == (None, None):
            continue  # from 14.0 only
        if group == "organizer" and mine.organizer is None:
            continue  # a server may name the mailbox owner organizer (Exchange)
        if group == "body":
            same = _same_text(mine.body, theirs.body)
        elif group == "attendees":
            same = _same_attendees(theirs.attendees, mine.attendees, not_held)
        elif group == "recurrence" and C + "Exceptions" in not_held:
            same = mk[group][0] == tk[group][0]
        else:
            same = mk[group] == tk[group]
        if not same:
            return False
    return "reminder" in skipped or mine.reminder == theirs.reminder


def _same_statuses(remote: tuple[Attendee, ...], local: tuple[Attendee, ...]) -> bool:
    """Response statuses agree wherever the server said one (16.x requests carry none,
    MS-ASCAL 2.2.2.5, so a status the server never heard of is no change)."""
    pairs = zip(remote, local, strict=False)
    return all(r.status is None or r.status == m.status for r, m in pairs)


def _not_a_meeting(event: Event) -> bool:
    return not event.attendees and not event.organizer and not event.meeting_status


def merge_items(
    handler: CalendarHandler, remote: Item, local: Item, not_held: frozenset[str] = frozenset()
) -> Item:
    """Group-wise merge of a server change into the local item (module doc);
    ``not_held``: slots whose local values stay (``CalendarHandler._not_held``)."""
    remote_cal, local_cal = ical.parse(remote), ical.parse(local)
    rm, rovs = ical.master_and_overrides(remote_cal, "VEVENT")
    lm, _ = ical.master_and_overrides(local_cal, "VEVENT")
    if rm is None:
        return remote
    if lm is None:
        return handler.with_uid(remote, local.uid) if local.uid else remote
    remote_ev, local_ev = handler.extract(remote), handler.extract(local)
    out = copy.deepcopy(local_cal)
    out_master, out_ovs = ical.master_and_overrides(out, "VEVENT")
    assert out_master is not None
    _merge_component(out_master, rm, remote_ev, local_ev, not_held=not_held)
    _replace_server_attaches(out_master, rm)
    # a server that keeps no exceptions sent none: the local overrides stay
    if not local_ev.recurrence_unsupported and C + "Exceptions" not in not_held:
        local_by_rid = {_rid_key(c): c for c in out_ovs}
        remote_by_rid = {_rid_key(c): c for c in rovs}
        keep: list[Component] = []
        for key, comp in remote_by_rid.items():
            mine = local_by_rid.get(key)
            if mine is None:
                keep.append(copy.deepcopy(comp))
                continue
            r_ev = handler._event(comp)
            l_ev = handler._event(mine)
            r_ev.recurrence = l_ev.recurrence = None
            _merge_component(mine, comp, r_ev, l_ev, override=True, not_held=not_held)
            _replace_server_attaches(mine, comp)
            keep.append(mine)
        others = [c for c in out.subcomponents if not (c.name == "VEVENT" and c in out_ovs)]
        out.subcomponents = others + keep
    uid = local.uid or local_ev.uid
    if uid:
        for comp in out.subcomponents:
            if comp.name == "VEVENT":
                comp.pop("UID", None)
                comp.add("uid", uid)
    _copy_timezones(out, remote_cal)
    ical.compact_timezones(out)
    return Item(ical.serialize(out), uid)


def _copy_timezones(out: icalendar.Calendar, source: icalendar.Calendar) -> None:
    have = {str(c.get("TZID")) for c in ical.components(out, "VTIMEZONE")}
    used: set[str] = set()
    for comp in out.walk():
        for _name, prop in comp.property_items(recursive=False):
            tzid = getattr(prop, "params", {}).get("TZID") if hasattr(prop, "params") else None
            if tzid:
                used.add(str(tzid))
    for vtz in ical.components(source, "VTIMEZONE"):
        tzid = str(vtz.get("TZID"))
        if tzid in used and tzid not in have:
            out.subcomponents.insert(0, copy.deepcopy(vtz))


HANDLER = CalendarHandler()
