"""Items are named the same way everywhere (issue 16 item 7): by their summary where
they read, by their file name where they do not; never by a UID or a half-read summary,
in a dry run as in a real run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eassync.storage.base import Item
from eassync.sync.status import Status

from .test_engine import Pair, card, synced_pair


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    with Status(tmp_path / "pair.db") as status:
        yield Pair(status)


#: reads as bytes, has a UID, but does not parse (the toy format wants KEY:value lines)
BROKEN = Item(b"UID:broken-uid\nFN:Broken\nnot a line\n", "broken-uid")


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_broken_new_local_item_is_named_by_its_file(pair: Pair, dry_run: bool) -> None:
    synced_pair(pair, 1)
    ident = pair.local.user_add(BROKEN)
    report = pair.sync(dry_run=dry_run)
    assert [(f.side, f.name) for f in report.failures] == [("local", ident)]


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_new_local_item_is_named_by_its_summary(pair: Pair, dry_run: bool) -> None:
    synced_pair(pair, 1)
    pair.local.user_add(card("new-uid", "Fresh Name"))
    report = pair.sync(dry_run=dry_run)
    assert [(a.side, a.kind, a.name) for a in report.actions] == [("remote", "add", "Fresh Name")]


def test_a_server_delete_ignored_by_to_remote_is_named_by_summary(pair: Pair) -> None:
    synced_pair(pair, 1)
    pair.remote.server_delete(pair.remote_ident("u0"))
    report = pair.sync(direction="to_remote")
    ignored = [a for a in report.actions if a.kind == "ignore"]
    assert [a.name for a in ignored] == ["Name 0"]


def test_a_server_delete_of_a_local_edit_is_told_by_summary(pair: Pair) -> None:
    synced_pair(pair, 1)
    ident = pair.local_ident("u0")
    pair.local.user_edit(ident, card("u0", "Edited Here"))
    pair.remote.server_delete(pair.remote_ident("u0"))
    report = pair.sync()
    assert any(n.startswith("Edited Here: deleted on the server") for n in report.notes), (
        report.notes
    )
    assert not any("u0" in n for n in report.notes)


def test_an_item_missing_after_a_resync_is_told_by_summary(pair: Pair) -> None:
    synced_pair(pair, 1)
    pair.remote.server_delete(pair.remote_ident("u0"))
    pair.remote.lose_state()
    report = pair.sync()
    assert any(n.startswith("Name 0: missing after resync") for n in report.notes), report.notes


def test_a_server_item_that_does_not_convert_is_named_by_its_summary(pair: Pair) -> None:
    from collections.abc import Iterator as It

    from eassync.storage.base import RemoteBatch, RemoteChange

    class Broken(type(pair.remote)):  # type: ignore[misc]
        def pull(self, state: str | None) -> It[RemoteBatch]:
            for batch in super().pull(state):
                bad = RemoteChange("add", "s99", error="Lunch: no readable start", name="Lunch")
                yield RemoteBatch([*batch.changes, bad], batch.state, batch.more_available)

    pair.remote = Broken(store=pair.remote.store)
    report = pair.sync()
    assert [(f.side, f.name, f.reason) for f in report.failures] == [
        ("remote", "Lunch", "no readable start")
    ]
