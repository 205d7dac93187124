"""The host-wide lock: serialises runs, and a run that cannot get it fails naming the file and the holder."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._hostlock import LockTimeoutError, host_lock

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, f"{os.getpid()}\\n".encode())
print("held", flush=True)
time.sleep(60)
"""


def test_timeout_names_the_lock_and_the_holder(tmp_path):
    path = str(tmp_path / "run" / "host.lock")
    os.makedirs(os.path.dirname(path))
    holder = subprocess.Popen([sys.executable, "-c", HOLD, path], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockTimeoutError) as caught, host_lock(1, path):
            pytest.fail("the lock was taken while another process held it")
        assert path in caught.value.msg and f"pid {holder.pid}" in caught.value.msg
        assert "lock_timeout=1" in caught.value.msg and caught.value.changed is False
    finally:
        holder.kill()
        holder.wait()
    with host_lock(0, path):  # free again once the holder is gone
        assert Path(path).read_text().strip() == str(os.getpid())


def test_second_holder_waits_for_the_first(tmp_path):
    path = str(tmp_path / "host.lock")
    order = []

    def second():
        with host_lock(30, path):
            order.append("second")

    with host_lock(30, path):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        order.append("first")
    thread.join(30)
    assert order == ["first", "second"]


@pytest.mark.parametrize("value", [-1, "abc", 1.5, True, None])
def test_bad_timeout_is_refused(tmp_path, value):
    with pytest.raises(ValidationError, match="lock_timeout"), host_lock(value, str(tmp_path / "l")):
        pass
