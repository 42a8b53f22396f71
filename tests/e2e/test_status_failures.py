"""``eassync status`` tells the truth after a failure, through the real CLI:

- server down (connection refused) and a wrong password: the attempt, its time and
  the error with what to do, per pair and collection (never the last good sync as if
  nothing happened), in text and ``--json``; a later good pass clears it;
- one item failing: its file name and the reason;
- parked items with their reason;
- the fields the server does not keep, readable, in ``status``, ``status --json``
  and ``discover``.
"""

from __future__ import annotations

import json
from pathlib import Path

from eassync.config import load_config
from eassync.devserver import DevServer
from eassync.sync.status import Status

from .helpers import PASSWORD, USER, SyncedPair, cli_env, person, run_cli, write_config

BROKEN = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:half a card\r\n"


def _status(config: Path) -> tuple[int, str, dict]:
    text = run_cli(config, "status")
    doc = run_cli(config, "status", "--json")
    assert "Traceback" not in text.stderr + doc.stderr
    assert text.returncode == doc.returncode
    return text.returncode, text.stdout, json.loads(doc.stdout)


def _wrong_password(config: Path, *args: str) -> None:
    import subprocess
    import sys

    env = cli_env()
    env["EASSYNC_TEST_PASSWORD"] = "not the password"
    proc = subprocess.run(
        [sys.executable, "-m", "eassync", "-c", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode != 0, proc.stdout
    assert "wrong username or password" in proc.stderr


def test_a_wrong_password_is_told_per_collection_until_a_good_pass(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        pair = SyncedPair(tmp_path, srv)
        code, text, doc = _status(pair.config)
        assert code == 0, text
        assert "contacts/Contacts: 20 items" in text
        assert "ok" in text

        _wrong_password(pair.config, "sync")
        code, text, doc = _status(pair.config)
        assert code == 1
        assert "FAILED: wrong username or password" in text
        assert "what to do: check username and password" in text
        entry = doc["contacts"]
        assert entry["last_error"].startswith("wrong username or password")
        (coll,) = entry["collections"]
        assert coll["name"] == "Contacts"
        assert coll["result"] == "stopped"
        assert coll["last_error"].startswith("wrong username or password")
        assert coll["last_attempt"] > coll["last_sync"]
        assert coll["items"] == 20  # the last good pass stays as it was

        run_cli(pair.config, "sync", check=True)
        code, text, doc = _status(pair.config)
        assert code == 0, text
        assert "FAILED" not in text
        assert doc["contacts"]["last_error"] is None
        assert doc["contacts"]["collections"][0]["result"] == "ok"


def test_a_never_synced_pair_whose_first_attempt_failed_says_so(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        config = write_config(tmp_path, srv.url)
        _wrong_password(config, "sync")
        code, text, doc = _status(config)
    assert code == 1
    assert "contacts: never synced" in text
    assert "contacts: last attempt" in text
    assert "FAILED: wrong username or password" in text
    assert doc["contacts"]["synced"] is False
    assert doc["contacts"]["last_error"].startswith("wrong username or password")


def test_server_down_is_told_with_the_last_good_sync_kept(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        pair = SyncedPair(tmp_path, srv)
    # the server is gone: its port refuses connections
    down = run_cli(pair.config, "sync")
    assert down.returncode == 75, down.stderr
    code, text, doc = _status(pair.config)
    assert code == 1
    assert "Connection refused" in text
    assert "what to do: nothing listens on 127.0.0.1:" in text  # loopback: said at once
    (coll,) = doc["contacts"]["collections"]
    assert coll["result"] == "stopped"
    assert "Connection refused" in coll["last_error"]
    assert coll["last_sync"] is not None
    assert coll["items"] == 20
    assert "Connection refused" in doc["contacts"]["last_error"]


def test_one_failing_item_is_named_with_its_reason(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder = srv.store.default_folder(USER, 9)
        srv.store.add_item(USER, folder, person(1))
        config = write_config(tmp_path, srv.url)
        (tmp_path / "contacts").mkdir()
        (tmp_path / "contacts" / "broken.vcf").write_bytes(BROKEN)
        assert run_cli(config, "sync").returncode == 1
        code, text, doc = _status(config)
    assert code == 1
    assert "1 item failed" in text
    assert "local broken.vcf: " in text
    assert "END:VCARD missing" in text
    (coll,) = doc["contacts"]["collections"]
    assert coll["result"] == "failed items"
    ((failure),) = coll["failures"]
    assert failure["name"] == "broken.vcf"
    assert failure["side"] == "local"
    assert "END:VCARD missing" in failure["reason"]


def test_parked_items_are_listed_with_their_reason(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        pair = SyncedPair(tmp_path, srv)
    # what the engine records for an item the server refused (Status 6): parked
    # by content hash, with the server's words
    path = load_config(pair.config).general.status_dir / "pairs" / "contacts.sqlite"
    with Status(path) as status:
        (info,) = status.collections()
        row = status.by_local(info.collection, "local-03.vcf")
        assert row is not None
        with status.transaction() as tx:
            tx.update(
                row.id,
                rejected_hash=row.local_hash,
                failure="the server refused the item (Status 6: conversion error)",
            )
    _code, text, doc = _status(pair.config)
    assert "parked (not sent again until they change):" in text
    assert "remote local-03.vcf: the server refused the item (Status 6: conversion error)" in text
    (coll,) = doc["contacts"]["collections"]
    assert coll["parked"] == [
        {
            "side": "remote",
            "name": "local-03.vcf",
            "reason": "the server refused the item (Status 6: conversion error)",
        }
    ]


CARD = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:ada-1\r\nFN:Ada Lovelace\r\nN:Lovelace;Ada;;;\r\n"
    "TEL;TYPE=WORK:+44 1\r\nTEL;TYPE=WORK:+44 2\r\nX-ANNIVERSARY:1835-07-08\r\n"
    "X-SPOUSE:William King\r\nEND:VCARD\r\n"
)


def test_fields_the_server_does_not_keep_are_shown_in_status_and_discover(
    tmp_path: Path,
) -> None:
    drops = {"Contacts:Anniversary", "Contacts:Spouse", "Contacts:Business2PhoneNumber"}
    with DevServer(
        data_dir=tmp_path / "server", users={USER: PASSWORD}, drop_fields=frozenset(drops)
    ) as srv:
        config = write_config(tmp_path, srv.url)
        (tmp_path / "contacts").mkdir()
        (tmp_path / "contacts" / "ada.vcf").write_text(CARD, encoding="utf-8")
        run_cli(config, "sync", check=True)
        code, text, doc = _status(config)
        found = run_cli(config, "discover", check=True).stdout
        found_json = json.loads(run_cli(config, "discover", "--json", check=True).stdout)
    readable = "anniversary, second business phone, spouse"
    assert code == 0, text
    assert f"the server does not keep: {readable} (local values are kept)" in text
    (coll,) = doc["contacts"]["collections"]
    assert coll["server_does_not_keep"] == ["anniversary", "second business phone", "spouse"]
    assert set(coll["server_does_not_keep_fields"]) == drops
    assert f"the server does not keep: {readable}" in found
    (contacts,) = [f for f in found_json["dev"] if f["pairs"] == ["contacts"]]
    assert contacts["server_does_not_keep"] == ["anniversary", "second business phone", "spouse"]


def test_names_from_the_server_cannot_drive_the_terminal(tmp_path: Path) -> None:
    """A folder name and an item carrying terminal escapes (ESC, a bidi override)
    reach ``status``, ``discover`` and ``sync`` output escaped."""
    hostile = "Evil\x1b]0;owned\x07\x1b[2J\u202e"
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        folder = srv.store.add_folder(USER, hostile, 14)
        srv.store.add_item(USER, folder, person(1, "Mal\x1b[31m"))
        config = write_config(tmp_path, srv.url)
        config.write_text(
            config.read_text(encoding="utf-8").replace("{default: contacts}", "{all: contacts}"),
            encoding="utf-8",
        )
        outputs = [
            run_cli(config, "-v", "sync", "--dry-run"),
            run_cli(config, "-v", "sync"),
            run_cli(config, "status"),
            run_cli(config, "discover"),
        ]
    for proc in outputs:
        assert proc.returncode == 0, proc.stderr
        for text in (proc.stdout, proc.stderr):
            assert "\x1b" not in text
            assert "\u202e" not in text
    assert "Evil\\x1b]0;owned" in outputs[3].stdout


def test_an_unreadable_status_file_is_told_with_what_to_do(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        pair = SyncedPair(tmp_path, srv)
    path = load_config(pair.config).general.status_dir / "pairs" / "contacts.sqlite"
    path.write_bytes(b"garbage" * 1000)
    code, text, doc = _status(pair.config)
    assert code == 1
    assert "contacts: last attempt never FAILED: status file" in text
    assert "eassync repair" in doc["contacts"]["last_error"]


def test_a_folder_missing_on_the_server_is_told_but_a_mistyped_target_is_not(
    tmp_path: Path,
) -> None:
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        pair = SyncedPair(tmp_path, srv)
        typo = run_cli(pair.config, "sync", "contacts/Nope")
        assert typo.returncode == 2
        assert "has no collection 'Nope'" in typo.stderr
        code, text, _ = _status(pair.config)
        assert code == 0, text  # a mistyped argument says nothing about the pair

        pair.config.write_text(
            pair.config.read_text(encoding="utf-8").replace(
                "{default: contacts}", "{folder: Gone}"
            ),
            encoding="utf-8",
        )
        assert run_cli(pair.config, "sync").returncode == 1
        code, text, doc = _status(pair.config)
    assert code == 1
    assert (
        "FAILED: pair 'contacts': no contacts, calendar, tasks or notes folder named 'Gone'" in text
    )
    assert "what to do: run `eassync discover`" in text
    assert "folder named 'Gone'" in doc["contacts"]["last_error"]


def test_every_pair_of_an_account_whose_login_failed_tells_it(tmp_path: Path) -> None:
    """The account is not tried again for its second pair in the run (it would fail
    the same way), yet that pair's status records the failed attempt too."""
    with DevServer(data_dir=tmp_path / "server", users={USER: PASSWORD}) as srv:
        config = tmp_path / "config.yaml"
        config.write_text(
            f"""\
accounts:
  dev:
    url: {srv.url}
    username: {USER}
    password: {{env: EASSYNC_TEST_PASSWORD}}
storages:
  contacts: {{type: vdir, path: {tmp_path / "contacts"}, fileext: .vcf}}
  tasks: {{type: vdir, path: {tmp_path / "tasks"}, fileext: .ics}}
pairs:
  contacts: {{account: dev, remote: {{default: contacts}}, local: contacts}}
  tasks: {{account: dev, remote: {{default: tasks}}, local: tasks}}
""",
            encoding="utf-8",
        )
        _wrong_password(config, "sync")
        code, text, doc = _status(config)
    assert code == 1
    for pair in ("contacts", "tasks"):
        assert doc[pair]["last_error"].startswith("wrong username or password"), pair
        assert f"{pair}: never synced" in text
