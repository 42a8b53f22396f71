"""Notes through a real Horde Groupware 5.2 (Mnemo) at EAS 16.0, 14.1 and 12.1, as a user
runs them: Markdown files created on one device are checked in Horde's database
(``mnemo_memos``) and read back by a second device (own status dir, own DeviceId); an
edit, a rename and a category change travel each way; a delete too; a second pass
changes nothing.

Horde's notes behaviours (horde-notes §6): MessageClass is neither stored nor
returned; Subject, plain Body and Categories round-trip; a TruncationSize makes Mnemo
send the body's tail, so eassync never asks for truncated bodies.

Written against the ``horde`` fixture of tests/integration/conftest_horde.py (skipped
where that harness is not part of the tree).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from eassync.convert.notes import parse_text

conftest_horde = pytest.importorskip("tests.integration.conftest_horde")
HordeAccount = conftest_horde.HordeAccount

pytestmark = pytest.mark.horde

#: Horde offers its Notes folder at 12.1 already (MS-ASNOTE itself is 14.0+)
NOTE_VERSIONS = ["16.0", "14.1", "12.1"]


def notes_config(acc: HordeAccount, device: Path, version: str) -> Path:
    device.mkdir(parents=True, exist_ok=True)
    config = device / "config.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            general:
              status_dir: {device / "state"}
            accounts:
              horde:
                url: {acc.server.eas_url}
                username: {acc.user}
                password: {{env: EASSYNC_TEST_PASSWORD}}
                protocol_version: "{version}"
            storages:
              notes:
                type: notes
                path: {device / "notes"}
            pairs:
              notes:
                account: horde
                remote: {{default: notes}}
                local: notes
                conflict: remote_wins
            """
        ),
        encoding="utf-8",
    )
    config.chmod(0o600)
    return config


def counts(out: str) -> str:
    match = re.search(r"^notes\S*: (local [^,]+, remote \S+ \S+ \S+)", out, re.M)
    assert match, out
    return match.group(1)


def files(config: Path) -> dict[str, str]:
    folder = config.parent / "notes"
    return {
        p.name: p.read_text(encoding="utf-8")
        for p in sorted(folder.iterdir())
        if not p.name.startswith(".")
    }


def memos(acc: HordeAccount) -> dict[str, str]:
    """subject → body of the user's notes in Horde's database."""
    # memo_owner is the notepad (a share), owned by the user
    rows = acc.server.query(
        "SELECT memo_desc, memo_body FROM mnemo_memos JOIN mnemo_sharesng"
        " ON memo_owner = share_name WHERE share_owner = ?",
        acc.user,
    )
    return {str(desc): str(body).replace("\r\n", "\n").rstrip("\n") for desc, body in rows}


def clear_notes(acc: HordeAccount, device: Path, version: str) -> None:
    """Delete every note of the user, through EAS (the fixture clears only DAV data)."""
    config = notes_config(acc, device, version)
    acc.sync(config)
    for path in (device / "notes").iterdir():
        if not path.name.startswith("."):
            path.unlink()
    from tests.e2e.cal_helpers import run_device

    run_device(config, "sync", "--force-delete", password=acc.password)
    assert memos(acc) == {}


@pytest.mark.parametrize("version", NOTE_VERSIONS)
def test_notes_travel_between_two_devices_through_horde(
    tmp_path: Path, horde_account: HordeAccount, version: str
) -> None:
    acc = horde_account
    clear_notes(acc, tmp_path / "cleaner", version)
    a = notes_config(acc, tmp_path / "a", version)
    b = notes_config(acc, tmp_path / "b", version)
    a_dir, b_dir = a.parent / "notes", b.parent / "notes"
    a_dir.mkdir()
    (a_dir / "Shopping.md").write_text("milk\neggs\n", encoding="utf-8")
    (a_dir / "plan.md").write_text(
        "---\ncategories: [travel, ideas]\n---\n# Trip: Rome/Naples\n\n- day one\n- day two\n",
        encoding="utf-8",
    )

    # added on A → Horde's database holds them → B reads them
    assert counts(acc.sync(a)) == "local +0 ~0 -0, remote +2 ~0 -0"
    assert memos(acc) == {"Shopping": "milk\neggs", "Trip: Rome/Naples": "- day one\n- day two"}
    assert counts(acc.sync(b)) == "local +2 ~0 -0, remote +0 ~0 -0"
    got = files(b)
    assert set(got) == {"Shopping.md", "Trip- Rome-Naples.md"}
    assert got["Shopping.md"] == "milk\neggs\n"
    trip_note, heading = parse_text(got["Trip- Rome-Naples.md"])
    assert heading
    assert trip_note.subject == "Trip: Rome/Naples"
    assert trip_note.body == "- day one\n- day two"
    # Horde hands a tag back in the spelling of an existing one ("Work" for "work")
    assert sorted(c.casefold() for c in trip_note.categories) == ["ideas", "travel"]

    # edited and renamed on B (mv), categories dropped on B → Horde → A
    (b_dir / "Shopping.md").write_text("milk\neggs\nbread\n", encoding="utf-8")
    (b_dir / "Shopping.md").rename(b_dir / "Groceries.md")
    trip = b_dir / "Trip- Rome-Naples.md"
    trip.write_text("# Trip: Rome/Naples\n\n- day one\n- day two\n", encoding="utf-8")
    assert counts(acc.sync(b)) == "local +0 ~0 -0, remote +0 ~2 -0"
    assert memos(acc)["Groceries"] == "milk\neggs\nbread"
    assert counts(acc.sync(a)) == "local +0 ~2 -0, remote +0 ~0 -0"
    assert files(a) == {
        "Groceries.md": "milk\neggs\nbread\n",
        "plan.md": "# Trip: Rome/Naples\n\n- day one\n- day two\n",
    }

    # renamed through the heading on A → B's file follows
    (a_dir / "plan.md").write_text("# Trip\n\n- day one\n- day two\n", encoding="utf-8")
    assert counts(acc.sync(a)) == "local +0 ~0 -0, remote +0 ~1 -0"
    assert counts(acc.sync(b)) == "local +0 ~1 -0, remote +0 ~0 -0"
    assert set(files(b)) == {"Groceries.md", "Trip.md"}

    # deleted on A → gone from Horde → gone on B
    (a_dir / "Groceries.md").unlink()
    assert counts(acc.sync(a)) == "local +0 ~0 -0, remote +0 ~0 -1"
    assert set(memos(acc)) == {"Trip"}
    assert counts(acc.sync(b)) == "local +0 ~0 -1, remote +0 ~0 -0"
    for config in (a, b):  # a second pass: nothing doubled, nothing lost
        assert counts(acc.sync(config)) == "local +0 ~0 -0, remote +0 ~0 -0"
    assert set(files(a)) == {"plan.md"}
    assert set(files(b)) == {"Trip.md"}
