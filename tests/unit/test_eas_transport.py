"""The HTTP layer against a scripted HTTP server on 127.0.0.1 (real sockets, real TLS):
what the server says on the wire that the devserver does not normally say."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from eassync.eas import wbxml
from eassync.eas.auth import BasicAuth, BearerAuth
from eassync.eas.client import AccountSettings, EasClient
from eassync.eas.element import E
from eassync.eas.transport import USER_AGENT, RetryPolicy, Transport
from eassync.errors import AuthError, ProtocolError, ServerError, ThrottledError, TLSError
from tests.servers.certs import make_certs

VERSIONS = {"MS-ASProtocolVersions": "2.5,12.0,12.1,14.0,14.1"}


@dataclass
class Canned:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Script:
    """Answers requests from a queue; OPTIONS always answers with the version list."""

    def __init__(self) -> None:
        self.queue: list[Canned] = []
        self.seen: list[Seen] = []
        self.options = dict(VERSIONS)

    def next(self, method: str) -> Canned:
        if method == "OPTIONS":
            return Canned(200, dict(self.options))
        return self.queue.pop(0) if self.queue else Canned(500)


def make_handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if "Cmd=Settings" in self.path:
                # DeviceInformation before the first FolderSync (issue 15) is answered
                # here, so each test scripts and sees only the commands it is about
                canned = wbxml_ok(SETTINGS_OK)
            else:
                script.seen.append(Seen(self.command, self.path, dict(self.headers), body))
                canned = script.next(self.command)
            self.send_response(canned.status)
            for name, value in canned.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(canned.body)))
            self.end_headers()
            self.wfile.write(canned.body)

        do_POST = do_OPTIONS = _answer

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(script))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/Microsoft-Server-ActiveSync", script
    finally:
        httpd.shutdown()
        httpd.server_close()


def no_sleep_policy(waits: list[float] | None = None, **kw: float) -> RetryPolicy:
    record = waits if waits is not None else []
    return RetryPolicy(sleep=record.append, **kw)  # type: ignore[arg-type]


def client_for(url: str, tmp_path: Path, **kw: object) -> EasClient:
    settings = AccountSettings(
        name="work",
        url=url,
        username="alice",
        password="s3cret-pässword",
        state_dir=tmp_path,
        retry=kw.pop("retry", no_sleep_policy()),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )
    return EasClient(settings)


def wbxml_ok(root) -> Canned:
    return Canned(200, {"Content-Type": "application/vnd.ms-sync.wbxml"}, wbxml.encode(root))


SETTINGS_OK = E("Settings:Settings", E("Settings:Status", value="1"))
FOLDERSYNC_OK = E(
    "FolderHierarchy:FolderSync",
    E("FolderHierarchy:Status", value="1"),
    E("FolderHierarchy:SyncKey", value="k1"),
    E("FolderHierarchy:Changes", E("FolderHierarchy:Count", value="0")),
)


def test_request_line_and_headers(server, tmp_path):
    url, script = server
    script.queue.append(wbxml_ok(FOLDERSYNC_OK))
    with client_for(url, tmp_path) as client:
        client.folder_sync()
        device_id = client.device_id
    options, post = script.seen
    assert options.method == "OPTIONS"
    assert "X-MS-PolicyKey" not in options.headers
    assert post.path == (
        f"/Microsoft-Server-ActiveSync?Cmd=FolderSync&User=alice&DeviceId={device_id}"
        "&DeviceType=eassync"
    )
    assert post.headers["MS-ASProtocolVersion"] == "14.1"
    assert post.headers["User-Agent"] == USER_AGENT
    assert post.headers["Content-Type"] == "application/vnd.ms-sync.wbxml"
    assert post.headers["Authorization"] == BasicAuth("alice", "s3cret-pässword")._header
    assert wbxml.decode(post.body) == E(
        "FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", value="0")
    )


def test_html_with_200_is_a_protocol_error_with_an_excerpt(server, tmp_path):
    url, script = server
    script.queue.append(Canned(200, {"Content-Type": "text/html"}, b"<html>Login page</html>"))
    # 14.0: no DeviceInformation first, the login page is the endpoint's first answer
    # (after a WBXML answer, a page is the server failing: RequestFailed)
    with (
        client_for(url, tmp_path, protocol_version="14.0") as client,
        pytest.raises(ProtocolError, match="Login page") as caught,
    ):
        client.folder_sync()
    assert "web page" in (caught.value.hint or "")


def test_x_ms_rp_on_a_post_re_adopts_versions(server, tmp_path):
    url, script = server
    answer = wbxml_ok(FOLDERSYNC_OK)
    answer.headers["X-MS-RP"] = "12.1,14.0"
    script.queue.append(answer)
    with client_for(url, tmp_path) as client:
        assert client.version == "14.1"
        client.folder_sync()
        assert client.version == "14.0"
    assert (
        EasClient(
            AccountSettings(
                name="work", url=url, username="alice", password="x", state_dir=tmp_path
            )
        ).version
        == "14.0"
    )


def sent(script: Script) -> list[str]:
    return [
        s.method if s.method == "OPTIONS" else s.headers["MS-ASProtocolVersion"]
        for s in script.seen
    ]


@pytest.mark.parametrize("status", [501, 505])
def test_http_501_505_re_run_options_and_retry_with_the_new_version(server, tmp_path, status):
    url, script = server
    script.queue.extend([Canned(status), wbxml_ok(FOLDERSYNC_OK)])
    with client_for(url, tmp_path) as client:
        assert client.version == "14.1"
        script.options = {"MS-ASProtocolVersions": "12.1,14.0"}
        client.folder_sync()
        assert client.version == "14.0"
    assert sent(script) == ["OPTIONS", "14.1", "OPTIONS", "14.0"]
    reopened = client_for(url, tmp_path)
    assert reopened.version == "14.0"  # stored in the account state


def test_http_501_with_an_unchanged_version_is_not_retried(server, tmp_path):
    url, script = server
    script.queue.append(Canned(501))  # the command is what the server lacks
    with client_for(url, tmp_path) as client, pytest.raises(ServerError) as err:
        client.folder_sync()
    assert err.value.status == 501
    assert sent(script) == ["OPTIONS", "14.1", "OPTIONS"]


def test_http_400_with_x_ms_rp_re_probes(server, tmp_path):
    url, script = server
    script.queue.extend([Canned(400, {"X-MS-RP": "12.1,14.0"}), wbxml_ok(FOLDERSYNC_OK)])
    with client_for(url, tmp_path) as client:
        assert client.version == "14.1"
        script.options = {"MS-ASProtocolVersions": "12.1,14.0"}
        client.folder_sync()
    assert sent(script) == ["OPTIONS", "14.1", "OPTIONS", "14.0"]


def test_http_400_without_a_version_list_is_a_malformed_request(server, tmp_path):
    url, script = server
    script.queue.append(Canned(400))
    with client_for(url, tmp_path) as client, pytest.raises(ServerError, match="malformed"):
        client.folder_sync()
    assert sent(script) == ["OPTIONS", "14.1"]


def test_pinned_version_refused_with_505_names_what_the_server_offers(server, tmp_path):
    url, script = server
    script.queue.append(Canned(505))
    script.options = {"MS-ASProtocolVersions": "2.5,12.0,12.1"}
    client = client_for(url, tmp_path, protocol_version="14.1")
    with client, pytest.raises(ServerError) as err:
        client.folder_sync()
    assert "no longer supports the pinned protocol version 14.1" in str(err.value)
    assert "offers 2.5, 12.0, 12.1 (HTTP 505)" in str(err.value)
    assert err.value.hint == "set protocol_version to auto, or pin one of 12.1"
    assert sent(script) == ["14.1", "OPTIONS"]  # asked only to name the alternatives


def test_pinned_version_with_a_501_for_the_command_stays_a_501(server, tmp_path):
    url, script = server
    script.queue.append(Canned(501))
    client = client_for(url, tmp_path, protocol_version="14.1")
    with client, pytest.raises(ServerError) as err:
        client.folder_sync()
    assert err.value.status == 501
    assert "pinned" not in str(err.value)


def test_retry_after_is_honoured_then_throttled_error(server, tmp_path):
    url, script = server
    waits: list[float] = []
    script.queue.extend([Canned(503, {"Retry-After": "7"})] * 3)
    policy = no_sleep_policy(waits, attempts=3, max_total_wait=60.0)
    with client_for(url, tmp_path, retry=policy) as client, pytest.raises(ThrottledError):
        client.folder_sync()
    assert waits == [7.0, 7.0]


def test_total_back_off_is_capped(server, tmp_path):
    url, script = server
    waits: list[float] = []
    script.queue.extend([Canned(503, {"Retry-After": "25"})] * 5)
    policy = no_sleep_policy(waits, attempts=5, max_total_wait=60.0, max_delay=30.0)
    with client_for(url, tmp_path, retry=policy) as client, pytest.raises(ThrottledError):
        client.folder_sync()
    assert sum(waits) <= 60.0
    assert waits == [25.0, 25.0]


def test_password_expired_457_points_to_the_service_url(server, tmp_path):
    url, script = server
    script.queue.append(Canned(457, {"X-MS-Credential-Service-Url": "https://pw.example"}))
    with client_for(url, tmp_path) as client, pytest.raises(AuthError) as err:
        client.folder_sync()
    assert "expired" in str(err.value)
    assert err.value.hint is not None
    assert "https://pw.example" in err.value.hint


def test_bearer_auth_refreshes_once_after_401(server, tmp_path):
    url, script = server
    issued: list[bool] = []

    def provider(force: bool) -> str:
        issued.append(force)
        return f"token{len(issued)}"

    script.queue.extend([Canned(401), wbxml_ok(FOLDERSYNC_OK)])
    with client_for(url, tmp_path, auth=BearerAuth(provider), protocol_version="14.1") as client:
        client.folder_sync()
    assert issued == [False, True]
    assert [s.headers["Authorization"] for s in script.seen] == [
        "Bearer token1",
        "Bearer token2",
    ]


def test_basic_auth_repr_hides_the_password():
    assert "s3cret" not in repr(BasicAuth("alice", "s3cret"))


# --- TLS --------------------------------------------------------------------------------


def _cert_pair(tmp: Path) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for 127.0.0.1 signed by it."""
    certs = make_certs(tmp)
    return certs.ca, certs.cert, certs.key


