"""``eassync watch [PAIR]...``: stay up and sync live (EAS Ping, file watching)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from eassync.cli.complete import complete_pairs
from eassync.cli.traceopt import trace_options

if TYPE_CHECKING:
    from eassync.watch.daemon import WatchOptions


def setup_watch_logging(verbosity: int) -> None:
    """One INFO line per sync on stderr even without -v; -v adds the Ping cycle.
    Under systemd (JOURNAL_STREAM set) the journal adds timestamps itself."""
    root = logging.getLogger()
    if os.environ.get("JOURNAL_STREAM"):
        fmt = "%(levelname)s: %(message)s"
    else:
        fmt = "%(asctime)s %(levelname)s: %(message)s"
    for handler in root.handlers:
        handler.setFormatter(logging.Formatter(fmt, datefmt="%Y-%m-%d %H:%M:%S"))
    watch_level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    logging.getLogger("eassync.watch").setLevel(watch_level)


def watch_options(config_watch: Mapping[str, Any], **given: Any) -> WatchOptions:
    """``general.watch`` of the config, overridden by the options given on the command
    line (None: not given)."""
    from eassync.watch.daemon import WatchOptions

    settings = dict(config_watch)
    settings.update({key: value for key, value in given.items() if value is not None})
    return WatchOptions(**settings)


@click.command()
@click.argument("targets", nargs=-1, metavar="[PAIR]...", shell_complete=complete_pairs)
@click.option(
    "--heartbeat",
    type=click.IntRange(1, 3540),
    help="Ping heartbeat to ask for, in seconds (the server's limit wins). "
    "[default: general.watch.heartbeat, 480]",
)
@click.option(
    "--interval",
    type=click.FloatRange(1.0),
    help="Seconds between syncs of accounts whose server has no usable Ping. "
    "[default: general.watch.interval, 300]",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(0.1),
    help="Seconds between local-change checks of CalDAV/CardDAV storages "
    "(and of vdirs when file watching is off). [default: general.watch.poll_interval, 30]",
)
@click.option(
    "--debounce",
    type=click.FloatRange(0.0),
    help="Quiet seconds after a local file change before syncing it. "
    "[default: general.watch.debounce, 1.5]",
)
@click.option(
    "--max-backoff",
    type=click.FloatRange(1.0),
    help="Longest wait, in seconds, between retries while the server is unreachable. "
    "[default: general.watch.max_backoff, 300]",
)
@click.option(
    "--no-file-watching",
    is_flag=True,
    help="Poll vdir folders every --poll-interval instead of watching them.",
)
@trace_options
@click.pass_obj
def command(
    ctx: Any,
    targets: tuple[str, ...],
    heartbeat: int | None,
    interval: float | None,
    poll_interval: float | None,
    debounce: float | None,
    max_backoff: float | None,
    no_file_watching: bool,
) -> int:
    """Stay up and sync live: server changes arrive through EAS Ping, local changes
    through file watching (vdir) or sync-token polling (CalDAV/CardDAV).

    Every pair without arguments. SIGTERM or Ctrl-C finish the sync in progress and
    exit 0; SIGHUP reloads the config. Exit 2 on a config error at start.
    """
    from eassync.watch.daemon import Daemon

    setup_watch_logging(ctx.verbosity)
    # report config errors (exit 2) before anything starts
    options = watch_options(
        ctx.load_config().general.watch,
        heartbeat=heartbeat,
        interval=interval,
        poll_interval=poll_interval,
        debounce=debounce,
        max_backoff=max_backoff,
        file_watching=False if no_file_watching else None,
    )
    daemon = Daemon(ctx.load_config, targets, options)
    daemon.install_signal_handlers()
    return daemon.run()
