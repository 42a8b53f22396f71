"""What becomes of one item in a pass: the decisions of the engine, pure (no I/O, no
status, no items: only what the engine found out about them).

The engine classifies what it sees into a :class:`Case` and carries out the
:class:`Do` that :func:`decide` returns (reading and writing files, status rows,
pushes: :mod:`eassync.sync.pull`, :mod:`eassync.sync.apply`, :mod:`eassync.sync.push`,
:mod:`eassync.sync.directions`). A conflict is decided in a second step,
:func:`resolve`, once the conflict policy has been asked (``direction: both`` only).

Inputs: what the server sent (:class:`Server`), what became of the local item since
the last pass (:class:`Local`), the status row (:class:`Row`), the direction and
``local_changes``, and five facts: the server's version equals the row's base
(``equals_base``), equals our own Change whose answer was lost (``equals_sent``), both
sides hold the same content (``same_content``), the row keeps a server version not
applied yet (``kept``), this local version was refused before (``refused``). A server
Add and a server Change are decided alike: an Add of a known ServerId is the item's
return (SoftDelete), a Change of an unknown one is the server's item all the same.

The table, first matching line wins (``*``: any; ``!=``: "not"):

======================= ============== ================= ============================
server                  local          row / facts       →
======================= ============== ================= ============================
nothing                 unchanged      *                 NOTHING
nothing                 any change     to_local, error   REFUSE (the pass stops)
nothing                 any change     to_local, ignore  NOTHING (told once)
nothing (revert)        deleted        none              NOTHING
nothing (revert)        deleted        unbound           FORGET (nothing to restore)
nothing (revert)        deleted        *                 RESTORE_LOCAL
nothing (revert)        new/changed    none, unbound     DELETE_LOCAL (a new item)
nothing (revert)        changed        *                 UPDATE_LOCAL (server's version)
nothing                 new            *                 ADD_REMOTE
nothing                 changed/del.   none              NOTHING (the row is gone)
nothing                 deleted        unbound           FORGET (never on the server)
nothing                 deleted        *                 DELETE_REMOTE
nothing                 changed        refused           PARKED (refused in this form)
nothing                 changed        unbound           ADD_REMOTE (no server copy)
nothing                 changed        *                 UPDATE_REMOTE
soft delete             *              none              NOTHING
soft delete             *              *                 DORMANT
delete                  *              none, unbound     NOTHING (no row holds it)
delete                  deleted        *                 FORGET (gone on both sides)
delete                  *              to_remote         UNBIND (the local item stays)
delete                  changed/new    both              READD_REMOTE (local wins)
delete                  *              unwritten         FORGET (no local file)
delete                  *              *                 DELETE_LOCAL
add/change              new            none, same        BIND (the same item)
add/change              new            none              CONFLICT (no common base)
add/change              *              none, to_remote   IGNORE
add/change              *              none              ADD_LOCAL
add/change              *              unbound           BIND (the row's server copy)
add/change              *              base, !kept,      NOTHING (rewritten, or our
                                       !unwritten        own change echoed)
add/change              unchanged      sent              ECHO_RESEND
add/change              changed/new    sent, same        ECHO_BIND
add/change              *              sent              ECHO_KEEP
add/change              unchanged      to_remote         IGNORE
add/change              unchanged      *                 UPDATE_LOCAL
add/change              deleted        to_remote         KEEP_BASE (the delete goes up)
add/change              deleted        *                 RESTORE_LOCAL (server wins)
add/change              changed/new    same              BIND (both reached it)
add/change              changed/new    *                 CONFLICT → :func:`resolve`
======================= ============== ================= ============================

(``nothing (revert)``: direction ``to_local`` with ``local_changes: revert``; the
``nothing`` lines below those are ``both`` and ``to_remote``. ``unbound``: a row bound
to no server item — a pending or refused Add, an ignored server delete;
``unwritten``: a row whose local file is not written yet; ``refused``: this very local
version was refused by the server before.)

:func:`resolve`: ``to_local`` → the server wins (UPDATE_LOCAL, the local version to the
trash); ``to_remote`` → the local side wins (KEEP_BASE: the server's version becomes
the base, the local change goes up); ``both`` → the policy's winner: remote →
UPDATE_LOCAL, local → KEEP_BASE, both → KEEP_BOTH, merged → MERGE, error → DEFER.

:func:`answered`: what the server's answer to one push operation makes of the item:

========== =============================== =========================================
sent       answer                          →
========== =============================== =========================================
add        ok, with a ServerId             BIND (the row is bound to the server item)
add        ok, without a ServerId          PARKED (the server did not store it)
add        rejected, a resent Add          AWAIT_PULL (the server may hold it)
add/change rejected, failed                PARKED (not sent again until it changes)
add        retry, conflict, not found      RETRY (still pending)
change     ok                              BIND (the sent version is the base)
change     conflict                        AWAIT_PULL (the server's version wins)
change     not found                       READD_REMOTE (gone from the server)
change     retry                           RETRY
delete     ok, not found, rejected         FORGET (rejected: told; not retried forever)
delete     failed, retry, conflict         RETRY (the deletion is found again)
========== =============================== =========================================

:func:`missing_after_resync`: an item the full download of a resync did not bring
back: DORMANT if the row was dormant or the folder is windowed (it may be outside the
window); FORGET if it is deleted locally too, or has no local file; else READD_REMOTE
(the server may have lost it: resurrecting a deleted item is recoverable, deleting a
user's data is not). The re-upload is queued whatever the direction; ``to_local``
never sends it (its push only reverts), so it waits for a pass that may write.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

from eassync.model.items import OpStatus

Direction = Literal["both", "to_local", "to_remote"]
#: what ``direction: to_local`` does with changes made on the local side
LocalChanges = Literal["revert", "ignore", "error"]
#: a conflict policy's answer (eassync.sync.policy)
Winner = Literal["remote", "local", "both", "merged", "error"]

DIRECTIONS: tuple[Direction, ...] = ("both", "to_local", "to_remote")
LOCAL_CHANGES: tuple[LocalChanges, ...] = ("revert", "ignore", "error")
WINNERS: tuple[Winner, ...] = ("remote", "local", "both", "merged", "error")
#: a push operation
Sent = Literal["add", "change", "delete"]
SENT: tuple[Sent, ...] = ("add", "change", "delete")
OP_STATUSES: tuple[OpStatus, ...] = ("ok", "conflict", "not_found", "rejected", "retry", "failed")


class Server(Enum):
    """What the server sent for the item in this pass."""

    NOTHING = "nothing"
    ADD = "add"
    CHANGE = "change"
    DELETE = "delete"
    SOFT_DELETE = "soft delete"


class Local(Enum):
    """What became of the local item since the last pass (the local scan)."""

    UNCHANGED = "unchanged"
    CHANGED = "changed"
    DELETED = "deleted"
    #: a local item the status does not know
    NEW = "new"


class Row(Enum):
    """The item's status row."""

    NONE = "none"
    #: bound to a server item and to a local file
    BOUND = "bound"
    #: bound to a server item, its local file not written yet (write-ahead, failed write)
    UNWRITTEN = "unwritten"
    #: bound to no server item: a pending or refused Add, a server delete ignored
    #: (to_remote); found by the matcher: a row waiting for its server item
    UNBOUND = "unbound"


