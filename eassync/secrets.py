"""Passwords from the config: a literal, a command, an environment variable, the keyring.

A secret is resolved lazily (only the commands that need it pay for a password
prompt), at most once per run, and never appears in a log line, a repr or an error
message: errors name where the secret is configured and how it was looked up.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import threading
from collections.abc import Mapping
from typing import Any

from eassync.errors import ConfigError

#: how long a password command may take (a GPG agent prompt needs a person)
COMMAND_TIMEOUT = 120.0


def describe_source(spec: Any) -> str:
    """How a secret is looked up, for humans; never the secret itself."""
    if isinstance(spec, str):
        return "literal in the config file"
    if isinstance(spec, Mapping):
        if "command" in spec:
            return f"command: {_command_text(spec['command'])}"
        if "env" in spec:
            return f"environment variable {spec['env']}"
        if "keyring" in spec:
            ring = spec["keyring"]
            return f"keyring: service {ring.get('service')!r}, user {ring.get('username')!r}"
    return "unknown"


def source_kind(spec: Any) -> str:
    """``literal``, ``command``, ``env`` or ``keyring``."""
    if isinstance(spec, str):
        return "literal"
    if isinstance(spec, Mapping):
        for kind in ("command", "env", "keyring"):
            if kind in spec:
                return kind
    return "unknown"


def _argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


def _command_text(command: str | list[str]) -> str:
    return shlex.join(_argv(command))


def resolve_secret(spec: Any, *, where: str) -> str:
    """The password ``spec`` stands for. ``where`` names it in errors
    ("accounts.work.password", with file:line when known).

    Raises ConfigError when the lookup fails or yields nothing.
    """
    kind = source_kind(spec)
    if kind == "literal":
        return str(spec)
    if kind == "command":
        return _from_command(_argv(spec["command"]), where=where)
    if kind == "env":
        name = spec["env"]
        value = os.environ.get(name, "")
        if not value:
            raise ConfigError(
                f"{where}: environment variable {name} is not set or empty",
                hint=f"export {name}=... before running eassync, or use another password source",
            )
        return value
    if kind == "keyring":
        return _from_keyring(spec["keyring"], where=where)
    raise ConfigError(f"{where}: not a password source")


def _from_command(argv: list[str], *, where: str) -> str:
    shown = shlex.join(argv)
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise ConfigError(
            f"{where}: password command not found: {argv[0]} (in `{shown}`)",
            hint="install it or give its full path",
        ) from None
    except PermissionError:
        raise ConfigError(f"{where}: password command not executable: {argv[0]}") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(
            f"{where}: password command `{shown}` did not finish within {COMMAND_TIMEOUT:g} s"
        ) from None
    if done.returncode != 0:
        # stderr says why (gpg: decryption failed …); stdout might hold the secret: never shown.
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = f": {reason[0][:200]}" if reason else ""
        raise ConfigError(
            f"{where}: password command `{shown}` failed with exit status {done.returncode}{detail}"
        )
    lines = done.stdout.decode("utf-8", "replace").splitlines()
    password = lines[0].strip() if lines else ""
    if not password:
        raise ConfigError(
            f"{where}: password command `{shown}` printed nothing",
            hint="the first line of its output must be the password",
        )
    return password


def _from_keyring(ring: Mapping[str, str], *, where: str) -> str:
    try:
        import keyring  # optional dependency
    except ImportError:
        raise ConfigError(
            f"{where}: the keyring password source needs the Python package keyring",
            hint="pip install keyring (or use {command: [...]} or {env: NAME})",
        ) from None
    service, username = ring["service"], ring["username"]
    try:
        value = keyring.get_password(service, username)
    except Exception as exc:  # keyring backends raise their own error classes
        raise ConfigError(
            f"{where}: keyring lookup failed for service {service!r}, user {username!r}: "
            f"{type(exc).__name__}"
        ) from None
    if not value:
        raise ConfigError(
            f"{where}: the keyring has no password for service {service!r}, user {username!r}",
            hint=f"keyring set {shlex.quote(service)} {shlex.quote(username)}",
        )
    return str(value)


class Secret:
    """A password source, resolved on first use and cached for the run.

    Its repr and str never show the value, so a Secret can sit in a dataclass that
    gets logged or printed.
    """

    __slots__ = ("_lock", "_spec", "_value", "where")

    def __init__(self, spec: Any, *, where: str) -> None:
        self._spec = spec
        self.where = where
        self._value: str | None = None
        self._lock = threading.Lock()

    @property
    def kind(self) -> str:
        """``literal``, ``command``, ``env`` or ``keyring``."""
        return source_kind(self._spec)

    @property
    def source(self) -> str:
        """How it is looked up, for ``eassync check``; never the value."""
        return describe_source(self._spec)

    def get(self) -> str:
        """The password; runs the command / asks the keyring once per run."""
        with self._lock:
            if self._value is None:
                self._value = resolve_secret(self._spec, where=self.where)
            return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and self._spec == other._spec

    def __hash__(self) -> int:
        return hash(repr(self._spec))
