"""docs/tutorial.md runs as written: its YAML blocks in order, task lists on lab host h1 and plays (the fleet
part, on h1 and h2) as they are, and every `h1$` / `h2$` / `outside$` line of its console blocks on that host,
printing exactly the lines the page shows (spacing and interface indexes aside). A page whose snippets no
longer work fails here."""

from __future__ import annotations

import re

import yaml

from .conftest import REPO, run_playbook, write_playbook
from .sitelab import failures, start_site_lab

PAGE = REPO / "docs" / "tutorial.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.M | re.S)
PROMPT = re.compile(r"^(h1|h2|outside)\$ (.*)$")


def snippets(text: str) -> list[tuple[str, object]]:
    """("tasks", [...]) or ("play", [...]) for each yaml block; ("command", (host, command, expected lines)) for
    each console line."""
    out: list[tuple[str, object]] = []
    for lang, body in FENCE.findall(text):
        if lang == "yaml":
            block = yaml.safe_load(body)
            out.append(("play" if "hosts" in block[0] else "tasks", block))
        elif lang == "console":
            for line in body.splitlines():
                match = PROMPT.match(line)
                if match:
                    out.append(("command", (match[1], match[2], [])))
                else:
                    out[-1][1][2].append(line)  # type: ignore[index]
    return out


def normal(lines: list[str]) -> list[str]:
    return [re.sub(r"@if\d+", "@ifN", " ".join(line.split())) for line in lines if line.strip()]


def test_the_page_has_snippets_of_both_kinds():
    found = snippets(PAGE.read_text())
    kinds = [kind for kind, _body in found]
    assert kinds.count("tasks") >= 5 and kinds.count("command") >= 8
    assert all(isinstance(body, list) for kind, body in found if kind in ("tasks", "play"))
    # The fleet part: plays on both hosts, and what each host shows.
    assert kinds.count("play") >= 3
    assert all(body[0]["hosts"] == "h1,h2" for kind, body in found if kind == "play")
    assert sum(1 for kind, body in found if kind == "command" and body[0] == "h2") >= 3


def test_every_snippet_runs_as_shown(new_lab, tmp_path):
    site = start_site_lab(new_lab, tmp_path, hosts=2)
    for step, (kind, body) in enumerate(snippets(PAGE.read_text())):
        if kind in ("tasks", "play"):
            play = body
            if kind == "tasks":
                play = [{"name": f"tutorial step {step}", "hosts": "h1", "gather_facts": False, "tasks": body}]
            path = write_playbook(tmp_path, yaml.safe_dump(play, sort_keys=False), f"step{step}.yml")
            report = run_playbook(path, inventory=site.inv, check=False)
            assert report["rc"] == 0, (f"step {step}", failures(report), report["stderr"][-2000:])
            continue
        host, command, expected = body  # type: ignore[misc]
        got = site.lab.sh(host, command, check=False)
        assert normal(got.stdout.splitlines()) == normal(expected), (
            f"{host}$ {command}\nprinted:\n{got.stdout}{got.stderr}\nthe page shows:\n" + "\n".join(expected)
        )
