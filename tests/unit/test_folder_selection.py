"""``select_folders`` for ``{all: KIND}``: a folder's local subfolder follows its
ServerId, not its name, and no two folders ever share a subfolder."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from eassync.eas.client import Folder
from eassync.pairs import select_folders, unique_dirname

NAMES = st.sampled_from(["Family", "family", "Work", "Work-2", "a/b", "..", "", "Ünï"])


def _folder(sid: str, name: str) -> Folder:
    return Folder.of(sid, "0", name, 14)


@st.composite
def _cases(draw: st.DrawFn) -> tuple[list[Folder], dict[str, str]]:
    names = draw(st.lists(NAMES, min_size=1, max_size=6))
    folders = [_folder(str(i + 10), name) for i, name in enumerate(names)]
    # what an earlier pass chose: a subset of the folders, plus folders gone since
    ids = [f.server_id for f in folders] + ["90", "91"]
    known_ids = draw(st.lists(st.sampled_from(ids), unique=True))
    # an earlier pass never gave two folders one subfolder
    used: set[str] = set()
    known = {sid: unique_dirname(draw(NAMES), used) for sid in known_ids}
    return folders, known


@given(_cases())
def test_known_folders_keep_their_subfolder_and_none_is_shared(
    case: tuple[list[Folder], dict[str, str]],
) -> None:
    folders, known = case
    selections = select_folders("p", {"all": "contacts"}, folders, known)
    assert len(selections) == len(folders)
    subdirs = [s.subdir for s in selections]
    for d in subdirs:
        assert d
        assert "/" not in d
        assert not d.startswith(".")
        assert ".." not in d
    lowered = [d.lower() for d in subdirs if d is not None]
    # no folder shares a subfolder, not even with a known folder that is gone
    assert len(set(lowered)) == len(lowered)
    for sel in selections:
        sid = sel.folder.server_id
        if sid in known:
            assert sel.subdir == known[sid]
        else:
            gone = {known[s].lower() for s in known if s not in {f.server_id for f in folders}}
            assert sel.subdir is not None
            assert sel.subdir.lower() not in gone


def test_a_renamed_folder_keeps_its_subfolder_and_a_new_one_takes_another() -> None:
    folders = [_folder("10", "Relatives"), _folder("11", "Family")]
    selections = select_folders("p", {"all": "contacts"}, folders, {"10": "Family"})
    assert {s.folder.server_id: s.subdir for s in selections} == {"10": "Family", "11": "Family-2"}


def test_an_unsafe_stored_name_is_not_used_as_a_path() -> None:
    selections = select_folders("p", {"all": "contacts"}, [_folder("10", "Family")], {"10": "../x"})
    assert [s.subdir for s in selections] == ["Family"]
