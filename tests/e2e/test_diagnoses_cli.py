"""Right diagnoses through the real CLI (issue 16, item 3): an https:// URL at the
devserver's plain-HTTP port, and a refused connection to this machine."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from eassync.devserver import DevServer

from .helpers import PASSWORD, USER, run_cli, write_config


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    with DevServer(tmp_path_factory.mktemp("server"), users={USER: PASSWORD}) as srv:
        yield srv


def test_https_at_a_plain_http_port_says_the_port_does_not_speak_tls(
    tmp_path: Path, server: DevServer
) -> None:
    url = server.url.replace("http://", "https://")
    config = write_config(tmp_path, url)
    for args in (["sync"], ["doctor", "dev"]):
        done = run_cli(config, *args)
        text = done.stdout + done.stderr
        assert done.returncode == 1, text
        assert f"127.0.0.1:{server.port} does not speak TLS" in text
        assert "private CA" not in text
        assert "certificate" not in text


def test_a_refused_loopback_port_is_told_at_once(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    config = write_config(tmp_path, f"http://127.0.0.1:{port}/Microsoft-Server-ActiveSync")
    started = time.monotonic()
    done = run_cli(config, "sync")
    took = time.monotonic() - started
    assert done.returncode == 75, done.stderr
    assert "Connection refused" in done.stderr
    assert f"nothing listens on 127.0.0.1:{port}" in done.stderr
    assert took < 4.0  # was 6.4 s of silent retries (the process start included)
