"""What ``eassync sync`` prints, through the real CLI in a real process: one line per
item changed by default (``-q``: only the summary of what moved), a live progress line
and colour on a terminal (a pseudo-terminal here), none of it in a pipe, and no
colour with ``NO_COLOR``."""

from __future__ import annotations

import errno
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from eassync.devserver import DevServer

from .helpers import NO_OP, PASSWORD, USER, cli_env, person, run_cli, write_config, write_local_card

GREEN = "\x1b[32m"
RED = "\x1b[31m"
SGR = re.compile(r"\x1b\[[0-9;]*m")
#: the live line: "\r" + text + erase to the end of the line
LIVE = re.compile(r"\r(contacts/Contacts: [^\r\x1b]*)\x1b\[K")


def run_in_terminal(config: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run the CLI with stdout and stderr on a pseudo-terminal; all it wrote."""
    main, sub = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "eassync", "-c", str(config), *args],
        stdin=subprocess.DEVNULL,
        stdout=sub,
        stderr=sub,
        env=env or cli_env(),
    )
    os.close(sub)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError as exc:  # EIO: the child closed the terminal
            if exc.errno != errno.EIO:
                raise
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    assert proc.wait(timeout=120) in (0, 1)
    return b"".join(chunks).decode("utf-8", "replace")


def _terminal_env(**extra: str) -> dict[str, str]:
    env = cli_env()
    env.pop("NO_COLOR", None)
    env.update(extra)
    return env


def test_default_output_is_one_line_per_item_changed_and_q_keeps_the_summary(
    tmp_path: Path,
) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder = srv.store.default_folder(USER, 9)
        for i in range(3):
            srv.store.add_item(USER, folder, person(i))
        write_local_card(tmp_path / "contacts", "mine-1", "Mine")
        config = write_config(tmp_path, srv.url)

        first = run_cli(config, "sync", check=True)
        lines = first.stdout.splitlines()
        for i in range(3):
            assert f"contacts/Contacts: add local: Example, Person{i:05d}" in lines
        assert "contacts/Contacts: add remote: Mine Local" in lines
        assert "contacts/Contacts: local +3 ~0 -0, remote +1 ~0 -0" in lines
        assert "\x1b" not in first.stdout + first.stderr  # a pipe: no escape codes

        srv.store.add_item(USER, folder, person(7))
        quiet = run_cli(config, "-q", "sync", check=True)
        assert quiet.stdout.splitlines() == ["contacts/Contacts: local +1 ~0 -0, remote +0 ~0 -0"]
        assert quiet.stderr == ""
        # -q and nothing moved: nothing at all (cron mails nothing)
        assert run_cli(config, "-q", "sync", check=True).stdout == ""
        assert NO_OP in run_cli(config, "sync", check=True).stdout


def test_on_a_terminal_changes_are_green_and_a_live_line_counts_done_of_total(
    tmp_path: Path,
) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder = srv.store.default_folder(USER, 9)
        # more than one window (512): the server is asked how many items come
        srv.store.add_items_bulk(USER, folder, [person(i) for i in range(600)])
        config = write_config(tmp_path, srv.url)

        shown = run_in_terminal(config, "sync", env=_terminal_env())

        assert f"{GREEN}contacts/Contacts: add local: Example, Person00000" in shown
        live = LIVE.findall(shown)
        assert live, shown[-2000:]
        assert any(re.fullmatch(r"contacts/Contacts: \d+/600 items, \d+/s", t) for t in live)
        # the live line is erased at the end: the summary follows a clean line
        tail = shown[shown.rindex("\x1b[K") :]
        assert "contacts/Contacts: local +600 ~0 -0, remote +0 ~0 -0" in tail


def test_no_color_keeps_a_terminal_free_of_colour(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        srv.store.add_item(USER, srv.store.default_folder(USER, 9), person(1))
        config = write_config(tmp_path, srv.url)
        shown = run_in_terminal(config, "sync", env=_terminal_env(NO_COLOR="1"))
        assert "contacts/Contacts: add local: Example, Person00001" in shown
        assert not SGR.search(shown)


def test_q_on_a_terminal_shows_no_live_line_and_no_item_lines(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        for i in range(3):
            srv.store.add_item(USER, srv.store.default_folder(USER, 9), person(i))
        config = write_config(tmp_path, srv.url)
        shown = run_in_terminal(config, "-q", "sync", env=_terminal_env())
        assert "contacts/Contacts: local +3 ~0 -0, remote +0 ~0 -0" in shown
        assert "add local" not in shown
        assert "\x1b" not in shown


def test_a_failure_is_red_on_a_terminal(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        srv.store.add_item(USER, srv.store.default_folder(USER, 9), person(1))
        config = write_config(tmp_path, srv.url)
        run_cli(config, "sync", check=True)
        bad = tmp_path / "contacts" / "broken.vcf"
        bad.write_text("BEGIN:VCARD\r\nVERSION:3.0\r\nN:;;;;\r\nBEGIN:VCARD\r\n")
        shown = run_in_terminal(config, "sync", env=_terminal_env())
        assert re.search(re.escape(RED) + r"contacts/Contacts: FAILED local broken", shown), shown
