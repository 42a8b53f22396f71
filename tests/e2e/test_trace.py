"""``eassync sync --trace DIR``: a protocol trace for a bug report, through the real CLI
against the devserver: the FolderSync and Sync XML is there, credentials, the user
name and the items' content are not (unless ``--trace-items``)."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

from eassync.devserver import DevServer

from .helpers import person, run_cli, write_contacts_config, write_local_card

USER = "wilbur.tracer"
PASSWORD = "Sesame-7f3a9c"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def _config(tmp: Path, url: str) -> Path:
    return write_contacts_config(
        tmp,
        f"url: {url}\nusername: {USER}\npassword: {PASSWORD}\n",
        name="dev",
    )


def _trace_text(folder: Path) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in sorted(folder.iterdir()))


def test_a_traced_sync_shows_the_protocol_never_secrets_nor_items(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        srv.store.add_item(USER, srv.store.default_folder(USER, 9), person(1))
        write_local_card(tmp_path / "contacts", "local-1", "Quentinella")
        config = _config(tmp_path, srv.url)
        folder = tmp_path / "trace"

        run_cli(config, "sync", "--trace", str(folder), check=True)

        files = sorted(folder.iterdir())
        assert [p.name[:4] for p in files] == [f"{n:04d}" for n in range(1, len(files) + 1)]
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
        assert any(p.name.endswith("-FolderSync.txt") for p in files)
        text = _trace_text(folder)
        assert '<FolderSync xmlns="FolderHierarchy:">' in text
        assert '<Sync xmlns="AirSync:">' in text
        assert "HTTP 200" in text
        assert "Authorization: Basic [redacted]" in text
        assert "User=[redacted]" in text
        for secret in (PASSWORD, BASIC, USER, "Person00001", "Quentinella"):
            assert secret not in text, secret

        # --trace-items: the items' content too, still no credential; numbering goes on
        run_cli(config, "sync", "--trace", str(folder), "--trace-items", check=True)
        srv.store.add_item(USER, srv.store.default_folder(USER, 9), person(2))
        run_cli(config, "sync", "--trace", str(folder), "--trace-items", check=True)
        later = sorted(set(folder.iterdir()) - set(files))
        assert later
        assert min(p.name for p in later) > max(p.name for p in files)
        text = _trace_text(folder)
        assert "Person00002" in text
        for secret in (PASSWORD, BASIC, USER):
            assert secret not in text, secret


def test_a_trace_folder_holding_other_files_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path, "http://127.0.0.1:9/Microsoft-Server-ActiveSync")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "letter.txt").write_text("keep me")
    done = run_cli(config, "sync", "--trace", str(tmp_path / "mine"))
    assert done.returncode == 2
    assert "holds other files" in done.stderr
    assert "Traceback" not in done.stderr
