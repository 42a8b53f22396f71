"""``eassync oof ACCOUNT [status | on --message FILE [--external FILE] [--from --until] | off]``."""

from __future__ import annotations

import json
from typing import Any

import click

from eassync.cli.complete import complete_accounts
from eassync.cli.output import echo, echo_block
from eassync.cli.traceopt import trace_options


@click.command()
@click.argument("account", metavar="ACCOUNT", shell_complete=complete_accounts)
@click.argument("action", type=click.Choice(["status", "on", "off"]), default="status")
@click.option("--message", metavar="FILE", help="on: the reply to internal senders ('-': stdin).")
@click.option("--external", metavar="FILE", help="on: the reply to external senders (else none).")
@click.option("--from", "start_text", metavar="WHEN", help="on: start of a scheduled reply.")
@click.option("--until", "end_text", metavar="WHEN", help="on: end of a scheduled reply.")
@click.option(
    "--html",
    is_flag=True,
    help="on: the files are HTML (also said by a .html name); status: show the HTML form.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@trace_options
@click.pass_obj
def command(
    ctx: Any,
    account: str,
    action: str,
    message: str | None,
    external: str | None,
    start_text: str | None,
    end_text: str | None,
    html: bool,
    as_json: bool,
) -> int:
    """Show (status, the default), switch on or switch off the out-of-office reply of
    ACCOUNT on its server. Times without an offset are local."""
    from eassync.accounts import ClientPool
    from eassync.cli.accountopt import pick_account
    from eassync.cli.freebusy import parse_when
    from eassync.eas.pim import OOF_STATES
    from eassync.errors import ServerError, UsageError
    from eassync.pim import oof

    if action != "on" and (message or external or start_text or end_text):
        raise UsageError(f"--message, --external, --from and --until go with 'on', not {action!r}")
    settings = None
    if action == "on":
        if not message:
            raise UsageError("'oof ACCOUNT on' needs --message FILE")
        settings = oof.settings_on(
            oof.read_message(message, html=html),
            oof.read_message(external, html=html) if external else None,
            parse_when(start_text, "--from") if start_text else None,
            parse_when(end_text, "--until") if end_text else None,
        )
    elif action == "off":
        settings = oof.settings_off()
    config = ctx.load_config()
    name = pick_account(config, account)
    with ClientPool(config) as pool:
        client = pool.client(name)
        if settings is not None:
            client.oof_set(settings)
        current = client.oof_get("HTML" if html else "Text")
    if settings is not None and current.state != settings.state:
        # the server said yes but stored something else: say so rather than claim success
        raise ServerError(
            f"account {name!r}: the server accepted the out-of-office change but now reports "
            f"it {OOF_STATES.get(current.state, '?')}",
            hint="check the setting in the server's web interface",
        )
    if as_json:
        echo_block(json.dumps(oof.to_json(current), indent=2, ensure_ascii=False))
    else:
        for line in oof.describe(current):
            echo(line)
    return 0
