"""``eassync sync [PAIR[/COLLECTION]...]``: one two-way pass."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from eassync.cli.output import echo, echo_block, progress
from eassync.cli.text import printable
from eassync.sync.plan import Action, ConflictRecord, Failure


class CliReporter:
    """Prints failures and conflicts as they happen, actions with -v, and a progress
    counter on a TTY for long first syncs."""

    def __init__(self, verbosity: int, *, show_plan: bool, as_json: bool) -> None:
        self.verbosity = verbosity
        self.show_plan = show_plan
        self.as_json = as_json
        self.progress = sys.stderr.isatty() and not as_json and verbosity >= 0
        self._count = 0

    def _tick(self) -> None:
        self._count += 1
        if self.progress and self._count % 100 == 0:
            progress(f"  … {self._count} items")

    def end_progress(self) -> None:
        if self.progress and self._count >= 100:
            progress(" " * 30)
            progress("")
        self._count = 0

    def action(self, collection: str, action: Action) -> None:
        self._tick()
        if self.as_json:
            return
        if self.show_plan or self.verbosity >= 1:
            verb = {"add": "add", "change": "update", "delete": "delete"}.get(
                action.kind, action.kind
            )
            note = f" ({action.note})" if action.note else ""
            echo(printable(f"  {collection}: {verb} {action.side}: {action.name}{note}"))

    def failure(self, collection: str, failure: Failure) -> None:
        if not self.as_json:
            what = failure.name or failure.ident or "?"
            echo(
                printable(f"  {collection}: FAILED {failure.side} {what}: {failure.reason}"),
                err=True,
            )

    def conflict(self, collection: str, conflict: ConflictRecord) -> None:
        if not self.as_json and (conflict.unresolved or self.verbosity >= 1):
            echo(
                printable(
                    f"  {collection}: conflict on {conflict.local_name!r} "
                    f"(local) / {conflict.remote_name!r} (server): {conflict.resolution}"
                ),
                err=conflict.unresolved,
            )

    def note(self, collection: str, text: str) -> None:
        if not self.as_json and self.verbosity >= 0:
            echo(printable(f"  {collection}: {text}"), err=True)


@click.command()
@click.argument("targets", nargs=-1, metavar="[PAIR[/COLLECTION]]...")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option(
    "--force-delete",
    is_flag=True,
    help="Proceed even if the pass deletes more than max_delete_ratio of a side.",
)
@click.option(
    "--retry",
    is_flag=True,
    help="Send items parked after the server refused or failed on them again.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.pass_obj
def command(
    ctx: Any,
    targets: tuple[str, ...],
    dry_run: bool,
    force_delete: bool,
    retry: bool,
    as_json: bool,
) -> int:
    """Sync pairs once, both ways (every pair without arguments)."""
    from eassync.runner import PairOutcome, run_sync

    config = ctx.load_config()
    reporter = CliReporter(ctx.verbosity, show_plan=dry_run, as_json=as_json)

    def print_outcome(outcome: PairOutcome) -> None:
        reporter.end_progress()
        if as_json or (ctx.verbosity < 0 and outcome.exit_code == 0):
            return
        for report in outcome.reports:
            summary = report.summary().removeprefix("(dry run) ")
            prefix = "(dry run) " if report.dry_run else ""
            echo(printable(f"{prefix}{outcome.pair}/{summary}"))
        for failed in outcome.failed:
            where = f"{outcome.pair}/{failed.collection}"
            echo(printable(f"{where}: error: {failed.error}"), err=True)
            if failed.error.hint:
                echo(printable(f"{where}: hint: {failed.error.hint}"), err=True)
        if outcome.error is not None:
            echo(f"{outcome.pair}: error: {outcome.error}", err=True)
            for line in outcome.error.details:
                echo(f"{outcome.pair}:   {line}", err=True)
            if outcome.error.hint:
                echo(f"{outcome.pair}: hint: {outcome.error.hint}", err=True)

    outcomes = run_sync(
        config,
        targets,
        dry_run=dry_run,
        force_delete=force_delete,
        retry_parked=retry,
        reporter=reporter,
        on_outcome=print_outcome,
    )
    code = max((o.exit_code for o in outcomes), default=0)
    if as_json:
        doc = {
            "ok": code == 0,
            "exit_code": code,
            "pairs": [
                {
                    "pair": o.pair,
                    "error": str(o.error) if o.error else None,
                    "hint": o.error.hint if o.error else None,
                    "collections": [r.to_dict() for r in o.reports],
                    "failed_collections": [
                        {"collection": f.collection, "error": str(f.error), "hint": f.error.hint}
                        for f in o.failed
                    ],
                    "notes": o.notes,
                }
                for o in outcomes
            ],
        }
        echo_block(json.dumps(doc, indent=2, ensure_ascii=False, default=str))
    return code
