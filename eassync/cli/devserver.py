"""``eassync devserver``: run the bundled EAS server until SIGINT/SIGTERM."""

from __future__ import annotations

import ipaddress
import signal
import threading
from pathlib import Path
from types import FrameType

import click

from eassync.cli.output import echo
from eassync.errors import UsageError
from eassync.oserror import os_failure


def _parse_user(value: str) -> tuple[str, str]:
    name, sep, password = value.partition(":")
    if not sep or not name:
        raise click.BadParameter(f"expected NAME:PASS, got {value!r}", param_hint="--user")
    return name, password


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _default_data_dir() -> Path:
    from platformdirs import user_state_path

    return user_state_path("eassync") / "devserver"


@click.command("devserver")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8443, show_default=True, type=int, help="Port (0 = any free).")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the server keeps its state (default: $XDG_STATE_HOME/eassync/devserver).",
)
@click.option(
    "--user",
    "users",
    multiple=True,
    metavar="NAME:PASS",
    help="A user and password; repeatable (default alice:secret).",
)
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--seed-contacts",
    type=int,
    default=0,
    metavar="N",
    help="Create N sample contacts for every user whose Contacts folder is empty.",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a non-loopback --host (plain passwords: for trusted test networks only).",
)
@click.option(
    "--control/--no-control",
    default=None,
    help="The /_devserver/ control endpoint (loopback clients only; default on for loopback).",
)
@click.option(
    "--no-provision", is_flag=True, help="Do not require a Provision before other commands."
)
@click.option("--ping-max", type=int, default=3540, show_default=True, metavar="SECONDS")
@click.option(
    "--drop-field",
    "drop_fields",
    multiple=True,
    metavar="TAG",
    help="A field the server does not keep, e.g. Contacts:Anniversary (as SOGo); repeatable.",
)
@click.option(
    "--personality",
    type=click.Choice(["default", "exchange-online"]),
    default="default",
    show_default=True,
    help="exchange-online: OPTIONS offers 16.1 only, Provision answers Status 165 and other "
    "commands Status 138 until Settings/DeviceInformation was sent, server-assigned UIDs.",
)
@click.option(
    "--quarantine",
    type=click.IntRange(100, 999),
    metavar="STATUS",
    help="Answer every command with this status (126, 129, 130, 177), or HTTP 403 with 403: "
    "a blocked or quarantined device. The control endpoint switches it on and off.",
)
@click.option(
    "--assign-uids",
    is_flag=True,
    help="Give every calendar item the server's own UID, ignoring the client's (as Horde).",
)
@click.option(
    "--split-exceptions",
    is_flag=True,
    help="Store the moved occurrences of an added series as events of their own, their "
    "dates deleted from the series (as Horde).",
)
@click.option(
    "--instance-change-moves-series",
    is_flag=True,
    help="Apply a Change of one occurrence (InstanceId) to the whole series, and drop the "
    "exceptions of a series on a Change that carries its Recurrence (as Horde 5.2 at 16.0).",
)
def command(
    host: str,
    port: int,
    data_dir: Path | None,
    users: tuple[str, ...],
    tls_cert: Path | None,
    tls_key: Path | None,
    seed_contacts: int,
    allow_remote: bool,
    control: bool | None,
    no_provision: bool,
    ping_max: int,
    drop_fields: tuple[str, ...],
    personality: str,
    quarantine: int | None,
    assign_uids: bool,
    split_exceptions: bool,
    instance_change_moves_series: bool,
) -> None:
    """Run the bundled EAS server (a test server: plain passwords, loopback only by default).

    It prints its URL and users, then serves until SIGINT or SIGTERM. With --control, a
    process on this machine can inject faults and change items through
    /_devserver/faults, /_devserver/items and /_devserver/stats (JSON).
    """
    from eassync.devserver import DevServer

    if not _is_loopback(host) and not allow_remote:
        raise UsageError(
            f"refusing to listen on {host}: the devserver is a test server with plain passwords",
            hint="use --allow-remote if you really want that",
        )
    if (tls_cert is None) != (tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    accounts = dict(_parse_user(u) for u in users) if users else {"alice": "secret"}
    server = DevServer(
        data_dir or _default_data_dir(),
        users=accounts,
        host=host,
        port=port,
        tls=(tls_cert, tls_key) if tls_cert and tls_key else None,
        require_provision=not no_provision,
        ping_max=ping_max,
        control=control,
        drop_fields=drop_fields,
        personality=personality,
        quarantine=quarantine,
        assign_uids=assign_uids,
        split_exceptions=split_exceptions,
        instance_change_moves_series=instance_change_moves_series,
    )
    if seed_contacts > 0:
        for user in accounts:
            contacts = server.store.default_folder(user, 9)
            if server.store.count_items(user, contacts) == 0:
                server.store.seed_contacts(user, seed_contacts)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server.start()
    except OSError as exc:  # the port taken, or an address not this machine's
        raise os_failure(exc, where=f"{host}:{port}") from exc
    echo(f"eassync devserver listening on {server.url}")
    if personality != "default":
        echo(f"  personality {personality} (EAS {', '.join(server.versions)})")
    for name, password in accounts.items():
        echo(f"  user {name}  password {password}  ({name}@devserver.test)")
    echo(f"  data in {server.data_dir}")
    if server.control:
        echo(f"  control endpoint {server.base_url}/_devserver/ (loopback only)")
    echo("stop with Ctrl-C", nl=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    echo("devserver stopped")
