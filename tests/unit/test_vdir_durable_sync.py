"""A sync pass writing into a vdir makes its writes durable per pull batch, with one
syncfs(2) per batch instead of two fsyncs per file (eassync.storage.atomic)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from eassync.convert.contacts import HANDLER
from eassync.devserver.seed import make_contacts
from eassync.storage.vdir import VdirStorage
from eassync.sync.engine import sync_collection
from eassync.sync.policy import REMOTE_WINS
from eassync.sync.status import Status
from tests.memory import MemoryRemote
from tests.unit.test_vdir_atomic import SyncCounter

N = 120


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="syncfs(2) is Linux only")
def test_a_download_pass_syncs_the_file_system_once_per_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = MemoryRemote()
    for data in make_contacts(N):
        remote.server_add(HANDLER.from_eas(data, "16.1"))
    local = VdirStorage(tmp_path / "contacts", ".vcf", create=True)
    counter = SyncCounter(monkeypatch)
    with Status(tmp_path / "pair.db") as status:
        sync_collection(local, remote, HANDLER, status, "c", REMOTE_WINS)
    assert len(list(local.list())) == N
    batches = -(-N // remote.max_batch)
    assert counter.fsyncs == 0
    assert 1 <= len(counter.syncfs_calls) <= batches
