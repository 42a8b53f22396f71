"""``eassync doctor [ACCOUNT]``: walk the first contact with an account's server step
by step and say, for each step, ok or what failed and what to do.

Steps, in order (a failed step ends the walk: the later ones need it):
configuration, password or OAuth2 token, autodiscover (without ``url``), DNS, TLS,
login, protocol versions (OPTIONS), Provision, Settings/DeviceInformation, FolderSync,
and the pairs' folders. It does what a first sync does on the EAS side (DeviceId,
policy key and folder map are kept in the account state, as a sync keeps them) and
touches no pair and no local collection.

Exit status: 0 only when a sync of the account would get past all of these; else the
code of the first failed step's error (2 config, 75 transient, 1 the rest).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

from eassync.cli.check import account_info, secret_info
from eassync.cli.complete import complete_accounts
from eassync.cli.output import echo, echo_block
from eassync.cli.text import printable
from eassync.cli.traceopt import trace_options
from eassync.errors import ConfigError, EassyncError, ServerError, TLSError, TransportError
from eassync.net.tls import NOT_TLS, not_tls_hint, not_tls_message, tls_failure_kind
from eassync.oserror import os_failure, sqlite_failure

if TYPE_CHECKING:
    from eassync.config import Account, Config
    from eassync.eas.auth import Auth
    from eassync.eas.client import EasClient, Folder

#: (step, title) in walking order
STEPS: tuple[tuple[str, str], ...] = (
    ("config", "configuration"),
    ("secret", "password / token"),
    ("autodiscover", "autodiscover"),
    ("dns", "DNS"),
    ("tls", "connection, TLS"),
    ("login", "login"),
    ("versions", "protocol versions"),
    ("provision", "Provision"),
    ("device_information", "DeviceInformation"),
    ("folders", "FolderSync"),
    ("pairs", "pairs"),
)
TITLES = dict(STEPS)
_MAX_NAMES = 8  # folder names shown per kind


@dataclass
class Step:
    name: str
    status: str  # ok | warning | skipped | failed | not tried
    detail: str
    hint: str | None = None
    exit_code: int = 0
    data: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "status": self.status,
            "detail": self.detail,
            "hint": self.hint,
            "exit_code": self.exit_code,
            "data": self.data,
        }


class _Stop(Exception):
    """A step failed; the steps after it are not tried."""


@dataclass
class Result:
    """What one step found: a sentence, optional data, and ``warning`` when it works
    but deserves attention."""

    detail: str
    data: dict[str, Any] = field(default_factory=dict)
    warning: bool = False
    skipped: bool = False


class Walk:
    """The steps for one account."""

    def __init__(self, config: Config, account: Account) -> None:
        self.config = config
        self.account = account
        self.steps: list[Step] = []
        self.auth: Auth | None = None
        self.url: str | None = account.url
        self.client: EasClient | None = None
        self.offered: list[str] = []
        self.folders: list[Folder] = []

    @property
    def exit_code(self) -> int:
        return next((s.exit_code for s in self.steps if s.status == "failed"), 0)

    def run(self) -> list[Step]:
        try:
            self._do("config", self._config)
            self._do("secret", self._secret)
            self._do("autodiscover", self._autodiscover)
            self._do("dns", self._dns)
            self._do("tls", self._tls)
            self._do("login", self._login)
            self._do("versions", self._versions)
            self._do("provision", self._provision)
            self._do("device_information", self._device_information)
            self._do("folders", self._folder_sync)
            self._do("pairs", self._pairs)
        except _Stop:
            done = {s.name for s in self.steps}
            for name, _ in STEPS:
                if name not in done:
                    self.steps.append(Step(name, "not tried", "needs the failed step above"))
        finally:
            if self.client is not None:
                self.client.close()
        return self.steps

    def _do(self, name: str, fn: Callable[[], Result]) -> None:
        try:
            try:
                found = fn()
            except OSError as exc:  # the machine: a read-only or full state folder
                raise os_failure(exc) from exc
            except sqlite3.Error as exc:
                raise sqlite_failure(exc) from exc
        except EassyncError as exc:
            self.steps.append(
                Step(name, "failed", exc.message, exc.hint, exc.exit_code, _error_data(exc))
            )
            raise _Stop from None
        except Exception as exc:  # no traceback ever: say what broke and where
            self.steps.append(
                Step(
                    name,
                    "failed",
                    f"unexpected error: {type(exc).__name__}: {exc}",
                    "this is likely a bug in eassync; rerun with -vv and report the output",
                    1,
                )
            )
            raise _Stop from None
        status = "skipped" if found.skipped else "warning" if found.warning else "ok"
        self.steps.append(Step(name, status, found.detail, data=found.data))

    # --- the steps ---------------------------------------------------------------------

    def _config(self) -> Result:
        acc = self.account
        where = acc.url or f"autodiscover from {acc.email}"
        return Result(
            f"{self.config.path}: account {acc.name}: {where}, auth {acc.auth}, "
            f"protocol {acc.protocol_version}",
            data=account_info(acc),
        )

    def _secret(self) -> Result:
        from eassync.accounts import make_auth, oauth_account

        acc = self.account
        if acc.auth == "oauth2":
            # refreshed now, so that a sign-in Microsoft refuses shows here (AADSTS codes)
            oauth_account(self.config, acc).access_token(force_refresh=True)
            self.auth = make_auth(self.config, acc)
            return Result("the OAuth2 sign-in is valid: a fresh access token was issued")
        self.auth = make_auth(self.config, acc)
        source = secret_info(acc.password)
        return Result(
            f"the password from {source['detail'] if source else '?'} resolves",
            data={"password": source},
        )

    def _autodiscover(self) -> Result:
        from eassync.accounts import discovered_url

        if self.account.url:
            return Result("not needed: url is set", skipped=True)
        assert self.auth is not None
        self.url = discovered_url(self.config, self.account, self.auth, fresh=True)
        return Result(f"found {self.url}", data={"url": self.url})

    def _dns(self) -> Result:
        host, port = _host_port(self._url())
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise TransportError(
                f"cannot resolve {host}: {getattr(exc, 'strerror', None) or exc}",
                hint="check the host name in url (or the e-mail domain) and the network",
            ) from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        return Result(f"{host} is {', '.join(addresses[:4])}", data={"addresses": addresses})

    def _tls(self) -> Result:
        url = self._url()
        host, port = _host_port(url)
        verify = self.account.verify
        timeout = min(self.account.timeout, 30.0)
        if urlsplit(url).scheme.lower() != "https":
            _connect(host, port, timeout).close()
            return Result(
                f"connected to {host}:{port}; plain HTTP: the password and your data travel "
                "unencrypted (test servers only)",
                warning=True,
            )
        if verify is False:
            _connect(host, port, timeout).close()
            return Result(
                f"connected to {host}:{port}; certificate NOT checked (verify: false)",
                warning=True,
            )
        return Result(*_tls_handshake(host, port, verify, timeout))

    def _login(self) -> Result:
        from eassync.accounts import open_client

        self.client = open_client(self.config, self.account, auth=self.auth)
        self.offered = self.client.probe_versions()
        how = {"basic": "Basic", "ntlm": "NTLM", "oauth2": "OAuth2"}[self.account.auth]
        return Result(
            f"{self.client.url} accepted the {how} login as {self.account.login}",
            data={"url": self.client.url},
        )

    def _versions(self) -> Result:
        client = self._client()
        offered = self.offered
        version = client.version
        data = {"offered": offered, "using": version}
        if offered and version not in offered:
            raise ServerError(
                f"the server offers protocol versions {', '.join(offered)}; the pinned "
                f"protocol_version {version} is not among them",
                hint="set protocol_version: auto",
            )
        detail = f"the server offers {', '.join(offered) or 'none'}; using {version}"
        if offered == ["16.1"]:
            detail += (
                " (16.1 only, as Exchange Online since March 2026: it wants "
                "Settings/DeviceInformation, which eassync sends)"
            )
        return Result(detail, data=data)

    def _provision(self) -> Result:
        client = self._client()
        try:
            client.provision()
        except ServerError as exc:
            if exc.status == 501:  # no Provision command: the server needs none
                return Result("the server has no Provision command (none needed)", skipped=True)
            raise
        if client.policy_key:
            return Result("provisioned: the server accepted this device and gave a policy key")
        return Result("the server has no policy for this device (none needed)")

    def _device_information(self) -> Result:
        from eassync.eas import versions

        client = self._client()
        if not versions.at_least(client.version, "14.1"):
            return Result(f"not used with EAS {client.version} (from 14.1 on)", skipped=True)
        data = {
            "device_id": client.device_id,
            "device_type": client.device_type,
            "model": self.account.device_model,
            "user_agent": client.user_agent,
        }
        detail = (
            f"DeviceId {client.device_id}, DeviceType {client.device_type}, model "
            f"{self.account.device_model}, User-Agent {client.user_agent}"
        )
        if client.send_device_information():
            return Result(f"accepted: {detail}", data=data)
        return Result(
            f"the server refused Settings/DeviceInformation ({detail}); servers that "
            "require it, such as Exchange Online, would refuse to sync",
            data=data,
            warning=True,
        )

    def _folder_sync(self) -> Result:
        from eassync.pairs import folder_kind

        self.folders = self._client().folder_sync()
        by_kind: dict[str, list[str]] = {}
        for folder in self.folders:
            kind = folder_kind(folder)
            if kind:
                by_kind.setdefault(kind, []).append(folder.display_name)
        parts = []
        for kind in ("contacts", "calendar", "tasks"):
            names = by_kind.get(kind, [])
            shown = ", ".join(names[:_MAX_NAMES]) + (" …" if len(names) > _MAX_NAMES else "")
            parts.append(f"{kind}: {shown or 'none'}")
        data = {
            "folders": [
                {
                    "name": f.display_name,
                    "type": f.type,
                    "kind": folder_kind(f),
                    "id": f.server_id,
                }
                for f in self.folders
            ]
        }
        return Result(f"{len(self.folders)} folders; " + "; ".join(parts), data=data)

    def _pairs(self) -> Result:
        from eassync.pairs import select_folders

        mine = [p for p in self.config.pairs.values() if p.account == self.account.name]
        if not mine:
            return Result("no pair uses this account", warning=True)
        found: dict[str, list[str]] = {}
        for pair in mine:
            found[pair.name] = [
                s.folder.display_name for s in select_folders(pair.name, pair.remote, self.folders)
            ]
        detail = "; ".join(f"{name} → {', '.join(names)}" for name, names in found.items())
        return Result(detail, data={"pairs": found})

    # --- helpers -----------------------------------------------------------------------

    def _url(self) -> str:
        if not self.url:
            raise ConfigError(f"account {self.account.name!r}: no url")
        return self.url

    def _client(self) -> EasClient:
        assert self.client is not None
        return self.client


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if not parts.hostname:
        raise ConfigError(f"not a usable url: {url!r}")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"bad port in url {url!r}") from None
    return parts.hostname, port or (443 if parts.scheme.lower() == "https" else 80)


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise TransportError(
            f"cannot connect to {host}:{port}: {exc.strerror or exc}",
            hint="check the url and the network; run again later",
        ) from None


def _tls_handshake(
    host: str, port: int, verify: bool | str, timeout: float
) -> tuple[str, dict[str, Any]]:
    """Verify the server's certificate as the requests would (CA bundle: the
    account's ``verify`` file, else REQUESTS_CA_BUNDLE, else certifi's)."""
    from requests.utils import DEFAULT_CA_BUNDLE_PATH

    cafile = (
        verify
        if isinstance(verify, str)
        else os.environ.get("REQUESTS_CA_BUNDLE")
        or os.environ.get("CURL_CA_BUNDLE")
        or DEFAULT_CA_BUNDLE_PATH
    )
    try:
        context = ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise TLSError(
            f"cannot read the CA bundle {cafile}: {exc}",
            hint="point verify at a readable PEM file",
        ) from None
    try:
        with (
            _connect(host, port, timeout) as sock,
            context.wrap_socket(sock, server_hostname=host) as tls,
        ):
            cert = tls.getpeercert() or {}
            version = tls.version() or "TLS"
    except ssl.SSLCertVerificationError as exc:
        raise TLSError(
            f"the TLS certificate of {host} could not be verified: "
            f"{exc.verify_message or exc.reason}",
            hint="if the server uses a private CA, set `verify: /path/to/ca.pem` for this account",
        ) from None
    except ssl.SSLError as exc:
        if tls_failure_kind(exc) == NOT_TLS:
            raise TLSError(not_tls_message(f"{host}:{port}"), hint=not_tls_hint()) from None
        raise TLSError(f"TLS handshake with {host}:{port} failed: {exc.reason or exc}") from None
    except OSError as exc:
        raise TransportError(
            f"the TLS handshake with {host}:{port} broke off: {exc.strerror or exc}",
            hint="check the url (is it the HTTPS port?) and the network; run again later",
        ) from None
    subject = _name(cert.get("subject"))
    issuer = _name(cert.get("issuer"))
    until = str(cert.get("notAfter", "?"))
    return (
        f"certificate of {subject or host} verified ({version}, issued by {issuer or '?'}, "
        f"valid until {until})",
        {"tls_version": version, "subject": subject, "issuer": issuer, "not_after": until},
    )


def _name(rdns: Any) -> str:
    """``commonName`` (else ``organizationName``) from getpeercert()'s nested tuples."""
    fields = {k: v for rdn in rdns or () for k, v in rdn}
    return str(fields.get("commonName") or fields.get("organizationName") or "")


