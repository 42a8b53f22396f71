"""NTLM acceptance for the devserver (tests of ``auth: ntlm``), through pyspnego.

pyspnego's acceptor reads its users from the file named by ``NTLM_USER_FILE``
(``DOMAIN:user:password`` lines); the variable is set only around the calls, under
a lock, so several devservers in one process (tests) each check their own users.
"""

from __future__ import annotations

import base64
import contextlib
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

#: NetBIOS domain the devserver pretends to be (``DEVSERVER\\alice``)
DOMAIN = "DEVSERVER"

_ENV_LOCK = threading.Lock()


class NtlmAcceptor:
    """Writes the user file once; :meth:`step` runs one handshake step of a connection."""

    def __init__(self, folder: Path, users: Mapping[str, str]) -> None:
        self.user_file = Path(folder) / "ntlm-users.txt"
        lines = []
        for user, password in users.items():
            lines.append(f"{DOMAIN}:{user}:{password}")
            lines.append(f":{user}:{password}")  # a user name without domain
        fd = os.open(self.user_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")

    @contextlib.contextmanager
    def _user_file(self) -> Iterator[None]:
        with _ENV_LOCK:
            saved = os.environ.get("NTLM_USER_FILE")
            os.environ["NTLM_USER_FILE"] = str(self.user_file)
            try:
                yield
            finally:
                if saved is None:
                    os.environ.pop("NTLM_USER_FILE", None)
                else:
                    os.environ["NTLM_USER_FILE"] = saved

    def new_context(self) -> Any:
        import spnego

        with self._user_file():
            return spnego.server(protocol="ntlm")

    def step(self, context: Any, header_value: str) -> tuple[bytes | None, str | None]:
        """Feed ``NTLM <token>``; returns (token for the client, user once authenticated).

        A refused Authenticate message gives (None, None).
        """
        try:
            token = base64.b64decode(header_value.strip())
        except ValueError:
            return None, None
        with self._user_file():
            try:
                out = context.step(token)
            except Exception:  # spnego raises its own classes for bad or refused tokens
                return None, None
        if context.complete:
            principal = str(context.client_principal or "")
            return out, principal.rpartition("\\")[2] or None
        return out, None
