"""Every command against a broken machine: a read-only home, a file where a folder is
expected, a full disk, a port already taken. Each says what failed, where, in one line
with an exit code, never a traceback.

The commands are enumerated from click's command tree, so a new command is covered
without touching this file; its arguments get plausible values by name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from eassync.cli import cli
from eassync.devserver import DevServer

from .helpers import PASSWORD, USER, cli_env, write_config

#: values for the arguments commands take, by parameter name; others get "x"
ARGUMENTS = {
    "account": "dev",
    "pair": "contacts",
    "targets": "contacts",
    "query": USER,
    "addresses": f"{USER}@devserver.test",
    "event": "x",
    "file": "-",
}


def leaf_commands() -> list[list[str]]:
    """Every runnable command, as the words that name it (``debug wbxml decode``)."""
    ctx = click.Context(cli)
    found: list[list[str]] = []

    def walk(cmd: click.Command, words: list[str]) -> None:
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None, name
                walk(sub, [*words, name])
        else:
            found.append(words)

    walk(cli, [])
    return found


def command_line(words: list[str]) -> list[str]:
    ctx = click.Context(cli)
    cmd: click.Command = cli
    for word in words:
        assert isinstance(cmd, click.Group)
        sub = cmd.get_command(ctx, word)
        assert sub is not None
        cmd = sub
    args = list(words)
    for param in cmd.params:
        if isinstance(param, click.Argument) and param.required:
            if isinstance(param.type, click.Choice):
                args.append(str(param.type.choices[0]))
            else:
                args.append(ARGUMENTS.get(param.name or "", "x"))
    return args


COMMANDS = leaf_commands()


def test_the_command_tree_is_enumerated() -> None:
    names = {" ".join(w) for w in COMMANDS}
    assert {"sync", "devserver", "debug wbxml decode", "testdata create"} <= names


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    with DevServer(tmp_path_factory.mktemp("server"), users={USER: PASSWORD}) as srv:
        yield srv


def run(
    words: list[str], config: Path, home: Path, *extra: str, timeout: float = 60
) -> tuple[int | None, str]:
    """Run one command with HOME and every XDG folder under ``home``; a command still
    running after ``timeout`` (a server that started after all) is stopped: None."""
    env = cli_env()
    env.pop("EASSYNC_STATE_DIR", None)
    env["HOME"] = str(home)
    for var, sub in (
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_RUNTIME_DIR", "run"),
    ):
        env[var] = str(home / sub)
    proc = subprocess.Popen(
        [sys.executable, "-m", "eassync", "-c", str(config), *command_line(words), *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        code = None
    # what a person reads: doctor reports its failed step on stdout
    return code, err + out


def assert_told(words: list[str], code: int | None, err: str) -> None:
    where = " ".join(words)
    assert "Traceback" not in err, f"eassync {where}:\n{err}"
    if code not in (None, 0):
        told = ("error:", "usage:", "FAIL ")
        assert any(word in err for word in told), f"eassync {where}: exit {code}, {err}"


def broken_config(tmp: Path, url: str, base: Path) -> Path:
    """A config (itself readable) whose status folder and vdir lie under ``base``."""
    config = write_config(tmp, url)
    text = config.read_text(encoding="utf-8")
    text = text.replace(str(tmp / "state"), str(base / "state"))
    text = text.replace(str(tmp / "contacts"), str(base / "contacts"))
    config.write_text(text, encoding="utf-8")
    config.chmod(0o600)
    return config


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_a_file_where_a_folder_is_expected(
    words: list[str], tmp_path: Path, server: DevServer
) -> None:
    """ENOTDIR: works as root too (root ignores permission bits)."""
    blocker = tmp_path / "home"
    blocker.write_text("a file, not a folder\n", encoding="utf-8")
    config = broken_config(tmp_path, server.url, blocker)
    code, err = run(words, config, blocker)
    assert_told(words, code, err)


def _mount_tmpfs(folder: Path, options: str) -> None:
    folder.mkdir(exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs: {done.stderr}")
        pytest.skip(f"cannot mount a tmpfs: {done.stderr}")


@pytest.fixture(scope="module")
def readonly_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A read-only file system (EROFS, which root cannot bypass), empty."""
    folder = tmp_path_factory.mktemp("ro") / "home"
    _mount_tmpfs(folder, "ro,size=64k")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture(scope="module")
