"""Conflict policies: what to do when an item changed on both sides since the last pass.

A policy only *decides*; the engine carries the decision out (writes, uploads,
status rows). Policies:

- ``remote_wins``: the server version replaces the local one (local properties EAS
  cannot hold are kept, via ``handler.merge``).
- ``local_wins``: the local version is uploaded over the server's.
- ``keep_both``: the server version replaces the original local item, and the local
  version is kept as a new item with a new UID, uploaded as a new server item.
- ``error``: nothing is written for that item; the conflict is reported, the rest
  of the collection syncs, the pass ends with exit code 1, and the same conflict is
  reported again on each pass until the user resolves it (edit the local item or
  change the policy). The server version is kept in the status meanwhile, since the
  server will not send it again.
- ``{command: [...]}``: an external merge tool. The engine stays free of I/O: the
  CLI supplies a :data:`MergeRunner` (see :func:`command_runner`, the one helper here
  that runs a process).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eassync.errors import ConfigError, ItemError
from eassync.model.items import Item
from eassync.sync.decide import Winner

#: ``(local, remote) → merged raw bytes``; raises ItemError when the tool fails
MergeRunner = Callable[[Item, Item], bytes]


@dataclass(frozen=True)
class Resolution:
    winner: Winner
    #: the merged item, for ``winner == "merged"``
    merged: Item | None = None


class ConflictPolicy(Protocol):
    @property
    def name(self) -> str: ...

    def resolve(self, local: Item, remote: Item) -> Resolution: ...


@dataclass(frozen=True)
class FixedPolicy:
    """remote_wins, local_wins, keep_both, error: the same answer for every item."""

    name: str
    winner: Winner

    def resolve(self, local: Item, remote: Item) -> Resolution:
        return Resolution(self.winner)


REMOTE_WINS = FixedPolicy("remote_wins", "remote")
LOCAL_WINS = FixedPolicy("local_wins", "local")
KEEP_BOTH = FixedPolicy("keep_both", "both")
ERROR = FixedPolicy("error", "error")

NAMED_POLICIES: dict[str, FixedPolicy] = {
    p.name: p for p in (REMOTE_WINS, LOCAL_WINS, KEEP_BOTH, ERROR)
}


class ExternalMerge:
    """Ask a merge tool; the merged bytes become the new local item and are uploaded."""

    name = "command"

    def __init__(self, runner: MergeRunner) -> None:
        self._runner = runner

    def resolve(self, local: Item, remote: Item) -> Resolution:
        merged = self._runner(local, remote)
        return Resolution("merged", Item(merged, local.uid))


def policy_from_config(
    value: str | Mapping[str, Any],
    make_runner: Callable[[Sequence[str]], MergeRunner] | None = None,
) -> ConflictPolicy:
    """The pair's ``conflict:`` setting → a policy. ``make_runner`` defaults to
    :func:`command_runner`."""
    if isinstance(value, str):
        if value in NAMED_POLICIES:
            return NAMED_POLICIES[value]
    elif isinstance(value, Mapping) and set(value) == {"command"}:
        command = value["command"]
        if isinstance(command, list) and command and all(isinstance(a, str) for a in command):
            return ExternalMerge((make_runner or command_runner)(command))
    raise ConfigError(
        f"conflict: {value!r} is not one of {', '.join(NAMED_POLICIES)}, or {{command: [...]}}"
    )


class _Run(Protocol):
    def __call__(self, args: Sequence[str]) -> int: ...


def _run_process(args: Sequence[str]) -> int:
    return subprocess.run(list(args), check=False).returncode


def command_runner(command: Sequence[str], run: _Run = _run_process) -> MergeRunner:
    """A MergeRunner that calls ``command LOCAL_FILE REMOTE_FILE`` (two temporary files,
    mode 0600) and reads the merged item back from LOCAL_FILE (vdirsyncer's
    convention). A non-zero exit status or an empty result raises ItemError."""

    def merge(local: Item, remote: Item) -> bytes:
        with tempfile.TemporaryDirectory(prefix="eassync-merge-") as folder:
            paths = []
            for name, item in (("local", local), ("remote", remote)):
                path = os.path.join(folder, name)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(item.raw)
                paths.append(path)
            code = run([*command, *paths])
            if code != 0:
                raise ItemError(f"merge command {command[0]!r} failed with exit status {code}")
            with open(paths[0], "rb") as f:
                merged = f.read()
        if not merged.strip():
            raise ItemError(f"merge command {command[0]!r} left an empty result")
        return merged

    return merge
