"""A minimal CNI runtime for the tests, run inside a lab host: the conflist's plugins chained per the CNI spec.

    python3 cni_exec.py ADD|CHECK|DEL CONFLIST CONTAINERID NETNS_PATH IFNAME [PORT_MAPPINGS_JSON]

ADD runs the plugins in order, each with the previous result as prevResult, and caches the conflist and
the result (as libcni does) so that CHECK and DEL work after the file is gone; DEL runs them in reverse.
Capabilities (portMappings) reach a plugin as runtimeConfig. Prints the final result; a plugin's error
is printed and the exit status is 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

CNI_PATH = os.environ.get("CNI_PATH", "/usr/lib/cni:/opt/cni/bin")
CACHE = "/var/lib/netplumb-test-cni"


def run_plugin(conf: dict, command: str, container: str, netns: str, ifname: str) -> dict:
    plugin = next(
        (os.path.join(d, conf["type"]) for d in CNI_PATH.split(":") if os.path.exists(os.path.join(d, conf["type"]))),
        None,
    )
    if plugin is None:
        raise SystemExit(f"CNI plugin {conf['type']} not found in {CNI_PATH}")
    env = dict(
        os.environ,
        CNI_COMMAND=command,
        CNI_CONTAINERID=container,
        CNI_NETNS=netns,
        CNI_IFNAME=ifname,
        CNI_PATH=CNI_PATH,
    )
    proc = subprocess.run([plugin], input=json.dumps(conf), capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        print(f"{conf['type']} {command} failed: {proc.stdout}{proc.stderr}")
        raise SystemExit(1)
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def plugin_conf(conflist: dict, plugin: dict, prev: dict | None, runtime: dict) -> dict:
    conf = dict(plugin, cniVersion=conflist["cniVersion"], name=conflist["name"])
    if prev is not None:
        conf["prevResult"] = prev
    caps = {k: runtime[k] for k, on in (plugin.get("capabilities") or {}).items() if on and k in runtime}
    if caps:
        conf["runtimeConfig"] = caps
    return conf


def main() -> None:
    command, path, container, netns, ifname = sys.argv[1:6]
    runtime = {"portMappings": json.loads(sys.argv[6])} if len(sys.argv) > 6 else {}
    cached = os.path.join(CACHE, f"{container}-{ifname}.json")
    if command == "ADD":
        with open(path) as f:
            conflist = json.load(f)
        prev = None
        for plugin in conflist["plugins"]:
            prev = run_plugin(plugin_conf(conflist, plugin, prev, runtime), "ADD", container, netns, ifname)
        os.makedirs(CACHE, exist_ok=True)
        with open(cached, "w") as f:
            json.dump({"conflist": conflist, "result": prev, "runtime": runtime}, f)
        print(json.dumps(prev))
        return
    with open(cached) as f:
        state = json.load(f)
    conflist, result, runtime = state["conflist"], state["result"], state["runtime"]
    plugins = conflist["plugins"] if command == "CHECK" else list(reversed(conflist["plugins"]))
    for plugin in plugins:
        run_plugin(plugin_conf(conflist, plugin, result, runtime), command, container, netns, ifname)
    if command == "DEL":
        os.remove(cached)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
