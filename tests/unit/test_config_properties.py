"""Property: whatever the config looks like, one bad value is reported once, at its line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eassync.config import parse_config
from eassync.errors import ConfigError

#: names written unquoted as values too (``local: NAME``): not the words YAML 1.1 reads
#: as booleans or null there (test_config covers those)
YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}
NAMES = st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True).filter(
    lambda name: name not in YAML_WORDS
)
CHOICES = {
    "conflict": ["remote_wins", "local_wins", "keep_both", "error"],
    "direction": ["both", "to_local", "to_remote"],
    "tasks_filter": ["all", "incomplete"],
}
KINDS = ["contacts", "calendar", "tasks"]


@st.composite
def config_with_one_bad_value(draw: st.DrawFn) -> tuple[str, int, str]:
    names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    bad_pair = draw(st.sampled_from(names))
    lines = [
        "accounts:",
        "  acc:",
        "    url: https://eas.example/Microsoft-Server-ActiveSync",
        "    username: u",
        "    password: {env: PW}",
        "storages:",
    ]
    lines += [f"  {n}:\n    type: vdir\n    path: /tmp/{n}" for n in names]
    lines.append("pairs:")
    text = "\n".join(lines) + "\n"
    bad_line = 0
    bad_key = ""
    for name in names:
        kind = draw(st.sampled_from(KINDS))
        text += f"  {name}:\n    account: acc\n    remote: {{default: {kind}}}\n    local: {name}\n"
        keys = draw(st.lists(st.sampled_from(sorted(CHOICES)), unique=True))
        if kind != "tasks" and "tasks_filter" in keys:
            keys.remove("tasks_filter")
        if name == bad_pair:
            bad_key = draw(st.sampled_from(["conflict", "direction"]))
            if bad_key not in keys:
                keys.append(bad_key)
        for key in keys:
            value = draw(st.sampled_from(CHOICES[key]))
            if name == bad_pair and key == bad_key:
                value = value + draw(st.sampled_from(["x", "_", "s"]))
                bad_line = text.count("\n") + 1
            text += f"    {key}: {value}\n"
    return text, bad_line, f"pairs.{bad_pair}.{bad_key}"


@settings(max_examples=60, deadline=None)
@given(config_with_one_bad_value())
def test_one_bad_value_is_one_problem_at_its_line(case: tuple[str, int, str]) -> None:
    text, line, path = case
    with pytest.raises(ConfigError) as info:
        parse_config(text, Path("c.yaml"))
    assert len(info.value.problems) == 1, info.value.problems
    assert info.value.problems[0].startswith(f"c.yaml:{line}:5: {path}: "), info.value.problems
