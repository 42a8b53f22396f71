"""Fixtures for integration tests against real servers.

SOGo (``tests/servers/sogo/start``): the session fixture ``sogo`` starts the harness
(or reuses a running one) and stops it at the end only if this session started it and
no other pytest process still uses it (they all hold a shared lock, SESSIONS_LOCK).
If SOGo cannot be started the SOGo tests are skipped, except under ``CI`` where that
is a failure. ``EASSYNC_NO_SOGO=1`` skips them on purpose (never in CI);
``SOGO_KEEP=1`` leaves a harness this session started running.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.conftest_horde import horde, horde_account  # noqa: F401
from tests.integration.sogo_dav import CALENDAR, CONTACTS, SogoDav

HARNESS = Path(__file__).resolve().parents[1] / "servers" / "sogo"
#: Held shared by every pytest process that uses the harness (one harness per machine).
SESSIONS_LOCK = "/run/lock/eassync-sogo-harness-sessions.lock"

#: Where ``sogo_account`` starts looking for a free user: round robin over the users.
_next_user = 0


@dataclass(frozen=True)
class SogoServer:
    base_url: str  # http://127.0.0.1:<port>/SOGo
    eas_url: str  # <base_url>/Microsoft-Server-ActiveSync
    users: dict[str, str]  # user -> password
    log: Path
    harness_dir: Path
    env: dict[str, str] = field(repr=False)

    def dav_url(self, user: str | None = None) -> str:
        """The DAV root (``<base_url>/dav``) or one user's home (``…/dav/<user>/``)."""
        root = f"{self.base_url}/dav"
        return root if user is None else f"{root}/{user}/"

    def dav(self, user: str) -> SogoDav:
        return SogoDav(self.dav_url(), user, self.users[user])


@dataclass(frozen=True)
class SogoAccount:
    """One SOGo user whose personal address book and calendar are empty at the start."""

    server: SogoServer
    user: str
    password: str
    dav: SogoDav

    def contacts_config(self, folder: Path) -> Path:
        """``folder/config.yaml`` whose pair ``contacts`` syncs this user's address
        book over EAS with the vdir ``folder/contacts`` (mode 0600: it holds the
        password)."""
        from tests.e2e.helpers import write_contacts_config

        config = write_contacts_config(
            folder,
            f"url: {self.server.eas_url}\nusername: {self.user}\npassword: {self.password}\n",
            name="sogo",
        )
        config.chmod(0o600)
        return config


def _parse_env(text: str) -> dict[str, str]:
    env = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.startswith("SOGO_"):
            env[key] = value
    return env


def _cannot_start(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"SOGo harness unavailable in CI: {reason}", pytrace=False)
    pytest.skip(f"SOGo harness unavailable: {reason}")


@pytest.fixture(scope="session")
def sogo() -> Iterator[SogoServer]:
    if os.environ.get("EASSYNC_NO_SOGO") and not os.environ.get("CI"):
        pytest.skip("EASSYNC_NO_SOGO is set")
    if os.geteuid() != 0:
        _cannot_start("tests/servers/sogo/start needs root")
    # Every pytest process using the harness holds this lock shared, from before its
    # start until its end, so that a process that started the harness stops it only
    # when no other one still uses it.
    sessions_fd = os.open(SESSIONS_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(sessions_fd, fcntl.LOCK_SH)
    server = None
    try:
        server = _start_harness()
        yield server
    finally:
        os.close(sessions_fd)
        if server and server.env.get("SOGO_STARTED") == "1" and not os.environ.get("SOGO_KEEP"):
            _stop_unless_in_use(server.harness_dir)


def _start_harness() -> SogoServer:
    try:
        result = subprocess.run(
            [str(HARNESS / "start")],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        _cannot_start(f"tests/servers/sogo/start: {exc}")
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        _cannot_start(f"tests/servers/sogo/start exited {result.returncode}:\n{tail}")
    env = _parse_env(result.stdout)
    users = dict(entry.split(":", 1) for entry in env["SOGO_USERS"].split())
    return SogoServer(
        base_url=env["SOGO_BASE_URL"],
        eas_url=env["SOGO_EAS_URL"],
        users=users,
        log=Path(env["SOGO_LOG"]),
        harness_dir=Path(env["SOGO_HARNESS_DIR"]),
        env=env,
    )


def _stop_unless_in_use(harness_dir: Path) -> None:
    fd = os.open(SESSIONS_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another pytest process still uses it: leave it running
        subprocess.run(
            [str(HARNESS / "stop")],
            capture_output=True,
            timeout=120,
            check=False,
            env={**os.environ, "SOGO_HARNESS_DIR": str(harness_dir)},
        )
    finally:
        os.close(fd)


def _claim_user(server: SogoServer) -> tuple[str, int]:
    """A user no other test (in this or another pytest process) holds, and the fd of
    its lock file; the lock goes when the fd is closed."""
    global _next_user
    lock_dir = server.harness_dir / "user-locks"
    lock_dir.mkdir(mode=0o700, exist_ok=True)
    names = sorted(server.users)
    deadline = time.monotonic() + 300
    while True:
        for offset in range(len(names)):
            user = names[(_next_user + offset) % len(names)]
            fd = os.open(lock_dir / f"{user}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            _next_user += offset + 1
            return user, fd
        if time.monotonic() > deadline:
            pytest.fail(f"every SOGo test user stayed busy for 300 s ({lock_dir})")
        time.sleep(0.2)


@pytest.fixture
def sogo_account(sogo: SogoServer) -> Iterator[SogoAccount]:
    """A user with an empty personal address book and calendar (tasks included), held
    for this test alone (a file lock, so parallel pytest runs can share the harness).

    Each test also gets a fresh EAS device (the client state lives in the per-test
    EASSYNC_STATE_DIR), so it starts from SyncKey 0.
    """
    user, lock_fd = _claim_user(sogo)
    dav = sogo.dav(user)
    try:
        for collection in (CONTACTS, CALENDAR):
            dav.clear(collection)
        yield SogoAccount(sogo, user, sogo.users[user], dav)
    finally:
        dav.close()
        os.close(lock_fd)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Any test that uses the SOGo fixtures is a SOGo test, marked or not.
    for item in items:
        if {"sogo", "sogo_account"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.sogo)
