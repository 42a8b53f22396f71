"""The SQLite status store: file modes, schema versioning, atomic transactions, lookups."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from eassync.errors import StorageError
from eassync.sync.status import SCHEMA_VERSION, Status


class Boom(Exception):
    pass


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_status_file_and_companions_are_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "pair.db"
    with Status(path) as status:
        with status.transaction() as tx:
            tx.insert("c", uid="u", local_ident="a.vcf", remote_ident="s1")
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        assert all(f.exists() for f in files)
        assert [mode(f) for f in files] == [0o600, 0o600, 0o600]
    assert mode(path.parent) == 0o700


def test_existing_file_with_loose_mode_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "pair.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    Status(path).close()
    assert mode(path) == 0o600


def test_schema_version_recorded_and_reopen_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "pair.db"
    with Status(path) as status:
        assert status.schema_version == SCHEMA_VERSION
        with status.transaction() as tx:
            tx.insert("c", uid="u1", local_ident="a", remote_ident="s1")
            tx.set_remote_state("c", "key-1")
    with Status(path) as status:
        assert status.schema_version == SCHEMA_VERSION
        assert status.collection("c").remote_state == "key-1"
        row = status.by_remote("c", "s1")
        assert row is not None
        assert row.uid == "u1"


def test_newer_schema_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "pair.db"
    Status(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(StorageError, match="schema 999") as info:
        Status(path)
    assert info.value.hint is not None
    assert "repair" in info.value.hint


def test_garbage_file_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "pair.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="not usable"):
        Status(path)


def test_rows_and_sync_key_commit_together_or_not_at_all(tmp_path: Path) -> None:
    with Status(tmp_path / "pair.db") as status:
        with status.transaction() as tx:
            tx.insert("c", uid="u1", local_ident="a", remote_ident="s1")
            tx.set_remote_state("c", "k1")

        def killed_midway() -> None:
            with status.transaction() as tx:
                tx.insert("c", uid="u2", local_ident="b", remote_ident="s2")
                tx.set_remote_state("c", "k2")
                raise Boom

        with pytest.raises(Boom):
            killed_midway()
        assert status.collection("c").remote_state == "k1"
        assert status.by_remote("c", "s2") is None
        assert status.count("c") == 1


def test_before_commit_hook_failure_rolls_back(tmp_path: Path) -> None:
    calls = []

    def hook() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise Boom

    with Status(tmp_path / "pair.db", before_commit=hook) as status:
        with status.transaction() as tx:
            tx.set_remote_state("c", "k1")
        with pytest.raises(Boom), status.transaction() as tx:
            tx.set_remote_state("c", "k2")
        assert status.collection("c").remote_state == "k1"


def test_lookups(tmp_path: Path) -> None:
    with Status(tmp_path / "pair.db") as status:
        with status.transaction() as tx:
            bound = tx.insert(
                "c", uid="u1", local_ident="a", local_etag="e1", remote_ident="s1", remote_hash="h1"
            )
            pending = tx.insert(
                "c", uid="u2", local_ident="b", local_etag="e2", pending="cid", remote_hash="h2"
            )
            tx.insert("other", uid="u1", local_ident="a", remote_ident="s1")
        assert status.by_local("c", "a").id == bound  # type: ignore[union-attr]
        assert status.by_remote("c", "s1").id == bound  # type: ignore[union-attr]
        assert status.by_uid("c", "u2").id == pending  # type: ignore[union-attr]
        # only rows waiting for their server item are candidates for matching
        assert status.unbound_by_uid("c", "u1") is None
        assert status.unbound_by_uid("c", "u2").id == pending  # type: ignore[union-attr]
        assert status.unbound_by_hash("c", "h2").id == pending  # type: ignore[union-attr]
        assert status.unbound_by_hash("c", "h1") is None
        assert status.local_etags("c") == {"a": "e1", "b": "e2"}
        with status.transaction() as tx:
            tx.mark_all_unseen("c")
        # during a resync a bound row is a candidate until seen again
        assert status.unbound_by_uid("c", "u1").id == bound  # type: ignore[union-attr]


def _bound_only(status: Status) -> int:
    """A collection whose one row is bound; the matcher lookups have learnt that."""
    with status.transaction() as tx:
        row_id = tx.insert("c", uid="u1", local_ident="a", remote_ident="s1", remote_hash="h1")
        tx.update(row_id, bare_hash="b1")
    for lookup in (status.unbound_by_uid, status.unbound_by_hash, status.unbound_by_bare):
        assert lookup("c", "u1" if lookup == status.unbound_by_uid else "h1") is None
    return row_id


@pytest.mark.parametrize(
    "unbind",
    [
        {"remote_ident": None},
        {"pending": "cid"},
        {"seen": 0},
    ],
)
def test_matcher_lookups_see_a_row_that_starts_waiting(tmp_path: Path, unbind: dict) -> None:
    """The status remembers that no row waits (to skip the lookups on a first sync);
    each write that makes a row wait must make the lookups look again."""
    with Status(tmp_path / "pair.db") as status:
        row_id = _bound_only(status)
        with status.transaction() as tx:
            tx.update(row_id, **unbind)
        assert status.unbound_by_uid("c", "u1").id == row_id  # type: ignore[union-attr]
        assert status.unbound_by_hash("c", "h1").id == row_id  # type: ignore[union-attr]
        assert status.unbound_by_bare("c", "b1").id == row_id  # type: ignore[union-attr]


def test_matcher_lookups_see_waiting_rows_after_insert_resync_and_rollback(
    tmp_path: Path,
) -> None:
    with Status(tmp_path / "pair.db") as status:
        row_id = _bound_only(status)
        with status.transaction() as tx:
            tx.mark_all_unseen("c")
        assert status.unbound_by_uid("c", "u1").id == row_id  # type: ignore[union-attr]
        with status.transaction() as tx:
            tx.update(row_id, seen=1)
        assert status.unbound_by_uid("c", "u1") is None
        with status.transaction() as tx:  # a local item not uploaded yet: no ServerId
            new = tx.insert("c", uid="u2", local_ident="b", remote_hash="h2")
        assert status.unbound_by_uid("c", "u2").id == new  # type: ignore[union-attr]
        with status.transaction() as tx:
            tx.delete(new)
        assert status.unbound_by_uid("c", "u2") is None

        # learnt inside a transaction that then rolled back: forgotten
        with status.transaction() as tx:
            tx.update(row_id, remote_ident=None)
        seen_inside: list[object] = []

        def bind_then_fail() -> None:
            with status.transaction() as tx:
                tx.update(row_id, remote_ident="s1")
                seen_inside.append(status.unbound_by_uid("c", "u1"))
                raise RuntimeError

        with pytest.raises(RuntimeError):
            bind_then_fail()
        assert seen_inside == [None]
        assert status.unbound_by_uid("c", "u1").id == row_id  # type: ignore[union-attr]


def test_which_of_many_server_ids_have_rows(tmp_path: Path) -> None:
    with Status(tmp_path / "pair.db") as status:
        with status.transaction() as tx:
            for n in range(1200):
                tx.insert("c", local_ident=f"l{n}", remote_ident=f"s{n}")
            tx.insert("other", local_ident="l0", remote_ident="s0")
        wanted = [f"s{n}" for n in range(0, 1200, 2)] + ["missing"]
        assert status.known_remote("c", wanted) == set(wanted[:-1])
        assert status.known_remote("c", []) == set()


def test_duplicate_server_id_in_one_collection_is_refused(tmp_path: Path) -> None:
    with Status(tmp_path / "pair.db") as status:

        def two_rows_one_server_id() -> None:
            with status.transaction() as tx:
                tx.insert("c", local_ident="a", remote_ident="s1")
                tx.insert("c", local_ident="b", remote_ident="s1")

        with pytest.raises(sqlite3.IntegrityError):
            two_rows_one_server_id()
        assert status.count("c") == 0


def test_iter_rows_pages_while_rows_are_updated(tmp_path: Path) -> None:
    with Status(tmp_path / "pair.db") as status:
        with status.transaction() as tx:
            for n in range(25):
                tx.insert("c", local_ident=f"i{n}", pending=f"p{n}")
        seen = []
        for row in status.iter_rows("c", "pending IS NOT NULL", chunk=4):
            seen.append(row.local_ident)
            with status.transaction() as tx:
                tx.update(row.id, pending=None)
        assert len(seen) == 25
        assert status.count("c", "pending IS NOT NULL") == 0


def test_collection_info_for_status_command(tmp_path: Path) -> None:
    with Status(tmp_path / "pair.db") as status:
        with status.transaction() as tx:
            tx.insert("c", local_ident="a")
            tx.record_pass("c", {"local": {"added": 1}}, "1 failed")
        (info,) = status.collections()
        assert info.collection == "c"
        assert info.items == 1
        assert info.last_error == "1 failed"
        assert info.last_counts == {"local": {"added": 1}}
        assert info.last_sync is not None


def test_unknown_column_is_a_programming_error(tmp_path: Path) -> None:
    with Status(tmp_path / "pair.db") as status, status.transaction() as tx:
        with pytest.raises(TypeError):
            tx.insert("c", bogus=1)
        with pytest.raises(TypeError):
            tx.update(1, bogus=1)


def test_a_pass_stores_the_collection_label(tmp_path: Path) -> None:
    from eassync.sync.engine import sync_collection
    from eassync.sync.policy import REMOTE_WINS
    from tests.memory import MemoryHandler, MemoryRemote, MemoryStorage

    with Status(tmp_path / "pair.db") as status:
        args = (MemoryStorage(), MemoryRemote(), MemoryHandler(), status, "7", REMOTE_WINS)
        sync_collection(*args)
        assert status.collection("7").label is None
        sync_collection(*args, label="Contacts")
        assert status.collection("7").label == "Contacts"
        sync_collection(*args)  # a pass without a label keeps the last one
        assert [c.label for c in status.collections()] == ["Contacts"]


def test_a_schema_1_file_migrates_keeping_its_rows(tmp_path: Path) -> None:
    from eassync.sync.status import MIGRATIONS

    path = tmp_path / "pair.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
    db.execute("INSERT INTO items (collection, uid, local_ident) VALUES ('c', 'u', 'a.vcf')")
    db.execute("INSERT INTO collections (collection, remote_state) VALUES ('c', 'k1')")
    db.commit()
    db.close()
    with Status(path) as status:
        assert status.schema_version == SCHEMA_VERSION == 4
        row = status.by_local("c", "a.vcf")
        assert row is not None
        assert (row.uid, row.tentative, row.bare_hash, row.failure) == ("u", None, None, None)
        info = status.collection("c")
        assert (info.remote_state, info.label) == ("k1", None)
        assert (info.last_attempt, info.last_failures) == (None, ())


def test_attempts_failures_and_pair_facts_are_kept(tmp_path: Path) -> None:
    with Status(tmp_path / "pair.db") as status:
        with status.transaction() as tx:
            tx.record_pass(
                "c", {"local": {}}, None, [{"side": "local", "name": "a", "reason": "x"}]
            )
        good = status.collection("c")
        assert good.last_sync == good.last_attempt
        assert good.last_failures == [{"side": "local", "name": "a", "reason": "x"}]
        with status.transaction() as tx:
            tx.record_attempt("c", "connection refused")
            tx.set_meta("last_error", "login refused")
        failed = status.collection("c")
        # the last good pass stays; the attempt after it is told
        assert failed.last_sync == good.last_sync
        assert failed.last_attempt is not None
        assert good.last_sync is not None
        assert failed.last_attempt >= good.last_sync
        assert failed.last_error == "connection refused"
        assert status.meta("last_error") == "login refused"
        with status.transaction() as tx:
            tx.set_meta("last_error", None)
        assert status.meta("last_error") is None


def _fill(status: Status, batch: int, rows: int = 200) -> None:
    with status.transaction() as tx:
        for i in range(rows):
            tx.insert(
                "c",
                uid=f"uid-{batch}-{i}-" + "u" * 200,
                local_ident=f"l{batch}-{i}",
                remote_ident=f"r{batch}-{i}",
                local_hash="x" * 64,
            )
        tx.set_remote_state("c", f"key-{batch}")


def test_a_full_disk_is_reported_as_such_and_nothing_commits_half_way(tmp_path: Path) -> None:
    """SQLite rolls back by itself on SQLITE_FULL; our ROLLBACK then failed with "cannot
    rollback - no transaction is active", hiding the cause (issue 14 item 14).
    ``max_page_count`` makes the database full as a full disk would."""
    path = tmp_path / "pair.db"
    with Status(path) as status:
        _fill(status, 0)
        pages = status._db.execute("PRAGMA page_count").fetchone()[0]
        status._db.execute(f"PRAGMA max_page_count = {pages + 20}")
        done = 1
        caught: StorageError | None = None
        for batch in range(1, 100):
            try:
                _fill(status, batch)
            except StorageError as exc:
                caught = exc
                break
            done += 1
        assert caught is not None, "the database never filled up"
        assert "disk is full" in str(caught)
        assert "no transaction is active" not in str(caught)
        assert caught.hint
        assert "free some space" in caught.hint
        # whole batches only, with the SyncKey of the last whole one
        assert status.count("c") == 200 * done
        assert status.collection("c").remote_state == f"key-{done - 1}"

        # space freed: the same process goes on, the failed batch commits whole
        status._db.execute("PRAGMA max_page_count = 1073741823")
        _fill(status, done)
        assert status.count("c") == 200 * (done + 1)
    with Status(path) as again:  # and a later run reads it all
        assert again.count("c") == 200 * (done + 1)
        assert again.collection("c").remote_state == f"key-{done}"


def test_a_full_disk_at_begin_is_reported_as_such(tmp_path: Path) -> None:
    with Status(tmp_path / "pair.db") as status:
        _fill(status, 0)
        status._db.execute("PRAGMA max_page_count = 1")  # lower than the file: full
        with pytest.raises(StorageError, match=r"disk is full|cannot write"):
            _fill(status, 1)
        assert status.count("c") == 200
