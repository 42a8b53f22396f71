"""``eassync login ACCOUNT``: sign in to an ``auth: oauth2`` account (device-code flow)."""

from __future__ import annotations

import click

from eassync.cli.complete import complete_accounts
from eassync.cli.output import echo
from eassync.errors import ConfigError


@click.command()
@click.argument("account", shell_complete=complete_accounts)
@click.pass_obj
def command(ctx: object, account: str) -> int:
    """Sign in to the OAuth2 (Exchange Online) account ACCOUNT.

    Prints a web address and a code: open the address in any browser, on any device,
    and enter the code (no browser is needed on this machine, so it works over SSH).
    The tokens are kept in the state dir (mode 0600) and refreshed silently by later
    runs; run this again when a sync says the sign-in has expired.
    """
    from eassync.accounts import oauth_account

    config = ctx.load_config()  # type: ignore[attr-defined]
    if account not in config.accounts:
        known = ", ".join(sorted(config.accounts)) or "none"
        raise ConfigError(f"no account named {account!r} in {config.path} (accounts: {known})")
    settings = config.accounts[account]
    if settings.auth != "oauth2":
        raise ConfigError(
            f"account {account!r} uses auth {settings.auth}; login is only for auth: oauth2",
            hint="basic and ntlm accounts use the password from the config",
        )
    tokens = oauth_account(config, settings)
    user = tokens.login(lambda text: echo(text, err=True))
    echo(f"signed in{' as ' + user if user else ''}; token cache: {tokens.cache_file.path}")
    return 0
