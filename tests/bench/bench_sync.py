#!/usr/bin/env python3
"""Benchmark of `eassync sync` against the bundled devserver, side by side with vdirsyncer.

Prints figures; asserts nothing (benchmarks are not tests). Run:

    python tests/bench/bench_sync.py                  # N = 10,000 contacts
    python tests/bench/bench_sync.py --n 2000 --small 200
    python tests/bench/bench_sync.py --vdirsyncer /path/to/venv/bin/vdirsyncer --repeat 5

Measured per run of the real CLI in a subprocess: wall time, CPU time (user+sys of the
child), peak RSS of the child, and EAS requests (from the devserver's stats).
Scenarios: initial download of N contacts, a no-op re-run, 100 changes (50 local
edits + 50 server edits). For comparison, vdirsyncer copies the same N files between
two vdir folders (initial and no-op). Memory flatness: the initial download is also
run with --small contacts and the peak RSS compared.

Wall times on a shared machine vary by ±30 % from run to run, so each round runs
eassync and then vdirsyncer (side by side, fresh folders and a fresh devserver each
round) and the figures are medians over --repeat rounds; the ratios are the median
of the per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

USER, PASSWORD = "bench", "bench-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_measured(argv: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Wall, CPU and peak RSS of one child process (os.wait4 gives its own rusage)."""
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace"))
            raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
    }


