#!/usr/bin/env python3
"""Per-call cost of the content handlers' methods, in microseconds.

Prints figures; asserts nothing (benchmarks are not tests). Run:

    python tests/bench/bench_convert.py            # contacts and calendar
    python tests/bench/bench_convert.py --repeat 50

Corpora: the vCard fixtures (tests/data/contacts, readable ones), 200 generated
contacts of the devserver's seed (what `eassync sync` downloads in the benchmarks),
and the calendar fixtures (tests/data/calendar) for ``eassync.convert.calendar``.

"cold" calls start from empty conversion caches (the first time a run sees those
bytes); "warm" calls repeat the same bytes (what the engine does for one item within
a run: fingerprint, project, merge of the same download). The "download" row is the
path of one server item in an initial download: from_eas + merge(·, None) +
fingerprint of the result; the "engine download path" row adds what the sync engine
calls besides (fingerprint of the download and of its projection, describe).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from eassync.convert import calendar, contacts  # noqa: E402
from eassync.convert.base import ContentHandler  # noqa: E402
from eassync.devserver.seed import make_contacts  # noqa: E402
from eassync.errors import ConversionError  # noqa: E402
from eassync.storage.base import Item  # noqa: E402
from eassync.storage.vdir import read_uid  # noqa: E402

VERSION = "16.1"


def load_items(folder: Path, handler: ContentHandler) -> list[Item]:
    """The fixtures the handler can convert (the broken_* ones are for error tests)."""
    items = []
    for path in sorted(folder.iterdir()):
        raw = path.read_bytes()
        item = Item(raw, read_uid(raw))
        try:
            handler.to_eas(item, VERSION)
        except (ConversionError, ValueError):
            continue
        items.append(item)
    return items


def seeded_contacts(n: int) -> list[Item]:
    handler = contacts.HANDLER
    return [handler.from_eas(data, VERSION) for data in make_contacts(n)]


def clear(module: ModuleType) -> None:
    """Empty the module's conversion caches, if it has any."""
    clear_caches = getattr(module, "clear_caches", None)
    if clear_caches is not None:
        clear_caches()


def per_call_us(
    calls: Sequence[Callable[[], Any]], repeat: int, before: Callable[[], None] | None = None
) -> float:
    """Best of ``repeat`` rounds of the mean time per call, in µs (the minimum is the
    figure least disturbed by other processes, as timeit advises)."""
    rounds = []
    for _ in range(repeat):
        total = 0.0
        for call in calls:
            if before is not None:
                before()
            started = time.perf_counter()
            call()
            total += time.perf_counter() - started
        rounds.append(total / len(calls) * 1e6)
    return min(rounds)


def bench(title: str, module: ModuleType, items: list[Item], repeat: int) -> None:
    handler: ContentHandler = module.HANDLER
    remote = [handler.from_eas(handler.to_eas(item, VERSION), VERSION) for item in items]
    data = [handler.to_eas(item, VERSION) for item in items]
    pairs = list(zip(items, remote, data, strict=True))

    def download(element: Any) -> None:
        new = handler.merge(handler.from_eas(element, VERSION), None)
        handler.fingerprint(new)

    def engine_download(element: Any) -> None:
        # what the sync engine calls for one server Add (engine.py _apply_remote,
        # _hashes, _add_local)
        remote = handler.from_eas(element, VERSION)
        handler.fingerprint(remote)
        handler.fingerprint(handler.project(remote, VERSION))
        new = handler.merge(remote, None)
        handler.describe(new)
        handler.fingerprint(new)

    rows: list[tuple[str, list[Callable[[], Any]]]] = [
        ("fingerprint", [lambda i=i: handler.fingerprint(i) for i, _, _ in pairs]),
        ("to_eas", [lambda i=i: handler.to_eas(i, VERSION) for i, _, _ in pairs]),
        ("from_eas", [lambda d=d: handler.from_eas(d, VERSION) for _, _, d in pairs]),
        ("project", [lambda i=i: handler.project(i, VERSION) for i, _, _ in pairs]),
        ("merge(remote, local)", [lambda i=i, r=r: handler.merge(r, i) for i, r, _ in pairs]),
        ("merge(remote, None)", [lambda r=r: handler.merge(r, None) for _, r, _ in pairs]),
        ("with_uid", [lambda i=i: handler.with_uid(i, "bench-uid") for i, _, _ in pairs]),
        ("describe", [lambda i=i: handler.describe(i) for i, _, _ in pairs]),
        ("download", [lambda d=d: download(d) for _, _, d in pairs]),
        ("engine download path", [lambda d=d: engine_download(d) for _, _, d in pairs]),
    ]
    size = statistics.mean(len(item.raw) for item in items)
    print(f"\n{title}: {len(items)} items, mean {size:.0f} bytes")
    print(f"  {'method':<22} {'cold µs':>9} {'warm µs':>9}")
    for name, calls in rows:
        cold = per_call_us(calls, repeat, before=lambda: clear(module))
        clear(module)
        warm = per_call_us(calls, repeat)
        print(f"  {name:<22} {cold:9.1f} {warm:9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="rounds per figure")
    parser.add_argument("--seeded", type=int, default=200, help="generated contacts")
    args = parser.parse_args()
    data = ROOT / "tests" / "data"
    fixtures = load_items(data / "contacts", contacts.HANDLER)
    bench("contacts, fixture corpus", contacts, fixtures, args.repeat)
    bench("contacts, devserver seed", contacts, seeded_contacts(args.seeded), args.repeat)
    events = load_items(data / "calendar", calendar.HANDLER)
    bench("calendar, fixture corpus", calendar, events, args.repeat)


if __name__ == "__main__":
    main()
