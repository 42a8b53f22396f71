"""Benchmark the devserver: seed N contacts, then a full download of them (raw requests).

    python tests/bench/bench_devserver.py [N] [WINDOW]

Prints figures; asserts nothing about time (see the house rules).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere

from eassync.devserver import DevServer
from eassync.eas.wbxml import decode
from tests.unit.test_devserver_helpers import RawClient, collection, only_collection


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    window = int(sys.argv[2]) if len(sys.argv) > 2 else 512
    with tempfile.TemporaryDirectory() as tmp, DevServer(Path(tmp)) as srv:
        started = time.perf_counter()
        srv.store.seed_contacts("alice", n)
        seeded = time.perf_counter() - started
        print(f"seed {n} contacts: {seeded:.2f} s ({n / seeded:,.0f} items/s)")
        size = sum(f.stat().st_size for f in Path(tmp).glob("devserver.sqlite3*"))  # + WAL
        print(f"database size: {size / 1e6:.1f} MB")

        client = RawClient(srv)
        client.provision()
        cid = srv.store.default_folder("alice", 9)
        key = client.prime(cid)
        requests_made = received = wire_bytes = 0
        decode_time = 0.0
        started = time.perf_counter()
        while True:
            answer = client.sync(collection(cid, key, window=window))
            requests_made += 1
            wire_bytes += len(answer.http.content)
            t0 = time.perf_counter()
            decode(answer.http.content)  # what a client pays to read it (done twice here)
            decode_time += time.perf_counter() - t0
            result = only_collection(answer)
            commands = result.find("AirSync:Commands")
            received += len(commands) if commands is not None else 0
            key = result.text("AirSync:SyncKey")
            if result.find("AirSync:MoreAvailable") is None:
                break
        elapsed = time.perf_counter() - started
        print(
            f"full download: {received} items in {requests_made} requests of {window}:"
            f" {elapsed:.2f} s ({received / elapsed:,.0f} items/s,"
            f" {elapsed / requests_made * 1000:.0f} ms/request,"
            f" {wire_bytes / 1e6:.1f} MB WBXML; client-side decode {decode_time:.2f} s of it)"
        )
        assert received == n


if __name__ == "__main__":
    main()
