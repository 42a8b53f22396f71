"""EasClient against the bundled devserver (real HTTP on 127.0.0.1, real WBXML)."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from eassync.devserver import DevServer
from eassync.eas.client import (
    AccountSettings,
    ClientCommand,
    CollectionInvalidSyncKey,
    CollectionRequest,
    EasClient,
    SyncOptions,
)
from eassync.eas.element import E
from eassync.eas.state import AccountStateFile
from eassync.eas.transport import RetryPolicy
from eassync.errors import (
    AuthError,
    FolderHierarchyChanged,
    InvalidSyncKey,
    ProvisionError,
    RemoteWipeRequested,
    RequestFailed,
    ServerError,
    ThrottledError,
    TLSError,
    TransportError,
)

USER, PASSWORD = "alice", "secret"


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as server:
        yield server


class Recorder:
    """A real requests.Session that remembers what went over the wire."""

    def __init__(self) -> None:
        self.session = requests.Session()
        self.requests: list[requests.PreparedRequest] = []
        self.session.hooks["response"].append(self._hook)

    def _hook(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        self.requests.append(response.request)

    def commands(self) -> list[str]:
        out = []
        for req in self.requests:
            if req.method == "OPTIONS":
                out.append("OPTIONS")
                continue
            query = (req.url or "").split("?", 1)[1]
            out.append(dict(p.split("=", 1) for p in query.split("&"))["Cmd"])
        return out


def make_client(
    srv: DevServer,
    tmp_path: Path,
    *,
    recorder: Recorder | None = None,
    waits: list[float] | None = None,
    **kw: object,
) -> EasClient:
    retry = RetryPolicy(
        attempts=int(kw.pop("attempts", 3)),  # type: ignore[call-overload]
        sleep=(waits if waits is not None else []).append,
    )
    settings = AccountSettings(
        name=str(kw.pop("name", "work")),
        url=str(kw.pop("url", srv.url)),
        username=USER,
        password=str(kw.pop("password", PASSWORD)),
        state_dir=tmp_path / "state",
        retry=retry,
        **kw,  # type: ignore[arg-type]
    )
    return EasClient(settings, session=recorder.session if recorder else None)


def contacts_folder(client: EasClient) -> str:
    return next(f.server_id for f in client.folder_sync() if f.type == 9)


def contact(first: str, last: str = "Lovelace") -> E:
    return E(
        "AirSync:ApplicationData",
        E("Contacts:FirstName", value=first),
        E("Contacts:LastName", value=last),
    )


def prime(client: EasClient, folder: str) -> str:
    (resp,) = client.sync([CollectionRequest(folder, "0", options=SyncOptions())])
    assert resp.status == 1
    return resp.sync_key


def download(client: EasClient, folder: str, key: str, window: int = 512):
    """Pull until MoreAvailable is gone; returns (key, server commands, batches)."""
    commands, batches = [], []
    while True:
        (resp,) = client.sync(
            [CollectionRequest(folder, key, get_changes=True, window_size=window)]
        )
        assert resp.status == 1
        key = resp.sync_key
        commands.extend(resp.commands)
        batches.append(resp)
        if not resp.more_available:
            return key, commands, batches


# --- versions ---------------------------------------------------------------------------


def test_auto_negotiates_the_highest_common_version_and_caches_it(srv, tmp_path):
    rec = Recorder()
    with make_client(srv, tmp_path, recorder=rec) as client:
        assert client.version == "16.1"
        client.folder_sync()
    assert rec.commands()[0] == "OPTIONS"
    rec2 = Recorder()
    with make_client(srv, tmp_path, recorder=rec2) as client:
        assert client.version == "16.1"
        client.folder_sync()
    assert "OPTIONS" not in rec2.commands()


@pytest.mark.parametrize("version", ["12.1", "14.0", "14.1", "16.0", "16.1"])
def test_pinned_version_is_used_on_every_request(srv, tmp_path, version):
    rec = Recorder()
    with make_client(srv, tmp_path, recorder=rec, protocol_version=version) as client:
        folder = contacts_folder(client)
        srv.store.add_item(USER, folder, contact("Ada"))
        key = prime(client, folder)
        _, commands, _ = download(client, folder, key)
        assert [c.kind for c in commands] == ["add"]
        assert client.get_item_estimate([(folder, key, 0)]) is not None
    assert "OPTIONS" not in rec.commands()
    assert {r.headers["MS-ASProtocolVersion"] for r in rec.requests} == {version}


DOWNGRADED = ["12.1", "14.0", "14.1"]


def sent_versions(rec: Recorder) -> list[str]:
    return [r.headers.get("MS-ASProtocolVersion", "OPTIONS") for r in rec.requests]


def test_auto_re_probes_a_downgraded_server_stores_and_retries(srv, tmp_path):
    rec = Recorder()
    with make_client(srv, tmp_path, recorder=rec) as client:
        folder = contacts_folder(client)
        assert client.version == "16.1"
        srv.versions[:] = DOWNGRADED
        srv.store.add_item(USER, folder, contact("Ada"))
        key = prime(client, folder)  # refused at 16.1, OPTIONS, sent again at 14.1
        _, commands, _ = download(client, folder, key)
        assert [c.kind for c in commands] == ["add"]
        assert client.version == "14.1"
    assert rec.commands().count("OPTIONS") == 2
    assert rec.commands()[-4:] == ["Sync", "OPTIONS", "Sync", "Sync"]
    assert sent_versions(rec)[-4:] == ["16.1", "OPTIONS", "14.1", "14.1"]
    state = AccountStateFile(tmp_path / "state", "work").load()
    assert (state.protocol_version, state.server_versions) == ("14.1", DOWNGRADED)


def test_auto_re_probes_only_once_per_session(srv, tmp_path):
    rec = Recorder()
    with make_client(srv, tmp_path, recorder=rec) as client:
        client.folder_sync()
        srv.versions[:] = DOWNGRADED
        client.folder_sync()
        srv.versions[:] = ["12.1"]  # changes again within the same session
        with pytest.raises(ServerError) as err:
            client.folder_sync()
    assert err.value.status == 400
    assert "12.1" in str(err.value)
    assert rec.commands().count("OPTIONS") == 2  # the first negotiation and one re-probe
    assert sent_versions(rec)[-1] == "14.1"  # not retried


def test_provision_on_a_downgraded_server_re_probes_too(srv, tmp_path):
    with make_client(srv, tmp_path, provision_first=True) as client:
        client.folder_sync()
    srv.versions[:] = DOWNGRADED
    rec = Recorder()
    with make_client(srv, tmp_path, recorder=rec, provision_first=True) as client:
        client.folder_sync()
    assert rec.commands() == ["Provision", "OPTIONS", "Provision", "Provision", "FolderSync"]
    assert sent_versions(rec)[2:] == ["14.1"] * 3


def test_pinned_version_the_server_dropped_is_a_clear_error(srv, tmp_path):
    rec = Recorder()
    with make_client(srv, tmp_path, recorder=rec, protocol_version="16.1") as client:
        client.folder_sync()
        srv.versions[:] = DOWNGRADED
        with pytest.raises(ServerError) as err:
            client.folder_sync()
    message = str(err.value)
    assert "no longer supports the pinned protocol version 16.1" in message
    assert "12.1, 14.0, 14.1" in message
    assert err.value.hint == "set protocol_version to auto, or pin one of 12.1, 14.0, 14.1"
    assert "OPTIONS" not in rec.commands()  # the 400 carried the list
    assert rec.commands()[-2:] == ["FolderSync", "FolderSync"]  # no retry after the error
    assert AccountStateFile(tmp_path / "state", "work").load().protocol_version is None


# --- provisioning -----------------------------------------------------------------------


def test_provisions_on_demand_and_keeps_the_policy_key(srv, tmp_path):
    rec = Recorder()
    with make_client(srv, tmp_path, recorder=rec) as client:
        client.folder_sync()
        key = client.policy_key
    assert key
    assert rec.commands().count("Provision") == 2  # two phases
    assert rec.commands()[-1] == "FolderSync"
    assert rec.requests[-1].headers["X-MS-PolicyKey"] == key
    rec2 = Recorder()
    with make_client(srv, tmp_path, recorder=rec2) as client:
        client.folder_sync()
    assert "Provision" not in rec2.commands()
    assert rec2.requests[-1].headers["X-MS-PolicyKey"] == key


def test_http_449_provisions_and_retries_once(srv, tmp_path):
    with make_client(srv, tmp_path) as client:
        client.folder_sync()
        srv.faults.http_status(449, times=1)
        client.folder_sync()
        srv.faults.http_status(449, times=5)
        with pytest.raises(ProvisionError):
            client.folder_sync()


def test_status_142_provisions_and_retries(srv, tmp_path):
    rec = Recorder()
    with make_client(srv, tmp_path, recorder=rec) as client:
        client.folder_sync()
        before = rec.commands().count("Provision")
        srv.faults.status("FolderSync", 142, times=1)
        client.folder_sync()
    assert rec.commands().count("Provision") == before + 2


def test_provision_first_provisions_before_anything_else(srv, tmp_path):
    rec = Recorder()
    with make_client(srv, tmp_path, recorder=rec, provision_first=True) as client:
        client.folder_sync()
    # then DeviceInformation (≥14.1, once per account) and the FolderSync
    assert [c for c in rec.commands() if c != "OPTIONS"][:4] == [
        "Provision",
        "Provision",
        "Settings",
        "FolderSync",
    ]


# --- FolderSync -------------------------------------------------------------------------


def test_folder_sync_lists_classes_and_is_incremental(srv, tmp_path):
    with make_client(srv, tmp_path) as client:
        folders = client.folder_sync()
        classes = {f.eas_class for f in folders}
        assert {"Contacts", "Calendar", "Tasks"} <= classes
        new_id = srv.store.add_folder(USER, "Team", 14)
        folders2 = client.folder_sync()
        assert client.folder_changes is not None
        assert not client.folder_changes.resynced
        assert [f.server_id for f in client.folder_changes.appeared] == [new_id]
        assert len(folders2) == len(folders) + 1


def test_folder_sync_status_9_resyncs_without_losing_the_map(srv, tmp_path):
    with make_client(srv, tmp_path) as client:
        before = {f.server_id for f in client.folder_sync()}
        srv.faults.invalidate_sync_keys(USER)
        added = srv.store.add_folder(USER, "Later", 13)
        after = {f.server_id for f in client.folder_sync()}
        changes = client.folder_changes
    assert after == before | {added}
    assert changes is not None
    assert changes.resynced
    assert [f.server_id for f in changes.appeared] == [added]
    assert changes.vanished == []


# --- Sync -------------------------------------------------------------------------------


def test_sync_pages_with_more_available(srv, tmp_path):
    with make_client(srv, tmp_path) as client:
        folder = contacts_folder(client)
        srv.store.seed_contacts(USER, 25, folder)
        key = prime(client, folder)
        key, commands, batches = download(client, folder, key, window=10)
    assert [len(b.commands) for b in batches] == [10, 10, 5]
    assert [b.more_available for b in batches] == [True, True, False]
    assert len({c.server_id for c in commands}) == 25


def test_no_changes_returns_the_same_key(srv, tmp_path):
    with make_client(srv, tmp_path) as client:
        folder = contacts_folder(client)
        key, _, _ = download(client, folder, prime(client, folder))
        (resp,) = client.sync([CollectionRequest(folder, key, get_changes=True)])
    assert resp.commands == []
    assert resp.status == 1


def test_add_change_delete_with_responses(srv, tmp_path):
    with make_client(srv, tmp_path) as client:
        folder = contacts_folder(client)
        key, _, _ = download(client, folder, prime(client, folder))
        (resp,) = client.sync(
            [CollectionRequest(folder, key, commands=[ClientCommand.add("c1", contact("Ada"))])]
        )
        assert [(r.kind, r.client_id, r.status) for r in resp.responses] == [("add", "c1", 1)]
        server_id = resp.responses[0].server_id
        assert server_id
        key = resp.sync_key
        (resp,) = client.sync(
            [
                CollectionRequest(
                    folder, key, commands=[ClientCommand.change(server_id, contact("Augusta"))]
                )
            ]
        )
        assert all(r.status == 1 for r in resp.responses)  # no response = success
        assert srv.store.get_item(USER, folder, server_id).text("Contacts:FirstName") == "Augusta"
        key = resp.sync_key
        (resp,) = client.sync(
            [CollectionRequest(folder, key, commands=[ClientCommand.delete(server_id)])]
        )
        assert all(r.status == 1 for r in resp.responses)
        assert srv.store.count_items(USER, folder) == 0
        (resp,) = client.sync(
            [CollectionRequest(folder, resp.sync_key, commands=[ClientCommand.delete("nope")])]
        )
        assert [(r.kind, r.status) for r in resp.responses] == [("delete", 8)]


def test_an_empty_answer_to_a_sync_without_commands_means_no_changes(srv, tmp_path):
    with make_client(srv, tmp_path) as client:
        folder = contacts_folder(client)
        key, _, _ = download(client, folder, prime(client, folder))
        srv.faults.http_status(200, command="Sync")
        (resp,) = client.sync([CollectionRequest(folder, key, get_changes=True)])
    assert (resp.sync_key, resp.status, resp.commands) == (key, 1, [])


@pytest.mark.parametrize("kind", ["add", "change", "delete"])
def test_an_empty_answer_to_a_sync_with_commands_is_a_failure(srv, tmp_path, kind):
    # Horde 5.2 answers HTTP 200 with an empty body when PHP dies halfway (a stored
    # item, then a fatal error): taken as "no changes", a Change or Delete without a
    # response would count as applied (MS-ASCMD 2.2.3.24: success has no response).
    with make_client(srv, tmp_path) as client:
        folder = contacts_folder(client)
        key, _, _ = download(client, folder, prime(client, folder))
        (resp,) = client.sync(
            [CollectionRequest(folder, key, commands=[ClientCommand.add("c1", contact("Ada"))])]
        )
        server_id, key = resp.responses[0].server_id, resp.sync_key
        assert server_id
        command = {
            "add": ClientCommand.add("c2", contact("Byron")),
            "change": ClientCommand.change(server_id, contact("Augusta")),
            "delete": ClientCommand.delete(server_id),
        }[kind]
        srv.faults.http_status(200, command="Sync")
        with pytest.raises(RequestFailed, match="empty body") as caught:
            client.sync([CollectionRequest(folder, key, commands=[command])])
    assert "server's log" in (caught.value.hint or "")


HORDE_FATAL = (
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8">\n'
    "<title>Horde :: Fatal Error</title></head><body>Call to a member function "
    "setTimezone() on null</body></html>"
)


def test_an_error_page_answering_a_sync_is_reported_as_the_server_failing(srv, tmp_path):
    with make_client(srv, tmp_path) as client:
        folder = contacts_folder(client)
        key = prime(client, folder)
        srv.faults.http_status(
            200, command="Sync", body=HORDE_FATAL, headers={"Content-Type": "text/html"}
        )
        # the server's own words, and a failure of the server, not of the url
        with pytest.raises(RequestFailed, match=r"failed on Sync.*Horde :: Fatal Error") as caught:
            client.sync(
                [CollectionRequest(folder, key, commands=[ClientCommand.add("c1", contact("A"))])]
            )
    assert "web page" not in (caught.value.hint or "")


#: real Horde 5.2 at 16.0 (stock) downloading a series with exceptions: its Sync answer
#: starts as WBXML (Status, SyncKey, CollectionId, Status) and breaks off into a page
HORDE_BROKEN_OFF = (
    b"\x03\x01j\x00EN\x031\x00\x01\\OK\x03{6b14a667}5\x00\x01R\x03Aa11f8081\x00\x01N\x031\x00\x01"
    b"<html>\n<head><title>Horde :: Fatal Error</title></head>\n<body><h1>A fatal error has "
    b"occurred</h1><h3>Horde_ActiveSync_Message_Exception Unknown property: "
    b"exceptionstarttime</h3></body></html>"
)


def test_a_sync_answer_that_breaks_off_into_a_page_is_the_server_failing(srv, tmp_path):
    """Not "unknown token 0x3C": the server failed while answering, told in its words."""
    with make_client(srv, tmp_path) as client:
        folder = contacts_folder(client)
        key = prime(client, folder)
        srv.faults.http_status(
            200,
            command="Sync",
            body=HORDE_BROKEN_OFF,
            headers={"Content-Type": "application/vnd.ms-sync.wbxml"},
        )
        with pytest.raises(RequestFailed) as caught:
            client.sync([CollectionRequest(folder, key)])
    message = str(caught.value)
    assert "broke off" in message
    assert "'Horde :: Fatal Error'" in message
    assert "unknown token" not in message
    assert "<html" not in message
    assert "14.1" in (caught.value.hint or "")  # what a user can do about it


@pytest.mark.parametrize("header", [b"", b"\x03\x01\x6a\x00"])
def test_an_error_page_answering_a_pim_command_names_the_page_not_its_bytes(srv, tmp_path, header):
    """Real Horde 5.2: ResolveRecipients answers an HTML page alone, MeetingResponse a
    WBXML header and then the page. Either is the server failing, told by its title."""
    srv.faults.http_status(
        200,
        command="ResolveRecipients",
        body=header + HORDE_FATAL.encode(),
        headers={"Content-Type": "text/html"},
    )
    start = datetime(2030, 1, 1, 8, tzinfo=UTC)
    with make_client(srv, tmp_path) as client, pytest.raises(ServerError) as caught:
        client.availability(["bob@example.org"], start, start + timedelta(hours=8))
    message = str(caught.value)
    assert "the server failed on ResolveRecipients" in message
    assert "'Horde :: Fatal Error'" in message
    assert "<html" not in message
    assert "unknown token" not in message


def test_an_oof_set_refused_with_status_2_says_the_reply_was_not_set(srv, tmp_path):
    """Real Horde 5.2 without a mail filter app answers every Oof Set with Oof Status
    2: the server refused, which is no fault of the request eassync sent."""
    from eassync.eas import pim, wbxml

    answer = E(
        "Settings:Settings",
        E("Settings:Status", value="1"),
        E("Settings:Oof", E("Settings:Status", value="2")),
    )
    srv.faults.http_status(
        200,
        command="Settings",
        body=wbxml.encode(answer),
        headers={"Content-Type": "application/vnd.ms-sync.wbxml"},
    )
    with make_client(srv, tmp_path) as client, pytest.raises(ServerError) as caught:
        client.oof_set(pim.OofSettings(state=0))
    assert str(caught.value) == (
        "account 'work': the server did not set the out-of-office reply: it answered "
        "Oof Status 2 (protocol error)"
    )
    assert "web interface" in (caught.value.hint or "")


def test_status_3_raises_invalid_sync_key_for_the_collection(srv, tmp_path):
    with make_client(srv, tmp_path) as client:
        folder = contacts_folder(client)
        key = prime(client, folder)
        srv.faults.invalidate_sync_keys(USER)
        with pytest.raises(CollectionInvalidSyncKey) as err:
            client.sync([CollectionRequest(folder, key, get_changes=True)])
    assert isinstance(err.value, InvalidSyncKey)
    assert err.value.collection_id == folder


def test_several_collections_in_one_request(srv, tmp_path):
    with make_client(srv, tmp_path) as client:
        folders = client.folder_sync()
        ids = [f.server_id for f in folders if f.type in (7, 8, 9)]
        responses = client.sync([CollectionRequest(i, "0") for i in ids])
    assert [r.collection_id for r in responses] == ids
    assert all(r.status == 1 and r.sync_key != "0" for r in responses)


# --- HTTP failures ----------------------------------------------------------------------


def test_throttling_backs_off_then_succeeds(srv, tmp_path):
    waits: list[float] = []
    with make_client(srv, tmp_path, waits=waits) as client:
        client.folder_sync()
        srv.faults.throttle(times=1, retry_after=1)
        client.folder_sync()
    assert waits == [1.0]


def test_persistent_throttling_becomes_throttled_error(srv, tmp_path):
    waits: list[float] = []
    with make_client(srv, tmp_path, waits=waits, attempts=3) as client:
        client.folder_sync()
        srv.faults.throttle(times=10, retry_after=2)
        with pytest.raises(ThrottledError) as err:
            client.folder_sync()
    assert waits == [2.0, 2.0]
    assert err.value.exit_code == 75


def test_wrong_password_names_the_account_and_host(srv, tmp_path):
    with (
        make_client(srv, tmp_path, password="wrong") as client,
        pytest.raises(AuthError, match=r"account 'work' at 127\.0\.0\.1"),
    ):
        client.folder_sync()


def test_451_redirect_is_followed_and_remembered(srv, tmp_path):
    # a trusted host (plain http only because both ends are loopback)
    new_url = srv.url.replace("127.0.0.1", "localhost")
    with make_client(srv, tmp_path, redirect_trust=("localhost",)) as client:
        client.folder_sync()
        srv.faults.http_status(451, headers={"X-MS-Location": new_url})
        client.folder_sync()
        assert client.url == new_url
    rec = Recorder()
    with make_client(srv, tmp_path, recorder=rec, redirect_trust=("localhost",)) as client:
        client.folder_sync()
    assert all((r.url or "").startswith(new_url) for r in rec.requests)


def test_dropped_connection_is_retried(srv, tmp_path):
    waits: list[float] = []
    with make_client(srv, tmp_path, waits=waits) as client:
        client.folder_sync()
        srv.faults.drop_connection(times=1, command="FolderSync")
        client.folder_sync()
        assert waits == []  # the first retry goes out at once, on a fresh connection
        srv.faults.drop_connection(times=10, command="FolderSync")
        with pytest.raises(TransportError) as err:
            client.folder_sync()
    assert err.value.exit_code == 75


def test_unreachable_server_is_transient(tmp_path):
    settings = AccountSettings(
        name="work",
        url="http://127.0.0.1:9/Microsoft-Server-ActiveSync",
        username=USER,
        password=PASSWORD,
        state_dir=tmp_path,
        retry=RetryPolicy(attempts=2, sleep=lambda _s: None),
    )
    with EasClient(settings) as client, pytest.raises(TransportError):
        client.folder_sync()


# --- remote wipe ------------------------------------------------------------------------


def test_remote_wipe_stops_and_touches_nothing(srv, tmp_path):
    with make_client(srv, tmp_path) as client:
        client.folder_sync()
        state_file = AccountStateFile(tmp_path / "state", "work").path
        before = state_file.read_bytes()
        srv.faults.remote_wipe(USER)
        with pytest.raises(RemoteWipeRequested, match="account 'work'"):
            client.folder_sync()
        assert state_file.read_bytes() == before
        # never acknowledged automatically: asking again still raises
        with pytest.raises(RemoteWipeRequested):
            client.folder_sync()
        assert client.acknowledge_wipe() is True
    assert not state_file.exists()


# --- device identity and state ----------------------------------------------------------


def test_device_id_is_stable_and_state_file_private(srv, tmp_path):
    with make_client(srv, tmp_path) as first:
        first.folder_sync()
        device_id = first.device_id
    with make_client(srv, tmp_path) as second:
        assert second.device_id == device_id
    assert len(device_id) == 32
    assert device_id.isalnum()
    path = AccountStateFile(tmp_path / "state", "work").path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with make_client(srv, tmp_path, name="other") as third:
        assert third.device_id != device_id


# --- other commands ---------------------------------------------------------------------


def test_estimate_fetch_settings(srv, tmp_path):
    with make_client(srv, tmp_path) as client:
        folder = contacts_folder(client)
        server_id = srv.store.add_item(USER, folder, contact("Ada"))
        key = prime(client, folder)
        assert client.get_item_estimate([(folder, key, 0)]) == {folder: 1}
        props = client.fetch_item(folder, server_id)
        assert props.text("Contacts:FirstName") == "Ada"
        client.settings_device_information()
        info = client.user_information()
    assert info["primary_smtp_address"]


def test_ping_reports_changed_folders_and_expiry(srv, tmp_path):
    with make_client(srv, tmp_path) as client:
        folder = contacts_folder(client)
        download(client, folder, prime(client, folder))
        assert client.ping([(folder, "Contacts")], 1).status == 1  # heartbeat ran out
        srv.store.add_item(USER, folder, contact("Ada"))
        result = client.ping(None, None)  # empty Ping: the server's cached one
    assert result.status == 2
    assert result.folders == [folder]


def test_sync_status_16_is_retried_once_then_an_error(srv, tmp_path):
    with make_client(srv, tmp_path) as client:
        folder = contacts_folder(client)
        key = prime(client, folder)
        srv.faults.status("Sync", 16, times=1)
        (resp,) = client.sync([CollectionRequest(folder, key, get_changes=True)])
        assert resp.status == 1
        srv.faults.status("Sync", 16, times=2)
        with pytest.raises(ServerError) as err:
            client.sync([CollectionRequest(folder, resp.sync_key, get_changes=True)])
    assert err.value.status == 16


def test_sync_status_12_is_folder_hierarchy_changed(srv, tmp_path):
    with make_client(srv, tmp_path) as client:
        folder = contacts_folder(client)
        key = prime(client, folder)
        srv.faults.status("Sync", 12, times=1)
        with pytest.raises(FolderHierarchyChanged):
            client.sync([CollectionRequest(folder, key, get_changes=True)])


def test_status_111_backs_off_and_110_persisting_is_throttled(srv, tmp_path):
    waits: list[float] = []
    with make_client(srv, tmp_path, waits=waits, attempts=3) as client:
        client.folder_sync()
        srv.faults.status("FolderSync", 111, times=1)
        client.folder_sync()
        assert len(waits) == 1
        srv.faults.status("FolderSync", 110, times=5)
        with pytest.raises(ThrottledError):
            client.folder_sync()


def test_status_140_provisions_and_raises_when_a_wipe_is_pending(srv, tmp_path):
    with make_client(srv, tmp_path) as client:
        client.folder_sync()
        # 140 without a pending wipe: Provision finds none; the command is retried
        srv.faults.status("FolderSync", 140, times=1)
        client.folder_sync()
        srv.faults.remote_wipe(USER)
        srv.faults.status("FolderSync", 140, times=1)
        with pytest.raises(RemoteWipeRequested):
            client.folder_sync()


def test_account_disabled_status_is_an_auth_error(srv, tmp_path):
    with make_client(srv, tmp_path) as client:
        client.folder_sync()
        srv.faults.status("FolderSync", 129, times=1)
        with pytest.raises(AuthError, match="account 'work'"):
            client.folder_sync()


def test_devserver_over_tls_with_a_private_ca(tmp_path):
    from tests.unit.test_eas_transport import _cert_pair

    ca, cert, key = _cert_pair(tmp_path)
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}, tls=(cert, key)) as srv:
        assert srv.url.startswith("https://")
        with make_client(srv, tmp_path, name="untrusted") as client, pytest.raises(TLSError):
            client.folder_sync()
        with make_client(srv, tmp_path, verify=str(ca)) as client:
            assert client.folder_sync()
