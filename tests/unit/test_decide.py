"""The engine's decision table (eassync.sync.decide), over every combination of its
inputs: each case against an expectation written apart from the code (a table of
rules, first match wins, as a reader would check it by hand), and the properties
the sync promises whatever the table says."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from eassync.sync.decide import (
    DIRECTIONS,
    LOCAL_CHANGES,
    LOCAL_WRITES,
    OP_STATUSES,
    REMOTE_WRITES,
    SENT,
    WINNERS,
    Case,
    Do,
    Local,
    Row,
    Server,
    answered,
    asks_policy,
    decide,
    drops_kept,
    missing_after_resync,
    resolve,
    writes_uid_back,
)

FACTS = ("equals_base", "equals_sent", "same_content", "kept", "refused")


def every_case() -> Iterator[Case]:
    for server, local, row, direction, local_changes, *facts in itertools.product(
        Server, Local, Row, DIRECTIONS, LOCAL_CHANGES, *([(False, True)] * len(FACTS))
    ):
        named = dict(zip(FACTS, facts, strict=True))
        yield Case(server, local, row, direction, local_changes, **named)


CASES = list(every_case())

ANY = "*"
CHANGED = (Local.CHANGED, Local.NEW)  # a local item that differs from the base
# (server, local, row, condition on the other inputs, expected); first match wins
RULES: list[tuple[Any, Any, Any, dict[str, Any], Do]] = [
    # nothing from the server: the local side's changes
    (Server.NOTHING, Local.UNCHANGED, ANY, {}, Do.NOTHING),
    (Server.NOTHING, ANY, ANY, {"direction": "to_local", "local_changes": "error"}, Do.REFUSE),
    (Server.NOTHING, ANY, ANY, {"direction": "to_local", "local_changes": "ignore"}, Do.NOTHING),
    (Server.NOTHING, Local.DELETED, Row.NONE, {"direction": "to_local"}, Do.NOTHING),
    (Server.NOTHING, Local.DELETED, Row.UNBOUND, {"direction": "to_local"}, Do.FORGET),
    (Server.NOTHING, Local.DELETED, ANY, {"direction": "to_local"}, Do.RESTORE_LOCAL),
    (Server.NOTHING, Local.NEW, ANY, {"direction": "to_local"}, Do.DELETE_LOCAL),
    (Server.NOTHING, ANY, (Row.NONE, Row.UNBOUND), {"direction": "to_local"}, Do.DELETE_LOCAL),
    (Server.NOTHING, ANY, ANY, {"direction": "to_local"}, Do.UPDATE_LOCAL),
    (Server.NOTHING, Local.NEW, ANY, {}, Do.ADD_REMOTE),
    (Server.NOTHING, ANY, Row.NONE, {}, Do.NOTHING),
    (Server.NOTHING, Local.DELETED, Row.UNBOUND, {}, Do.FORGET),
    (Server.NOTHING, Local.DELETED, ANY, {}, Do.DELETE_REMOTE),
    (Server.NOTHING, ANY, ANY, {"refused": True}, Do.PARKED),
    (Server.NOTHING, ANY, Row.UNBOUND, {}, Do.ADD_REMOTE),
    (Server.NOTHING, ANY, ANY, {}, Do.UPDATE_REMOTE),
    # the item left the server's window
    (Server.SOFT_DELETE, ANY, Row.NONE, {}, Do.NOTHING),
    (Server.SOFT_DELETE, ANY, ANY, {}, Do.DORMANT),
    # deleted on the server
    (Server.DELETE, ANY, (Row.NONE, Row.UNBOUND), {}, Do.NOTHING),
    (Server.DELETE, Local.DELETED, ANY, {}, Do.FORGET),
    (Server.DELETE, ANY, ANY, {"direction": "to_remote"}, Do.UNBIND),
    (Server.DELETE, CHANGED, ANY, {"direction": "both"}, Do.READD_REMOTE),
    (Server.DELETE, ANY, Row.UNWRITTEN, {}, Do.FORGET),
    (Server.DELETE, ANY, ANY, {}, Do.DELETE_LOCAL),
]
for sent in (Server.ADD, Server.CHANGE):  # decided alike
    RULES += [
        (sent, Local.NEW, Row.NONE, {"same_content": True}, Do.BIND),
        (sent, Local.NEW, Row.NONE, {}, Do.CONFLICT),
        (sent, ANY, Row.NONE, {"direction": "to_remote"}, Do.IGNORE),
        (sent, ANY, Row.NONE, {}, Do.ADD_LOCAL),
        (sent, ANY, Row.UNBOUND, {}, Do.BIND),
        (sent, ANY, Row.BOUND, {"equals_base": True, "kept": False}, Do.NOTHING),
        (sent, Local.UNCHANGED, ANY, {"equals_sent": True}, Do.ECHO_RESEND),
        (sent, CHANGED, ANY, {"equals_sent": True, "same_content": True}, Do.ECHO_BIND),
        (sent, ANY, ANY, {"equals_sent": True}, Do.ECHO_KEEP),
        (sent, Local.UNCHANGED, ANY, {"direction": "to_remote"}, Do.IGNORE),
        (sent, Local.UNCHANGED, ANY, {}, Do.UPDATE_LOCAL),
        (sent, Local.DELETED, ANY, {"direction": "to_remote"}, Do.KEEP_BASE),
        (sent, Local.DELETED, ANY, {}, Do.RESTORE_LOCAL),
        (sent, CHANGED, ANY, {"same_content": True}, Do.BIND),
        (sent, CHANGED, ANY, {}, Do.CONFLICT),
    ]


def _fits(pattern: Any, value: Any) -> bool:
    if pattern == ANY:
        return True
    if isinstance(pattern, tuple):
        return value in pattern
    return bool(pattern == value)


def expected(case: Case) -> Do:
    for server, local, row, condition, outcome in RULES:
        if (
            _fits(server, case.server)
            and _fits(local, case.local)
            and _fits(row, case.row)
            and all(getattr(case, name) == value for name, value in condition.items())
        ):
            return outcome
    raise AssertionError(f"no rule for {case}")


def test_every_case_is_decided_as_the_table_says() -> None:
    assert len(CASES) == len(Server) * len(Local) * len(Row) * 3 * 3 * 2 ** len(FACTS)
    wrong = [(case, decide(case), expected(case)) for case in CASES]
    wrong = [w for w in wrong if w[1] is not w[2]]
    assert wrong == [], f"{len(wrong)} cases differ, e.g. {wrong[:3]}"


S, L, R = Server, Local, Row
#: story → (case, outcome): the table read the way a user tells it
STORIES: dict[str, tuple[Case, Do]] = {
    "edited here only": (Case(S.NOTHING, L.CHANGED, R.BOUND), Do.UPDATE_REMOTE),
    "edited on the server only": (Case(S.CHANGE, L.UNCHANGED, R.BOUND), Do.UPDATE_LOCAL),
    "edited on both sides, differently": (Case(S.CHANGE, L.CHANGED, R.BOUND), Do.CONFLICT),
    "edited on both sides alike": (Case(S.CHANGE, L.CHANGED, R.BOUND, same_content=True), Do.BIND),
    "deleted here, edited there": (Case(S.CHANGE, L.DELETED, R.BOUND), Do.RESTORE_LOCAL),
    "edited here, deleted there": (Case(S.DELETE, L.CHANGED, R.BOUND), Do.READD_REMOTE),
    "deleted on both sides": (Case(S.DELETE, L.DELETED, R.BOUND), Do.FORGET),
    "new on the server": (Case(S.ADD, L.UNCHANGED, R.NONE), Do.ADD_LOCAL),
    "new here": (Case(S.NOTHING, L.NEW, R.NONE), Do.ADD_REMOTE),
    "new on both sides, one item": (Case(S.ADD, L.NEW, R.NONE, same_content=True), Do.BIND),
    "our change echoed": (Case(S.CHANGE, L.UNCHANGED, R.BOUND, equals_base=True), Do.NOTHING),
    "left the server's window": (Case(S.SOFT_DELETE, L.UNCHANGED, R.BOUND), Do.DORMANT),
    "to_remote, edited there": (Case(S.CHANGE, L.UNCHANGED, R.BOUND, "to_remote"), Do.IGNORE),
    "to_local, edited here": (Case(S.NOTHING, L.CHANGED, R.BOUND, "to_local"), Do.UPDATE_LOCAL),
    "to_local, ignore": (Case(S.NOTHING, L.CHANGED, R.BOUND, "to_local", "ignore"), Do.NOTHING),
}


@pytest.mark.parametrize("story", STORIES)
def test_the_everyday_stories(story: str) -> None:
    case, outcome = STORIES[story]
    assert decide(case) is outcome, story


def test_every_outcome_is_reachable() -> None:
    reached = {decide(case) for case in CASES}
    reached |= {resolve(direction, winner) for direction in DIRECTIONS for winner in WINNERS}
    reached |= {answered(s, a, has_ident=i, resent=r) for s, a, i, r in ANSWERS}
    reached |= {
        missing_after_resync(*m[:1], unwritten=m[1], dormant=m[2], windowed=m[3]) for m in MISSING
    }
    assert reached == set(Do)


def _outcomes(case: Case) -> set[Do]:
    """A case's outcome, and for a conflict every way it can be resolved."""
    outcome = decide(case)
    if outcome is not Do.CONFLICT:
        return {outcome}
    return {resolve(case.direction, winner) for winner in WINNERS}


