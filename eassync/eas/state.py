"""Per-account EAS state on disk: DeviceId, negotiated version, policy key, folder map.

One JSON file per account, ``<state_dir>/accounts/<safe name>.json``, mode 0600,
written atomically (temp file in the same folder, fsync, ``os.replace``, fsync the
folder) so a crash leaves the old state or the new one. Per-collection SyncKeys are
*not* here: they belong to the pair status, committed with the items they cover.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eassync.errors import StorageError

FORMAT_VERSION = 1

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def new_device_id() -> str:
    """32 hex characters: letters and digits only, as MS-ASHTTP 2.2.1.1.1.2.3 demands."""
    return secrets.token_hex(16)


def safe_file_stem(name: str) -> str:
    """A file name stem for an account name: no separators, no leading dot, no ``..``.

    Names that had to be changed get a short hash so two accounts cannot collide.
    """
    stem = _UNSAFE.sub("_", name).lstrip(".")
    stem = stem.replace("..", "_")[:64]
    if stem != name or not stem:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        stem = f"{stem or 'account'}-{digest}"
    return stem


@dataclass
class FolderRecord:
    parent_id: str
    display_name: str
    type: int


@dataclass
class AccountState:
    device_id: str = field(default_factory=new_device_id)
    protocol_version: str | None = None
    server_versions: list[str] = field(default_factory=list)
    policy_key: str | None = None
    #: endpoint from an HTTP 451 redirect; all later requests go there
    url: str | None = None
    #: the configured (or autodiscovered) URL that redirect was answered for: when it
    #: changes, the redirect is stale and dropped (a state of old has none: dropped)
    url_from: str | None = None
    folder_sync_key: str = "0"
    folders: dict[str, FolderRecord] = field(default_factory=dict)
    #: fingerprint of the Settings/DeviceInformation last sent (None: never sent);
    #: sent again only when the device fields change (client.py)
    device_info: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["format"] = FORMAT_VERSION
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AccountState:
        folders = {
            str(sid): FolderRecord(
                parent_id=str(rec.get("parent_id", "0")),
                display_name=str(rec.get("display_name", "")),
                type=int(rec.get("type", 18)),
            )
            for sid, rec in dict(data.get("folders") or {}).items()
        }
        device_id = data.get("device_id")
        if not isinstance(device_id, str) or not device_id.isalnum():
            raise ValueError("missing or malformed device_id")
        return cls(
            device_id=device_id,
            protocol_version=data.get("protocol_version"),
            server_versions=[str(v) for v in data.get("server_versions") or []],
            policy_key=data.get("policy_key"),
            url=_optional_str(data.get("url")),
            url_from=_optional_str(data.get("url_from")),
            folder_sync_key=str(data.get("folder_sync_key") or "0"),
            folders=folders,
            device_info=_optional_str(data.get("device_info")),
        )


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class AccountStateFile:
    """Loads and saves one account's :class:`AccountState`."""

    def __init__(self, state_dir: Path, account: str) -> None:
        self.account = account
        self.path = Path(state_dir) / "accounts" / f"{safe_file_stem(account)}.json"

    def load(self, *, create: bool = True) -> AccountState:
        """The stored state, or a fresh one (new DeviceId) saved at once unless not
        ``create`` (a dry run, which writes nothing).

        Saving at once makes the DeviceId stable even if the first run fails: a new
        DeviceId per attempt would register phantom devices on the server.
        """
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            state = AccountState()
            if create:
                self.save(state)
            return state
        try:
            return AccountState.from_json(json.loads(raw))
        except (ValueError, TypeError, AttributeError) as exc:
            # Never silently regenerate: a new DeviceId is a new device on the server.
            raise StorageError(
                f"account state {self.path} is unreadable: {exc}",
                hint=f"move {self.path} away to start this account from scratch",
            ) from exc

    def peek(self) -> AccountState | None:
        """The stored state if there is a readable one; creates nothing (``check``)."""
        try:
            return AccountState.from_json(json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, AttributeError):
            return None

    def save(self, state: AccountState) -> None:
        data = json.dumps(state.to_json(), indent=2, sort_keys=True).encode()
        write_private_file(self.path, data)

    def delete(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        _fsync_dir(self.path.parent)


def write_private_file(path: Path, data: bytes) -> None:
    """Write a state file atomically with mode 0600 (temp file in the same folder,
    fsync, ``os.replace``, fsync the folder); its folder is created 0700. Used for
    every per-account file: state, autodiscover cache, OAuth token cache."""
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = folder / f".{path.name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError) and exc.filename is None:
            # a write to an fd names no file: name the one a person knows (full disk)
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
