"""``eassync repair PAIR [--from-scratch]``: rebuild a pair's status from both sides."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from eassync.cli.complete import complete_pairs
from eassync.cli.output import echo
from eassync.wording import count

if TYPE_CHECKING:
    from eassync.repair import CollectionRepair, RepairOutcome

#: names listed per category before "… and N more" (all of them with -v)
SHOWN_NAMES = 10


def _names(label: str, names: list[str], verbosity: int) -> None:
    shown = names if verbosity >= 1 else names[:SHOWN_NAMES]
    for name in shown:
        echo(f"  {label}: {name}")
    if len(names) > len(shown):
        echo(f"  {label}: … and {len(names) - len(shown)} more (-v lists them)")


def _print_collection(pair: str, c: CollectionRepair, verbosity: int) -> None:
    deleted = "deleted nothing" if c.deleted == 0 else f"DELETED {c.deleted}"
    echo(
        f"{pair}/{c.collection}: matched {c.matched}, "
        f"only on the server {len(c.copied_here)} (copied here), "
        f"only here {len(c.copied_to_server)} (copied to the server), {deleted}"
    )
    _names(f"{c.collection}: copied here", c.copied_here, verbosity)
    _names(f"{c.collection}: copied to the server", c.copied_to_server, verbosity)
    if c.restored_rows:
        echo(
            f"  {c.collection}: {count(c.restored_rows)} deleted here since the last sync "
            "were restored from the server (a repair deletes nothing)"
        )
    if c.report.failures:
        echo(f"  {c.collection}: {count(len(c.report.failures))} failed (above)", err=True)


def _print(outcome: RepairOutcome, verbosity: int) -> None:
    if outcome.moved_aside:
        echo(f"{outcome.pair}: the status file was unreadable; moved aside to {outcome.backup}")
    elif outcome.backup is not None:
        echo(f"{outcome.pair}: status backed up to {outcome.backup}")
    how = "from scratch (by UID/content)" if outcome.from_scratch else "by resync"
    echo(f"{outcome.pair}: rebuilt {how}")
    for c in outcome.collections:
        _print_collection(outcome.pair, c, verbosity)


@click.command()
@click.argument("pair", shell_complete=complete_pairs)
@click.option(
    "--from-scratch",
    is_flag=True,
    help="Forget every correlation and match both sides by UID/content alone.",
)
@click.pass_obj
def command(ctx: Any, pair: str, from_scratch: bool) -> int:
    """Rebuild PAIR's status from both sides, creating no duplicates, deleting nothing.

    Under the pair lock the status file is first backed up next to itself
    (NAME.sqlite.bak-TIMESTAMP; an unreadable one is moved aside). Then every
    collection is downloaded again from the server and matched to the local items:
    by default the old correlations serve as hints (ServerId, then UID, then
    content); with --from-scratch they are dropped and items are paired by UID and
    content only. One sync pass follows: an item found on one side only is copied
    to the other. Items deleted on one side since the last sync come back: a repair
    never deletes. Exit codes as `eassync sync`.
    """
    from eassync.cli.sync import CliReporter
    from eassync.repair import run_repair

    config = ctx.load_config()
    # live: notes and failures; the items copied are listed in the summary instead
    reporter = CliReporter(min(ctx.verbosity, 0), show_plan=False, as_json=False, item_lines=False)
    outcome = run_repair(config, pair, from_scratch=from_scratch, reporter=reporter)
    reporter.end_progress()
    if ctx.verbosity >= 0 or outcome.exit_code:
        _print(outcome, ctx.verbosity)
    return outcome.exit_code
