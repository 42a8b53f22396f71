"""Project-wide test fixtures: only generic things live here."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Point every place eassync writes to (XDG dirs, EASSYNC_STATE_DIR) at a fresh tmp
    directory, so no test reads or writes the real home or another test's state."""
    home: Path = tmp_path_factory.mktemp("home")
    for name, sub in [
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CACHE_HOME", ".cache"),
    ]:
        monkeypatch.setenv(name, str(home / sub))
    monkeypatch.setenv("EASSYNC_STATE_DIR", str(home / ".local/state/eassync"))
    monkeypatch.delenv("EASSYNC_CONFIG", raising=False)
