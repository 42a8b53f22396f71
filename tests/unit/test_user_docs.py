"""The README and the man page tell a new user the same things (issue 16)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.unit.test_manpages import plain

ROOT = Path(__file__).resolve().parents[2]


def servers(text: str) -> list[str]:
    """The list of EAS servers: the first parenthesis that starts with Exchange."""
    found = re.search(r"\((Exchange [^)]*)\)", " ".join(text.split()))
    assert found is not None
    return [name.strip() for name in found.group(1).split(",")]


def test_readme_and_man_page_list_the_same_servers() -> None:
    readme = servers((ROOT / "README.md").read_text("utf-8"))
    man = servers(plain((ROOT / "man" / "eassync.1").read_text("utf-8")))
    assert readme == man
    assert {"Exchange Online", "SOGo", "Horde"} <= set(readme)  # the ones the suite proves
