"""Calendar and tasks support tables as data, rendered to Markdown for the README.

Each row names the iCalendar property, the EAS element(s), a support level and a note.
``examples`` are content lines added to a minimal VEVENT/VTODO that exercise the row;
the test suite round-trips every example of every "Supported" row and checks that the
server's copy carries it, so the table cannot claim more than the code does.
(Kept apart from ``tables.py``, which holds the contacts table.)
"""

from __future__ import annotations

from dataclasses import dataclass

SUPPORTED = "Supported"
LIMITED = "Limited"
NOT_SUPPORTED = "Not supported"


@dataclass(frozen=True)
class Row:
    ical: str
    eas: tuple[str, ...]
    level: str
    note: str = ""
    examples: tuple[str, ...] = ()


CALENDAR: tuple[Row, ...] = (
    Row(
        "DTSTART, DTEND (DURATION) with TZID",
        ("Calendar:StartTime", "Calendar:EndTime", "Calendar:TimeZone"),
        SUPPORTED,
        "Wire times are UTC; the zone travels as the TIME_ZONE_INFORMATION blob and is"
        " matched back to an IANA zone by its rules (else a VTIMEZONE with yearly rules)."
        " Written files carry a compact VTIMEZONE (one STANDARD and one DAYLIGHT rule,"
        " RRULE, as Outlook and Thunderbird write; earlier years an item needs as dates);"
        " a zone without a yearly weekday rule (Asia/Jerusalem) gets icalendar's dates."
        " Floating times use `default_timezone` (else UTC). SOGo 5.8 ignores the zone and"
        " stores its user's zone: recurring events then move after a DST change.",
        (
            "DTSTART;TZID=America/New_York:20240610T090000",
            "DTEND;TZID=America/New_York:20240610T103000",
        ),
    ),
    Row(
        "DTSTART;VALUE=DATE (all-day, multi-day)",
        ("Calendar:AllDayEvent",),
        SUPPORTED,
        "≤14.1: local midnights of `default_timezone` in UTC; ≥16.0: dates without time."
        " Reads Z-Push `T000000Z` with an all-zero zone and Exchange `T220000Z` right.",
        ("DTSTART;VALUE=DATE:20240610", "DTEND;VALUE=DATE:20240613"),
    ),
    Row("SUMMARY", ("Calendar:Subject",), SUPPORTED, "", ("SUMMARY:Planning",)),
    Row(
        "DESCRIPTION",
        ("AirSyncBase:Body",),
        SUPPORTED,
        "Plain text (Type 1), CRLF on the wire; always sent (empty clears).",
        ("DESCRIPTION:First line\\nsecond line",),
    ),
    Row(
        "LOCATION",
        ("Calendar:Location", "AirSyncBase:Location/DisplayName"),
        SUPPORTED,
        "`Calendar:Location` up to 14.1, `AirSyncBase:Location` from 16.0 (empty clears)."
        " GEO and the structured 16.x address fields are not mapped.",
        ("LOCATION:Room 101",),
    ),
    Row(
        "TRANSP + X-MICROSOFT-CDO-BUSYSTATUS",
        ("Calendar:BusyStatus",),
        SUPPORTED,
        "0 free ⇄ TRANSPARENT; 1 tentative, 2 busy, 3 out of office, 4 working elsewhere"
        " ⇄ OPAQUE + the CDO value.",
        ("TRANSP:OPAQUE", "X-MICROSOFT-CDO-BUSYSTATUS:OOF"),
    ),
    Row(
        "CLASS",
        ("Calendar:Sensitivity",),
        SUPPORTED,
        "PUBLIC 0, X-PERSONAL 1 (read as private elsewhere, RFC 5545), PRIVATE 2, CONFIDENTIAL 3.",
        ("CLASS:CONFIDENTIAL",),
    ),
    Row(
        "CATEGORIES",
        ("Calendar:Categories",),
        SUPPORTED,
        "",
        ("CATEGORIES:Work,Travel",),
    ),
    Row(
        "ORGANIZER",
        ("Calendar:OrganizerName", "Calendar:OrganizerEmail"),
        SUPPORTED,
        "Not sent in 16.x (MS-ASCAL); the server's organizer is kept.",
        ("ORGANIZER;CN=Ada:mailto:ada@example.org",),
    ),
    Row(
        "ATTENDEE (CN, PARTSTAT, ROLE, CUTYPE=RESOURCE)",
        ("Calendar:Attendees",),
        SUPPORTED,
        "Required/optional/resource and response status. Sync never mails anyone: ≤14.1"
        " stores meetings silently (MS-ASCAL 3.1.4.4); in 16.x attendees and MeetingStatus"
        " are left out unless `send_invitations` is on (the server would send invitations),"
        " and response statuses are the server's (16.x clients send none)."
        " Attendees without an e-mail address stay local. SOGo 5.8 makes every attendee"
        " optional.",
        (
            "ATTENDEE;CN=Bob;PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT:mailto:bob@example.org",
            "ATTENDEE;CN=Room;CUTYPE=RESOURCE:mailto:room@example.org",
        ),
    ),
    Row(
        "STATUS:CANCELLED",
        ("Calendar:MeetingStatus",),
        SUPPORTED,
        "Bit 2 of MeetingStatus; other values travel as X-EAS-MEETINGSTATUS.",
        ("STATUS:CANCELLED", "ATTENDEE;CN=Bob:mailto:bob@example.org"),
    ),
    Row(
        "VALARM (first, before the start)",
        ("Calendar:Reminder",),
        LIMITED,
        "The first VALARM only, as minutes before the start (absolute and end-related"
        " triggers converted). Further alarms and alarms after the start stay local."
        " A reminder before the year 2 (or over 2^31−1 minutes) is clamped to that.",
        ("BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:x", "TRIGGER:-PT15M", "END:VALARM"),
    ),
    Row(
        "RRULE (daily, weekly, monthly, monthly nth, yearly, yearly nth)",
        ("Calendar:Recurrence",),
        SUPPORTED,
        "INTERVAL, COUNT, UNTIL, WKST (≥14.1); BYDAY lists with BYSETPOS n, last day"
        " (BYMONTHDAY=-1). Compared by expanding occurrences in the tests. SOGo 5.8 moves"
        " monthly day-N rules to the 1st and reads weekday-list BYSETPOS rules wrong."
        " A server rule with a field outside MS-ASCAL's range (Interval or Occurrences"
        " over 999, DayOfWeek over 127 …) is refused: the event is reported every pass.",
        ("RRULE:FREQ=MONTHLY;BYDAY=2TU;COUNT=12",),
    ),
    Row(
        "RRULE beyond the table, RDATE, EXRULE, several RRULEs",
        (),
        LIMITED,
        "EAS cannot express them: the server gets the first occurrence as a single event;"
        " the rule and its overrides stay in the local file and survive server changes.",
    ),
    Row(
        "EXDATE",
        ("Calendar:Exceptions/Exception/Deleted",),
        SUPPORTED,
        "",
        ("RRULE:FREQ=DAILY;COUNT=5", "EXDATE:20240612T090000Z"),
    ),
    Row(
        "RECURRENCE-ID overrides",
        ("Calendar:Exceptions/Exception", "AirSyncBase:InstanceId"),
        SUPPORTED,
        "Own time, subject, location, body, categories, class, busy, reminder,"
        " MeetingStatus (attendees from 14.0; per-occurrence attendees stay local). ≤14.1:"
        " keyed by ExceptionStartTime, sent inside the item. 16.x: a changed occurrence"
        " goes up as Change/Delete with InstanceId next to a Change of the series without"
        " Exceptions (MS-ASCAL 2.2.2.22; its Recurrence only when the rule or times"
        " changed), and server instance commands refetch the series;"
        " a removed EXDATE resends the whole item. At most 256. SOGo 5.8 does not support"
        " exceptions. A server that stores the moved occurrences of an added series as"
        " events of their own (Horde 5.2) is mirrored on the next sync: the override"
        " leaves the file (its date deleted) and the server's event arrives as its own"
        " file, so the meeting shows once. A server that applies a changed occurrence"
        " (InstanceId) to the whole series (Horde 5.2 at 16.0) is caught in the series"
        " read back: eassync puts the series back in the same sync, deletes that"
        " occurrence from it and adds the moved meeting as an event of its own (as such"
        " a server stores one itself), tells you once, and sends later occurrence"
        " changes in that folder that way directly; the next sync takes the same shape"
        " locally. A 16.x server that fails on or refuses an added series with"
        " exceptions (stock Horde 5.2: a Fatal Error page) gets the series without"
        " them, then their dates deleted and each moved meeting as an event of its own"
        " (told once; the folder's later such series go up that way at once); parked"
        " as before if that fails too.",
        ("RRULE:FREQ=DAILY;COUNT=5",),
    ),
    Row(
        "UID",
        ("Calendar:UID", "Calendar:ClientUid"),
        SUPPORTED,
        "≤14.1 sends UID; 16.x sends ClientUid and takes the server's UID; the local"
        " file's UID never changes. A server UID other than the file's (16.x, Horde) does"
        " not keep an event from being matched to its file by content.",
    ),
    Row(
        "X-EAS-RESPONSEREQUESTED, X-MICROSOFT-DISALLOW-COUNTER",
        ("Calendar:ResponseRequested", "Calendar:DisallowNewTimeProposal"),
        SUPPORTED,
        "From 14.0.",
        ("X-EAS-RESPONSEREQUESTED:1", "X-MICROSOFT-DISALLOW-COUNTER:TRUE"),
    ),
    Row(
        "X-EAS-RESPONSETYPE, X-EAS-APPOINTMENTREPLYTIME, X-EAS-ONLINEMEETING*",
        (
            "Calendar:ResponseType",
            "Calendar:AppointmentReplyTime",
            "Calendar:OnlineMeetingConfLink",
        ),
        LIMITED,
        "Server → client only: kept as X- properties, never sent.",
    ),
    Row(
        "ATTACH;VALUE=BINARY (server's), X-EAS-ATTACHMENT",
        ("AirSyncBase:Attachments", "ItemOperations:Fetch"),
        LIMITED,
        "Server → client only: each attachment is downloaded (ItemOperations) and"
        " inlined as ATTACH;ENCODING=BASE64 with FMTTYPE, X-FILENAME and"
        " X-EAS-FILEREFERENCE up to `attachments_max_inline` bytes; larger ones are"
        " skipped with a log note. X-EAS-ATTACHMENT keeps every reference (name, size,"
        " type). Nothing is uploaded.",
    ),
    Row(
        "DTSTAMP",
        ("Calendar:DtStamp",),
        LIMITED,
        "Sent up to 14.1, not in 16.x; volatile (ignored in change detection).",
    ),
    Row(
        "COLOR, URL, GEO, CONFERENCE, own ATTACH, other properties",
        (),
        NOT_SUPPORTED,
        "No EAS element: kept in the local file, never sent.",
    ),
)