def _error_data(exc: EassyncError) -> dict[str, Any]:
    from eassync.eas import aadsts
    from eassync.errors import DeviceBlocked

    data: dict[str, Any] = {"error": type(exc).__name__}
    status = getattr(exc, "status", None)
    if status is not None:
        data["status"] = status
    if isinstance(exc, DeviceBlocked):
        data["device_id"] = exc.device_id
        data["device_type"] = exc.device_type
    explained = aadsts.explain(exc.message)
    if explained is not None:
        data["aadsts"] = explained.code
        data["aadsts_meaning"] = f"{explained.name}: {explained.meaning}"
    return data


# --- output -------------------------------------------------------------------------------


def _safe(text: str) -> str:
    """Server-supplied text (folder names, error excerpts) with control and format
    characters escaped, so nothing a server sends can drive the terminal."""
    return printable(text)


_MARK = {"ok": "ok", "warning": "WARN", "skipped": "skip", "failed": "FAIL", "not tried": "-"}


def _print_walk(name: str, steps: list[Step], code: int) -> None:
    echo(f"account {_safe(name)}:")
    for step in steps:
        echo(f"  {_MARK[step.status]:<5} {TITLES[step.name]:<18} {_safe(step.detail)}")
        if step.status == "failed" and step.data.get("aadsts_meaning"):
            echo(f"  {'':<5} {'':<18} means: {_safe(step.data['aadsts_meaning'])}")
        if step.hint and step.status == "failed":
            echo(f"  {'':<5} {'':<18} what to do: {_safe(step.hint)}")
    if code == 0:
        echo("  → a sync of this account would work")
    else:
        echo(f"  → a sync would fail: fix the FAIL step (exit status {code})")