def test_to_local_never_writes_to_the_server() -> None:
    for case in CASES:
        if case.direction == "to_local":
            assert not _outcomes(case) & REMOTE_WRITES, case


def test_to_remote_never_writes_locally() -> None:
    for case in CASES:
        if case.direction == "to_remote":
            assert not _outcomes(case) & LOCAL_WRITES, case


def test_equal_content_on_both_sides_is_never_a_conflict() -> None:
    for case in CASES:
        if case.same_content:
            assert decide(case) is not Do.CONFLICT, case


def test_a_local_deletion_of_an_item_changed_on_the_server_keeps_the_servers_version() -> None:
    for case in CASES:
        if (
            case.server in (Server.ADD, Server.CHANGE)
            and case.local is Local.DELETED
            and case.row in (Row.BOUND, Row.UNWRITTEN)
            and not case.equals_base
            and not case.equals_sent
            and case.direction != "to_remote"
        ):
            assert decide(case) is Do.RESTORE_LOCAL, case


def test_a_server_deletion_of_an_item_changed_here_keeps_the_local_version() -> None:
    for case in CASES:
        if case.server is Server.DELETE and case.local is Local.CHANGED and case.row is Row.BOUND:
            assert decide(case) in (Do.READD_REMOTE, Do.UNBIND, Do.DELETE_LOCAL), case
            # only to_local (the local side is a copy of the server) drops the edit
            assert (decide(case) is Do.DELETE_LOCAL) == (case.direction == "to_local"), case


