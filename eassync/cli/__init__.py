"""The ``eassync`` command line.

Each subcommand lives in its own module ``eassync/cli/<name>.py`` exposing a click
command called ``command``; modules are imported only when their command runs, so
``--help`` and shell completion stay instant.

Exit codes: 0 ok, 1 some item or collection failed, 2 usage or config error,
75 transient (network down, throttled, lock held), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import gc
import logging
import sys
from importlib import import_module
from typing import Any

import click

from eassync import __version__
from eassync.cli.output import SafeFormatter, echo

#: command name → (module, one-line help shown by ``eassync --help``)
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("eassync.cli.check", "Validate the config file and show what it declares."),
    "discover": ("eassync.cli.discover", "List the folders an account's server shows."),
    "doctor": ("eassync.cli.doctor", "Walk the first contact with a server, step by step."),
    "sync": ("eassync.cli.sync", "Sync pairs once, both ways."),
    "status": ("eassync.cli.status", "Show per pair: last sync, counts, errors."),
    "repair": ("eassync.cli.repair", "Rebuild a pair's status from both sides by UID/content."),
    "trash": ("eassync.cli.trash", "List, restore or empty what a sync deleted or overwrote."),
    "testdata": ("eassync.cli.testdata", "Create or delete tagged sample items on both sides."),
    "demo": ("eassync.cli.demo", "Run a complete sync against the bundled EAS server."),
    "devserver": ("eassync.cli.devserver", "Run the bundled EAS server on loopback."),
    "debug": ("eassync.cli.debug", "Troubleshooting tools (WBXML decode/encode …)."),
    "watch": ("eassync.cli.watch", "Stay up and sync live (EAS Ping, file watching)."),
    "login": ("eassync.cli.login", "Sign in to an OAuth2 account (device code flow)."),
    "respond": ("eassync.cli.respond", "Accept, tentatively accept or decline an invitation."),
    "gal": ("eassync.cli.gal", "Search the server's global address list (mutt, vCard, JSON)."),
    "freebusy": ("eassync.cli.freebusy", "Show when people are busy (server free/busy)."),
    "oof": ("eassync.cli.oof", "Show or set an account's out-of-office reply."),
    "init": ("eassync.cli.init", "Write a commented starting config (never overwrites)."),
    "man": ("eassync.cli.man", "Show the man pages that ship with eassync."),
}

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TRANSIENT = 75
EXIT_INTERRUPTED = 130
#: a pass may be killed at any instant (the status commits after the server's answer)
INTERRUPTED = "interrupted: nothing was lost; run the command again to finish"


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        entry = COMMANDS.get(name)
        if entry is None:
            return None
        module = import_module(entry[0])
        cmd: click.Command = module.command
        _add_global_options(cmd)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


# -c/-v/-q are accepted after the subcommand too (`eassync discover ACCOUNT -v`),
# where people type them and where hints put them.


def _context(ctx: click.Context) -> Context | None:
    return ctx.find_object(Context)


def _late_config(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    obj = _context(ctx)
    if value is not None and obj is not None:
        obj.config_path = value


def _late_verbose(ctx: click.Context, param: click.Parameter, value: int) -> None:
    obj = _context(ctx)
    if value and obj is not None:
        obj.verbosity = max(obj.verbosity, 0) + value
        set_log_level(obj.verbosity)


def _late_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    obj = _context(ctx)
    if value and obj is not None:
        obj.verbosity = -1
        set_log_level(obj.verbosity)


def _global_options() -> list[click.Parameter]:
    return [
        click.Option(
            ["-c", "--config"],
            type=click.Path(dir_okay=False),
            expose_value=False,
            callback=_late_config,
            help="Config file (as before the command).",
        ),
        click.Option(
            ["-v", "--verbose"],
            count=True,
            expose_value=False,
            callback=_late_verbose,
            help="More output; -vv shows protocol traffic (as before the command).",
        ),
        click.Option(
            ["-q", "--quiet"],
            is_flag=True,
            expose_value=False,
            callback=_late_quiet,
            help="Less output: errors and what changed (as before the command).",
        ),
    ]


def _add_global_options(cmd: click.Command) -> None:
    """Give ``cmd`` and every command under it the global options (once)."""
    if getattr(cmd, "_eassync_globals", False):
        return
    taken = {opt for p in cmd.params for opt in getattr(p, "opts", [])}
    cmd.params.extend(p for p in _global_options() if not taken & set(p.opts))
    cmd._eassync_globals = True  # type: ignore[attr-defined]
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            _add_global_options(sub)


class Context:
    """What every command gets: the config path and the verbosity."""

    def __init__(self, config_path: str | None, verbosity: int) -> None:
        self.config_path = config_path
        self.verbosity = verbosity

    def load_config(self) -> Any:
        from eassync.config import load_config

        return load_config(self.config_path)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="EASSYNC_CONFIG",
    help="Config file (default: $XDG_CONFIG_HOME/eassync/config.yaml).",
)
@click.option("-v", "--verbose", count=True, help="More output; -vv shows protocol traffic.")
@click.option("-q", "--quiet", is_flag=True, help="Less output: errors and what changed.")
@click.version_option(__version__, prog_name="eassync")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int, quiet: bool) -> None:
    """Sync Exchange ActiveSync calendars, contacts and tasks with local collections."""
    verbosity = -1 if quiet else verbose
    setup_logging(verbosity)
    ctx.obj = Context(config_path, verbosity)


def _level(verbosity: int) -> int:
    return {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)


def set_log_level(verbosity: int) -> None:
    """Change the level once logging is set up (-v/-q after the subcommand)."""
    logging.getLogger().setLevel(_level(verbosity))


def setup_logging(verbosity: int) -> None:
    level = _level(verbosity)
    handler = logging.StreamHandler(sys.stderr)
    # server strings reach log messages: escaped there, whoever logs them
    handler.setFormatter(SafeFormatter("%(levelname)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    # requests/urllib3 would print URLs with credentials in debug mode; keep them quiet.
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def report_error(exc: BaseException) -> int:
    """Print an error the way a person can act on it; return the exit code."""
    import sqlite3

    from eassync.errors import ConfigError, EassyncError
    from eassync.oserror import os_failure, sqlite_failure

    # the machine said no (read-only or full disk, a file in the way, a port taken)
    if isinstance(exc, OSError):
        exc = os_failure(exc)
    elif isinstance(exc, sqlite3.Error):
        exc = sqlite_failure(exc)
    if isinstance(exc, EassyncError):
        echo(f"error: {exc}", err=True)
        if isinstance(exc, ConfigError):
            for problem in exc.problems:
                echo(f"  {problem}", err=True)
        for line in exc.details:
            echo(f"  {line}", err=True)
        if exc.hint:
            echo(f"hint: {exc.hint}", err=True)
        return exc.exit_code
    raise exc


def main(argv: list[str] | None = None) -> None:
    # A pass allocates many small containers that die young by reference count
    # (parsed properties, WBXML elements); collecting every 700 net allocations (the
    # default) took ~8 % of a 10,000-contact download, measured with gc.callbacks.
    # Cycles are still collected, every 50,000 net allocations.
    gc.set_threshold(50_000, 20, 100)
    try:
        rv = cli.main(args=argv, prog_name="eassync", standalone_mode=False)
    except click.exceptions.Abort as exc:
        # click turns Ctrl-C into Abort; 128+SIGINT as shells and other tools report it
        interrupted = isinstance(exc.__cause__, KeyboardInterrupt)
        echo(INTERRUPTED if interrupted else "aborted", err=True)
        sys.exit(EXIT_INTERRUPTED if interrupted else EXIT_FAILED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        echo(INTERRUPTED, err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # EassyncError → message + exit code; others re-raised
        sys.exit(report_error(exc))
    sys.exit(rv if isinstance(rv, int) else EXIT_OK)
