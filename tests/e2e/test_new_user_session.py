"""Issue 16, done-when: a session of commands run as a new user would, in order,
passes without a traceback or a message that names an internal id.

Against the devserver: help, init, check, discover, a dry run, the first sync, status,
a sync with nothing to do, an edited card, doctor, watch (a server change arrives, then
Ctrl-C), and the mistakes a new user makes (wrong password, unknown pair, a mistyped
collection, init twice). Each step exits as man eassync(1) says: EXIT STATUS.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from eassync.demo_data import contact
from tests.e2e.helpers import PASSWORD, USER, DevServer, person

#: words that name an id of the protocol or of the status, not of a person's world
INTERNAL_WORDS = re.compile(r"\b(ServerId|ClientId|CollectionId|SyncKey|row ?id|rowid)\b", re.I)


@dataclass
class Session:
    """A new user's shell: a home of their own, the password in the environment the
    written config names, the devserver's ids to look for in every output."""

    home: Path
    env: dict[str, str]
    ids: set[str] = field(default_factory=set)
    folder_ids: set[str] = field(default_factory=set)
    transcript: list[str] = field(default_factory=list)

    def run(
        self, *args: str, code: int, env: dict[str, str] | None = None, ids: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "eassync", *args],
            capture_output=True,
            text=True,
            env=env or self.env,
            cwd=self.home,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        self.check(args, proc.returncode, proc.stdout, proc.stderr, code, ids=ids)
        return proc

    def check(
        self, args: tuple[str, ...], rc: int, out: str, err: str, code: int, *, ids: bool = True
    ) -> None:
        shown = f"$ eassync {' '.join(args)}  → {rc}\n{out}{err}"
        self.transcript.append(shown)
        assert rc == code, shown
        assert "Traceback" not in out + err, shown
        if not ids:
            return
        for line in (out + err).splitlines():
            assert not INTERNAL_WORDS.search(line), line
            words = set(re.findall(r"[\w:]+", line))
            # an item's ServerId (F:N) never; a folder's ServerId only where discover
            # lists it for {folder_id: ...} selectors, as "id N"
            assert not words & self.ids, line
            if args[:1] != ("discover",):
                quoted = set(re.findall(r"[/'\"](\d+)\b", line))
                assert not quoted & self.folder_ids, line


def server_ids(srv: DevServer) -> tuple[set[str], set[str]]:
    """Every item ServerId (``F:N``) and every folder ServerId the devserver holds."""
    folders: set[str] = set()
    items: set[str] = set()
    for folder_type in (7, 8, 9):
        folder = srv.store.default_folder(USER, folder_type)
        folders.add(folder)
        items |= set(srv.store.items(USER, folder))
    return items, folders


def wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_a_new_user_session(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".local/state"),
        XDG_DATA_HOME=str(home / ".local/share"),
        EASSYNC_STATE_DIR=str(home / ".local/state/eassync"),
        EASSYNC_PASSWORD=PASSWORD,
    )
    env.pop("EASSYNC_CONFIG", None)
    user = Session(home, env)
    config = home / ".config" / "eassync" / "config.yaml"
    contacts = home / ".local/share/eassync/contacts"

    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        srv.store.add_items_bulk(
            USER, srv.store.default_folder(USER, 9), [person(i) for i in range(5)]
        )
        user.ids, user.folder_ids = server_ids(srv)

        helped = user.run("--help", code=0)
        assert "init" in helped.stdout
        assert "sync" in helped.stdout

        # no config yet: every command says how to make one
        missing = user.run("sync", code=2)
        assert "eassync init" in missing.stderr

        user.run("init", "--url", srv.url, "--username", USER, code=0)
        assert config.exists()
        user.run("init", code=2)  # never over the file just written

        checked = user.run("check", code=0)
        assert "pairs (3):" in checked.stdout
        assert "verify TLS: no (plain http" in checked.stdout  # never "yes" for http://

        found = user.run("discover", code=0)
        assert "Contacts" in found.stdout

        planned = user.run("sync", "--dry-run", code=0)
        assert "(dry run)" in planned.stdout
        assert not contacts.exists() or not list(contacts.iterdir())

        first = user.run("sync", code=0)
        assert "contacts/Contacts: local +5" in first.stdout, first.stdout
        assert len(list(contacts.glob("*.vcf"))) == 5

        status = user.run("status", code=0)
        assert "contacts" in status.stdout

        again = user.run("sync", code=0)
        assert "local +0 ~0 -0, remote +0 ~0 -0" in again.stdout

        card = sorted(contacts.glob("*.vcf"))[0]
        card.write_text(card.read_text("utf-8").replace("Example", "Edited"), encoding="utf-8")
        edited = user.run("sync", code=0)
        assert "contacts/Contacts: local +0 ~0 -0, remote +0 ~1 -0" in edited.stdout

        user.run("doctor", code=0)

        # watch: a card added on the server arrives by itself; Ctrl-C stops it cleanly
        watch = subprocess.Popen(
            [sys.executable, "-m", "eassync", "watch"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=home,
        )
        try:
            time.sleep(3)  # its first pass and the Ping it then waits in
            srv.store.add_item(
                USER,
                srv.store.default_folder(USER, 9),
                contact({"FirstName": "Live", "LastName": "Arrival", "FileAs": "Arrival, Live"}),
            )
            user.ids, user.folder_ids = server_ids(srv)
            arrived = wait_for(lambda: len(list(contacts.glob("*.vcf"))) == 6, 60)
            watch.send_signal(signal.SIGINT)
            out, err = watch.communicate(timeout=60)
        finally:
            if watch.poll() is None:
                watch.kill()
        user.check(("watch",), watch.returncode, out, err, 0)
        assert arrived, "watch did not bring the new server card"

        wrong = dict(env, EASSYNC_PASSWORD="not-the-password")
        refused = user.run("sync", code=2, env=wrong)
        assert "wrong username or password" in refused.stderr
        assert "eassync doctor" in refused.stderr  # the next step, not a config key

        unknown = user.run("sync", "nope", code=2)
        assert "no pair named 'nope'" in unknown.stderr
        assert "contacts" in unknown.stderr

        typo = user.run("sync", "contacts/Nope", code=2)
        assert "collections of contacts: 'Contacts'" in typo.stderr

        # the manual explains the protocol's terms (SyncKey …): read, not checked for them
        manual = user.run("man", code=0, ids=False)
        assert "EXIT STATUS" in manual.stdout
    Path(os.environ.get("SESSION_TRANSCRIPT", "/dev/null")).write_text("\n".join(user.transcript))