def _walk_all(config: Config, names: list[str]) -> Iterator[tuple[str, Walk]]:
    for name in names:
        walk = Walk(config, config.accounts[name])
        walk.run()
        yield name, walk


@click.command("doctor")
@click.argument("account", required=False, shell_complete=complete_accounts)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@trace_options
@click.pass_obj
def command(obj: Any, account: str | None, as_json: bool) -> int:
    """Walk the first contact with an account's server, step by step (all accounts
    without ACCOUNT): configuration and password or OAuth2 token, autodiscover, DNS,
    TLS, login, protocol versions, Provision, DeviceInformation, FolderSync and the
    pairs' folders. Each step says ok, or what failed and what to do.

    Exit status 0 only when a sync would get through; otherwise 2 (configuration),
    75 (network, throttling: try later) or 1 (the rest).
    """
    try:
        config: Config = obj.load_config()
    except ConfigError as exc:
        step = Step("config", "failed", exc.message, exc.hint, exc.exit_code)
        step.data["problems"] = list(exc.problems)
        if as_json:
            out = {"accounts": {}, "config": step.as_json(), "exit_code": exc.exit_code}
            echo_block(json.dumps(out, indent=2))
            return exc.exit_code
        raise
    names = [account] if account else sorted(config.accounts)
    for name in names:
        if name not in config.accounts:
            known = ", ".join(sorted(config.accounts)) or "none"
            raise ConfigError(f"no account named {name!r} in {config.path} (accounts: {known})")
    results: dict[str, dict[str, Any]] = {}
    code = 0
    for name, walk in _walk_all(config, names):
        code = code or walk.exit_code
        if as_json:
            results[name] = {
                "ok": walk.exit_code == 0,
                "exit_code": walk.exit_code,
                "steps": [s.as_json() for s in walk.steps],
            }
        else:
            _print_walk(name, walk.steps, walk.exit_code)
    if as_json:
        echo_block(json.dumps({"accounts": results, "exit_code": code}, indent=2))
    return code
