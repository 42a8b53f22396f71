"""The starting config ``eassync init`` writes: one account, its default contacts,
calendar and tasks folders, each in a vdir that khard, khal and todoman read."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

#: what the config says where the user told nothing (no TTY, no option)
PLACEHOLDER_URL = "https://mail.example.com/Microsoft-Server-ActiveSync"
PLACEHOLDER_USER = "alice@example.com"
#: the environment variable the starting config takes the password from
PASSWORD_ENV = "EASSYNC_PASSWORD"

TEMPLATE = """\
# eassync configuration, written by `eassync init`.
#
# Run `eassync check` after each edit: it reports every problem at once as
# FILE:LINE:COL. Every key is described by `eassync man eassync.yaml`;
# `eassync man --examples` lists ready configs (Exchange Online, Nextcloud …).
# Names of accounts, storages and pairs: letters, digits, "_" and "-".

accounts:
  work:
    # The EAS address of your server; for Exchange Online use instead
    #   autodiscover: true, email: you@example.com, auth: oauth2
    # and run `eassync login work` once.
    url: {url}
    # often DOMAIN\\user or user@example.com
    username: {username}
    # The password, one of (keep it out of this file):
    #   password: {{command: [pass, show, work]}}    (first line of its output)
    #   password: {{keyring: {{service: eassync, username: alice}}}}   (pip install keyring)
    #   password: {{env: NAME}}
    password: {{env: {password_env}}}
    # verify: /path/to/ca-bundle.pem   # a server with its own certificate authority

storages:
  # vdir folders: one .vcf/.ics file per item (khard, khal and todoman read them)
  contacts:
    type: vdir
    path: ~/.local/share/eassync/contacts
  calendar:
    type: vdir
    path: ~/.local/share/eassync/calendar
  tasks:
    type: vdir
    path: ~/.local/share/eassync/tasks

pairs:
  # `eassync discover` lists the server's folders; {{all: calendar}} syncs every
  # calendar folder (one subfolder each), {{folder: NAME}} one folder by name.
  contacts:
    account: work
    remote: {{default: contacts}}
    local: contacts
    conflict: remote_wins        # remote_wins | local_wins | keep_both | error
  calendar:
    account: work
    remote: {{default: calendar}}
    local: calendar
    conflict: remote_wins
  tasks:
    account: work
    remote: {{default: tasks}}
    local: tasks
    conflict: remote_wins
"""


def eas_url(answer: str) -> str:
    """What a person types for "server" made a full EAS URL: ``mail.example.com`` →
    ``https://mail.example.com/Microsoft-Server-ActiveSync``."""
    text = answer.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.path in ("", "/"):
        text = text.rstrip("/") + "/Microsoft-Server-ActiveSync"
    return text


def starter_config(url: str = PLACEHOLDER_URL, username: str = PLACEHOLDER_USER) -> str:
    # JSON strings are YAML scalars: whatever was typed cannot break the file
    return TEMPLATE.format(
        url=json.dumps(url, ensure_ascii=False),
        username=json.dumps(username, ensure_ascii=False),
        password_env=PASSWORD_ENV,
    )