def test_a_server_add_and_a_server_change_are_decided_alike() -> None:
    for case in CASES:
        if case.server is Server.ADD:
            change = Case(**{**vars(case), "server": Server.CHANGE})
            assert decide(case) is decide(change), case


def test_nothing_changed_anywhere_does_nothing() -> None:
    for case in CASES:
        if case.server is Server.NOTHING and case.local is Local.UNCHANGED:
            assert decide(case) is Do.NOTHING, case


def test_nothing_is_deleted_on_either_side_without_a_deletion_on_the_other() -> None:
    for case in CASES:
        outcomes = _outcomes(case)
        if Do.DELETE_LOCAL in outcomes:
            # a server delete, or to_local reverting a new local item
            assert case.server is Server.DELETE or (
                case.direction == "to_local" and case.local is not Local.DELETED
            ), case
        if Do.DELETE_REMOTE in outcomes:
            assert case.local is Local.DELETED, case


def test_local_changes_error_refuses_every_local_change_and_nothing_else() -> None:
    for case in CASES:
        refuses = (
            case.server is Server.NOTHING
            and case.direction == "to_local"
            and case.local_changes == "error"
            and case.local is not Local.UNCHANGED
        )
        assert (decide(case) is Do.REFUSE) == refuses, case


def test_a_version_refused_before_is_not_sent_again() -> None:
    for case in CASES:
        if case.server is Server.NOTHING and case.local is Local.CHANGED and case.refused:
            assert decide(case) not in REMOTE_WRITES, case


@pytest.mark.parametrize(
    ("direction", "winner", "outcome"),
    [
        ("to_local", None, Do.UPDATE_LOCAL),
        ("to_remote", None, Do.KEEP_BASE),
        ("both", "remote", Do.UPDATE_LOCAL),
        ("both", "local", Do.KEEP_BASE),
        ("both", "both", Do.KEEP_BOTH),
        ("both", "merged", Do.MERGE),
        ("both", "error", Do.DEFER),
    ],
)
def test_a_conflict_is_resolved_by_the_direction_else_the_policy(
    direction: Any, winner: Any, outcome: Do
) -> None:
    assert resolve(direction, winner) is outcome
    assert asks_policy(direction) == (direction == "both")


