"""``eassync repair``: the status rebuilt from both sides, no duplicates, nothing deleted.

The real CLI runs in a subprocess against the in-process devserver, as a user would.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from eassync.config import load_config
from eassync.devserver import DevServer
from eassync.storage.lock import pair_lock

# the SOGo harness fixtures (tests/integration/conftest.py), used here by name
from tests.integration.conftest import SogoAccount, sogo, sogo_account  # noqa: F401
from tests.integration.sogo_dav import CONTACTS, pass_one_second

from .helpers import (
    NO_OP,
    PASSWORD,
    USER,
    SyncedPair,
    local_names,
    person,
    run_cli,
    server_names,
    write_local_card,
)


class Setup(SyncedPair):
    """The synced pair, with views of both sides and of its status file."""

    @property
    def status(self) -> Path:
        return self.status_dir / "pairs" / "contacts.sqlite"

    def server(self) -> dict[str, int]:
        return dict(server_names(self.srv.store, self.folder_id))

    def here(self) -> dict[str, int]:
        return dict(local_names(self.local))

    def assert_in_sync(self, expected: set[str]) -> None:
        """Both sides hold exactly ``expected``, each item once."""
        assert self.server() == dict.fromkeys(expected, 1)
        assert self.here() == dict.fromkeys(expected, 1)

    def status_files(self) -> list[Path]:
        return sorted(self.status.parent.glob(self.status.name + "*"))


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        yield Setup(tmp_path, srv)


def _names() -> set[str]:
    return {f"Person{i:05d} Example" for i in range(10)} | {
        f"Local{i:02d} Local" for i in range(10)
    }


def test_repair_after_the_status_was_deleted_matches_everything_once(setup: Setup) -> None:
    for path in setup.status_files():
        path.unlink()
    # one new item on each side while the status was gone
    write_local_card(setup.local, "late-local", "Late")
    setup.srv.store.add_item(USER, setup.folder_id, person(77, "Late"))

    repaired = run_cli(setup.config, "repair", "contacts", check=True)

    assert "matched 20, only on the server 1 (copied here)" in repaired.stdout
    assert "only here 1 (copied to the server), deleted nothing" in repaired.stdout
    setup.assert_in_sync(_names() | {"Late Local", "Late00077 Example"})
    after = run_cli(setup.config, "sync", check=True)
    assert NO_OP in after.stdout


def test_plain_sync_after_the_status_was_deleted_duplicates_nothing(setup: Setup) -> None:
    for path in setup.status_files():
        path.unlink()
    run_cli(setup.config, "sync", check=True)
    setup.assert_in_sync(_names())


def test_corrupted_status_points_to_repair_and_repair_recovers(setup: Setup) -> None:
    for path in setup.status_files():
        path.unlink()
    garbage = os.urandom(4096)
    setup.status.write_bytes(garbage)

    failed = run_cli(setup.config, "sync")
    assert failed.returncode == 1
    assert "status file" in failed.stderr
    assert "eassync repair" in failed.stderr

    repaired = run_cli(setup.config, "repair", "contacts", check=True)
    assert "unreadable; moved aside" in repaired.stdout
    assert "deleted nothing" in repaired.stdout
    (aside,) = [p for p in setup.status_files() if ".bak-" in p.name]
    assert aside.read_bytes() == garbage
    assert aside.stat().st_mode & 0o777 == 0o600
    setup.assert_in_sync(_names())
    assert NO_OP in run_cli(setup.config, "sync", check=True).stdout


def test_repair_backs_up_the_readable_status_first(setup: Setup) -> None:
    repaired = run_cli(setup.config, "repair", "contacts", "--from-scratch", check=True)

    (backup,) = [p for p in setup.status_files() if ".bak-" in p.name]
    assert f"status backed up to {backup}" in repaired.stdout
    assert backup.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(backup) as db:
        (rows,) = db.execute("SELECT count(*) FROM items").fetchone()
    assert rows == 20
    assert "matched 20, only on the server 0" in repaired.stdout
    setup.assert_in_sync(_names())
    assert NO_OP in run_cli(setup.config, "sync", check=True).stdout


def test_repair_with_an_intact_status_deletes_nothing(setup: Setup) -> None:
    # deleted on one side since the last sync: a sync would propagate these
    # deletions; a repair restores both items instead
    (setup.local / "local-03.vcf").unlink()
    server_id = next(
        sid
        for sid, data in setup.srv.store.items(USER, setup.folder_id).items()
        if data.text("Contacts:FirstName") == "Person00004"
    )
    setup.srv.store.delete_item(USER, setup.folder_id, server_id)

    repaired = run_cli(setup.config, "repair", "contacts", check=True)

    assert "rebuilt by resync" in repaired.stdout
    assert "deleted nothing" in repaired.stdout
    setup.assert_in_sync(_names())
    assert NO_OP in run_cli(setup.config, "sync", check=True).stdout


def test_server_losing_our_sync_keys_is_recovered_by_sync_alone(setup: Setup) -> None:
    write_local_card(setup.local, "during-loss", "During")
    setup.srv.faults.invalidate_sync_keys()

    recovered = run_cli(setup.config, "sync", check=True)

    assert "resynced" in recovered.stdout
    setup.assert_in_sync(_names() | {"During Local"})
    assert NO_OP in run_cli(setup.config, "sync", check=True).stdout


def test_repair_waits_for_no_one_when_the_pair_is_locked(setup: Setup) -> None:
    with pair_lock(setup.status_dir, "contacts"):
        locked = run_cli(setup.config, "repair", "contacts")
    assert locked.returncode == 75
    assert "another eassync is syncing pair 'contacts'" in locked.stderr
    assert not [p for p in setup.status_files() if ".bak-" in p.name]


def test_repair_with_an_outdated_status_duplicates_nothing(setup: Setup) -> None:
    # a status restored from an old backup: it knows neither the newer items nor
    # their server ids
    old = {p.name: p.read_bytes() for p in setup.status_files()}
    write_local_card(setup.local, "newer-local", "Newer")
    setup.srv.store.add_item(USER, setup.folder_id, person(88, "Newer"))
    run_cli(setup.config, "sync", check=True)
    for path in setup.status_files():
        path.unlink()
    for name, data in old.items():
        (setup.status.parent / name).write_bytes(data)

    repaired = run_cli(setup.config, "repair", "contacts", check=True)

    assert "rebuilt by resync" in repaired.stdout
    assert "matched 22, only on the server 0" in repaired.stdout
    setup.assert_in_sync(_names() | {"Newer Local", "Newer00088 Example"})
    assert NO_OP in run_cli(setup.config, "sync", check=True).stdout


# --- against a real SOGo (tests/servers/sogo) ----------------------------------------------


@pytest.mark.sogo
def test_sogo_repair_after_the_status_was_deleted_duplicates_nothing(
    tmp_path: Path,
    sogo_account: SogoAccount,  # noqa: F811
) -> None:
    dav = sogo_account.dav
    dav.put(
        CONTACTS,
        "server-1.vcf",
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:server-1.vcf\r\nFN:Grace Server\r\n"
        "N:Server;Grace;;;\r\nEMAIL;TYPE=INTERNET:grace@example.test\r\nEND:VCARD\r\n",
    )
    local = tmp_path / "contacts"
    write_local_card(local, "local-1", "Ada")
    config = sogo_account.contacts_config(tmp_path)
    pass_one_second()  # SOGo's change clock (sogo-notes Q2)
    run_cli(config, "sync", check=True)
    status = load_config(config).general.status_dir / "pairs" / "contacts.sqlite"
    for path in status.parent.glob(status.name + "*"):
        path.unlink()
    pass_one_second()

    repaired = run_cli(config, "repair", "contacts", check=True)

    assert "matched 2, only on the server 0" in repaired.stdout
    assert "deleted nothing" in repaired.stdout
    assert dict(local_names(local)) == {"Ada Local": 1, "Grace Server": 1}
    assert len(dav.list(CONTACTS)) == 2
    pass_one_second()
    assert NO_OP in run_cli(config, "sync", check=True).stdout
