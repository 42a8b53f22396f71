"""``eassync demo``: a complete two-way sync against the bundled EAS server.

It starts the devserver on a free loopback port with sample contacts, writes a config
into a folder it names, runs discover and sync, shows the files, changes one item on
each side, syncs again and shows what moved. Nothing outside that folder is touched.
"""

from __future__ import annotations

import os
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import click

from eassync.cli.output import echo, secho

DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password"


def _step(text: str) -> None:
    echo()
    secho(f"==> {text}", bold=True)


def _write_config(folder: Path, url: str) -> Path:
    config = folder / "config.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            # Written by `eassync demo`. Run it again with:
            #   eassync -c {config} sync
            # while the demo server runs (`eassync devserver --data {folder / "server"}
            #   --user {DEMO_USER}:{DEMO_PASSWORD} --port PORT`, then fix the url below).
            general:
              status_dir: {folder / "state"}
            accounts:
              demo:
                url: {url}
                username: {DEMO_USER}
                password: {DEMO_PASSWORD}
                verify: true
            storages:
              contacts:
                type: vdir
                path: {folder / "contacts"}
                fileext: .vcf
              notes:
                type: notes
                path: {folder / "notes"}
            pairs:
              demo_contacts:
                account: demo
                remote: {{default: contacts}}
                local: contacts
                conflict: remote_wins
              demo_notes:
                account: demo
                remote: {{default: notes}}
                local: notes
            """
        ),
        encoding="utf-8",
    )
    os.chmod(config, 0o600)
    return config


def _show_files(folder: Path) -> None:
    from eassync.convert.contacts import HANDLER
    from eassync.model.items import Item

    files = sorted(folder.glob("*.vcf"))
    for path in files:
        name = HANDLER.describe(Item(path.read_bytes()))
        echo(f"  {path.name}  ({name})")
    echo(f"  {len(files)} files in {folder}")


def _show_notes(folder: Path) -> None:
    """Each note file with its first lines, as a terminal user would see them."""
    files = sorted(p for p in folder.glob("*.md"))
    for path in files:
        echo(f"  {path.name}:")
        for line in path.read_text(encoding="utf-8").splitlines()[:6]:
            echo(f"    | {click.unstyle(line)}")
    echo(f"  {len(files)} note file(s) in {folder}")


def _edit_local_card(path: Path) -> str:
    """Give one card a new phone number, the way khard would: rewrite the file."""
    import vobject

    card = vobject.readOne(path.read_text(encoding="utf-8"))
    tel = card.add("tel")
    tel.value = "+1 555 0100"
    tel.type_param = "WORK"
    path.write_text(card.serialize(), encoding="utf-8")
    return str(card.fn.value)


@click.command()
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the demo's config, contacts and state (default: a new temp folder).",
)
@click.pass_obj
def command(ctx: Any, folder: Path | None) -> int:
    """Run a complete two-way sync against the bundled EAS server."""
    from eassync.config import load_config
    from eassync.demo_data import SAMPLE_CONTACTS, contact, note
    from eassync.devserver import DevServer
    from eassync.runner import run_sync

    from .discover import command as discover_command
    from .sync import CliReporter

    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="eassync-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise click.UsageError(f"{folder} is not empty; pass an empty or new folder with --dir")
    echo(f"Demo folder: {folder}")

    with DevServer(data_dir=folder / "server", users={DEMO_USER: DEMO_PASSWORD}) as srv:
        contacts_id = srv.store.default_folder(DEMO_USER, 9)
        server_ids = [
            srv.store.add_item(DEMO_USER, contacts_id, contact(c)) for c in SAMPLE_CONTACTS
        ]
        notes_id = srv.store.default_folder(DEMO_USER, 10)
        srv.store.add_item(
            DEMO_USER,
            notes_id,
            note(
                "Reading list",
                "- Structure and Interpretation\n- The Mythical Man-Month",
                ("books",),
            ),
        )
        _step(
            f"The bundled EAS server runs at {srv.url} with {len(server_ids)} contacts and a note"
        )
        config_path = _write_config(folder, srv.url)
        echo(f"  config written to {config_path}:")
        for line in config_path.read_text().splitlines():
            if not line.startswith("#"):
                echo(f"    {line}")
        ctx.config_path = str(config_path)
        config = load_config(config_path)

        _step("eassync discover: the folders the server lists")
        click.get_current_context().invoke(discover_command, account=None, as_json=False)

        reporter = CliReporter(1, show_plan=False, as_json=False)

        def sync(title: str) -> int:
            _step(title)
            outcomes = run_sync(config, [], reporter=reporter)
            reporter.end_progress()
            for o in outcomes:
                if o.error:
                    echo(f"  {o.pair}: error: {o.error}", err=True)
                for report in o.reports:
                    echo(f"  {o.pair}/{report.summary()}")
            return max((o.exit_code for o in outcomes), default=0)

        code = sync("eassync sync: the first pass downloads every contact and the note")
        _step("The vdir folder (khard reads it)")
        _show_files(folder / "contacts")
        _step("The notes folder: one Markdown file per note, named after its subject")
        _show_notes(folder / "notes")

        _step("Now a change on each side")
        first = _file_of(folder / "contacts", "Lovelace")
        who = _edit_local_card(first)
        echo(f"  local: added a work phone to {who} ({first.name})")
        changed = server_ids[1]
        data = srv.store.get_item(DEMO_USER, contacts_id, changed)
        data.add("Contacts:JobTitle", "Codebreaker")
        srv.store.change_item(DEMO_USER, contacts_id, changed, data)
        echo("  server: Alan Turing got the job title 'Codebreaker'")
        srv.store.add_item(
            DEMO_USER,
            contacts_id,
            contact(
                {
                    "FirstName": "Margaret",
                    "LastName": "Hamilton",
                    "FileAs": "Hamilton, Margaret",
                    "Email1Address": "margaret@example.org",
                }
            ),
        )
        echo("  server: a new contact, Margaret Hamilton")
        reading = folder / "notes" / "Reading list.md"
        with reading.open("a", encoding="utf-8") as stream:
            stream.write("- Gödel, Escher, Bach\n")
        reading.rename(folder / "notes" / "Books to read.md")
        echo("  local: a line added to the note, and its file renamed to 'Books to read.md'")

        code = max(code, sync("eassync sync: the second pass moves both changes"))
        _step("Result")
        _show_files(folder / "contacts")
        phones = [
            e.value
            for e in srv.store.get_item(
                DEMO_USER, contacts_id, _server_id_of(srv, contacts_id, who)
            )
            if e.tag.endswith("PhoneNumber")
        ]
        echo(f"  the server's copy of {who} now has the phones: {', '.join(map(str, phones))}")
        (server_note,) = srv.store.items(DEMO_USER, notes_id).values()
        lines = (server_note.text("AirSyncBase:Body/AirSyncBase:Data") or "").splitlines()
        subject = server_note.text("Notes:Subject")
        echo(f"  the server's note is now called {subject!r}, with {len(lines)} lines")
        code = max(code, sync("eassync sync: a third pass finds nothing to do"))
    echo()
    echo(f"Done. Everything the demo wrote is in {folder}.")
    return code


def _file_of(folder: Path, family_name: str) -> Path:
    for path in sorted(folder.glob("*.vcf")):
        if family_name in path.read_text(encoding="utf-8"):
            return path
    raise LookupError(family_name)


def _server_id_of(srv: Any, folder_id: str, display_name: str) -> str:
    for server_id, data in srv.store.items(DEMO_USER, folder_id).items():
        first, last = data.text("Contacts:FirstName") or "", data.text("Contacts:LastName") or ""
        if display_name in (f"{first} {last}", data.text("Contacts:FileAs")):
            return str(server_id)
    raise LookupError(display_name)
