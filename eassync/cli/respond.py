"""``eassync respond accept|tentative|decline EVENT``: answer a meeting invitation
with a real MeetingResponse, then sync that calendar so the local file shows it."""

from __future__ import annotations

import json
from typing import Any

import click

from eassync.cli.output import echo, echo_block
from eassync.cli.traceopt import trace_options
from eassync.pim.text import safe


class _Quiet:
    """A reporter that keeps the sync's events to itself (the summary says enough)."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def action(self, collection: str, action: Any) -> None:
        pass

    def failure(self, collection: str, failure: Any) -> None:
        self.failures.append(f"{collection}: {failure.name or failure.ident}: {failure.reason}")

    def conflict(self, collection: str, conflict: Any) -> None:
        pass

    def note(self, collection: str, text: str) -> None:
        pass


@click.command()
@click.argument("answer", type=click.Choice(["accept", "tentative", "decline"]))
@click.argument("event", metavar="EVENT")
@click.option("--comment", metavar="TEXT", help="A note for the organizer (EAS 16.x).")
@click.option(
    "--no-send",
    is_flag=True,
    help="Answer without mailing the organizer (EAS 16.x; older servers always reply).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@trace_options
@click.pass_obj
def command(
    ctx: Any, answer: str, event: str, comment: str | None, no_send: bool, as_json: bool
) -> int:
    """Answer the invitation EVENT (a UID, a file of a synced calendar, or words of its
    summary), then sync its calendar. Never edits the event itself."""
    from eassync.accounts import ClientPool
    from eassync.eas import versions
    from eassync.eas.pim import MeetingRequest
    from eassync.errors import EassyncError, NotFoundError, UsageError
    from eassync.pim.invitations import find, own_partstat
    from eassync.runner import run_sync

    if comment and no_send:
        raise UsageError("--comment travels in the reply, and --no-send sends none")
    config = ctx.load_config()
    found = find(config, event)
    if not found:
        raise UsageError(
            f"no synced calendar item matches {event!r}",
            hint="give its UID, its .ics file, or words of its summary; run `eassync sync` "
            "first if the invitation arrived since the last sync",
        )
    if len(found) > 1:
        echo(f"{len(found)} invitations match {safe(event)!r}:", err=True)
        for inv in found[:50]:
            echo(f"  {safe(inv.describe())}", err=True)
        raise UsageError("ambiguous EVENT", hint="give the UID of the one you mean")
    inv = found[0]
    account = config.accounts[inv.account]
    me = {a.lower() for a in (account.email, account.login) if a}
    if inv.organizer and inv.organizer.lower() in me:
        raise UsageError(f"{safe(inv.describe())}: you organise this meeting; nothing to answer")
    if inv.server_id is None:
        raise NotFoundError(
            f"{safe(inv.describe())} is not on the server yet",
            hint=f"run `eassync sync {inv.pair}` first",
        )
    with ClientPool(config) as pool:
        client = pool.client(inv.account)
        if (no_send or comment) and not versions.at_least(client.version, "16.0"):
            option = "--no-send" if no_send else "--comment"
            raise UsageError(
                f"{option} needs EAS 16.0; account {inv.account!r} speaks {client.version}",
                hint="before 16.0 the server always mails the organizer, without a note",
            )
        client.meeting_response(
            MeetingRequest(
                answer,  # type: ignore[arg-type]  # click.Choice checked it
                inv.collection,
                inv.server_id,
                send=not no_send,
                comment=comment,
            )
        )
        try:
            listed = client.user_information()["addresses"]
        except EassyncError:
            listed = []
    if isinstance(listed, list):
        me |= {str(a).lower() for a in listed}
    reporter = _Quiet()
    outcomes = run_sync(config, [f"{inv.pair}/{inv.collection}"], reporter=reporter)
    synced = all(o.exit_code == 0 for o in outcomes)
    partstat = own_partstat(inv.path, me) if inv.path and inv.path.exists() else None
    removed = inv.path is not None and not inv.path.exists()
    if as_json:
        doc = {
            "answer": answer,
            "sent": not no_send,
            "pair": inv.pair,
            "collection": inv.label,
            "uid": inv.uid,
            "summary": inv.summary,
            "file": str(inv.path) if inv.path else None,
            "synced": synced,
            "partstat": partstat,
            "removed_by_server": removed,
        }
        echo_block(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        verb = {"accept": "accepted", "tentative": "tentatively accepted", "decline": "declined"}
        note = "" if not no_send else " (the organizer was not mailed)"
        echo(f"{verb[answer]}: {safe(inv.describe())}{note}")
        if removed:
            echo("the server removed the declined meeting; so did the sync")
        elif partstat:
            echo(f"local copy: PARTSTAT={partstat}")
    if not synced:
        for outcome in outcomes:
            if outcome.error is not None:
                echo(f"{outcome.pair}: error: {outcome.error}", err=True)
        for line in reporter.failures:
            echo(f"  {safe(line)}", err=True)
        echo(
            "the answer was sent; the local copy shows it after the next successful sync",
            err=True,
        )
        return max(o.exit_code for o in outcomes)
    return 0
