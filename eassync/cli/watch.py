"""``eassync watch [PAIR]...``: stay up and sync live (EAS Ping, file watching)."""

from __future__ import annotations

import logging
import os
from typing import Any

import click


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


@click.command()
@click.argument("targets", nargs=-1, metavar="[PAIR]...")
@click.option(
    "--heartbeat",
    type=click.IntRange(1, 3540),
    default=480,
    show_default=True,
    help="Ping heartbeat to ask for, in seconds (the server's limit wins).",
)
@click.option(
    "--interval",
    type=click.FloatRange(1.0),
    default=300.0,
    show_default=True,
    help="Seconds between syncs of accounts whose server has no usable Ping.",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(0.1),
    default=30.0,
    show_default=True,
    help="Seconds between local-change checks of CalDAV/CardDAV storages "
    "(and of vdirs when file watching is off).",
)
@click.option(
    "--debounce",
    type=click.FloatRange(0.0),
    default=1.5,
    show_default=True,
    help="Quiet seconds after a local file change before syncing it.",
)
@click.option(
    "--max-backoff",
    type=click.FloatRange(1.0),
    default=300.0,
    show_default=True,
    help="Longest wait, in seconds, between retries while the server is unreachable.",
)
@click.option(
    "--no-file-watching",
    is_flag=True,
    help="Poll vdir folders every --poll-interval instead of watching them.",
)
@click.pass_obj
def command(
    ctx: Any,
    targets: tuple[str, ...],
    heartbeat: int,
    interval: float,
    poll_interval: float,
    debounce: float,
    max_backoff: float,
    no_file_watching: bool,
) -> int:
    """Stay up and sync live: server changes arrive through EAS Ping, local changes
    through file watching (vdir) or sync-token polling (CalDAV/CardDAV).

    Every pair without arguments. SIGTERM or Ctrl-C finish the sync in progress and
    exit 0; SIGHUP reloads the config. Exit 2 on a config error at start.
    """
    from eassync.watch.daemon import Daemon, WatchOptions

    setup_watch_logging(ctx.verbosity)
    ctx.load_config()  # report config errors (exit 2) before anything starts
    options = WatchOptions(
        heartbeat=heartbeat,
        interval=interval,
        poll_interval=poll_interval,
        debounce=debounce,
        max_backoff=max_backoff,
        file_watching=not no_file_watching,
    )
    daemon = Daemon(ctx.load_config, targets, options)
    daemon.install_signal_handlers()
    return daemon.run()
