"""respond, gal, freebusy and oof against a real Horde Groupware 5.2 at EAS 16.0 and 14.1.

Horde offers MeetingResponse, Search, Settings and ResolveRecipients; this harness (no
IMAP, no mail filter app, no GAL address book) carries none of the four out. What it
does with each, measured here, the same at both versions (run alone:
``PYTHONPATH=$PWD CI=1 python -m pytest tests/integration/test_horde_pim.py``):

- respond: Horde answers invitations only from mail (the driver looks the request up
  over IMAP): with no IMAP, MeetingResponse writes a WBXML header and dies with a
  "Horde :: Fatal Error" page (horde.log: ``getImapMessage() on null``). Kronolith also
  makes the calendar's owner the ORGANIZER of an event put into the calendar and sends
  no Organizer over EAS, so words of the summary find no invitation; the UID does.
- gal: no GAL address book is configured (Turba ``$conf['gal']['addressbook']``):
  Search GAL answers Status 1 with an empty Store, so every query finds nobody.
- freebusy: ResolveRecipients first looks the address up in Turba, which under PHP 8
  dies (``TypeError: Illegal offset type``, Turba Api.php:1211): a "Horde :: Fatal
  Error" page as the whole answer.
- oof: reading answers "off" (Horde reports off when no filter app holds a vacation
  rule); every Set answers Oof Status 2.

Each failure is told as that command failing (exit 1, the server's words, no traceback)
and changes nothing, locally or on the server.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.cal_helpers import by_uid, calendar_dir, run_device, write_cal_config
from tests.integration.conftest_horde import VERSIONS, HordeAccount

pytestmark = pytest.mark.horde

FATAL = "'Horde :: Fatal Error'"


def device(tmp_path: Path, acc: HordeAccount, version: str) -> Path:
    return write_cal_config(
        tmp_path / "dev", acc.server.eas_url, version=version, username=acc.user
    )


def invitation_ics(uid: str, attendee: str, start: datetime) -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:{start.strftime(fmt)}\r\nDTSTART:{start.strftime(fmt)}\r\n"
        f"DTEND:{(start + timedelta(hours=1)).strftime(fmt)}\r\nSUMMARY:Budget review\r\n"
        "ORGANIZER;CN=Boss:mailto:boss@example.org\r\n"
        f"ATTENDEE;CN=Me;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;ROLE=REQ-PARTICIPANT:mailto:{attendee}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def unfolded(text: str | None) -> str:
    return (text or "").replace("\r\n", "\n").replace("\n ", "")


def calendar_counts(out: str) -> str:
    match = re.search(r"^calendar/Calendar: (local .*)$", out, re.M)
    assert match, out
    return match.group(1)


def assert_told_as_failure(done: object, command: str) -> None:
    """Exit 1, one error naming the EAS command and the page Horde answered."""
    stderr = done.stderr  # type: ignore[attr-defined]
    assert done.returncode == 1, stderr  # type: ignore[attr-defined]
    assert f"the server failed on {command}" in stderr
    assert FATAL in stderr
    assert stderr.count("error:") == 1
    assert "Traceback" not in stderr
    assert "<html" not in stderr.lower()


@pytest.mark.parametrize("version", VERSIONS)
def test_horde_respond_dies_without_imap_and_nothing_changes(
    tmp_path: Path, horde_account: HordeAccount, version: str
) -> None:
    acc = horde_account
    me = f"{acc.user}@example.org"
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    (collection,) = acc.dav.collections("calendar")
    acc.dav.put(collection, "inv-horde.ics", invitation_ics("inv-horde", me, start))
    config = device(tmp_path, acc, version)
    run_device(config, "sync", password=acc.password)
    folder = calendar_dir(tmp_path / "dev")
    files = by_uid(folder)
    before = files["inv-horde"].read_bytes()
    # Kronolith made the user the organizer and sends none over EAS
    assert b"ORGANIZER" not in before
    assert "ORGANIZER;CN=" + acc.user + ":mailto:" + acc.user in unfolded(
        acc.dav.items("calendar")[0].data
    )

    by_words = run_device(config, "respond", "accept", "budget", password=acc.password, check=False)
    by_uid_ = run_device(
        config, "respond", "accept", "inv-horde", "--json", password=acc.password, check=False
    )

    assert by_words.returncode == 2
    assert "no synced calendar item matches 'budget'" in by_words.stderr
    assert_told_as_failure(by_uid_, "MeetingResponse")
    assert "a WBXML header, then a page" in by_uid_.stderr
    assert by_uid_.stdout == ""
    # nothing changed: the local file, Horde's one copy, and a sync finds nothing to do
    assert list(folder.glob("*.ics")) == [files["inv-horde"]]
    assert files["inv-horde"].read_bytes() == before
    (item,) = acc.dav.items("calendar")
    assert f"PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Me:mailto:{me}" in unfolded(item.data)
    again = run_device(config, "sync", password=acc.password)
    assert calendar_counts(again.stdout) == "local +0 ~0 -0, remote +0 ~0 -0"


@pytest.mark.parametrize("version", VERSIONS)
def test_horde_gal_without_a_gal_address_book_finds_nobody(
    tmp_path: Path, horde_account: HordeAccount, version: str
) -> None:
    acc = horde_account
    config = device(tmp_path, acc, version)

    text = run_device(config, "gal", acc.user, password=acc.password, check=False)
    as_json = run_device(config, "gal", "user", "--json", password=acc.password, check=False)

    # Search GAL: Status 1, an empty Store; eassync says no match (exit 1), no crash
    for done, query in ((text, acc.user), (as_json, "user")):
        assert done.returncode == 1
        assert done.stderr.strip() == f"no match for {query!r} in the global address list"
    assert text.stdout == ""
    assert json.loads(as_json.stdout)["entries"] == []


@pytest.mark.parametrize("version", VERSIONS)
def test_horde_freebusy_dies_in_turba_and_is_told(
    tmp_path: Path, horde_account: HordeAccount, version: str
) -> None:
    acc = horde_account
    config = device(tmp_path, acc, version)
    day = (datetime.now(UTC) + timedelta(days=3)).replace(hour=8, minute=0, second=0, microsecond=0)

    done = run_device(
        config,
        "freebusy",
        f"{acc.user}@example.org",
        "--from",
        day.isoformat(),
        "--to",
        (day + timedelta(hours=8)).isoformat(),
        "--json",
        password=acc.password,
        check=False,
    )

    assert_told_as_failure(done, "ResolveRecipients")
    assert "text/html" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("version", VERSIONS)
def test_horde_oof_reads_off_and_refuses_every_change(
    tmp_path: Path, horde_account: HordeAccount, version: str
) -> None:
    acc = horde_account
    config = device(tmp_path, acc, version)
    msg = tmp_path / "away.txt"
    msg.write_text("Away until Monday.", encoding="utf-8")

    before = run_device(config, "oof", "dev", "--json", password=acc.password)
    on = run_device(
        config, "oof", "dev", "on", "--message", str(msg), password=acc.password, check=False
    )
    off = run_device(config, "oof", "dev", "off", password=acc.password, check=False)
    after = run_device(config, "oof", "dev", password=acc.password)

    assert json.loads(before.stdout)["state"] == "off"
    for done in (on, off):
        assert done.returncode == 1
        assert done.stderr.splitlines()[0] == (
            "error: account 'dev': the server did not set the out-of-office reply: it "
            "answered Oof Status 2 (protocol error)"
        )
        assert "web interface" in done.stderr
        assert "Traceback" not in done.stderr
    assert after.stdout.splitlines()[0] == "out of office: off"
