"""Right diagnoses (issue 16, item 3): an https:// URL at a plain-HTTP port is "this
port does not speak TLS", not a certificate problem; a YAML syntax error points where
the problem starts; a refused connection to this machine fails at once, a retried one
says "retrying" at the default level; autodiscover tells each URL tried in one line.
"""

from __future__ import annotations

import logging
import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from eassync.configschema import load_yaml
from eassync.eas.autodiscover import AutodiscoverError
from eassync.eas.client import AccountSettings, EasClient
from eassync.eas.transport import RetryPolicy
from eassync.errors import ConfigError, TLSError, TransportError


class _Plain(BaseHTTPRequestHandler):
    def do_OPTIONS(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def plain_port() -> Iterator[int]:
    """A plain-HTTP server on loopback."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Plain)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


def _client(url: str, tmp_path: Path, sleeps: list[float] | None = None) -> EasClient:
    policy = RetryPolicy() if sleeps is None else RetryPolicy(sleep=sleeps.append)
    settings = AccountSettings(
        name="work",
        url=url,
        username="alice",
        password="pw",
        state_dir=tmp_path,
        retry=policy,
    )
    return EasClient(settings)


def test_https_at_a_plain_http_port_is_not_a_certificate_problem(
    plain_port: int, tmp_path: Path
) -> None:
    url = f"https://127.0.0.1:{plain_port}/Microsoft-Server-ActiveSync"
    with _client(url, tmp_path) as client, pytest.raises(TLSError) as err:
        client.folder_sync()
    text = str(err.value)
    assert f"127.0.0.1:{plain_port} does not speak TLS" in text
    assert "certificate" not in text
    assert err.value.hint is not None
    assert "private CA" not in err.value.hint
    assert "http://" in err.value.hint


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again: nothing listens there


def test_a_refused_loopback_connection_fails_at_once(tmp_path: Path) -> None:
    """Nothing listens on this machine's port: 6.4 s of silent retries helped nobody."""
    sleeps: list[float] = []
    url = f"http://127.0.0.1:{_closed_port()}/Microsoft-Server-ActiveSync"
    started = time.monotonic()
    with _client(url, tmp_path, sleeps) as client, pytest.raises(TransportError) as err:
        client.folder_sync()
    assert time.monotonic() - started < 2.0
    assert sleeps == []
    assert "Connection refused" in str(err.value)
    assert "nothing listens" in str(err.value.hint)


class _Hangup(threading.Thread):
    """Accepts connections and closes them at once: a server that drops requests."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.close()


def test_a_retry_says_retrying_at_the_default_level(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = _Hangup()
    server.start()
    sleeps: list[float] = []
    url = f"http://127.0.0.1:{server.port}/Microsoft-Server-ActiveSync"
    try:
        with (
            caplog.at_level(logging.WARNING),
            _client(url, tmp_path, sleeps) as client,
            pytest.raises(TransportError),
        ):
            client.folder_sync()
    finally:
        server.sock.close()
    assert sleeps  # waited between tries
    retrying = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert retrying
    assert all(r.levelno == logging.WARNING for r in retrying)
    assert any(f"{sleeps[0]:g} s" in r.getMessage() for r in retrying)


def _yaml_problem(text: str) -> str:
    with pytest.raises(ConfigError) as err:
        load_yaml(textwrap.dedent(text), "config.yaml")
    assert len(err.value.problems) == 1
    return err.value.problems[0]


def test_an_unclosed_quote_points_where_it_opens_not_at_the_end() -> None:
    problem = _yaml_problem(
        """\
        general:
          status_dir: "/tmp/x
        accounts:
          a:
            url: http://x/
        """
    )
    assert problem.startswith("config.yaml:2:15: ")
    # PyYAML's own words, both places kept
    assert "while scanning a quoted scalar in line 2, column 15" in problem
    assert "found unexpected end of stream in line 6, column 1" in problem


def test_an_unclosed_flow_list_points_where_it_opens() -> None:
    problem = _yaml_problem(
        """\
        accounts:
          a: [1, 2
          b: 3
        """
    )
    assert problem.startswith("config.yaml:2:6: ")
    assert "in line 3, column 4" in problem


def test_a_problem_without_context_keeps_its_place() -> None:
    problem = _yaml_problem(
        """\
        accounts:
          a: b: c
        """
    )
    assert problem.startswith("config.yaml:2:7: mapping values are not allowed here")


def test_a_bad_indentation_points_at_the_line_not_the_mapping_start() -> None:
    problem = _yaml_problem(
        """\
        accounts:
          a:
            url: x
           bad: 1
        """
    )
    assert problem.startswith("config.yaml:4:4: while parsing a block mapping in line 2, ")


def test_autodiscover_tells_each_url_tried_in_one_short_line() -> None:
    """Real sockets: nothing listens on localhost:443 or :80 (refused), and what
    autodiscover.localhost resolves to refuses too, or it does not resolve."""
    from eassync.eas.auth import BasicAuth
    from eassync.eas.autodiscover import Autodiscover

    ad = Autodiscover(
        "alice@localhost",
        auth=BasicAuth("alice", "pw"),
        account="work",
        trust=(),
        verify=True,
        timeout=5,
        srv_lookup=lambda name: [],
    )
    with pytest.raises(AutodiscoverError) as err:
        ad.discover()
    attempts = err.value.attempts
    assert len(attempts) >= 4
    for attempt in attempts:
        # the reason, not urllib3's pool message cut mid-word
        assert "Max retries" not in attempt.outcome, attempt
        assert "Pool" not in attempt.outcome, attempt
        assert not attempt.outcome.endswith("..."), attempt
    assert "Max retries" not in str(err.value)
    # one line per URL, printed under the error (eassync.cli.report_error)
    assert len(err.value.details) == len(attempts)
    for line, attempt in zip(err.value.details, attempts, strict=True):
        assert attempt.url in line
        assert "\n" not in line


def test_report_error_prints_each_detail_line(capsys: pytest.CaptureFixture[str]) -> None:
    from eassync.cli import report_error
    from eassync.eas.autodiscover import Attempt

    exc = AutodiscoverError(
        "autodiscover found nothing",
        attempts=[Attempt("POST", "https://a.test/x", "cannot connect (Connection refused)")],
    )
    assert report_error(exc) == 1
    err = capsys.readouterr().err
    assert "  POST https://a.test/x: cannot connect (Connection refused)\n" in err
