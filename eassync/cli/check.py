"""``eassync check``: validate the config and show what it declares.

It never contacts a server and never resolves a password unless ``--secrets`` asks
for it; even then it only says whether each one resolved, never what it is.
"""

from __future__ import annotations

import json
from typing import Any

import click

from eassync.cli.output import echo, echo_block
from eassync.config import Account, Config, Pair, StorageConfig
from eassync.errors import ConfigError, EassyncError
from eassync.net.origin import plain_http_warning
from eassync.secrets import Secret


def secret_info(secret: Secret | None) -> dict[str, Any] | None:
    if secret is None:
        return None
    return {"source": secret.kind, "detail": secret.source}


def account_info(acc: Account) -> dict[str, Any]:
    return {
        "url": acc.url,
        "autodiscover": acc.autodiscover,
        "email": acc.email,
        "username": acc.login,
        "auth": acc.auth,
        "protocol_version": acc.protocol_version,
        "verify": acc.verify,
        "password": secret_info(acc.password),
        "device_type": acc.device_type,
        "device_model": acc.device_model,
        "user_agent": acc.user_agent,
        "timeout": acc.timeout,
        "provision_first": acc.provision_first,
        "autodiscover_trust": list(acc.autodiscover_trust),
        "max_response_size": acc.max_response_size,
    }


def storage_info(st: StorageConfig) -> dict[str, Any]:
    if st.type in ("vdir", "notes"):
        return {"type": st.type, "path": str(st.path), "fileext": st.fileext}
    return {
        "type": st.type,
        "url": st.url,
        "collection": st.collection,
        "username": st.username,
        "verify": st.verify,
        "password": secret_info(st.password),
        "trust": list(st.trust),
        "timeout": st.timeout,
        "max_response_size": st.max_response_size,
    }


def pair_info(pair: Pair) -> dict[str, Any]:
    return {
        "account": pair.account,
        "remote": dict(pair.remote),
        "kind": pair.kind,
        "local": pair.local,
        "conflict": (
            {"command": list(pair.conflict_command)} if pair.conflict_command else pair.conflict
        ),
        "direction": pair.direction,
        "local_changes": pair.local_changes,
        "max_delete_ratio": pair.max_delete_ratio,
    }


def describe(config: Config) -> dict[str, Any]:
    """What the config declares, as plain data (the ``--json`` output), with the URL
    each account will really use (a stored redirect, autodiscover) and warnings."""
    from eassync.accounts import effective_url

    accounts = {}
    for name, acc in config.accounts.items():
        info = account_info(acc)
        url, source = effective_url(config, acc)
        info["effective_url"], info["url_source"] = url, source
        warning = plain_http_warning(url or "", f"account {name}")
        info["warnings"] = [warning] if warning else []
        accounts[name] = info
    storages = {}
    for name, st in config.storages.items():
        info = storage_info(st)
        if st.type != "vdir":
            warning = (
                plain_http_warning(st.url or "", f"storage {name}")
                if st.username is not None
                else None
            )
            info["warnings"] = [warning] if warning else []
        storages[name] = info
    return {
        "config": str(config.path),
        "status_dir": str(config.general.status_dir),
        "accounts": accounts,
        "storages": storages,
        "pairs": {n: pair_info(p) for n, p in config.pairs.items()},
    }


def _secrets(config: Config) -> list[tuple[str, Secret]]:
    found = [(f"accounts.{n}.password", a.password) for n, a in config.accounts.items()]
    found += [(f"storages.{n}.password", s.password) for n, s in config.storages.items()]
    return [(label, secret) for label, secret in found if secret is not None]


def check_secrets(config: Config) -> tuple[dict[str, str], list[str]]:
    """Resolve every password; return label → "ok"/"failed" and the error lines."""
    results: dict[str, str] = {}
    problems: list[str] = []
    for label, secret in _secrets(config):
        try:
            secret.get()
        except EassyncError as exc:
            results[label] = "failed"
            problems.append(str(exc) + (f" ({exc.hint})" if exc.hint else ""))
        else:
            results[label] = "ok"
    return results, problems


