"""Config account → a connected :class:`EasClient` (one per account per run).

Here the account's pieces meet: the password (resolved once per run, never logged),
the authentication method (basic, ntlm, oauth2), and the URL (configured, or found by
Autodiscover and cached in the state dir). A cached URL that stops working (the
server cannot be reached, is no ActiveSync endpoint any more, or the mailbox moved
without saying where) is discovered again once, within the same run.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from eassync.errors import ConfigError, ProtocolError, ServerError, TransportError

if TYPE_CHECKING:
    from eassync.config import Account, Config
    from eassync.eas.auth import Auth
    from eassync.eas.client import EasClient, Folder
    from eassync.eas.oauth import OAuthAccount

log = logging.getLogger(__name__)

#: errors after which a URL from the autodiscover cache is looked up again
_STALE_URL_ERRORS = (TransportError, ProtocolError, ServerError)


def _where(account: Account) -> str:
    return account.where or f"account {account.name}"


def make_auth(config: Config, account: Account) -> Auth:
    """The account's authentication; the password is resolved here, once per run."""
    from eassync.eas.auth import BasicAuth, NtlmAuth

    if account.auth == "oauth2":
        return oauth_account(config, account).bearer_auth()
    login = account.login
    if not login:
        raise ConfigError(f"{_where(account)}: no username")
    if account.password is None:
        raise ConfigError(f"{_where(account)}: auth {account.auth} needs a password")
    password = account.password.get()
    if account.auth == "ntlm":
        return NtlmAuth(login, password)
    return BasicAuth(login, password)


def oauth_account(config: Config, account: Account) -> OAuthAccount:
    """The :class:`eassync.eas.oauth.OAuthAccount` of an ``auth: oauth2`` account."""
    from eassync.eas import oauth

    oauth.check_settings(account.client_id, account.tenant, _where(account))
    return oauth.OAuthAccount(
        account.name,
        state_dir=config.general.status_dir,
        email=account.email or account.username,
        client_id=account.client_id,
        tenant=account.tenant,
        verify=account.verify,
    )


def discovered_url(
    config: Config, account: Account, auth: Auth, *, fresh: bool = False, persist: bool = True
) -> str:
    """The ActiveSync URL found by Autodiscover: from the cache unless ``fresh``;
    remembered unless not ``persist`` (a dry run)."""
    from eassync.eas.autodiscover import Autodiscover, DiscoveryCache

    email = account.email
    if not email:
        raise ConfigError(f"{_where(account)}: autodiscover needs email")
    cache = DiscoveryCache(config.general.status_dir, account.name)
    if not fresh:
        cached = cache.load(email)
        if cached:
            log.debug("account %r: ActiveSync URL %s (autodiscover cache)", account.name, cached)
            return cached
    found = Autodiscover(
        email,
        auth=auth,
        account=account.name,
        trust=account.autodiscover_trust,
        verify=account.verify,
        timeout=min(account.timeout, 30.0),
    ).discover()
    if not persist:
        return found.url
    previous = cache.load(email)
    cache.save(email, found.url)
    if previous != found.url:
        _forget_endpoint(config, account)
    return found.url


def _forget_endpoint(config: Config, account: Account) -> None:
    """A new URL from Autodiscover: drop an old 451 target and the negotiated version,
    so the next request goes to the new URL and runs OPTIONS first (§6.5)."""
    from eassync.eas.state import AccountStateFile

    state_file = AccountStateFile(config.general.status_dir, account.name)
    state = state_file.load()
    if state.url is not None or state.protocol_version is not None:
        state.url = None
        state.protocol_version = None
        state.server_versions = []
        state_file.save(state)


