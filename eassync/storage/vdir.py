"""The vdir storage: one folder, one ``.ics``/``.vcf`` file per item (vdirsyncer's
vdir spec, docs/vdir.rst), as read by khal, khard and todoman.

- ident = the file name (never a path: validated on the way in, see ``path_of``);
- etag  = ``mtime_ns;size;inode;ctime_ns`` of the file. mtime ticks are coarse (a
  rewrite within one tick keeping the size is invisible to mtime+size); every write of
  ours is an atomic replace, which gives the file a new inode, and ``cp -p``/``rsync -t``
  style rewrites that restore the mtime still move the ctime;
- token = none: a listing is compared with the status (one ``scandir``, no parsing).

Writes are atomic and durable (:mod:`eassync.storage.atomic`); file names of new
items come from the UID only when it is plainly safe, else from a random uuid.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
import re
import stat as stat_mode
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from eassync.errors import (
    ItemError,
    NotFoundError,
    PreconditionFailed,
    StorageError,
)
from eassync.model.items import Changes, Item
from eassync.storage.atomic import (
    TMP_SUFFIX,
    create_exclusive,
    durable_batch,
    is_temp_name,
    remove_durable,
    write_atomic,
)

log = logging.getLogger(__name__)

#: characters a UID may have to become a file name as is; anything else → uuid4 name
_SAFE_UID = re.compile(r"[A-Za-z0-9._@+-]+\Z")
#: file names stay well below the usual 255-byte NAME_MAX, leaving room for temp names
MAX_NAME_LENGTH = 200
#: temp files left by a killed run are removed once they are this old (seconds)
STALE_TMP_AGE = 15 * 60

#: errno values meaning "this file name is not acceptable here"
_NAME_REFUSED = frozenset({errno.ENAMETOOLONG, errno.EINVAL, errno.EILSEQ})

#: the objects a vdir file may hold (one per file)
_TOP_LEVEL = frozenset({"VCARD", "VCALENDAR"})


# --- reading the UID and checking the shape, without a full parse ------------------------


def _unfolded_lines(text: str) -> Iterator[tuple[int, str]]:
    """Content lines with RFC 5545 §3.1 / RFC 6350 §3.2 folding undone, with the
    1-based number of the physical line each starts on."""
    current: str | None = None
    start = 0
    for number, physical in enumerate(text.split("\n"), start=1):
        physical = physical.removesuffix("\r")
        if current is not None:
            if physical[:1] in (" ", "\t"):
                current += physical[1:]
                continue
            if current.endswith("=") and _is_quoted_printable(current):
                # vCard 2.1 soft line break (phones still export 2.1): no leading space.
                current += physical
                continue
        if current is not None:
            yield start, current
        current, start = physical, number
    if current is not None:
        yield start, current


#: first characters of property names that cannot be BEGIN, END or UID (nor blank)
_ORDINARY_START = frozenset("ACDFGHIJKLMNOPQRSTVWXYZacdfghijklmnopqrstvwxyz0123456789")


def _is_quoted_printable(line: str) -> bool:
    name = line.partition(":")[0].upper()
    return "QUOTED-PRINTABLE" in name


def inspect_text(text: str) -> str | None:
    """Check that ``text`` is one well-nested vCard or iCalendar object and return its
    UID (None if it has none). Raises ValueError saying what is wrong and on which line.

    Cheap on purpose (no property parsing): it runs for every item read. The UID is the
    one of the card, or of the first calendar component other than VTIMEZONE — not
    the UID a VALARM may carry (RFC 9074).
    """
    text = text.removeprefix("\ufeff")
    stack: list[str] = []
    seen_object = False
    uid: str | None = None
    for number, line in _unfolded_lines(text):
        if stack and line[:1] in _ORDINARY_START and ":" in line:
            # the usual line: a property inside the object that is not BEGIN, END or
            # UID (its name starts with another ASCII letter or digit): nothing to check
            continue
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise ValueError(f"line {number}: not a content line (no ':')")
        prop = name.split(";", 1)[0].strip().upper()
        if prop == "BEGIN":
            component = value.strip().upper()
            if not stack:
                if component not in _TOP_LEVEL:
                    raise ValueError(f"line {number}: BEGIN:{component} outside an object")
                if seen_object:
                    raise ValueError(f"line {number}: a second object in one file")
                seen_object = True
            stack.append(component)
        elif prop == "END":
            component = value.strip().upper()
            if not stack or stack[-1] != component:
                expected = f"END:{stack[-1]}" if stack else "nothing"
                raise ValueError(f"line {number}: END:{component} where {expected} was expected")
            stack.pop()
        elif not stack:
            raise ValueError(f"line {number}: property {prop or '(empty)'} outside an object")
        elif prop == "UID" and uid is None and _is_item_level(stack):
            uid = _unescaped(value.strip()) or None
    if not seen_object:
        raise ValueError("no BEGIN:VCARD or BEGIN:VCALENDAR")
    if stack:
        raise ValueError(f"END:{stack[-1]} missing at the end")
    return uid


_TEXT_ESCAPE = re.compile(r"\\([\\;,nN])")


def _unescaped(value: str) -> str:
    """A TEXT value as written (RFC 5545 3.3.11, RFC 6350 3.4): ``\\;`` is ``;`` and so
    on, so that the UID read here is the UID the converters wrote (a server UID with a
    ``;`` or ``,`` read escaped was another UID)."""
    return _TEXT_ESCAPE.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def _is_item_level(stack: list[str]) -> bool:
    if stack[0] == "VCARD":
        return len(stack) == 1
    return len(stack) == 2 and stack[1] != "VTIMEZONE"


def read_uid(raw: bytes, encoding: str = "utf-8") -> str | None:
    """The UID of a raw item, or None (also None when the item is not readable)."""
    try:
        return inspect_text(raw.decode(encoding))
    except (UnicodeDecodeError, ValueError):
        return None


# --- file names --------------------------------------------------------------------------


def file_name_for_uid(uid: str | None, fileext: str) -> str | None:
    """``uid + fileext`` if that is a plainly safe file name, else None (the caller then
    uses a random one). Nothing from a server becomes a path unsanitised."""
    if not uid or not _SAFE_UID.match(uid):
        return None
    if uid.startswith(".") or ".." in uid:
        return None
    name = uid + fileext
    if len(name.encode()) > MAX_NAME_LENGTH or name.endswith(TMP_SUFFIX):
        return None
    return name


def random_file_name(fileext: str) -> str:
    return uuid.uuid4().hex + fileext


def _etag(st: os.stat_result) -> str:
    return f"{st.st_mtime_ns};{st.st_size};{st.st_ino};{st.st_ctime_ns}"


class VdirStorage:
    """A vdir folder holding files ending in ``fileext`` (".ics" or ".vcf")."""

    def __init__(
        self,
        path: Path,
        fileext: str,
        *,
        encoding: str = "utf-8",
        post_hook: str | None = None,
        read_only: bool = False,
        create: bool = False,
    ) -> None:
        self.path = Path(path).expanduser()
        if not fileext:
            raise StorageError("a vdir storage needs a file extension such as .ics or .vcf")
        self.fileext = fileext if fileext.startswith(".") else "." + fileext
        self.encoding = encoding
        self.post_hook = post_hook
        self.read_only = read_only
        self.location = str(self.path)
        if create:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._folder = os.fspath(self.path)
        #: files of the last scan that are present but not items (name → why)
        self.skipped: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"VdirStorage({self.location!r}, {self.fileext!r})"

    # --- paths ----------------------------------------------------------------------------

    def is_valid_ident(self, ident: str) -> bool:
        """A plain file name of this folder: no separator, no leading dot (hence no
        ``..``), our extension, not a temp file, no NUL."""
        return (
            bool(ident)
            and not ident.startswith(".")
            and "/" not in ident
            and "\0" not in ident
            and (os.altsep is None or os.altsep not in ident)
            and ident.endswith(self.fileext)
            and not ident.endswith(TMP_SUFFIX)
        )

    def path_of(self, ident: str) -> Path:
        """The file of ``ident``; ItemError if ``ident`` is not a plain file name."""
        if not self.is_valid_ident(ident):
            raise ItemError(
                f"{self.location}: refusing unsafe item name {ident!r}",
                ident=ident,
                hint="the status may be corrupt; run `eassync repair`",
            )
        return self.path / ident

    def _inside(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path``, with symlinks resolved, lies within this folder."""
        root = os.path.realpath(self.path)
        target = os.path.realpath(path)
        return os.path.commonpath([root, target]) == root and target != root

    # --- reading -----------------------------------------------------------------------------

    def _scan(self) -> Iterator[tuple[str, os.stat_result]]:
        try:
            entries = os.scandir(self.path)
        except FileNotFoundError:
            raise StorageError(
                f"{self.location}: folder does not exist",
                hint="create it, or set `create: true` for this storage",
            ) from None
        except OSError as exc:
            raise StorageError(f"{self.location}: cannot list folder: {exc.strerror}") from None
        now = time.time()
        with entries:
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    if is_temp_name(name):  # ours only: never another program's *.tmp
                        self._clean_stale_temp(entry, now)
                    continue
                if not name.endswith(self.fileext) or name.endswith(TMP_SUFFIX):
                    continue
                try:
                    name.encode("utf-8")
                except UnicodeEncodeError:
                    log.warning("%s: skipping file with a non-UTF-8 name %r", self.location, name)
                    continue
                try:
                    if entry.is_symlink():
                        why = self._symlink_skipped(entry.path)
                        if why is not None:
                            self.skipped[name] = why
                            log.warning("%s: ignoring %s: %s", self.location, name, why)
                            continue
                        st = entry.stat()
                    else:
                        st = entry.stat(follow_symlinks=False)
                except OSError:  # vanished meanwhile, or a dangling symlink
                    continue
                if stat_mode.S_ISREG(st.st_mode):
                    yield name, st

    def _symlink_skipped(self, path: str) -> str | None:
        """Why a symlink is not an item (None: it is one). One leading outside the
        folder would sync a file eassync does not own; one to another item of this
        folder would upload that item twice."""
        if not self._inside(path):
            return "a symlink leading outside the folder"
        target = os.path.realpath(path)
        if os.path.dirname(target) == os.path.realpath(self.path):
            return f"a symlink to {os.path.basename(target)}, an item of this folder"
        return None

    def _clean_stale_temp(self, entry: os.DirEntry[str], now: float) -> None:
        """Remove a temp file a killed run left behind, once it is clearly abandoned."""
        if self.read_only:
            return
        with contextlib.suppress(OSError):
            st = entry.stat(follow_symlinks=False)
            if stat_mode.S_ISREG(st.st_mode) and now - st.st_mtime > STALE_TMP_AGE:
                os.unlink(entry.path)
                log.info("%s: removed stale temp file %s", self.location, entry.name)

    def list(self) -> Iterator[tuple[str, str]]:
        for name, st in self._scan():
            yield name, _etag(st)

    def changes(self, token: str | None, known: Mapping[str, str]) -> Changes:
        self.skipped = {}
        listing = dict(self.list())
        changed = {ident: etag for ident, etag in listing.items() if known.get(ident) != etag}
        # a file still there but skipped is never taken for a deletion
        skipped = dict(self.skipped)
        deleted = {ident for ident in known if ident not in listing and ident not in skipped}
        return Changes(changed=changed, deleted=deleted, token=None, skipped=skipped)

    def durable_batch(self) -> contextlib.AbstractContextManager[None]:
        """The engine writes a pull batch inside this: its files become durable
        together (one syncfs) before the status records them (atomic.py)."""
        return durable_batch()

    def get(self, ident: str) -> tuple[Item, str]:
        path = self.path_of(ident)
        raw, st = self._read(ident, path)
        return self._to_item(ident, path, raw), _etag(st)

    def get_many(self, idents: Iterable[str]) -> Iterator[tuple[str, Item | Exception, str]]:
        seen: set[str] = set()
        for ident in idents:
            if ident in seen:
                continue
            seen.add(ident)
            try:
                item, etag = self.get(ident)
            except (ItemError, NotFoundError) as exc:
                yield ident, exc, ""
            else:
                yield ident, item, etag

    def _read(self, ident: str, path: Path) -> tuple[bytes, os.stat_result]:
        if path.is_symlink() and not self._inside(path):
            raise ItemError(f"{path}: symlink leading outside the folder", ident=ident)
        # O_NONBLOCK: a FIFO planted under an item's name must not hang the sync.
        flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            raise NotFoundError(f"{path}: no such item") from None
        except OSError as exc:
            raise ItemError(f"{path}: cannot read: {exc.strerror}", ident=ident) from None
        try:
            st = os.fstat(fd)
            if not stat_mode.S_ISREG(st.st_mode):
                raise ItemError(f"{path}: not a regular file", ident=ident)
            with os.fdopen(os.dup(fd), "rb") as stream:
                raw = stream.read()
        except OSError as exc:
            raise ItemError(f"{path}: cannot read: {exc.strerror}", ident=ident) from None
        finally:
            os.close(fd)
        return raw, st

    def _to_item(self, ident: str, path: Path, raw: bytes) -> Item:
        try:
            text = raw.decode(self.encoding)
        except UnicodeDecodeError as exc:
            raise ItemError(
                f"{path}: not valid {self.encoding} text (byte {exc.start})",
                ident=ident,
                hint="convert the file to UTF-8 or set `encoding` for this storage",
            ) from None
        except LookupError:
            raise StorageError(f"{self.location}: unknown encoding {self.encoding!r}") from None
        try:
            uid = inspect_text(text)
        except ValueError as exc:
            raise ItemError(f"{path}: not a vCard/iCalendar object: {exc}", ident=ident) from None
        if self.encoding.replace("-", "").replace("_", "").lower() == "utf8":
            data = raw.removeprefix(b"\xef\xbb\xbf")
        else:
            data = text.removeprefix("\ufeff").encode("utf-8")
        return Item(raw=data, uid=uid)

    # --- writing -----------------------------------------------------------------------------

    def _check_writable(self) -> None:
        if self.read_only:
            raise StorageError(f"{self.location}: storage is read-only")

    def _encode(self, item: Item, what: str) -> tuple[bytes, str | None]:
        """The bytes to write (in the storage's encoding) and the item's UID."""
        try:
            text = item.raw.decode("utf-8")
            uid = inspect_text(text)
            data = text.encode(self.encoding)
        except (UnicodeError, ValueError) as exc:
            label = f"item {item.uid!r}" if item.uid else "an item"
            raise ItemError(f"{self.location}: cannot {what} {label}: {exc}") from None
        return data, item.uid if item.uid is not None else uid

    def add(self, item: Item) -> tuple[str, str]:
        self._check_writable()
        data, uid = self._encode(item, "add")
        preferred = file_name_for_uid(uid, self.fileext)
        # random names drawn only when needed (three per add cost ~10% of an add)
        fallbacks = (random_file_name(self.fileext) for _ in range(3))
        names = itertools.chain([preferred] if preferred else [], fallbacks)
        for attempt, name in enumerate(names):
            path = os.path.join(self._folder, name)
            try:
                # mode None: as the umask makes new files, like any editor would
                st = create_exclusive(path, data, mode=None)
            except FileExistsError:
                continue  # another item holds this UID's name (or a case-folding twin)
            except OSError as exc:
                # Some filesystems refuse names we think fine (shorter NAME_MAX, no '+'
                # on FAT): fall back to a random name, as vdirsyncer does.
                if attempt == 0 and preferred and exc.errno in _NAME_REFUSED:
                    continue
                raise StorageError(f"{path}: cannot write: {exc.strerror}") from None
            self._run_post_hook(path)
            return name, _etag(st)
        raise StorageError(f"{self.location}: could not find a free file name")  # pragma: no cover

    def _guard(self, ident: str, etag: str) -> tuple[Path, os.stat_result]:
        """The item's file (symlinks within the folder resolved) if its etag is still
        ``etag``, else PreconditionFailed."""
        path = self.path_of(ident)
        if path.is_symlink():
            if not self._inside(path):
                raise ItemError(f"{path}: symlink leading outside the folder", ident=ident)
            path = Path(os.path.realpath(path))
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise PreconditionFailed(f"{path}: item is gone", ident=ident) from None
        except OSError as exc:
            raise ItemError(f"{path}: cannot stat: {exc.strerror}", ident=ident) from None
        current = _etag(st)
        if current != etag:
            raise PreconditionFailed(
                f"{path}: item changed since it was read (etag {etag} is now {current})",
                ident=ident,
            )
        return path, st

    def update(self, ident: str, item: Item, etag: str) -> str:
        self._check_writable()
        data, _ = self._encode(item, "update")
        path, st = self._guard(ident, etag)
        try:
            new = write_atomic(path, data, mode=stat_mode.S_IMODE(st.st_mode))
        except OSError as exc:
            raise StorageError(f"{path}: cannot write: {exc.strerror}") from None
        self._run_post_hook(path)
        return _etag(new)

    def delete(self, ident: str, etag: str) -> None:
        self._check_writable()
        self._guard(ident, etag)
        path = self.path_of(ident)  # the entry itself: a symlink goes, not its target
        try:
            remove_durable(path)
        except FileNotFoundError:
            raise PreconditionFailed(f"{path}: item is gone", ident=ident) from None
        except OSError as exc:
            raise StorageError(f"{path}: cannot delete: {exc.strerror}") from None

    def _run_post_hook(self, path: str | os.PathLike[str]) -> None:
        """vdirsyncer's post_hook: run a program with the written file as argument."""
        if not self.post_hook:
            return
        import subprocess  # here: most storages have no hook (startup time)

        try:
            result = subprocess.run([self.post_hook, str(path)], check=False)
        except OSError as exc:
            log.warning("%s: post_hook %s failed: %s", self.location, self.post_hook, exc)
            return
        if result.returncode:
            log.warning(
                "%s: post_hook %s exited with %d", self.location, self.post_hook, result.returncode
            )
