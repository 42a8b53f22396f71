"""Fixtures for the tests against a real Horde Groupware 5.2 (``tests/servers/horde``).

The session fixture ``horde`` runs ``tests/servers/horde/start`` (which reuses a running
harness) and at the end ``stop`` only if this session started it and no other pytest
process still uses it (they all hold a shared lock, SESSIONS_LOCK). If Horde cannot be
started its tests are skipped, except under ``CI`` where that is a failure (as for
SOGo). ``EASSYNC_NO_HORDE=1`` skips them on purpose (never in CI); ``HORDE_KEEP=1``
leaves a harness this session started running.

One Horde serves every EAS version up to 16.0: a test picks its version on the client
side (``protocol_version`` of the account, sent as MS-ASProtocolVersion).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.horde_dav import HordeDav

HARNESS = Path(__file__).resolve().parents[1] / "servers" / "horde"
SESSIONS_LOCK = "/run/lock/eassync-horde-harness-sessions.lock"

#: the versions every Horde data-type test runs at
VERSIONS = ["16.0", "14.1"]

_next_user = 0


@dataclass(frozen=True)
class HordeServer:
    base_url: str  # http://127.0.0.1:<port>
    eas_url: str  # <base_url>/Microsoft-Server-ActiveSync
    users: dict[str, str]  # user -> password
    db: Path  # the SQLite database (read it only with :meth:`query`)
    log: Path  # horde.log
    eas_log_dir: Path  # one decoded request/response log per device
    harness_dir: Path
    env: dict[str, str] = field(repr=False)

    def dav(self, user: str) -> HordeDav:
        return HordeDav(self.base_url, user, self.users[user])

    def query(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        """Rows from Horde's SQLite, opened read-only (horde-notes 1)."""
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10) as conn:
            return conn.execute(sql, args).fetchall()


@dataclass(frozen=True)
class HordeAccount:
    """One Horde user whose calendars, task lists and address books are empty."""

    server: HordeServer
    user: str
    password: str
    dav: HordeDav

    def config(self, device: Path, version: str, kind: str) -> Path:
        """``device/config.yaml``: one device (own status dir, so own DeviceId) at EAS
        ``version`` with one pair, ``kind``, between the user's default folder of that
        kind and the vdir ``device/<kind>`` (``contacts``, ``calendar`` or ``tasks``).
        The password comes from ``EASSYNC_TEST_PASSWORD``."""
        ext = ".vcf" if kind == "contacts" else ".ics"
        device.mkdir(parents=True, exist_ok=True)
        (device / kind).mkdir(exist_ok=True)
        config = device / "config.yaml"
        config.write_text(
            textwrap.dedent(
                f"""\
                general:
                  status_dir: {device / "state"}
                accounts:
                  horde:
                    url: {self.server.eas_url}
                    username: {self.user}
                    password: {{env: EASSYNC_TEST_PASSWORD}}
                    protocol_version: "{version}"
                storages:
                  {kind}:
                    type: vdir
                    path: {device / kind}
                    fileext: {ext}
                pairs:
                  {kind}:
                    account: horde
                    remote: {{default: {kind}}}
                    local: {kind}
                    conflict: remote_wins
                """
            )
            + {"calendar": "    calendar_window: all\n", "tasks": "    tasks_filter: all\n"}.get(
                kind, ""
            ),
            encoding="utf-8",
        )
        config.chmod(0o600)
        return config

    @contextmanager
    def stock_exceptions(self) -> Iterator[None]:
        """Within: Horde treats this user's 16.x exceptions as Debian's unpatched Horde
        does (the harness's sixth fix off, tests/servers/horde/setup/prepend.php): an
        Add whose Exceptions carry InstanceId fails with a "Fatal Error" page."""
        marks = self.server.harness_dir / "etc" / "stock-exceptions"
        marks.mkdir(mode=0o755, exist_ok=True)
        mark = marks / self.user
        mark.touch(mode=0o644)
        try:
            yield
        finally:
            mark.unlink(missing_ok=True)

    def sync(self, config: Path, *, check: bool = True) -> str:
        """``eassync sync`` through the real CLI; its stdout and stderr."""
        from tests.e2e.cal_helpers import run_device

        proc = run_device(config, "sync", password=self.password, check=check)
        return proc.stdout + proc.stderr


def _parse_env(text: str) -> dict[str, str]:
    env = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.startswith("HORDE_"):
            env[key] = value
    return env


def _cannot_start(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"Horde harness unavailable in CI: {reason}", pytrace=False)
    pytest.skip(f"Horde harness unavailable: {reason}")


@pytest.fixture(scope="session")
def horde() -> Iterator[HordeServer]:
    if os.environ.get("EASSYNC_NO_HORDE") and not os.environ.get("CI"):
        pytest.skip("EASSYNC_NO_HORDE is set")
    if os.geteuid() != 0:
        _cannot_start("tests/servers/horde/start needs root")
    # Held shared from before the start until the end: a session that started the
    # harness stops it only when no other one still uses it.
    sessions_fd = os.open(SESSIONS_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(sessions_fd, fcntl.LOCK_SH)
    server = None
    try:
        server = _start_harness()
        yield server
    finally:
        os.close(sessions_fd)
        if server and server.env.get("HORDE_STARTED") == "1" and not os.environ.get("HORDE_KEEP"):
            _stop_unless_in_use(server.harness_dir)


def _start_harness() -> HordeServer:
    try:
        result = subprocess.run(
            [str(HARNESS / "start")], capture_output=True, text=True, timeout=900, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        _cannot_start(f"tests/servers/horde/start: {exc}")
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        _cannot_start(f"tests/servers/horde/start exited {result.returncode}:\n{tail}")
    env = _parse_env(result.stdout)
    users = dict(entry.split(":", 1) for entry in env["HORDE_USERS"].split())
    return HordeServer(
        base_url=env["HORDE_BASE_URL"],
        eas_url=env["HORDE_EAS_URL"],
        users=users,
        db=Path(env["HORDE_DB"]),
        log=Path(env["HORDE_LOG"]),
        eas_log_dir=Path(env["HORDE_EAS_LOG_DIR"]),
        harness_dir=Path(env["HORDE_HARNESS_DIR"]),
        env=env,
    )


def _stop_unless_in_use(harness_dir: Path) -> None:
    fd = os.open(SESSIONS_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another pytest process still uses it
        subprocess.run(
            [str(HARNESS / "stop")],
            capture_output=True,
            timeout=120,
            check=False,
            env={**os.environ, "HORDE_HARNESS_DIR": str(harness_dir)},
        )
    finally:
        os.close(fd)


def _claim_user(server: HordeServer) -> tuple[str, int]:
    """A user no other test (here or in another pytest process) holds, and the fd of
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
            pytest.fail(f"every Horde test user stayed busy for 300 s ({lock_dir})")
        time.sleep(0.2)


@pytest.fixture
def horde_account(horde: HordeServer) -> Iterator[HordeAccount]:
    """A user with empty calendars, task lists and address books (deleted over DAV),
    held for this test alone. Each device a test makes has its own status dir, so it
    starts from SyncKey 0 with a DeviceId of its own."""
    user, lock_fd = _claim_user(horde)
    dav = horde.dav(user)
    try:
        dav.clear_all()
        yield HordeAccount(horde, user, horde.users[user], dav)
    finally:
        dav.close()
        os.close(lock_fd)
