"""The SOGo harness scripts themselves (tests/servers/sogo)."""

from __future__ import annotations

import stat
import subprocess

import pytest
import requests

from tests.integration.conftest import HARNESS, SogoAccount, SogoServer
from tests.integration.sogo_dav import CONTACTS

pytestmark = pytest.mark.sogo


def test_help_documents_the_settings() -> None:
    for script in ("start", "stop"):
        result = subprocess.run(
            [str(HARNESS / script), "--help"], capture_output=True, text=True, check=True
        )
        assert "SOGO_HARNESS_DIR" in result.stdout


def test_start_again_reuses_the_running_harness(sogo: SogoServer) -> None:
    result = subprocess.run(
        [str(HARNESS / "start")], capture_output=True, text=True, check=True, timeout=120
    )
    env = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert env["SOGO_STARTED"] == "0"
    for key in ("SOGO_PORT", "SOGO_PG_PORT", "SOGO_MEMCACHED_PORT", "SOGO_EAS_URL"):
        assert env[key] == sogo.env[key]


def test_env_file_is_private_and_matches_the_fixture(sogo: SogoServer) -> None:
    env_file = sogo.harness_dir / "env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert f"SOGO_EAS_URL={sogo.eas_url}" in env_file.read_text().splitlines()


def test_every_user_can_log_in(sogo: SogoServer) -> None:
    assert len(sogo.users) >= 2
    for user, password in sogo.users.items():
        response = requests.options(sogo.eas_url, auth=(user, password), timeout=10)
        assert response.status_code == 200, user
        wrong = requests.options(sogo.eas_url, auth=(user, password + "x"), timeout=10)
        assert wrong.status_code == 401, user


def test_account_fixture_hands_out_an_empty_address_book(sogo_account: SogoAccount) -> None:
    assert sogo_account.dav.list(CONTACTS) == []
    card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:h4-probe\r\nFN:Probe\r\nN:Probe;;;;\r\nEND:VCARD\r\n"
    sogo_account.dav.put(CONTACTS, "h4-probe.vcf", card)
    assert [item.name for item in sogo_account.dav.list(CONTACTS)] == ["h4-probe.vcf"]
    text = sogo_account.dav.get(CONTACTS, "h4-probe.vcf")
    assert text is not None
    assert "FN:Probe" in text