TASKS: tuple[Row, ...] = (
    Row("SUMMARY", ("Tasks:Subject",), SUPPORTED, "", ("SUMMARY:Write report",)),
    Row(
        "DESCRIPTION",
        ("AirSyncBase:Body",),
        SUPPORTED,
        "Plain text, always sent.",
        ("DESCRIPTION:Details\\nmore",),
    ),
    Row(
        "DTSTART",
        ("Tasks:StartDate", "Tasks:UtcStartDate"),
        SUPPORTED,
        'Both forms sent: local wall time as "fake UTC" and the real instant. A local'
        " time of 00:00:00 reads back as a DATE (Limited for tasks due at midnight)."
        " SOGo 5.8 takes the local wall time as UTC.",
        ("DTSTART;TZID=Europe/Berlin:20240610T090000",),
    ),
    Row(
        "DUE",
        ("Tasks:DueDate", "Tasks:UtcDueDate"),
        SUPPORTED,
        "As DTSTART; DATE values are local midnights of `default_timezone`.",
        ("DUE;VALUE=DATE:20240615",),
    ),
    Row(
        "STATUS, COMPLETED, PERCENT-COMPLETE",
        ("Tasks:Complete", "Tasks:DateCompleted"),
        SUPPORTED,
        "COMPLETED ⇄ Complete 1 (+ date, PERCENT-COMPLETE:100); anything else is 0 and the"
        " local STATUS (IN-PROCESS …) is kept. Done without COMPLETED: LAST-MODIFIED is sent"
        " as the date, else the time of the sync.",
        ("STATUS:COMPLETED", "COMPLETED:20240611T080000Z"),
    ),
    Row(
        "PRIORITY",
        ("Tasks:Importance",),
        SUPPORTED,
        "Importance 0/1/2 ⇄ 9/5/1; PRIORITY 1–4 → 2, 5 → 1, 6–9 → 0.",
        ("PRIORITY:1",),
    ),
    Row("CLASS", ("Tasks:Sensitivity",), SUPPORTED, "As calendar.", ("CLASS:PRIVATE",)),
    Row("CATEGORIES", ("Tasks:Categories",), SUPPORTED, "", ("CATEGORIES:Home",)),
    Row(
        "VALARM (first)",
        ("Tasks:ReminderSet", "Tasks:ReminderTime"),
        LIMITED,
        "Absolute time; relative triggers are converted. Further alarms stay local.",
        (
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            "DESCRIPTION:x",
            "TRIGGER;VALUE=DATE-TIME:20240614T080000Z",
            "END:VALARM",
        ),
    ),
    Row(
        "RRULE",
        ("Tasks:Recurrence",),
        SUPPORTED,
        "As calendar; Recurrence/Start from DTSTART (or DUE). SOGo 5.8 drops rules with"
        " Regenerate and reads a last-day-of-month rule as the last Monday.",
        ("DTSTART;VALUE=DATE:20240610", "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=4"),
    ),
    Row(
        "X-EAS-REGENERATE, X-EAS-DEADOCCUR",
        ("Tasks:Recurrence/Regenerate", "Tasks:Recurrence/DeadOccur"),
        SUPPORTED,
        "No iCalendar form.",
        ("DTSTART;VALUE=DATE:20240610", "RRULE:FREQ=DAILY;COUNT=3", "X-EAS-REGENERATE:1"),
    ),
    Row(
        "UID",
        (),
        LIMITED,
        "EAS tasks have no UID: the local file keeps its own; server tasks get a new one"
        " (matched by ServerId).",
    ),
    Row(
        "Other properties (RELATED-TO, GEO, X-…)",
        (),
        NOT_SUPPORTED,
        "Kept in the local file, never sent.",
    ),
)

TABLES: dict[str, tuple[Row, ...]] = {"calendar": CALENDAR, "tasks": TASKS}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(kind: str) -> str:
    """The support table of ``kind`` ("calendar" or "tasks") as a Markdown table."""
    lines = ["| iCalendar | EAS | Support | Notes |", "|---|---|---|---|"]
    for row in TABLES[kind]:
        eas = ", ".join(f"`{tag}`" for tag in row.eas) or "—"
        lines.append(f"| {_cell(row.ical)} | {_cell(eas)} | {row.level} | {_cell(row.note)} |")
    return "\n".join(lines) + "\n"
