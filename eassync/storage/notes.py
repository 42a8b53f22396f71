"""The notes storage: a folder of Markdown (or plain text) files, one note per file,
the way Nextcloud Notes keeps them.

A file maps to a note document (``eassync.convert.notes``): the subject is the first
line ``# Subject`` when the file has one, else the file name without its extension.
Files are written without the heading when their name is exactly the subject, so
renaming such a file renames the note; a server subject change renames the file.

Idents: the engine records an item's ident in the status and expects ``update`` to
keep it (``Storage.update`` returns only an etag). A file name cannot be that ident,
as both a user's ``mv`` and a server rename change it. So the ident of a note is the
file name under which eassync first met it, and a hidden index
``.eassync-notes.json`` maps the idents of renamed notes to their current names (a
note never renamed has no entry, so a lost index costs nothing but those renames):

- a rename by the user (``mv``) keeps the inode: a file the index does not know
  whose inode is the one the status recorded for a missing note *is* that note;
- a rename by eassync is journalled in the index before the files change
  (``moving``: ident → old name), so a kill halfway is finished or undone by the
  next scan, never seen as a deletion plus a new note.

Everything else (atomic durable writes, temp names, symlink rules, etags, stale temp
files) is the vdir storage's code: this class is a :class:`VdirStorage` whose idents
are mapped to file names.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import stat as stat_mode
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

from eassync.convert import notes as notedoc
from eassync.errors import ConversionError, ItemError, PreconditionFailed, StorageError
from eassync.model.items import Changes, Item
from eassync.storage.atomic import create_exclusive, remove_durable, write_atomic
from eassync.storage.vdir import VdirStorage, _etag, random_file_name

log = logging.getLogger(__name__)

INDEX_NAME = ".eassync-notes.json"
#: extended attributes on each file eassync writes: the note's ident and UID. They
#: travel with the file through ``mv`` (and most editors), so a renamed note is known
#: for sure, and a note written by a killed pass keeps its UID for the next one
XATTR_IDENT = "user.eassync.ident"
XATTR_UID = "user.eassync.uid"
#: the server's original HTML bodies, one hidden file per note (``Note.html``)
HTML_DIR = ".eassync-html"
#: a note file's name stays well below NAME_MAX (255 bytes), leaving room for " (99)"
MAX_STEM_BYTES = 120
#: notes larger than this are not read (a cap on what one file can make us parse)
MAX_NOTE_BYTES = 16 * 1024 * 1024
#: characters never put in a file name: separators, those Windows/Samba refuse, controls
_UNSAFE_NAME = re.compile(r'[/\\:*?"<>|\x00-\x1f\x7f]')
ALLOWED_EXTS = (".md", ".markdown", ".txt")


def safe_stem(subject: str) -> str:
    """A file name stem from a subject (server data): no separator, no control
    character, no leading dot or ``..``, no trailing dot or space, bounded length,
    never empty."""
    text = unicodedata.normalize("NFC", notedoc.clean_subject(subject))
    text = _UNSAFE_NAME.sub("-", text)
    text = re.sub(r"\.{2,}", ".", text).strip(" .")
    encoded = text.encode("utf-8")[:MAX_STEM_BYTES]
    text = encoded.decode("utf-8", "ignore").strip(" .")
    return text or "Untitled"


def _moved_key(etag: str | None) -> tuple[int, int, int] | None:
    """(mtime_ns, size, inode) of a vdir etag: what a rename (``mv``) keeps."""
    parts = (etag or "").split(";")
    try:
        return (int(parts[0]), int(parts[1]), int(parts[2])) if len(parts) >= 3 else None
    except ValueError:
        return None


def _tags(ident: str, uid: str | None) -> dict[str, bytes]:
    tags = {XATTR_IDENT: ident.encode("utf-8", "surrogateescape")}
    if uid:
        tags[XATTR_UID] = uid.encode("utf-8")
    return tags


def read_tags(path: str | os.PathLike[str]) -> tuple[str | None, str | None]:
    """(ident, uid) eassync left on a file; (None, None) where there are none."""
    try:
        ident = os.getxattr(path, XATTR_IDENT, follow_symlinks=False).decode("utf-8")
    except (OSError, AttributeError, UnicodeDecodeError):
        return None, None
    try:
        uid: str | None = os.getxattr(path, XATTR_UID, follow_symlinks=False).decode("utf-8")
    except (OSError, AttributeError, UnicodeDecodeError):
        uid = None
    return ident, uid


class NotesStorage(VdirStorage):
    """A folder of ``fileext`` files (".md" by default, ".txt" allowed), one note each."""

    def __init__(
        self,
        path: Path,
        fileext: str = ".md",
        *,
        read_only: bool = False,
        create: bool = False,
    ) -> None:
        ext = fileext if fileext.startswith(".") else "." + fileext
        if ext.lower() not in ALLOWED_EXTS:
            raise StorageError(
                f"a notes storage holds {', '.join(ALLOWED_EXTS)} files, not {fileext!r}"
            )
        super().__init__(path, ext, read_only=read_only, create=create)
        #: ident → current file name, for renamed notes only (the index)
        self.names: dict[str, str] = {}
        #: renames in progress: ident → the old file name
        self.moving: dict[str, str] = {}
        #: the idents the status knew at the last scan (never given to a new note)
        self._known: set[str] = set()
        self._load_index()

    def __repr__(self) -> str:
        return f"NotesStorage({self.location!r}, {self.fileext!r})"

    # --- the index ----------------------------------------------------------------------

    @property
    def _index_path(self) -> Path:
        return self.path / INDEX_NAME

    def _load_index(self) -> None:
        try:
            raw = self._index_path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError(f"{self._index_path}: cannot read: {exc.strerror}") from None
        try:
            data = json.loads(raw[:MAX_NOTE_BYTES])
            names = {str(k): str(v) for k, v in dict(data.get("names", {})).items()}
            moving = {str(k): str(v) for k, v in dict(data.get("moving", {})).items()}
        except (ValueError, TypeError, AttributeError):
            log.warning("%s: unreadable, renamed notes are matched by inode", self._index_path)
            return
        valid = self._is_file_name
        self.names = {k: v for k, v in names.items() if valid(v) and self._plain(k)}
        self.moving = {k: v for k, v in moving.items() if valid(v) and self._plain(k)}

    def _save_index(self) -> None:
        if self.read_only:
            return
        names = {k: v for k, v in sorted(self.names.items()) if k != v}
        data = {"version": 1, "names": names, "moving": dict(sorted(self.moving.items()))}
        text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
        try:
            write_atomic(self._index_path, text.encode("utf-8"), mode=0o600)
        except OSError as exc:
            raise StorageError(f"{self._index_path}: cannot write: {exc.strerror}") from None

    # --- idents and names ---------------------------------------------------------------

    @staticmethod
    def _plain(text: str) -> bool:
        return (
            bool(text)
            and not text.startswith(".")
            and "/" not in text
            and "\0" not in text
            and (os.altsep is None or os.altsep not in text)
            and len(text.encode("utf-8", "surrogateescape")) <= 255
        )

    def _is_file_name(self, name: str) -> bool:
        return super().is_valid_ident(name)

    def is_valid_ident(self, ident: str) -> bool:
        return self._plain(ident)

    def name_of(self, ident: str) -> str:
        return self.names.get(ident, ident)

    def path_of(self, ident: str) -> Path:
        name = self.name_of(ident) if self._plain(ident) else ""
        if not self._is_file_name(name):
            raise ItemError(
                f"{self.location}: refusing unsafe note name {ident!r}",
                ident=ident,
                hint="the status may be corrupt; run `eassync repair`",
            )
        return self.path / name

    def _new_ident(self, name: str, taken: set[str]) -> str:
        """The ident of a note first met as file ``name``: the name itself, unless a
        renamed note still holds that ident."""
        if name not in taken:
            return name
        n = 2
        while f"{name}#{n}" in taken:
            n += 1
        return f"{name}#{n}"

    # --- reading --------------------------------------------------------------------------

    def _resolve(self, present: dict[str, os.stat_result], known: Mapping[str, str]) -> bool:
        """Bring the index up to date with the folder; True if it changed."""
        self._known = set(known)
        changed = False
        # 1. renames of ours a kill interrupted: finished if the new file exists
        for ident, old in list(self.moving.items()):
            new = self.name_of(ident)
            if new in present:
                st = present.get(old)
                if (
                    old != new
                    and st is not None
                    and _moved_key(known.get(ident))
                    == (
                        st.st_mtime_ns,
                        st.st_size,
                        st.st_ino,
                    )
                ):
                    # the old file, untouched since the status recorded it: ours to remove
                    with contextlib.suppress(OSError):
                        if not self.read_only:
                            remove_durable(self.path / old)
                    present.pop(old, None)
            else:
                self._set_name(ident, old)
            del self.moving[ident]
            changed = True
        # 2. renames by the user: a file eassync wrote (its ident in an xattr) under a
        # new name; without xattrs, the file the status recorded (same inode)
        claimed = {self.name_of(ident) for ident in known} | set(self.names.values())
        for name in sorted(set(present) - claimed):
            tagged, _ = read_tags(self.path / name)
            if tagged is None or tagged == name or not self._plain(tagged):
                continue
            if self.name_of(tagged) in present or tagged in self.moving:
                continue  # the note is still there: this is a copy, a note of its own
            self._set_name(tagged, name)
            claimed.add(name)
            changed = True
        # the file the status recorded: same inode, and the mtime and size a rename
        # keeps. Not the inode alone: the file system gives a deleted file's inode to
        # the next new one, and a deleted note and a new one must not become one
        # (a conflict could then settle for the deleted one's text). Renamed and
        # edited without xattrs, a note goes as delete + add: nothing is lost
        moved = {
            (st.st_mtime_ns, st.st_size, st.st_ino): name
            for name, st in present.items()
            if name not in claimed
        }
        for ident, etag in known.items():
            if self.name_of(ident) in present:
                continue
            key = _moved_key(etag)
            found = moved.pop(key, None) if key is not None else None
            if found is not None:
                self._set_name(ident, found)
                changed = True
        # a renamed note whose file is gone (deleted behind our back) leaves the index:
        # its name may be given to a new note (the engine sees the old one deleted)
        for ident, name in list(self.names.items()):
            if name not in present and ident not in self.moving:
                del self.names[ident]
                changed = True
        # 3. a new file named like the ident a renamed note holds gets an ident of its own
        holders = {v: k for k, v in self.names.items()}
        for name in present:
            if name in self.names and name not in holders:
                ident = self._new_ident(name, set(self.names) | set(known))
                self._set_name(ident, name)
                holders[name] = ident
                changed = True
        return changed

    def _set_name(self, ident: str, name: str) -> None:
        if ident == name:
            self.names.pop(ident, None)
        else:
            self.names[ident] = name

    def _listing(self) -> dict[str, os.stat_result]:
        return dict(self._scan())

    def list(self) -> Iterator[tuple[str, str]]:
        holders = {v: k for k, v in self.names.items()}
        for name, st in self._scan():
            ident = holders.get(name, name)
            if ident == name and name in self.names:
                continue  # held by a renamed note as its ident: resolved by changes()
            yield ident, _etag(st)

    def changes(self, token: str | None, known: Mapping[str, str]) -> Changes:
        self.skipped = {}
        # read afresh: another process (a sync beside ``watch``) may have renamed notes
        self.names, self.moving = {}, {}
        self._load_index()
        present = self._listing()
        if self._resolve(present, known):
            self._save_index()
        self._tag(present)
        listing = dict(self.list())
        changed = {ident: etag for ident, etag in listing.items() if known.get(ident) != etag}
        skipped = {}
        holders = {v: k for k, v in self.names.items()}
        for name, why in self.skipped.items():
            skipped[holders.get(name, name)] = why
        deleted = {ident for ident in known if ident not in listing and ident not in skipped}
        return Changes(changed=changed, deleted=deleted, token=None, skipped=skipped)

    def _tag(self, present: Mapping[str, os.stat_result]) -> None:
        """Mark every note file with its ident (an xattr) where it lacks it, so that a
        user's ``mv`` followed by an edit is still known as that note next time. A
        copy of another note's file becomes a note of its own (and loses that UID)."""
        if self.read_only:
            return
        holders = {v: k for k, v in self.names.items()}
        for name, st in present.items():
            if not stat_mode.S_ISREG(st.st_mode) or name in self.skipped:
                continue
            ident = holders.get(name, name)
            path = self.path / name
            if path.is_symlink():
                continue  # the link is the user's; its target may be anything
            tagged, uid = read_tags(path)
            if tagged == ident:
                continue
            try:
                os.setxattr(path, XATTR_IDENT, ident.encode("utf-8", "surrogateescape"))
                if uid is not None:
                    os.removexattr(path, XATTR_UID)
            except (OSError, AttributeError):
                return  # no xattrs here: renames are found by inode, mtime and size

    def _read_text(self, ident: str) -> tuple[str, str, os.stat_result]:
        """(file text, stem, stat) of a note."""
        path = self.path_of(ident)
        raw, st = self._read(ident, path)
        if len(raw) > MAX_NOTE_BYTES:
            raise ItemError(f"{path}: larger than {MAX_NOTE_BYTES} bytes, not synced", ident=ident)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ItemError(
                f"{path}: not valid UTF-8 text (byte {exc.start})",
                ident=ident,
                hint="convert the file to UTF-8",
            ) from None
        return text, path.name[: -len(self.fileext)], st

    def get(self, ident: str) -> tuple[Item, str]:
        text, stem, st = self._read_text(ident)
        note, _ = notedoc.parse_text(text, stem)
        if note.uid is None:
            tagged, uid = read_tags(self.path_of(ident))
            if tagged == ident:  # not a copy of another note's file
                note = replace(note, uid=uid)
        kept = self._load_html(ident)
        if kept is not None:
            note = replace(note, html=kept[0], html_of=kept[1])
        return notedoc.document(note), _etag(st)

    # --- the server's HTML, beside the file -------------------------------------------------

    def _html_path(self, ident: str) -> Path:
        digest = hashlib.sha256(ident.encode("utf-8", "surrogateescape")).hexdigest()[:32]
        return self.path / HTML_DIR / f".{digest}.json"

    def _load_html(self, ident: str) -> tuple[str, str] | None:
        """The HTML body a note's Markdown came from (None: none, or unreadable: then
        the note simply goes as plain text)."""
        try:
            raw = self._html_path(ident).read_bytes()[: 2 * MAX_NOTE_BYTES]
            kept = json.loads(raw)
            return str(kept["html"]), str(kept["of"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _keep_html(self, ident: str, note: notedoc.Note) -> None:
        """Remember (or forget) the server's HTML of a note just written. Advisory: a
        lost write only means the next local edit goes as plain text."""
        path = self._html_path(ident)
        try:
            if note.html is None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                return
            path.parent.mkdir(mode=0o700, exist_ok=True)
            data = json.dumps({"html": note.html, "of": note.html_of}, ensure_ascii=False)
            write_atomic(path, data.encode("utf-8"), mode=0o600)
        except OSError as exc:
            log.warning("%s: cannot keep the HTML of %s: %s", self.location, ident, exc.strerror)

    # --- writing ----------------------------------------------------------------------------

    def _note_of(self, item: Item, what: str) -> notedoc.Note:
        try:
            return notedoc.parse(item)
        except ConversionError as exc:
            raise ItemError(f"{self.location}: cannot {what} a note: {exc}") from None

    def _free_names(self, subject: str) -> Iterator[str]:
        stem = safe_stem(subject)
        yield stem + self.fileext
        for n in range(2, 100):
            yield f"{stem} ({n}){self.fileext}"
        for _ in range(3):
            yield random_file_name(self.fileext)

    def _create(self, note: notedoc.Note) -> tuple[str, str, os.stat_result]:
        """Create a new file for ``note`` under the first free name for its subject
        (the subject as a heading only where the name does not say it); returns
        (ident, name, stat)."""
        # entries for files gone since the scan (deleted meanwhile) free their names
        for ident, name in list(self.names.items()):
            if not os.path.lexists(self.path / name) and ident not in self.moving:
                del self.names[ident]
        taken = set(self.names) | self._known
        for name in self._free_names(note.subject):
            stem = name[: -len(self.fileext)]
            data = notedoc.render_text(note, heading=notedoc.needs_heading(note, stem))
            ident = self._new_ident(name, taken)
            try:
                st = create_exclusive(
                    self.path / name, data.encode("utf-8"), mode=None, xattrs=_tags(ident, note.uid)
                )
            except FileExistsError:
                continue
            except OSError as exc:
                raise StorageError(f"{self.path / name}: cannot write: {exc.strerror}") from None
            self._run_post_hook(self.path / name)
            return ident, name, st
        raise StorageError(f"{self.location}: could not find a free file name")

    def add(self, item: Item) -> tuple[str, str]:
        self._check_writable()
        note = self._note_of(item, "add")
        ident, name, st = self._create(note)
        if ident != name:
            self.names[ident] = name
            self._save_index()
        self._keep_html(ident, note)
        return ident, _etag(st)

    def _keeps_name(self, stem: str, old: notedoc.Note, new: notedoc.Note) -> bool:
        if new.subject == old.subject:
            return True
        base = safe_stem(new.subject)
        return stem == base or re.fullmatch(re.escape(base) + r" \(\d+\)", stem) is not None

    def update(self, ident: str, item: Item, etag: str) -> str:
        self._check_writable()
        new = self._note_of(item, "update")
        new_etag = self._update(ident, new, etag)
        self._keep_html(ident, new)
        return new_etag

    def _update(self, ident: str, new: notedoc.Note, etag: str) -> str:
        path, st = self._guard(ident, etag)
        text, stem, _ = self._read_text(ident)
        old, had_heading = notedoc.parse_text(text, stem)
        tagged, old_uid = read_tags(self.path_of(ident))
        tags = _tags(ident, new.uid or (old_uid if tagged == ident else None))
        # a symlink stays where the user put it: its target changes in place
        if self._keeps_name(stem, old, new) or self.path_of(ident).is_symlink():
            show = had_heading or notedoc.needs_heading(new, stem)
            data = notedoc.render_text(new, heading=show).encode("utf-8")
            try:
                written = write_atomic(path, data, mode=stat_mode.S_IMODE(st.st_mode), xattrs=tags)
            except OSError as exc:
                raise StorageError(f"{path}: cannot write: {exc.strerror}") from None
            self._run_post_hook(path)
            return _etag(written)
        return self._rename(ident, path, new, had_heading, tags)

    def _rename(
        self,
        ident: str,
        old_path: Path,
        note: notedoc.Note,
        heading: bool,
        tags: dict[str, bytes],
    ) -> str:
        """A new subject: the note moves to a file named after it. Journalled first, so
        a kill at any point leaves the index able to tell (``_resolve`` step 1)."""
        old_name = old_path.name
        chosen = None
        for name in self._free_names(note.subject):
            if not (self.path / name).exists() or name == old_name:
                chosen = name
                break
        if chosen is None or chosen == old_name:
            stem = old_name[: -len(self.fileext)]
            show = heading or notedoc.needs_heading(note, stem)
            data = notedoc.render_text(note, heading=show).encode("utf-8")
            return _etag(write_atomic(old_path, data, mode=None, xattrs=tags))
        self.moving[ident] = old_name
        self._set_name(ident, chosen)
        self._save_index()
        stem = chosen[: -len(self.fileext)]
        show = heading or notedoc.needs_heading(note, stem)
        data = notedoc.render_text(note, heading=show).encode("utf-8")
        try:
            st = create_exclusive(self.path / chosen, data, mode=None, xattrs=tags)
        except OSError as exc:
            # undo the journal: the note stays under its old name
            self.moving.pop(ident, None)
            self._set_name(ident, old_name)
            self._save_index()
            if isinstance(exc, FileExistsError):
                raise PreconditionFailed(
                    f"{self.path / chosen}: appeared while renaming", ident=ident
                ) from None
            raise StorageError(f"{self.path / chosen}: cannot write: {exc.strerror}") from None
        with contextlib.suppress(FileNotFoundError):
            remove_durable(old_path)
        self.moving.pop(ident, None)
        self._save_index()
        self._run_post_hook(self.path / chosen)
        return _etag(st)

    def delete(self, ident: str, etag: str) -> None:
        super().delete(ident, etag)
        with contextlib.suppress(OSError):
            os.unlink(self._html_path(ident))
        if ident in self.names or ident in self.moving:
            self.names.pop(ident, None)
            self.moving.pop(ident, None)
            self._save_index()