@pytest.fixture
def tls_server(tmp_path) -> Iterator[tuple[str, Script, Path]]:
    ca, cert, key = _cert_pair(tmp_path)
    script = Script()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(script))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}/Microsoft-Server-ActiveSync", script, ca
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_untrusted_certificate_is_a_tls_error_with_a_hint(tls_server, tmp_path):
    url, script, _ca = tls_server
    with client_for(url, tmp_path) as client, pytest.raises(TLSError) as err:
        client.folder_sync()
    assert err.value.hint is not None
    assert "verify:" in err.value.hint
    assert script.seen == []  # nothing was sent over the unverified connection


def test_private_ca_bundle_is_trusted(tls_server, tmp_path):
    url, script, ca = tls_server
    script.queue.append(wbxml_ok(FOLDERSYNC_OK))
    with client_for(url, tmp_path, verify=str(ca)) as client:
        client.folder_sync()
    assert [s.method for s in script.seen] == ["OPTIONS", "POST"]


def test_transport_does_not_follow_http_redirects(server, tmp_path):
    url, script = server
    script.queue.append(Canned(302, {"Location": "http://evil.example/"}))
    transport = Transport(
        account="work",
        url=url,
        username="alice",
        device_id="abc",
        device_type="eassync",
        auth=BasicAuth("alice", "pw"),
        retry=no_sleep_policy(),
    )
    with pytest.raises(ServerError, match="302"):
        transport.post("FolderSync", b"", version="14.1", policy_key=None)
    assert len(script.seen) == 1


