"""Password sources: literal, command, env, keyring; errors never show the secret."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from eassync.errors import ConfigError
from eassync.secrets import Secret, describe_source, resolve_secret

PY = sys.executable
WHERE = "config.yaml:5:5: accounts.work.password"


def py(code: str) -> list[str]:
    return [PY, "-c", code]


def test_literal() -> None:
    assert resolve_secret("s3cret", where=WHERE) == "s3cret"


def test_command_first_line_stripped() -> None:
    spec = {"command": py("print('  s3cret  '); print('second line')")}
    assert resolve_secret(spec, where=WHERE) == "s3cret"


def test_command_as_a_string_is_split_without_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    # With a shell, `;` would run a second command creating the marker.
    code = "import sys; print(sys.argv[1])"
    spec = {"command": f"{shlex.quote(PY)} -c {shlex.quote(code)} 'a;touch {marker}'"}
    assert resolve_secret(spec, where=WHERE) == f"a;touch {marker}"
    assert not marker.exists()


def test_command_gets_a_closed_stdin() -> None:
    spec = {"command": py("import sys; print(sys.stdin.read() or 'eof')")}
    assert resolve_secret(spec, where=WHERE) == "eof"


def test_failing_command_names_where_and_command_but_not_the_output() -> None:
    spec = {
        "command": py(
            "import sys; print('leaked' + '-secret'); sys.stderr.write('no key\\n'); sys.exit(3)"
        )
    }
    with pytest.raises(ConfigError) as info:
        resolve_secret(spec, where=WHERE)
    message = str(info.value)
    assert message.startswith(WHERE)
    assert "exit status 3" in message
    assert "no key" in message
    assert PY in message
    assert "leaked-secret" not in message
    assert info.value.exit_code == 2


def test_command_printing_nothing_is_an_error() -> None:
    with pytest.raises(ConfigError, match="printed nothing"):
        resolve_secret({"command": py("pass")}, where=WHERE)


def test_command_not_found() -> None:
    with pytest.raises(ConfigError, match="not found: no-such-program-eassync"):
        resolve_secret({"command": ["no-such-program-eassync", "x"]}, where=WHERE)


def test_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EASSYNC_TEST_PW", "from-env")
    assert resolve_secret({"env": "EASSYNC_TEST_PW"}, where=WHERE) == "from-env"


@pytest.mark.parametrize("value", [None, ""])
def test_env_missing_or_empty(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("EASSYNC_TEST_PW", raising=False)
    else:
        monkeypatch.setenv("EASSYNC_TEST_PW", value)
    with pytest.raises(ConfigError, match=f"{WHERE}: environment variable EASSYNC_TEST_PW"):
        resolve_secret({"env": "EASSYNC_TEST_PW"}, where=WHERE)


def test_keyring_without_the_package_says_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # keyring is optional: hide it even where the test extras installed it
    monkeypatch.setitem(sys.modules, "keyring", None)
    with pytest.raises(ConfigError) as info:
        resolve_secret({"keyring": {"service": "eas", "username": "alice"}}, where=WHERE)
    assert "keyring" in str(info.value)
    assert info.value.hint is not None
    assert "pip install keyring" in info.value.hint


def test_secret_repr_hides_the_value_and_resolves_once(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    code = f"open({str(counter)!r}, 'a').write('x'); print('s3cret')"
    secret = Secret({"command": py(code)}, where=WHERE)
    assert repr(secret) == str(secret) == "Secret(***)"
    assert not counter.exists()  # lazy: nothing runs before get()
    assert secret.get() == "s3cret"
    assert secret.get() == "s3cret"
    assert counter.read_text() == "x"
    assert "s3cret" not in repr(secret)
    assert secret.kind == "command"


def test_describe_source_never_shows_a_literal() -> None:
    assert describe_source("hunter2") == "literal in the config file"
    assert describe_source({"env": "PW"}) == "environment variable PW"
    assert describe_source({"command": ["pass", "show", "work"]}) == "command: pass show work"
