#!/usr/bin/env python3
"""Benchmark: N contacts between the devserver (EAS) and a real Radicale (CardDAV).

Prints figures; asserts nothing (benchmarks are not tests). Run:

    python tests/bench/bench_dav.py            # N = 2,000
    python tests/bench/bench_dav.py --n 500

The sync runs in-process (``eassync.runner.run_sync``, what ``eassync sync`` calls) so
that the DAV requests can be counted per method. Scenarios: the first sync (N server
contacts go into an empty address book), a no-op re-run (goal: one DAV request per
collection), and a run after 20 edits on each side. Radicale's own PUT cost grows
with the size of the collection (it rewrites its cache per item), so the items/s
of the first sync measure Radicale as much as eassync.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from eassync.config import load_config
from eassync.devserver import DevServer
from eassync.runner import run_sync
from eassync.storage import dav
from eassync.storage.base import Item
from eassync.sync.plan import LogReporter
from tests.e2e.helpers import PASSWORD, USER, person
from tests.integration.conftest_dav import start_radicale

DAV_CALLS: Counter[str] = Counter()


@contextmanager
def counting_dav_requests() -> Iterator[Counter[str]]:
    """Count DavSession requests by method for the duration of the block."""
    original = dav.DavSession.request
    DAV_CALLS.clear()

    def counted(self: dav.DavSession, method: str, url: str, **kwargs: Any) -> Any:
        DAV_CALLS[method] += 1
        return original(self, method, url, **kwargs)

    dav.DavSession.request = counted  # type: ignore[method-assign]
    try:
        yield DAV_CALLS
    finally:
        dav.DavSession.request = original  # type: ignore[method-assign]


def one_run(config_path: Path, srv: DevServer) -> tuple[float, Counter[str], int]:
    before = sum(srv.requests.values())
    config = load_config(config_path)
    with counting_dav_requests() as calls:
        started = time.perf_counter()
        outcomes = run_sync(config, [], reporter=LogReporter())
        wall = time.perf_counter() - started
        counted = Counter(calls)
    for outcome in outcomes:
        if outcome.exit_code:
            raise SystemExit(f"sync failed: {outcome.error or outcome.reports}")
    return wall, counted, sum(srv.requests.values()) - before


def show(label: str, wall: float, calls: Counter[str], eas: int, items: int = 0) -> None:
    rate = f", {items / wall:,.0f} items/s" if items else ""
    methods = ", ".join(f"{m} {n}" for m, n in sorted(calls.items()))
    print(
        f"{label:<22} {wall:7.2f} s{rate}; DAV requests {sum(calls.values())} ({methods}); "
        f"EAS requests {eas}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="contacts on the server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["EASSYNC_STATE_DIR"] = str(folder / "state")
        os.environ["EASSYNC_BENCH_PASSWORD"] = PASSWORD
        radicale = start_radicale(folder / "radicale")
        try:
            os.environ["EASSYNC_DAV_PASSWORD"] = radicale.password or ""
            url = radicale.new_collection("carddav")
            with DevServer(data_dir=folder / "server", users={USER: PASSWORD}) as srv:
                folder_id = srv.store.default_folder(USER, 9)
                srv.store.add_items_bulk(USER, folder_id, [person(i) for i in range(args.n)])
                config = folder / "config.yaml"
                config.write_text(
                    textwrap.dedent(
                        f"""\
                        general:
                          status_dir: {folder / "state"}
                        accounts:
                          dev:
                            url: {srv.url}
                            username: {USER}
                            password: {{env: EASSYNC_BENCH_PASSWORD}}
                        storages:
                          book:
                            type: carddav
                            url: {url}
                            username: {radicale.username}
                            password: {{env: EASSYNC_DAV_PASSWORD}}
                        pairs:
                          contacts:
                            account: dev
                            remote: {{default: contacts}}
                            local: book
                        """
                    )
                )
                print(f"{args.n} contacts, devserver ⇄ Radicale, one address book")
                show("first sync", *one_run(config, srv), items=args.n)
                show("no-op run", *one_run(config, srv))
                show("no-op run (again)", *one_run(config, srv))

                # 20 edits on each side
                server_ids = sorted(srv.store.items(USER, folder_id))[:20]
                for i, server_id in enumerate(server_ids):
                    srv.store.change_item(USER, folder_id, server_id, person(i, "Edited"))
                storage = dav.DavStorage(radicale.session("carddav"), url, "carddav")
                listing = sorted(storage.list())[-20:]
                for ident, item, etag in storage.get_many([i for i, _ in listing]):
                    assert isinstance(item, Item)
                    raw = item.raw.replace(b"Example", b"Changed", 1)
                    storage.update(ident, Item(raw, item.uid), etag)
                show("20 + 20 edits", *one_run(config, srv), items=40)
                show("no-op run", *one_run(config, srv))
        finally:
            radicale.stop()


if __name__ == "__main__":
    main()
