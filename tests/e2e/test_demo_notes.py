"""``eassync demo`` shows a note too: downloaded as a Markdown file, edited and renamed
locally, and the server's copy follows."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def test_demo_syncs_a_note_both_ways(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "eassync", "demo", "--dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Notes: add local: Reading list" in proc.stdout
    assert "Notes: update remote: Books to read" in proc.stdout
    assert "the server's note is now called 'Books to read', with 3 lines" in proc.stdout
    assert "demo_notes/Notes: local +0 ~0 -0, remote +0 ~0 -0" in proc.stdout
    assert re.search(r"\* Notes +notes \(default\) .*← demo_notes", proc.stdout), proc.stdout
    text = (folder / "notes" / "Books to read.md").read_text(encoding="utf-8")
    assert text == (
        "---\ncategories: [books]\n---\n"
        "- Structure and Interpretation\n- The Mythical Man-Month\n- Gödel, Escher, Bach\n"
    )
