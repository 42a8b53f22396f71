"""The YAML config file → typed, validated dataclasses.

``load_config(path)`` reads the file, reports *every* problem at once as
``FILE:LINE:COL: path: what was expected`` (schema first, then cross-references such
as a pair naming a missing account), fills defaults from the JSON Schema
(``schemas/config.schema.json``, the one source of defaults and help text) and
expands ``~`` and ``$VARS`` in paths. Passwords stay unresolved :class:`Secret`s.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from eassync import paths
from eassync.configschema import Positions, defaults, load_schema, load_yaml, validate
from eassync.errors import ConfigError
from eassync.secrets import Secret

log = logging.getLogger(__name__)

KINDS = ("contacts", "calendar", "tasks", "notes")
#: storage types able to hold each kind
STORAGE_KINDS = {
    "vdir": {"contacts", "calendar", "tasks"},
    "carddav": {"contacts"},
    "caldav": {"calendar", "tasks"},
    "notes": {"notes"},
}
EXAMPLE_HINT = (
    "`eassync init` writes a starting config; `eassync man eassync.yaml` describes each key"
)


def default_fileext(kind: str) -> str:
    """``.vcf`` for contacts, ``.ics`` for calendars and tasks, ``.md`` for notes."""
    return {"contacts": ".vcf", "notes": ".md"}.get(kind, ".ics")


@dataclass(frozen=True)
class General:
    #: EASSYNC_STATE_DIR, else ``general.status_dir``, else $XDG_STATE_HOME/eassync
    status_dir: Path
    #: days a trashed local item is kept (0: until ``eassync trash empty``)
    trash_expiry_days: int = 30
    #: ``general.watch`` with the schema's defaults filled in: the keyword arguments of
    #: ``eassync.watch.daemon.WatchOptions`` (heartbeat, interval, poll_interval, …)
    watch: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Account:
    name: str
    url: str | None
    username: str | None
    password: Secret | None
    auth: str
    protocol_version: str
    verify: bool | str
    provision_first: bool
    device_type: str
    device_model: str
    user_agent: str | None
    timeout: float
    email: str | None
    autodiscover: bool
    autodiscover_trust: tuple[str, ...]
    client_id: str | None
    tenant: str | None
    #: bytes one answer may hold, decompressed
    max_response_size: int = 64 * 1024 * 1024
    #: "FILE:LINE:COL: accounts.NAME", for messages
    where: str = field(default="", repr=False, compare=False)

    @property
    def login(self) -> str | None:
        """The user name to log in with: ``username``, else ``email``."""
        return self.username or self.email


@dataclass(frozen=True)
class StorageConfig:
    name: str
    type: str  # vdir | caldav | carddav | notes
    #: vdir: the folder (with ``{all: KIND}`` remotes: the parent of one subfolder each)
    path: Path | None = None
    #: vdir: ``.vcf``/``.ics``; filled from the pair's kind when it is known from the
    #: config, else None (use :meth:`fileext_for` once the server told the kind)
    fileext: str | None = None
    url: str | None = None
    username: str | None = None
    password: Secret | None = None
    verify: bool | str = True
    #: dav: a collection name, ``all`` (one per remote folder), or None (url is it)
    collection: str | None = None
    #: dav: other hosts ("host" or "host:port") redirects and discovered URLs may lead to
    trust: tuple[str, ...] = ()
    #: dav: seconds for one whole request; bytes one answer may hold, decompressed
    timeout: float = 120.0
    max_response_size: int = 64 * 1024 * 1024
    where: str = field(default="", repr=False, compare=False)

    def fileext_for(self, kind: str) -> str:
        return self.fileext or default_fileext(kind)


@dataclass(frozen=True)
class Pair:
    name: str
    account: str
    #: the selector as written: {"default"|"folder"|"folder_id"|"all": …, ["kind": …]}
    remote: Mapping[str, str]
    local: str
    #: remote_wins | local_wins | keep_both | error | command
    conflict: str
    conflict_command: tuple[str, ...] | None
    direction: str  # both | to_local | to_remote
    #: to_local: what becomes of local changes: revert | ignore | error
    local_changes: str
    max_delete_ratio: float
    calendar_window: str
    tasks_filter: str
    send_invitations: bool
    attachments_max_inline: int
    default_timezone: str | None
    where: str = field(default="", repr=False, compare=False)

    @property
    def selector(self) -> str:
        """``default``, ``folder``, ``folder_id`` or ``all``."""
        return next(k for k in ("default", "folder", "folder_id", "all") if k in self.remote)

    @property
    def kind(self) -> str | None:
        """contacts/calendar/tasks when the config says; None: the server will tell."""
        if "default" in self.remote:
            return self.remote["default"]
        if "all" in self.remote:
            return self.remote["all"]
        return self.remote.get("kind")

    @property
    def many(self) -> bool:
        """True for ``{all: KIND}``: one local sub-collection per remote folder."""
        return "all" in self.remote

    def describe_remote(self) -> str:
        return "{" + ", ".join(f"{k}: {v}" for k, v in self.remote.items()) + "}"


@dataclass(frozen=True)
class Config:
    general: General
    accounts: dict[str, Account]
    storages: dict[str, StorageConfig]
    pairs: dict[str, Pair]
    path: Path

    def account_for(self, pair: Pair) -> Account:
        return self.accounts[pair.account]

    def storage_for(self, pair: Pair) -> StorageConfig:
        return self.storages[pair.local]

    def pair(self, name: str) -> Pair:
        """The pair called ``name``; a ConfigError listing the pairs if there is none."""
        if name not in self.pairs:
            known = ", ".join(sorted(self.pairs)) or "none"
            raise ConfigError(f"no pair named {name!r} in {self.path} (pairs: {known})")
        return self.pairs[name]


# --- loading ------------------------------------------------------------------------------


def load_config(path: str | Path | None = None) -> Config:
    """Read, validate and type the config file (default: ``paths.config_path()``).

    Raises ConfigError with every problem found, each as ``FILE:LINE:COL: …``.
    """
    file = Path(path).expanduser() if path is not None else paths.config_path()
    try:
        text = file.read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no config file at {file}", hint=EXAMPLE_HINT) from None
    except IsADirectoryError:
        raise ConfigError(f"{file} is a folder, not a config file", hint=EXAMPLE_HINT) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {file}: {exc}") from None
    return parse_config(text, file)


def parse_config(text: str, file: Path) -> Config:
    """Validate and type config ``text`` read from ``file`` (named in messages)."""
    filename = str(file)
    data, positions = load_yaml(text, filename)
    if data is None:
        raise ConfigError(f"{filename}: the config file is empty", hint=EXAMPLE_HINT)
    problems = validate(data, positions)
    if isinstance(data, dict):
        problems += _cross_check(data, positions)
    if problems:
        count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
        raise ConfigError(f"{filename}: invalid config ({count})", problems=problems)
    config = _build(data, positions, file)
    _warn_literal_passwords(config, file)
    return config


# --- cross references (after the schema; defensive about shapes the schema rejected) -----


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _pair_kind(remote: Mapping[str, Any]) -> str | None:
    for key in ("default", "all", "kind"):
        if isinstance(remote.get(key), str):
            return str(remote[key])
    return None


def _cross_check(data: dict[str, Any], pos: Positions) -> list[str]:
    problems: list[str] = []
    accounts = _mapping(data.get("accounts"))
    storages = _mapping(data.get("storages"))
    pairs = _mapping(data.get("pairs"))

    def problem(path: tuple[str | int, ...], text: str) -> None:
        problems.append(f"{pos.where(path)}: {text}")

    for name, acc in accounts.items():
        acc = _mapping(acc)
        auth = acc.get("auth", "basic")
        if auth in ("basic", "ntlm"):
            if "username" not in acc and "email" not in acc:
                problem(("accounts", name), f"auth {auth} needs username (or email)")
            if "password" not in acc:
                problem(("accounts", name), f"auth {auth} needs a password")
        for key in ("client_id", "tenant"):
            if key in acc and auth != "oauth2":
                problem(("accounts", name, key), "only applies to auth: oauth2")
        if "url" in acc and acc.get("autodiscover") is True:
            problem(("accounts", name, "url"), "give either url or autodiscover: true, not both")

    used_by: dict[str, str] = {}
    for name, pair in pairs.items():
        pair = _mapping(pair)
        remote = _mapping(pair.get("remote"))
        kind = _pair_kind(remote)
        account = pair.get("account")
        if isinstance(account, str) and account not in accounts:
            problem(
                ("pairs", name, "account"),
                f"no account named {account!r} (accounts: {', '.join(accounts) or 'none'})",
            )
        if "kind" in remote and ("default" in remote or "all" in remote):
            problem(("pairs", name, "remote", "kind"), "only goes with folder or folder_id")
        local = pair.get("local")
        if isinstance(local, str):
            if local not in storages:
                problem(
                    ("pairs", name, "local"),
                    f"no storage named {local!r} (storages: {', '.join(storages) or 'none'})",
                )
            elif local in used_by:
                first = used_by[local]
                problem(
                    ("pairs", name, "local"),
                    f"storage {local!r} is already used by pair {first!r} (line "
                    f"{pos.line(('pairs', first, 'local'))}); give each pair its own storage",
                )
            else:
                used_by[local] = name
                problems += _check_storage_fits(name, local, _mapping(storages[local]), remote, pos)
        if kind:
            for key, only in (
                ("calendar_window", "calendar"),
                ("send_invitations", "calendar"),
                ("tasks_filter", "tasks"),
            ):
                if key in pair and kind != only:
                    problem(("pairs", name, key), f"only applies to {only} pairs, this is {kind}")
        if "local_changes" in pair and pair.get("direction", "both") != "to_local":
            problem(("pairs", name, "local_changes"), "only applies to direction: to_local")
        tz = pair.get("default_timezone")
        if isinstance(tz, str) and tz:
            try:
                zoneinfo.ZoneInfo(tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                problem(
                    ("pairs", name, "default_timezone"),
                    f"{tz!r} is not a known IANA time zone (such as Europe/Berlin)",
                )

    for name, storage in storages.items():
        storage = _mapping(storage)
        if name not in used_by:
            log.info("%s: storage %r is used by no pair", pos.where(("storages", name)), name)
        for key in ("path", "verify"):
            value = storage.get(key)
            if isinstance(value, str) and _unset_variables(value):
                missing = ", ".join(_unset_variables(value))
                problem(("storages", name, key), f"environment variable not set: {missing}")
    general = _mapping(data.get("general"))
    status_dir = general.get("status_dir")
    if isinstance(status_dir, str) and _unset_variables(status_dir):
        missing = ", ".join(_unset_variables(status_dir))
        problem(("general", "status_dir"), f"environment variable not set: {missing}")
    return problems


def _check_storage_fits(
    pair: str,
    storage_name: str,
    storage: dict[str, Any],
    remote: Mapping[str, Any],
    pos: Positions,
) -> list[str]:
    problems: list[str] = []
    where = pos.where(("pairs", pair, "local"))
    stype = storage.get("type")
    kind = _pair_kind(remote)
    if stype in STORAGE_KINDS and kind in KINDS and kind not in STORAGE_KINDS[stype]:
        fitting = " or ".join(t for t, kinds in STORAGE_KINDS.items() if kind in kinds)
        problems.append(
            f"{where}: storage {storage_name!r} is {stype}, which cannot hold {kind}; use {fitting}"
        )
    if stype == "vdir" and kind in KINDS and kind != "notes":
        ext = storage.get("fileext")
        wrong = ".ics" if kind == "contacts" else ".vcf"
        if isinstance(ext, str) and ext.lower() == wrong:
            problems.append(
                f"{pos.where(('storages', storage_name, 'fileext'))}: {ext} files cannot hold "
                f"{kind} (pair {pair!r}); use {default_fileext(kind)}"
            )
    if stype in ("caldav", "carddav"):
        collection = storage.get("collection")
        if "all" in remote and collection != "all":
            problems.append(
                f"{where}: remote {{all: {remote['all']}}} needs one collection per folder: "
                f"set collection: all on storage {storage_name!r} (url = the home set)"
            )
        if "all" not in remote and collection == "all":
            problems.append(
                f"{pos.where(('storages', storage_name, 'collection'))}: collection: all needs "
                f"a pair with remote {{all: KIND}}; pair {pair!r} selects one folder"
            )
    return problems


_VARIABLE = re.compile(r"\$(\w+|\{[^}]*\})")


def _unset_variables(text: str) -> list[str]:
    names = [m.group(1).strip("{}") for m in _VARIABLE.finditer(text)]
    return [n for n in names if n not in os.environ]


def _expand(text: str, base: Path) -> Path:
    """``~`` and ``$VARS`` expanded; a relative path is relative to the config file's
    folder, not to wherever a timer happens to start eassync."""
    path = Path(os.path.expandvars(text)).expanduser()
    return path if path.is_absolute() else base / path


# --- typed result ---------------------------------------------------------------------------


def _secret(value: Any, where: str) -> Secret | None:
    return None if value is None else Secret(value, where=where)


def _verify(value: bool | str, base: Path) -> bool | str:
    return str(_expand(value, base)) if isinstance(value, str) else value


def _version(value: str | float) -> str:
    # YAML reads `protocol_version: 14.0` as the float 14.0; the protocol wants "14.0".
    return value if isinstance(value, str) else f"{value:.1f}"


def _watch_defaults() -> dict[str, Any]:
    watch = load_schema()["properties"]["general"]["properties"]["watch"]
    return {key: prop["default"] for key, prop in watch["properties"].items()}


def _build(data: dict[str, Any], pos: Positions, file: Path) -> Config:
    base = file.absolute().parent
    general_raw = defaults("general") | _mapping(data.get("general"))
    if os.environ.get("EASSYNC_STATE_DIR") or not general_raw["status_dir"]:
        status_dir = paths.state_dir()
    else:
        status_dir = _expand(general_raw["status_dir"], base)
    watch_raw = _watch_defaults() | _mapping(general_raw.get("watch"))
    general = General(
        status_dir=status_dir,
        trash_expiry_days=int(general_raw["trash_expiry_days"]),
        watch=MappingProxyType(watch_raw),
    )

    accounts: dict[str, Account] = {}
    for name, raw in data["accounts"].items():
        acc = defaults("account") | raw
        where = pos.where(("accounts", name))
        accounts[name] = Account(
            name=name,
            url=acc.get("url"),
            username=acc.get("username"),
            password=_secret(acc.get("password"), pos.where(("accounts", name, "password"))),
            auth=acc["auth"],
            protocol_version=_version(acc["protocol_version"]),
            verify=_verify(acc["verify"], base),
            provision_first=acc["provision_first"],
            device_type=acc["device_type"],
            device_model=acc["device_model"],
            user_agent=acc.get("user_agent"),
            timeout=float(acc["timeout"]),
            email=acc.get("email"),
            autodiscover=acc["autodiscover"],
            autodiscover_trust=tuple(acc["autodiscover_trust"]),
            client_id=acc.get("client_id"),
            tenant=acc.get("tenant"),
            max_response_size=int(acc["max_response_size"]),
            where=where,
        )

    kind_of_storage = {
        p["local"]: _pair_kind(p["remote"]) for p in data["pairs"].values() if p["local"]
    }
    storages: dict[str, StorageConfig] = {}
    for name, raw in data["storages"].items():
        where = pos.where(("storages", name))
        kind = kind_of_storage.get(name)
        if raw["type"] in ("vdir", "notes"):
            fileext = raw.get("fileext") or (default_fileext(kind) if kind else None)
            if raw["type"] == "notes":
                fileext = raw.get("fileext") or ".md"
            storages[name] = StorageConfig(
                name=name,
                type=raw["type"],
                path=_expand(raw["path"], base),
                fileext=fileext,
                where=where,
            )
        else:
            dav = defaults("dav_storage") | raw
            storages[name] = StorageConfig(
                name=name,
                type=dav["type"],
                url=dav["url"],
                username=dav.get("username"),
                password=_secret(dav.get("password"), pos.where(("storages", name, "password"))),
                verify=_verify(dav["verify"], base),
                collection=dav.get("collection"),
                trust=tuple(dav["trust"]),
                timeout=float(dav["timeout"]),
                max_response_size=int(dav["max_response_size"]),
                where=where,
            )

    pairs: dict[str, Pair] = {}
    for name, raw in data["pairs"].items():
        pair = defaults("pair") | raw
        conflict = pair["conflict"]
        command = None
        if isinstance(conflict, dict):
            command = tuple(conflict["command"])
            conflict = "command"
        pairs[name] = Pair(
            name=name,
            account=pair["account"],
            remote=MappingProxyType(dict(pair["remote"])),
            local=pair["local"],
            conflict=conflict,
            conflict_command=command,
            direction=pair["direction"],
            local_changes=pair["local_changes"],
            max_delete_ratio=float(pair["max_delete_ratio"]),
            calendar_window=pair["calendar_window"],
            tasks_filter=pair["tasks_filter"],
            send_invitations=pair["send_invitations"],
            attachments_max_inline=int(pair["attachments_max_inline"]),
            default_timezone=pair["default_timezone"],
            where=pos.where(("pairs", name)),
        )
    return Config(general, accounts, storages, pairs, file)


def _warn_literal_passwords(config: Config, file: Path) -> None:
    """A literal password in a file others can read is a leak waiting to happen."""
    secrets = [a.password for a in config.accounts.values()]
    secrets += [s.password for s in config.storages.values()]
    if not any(s is not None and s.kind == "literal" for s in secrets):
        return
    try:
        mode = file.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "%s holds a literal password and is readable by others (mode %o): "
            "run `chmod 600 %s` or use password: {command: [...]}",
            file,
            stat.S_IMODE(mode),
            file,
        )
