"""``Status.snapshot``: an in-memory copy of a status file for a dry run and for
readers. The file is never created, written, migrated, or left with companions."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from eassync.errors import StorageError
from eassync.sync.status import MIGRATIONS, SCHEMA_VERSION, Status


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def _filled(path: Path) -> None:
    with Status(path) as status, status.transaction() as tx:
        tx.insert("c", uid="u1", local_ident="a.vcf", remote_ident="s1")
        tx.set_collection("c", remote_state="k1", label="Family")


def test_a_missing_file_gives_an_empty_status_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state" / "pairs" / "p.sqlite"
    with Status.snapshot(path) as status:
        assert status.collections() == []
        with status.transaction() as tx:
            tx.set_collection("c", remote_state="k")
        assert status.collection("c").remote_state == "k"
    assert not (tmp_path / "state").exists()


def test_a_snapshot_reads_every_row_and_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    _filled(path)
    before = _listing(tmp_path)
    with Status.snapshot(path) as status:
        assert status.collection("c").label == "Family"
        assert status.by_local("c", "a.vcf") is not None
        with status.transaction() as tx:  # a write reaches the copy only
            tx.insert("c", uid="u2", local_ident="b.vcf")
            tx.set_collection("c", remote_state="k2")
        assert status.count("c") == 2
    assert _listing(tmp_path) == before
    with Status(path) as status:
        assert status.count("c") == 1
        assert status.collection("c").remote_state == "k1"


def test_rows_still_in_the_write_ahead_log_are_read(tmp_path: Path) -> None:
    """A pass running (or killed) holds committed rows in ``-wal``: they count."""
    path = tmp_path / "p.sqlite"
    _filled(path)
    writer = Status(path)  # kept open: its commits stay in the -wal file
    try:
        writer._db.execute("PRAGMA wal_autocheckpoint=0")
        with writer.transaction() as tx:
            tx.insert("c", uid="u3", local_ident="c.vcf")
        assert os.path.getsize(str(path) + "-wal") > 0
        with Status.snapshot(path) as status:
            assert status.count("c") == 2
    finally:
        writer.close()


def test_an_old_schema_is_migrated_in_memory_only(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
    db.execute("INSERT INTO collections (collection, remote_state) VALUES ('c', 'k1')")
    db.commit()
    db.close()
    before = path.read_bytes()
    with Status.snapshot(path) as status:
        assert status.schema_version == SCHEMA_VERSION
        assert status.collection("c").remote_state == "k1"
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.sqlite"]


def test_an_unreadable_file_is_a_storage_error_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(StorageError) as caught:
        Status.snapshot(path)
    assert caught.value.hint
    assert "repair" in caught.value.hint
