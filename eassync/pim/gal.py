"""``eassync gal``: a search of the server's global address list, paged, cached for a
few minutes, and written for people, for mutt/neomutt/aerc, as vCards or as JSON.

The cache lives under the state directory (``gal-cache/``, folder 0700, files 0600)
so that completion while typing an address costs one request per query, not one per
keystroke after the first.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from eassync.eas.pim import GAL_MAX_RANGE, GalEntry, GalPage
from eassync.errors import ServerError, UsageError

#: below this many characters an empty answer probably means "query too short":
#: SOGo ignores queries shorter than SOGoSearchMinimumWordLength (default 2), and
#: Exchange's ambiguous-name resolution wants a few characters too
SHORT_QUERY = 3
#: seconds a cached answer is used
CACHE_TTL = 600
#: a cache file bigger than this is not ours: ignored
MAX_CACHE_FILE = 16 * 1024 * 1024
DEFAULT_PAGE = 50


@dataclass
class GalResult:
    query: str
    entries: list[GalEntry] = field(default_factory=list)
    #: the server's estimate of all matches (may exceed what it lets us page through)
    total: int | None = None
    cached: bool = False


def search(
    fetch: Callable[[int, int], GalPage], query: str, *, limit: int, page_size: int = DEFAULT_PAGE
) -> GalResult:
    """Page through the matches with Range (zero-based, inclusive) until ``limit``, the
    server's total, a short page, or the GAL's 100-entry ceiling (Status 12) ends it.
    The number of requests is bounded whatever the server answers."""
    limit = max(1, min(limit, GAL_MAX_RANGE))
    page_size = max(1, min(page_size, limit))
    result = GalResult(query)
    seen: set[tuple[str | None, str | None]] = set()
    start = 0
    for _ in range(-(-limit // page_size)):
        end = min(start + page_size, limit) - 1
        page = fetch(start, end)
        if page.store_status == 12:  # end of the retrievable range (2.2.3.177.16)
            break
        if page.store_status not in (None, 1):
            raise refused(query, page.store_status)
        result.total = page.total
        fresh = 0
        for entry in page.entries:
            key = (entry.email, entry.display_name)
            if key not in seen:  # a server that ignores Range repeats its first page
                seen.add(key)
                result.entries.append(entry)
                fresh += 1
        wanted = end - start + 1
        if fresh < wanted or (page.total is not None and len(result.entries) >= page.total):
            break
        start = end + 1
    del result.entries[limit:]
    return result


def refused(query: str, status: int) -> Exception:
    from eassync.eas.pim import SEARCH_STATUS

    reason = SEARCH_STATUS.get(status, "unknown status")
    if status in (2, 8) and len(query.strip()) < SHORT_QUERY:
        return UsageError(
            f"the server refused the query {query!r}: {reason} (status {status})",
            hint=f"the server probably needs at least {SHORT_QUERY} characters: type more",
        )
    return ServerError(f"the GAL search for {query!r} failed: {reason} (status {status})")


def empty_note(query: str) -> str:
    """What to say when nothing matched (never just nothing)."""
    if len(query.strip()) < SHORT_QUERY:
        return (
            f"no match for {query!r}: servers often ignore queries shorter than "
            f"{SHORT_QUERY} characters (SOGo: SOGoSearchMinimumWordLength); type more"
        )
    return f"no match for {query!r} in the global address list"


# --- cache --------------------------------------------------------------------------------


def cache_file(state_dir: Path, account: str, query: str, limit: int, pictures: bool) -> Path:
    key = json.dumps([account, query.strip().lower(), limit, pictures])
    return state_dir / "gal-cache" / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")


def cache_load(path: Path, *, now: float | None = None) -> GalResult | None:
    """The cached answer, or None when missing, stale, oversized or unreadable."""
    now = time.time() if now is None else now
    try:
        if path.stat().st_size > MAX_CACHE_FILE:
            return None
        doc = json.loads(path.read_text("utf-8"))
        created = float(doc["created"])
        if not 0 <= now - created <= CACHE_TTL:
            return None
        entries = [GalEntry.from_dict(e) for e in doc["entries"] if isinstance(e, dict)]
        total = doc.get("total")
        return GalResult(
            str(doc["query"]), entries, total if isinstance(total, int) else None, cached=True
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cache_store(path: Path, result: GalResult, *, now: float | None = None) -> None:
    """Write atomically, private to the user; old answers of any query are pruned."""
    now = time.time() if now is None else now
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    for old in folder.glob("*.json"):
        try:
            if now - old.stat().st_mtime > CACHE_TTL:
                old.unlink()
        except OSError:
            pass
    doc = {
        "created": now,
        "query": result.query,
        "total": result.total,
        "entries": [e.to_dict() for e in result.entries],
    }
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(doc, out)
    os.replace(tmp, path)


# --- output -------------------------------------------------------------------------------


def _one_line(text: str | None) -> str:
    from eassync.pim.text import safe

    return safe(text, one_line=True).strip()


def _name(entry: GalEntry) -> str:
    name = entry.display_name or " ".join(p for p in (entry.first_name, entry.last_name) if p)
    return _one_line(name or entry.alias or entry.email)


def _other(entry: GalEntry) -> str:
    parts = [entry.title, entry.company, entry.office, entry.phone or entry.mobile_phone]
    return ", ".join(_one_line(p) for p in parts if p)


def format_text(result: GalResult) -> list[str]:
    lines = []
    for entry in result.entries:
        email = f" <{_one_line(entry.email)}>" if entry.email else ""
        other = _other(entry)
        lines.append(f"{_name(entry)}{email}" + (f"  ({other})" if other else ""))
    return lines


def format_mutt(result: GalResult, account: str) -> list[str]:
    """mutt/neomutt/aerc ``query_command``: a free first line, then
    ``address<TAB>name<TAB>other`` per entry that has an address."""
    rows = [e for e in result.entries if e.email]
    if not rows:
        return [empty_note(result.query)]
    head = f"{len(rows)} from the address list of {account}"
    if result.total is not None and result.total > len(rows):
        head += f" (of {result.total}; type more to narrow)"
    return [head] + [f"{_one_line(e.email)}\t{_name(e)}\t{_other(e)}" for e in rows]


def _vtext(value: str) -> str:
    """RFC 2426 §5 text escaping."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


