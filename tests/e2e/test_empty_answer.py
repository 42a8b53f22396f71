"""A server that answers a Sync carrying changes with HTTP 200 and no body (Horde 5.2
does when PHP dies halfway) has not confirmed them: the sync retries once, then item
by item, says what failed, records nothing as sent, and a later sync sends the
changes again (the delete by itself, the change parked until --retry)."""

from __future__ import annotations

from pathlib import Path

from eassync.devserver import DevServer

from .helpers import NO_OP, PASSWORD, USER, SyncedPair, run_cli, server_names


def test_an_empty_answer_to_pushed_changes_is_an_error_and_they_are_sent_again(
    tmp_path: Path,
) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        pair = SyncedPair(tmp_path, srv)
        card = pair.local / "local-03.vcf"
        card.write_text(card.read_text().replace("Local03", "Changed03"))
        (pair.local / "local-04.vcf").unlink()
        # every Sync gets an empty 200: the pull (no changes) and each push attempt
        srv.faults.http_status(200, times=20, command="Sync")

        failed = run_cli(pair.config, "sync")
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "empty body" in failed.stderr
        assert "Changed03" in failed.stderr  # named
        assert "Traceback" not in failed.stderr
        srv.faults.clear()
        names = server_names(srv.store, pair.folder_id)
        assert "Local03 Local" in names
        assert "Local04 Local" in names

        again = run_cli(pair.config, "sync", "--retry", check=True)
        assert "remote +0 ~1 -1" in again.stdout
        names = server_names(srv.store, pair.folder_id)
        assert "Changed03 Local" in names
        assert "Local03 Local" not in names
        assert "Local04 Local" not in names
        assert NO_OP in run_cli(pair.config, "sync", check=True).stdout