class Devserver:
    def __init__(self, folder: Path, n: int) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/Microsoft-Server-ActiveSync"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "eassync",
                "devserver",
                "--port",
                str(self.port),
                "--data",
                str(folder),
                "--user",
                f"{USER}:{PASSWORD}",
                "--seed-contacts",
                str(n),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                self.stats()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit("devserver did not start") from None
                time.sleep(0.1)

    def _call(self, path: str, payload: dict | None = None) -> dict:
        data = json.dumps(payload).encode() if payload is not None else None
        req = urllib.request.Request(self.base + path, data=data, method="POST" if data else "GET")
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict:
        return self._call("/_devserver/stats")

    def requests(self) -> int:
        return sum(self.stats()["requests"].values())

    def items(self) -> dict:
        return self._call(f"/_devserver/items?user={USER}&folder_type=9")

    def change(self, server_id: str, fields: dict) -> None:
        self._call(
            "/_devserver/items",
            {
                "op": "change",
                "user": USER,
                "folder_type": 9,
                "server_id": server_id,
                "fields": fields,
            },
        )

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def eassync_config(folder: Path, url: str) -> Path:
    config = folder / "config.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            general: {{status_dir: {folder / "state"}}}
            accounts:
              bench: {{url: {url}, username: {USER}, password: {PASSWORD}}}
            storages:
              contacts: {{type: vdir, path: {folder / "contacts"}, fileext: .vcf}}
            pairs:
              bench:
                account: bench
                remote: {{default: contacts}}
                local: contacts
            """
        )
    )
    config.chmod(0o600)
    return config


def bench_eassync(folder: Path, n: int, *, changes: bool) -> dict[str, dict[str, float]]:
    server = Devserver(folder / "server", n)
    try:
        config = eassync_config(folder, server.url)
        sync = [sys.executable, "-m", "eassync", "-q", "-c", str(config), "sync"]
        results = {}
        for name in ("initial", "noop"):
            before = server.requests()
            results[name] = run_measured(sync)
            results[name]["requests"] = server.requests() - before
        if changes:
            files = sorted((folder / "contacts").glob("*.vcf"))[:50]
            for path in files:
                text = path.read_text().replace("END:VCARD", "NOTE:edited locally\r\nEND:VCARD")
                path.write_text(text)
            for server_id in sorted(server.items())[-50:]:
                server.change(server_id, {"FirstName": "Changed", "LastName": server_id})
            before = server.requests()
            results["100 changes"] = run_measured(sync)
            results["100 changes"]["requests"] = server.requests() - before
        return results
    finally:
        server.stop()


def bench_vdirsyncer(vdirsyncer: str, folder: Path, source: Path) -> dict[str, dict[str, float]]:
    a, b = folder / "a", folder / "b"
    shutil.copytree(source, a / "contacts")
    (b / "contacts").mkdir(parents=True)
    config = folder / "vdirsyncer.conf"
    config.write_text(
        textwrap.dedent(
            f"""\
            [general]
            status_path = "{folder / "status"}"
            [pair bench]
            a = "a"
            b = "b"
            collections = ["contacts"]
            [storage a]
            type = "filesystem"
            path = "{a}"
            fileext = ".vcf"
            [storage b]
            type = "filesystem"
            path = "{b}"
            fileext = ".vcf"
            """
        )
    )
    env = dict(os.environ, VDIRSYNCER_CONFIG=str(config))
    subprocess.run([vdirsyncer, "discover"], env=env, check=True, capture_output=True)
    return {
        "initial": run_measured([vdirsyncer, "sync"], env),
        "noop": run_measured([vdirsyncer, "sync"], env),
    }


def show(title: str, results: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}")
    print(f"  {'scenario':14} {'wall s':>8} {'cpu s':>8} {'peak RSS MB':>12} {'requests':>9}")
    for name, r in results.items():
        req = f"{r['requests']:>9.0f}" if "requests" in r else f"{'-':>9}"
        print(f"  {name:14} {r['wall_s']:8.2f} {r['cpu_s']:8.2f} {r['rss_mb']:12.1f} {req}")


def medians(rounds: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per scenario and figure, the median over the rounds."""
    return {
        name: {key: statistics.median(r[name][key] for r in rounds) for key in rounds[0][name]}
        for name in rounds[0]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=1_000, help="N for the memory check")
    parser.add_argument("--vdirsyncer", default=shutil.which("vdirsyncer"))
    parser.add_argument("--repeat", type=int, default=3, help="rounds (medians are shown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="eassync-bench-") as tmp:
        root = Path(tmp)
        ours: list[dict[str, dict[str, float]]] = []
        theirs: list[dict[str, dict[str, float]]] = []
        for number in range(args.repeat):
            folder = root / f"round{number}"
            ours.append(bench_eassync(folder / "big", args.n, changes=True))
            if args.vdirsyncer:
                source = folder / "big" / "contacts"
                theirs.append(bench_vdirsyncer(args.vdirsyncer, folder / "vds", source))
            shutil.rmtree(folder)
        rounds = f"median of {args.repeat} round{'s' if args.repeat > 1 else ''}"
        big = medians(ours)
        show(f"eassync, {args.n} contacts (devserver in another process; {rounds})", big)
        small = bench_eassync(root / "small", args.small, changes=False)
        show(f"eassync, {args.small} contacts (memory check)", small)
        rss_ratio = big["initial"]["rss_mb"] / small["initial"]["rss_mb"]
        print(f"\n  peak RSS {args.n} vs {args.small} items: x{rss_ratio:.2f}")
        print(
            f"  requests for the initial download: {big['initial']['requests']:.0f} "
            f"(ceil(N/512) = {-(-args.n // 512)})"
        )
        if theirs:
            show(f"vdirsyncer, {args.n} files, filesystem → filesystem ({rounds})", medians(theirs))
            for name in ("initial", "noop"):
                ratios = [
                    o[name]["wall_s"] / t[name]["wall_s"] for o, t in zip(ours, theirs, strict=True)
                ]
                listed = ", ".join(f"{r:.2f}" for r in ratios)
                print(
                    f"  eassync/vdirsyncer wall time, {name}: {statistics.median(ratios):.2f} "
                    f"(rounds: {listed})"
                )
        else:
            print("\n(vdirsyncer not found: pass --vdirsyncer PATH for the comparison)")


if __name__ == "__main__":
    main()
