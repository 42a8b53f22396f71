"""Where the man pages and example configs are, installed or in a source checkout.

``pip install`` puts them beside the install's ``bin/`` (pyproject ``data-files``):
``share/man/man1/eassync.1`` (so ``man eassync`` finds them from PATH, also in a venv)
and ``share/doc/eassync/examples/``. A source checkout (``pip install -e``) has them at
its top: ``man/`` and ``examples/``.
"""

from __future__ import annotations

import os
import re
import sysconfig
from pathlib import Path

from eassync.errors import UsageError

#: page name → (section, file name); also reachable by the section or a nickname
PAGES = {"eassync": ("1", "eassync.1"), "eassync.yaml": ("5", "eassync.yaml.5")}
ALIASES = {"1": "eassync", "5": "eassync.yaml", "config": "eassync.yaml", "yaml": "eassync.yaml"}


def _data_roots() -> list[Path]:
    """Install prefixes that may hold ``share/``: this interpreter's, then the user's."""
    roots = [Path(sysconfig.get_path("data"))]
    try:
        roots.append(Path(sysconfig.get_path("data", f"{os.name}_user")))
    except KeyError:
        pass  # no user scheme on this platform
    return roots


def _checkout() -> Path:
    return Path(__file__).resolve().parents[1]


def man_page(name: str) -> Path:
    """The file of man page ``name`` (``eassync``, ``eassync.yaml``, ``1``, ``5``)."""
    page = ALIASES.get(name, name.removesuffix(".1").removesuffix(".5"))
    if page not in PAGES:
        raise UsageError(
            f"no man page {name!r}",
            hint=f"pages: {', '.join(PAGES)} (e.g. `eassync man eassync.yaml`)",
        )
    section, file = PAGES[page]
    candidates = [root / "share" / "man" / f"man{section}" / file for root in _data_roots()]
    candidates.append(_checkout() / "man" / file)
    return _first(candidates, f"the man page {file}")


def examples_dir() -> Path:
    """The folder of the example configs (and ``systemd/`` units)."""
    candidates = [root / "share" / "doc" / "eassync" / "examples" for root in _data_roots()]
    candidates.append(_checkout() / "examples")
    return _first(candidates, "the example configs", want_dir=True)


def example_names() -> list[str]:
    return sorted(p.name for p in examples_dir().glob("*.yaml"))


def example(name: str) -> Path:
    """The example config ``name`` (``config`` or ``config.yaml``)."""
    file = name if name.endswith(".yaml") else f"{name}.yaml"
    names = example_names()
    if file not in names:
        raise UsageError(f"no example {name!r}", hint=f"examples: {', '.join(names)}")
    return examples_dir() / file


def _first(candidates: list[Path], what: str, *, want_dir: bool = False) -> Path:
    for path in candidates:
        if path.is_dir() if want_dir else path.is_file():
            return path
    raise UsageError(
        f"{what} are not installed here (looked in {', '.join(str(p) for p in candidates)})",
        hint="reinstall eassync with pip: its wheel ships them (share/man, share/doc/eassync)",
    )


# --- roff → plain text, for machines without man(1) ----------------------------------


def roff_to_text(roff: str) -> str:
    """The text of a man page written with the ``man`` macros, readable without man(1):
    headings at the margin, paragraphs indented, font changes and escapes undone."""
    out: list[str] = []
    for line in roff.splitlines():
        if line.startswith(('.\\"', "'\\\"")):
            continue
        if line.startswith("."):
            macro, _, rest = line[1:].partition(" ")
            rest = _unescape(rest.strip().strip('"'))
            if macro in ("SH", "SS"):
                out += ["", rest if macro == "SH" else "  " + rest]
            elif macro in ("PP", "LP", "P", "TP", "IP", "sp"):
                out.append("")
                if macro == "IP" and rest:
                    out.append("       " + rest)
            elif macro in ("B", "I", "BR", "RB", "IR", "RI", "BI", "IB", "OP"):
                out.append("       " + _join_alternating(macro, rest))
            elif macro == "TH":
                out.append(rest.split('"')[0].strip())
            elif macro in ("SY",):
                out.append("       " + rest)
            # others (.EX, .EE, .RS, .RE, .YS, .nf, .fi …) only change the layout
            continue
        out.append("       " + _unescape(line))
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"


def _join_alternating(macro: str, rest: str) -> str:
    """``.BR a b`` alternates fonts without spaces between the words (spaces inside
    quotes stay); ``.B``/``.I`` keep the spaces; ``.OP`` reads as ``[opt]``."""
    words = [w.strip('"') for w in re.findall(r'"[^"]*"|\S+', rest)]
    if macro == "OP":
        return "[" + " ".join(words) + "]"
    if macro in ("B", "I"):
        return " ".join(words)
    return "".join(words)


def _unescape(text: str) -> str:
    text = re.sub(r"\\f(\[[A-Z]*\]|[BIRP])", "", text)
    text = text.replace("\\-", "-").replace("\\&", "").replace("\\(em", "—")
    text = text.replace("\\e", "\\").replace("\\(aq", "'").replace("\\~", " ")
    return text
