"""Shell completion of names: pairs, ``PAIR/COLLECTION``, accounts, man pages, examples.

click calls these while the user presses TAB (``_EASSYNC_COMPLETE=bash_complete``).
They read the config given by ``-c`` (or ``$EASSYNC_CONFIG``, or the default path)
and, for collections, the pairs' status files (the collections already synced). A
completion must never print a traceback into the user's prompt: any failure (no
config, a broken one, an unreadable status) offers nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import click
from click.shell_completion import CompletionItem

if TYPE_CHECKING:
    from eassync.config import Config


def _quietly(
    offer: Callable[[click.Context, str], Iterable[str]],
) -> Callable[[click.Context, click.Parameter, str], list[CompletionItem]]:
    """A click ``shell_complete`` callback offering the names ``offer`` yields that
    start with what was typed; nothing at all if it fails in any way."""

    def complete(
        ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        try:
            names = sorted(set(offer(ctx, incomplete)))
        except Exception:  # a TAB never shows a traceback
            return []
        # a name with control characters (a server's folder name) would reach the
        # terminal raw and could not be typed back anyway: not offered
        return [CompletionItem(n) for n in names if n.startswith(incomplete) and n.isprintable()]

    return complete


def _config(ctx: click.Context) -> Config:
    """The config of the command line being completed, with logging kept silent (a
    config warning would land in the middle of the user's prompt)."""
    import logging

    from eassync.config import load_config

    logging.disable(logging.CRITICAL)
    path = ctx.find_root().params.get("config_path")
    return load_config(path)


def _pairs(ctx: click.Context, incomplete: str) -> Iterable[str]:
    return _config(ctx).pairs


def _accounts(ctx: click.Context, incomplete: str) -> Iterable[str]:
    return _config(ctx).accounts


def _targets(ctx: click.Context, incomplete: str) -> Iterable[str]:
    """Pair names; after ``PAIR/`` the collections that pair has synced (by the name
    a person knows: the local subfolder or the folder's display name)."""
    config = _config(ctx)
    if "/" not in incomplete:
        yield from config.pairs
        return
    name = incomplete.partition("/")[0]
    if name not in config.pairs:
        return
    from eassync.runner import status_path
    from eassync.sync.status import Status

    path = status_path(config, name)
    if not path.exists():
        return
    with Status.snapshot(path) as status:
        for info in status.collections():
            if info.label:
                yield f"{name}/{info.label}"


def _pages(ctx: click.Context, incomplete: str) -> Iterable[str]:
    from eassync.docs import PAGES

    return PAGES


def _examples(ctx: click.Context, incomplete: str) -> Iterable[str]:
    from eassync.docs import example_names

    return [n.removesuffix(".yaml") for n in example_names()]


complete_pairs = _quietly(_pairs)
complete_accounts = _quietly(_accounts)
complete_targets = _quietly(_targets)
complete_pages = _quietly(_pages)
complete_examples = _quietly(_examples)
