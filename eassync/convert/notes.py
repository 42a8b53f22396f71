"""EAS Notes (code page Notes + AirSyncBase, MS-ASNOTE) ⇄ a Markdown note document.

The local form of a note (the ``raw`` of its :class:`Item`) is a *note document*: an
optional front matter block, then the subject as the first line ``# Subject``, a blank
line and the body::

    ---
    categories: [work, ideas]
    ---
    # Subject

    The body, as Markdown or plain text.

The notes storage (``eassync.storage.notes``) maps documents to files: there the
subject is the file name unless the file shows a first heading, so a file may lack
the heading line; the document the engine sees always has it.

Mapping (MS-ASNOTE 2.2.2):

- ``Notes:Subject`` ⇄ the heading (one line: line breaks in a server subject become
  spaces);
- ``AirSyncBase:Body`` ⇄ the body. Type 1 (plain) is stored as is; Type 2 (HTML, a
  server that ignores our BodyPreference) is converted to Markdown with
  ``markdownify``, and that HTML is sent back while the Markdown body is unchanged
  (``Note.html``); otherwise we send Type 1 (CRLF line ends, as Exchange stores them);
- ``Notes:Categories`` ⇄ ``categories:`` in the front matter (only when there are any);
- ``Notes:MessageClass``: always sent as ``IPM.StickyNote`` (required, MS-ASNOTE
  2.2.2.5), not stored (Horde neither stores nor returns it, horde-notes §6);
- ``Notes:LastModifiedDate``: set by the server, not stored (it would change the file
  on every server-side touch).

Other front matter keys (Obsidian's ``tags``, ``aliases`` …) stay in the local file and
never reach the server. Notes have no UID in EAS: a ``uid:`` front matter key is read
if a user or tool wrote one, eassync never writes one into the text (files stay clean;
the notes storage keeps the UID the engine derives for a server note in an extended
attribute, and the status has it too). Pure code, no I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, replace
from typing import Any

from eassync.convert import normalize
from eassync.eas.element import E, Element
from eassync.errors import ConversionError
from eassync.model.items import Item

N = "Notes:"
#: separates a note document's Markdown from the server's original HTML body (never in
#: a file: a NUL byte pair is no text a note holds)
HTML_MARKER = "\0\0eassync-html\0"
MESSAGE_CLASS = "IPM.StickyNote"

#: front matter larger than this is not front matter (a cap on what a file can make us parse)
MAX_FRONT_MATTER = 64 * 1024
#: a heading line: ``#`` alone or ``# text`` (CommonMark ATX heading, level 1)
_HEADING = re.compile(r"#(?:[ \t]+(.*))?\Z")
#: characters never shown in a subject line (control characters; line breaks become spaces)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Note:
    subject: str = ""
    body: str = ""
    categories: tuple[str, ...] = ()
    #: front matter other than ``categories`` (verbatim lines), kept locally only
    extra: str = ""
    uid: str | None = None
    #: the server's HTML body this note's Markdown body was converted from, and the
    #: hash of that Markdown: sent back as is while the body is unchanged (no
    #: formatting lost to a categories or subject edit). Never in the file: the notes
    #: storage keeps it beside (``.eassync-html/``)
    html: str | None = None
    html_of: str | None = None

    def html_if_unchanged(self) -> str | None:
        """The original HTML body, if the Markdown body is still the one made from it."""
        if self.html is None or self.html_of != body_hash(self.body):
            return None
        return self.html


# --- the note document ------------------------------------------------------------------


def clean_subject(text: str | None) -> str:
    """A subject as one line of text: line breaks → spaces, control characters dropped."""
    if not text:
        return ""
    one_line = " ".join(normalize.lf(text).split("\n"))
    return _CONTROL.sub("", one_line).strip()


def heading_subject(line: str) -> str | None:
    """The subject of a first line that is a level-1 heading, else None."""
    match = _HEADING.match(line.rstrip("\r"))
    if match is None:
        return None
    return (match.group(1) or "").strip()


def split_front_matter(text: str) -> tuple[dict[str, Any] | None, str, str]:
    """(parsed front matter or None, its inner text, the rest of the text).

    Front matter is a block between a first line ``---`` and the next line ``---``
    (or ``...``) that YAML reads as a mapping; anything else is body text."""
    if not (text.startswith("---\n") or text.startswith("---\r\n")):
        return None, "", text
    start = text.index("\n") + 1
    pos = start
    while pos < len(text) and pos - start <= MAX_FRONT_MATTER:
        end = text.find("\n", pos)
        line = text[pos:] if end < 0 else text[pos:end]
        if line.rstrip("\r") in ("---", "..."):
            inner = text[start:pos]
            parsed = _load_yaml(inner)
            if parsed is None:
                return None, "", text
            rest = "" if end < 0 else text[end + 1 :]
            return parsed, inner, rest
        if end < 0:
            break
        pos = end + 1
    return None, "", text


def _load_yaml(inner: str) -> dict[str, Any] | None:
    import yaml  # here: only files with front matter need it

    try:
        value = yaml.safe_load(inner) if inner.strip() else {}
    except yaml.YAMLError:
        return None
    return value if isinstance(value, dict) else None


def _categories_of(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else str(value).split(",")
    out: list[str] = []
    for entry in items:
        word = clean_subject(str(entry)) if entry is not None else ""
        if word and word not in out:
            out.append(word)
    return tuple(out)


def _without_key(inner: str, key: str) -> str:
    """Front matter text without the top-level entry ``key`` (and its indented or
    ``- `` continuation lines)."""
    kept: list[str] = []
    skipping = False
    for line in normalize.lf(inner).split("\n"):
        top_level = bool(line) and not line[0].isspace() and not line.startswith("-")
        if top_level:
            name = line.split(":", 1)[0].strip().strip("'\"")
            skipping = name == key
        if not skipping:
            kept.append(line)
    return "\n".join(kept).strip("\n")


def parse_text(text: str, fallback_subject: str | None = None) -> tuple[Note, bool]:
    """A note from Markdown text, and whether it had a heading line. Without one the
    subject is ``fallback_subject`` (the file name) and the whole text is the body."""
    text = text.removeprefix("\ufeff")
    meta, inner, rest = split_front_matter(text)
    categories: tuple[str, ...] = ()
    extra = ""
    uid: str | None = None
    if meta is not None:
        categories = _categories_of(meta.get("categories"))
        extra = _without_key(inner, "categories")
        raw_uid = meta.get("uid")
        uid = str(raw_uid).strip() or None if raw_uid is not None else None
    first, newline, after = rest.partition("\n")
    subject = heading_subject(first) if (first or newline) else None
    if subject is not None:
        body = after
        if body.startswith("\n"):
            body = body[1:]
        elif body.startswith("\r\n"):
            body = body[2:]
        has_heading = True
    else:
        subject, body, has_heading = clean_subject(fallback_subject), rest, False
    if body.endswith("\r\n"):
        body = body[:-2]
    elif body.endswith("\n"):
        body = body[:-1]
    return Note(subject, body, categories, extra, uid), has_heading


def parse(item: Item) -> Note:
    """The note of a note document (the raw of a local item)."""
    try:
        text = item.raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConversionError(f"a note is not UTF-8 text (byte {exc.start})") from None
    text, marker, origin = text.partition(HTML_MARKER)
    note, _ = parse_text(text)
    note = replace(note, uid=item.uid or note.uid)
    if marker:
        try:
            kept = json.loads(origin)
            note = replace(note, html=str(kept["html"]), html_of=str(kept["of"]))
        except (ValueError, KeyError, TypeError):
            pass  # only an optimisation: the note goes as plain text
    return note


def _yaml_scalar(word: str) -> str:
    """A category as a YAML flow scalar: bare when YAML reads it back unchanged."""
    plain = re.fullmatch(r"[\w][\w .@+-]*", word) and not word.endswith(" ")
    if plain and _load_yaml(f"k: [{word}]") == {"k": [word]}:
        return word
    return json.dumps(word, ensure_ascii=False)  # a JSON string is a YAML scalar


def front_matter(note: Note) -> str:
    """The front matter block of a note ("" when it has neither categories nor extras)."""
    lines = []
    if note.categories:
        lines.append("categories: [" + ", ".join(_yaml_scalar(c) for c in note.categories) + "]")
    if note.extra.strip():
        lines.append(note.extra.strip("\n"))
    if not lines:
        return ""
    return "---\n" + "\n".join(lines) + "\n---\n"


def render_text(note: Note, *, heading: bool = True) -> str:
    """Markdown text of a note; ``heading``: with the ``# Subject`` line (a file whose
    name is the subject may go without it)."""
    head = f"# {clean_subject(note.subject)}\n" if heading else ""
    if heading and note.subject == "":
        head = "#\n"
    if heading:
        body = "\n" + note.body + "\n" if note.body else ""
    else:
        body = note.body + "\n" if note.body else ""
    return front_matter(note) + head + body


def needs_heading(note: Note, stem: str) -> bool:
    """Whether a file named ``stem`` must show the subject as a heading: the name is
    not exactly the subject, or the body's first line would be read as a heading or
    front matter."""
    if note.subject == "" or stem != note.subject:
        return True
    first = note.body.split("\n", 1)[0].rstrip("\r")
    misread_as_front_matter = not note.categories and not note.extra and first == "---"
    return heading_subject(first) is not None or misread_as_front_matter


def document(note: Note) -> Item:
    """The note document of a note; the server's original HTML (if any) travels after
    ``HTML_MARKER``, outside the Markdown text that becomes the file."""
    text = render_text(note)
    if note.html is not None:
        text += HTML_MARKER + json.dumps({"html": note.html, "of": note.html_of})
    return Item(text.encode("utf-8"), note.uid)


def body_hash(body: str) -> str:
    return hashlib.sha256(_body_key(body).encode("utf-8")).hexdigest()


# --- HTML bodies ------------------------------------------------------------------------


def html_to_markdown(html: str) -> str:
    """An HTML body as Markdown. markdownify (MIT, pure Python on BeautifulSoup's
    html.parser): it keeps headings, lists, links and emphasis as Markdown and drops
    scripts and styles; html2text was the other choice, but it is GPL-3.0-only."""
    from bs4 import BeautifulSoup  # here: only HTML bodies need them
    from markdownify import MarkdownConverter

    soup = BeautifulSoup(html, "html.parser")
    for node in soup(["script", "style", "head", "title"]):
        node.decompose()  # their text is no part of the note
    text = MarkdownConverter(heading_style="ATX").convert_soup(soup)
    lines = [line.rstrip() for line in normalize.lf(text).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


# --- the handler --------------------------------------------------------------------------


class NotesHandler:
    kind = "notes"
    eas_class = "Notes"
    fileext = ".md"

    def read(self, data: Element) -> Note:
        body = ""
        html: str | None = None
        node = data.find("AirSyncBase:Body")
        if node is not None:
            if node.text("AirSyncBase:Truncated") == "1":
                # never asked for (horde-notes §6: Mnemo's TruncationSize bug): a partial
                # note stored here would overwrite the whole one on the next edit
                raise ConversionError("the server sent a truncated note body")
            raw = node.text("AirSyncBase:Data") or ""
            kind = node.text("AirSyncBase:Type") or "1"
            if kind == "2":
                body, html = html_to_markdown(raw), raw
            elif kind == "1":
                body = normalize.lf(raw).rstrip("\n")
            else:
                raise ConversionError(f"note body of AirSyncBase:Type {kind} (RTF/MIME)")
        return Note(
            subject=clean_subject(data.text(N + "Subject")),
            body=body,
            html=html,
            html_of=body_hash(body) if html is not None else None,
            categories=_categories_of(
                [c.text() or "" for c in data.findall(N + "Categories/" + N + "Category")]
            ),
        )

    def elements(self, note: Note) -> Element:
        data = E("AirSync:ApplicationData")
        # an omitted Body would stay on the server (eas-protocol.md §5.1): always sent
        html = note.html_if_unchanged()
        data.append(
            E(
                "AirSyncBase:Body",
                E("AirSyncBase:Type", value="1" if html is None else "2"),
                E("AirSyncBase:Data", value=normalize.crlf(note.body) if html is None else html),
            )
        )
        data.add(N + "Subject", clean_subject(note.subject))
        data.add(N + "MessageClass", MESSAGE_CLASS)
        if note.categories:
            # omitted when empty: a Change carries the whole note, so that clears them
            # (no Supported for Notes, MS-ASCMD 2.2.3.179), and an empty element is
            # what Horde's parser stumbles over (horde-notes §5)
            data.append(E(N + "Categories", *(E(N + "Category", value=c) for c in note.categories)))
        return data

    # --- the ContentHandler protocol --------------------------------------------------------

    def to_eas(self, item: Item, version: str) -> Element:
        return self.elements(parse(item))

    def from_eas(self, data: Element, version: str) -> Item:
        return document(self.read(data))

    def supported(self, version: str) -> list[str]:
        return []  # MS-ASCMD 2.2.3.179: Supported is for Contacts and Calendar only

    def project(self, item: Item, version: str) -> Item:
        return self.from_eas(self.to_eas(item, version), version)

    def merge(self, remote: Item, local: Item | None) -> Item:
        if local is None:
            return self.with_uid(remote, remote.uid or str(uuid.uuid4()))
        r, mine = parse(remote), parse(local)
        new = mine
        if r.subject != mine.subject:
            new = replace(new, subject=r.subject)
        if _body_key(r.body) != _body_key(mine.body):
            new = replace(new, body=r.body)
        if _categories_key(r.categories) != _categories_key(mine.categories):
            new = replace(new, categories=r.categories)
        # the server's body is what the file's body now stands for
        new = replace(new, html=r.html, html_of=r.html_of)
        return document(replace(new, uid=local.uid or mine.uid))

    def fingerprint(self, item: Item) -> str:
        """Content alone (subject, body, categories, local front matter), not the UID:
        a note file holds none, so a note read back must hash as it was written."""
        note = parse(item)
        key = [
            clean_subject(note.subject),
            _body_key(note.body),
            _categories_key(note.categories),
            _without_key(note.extra, "uid").strip(),
        ]
        return hashlib.sha256(json.dumps(key, ensure_ascii=False).encode("utf-8")).hexdigest()

    def with_uid(self, item: Item, uid: str) -> Item:
        note = parse(item)
        if note.uid is not None and "uid" in (_load_yaml(note.extra) or {}):
            # a uid the file shows is replaced there too (a keep_both copy)
            extra = _without_key(note.extra, "uid")
            extra = (extra + "\n" if extra else "") + f"uid: {json.dumps(uid)}"
            return document(replace(note, extra=extra, uid=uid))
        return Item(item.raw, uid)

    def describe(self, item: Item) -> str:
        try:
            note = parse(item)
        except ConversionError:
            return "(unreadable note)"
        return note.subject or "(untitled note)"


def _categories_key(categories: tuple[str, ...]) -> list[str]:
    """Categories as compared: order and case do not count (Horde hands back a tag in
    the spelling of an existing one, "work" → "Work"; Outlook's are case-insensitive)."""
    return sorted({c.casefold() for c in categories})


def _body_key(body: str) -> str:
    """A body as compared: line ends and trailing blank space do not count (Exchange
    stores CRLF and may add a final line break)."""
    return normalize.lf(body).rstrip()


HANDLER = NotesHandler()
