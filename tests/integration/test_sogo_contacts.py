"""Contacts through a real SOGo 5.8 (EAS 14.1), as a user runs them: cards synced up by
one device and down by a second one (own status dir, own DeviceId), edits and deletes
each way, broken files reported and skipped.

What SOGo 5.8 holds is measured here row by row of the README's contacts table (every
"Supported" row's own examples), and what it cannot hold is asserted as such, so a SOGo
upgrade that fixes one shows up. SOGo's EAS contact mapping (NGVCard+ActiveSync.m) has
no Anniversary, Spouse, Children, Yomi names, second work/home phones, car, radio,
assistant, company, MMS phones, home fax or second/third IM address, and joins street
lines after the second with spaces. The same rows round-trip on the devserver, which
follows MS-ASCNTC (tests/unit/test_convert_contacts_table.py, tests/e2e).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from eassync.convert import contacts, vcard
from eassync.convert.tables import CONTACTS, SUPPORTED
from eassync.storage.base import Item
from tests.e2e.cal_helpers import run_device
from tests.integration.conftest import SogoAccount
from tests.integration.sogo_dav import pass_one_second

pytestmark = pytest.mark.sogo

DATA = Path(__file__).resolve().parents[1] / "data" / "contacts"

#: README rows SOGo 5.8 does not hold, and the EAS slots it drops or changes for them
SOGO_DROPS = {
    "X-ANNIVERSARY (3.0), ANNIVERSARY (4.0)": {"Contacts:Anniversary"},
    "X-SPOUSE (3.0), RELATED;TYPE=spouse;VALUE=text (4.0)": {"Contacts:Spouse"},
    "X-CHILD (3.0), RELATED;TYPE=child;VALUE=text (4.0)": {"Contacts:Children"},
    "X-ASSISTANT": {"Contacts:AssistantName"},
    "X-MANAGER": {"Contacts2:ManagerName"},
    "X-EAS-OFFICELOCATION": {"Contacts:OfficeLocation"},
    "IMPP, X-AIM, X-JABBER, X-ICQ, X-MSN, X-YAHOO, X-SKYPE …": {
        "Contacts2:IMAddress2",
        "Contacts2:IMAddress3",
    },
    "TEL;TYPE=WORK": {"Contacts:Business2PhoneNumber"},
    "TEL;TYPE=HOME": {"Contacts:Home2PhoneNumber"},
    "TEL;TYPE=HOME,FAX": {"Contacts:HomeFaxNumber"},
    "TEL;TYPE=CAR": {"Contacts:CarPhoneNumber"},
    "TEL;TYPE=X-EVOLUTION-RADIO": {"Contacts:RadioPhoneNumber"},
    "TEL;TYPE=X-EVOLUTION-ASSISTANT": {"Contacts:AssistantPhoneNumber"},
    "TEL;TYPE=X-EVOLUTION-COMPANY": {"Contacts2:CompanyMainPhone"},
    "TEL;TYPE=X-MMS": {"Contacts2:MMS"},
    "X-PHONETIC-FIRST-NAME, X-PHONETIC-LAST-NAME, X-PHONETIC-ORG": {
        "Contacts:YomiFirstName",
        "Contacts:YomiLastName",
        "Contacts:YomiCompanyName",
    },
    "X-EAS-CUSTOMERID, X-EAS-GOVERNMENTID, X-EAS-ACCOUNTNAME": {
        "Contacts2:CustomerId",
        "Contacts2:GovernmentId",
        "Contacts2:AccountName",
    },
}


def slots(path: Path) -> dict[str, object]:
    """The EAS slot values a card feeds (what the server is asked to hold)."""
    return dict(contacts._extraction(Item(path.read_bytes())).values)


def by_name(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in folder.glob("*.vcf"):
        name = contacts.HANDLER.describe(Item(path.read_bytes()))
        assert name not in found, f"{name} twice in {folder}"
        found[name] = path
    return found


def two_devices(tmp_path: Path, account: SogoAccount) -> tuple[Path, Path]:
    configs = []
    for name in ("a", "b"):
        (tmp_path / name / "contacts").mkdir(parents=True)
        configs.append(account.contacts_config(tmp_path / name))
    return configs[0], configs[1]


def sync(config: Path, account: SogoAccount, *, check: bool = True) -> str:
    pass_one_second()  # SOGo's change clock has a one-second grain (sogo-notes Q2)
    proc = run_device(config, "sync", password=account.password, check=check)
    return proc.stdout + proc.stderr


def test_every_table_row_reaches_a_second_device_as_far_as_sogo_holds_it(
    tmp_path: Path, sogo_account: SogoAccount
) -> None:
    a, b = two_devices(tmp_path, sogo_account)
    rows = [row for row in CONTACTS if row.level == SUPPORTED and row.examples]
    for number, row in enumerate(rows):
        lines = [f"UID:row-{number}", f"FN:Row {number}", f"N:Row;{number};;;", *row.examples]
        card = "BEGIN:VCARD\r\nVERSION:3.0\r\n" + "\r\n".join(lines) + "\r\nEND:VCARD\r\n"
        (a.parent / "contacts" / f"row-{number}.vcf").write_text(card, encoding="utf-8")
    assert f"remote +{len(rows)} ~0 -0" in sync(a, sogo_account)
    assert f"local +{len(rows)} ~0 -0" in sync(b, sogo_account)

    theirs = by_name(b.parent / "contacts")
    dropped: dict[str, set[str]] = {}
    for number, row in enumerate(rows):
        sent = slots(a.parent / "contacts" / f"row-{number}.vcf")
        got = slots(theirs[f"Row {number}"])
        differing = {tag for tag in set(sent) | set(got) if sent.get(tag) != got.get(tag)}
        if differing:
            dropped[row.vcard] = differing
        # what SOGo lacks is lost on the server only, never in the file that sent it
        assert set(sent) >= set(got), row.vcard
    assert dropped == SOGO_DROPS


def test_fixture_cards_sync_and_broken_files_are_reported_and_left_alone(
    tmp_path: Path, sogo_account: SogoAccount
) -> None:
    a, b = two_devices(tmp_path, sogo_account)
    folder = a.parent / "contacts"
    for path in DATA.glob("*.vcf"):
        shutil.copy(path, folder / path.name)
    # not UTF-8 (the storage's encoding): reported like a broken file
    unreadable = {p.name for p in DATA.glob("*.vcf")} & {
        "latin1.vcf",
        "outlook_21.vcf",
    } | {p.name for p in DATA.glob("broken*.vcf")}
    readable = sorted({p.name for p in DATA.glob("*.vcf")} - unreadable)
    before = {p.name: p.read_bytes() for p in folder.glob("*.vcf")}

    out = sync(a, sogo_account, check=False)
    assert f"remote +{len(readable)} ~0 -0, {len(unreadable)} failed" in out, out
    for name in unreadable:
        assert f"FAILED local {name}" in out, name
    assert {p.name: p.read_bytes() for p in folder.glob("*.vcf")} == before  # nothing rewritten

    assert f"local +{len(readable)} ~0 -0" in sync(b, sogo_account)
    theirs = by_name(b.parent / "contacts")
    assert len(theirs) == len(readable)
    not_held = set().union(*SOGO_DROPS.values())
    for name in readable:
        sent = slots(folder / name)
        got = slots(theirs[contacts.HANDLER.describe(Item((folder / name).read_bytes()))])
        differing = {t for t in set(sent) | set(got) if sent.get(t) != got.get(t)} - not_held
        if name == "unicode_multiline.vcf":
            # five street lines: SOGo keeps the first and joins the rest with spaces
            street = "Contacts:HomeAddressStreet"
            assert differing == {street}
            first, *rest = str(sent[street]).split("\r\n")
            assert got[street] == f"{first}\r\n{' '.join(rest)}"
        else:
            assert differing == set(), name


def test_edits_and_deletes_travel_each_way(tmp_path: Path, sogo_account: SogoAccount) -> None:
    a, b = two_devices(tmp_path, sogo_account)
    for name in ("khard_3.vcf", "google_3.vcf", "sogo_3.vcf"):
        shutil.copy(DATA / name, a.parent / "contacts" / name)
    sync(a, sogo_account)
    sync(b, sogo_account)

    # on b: Alan Turing gets a new job title; Grace Hopper is deleted
    theirs = by_name(b.parent / "contacts")
    turing = theirs["Alan Turing"]
    text = turing.read_text(encoding="utf-8")
    assert "TITLE:Reader" in text
    turing.write_text(text.replace("TITLE:Reader", "TITLE:Codebreaker"), encoding="utf-8")
    theirs["Grace Hopper"].unlink()
    assert "remote +0 ~1 -1" in sync(b, sogo_account)

    out = sync(a, sogo_account)
    assert "local +0 ~1 -1" in out, out
    mine = by_name(a.parent / "contacts")
    assert set(mine) == {"Alan Turing", "Marie Curie"}
    assert "TITLE:Codebreaker" in mine["Alan Turing"].read_text(encoding="utf-8")
    # the rest of a's file is as it was (what SOGo does not hold included)
    original = (DATA / "khard_3.vcf").read_text(encoding="utf-8")
    kept = [line for line in original.splitlines() if not line.startswith(("TITLE:", "REV:"))]
    assert set(kept) <= set(mine["Alan Turing"].read_text(encoding="utf-8").splitlines())

    # on a: Marie Curie is deleted and travels to b
    mine["Marie Curie"].unlink()
    assert "remote +0 ~0 -1" in sync(a, sogo_account)
    assert "local +0 ~0 -1" in sync(b, sogo_account)
    assert set(by_name(b.parent / "contacts")) == {"Alan Turing"}


#: cards with fields SOGo does not keep (Anniversary, Spouse, Children, second phones,
#: IM 2–3, Yomi …) or changes (five street lines): the server's copy differs from the file
DIFFERING = ["nextcloud_4.vcf", "many_emails_phones.vcf", "unicode_multiline.vcf", "apple_3.vcf"]


def _fill(folder: Path, names: list[str]) -> dict[str, bytes]:
    for name in names:
        shutil.copy(DATA / name, folder / name)
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.vcf"))}


def _properties(raw: bytes) -> set[tuple[str, str, str]]:
    """A card's properties as (name, parameters, value), independent of folding and
    parameter quoting (a rewritten file may quote differently)."""
    out = set()
    for prop in vcard.parse(raw).properties:
        params = ";".join(f"{k.upper()}={','.join(v)}" for k, v in sorted(prop.params))
        out.add((prop.name, params, prop.value))
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.vcf"))}


def test_fields_sogo_does_not_keep_stay_in_the_file_when_the_contact_changes_elsewhere(
    tmp_path: Path, sogo_account: SogoAccount
) -> None:
    a, b = two_devices(tmp_path, sogo_account)
    mine = a.parent / "contacts"
    _fill(mine, ["nextcloud_4.vcf", "unicode_multiline.vcf"])
    sync(a, sogo_account)
    sync(b, sogo_account)

    # on b: both contacts get a new job title
    for path in (b.parent / "contacts").glob("*.vcf"):
        text = path.read_text(encoding="utf-8")
        lines = [line for line in text.splitlines() if not line.startswith("TITLE")]
        lines.insert(-1, "TITLE:Changed on b")
        path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    assert "remote +0 ~2 -0" in sync(b, sogo_account)

    out = sync(a, sogo_account)
    assert "local +0 ~2 -0" in out, out
    for name in ("nextcloud_4.vcf", "unicode_multiline.vcf"):
        now = (mine / name).read_bytes()
        assert "TITLE:Changed on b" in now.decode(), name
        # every property but the title (and the revision) is as it was: what SOGo does
        # not keep (ANNIVERSARY, RELATED spouse/child …) and the five street lines included
        kept = {p for p in _properties((DATA / name).read_bytes()) if p[0] not in ("TITLE", "REV")}
        assert kept <= _properties(now), name
    assert "ANNIVERSARY:19590101" in (mine / "nextcloud_4.vcf").read_text(encoding="utf-8")
    assert "local +0 ~0 -0, remote +0 ~0 -0" in sync(a, sogo_account)


@pytest.mark.parametrize("how", ["status lost", "second filled device"])
def test_no_duplicates_when_sogo_copies_differ_from_the_files(
    tmp_path: Path, sogo_account: SogoAccount, how: str
) -> None:
    """After a lost status, and on the first pass of a machine that already holds the
    same files, each card matches its SOGo copy although SOGo kept only part of it."""
    a, b = two_devices(tmp_path, sogo_account)
    before = _fill(a.parent / "contacts", DIFFERING)
    assert f"remote +{len(DIFFERING)} ~0 -0" in sync(a, sogo_account)
    assert _files(a.parent / "contacts") == before

    if how == "status lost":
        device = a
        shutil.rmtree(a.parent / "state" / "pairs")
    else:
        device = b
        for name, raw in before.items():
            (b.parent / "contacts" / name).write_bytes(raw)
    out = sync(device, sogo_account)
    assert "local +0 ~0 -0, remote +0 ~0 -0" in out, out
    assert _files(device.parent / "contacts") == before
    # and the server holds each once: a fresh device downloads exactly these
    fresh = tmp_path / "c"
    (fresh / "contacts").mkdir(parents=True)
    assert f"local +{len(DIFFERING)} ~0 -0" in sync(
        sogo_account.contacts_config(fresh), sogo_account
    )
