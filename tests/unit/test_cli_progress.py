"""Progress and colour of ``eassync sync`` (eassync.cli.sync.CliReporter,
eassync.cli.output.colour) and where the total comes from (GetItemEstimate, asked by
EasRemoteCollection only when a download runs over one window)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from eassync.cli import output
from eassync.cli.sync import CliReporter
from eassync.convert.contacts import ContactsHandler
from eassync.demo_data import contact
from eassync.devserver import DevServer
from eassync.eas.client import AccountSettings, EasClient
from eassync.storage.eas import EasRemoteCollection
from eassync.sync.plan import Action, ProgressReporter

USER, PASSWORD = "alice", "secret"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("no_color", "tty", "expected"),
    [(None, True, True), ("", True, True), ("1", True, False), (None, False, False)],
)
def test_colour_only_on_a_terminal_and_never_with_no_color(
    monkeypatch: pytest.MonkeyPatch, no_color: str | None, tty: bool, expected: bool
) -> None:
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    monkeypatch.setattr("sys.stdout", Terminal() if tty else io.StringIO())
    assert output.colour() is expected


def test_the_live_line_says_pair_folder_done_of_total_and_rate() -> None:
    now = [100.0]
    reporter = CliReporter(0, show_plan=False, as_json=True, clock=lambda: now[0])
    assert isinstance(reporter, ProgressReporter)
    reporter.begin("work", None)
    reporter.begin("work", "Contacts")
    for i in range(30):
        reporter.action("Contacts", Action("local", "add", f"Person {i}"))
    reporter.estimate("Contacts", 120)
    now[0] += 2.0
    assert reporter.progress_text() == "work/Contacts: 30/120 items, 15/s"
    reporter.begin("work", "Family")  # the next folder counts from zero
    assert reporter.progress_text().startswith("work/Family: 0 items")


def _contacts_folder(srv: DevServer, count: int, tmp: Path) -> tuple[EasClient, object]:
    folder_id = srv.store.default_folder(USER, 9)
    for i in range(count):
        srv.store.add_item(USER, folder_id, contact({"FirstName": f"P{i}", "LastName": "X"}))
    client = EasClient(
        AccountSettings(name="dev", url=srv.url, username=USER, password=PASSWORD, state_dir=tmp)
    )
    folder = next(f for f in client.folder_sync() if f.server_id == folder_id)
    return client, folder


def test_the_total_is_asked_once_when_a_download_runs_over_a_window(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        client, folder = _contacts_folder(srv, 25, tmp_path / "state")
        remote = EasRemoteCollection(client, folder, ContactsHandler(), window_size=10)  # type: ignore[arg-type]
        totals: list[int] = []
        remote.on_estimate = totals.append
        state = next(iter(remote.pull(None))).state
        batches = list(remote.pull(state))
        client.close()
    assert sum(len(b.changes) for b in batches) == 25
    assert totals == [25]


def test_a_short_download_asks_no_estimate(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        client, folder = _contacts_folder(srv, 5, tmp_path / "state")
        remote = EasRemoteCollection(client, folder, ContactsHandler(), window_size=10)  # type: ignore[arg-type]
        totals: list[int] = []
        remote.on_estimate = totals.append
        state = next(iter(remote.pull(None))).state
        before = remote.requests
        assert len(list(remote.pull(state))) == 1
        client.close()
    assert totals == []
    assert remote.requests == before + 1  # the one Sync, no GetItemEstimate


def test_a_log_line_erases_the_live_line_first(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    # as on a terminal: click keeps the escape codes
    monkeypatch.setattr("click.utils.should_strip_ansi", lambda *args: False)
    output.live("work/Contacts: 3 items, 1/s")
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "retrying", (), None)
    output.SafeFormatter("%(levelname)s: %(message)s").format(record)
    output.clear_live()  # erased already: writes nothing more
    assert capsys.readouterr().err == "\rwork/Contacts: 3 items, 1/s\x1b[K\r\x1b[K"


def test_a_hostile_folder_name_in_the_live_line_is_escaped(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("click.utils.should_strip_ansi", lambda *args: False)
    reporter = CliReporter(0, show_plan=False, as_json=False, item_lines=False)
    reporter.progress = True  # as on a terminal
    reporter.begin("work", "Evil\x1b]0;owned\x07\u200b")
    reporter.estimate("Evil\x1b]0;owned\x07\u200b", 10)
    reporter.end_progress()
    err = capsys.readouterr().err
    assert "\x1b]" not in err
    assert "\x07" not in err
    assert "work/Evil\\x1b]0;owned\\x07\\u200b: 0/10 items" in err
    assert err.endswith("\r\x1b[K")  # erased at the end