def full_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A file system with no byte left (ENOSPC), its XDG folders made before filling."""
    folder = tmp_path_factory.mktemp("full") / "home"
    _mount_tmpfs(folder, "size=256k,nr_inodes=64")
    for sub in (".local/state", ".config", ".cache", ".local/share", "run"):
        (folder / sub).mkdir(parents=True)
    fd = os.open(folder / ".filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_a_read_only_home(
    words: list[str], tmp_path: Path, server: DevServer, readonly_home: Path
) -> None:
    config = broken_config(tmp_path, server.url, readonly_home)
    code, err = run(words, config, readonly_home)
    assert_told(words, code, err)


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_a_full_disk(words: list[str], tmp_path: Path, server: DevServer, full_home: Path) -> None:
    config = broken_config(tmp_path, server.url, full_home)
    code, err = run(words, config, full_home)
    assert_told(words, code, err)


def test_sync_on_a_read_only_home_names_the_folder(
    tmp_path: Path, server: DevServer, readonly_home: Path
) -> None:
    config = broken_config(tmp_path, server.url, readonly_home)
    code, err = run(["sync"], config, readonly_home)
    assert code == 2, err
    assert str(readonly_home / "state") in err
    assert "read-only" in err.lower()
    assert len(err.strip().splitlines()) <= 3, err


def test_sync_and_discover_on_a_full_disk_say_so(
    tmp_path: Path, server: DevServer, full_home: Path
) -> None:
    config = broken_config(tmp_path, server.url, full_home)
    for words in (["sync"], ["discover"]):
        code, err = run(words, config, full_home)
        assert code == 1, err
        assert str(full_home / "state") in err  # the path, even for a write to an fd
        assert "full" in err or "no space left" in err, err
        assert "free some space" in err, err
        assert "repair" not in err  # not a damaged status file: repair would not help


def test_sync_with_a_file_in_the_status_path_names_it(tmp_path: Path, server: DevServer) -> None:
    blocker = tmp_path / "home"
    blocker.write_text("x\n", encoding="utf-8")
    config = broken_config(tmp_path, server.url, blocker)
    code, err = run(["sync"], config, blocker)
    assert code == 2, err
    assert str(blocker) in err
    assert "not a folder" in err


def _takes(words: list[str], option: str) -> bool:
    ctx = click.Context(cli)
    cmd: click.Command | None = cli
    for word in words:
        assert isinstance(cmd, click.Group)
        cmd = cmd.get_command(ctx, word)
    assert cmd is not None
    return any(option in getattr(p, "opts", ()) for p in cmd.params)


#: every command that listens on a port it is given
LISTENERS = [w for w in COMMANDS if _takes(w, "--port")]


def test_the_listeners_are_found() -> None:
    assert ["devserver"] in LISTENERS


@pytest.mark.parametrize("words", LISTENERS, ids=" ".join)
def test_a_taken_port_is_told_with_the_way_out(words: list[str], tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "config.yaml"
        config.write_text("", encoding="utf-8")
        extra = ["--port", str(port)]
        if _takes(words, "--data"):
            extra += ["--data", str(tmp_path / "d")]
        code, err = run(words, config, tmp_path, *extra)
    assert code == 2, err
    assert "Traceback" not in err
    assert f"127.0.0.1:{port}" in err
    assert "already in use" in err
    assert "--port" in err  # the hint names the way out


def test_a_wrong_password_exits_2_like_any_config_error(tmp_path: Path, server: DevServer) -> None:
    """README and eassync(1) EXIT STATUS: 2 is a usage or config error; a password the
    server refuses is fixed in the config (or what its command prints)."""
    config = write_config(tmp_path, server.url)
    env = cli_env()
    env["EASSYNC_TEST_PASSWORD"] = "wrong"
    for args in (["sync"], ["discover", "dev"], ["sync", "-q"]):
        done = subprocess.run(
            [sys.executable, "-m", "eassync", "-c", str(config), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 2, (args, done.stderr)
        assert "wrong username or password" in done.stderr
        assert "Traceback" not in done.stderr


def test_a_storage_path_behind_a_file_stops_only_its_pair(
    tmp_path: Path, server: DevServer
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("x\n", encoding="utf-8")
    extra = """\
  broken:
    account: dev
    remote: {default: contacts}
    local: broken
"""
    config = write_config(tmp_path, server.url)
    text = config.read_text(encoding="utf-8")
    text = text.replace(
        "pairs:\n",
        f"  broken:\n    type: vdir\n    path: {blocker / 'cards'}\n    fileext: .vcf\npairs:\n",
    )
    config.write_text(text + extra, encoding="utf-8")
    code, err = run(["sync"], config, tmp_path / "home")
    assert code == 2, err
    assert f"broken: error: cannot use {blocker / 'cards'}" in err
    assert "contacts/Contacts: local" in err  # the other pair was synced
