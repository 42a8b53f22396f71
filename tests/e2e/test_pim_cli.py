"""``eassync respond``, ``gal``, ``freebusy`` and ``oof`` through the real CLI against the
devserver (which implements MeetingResponse, Search GAL, ResolveRecipients with
Availability and Settings Oof from MS-ASCMD)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
import pytest

from eassync.devserver import DevServer
from eassync.eas.element import E, Element

from .cal_helpers import by_uid, calendar_dir, read_cal, run_device, write_cal_config
from .helpers import PASSWORD, USER

ME = f"{USER}@devserver.test"
C = "Calendar:"


def invitation(
    uid: str, subject: str, start: datetime, *, organizer: str = "boss@example.org"
) -> Element:
    """A meeting as a server files it in the invitee's calendar: MeetingStatus 3
    (a meeting the user received), the user among the attendees, not yet answered."""
    stamp = "%Y%m%dT%H%M%SZ"
    return E(
        "AirSync:ApplicationData",
        E(
            C + "TimeZone",
            value="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
        ),
        E(C + "DtStamp", value=start.strftime(stamp)),
        E(C + "StartTime", value=start.strftime(stamp)),
        E(C + "Subject", value=subject),
        E(C + "UID", value=uid),
        E(C + "OrganizerName", value="Boss"),
        E(C + "OrganizerEmail", value=organizer),
        E(
            C + "Attendees",
            E(
                C + "Attendee",
                E(C + "Email", value=ME),
                E(C + "Name", value="Alice"),
                E(C + "AttendeeStatus", value=5),
                E(C + "AttendeeType", value=1),
            ),
            E(
                C + "Attendee",
                E(C + "Email", value="carol@example.org"),
                E(C + "Name", value="Carol"),
                E(C + "AttendeeStatus", value=3),
                E(C + "AttendeeType", value=1),
            ),
        ),
        E(C + "EndTime", value=(start + timedelta(hours=1)).strftime(stamp)),
        E(C + "BusyStatus", value=1),
        E(C + "MeetingStatus", value=3),
        E(C + "ResponseRequested", value=1),
        E(C + "ResponseType", value=5),
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(tmp_path / "srv", users={USER: PASSWORD, "bob": "pw"}) as srv:
        yield srv


def partstat(path: Path, email: str = ME) -> str | None:
    for comp in read_cal(path).walk("VEVENT"):
        atts = comp.get("ATTENDEE") or []
        for att in atts if isinstance(atts, list) else [atts]:
            if str(att).lower().removeprefix("mailto:") == email:
                return str(att.params.get("PARTSTAT"))
    return None


def sent_responses(server: DevServer) -> list[tuple[object, ...]]:
    with server.store.lock:
        try:
            return list(
                server.store.db.execute("SELECT request_id, answer, comment FROM sent_responses")
            )
        except Exception:
            return []


def test_respond_accepts_by_words_and_the_synced_file_shows_it(
    server: DevServer, tmp_path: Path
) -> None:
    cal = server.store.default_folder(USER, 8)
    start = datetime.now(UTC).replace(microsecond=0, second=0, minute=0) + timedelta(days=2)
    server.store.add_item(USER, cal, invitation("inv-1", "Budget review", start))
    server.store.add_item(USER, cal, invitation("inv-2", "Team lunch", start + timedelta(hours=3)))
    config = write_cal_config(tmp_path / "dev", server.url, version="14.1")
    run_device(config, "sync")
    folder = calendar_dir(tmp_path / "dev")
    files = by_uid(folder)
    assert partstat(files["inv-1"]) == "NEEDS-ACTION"
    before = sorted(p.name for p in folder.iterdir())

    done = run_device(config, "respond", "accept", "budget")

    assert "accepted" in done.stdout
    assert partstat(files["inv-1"]) == "ACCEPTED"
    assert partstat(files["inv-2"]) == "NEEDS-ACTION"
    assert sorted(p.name for p in folder.iterdir()) == before  # no second copy
    # the other attendee's answer is untouched (the event was not edited and re-sent)
    assert partstat(files["inv-1"], "carol@example.org") == "ACCEPTED"
    assert [r[:2] for r in sent_responses(server)] == [(by_server_uid(server, cal, "inv-1"), 1)]
    # a second sync finds nothing to do: the event was not edited locally
    again = run_device(config, "sync")
    assert "+0 ~0 -0, remote +0 ~0 -0" in again.stdout + again.stderr


def by_server_uid(server: DevServer, folder: str, uid: str) -> str:
    return next(
        sid for sid, d in server.store.items(USER, folder).items() if d.text(C + "UID") == uid
    )


def test_respond_by_file_and_uid_at_16_no_send_mails_nobody(
    server: DevServer, tmp_path: Path
) -> None:
    cal = server.store.default_folder(USER, 8)
    start = datetime.now(UTC).replace(microsecond=0, second=0, minute=0) + timedelta(days=1)
    server.store.add_item(USER, cal, invitation("inv-a", "Design", start))
    server.store.add_item(
        USER, cal, invitation("inv-b", "Design follow-up", start + timedelta(hours=2))
    )
    config = write_cal_config(tmp_path / "dev", server.url, version="16.1")
    run_device(config, "sync")
    files = by_uid(calendar_dir(tmp_path / "dev"))

    run_device(config, "respond", "decline", str(files["inv-a"]), "--no-send")
    done = run_device(config, "respond", "tentative", "inv-b", "--comment", "maybe late", "--json")

    assert partstat(files["inv-a"]) == "DECLINED"
    assert partstat(files["inv-b"]) == "TENTATIVE"
    doc = json.loads(done.stdout)
    assert doc["partstat"] == "TENTATIVE"
    assert doc["uid"] == "inv-b"
    # only the second answer was mailed, with its note
    assert [(r[1], r[2]) for r in sent_responses(server)] == [(2, "maybe late")]


def test_respond_ambiguous_unknown_and_version_limits_exit_2(
    server: DevServer, tmp_path: Path
) -> None:
    cal = server.store.default_folder(USER, 8)
    start = datetime.now(UTC).replace(microsecond=0, second=0, minute=0) + timedelta(days=1)
    server.store.add_item(USER, cal, invitation("inv-x", "Design", start))
    server.store.add_item(
        USER, cal, invitation("inv-y", "Design follow-up", start + timedelta(hours=2))
    )
    config = write_cal_config(tmp_path / "dev", server.url, version="14.1")
    run_device(config, "sync")

    ambiguous = run_device(config, "respond", "accept", "design", check=False)
    unknown = run_device(config, "respond", "accept", "no such thing", check=False)
    too_old = run_device(config, "respond", "accept", "inv-x", "--no-send", check=False)
    both = run_device(
        config, "respond", "accept", "inv-x", "--no-send", "--comment", "hi", check=False
    )

    assert ambiguous.returncode == 2
    assert "inv-x" in ambiguous.stderr
    assert "inv-y" in ambiguous.stderr
    assert unknown.returncode == 2
    assert "no synced calendar item" in unknown.stderr
    assert too_old.returncode == 2
    assert "16.0" in too_old.stderr
    assert both.returncode == 2
    assert sent_responses(server) == []
    assert "Traceback" not in ambiguous.stderr + unknown.stderr + too_old.stderr + both.stderr


# --- gal -------------------------------------------------------------------------------


def write_gal(server: DevServer, entries: list[dict[str, str]], min_query: int = 1) -> None:
    (server.data_dir / "gal.json").write_text(
        json.dumps({"min_query": min_query, "entries": entries}), encoding="utf-8"
    )


def gal_people(n: int) -> list[dict[str, str]]:
    return [
        {
            "display_name": f"Tester {i:03d}",
            "email": f"tester{i}@example.org",
            "first_name": "Tester",
            "last_name": f"{i:03d}",
            "company": "Example, Inc.",
            "phone": f"+1 555 {i:04d}",
        }
        for i in range(n)
    ]


def test_gal_pages_through_ranges_and_writes_mutt_vcard_json(
    server: DevServer, tmp_path: Path
) -> None:
    write_gal(server, gal_people(70))
    config = write_cal_config(tmp_path / "dev", server.url, version="14.1")

    mutt = run_device(config, "gal", "tester", "--format", "mutt", "--limit", "60", "--no-cache")
    searches = server.requests["Search"]
    vcards = run_device(config, "gal", "tester", "--format", "vcard", "--limit", "60")
    as_json = json.loads(run_device(config, "gal", "tester", "--json", "--limit", "60").stdout)

    lines = mutt.stdout.splitlines()
    assert "60" in lines[0]  # the free first line
    assert lines[1] == "tester0@example.org\tTester 000\tExample, Inc., +1 555 0000"
    assert len(lines) == 61  # more than one 50-entry page: Range 0-49, then 50-59
    # the same query again came from the cache: no request
    assert server.requests["Search"] == searches
    cards = vobject_cards(vcards.stdout)
    assert len(cards) == 60
    assert cards[0].fn.value == "Tester 000"
    assert cards[0].org.value == ["Example, Inc."]
    assert as_json["total"] == 70
    assert len(as_json["entries"]) == 60
    cache = next((tmp_path / "dev" / "state" / "gal-cache").glob("*.json"))
    assert cache.stat().st_mode & 0o777 == 0o600


def vobject_cards(text: str) -> list[object]:
    import vobject

    return list(vobject.readComponents(text))


def test_gal_says_when_a_query_is_too_short_instead_of_returning_nothing(
    server: DevServer, tmp_path: Path
) -> None:
    write_gal(server, gal_people(3), min_query=3)
    config = write_cal_config(tmp_path / "dev", server.url, version="14.1")

    short = run_device(config, "gal", "te", check=False)
    mutt = run_device(config, "gal", "te", "--format", "mutt", check=False)
    found = run_device(config, "gal", "teste")

    assert short.returncode == 1
    assert "shorter than 3 characters" in short.stderr
    assert "shorter than 3 characters" in mutt.stdout.splitlines()[0]
    assert len(found.stdout.splitlines()) == 3


def test_gal_escapes_what_the_server_sends(server: DevServer, tmp_path: Path) -> None:
    write_gal(server, [{"display_name": "Evil\x1b]0;pwned\x07\tName", "email": "evil@example.org"}])
    config = write_cal_config(tmp_path / "dev", server.url, version="14.1")

    text = run_device(config, "gal", "evil")
    mutt = run_device(config, "gal", "evil", "--format", "mutt")

    assert "\x1b" not in text.stdout + mutt.stdout
    assert "\\x1b]0;pwned" in text.stdout
    assert mutt.stdout.splitlines()[1].count("\t") == 2


# --- freebusy --------------------------------------------------------------------------


def plain_event(subject: str, start: datetime, hours: float, busy: int) -> Element:
    stamp = "%Y%m%dT%H%M%SZ"
    return E(
        "AirSync:ApplicationData",
        E(C + "StartTime", value=start.strftime(stamp)),
        E(C + "EndTime", value=(start + timedelta(hours=hours)).strftime(stamp)),
        E(C + "Subject", value=subject),
        E(C + "UID", value=f"fb-{subject}"),
        E(C + "BusyStatus", value=busy),
    )


def test_freebusy_shows_busy_blocks_json_and_vfreebusy(server: DevServer, tmp_path: Path) -> None:
    bob_cal = server.store.default_folder("bob", 8)
    day = datetime(2030, 6, 3, 8, 0, tzinfo=UTC)
    server.store.add_item("bob", bob_cal, plain_event("standup", day + timedelta(hours=1), 1, 2))
    server.store.add_item("bob", bob_cal, plain_event("maybe", day + timedelta(hours=4), 0.5, 1))
    config = write_cal_config(tmp_path / "dev", server.url, version="14.1")
    window = ("--from", "2030-06-03T08:00+00:00", "--to", "2030-06-03T16:00+00:00")

    doc = json.loads(run_device(config, "freebusy", "bob@devserver.test", *window, "--json").stdout)
    ics = run_device(config, "freebusy", "bob@devserver.test", *window, "--ics").stdout
    text = run_device(config, "freebusy", "bob@devserver.test", *window).stdout
    missing = run_device(config, "freebusy", "nobody@nowhere.test", *window, check=False)

    (bob,) = doc["people"]
    assert [(b["kind"], b["start"], b["end"]) for b in bob["busy"]] == [
        ("busy", "2030-06-03T09:00:00+00:00", "2030-06-03T10:00:00+00:00"),
        ("tentative", "2030-06-03T12:00:00+00:00", "2030-06-03T12:30:00+00:00"),
    ]
    cal = icalendar.Calendar.from_ical(ics)
    (fb,) = list(cal.walk("VFREEBUSY"))
    periods = fb.get("FREEBUSY")
    assert [p.params["FBTYPE"] for p in periods] == ["BUSY", "BUSY-TENTATIVE"]
    assert text.startswith("bob@devserver.test (Bob): busy ")
    assert missing.returncode == 1
    assert "not found" in missing.stdout


# --- oof -------------------------------------------------------------------------------


def test_oof_on_scheduled_with_html_then_status_then_off(server: DevServer, tmp_path: Path) -> None:
    config = write_cal_config(tmp_path / "dev", server.url, version="14.1")
    internal = tmp_path / "away.txt"
    internal.write_text("Back on Monday.\nAsk Carol.", encoding="utf-8")
    external = tmp_path / "away.html"
    external.write_text("<p>Back on <b>Monday</b>.</p>", encoding="utf-8")

    on = run_device(
        config,
        "oof",
        "dev",
        "on",
        "--message",
        str(internal),
        "--external",
        str(external),
        "--from",
        "2030-12-24 00:00",
        "--until",
        "2031-01-02 00:00",
    )
    status = json.loads(run_device(config, "oof", "dev", "--json").stdout)
    as_html = json.loads(run_device(config, "oof", "dev", "status", "--html", "--json").stdout)
    off = run_device(config, "oof", "dev", "off")

    assert on.stdout.startswith("out of office: scheduled from ")
    assert status["state"] == "scheduled"
    assert status["messages"]["internal"]["text"] == "Back on Monday.\nAsk Carol."
    # the server stores the external reply as HTML and serves it as text when asked so
    assert status["messages"]["external_unknown"]["text"] == "Back on Monday."
    assert as_html["messages"]["external_known"]["text"] == "<p>Back on <b>Monday</b>.</p>"
    assert as_html["messages"]["external_known"]["body_type"] == "HTML"
    assert off.stdout.splitlines()[0] == "out of office: off"


def test_oof_refuses_bad_input_before_asking_the_server(server: DevServer, tmp_path: Path) -> None:
    config = write_cal_config(tmp_path / "dev", server.url, version="14.1")
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00")

    no_message = run_device(config, "oof", "dev", "on", check=False)
    not_utf8 = run_device(config, "oof", "dev", "on", "--message", str(binary), check=False)
    half = run_device(
        config, "oof", "dev", "on", "--message", str(binary), "--until", "2031-01-01", check=False
    )
    unknown = run_device(config, "oof", "nope", "status", check=False)

    assert [p.returncode for p in (no_message, not_utf8, half, unknown)] == [2, 2, 2, 2]
    assert "not UTF-8" in not_utf8.stderr
    assert "no account 'nope'" in unknown.stderr
    assert server.requests["Settings"] == 0


def test_respond_refused_by_the_server_changes_nothing(server: DevServer, tmp_path: Path) -> None:
    cal = server.store.default_folder(USER, 8)
    start = datetime.now(UTC).replace(microsecond=0, second=0, minute=0) + timedelta(days=1)
    server.store.add_item(USER, cal, plain_event("dentist", start, 1, 2))  # no meeting
    server.store.add_item(USER, cal, invitation("own", "My meeting", start, organizer=ME))
    config = write_cal_config(tmp_path / "dev", server.url, version="14.1")
    run_device(config, "sync")
    files = by_uid(calendar_dir(tmp_path / "dev"))
    before = {uid: path.read_bytes() for uid, path in files.items()}

    plain = run_device(config, "respond", "accept", "fb-dentist", check=False)
    own = run_device(config, "respond", "decline", "own", check=False)

    for done in (plain, own):
        assert done.returncode == 1
        assert "invalid meeting request" in done.stderr
        assert "Traceback" not in done.stderr
    assert {uid: path.read_bytes() for uid, path in files.items()} == before
    assert sent_responses(server) == []


def test_respond_says_the_answer_went_when_the_sync_after_it_fails(
    server: DevServer, tmp_path: Path
) -> None:
    cal = server.store.default_folder(USER, 8)
    start = datetime.now(UTC).replace(microsecond=0, second=0, minute=0) + timedelta(days=1)
    server.store.add_item(USER, cal, invitation("inv-f", "Offsite", start))
    config = write_cal_config(tmp_path / "dev", server.url, version="14.1")
    run_device(config, "sync")
    server.faults.status("Sync", 4, times=50)  # the server fails every Sync

    done = run_device(config, "respond", "accept", "inv-f", check=False)

    assert done.returncode == 1
    assert "the answer was sent" in done.stderr
    assert len(sent_responses(server)) == 1
    server.faults.clear()
    run_device(config, "sync")
    assert partstat(by_uid(calendar_dir(tmp_path / "dev"))["inv-f"]) == "ACCEPTED"


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (("respond", "accept", "inv-h"), "MeetingResponse"),
        (("freebusy", "bob@devserver.test"), "ResolveRecipients"),
        (("gal", "bob"), "Search"),
        (("oof", "dev"), "Settings"),
    ],
)
def test_a_server_dying_on_the_command_is_told_not_a_traceback(
    server: DevServer, tmp_path: Path, args: tuple[str, ...], command: str
) -> None:
    """Horde 5.2 writes a WBXML header and then a PHP error page (MeetingResponse
    without IMAP) or an HTML page alone (ResolveRecipients under PHP 8)."""
    cal = server.store.default_folder(USER, 8)
    start = datetime.now(UTC).replace(microsecond=0, second=0, minute=0) + timedelta(days=1)
    server.store.add_item(USER, cal, invitation("inv-h", "Horde", start))
    config = write_cal_config(tmp_path / "dev", server.url, version="14.1")
    run_device(config, "sync")
    page = b"\x03\x01\x6a\x00<html><title>Horde :: Fatal Error</title></html>"
    server.faults.http_status(200, times=5, command=command, body=page)

    done = run_device(config, *args, "--no-cache" if args[0] == "gal" else "--json", check=False)

    assert done.returncode == 1
    assert f"the server failed on {command}" in done.stderr
    assert "'Horde :: Fatal Error'" in done.stderr  # the page's title, not its bytes
    assert "unknown token" not in done.stderr
    assert "Traceback" not in done.stderr


def test_gal_pictures_reach_the_vcards_from_14_1_only(server: DevServer, tmp_path: Path) -> None:
    import base64

    photo = b"\xff\xd8\xff\xe0fake-jpeg"
    write_gal(
        server,
        [
            {
                "display_name": "Pia Picture",
                "email": "pia@example.org",
                "picture": base64.b64encode(photo).decode(),
            }
        ],
    )
    new = write_cal_config(tmp_path / "new", server.url, version="14.1")
    old = write_cal_config(tmp_path / "old", server.url, version="14.0")

    with_photo = vobject_cards(
        run_device(new, "gal", "pia", "--pictures", "--format", "vcard").stdout
    )
    without = vobject_cards(run_device(old, "gal", "pia", "--pictures", "--format", "vcard").stdout)

    assert with_photo[0].photo.value == photo
    assert "photo" not in without[0].contents
