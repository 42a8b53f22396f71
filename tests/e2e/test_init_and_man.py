"""``eassync init`` and ``eassync man`` (issue 16, item 9): a pip-installed eassync
brings its man pages and examples, and writes a starting config that validates."""

from __future__ import annotations

import os
import pty
import select
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.helpers import cli_env

ROOT = Path(__file__).resolve().parents[2]


def eassync(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The real CLI with the test's environment (XDG dirs in tmp: tests/conftest.py)."""
    return subprocess.run(
        [sys.executable, "-m", "eassync", *args],
        capture_output=True,
        text=True,
        env=env or cli_env(),
        cwd=cwd,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def default_config() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "eassync" / "config.yaml"


def test_init_without_a_terminal_writes_a_config_that_check_accepts() -> None:
    done = eassync("init")
    assert done.returncode == 0, done.stderr
    path = default_config()
    assert f"wrote {path}" in done.stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text("utf-8")
    assert "# " in text  # commented
    checked = eassync("check")
    assert checked.returncode == 0, checked.stderr
    assert "pairs (3):" in checked.stdout


def test_init_never_overwrites_a_config() -> None:
    assert eassync("init").returncode == 0
    path = default_config()
    path.write_text("# mine\n", encoding="utf-8")
    again = eassync("init")
    assert again.returncode == 2
    assert "already exists" in again.stderr
    assert "Traceback" not in again.stderr
    assert path.read_text("utf-8") == "# mine\n"


def test_init_writes_to_the_file_given_with_c_and_takes_options(tmp_path: Path) -> None:
    config = tmp_path / "sub" / "my.yaml"
    done = eassync("-c", str(config), "init", "--url", "mail.example.org", "--username", 'b"ob')
    assert done.returncode == 0, done.stderr
    checked = eassync("-c", str(config), "check", "--json")
    assert checked.returncode == 0, checked.stderr
    assert "https://mail.example.org/Microsoft-Server-ActiveSync" in checked.stdout
    assert 'b\\"ob' in checked.stdout  # the quote is the user's, not YAML's


def _run_on_a_terminal(args: list[str], answers: list[str]) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as stdin/stdout, typing ``answers`` one per
    prompt; return its exit code and everything it printed."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "eassync", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=cli_env(),
        close_fds=True,
    )
    os.close(slave)
    output = b""
    pending = list(answers)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break  # the child closed the terminal
            if not chunk:
                break
            output += chunk
            if pending and output.rstrip().endswith(b":"):
                os.write(master, pending.pop(0).encode() + b"\n")
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=30), output.decode("utf-8", "replace")


def test_init_on_a_terminal_asks_the_server_and_the_user() -> None:
    code, output = _run_on_a_terminal(["init"], ["eas.example.net", "carol"])
    assert code == 0, output
    assert "EAS server" in output
    assert "user name" in output
    text = default_config().read_text("utf-8")
    assert '"https://eas.example.net/Microsoft-Server-ActiveSync"' in text
    assert 'username: "carol"' in text
    assert eassync("check").returncode == 0


def test_init_example_writes_the_shipped_example() -> None:
    done = eassync("init", "--example", "exchange-online")
    assert done.returncode == 0, done.stderr
    shipped = (ROOT / "examples" / "exchange-online.yaml").read_text("utf-8")
    assert default_config().read_text("utf-8") == shipped
    assert eassync("check").returncode == 0


def test_an_unknown_example_lists_the_examples() -> None:
    done = eassync("init", "--example", "nope")
    assert done.returncode == 2
    assert "exchange-online.yaml" in done.stderr
    assert not default_config().exists()


def test_man_lists_the_examples() -> None:
    done = eassync("man", "--examples")
    assert done.returncode == 0, done.stderr
    assert "config.yaml" in done.stdout
    assert "eassync init --example" in done.stdout


def test_a_missing_config_points_at_init_and_the_man_command() -> None:
    done = eassync("sync")
    assert done.returncode == 2
    assert "eassync init" in done.stderr
    assert "eassync man eassync.yaml" in done.stderr


def _env_with_path(path: str) -> dict[str, str]:
    env = cli_env()
    env["PATH"] = path
    return env


@pytest.mark.skipif(not Path("/usr/bin/man").exists(), reason="man-db not installed")
def test_man_shows_the_page_through_man() -> None:
    done = eassync("man", "eassync.yaml")
    assert done.returncode == 0, done.stderr
    assert "EXAMPLES" in done.stdout or "SEE ALSO" in done.stdout
    assert "max_delete_ratio" in done.stdout
    assert ".TH" not in done.stdout


def test_man_runs_man_dash_l_on_the_shipped_page(tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "man"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "man called with: $*"\n', encoding="utf-8")
    fake.chmod(0o755)
    done = eassync("man", "5", env=_env_with_path(str(fake.parent)))
    assert done.returncode == 0, done.stderr
    assert "man called with: -l " in done.stdout
    assert done.stdout.strip().endswith("eassync.yaml.5")


def test_man_without_man_prints_plain_text(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    done = eassync("man", env=_env_with_path(str(empty)))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "EXIT STATUS" in lines
    assert not [line for line in lines if line.startswith(".")]
    assert "\\f" not in done.stdout
    assert "eassync init" in done.stdout


def test_an_unknown_man_page_lists_the_pages() -> None:
    done = eassync("man", "nope")
    assert done.returncode == 2
    assert "eassync.yaml" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_a_wheel_installed_in_a_venv_has_its_man_pages_and_examples(tmp_path: Path) -> None:
    """pip install (not from a checkout): `eassync man` and `init --example` still work."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ["pyproject.toml", "README.md", "eassync", "man", "examples", "schemas"]:
        copy = subprocess.run(["cp", "-r", str(ROOT / name), str(src)], check=False)
        assert copy.returncode == 0
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(src), "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("eassync-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    env = cli_env()
    env.pop("PYTHONPATH", None)  # the venv's eassync, not the checkout's
    env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
    where = subprocess.run(
        [str(venv / "bin" / "eassync"), "man", "--path", "eassync.yaml"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip() == str(venv / "share" / "man" / "man5" / "eassync.yaml.5")
    config = tmp_path / "config.yaml"
    init = subprocess.run(
        [str(venv / "bin" / "eassync"), "-c", str(config), "init", "--example", "nextcloud"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    assert config.read_text("utf-8") == (ROOT / "examples" / "nextcloud.yaml").read_text("utf-8")