class Do(Enum):
    """What the engine does."""

    NOTHING = "nothing"
    #: to_remote: a server change not applied (told); its hash becomes the base
    IGNORE = "ignore"
    ADD_LOCAL = "add local"
    #: the server's version written over the local one
    UPDATE_LOCAL = "update local"
    #: the server's version re-creates a locally deleted item
    RESTORE_LOCAL = "restore local"
    DELETE_LOCAL = "delete local"
    ADD_REMOTE = "add remote"
    UPDATE_REMOTE = "update remote"
    DELETE_REMOTE = "delete remote"
    #: deleted on the server, changed here: the local item goes up as a new one
    READD_REMOTE = "re-add remote"
    #: both sides hold the same content: recorded, nothing written
    BIND = "bind"
    #: both sides changed, differently: :func:`resolve` says who wins
    CONFLICT = "conflict"
    #: the server's version becomes the base, nothing is written locally (the local
    #: change or deletion goes up)
    KEEP_BASE = "keep base"
    #: conflict (keep_both): the server's version here, the local one as a new item
    KEEP_BOTH = "keep both"
    #: conflict: the merge tool's result here, and up
    MERGE = "merge"
    #: conflict (error): the server's version is kept for the next pass
    DEFER = "defer"
    #: the row is dropped (gone on both sides, or never on the server)
    FORGET = "forget"
    #: to_remote: deleted on the server; the local item stays, the row forgets the copy
    UNBIND = "unbind"
    #: SoftDelete: the row stays, dormant, the local item too
    DORMANT = "dormant"
    #: refused before in this very form: not sent again (``sync --retry`` sends it)
    PARKED = "parked"
    #: to_local with ``local_changes: error``: the pass stops before writing anything
    REFUSE = "refuse"
    #: our own Change came back (its answer was lost); the file is back at the old
    #: base, which the server no longer holds: it is marked to go up again
    ECHO_RESEND = "echo, resend"
    #: our own Change came back, and the file holds that very version
    ECHO_BIND = "echo, bind"
    #: our own Change came back; the local change goes up as usual
    ECHO_KEEP = "echo, keep"
    #: answer to a push: the next pull settles it (the server's version, or its copy)
    AWAIT_PULL = "await pull"
    #: answer to a push: nothing recorded, sent again next pass
    RETRY = "retry"


