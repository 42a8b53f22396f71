"""``eassync freebusy ADDRESS... --from --to``: when people are busy, from the server."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import click

from eassync.cli.complete import complete_accounts
from eassync.cli.output import echo, echo_block
from eassync.cli.traceopt import trace_options
from eassync.errors import UsageError


def parse_when(text: str, option: str) -> datetime:
    """``YYYY-MM-DD``, ``YYYY-MM-DD HH:MM`` or ISO 8601; without an offset: local time."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"{option} {text!r} is not a date or time",
            hint="write e.g. 2026-12-07 or '2026-12-07 09:00' (local time)",
        ) from None
    return moment if moment.tzinfo is not None else moment.astimezone()


@click.command()
@click.argument("addresses", nargs=-1, required=True, metavar="ADDRESS...")
@click.option("--from", "start_text", metavar="WHEN", help="Start (default: now).")
@click.option("--to", "end_text", metavar="WHEN", help="End (default: 24 hours after the start).")
@click.option(
    "-a",
    "--account",
    metavar="NAME",
    help="The account (default: the only one).",
    shell_complete=complete_accounts,
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.option("--ics", is_flag=True, help="iCalendar on stdout: one VFREEBUSY per person.")
@trace_options
@click.pass_obj
def command(
    ctx: Any,
    addresses: tuple[str, ...],
    start_text: str | None,
    end_text: str | None,
    account: str | None,
    as_json: bool,
    ics: bool,
) -> int:
    """Show when each ADDRESS is busy between --from and --to, in local time (server
    free/busy, EAS 14.0+). Exits 1 if someone could not be looked up."""
    from eassync.accounts import ClientPool
    from eassync.cli.accountopt import pick_account
    from eassync.eas.pim import MAX_AVAILABILITY_RECIPIENTS
    from eassync.pim import freebusy

    if as_json and ics:
        raise UsageError("choose --json or --ics, not both")
    now = datetime.now().astimezone()
    if start_text:
        start = parse_when(start_text, "--from")
    else:  # the current half hour, so the first block is not cut short
        start = now.replace(minute=now.minute - now.minute % 30, second=0, microsecond=0)
    end = parse_when(end_text, "--to") if end_text else start + timedelta(days=1)
    if end <= start:
        raise UsageError("--to must come after --from")
    if end - start > freebusy.MAX_SPAN:
        raise UsageError(f"ask at most {freebusy.MAX_SPAN.days} days at once")
    config = ctx.load_config()
    name = pick_account(config, account)
    persons = []
    with ClientPool(config) as pool:
        client = pool.client(name)
        wanted = list(dict.fromkeys(addresses))
        for i in range(0, len(wanted), MAX_AVAILABILITY_RECIPIENTS):
            chunk = wanted[i : i + MAX_AVAILABILITY_RECIPIENTS]
            result = client.availability(chunk, start, end)
            persons.extend(freebusy.people(freebusy.match(chunk, result.responses), start, end))
    if as_json:
        doc = {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "people": [freebusy.to_json(p) for p in persons],
        }
        echo_block(json.dumps(doc, indent=2, ensure_ascii=False))
    elif ics:
        echo_block(freebusy.to_ics(persons, start, end, now).decode("utf-8"), nl=False, layout="\r")
    else:
        for person in persons:
            echo(freebusy.format_line(person))
    return 1 if any(p.problem for p in persons) else 0
