"""``eassync testdata create|delete PAIR``: tagged sample items on both sides."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from eassync.cli.complete import complete_pairs
from eassync.cli.output import echo

if TYPE_CHECKING:
    from eassync.testdata import TestdataOutcome

_DEVICE_NOTE = """\
The server-side items are written by a second EAS device of the account (state
file ACCOUNT.testdata, its own DeviceId, named "eassync testdata"), so the pair's
own sync state stays intact and its next `eassync sync` downloads them like
changes made on another phone. That device appears in the server's device list
(e.g. Outlook on the web > Mobile devices); remove it there when you are done."""


@click.group()
def command() -> None:
    """Create or delete tagged sample items on both sides of a pair.

    Sample items carry a UID starting with `eassync-testdata-` and the category
    `eassync-testdata`; `delete` removes exactly those and touches nothing else.
    """


def _print(outcome: TestdataOutcome, verb: str, verbosity: int) -> None:
    for c in outcome.collections:
        if verbosity >= 0:
            echo(
                f"{outcome.pair}/{c.collection}: {verb} {len(c.local.done)} here "
                f"({c.local_location}), {len(c.server.done)} on the server "
                f"({c.server_location})"
            )
            if verb == "deleted":
                echo(
                    f"{outcome.pair}/{c.collection}: untagged items left alone: "
                    f"{c.untouched_local} here, {c.untouched_server} on the server"
                )
        if verbosity >= 1:
            for name in c.local.done:
                echo(f"  {c.collection}: {verb} here: {name}")
            for name in c.server.done:
                echo(f"  {c.collection}: {verb} on the server: {name}")
        for text in c.local.failed:
            echo(f"  {c.collection}: FAILED here: {text}", err=True)
        for text in c.server.failed:
            echo(f"  {c.collection}: FAILED on the server: {text}", err=True)


@command.command("create", epilog=_DEVICE_NOTE)
@click.argument("pair", shell_complete=complete_pairs)
@click.option(
    "--count",
    type=click.IntRange(1, 10_000),
    default=5,
    show_default=True,
    help="Items to create on each side, per collection.",
)
@click.pass_obj
def create_command(ctx: Any, pair: str, count: int) -> int:
    """Write COUNT tagged items locally and COUNT on the server.

    After the next `eassync sync` both sides hold 2×COUNT tagged items.
    """
    from eassync.testdata import create

    outcome = create(ctx.load_config(), pair, count)
    _print(outcome, "created", ctx.verbosity)
    if ctx.verbosity >= 0:
        echo("run `eassync sync` to exchange them")
    return outcome.exit_code


@command.command("delete", epilog=_DEVICE_NOTE)
@click.argument("pair", shell_complete=complete_pairs)
@click.pass_obj
def delete_command(ctx: Any, pair: str) -> int:
    """Delete every tagged item, locally and on the server.

    Only items carrying the tag are deleted; the next `eassync sync` then has
    nothing left to exchange for them. If the tagged items are most of a
    collection, that sync stops at the max_delete_ratio guard: add --force-delete.
    """
    from eassync.testdata import delete

    outcome = delete(ctx.load_config(), pair)
    _print(outcome, "deleted", ctx.verbosity)
    return outcome.exit_code
