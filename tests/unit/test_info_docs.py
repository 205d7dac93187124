"""docs/generate.py: the role pages and the troubleshooting page follow the code, and a stale answer fails."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("docs_generate", REPO / "docs" / "generate.py")
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)  # type: ignore[union-attr]


def all_options(options: dict, parent: str = "") -> list[str]:
    out = []
    for name, opt in (options or {}).items():
        full = f"{parent}{name}"
        out.append(full)
        out += all_options(opt.get("options") or {}, f"{full}[]." if opt.get("type") == "list" else f"{full}.")
    return out


@pytest.mark.parametrize("role", sorted(p.parent.parent.name for p in REPO.glob("roles/*/meta/argument_specs.yml")))
def test_every_variable_of_every_role_is_on_its_page(role, tmp_path):
    gen.main(tmp_path)
    page = (tmp_path / "roles" / f"{role}.md").read_text()
    spec = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    for entry in spec.values():
        for name in all_options(entry.get("options") or {}):
            assert f"| `{name}` |" in page, name
    assert f"# Role `netplumb.container.{role}`" in page
    assert role in (tmp_path / "roles" / "index.md").read_text()


def test_role_rows_show_type_default_and_choices():
    rows = gen._option_rows(
        "x_state", {"type": "str", "default": "present", "choices": ["present", "absent"], "description": "What."}
    )
    assert rows == ["| `x_state` | str | `'present'` | What. Choices: `present`, `absent`. |"]
    rows = gen._option_rows("x_list", {"type": "list", "elements": "dict", "required": True, "options": {"n": {}}})
    assert rows[0].startswith("| `x_list` | list of dict | (required) |") and rows[1].startswith("| `x_list[].n` |")


def test_messages_come_from_the_code_with_placeholders():
    messages = gen.collect_messages()
    texts = [m[2] for m in messages]
    assert any("Linux allows at most" in t for t in texts)
    assert ("plugins/module_utils/_store.py", "StoreError") in {(m[0], m[1]) for m in messages}
    assert any(t.startswith("veth <users>: peer netns <ns> does not exist; create it first") for t in texts), [
        t for t in texts if "create it first" in t
    ]


def test_the_curated_answers_match_real_messages(tmp_path):
    page = gen.troubleshooting_page(gen.collect_messages())
    curated = yaml.safe_load((REPO / "docs" / "troubleshooting.yml").read_text())
    for item in curated:
        assert f"### {item['title']}" in page
    assert "## Every error message, by file" in page and "`plugins/module_utils/_info.py`" not in page


def test_a_stale_answer_fails_the_build(tmp_path, monkeypatch):
    stale = tmp_path / "docs"
    stale.mkdir()
    (stale / "troubleshooting.yml").write_text(
        yaml.safe_dump([{"title": "Gone", "message": "a message the code no longer has", "answer": "x"}])
    )
    monkeypatch.setattr(gen, "REPO", tmp_path)
    with pytest.raises(SystemExit, match="no error message of plugins/ matches 'a message the code no longer has'"):
        gen.troubleshooting_page([("plugins/x.py", "ValidationError", "something else")])
