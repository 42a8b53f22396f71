"""``eassync trash list|restore|empty``: the local items a sync deleted or overwrote.

``list`` shows each kept item by pair, collection, name (summary or FN, escaped: it
comes from the item) and date, with the id ``restore`` takes; ``restore`` puts items
back into their local collection so the next sync uploads them; ``empty`` removes
them (all, one pair's, or those older than N days). Nothing here touches a server.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from eassync.cli.output import echo, echo_block
from eassync.cli.text import printable
from eassync.wording import count

if TYPE_CHECKING:
    from eassync.config import Config
    from eassync.storage.trash import Trash, TrashEntry


def _trash(config: Config) -> Trash:
    from eassync.storage.trash import Trash

    return Trash(config.general.status_dir / "trash")


def _check_pair(config: Config, pair: str | None) -> None:
    if pair is not None:
        config.pair(pair)  # a ConfigError listing the pairs if there is none


def _when(entry: TrashEntry) -> str:
    return entry.trashed.astimezone().strftime("%Y-%m-%d %H:%M")


def _as_dict(entry: TrashEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "pair": entry.pair,
        "collection": entry.label or entry.collection,
        "name": entry.name,
        "file": entry.ident,
        "trashed": entry.trashed.isoformat(),
        "path": str(entry.path),
    }


@click.group("trash")
def command() -> None:
    """List, restore or empty the trash of local items a sync deleted or overwrote."""


@command.command("list")
@click.argument("pair", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.pass_obj
def list_command(ctx: Any, pair: str | None, as_json: bool) -> int:
    """Show the kept items (of PAIR), oldest first, with the id restore takes."""
    config = ctx.load_config()
    _check_pair(config, pair)
    entries = _trash(config).list(pair)
    if as_json:
        doc = {"items": [_as_dict(e) for e in entries]}
        echo_block(json.dumps(doc, indent=2, ensure_ascii=False))
        return 0
    if not entries:
        echo("the trash is empty")
        return 0
    for entry in entries:
        where = f"{entry.pair}/{entry.label or entry.collection}"
        echo(printable(f"{entry.id}  {_when(entry)}  {where}  {entry.name}"))
    days = config.general.trash_expiry_days
    expiry = f"kept {days} days" if days else "kept until `eassync trash empty`"
    echo(f"{count(len(entries))}, {expiry}; `eassync trash restore ID` puts one back")
    return 0


@command.command("restore")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@click.pass_obj
def restore_command(ctx: Any, ids: tuple[str, ...]) -> int:
    """Put items back into their local collection; the next sync uploads them."""
    from eassync.errors import EassyncError, LockHeldError
    from eassync.restore import restore

    config = ctx.load_config()
    trash = _trash(config)
    code = 0
    for entry_id in ids:
        entry = trash.find(entry_id)
        if entry is None:
            echo(printable(f"error: no item {entry_id!r} in the trash"), err=True)
            echo("hint: `eassync trash list` shows the ids", err=True)
            code = max(code, 1)
            continue
        try:
            where = restore(config, trash, entry)
        except LockHeldError:
            raise  # a sync runs: exit 75, try again
        except EassyncError as exc:
            echo(printable(f"error: {exc}"), err=True)
            if exc.hint:
                echo(printable(f"hint: {exc.hint}"), err=True)
            code = max(code, exc.exit_code)
            continue
        echo(printable(f"restored {entry.name} to {where}"))
    if code == 0:
        echo("the next `eassync sync` uploads the restored items")
    return code


@command.command("empty")
@click.argument("pair", required=False)
@click.option(
    "--older-than",
    "older_than",
    type=click.FloatRange(min=0),
    metavar="DAYS",
    help="Only items put in the trash more than DAYS days ago.",
)
@click.pass_obj
def empty_command(ctx: Any, pair: str | None, older_than: float | None) -> int:
    """Remove the kept items (of PAIR) for good."""
    config = ctx.load_config()
    _check_pair(config, pair)
    removed = _trash(config).empty(older_than, pair)
    echo(f"removed {count(removed)} from the trash")
    return 0
