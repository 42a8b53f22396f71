"""eassync/cli/output.py: the one place text reaches the terminal (issue 14 item 11)."""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from eassync.cli.output import SafeFormatter, safe_text

ROOT = Path(__file__).resolve().parents[2]
DANGEROUS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@given(st.text())
def test_safe_text_leaves_no_control_character(text):
    out = safe_text(text)
    assert not DANGEROUS.search(out)
    assert "\n" not in out


@given(st.text())
def test_safe_text_changes_nothing_printable(text):
    printable = "".join(c for c in text if not DANGEROUS.search(c) and c != "\u061c")
    printable = "".join(c for c in printable if c not in "\u200e\u200f")
    assert safe_text(printable) == printable


@given(st.text())
@example("\x7f")  # DEL: json.dumps leaves it raw, and \x7f is no JSON escape
@example("a\\\x9b\u2028\u202e")
def test_json_output_escaped_for_the_terminal_still_reads_back(text):
    """echo_block of json.dumps(ensure_ascii=False): the escapes it adds are JSON's."""
    doc = json.dumps({"name": text}, ensure_ascii=False, indent=2)
    shown = safe_text(doc, newlines=True)
    assert json.loads(shown) == {"name": text}
    assert not DANGEROUS.search(shown.replace("\n", ""))


def test_log_lines_escape_server_strings_in_arguments_and_messages():
    formatter = SafeFormatter("%(levelname)s: %(message)s")
    name = "Contacts\x1b]0;owned\x07\r\nfake: error line"
    for msg, args in (("folder %r vanished", (name,)), (f"folder {name} vanished", ())):
        record = logging.LogRecord("x", logging.WARNING, __file__, 1, msg, args, None)
        line = formatter.format(record)
        assert "\n" not in line
        assert not DANGEROUS.search(line)
        assert "fake: error line" in line


def test_a_logged_exception_keeps_its_traceback_lines_but_not_the_message_breaks():
    formatter = SafeFormatter("%(levelname)s: %(message)s")
    try:
        raise ValueError("boom\x1b[2J")
    except ValueError:
        import sys

        info = sys.exc_info()
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "sync of %s failed", ("A\r\nfake: line",), info
    )
    text = formatter.format(record)
    first, *rest = text.split("\n")
    assert first == "ERROR: sync of A\\r\\nfake: line failed"
    assert rest[0] == "Traceback (most recent call last):"
    assert not DANGEROUS.search(text.replace("\n", ""))


def test_debug_dumps_keep_their_lines_but_indented():
    formatter = SafeFormatter("%(levelname)s: %(message)s")
    record = logging.LogRecord(
        "x", logging.DEBUG, __file__, 1, "request:\n%s", ("<a>\n\x1b[2J</a>",), None
    )
    lines = formatter.format(record).split("\n")
    assert lines[0] == "DEBUG: request:"
    assert all(line.startswith("    ") for line in lines[1:])
    assert not DANGEROUS.search("".join(lines))


def test_no_command_prints_around_the_escaping():
    """Every CLI output goes through eassync.cli.output: no click.echo/print elsewhere."""
    offenders = []
    for path in sorted((ROOT / "eassync").rglob("*.py")):
        if path.name == "output.py" and path.parent.name == "cli":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(r"\bclick\.(echo|secho)\(|(?<![\w.])print\(", code):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == [], "use eassync.cli.output.echo:\n" + "\n".join(offenders)


def test_escapes_are_readable():
    assert safe_text("a\x1b[31mb\r\nc\u202e") == "a\\x1b[31mb\\r\\nc\\u202e"
    assert unicodedata.category("\u202e") == "Cf"


@given(st.text())
def test_layout_keeps_only_the_characters_it_names(text):
    # mutt lines keep their tabs and vCards their CRLF; nothing else gets through
    out = safe_text(text, newlines=True, layout="\t\r")
    assert not any(unicodedata.category(c) == "Cc" and c not in "\t\r\n" for c in out), out
    assert out.count("\t") == text.count("\t")
    assert out.count("\r") == text.count("\r")
