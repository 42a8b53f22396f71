"""``eassync respond``, ``gal``, ``freebusy`` and ``oof`` through the real CLI against the
devserver (which implements MeetingResponse, Search GAL, ResolveRecipients with
Availability and Settings Oof from MS-ASCMD)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

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

    assert ambiguous.returncode == 2
    assert "inv-x" in ambiguous.stderr
    assert "inv-y" in ambiguous.stderr
    assert unknown.returncode == 2
    assert "no synced calendar item" in unknown.stderr
    assert too_old.returncode == 2
    assert "16.0" in too_old.stderr
    assert sent_responses(server) == []
    assert "Traceback" not in ambiguous.stderr + unknown.stderr + too_old.stderr
