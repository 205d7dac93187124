"""Every EXAMPLES task of the bridge and veth modules is input the engine accepts (no kernel needed)."""

from __future__ import annotations

import importlib

import pytest
import yaml

from ansible_collections.netplumb.container.plugins.module_utils._bridge import BridgeEngine
from ansible_collections.netplumb.container.plugins.module_utils._veth import VethEngine

ENGINES = {"bridge": BridgeEngine, "veth": VethEngine}


def examples():
    for name in ENGINES:
        module = importlib.import_module(f"ansible_collections.netplumb.container.plugins.modules.{name}")
        for task in yaml.safe_load(module.EXAMPLES):
            yield name, task["name"], task[f"netplumb.container.{name}"]


@pytest.mark.parametrize("module,title,args", list(examples()), ids=lambda v: v if isinstance(v, str) else "")
def test_example_validates(module, title, args):
    params = {"config": None, "state": "merged", "scope": None, "force": False, **args}
    want = ENGINES[module]().validate(params)
    assert want or params["state"] == "deleted", title