# --- server quirks the devserver does not show ------------------------------------------


def provision_answer(status, policy_status, key=None):
    return E(
        "Provision:Provision",
        E("Provision:Status", value=str(status)) if status is not None else None,
        E(
            "Provision:Policies",
            E(
                "Provision:Policy",
                E("Provision:PolicyType", value="MS-EAS-Provisioning-WBXML"),
                E("Provision:Status", value=str(policy_status)),
                E("Provision:PolicyKey", value=key) if key else None,
            ),
        ),
    )


def test_sogo_no_policy_for_this_client_carries_on_without_a_key(server, tmp_path):
    url, script = server
    script.queue.extend([wbxml_ok(provision_answer(1, 2)), wbxml_ok(FOLDERSYNC_OK)])
    with client_for(url, tmp_path, provision_first=True) as client:
        client.folder_sync()
        assert client.policy_key is None
    provision, folder_sync = script.seen[1:]
    assert provision.headers["X-MS-PolicyKey"] == "0"
    assert "X-MS-PolicyKey" not in folder_sync.headers
    assert wbxml.decode(provision.body).find("Settings:DeviceInformation") is not None


def test_provision_answer_without_top_level_status_is_accepted(server, tmp_path):
    url, script = server
    script.queue.extend(
        [
            Canned(449),
            wbxml_ok(provision_answer(None, 1, "111")),  # Tencent Exmail (TbSync #337)
            wbxml_ok(provision_answer(None, 1, "222")),
            wbxml_ok(FOLDERSYNC_OK),
        ]
    )
    with client_for(url, tmp_path) as client:
        client.folder_sync()
        assert client.policy_key == "222"
    ack = wbxml.decode(script.seen[3].body)
    assert script.seen[3].headers["X-MS-PolicyKey"] == "111"
    assert ack.text("Provision:Policies/Provision:Policy/Provision:PolicyKey") == "111"
    assert script.seen[4].headers["X-MS-PolicyKey"] == "222"


