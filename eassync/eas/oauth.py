"""OAuth2 for Exchange Online (``auth: oauth2``) with msal: device-code sign-in,
a token cache in the state dir (mode 0600), silent refresh.

``eassync login ACCOUNT`` runs :meth:`OAuthAccount.login` once (it prints a URL and
a code; the browser may be on another machine, so it works over SSH). Every run
after that calls :meth:`OAuthAccount.access_token`, which refreshes silently with
the cached refresh token; when that fails the error says to run the login again.

Scope: ``https://outlook.office365.com/EAS.AccessAsUser.All`` (msal adds
``offline_access``, which brings the refresh token). eas-protocol.md §8.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from eassync.eas.auth import BearerAuth
from eassync.eas.state import safe_file_stem, write_private_file
from eassync.errors import AuthError, ConfigError

log = logging.getLogger(__name__)

#: Thunderbird's public, multi-tenant client id: works without registering an app
#: in many tenants. Organisations that block it register their own public client
#: (Entra ID → App registrations, "Allow public client flows", delegated permission
#: Office 365 Exchange Online → EAS.AccessAsUser.All) and set ``client_id``.
DEFAULT_CLIENT_ID = "9e5f94bc-e8a4-4e73-b8be-63364c29d753"
DEFAULT_TENANT = "common"
MICROSOFT_LOGIN = "https://login.microsoftonline.com"
#: where tokens come from (a test points this at its loopback identity provider)
AUTHORITY_HOST = MICROSOFT_LOGIN
EAS_SCOPE = "https://outlook.office365.com/EAS.AccessAsUser.All"


def login_hint(account: str) -> str:
    return f"run `eassync login {account}`"


class TokenCacheFile:
    """msal's serialisable cache, stored as ``<state_dir>/oauth/<account>.json`` (0600)."""

    def __init__(self, state_dir: Path, account: str) -> None:
        self.path = Path(state_dir) / "oauth" / f"{safe_file_stem(account)}.json"

    def load(self) -> Any:
        import msal

        cache = msal.SerializableTokenCache()
        with contextlib.suppress(FileNotFoundError):
            cache.deserialize(self.path.read_text(encoding="utf-8"))
        return cache

    def save(self, cache: Any) -> None:
        if not cache.has_state_changed:
            return
        write_private_file(self.path, cache.serialize().encode())
        cache.has_state_changed = False

    def delete(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class OAuthAccount:
    """Tokens of one account. ``authority_host`` and ``session`` exist for tests (a
    loopback identity provider); ``verify`` is the account's TLS setting."""

    def __init__(
        self,
        account: str,
        *,
        state_dir: Path,
        email: str | None = None,
        client_id: str | None = None,
        tenant: str | None = None,
        verify: bool | str = True,
        authority_host: str | None = None,
        session: requests.Session | None = None,
        scopes: tuple[str, ...] = (EAS_SCOPE,),
    ) -> None:
        self.account = account
        self.email = email
        self.client_id = client_id or DEFAULT_CLIENT_ID
        self.tenant = tenant or DEFAULT_TENANT
        self.authority = f"{(authority_host or AUTHORITY_HOST).rstrip('/')}/{self.tenant}"
        self.scopes = list(scopes)
        self.cache_file = TokenCacheFile(state_dir, account)
        self._session = session or _VerifyingSession()
        self._session.verify = verify
        self._app: Any = None
        self._cache: Any = None

    def _application(self) -> Any:
        if self._app is None:
            import msal

            self._cache = self.cache_file.load()
            try:
                self._app = msal.PublicClientApplication(
                    self.client_id,
                    authority=self.authority,
                    token_cache=self._cache,
                    http_client=self._session,
                    # a sovereign cloud or a test IdP: no lookup at login.microsoftonline.com
                    instance_discovery=self.authority.startswith(MICROSOFT_LOGIN),
                )
            except (ValueError, requests.RequestException) as exc:
                raise AuthError(
                    f"account {self.account!r}: cannot reach the sign-in service "
                    f"{urlsplit(self.authority).netloc} ({type(exc).__name__}: {exc})",
                    hint="check the network and the tenant setting",
                ) from None
        return self._app

    # --- interactive sign-in ---

    def login(self, show: Callable[[str], None]) -> str:
        """Device-code flow: ``show`` gets the instructions (URL and code); blocks until
        the user signed in. Returns the signed-in user name."""
        app = self._application()
        flow = app.initiate_device_flow(scopes=self.scopes)
        if "user_code" not in flow:
            raise AuthError(
                f"account {self.account!r}: the sign-in service refused to start a device "
                f"login: {_describe(flow)}",
                hint="check client_id and tenant in the config",
            )
        show(
            flow.get("message") or f"Open {flow['verification_uri']} and enter {flow['user_code']}"
        )
        result = app.acquire_token_by_device_flow(flow)
        self.cache_file.save(self._cache)
        if "access_token" not in result:
            raise AuthError(
                f"account {self.account!r}: sign-in failed: {_describe(result)}",
                hint=_hint(result, self.account),
            )
        claims = result.get("id_token_claims") or {}
        return str(claims.get("preferred_username") or self.email or "")

    # --- every run ---

    def access_token(self, force_refresh: bool = False) -> str:
        """A valid access token, refreshed silently (new tokens are saved at once)."""
        app = self._application()
        accounts = app.get_accounts(username=self.email) if self.email else []
        accounts = accounts or app.get_accounts()
        if not accounts:
            raise AuthError(
                f"account {self.account!r}: not signed in (no token in {self.cache_file.path})",
                hint=login_hint(self.account),
            )
        result = app.acquire_token_silent_with_error(
            self.scopes, account=accounts[0], force_refresh=force_refresh
        )
        self.cache_file.save(self._cache)
        if not result or "access_token" not in result:
            reason = _describe(result) if result else "no usable refresh token"
            raise AuthError(
                f"account {self.account!r}: the sign-in has expired or was revoked ({reason})",
                hint=_hint(result or {}, self.account),
            )
        return str(result["access_token"])

    def bearer_auth(self) -> OAuthBearer:
        return OAuthBearer(self.access_token, anchor_mailbox=self.email)


class OAuthBearer(BearerAuth):
    """Bearer tokens from an :class:`OAuthAccount`; errors keep their message.

    For consumer Outlook.com (``eas.outlook.com``) the ``DefaultAnchorMailbox`` cookie
    routes the request to the mailbox (eas-protocol.md §8, TbSync anchor-mailbox.mjs).
    """

    def __init__(
        self, token_provider: Callable[[bool], str], *, anchor_mailbox: str | None = None
    ) -> None:
        super().__init__(token_provider)
        self._provider_fn = token_provider
        self.anchor_mailbox = anchor_mailbox
        self.last_error: AuthError | None = None

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r = super().__call__(r)
        host = (urlsplit(r.url or "").hostname or "").lower()
        if self.anchor_mailbox and host.endswith("outlook.com"):
            cookie = r.headers.get("Cookie")
            anchor = f"DefaultAnchorMailbox={self.anchor_mailbox}"
            r.headers["Cookie"] = f"{cookie}; {anchor}" if cookie else anchor
        return r

    def refresh(self) -> bool:
        """After a 401: force a refresh; an AuthError from the provider is re-raised
        (it says to run ``eassync login``) instead of a generic wrong-password error."""
        try:
            self._token = self._provider_fn(True)
        except AuthError:
            raise
        except Exception:
            return False
        return True

    def __repr__(self) -> str:
        return "<OAuthBearer>"


class _VerifyingSession(requests.Session):
    """Passes ``verify`` on every request: requests lets REQUESTS_CA_BUNDLE override a
    session's own setting, which would ignore the account's ``verify: CA`` file."""

    def request(self, method: str | bytes, url: str | bytes, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.setdefault("verify", self.verify)
        return super().request(method, url, **kwargs)


def _describe(result: dict[str, Any]) -> str:
    error = result.get("error") or "error"
    text = str(result.get("error_description") or "").splitlines()
    return f"{error}: {text[0][:200]}" if text else str(error)


def _hint(result: dict[str, Any], account: str) -> str:
    """What to do: the AADSTS code explained where there is one, else sign in again."""
    from eassync.eas import aadsts

    explained = aadsts.explain(str(result.get("error_description") or ""))
    if explained is None:
        return login_hint(account)
    return explained.sentence().replace("`eassync login`", f"`eassync login {account}`")


def check_settings(client_id: str | None, tenant: str | None, where: str) -> None:
    """Cheap sanity checks of configured values (msal would fail later and vaguer)."""
    if tenant is not None and ("/" in tenant or not tenant.strip()):
        raise ConfigError(f"{where}: tenant {tenant!r} must be a directory id or a domain")
    if client_id is not None and not client_id.strip():
        raise ConfigError(f"{where}: client_id is empty")
