"""Notes both ways between two devices through the devserver, with the real CLI: each
device keeps a folder of Markdown files (``type: notes``); create, edit on each side,
rename both ways, categories, delete, a dry run, an HTML note, a broken file."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from eassync.devserver import DevServer
from eassync.eas.element import E, Element

from .cal_helpers import run_device
from .helpers import PASSWORD, USER


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        yield srv


def write_notes_config(
    device: Path, url: str, *, version: str = "14.1", conflict: str = "remote_wins"
) -> Path:
    device.mkdir(parents=True, exist_ok=True)
    config = device / "config.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            general:
              status_dir: {device / "state"}
            accounts:
              dev:
                url: {url}
                username: {USER}
                password: {{env: EASSYNC_TEST_PASSWORD}}
                protocol_version: "{version}"
            storages:
              notes:
                type: notes
                path: {device / "notes"}
            pairs:
              notes:
                account: dev
                remote: {{default: notes}}
                local: notes
                conflict: {conflict}
            """
        ),
        encoding="utf-8",
    )
    return config


def notes_dir(config: Path) -> Path:
    return config.parent / "notes"


def files(config: Path) -> dict[str, str]:
    """Every note file of a device: name → text (the hidden index left out)."""
    return {
        p.name: p.read_text(encoding="utf-8")
        for p in sorted(notes_dir(config).iterdir())
        if not p.name.startswith(".")
    }


def note_data(subject: str, body: str, body_type: str = "1") -> Element:
    """A server note as the devserver stores it (``AirSync:ApplicationData``)."""
    return E(
        "AirSync:ApplicationData",
        E(
            "AirSyncBase:Body",
            E("AirSyncBase:Type", value=body_type),
            E("AirSyncBase:Data", value=body),
        ),
        E("Notes:Subject", value=subject),
    )


def server_notes(server: DevServer) -> dict[str, tuple[str, tuple[str, ...]]]:
    """subject → (body, categories) of every note on the server."""
    folder = server.store.default_folder(USER, 10)
    out = {}
    for data in server.store.items(USER, folder).values():
        body = data.find("AirSyncBase:Body")
        text = (body.text("AirSyncBase:Data") or "") if body is not None else ""
        cats = tuple(c.text() or "" for c in data.findall("Notes:Categories/Notes:Category"))
        out[data.text("Notes:Subject") or ""] = (text.replace("\r\n", "\n"), cats)
    return out


@pytest.mark.parametrize("version", ["14.1", "16.1"])
def test_notes_round_trip_between_two_devices(
    tmp_path: Path, server: DevServer, version: str
) -> None:
    a = write_notes_config(tmp_path / "a", server.url, version=version)
    b = write_notes_config(tmp_path / "b", server.url, version=version)
    notes_dir(a).mkdir(parents=True)
    # create on A: one plain file (its name is the subject), one with a heading and
    # categories in front matter
    (notes_dir(a) / "Shopping.md").write_text("milk\neggs\n", encoding="utf-8")
    (notes_dir(a) / "ideas.md").write_text(
        "---\ncategories: [work, later]\n---\n# Big ideas\n\n- one\n- two\n", encoding="utf-8"
    )
    out = run_device(a, "sync").stdout
    assert "remote +2 ~0 -0" in out, out
    assert server_notes(server) == {
        "Shopping": ("milk\neggs", ()),
        "Big ideas": ("- one\n- two", ("work", "later")),
    }

    # B downloads them: file names from the subjects, no heading where the name says it
    run_device(b, "sync")
    assert files(b) == {
        "Big ideas.md": "---\ncategories: [work, later]\n---\n- one\n- two\n",
        "Shopping.md": "milk\neggs\n",
    }

    # edit on B (body), then on A (categories removed): each reaches the other
    (notes_dir(b) / "Shopping.md").write_text("milk\neggs\nbread\n", encoding="utf-8")
    run_device(b, "sync")
    (notes_dir(a) / "ideas.md").write_text("# Big ideas\n\n- one\n- two\n", encoding="utf-8")
    run_device(a, "sync")
    run_device(b, "sync")
    assert (notes_dir(a) / "Shopping.md").read_text(encoding="utf-8") == "milk\neggs\nbread\n"
    assert files(b)["Big ideas.md"] == "- one\n- two\n"
    assert server_notes(server)["Big ideas"] == ("- one\n- two", ())

    # rename on B (mv): the subject changes on the server, A's file is renamed; no
    # delete + add anywhere
    (notes_dir(b) / "Shopping.md").rename(notes_dir(b) / "Groceries.md")
    out = run_device(b, "sync").stdout
    assert "remote +0 ~1 -0" in out, out
    out = run_device(a, "sync").stdout
    assert "local +0 ~1 -0" in out, out
    assert set(files(a)) == {"Groceries.md", "ideas.md"}
    assert set(server_notes(server)) == {"Groceries", "Big ideas"}

    # rename through the heading on A: B's file follows
    (notes_dir(a) / "ideas.md").write_text("# Small ideas\n\n- one\n- two\n", encoding="utf-8")
    run_device(a, "sync")
    out = run_device(b, "sync").stdout
    assert "local +0 ~1 -0" in out, out
    assert set(files(b)) == {"Groceries.md", "Small ideas.md"}
    # and a later edit of the renamed file is a change of the same note
    (notes_dir(b) / "Small ideas.md").write_text("- one\n- two\n- three\n", encoding="utf-8")
    out = run_device(b, "sync").stdout
    assert "remote +0 ~1 -0" in out, out
    assert server_notes(server)["Small ideas"] == ("- one\n- two\n- three", ())

    # delete on A: gone on the server and on B (B's copy in the trash)
    (notes_dir(a) / "Groceries.md").unlink()
    out = run_device(a, "sync").stdout
    assert "remote +0 ~0 -1" in out, out
    run_device(b, "sync")
    assert set(files(b)) == {"Small ideas.md"}
    assert set(server_notes(server)) == {"Small ideas"}
    # nothing more to do on either side
    for device in (a, b):
        assert "local +0 ~0 -0, remote +0 ~0 -0" in run_device(device, "sync").stdout