def _verify_text(verify: bool | str, url: str | None = None) -> str:
    if url is not None and url.lower().startswith("http://"):
        return "no (plain http: no TLS at all)"
    if verify is True:
        return "yes"
    if verify is False:
        return "NO (TLS certificates not checked)"
    return f"with CA bundle {verify}"


def _print_text(info: dict[str, Any], secrets: dict[str, str]) -> None:
    echo(f"config: {info['config']} (valid)")
    echo(f"status dir: {info['status_dir']}")
    echo()
    echo(f"accounts ({len(info['accounts'])}):")
    for name, acc in info["accounts"].items():
        where = "autodiscover from " + str(acc["email"]) if acc["autodiscover"] else acc["url"]
        echo(f"  {name}: {where}")
        effective = acc["effective_url"] or "not known yet"
        echo(f"    effective url: {effective} (from {acc['url_source']})")
        verify = _verify_text(acc["verify"], acc["effective_url"])
        echo(
            f"    user {acc['username']}, auth {acc['auth']}, "
            f"protocol {acc['protocol_version']}, verify TLS: {verify}"
        )
        for warning in acc["warnings"]:
            echo(f"    WARNING: {warning}")
        _print_password(acc["password"], secrets.get(f"accounts.{name}.password"))
    echo()
    echo(f"storages ({len(info['storages'])}):")
    for name, st in info["storages"].items():
        if st["type"] in ("vdir", "notes"):
            ext = f" (*{st['fileext']})" if st["fileext"] else ""
            echo(f"  {name}: {st['type']} {st['path']}{ext}")
        else:
            coll = f", collection {st['collection']}" if st["collection"] else ""
            user = f", user {st['username']}" if st["username"] else ""
            echo(f"  {name}: {st['type']} {st['url']}{coll}{user}")
            if st["verify"] is not True or st["url"].lower().startswith("http://"):
                echo(f"    verify TLS: {_verify_text(st['verify'], st['url'])}")
            for warning in st["warnings"]:
                echo(f"    WARNING: {warning}")
            _print_password(st["password"], secrets.get(f"storages.{name}.password"))
    echo()
    echo(f"pairs ({len(info['pairs'])}):")
    for name, pair in info["pairs"].items():
        remote = "{" + ", ".join(f"{k}: {v}" for k, v in pair["remote"].items()) + "}"
        conflict = pair["conflict"]
        if isinstance(conflict, dict):
            conflict = "command " + " ".join(conflict["command"])
        arrow = {"both": "<->", "to_local": "-->", "to_remote": "<--"}[pair["direction"]]
        echo(f"  {name}: {pair['account']} {remote} {arrow} {pair['local']}")
        local_changes = ""
        if pair["direction"] == "to_local":
            local_changes = f", local_changes {pair['local_changes']}"
        echo(f"    conflict {conflict}, direction {pair['direction']}{local_changes}")


def _print_password(info: dict[str, Any] | None, result: str | None) -> None:
    if info is None:
        return
    status = f" — resolves: {result}" if result else ""
    echo(f"    password: {info['detail']}{status}")


@click.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print what the config declares as JSON.")
@click.option(
    "--secrets",
    "resolve",
    is_flag=True,
    help="Also resolve every password (run the commands, read the keyring) to check it works; "
    "the passwords are never printed.",
)
@click.pass_obj
def command(obj: Any, as_json: bool, resolve: bool) -> int:
    """Validate the config file and show what it declares.

    Exit status 2 lists every problem found, each as FILE:LINE:COL. Passwords are
    not looked up unless --secrets is given.
    """
    config: Config = obj.load_config()
    info = describe(config)
    secrets, problems = check_secrets(config) if resolve else ({}, [])
    if as_json:
        if resolve:
            info["secrets"] = secrets
        echo_block(json.dumps(info, indent=2, sort_keys=False))
    else:
        _print_text(info, secrets)
    if problems:
        raise ConfigError("some passwords could not be resolved", problems=problems)
    return 0
