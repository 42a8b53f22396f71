"""``AccountSettings(persist=False)`` (``sync --dry-run``): the account state is read
but never written, whatever the client does (OPTIONS, Provision, FolderSync)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eassync.devserver import DevServer
from eassync.eas.client import AccountSettings, EasClient
from eassync.eas.state import AccountStateFile

USER, PASSWORD = "alice", "secret"


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as server:
        yield server


def _client(srv: DevServer, state_dir: Path, *, persist: bool) -> EasClient:
    settings = AccountSettings(
        name="work",
        url=srv.url,
        username=USER,
        password=PASSWORD,
        state_dir=state_dir,
        provision_first=True,
        persist=persist,
    )
    return EasClient(settings)


def test_a_client_that_does_not_persist_writes_no_state(srv: DevServer, tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    with _client(srv, state_dir, persist=False) as client:
        assert client.folder_sync()
        assert client.policy_key
    assert not state_dir.exists()


def test_it_reads_the_stored_state_and_leaves_it_as_it_was(srv: DevServer, tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    with _client(srv, state_dir, persist=True) as client:
        client.folder_sync()
        device_id = client.device_id
    path = AccountStateFile(state_dir, "work").path
    before = path.read_bytes()
    srv.store.add_folder(USER, "Team", 14)  # a FolderSync with something new
    with _client(srv, state_dir, persist=False) as client:
        assert client.device_id == device_id
        assert "Team" in {f.display_name for f in client.folder_sync()}
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
