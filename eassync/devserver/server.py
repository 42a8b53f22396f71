"""``DevServer``: the bundled EAS server, started in a thread (tests, demo) or by the CLI."""

from __future__ import annotations

import ssl
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType

from eassync.devserver.commands import ServerSettings
from eassync.devserver.faults import Faults
from eassync.devserver.http import EAS_PATH, EasHTTPServer, make_server
from eassync.devserver.protocol import SERVER_VERSIONS
from eassync.devserver.store import Store

DEFAULT_USERS: Mapping[str, str] = {"alice": "secret"}

#: ``personality`` values: ``default`` follows the spec; ``exchange-online`` behaves as
#: Exchange Online does since March 2026 (issue 15): OPTIONS offers 16.1 only; Provision
#: answers Status 165 and other commands Status 138 until the device sent
#: Settings/DeviceInformation; every calendar UID is assigned by the server; quarantine
#: on demand (``quarantine=``, the control endpoint). Its OAuth2 side, with AADSTS
#: errors, is the tests' identity provider (tests/servers/fake_idp.py).
PERSONALITIES = ("default", "exchange-online")


class DevServer:
    """A protocol-faithful EAS server on loopback with a persistent store under ``data_dir``.

    ``control`` enables the ``/_devserver/…`` endpoint (loopback clients only); it
    defaults to on for loopback binds.
    """

    def __init__(
        self,
        data_dir: Path,
        users: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: tuple[Path, Path] | None = None,
        versions: list[str] | None = None,
        require_provision: bool = True,
        ping_max: int = 3540,
        ping_min: int = 1,
        control: bool | None = None,
        ntlm: bool = False,
        bearer: Callable[[str], str | None] | None = None,
        drop_fields: Iterable[str] = (),
        personality: str = "default",
        quarantine: int | None = None,
        assign_uids: bool = False,
        split_exceptions: bool = False,
        instance_change_moves_series: bool = False,
        add_exceptions_crash: bool = False,
        add_exceptions_refusal: int | None = None,
    ) -> None:
        if personality not in PERSONALITIES:
            raise ValueError(f"unknown personality {personality!r}; known: {PERSONALITIES}")
        exchange_online = personality == "exchange-online"
        if versions is None and exchange_online:
            versions = ["16.1"]
        self.personality = personality
        self.data_dir = Path(data_dir)
        self.users = dict(users if users is not None else DEFAULT_USERS)
        self.host = host
        self.port = port
        self.tls = tls
        self.versions = list(versions if versions is not None else SERVER_VERSIONS)
        self.settings = ServerSettings(
            ping_min=ping_min,
            ping_max=ping_max,
            require_provision=require_provision,
            device_info_required=exchange_online,
            quarantine=quarantine,
        )
        self.control = control if control is not None else _is_loopback(host)
        #: accept NTLM (``DEVSERVER\\user``) besides Basic
        self.ntlm = ntlm
        #: accept OAuth2 bearer tokens: token → user name, or None (tests' identity provider)
        self.bearer = bearer
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(self.data_dir / "devserver.sqlite3")
        for user in self.users:
            self.store.ensure_user(user)
        #: fields the server does not keep, like a real one that lacks them
        self.store.drop_fields = frozenset(drop_fields)
        #: calendar UIDs assigned by the server at every version, the client's ignored
        self.store.assign_uids = assign_uids or exchange_online
        #: moved occurrences of an added series stored as events of their own (Horde)
        self.store.split_exceptions = split_exceptions
        #: a Change of one occurrence (InstanceId) applied to the whole series (Horde)
        self.store.instance_change_moves_series = instance_change_moves_series
        #: a 16.x Add of a series whose Exceptions carry InstanceId crashes (Horde stock)
        self.store.add_exceptions_crash = add_exceptions_crash
        #: ... or is refused alone with this item Status
        self.store.add_exceptions_refusal = add_exceptions_refusal
        self.faults = Faults(
            invalidate=self.store.invalidate_sync_keys, wipe=self.store.request_wipe
        )
        self._httpd: EasHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._last_requests: Counter[str] = Counter()

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> DevServer:
        context = None
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
        self._httpd = make_server(
            self.host,
            self.port,
            store=self.store,
            users=self.users,
            versions=self.versions,
            settings=self.settings,
            faults=self.faults,
            control_enabled=self.control,
            tls=context,
        )
        self._httpd.bearer = self.bearer
        if self.ntlm:
            from eassync.devserver.ntlm import NtlmAcceptor

            self._httpd.ntlm = NtlmAcceptor(self.data_dir, self.users)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() returns within this
            name="eassync-devserver",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Run in the calling thread until ``stop()`` is called from elsewhere (CLI)."""
        if self._httpd is None:
            self.start()
        assert self._thread is not None
        self._thread.join()

    def stop(self) -> None:
        self.settings.stopping.set()
        with self.store.changed:
            self.store.changed.notify_all()  # end waiting Pings and long-poll Syncs now
        if self._httpd is not None:
            self._last_requests = self.requests
            self._httpd.shutdown()
            self._httpd.close_connections()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.store.close()

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- facts -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def url(self) -> str:
        return self.base_url + "/Microsoft-Server-ActiveSync"

    @property
    def requests(self) -> Counter[str]:
        """Requests served per command (a snapshot; missing commands read 0)."""
        if self._httpd is None:
            return Counter(self._last_requests)
        with self._httpd.requests_lock:
            return Counter(self._httpd.requests)


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


__all__ = ["EAS_PATH", "PERSONALITIES", "DevServer"]
