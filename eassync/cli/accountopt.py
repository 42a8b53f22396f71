"""The account a command works on: the one named, or the only one configured."""

from __future__ import annotations

from typing import Any

from eassync.errors import UsageError


def pick_account(config: Any, name: str | None) -> str:
    accounts = sorted(config.accounts)
    if name is not None:
        if name not in config.accounts:
            raise UsageError(
                f"no account {name!r} in the config",
                hint=f"configured: {', '.join(accounts) or 'none'}",
            )
        return name
    if len(accounts) == 1:
        return str(accounts[0])
    raise UsageError(
        "several accounts are configured: choose one with --account",
        hint=f"configured: {', '.join(accounts) or 'none'}",
    )
