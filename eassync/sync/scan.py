"""1. The local scan: what changed locally since the last pass (:class:`LocalIndex`).

Kill safety (re-running after a kill at any instant never duplicates, never drops; the
overview is in :mod:`eassync.sync.engine`):

- A pass killed between a batch's write-ahead and its final commit leaves rows
  marked tentative, and maybe the files. The scan recognises such a file by its
  content (the fingerprint the row announced) and binds it: an added file to its
  row, an updated file as the row's new local state (no user edit). A file whose
  content differs was edited by the user: it stays a local change or a new item.
  (What the pull does with the rows next: :mod:`eassync.sync.pull`.)
"""

from __future__ import annotations

from typing import Any, Literal

from eassync.errors import EassyncError
from eassync.sync.index import LocalChange
from eassync.sync.pass_ import PassBase
from eassync.sync.status import StatusRow


class LocalScan(PassBase):
    """The local scan (step 1 of a pass)."""

    # --- 1. local scan ------------------------------------------------------------------

    def _scan_local(self, token: str | None) -> None:
        known = self.status.local_etags(self.collection)
        changes = self.local.changes(token, known)
        self.new_token = changes.token
        # a pass killed between its write-ahead and its final commit left rows
        # marked tentative: the files it wrote are found here by their content
        tentative = not self.dry_run and self.status.count(self.collection, "tentative IS NOT NULL")
        adopted: dict[int, dict[str, Any]] = {}
        for ident, item, etag in self._read_many(changes.changed):
            row = self.status.by_local(self.collection, ident)
            try:
                item_hash, proj_hash = self._hashes(item)
            except EassyncError as exc:
                # a file that does not read is named by its file: a summary read from
                # it can be half-read ("bad (?)"), and the file is what the user fixes
                self._fail("local", ident, ident, str(exc))
                continue
            if row is not None and row.local_hash == item_hash:
                self.etag_only[row.id] = etag
                continue
            if tentative and self._adopt_tentative(row, ident, etag, item_hash, adopted):
                continue
            kind: Literal["add", "change"] = "change" if row is not None else "add"
            bare = ""
            if kind == "add":
                try:
                    bare = self._bare_hash(item)
                except EassyncError:
                    bare = ""
            self.index.add(
                LocalChange(
                    kind,
                    ident,
                    etag,
                    item.uid,
                    item_hash,
                    proj_hash,
                    row.id if row else None,
                    bare,
                )
            )
        for ident in changes.deleted:
            row = self.status.by_local(self.collection, ident)
            if row is not None:
                self.index.add(LocalChange("delete", ident, uid=row.uid, row_id=row.id))
        for ident, why in changes.skipped.items():
            if self.status.by_local(self.collection, ident) is not None:
                # a synced item's file replaced by what eassync does not sync: never a
                # deletion; the server keeps its copy until the file is an item again
                self._fail(
                    "local",
                    ident,
                    ident,
                    f"is now {why}: not synced, the server's copy is kept (make it a "
                    "regular file again, or delete it to delete the item)",
                )

        if adopted:
            with self.status.transaction() as tx:
                for row_id, values in adopted.items():
                    tx.update(row_id, **values)

    def _adopt_tentative(
        self,
        row: StatusRow | None,
        ident: str,
        etag: str,
        item_hash: str,
        adopted: dict[int, dict[str, Any]],
    ) -> bool:
        """Whether a changed or unknown local file is the write of a killed pass (its
        content is the one the write-ahead row announced); if so, bind it. An added
        file keeps its row tentative until the server mentions the item again (else
        the item is gone from the server: _settle_tentative)."""
        if row is not None:
            if row.tentative_kind != "update" or row.tentative != item_hash:
                return False
            adopted[row.id] = {
                "local_etag": etag,
                "local_hash": item_hash,
                "tentative": None,
                "tentative_kind": None,
            }
            return True
        found = self.status.tentative_add(self.collection, item_hash)
        if found is None or found.id in adopted:
            return False
        adopted[found.id] = {"local_ident": ident, "local_etag": etag}
        return True

    def _check_local_deletes(self) -> None:
        if self.direction == "to_local" or self.force_delete:
            return
        deletes = sum(1 for c in self.index.changes.values() if c.kind == "delete")
        self._guard(
            deletes,
            "on the server",
            f"they are gone from {self.local.location}",
            f"check {self.local.location}",
        )
