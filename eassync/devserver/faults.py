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
    "clear",
)


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