def test_server_notes_with_hostile_subjects_get_safe_unique_file_names(
    tmp_path: Path, server: DevServer
) -> None:
    folder = server.store.default_folder(USER, 10)
    subjects = ["../../etc/passwd", ".hidden", "a/b", "same", "same", "x" * 400, "tab\there"]
    for subject in subjects:
        server.store.add_item(USER, folder, note_data(subject, subject[:9]))
    a = write_notes_config(tmp_path / "a", server.url)
    run_device(a, "sync")
    names = [p.name for p in notes_dir(a).iterdir() if p.name != ".eassync-notes.json"]
    assert len(names) == len(subjects)
    assert not (tmp_path / "etc").exists()
    for name in names:
        assert not name.startswith(".")
        assert "/" not in name
        assert len(name.encode()) <= 255
    # the subject the file name could not hold is its first heading
    text = (notes_dir(a) / "-.-etc-passwd.md").read_text(encoding="utf-8")
    assert text.startswith("# ../../etc/passwd\n")
    # a second pass changes nothing (the names read back as the same subjects)
    assert "local +0 ~0 -0, remote +0 ~0 -0" in run_device(a, "sync").stdout


def test_dry_run_changes_nothing_and_a_broken_file_is_named_and_skipped(
    tmp_path: Path, server: DevServer
) -> None:
    a = write_notes_config(tmp_path / "a", server.url)
    notes_dir(a).mkdir(parents=True)
    (notes_dir(a) / "Plan.md").write_text("step one\n", encoding="utf-8")
    (notes_dir(a) / "broken.md").write_bytes(b"\xff\xfe not utf-8")
    dry = run_device(a, "sync", "--dry-run", check=False)
    assert "add remote: Plan" in dry.stdout, dry.stdout
    assert server_notes(server) == {}
    assert sorted(p.name for p in notes_dir(a).iterdir()) == ["Plan.md", "broken.md"]
    proc = run_device(a, "sync", check=False)
    assert proc.returncode == 1
    assert "broken.md: not valid UTF-8 text" in proc.stderr, proc.stderr
    assert server_notes(server) == {"Plan": ("step one", ())}
    assert (notes_dir(a) / "broken.md").read_bytes() == b"\xff\xfe not utf-8"


