"""``eassync watch`` against the real SOGo: a contact created through SOGo's CardDAV
side lands in the vdir while watch runs (EAS Ping), and a file written in the vdir
reaches SOGo (file watching). Latencies are printed (``pytest -s``), not asserted.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from tests.e2e.test_watch import wait_for, watching
from tests.integration.conftest import SogoAccount
from tests.integration.sogo_dav import CONTACTS, pass_one_second

pytestmark = pytest.mark.sogo

#: SOGo answers a Ping only every SOGoInternalSyncInterval (5 s in the harness,
#: sogo-notes Q11): "eventually" here is generous
EVENTUALLY = 120.0


def card(uid: str, given: str, family: str) -> str:
    return (
        "BEGIN:VCARD\r\nVERSION:3.0\r\n"
        f"UID:{uid}\r\nFN:{given} {family}\r\nN:{family};{given};;;\r\n"
        f"EMAIL;TYPE=INTERNET:{given.lower()}@example.test\r\nEND:VCARD\r\n"
    )


def local_fns(folder: Path) -> set[str]:
    found = set()
    for path in folder.glob("*.vcf"):
        for line in path.read_text("utf-8").splitlines():
            if line.startswith("FN:"):
                found.add(line[3:].strip())
    return found


def test_watch_carries_changes_both_ways_with_sogo(
    tmp_path: Path, sogo_account: SogoAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    dav = sogo_account.dav
    dav.put(CONTACTS, "before-watch.vcf", card("before-watch", "Ada", "Before"))
    config = sogo_account.contacts_config(tmp_path)
    local = tmp_path / "contacts"
    # heartbeat below SOGoMaximumPingInterval (300 in the harness): above it SOGo
    # would answer Status 5 only after waiting the maximum (Q11)
    with watching(config, monkeypatch, EVENTUALLY, heartbeat=60, debounce=0.5) as watch:
        assert local_fns(local) == {"Ada Before"}

        pass_one_second()  # SOGo's change clock (sogo-notes Q2)
        started = time.monotonic()
        dav.put(CONTACTS, "from-dav.vcf", card("from-dav", "Grace", "Dav"))
        wait_for(lambda: "Grace Dav" in local_fns(local), "the CardDAV contact", EVENTUALLY)
        dav_to_vdir = time.monotonic() - started
        wait_for(lambda: "server" in watch.triggers(), "the Ping-triggered sync", EVENTUALLY)

        pass_one_second()
        started = time.monotonic()
        (local / "from-vdir.vcf").write_text(card("from-vdir", "Edsger", "Vdir"), "utf-8")

        def on_sogo() -> bool:
            try:
                return any(
                    "Edsger" in (dav.get(CONTACTS, item.name) or "") for item in dav.list(CONTACTS)
                )
            except requests.ConnectionError:  # a busy shared harness resets connections
                return False

        wait_for(on_sogo, "the vdir card on SOGo", EVENTUALLY, every=0.25)
        vdir_to_sogo = time.monotonic() - started
        assert "local" in watch.triggers()
    print(
        f"\nSOGo CardDAV → vdir through Ping: {dav_to_vdir:.1f} s; "
        f"vdir → SOGo through file watching (debounce 0.5 s): {vdir_to_sogo:.1f} s"
    )
