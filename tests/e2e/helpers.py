"""Helpers for end-to-end tests: a devserver, a config for it, and views of both sides."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

from eassync.config import load_config
from eassync.demo_data import contact
from eassync.devserver import DevServer
from eassync.eas.element import Element

USER = "alice"
PASSWORD = "secret"

#: the summary of a sync that changed nothing
NO_OP = "local +0 ~0 -0, remote +0 ~0 -0"


def write_contacts_config(
    folder: Path, account: str, *, name: str = "acc", pair_keys: str = "", extra: str = ""
) -> Path:
    """``folder/config.yaml``: status in ``folder/state``, the account ``name`` (its
    keys as YAML lines in ``account``), a vdir of contacts in ``folder/contacts`` and
    the pair ``contacts`` between that vdir and the account's default contacts folder
    (more keys of that pair in ``pair_keys``). ``extra`` goes at the end (more pairs)."""

    def block(text: str, spaces: int) -> str:
        return textwrap.indent(textwrap.dedent(text), " " * spaces)

    config = folder / "config.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            general:
              status_dir: {folder / "state"}
            accounts:
              {name}:
            """
        )
        + block(account, 4)
        + textwrap.dedent(
            f"""\
            storages:
              contacts:
                type: vdir
                path: {folder / "contacts"}
                fileext: .vcf
            pairs:
              contacts:
                account: {name}
                remote: {{default: contacts}}
                local: contacts
            """
        )
        + block(pair_keys, 4)
        + extra,
        encoding="utf-8",
    )
    return config


def write_config(
    folder: Path,
    url: str,
    *,
    conflict: str = "remote_wins",
    extra_pair: str = "",
    verify: str = "true",
) -> Path:
    """The devserver account ``dev`` (password from the environment, :func:`cli_env`)
    in :func:`write_contacts_config`."""
    return write_contacts_config(
        folder,
        f"""\
        url: {url}
        username: {USER}
        password: {{env: EASSYNC_TEST_PASSWORD}}
        verify: {verify}
        """,
        name="dev",
        pair_keys=f"conflict: {conflict}\n",
        extra=extra_pair,
    )


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["EASSYNC_TEST_PASSWORD"] = PASSWORD
    return env


def run_cli(
    config: Path, *args: str, check: bool = False, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real ``eassync`` CLI in a subprocess, as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "eassync", "-c", str(config), *args],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"eassync {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def person(i: int, prefix: str = "Person") -> Element:
    return contact(
        {
            "FirstName": f"{prefix}{i:05d}",
            "LastName": "Example",
            "FileAs": f"Example, {prefix}{i:05d}",
            "Email1Address": f"{prefix.lower()}{i}@example.org",
            "MobilePhoneNumber": f"+1 555 {i:07d}",
        }
    )


def server_names(store: object, folder_id: str) -> Counter[str]:
    items = store.items(USER, folder_id)  # type: ignore[attr-defined]
    return Counter(
        f"{d.text('Contacts:FirstName') or ''} {d.text('Contacts:LastName') or ''}".strip()
        for d in items.values()
    )


def local_names(folder: Path) -> Counter[str]:
    import vobject

    names: Counter[str] = Counter()
    for path in folder.glob("*.vcf"):
        card = vobject.readOne(path.read_text(encoding="utf-8"))
        n = card.n.value
        names[f"{n.given} {n.family}".strip()] += 1
    return names


def write_local_card(folder: Path, uid: str, given: str, family: str = "Local") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uid}.vcf"
    path.write_text(
        "BEGIN:VCARD\r\nVERSION:3.0\r\n"
        f"UID:{uid}\r\nFN:{given} {family}\r\nN:{family};{given};;;\r\n"
        f"EMAIL;TYPE=INTERNET:{given.lower()}@local.example\r\nEND:VCARD\r\n",
        encoding="utf-8",
    )
    return path


class SyncedPair:
    """A devserver with 10 server contacts (``Person00000``…), 10 local cards
    (``Local00``…, ``folder/contacts``), the pair ``contacts`` between them, synced once."""

    def __init__(self, tmp: Path, srv: DevServer) -> None:
        self.tmp = tmp
        self.srv = srv
        self.folder_id = srv.store.default_folder(USER, 9)
        srv.store.add_items_bulk(USER, self.folder_id, [person(i) for i in range(10)])
        self.local = tmp / "contacts"
        for i in range(10):
            write_local_card(self.local, f"local-{i:02d}", f"Local{i:02d}")
        self.config = write_config(tmp, srv.url)
        # where the CLI keeps state (EASSYNC_STATE_DIR, set by tests/conftest.py, wins)
        self.status_dir = load_config(self.config).general.status_dir
        run_cli(self.config, "sync", check=True)
