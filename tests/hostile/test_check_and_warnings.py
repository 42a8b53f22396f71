"""Issue 14 items 2 and 4 through the real CLI: ``eassync check`` shows the URL an
account really uses and where it comes from, and a password over plain http is
warned about (in check and on every sync) unless the server is this machine."""

from __future__ import annotations

import json
import logging
import textwrap
from pathlib import Path

import pytest

from eassync.accounts import open_client
from eassync.config import load_config
from eassync.eas.state import AccountStateFile
from eassync.net.origin import plain_http_warning
from eassync.storage.dav import DavSession
from tests.e2e.helpers import run_cli

pytestmark = pytest.mark.timeout(120)


def write(folder: Path, url: str, *, extra_account: str = "", storage: str = "") -> Path:
    config = folder / "config.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            general:
              status_dir: {folder / "state"}
            accounts:
              work:
                url: {url}
                username: alice@example.com
                password: {{env: EASSYNC_TEST_PASSWORD}}
            """
        )
        + textwrap.indent(textwrap.dedent(extra_account), " " * 4)
        + textwrap.dedent(
            """\
            storages:
              contacts:
            """
        )
        + textwrap.indent(
            textwrap.dedent(storage or f"type: vdir\npath: {folder / 'contacts'}\n"), " " * 4
        )
        + textwrap.dedent(
            """\
            pairs:
              contacts:
                account: work
                remote: {default: contacts}
                local: contacts
            """
        ),
        encoding="utf-8",
    )
    return config


def test_check_warns_about_a_password_over_plain_http(tmp_path):
    config = write(tmp_path, "http://mail.example.invalid/Microsoft-Server-ActiveSync")
    out = run_cli(config, "check", check=True).stdout
    assert "verify TLS: yes" not in out
    assert "verify TLS: no (plain http: no TLS at all)" in out
    assert "WARNING: account work: http://mail.example.invalid is plain http" in out
    info = json.loads(run_cli(config, "check", "--json", check=True).stdout)
    assert info["accounts"]["work"]["warnings"] == [
        "account work: http://mail.example.invalid is plain http: the password travels "
        "unencrypted; use https"
    ]


def test_check_warns_about_a_dav_login_over_plain_http(tmp_path):
    storage = """\
        type: carddav
        url: http://dav.example.invalid/book/
        username: alice
        password: {env: EASSYNC_TEST_PASSWORD}
        """
    config = write(tmp_path, "https://mail.example.com/eas", storage=storage)
    out = run_cli(config, "check", check=True).stdout
    assert "WARNING: storage contacts: http://dav.example.invalid is plain http" in out
    assert "WARNING: account" not in out  # https: nothing to say


@pytest.mark.parametrize("host", ["127.8.9.10", "[::1]", "localhost", "db.localhost"])
def test_loopback_http_is_not_warned_about(host):
    assert plain_http_warning(f"http://{host}:8080/eas", "account work") is None


def test_loopback_http_in_check_is_plain_but_not_alarming(tmp_path):
    config = write(tmp_path, "http://127.0.0.1:8080/Microsoft-Server-ActiveSync")
    out = run_cli(config, "check", check=True).stdout
    assert "WARNING" not in out
    assert "verify TLS: no (plain http" in out


def test_every_run_warns_about_a_password_over_plain_http(tmp_path, monkeypatch, caplog):
    """The path every sync, discover and watch takes: config → client (no request is
    needed for the warning, so the made-up host is never looked up)."""
    monkeypatch.setenv("EASSYNC_TEST_PASSWORD", "secret")
    config = load_config(write(tmp_path, "http://mail.example.invalid/Microsoft-Server-ActiveSync"))
    with caplog.at_level(logging.WARNING):
        open_client(config, config.accounts["work"]).close()
        open_client(config, config.accounts["work"]).close()
    warned = [r for r in caplog.records if "is plain http" in r.getMessage()]
    assert [r.levelno for r in warned] == [logging.WARNING, logging.WARNING]


def test_a_dav_login_over_plain_http_is_warned_about_on_every_run(caplog):
    with caplog.at_level(logging.WARNING):
        DavSession(username="alice", password="x", base_url="http://dav.example.invalid/").close()
        DavSession(username="alice", password="x", base_url="http://127.0.0.1:5232/").close()
    warned = [r.getMessage() for r in caplog.records if "is plain http" in r.getMessage()]
    assert len(warned) == 1
    assert "dav.example.invalid" in warned[0]


def status_dir(config: Path) -> Path:
    """Where the CLI keeps state (EASSYNC_STATE_DIR, set for every test, wins)."""
    return Path(json.loads(run_cli(config, "check", "--json", check=True).stdout)["status_dir"])


def test_check_shows_the_effective_url_and_where_it_comes_from(tmp_path):
    configured = "https://mail.example.com/Microsoft-Server-ActiveSync"
    moved = "https://mail2.example.com/Microsoft-Server-ActiveSync"
    config = write(tmp_path, configured)
    out = run_cli(config, "check", check=True).stdout
    assert f"effective url: {configured} (from config)" in out

    state_file = AccountStateFile(status_dir(config), "work")
    state = state_file.load()
    state.url, state.url_from = moved, configured
    state_file.save(state)
    out = run_cli(config, "check", check=True).stdout
    assert f"effective url: {moved} (from stored redirect" in out
    info = json.loads(run_cli(config, "check", "--json", check=True).stdout)["accounts"]["work"]
    assert info["effective_url"] == moved
    assert info["url_source"].startswith("stored redirect")

    # the user edits the url: the redirect answered for the old one no longer counts
    edited = write(tmp_path, "https://eas.example.com/Microsoft-Server-ActiveSync")
    out = run_cli(edited, "check", check=True).stdout
    assert "effective url: https://eas.example.com/Microsoft-Server-ActiveSync (from config)" in out


def test_check_does_not_show_a_stored_redirect_the_trust_rules_refuse(tmp_path):
    configured = "https://mail.example.com/Microsoft-Server-ActiveSync"
    config = write(tmp_path, configured)
    state_file = AccountStateFile(status_dir(config), "work")
    state = state_file.load()
    state.url, state.url_from = "https://evil.example.net/x", configured
    state_file.save(state)
    out = run_cli(config, "check", check=True).stdout
    assert f"effective url: {configured} (from config)" in out