#: what writes to the server
REMOTE_WRITES = frozenset({Do.ADD_REMOTE, Do.UPDATE_REMOTE, Do.DELETE_REMOTE, Do.READD_REMOTE})
#: what writes locally
LOCAL_WRITES = frozenset(
    {
        Do.ADD_LOCAL,
        Do.UPDATE_LOCAL,
        Do.RESTORE_LOCAL,
        Do.DELETE_LOCAL,
        Do.KEEP_BOTH,
        Do.MERGE,
    }
)


@dataclass(frozen=True)
class Case:
    """What the engine knows of one item when it decides."""

    server: Server
    local: Local
    row: Row
    direction: Direction = "both"
    local_changes: LocalChanges = "revert"
    #: the server's version equals the row's base (what the server held last pass)
    equals_base: bool = False
    #: the server's version equals our own Change whose answer was lost
    equals_sent: bool = False
    #: both sides hold the same content (as far as the server holds fields)
    same_content: bool = False
    #: the row keeps a server version not applied yet (unresolved conflict, lost race)
    kept: bool = False
    #: this very local version was refused by the server before (parked)
    refused: bool = False


def decide(case: Case) -> Do:
    """The module docstring's table."""
    if case.server is Server.NOTHING:
        return _local_change(case)
    if case.server is Server.SOFT_DELETE:
        return Do.NOTHING if case.row is Row.NONE else Do.DORMANT
    if case.server is Server.DELETE:
        return _server_delete(case)
    if case.row is Row.NONE:
        return _server_new(case)
    if case.row is Row.UNBOUND:
        return Do.BIND
    return _server_version(case)


def resolve(direction: Direction, winner: Winner | None = None) -> Do:
    """A conflict's outcome: the direction's, else the policy's ``winner``."""
    if direction == "to_local":
        winner = "remote"
    elif direction == "to_remote":
        winner = "local"
    if winner is None:
        raise ValueError("direction both: the conflict policy decides")
    return {
        "remote": Do.UPDATE_LOCAL,
        "local": Do.KEEP_BASE,
        "both": Do.KEEP_BOTH,
        "merged": Do.MERGE,
        "error": Do.DEFER,
    }[winner]


def asks_policy(direction: Direction) -> bool:
    """Only ``both`` asks the conflict policy (a merge tool runs only then)."""
    return direction == "both"


def drops_kept(direction: Direction, local: Local) -> bool:
    """A kept server version (not applied in an earlier pass) is dropped when this
    pass decides the item against a local change, or applies nothing (to_remote);
    otherwise it stays kept until it is written (a kill must not lose it)."""
    return local is not Local.UNCHANGED or direction == "to_remote"


def writes_uid_back(direction: Direction, missing_uid: bool) -> bool:
    """A server item that came without a UID (and can hold one) gets ours written
    back once the pair may write to the server; a to_remote pair's bound local item
    is never rewritten."""
    return missing_uid and direction != "to_remote"


