"""Config account → a connected :class:`EasClient` (one per account per run)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eassync.errors import ConfigError

if TYPE_CHECKING:
    from eassync.config import Account, Config
    from eassync.eas.client import EasClient


def open_client(config: Config, account: Account) -> EasClient:
    """An EasClient for ``account``; the password is resolved here, once."""
    from eassync.eas.client import AccountSettings, EasClient

    if account.auth != "basic":
        raise ConfigError(
            f"{account.where or 'account ' + account.name}: auth {account.auth!r} "
            "is not available yet in this version (only basic)",
        )
    if not account.url:
        raise ConfigError(
            f"{account.where or 'account ' + account.name}: no url "
            "(autodiscover is not available yet in this version)",
        )
    login = account.login
    if not login:
        raise ConfigError(f"{account.where or 'account ' + account.name}: no username")
    password = account.password.get() if account.password is not None else None
    settings = AccountSettings(
        name=account.name,
        url=account.url,
        username=login,
        password=password,
        protocol_version=account.protocol_version,
        verify=account.verify,
        state_dir=config.general.status_dir,
        device_type=account.device_type,
        timeout=account.timeout,
        provision_first=account.provision_first,
    )
    return EasClient(settings)


class ClientPool:
    """Opens each account's client once per run and closes them all at the end."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._clients: dict[str, EasClient] = {}
        self._synced_folders: set[str] = set()

    def client(self, account_name: str) -> EasClient:
        if account_name not in self._clients:
            account = self.config.accounts[account_name]
            self._clients[account_name] = open_client(self.config, account)
        return self._clients[account_name]

    def folders(self, account_name: str) -> list:
        """The account's folders, FolderSync'ed once per run."""
        client = self.client(account_name)
        if account_name not in self._synced_folders:
            client.folder_sync()
            self._synced_folders.add(account_name)
        return client.folders()

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def __enter__(self) -> ClientPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
