#!/usr/bin/env python3
"""Rewrite the property tables in README.md from the mapping tables in the code.

The tables live between ``<!-- BEGIN KIND TABLE -->`` and ``<!-- END KIND TABLE -->``;
``tests/unit/test_readme.py`` fails when they drift from the code.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eassync.convert import tables, tables_calendar, tables_notes  # noqa: E402

RENDER = {
    "contacts": lambda: tables.render_markdown("contacts"),
    "calendar": lambda: tables_calendar.render_markdown("calendar"),
    "tasks": lambda: tables_calendar.render_markdown("tasks"),
    "notes": lambda: tables_notes.render_markdown("notes"),
}


def block(kind: str) -> re.Pattern[str]:
    name = kind.upper()
    return re.compile(
        rf"(<!-- BEGIN {name} TABLE -->\n)(.*?)(<!-- END {name} TABLE -->)", re.DOTALL
    )


def rendered(text: str) -> str:
    for kind, render in RENDER.items():
        table = render().rstrip("\n") + "\n"
        text = block(kind).sub(lambda m, t=table: m.group(1) + t + m.group(3), text)
    return text


if __name__ == "__main__":
    readme = ROOT / "README.md"
    readme.write_text(rendered(readme.read_text(encoding="utf-8")), encoding="utf-8")
