"""runcomfy/journal/store.append_durably: the one durable append the spend history and the batch's
spend ledger use (a record is whole on disk, fsynced, in an owner-only file)."""

from __future__ import annotations

import os
import stat

from runcomfy.journal import store


def test_records_are_appended_whole_in_order_owner_only_and_fsynced(tmp_path, monkeypatch):
    path = tmp_path / "h.jsonl"
    synced = []
    real_fsync, real_write = os.fsync, os.write
    monkeypatch.setattr(store.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    # A write that takes 3 bytes at a time (a signal, a full pipe): the rest must still be written.
    monkeypatch.setattr(store.os, "write", lambda fd, data: real_write(fd, bytes(data[:3])))
    store.append_durably(path, b'{"ev":"sent","n":1}\n')
    store.append_durably(path, b'{"ev":"state","n":2}\n')
    assert path.read_bytes() == b'{"ev":"sent","n":1}\n{"ev":"state","n":2}\n'
    assert len(synced) == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