def test_empty_sync_answer_means_no_changes(server, tmp_path):
    from eassync.eas.client import CollectionRequest

    url, script = server
    script.queue.append(Canned(200))
    with client_for(url, tmp_path, protocol_version="14.1") as client:
        (resp,) = client.sync([CollectionRequest("col", "42", get_changes=True)])
    assert (resp.collection_id, resp.sync_key, resp.status, resp.commands) == ("col", "42", 1, [])


def test_sync_status_14_adjusts_the_heartbeat(server, tmp_path):
    from eassync.eas.client import CollectionRequest

    url, script = server
    script.queue.extend(
        [
            wbxml_ok(
                E("AirSync:Sync", E("AirSync:Status", value="14"), E("AirSync:Limit", value="90"))
            ),
            Canned(200),
        ]
    )
    with client_for(url, tmp_path, protocol_version="14.1") as client:
        client.sync([CollectionRequest("col", "42", get_changes=True)], heartbeat=30)
    assert wbxml.decode(script.seen[0].body).text("AirSync:HeartbeatInterval") == "30"
    assert wbxml.decode(script.seen[1].body).text("AirSync:HeartbeatInterval") == "90"


def test_missing_ca_bundle_is_a_config_error(tmp_path):
    from eassync.errors import ConfigError

    with pytest.raises(ConfigError, match="does not exist"):
        client_for("https://127.0.0.1:1/x", tmp_path, verify=str(tmp_path / "nope.pem"))


def test_connection_errors_read_as_the_os_reason_not_the_pool_message() -> None:
    from eassync.eas.transport import _short

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    try:
        requests.get(f"http://127.0.0.1:{port}/Microsoft-Server-ActiveSync?Cmd=Sync", timeout=5)
    except requests.ConnectionError as exc:
        text = _short(exc)
    assert text == "Connection refused"
    assert _short(ValueError("plain words")) == "plain words"