def open_client(
    config: Config,
    account: Account,
    *,
    fresh_discovery: bool = False,
    auth: Auth | None = None,
    persist: bool = True,
) -> EasClient:
    """An EasClient for ``account``; ``persist=False`` writes no account state."""
    from eassync.eas.client import AccountSettings, EasClient

    login = account.login
    if not login:
        raise ConfigError(f"{_where(account)}: no username (or email)")
    auth = auth or make_auth(config, account)
    if account.url:
        url = account.url
    elif account.autodiscover:
        url = discovered_url(config, account, auth, fresh=fresh_discovery, persist=persist)
    else:
        raise ConfigError(f"{_where(account)}: no url", hint="set url, or autodiscover: true")
    settings = AccountSettings(
        name=account.name,
        url=url,
        username=login,
        auth=auth,
        protocol_version=account.protocol_version,
        verify=account.verify,
        state_dir=config.general.status_dir,
        device_type=account.device_type,
        device_model=account.device_model,
        user_agent=account.user_agent,
        timeout=account.timeout,
        provision_first=account.provision_first,
        persist=persist,
        max_response_size=account.max_response_size,
        redirect_domains=account_domains(account),
        redirect_trust=account.autodiscover_trust,
    )
    return EasClient(settings)


def account_domains(account: Account) -> tuple[str, ...]:
    """The account's own domain(s): of ``email``, and of ``username`` when it is an
    address. An HTTP 451 may move the mailbox within them (and the configured host)."""
    found = []
    for address in (account.email, account.username):
        if address and "@" in address:
            found.append(address.rsplit("@", 1)[1].lower())
    return tuple(dict.fromkeys(found))


def effective_url(config: Config, account: Account) -> tuple[str | None, str]:
    """The URL the next run of ``account`` will use, and where it comes from
    ("config", "autodiscover", "stored redirect …"). Reads the state files, creates
    nothing, contacts no server (``eassync check``)."""
    from eassync.eas.client import redirect_domains
    from eassync.eas.state import AccountStateFile
    from eassync.net.origin import redirect_problem

    if account.url:
        base, source = account.url, "config"
    elif account.autodiscover and account.email:
        from eassync.eas.autodiscover import DiscoveryCache

        cached = DiscoveryCache(config.general.status_dir, account.name).load(account.email)
        if cached is None:
            return None, "autodiscover (not run yet)"
        base, source = cached, "autodiscover"
    else:
        return None, "none"
    state = AccountStateFile(config.general.status_dir, account.name).peek()
    if state is None or state.url is None or state.url_from != base:
        return base, source
    domains = redirect_domains(base, account_domains(account))
    if redirect_problem(base, state.url, domains=domains, trusted_hosts=account.autodiscover_trust):
        return base, source  # the client drops that redirect on its next run
    return state.url, f"stored redirect (the server moved the mailbox from {base}, HTTP 451)"


def _has_cached_url(config: Config, account: Account) -> bool:
    if account.url or not account.autodiscover or not account.email:
        return False
    from eassync.eas.autodiscover import DiscoveryCache  # dnspython: only when used

    return DiscoveryCache(config.general.status_dir, account.name).load(account.email) is not None


class ClientPool:
    """Opens each account's client once per run and closes them all at the end."""

    def __init__(self, config: Config, *, persist: bool = True) -> None:
        self.config = config
        #: False: no account state or autodiscover cache is written (a dry run)
        self.persist = persist
        self._clients: dict[str, EasClient] = {}
        self._auth: dict[str, Auth] = {}
        self._synced_folders: set[str] = set()

    def client(self, account_name: str) -> EasClient:
        if account_name not in self._clients:
            account = self.config.accounts[account_name]
            auth = self._auth.get(account_name) or make_auth(self.config, account)
            self._auth[account_name] = auth
            from_cache = _has_cached_url(self.config, account)
            client = open_client(self.config, account, auth=auth, persist=self.persist)
            if from_cache:
                client = self._checked(account, client, auth)
            self._clients[account_name] = client
        return self._clients[account_name]

    def _checked(self, account: Account, client: EasClient, auth: Auth) -> EasClient:
        """A client on an autodiscovered URL, proven by one FolderSync; a URL that
        fails is discovered afresh once (eas-protocol.md §2.5: 404/451/failure)."""
        try:
            client.folder_sync()
        except _STALE_URL_ERRORS as exc:
            if isinstance(exc, ServerError) and exc.status not in (None, 404, 451, 500):
                raise
            log.warning(
                "account %r: %s fails (%s); running autodiscover again",
                account.name,
                client.url,
                exc,
            )
            client.close()
            client = open_client(
                self.config, account, fresh_discovery=True, auth=auth, persist=self.persist
            )
            client.folder_sync()
        self._synced_folders.add(account.name)
        return client

    def folders(self, account_name: str) -> list[Folder]:
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
