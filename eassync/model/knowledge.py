"""What an EAS folder holds: per field ("slot", an EAS tag such as
``Contacts:Anniversary``), whether the server keeps it.

Servers store fewer fields than the protocol names (SOGo 5.8 has no Anniversary,
Spouse, second home phone …). Without knowing it, a contact changed on another device
comes back without those fields and a merge would take that as "deleted there", and
after a lost status the server's copy no longer matches the local file by content.

Knowledge grows from two sources, both free of guesses:

* every downloaded item: a slot the server sent is **held**;
* a read-back after a push (see :mod:`eassync.storage.eas`): a slot we sent that does
  not come back is **dropped**, one that does is held.

A slot in neither set is *unclassified*: treated as held by the projection (the
server's copy is predicted to carry it) and as possibly not held by the merge (a local
value is never removed because the server's copy lacks an unclassified slot).

Besides slots, a folder's *habits* are kept here (``habits``): how the server treats
a command, learnt once from what it did (a read-back) and persisted alike, so the
harm is done at most once per folder. Each is told to the user once (``HABITS``).

Pure: the engine persists :meth:`dump` with the collection's status.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

#: the server applies a Change with InstanceId (one occurrence, MS-ASCMD 2.2.3.24) to
#: the whole series (Horde 5.2 at 16.0): occurrences go up as events of their own
INSTANCE_CHANGE_MOVES_SERIES = "instance-change-moves-series"
#: the server fails on a 16.x Add of a series whose Exceptions carry InstanceId
#: (Horde 5.2 stock): such a series goes up bare, then in the apart form
ADD_EXCEPTIONS_APART = "add-exceptions-apart"

#: what the user is told once when a habit is learnt
HABITS = {
    INSTANCE_CHANGE_MOVES_SERIES: "the server applies a change of one occurrence to the "
    "whole series (it ignores the InstanceId): in this folder eassync puts such a series "
    "back and keeps each moved or changed occurrence as an event of its own, its date "
    "deleted from the series (as the server stores such occurrences itself)",
    ADD_EXCEPTIONS_APART: "the server fails on a new series that carries moved or deleted "
    "occurrences: in this folder eassync adds such a series without them, then deletes "
    "those dates from it and adds each moved occurrence as an event of its own",
}


@dataclass
class SlotKnowledge:
    held: set[str] = field(default_factory=set)
    dropped: set[str] = field(default_factory=set)
    #: what the server is known to do with some commands (``HABITS``)
    habits: set[str] = field(default_factory=set)
    #: changed since the last dump (the engine persists it then)
    dirty: bool = False
    #: frozen copy of ``dropped`` (a cache key for projections), rebuilt on change
    _dropped_key: frozenset[str] = field(default_factory=frozenset, repr=False)

    @property
    def dropped_key(self) -> frozenset[str]:
        return self._dropped_key

    def saw(self, slots: Iterable[str]) -> None:
        """The server sent these slots: it holds them."""
        new = [s for s in slots if s not in self.held]
        if not new:
            return
        self.held.update(new)
        if self.dropped.intersection(new):
            # a server upgrade (or a slot it holds only sometimes): trust what it sends
            self.dropped.difference_update(new)
            self._dropped_key = frozenset(self.dropped)
        self.dirty = True

    def read_back(self, sent: Iterable[str], returned: Iterable[str]) -> None:
        """We sent ``sent`` and the server's copy carries ``returned``."""
        returned = set(returned)
        sent = set(sent)
        self.saw(returned)
        lost = sent - returned - self.held
        if lost - self.dropped:
            self.dropped.update(lost)
            self._dropped_key = frozenset(self.dropped)
            self.dirty = True

    def learn(self, habit: str) -> None:
        """The server showed ``habit`` (kept with the slots)."""
        if habit not in self.habits:
            self.habits.add(habit)
            self.dirty = True

    def unclassified(self, slots: Iterable[str]) -> set[str]:
        return {s for s in slots if s not in self.held and s not in self.dropped}

    def dump(self) -> str:
        data = {"held": sorted(self.held), "dropped": sorted(self.dropped)}
        if self.habits:
            data["habits"] = sorted(self.habits)
        return json.dumps(data)

    def load(self, text: str | None) -> None:
        """Replace the knowledge with a :meth:`dump`; unreadable text is ignored (the
        knowledge is relearnt, nothing depends on it for correctness of the status)."""
        held: set[str] = set()
        dropped: set[str] = set()
        habits: set[str] = set()
        if text:
            try:
                data = json.loads(text)
                held = {str(s) for s in data.get("held", [])}
                dropped = {str(s) for s in data.get("dropped", [])} - held
                habits = {str(s) for s in data.get("habits", [])}
            except (ValueError, AttributeError, TypeError):
                held, dropped, habits = set(), set(), set()
        self.held, self.dropped, self.habits = held, dropped, habits
        self._dropped_key = frozenset(dropped)
        self.dirty = False
