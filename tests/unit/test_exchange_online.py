"""Exchange Online readiness (issue 15) against the devserver's exchange-online
personality: Settings/DeviceInformation once per account, the 165/138 recoveries
(bounded), configurable device identity, blocked and quarantined devices."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eassync.devserver import DevServer
from eassync.eas import commands as cmds
from eassync.eas import wbxml
from eassync.eas.client import AccountSettings, EasClient
from eassync.errors import DeviceBlocked, ProvisionError, ServerError
from tests.unit.test_eas_client import PASSWORD, USER, Recorder, make_client

MODEL = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=12)
DEVICE_TYPE = st.text("abcXYZ019", min_size=1, max_size=8)


@pytest.fixture
def exo(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(
        tmp_path / "server", users={USER: PASSWORD}, personality="exchange-online"
    ) as server:
        yield server


def posts(rec: Recorder) -> list[str]:
    return [c for c in rec.commands() if c != "OPTIONS"]


def bodies(rec: Recorder, command: str) -> list[str]:
    """The XML of every request body of ``command`` that went over the wire."""
    out = []
    for req in rec.requests:
        if req.method == "POST" and f"Cmd={command}" in (req.url or ""):
            assert isinstance(req.body, bytes)
            out.append(wbxml.decode(req.body).to_xml())
    return out


# --- the request ------------------------------------------------------------------------


def test_device_information_bytes_follow_the_schema_order():
    info = cmds.DeviceInfo(
        model="Model-X", friendly_name="laptop", os="Linux 6.1", user_agent="eassync/9"
    )
    raw = wbxml.encode(cmds.build_settings_device_information(info))
    root = wbxml.decode(raw)
    assert root.tag == "Settings:Settings"
    (device,) = root.children
    assert device.tag == "Settings:DeviceInformation"
    (set_,) = device.children
    # MS-ASCMD 2.2.3.159 (Set): Model, IMEI, FriendlyName, OS, OSLanguage, PhoneNumber,
    # UserAgent, EnableOutboundSMS, MobileOperator; absent ones are left out
    assert [(c.tag, c.text()) for c in set_.children] == [
        ("Settings:Model", "Model-X"),
        ("Settings:FriendlyName", "laptop"),
        ("Settings:OS", "Linux 6.1"),
        ("Settings:UserAgent", "eassync/9"),
    ]
    assert wbxml.encode(root) == raw


# --- once per account, before the first FolderSync --------------------------------------


def test_sent_once_per_account_before_the_first_folder_sync(exo, tmp_path):
    rec = Recorder()
    with make_client(exo, tmp_path, recorder=rec) as client:
        client.folder_sync()
        assert client.version == "16.1"
    assert posts(rec)[:2] == ["Settings", "FolderSync"]
    assert posts(rec).count("Settings") == 1
    # a later run (same account state) does not send it again
    again = Recorder()
    with make_client(exo, tmp_path, recorder=again) as client:
        client.folder_sync()
    assert "Settings" not in posts(again)


def test_sent_again_when_the_device_fields_change(exo, tmp_path):
    with make_client(exo, tmp_path) as client:
        client.folder_sync()
    rec = Recorder()
    with make_client(exo, tmp_path, recorder=rec, device_model="Other") as client:
        client.folder_sync()
    assert posts(rec).count("Settings") == 1
    assert "<Model>Other</Model>" in bodies(rec, "Settings")[0]


def test_not_sent_below_14_1(tmp_path):
    rec = Recorder()
    with (
        DevServer(tmp_path / "server", users={USER: PASSWORD}) as srv,
        make_client(srv, tmp_path, recorder=rec, protocol_version="14.0") as client,
    ):
        client.folder_sync()
    assert "Settings" not in posts(rec)


def test_a_server_refusing_settings_does_not_stop_the_sync(tmp_path):
    with DevServer(tmp_path / "server", users={USER: PASSWORD}) as srv:
        srv.faults.status("Settings", 2, times=5)  # Settings protocol error
        with make_client(srv, tmp_path) as client:
            folders = client.folder_sync()
    assert any(f.type == 9 for f in folders)


# --- Status 165 and 138 -----------------------------------------------------------------


def test_provision_165_sends_device_information_and_provisions_again(exo, tmp_path):
    rec = Recorder()
    with make_client(exo, tmp_path, recorder=rec) as client:
        client.provision()  # no Settings sent yet: the server answers 165 first
        assert client.policy_key
    assert posts(rec) == ["Provision", "Settings", "Provision", "Provision"]


def test_provision_165_for_ever_ends_with_one_retry(exo, tmp_path):
    exo.faults.status("Provision", 165, times=50)
    rec = Recorder()
    with make_client(exo, tmp_path, recorder=rec) as client, pytest.raises(ProvisionError) as err:
        client.provision()
    assert err.value.status == 165
    assert "DeviceInformation" in str(err.value)
    assert posts(rec) == ["Provision", "Settings", "Provision"]


def test_status_138_after_the_server_lost_the_device_information(exo, tmp_path):
    with make_client(exo, tmp_path) as client:
        client.folder_sync()
    exo.store.forget_device_information(USER)
    rec = Recorder()
    with make_client(exo, tmp_path, recorder=rec) as client:
        client.folder_sync()
    assert posts(rec) == ["FolderSync", "Settings", "FolderSync"]


def test_status_138_for_ever_ends(exo, tmp_path):
    with make_client(exo, tmp_path) as client:
        client.folder_sync()
    exo.faults.status("FolderSync", 138, times=50)
    rec = Recorder()
    with make_client(exo, tmp_path, recorder=rec) as client, pytest.raises(ServerError):
        client.folder_sync()
    # once after DeviceInformation, once after asking OPTIONS again: no more
    assert posts(rec).count("FolderSync") == 3
    assert posts(rec).count("Settings") == 1


# --- the device as the admin sees it ----------------------------------------------------


def test_device_type_model_and_user_agent_on_the_wire(exo, tmp_path):
    rec = Recorder()
    with make_client(
        exo,
        tmp_path,
        recorder=rec,
        device_type="Allowed1",
        device_model="Approved Model",
        user_agent="Corp-eassync/1.0",
    ) as client:
        client.folder_sync()
    assert rec.requests
    assert {r.headers["User-Agent"] for r in rec.requests} == {"Corp-eassync/1.0"}
    assert all("DeviceType=Allowed1" in (r.url or "") for r in rec.requests if r.method == "POST")
    xml = bodies(rec, "Settings")[0]
    assert "<Model>Approved Model</Model>" in xml
    assert "<UserAgent>Corp-eassync/1.0</UserAgent>" in xml


@pytest.mark.parametrize("code", [126, 129, 130, 177, 403])
def test_a_blocked_or_quarantined_device_names_its_id_and_type(exo, tmp_path, code):
    exo.settings.quarantine = code
    with make_client(exo, tmp_path, device_type="Phone7") as client:
        with pytest.raises(DeviceBlocked) as err:
            client.folder_sync()
        device_id = client.device_id
    text = f"{err.value} {err.value.hint}"
    assert device_id in text
    assert "Phone7" in text
    assert err.value.status == code
    assert err.value.exit_code == 1


def test_blocked_on_a_later_command_too(exo, tmp_path):
    with make_client(exo, tmp_path) as client:
        client.folder_sync()
        exo.settings.quarantine = 129
        with pytest.raises(DeviceBlocked):
            client.folder_sync()


def test_an_answer_that_is_no_settings_document_does_not_stop_the_sync(tmp_path):
    with DevServer(tmp_path / "server", users={USER: PASSWORD}) as srv:
        srv.faults.http_status(
            200,
            command="Settings",
            body="<html>sign in</html>",
            headers={"Content-Type": "text/html"},
        )
        rec = Recorder()
        with make_client(srv, tmp_path, recorder=rec) as client:
            assert any(f.type == 9 for f in client.folder_sync())
        # remembered: a server without Settings does not get (and warn about) it every run
        again = Recorder()
        with make_client(srv, tmp_path, recorder=again) as client:
            client.folder_sync()
    assert posts(rec).count("Settings") == 1
    assert "Settings" not in posts(again)


@settings(max_examples=40, deadline=None)
@given(
    a=st.tuples(MODEL, MODEL, DEVICE_TYPE),
    b=st.tuples(MODEL, MODEL, DEVICE_TYPE),
)
def test_device_information_is_sent_again_exactly_when_a_field_changed(tmp_path_factory, a, b):
    state = tmp_path_factory.mktemp("state")

    def client(fields: tuple[str, str, str]) -> EasClient:
        model, agent, device_type = fields
        return EasClient(
            AccountSettings(
                name="work",
                url="https://mail.example.test/Microsoft-Server-ActiveSync",
                username=USER,
                password=PASSWORD,
                state_dir=state,
                device_model=model,
                user_agent=agent,
                device_type=device_type,
            )
        )

    first = client(a)
    first._state.device_info = first._device_fingerprint()  # as after a successful send
    first._save()
    assert client(b).device_information_sent == (a == b)


# --- the config keys --------------------------------------------------------------------


def _config(tmp_path: Path, extra: str) -> Path:
    from tests.unit.test_config import MINIMAL, write

    text = MINIMAL.replace("    username: alice\n", "    username: alice\n" + extra)
    return write(tmp_path, text)


def test_device_keys_default_to_eassync_own(tmp_path):
    from eassync.config import load_config

    acc = load_config(_config(tmp_path, "")).accounts["work"]
    assert (acc.device_type, acc.device_model, acc.user_agent) == ("eassync", "eassync", None)


def test_device_keys_are_read(tmp_path):
    from eassync.config import load_config

    extra = "    device_type: CorpPhone\n    device_model: Corp Model 7\n    user_agent: Corp/2.0\n"
    acc = load_config(_config(tmp_path, extra)).accounts["work"]
    assert (acc.device_type, acc.device_model, acc.user_agent) == (
        "CorpPhone",
        "Corp Model 7",
        "Corp/2.0",
    )


@pytest.mark.parametrize(
    "extra",
    [
        '    user_agent: "a\\r\\nX-Injected: 1"\n',  # no header injection
        '    user_agent: ""\n',
        '    device_model: "tab\\there"\n',
        "    device_model: " + "m" * 65 + "\n",
    ],
)
def test_bad_device_keys_are_config_errors(tmp_path, extra):
    from eassync.config import load_config
    from eassync.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        load_config(_config(tmp_path, extra))
    assert any("user_agent" in p or "device_model" in p for p in err.value.problems)