def _fold(line: str) -> str:
    """RFC 2425 §5.8.1: lines longer than 75 octets continue after CRLF + space."""
    out, current = [], ""
    for char in line:
        if len((current + char).encode()) > 75:
            out.append(current)
            current = " "
        current += char
    out.append(current)
    return "\r\n".join(out)


def format_vcards(result: GalResult) -> str:
    """A vCard 3.0 stream (khard ``import``, any address book)."""
    import base64

    cards = []
    for entry in result.entries:
        fn = entry.display_name or _name(entry)
        uid_src = (entry.email or fn).lower().encode()
        lines = [
            "BEGIN:VCARD",
            "VERSION:3.0",
            f"UID:gal-{hashlib.sha1(uid_src, usedforsecurity=False).hexdigest()}",
            f"FN:{_vtext(fn)}",
            f"N:{_vtext(entry.last_name or '')};{_vtext(entry.first_name or '')};;;",
        ]
        if entry.email:
            lines.append(f"EMAIL;TYPE=INTERNET:{_vtext(entry.email)}")
        for value, kind in (
            (entry.phone, "WORK"),
            (entry.mobile_phone, "CELL"),
            (entry.home_phone, "HOME"),
        ):
            if value:
                lines.append(f"TEL;TYPE={kind}:{_vtext(value)}")
        if entry.company:
            lines.append(f"ORG:{_vtext(entry.company)}")
        if entry.title:
            lines.append(f"TITLE:{_vtext(entry.title)}")
        if entry.office:
            lines.append(f"X-OFFICE:{_vtext(entry.office)}")
        if entry.picture:
            lines.append(
                "PHOTO;ENCODING=b;TYPE=JPEG:" + base64.b64encode(entry.picture).decode("ascii")
            )
        lines.append("END:VCARD")
        cards.append("\r\n".join(_fold(line) for line in lines) + "\r\n")
    return "".join(cards)


def to_json(result: GalResult, account: str) -> dict[str, object]:
    return {
        "account": account,
        "query": result.query,
        "total": result.total,
        "cached": result.cached,
        "entries": [e.to_dict() for e in result.entries],
    }
