"""Memory for one large item through the bounded HTTP reading (a script, not a test).

Run: ``python tests/bench/bench_large_item.py [MIB ...]``. For each size, one contact
whose Picture is that many MiB of base64 is downloaded with one Sync from the
devserver; prints the peak memory the client allocates (tracemalloc) as a multiple of
the item's size (issue 14 item 7: "a small multiple of its size").
"""

from __future__ import annotations

import base64
import os
import sys
import tempfile
import tracemalloc
from pathlib import Path

from eassync.demo_data import contact
from eassync.devserver import DevServer
from eassync.eas.client import AccountSettings, CollectionRequest, EasClient, SyncOptions

MIB = 1 << 20


def measure(mib: int) -> tuple[float, float]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        DevServer(data_dir=Path(tmp) / "server", users={"alice": "secret"}) as srv,
    ):
        folder = srv.store.default_folder("alice", 9)
        picture = base64.b64encode(os.urandom(mib * 3 * MIB // 4)).decode()
        srv.store.add_item("alice", folder, contact({"FirstName": "Big", "Picture": picture}))
        del picture
        settings = AccountSettings(
            name="bench",
            url=srv.url,
            username="alice",
            password="secret",
            state_dir=Path(tmp) / "state",
        )
        with EasClient(settings) as client:
            (first,) = client.sync([CollectionRequest(folder, "0", options=SyncOptions())])
            tracemalloc.start()
            (answer,) = client.sync([CollectionRequest(folder, first.sync_key, get_changes=True)])
            current, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            assert len(answer.commands) == 1
    return peak / (mib * MIB), current / (mib * MIB)


def main() -> None:
    for mib in [int(a) for a in sys.argv[1:]] or [8, 32]:
        peak, kept = measure(mib)
        print(f"{mib:4d} MiB item: peak {peak:.1f}x its size while reading, {kept:.1f}x kept")


if __name__ == "__main__":
    main()
