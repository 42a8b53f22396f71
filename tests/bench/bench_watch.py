"""Benchmark: does ``eassync watch`` stay flat in memory over thousands of Ping cycles?

Runs the daemon in-process against the devserver. Each cycle: wait until the daemon
is idle in a Ping, change one contact on the server, wait for the Ping-triggered
sync to finish. Prints the Python heap (tracemalloc) and the process RSS at
checkpoints, and the server change → synced latency.

    python tests/bench/bench_watch.py [--cycles 3000] [--heartbeat 1]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from eassync.config import load_config
from eassync.devserver import DevServer
from eassync.watch.daemon import Daemon, SyncRecord, WatchOptions
from tests.e2e.helpers import PASSWORD, USER, cli_env, person, write_config


def rss_kib() -> int:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def other_heap() -> int:
    """The Python heap without the converters' caches (bounded LRUs keyed by card
    content: they fill up to their bound, ~4000 cycles here, then stay) and without
    this script's own latency list: what the watch machinery itself keeps."""
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [
            tracemalloc.Filter(False, "*/eassync/convert/*"),
            tracemalloc.Filter(False, __file__),
        ]
    )
    return sum(stat.size for stat in snapshot.statistics("filename"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=3000)
    parser.add_argument("--heartbeat", type=int, default=1)
    args = parser.parse_args()
    os.environ.update(cli_env())
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ["EASSYNC_STATE_DIR"] = str(tmp / "state")
        with DevServer(data_dir=tmp / "server", users={USER: PASSWORD}) as srv:
            folder_id = srv.store.default_folder(USER, 9)
            server_id = srv.store.add_item(USER, folder_id, person(0))
            config = write_config(tmp, srv.url)
            synced = threading.Event()

            def on_sync(record: SyncRecord) -> None:
                if record.trigger == "server":
                    synced.set()

            stop = threading.Event()
            daemon = Daemon(
                lambda: load_config(config),
                [],
                WatchOptions(heartbeat=args.heartbeat, debounce=0.05),
                stop=stop,
                on_sync=on_sync,
            )
            thread = threading.Thread(target=daemon.run, daemon=True)
            thread.start()

            def idle() -> bool:
                rt = daemon._rt
                pingers = list(rt.pingers.values()) if rt else []
                return bool(pingers) and all(p.armed for p in pingers) and not daemon._jobs

            tracemalloc.start(int(os.environ.get("BENCH_FRAMES", "1")))
            latencies: list[float] = []
            checkpoints = sorted({100, 500, *range(1000, args.cycles + 1, 1000), args.cycles})
            print(f"{'cycles':>7} {'heap KiB':>9} {'other KiB':>10} {'RSS KiB':>9} {'Pings':>6}")
            started_all = time.monotonic()
            for cycle in range(1, args.cycles + 1):
                while not idle():
                    time.sleep(0.001)
                synced.clear()
                started = time.monotonic()
                srv.store.change_item(USER, folder_id, server_id, person(cycle))
                if not synced.wait(60):
                    raise SystemExit(f"cycle {cycle}: no sync within 60 s")
                latencies.append(time.monotonic() - started)
                if cycle in checkpoints:
                    gc.collect()
                    heap, _ = tracemalloc.get_traced_memory()
                    rest = other_heap()
                    print(
                        f"{cycle:>7} {heap // 1024:>9} {rest // 1024:>10} {rss_kib():>9} "
                        f"{srv.requests['Ping']:>6}"
                    )
            elapsed = time.monotonic() - started_all
            stop.set()
            thread.join(timeout=30)
    latencies.sort()
    print(
        f"{args.cycles} cycles in {elapsed:.1f} s; server change → synced: median "
        f"{statistics.median(latencies) * 1000:.1f} ms, "
        f"p95 {latencies[int(len(latencies) * 0.95)] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
