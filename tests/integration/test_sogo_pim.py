"""respond, gal, freebusy and oof against a real SOGo 5.8 (EAS 14.1).

What SOGo does with each (measured here; run alone:
``PYTHONPATH=$PWD python -m pytest tests/integration/test_sogo_pim.py``):

- respond: MeetingResponse on an invitation in the personal calendar (RequestId = the
  calendar item's ServerId) is accepted; SOGo writes the PARTSTAT into its copy (the
  DAV side shows it too) and the sync brings it to the local file.
- gal: Search GAL finds the SQL users; SOGo sends only ``Gal:EmailAddress`` (no name).
- freebusy: ResolveRecipients with Availability gives MergedFreeBusy from the user's
  calendar (one digit more than the span holds, ignored); an unknown address is left
  out of the answer, which eassync reports as not found.
- oof: SOGo without mail (this harness) answers Settings Oof with Status 1 and no Oof
  part, i.e. it ignores the request: eassync says so and exits 1 rather than claim
  the reply was set.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.cal_helpers import by_uid, calendar_dir, read_cal, run_device, write_cal_config
from tests.integration.conftest import SogoAccount
from tests.integration.sogo_dav import CALENDAR, pass_one_second

pytestmark = pytest.mark.sogo


def device(tmp_path: Path, account: SogoAccount) -> Path:
    return write_cal_config(
        tmp_path / "dev", account.server.eas_url, version="14.1", username=account.user
    )


def invitation_ics(uid: str, summary: str, attendee: str, start: datetime) -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:{start.strftime(fmt)}\r\nDTSTART:{start.strftime(fmt)}\r\n"
        f"DTEND:{(start + timedelta(hours=1)).strftime(fmt)}\r\nSUMMARY:{summary}\r\n"
        "ORGANIZER;CN=Boss:mailto:boss@example.org\r\n"
        f"ATTENDEE;CN=Me;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;ROLE=REQ-PARTICIPANT:mailto:{attendee}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def partstat(path: Path, email: str) -> str | None:
    for comp in read_cal(path).walk("VEVENT"):
        atts = comp.get("ATTENDEE") or []
        for att in atts if isinstance(atts, list) else [atts]:
            if str(att).lower().removeprefix("mailto:") == email:
                return str(att.params.get("PARTSTAT"))
    return None


def test_sogo_respond_accepts_an_invitation(sogo_account: SogoAccount, tmp_path: Path) -> None:
    me = f"{sogo_account.user}@example.test"
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    sogo_account.dav.put(
        CALENDAR, "inv-sogo.ics", invitation_ics("inv-sogo", "Budget review", me, start)
    )
    pass_one_second()
    config = device(tmp_path, sogo_account)
    run_device(config, "sync", password=sogo_account.password)
    files = by_uid(calendar_dir(tmp_path / "dev", "Personal_Calendar"))
    assert partstat(files["inv-sogo"], me) == "NEEDS-ACTION"

    done = run_device(
        config, "respond", "accept", "budget", "--json", password=sogo_account.password
    )

    assert json.loads(done.stdout)["partstat"] == "ACCEPTED"
    # no second copy (the folder also holds its displayname file)
    assert list(files["inv-sogo"].parent.glob("*.ics")) == [files["inv-sogo"]]
    assert len(sogo_account.dav.list(CALENDAR)) == 1
    assert partstat(files["inv-sogo"], me) == "ACCEPTED"
    dav_copy = sogo_account.dav.get(CALENDAR, "inv-sogo.ics") or ""
    assert "PARTSTAT=ACCEPTED" in dav_copy.replace("\r\n ", "")


def test_sogo_gal_finds_users_by_address_only(sogo_account: SogoAccount, tmp_path: Path) -> None:
    config = device(tmp_path, sogo_account)
    me = f"{sogo_account.user}@example.test"

    mutt = run_device(config, "gal", "user", "--format", "mutt", password=sogo_account.password)
    as_json = json.loads(
        run_device(
            config, "gal", sogo_account.user, "--json", password=sogo_account.password
        ).stdout
    )

    rows = [line.split("\t") for line in mutt.stdout.splitlines()[1:]]
    assert me in {row[0] for row in rows}
    # SOGo sends Gal:EmailAddress only: the name column falls back to the address
    assert all(row[1] == row[0] for row in rows)
    assert [e["email"] for e in as_json["entries"]] == [me]


def test_sogo_freebusy_shows_a_busy_hour(sogo_account: SogoAccount, tmp_path: Path) -> None:
    me = f"{sogo_account.user}@example.test"
    day = (datetime.now(UTC) + timedelta(days=3)).replace(hour=8, minute=0, second=0, microsecond=0)
    fmt = "%Y%m%dT%H%M%SZ"
    busy = day + timedelta(hours=2)
    sogo_account.dav.put(
        CALENDAR,
        "busy.ics",
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:busy-1\r\nDTSTAMP:{day.strftime(fmt)}\r\nDTSTART:{busy.strftime(fmt)}\r\n"
        f"DTEND:{(busy + timedelta(hours=1)).strftime(fmt)}\r\nSUMMARY:Busy\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    config = device(tmp_path, sogo_account)
    window = ("--from", day.isoformat(), "--to", (day + timedelta(hours=8)).isoformat())

    doc = json.loads(
        run_device(
            config,
            "freebusy",
            me,
            "nobody@nowhere.test",
            *window,
            "--json",
            password=sogo_account.password,
            check=False,
        ).stdout
    )

    found, missing = doc["people"]
    assert [(b["kind"], b["start"], b["end"]) for b in found["busy"]] == [
        ("busy", busy.isoformat(), (busy + timedelta(hours=1)).isoformat())
    ]
    # SOGo leaves an unknown address out of its answer; eassync says it was not found
    assert missing["problem"] == "not found"


def test_sogo_oof_is_ignored_and_eassync_says_so(sogo_account: SogoAccount, tmp_path: Path) -> None:
    config = device(tmp_path, sogo_account)
    msg = tmp_path / "away.txt"
    msg.write_text("Away until Monday.", encoding="utf-8")

    status = run_device(config, "oof", "dev", password=sogo_account.password, check=False)
    on = run_device(
        config,
        "oof",
        "dev",
        "on",
        "--message",
        str(msg),
        password=sogo_account.password,
        check=False,
    )

    # SOGo 5.8 without mail answers Settings Oof with Status 1 and no Oof part
    for done in (status, on):
        assert done.returncode == 1
        assert "ignores out-of-office requests" in done.stderr
        assert "Traceback" not in done.stderr
