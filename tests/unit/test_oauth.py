"""OAuth2 with msal against a loopback identity provider and the devserver taking bearer tokens."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from eassync.devserver import DevServer
from eassync.eas import oauth
from eassync.eas.client import AccountSettings, EasClient, RetryPolicy
from eassync.eas.oauth import EAS_SCOPE, OAuthAccount, OAuthBearer
from eassync.errors import AuthError
from tests.servers.certs import make_certs
from tests.servers.fake_idp import TENANT, FakeIdP, fake_idp


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("idp-certs"), ["localhost"])


@pytest.fixture
def idp(certs) -> Iterator[FakeIdP]:
    with fake_idp(certs) as provider:
        yield provider


def tokens(idp: FakeIdP, certs, state: Path, **kw) -> OAuthAccount:
    return OAuthAccount(
        "cloud",
        state_dir=state,
        email=idp.email,
        tenant=TENANT,
        verify=str(certs.ca),
        authority_host=idp.host,
        **kw,
    )


def test_device_login_prints_code_and_stores_a_private_cache(idp, certs, tmp_path):
    shown: list[str] = []
    account = tokens(idp, certs, tmp_path)
    assert account.login(shown.append) == idp.email
    assert "ABCD-EFGH" in shown[0]
    assert "devicelogin" in shown[0]
    assert account.cache_file.path == tmp_path / "oauth" / "cloud.json"
    assert stat.S_IMODE(os.stat(account.cache_file.path).st_mode) == 0o600
    assert EAS_SCOPE in idp.scopes[0]
    assert "offline_access" in idp.scopes[0]  # brings the refresh token
    assert idp.client_ids == [oauth.DEFAULT_CLIENT_ID]


def test_configured_client_id_is_used(idp, certs, tmp_path):
    tokens(idp, certs, tmp_path, client_id="my-app").login(lambda _: None)
    assert idp.client_ids == ["my-app"]


def test_silent_token_from_cache_then_refresh(idp, certs, tmp_path):
    tokens(idp, certs, tmp_path).login(lambda _: None)
    later = tokens(idp, certs, tmp_path)  # a new run: cache from disk
    first = later.access_token()
    assert idp.grants == ["urn:ietf:params:oauth:grant-type:device_code"]  # no request
    assert idp.user_of(first) == "alice"
    refreshed = later.access_token(force_refresh=True)
    assert refreshed != first
    assert idp.grants[-1] == "refresh_token"


def test_not_signed_in_says_to_run_login(idp, certs, tmp_path):
    with pytest.raises(AuthError, match="not signed in") as err:
        tokens(idp, certs, tmp_path).access_token()
    assert err.value.hint == "run `eassync login cloud`"


def test_revoked_refresh_token_says_to_run_login(idp, certs, tmp_path):
    tokens(idp, certs, tmp_path).login(lambda _: None)
    idp.revoked = True
    with pytest.raises(AuthError, match="expired or was revoked") as err:
        tokens(idp, certs, tmp_path).access_token(force_refresh=True)
    assert "eassync login cloud" in (err.value.hint or "")


def test_unreachable_identity_provider_is_an_auth_error(certs, tmp_path):
    account = OAuthAccount(
        "cloud",
        state_dir=tmp_path,
        tenant=TENANT,
        verify=str(certs.ca),
        authority_host="https://127.0.0.1:9",
    )
    with pytest.raises(AuthError, match="sign-in service"):
        account.login(lambda _: None)


def _client(srv: DevServer, bearer: OAuthBearer, state: Path) -> EasClient:
    return EasClient(
        AccountSettings(
            name="cloud",
            url=srv.url,
            username="alice",
            auth=bearer,
            state_dir=state,
            retry=RetryPolicy(attempts=2, sleep=lambda s: None),
        )
    )


def test_bearer_tokens_reach_the_server_and_expired_ones_are_refreshed(idp, certs, tmp_path):
    account = tokens(idp, certs, tmp_path / "state")
    account.login(lambda _: None)
    with DevServer(tmp_path / "server", bearer=idp.user_of) as srv:
        with _client(srv, account.bearer_auth(), tmp_path / "state") as eas:
            assert any(f.type == 9 for f in eas.folder_sync())
            idp.expire_access_tokens()  # the server now answers 401 to the old token
            eas.folder_sync()
        assert idp.grants[-1] == "refresh_token"


def test_expired_sign_in_during_a_run_says_to_run_login(idp, certs, tmp_path):
    account = tokens(idp, certs, tmp_path / "state")
    account.login(lambda _: None)
    with (
        DevServer(tmp_path / "server", bearer=idp.user_of) as srv,
        _client(srv, account.bearer_auth(), tmp_path / "state") as eas,
    ):
        eas.folder_sync()
        idp.expire_access_tokens()
        idp.revoked = True
        with pytest.raises(AuthError) as err:
            eas.folder_sync()
    assert "eassync login cloud" in (err.value.hint or "")


def test_outlook_com_gets_the_anchor_mailbox_cookie():
    auth = OAuthBearer(lambda force: "tok", anchor_mailbox="a@outlook.com")
    outlook = requests.Request("POST", "https://eas.outlook.com/x").prepare()
    other = requests.Request("POST", "https://mail.example.test/x").prepare()
    assert auth(outlook).headers["Cookie"] == "DefaultAnchorMailbox=a@outlook.com"
    assert auth(outlook).headers["Authorization"] == "Bearer tok"
    assert "Cookie" not in auth(other).headers
    assert "tok" not in repr(auth)
