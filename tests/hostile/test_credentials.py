"""Issue 14 items 1–3: the login goes only where the user sent it. A credential trap
on 127.0.0.2 stands for "another host"; it must never receive credentials."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eassync.devserver import DevServer
from eassync.eas.client import AccountSettings, EasClient
from eassync.eas.state import AccountStateFile
from eassync.eas.transport import RetryPolicy
from eassync.errors import ServerError
from eassync.net.origin import may_follow, origin_of, redirect_problem
from eassync.storage.dav import DavSession, DavStorage, find_home_set
from tests.hostile import Answer, CredentialTrap, HostileServer, redirect
from tests.servers.certs import Certs, make_certs

pytestmark = pytest.mark.timeout(60)

USER, PASSWORD = "alice", "secret"


@pytest.fixture
def trap() -> Iterator[CredentialTrap]:
    with CredentialTrap() as server:
        yield server


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def tls_trap(certs: Certs) -> Iterator[CredentialTrap]:
    with CredentialTrap(certs=certs) as server:
        yield server


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as server:
        yield server


def client(url: str, tmp_path: Path, **kw: object) -> EasClient:
    return EasClient(
        AccountSettings(
            name="work",
            url=url,
            username=USER,
            password=PASSWORD,
            state_dir=tmp_path / "state",
            retry=RetryPolicy(attempts=2, sleep=lambda _s: None),
            **kw,  # type: ignore[arg-type]
        )
    )


def stored(tmp_path: Path) -> tuple[str | None, str | None]:
    state = AccountStateFile(tmp_path / "state", "work").load()
    return state.url, state.url_from


# --- EAS: HTTP 451 (items 2 and 3) ----------------------------------------------------------


def test_451_to_another_host_over_http_is_refused(dev, trap, tmp_path):
    with client(dev.url, tmp_path) as c:
        c.folder_sync()
        dev.faults.http_status(
            451, headers={"X-MS-Location": trap.url("/Microsoft-Server-ActiveSync")}
        )
        with pytest.raises(ServerError, match=r"moved \(HTTP 451\), but eassync will not follow"):
            c.folder_sync()
    assert trap.requests() == []
    assert stored(tmp_path) == (None, None)


def test_451_to_an_untrusted_https_host_is_refused(dev, tls_trap, certs, tmp_path):
    target = tls_trap.url("/Microsoft-Server-ActiveSync")
    with client(dev.url, tmp_path, verify=str(certs.ca)) as c:
        c.folder_sync()
        dev.faults.http_status(451, headers={"X-MS-Location": target})
        with pytest.raises(
            ServerError, match=r"127\.0\.0\.2 is outside the account's domain"
        ) as err:
            c.folder_sync()
    assert "autodiscover_trust: [127.0.0.2]" in (err.value.hint or "")
    assert tls_trap.credentials == []
    assert stored(tmp_path) == (None, None)


def test_451_to_a_trusted_https_host_is_followed_said_and_kept(dev, certs, tmp_path, caplog):
    with DevServer(
        data_dir=tmp_path / "moved",
        users={USER: PASSWORD},
        host="127.0.0.2",
        tls=(certs.cert, certs.key),
    ) as moved:
        with client(dev.url, tmp_path, verify=str(certs.ca), redirect_trust=("127.0.0.2",)) as c:
            c.folder_sync()
            dev.faults.http_status(451, headers={"X-MS-Location": moved.url})
            with caplog.at_level(logging.WARNING):
                c.folder_sync()
            assert c.url == moved.url
        assert moved.requests["FolderSync"] >= 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("moved the mailbox to " + moved.url in w for w in warnings)
    assert stored(tmp_path) == (moved.url, dev.url)


def test_451_within_the_e_mail_domain_is_allowed_and_outside_it_is_not():
    domains = ("example.com", "eas.example.com")
    current = "https://eas.example.com/Microsoft-Server-ActiveSync"
    ok = "https://mail2.example.com/Microsoft-Server-ActiveSync"
    assert redirect_problem(current, ok, domains=domains) is None
    for bad in (
        "https://example.com.evil.net/x",
        "https://evilexample.com/x",
        "http://mail2.example.com/x",  # never to plain http
    ):
        assert redirect_problem(current, bad, domains=domains) is not None
    assert redirect_problem(current, "https://outlook.office365.com/x", domains=domains)
    assert (
        redirect_problem(
            current,
            "https://outlook.office365.com/x",
            domains=domains,
            trusted_hosts=["outlook.office365.com"],
        )
        is None
    )


def test_stored_redirect_is_dropped_when_the_configured_url_changes(dev, tmp_path):
    moved = dev.url.replace("127.0.0.1", "localhost")
    with client(dev.url, tmp_path, redirect_trust=("localhost",)) as c:
        c.folder_sync()
        dev.faults.http_status(451, headers={"X-MS-Location": moved})
        c.folder_sync()
        assert c.url == moved
    new_config_url = dev.url + "?"  # the user edited the url
    with client(new_config_url, tmp_path, redirect_trust=("localhost",)) as c:
        assert c.url == new_config_url
        c.folder_sync()
    assert stored(tmp_path) == (None, None)


def test_stored_redirect_from_an_older_version_is_dropped(dev, tmp_path, trap):
    """A state written before url_from existed may hold any host: not trusted blindly."""
    state_file = AccountStateFile(tmp_path / "state", "work")
    state = state_file.load()
    state.url = trap.url("/Microsoft-Server-ActiveSync")
    state_file.save(state)
    with client(dev.url, tmp_path) as c:
        assert c.url == dev.url
        c.folder_sync()
    assert trap.requests() == []


@pytest.mark.parametrize(
    "target",
    ["ftp://mail.example.com/x", "nonsense", "http://", "https://", "https://[::1", "https://a b/"],
)
def test_malformed_451_target_fails_this_request_only(dev, tmp_path, target):
    with client(dev.url, tmp_path) as c:
        c.folder_sync()
        dev.faults.http_status(451, headers={"X-MS-Location": target})
        with pytest.raises(ServerError, match=r"not a usable URL|not https"):
            c.folder_sync()
        assert stored(tmp_path) == (None, None)
        c.folder_sync()  # the next request is fine
    with client(dev.url, tmp_path) as c:  # and so is the next run
        c.folder_sync()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_451_target_is_either_a_clean_https_url_or_refused(target):
    problem = redirect_problem("https://mail.example.com/eas", target, domains=["example.com"])
    if problem is None:
        there = origin_of(target)
        assert there is not None
        assert there.scheme == "https"
        assert there.host == "example.com" or there.host.endswith(".example.com")


# --- DAV: redirects and discovered URLs (item 1) ----------------------------------------------


def _multistatus(prop: str, href: str = "/") -> Answer:
    """A 207 with one response for ``href`` holding ``prop`` (XML text)."""
    body = (
        '<?xml version="1.0"?><D:multistatus xmlns:D="DAV:" '
        'xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CR="urn:ietf:params:xml:ns:carddav">'
        f"<D:response><D:href>{href}</D:href><D:propstat><D:prop>{prop}</D:prop>"
        "<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>"
    )
    return Answer(207, {"Content-Type": "application/xml"}, body.encode())


def _home_set(url: str) -> Answer:
    return _multistatus(
        f"<CR:addressbook-home-set><D:href>{url}</D:href></CR:addressbook-home-set>"
    )


def dav_session(url: str, **kw: object) -> DavSession:
    return DavSession(username=USER, password=PASSWORD, base_url=url, label="CardDAV", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_dav_redirect_to_another_host_is_refused(trap, status):
    with HostileServer() as srv:
        srv.on(redirect(trap.url("/book/"), status), method="PROPFIND")
        storage = DavStorage(dav_session(srv.url("/book/")), srv.url("/book/"), "carddav")
        with pytest.raises(ServerError, match=r"refusing to follow a redirect \(HTTP 3") as err:
            list(storage.list())
    assert f"trust: [127.0.0.2:{trap.port}]" in (err.value.hint or "")
    assert trap.requests() == []


def test_dav_redirect_from_https_to_http_is_refused_even_to_a_trusted_host(certs, trap):
    with HostileServer(certs=certs) as srv:
        srv.on(redirect(trap.url("/book/")), method="PROPFIND")
        session = dav_session(srv.url("/book/"), verify=str(certs.ca), trust=["127.0.0.2"])
        with pytest.raises(ServerError, match="from https down to unencrypted http"):
            list(DavStorage(session, srv.url("/book/"), "carddav").list())
    assert trap.requests() == []


def test_dav_home_set_on_another_origin_is_refused(trap):
    home = trap.url("/home/alice/")
    with HostileServer() as srv:
        srv.on(
            _home_set(home),
            method="PROPFIND",
        )
        session = dav_session(srv.url("/dav/"))
        found = find_home_set(session, srv.url("/dav/"), "carddav")
        with pytest.raises(ServerError, match="refusing to follow a discovered URL"):
            DavStorage(session, found, "carddav").list().__next__()
    assert trap.requests() == []


def test_dav_trusted_host_may_be_followed(trap):
    with HostileServer() as srv:
        srv.on(redirect(trap.url("/book/")), method="PROPFIND")
        session = dav_session(srv.url("/book/"), trust=["127.0.0.2"])
        with pytest.raises(Exception, match="HTTP 401"):  # the trap answers 401 to all
            list(DavStorage(session, srv.url("/book/"), "carddav").list())
    assert trap.requests("PROPFIND")  # it was followed, as the user asked


def test_same_origin_is_always_allowed_and_other_ports_are_other_origins():
    here = origin_of("https://dav.example.org/dav/")
    assert here is not None
    assert may_follow(here, origin_of("https://DAV.example.org:443/x")) is None  # type: ignore[arg-type]
    assert may_follow(here, origin_of("https://dav.example.org:8443/x"))  # type: ignore[arg-type]
    assert (
        may_follow(here, origin_of("https://dav.example.org:8443/x"), ["dav.example.org:8443"])
        is None
    )  # type: ignore[arg-type]


def test_remembered_collection_on_another_origin_is_forgotten(tmp_path, trap):
    """A collection URL remembered by an older version is not trusted blindly."""
    from eassync.config import StorageConfig
    from eassync.storage.dav import open_dav_storage

    with HostileServer() as srv:
        book = srv.url("/dav/book/")
        srv.on(
            _home_set(srv.url("/dav/")),
            method="PROPFIND",
            times=1,
        )
        book_props = (
            "<D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype>"
            "<D:displayname>book</D:displayname>"
        )
        srv.on(_multistatus(book_props, "/dav/book/"), method="PROPFIND")
        cfg = StorageConfig(
            name="dav", type="carddav", url=srv.url("/dav/"), username=USER, collection="book"
        )
        key = " ".join(["carddav", srv.url("/dav/"), USER, "", "book"])
        (tmp_path / "dav-collections.json").write_text(json.dumps({key: trap.url("/book/")}))

        class Sel:
            kind = "contacts"
            subdir = None

        storage = open_dav_storage(cfg, Sel(), None, state_dir=tmp_path)  # type: ignore[arg-type]
        assert storage.url == book
    assert trap.requests() == []
    assert json.loads((tmp_path / "dav-collections.json").read_text())[key] == book


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=40),
        st.sampled_from(
            [
                "//127.0.0.2/x",
                "http://127.0.0.1:1@127.0.0.2/x",
                "http://127.0.0.1.127.0.0.2/",
                "http:/x",
                "https://127.0.0.1/x",
                "\\\\127.0.0.2\\x",
                "http://[::ffff:127.0.0.2]/",
            ]
        ),
    )
)
def test_any_redirect_location_stays_on_the_origin_or_is_refused(location):
    """Whatever a Location header says, urljoin'd as DavSession does, the login
    either stays on http://127.0.0.1:8080 or the URL is refused."""
    from urllib.parse import urljoin

    from eassync.errors import ProtocolError

    base = "http://127.0.0.1:8080/dav/"
    session = DavSession(username=USER, password=PASSWORD, base_url=base)
    try:
        target = urljoin(base, location)
    except ValueError:
        return  # requests would refuse it too, before sending anything
    try:
        session.check_url(target)
    except (ServerError, ProtocolError):
        return
    assert origin_of(target) == origin_of(base)


def test_451_target_with_credentials_in_it_is_refused():
    problem = redirect_problem(
        "https://mail.example.com/eas",
        "https://user:pw@mail2.example.com/eas",
        domains=["example.com"],
    )
    assert problem is not None
    assert "user name or password" in problem