def test_an_html_note_becomes_markdown_and_is_not_sent_back(
    tmp_path: Path, server: DevServer
) -> None:
    folder = server.store.default_folder(USER, 10)
    html = "<html><body><h2>Agenda</h2><ul><li><b>budget</b></li><li>hiring</li></ul></body></html>"
    server.store.add_item(USER, folder, note_data("Meeting", html, "2"))
    a = write_notes_config(tmp_path / "a", server.url)
    run_device(a, "sync")
    assert files(a) == {"Meeting.md": "## Agenda\n\n* **budget**\n* hiring\n"}
    assert "local +0 ~0 -0, remote +0 ~0 -0" in run_device(a, "sync").stdout
    stored = server.store.items(USER, folder)
    (data,) = stored.values()
    assert data.text("AirSyncBase:Body/AirSyncBase:Data") == html


def test_index_json_is_private_bookkeeping(tmp_path: Path, server: DevServer) -> None:
    """After a server rename the index names the moved note, and nothing else."""
    a = write_notes_config(tmp_path / "a", server.url)
    b = write_notes_config(tmp_path / "b", server.url)
    notes_dir(a).mkdir(parents=True)
    (notes_dir(a) / "Draft.md").write_text("text\n", encoding="utf-8")
    run_device(a, "sync")
    run_device(b, "sync")
    (notes_dir(b) / "Draft.md").rename(notes_dir(b) / "Final.md")
    run_device(b, "sync")
    run_device(a, "sync")
    index = json.loads((notes_dir(a) / ".eassync-notes.json").read_text(encoding="utf-8"))
    assert index["names"] == {"Draft.md": "Final.md"}
    assert index["moving"] == {}


def test_testdata_creates_and_removes_tagged_notes_only(tmp_path: Path, server: DevServer) -> None:
    a = write_notes_config(tmp_path / "a", server.url)
    notes_dir(a).mkdir(parents=True)
    (notes_dir(a) / "Mine.md").write_text("keep me\n", encoding="utf-8")
    run_device(a, "sync")
    run_device(a, "testdata", "create", "notes", "--count", "2")
    run_device(a, "sync")
    assert len(files(a)) == 5
    assert len(server_notes(server)) == 5
    tagged = [t for t in files(a).values() if "categories: [eassync-testdata]" in t]
    assert len(tagged) == 4
    run_device(a, "testdata", "delete", "notes")
    run_device(a, "sync")
    assert files(a) == {"Mine.md": "keep me\n"}
    assert server_notes(server) == {"Mine": ("keep me", ())}


def test_an_html_note_keeps_its_html_until_its_text_is_edited(
    tmp_path: Path, server: DevServer
) -> None:
    folder = server.store.default_folder(USER, 10)
    html = "<p>Call <b>Bob</b></p>"
    server.store.add_item(USER, folder, note_data("Call", html, "2"))
    a = write_notes_config(tmp_path / "a", server.url)
    run_device(a, "sync")
    path = notes_dir(a) / "Call.md"
    assert path.read_text(encoding="utf-8") == "Call **Bob**\n"

    def server_body() -> tuple[str | None, str | None]:
        (data,) = server.store.items(USER, folder).values()
        return data.text("AirSyncBase:Body/AirSyncBase:Type"), data.text(
            "AirSyncBase:Body/AirSyncBase:Data"
        )

    # a new category, a new subject: the server keeps its HTML body
    path.write_text("---\ncategories: [phone]\n---\nCall **Bob**\n", encoding="utf-8")
    path.rename(notes_dir(a) / "Call Bob.md")
    assert "remote +0 ~1 -0" in run_device(a, "sync").stdout
    assert server_body() == ("2", html)
    # the text edited: it goes as the Markdown the user wrote, plain text
    (notes_dir(a) / "Call Bob.md").write_text(
        "---\ncategories: [phone]\n---\nCall **Bob** at 5\n", encoding="utf-8"
    )
    assert "remote +0 ~1 -0" in run_device(a, "sync").stdout
    assert server_body() == ("1", "Call **Bob** at 5")
    assert "local +0 ~0 -0, remote +0 ~0 -0" in run_device(a, "sync").stdout


