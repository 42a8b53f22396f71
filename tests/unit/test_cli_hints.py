"""Hints that work: every `eassync ...` command a message tells a person to run is
parsed by the real command line, so a hint naming an option that does not exist
(`eassync discover ACCOUNT -v` before -v was accepted after the command) fails here.
And the global options -c/-v/-q work after the subcommand too, where people type them.
"""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

import click
import pytest

from eassync.cli import Context, cli

ROOT = Path(__file__).resolve().parents[2]
COMMAND = re.compile(r"`(eassync(?: [^`]*)?)`")

#: a value for each placeholder a hint uses
PLACEHOLDERS = {
    "ACCOUNT": "acc",
    "PAIR": "contacts",
    "EVENT": "ev",
    "FILE": "f.xml",
    "N": "3",
    "PORT": "8443",
}


def _docstrings(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _text(node: ast.AST) -> str | None:
    """A string constant, or an f-string with each ``{...}`` as ``{}``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def message_commands() -> list[tuple[str, str]]:
    """(where, command) for every backticked ``eassync ...`` in a string of the code
    that is not a docstring: the messages and hints a person reads."""
    found: list[tuple[str, str]] = []
    for path in sorted((ROOT / "eassync").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        parts: list[ast.AST] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                parts.extend(node.values)
        inner = {id(p) for p in parts}
        for node in ast.walk(tree):
            if id(node) in skip or id(node) in inner:
                continue
            text = _text(node)
            if text is None:
                continue
            for command in COMMAND.findall(text):
                where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
                found.append((where, command))
    return found


def words_of(command: str) -> list[str]:
    words = []
    for word in command.split()[1:]:
        if word == "#":  # a hint spread over comment lines (the demo's config)
            continue
        words.append(PLACEHOLDERS.get(word, word.replace("{}", "x")))
    return words


def parse(words: list[str]) -> click.Context:
    """Parse ``eassync WORDS`` down to the command that would run; nothing runs.
    A missing argument is fine (a hint may name just the command); an option or a
    command that does not exist, or a bad value, raises click.UsageError."""
    ctx = cli.make_context("eassync", list(words))
    cmd: click.Command = cli
    while isinstance(cmd, click.Group):
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        if not rest:
            return ctx
        name, sub, rest = cmd.resolve_command(ctx, rest)
        assert sub is not None
        assert name is not None
        try:
            ctx = sub.make_context(name, rest, parent=ctx)
        except click.MissingParameter:
            return ctx
        cmd = sub
    return ctx


HINTS = message_commands()


def test_hints_are_collected() -> None:
    commands = {c for _, c in HINTS}
    assert "eassync sync --retry" in commands
    assert any(c.startswith("eassync discover") for c in commands)


@pytest.mark.parametrize(("where", "command"), HINTS, ids=[f"{w} {c}" for w, c in HINTS])
def test_every_hint_parses(where: str, command: str) -> None:
    try:
        parse(words_of(command))
    except click.UsageError as exc:
        pytest.fail(f"{where}: `{command}` does not work: {exc.format_message()}")


def test_the_autodiscover_hint_parses() -> None:
    """The one issue 16 found: `eassync discover ACCOUNT -v` said No such option."""
    parse(["discover", "acc", "-v"])


def test_the_401_hint_names_config_keys_that_exist() -> None:
    """The wrong-password hint once named `password_command`, which is no config key."""
    text = (ROOT / "eassync" / "eas" / "transport.py").read_text(encoding="utf-8")
    assert "password_command" not in text
    for path in (ROOT / "README.md", ROOT / "man" / "eassync.1"):
        assert "password_command" not in path.read_text(encoding="utf-8"), path


class _Seen:
    """What a command would see: the Context the global options fill in."""

    obj: Context | None = None


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> type[_Seen]:
    """Run `eassync status` with its body replaced by one that records ctx.obj."""
    import eassync.cli.status as status

    def record(*args: object, **kwargs: object) -> None:
        _Seen.obj = click.get_current_context().find_object(Context)

    monkeypatch.setattr(status.command, "callback", record)
    _Seen.obj = None
    return _Seen


@pytest.mark.parametrize(
    ("args", "verbosity", "config"),
    [
        (["status"], 0, None),
        (["-v", "status"], 1, None),
        (["status", "-v"], 1, None),
        (["status", "-vv"], 2, None),
        (["-v", "status", "-v"], 2, None),
        (["status", "-q"], -1, None),
        (["status", "--quiet"], -1, None),
        (["status", "-c", "other.yaml"], 0, "other.yaml"),
        (["-c", "first.yaml", "status", "--config", "other.yaml"], 0, "other.yaml"),
    ],
)
def test_global_options_after_the_subcommand(
    seen: type[_Seen], args: list[str], verbosity: int, config: str | None
) -> None:
    cli.main(args=args, prog_name="eassync", standalone_mode=False)
    assert seen.obj is not None
    assert seen.obj.verbosity == verbosity
    assert seen.obj.config_path == config


def test_verbose_after_the_subcommand_sets_the_log_level(seen: type[_Seen]) -> None:
    cli.main(args=["status", "-vv"], prog_name="eassync", standalone_mode=False)
    assert logging.getLogger().level == logging.DEBUG
    cli.main(args=["status", "-q"], prog_name="eassync", standalone_mode=False)
    assert logging.getLogger().level == logging.ERROR


def test_options_after_a_nested_subcommand() -> None:
    parse(["debug", "wbxml", "decode", "-v", "-q", "-c", "x.yaml"])
    parse(["testdata", "create", "contacts", "-v"])
