"""Where eassync keeps its files (XDG base directories via platformdirs).

Environment overrides come first so tests, containers and systemd units can move
everything: ``EASSYNC_STATE_DIR``, ``EASSYNC_CONFIG``; platformdirs itself honours
``XDG_STATE_HOME`` and ``XDG_CONFIG_HOME`` on Linux.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "eassync"


def state_dir() -> Path:
    """Status databases, account state, token caches (files mode 0600)."""
    override = os.environ.get("EASSYNC_STATE_DIR")
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def config_path() -> Path:
    """The config file: ``$EASSYNC_CONFIG`` or ``$XDG_CONFIG_HOME/eassync/config.yaml``."""
    override = os.environ.get("EASSYNC_CONFIG")
    if override:
        return Path(override).expanduser()
    return config_dir() / "config.yaml"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed; a directory we create is mode 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
