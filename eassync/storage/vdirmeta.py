"""The ``displayname`` file of a vdir collection, from the server folder's name.

vdirsyncer's vdir spec (docs/vdir.rst, "Metadata") puts a collection's metadata in
files without extension inside its folder: ``displayname`` (a UTF-8 label) and
``color`` (``#RRGGBB``). khal names discovered calendars by ``displayname`` and
colours them by ``color``; todoman reads both. vdirsyncer's metasync writes the value
stripped, with no trailing newline, atomically; readers strip what they read.

EAS folders have a DisplayName (FolderSync) but no colour, so only ``displayname`` is
written. A user's own name is never overwritten: eassync writes the file when it is
absent or still holds what eassync wrote last (the caller keeps that in the status),
so a server rename is followed until the user names the calendar themselves.

The storage never takes these files for items: items end in the storage's extension.
"""

from __future__ import annotations

import errno
import logging
import unicodedata
from pathlib import Path

from eassync.storage.atomic import write_atomic

log = logging.getLogger(__name__)

DISPLAYNAME = "displayname"
#: longer server names are cut: a label, not a document
MAX_NAME_LENGTH = 200
#: kept although formatting characters (Cf): they join emoji and shape scripts
_JOINERS = frozenset("\u200c\u200d")
#: read at most this much of a metadata file (a label; never a huge file into memory)
_MAX_READ = 64 * 1024


def clean_name(name: str) -> str | None:
    """A server's folder name as a label: control and formatting characters dropped
    (escapes retitle terminals, bidi overrides reorder what khal shows), line breaks
    and tabs made spaces, runs of spaces made one, bounded. None if nothing is left."""
    out = []
    for char in unicodedata.normalize("NFC", name):
        category = unicodedata.category(char)
        if char.isspace() or category in ("Zl", "Zp"):
            out.append(" ")
        elif category[0] == "C" and char not in _JOINERS:
            continue
        else:
            out.append(char)
    text = " ".join("".join(out).split())[:MAX_NAME_LENGTH].strip()
    return text or None


def name_to_write(current: str | None, ours: str | None, wanted: str) -> str | None:
    """The name to write, or None to leave the file alone. ``current``: the file's
    (stripped) content, None if absent; ``ours``: what eassync wrote last."""
    if current == wanted:
        return None
    if current is None or current == ours:
        return wanted
    return None  # the user's own name


def read_meta(folder: Path, key: str) -> str | None:
    """A metadata file's value, stripped as vdirsyncer and khal read it; None if
    absent. Bytes that are not UTF-8 read as replacement characters: whatever that
    is, it is not a name eassync wrote, so it is kept."""
    try:
        with open(folder / key, "rb") as stream:
            raw = stream.read(_MAX_READ)
    except FileNotFoundError:
        return None
    return raw.decode("utf-8", "replace").strip()


def sync_displayname(folder: Path, server_name: str, ours: str | None) -> str | None:
    """Bring ``folder/displayname`` up to the server's name where it is eassync's
    to write, and return the name eassync now counts as its own (None: none), for
    the caller to record. Raises OSError when the file cannot be read or written."""
    wanted = clean_name(server_name)
    if wanted is None:
        return ours
    try:
        current = read_meta(folder, DISPLAYNAME)
    except IsADirectoryError:
        return ours  # a folder of that name is the user's business
    if current == wanted:
        return wanted  # right already (written by us, or by hand): followed from now on
    write = name_to_write(current, ours, wanted)
    if write is None:
        return ours
    try:
        # mode None: as the umask makes new files, like the items beside it
        write_atomic(folder / DISPLAYNAME, write.encode("utf-8"), mode=None)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return ours  # the folder is gone (removed by the user meanwhile)
        raise
    log.info("%s: displayname set to %r", folder, write)
    return write
