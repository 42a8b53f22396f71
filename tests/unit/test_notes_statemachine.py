"""The sync state machine, notes flavour: the real notes handler and the real notes
storage (Markdown files in a temp folder, edited, renamed and deleted the way a user
does it: behind the storage's back) against the in-memory EAS folder, which keeps
only what EAS holds of a note (``handler.project``: no UID, no local front matter).

Random creates, edits, renames and deletes on both sides, syncs with random policies,
kills at random points (after a local write, during a pull, after a push the server
applied, during a status commit) and a new process after each kill. A clean sync must
bring both sides to agreement: every note once on each side with the same content, none
lost that nobody deleted, a deletion sticks; and a further sync does nothing.

Notes carry no UID, so a note is followed by a key in its first body line, which no
rule edits (``key: n7``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from eassync.convert.notes import HANDLER, Note, document, parse, parse_text
from eassync.storage.base import Item
from eassync.storage.notes import INDEX_NAME, NotesStorage
from eassync.sync.engine import sync_collection
from eassync.sync.plan import SyncReport
from eassync.sync.policy import ERROR, LOCAL_WINS, REMOTE_WINS
from eassync.sync.status import Status
from tests.memory import Killed, MemoryRemote

#: keep_both is left out: its copies share the key, which this machine counts
POLICIES = {"remote_wins": REMOTE_WINS, "local_wins": LOCAL_WINS}
ANY_POLICY = {**POLICIES, "error": ERROR}


class KillableNotes(NotesStorage):
    """The notes storage, killed (like the process) after ``kill_after_writes`` writes."""

    kill_after_writes: int | None = None

    def _written(self) -> None:
        if self.kill_after_writes is not None:
            self.kill_after_writes -= 1
            if self.kill_after_writes < 0:
                self.kill_after_writes = None
                raise Killed("killed after a local write")

    def add(self, item: Item) -> tuple[str, str]:
        result = super().add(item)
        self._written()
        return result

    def update(self, ident: str, item: Item, etag: str) -> str:
        result = super().update(ident, item, etag)
        self._written()
        return result

    def delete(self, ident: str, etag: str) -> None:
        super().delete(ident, etag)
        self._written()


def key_of(note: Note) -> str:
    return note.body.split("\n", 1)[0].removeprefix("key: ")


def content(note: Note) -> tuple[str, str, tuple[str, ...]]:
    return (note.subject, note.body.replace("\r\n", "\n").rstrip(), tuple(sorted(note.categories)))


class NotesMachine(RuleBasedStateMachine):
    @initialize(window=st.integers(1, 4), batch=st.integers(1, 3))
    def setup(self, window: int, batch: int) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="eassync-notes-sm-"))
        self.folder = self.root / "notes"
        self.folder.mkdir()
        self.local = KillableNotes(self.folder)
        self.remote = MemoryRemote(
            window_size=window,
            max_batch=batch,
            store=lambda item: HANDLER.project(item, "14.1"),
        )
        self.commits_left: int | None = None
        self.status = Status(self.root / "pair.db", before_commit=self._before_commit)
        self.counter = 0
        self.must_exist: set[str] = set()
        self.must_not_exist: set[str] = set()
        self.edited_local: set[str] = set()
        self.edited_remote: set[str] = set()
        self.synced: set[str] = set()
        #: key → ServerId after the last clean sync; a rename keeps it (no delete + add)
        self.server_ids: dict[str, str] = {}
        self.deleted_remote: set[str] = set()

    def teardown(self) -> None:
        if hasattr(self, "status"):
            self.status.close()
            shutil.rmtree(self.root, ignore_errors=True)

    def _before_commit(self) -> None:
        if self.commits_left is not None:
            self.commits_left -= 1
            if self.commits_left < 0:
                self.commits_left = None
                raise Killed("killed during a status commit")

    def _name(self) -> str:
        self.counter += 1
        return f"n{self.counter}"

    # --- the two sides as a user sees them -------------------------------------------------

    def _files(self) -> dict[str, Note]:
        out = {}
        for path in sorted(self.folder.iterdir()):
            if path.name == INDEX_NAME or path.name.startswith("."):
                continue
            note, _ = parse_text(path.read_text(encoding="utf-8"), path.name[:-3])
            out[path.name] = note
        return out

    def _server(self) -> dict[str, Note]:
        return {sid: parse(item) for sid, item in sorted(self.remote.items.items())}

    # --- user actions ---------------------------------------------------------------------

    @rule(cats=st.booleans())
    def create_local(self, cats: bool) -> None:
        key = self._name()
        front = "---\ncategories: [home]\n---\n" if cats else ""
        (self.folder / f"{key}.md").write_text(f"{front}key: {key}\nv: 0\n", encoding="utf-8")
        self.must_exist.add(key)

    @rule()
    def create_remote(self) -> None:
        key = self._name()
        self.remote.server_add(document(Note(key, f"key: {key}\nv: 0")))
        self.must_exist.add(key)

    @rule(pick=st.integers(0, 1000), value=st.integers(0, 3))
    def edit_local(self, pick: int, value: int) -> None:
        files = self._files()
        if not files:
            return
        name = sorted(files)[pick % len(files)]
        text = (self.folder / name).read_text(encoding="utf-8")
        head, _, _ = text.rpartition("v: ")
        (self.folder / name).write_text(f"{head}v: {value}\n", encoding="utf-8")
        self._edited(self.edited_local, key_of(files[name]))

    @rule(pick=st.integers(0, 1000), value=st.integers(0, 3))
    def edit_remote(self, pick: int, value: int) -> None:
        notes = self._server()
        if not notes:
            return
        sid = sorted(notes)[pick % len(notes)]
        note = notes[sid]
        body = f"key: {key_of(note)}\nv: r{value}"
        self.remote.server_edit(sid, document(Note(note.subject, body, note.categories)))
        self._edited(self.edited_remote, key_of(note))

    @rule(pick=st.integers(0, 1000))
    def rename_local(self, pick: int) -> None:
        files = self._files()
        if not files:
            return
        name = sorted(files)[pick % len(files)]
        note = files[name]
        new = f"{key_of(note)}-{self._name()}"
        path = self.folder / name
        text = path.read_text(encoding="utf-8")
        if parse_text(text)[1]:
            # the file shows its subject as a heading: editing the heading renames
            path.write_text(text.replace(f"# {note.subject}\n", f"# {new}\n", 1), "utf-8")
        else:
            path.rename(self.folder / f"{new}.md")
        self._edited(self.edited_local, key_of(note))

    @rule(pick=st.integers(0, 1000))
    def rename_remote(self, pick: int) -> None:
        notes = self._server()
        if not notes:
            return
        sid = sorted(notes)[pick % len(notes)]
        note = notes[sid]
        new = f"{key_of(note)}-{self._name()}"
        self.remote.server_edit(sid, document(Note(new, note.body, note.categories)))
        self._edited(self.edited_remote, key_of(note))

    def _edited(self, where: set[str], key: str) -> None:
        where.add(key)
        self.must_not_exist.discard(key)

    @rule(pick=st.integers(0, 1000))
    def delete_local(self, pick: int) -> None:
        files = self._files()
        if not files:
            return
        name = sorted(files)[pick % len(files)]
        key = key_of(files[name])
        (self.folder / name).unlink()
        self.must_exist.discard(key)
        if key in self.synced and key not in self.edited_remote:
            self.must_not_exist.add(key)

    @rule(pick=st.integers(0, 1000))
    def delete_remote(self, pick: int) -> None:
        notes = self._server()
        if not notes:
            return
        sid = sorted(notes)[pick % len(notes)]
        key = key_of(notes[sid])
        self.remote.server_delete(sid)
        self.deleted_remote.add(key)
        self.must_exist.discard(key)
        if key in self.synced and key not in self.edited_local:
            self.must_not_exist.add(key)

    # --- syncs ----------------------------------------------------------------------------

    def _sync(self, policy: str) -> SyncReport:
        return sync_collection(
            self.local,
            self.remote,
            HANDLER,
            self.status,
            "notes",
            ANY_POLICY[policy],
            force_delete=True,
        )

    @rule(
        policy=st.sampled_from(sorted(ANY_POLICY)),
        fault=st.sampled_from(["local_write", "pull_batch", "push_answer", "commit"]),
        k=st.integers(0, 4),
    )
    def killed_sync(self, policy: str, fault: str, k: int) -> None:
        if fault == "local_write":
            self.local.kill_after_writes = k
        elif fault == "pull_batch":
            self.remote.kill_at_pull_batch = k
        elif fault == "push_answer":
            self.remote.kill_after_push_apply = True
        else:
            self.commits_left = k
        try:
            self._sync(policy)
        except Killed:
            pass
        # a new process: the storage (and its index) and the status reopened from disk
        self.remote.kill_at_pull_batch = None
        self.remote.kill_after_push_apply = False
        self.commits_left = None
        self.local = KillableNotes(self.folder)
        self.status.close()
        self.status = Status(self.root / "pair.db", before_commit=self._before_commit)

    @rule(policy=st.sampled_from(sorted(POLICIES)))
    def clean_sync(self, policy: str) -> None:
        report = self._sync(policy)
        for _ in range(2):
            if report.ok:
                break
            report = self._sync(policy)
        assert report.ok, report
        self._check_agreement()
        again = self._sync(policy)
        assert (again.local.added, again.local.changed, again.local.deleted) == (0, 0, 0), again
        assert (again.remote.added, again.remote.changed, again.remote.deleted) == (0, 0, 0), again
        self.edited_local.clear()
        self.edited_remote.clear()
        self.must_not_exist.clear()
        self.synced = {key_of(n) for n in self._files().values()}
        self.deleted_remote.clear()
        self.server_ids = {key_of(n): sid for sid, n in self._server().items()}

    def _check_agreement(self) -> None:
        files, server = self._files(), self._server()
        local_keys = Counter(key_of(n) for n in files.values())
        assert all(n == 1 for n in local_keys.values()), local_keys
        assert Counter(key_of(n) for n in server.values()) == local_keys
        held = Counter(content(parse(HANDLER.project(document(n), "14.1"))) for n in files.values())
        assert held == Counter(content(n) for n in server.values())
        assert self.must_exist <= set(local_keys), sorted(self.must_exist - set(local_keys))
        assert not (self.must_not_exist & set(local_keys)), sorted(self.must_not_exist)
        # a note renamed on either side is still the same server item
        for sid, note in server.items():
            key = key_of(note)
            if key in self.server_ids and key not in self.deleted_remote:
                assert self.server_ids[key] == sid, (key, self.server_ids[key], sid)
        # and each file's name says its subject, or the file shows it as a heading
        for name, note in files.items():
            assert note.subject.startswith(key_of(note)), (name, note)


TestNotesStateMachine = NotesMachine.TestCase
TestNotesStateMachine.settings = settings(
    max_examples=80,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
