"""Property: whatever arguments netns, veth, bridge, route and probe get, they either work or refuse clearly.

Arguments are drawn from each module's own argument spec (so the shapes are the ones Ansible lets through),
mixing plausible values with hostile ones. Each draw goes through Ansible's argument validation and then
the engine, inside a throwaway host namespace. Asserted: no exception other than a NetplumbError (a
traceback), a refusal names something, and a refusal that says nothing changed left the kernel as it was.
Every name that could reach the machine's /run/netns is this test's prefix or invalid; probe is only
validated (running it would send packets).
"""

from __future__ import annotations

import importlib
import subprocess
import uuid

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.netplumb.container.plugins.module_utils._bridge import BridgeEngine
from ansible_collections.netplumb.container.plugins.module_utils._errors import NetplumbError
from ansible_collections.netplumb.container.plugins.module_utils._netlink import Netlink
from ansible_collections.netplumb.container.plugins.module_utils._netns import NetnsEngine
from ansible_collections.netplumb.container.plugins.module_utils._probe import validate as probe_validate
from ansible_collections.netplumb.container.plugins.module_utils._route import RouteEngine
from ansible_collections.netplumb.container.plugins.module_utils._rtnl import RtnlReader
from ansible_collections.netplumb.container.plugins.module_utils._runner import converge
from ansible_collections.netplumb.container.plugins.module_utils._veth import VethEngine

from .conftest import netns_names

P = "tz" + uuid.uuid4().hex[:4]  # one prefix for the whole module: hypothesis reuses the fixture-less setup
HOST = f"{P}-host"
CONTAINERS = [f"{P}-c1", f"{P}-c2"]
BAD_STRINGS = ["", " ", "-x", "--help", "a/b", "a b", "nét", "é", "../../../../etc/fz", ".", "..", "x" * 70, "\n"]
NAMEISH = {"name", "netns", "bridge", "prefix", "dev"}
ENGINES = {"netns": NetnsEngine, "veth": VethEngine, "bridge": BridgeEngine, "route": RouteEngine}


class _Captured(Exception):
    pass


def argument_spec(module_name: str) -> dict:
    """The module's argument spec, as main() builds it (new_module replaced by a catcher)."""
    module = importlib.import_module(f"ansible_collections.netplumb.container.plugins.modules.{module_name}")
    seen = {}

    def catcher(argument_spec, **_kw):
        seen["spec"] = argument_spec
        raise _Captured

    original = module.new_module
    module.new_module = catcher
    try:
        module.main()
    except _Captured:
        pass
    finally:
        module.new_module = original
    return seen["spec"]


# Keys whose value can become a file in the machine's /run/netns (the netns module's name, any netns).
NETNS_KEYS = {"name", "netns"}


def names(key: str) -> st.SearchStrategy:
    """This test's prefix, or a name the validators refuse; short link names only where no namespace is named."""
    safe = st.sampled_from(["c1", "c2", "c3", "br", "v1", ""]).map(lambda s: f"{P}-{s}" if s else P)
    drawn = [safe, st.sampled_from(BAD_STRINGS), st.text(max_size=5).map(lambda t: P + t)]
    if key not in NETNS_KEYS:
        drawn.append(st.sampled_from(["eth0", "eth1", "brz0", "vz1", "lo"]))
    return st.one_of(*drawn)


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 70000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(BAD_STRINGS),
    st.text(max_size=6),
)
PLAUSIBLE = st.sampled_from(
    [
        "10.9.0.1/24",
        "10.9.0.2/24",
        "fd00:9::1/64",
        "10.9.0.1",
        "fe80::1",
        "10.10.0.0/16",
        "default",
        "02:42:0a:09:00:02",
        "01:00:5e:00:00:01",
        "main",
        "1500",
        "yes",
        "off",
        "net.ipv4.ip_forward",
        "1",
    ]
)


def value_for(key: str, option: dict, junk: bool = True) -> st.SearchStrategy:
    """Mostly values of the option's type (hostile ones included), sometimes anything at all."""
    kind = option.get("type", "str")
    if option.get("choices"):
        typed = st.sampled_from(option["choices"])
    elif kind == "dict" and option.get("options"):
        typed = dict_for(option["options"])
    elif kind == "list" and option.get("options"):
        typed = st.lists(dict_for(option["options"]), min_size=1, max_size=3)
    elif kind == "list":
        typed = st.lists(st.one_of(PLAUSIBLE, st.sampled_from(BAD_STRINGS)), max_size=3)
    elif kind == "dict":  # free-form (sysctls)
        typed = st.dictionaries(st.one_of(PLAUSIBLE, st.text(max_size=4)), st.one_of(PLAUSIBLE, JUNK), max_size=2)
    elif kind == "int":
        typed = st.one_of(st.integers(-3, 70000), st.sampled_from([0, 1, 68, 1500, 65535, 65536, 2**40]))
    elif kind == "float":
        typed = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10**9))
    elif kind == "bool":
        typed = st.one_of(st.booleans(), st.sampled_from(["yes", "no", "maybe", "0"]))
    elif key in NAMEISH:
        # never junk: True, 4238 or 0.0 become valid names once Ansible converts them to str
        return names(key)
    else:
        typed = st.one_of(PLAUSIBLE, st.sampled_from(BAD_STRINGS), st.text(max_size=6))
    return st.one_of(*[typed] * 12, JUNK) if junk else typed


