"""Issue 14 items 6 and 7: every request ends by its deadline, every answer has a size
cap after decompression, for EAS and DAV, against scripted hostile servers."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from pathlib import Path

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from eassync.eas.client import AccountSettings, EasClient
from eassync.eas.transport import RetryPolicy
from eassync.errors import ProtocolError, RequestTimeout, ResponseTooLarge
from eassync.net import bounded
from eassync.storage.dav import DavSession, DavStorage
from tests.hostile import Answer, Bomb, Dribble, HostileServer, html_page
from tests.hostile.server import compressed_zeros

# On the code before the fix these hang (a dribble of 10,000 bytes at 0.2 s each);
# the marker turns that into a failure instead of a stuck suite.
pytestmark = pytest.mark.timeout(60)

MiB = 1 << 20


@pytest.fixture
def srv():
    with HostileServer() as server:
        yield server


def eas_client(url: str, tmp_path: Path, **kw: object) -> EasClient:
    return EasClient(
        AccountSettings(
            name="work",
            url=url,
            username="alice",
            password="secret",
            # 14.0: no OPTIONS and no Settings/DeviceInformation first: the scripted
            # answer is the one of the command the test sends
            protocol_version="14.0",
            state_dir=tmp_path / "state",
            retry=RetryPolicy(attempts=2, sleep=lambda _s: None),
            **kw,  # type: ignore[arg-type]
        )
    )


# --- the deadline ------------------------------------------------------------------------


def test_eas_request_ends_at_its_deadline_while_the_server_dribbles(srv, tmp_path):
    srv.on(Dribble(interval=0.2), method="POST")
    with (
        eas_client(srv.url("/eas"), tmp_path, timeout=1.0) as client,
        pytest.raises(RequestTimeout, match=r"FolderSync: no complete answer within 1 s"),
    ):
        client.folder_sync()
    # not retried: a dribbling server would only do it again
    assert len(srv.requests("POST")) == 1


def test_eas_request_ends_when_the_headers_dribble(srv, tmp_path):
    srv.on(Dribble(interval=0.2, headers_too=True), method="POST")
    with (
        eas_client(srv.url("/eas"), tmp_path, timeout=1.0) as client,
        pytest.raises(RequestTimeout),
    ):
        client.folder_sync()


def test_dav_request_ends_at_its_deadline_while_the_server_dribbles(srv):
    srv.on(Dribble(interval=0.2, status=207), method="PROPFIND")
    session = DavSession(username="alice", password="secret", timeout=1.0)
    storage = DavStorage(session, srv.url("/book/"), "carddav")
    with pytest.raises(RequestTimeout, match=r"PROPFIND: no complete answer within 1 s"):
        list(storage.list())


def test_deadline_covers_a_slow_server_across_keep_alive_reuse(srv):
    """The deadline attaches to a pooled connection too, not only to new ones."""
    srv.on(Answer(200, {}, b"fast"), path="/fast")
    srv.on(Dribble(interval=0.2), path="/slow")
    session = bounded.watch_session(requests.Session())
    limits = bounded.Limits(1.0)
    assert bounded.send(session, "GET", srv.url("/fast"), limits=limits, what="x").content
    with pytest.raises(RequestTimeout):
        bounded.send(session, "GET", srv.url("/slow"), limits=limits, what="slow")
    # the connection the watchdog cut is not reused for the next request
    assert bounded.send(session, "GET", srv.url("/fast"), limits=limits, what="x").content


# --- the size cap ------------------------------------------------------------------------


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_eas_compression_bomb_stops_at_the_cap_in_bounded_memory(srv, tmp_path, coding):
    srv.on(Bomb(1 << 30, coding, content_type="application/vnd.ms-sync.wbxml"))
    tracemalloc.start()
    try:
        with (
            eas_client(srv.url("/eas"), tmp_path, max_response_size=4 * MiB) as client,
            pytest.raises(ResponseTooLarge, match=r"FolderSync: the answer is larger than 4"),
        ):
            client.folder_sync()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * 4 * MiB  # the cap, a chunk and its join; not the 1 GiB


def test_eas_answer_declared_too_large_is_refused_before_reading(srv, tmp_path):
    srv.on(Answer(200, {"Content-Type": "application/vnd.ms-sync.wbxml"}, b"\x03" * (MiB + 1)))
    with (
        eas_client(srv.url("/eas"), tmp_path, max_response_size=MiB) as client,
        pytest.raises(ResponseTooLarge),
    ):
        client.folder_sync()


def test_dav_compression_bomb_is_refused(srv):
    srv.on(Bomb(1 << 30, "gzip", status=207, content_type="application/xml"))
    session = DavSession(max_response_size=4 * MiB)
    with pytest.raises(ResponseTooLarge, match=r"PROPFIND: the answer is larger than 4 MiB"):
        list(DavStorage(session, srv.url("/book/"), "carddav").list())


def test_unknown_content_coding_is_a_protocol_error(srv):
    srv.on(Answer(200, {"Content-Encoding": "br"}, b"\x0b\x02\x80hello\x03"))
    with pytest.raises(ProtocolError, match="unsupported Content-Encoding 'br'"):
        bounded.send(
            bounded.watch_session(requests.Session()),
            "GET",
            srv.url("/"),
            limits=bounded.Limits(5.0),
            what="GET /",
        )


def test_broken_gzip_is_a_protocol_error(srv):
    srv.on(Answer(200, {"Content-Encoding": "gzip"}, b"\x1f\x8b\x08\x00garbage-garbage"))
    with pytest.raises(ProtocolError, match="compressed answer is broken"):
        bounded.send(requests.Session(), "GET", srv.url("/"), limits=bounded.Limits(5), what="x")


def test_html_login_page_instead_of_wbxml_is_reported(srv, tmp_path):
    srv.on(html_page())
    with (
        eas_client(srv.url("/eas"), tmp_path) as client,
        pytest.raises(ProtocolError, match="is not WBXML"),
    ):
        client.folder_sync()


# --- decoding is exact (generated) ---------------------------------------------------------


def _encode(data: bytes, coding: str) -> bytes:
    if coding == "gzip":
        return gzip.compress(data)
    if coding == "gzip2":  # two gzip members, as concatenating servers send
        half = len(data) // 2
        return gzip.compress(data[:half]) + gzip.compress(data[half:])
    if coding == "deflate":
        return zlib.compress(data)
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate, as IIS sends
    return raw.compress(data) + raw.flush()


@settings(max_examples=150, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=3000), st.builds(lambda n: b"\0" * n, st.integers(0, 300_000))
    ),
    coding=st.sampled_from(["gzip", "gzip2", "deflate", "raw-deflate"]),
    cuts=st.lists(st.integers(1, 5000), max_size=8),
)
def test_bounded_inflation_gives_back_exactly_what_was_compressed(data, coding, cuts):
    wire = _encode(data, coding)
    pieces, start = [], 0
    for cut in cuts:  # the network splits the body anywhere
        pieces.append(wire[start : start + cut])
        start += cut
    pieces.append(wire[start:])
    header = {"gzip2": "gzip", "raw-deflate": "deflate"}.get(coding, coding)
    out = list(bounded._decode(iter(pieces), bounded._decoders(header)))
    assert b"".join(out) == data
    assert all(len(chunk) <= bounded.CHUNK for chunk in out)


def test_deadline_covers_a_tls_handshake_that_dribbles(tmp_path):
    """Below TLS, a relay passes the server's bytes one at a time: the handshake
    alone would take far longer than the deadline."""
    from tests.hostile import DribblingRelay
    from tests.servers.certs import make_certs

    certs = make_certs(tmp_path / "certs")
    with (
        HostileServer(certs=certs) as server,
        DribblingRelay(("127.0.0.1", server.port), interval=0.05) as relay,
    ):
        server.on(Answer(207, {"Content-Type": "application/xml"}, b"<x/>"))
        session = DavSession(timeout=1.0, verify=str(certs.ca), base_url=relay.url("/book/"))
        with pytest.raises(RequestTimeout, match="no complete answer within 1 s"):
            list(DavStorage(session, relay.url("/book/"), "carddav").list())


def test_dav_digest_challenge_carrying_a_bomb_is_not_inflated(srv):
    """requests' Digest handler reads a 401's body whole; ours drops it unread (on the
    code before, this answer grew the process to 2.1 GB)."""
    digest = {"WWW-Authenticate": 'Digest realm="x", nonce="abc", qop="auth"'}
    srv.on(Answer(401, digest), times=1)  # the switch from Basic to Digest

    def bomb_401(_seen):
        return Answer(
            401, {**digest, "Content-Encoding": "gzip"}, compressed_zeros(1 << 30, "gzip")
        )

    srv.on(bomb_401)
    session = DavSession(username="a", password="b", max_response_size=4 * MiB)
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLarge):
            list(DavStorage(session, srv.url("/book/"), "carddav").list())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * 4 * MiB


def test_dav_digest_login_still_works_with_the_body_dropped(srv):
    """The 401s' bodies are dropped unread; the Digest exchange itself goes on."""
    import hashlib
    import re

    realm, nonce = "dav", "n0nce"
    challenge = {"WWW-Authenticate": f'Digest realm="{realm}", nonce="{nonce}", qop="auth"'}
    listing = (
        b'<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/book/x.vcf'
        b'</D:href><D:propstat><D:prop><D:getetag>"1"</D:getetag><D:resourcetype/></D:prop>'
        b"<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>"
    )

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    def digest_server(seen):
        header = seen.headers.get("authorization", "")
        fields = dict(re.findall(r'(\w+)="?([^",]+)"?', header))
        if header.startswith("Digest ") and fields.get("username") == "alice":
            ha1 = md5(f"alice:{realm}:secret")
            ha2 = md5(f"{seen.method}:{fields['uri']}")
            expected = md5(f"{ha1}:{nonce}:{fields['nc']}:{fields['cnonce']}:auth:{ha2}")
            if fields.get("response") == expected:
                return Answer(207, {"Content-Type": "application/xml"}, listing)
        return Answer(401, challenge, b"<html>" + b"x" * 5000 + b"</html>")

    srv.on(digest_server)
    session = DavSession(username="alice", password="secret")
    assert dict(DavStorage(session, srv.url("/book/"), "carddav").list()) == {"/book/x.vcf": '"1"'}


def test_autodiscover_answer_bomb_is_one_failed_candidate(tmp_path):
    """Autodiscover answers are small: capped at 1 MiB, a bomb fails its candidate."""
    from eassync.eas.auth import BasicAuth
    from eassync.eas.autodiscover import Autodiscover, AutodiscoverError
    from tests.servers.autodiscover import loopback_session
    from tests.servers.certs import make_certs

    certs = make_certs(tmp_path / "certs", ["example.test", "autodiscover.example.test"])
    with HostileServer(certs=certs) as server:
        server.on(Bomb(1 << 30, "gzip", content_type="text/xml"))
        routes = {
            f"https://{h}": server.port for h in ("example.test", "autodiscover.example.test")
        }
        finder = Autodiscover(
            "alice@example.test",
            auth=BasicAuth("alice@example.test", "secret"),
            verify=str(certs.ca),
            timeout=5,
            session=loopback_session(routes),
            srv_lookup=lambda _name: [],
        )
        tracemalloc.start()
        try:
            with pytest.raises(AutodiscoverError):
                finder.discover()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert sum("larger than 1 MiB" in a.outcome for a in finder.attempts) == 2
    assert peak < 12 * MiB
