"""Nothing lost, nothing doubled, every failure told: the failure paths beyond a kill,
end to end through the real CLI and the devserver's fault switches.

- a server item whose local write fails (full disk) stays in the status and is
  written by a later pass;
- an Add acknowledged without a ServerId is parked, never counted, told every pass;
- a poison item (the server answers an HTML page, 500 or nothing to any request
  holding it) is isolated: everything else goes up and comes down;
- a synced file replaced by a symlink leading outside the folder deletes nothing;
- one folder stopped by the delete guard does not stop the pair's other folders.
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from eassync.devserver import DevServer

from .helpers import (
    NO_OP,
    PASSWORD,
    USER,
    local_names,
    person,
    run_cli,
    server_names,
    write_config,
    write_local_card,
)

CONTACTS = 9


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        yield srv


def summary(proc: subprocess.CompletedProcess[str]) -> str:
    found = re.search(r"local [^\n]*", proc.stdout + proc.stderr)
    assert found, proc.stdout + proc.stderr
    return found.group(0)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path/contacts`` on a 256 KiB tmpfs, and a file that fills it: delete the
    file to free the space. Root only (the suite runs as root in CI)."""
    folder = tmp_path / "contacts"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs: {mounted.stderr}")
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr}")
    filler = folder / ".filler"
    try:
        _fill(filler)
        yield filler
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
    finally:
        os.close(fd)


def test_a_server_item_whose_local_write_fails_is_written_on_a_later_pass(
    tmp_path: Path, server: DevServer, full_disk: Path
) -> None:
    folder_id = server.store.default_folder(USER, CONTACTS)
    for i in range(3):
        server.store.add_item(USER, folder_id, person(i))
    config = write_config(tmp_path, server.url)

    failed = run_cli(config, "sync")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Traceback" not in failed.stderr
    # each told by name with the reason; nothing counted that was not written
    for i in range(3):
        assert f"Person{i:05d}" in failed.stderr
    assert "No space left on device" in failed.stderr
    assert "local +0" in summary(failed)

    # still full: told again, not forgotten (before the fix: "local +0" and exit 0)
    again = run_cli(config, "sync")
    assert again.returncode == 1
    assert all(f"Person{i:05d}" in again.stderr for i in range(3))

    full_disk.unlink()
    fixed = run_cli(config, "sync")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "local +3" in summary(fixed)
    assert local_names(tmp_path / "contacts") == {f"Person{i:05d} Example": 1 for i in range(3)}
    assert NO_OP in run_cli(config, "sync", check=True).stdout
    assert server.store.count_items(USER, folder_id) == 3


def test_an_add_acknowledged_without_server_id_is_parked_and_told_every_pass(
    tmp_path: Path, server: DevServer
) -> None:
    folder_id = server.store.default_folder(USER, CONTACTS)
    local = tmp_path / "contacts"
    write_local_card(local, "good", "Good")
    write_local_card(local, "lost", "Lost")
    server.faults.add_without_server_id("Lost")
    config = write_config(tmp_path, server.url)

    first = run_cli(config, "sync")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "remote +1" in summary(first)  # the good one only: confirmed adds count
    assert "Lost Local" in first.stderr
    assert "without a ServerId" in first.stderr
    assert server_names(server.store, folder_id) == {"Good Local": 1}

    # parked: not sent again (once by the resend and once by the push, before the
    # fix), and told again
    second = run_cli(config, "sync")
    assert second.returncode == 1
    assert "remote +0" in summary(second)
    assert "Lost Local" in second.stderr
    assert "parked" in second.stderr
    assert server_names(server.store, folder_id) == {"Good Local": 1}

    server.faults.clear()
    retried = run_cli(config, "sync", "--retry")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "remote +1" in summary(retried)
    assert server_names(server.store, folder_id) == {"Good Local": 1, "Lost Local": 1}
    assert NO_OP in run_cli(config, "sync", check=True).stdout


