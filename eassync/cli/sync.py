"""``eassync sync [PAIR[/COLLECTION]...]``: one two-way pass."""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from eassync.cli.complete import complete_targets
from eassync.cli.output import clear_live, echo, echo_block, live
from eassync.cli.text import printable
from eassync.cli.traceopt import trace_options
from eassync.sync.plan import Action, ConflictRecord, Failure, SyncReport


class CliReporter:
    """What a pass prints as it goes: one line per item changed on stdout (as
    vdirsyncer does; not with -q), failures and conflicts on stderr, and on a terminal
    a live line per collection (pair/folder, done/total, items/s) rewritten in place
    and cleared at the end. Colour only on a terminal without ``NO_COLOR``: changes
    green, deletions yellow, failures red."""

    #: seconds between two redraws of the live line
    REDRAW = 0.1

    def __init__(
        self,
        verbosity: int,
        *,
        show_plan: bool,
        as_json: bool,
        item_lines: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.verbosity = verbosity
        self.show_plan = show_plan
        self.as_json = as_json
        #: one line per item changed (a dry run's plan, and -v, even without item_lines)
        self.item_lines = not as_json and (
            show_plan or verbosity >= 1 or (item_lines and verbosity >= 0)
        )
        self.progress = sys.stderr.isatty() and not as_json and verbosity >= 0
        self.clock = clock
        self.pair: str | None = None
        self.collection: str | None = None
        self.total: int | None = None
        self.done = 0
        self.started = clock()
        self._drawn_at: float | None = None
        self._shown = False

    # --- where and how far ---

    def begin(self, pair: str, collection: str | None) -> None:
        self.end_progress()
        self.pair = pair
        self.collection = collection
        self.started = self.clock()

    def estimate(self, collection: str, total: int) -> None:
        self.total = total
        self._draw(force=True)

    def end_progress(self) -> None:
        if self._shown:
            clear_live()
            self._shown = False
        self.total = None
        self.done = 0
        self._drawn_at = None

    def _where(self, collection: str) -> str:
        return f"{self.pair}/{collection}" if self.pair else collection

    def progress_text(self) -> str:
        """``work/Contacts: 1200/10000 items, 350/s``."""
        where = self._where(self.collection or "")
        elapsed = max(self.clock() - self.started, 1e-6)
        count = (
            f"{self.done}/{self.total}"
            if self.total and self.total >= self.done
            else str(self.done)
        )
        return f"{where}: {count} items, {self.done / elapsed:.0f}/s"

    def _draw(self, *, force: bool = False) -> None:
        if not self.progress or self.collection is None:
            return
        now = self.clock()
        if not force and self._drawn_at is not None and now - self._drawn_at < self.REDRAW:
            return
        self._drawn_at = now
        width = shutil.get_terminal_size().columns - 1
        live(printable(self.progress_text())[: max(width, 20)])
        self._shown = True

    def _print(self, text: str, *, err: bool = False, fg: str | None = None) -> None:
        """A line of its own: the live line is erased first and drawn again below it."""
        shown = self._shown
        if shown:
            clear_live()
            self._shown = False
        echo(printable(text), err=err, fg=fg)
        if shown:
            self._draw(force=True)

    # --- the engine's events ---

    def action(self, collection: str, action: Action) -> None:
        self.done += 1
        if self.as_json:
            return
        shown = action.kind != "ignore" or self.show_plan or self.verbosity >= 1
        if self.item_lines and shown:
            verb = {"add": "add", "change": "update", "delete": "delete"}.get(
                action.kind, action.kind
            )
            note = f" ({action.note})" if action.note else ""
            fg = {"add": "green", "change": "green", "readd": "green", "delete": "yellow"}
            self._print(
                f"{self._where(collection)}: {verb} {action.side}: {action.name}{note}",
                fg=fg.get(action.kind),
            )
        self._draw()

    def failure(self, collection: str, failure: Failure) -> None:
        self.done += 1
        if not self.as_json:
            what = failure.name or failure.ident or "?"
            self._print(
                f"{self._where(collection)}: FAILED {failure.side} {what}: {failure.reason}",
                err=True,
                fg="red",
            )

    def conflict(self, collection: str, conflict: ConflictRecord) -> None:
        if not self.as_json and (conflict.unresolved or self.verbosity >= 1):
            self._print(
                f"{self._where(collection)}: conflict on {conflict.local_name!r} "
                f"(local) / {conflict.remote_name!r} (server): {conflict.resolution}",
                err=conflict.unresolved,
                fg="red" if conflict.unresolved else None,
            )

    def note(self, collection: str, text: str) -> None:
        if not self.as_json and self.verbosity >= 0:
            self._print(f"{self._where(collection)}: {text}", err=True)


def _changed(report: SyncReport) -> bool:
    """Whether a collection's pass moved or failed anything (-q prints only those)."""
    counts = (report.local, report.remote)
    moved = any(c.added or c.changed or c.deleted for c in counts)
    return moved or not report.ok or report.resynced


@click.command()
@click.argument(
    "targets", nargs=-1, metavar="[PAIR[/COLLECTION]]...", shell_complete=complete_targets
)
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
@trace_options
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
        if as_json:
            return
        for report in outcome.reports:
            if ctx.verbosity < 0 and not _changed(report):
                continue  # -q: only the summary of what moved or failed
            summary = report.summary().removeprefix("(dry run) ")
            prefix = "(dry run) " if report.dry_run else ""
            fg = None if report.ok else "red"
            echo(printable(f"{prefix}{outcome.pair}/{summary}"), fg=fg)
        for failed in outcome.failed:
            where = f"{outcome.pair}/{failed.collection}"
            echo(printable(f"{where}: error: {failed.error}"), err=True, fg="red")
            if failed.error.hint:
                echo(printable(f"{where}: hint: {failed.error.hint}"), err=True)
        if outcome.error is not None:
            echo(f"{outcome.pair}: error: {outcome.error}", err=True, fg="red")
            for line in outcome.error.details:
                echo(f"{outcome.pair}:   {line}", err=True)
            if outcome.error.hint:
                echo(f"{outcome.pair}: hint: {outcome.error.hint}", err=True)

    try:
        outcomes = run_sync(
            config,
            targets,
            dry_run=dry_run,
            force_delete=force_delete,
            retry_parked=retry,
            reporter=reporter,
            on_outcome=print_outcome,
        )
    finally:
        reporter.end_progress()  # an error ends the run on a line of its own
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
