"""The layers of design.md hold: the import contracts of pyproject.toml
(``[tool.importlinter]``: layers, a pure sync algorithm, pure converters, no import
circles) are checked by import-linter, so drift fails the build."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contracts_are_kept() -> None:
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert command is not None, "import-linter is a test dependency (pyproject.toml)"
    proc = subprocess.run(
        [command, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_every_top_level_module_has_a_layer() -> None:
    """A new module outside the layers would escape every rule: it must be placed."""
    import pkgutil
    import tomllib

    import eassync

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    placed = {name.strip() for layer in layers for name in layer.split("|")}
    modules = {f"eassync.{m.name}" for m in pkgutil.iter_modules(eassync.__path__)}
    assert modules - placed == set(), "add these to [tool.importlinter] layers"
