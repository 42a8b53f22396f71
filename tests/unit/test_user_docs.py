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


def test_pyproject_ships_the_man_pages_and_every_example() -> None:
    import tomllib

    data_files = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"][
        "data-files"
    ]
    shipped = {
        (dest, path.relative_to(ROOT).as_posix())
        for dest, patterns in data_files.items()
        for pattern in patterns
        for path in ROOT.glob(pattern)
    }
    assert ("share/man/man1", "man/eassync.1") in shipped
    assert ("share/man/man5", "man/eassync.yaml.5") in shipped
    examples = {p.relative_to(ROOT).as_posix() for p in (ROOT / "examples").rglob("*")}
    assert {p for _, p in shipped if p.startswith("examples/")} == {
        p for p in examples if not (ROOT / p).is_dir()
    }


def test_the_plain_text_man_page_reads_like_man_output() -> None:
    from eassync.docs import roff_to_text

    for page in ["eassync.1", "eassync.yaml.5"]:
        text = roff_to_text((ROOT / "man" / page).read_text("utf-8"))
        lines = text.splitlines()
        assert not [line for line in lines if line.startswith(".")], page
        assert "\\f" not in text
        assert "\\-" not in text
    text = roff_to_text((ROOT / "man" / "eassync.1").read_text("utf-8"))
    description = text.split("\nDESCRIPTION\n")[1].split("\nGLOBAL OPTIONS\n")[0]
    assert len(description.splitlines()) > 10
    assert max(len(line) for line in description.splitlines()) <= 78  # filled, as man does
    assert "       -c, --config FILE\n           Read the config from FILE" in text
    assert "\nEXIT STATUS\n" in text
    assert "       eassync sync --dry-run            # what would a sync do?" in text
