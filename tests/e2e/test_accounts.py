"""Account setup end to end: the real CLI syncs through NTLM, Autodiscover, OAuth2 and a
keyring password, and each failure ends in the message a user needs.

NTLM runs the CLI in a subprocess. Autodiscover and OAuth2 run it in-process, because
their made-up host names and the test identity provider are injected (the
autodiscover session factory, the OAuth authority host), never faked system-wide.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eassync.cli import main
from eassync.config import load_config
from eassync.devserver import DevServer
from eassync.eas import autodiscover, oauth
from tests.servers.autodiscover import (
    AutodiscoverServer,
    HostPlan,
    autodiscover_server,
    loopback_session,
)
from tests.servers.certs import make_certs
from tests.servers.fake_idp import TENANT, FakeIdP, fake_idp

from .helpers import PASSWORD, USER, run_cli, write_contacts_config

EMAIL = "alice@example.test"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(
        tmp_path_factory.mktemp("certs"), ["example.test", "autodiscover.example.test"]
    )


def run_inprocess(config: Path, *args: str, capsys) -> tuple[int, str, str]:
    """The real CLI entry point in this process (so injected hooks apply)."""
    try:
        main(["-c", str(config), *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def synced_cards(folder: Path) -> list[Path]:
    return list((folder / "contacts").glob("*.vcf"))


def seed(srv: DevServer) -> None:
    from eassync.demo_data import contact

    folder = next(f for f in srv.store.folders(USER) if f.type == 9)
    srv.store.add_item(USER, folder.server_id, contact({"FirstName": "Grace", "LastName": "H"}))


# --- NTLM -------------------------------------------------------------------------------


def test_ntlm_account_syncs_through_the_cli(tmp_path):
    with DevServer(tmp_path / "server", users={USER: PASSWORD}, ntlm=True) as srv:
        config = write_contacts_config(
            tmp_path,
            f"""\
            url: {srv.url}
            auth: ntlm
            username: DEVSERVER\\{USER}
            password: {{env: EASSYNC_TEST_PASSWORD}}
            """,
        )
        done = run_cli(config, "sync")
        assert done.returncode == 0, done.stderr


def test_ntlm_wrong_password_message(tmp_path):
    with DevServer(tmp_path / "server", users={USER: "other"}, ntlm=True) as srv:
        config = write_contacts_config(
            tmp_path,
            f"""\
            url: {srv.url}
            auth: ntlm
            username: DEVSERVER\\{USER}
            password: {{env: EASSYNC_TEST_PASSWORD}}
            """,
        )
        done = run_cli(config, "sync")
    assert done.returncode == 2  # a credentials error is a config error (README: exit codes)
    assert "wrong username or password for account 'acc'" in done.stderr
    assert PASSWORD not in done.stderr + done.stdout


# --- Autodiscover -----------------------------------------------------------------------


@pytest.fixture
def tls_devserver(tmp_path, certs) -> Iterator[DevServer]:
    with DevServer(tmp_path / "server", users={USER: PASSWORD}, tls=(certs.cert, certs.key)) as srv:
        yield srv


@pytest.fixture
def ad_server(certs, monkeypatch) -> Iterator[AutodiscoverServer]:
    with autodiscover_server(certs) as server:
        routes = server.routes("example.test", "autodiscover.example.test")
        monkeypatch.setattr(autodiscover, "new_session", lambda: loopback_session(routes))
        monkeypatch.setattr(autodiscover, "srv_records", lambda name: [])
        yield server


def autodiscover_config(tmp_path: Path, certs) -> Path:
    return write_contacts_config(
        tmp_path,
        f"""\
        autodiscover: true
        email: {EMAIL}
        username: {USER}
        password: {{env: EASSYNC_TEST_PASSWORD}}
        verify: {certs.ca}
        """,
    )


def test_autodiscover_finds_the_server_caches_it_and_rediscovers_when_it_moves(
    tmp_path, certs, tls_devserver, ad_server, capsys, monkeypatch
):
    monkeypatch.setenv("EASSYNC_TEST_PASSWORD", PASSWORD)
    seed(tls_devserver)
    ad_server.plans["autodiscover.example.test"] = HostPlan(url=tls_devserver.url)
    config = autodiscover_config(tmp_path, certs)
    code, _, err = run_inprocess(config, "sync", capsys=capsys)
    assert code == 0, err
    assert len(synced_cards(tmp_path)) == 1
    state_dir = load_config(config).general.status_dir  # EASSYNC_STATE_DIR wins
    cache = autodiscover.DiscoveryCache(state_dir, "acc")
    assert cache.load(EMAIL) == tls_devserver.url

    # the next run uses the cache: no autodiscover request at all
    asked = len(ad_server.seen)
    code, _, err = run_inprocess(config, "sync", capsys=capsys)
    assert code == 0, err
    assert len(ad_server.seen) == asked

    # the cached URL stops working: discovered again, within the same run
    cache.save(EMAIL, "https://localhost:9/Microsoft-Server-ActiveSync")
    code, _, err = run_inprocess(config, "sync", capsys=capsys)
    assert code == 0, err
    assert cache.load(EMAIL) == tls_devserver.url
    assert len(ad_server.seen) > asked


def test_autodiscover_untrusted_redirect_names_the_host(
    tmp_path, certs, ad_server, capsys, monkeypatch
):
    monkeypatch.setenv("EASSYNC_TEST_PASSWORD", PASSWORD)
    ad_server.plans["example.test"] = HostPlan(redirect_email="alice@hoster.test")
    code, _, err = run_inprocess(autodiscover_config(tmp_path, certs), "sync", capsys=capsys)
    assert code == 2
    assert "hoster.test" in err
    assert "autodiscover_trust: [hoster.test]" in err
    assert PASSWORD not in err


def test_autodiscover_wrong_password(tmp_path, certs, ad_server, capsys, monkeypatch):
    monkeypatch.setenv("EASSYNC_TEST_PASSWORD", "wrong")
    ad_server.plans["example.test"] = HostPlan(url="https://x.example.test/", users={USER: "s"})
    code, _, err = run_inprocess(autodiscover_config(tmp_path, certs), "sync", capsys=capsys)
    assert code == 2
    assert "wrong username or password" in err


# --- OAuth2 -----------------------------------------------------------------------------


@pytest.fixture
def idp(certs, monkeypatch) -> Iterator[FakeIdP]:
    with fake_idp(certs) as provider:
        monkeypatch.setattr(oauth, "AUTHORITY_HOST", provider.host)
        yield provider


def test_oauth_login_then_sync_then_expired_sign_in(tmp_path, certs, idp, capsys):
    with DevServer(
        tmp_path / "server", users={USER: "unused"}, tls=(certs.cert, certs.key), bearer=idp.user_of
    ) as srv:
        config = write_contacts_config(
            tmp_path,
            f"""\
            url: {srv.url}
            auth: oauth2
            email: {idp.email}
            username: {USER}
            tenant: {TENANT}
            verify: {certs.ca}
            """,
        )
        code, _, err = run_inprocess(config, "sync", capsys=capsys)
        assert code == 1
        assert "eassync login acc" in err  # not signed in yet

        code, out, err = run_inprocess(config, "login", "acc", capsys=capsys)
        assert code == 0, err
        assert "ABCD-EFGH" in err
        assert "signed in as alice@contoso.test" in out

        code, _, err = run_inprocess(config, "sync", capsys=capsys)
        assert code == 0, err

        idp.expire_access_tokens()
        idp.revoked = True
        code, _, err = run_inprocess(config, "sync", capsys=capsys)
        assert code == 1
        assert "run `eassync login acc`" in err


def test_login_refuses_a_basic_account(tmp_path, capsys):
    config = write_contacts_config(
        tmp_path,
        """\
        url: https://mail.example.test/Microsoft-Server-ActiveSync
        username: alice
        password: x
        """,
    )
    code, _, err = run_inprocess(config, "login", "acc", capsys=capsys)
    assert code == 2
    assert "only for auth: oauth2" in err


# --- keyring ----------------------------------------------------------------------------


def test_keyring_password_from_an_in_memory_backend(tmp_path, capsys):
    keyring = pytest.importorskip("keyring")
    from keyring.backend import KeyringBackend

    class MemoryKeyring(KeyringBackend):
        priority = 1  # type: ignore[assignment]
        store: dict[tuple[str, str], str] = {}  # noqa: RUF012

        def get_password(self, service: str, username: str) -> str | None:
            return self.store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.store.pop((service, username), None)

    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        keyring.set_password("eassync-test", USER, PASSWORD)
        with DevServer(tmp_path / "server", users={USER: PASSWORD}) as srv:
            config = write_contacts_config(
                tmp_path,
                f"""\
                url: {srv.url}
                username: {USER}
                password: {{keyring: {{service: eassync-test, username: {USER}}}}}
                """,
            )
            code, _, err = run_inprocess(config, "sync", capsys=capsys)
            assert code == 0, err
            keyring.delete_password("eassync-test", USER)
            code, _, err = run_inprocess(config, "sync", capsys=capsys)
            assert code == 2
            assert "the keyring has no password for service 'eassync-test'" in err
    finally:
        keyring.set_keyring(previous)
