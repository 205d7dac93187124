"""The one store behind the IPAM store, the subnet lease file and the nat record."""

from __future__ import annotations

import fcntl
import json
import os

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._firewall.engine import record_store
from ansible_collections.netplumb.container.plugins.module_utils._store import JsonStore, StoreError


def test_nat_record_keeps_its_format(tmp_path):
    store = record_store(str(tmp_path / "sub" / "nat.json"))
    assert store.read() is None
    record = {"backend": "nftables", "variant": None, "networks": [{"name": "web"}]}
    with store.locked(write=True):
        store.write(record)
    assert json.loads((tmp_path / "sub" / "nat.json").read_text()) == record  # no format marker added
    assert store.read() == record
    assert sorted(os.listdir(tmp_path / "sub")) == ["nat.json", "nat.json.lock"]  # no temporary file left


@pytest.mark.parametrize("content", [b"{", b"[1]"])
def test_corrupt_nat_record_refused_and_kept(tmp_path, content):
    path = tmp_path / "nat.json"
    path.write_bytes(content)
    with pytest.raises(StoreError, match=r"nat record .* is unusable.*left untouched"):
        record_store(str(path)).read()
    assert path.read_bytes() == content


def test_marked_store_writes_and_checks_its_marker(tmp_path):
    path = str(tmp_path / "x.json")
    JsonStore(path, "netplumb.container/test", "test store").write({"a": 1})
    assert json.loads((tmp_path / "x.json").read_text()) == {"format": "netplumb.container/test", "version": 1, "a": 1}
    with pytest.raises(StoreError, match=r"not a netplumb\.container/other file"):
        JsonStore(path, "netplumb.container/other", "test store").read()


def test_lock_is_held_until_released(tmp_path):
    store = record_store(str(tmp_path / "nat.json"))
    lock = store.locked(write=True)
    probe = os.open(store.lock_path, os.O_RDONLY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.release()
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(probe)


def test_look_without_lock_file_creates_nothing(tmp_path):
    store = JsonStore(str(tmp_path / "none" / "x.json"), None, "test store")
    with store.locked(write=False):
        assert store.read() is None
    assert not (tmp_path / "none").exists()
