"""``eassync status``: per pair, when it last synced, how many items, what failed."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from eassync.cli.output import echo, echo_block


def _ago(ts: float | None) -> str:
    if ts is None:
        return "never"
    seconds = max(0, time.time() - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.pass_obj
def command(ctx: Any, as_json: bool) -> int:
    """Show per pair: last sync, item counts, last error. Makes no network request."""
    from eassync.runner import status_path
    from eassync.sync.status import Status

    config = ctx.load_config()
    doc: dict[str, Any] = {}
    for name in sorted(config.pairs):
        path = status_path(config, name)
        if not path.exists():
            doc[name] = {"synced": False, "collections": []}
            continue
        with Status(path) as status:
            doc[name] = {
                "synced": True,
                "status_file": str(path),
                "collections": [
                    {
                        "collection": info.collection,
                        "label": info.label,
                        "items": info.items,
                        "last_sync": info.last_sync,
                        "last_error": info.last_error,
                        "last_counts": info.last_counts,
                        "resyncing": info.resyncing,
                    }
                    for info in status.collections()
                ],
            }
    if as_json:
        echo_block(json.dumps(doc, indent=2, ensure_ascii=False))
        return 0
    failed = False
    for name, entry in doc.items():
        pair = config.pairs[name]
        if not entry["synced"]:
            echo(f"{name}: never synced ({pair.account} {pair.describe_remote()} ⇄ {pair.local})")
            continue
        for c in entry["collections"]:
            where = c["label"] or c["collection"]
            line = f"{name}/{where}: {c['items']} items, last sync {_ago(c['last_sync'])}"
            if c["last_error"]:
                failed = True
                line += f", last error: {c['last_error']}"
            echo(line)
    return 1 if failed else 0
