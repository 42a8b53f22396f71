"""The terminal PIM programs our users read eassync's files with (khal), as test
requirements: skipped on a developer's machine without them, a failure in CI (where
scripts/test installs them), like the real servers."""

from __future__ import annotations

import os
import shutil

import pytest

needs_khal = pytest.mark.skipif(
    shutil.which("khal") is None and not os.environ.get("CI"),
    reason="khal is not installed (scripts/test installs it)",
)