def test_one_way_directions_overrule_the_policy() -> None:
    for winner in WINNERS:
        assert resolve("to_local", winner) is Do.UPDATE_LOCAL
        assert resolve("to_remote", winner) is Do.KEEP_BASE


def test_direction_both_needs_the_policys_answer() -> None:
    with pytest.raises(ValueError, match="policy"):
        resolve("both")


def test_a_kept_server_version_is_dropped_only_when_decided_against_a_change() -> None:
    for direction, local in itertools.product(DIRECTIONS, Local):
        dropped = local is not Local.UNCHANGED or direction == "to_remote"
        assert drops_kept(direction, local) == dropped


def test_a_uid_is_written_back_unless_to_remote() -> None:
    for direction, missing in itertools.product(DIRECTIONS, (False, True)):
        assert writes_uid_back(direction, missing) == (missing and direction != "to_remote")


# (sent, answer, has a ServerId, a resent Add, expected); first match wins
ANSWER_RULES: list[tuple[Any, Any, Any, Any, Do]] = [
    ("delete", ("ok", "not_found", "rejected"), ANY, ANY, Do.FORGET),
    ("delete", ANY, ANY, ANY, Do.RETRY),
    ("add", "ok", True, ANY, Do.BIND),
    ("add", "ok", False, ANY, Do.PARKED),
    ("add", "rejected", ANY, True, Do.AWAIT_PULL),
    (ANY, ("rejected", "failed"), ANY, ANY, Do.PARKED),
    ("add", ANY, ANY, ANY, Do.RETRY),
    ("change", "ok", ANY, ANY, Do.BIND),
    ("change", "conflict", ANY, ANY, Do.AWAIT_PULL),
    ("change", "not_found", ANY, ANY, Do.READD_REMOTE),
    ("change", "retry", ANY, ANY, Do.RETRY),
]

ANSWERS = list(itertools.product(SENT, OP_STATUSES, (False, True), (False, True)))


def expected_answer(sent: str, status: str, has_ident: bool, resent: bool) -> Do:
    for rule in ANSWER_RULES:
        if all(
            _fits(p, v) for p, v in zip(rule[:4], (sent, status, has_ident, resent), strict=True)
        ):
            return rule[4]
    raise AssertionError(f"no rule for {sent} {status}")


def test_every_answer_is_decided_as_the_table_says() -> None:
    assert len(ANSWERS) == 3 * 6 * 2 * 2
    for sent, status, has_ident, resent in ANSWERS:
        outcome = answered(sent, status, has_ident=has_ident, resent=resent)
        assert outcome is expected_answer(sent, status, has_ident, resent), (sent, status)


def test_a_refused_version_is_never_sent_again_unchanged() -> None:
    for sent, status, has_ident, resent in ANSWERS:
        if status == "rejected":
            assert answered(sent, status, has_ident=has_ident, resent=resent) is not Do.RETRY


def test_an_added_or_changed_item_is_never_forgotten_for_an_answer() -> None:
    for sent, status, has_ident, resent in ANSWERS:
        if sent != "delete":
            assert answered(sent, status, has_ident=has_ident, resent=resent) is not Do.FORGET


def test_an_add_is_bound_only_to_a_server_id_the_server_gave() -> None:
    for _, status, has_ident, resent in ANSWERS:
        outcome = answered("add", status, has_ident=has_ident, resent=resent)
        assert (outcome is Do.BIND) == (status == "ok" and has_ident)


MISSING = list(itertools.product(Local, (False, True), (False, True), (False, True)))


@pytest.mark.parametrize(("local", "unwritten", "dormant", "windowed"), MISSING)
def test_an_item_a_resync_did_not_bring_back_is_never_deleted_locally(
    local: Local, unwritten: bool, dormant: bool, windowed: bool
) -> None:
    outcome = missing_after_resync(local, unwritten=unwritten, dormant=dormant, windowed=windowed)
    if dormant or windowed:
        expected = Do.DORMANT  # it may be outside the window: the local item stays
    elif local is Local.DELETED or unwritten:
        expected = Do.FORGET  # nothing here to re-upload
    else:
        expected = Do.READD_REMOTE  # the server may have lost it
    assert outcome is expected
    assert outcome not in LOCAL_WRITES
