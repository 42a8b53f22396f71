"""Bad input gets a clear error and loses nothing.

- a broken .vcf in the vdir is reported by name and skipped; the rest syncs, and the
  broken file is neither uploaded, deleted nor overwritten;
- a malformed server answer (HTML instead of WBXML) fails the pass without touching the
  status: the next good run syncs normally with no duplicate.
"""

from __future__ import annotations

from pathlib import Path

from eassync.devserver import DevServer

from .helpers import PASSWORD, USER, local_names, person, run_cli, write_config, write_local_card


def test_broken_card_is_reported_and_skipped_while_the_rest_syncs(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder_id = srv.store.default_folder(USER, 9)
        srv.store.add_item(USER, folder_id, person(1))
        local = tmp_path / "contacts"
        write_local_card(local, "good", "Good")
        broken = local / "broken.vcf"
        broken.write_bytes(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:half a card\r\n")
        config = write_config(tmp_path, srv.url)

        proc = run_cli(config, "sync")

        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "broken.vcf" in proc.stderr
        names = {
            f"{d.text('Contacts:FirstName')} {d.text('Contacts:LastName')}"
            for d in srv.store.items(USER, folder_id).values()
        }
        assert names == {"Person00001 Example", "Good Local"}
        broken_bytes = broken.read_bytes()
        broken.unlink()  # local_names parses every card
        assert local_names(local) == {"Person00001 Example": 1, "Good Local": 1}
        assert broken_bytes == b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:half a card\r\n"


def test_a_malformed_server_answer_leaves_the_status_as_it_was(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder_id = srv.store.default_folder(USER, 9)
        srv.store.add_item(USER, folder_id, person(1))
        config = write_config(tmp_path, srv.url)
        run_cli(config, "sync", check=True)

        srv.store.add_item(USER, folder_id, person(2))
        # a captive portal or broken proxy: HTTP 200 with an HTML page
        srv.faults.http_status(
            200,
            times=5,
            headers={"Content-Type": "text/html"},
            command="Sync",
            body="<html><body>Please log in</body></html>",
        )
        bad = run_cli(config, "sync")
        assert bad.returncode != 0
        assert "Traceback" not in bad.stderr
        # the same url answered WBXML before: the server failed, the url is right
        assert "instead of WBXML" in bad.stderr
        assert "Please log in" in bad.stderr
        assert "web page" not in bad.stderr
        srv.faults.clear()

        good = run_cli(config, "sync", check=True)
        assert "local +1" in good.stdout
        assert local_names(tmp_path / "contacts") == {
            "Person00001 Example": 1,
            "Person00002 Example": 1,
        }
