"""Every protocol version eassync speaks, exercised through the CLI against the devserver:
pinned with ``protocol_version:``, negotiated with ``auto``, and re-probed when the
server's version list changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from eassync.cli import main
from eassync.config import load_config
from eassync.demo_data import contact
from eassync.devserver import DevServer
from eassync.eas.state import AccountStateFile
from eassync.eas.versions import SUPPORTED
from tests.e2e.helpers import PASSWORD, USER, write_contacts_config


def write_config(folder: Path, url: str, version: str) -> Path:
    return write_contacts_config(
        folder,
        f"""\
        url: {url}
        username: {USER}
        password: {PASSWORD}
        protocol_version: "{version}"
        """,
    )


def sync(config: Path, capsys) -> str:
    code = 0
    try:
        main(["-c", str(config), "sync"])
    except SystemExit as exc:
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 0, err
    return err


def local_card(folder: Path, uid: str, given: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{uid}.vcf").write_text(
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{given} Local\r\n"
        f"N:Local;{given};;;\r\nEND:VCARD\r\n",
        encoding="utf-8",
    )


def contacts_id(srv: DevServer) -> str:
    return next(f.server_id for f in srv.store.folders(USER) if f.type == 9)


def server_first_names(srv: DevServer) -> set[str]:
    return {
        item.text("Contacts:FirstName") or ""
        for item in srv.store.items(USER, contacts_id(srv)).values()
    }


@pytest.mark.parametrize("version", SUPPORTED)
def test_pinned_version_syncs_both_ways(tmp_path, capsys, version):
    with DevServer(tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder = next(f for f in srv.store.folders(USER) if f.type == 9)
        srv.store.add_item(USER, folder.server_id, contact({"FirstName": "Remote"}))
        local_card(tmp_path / "contacts", "local-1", "Here")
        config = write_config(tmp_path, srv.url, version)
        sync(config, capsys)
        assert server_first_names(srv) == {"Remote", "Here"}
        assert len(list((tmp_path / "contacts").glob("*.vcf"))) == 2
        assert srv.requests["OPTIONS"] == 0  # a pinned version needs no negotiation


@pytest.mark.parametrize("highest", SUPPORTED)
def test_auto_picks_the_highest_version_the_server_offers(tmp_path, capsys, highest):
    offered = ["2.5", "12.0", *SUPPORTED[: SUPPORTED.index(highest) + 1]]
    with DevServer(tmp_path / "server", users={USER: PASSWORD}, versions=offered) as srv:
        config = write_config(tmp_path, srv.url, "auto")
        sync(config, capsys)
    state = AccountStateFile(load_config(config).general.status_dir, "acc").load()
    assert state.protocol_version == highest


def test_server_whose_version_list_shrinks_is_reprobed(tmp_path, capsys):
    with DevServer(tmp_path / "server", users={USER: PASSWORD}) as srv:
        config = write_config(tmp_path, srv.url, "auto")
        sync(config, capsys)
    # the same server (same data), downgraded: 16.x is gone; it answers 16.1 with
    # HTTP 400 and its new version list, the client asks OPTIONS again and retries
    with DevServer(
        tmp_path / "server", users={USER: PASSWORD}, versions=["12.1", "14.0", "14.1"]
    ) as srv:
        srv.store.add_item(USER, contacts_id(srv), contact({"FirstName": "After"}))
        config = write_config(tmp_path, srv.url, "auto")
        sync(config, capsys)
        assert srv.requests["OPTIONS"] == 1
    state = AccountStateFile(load_config(config).general.status_dir, "acc").load()
    assert state.protocol_version == "14.1"
    assert len(list((tmp_path / "contacts").glob("*.vcf"))) == 1


def test_pinned_version_the_server_no_longer_offers_fails_clearly(tmp_path, capsys):
    with DevServer(tmp_path / "server", users={USER: PASSWORD}) as srv:
        config = write_config(tmp_path, srv.url, "16.1")
        sync(config, capsys)
    with DevServer(
        tmp_path / "server", users={USER: PASSWORD}, versions=["12.1", "14.0", "14.1"]
    ) as srv:
        config = write_config(tmp_path, srv.url, "16.1")
        with pytest.raises(SystemExit) as exited:
            main(["-c", str(config), "sync"])
        assert srv.requests["OPTIONS"] == 0
    err = capsys.readouterr().err
    assert exited.value.code == 1, err
    assert "no longer supports the pinned protocol version 16.1" in err
    assert "12.1, 14.0, 14.1" in err
