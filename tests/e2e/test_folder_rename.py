"""A folder's identity is its ServerId, through the real CLI (``remote: {all: contacts}``):

- renamed on the server (a FolderSync Update, MS-ASCMD 2.2.3.179): nothing is
  deleted on either side, the local subfolder keeps its name (khal/khard configs
  name that path), the next passes sync it both ways, and ``status`` shows the
  server's new name;
- deleted on the server: the local items stay, the pass says which folder and how to
  remove them, and ``status`` tells it until the user removed the local folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from eassync.devserver import DevServer

from .helpers import (
    PASSWORD,
    USER,
    local_names,
    person,
    run_cli,
    server_names,
    write_config,
    write_local_card,
)


def _all_contacts(tmp_path: Path, url: str) -> Path:
    config = write_config(tmp_path, url)
    config.write_text(
        config.read_text(encoding="utf-8").replace("{default: contacts}", "{all: contacts}"),
        encoding="utf-8",
    )
    return config


def _control(srv: DevServer, payload: dict[str, object]) -> dict[str, object]:
    """The devserver's control endpoint, as a test driving a server in another
    process would use it."""
    import urllib.request

    request = urllib.request.Request(
        f"{srv.base_url}/_devserver/folders",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        result: dict[str, object] = json.loads(answer.read())
    return result


def _family(tmp_path: Path, srv: DevServer) -> tuple[Path, str]:
    family = str(
        _control(srv, {"op": "add", "user": USER, "name": "Family", "type": 14})["server_id"]
    )
    for i in range(5):
        srv.store.add_item(USER, family, person(i, "Fam"))
    config = _all_contacts(tmp_path, srv.url)
    first = run_cli(config, "sync", check=True)
    assert "contacts/Family: local +5 ~0 -0, remote +0 ~0 -0" in first.stdout
    return config, family


def test_a_folder_renamed_on_the_server_deletes_nothing_and_keeps_syncing(
    tmp_path: Path,
) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        config, family = _family(tmp_path, srv)
        local = tmp_path / "contacts" / "Family"
        before_local = local_names(local)
        before_server = server_names(srv.store, family)

        _control(srv, {"op": "rename", "user": USER, "folder": family, "name": "Relatives"})
        renamed = run_cli(config, "sync", check=True)

        assert "contacts/Family: local +0 ~0 -0, remote +0 ~0 -0" in renamed.stdout
        assert "renamed to 'Relatives'" in renamed.stderr
        assert "khal or khard" in renamed.stderr
        assert server_names(srv.store, family) == before_server
        assert local_names(local) == before_local
        assert not (tmp_path / "contacts" / "Relatives").exists()

        # the next passes sync the renamed folder both ways
        srv.store.add_item(USER, family, person(9, "Fam"))
        write_local_card(local, "here", "Here")
        both = run_cli(config, "sync", check=True)
        assert "contacts/Family: local +1 ~0 -0, remote +1 ~0 -0" in both.stdout
        assert server_names(srv.store, family)["Here Local"] == 1
        assert local_names(local)["Fam00009 Example"] == 1
        assert "renamed" not in run_cli(config, "sync", check=True).stderr  # told once

        status = json.loads(run_cli(config, "status", "--json", check=True).stdout)
        (coll,) = [c for c in status["contacts"]["collections"] if c["collection"] == family]
        assert coll["name"] == "Family"
        assert coll["server_folder"] == "Relatives"
        assert coll["local"] == str(local)
        text = run_cli(config, "status", check=True).stdout
        assert "server folder: 'Relatives'" in text


def test_a_new_folder_never_takes_the_subfolder_of_a_renamed_one(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        config, family = _family(tmp_path, srv)
        _control(srv, {"op": "rename", "user": USER, "folder": family, "name": "Relatives"})
        other = str(
            _control(srv, {"op": "add", "user": USER, "name": "Family", "type": 14})["server_id"]
        )
        srv.store.add_item(USER, other, person(1, "Other"))
        out = run_cli(config, "sync", check=True)
        assert "contacts/Family: local +0 ~0 -0, remote +0 ~0 -0" in out.stdout
        assert "contacts/Family-2: local +1 ~0 -0, remote +0 ~0 -0" in out.stdout
        assert local_names(tmp_path / "contacts" / "Family-2") == {"Other00001 Example": 1}
        assert len(server_names(srv.store, family)) == 5


def test_a_folder_deleted_on_the_server_keeps_the_local_items_and_says_what_to_do(
    tmp_path: Path,
) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        config, family = _family(tmp_path, srv)
        local = tmp_path / "contacts" / "Family"
        before = {p.name: p.read_bytes() for p in local.iterdir()}

        _control(srv, {"op": "delete", "user": USER, "folder": family})
        out = run_cli(config, "sync", check=True)

        assert {p.name: p.read_bytes() for p in local.iterdir()} == before
        assert "'Family' was deleted on the server" in out.stderr
        assert f"5 local items are kept in {local}" in out.stderr
        assert "To remove them, delete that folder" in out.stderr
        doc = json.loads(run_cli(config, "sync", "--json", check=True).stdout)
        (notes,) = [p["notes"] for p in doc["pairs"] if p["pair"] == "contacts"]
        assert any("'Family' was deleted on the server" in n for n in notes)
        status = run_cli(config, "status", check=True).stdout
        assert "contacts/Family: 5 items" in status
        assert f"deleted on the server: its 5 items are kept in {local}" in status

        shutil.rmtree(local)
        out = run_cli(config, "sync", check=True)
        assert "deleted on the server" not in out.stderr
        assert "contacts/Family" not in run_cli(config, "status", check=True).stdout


def test_one_collection_that_stops_never_stops_the_others(tmp_path: Path) -> None:
    """The delete guard stops one folder's pass; the next folder still syncs, and
    ``status`` names the stopped one with the guard's words."""
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        added = _control(srv, {"op": "add", "user": USER, "name": "Work", "type": 14})
        work = str(added["server_id"])
        family = str(
            _control(srv, {"op": "add", "user": USER, "name": "Family", "type": 14})["server_id"]
        )
        for i in range(8):
            srv.store.add_item(USER, family, person(i, "Fam"))
        config = _all_contacts(tmp_path, srv.url)
        run_cli(config, "sync", check=True)

        for card in (tmp_path / "contacts" / "Family").glob("*.vcf"):
            card.unlink()
        srv.store.add_item(USER, work, person(1, "Job"))
        out = run_cli(config, "sync")

        assert out.returncode == 1
        # named by the folder, not by its id
        assert "contacts/Family: error: this pass would delete 8 of 8 items" in out.stderr
        assert "contacts/Work: local +1 ~0 -0, remote +0 ~0 -0" in out.stdout
        assert len(server_names(srv.store, family)) == 8
        status = json.loads(run_cli(config, "status", "--json").stdout)
        by_name = {c["name"]: c for c in status["contacts"]["collections"]}
        assert by_name["Family"]["result"] == "stopped"
        assert "--force-delete" in by_name["Family"]["last_error"]
        assert by_name["Work"]["result"] == "ok"