def dict_for(options: dict) -> st.SearchStrategy:
    """Required options always there (else Ansible alone refuses most draws), the others sometimes."""
    required = {key: value_for(key, o) for key, o in options.items() if o.get("required")}
    optional = {key: value_for(key, o) for key, o in options.items() if not o.get("required")}
    return st.fixed_dictionaries(required, optional=optional)


def args_for(module_name: str) -> st.SearchStrategy:
    """Top-level options well-formed (state, scope, force: else Ansible refuses nearly every draw), entries hostile."""
    spec = dict(argument_spec(module_name))
    spec.pop("lock_timeout", None)
    top = {key: value_for(key, option, junk=key in ("config", "checks", "listen")) for key, option in spec.items()}
    return st.fixed_dictionaries({}, optional=top)


def snapshot() -> tuple:
    """Links, addresses and main-table routes of the host and of every namespace of this test."""
    spaces = sorted(n for n in netns_names() if n.startswith(P))
    out = [tuple(spaces)]
    with Netlink() as nl, RtnlReader(home_fd=nl._home) as reader:
        for ns in spaces:
            links = sorted(
                (x["name"], x["mac"], x["mtu"], x["up"], x["master"], x["alias"], x["kind"]) for x in reader.links(ns)
            )
            routes = sorted(
                (r["family"], r["dst"], r["dst_len"], r["gateway"], r["oif"])
                for r in reader.routes(ns)
                if not (r["dst"] or "").startswith(("fe80:", "ff00:"))
            )
            out.append((ns, links, sorted(reader.addresses(ns)), routes))
    return tuple(out)


def reset() -> None:
    for name in netns_names():
        if name.startswith(P):
            subprocess.run(["ip", "netns", "del", name], check=False)
    for name in [HOST, *CONTAINERS]:
        subprocess.run(["ip", "netns", "add", name], check=True)
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up", "alias", "netplumb.container"], check=True)
    subprocess.run(["ip", "-n", HOST, "link", "add", "brz0", "type", "bridge"], check=True)
    subprocess.run(["ip", "-n", HOST, "link", "set", "brz0", "up", "alias", "netplumb.container"], check=True)


@pytest.fixture(scope="module", autouse=True)
def world():
    reset()
    yield
    for name in netns_names():
        if name.startswith(P):
            subprocess.run(["ip", "netns", "del", name], check=False)


def ansible_checked(module_name: str, raw: dict) -> dict | None:
    """The parameters as AnsibleModule hands them to main(); None when Ansible refuses them itself."""
    try:
        checked = ArgumentSpecValidator(argument_spec(module_name)).validate(raw)
    except (TypeError, AttributeError, OverflowError):
        # ansible-core's own validator trips on some shapes (a bool for a dict with options) and on infinite numbers
        # for ints; the modules' new_module turns the latter into a failure (test_an_infinite_number_fails_cleanly)
        return None
    return None if checked.error_messages else checked.validated_parameters


def run_engine(module_name: str, raw: dict) -> None:
    params = ansible_checked(module_name, raw)
    if params is None:
        return
    scope = params.get("scope") or {}
    if params.get("state") in ("overridden", "deleted") and not str(scope.get("prefix", P)).startswith(P):
        return  # a scope wider than this test's names could touch namespaces of others: not drawn
    before = snapshot()
    try:
        with Netlink() as outer, outer.entered(HOST), Netlink() as nl:
            converge(ENGINES[module_name](), params, False, nl)
    except NetplumbError as exc:
        assert exc.msg.strip(), "a refusal must say why"
        if not exc.changed:
            assert snapshot() == before, f"refused ({exc.msg}) but the kernel changed"
        else:
            reset()
        return
    reset()  # it was accepted and applied: start the next draw from the same world


FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)


@pytest.mark.parametrize("module_name", sorted(ENGINES))
def test_resource_modules_never_trace_back(module_name):
    @FUZZ
    @given(args_for(module_name))
    def check(raw):
        run_engine(module_name, raw)

    check()


@FUZZ
@given(args_for("probe"))
def test_probe_never_traces_back(raw):
    params = ansible_checked("probe", raw)
    if params is None:
        return
    try:
        probe_validate(params["checks"], params["listen"])
    except NetplumbError as exc:
        assert exc.msg.strip()
