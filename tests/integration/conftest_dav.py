"""Real Radicale and Xandikos servers on 127.0.0.1 for the CalDAV/CardDAV tests.

Each server runs as a subprocess of the test session on a free loopback port, with
its own data folder under pytest's tmp dir. Under ``CI`` a server that cannot start
fails the tests (a skip there would hide a broken setup); elsewhere they skip.

Import the fixtures into a test module: ``from tests.integration.conftest_dav import
radicale, xandikos  # noqa: F401``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from eassync.storage.dav import KIND_COMPONENT, DavSession, DavStorage, create_collection

RADICALE_USER = "alice"
RADICALE_PASSWORD = "secret"
STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server did not listen on port {port}: {log.read_text()[-2000:]}")


@dataclass
class DavServer:
    """One running server: where its homes are and how to log in."""

    name: str
    base_url: str
    #: kind ("caldav"/"carddav") → home set URL
    homes: dict[str, str]
    username: str | None
    password: str | None
    proc: subprocess.Popen[bytes]

    def session(self, dav_type: str = "caldav") -> DavSession:
        return DavSession(
            username=self.username,
            password=self.password,
            label="CardDAV" if dav_type == "carddav" else "CalDAV",
        )

    def new_collection(self, dav_type: str, component: str | None = None) -> str:
        """A fresh empty collection (calendar with ``component``, or address book)."""
        session = self.session(dav_type)
        try:
            name = "test-" + uuid.uuid4().hex[:12]
            return create_collection(session, self.homes[dav_type], dav_type, name, component)
        finally:
            session.close()

    def new_storage(self, item_type: str) -> DavStorage:
        """An empty storage for a contract item type: VCARD, VEVENT or VTODO."""
        dav_type = "carddav" if item_type == "VCARD" else "caldav"
        component = None if item_type == "VCARD" else item_type
        url = self.new_collection(dav_type, component)
        return DavStorage(self.session(dav_type), url, dav_type, component=component)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


#: Radicale rights (``type = from_file``) under which the user can read but not write
#: the items of their collections: every PUT is answered 403
READ_ONLY_RIGHTS = """\
[root]
user: .+
collection:
permissions: R
[principal]
user: .+
collection: {user}
permissions: RW
[items]
user: .+
collection: {user}/[^/]+
permissions: r
"""


def start_radicale(folder: Path, *, port: int | None = None, read_only: bool = False) -> DavServer:
    """Radicale with one htpasswd (plain) user and owner-only rights (``read_only``:
    the user's collections cannot be written: PUT → 403). ``port``: reuse a port, to
    restart a server over the same folder under other rights."""
    if shutil.which("radicale") is None and not _importable("radicale"):
        raise RuntimeError("Radicale is not installed (pip install radicale)")
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    htpasswd = folder / "users"
    htpasswd.write_text(f"{RADICALE_USER}:{RADICALE_PASSWORD}\n")
    rights = "type = owner_only"
    if read_only:
        (folder / "rights").write_text(READ_ONLY_RIGHTS)
        rights = f"type = from_file\n            file = {folder / 'rights'}"
    config = folder / "config"
    config.write_text(
        textwrap.dedent(
            f"""\
            [server]
            hosts = 127.0.0.1:{port}
            [auth]
            type = htpasswd
            htpasswd_filename = {htpasswd}
            htpasswd_encryption = plain
            delay = 0
            [rights]
            {rights}
            [storage]
            filesystem_folder = {folder / "collections"}
            [logging]
            level = warning
            """
        )
    )
    log = folder / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    _wait_for_port(proc, port, log)
    base = f"http://127.0.0.1:{port}/"
    home = f"{base}{RADICALE_USER}/"
    server = DavServer(
        "radicale",
        base,
        {"caldav": home, "carddav": home},
        RADICALE_USER,
        RADICALE_PASSWORD,
        proc,
    )
    # Radicale creates a user's principal collection on the first authenticated request
    session = server.session()
    session.request("PROPFIND", home, depth="0")
    session.close()
    return server


def start_xandikos(folder: Path) -> DavServer:
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = folder / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "xandikos",
                "serve",
                "--defaults",
                "--no-detect-systemd",
                "-d",
                str(folder / "data"),
                "--state-dir",
                str(folder / "state"),
                "-l",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    _wait_for_port(proc, port, log)
    base = f"http://127.0.0.1:{port}/"
    return DavServer(
        "xandikos",
        base,
        {"caldav": f"{base}user/calendars/", "carddav": f"{base}user/contacts/"},
        None,
        None,
        proc,
    )


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _start_or_skip(name: str, start: object, folder: Path) -> DavServer:
    try:
        return start(folder)  # type: ignore[operator, no-any-return]
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{name} could not start: {exc}")
        pytest.skip(f"{name} could not start: {exc}")


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    server = _start_or_skip("Radicale", start_radicale, tmp_path_factory.mktemp("radicale"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def xandikos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    server = _start_or_skip("Xandikos", start_xandikos, tmp_path_factory.mktemp("xandikos"))
    yield server
    server.stop()


__all__ = ["KIND_COMPONENT", "DavServer", "radicale", "xandikos"]
