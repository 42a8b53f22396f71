"""The notes support table as data, rendered to Markdown for the README.

Each row names where a note property lives in the Markdown file, the EAS element(s), a
support level and a note. ``examples`` are (file name, file text, expected EAS values)
triples: the test suite sends every example of every "Supported" row through the real
handler and storage and checks the EAS element and the way back, so the table cannot
claim more than the code does (tests/unit/test_notes.py).
"""

from __future__ import annotations

from dataclasses import dataclass

SUPPORTED = "Supported"
LIMITED = "Limited"
NOT_SUPPORTED = "Not supported"


@dataclass(frozen=True)
class Row:
    markdown: str
    eas: tuple[str, ...]
    level: str
    note: str = ""
    #: (file name, file text, {EAS element path: expected texts joined by "|"})
    examples: tuple[tuple[str, str, dict[str, str]], ...] = ()


NOTES: tuple[Row, ...] = (
    Row(
        "first line `# Subject`, else the file name",
        ("Notes:Subject",),
        SUPPORTED,
        "One line. A server subject names the file (made safe: no `/`, no leading dot, no"
        " control characters, at most 120 bytes, ` (2)` when taken); where the name cannot"
        " say the subject exactly, the file starts with `# Subject`. Renaming a file without"
        " that heading, or editing the heading, changes the subject; a server rename renames"
        " the file (the same note, no delete + add).",
        (
            ("Shopping.md", "milk\n", {"Notes:Subject": "Shopping"}),
            ("plan.md", "# Trip: Rome/Naples\n\nday one\n", {"Notes:Subject": "Trip: Rome/Naples"}),
        ),
    ),
    Row(
        "the text (after the heading)",
        ("AirSyncBase:Body",),
        SUPPORTED,
        "Plain text (Type 1) as it is, CRLF on the wire, always sent (empty clears). A"
        " server's HTML body (Type 2) is converted to Markdown (markdownify) and only sent"
        " back when edited; RTF bodies and truncated ones are reported and not stored.",
        (
            (
                "Todo.md",
                "- milk\n- *eggs*\n",
                {"AirSyncBase:Body/AirSyncBase:Data": "- milk\r\n- *eggs*"},
            ),
            ("Empty.md", "", {"AirSyncBase:Body/AirSyncBase:Data": ""}),
        ),
    ),
    Row(
        "front matter `categories: [a, b]`",
        ("Notes:Categories",),
        SUPPORTED,
        "Written only when a note has categories; a YAML list or a comma-separated string is read.",
        (
            (
                "Ideas.md",
                '---\ncategories: [work, "big, small"]\n---\nthink\n',
                {"Notes:Categories/Notes:Category": "work|big, small"},
            ),
        ),
    ),
    Row(
        "—",
        ("Notes:MessageClass",),
        LIMITED,
        "Always sent as `IPM.StickyNote`; not stored (Horde neither stores nor returns it).",
    ),
    Row(
        "—",
        ("Notes:LastModifiedDate",),
        NOT_SUPPORTED,
        "Set by the server; not stored (it would rewrite the file on every server touch).",
    ),
    Row(
        "UID",
        (),
        LIMITED,
        "EAS notes have no UID, and eassync writes none into files: notes are matched by"
        " ServerId and content. A `uid:` front matter key a file has is kept.",
    ),
    Row(
        "other front matter keys (`tags`, `aliases` …)",
        (),
        NOT_SUPPORTED,
        "Kept in the local file, never sent.",
    ),
)

TABLES = {"notes": NOTES}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(kind: str = "notes") -> str:
    """The notes support table as a Markdown table."""
    lines = ["| Markdown file | EAS | Support | Notes |", "|---|---|---|---|"]
    for row in TABLES[kind]:
        eas = ", ".join(f"`{tag}`" for tag in row.eas) or "—"
        lines.append(f"| {_cell(row.markdown)} | {_cell(eas)} | {row.level} | {_cell(row.note)} |")
    return "\n".join(lines) + "\n"
