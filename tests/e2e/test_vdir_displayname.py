"""Calendar names khal shows, through the real CLI (``remote: {all: calendar}``): each
local calendar folder gets a ``displayname`` file holding its server folder's name
(vdirsyncer's metasync format: UTF-8, no trailing newline), a server rename is
followed while the file is still eassync's, a user's own name is kept, server names
lose their control characters, and a dry run writes nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

from eassync.devserver import DevServer
from tests.readers import needs_khal

from .cal_helpers import calendar_dir, run_device, write_cal_config
from .helpers import NO_OP, PASSWORD, USER


def _name(folder: Path) -> bytes:
    return (folder / "displayname").read_bytes()


def test_calendar_folders_carry_the_server_names_and_keep_the_users(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        default = srv.store.default_folder(USER, 8)
        work = srv.store.add_folder(USER, "Wörk", 13)
        device = tmp_path / "device"
        config = write_cal_config(device, srv.url)
        run_device(config, "sync")
        assert _name(calendar_dir(device)) == b"Calendar"
        assert _name(calendar_dir(device, "Wörk")) == "Wörk".encode()

        # the user names the default calendar; the server renames both folders
        (calendar_dir(device) / "displayname").write_text("Mine", encoding="utf-8")
        srv.store.update_folder(USER, default, "Kalender")
        srv.store.update_folder(USER, work, "Office\x1b]0;pwned\x07\r\nnow")

        dry = run_device(config, "sync", "--dry-run")
        assert "renamed" in dry.stderr
        assert _name(calendar_dir(device, "Wörk")) == "Wörk".encode()  # nothing written

        out = run_device(config, "sync")
        assert f"calendar/Wörk: {NO_OP}" in out.stdout
        assert _name(calendar_dir(device)) == b"Mine"
        # followed (the subfolder keeps its name), without the escape and line break
        assert _name(calendar_dir(device, "Wörk")) == b"Office]0;pwned now"

        before = (calendar_dir(device, "Wörk") / "displayname").stat()
        run_device(config, "sync")
        after = (calendar_dir(device, "Wörk") / "displayname").stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
        # the metadata file is never taken for an item
        assert sorted(p.name for p in calendar_dir(device, "Wörk").iterdir()) == ["displayname"]
        assert srv.store.count_items(USER, work) == 0


def test_a_to_remote_pair_leaves_the_local_folder_alone(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        device = tmp_path / "device"
        config = write_cal_config(device, srv.url)
        text = config.read_text(encoding="utf-8")
        pair = "    local: calendars\n"
        config.write_text(text.replace(pair, pair + "    direction: to_remote\n"), encoding="utf-8")
        run_device(config, "sync")
        assert not (calendar_dir(device) / "displayname").exists()


@needs_khal
def test_khal_lists_the_calendars_by_their_server_names(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        srv.store.add_folder(USER, "Team Événements", 13)
        device = tmp_path / "device"
        run_device(write_cal_config(device, srv.url), "sync")
    khal_conf = tmp_path / "khal.conf"
    khal_conf.write_text(
        f"[calendars]\n[[eas]]\npath = {device / 'calendars'}/*\ntype = discover\n"
        "[locale]\nlocal_timezone = UTC\ndefault_timezone = UTC\n",
        encoding="utf-8",
    )
    out = subprocess.run(
        ["khal", "-c", str(khal_conf), "printcalendars"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert sorted(out.stdout.splitlines()) == ["Calendar", "Team Événements"]
