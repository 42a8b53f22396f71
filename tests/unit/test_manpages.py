"""The man pages cover every config key and every command/option, and render cleanly."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest

from eassync.cli import cli
from eassync.configschema import load_schema

MAN = Path(__file__).resolve().parents[2] / "man"
PAGES = ["eassync.1", "eassync.yaml.5"]


def plain(roff: str) -> str:
    """Roff source with font changes and escapes undone, enough to search for words."""
    text = re.sub(r"\\f[BIRP]", "", roff)
    return text.replace("\\-", "-").replace("\\e", "\\").replace("\\&", "")


def schema_properties(node: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        for key, value in node.get("properties", {}).items():
            yield key, value if isinstance(value, dict) else {}
            yield from schema_properties(value)
        for key, value in node.items():
            if key != "properties":
                yield from schema_properties(value)
    elif isinstance(node, list):
        for value in node:
            yield from schema_properties(value)


def enum_values(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.get("enum", []):
            if isinstance(value, str):
                yield value
        for value in node.values():
            yield from enum_values(value)
    elif isinstance(node, list):
        for value in node:
            yield from enum_values(value)


def defined_terms(text: str) -> set[str]:
    """Words a paragraph tag (.B/.BR at a line start) or a {key: ...} form defines."""
    terms = set(re.findall(r"^\.BR? \"?\{?([A-Za-z_.]+)", text, re.MULTILINE))
    terms |= set(re.findall(r"\{([a-z_]+):", text))
    return {t.rsplit(".", 1)[-1] for t in terms}


def yaml_page() -> str:
    return plain((MAN / "eassync.yaml.5").read_text("utf-8"))


def test_every_schema_key_is_documented() -> None:
    terms = defined_terms(yaml_page())
    missing = sorted({key for key, _ in schema_properties(load_schema())} - terms)
    assert missing == []


def test_every_choice_of_the_schema_is_documented() -> None:
    text = yaml_page()
    missing = sorted(
        v for v in set(enum_values(load_schema())) if not re.search(rf"\b{re.escape(v)}\b", text)
    )
    assert missing == []


def test_every_scalar_default_is_stated() -> None:
    text = yaml_page()
    for key, prop in schema_properties(load_schema()):
        default = prop.get("default")
        if default is None or isinstance(default, dict):
            continue
        shown = json.dumps(default).strip('"')
        lines = re.findall(rf"^\.BR {re.escape(key)} .*$", text, re.MULTILINE)
        assert any(f"default: {shown}" in line for line in lines), (key, shown, lines)


def walk(command: click.Command, path: tuple[str, ...]) -> Iterator[tuple[str, click.Command]]:
    yield " ".join(path), command
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            try:
                sub = command.get_command(ctx, name)
            except ImportError:
                continue  # a command another engineer has not written yet
            if sub is not None:
                yield from walk(sub, (*path, name))


def test_every_command_and_option_of_the_cli_is_documented() -> None:
    text = plain((MAN / "eassync.1").read_text("utf-8"))
    found = list(walk(cli, ("eassync",)))
    assert len(found) > 1
    for path, command in found:
        assert path in text, path
        for param in command.params:
            if isinstance(param, click.Option):
                for opt in [*param.opts, *param.secondary_opts]:
                    assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", text), f"{path} {opt}"
            elif isinstance(param, click.Argument):
                # a metavar such as [PAIR[/COLLECTION]]...: each of its words
                for word in re.findall(r"[A-Za-z_]+", param.human_readable_name):
                    assert word.upper() in text, f"{path} {param.name}"


@pytest.mark.parametrize(
    "words",
    [
        "eassync check",
        "--secrets",
        "eassync discover",
        "ACCOUNT",
        "eassync sync",
        "PAIR[/COLLECTION]",
        "--dry-run",
        "--force-delete",
        "--json",
        "eassync status",
        "eassync repair PAIR",
        "eassync testdata create PAIR",
        "eassync testdata delete PAIR",
        "eassync demo",
        "eassync devserver",
        "--host",
        "--port",
        "--data",
        "--user NAME:PASS",
        "--tls-cert",
        "--tls-key",
        "--seed-contacts",
        "eassync debug wbxml decode",
        "eassync debug wbxml encode",
        "--config",
        "--verbose",
        "--quiet",
        "--version",
        "EASSYNC_CONFIG",
        "EASSYNC_STATE_DIR",
        "XDG_CONFIG_HOME",
        "XDG_STATE_HOME",
        "_EASSYNC_COMPLETE=bash_source eassync",
        "EXIT STATUS",
        "75",
    ],
)
def test_eassync_1_covers_the_planned_interface(words: str) -> None:
    assert words in plain((MAN / "eassync.1").read_text("utf-8"))


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff not installed (apt groff-base)")
@pytest.mark.parametrize("page", PAGES)
def test_page_renders_without_warnings(page: str) -> None:
    done = subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww", "-z", str(MAN / page)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert done.stderr == ""
