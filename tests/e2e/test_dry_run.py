"""``sync --dry-run`` writes nothing anywhere and plans faithfully, through the real CLI.

On a never-synced pair it lists the server's items as local adds (the SyncKey 0
exchange and the first batch, kept in memory) and leaves no vdir folder, no status
file, no state dir and no account state behind, so ``status`` still says "never
synced" and the real first sync does what the plan said. On a synced pair the status
file is not touched (not even migrated, no ``-wal``/``-shm`` left).
"""

from __future__ import annotations

import os
from pathlib import Path

from eassync.config import load_config
from eassync.devserver import DevServer

from .helpers import PASSWORD, USER, SyncedPair, person, run_cli, write_config, write_local_card


def _user_home() -> Path:
    """The fake home of the test (tests/conftest.py): every XDG dir lives in it."""
    return Path(os.environ["XDG_CONFIG_HOME"]).parent


def _tree(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``roots`` but the devserver's own data: path →
    (size, mtime_ns) (0 for folders)."""
    out: dict[str, tuple[int, int]] = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            if dirpath == str(root):
                dirnames[:] = [d for d in dirnames if d != "server"]
            for name in dirnames:
                out[os.path.join(dirpath, name)] = (0, 0)
            for name in filenames:
                st = os.stat(os.path.join(dirpath, name))
                out[os.path.join(dirpath, name)] = (st.st_size, st.st_mtime_ns)
    return out


def test_dry_run_of_a_never_synced_pair_plans_the_first_sync_and_writes_nothing(
    tmp_path: Path,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder = srv.store.default_folder(USER, 9)
        for i in range(6):
            srv.store.add_item(USER, folder, person(i))
        config = write_config(work, srv.url)
        state_dir = load_config(config).general.status_dir
        before = _tree(work, _user_home())

        plan = run_cli(config, "sync", "--dry-run", check=True)

        assert _tree(work, _user_home()) == before
        assert not state_dir.exists()
        assert not (work / "contacts").exists()
        assert "(dry run) contacts/Contacts: local +6 ~0 -0, remote +0 ~0 -0" in plan.stdout
        for i in range(6):
            assert f"Contacts: add local: Example, Person{i:05d}" in plan.stdout, plan.stdout
        assert "never synced" in run_cli(config, "status", check=True).stdout

        real = run_cli(config, "sync", check=True)
        assert "contacts/Contacts: local +6 ~0 -0, remote +0 ~0 -0" in real.stdout
        assert len(list((work / "contacts").glob("*.vcf"))) == 6


def test_dry_run_of_a_synced_pair_leaves_every_file_as_it_was(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        pair = SyncedPair(tmp_path, srv)
        srv.store.add_item(USER, pair.folder_id, person(77, "New"))
        write_local_card(pair.local, "fresh", "Fresh")
        before = _tree(tmp_path, _user_home())

        plan = run_cli(pair.config, "sync", "--dry-run", check=True)

        assert _tree(tmp_path, _user_home()) == before
        assert "Contacts: add local: Example, New00077" in plan.stdout
        assert "Contacts: add remote: Fresh Local" in plan.stdout  # by name, as a real run
        assert "(dry run) contacts/Contacts: local +1 ~0 -0, remote +1 ~0 -0" in plan.stdout
        real = run_cli(pair.config, "sync", check=True)
        assert "contacts/Contacts: local +1 ~0 -0, remote +1 ~0 -0" in real.stdout


def test_dry_run_of_a_new_folder_under_all_creates_no_subfolder(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        family = srv.store.add_folder(USER, "Family", 14)
        srv.store.add_item(USER, family, person(1, "Fam"))
        config = write_config(tmp_path, srv.url)
        config.write_text(
            config.read_text().replace("{default: contacts}", "{all: contacts}"),
            encoding="utf-8",
        )
        (tmp_path / "contacts").mkdir()
        before = _tree(tmp_path, _user_home())
        plan = run_cli(config, "sync", "--dry-run", check=True)
        assert _tree(tmp_path, _user_home()) == before
        assert "Family: add local: Example, Fam00001" in plan.stdout


def test_plan_and_real_run_name_items_alike_and_a_broken_file_by_its_name(
    tmp_path: Path,
) -> None:
    """Issue 16 item 7: a new event by its summary in the plan and in the run, a broken
    ``.ics`` by its file name (its half-read summary said ``bad (?)``)."""
    from .cal_helpers import write_cal_config

    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        config = write_cal_config(tmp_path / "dev", srv.url)
        run_cli(config, "sync", check=True)
        calendar = next((tmp_path / "dev" / "calendars").iterdir())
        (calendar / "new.ics").write_text(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\n"
            "UID:new-uid-1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20270101T100000Z\r\n"
            "DTEND:20270101T110000Z\r\nSUMMARY:Lunch\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            encoding="utf-8",
        )
        (calendar / "broken.ics").write_text(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\n"
            "UID:b\r\nSUMMARY:bad\r\nDTSTART:garbage\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            encoding="utf-8",
        )
        for args in (("sync", "--dry-run"), ("-v", "sync")):
            out = run_cli(config, *args)
            assert out.returncode == 1, out.stderr
            assert "Calendar: add remote: Lunch (2027-01-01T10:00:00+00:00)" in out.stdout
            assert "new-uid-1" not in out.stdout + out.stderr
            assert "FAILED local broken.ics: VEVENT without a readable DTSTART" in out.stderr
            assert "bad (?)" not in out.stderr
