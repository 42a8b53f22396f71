"""``--trace DIR`` and ``--trace-items``: the options of the commands that talk to an
EAS server, which write a protocol trace for a bug report (:mod:`eassync.eas.trace`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def trace_options(function: F) -> F:
    """Add the trace options to a click command function (below ``@click.command``)."""

    @functools.wraps(function)
    def wrapper(*args: Any, trace: str | None, trace_items: bool, **kwargs: Any) -> Any:
        if trace is None:
            return function(*args, **kwargs)
        from eassync.eas import trace as tracing

        tracing.start(Path(trace).expanduser(), items=trace_items)
        try:
            return function(*args, **kwargs)
        finally:
            tracing.stop()

    wrapper = click.option(
        "--trace-items",
        is_flag=True,
        envvar="EASSYNC_TRACE_ITEMS",
        help="Keep the items' content (names, addresses, bodies) in the trace.",
    )(wrapper)
    wrapper = click.option(
        "--trace",
        metavar="DIR",
        envvar="EASSYNC_TRACE",
        help="Write each EAS request and answer as readable XML into DIR, for a bug "
        "report (credentials, the user name and item content left out).",
    )(wrapper)
    return wrapper  # type: ignore[return-value]
