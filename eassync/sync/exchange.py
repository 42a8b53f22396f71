"""Sending pushes to the server and reading its answers: poison-item isolation,
parking what the server refuses or fails on, parts it stores apart.
"""

from __future__ import annotations

from collections.abc import Iterator

from eassync.errors import EassyncError, RequestFailed
from eassync.model.items import Item, OpResult, PushOp
from eassync.sync.pass_ import PARKED_HINT, PassBase, row_name
from eassync.sync.status import StatusRow, StatusTx
from eassync.wording import count


class Exchange(PassBase):
    """Pushes sent, answers read."""

    def _send(self, ops: list[PushOp]) -> dict[str, OpResult]:
        assert self.state is not None
        adds = [op.ref for op in ops if op.kind == "add"]
        self.resent = {ref for ref in adds if ref in self.client_ids_sent}
        self.client_ids_sent.update(adds)
        result = self.remote.push(self.state, ops)
        self._pushed_state = result.state
        return {r.ref: r for r in result.results}

    def _exchange(self, ops: list[PushOp]) -> Iterator[dict[str, OpResult]]:
        """Send ``ops``, yielding the results of each acknowledged request; the caller
        commits each with ``self._pushed_state`` before the next is sent.

        Poison-item isolation: a server that fails on the request (HTTP 5xx, an HTML
        page, an empty answer, collection Status 4/5/6: :class:`RequestFailed`) gets
        it once more with the same SyncKey and ClientIds (a passing hiccup; the server
        spots resent Adds by ClientId, MS-ASCMD 2.2.3.28); then the batch is split in
        halves, down to single items. An item that fails alone is answered here as
        ``failed`` with the server's words: it is parked and everything else goes
        through. One poison item in a batch of n costs about 2·log2(n) requests.
        An item that fails alone is answered here as ``failed``."""
        try:
            yield self._send(ops)
            return
        except RequestFailed as exc:
            self._note(f"the server failed on a batch of {count(len(ops))} ({exc}); retrying")
        yield from self._isolate(ops)

    def _isolate(self, ops: list[PushOp]) -> Iterator[dict[str, OpResult]]:
        try:
            yield self._send(ops)
            return
        except RequestFailed as exc:
            if len(ops) == 1:
                apart = self._push_apart(ops[0])
                if apart is not None:
                    yield apart
                    return
                # answered without a request: the state stays where it is
                self._pushed_state = self.state
                why = f"the server fails on this item: {exc}"
                yield {ops[0].ref: OpResult(ops[0].ref, "failed", message=why)}
                return
        middle = len(ops) // 2
        yield from self._isolate(ops[:middle])
        yield from self._isolate(ops[middle:])

    def _push_apart(self, op: PushOp) -> dict[str, OpResult] | None:
        """An Add the server fails on alone, sent in the form the remote has for it
        (a 16.x series with exceptions: bare, then its exceptions apart); None when it
        has none or that fails too (the item is parked as before)."""
        push_apart = getattr(self.remote, "push_apart", None)
        if push_apart is None or op.kind != "add" or self.state is None:
            return None
        try:
            result = push_apart(self.state, op)
        except EassyncError as exc:
            self._note(f"{self._describe(op.item)}: sending it apart failed too ({exc})")
            return None
        if result is None:
            return None
        self._pushed_state = result.state
        return {r.ref: r for r in result.results}
        # retry: nothing recorded, the change is found again next pass

    def _take_apart(self, tx: StatusTx, row: StatusRow, item: Item, result: OpResult) -> None:
        """A changed item the remote sent with parts apart (a series' changed
        occurrences as events of their own, on a server that applies an occurrence's
        Change to the whole series): the server's shape of the item is kept as its
        server version not applied yet, and each part as a server item not written yet;
        the next pass applies both (the occurrence leaves the file, the part gets its
        own), so the meeting shows once here, as on the other devices."""
        if result.stored is not None and result.apart:
            tx.update(row.id, deferred=result.stored.raw, deferred_uid=result.stored.uid)
        self._bind_apart(tx, result)
        if result.apart:
            parts = ", ".join(self._describe(part) for _, part in result.apart)
            self._note(
                f"{self._describe(item)}: the server now keeps {parts} as "
                f"{'an event' if len(result.apart) == 1 else 'events'} of its own; the next "
                "sync takes the same shape here"
            )

    def _bind_apart(self, tx: StatusTx, result: OpResult) -> None:
        """Rows for the server items the remote added as parts of an item: written
        locally next pass (as a kept server version), never sent again."""
        for server_id, part in result.apart:
            if self.status.by_remote(self.collection, server_id) is not None:
                continue
            tx.insert(
                self.collection,
                uid=part.uid,
                remote_ident=server_id,
                deferred=part.raw,
                deferred_uid=part.uid,
            )

    def _park(self, tx: StatusTx, row: StatusRow, item: Item, item_hash: str, why: str) -> None:
        """The server refuses or fails on this version of the item: it is not sent
        again until it changes (or ``sync --retry``), and told every pass (_tell_parked)
        until then. An Add stays without ServerId (a server copy that turns up after
        all is still bound to it by the matcher)."""
        # sent_hash stays: a server that stored the Change before failing sends it
        # back, and that echo is recognised as ours (and resolves the parking)
        tx.update(row.id, pending=None, rejected_hash=item_hash, failure=why)
        self.parked_now.add(row.id)
        self._fail("remote", row.remote_ident, self._describe(item), f"{why}; {PARKED_HINT}")

    def _tell_parked(self) -> None:
        """Items parked in an earlier pass are failures until resolved: told every pass."""
        for row in self.status.parked(self.collection):
            if row.id in self.parked_now:
                continue
            name = self._describe(self._read_for_match(row.local_ident or ""), row_name(row))
            why = row.failure or "the server refused it"
            self._fail("remote", row.remote_ident, name, f"{why}; {PARKED_HINT}")
