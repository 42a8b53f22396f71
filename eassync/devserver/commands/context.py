"""What every devserver command handler receives: the server's settings, caches and
store for one request (:class:`Context`), and the wait predicate of the long-polling
commands."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from eassync.devserver.faults import Faults
from eassync.devserver.protocol import version_tuple
from eassync.devserver.store import Store
from eassync.eas.element import Element


@dataclass
class ServerSettings:
    ping_min: int = 1
    ping_max: int = 3540
    require_provision: bool = True
    #: Exchange Online (issue 15): Provision answers 165 and other commands 138 until the
    #: device sent Settings/DeviceInformation (DeviceInformation inside Provision is not
    #: enough); Settings needs no policy key
    device_info_required: bool = False
    #: quarantine on demand: every command is answered with this common status (126,
    #: 129, 130, 177 …), or HTTP 403 when it is 403; None: not quarantined
    quarantine: int | None = None
    #: set when the server stops, so long waits (Ping, long-poll Sync) end at once
    stopping: threading.Event = field(default_factory=threading.Event)


@dataclass
class Caches:
    """In-memory per-device caches (lost on restart, which the spec allows: Status 13)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sync_requests: dict[tuple[str, str], Element] = field(default_factory=dict)


@dataclass
class Context:
    store: Store
    settings: ServerSettings
    caches: Caches
    user: str
    device: str
    device_type: str
    version: str
    params: dict[str, str] = field(default_factory=dict)
    #: armed fault switches, for the faults that act inside a command (None: none)
    faults: Faults | None = None

    def at_least(self, version: str) -> bool:
        return version_tuple(self.version) >= version_tuple(version)


Handler = Callable[[Context, Element | None], Element | None]


def changed_since(ctx: Context, seen: int) -> Callable[[], bool]:
    """A ``Condition.wait_for`` predicate: the store changed after ``seen``, or we stop."""

    def predicate() -> bool:
        store = ctx.store
        return store.version != seen or store.closed or ctx.settings.stopping.is_set()

    return predicate
