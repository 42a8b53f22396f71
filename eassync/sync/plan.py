"""What one pass over a collection did, or (dry run) would do: counts per side,
actions, failures and conflicts, for the one-line summary and ``--json``.

A :class:`Reporter` receives the same events live (progress output, logging); the
engine fills a :class:`SyncReport` either way.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Side = Literal["local", "remote"]
ActionKind = Literal["add", "change", "delete", "ignore", "readd"]

#: normal runs keep at most this many actions in the report (memory stays flat in N);
#: a dry run keeps them all, since the plan is its whole point
MAX_RECORDED_ACTIONS = 1000

log = logging.getLogger("eassync.sync")


@dataclass
class SideCounts:
    added: int = 0
    changed: int = 0
    deleted: int = 0

    def __str__(self) -> str:
        return f"+{self.added} ~{self.changed} -{self.deleted}"


@dataclass(frozen=True)
class Action:
    """One write on one side. ``name`` is the item's ``describe()`` summary."""

    side: Side
    kind: ActionKind
    name: str
    ident: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Failure:
    """An item that could not be synced this pass; the others went on."""

    side: Side
    ident: str | None
    name: str
    reason: str


@dataclass(frozen=True)
class ConflictRecord:
    """An item changed on both sides. ``resolution`` is the policy that decided it,
    or ``"unresolved"`` under ``conflict: error`` (the pass then fails, exit 1)."""

    uid: str | None
    local_name: str
    remote_name: str
    resolution: str

    @property
    def unresolved(self) -> bool:
        return self.resolution == "unresolved"


@dataclass
class SyncReport:
    collection: str
    dry_run: bool = False
    local: SideCounts = field(default_factory=SideCounts)
    remote: SideCounts = field(default_factory=SideCounts)
    actions: list[Action] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    conflicts: list[ConflictRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: the server had lost our state; this pass re-downloaded everything
    resynced: bool = False
    #: a dry run saw only the first batch of server changes (see engine docstring)
    incomplete: bool = False

    @property
    def ok(self) -> bool:
        return not self.failures and not any(c.unresolved for c in self.conflicts)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def summary(self) -> str:
        """``contacts: local +1 ~0 -0, remote +0 ~2 -0, 1 failed, 1 conflict``."""
        prefix = "(dry run) " if self.dry_run else ""
        text = f"{prefix}{self.collection}: local {self.local}, remote {self.remote}"
        if self.failures:
            text += f", {len(self.failures)} failed"
        if self.conflicts:
            n = len(self.conflicts)
            text += f", {n} conflict{'s' if n > 1 else ''}"
            unresolved = sum(c.unresolved for c in self.conflicts)
            if unresolved:
                text += f" ({unresolved} unresolved)"
        if self.resynced:
            text += ", resynced"
        if self.incomplete:
            text += ", plan incomplete"
        return text

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["summary"] = self.summary()
        return data


class Reporter(Protocol):
    """Live events of a pass (the CLI prints them with -v)."""

    def action(self, collection: str, action: Action) -> None: ...

    def failure(self, collection: str, failure: Failure) -> None: ...

    def conflict(self, collection: str, conflict: ConflictRecord) -> None: ...

    def note(self, collection: str, text: str) -> None: ...


@runtime_checkable
class ProgressReporter(Reporter, Protocol):
    """A reporter that also shows how far a pass is (the CLI's live line on a terminal).
    The runner calls :meth:`begin` when a pair starts (``collection`` None) and when
    each of its collections starts, and :meth:`estimate` when the server announced how
    many items a long download brings (GetItemEstimate)."""

    def begin(self, pair: str, collection: str | None) -> None: ...

    def estimate(self, collection: str, total: int) -> None: ...


class LogReporter:
    """The default: actions at INFO, failures and conflicts at WARNING."""

    def action(self, collection: str, action: Action) -> None:
        note = f" ({action.note})" if action.note else ""
        log.info("%s: %s %s %s%s", collection, action.side, action.kind, action.name, note)

    def failure(self, collection: str, failure: Failure) -> None:
        # by name (summary or file), never only by a ServerId or UID
        log.warning(
            "%s: %s item %s failed: %s", collection, failure.side, failure.name, failure.reason
        )

    def conflict(self, collection: str, conflict: ConflictRecord) -> None:
        log.warning(
            "%s: conflict on %s (local %r, remote %r): %s",
            collection,
            conflict.uid,
            conflict.local_name,
            conflict.remote_name,
            conflict.resolution,
        )

    def note(self, collection: str, text: str) -> None:
        log.info("%s: %s", collection, text)
