"""``eassync gal QUERY``: search the server's global address list."""

from __future__ import annotations

import json
from typing import Any

import click

from eassync.cli.complete import complete_accounts
from eassync.cli.output import echo, echo_block
from eassync.cli.traceopt import trace_options


@click.command()
@click.argument("query", metavar="QUERY")
@click.option(
    "-a",
    "--account",
    metavar="NAME",
    help="The account (default: the only one).",
    shell_complete=complete_accounts,
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "mutt", "vcard", "json"]),
    default="text",
    show_default=True,
    help="mutt: query_command lines for mutt/neomutt/aerc; vcard: vCard 3.0 stream.",
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option(
    "--limit",
    type=click.IntRange(1, 100),
    default=50,
    show_default=True,
    help="Most entries (the GAL gives at most 100).",
)
@click.option("--pictures", is_flag=True, help="Ask for photos too (EAS 14.1+; vCard/JSON).")
@click.option("--no-cache", is_flag=True, help="Ask the server even if a recent answer is cached.")
@trace_options
@click.pass_obj
def command(
    ctx: Any,
    query: str,
    account: str | None,
    fmt: str,
    as_json: bool,
    limit: int,
    pictures: bool,
    no_cache: bool,
) -> int:
    """Search the global address list for QUERY (names or addresses). Exits 1 when
    nothing matches, saying why if the query may be too short for the server."""
    from eassync.accounts import ClientPool
    from eassync.cli.accountopt import pick_account
    from eassync.errors import UsageError
    from eassync.pim import gal
    from eassync.pim.text import safe

    if as_json:
        fmt = "json"
    if not query.strip():
        raise UsageError("the query is empty")
    config = ctx.load_config()
    name = pick_account(config, account)
    path = gal.cache_file(config.general.status_dir, name, query, limit, pictures)
    result = None if no_cache else gal.cache_load(path)
    if result is None:
        with ClientPool(config) as pool:
            client = pool.client(name)
            size = 64 * 1024 if pictures else None
            result = gal.search(
                lambda start, end: client.search_gal(query, start, end, picture_max_size=size),
                query,
                limit=limit,
            )
        gal.cache_store(path, result)
    if fmt == "json":
        echo_block(json.dumps(gal.to_json(result, name), indent=2, ensure_ascii=False))
    elif fmt == "mutt":
        # mutt shows the first line, and an empty list, whatever the exit status
        for line in gal.format_mutt(result, name):
            echo_block(line, layout="\t")  # format_mutt escaped each field
    elif fmt == "vcard":
        echo_block(gal.format_vcards(result), nl=False, layout="\r")
    else:
        for line in gal.format_text(result):
            echo(line)
    if not result.entries:
        if fmt != "mutt":
            echo(safe(gal.empty_note(query)), err=True)
        return 1
    return 0
