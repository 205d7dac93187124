"""The store under concurrency and crashes: real processes, flock and rename on a real filesystem.

Needs no root and no namespaces; it lives with the functional tests because it
runs many processes and kills them.
"""

from __future__ import annotations

import ipaddress
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time

from ansible_collections.netplumb.container.plugins.module_utils._ipam import (
    FORMAT,
    JsonStore,
    load_network,
    run_endpoints,
    store_path,
)

CTX = multiprocessing.get_context("fork")
SUBNET = "10.20.0.0/16"


def params(state_dir, names, state="merged"):
    return {
        "network": "shared",
        "subnet": SUBNET,
        "state_dir": str(state_dir),
        "state": state,
        "config": [{"endpoint": n} for n in names],
    }


def load(state_dir):
    store = JsonStore(store_path(str(state_dir), "shared"), FORMAT, "IPAM store")
    return load_network(store.read(), store, "shared")  # validates every record


def _worker(state_dir, worker, count, queue):
    got = {}
    for i in range(count):
        name = f"w{worker}-{i}"
        got[name] = run_endpoints(params(state_dir, [name]), False)["allocations"][name]["ipv4"]
    queue.put(got)


def test_parallel_processes_never_share_an_address(tmp_path):
    workers, each = 8, 50
    queue = CTX.Queue()
    procs = [CTX.Process(target=_worker, args=(tmp_path, w, each, queue)) for w in range(workers)]
    for p in procs:
        p.start()
    results = {}
    for _proc in procs:
        results.update(queue.get(timeout=120))
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert len(results) == workers * each
    assert len(set(results.values())) == workers * each
    state = load(tmp_path)
    stored = {n: str(r.addresses[0]) for n, r in state.endpoints.items()}
    assert stored == results
    # lowest free first, whatever the interleaving: exactly .0.2 up to .1.147
    net = ipaddress.ip_network(SUBNET)
    assert sorted(ipaddress.ip_address(a) for a in stored.values()) == [net[i] for i in range(2, 2 + workers * each)]


def _churn(state_dir, tag):
    """Allocate and release forever; every write replaces a store of a few thousand records."""
    i = 0
    while True:
        name = f"{tag}-{i // 2}"
        run_endpoints(params(state_dir, [name], "merged" if i % 2 == 0 else "deleted"), False)
        i += 1


def test_sigkill_during_writes_leaves_a_valid_store(tmp_path):
    base = [f"base{i}" for i in range(3000)]
    seeded = run_endpoints(params(tmp_path, base), False)["allocations"]
    tmp_file = tmp_path / ".shared.json.tmp"
    rng = random.Random(20261128)
    kills, mid_write = 60, 0
    leftover: set[str] = set()  # a round killed between allocate and release leaves its endpoint
    for round_ in range(kills):
        child = CTX.Process(target=_churn, args=(tmp_path, f"r{round_}"))
        child.start()
        time.sleep(rng.uniform(0.02, 0.25))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        assert child.exitcode == -signal.SIGKILL
        mid_write += tmp_file.exists()
        state = load(tmp_path)
        extra = set(state.endpoints) - set(base)
        new = extra - leftover
        assert leftover <= extra and len(new) <= 1 and all(n.startswith(f"r{round_}-") for n in new), extra
        leftover = extra
        for name in base:
            assert f"{state.endpoints[name].addresses[0]}/16" == seeded[name]["addresses"][0]
        addrs = [r.addresses[0] for r in state.endpoints.values()]
        assert len(set(addrs)) == len(addrs)
    # Kills that hit the write itself (temporary file left behind) are rare here, the load dominates each
    # cycle; test_sigkill_in_the_middle_of_writes aims at writes. The next run copes with either.
    print(f"{kills} kills, {mid_write} during a write")
    after = run_endpoints(params(tmp_path, ["final"]), False)
    assert after["allocations"]["final"]["ipv4"] not in {a["ipv4"] for a in seeded.values()}


def _rewrite(path, docs, writing):
    store = JsonStore(path, FORMAT, "IPAM store")
    i = 0
    while True:
        with store.locked(write=True):
            store.write(docs[i % 2])
        writing.set()
        i += 1


def test_sigkill_in_the_middle_of_writes(tmp_path):
    """Kills aimed at the write itself: the file is always exactly the old or the new document."""
    path = store_path(str(tmp_path), "shared")
    docs = [
        {"network": "shared", "pools": [], "endpoints": {}, "pad": "a" * 4_000_000},
        {"network": "shared", "pools": [], "endpoints": {}, "pad": "b" * 3_000_000},
    ]
    store = JsonStore(path, FORMAT, "IPAM store")
    with store.locked(write=True):
        store.write(docs[0])
    rng = random.Random(7)
    mid_write = rounds = 0
    # At least 50 kills, and on until 10 of them landed inside a write. Each kill waits until the child
    # has finished one write and is busy with the next ones: on a loaded machine a child may start so late
    # that a kill after a fixed delay never reaches a write (0 of 400 once, at load 30).
    while rounds < 50 or (mid_write < 10 and rounds < 400):
        rounds += 1
        writing = CTX.Event()
        child = CTX.Process(target=_rewrite, args=(path, docs, writing))
        child.start()
        assert writing.wait(120), "the writer never finished a write"
        time.sleep(rng.uniform(0.0, 0.05))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        mid_write += os.path.exists(store.tmp_path)
        data = store.read()
        assert data is not None
        assert data["pad"] in (docs[0]["pad"], docs[1]["pad"])
    assert mid_write >= 10, f"only {mid_write} of {rounds} kills landed inside a write"


def test_netlink_imports_without_pyroute2():
    """ipam's reconcile uses _netlink.netns_exists; importing it must not need pyroute2."""
    code = (
        "import sys; sys.modules['pyroute2'] = None\n"
        "from ansible_collections.netplumb.container.plugins.module_utils import _netlink\n"
        "from ansible_collections.netplumb.container.plugins.module_utils import _ipam\n"
        "assert _netlink.PYROUTE2_IMPORT_ERROR\n"
        "print(_netlink.netns_exists('netplumb-surely-absent'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_reconcile_against_real_namespaces(tmp_path, cleanup_netns):
    live, gone = f"{cleanup_netns}-live", f"{cleanup_netns}-gone"
    for name in (live, gone):
        subprocess.run(["ip", "netns", "add", name], check=True)
    base = {"network": "rec", "subnet": "10.30.0.0/24", "state_dir": str(tmp_path), "state": "merged"}
    run_endpoints({**base, "config": [{"endpoint": "a", "netns": live}, {"endpoint": "b", "netns": gone}]}, False)
    subprocess.run(["ip", "netns", "del", gone], check=True)
    checked = run_endpoints({**base, "config": [{"endpoint": "c"}], "reconcile": True}, True)
    assert checked["reconciled"] == ["b"]
    result = run_endpoints({**base, "config": [{"endpoint": "c"}], "reconcile": True}, False)
    assert result["reconciled"] == ["b"] and result["released"] == ["b"]
    assert result["allocations"]["c"]["ipv4"] == "10.30.0.3"  # b's address, released, is the lowest free
    assert not run_endpoints({**base, "config": [{"endpoint": "c"}], "reconcile": True}, False)["changed"]
