"""``direction: to_local`` with ``local_changes`` (issue 16 item 6): the local side is
a copy of the server; what becomes of changes made there is the pair's choice —
``revert`` (the default, as the man page says: overwritten), ``ignore`` (left alone,
told once per pass) or ``error`` (the collection's pass fails, naming them). And a
local version that loses a conflict is kept in the trash (item 12)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eassync.errors import LocalChangesRefused
from eassync.sync.status import Status

from .test_engine import Pair, card, fields, synced_pair


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    with Status(tmp_path / "pair.db") as status:
        yield Pair(status)


def changed_locally(pair: Pair) -> tuple[str, str, str]:
    """Two synced items, one edited, one deleted, one new local item: their files."""
    synced_pair(pair, 2)
    edited = pair.local_ident("u0")
    pair.local.user_edit(edited, card("u0", "Edited Here", X_LOCAL_PHOTO="keep"))
    deleted = pair.local_ident("u1")
    pair.local.user_delete(deleted)
    new = pair.local.user_add(card("n", "New Here"))
    return edited, deleted, new


def test_revert_is_the_default_and_makes_the_local_side_the_servers_again(pair: Pair) -> None:
    edited, _, new = changed_locally(pair)
    remote_before = dict(pair.remote.items)
    applied_before = dict(pair.remote.applied)
    report = pair.sync(direction="to_local")
    assert pair.remote.items == remote_before
    assert pair.remote.applied == applied_before
    local = pair.local_fields()
    assert sorted(local) == ["u0", "u1"]
    assert local["u0"]["FN"] == "Name 0"
    assert local["u0"]["X-LOCAL-PHOTO"] == "keep"  # what the server cannot hold stays
    assert local["u1"]["FN"] == "Name 1"
    # nothing is lost: the edited version and the new item are in the trash
    trashed = {ident: fields(item)["FN"] for ident, item in pair.trashed}
    assert trashed == {edited: "Edited Here", new: "New Here"}
    assert (report.local.added, report.local.changed, report.local.deleted) == (1, 1, 1)
    assert report.remote.added == report.remote.changed == report.remote.deleted == 0
    assert all(a.note == "reverted" for a in report.actions)
    again = pair.sync(direction="to_local")
    assert again.actions == []
    assert again.notes == []


def test_revert_in_a_dry_run_plans_and_writes_nothing(pair: Pair) -> None:
    changed_locally(pair)
    local_before = dict(pair.local.items)
    report = pair.sync(direction="to_local", dry_run=True)
    assert pair.local.items == local_before
    assert pair.trashed == []
    planned = sorted((a.side, a.kind, a.name) for a in report.actions)
    assert planned == [
        ("local", "add", "Name 1"),
        ("local", "change", "Name 0"),
        ("local", "delete", "New Here"),
    ]


def test_ignore_leaves_local_changes_and_tells_them_once_per_pass(pair: Pair) -> None:
    changed_locally(pair)
    remote_before = dict(pair.remote.items)
    local_before = dict(pair.local.items)
    for _ in range(2):
        report = pair.sync(direction="to_local", local_changes="ignore")
        assert pair.remote.items == remote_before
        assert pair.local.items == local_before
        assert report.actions == []
        assert report.notes == [
            "3 local changes not sent (1 edited, 1 new, 1 deleted): direction is to_local "
            "and local_changes is ignore"
        ]
        assert report.ok


def test_ignore_still_takes_a_server_change_keeping_the_local_version_in_the_trash(
    pair: Pair,
) -> None:
    synced_pair(pair, 1)
    ident = pair.local_ident("u0")
    pair.local.user_edit(ident, card("u0", "Edited Here"))
    pair.remote.server_edit(pair.remote_ident("u0"), card("u0", "Server Edit"))
    pair.sync(direction="to_local", local_changes="ignore")
    assert pair.local_fields()["u0"]["FN"] == "Server Edit"
    assert [fields(item)["FN"] for _, item in pair.trashed] == ["Edited Here"]


def test_error_fails_the_pass_naming_the_items_and_the_key(pair: Pair) -> None:
    _, deleted, _ = changed_locally(pair)
    pair.remote.server_add(card("r", "Remote New"))
    local_before = dict(pair.local.items)
    with pytest.raises(LocalChangesRefused) as caught:
        pair.sync(direction="to_local", local_changes="error")
    message = str(caught.value)
    assert "3 local changes" in message
    for name in ("Edited Here", "New Here", deleted):
        assert name in message, message
    assert "local_changes" in (caught.value.hint or "")
    assert pair.local.items == local_before  # nothing written, not even the server's add


def test_error_passes_when_nothing_changed_locally(pair: Pair) -> None:
    synced_pair(pair, 1)
    pair.remote.server_add(card("r", "Remote New"))
    report = pair.sync(direction="to_local", local_changes="error")
    assert report.ok
    assert "r" in pair.local_fields()


def test_remote_wins_keeps_the_losing_local_version_in_the_trash(pair: Pair) -> None:
    synced_pair(pair, 1)
    ident = pair.local_ident("u0")
    pair.local.user_edit(ident, card("u0", "Local Edit"))
    pair.remote.server_edit(pair.remote_ident("u0"), card("u0", "Server Edit"))
    pair.sync()
    assert pair.local_fields()["u0"]["FN"] == "Server Edit"
    assert [(i, fields(item)["FN"]) for i, item in pair.trashed] == [(ident, "Local Edit")]


def test_remote_wins_in_a_dry_run_trashes_nothing(pair: Pair) -> None:
    synced_pair(pair, 1)
    pair.local.user_edit(pair.local_ident("u0"), card("u0", "Local Edit"))
    pair.remote.server_edit(pair.remote_ident("u0"), card("u0", "Server Edit"))
    pair.sync(dry_run=True)
    assert pair.trashed == []


def test_to_remote_tells_the_server_changes_it_does_not_apply_in_one_line(pair: Pair) -> None:
    synced_pair(pair, 2)
    pair.remote.server_edit(pair.remote_ident("u0"), card("u0", "Server Edit"))
    pair.remote.server_delete(pair.remote_ident("u1"))
    pair.remote.server_add(card("r", "Server New"))
    local_before = dict(pair.local.items)
    report = pair.sync(direction="to_remote")
    assert pair.local.items == local_before
    assert report.notes == [
        "3 server changes not applied (1 edited, 1 new, 1 deleted): direction is to_remote"
    ]
    assert pair.sync(direction="to_remote").notes == []
