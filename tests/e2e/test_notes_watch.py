"""``eassync watch`` with a notes pair: a note added on the server arrives through Ping,
a Markdown file written locally goes up through file watching, a renamed file renames
the server's note (the hidden index's own writes trigger nothing)."""

from __future__ import annotations

import signal
from pathlib import Path

from eassync.devserver import DevServer

from .helpers import PASSWORD, USER
from .test_notes_devices import note_data, notes_dir, server_notes, write_notes_config
from .test_watch import wait_for
from .test_watch_cli import start_watch


def test_watch_syncs_notes_both_ways(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder = srv.store.default_folder(USER, 10)
        srv.store.add_item(USER, folder, note_data("First", "one"))
        config = write_notes_config(tmp_path / "a", srv.url)
        log = tmp_path / "watch.log"
        proc = start_watch(config, log)
        notes = notes_dir(config)
        try:
            wait_for(lambda: (notes / "First.md").exists(), "the first sync")
            wait_for(lambda: srv.requests["Ping"] >= 1, "the first Ping")
            srv.store.add_item(USER, folder, note_data("Second", "two"))
            wait_for(lambda: (notes / "Second.md").exists(), "the Ping sync")
            (notes / "Third.md").write_text("three\n", encoding="utf-8")
            wait_for(lambda: "Third" in server_notes(srv), "the file-watching sync")
            (notes / "First.md").rename(notes / "Renamed.md")
            wait_for(lambda: "Renamed" in server_notes(srv), "the rename")
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
        text = log.read_text()
        assert code == 0, text
        assert server_notes(srv) == {
            "Renamed": ("one", ()),
            "Second": ("two", ()),
            "Third": ("three", ()),
        }
        assert "remote +0 ~0 -1" not in text, text  # a rename is no delete
