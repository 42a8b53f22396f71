"""``eassync discover [ACCOUNT]``: every folder the server lists, and who uses it."""

from __future__ import annotations

import json
from typing import Any

import click

from eassync.cli.complete import complete_accounts
from eassync.cli.output import echo, echo_block
from eassync.cli.traceopt import trace_options
from eassync.errors import ConfigError

TYPE_NAMES = {
    1: "generic",
    2: "inbox",
    3: "drafts",
    4: "deleted items",
    5: "sent items",
    6: "outbox",
    7: "tasks (default)",
    8: "calendar (default)",
    9: "contacts (default)",
    10: "notes (default)",
    11: "journal (default)",
    12: "mail",
    13: "calendar",
    14: "contacts",
    15: "tasks",
    16: "journal",
    17: "notes",
    18: "unknown",
    19: "recipient cache",
}


@click.command()
@click.argument("account", required=False, shell_complete=complete_accounts)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@trace_options
@click.pass_obj
def command(ctx: object, account: str | None, as_json: bool) -> int:
    """List the folders an account's server shows (all accounts without ACCOUNT).

    For each folder: name, type, parent, id, and the pairs that sync it. EAS shows only
    the folders the server lists for this user: shared or public folders appear only if
    the server exposes them through FolderSync.
    """
    from eassync.accounts import ClientPool
    from eassync.cli.text import printable
    from eassync.convert.fieldnames import readable_list
    from eassync.pairs import folder_kind, select_folders

    config = ctx.load_config()  # type: ignore[attr-defined]
    names = [account] if account else sorted(config.accounts)
    for name in names:
        if name not in config.accounts:
            known = ", ".join(sorted(config.accounts)) or "none"
            raise ConfigError(f"no account named {name!r} in {config.path} (accounts: {known})")
    out: dict[str, list[dict[str, Any]]] = {}
    urls: dict[str, str] = {}
    with ClientPool(config) as pool:
        for name in names:
            folders = pool.folders(name)
            urls[name] = pool.client(name).url  # the discovered or redirected URL
            users: dict[str, list[str]] = {}
            drops: dict[str, set[str]] = {}
            for pair in config.pairs.values():
                if pair.account != name:
                    continue
                subdirs, slots = _learnt(config, pair)
                for sid, dropped in slots.items():
                    drops.setdefault(sid, set()).update(dropped)
                try:
                    for sel in select_folders(pair.name, pair.remote, folders, subdirs):
                        users.setdefault(sel.folder.server_id, []).append(pair.name)
                except Exception as exc:  # a pair that matches nothing is worth saying
                    echo(f"note: {exc}", err=True)
            by_id = {f.server_id: f for f in folders}
            rows: list[dict[str, Any]] = []
            for f in sorted(
                folders, key=lambda f: (folder_kind(f) is None, f.type, f.display_name)
            ):
                parent = by_id.get(f.parent_id)
                rows.append(
                    {
                        "name": f.display_name,
                        "type": f.type,
                        "type_name": TYPE_NAMES.get(f.type, str(f.type)),
                        "kind": folder_kind(f),
                        "parent": parent.display_name if parent else None,
                        "id": f.server_id,
                        "pairs": users.get(f.server_id, []),
                        # learnt by syncing (eassync.sync.slots): fields it drops
                        "server_does_not_keep": readable_list(drops.get(f.server_id, ())),
                        "server_does_not_keep_fields": sorted(drops.get(f.server_id, ())),
                    }
                )
            out[name] = rows
    if as_json:
        echo_block(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    for name, rows in out.items():
        echo(f"account {name} ({urls[name]}): {len(rows)} folders")
        for r in rows:
            mark = "*" if r["kind"] else " "
            used = f"  ← {', '.join(r['pairs'])}" if r["pairs"] else ""
            inside = f"  in {r['parent']}" if r["parent"] else ""
            echo(
                printable(
                    f" {mark} {r['name']!s:30} {r['type_name']!s:20} id={r['id']}{inside}{used}"
                )
            )
            if r["server_does_not_keep"]:
                echo(
                    "     the server does not keep: "
                    + ", ".join(r["server_does_not_keep"])
                    + " (local values are kept)"
                )
        echo(
            "  (* = contacts, calendar, tasks or notes: can be synced. EAS shows only the folders "
            "the server lists; shared folders appear only if the server exposes them.)"
        )
    return 0


def _learnt(config: Any, pair: Any) -> tuple[dict[str, str], dict[str, list[str]]]:
    """From the pair's status (read, never written): the local subfolders of the
    folders it synced, and per folder the fields the server is known to drop."""
    from eassync.cli.status import dropped_fields
    from eassync.errors import EassyncError
    from eassync.runner import known_subdirs, status_path
    from eassync.sync.status import Status

    path = status_path(config, pair.name)
    if not path.exists():
        return {}, {}
    try:
        with Status.snapshot(path) as status:
            slots = {
                info.collection: dropped_fields(info.slots)
                for info in status.collections()
                if info.slots
            }
            return known_subdirs(status), slots
    except EassyncError as exc:
        echo(f"note: pair {pair.name}: {exc}", err=True)
        return {}, {}
