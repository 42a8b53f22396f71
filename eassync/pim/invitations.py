"""Find the synced invitation an ``eassync respond EVENT`` means.

EVENT is a file of a synced calendar vdir, a UID, or words matched against the synced
invitations. The server item to answer comes from the pair's status (one row per
item: ``local_ident`` ↔ ``remote_ident``, keyed by the folder's CollectionId), so
nothing here asks the server: the folder map is the one the last sync saved.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from eassync.config import Config, Pair
from eassync.eas.commands import Folder
from eassync.eas.state import AccountStateFile
from eassync.errors import EassyncError
from eassync.pairs import Selection, select_folders
from eassync.runner import status_path

log = logging.getLogger(__name__)

#: a calendar file bigger than this is not read for a search (a hostile or broken file)
MAX_ICS = 4 * 1024 * 1024


@dataclass
class Invitation:
    pair: str
    account: str
    #: the folder's CollectionId (the status key) and its name
    collection: str
    label: str
    local_ident: str | None
    server_id: str | None
    uid: str | None
    path: Path | None = None
    summary: str | None = None
    start: str | None = None
    organizer: str | None = None

    def describe(self) -> str:
        when = f"{self.start}  " if self.start else ""
        what = self.summary or "(no summary)"
        return f"{self.pair}/{self.label}: {when}{what}  [UID {self.uid}]"


@dataclass
class _Collection:
    pair: Pair
    sel: Selection
    #: the vdir folder of the collection (None: a DAV collection, whose files we cannot read)
    folder: Path | None


def _calendar_collections(config: Config) -> Iterator[_Collection]:
    for name in sorted(config.pairs):
        pair = config.pairs[name]
        if not status_path(config, name).exists():
            continue
        state = AccountStateFile(config.general.status_dir, pair.account).load()
        folders = [
            Folder.of(sid, rec.parent_id, rec.display_name, rec.type)
            for sid, rec in state.folders.items()
        ]
        try:
            selections = select_folders(name, pair.remote, folders)
        except EassyncError as exc:
            log.info("pair %s: skipped (%s)", name, exc)
            continue
        storage = config.storage_for(pair)
        for sel in selections:
            if sel.kind != "calendar":
                continue
            folder = None
            if storage.type == "vdir" and storage.path is not None:
                folder = storage.path / sel.subdir if sel.subdir else storage.path
            yield _Collection(pair, sel, folder)


def find(config: Config, event: str) -> list[Invitation]:
    """Every synced calendar item EVENT names (several: ambiguous; none: unknown)."""
    from eassync.sync.status import Status

    path = Path(event).expanduser()
    as_file = path.is_file()
    out: list[Invitation] = []
    for coll in _calendar_collections(config):
        key = coll.sel.folder.server_id
        label = coll.sel.subdir or coll.sel.folder.display_name or key
        with Status(status_path(config, coll.pair.name)) as status:
            if as_file:
                if coll.folder is None or coll.folder.resolve() != path.resolve().parent:
                    continue
                rows = [status.by_local(key, path.name)]
            else:
                by_uid = status.by_uid(key, event)
                rows = [by_uid] if by_uid else []
                if not rows and coll.folder is not None:
                    rows = list(status.iter_rows(key, "local_ident IS NOT NULL"))
            for row in rows:
                if row is None:
                    continue
                inv = Invitation(
                    coll.pair.name,
                    coll.pair.account,
                    key,
                    label,
                    row.local_ident,
                    row.remote_ident,
                    row.uid,
                )
                if coll.folder is not None and row.local_ident:
                    inv.path = coll.folder / row.local_ident
                    if as_file or row.uid == event or _may_match(inv.path, event):
                        _read(inv)
                if as_file or row.uid == event or _matches(inv, event):
                    out.append(inv)
    exact = [inv for inv in out if inv.uid == event]
    return exact or out


def _may_match(path: Path, words: str) -> bool:
    """A byte-level pre-check before parsing: an invitation has an ORGANIZER and holds
    every word (parsing 3,300 files took 1.3 s, the pre-check a fraction of it)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_ICS + 1)
    except OSError:
        return False
    if len(raw) > MAX_ICS:
        return False
    text = raw.decode("utf-8", "replace").lower().replace("\r\n ", "").replace("\n ", "")
    return "organizer" in text and all(word in text for word in words.lower().split())


def _read(inv: Invitation) -> None:
    """Summary, start and organizer of the local file (best effort: for display)."""
    import icalendar

    assert inv.path is not None
    try:
        if inv.path.stat().st_size > MAX_ICS:
            return
        cal = icalendar.Calendar.from_ical(inv.path.read_bytes())
    except (OSError, ValueError):
        return
    for comp in cal.walk("VEVENT"):
        if comp.get("RECURRENCE-ID") is not None:
            continue
        inv.summary = str(comp.get("SUMMARY", "")) or None
        start = comp.get("DTSTART")
        if start is not None:
            inv.start = str(start.dt)[:16]
        organizer = comp.get("ORGANIZER")
        if organizer is not None:
            inv.organizer = str(organizer).removeprefix("mailto:").removeprefix("MAILTO:")
        uid = comp.get("UID")
        if uid is not None and not inv.uid:
            inv.uid = str(uid)
        return


def _matches(inv: Invitation, words: str) -> bool:
    """Search mode: only invitations (an organizer) whose summary holds the words."""
    if not inv.organizer or not inv.summary:
        return False
    haystack = inv.summary.lower()
    return all(word in haystack for word in words.lower().split())


def own_partstat(path: Path, addresses: set[str]) -> str | None:
    """PARTSTAT of the attendee that is one of ``addresses`` in the file's master event."""
    import icalendar

    try:
        cal = icalendar.Calendar.from_ical(path.read_bytes())
    except (OSError, ValueError):
        return None
    for comp in cal.walk("VEVENT"):
        if comp.get("RECURRENCE-ID") is not None:
            continue
        attendees = comp.get("ATTENDEE") or []
        if not isinstance(attendees, list):
            attendees = [attendees]
        for att in attendees:
            email = str(att).lower().removeprefix("mailto:")
            if email in addresses:
                return str(att.params.get("PARTSTAT", "NEEDS-ACTION"))
    return None
