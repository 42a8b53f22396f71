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
import textwrap
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

#: macros that only change the font: their words join the running text
FONT_MACROS = {"B", "I", "BR", "RB", "IR", "RI", "BI", "IB", "SM", "SB"}
BODY = 7  # where man(1) puts body text
WIDTH = 78


class _Renderer:
    """Just enough of the ``man`` macros for eassync's own pages: filled paragraphs,
    headings at the margin, ``.TP`` tags, ``.EX`` examples as written."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.words: list[str] = []
        self.indent = BODY
        self.literal = False
        self.tag_next = False  # the line after .TP is the tag

    def flush(self) -> None:
        if self.words:
            self.out.append(
                textwrap.fill(
                    " ".join(self.words),
                    width=WIDTH,
                    initial_indent=" " * self.indent,
                    subsequent_indent=" " * self.indent,
                    break_on_hyphens=False,
                    break_long_words=False,
                )
            )
            self.words = []

    def blank(self) -> None:
        self.flush()
        if self.out and self.out[-1] != "":
            self.out.append("")

    def text(self, text: str) -> None:
        if self.literal:
            self.out.append(" " * self.indent + text)
        elif self.tag_next:
            self.tag_next = False
            self.out.append(" " * BODY + text)
        elif text.strip():
            self.words.append(text.strip())
        else:
            self.blank()

    def macro(self, name: str, args: str) -> None:
        if name in ("SH", "SS"):
            self.blank()
            self.indent = BODY
            heading = _unescape(args.strip().strip('"'))
            self.out.append(heading if name == "SH" else "   " + heading)
        elif name in ("PP", "LP", "P", "sp"):
            self.blank()
            self.indent = BODY
        elif name == "TP":
            self.blank()
            self.indent = BODY + 4
            self.tag_next = True
        elif name == "IP":
            self.blank()
            self.indent = BODY + 4
            if args.strip():
                self.out.append(" " * BODY + _unescape(args.strip().strip('"')))
        elif name in ("EX", "nf"):
            self.flush()
            self.literal = True
        elif name in ("EE", "fi"):
            self.literal = False
        elif name == "RS":
            self.flush()
            self.indent += 4
        elif name == "RE":
            self.flush()
            self.indent = max(BODY, self.indent - 4)
        elif name == "TH":
            words = _words(args)
            self.out.append(f"{words[0]}({words[1]})" if len(words) > 1 else args)
        elif name == "SY":
            self.blank()
            self.words.append(_unescape(args.strip()))
        elif name == "OP":
            self.text("[" + " ".join(_unescape(w) for w in _words(args)) + "]")
        elif name == "YS":
            self.flush()
        elif name in FONT_MACROS:
            self.text(_font_text(name, args))
        # anything else (.ad, .hy, .ne …) only changes the layout


def roff_to_text(roff: str) -> str:
    """The text of a man page written with the ``man`` macros, readable without man(1):
    headings at the margin, paragraphs filled, font changes and escapes undone."""
    page = _Renderer()
    for line in roff.splitlines():
        if line.startswith(('.\\"', "'\\\"")):
            continue
        if (line.startswith(".") and not page.literal) or line[:3] in (".EE", ".fi"):
            name, _, args = line[1:].partition(" ")
            page.macro(name.strip(), args)
        else:
            page.text(_unescape(line))
    page.flush()
    return "\n".join(page.out).strip("\n") + "\n"


def _words(args: str) -> list[str]:
    """A macro's arguments: words, or quoted strings that may hold spaces."""
    return [w[1:-1] if w.startswith('"') else w for w in re.findall(r'"[^"]*"?|\S+', args)]


def _font_text(macro: str, args: str) -> str:
    """``.BR a b`` alternates fonts with nothing between the words; ``.B``/``.I``
    keep the spaces between them."""
    words = [_unescape(w) for w in _words(args)]
    return " ".join(words) if macro in ("B", "I", "SM", "SB") else "".join(words)


def _unescape(text: str) -> str:
    text = re.sub(r"\\f(\[[A-Z]*\]|[BIRP])", "", text)
    text = text.replace("\\-", "-").replace("\\&", "").replace("\\(em", "—")
    text = text.replace("\\(aq", "'").replace("\\~", " ").replace("\\e", "\\")
    return text
