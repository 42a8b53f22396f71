"""Exchange Online readiness through the real CLI (issue 15): ``eassync sync`` and
``eassync doctor`` against the devserver's exchange-online personality (16.1 only,
Provision 165 / Status 138 until Settings/DeviceInformation, quarantine on demand), and
OAuth2 sign-ins refused with Microsoft's AADSTS codes by the tests' identity provider.

The CLI runs in a subprocess, except where the test identity provider must be injected
(the OAuth authority host): there it runs in-process (``run_inprocess``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from eassync.config import load_config
from eassync.devserver import DevServer
from eassync.eas import oauth
from eassync.eas.state import AccountStateFile
from tests.servers.certs import make_certs
from tests.servers.fake_idp import TENANT, FakeIdP, fake_idp

from .helpers import PASSWORD, USER, person, run_cli, write_config, write_contacts_config
from .test_accounts import run_inprocess

STEP_NAMES = [
    "config",
    "secret",
    "autodiscover",
    "dns",
    "tls",
    "login",
    "versions",
    "provision",
    "device_information",
    "folders",
    "pairs",
]


@pytest.fixture
def exo(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(
        tmp_path / "server", users={USER: PASSWORD}, personality="exchange-online"
    ) as server:
        folder = server.store.default_folder(USER, 9)
        server.store.add_items_bulk(USER, folder, [person(i) for i in range(3)])
        yield server


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"), ["localhost"])


def device_config(folder: Path, url: str, extra: str = "") -> Path:
    return write_contacts_config(
        folder,
        f"""\
        url: {url}
        username: {USER}
        password: {{env: EASSYNC_TEST_PASSWORD}}
        device_type: CorpPhone
        device_model: Corp Model 7
        user_agent: Corp-eassync/2.0
        """
        + extra,
        name="dev",
    )


def device_id(config: Path) -> str:
    return AccountStateFile(load_config(config).general.status_dir, "dev").load().device_id


def no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text


# --- sync ---------------------------------------------------------------------------------


def test_sync_sends_device_information_once_and_syncs(exo, tmp_path):
    config = device_config(tmp_path, exo.url)
    first = run_cli(config, "sync", check=True)
    assert len(list((tmp_path / "contacts").glob("*.vcf"))) == 3
    second = run_cli(config, "sync", check=True)
    no_traceback(first.stderr, second.stderr)
    assert exo.requests["Settings"] == 1  # once per account, not every run
    info = json.loads(exo.store.device(USER, device_id(config))["info"] or "{}")
    assert info["Model"] == "Corp Model 7"
    assert info["UserAgent"] == "Corp-eassync/2.0"
    assert exo.store.device(USER, device_id(config))["device_type"] == "CorpPhone"


def test_sync_recovers_when_the_server_lost_the_device_information(exo, tmp_path):
    config = device_config(tmp_path, exo.url)
    run_cli(config, "sync", check=True)
    exo.store.forget_device_information(USER)  # the server now answers Status 138
    proc = run_cli(config, "sync")
    assert proc.returncode == 0, proc.stderr
    assert exo.requests["Settings"] == 2


@pytest.mark.parametrize("code", [129, 403])
def test_sync_of_a_quarantined_device_names_it_for_the_admin(exo, tmp_path, code):
    config = device_config(tmp_path, exo.url)
    run_cli(config, "sync", check=True)
    exo.settings.quarantine = code
    proc = run_cli(config, "sync")
    assert proc.returncode == 1
    assert device_id(config) in proc.stderr
    assert "DeviceType CorpPhone" in proc.stderr
    no_traceback(proc.stderr)


# --- doctor ---------------------------------------------------------------------------------


def test_doctor_walks_an_exchange_online_server(exo, tmp_path):
    config = device_config(tmp_path, exo.url)
    proc = run_cli(config, "doctor", "dev")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "16.1 only" in out
    assert "DeviceType CorpPhone" in out
    assert "contacts: Contacts" in out
    assert "contacts → Contacts" in out  # the pair's folder
    assert "a sync of this account would work" in out
    no_traceback(proc.stderr)
    # and it does, without sending DeviceInformation again
    before = exo.requests["Settings"]
    run_cli(config, "sync", check=True)
    assert exo.requests["Settings"] == before


def test_doctor_json_for_scripts(exo, tmp_path):
    config = device_config(tmp_path, exo.url)
    proc = run_cli(config, "doctor", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["exit_code"] == 0
    steps = report["accounts"]["dev"]["steps"]
    assert [s["step"] for s in steps] == STEP_NAMES
    by_name = {s["step"]: s for s in steps}
    assert by_name["versions"]["data"] == {"offered": ["16.1"], "using": "16.1"}
    assert by_name["autodiscover"]["status"] == "skipped"
    assert by_name["tls"]["status"] == "warning"  # plain HTTP on loopback
    assert by_name["device_information"]["data"]["device_id"] == device_id(config)
    names = {f["name"] for f in by_name["folders"]["data"]["folders"]}
    assert {"Contacts", "Calendar", "Tasks"} <= names


def test_doctor_says_where_a_wrong_password_stops_it(exo, tmp_path, monkeypatch):
    config = write_contacts_config(
        tmp_path,
        f"""\
        url: {exo.url}
        username: {USER}
        password: wrong
        """,
        name="dev",
    )
    proc = run_cli(config, "doctor", "--json")
    assert proc.returncode == 2  # a wrong password is a config error
    steps = {s["step"]: s for s in json.loads(proc.stdout)["accounts"]["dev"]["steps"]}
    assert steps["login"]["status"] == "failed"
    assert "wrong username or password" in steps["login"]["detail"]
    assert steps["login"]["hint"]
    assert steps["folders"]["status"] == "not tried"
    text = run_cli(config, "doctor")
    assert "FAIL  login" in text.stdout
    assert "what to do:" in text.stdout
    no_traceback(proc.stderr, text.stderr)


def test_doctor_shows_a_quarantined_device(exo, tmp_path):
    exo.settings.quarantine = 130
    config = device_config(tmp_path, exo.url)
    proc = run_cli(config, "doctor", "--json")
    assert proc.returncode == 1
    steps = {s["step"]: s for s in json.loads(proc.stdout)["accounts"]["dev"]["steps"]}
    failed = steps["provision"]
    assert failed["status"] == "failed"
    assert failed["data"]["device_id"] == device_id(config)
    assert failed["data"]["device_type"] == "CorpPhone"
    assert failed["data"]["status"] == 130
    assert device_id(config) in failed["detail"]


def test_doctor_unreachable_server_is_transient(tmp_path):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = write_config(tmp_path, f"http://127.0.0.1:{port}/Microsoft-Server-ActiveSync")
    proc = run_cli(config, "doctor")
    assert proc.returncode == 75
    assert "FAIL  connection, TLS" in proc.stdout
    assert f"cannot connect to 127.0.0.1:{port}" in proc.stdout
    no_traceback(proc.stderr)


def test_doctor_untrusted_certificate_then_trusted(tmp_path, certs):
    with DevServer(tmp_path / "server", users={USER: PASSWORD}, tls=(certs.cert, certs.key)) as srv:
        url = srv.url.replace("127.0.0.1", "localhost")
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        untrusted = run_cli(write_config(tmp_path / "a", url), "doctor", "--json")
        assert untrusted.returncode == 1
        steps = {s["step"]: s for s in json.loads(untrusted.stdout)["accounts"]["dev"]["steps"]}
        assert steps["tls"]["status"] == "failed"
        assert "verify" in steps["tls"]["hint"]
        trusted = run_cli(write_config(tmp_path / "b", url, verify=str(certs.ca)), "doctor")
        assert trusted.returncode == 0, trusted.stdout
        assert "verified" in trusted.stdout


def test_doctor_config_error_exits_2(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("accounts: {dev: {url: 5}}\n", encoding="utf-8")
    proc = run_cli(config, "doctor", "--json")
    assert proc.returncode == 2
    report = json.loads(proc.stdout)
    assert report["config"]["status"] == "failed"
    assert report["config"]["data"]["problems"]
    text = run_cli(config, "doctor")
    assert text.returncode == 2
    no_traceback(proc.stderr, text.stderr)


def test_doctor_unknown_account_exits_2(exo, tmp_path):
    proc = run_cli(device_config(tmp_path, exo.url), "doctor", "nope")
    assert proc.returncode == 2
    assert "no account named 'nope'" in proc.stderr


# --- OAuth2: Microsoft's AADSTS errors -------------------------------------------------


@pytest.fixture
def idp(certs, monkeypatch) -> Iterator[FakeIdP]:
    with fake_idp(certs) as provider:
        monkeypatch.setattr(oauth, "AUTHORITY_HOST", provider.host)
        yield provider


AADSTS = {
    "65001": "consent required",
    "7000112": "app disabled",
    "700016": "app not in tenant",
    "53003": "blocked by Conditional Access",
    "70011": "invalid scope",
}


def test_doctor_explains_refused_sign_ins(tmp_path, certs, idp, capsys):
    with DevServer(
        tmp_path / "server",
        users={USER: "unused"},
        tls=(certs.cert, certs.key),
        bearer=idp.user_of,
        personality="exchange-online",
    ) as srv:
        config = write_contacts_config(
            tmp_path,
            f"""\
            url: {srv.url.replace("127.0.0.1", "localhost")}
            auth: oauth2
            email: {idp.email}
            username: {USER}
            tenant: {TENANT}
            verify: {certs.ca}
            """,
        )
        code, _, err = run_inprocess(config, "login", "acc", capsys=capsys)
        assert code == 0, err
        code, out, err = run_inprocess(config, "doctor", "acc", capsys=capsys)
        assert code == 0, out + err
        assert "a fresh access token was issued" in out
        for number, name in AADSTS.items():
            idp.aadsts = number
            code, out, err = run_inprocess(config, "doctor", "acc", "--json", capsys=capsys)
            assert code == 1, (number, out, err)
            steps = {s["step"]: s for s in json.loads(out)["accounts"]["acc"]["steps"]}
            failed = steps["secret"]
            assert failed["status"] == "failed", number
            assert failed["data"]["aadsts"] == number
            assert name in failed["hint"], (number, failed)
            code, out, _ = run_inprocess(config, "doctor", "acc", capsys=capsys)
            assert f"AADSTS{number}" in out
            assert f"means: {name}" in out


def test_doctor_fails_when_a_pair_names_a_folder_the_server_lacks(exo, tmp_path):
    config = write_config(tmp_path, exo.url)
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("{default: contacts}", "{folder: Nowhere}"), encoding="utf-8")
    proc = run_cli(config, "doctor", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    steps = {s["step"]: s for s in json.loads(proc.stdout)["accounts"]["dev"]["steps"]}
    assert steps["folders"]["status"] == "ok"
    assert steps["pairs"]["status"] == "failed"
    assert "Nowhere" in steps["pairs"]["detail"]