def test_a_dry_run_after_a_rename_writes_no_bookkeeping(tmp_path: Path, server: DevServer) -> None:
    a = write_notes_config(tmp_path / "a", server.url)
    notes_dir(a).mkdir(parents=True)
    (notes_dir(a) / "Draft.md").write_text("text\n", encoding="utf-8")
    run_device(a, "sync")
    (notes_dir(a) / "Draft.md").rename(notes_dir(a) / "Final.md")
    (notes_dir(a) / "New.md").write_text("new\n", encoding="utf-8")
    before = {p.name: p.stat().st_ctime_ns for p in notes_dir(a).iterdir()}
    out = run_device(a, "sync", "--dry-run").stdout
    assert "update remote: Final" in out, out
    assert "add remote: New" in out, out
    assert {p.name: p.stat().st_ctime_ns for p in notes_dir(a).iterdir()} == before
    assert server_notes(server) == {"Draft": ("text", ())}
    out = run_device(a, "sync").stdout
    assert "remote +1 ~1 -0" in out, out
    assert server_notes(server) == {"Final": ("text", ()), "New": ("new", ())}


def test_repair_from_scratch_makes_no_duplicates(tmp_path: Path, server: DevServer) -> None:
    a = write_notes_config(tmp_path / "a", server.url)
    notes_dir(a).mkdir(parents=True)
    for name in ("One", "Two", "Three"):
        (notes_dir(a) / f"{name}.md").write_text(f"{name} text\n", encoding="utf-8")
    server.store.add_item(USER, server.store.default_folder(USER, 10), note_data("Four", "4"))
    run_device(a, "sync")
    (notes_dir(a) / "One.md").rename(notes_dir(a) / "Uno.md")
    run_device(a, "sync")
    run_device(a, "repair", "notes", "--from-scratch")
    out = run_device(a, "sync").stdout
    assert len(files(a)) == 4, files(a)
    assert set(server_notes(server)) == {"Uno", "Two", "Three", "Four"}, out
    assert "local +0 ~0 -0, remote +0 ~0 -0" in run_device(a, "sync").stdout


def test_keep_both_keeps_each_side_as_a_note(tmp_path: Path, server: DevServer) -> None:
    a = write_notes_config(tmp_path / "a", server.url, conflict="keep_both")
    b = write_notes_config(tmp_path / "b", server.url)
    notes_dir(a).mkdir(parents=True)
    (notes_dir(a) / "Plan.md").write_text("v1\n", encoding="utf-8")
    run_device(a, "sync")
    run_device(b, "sync")
    (notes_dir(b) / "Plan.md").write_text("v2 from b\n", encoding="utf-8")
    run_device(b, "sync")
    (notes_dir(a) / "Plan.md").write_text("v2 from a\n", encoding="utf-8")
    out = run_device(a, "sync").stdout + run_device(a, "sync").stdout
    assert files(a) == {"Plan (2).md": "# Plan\n\nv2 from a\n", "Plan.md": "v2 from b\n"}, out
    bodies = sorted(
        (data.text("AirSyncBase:Body/AirSyncBase:Data") or "").replace("\r\n", "\n")
        for data in server.store.items(USER, server.store.default_folder(USER, 10)).values()
    )
    assert bodies == ["v2 from a", "v2 from b"]
    assert "local +0 ~0 -0, remote +0 ~0 -0" in run_device(a, "sync").stdout


def test_mass_deletes_are_guarded_and_server_deletes_go_to_the_trash(
    tmp_path: Path, server: DevServer
) -> None:
    a = write_notes_config(tmp_path / "a", server.url)
    notes_dir(a).mkdir(parents=True)
    for i in range(8):
        (notes_dir(a) / f"N{i}.md").write_text(f"{i}\n", encoding="utf-8")
    run_device(a, "sync")
    for path in notes_dir(a).glob("*.md"):
        path.unlink()
    proc = run_device(a, "sync", check=False)
    assert proc.returncode != 0
    assert len(server_notes(server)) == 8  # nothing deleted on the server
    assert "--force-delete" in proc.stdout + proc.stderr
    # restore them from the server: a server delete then moves one file to the trash
    (a.parent / "state").rename(a.parent / "state-old")
    run_device(a, "sync")
    assert len(files(a)) == 8
    folder = server.store.default_folder(USER, 10)
    sid = next(
        s for s, d in server.store.items(USER, folder).items() if d.text("Notes:Subject") == "N3"
    )
    server.store.delete_item(USER, folder, sid)
    run_device(a, "sync")
    assert "N3.md" not in files(a)
    # (each kept file has a hidden description beside it: .NAME.json)
    trashed = [
        p
        for p in (a.parent / "state" / "trash").rglob("*")
        if p.is_file() and not p.name.startswith(".")
    ]
    assert len(trashed) == 1
    assert trashed[0].read_bytes() == b"# N3\n\n3\n"