def _local_change(case: Case) -> Do:
    local, row = case.local, case.row
    if local is Local.UNCHANGED:
        return Do.NOTHING
    if case.direction == "to_local":
        if case.local_changes == "error":
            return Do.REFUSE
        if case.local_changes == "ignore":
            return Do.NOTHING
        return _revert(local, row)
    if local is Local.NEW:
        return Do.ADD_REMOTE
    if row is Row.NONE:
        return Do.NOTHING
    if local is Local.DELETED:
        return Do.FORGET if row is Row.UNBOUND else Do.DELETE_REMOTE
    if case.refused:
        return Do.PARKED
    if row is Row.UNBOUND:
        return Do.ADD_REMOTE
    return Do.UPDATE_REMOTE


def _revert(local: Local, row: Row) -> Do:
    """to_local, ``local_changes: revert``: the local side becomes the server's again."""
    if local is Local.DELETED:
        if row is Row.NONE:
            return Do.NOTHING
        return Do.FORGET if row is Row.UNBOUND else Do.RESTORE_LOCAL
    if local is Local.NEW or row in (Row.NONE, Row.UNBOUND):
        return Do.DELETE_LOCAL
    return Do.UPDATE_LOCAL


def _server_delete(case: Case) -> Do:
    if case.row in (Row.NONE, Row.UNBOUND):
        return Do.NOTHING
    if case.local is Local.DELETED:
        return Do.FORGET
    if case.direction == "to_remote":
        return Do.UNBIND
    if case.local is not Local.UNCHANGED and case.direction == "both":
        return Do.READD_REMOTE
    if case.row is Row.UNWRITTEN:
        return Do.FORGET
    return Do.DELETE_LOCAL


def _server_new(case: Case) -> Do:
    """An Add or Change of an item no row holds."""
    if case.local is Local.NEW:
        return Do.BIND if case.same_content else Do.CONFLICT
    return Do.IGNORE if case.direction == "to_remote" else Do.ADD_LOCAL


def _server_version(case: Case) -> Do:
    """An Add or Change of an item a row holds."""
    local = case.local
    changed = local in (Local.CHANGED, Local.NEW)
    if case.equals_base and not case.kept and case.row is not Row.UNWRITTEN:
        return Do.NOTHING
    if case.equals_sent:
        if local is Local.UNCHANGED:
            return Do.ECHO_RESEND
        return Do.ECHO_BIND if changed and case.same_content else Do.ECHO_KEEP
    if local is Local.UNCHANGED:
        return Do.IGNORE if case.direction == "to_remote" else Do.UPDATE_LOCAL
    if local is Local.DELETED:
        return Do.KEEP_BASE if case.direction == "to_remote" else Do.RESTORE_LOCAL
    return Do.BIND if case.same_content else Do.CONFLICT


def answered(sent: Sent, status: OpStatus, *, has_ident: bool = True, resent: bool = False) -> Do:
    """The server's answer to one push operation (the module docstring's second
    table). ``has_ident``: an Add's answer carries the new ServerId (MS-ASCMD
    2.2.3.7.2); ``resent``: the Add's ClientId was sent before (a lost answer)."""
    if sent == "delete":
        return Do.FORGET if status in ("ok", "not_found", "rejected") else Do.RETRY
    if status == "ok":
        return Do.BIND if sent == "change" or has_ident else Do.PARKED
    if status == "rejected" and sent == "add" and resent:
        return Do.AWAIT_PULL
    if status in ("rejected", "failed"):
        return Do.PARKED
    if sent == "add":
        return Do.RETRY
    if status == "conflict":
        return Do.AWAIT_PULL
    return Do.READD_REMOTE if status == "not_found" else Do.RETRY


def missing_after_resync(local: Local, *, unwritten: bool, dormant: bool, windowed: bool) -> Do:
    """An item a resync's full download did not bring back (see the module docstring)."""
    if dormant or windowed:
        return Do.DORMANT
    if local is Local.DELETED or unwritten:
        return Do.FORGET
    return Do.READD_REMOTE
