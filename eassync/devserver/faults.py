"""Fault injection: switches that make the devserver misbehave on purpose.

Each armed fault fires ``times`` times on matching requests, then disarms. Faults are
consulted in the order they were armed. ``command=None`` matches every EAS request
(OPTIONS counts as the command ``"OPTIONS"``). Thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: The fault kinds, as named by the control endpoint (``{"fault": "<kind>", …}``).
KINDS = (
    "http_status",
    "throttle",
    "status",
    "drop_connection",
    "invalidate_sync_keys",
    "delay",
    "remote_wipe",
    "poison",
    "add_without_server_id",
    "endless_more",
    "clear",
)

#: ``times`` of an item fault that holds until cleared
UNTIL_CLEARED = 1 << 30

#: what a poisoned request is answered with: Horde's fatal errors (horde-notes §6) and
#: a plain server error
POISON_ANSWERS = ("html", "empty", "500")


@dataclass
class Fault:
    kind: str  # "http_status" | "status" | "drop" | "delay"
    times: int
    command: str | None = None
    code: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    after_bytes: int = 0
    seconds: float = 0.0
    body: bytes = b""
    #: item faults: a substring of the item's XML form (``Element.to_xml``) that
    #: selects the items the fault hits
    pattern: str = ""
    #: poison: how the request is answered (POISON_ANSWERS)
    answer: str = "html"
    #: endless_more: a new server item appears before each answer
    new_items: bool = False

    def matches(self, command: str) -> bool:
        return self.command is None or self.command.lower() == command.lower()


class Faults:
    def __init__(
        self,
        invalidate: Callable[[str | None], None] | None = None,
        wipe: Callable[[str], None] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._armed: list[Fault] = []
        self._invalidate = invalidate
        self._wipe = wipe

    # --- arming (the public API of DevServer.faults) -----------------------------------

    def http_status(
        self,
        code: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        command: str | None = None,
        body: bytes | str = b"",
    ) -> None:
        """Answer with HTTP ``code``, ``headers`` and ``body`` (default empty; e.g. an
        HTML error page with 200, as proxies send) without processing the request."""
        data = body.encode() if isinstance(body, str) else body
        self._arm(
            Fault("http_status", times, command, code=code, headers=dict(headers or {}), body=data)
        )

    def throttle(self, times: int = 1, retry_after: int = 1, command: str | None = None) -> None:
        """HTTP 503 with ``Retry-After`` (MS-ASHTTP 3.1.5.2.3)."""
        self.http_status(503, times, {"Retry-After": str(retry_after)}, command)

    def status(self, command: str, code: int, times: int = 1) -> None:
        """Answer ``command`` with a top-level ``Status`` ``code`` (request not processed)."""
        self._arm(Fault("status", times, command, code=code))

    def drop_connection(
        self, times: int = 1, command: str | None = None, after_bytes: int = 0
    ) -> None:
        """Process the request, then close the socket after ``after_bytes`` bytes of the
        response (status line and headers included): the client's answer is lost."""
        self._arm(Fault("drop", times, command, after_bytes=after_bytes))

    def delay(self, seconds: float, times: int = 1, command: str | None = None) -> None:
        """Sleep ``seconds`` before processing the request."""
        self._arm(Fault("delay", times, command, seconds=seconds))

    def poison(self, pattern: str, answer: str = "html", times: int = UNTIL_CLEARED) -> None:
        """A Sync that carries an Add or Change of an item whose XML contains
        ``pattern`` fails whole, nothing applied: HTTP 200 with an HTML "Fatal Error"
        page (``html``), HTTP 200 without body (``empty``), or HTTP 500."""
        if answer not in POISON_ANSWERS:
            raise ValueError(f"answer must be one of {', '.join(POISON_ANSWERS)}")
        if not pattern:
            raise ValueError("a poison pattern must not be empty")
        self._arm(Fault("poison", times, "Sync", pattern=pattern, answer=answer))

    def add_without_server_id(self, pattern: str, times: int = UNTIL_CLEARED) -> None:
        """An Add of an item whose XML contains ``pattern`` is answered Status 1
        without a ServerId, and nothing is stored (a server whose backend failed)."""
        if not pattern:
            raise ValueError("a pattern must not be empty")
        self._arm(Fault("add_without_server_id", times, "Sync", pattern=pattern))

    def endless_more(self, new_items: bool = False, times: int = UNTIL_CLEARED) -> None:
        """Every Sync answer says MoreAvailable (MS-ASCMD 2.2.3.114), for ever: with
        ``new_items`` a new item appears in each requested folder before each answer,
        else the answers bring nothing new."""
        self._arm(Fault("endless_more", times, "Sync", new_items=new_items))

    def invalidate_sync_keys(self, user: str | None = None) -> None:
        """Every outstanding SyncKey becomes stale now: Sync Status 3, FolderSync Status 9."""
        if self._invalidate is not None:
            self._invalidate(user)

    def remote_wipe(self, user: str) -> None:
        """The next command of ``user`` asks for a Provision, which carries RemoteWipe."""
        if self._wipe is not None:
            self._wipe(user)

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    # --- firing (the server side) -------------------------------------------------------

    def take(self, kind: str, command: str) -> Fault | None:
        """The first armed fault of ``kind`` matching ``command``, counted as fired."""
        with self._lock:
            for fault in self._armed:
                if fault.kind == kind and fault.matches(command):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._armed.remove(fault)
                    return fault
        return None

    def take_item(self, kind: str, command: str, xml: str) -> Fault | None:
        """The first armed item fault of ``kind`` whose pattern is in ``xml``."""
        with self._lock:
            for fault in self._armed:
                if fault.kind == kind and fault.matches(command) and fault.pattern in xml:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._armed.remove(fault)
                    return fault
        return None

    def armed(self) -> list[Fault]:
        with self._lock:
            return list(self._armed)

    def apply_json(self, spec: dict[str, Any]) -> None:
        """Arm a fault from the control endpoint's JSON (``{"fault": kind, **kwargs}``)."""
        spec = dict(spec)
        kind = spec.pop("fault", None)
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(KINDS)}")
        getattr(self, kind)(**spec)

    def _arm(self, fault: Fault) -> None:
        if fault.times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._armed.append(fault)
