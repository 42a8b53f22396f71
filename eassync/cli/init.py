"""``eassync init``: write a commented starting config (never over an existing file)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from eassync.cli.complete import complete_examples
from eassync.cli.output import echo
from eassync.errors import UsageError


def _ask(prompt: str, given: str | None, default: str) -> str:
    """``given`` if the option set it; asked on a terminal; else ``default``."""
    if given is not None:
        return given
    if sys.stdin.isatty():
        return str(click.prompt(prompt, default=default)).strip() or default
    return default


def _write_new(path: Path, text: str) -> None:
    """Create ``path`` mode 0600 (it may come to hold a password), failing if it exists:
    O_EXCL, so a file created meanwhile is not overwritten either."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def _exists(target: Path) -> UsageError:
    return UsageError(
        f"{target} already exists; eassync init never overwrites a config",
        hint="edit it and run `eassync check`, or write a new one with `-c FILE init`",
    )


@click.command("init")
@click.option("--url", help="The server's EAS address or host name (asked on a terminal).")
@click.option("--username", help="The login name (asked on a terminal).")
@click.option(
    "--example",
    metavar="NAME",
    shell_complete=complete_examples,
    help="Write this shipped example instead (`eassync man --examples` lists them).",
)
@click.pass_obj
def command(obj: Any, url: str | None, username: str | None, example: str | None) -> int:
    """Write a commented starting config to the config path (or -c FILE).

    It asks for the server and the user name when run on a terminal, asks nothing
    otherwise, and never overwrites an existing file.
    """
    from eassync import paths, starter

    target = Path(obj.config_path).expanduser() if obj.config_path else paths.config_path()
    if target.exists():
        raise _exists(target)
    if example is not None:
        from eassync import docs

        text = docs.example(example).read_text("utf-8")
    else:
        server = _ask("EAS server (host name or URL)", url, starter.PLACEHOLDER_URL)
        user = _ask("user name", username, os.environ.get("USER") or starter.PLACEHOLDER_USER)
        text = starter.starter_config(starter.eas_url(server), user)
    try:
        _write_new(target, text)
    except FileExistsError:
        raise UsageError(
            f"{target} already exists; eassync init never overwrites a config"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror}") from None
    echo(f"wrote {target}")
    if example is None:
        echo(f"it reads the password from ${starter.PASSWORD_ENV} (the file shows other ways)")
    echo("next: edit it, then `eassync check`, `eassync discover`, `eassync sync --dry-run`")
    return 0
