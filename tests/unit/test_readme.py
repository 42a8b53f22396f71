"""README promises: the two quick-start commands, and property tables equal to the code's."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _updater():
    spec = importlib.util.spec_from_file_location(
        "update_readme_tables", ROOT / "scripts" / "update_readme_tables.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_property_tables_match_the_mapping_tables() -> None:
    updater = _updater()
    for kind in updater.RENDER:
        assert updater.block(kind).search(README), f"README lacks the {kind} table markers"
    assert updater.rendered(README) == README, "run scripts/update_readme_tables.py"


def test_readme_opens_with_the_demo_and_the_test_command() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, re.DOTALL)
    assert first_block is not None
    lines = [line for line in first_block.group(1).splitlines() if line.strip()]
    assert lines == ["pip install -e . && eassync demo", "scripts/test"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "scripts/test" in ci, ".ci/run must call the README's test command"
