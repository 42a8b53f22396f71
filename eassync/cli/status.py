"""``eassync status``: per pair and collection, the last attempt and its result, the
items that failed and why, the items parked, and the fields the server does not keep.

Reads the status files (an in-memory copy: nothing is written, not even a
migration) and the account state's folder map (names of the server's folders as of
the last FolderSync). Makes no network request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from eassync.cli.output import echo, echo_block
from eassync.wording import count

if TYPE_CHECKING:
    from eassync.config import Config, Pair
    from eassync.sync.status import CollectionInfo, Status

#: failed and parked items listed per collection in the text output (all in --json)
SHOWN_ITEMS = 10


def _ago(ts: float | None) -> str:
    if ts is None:
        return "never"
    seconds = max(0, time.time() - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def server_folders(config: Config, account: str) -> dict[str, str] | None:
    """ServerId → display name of the account's folders at its last FolderSync, or
    None if unknown. Read directly: loading the state the usual way creates it."""
    from eassync.eas.state import AccountState, AccountStateFile

    path = AccountStateFile(config.general.status_dir, account).path
    try:
        state = AccountState.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    if state.folder_sync_key == "0" and not state.folders:
        return None
    return {sid: rec.display_name for sid, rec in state.folders.items()}


def dropped_fields(slots: str | None) -> list[str]:
    """The EAS fields the server is known not to keep (``collections.slots``)."""
    from eassync.model.knowledge import SlotKnowledge

    knowledge = SlotKnowledge()
    knowledge.load(slots)
    return sorted(knowledge.dropped)


def _result(info: CollectionInfo) -> str:
    """ok | failed items | stopped | never: how the last attempt ended."""
    attempt = info.last_attempt if info.last_attempt is not None else info.last_sync
    if attempt is None:
        return "never" if not info.last_error else "stopped"
    completed = info.last_sync is not None and info.last_sync >= attempt
    if completed:
        return "failed items" if info.last_error else "ok"
    return "stopped" if info.last_error else "ok"


def _local_place(config: Config, pair: Pair, label: str | None) -> str | None:
    storage = config.storage_for(pair)
    if storage.type == "vdir" and storage.path is not None:
        subdir = label if "all" in pair.remote else None
        return str(storage.path / subdir) if subdir else str(storage.path)
    return label


def collection_entry(
    config: Config,
    pair: Pair,
    status: Status,
    info: CollectionInfo,
    folders: Mapping[str, str] | None,
) -> dict[str, Any]:
    from eassync.convert.fieldnames import readable_list

    server_name = folders.get(info.collection) if folders is not None else None
    deleted = folders is not None and server_name is None and info.items > 0
    name = info.label or server_name or f"folder {info.collection}"
    drops = dropped_fields(info.slots)
    parked = [
        {
            # what failed is the write to the server; the name is the local item's
            "side": "remote",
            "name": row.local_ident or row.uid or "?",
            "reason": row.failure or "the server refused the item",
        }
        for row in status.parked(info.collection)
    ]
    return {
        "collection": info.collection,
        "name": name,
        "label": info.label,
        "server_folder": server_name,
        "deleted_on_server": deleted,
        "local": _local_place(config, pair, info.label),
        "items": info.items,
        "result": _result(info),
        "last_attempt": info.last_attempt,
        "last_sync": info.last_sync,
        "last_error": info.last_error,
        "last_counts": info.last_counts,
        "resyncing": info.resyncing,
        "failures": [dict(f) for f in info.last_failures],
        "parked": parked,
        "server_does_not_keep": readable_list(drops),
        "server_does_not_keep_fields": drops,
    }


def pair_entry(config: Config, name: str) -> dict[str, Any]:
    from eassync.errors import EassyncError
    from eassync.runner import status_path
    from eassync.sync.status import Status

    pair = config.pairs[name]
    path = status_path(config, name)
    entry: dict[str, Any] = {
        "synced": False,
        "status_file": str(path) if path.exists() else None,
        "last_attempt": None,
        "last_error": None,
        "collections": [],
    }
    if not path.exists():
        return entry
    folders = server_folders(config, pair.account)
    try:
        status = Status.snapshot(path)
    except EassyncError as exc:  # one unreadable status file hides no other pair
        entry["last_error"] = f"{exc} (what to do: {exc.hint})" if exc.hint else str(exc)
        return entry
    with status:
        entry["last_attempt"] = _float(status.meta("last_attempt"))
        entry["last_error"] = status.meta("last_error")
        entry["collections"] = [
            collection_entry(config, pair, status, info, folders)
            for info in status.collections()
            if not _forgotten(info)
        ]
    entry["synced"] = any(c["last_sync"] is not None for c in entry["collections"])
    return entry


def _forgotten(info: CollectionInfo) -> bool:
    """A collection whose rows were dropped (a folder deleted on the server whose
    local folder the user removed): only what was learnt of the server is left."""
    return (
        info.items == 0
        and info.remote_state is None
        and info.last_sync is None
        and not info.last_error
    )


def _failing(entry: Mapping[str, Any]) -> bool:
    return bool(entry["last_error"]) or any(
        c["result"] in ("stopped", "failed items") for c in entry["collections"]
    )


def _items(title: str, items: list[dict[str, Any]], verbosity: int) -> None:
    from eassync.cli.text import printable

    if not items:
        return
    echo(f"  {title}:")
    shown = items if verbosity >= 1 else items[:SHOWN_ITEMS]
    for item in shown:
        side, name, reason = (item.get(k, "?") for k in ("side", "name", "reason"))
        echo(printable(f"    {side} {name}: {reason}"))
    if len(items) > len(shown):
        echo(f"    … and {len(items) - len(shown)} more (-v lists them)")


def _print_collection(pair: str, c: Mapping[str, Any], verbosity: int) -> None:
    from eassync.cli.text import printable

    line = f"{pair}/{c['name']}: {count(c['items'])}, last sync {_ago(c['last_sync'])}"
    if c["result"] == "stopped":
        line += f"; last attempt {_ago(c['last_attempt'])} FAILED: {c['last_error']}"
    elif c["result"] == "failed items":
        line += f", {count(len(c['failures']))} failed"
    elif c["result"] == "ok":
        line += ", ok"
    echo(printable(line))
    if c["server_folder"] and c["label"] and c["server_folder"] != c["label"]:
        echo(printable(f"  server folder: {c['server_folder']!r} (renamed; the local name stays)"))
    if c["deleted_on_server"]:
        echo(
            printable(
                f"  deleted on the server: its {count(c['items'])} are kept in {c['local']} "
                "and no longer synced; delete that folder to remove them"
            )
        )
    last = "the last completed pass" if c["result"] == "stopped" else "the last pass"
    _items(f"failed in {last}", list(c["failures"]), verbosity)
    _items(
        "parked (not sent again until they change)",
        list(c["parked"]),
        verbosity,
    )
    if c["server_does_not_keep"]:
        echo(
            printable(
                "  the server does not keep: "
                + ", ".join(c["server_does_not_keep"])
                + " (local values are kept)"
            )
        )


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.pass_obj
def command(ctx: Any, as_json: bool) -> int:
    """Show per pair and collection: the last attempt and its result, the items that
    failed and why, parked items, and the fields the server does not keep. Makes no
    network request and writes nothing. Exit 1 if the last attempt of a pair or
    collection failed or left items failing."""
    from eassync.cli.text import printable

    config = ctx.load_config()
    doc = {name: pair_entry(config, name) for name in sorted(config.pairs)}
    failed = any(_failing(entry) for entry in doc.values())
    if as_json:
        echo_block(json.dumps(doc, indent=2, ensure_ascii=False))
        return 1 if failed else 0
    for name, entry in doc.items():
        pair = config.pairs[name]
        if not entry["collections"]:
            line = f"{name}: never synced ({pair.account} {pair.describe_remote()} ⇄ {pair.local})"
            echo(line)
        told = {c["last_error"] for c in entry["collections"] if c["result"] == "stopped"}
        if entry["last_error"] and entry["last_error"] not in told:
            echo(
                printable(
                    f"{name}: last attempt {_ago(entry['last_attempt'])} "
                    f"FAILED: {entry['last_error']}"
                )
            )
        for c in entry["collections"]:
            _print_collection(name, c, ctx.verbosity)
    return 1 if failed else 0