@pytest.mark.parametrize("answer", ["html", "500", "empty"])
def test_a_poison_item_is_isolated_and_everything_else_syncs(
    tmp_path: Path, server: DevServer, answer: str
) -> None:
    folder_id = server.store.default_folder(USER, CONTACTS)
    server.store.add_item(USER, folder_id, person(1))
    config = write_config(tmp_path, server.url)
    run_cli(config, "sync", check=True)

    local = tmp_path / "contacts"
    for i in range(7):
        write_local_card(local, f"fine{i}", f"Fine{i}")
    poison = write_local_card(local, "poison", "Poison")
    server.faults.poison("Poison", answer=answer)
    server.store.add_item(USER, folder_id, person(2))

    first = run_cli(config, "sync")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "Traceback" not in first.stderr
    assert "local +1" in summary(first)  # the pull still ran
    assert "remote +7" in summary(first)
    assert "Poison Local" in first.stderr
    if answer == "html":
        assert "Fatal Error" in first.stderr  # the server's own words
    names = server_names(server.store, folder_id)
    assert "Poison Local" not in names
    assert sum(names.values()) == 2 + 7

    # the next pass does not resend the batch (which blocked the folder for good
    # before): it pulls, pushes, and tells the parked item again
    server.store.add_item(USER, folder_id, person(3))
    second = run_cli(config, "sync")
    assert second.returncode == 1
    assert "local +1" in summary(second)
    assert "Poison Local" in second.stderr
    assert "parked" in second.stderr

    # fixed on the server: the item goes up when it changes
    server.faults.clear()
    poison.write_text(poison.read_text().replace("poison@", "cured@"), encoding="utf-8")
    cured = run_cli(config, "sync")
    assert cured.returncode == 0, cured.stdout + cured.stderr
    assert "remote +1" in summary(cured)
    assert server_names(server.store, folder_id)["Poison Local"] == 1
    assert NO_OP in run_cli(config, "sync", check=True).stdout


def test_a_synced_file_replaced_by_a_symlink_leading_outside_deletes_nothing(
    tmp_path: Path, server: DevServer
) -> None:
    folder_id = server.store.default_folder(USER, CONTACTS)
    for i in range(2):
        server.store.add_item(USER, folder_id, person(i))
    config = write_config(tmp_path, server.url)
    run_cli(config, "sync", check=True)

    local = tmp_path / "contacts"
    victim = sorted(local.glob("*.vcf"))[0]
    outside = tmp_path / "elsewhere.vcf"
    outside.write_bytes(victim.read_bytes())
    victim.unlink()
    victim.symlink_to(outside)

    proc = run_cli(config, "sync")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "remote +0 ~0 -0" in summary(proc)
    assert victim.name in proc.stderr
    assert "symlink" in proc.stderr
    assert server.store.count_items(USER, folder_id) == 2

    # a regular file again: synced as before, nothing lost on either side
    victim.unlink()
    victim.write_bytes(outside.read_bytes())
    back = run_cli(config, "sync")
    assert back.returncode == 0, back.stdout + back.stderr
    assert server.store.count_items(USER, folder_id) == 2


def test_one_folder_stopped_by_the_delete_guard_does_not_stop_the_others(
    tmp_path: Path, server: DevServer
) -> None:
    first_id = server.store.default_folder(USER, CONTACTS)
    second_id = server.store.add_folder(USER, "Team", 14)
    doomed = [server.store.add_item(USER, first_id, person(i)) for i in range(8)]
    server.store.add_item(USER, second_id, person(100, "Team"))
    config = write_config(tmp_path, server.url)
    config.write_text(config.read_text().replace("{default: contacts}", "{all: contacts}"))
    run_cli(config, "sync", check=True)

    for server_id in doomed:
        server.store.delete_item(USER, first_id, server_id)
    server.store.add_item(USER, second_id, person(101, "Team"))
    proc = run_cli(config, "sync")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "--force-delete" in proc.stderr  # the guard's hint, for its folder
    # by the folder's name, the side that changed, in a whole sentence
    assert "/Contacts: error: this pass would delete 8 of 8 items in" in proc.stderr
    assert "because the server deleted them (Contacts)" in proc.stderr
    assert f"({first_id})" not in proc.stderr
    # the other folder went on
    team = [p for p in (tmp_path / "contacts").iterdir() if p.is_dir() and "Team" in p.name]
    assert len(team) == 1
    assert local_names(team[0]) == {"Team00100 Example": 1, "Team00101 Example": 1}


@pytest.mark.parametrize("new_items", [True, False])
def test_a_server_that_always_answers_more_available_is_stopped(
    tmp_path: Path, server: DevServer, new_items: bool
) -> None:
    folder_id = server.store.default_folder(USER, CONTACTS)
    for i in range(3):
        server.store.add_item(USER, folder_id, person(i))
    config = write_config(tmp_path, server.url)
    run_cli(config, "sync", check=True)

    server.faults.endless_more(new_items=new_items)
    before = server.requests["Sync"]
    proc = run_cli(config, "sync", timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "MoreAvailable" in proc.stderr
    assert "Contacts" in proc.stderr  # names the folder
    # bounded by rounds: 3 idle ones, or the estimate (8 rounds, then what it said)
    assert server.requests["Sync"] - before <= (3 if not new_items else 20)

    # what came is stored; once the server behaves, the next pass goes on from there
    server.faults.clear()
    run_cli(config, "sync", check=True)
    assert NO_OP in run_cli(config, "sync", check=True).stdout
    local = local_names(tmp_path / "contacts")
    assert local == server_names(server.store, folder_id)
    assert all(count == 1 for count in local.values())
