"""NTLM against the devserver, whose acceptor is pyspnego (a real NTLM handshake)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3.util.connection

from eassync.devserver import DevServer
from eassync.eas.auth import NtlmAuth
from eassync.eas.client import AccountSettings, EasClient, RetryPolicy
from eassync.errors import AuthError

USER, PASSWORD = "alice", "s3cret-ü"


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}, ntlm=True) as server:
        yield server


def client(srv: DevServer, tmp_path: Path, username: str, password: str, **kw) -> EasClient:
    return EasClient(
        AccountSettings(
            name="onprem",
            url=srv.url,
            username=username,
            auth=NtlmAuth(username, password),
            state_dir=tmp_path / "state",
            retry=RetryPolicy(attempts=2, sleep=lambda s: None),
        ),
        **kw,
    )


@pytest.mark.parametrize("username", ["DEVSERVER\\alice", "alice"])
def test_ntlm_handshake_then_commands_on_the_kept_connection(srv, tmp_path, username, monkeypatch):
    opened: list[object] = []
    real_create = urllib3.util.connection.create_connection

    def counting_create(*args, **kwargs):
        sock = real_create(*args, **kwargs)
        opened.append(sock)
        return sock

    monkeypatch.setattr(urllib3.util.connection, "create_connection", counting_create)
    with client(srv, tmp_path, username, PASSWORD) as eas:
        folders = eas.folder_sync()
        assert any(f.type == 9 for f in folders)
        eas.folder_sync()
    # the three handshake legs and every later command share one connection: the
    # server binds the NTLM context to it, so a new connection would have failed
    assert len(opened) == 1


def test_ntlm_wrong_password_says_so(srv, tmp_path):
    with (
        client(srv, tmp_path, "DEVSERVER\\alice", "wrong") as eas,
        pytest.raises(AuthError, match="wrong username or password") as err,
    ):
        eas.folder_sync()
    assert "onprem" in str(err.value)
    assert err.value.exit_code == 2  # fix the config: a config error


def test_ntlm_repr_hides_the_password():
    auth = NtlmAuth("DOM\\alice", "hunter2")
    assert "hunter2" not in repr(auth)
    assert "DOM" in repr(auth)


def test_basic_still_accepted_by_an_ntlm_devserver(srv, tmp_path):
    with EasClient(
        AccountSettings(
            name="basic",
            url=srv.url,
            username=USER,
            password=PASSWORD,
            state_dir=tmp_path / "state2",
        )
    ) as eas:
        assert eas.folder_sync()
