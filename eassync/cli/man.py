"""``eassync man [PAGE]``: the man pages that ship with eassync, also where ``man``
does not find them (a venv not on MANPATH, a machine without man-db)."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import click

from eassync.cli.complete import complete_pages
from eassync.cli.output import echo, echo_block


@click.command("man")
@click.argument("page", default="eassync", metavar="[PAGE]", shell_complete=complete_pages)
@click.option("--path", "show_path", is_flag=True, help="Print where the page file is.")
@click.option("--examples", is_flag=True, help="List the example configs and where they are.")
@click.pass_obj
def command(obj: Any, page: str, show_path: bool, examples: bool) -> int:
    """Show a man page: eassync (the commands, default) or eassync.yaml (the config).

    Through `man -l` where man(1) is installed, else as plain text.
    """
    from eassync import docs

    if examples:
        folder = docs.examples_dir()
        echo(f"example configs in {folder}:")
        for name in docs.example_names():
            echo(f"  {name}")
        echo("write one as your config with `eassync init --example NAME`")
        return 0
    path = docs.man_page(page)
    if show_path:
        echo(str(path))
        return 0
    man = shutil.which("man")
    if man is not None:
        # man -l formats a local file; it pages on a terminal and prints plain text otherwise
        done = subprocess.run([man, "-l", str(path)], check=False)
        if done.returncode == 0:
            return 0
    echo_block(docs.roff_to_text(path.read_text("utf-8")))
    return 0
