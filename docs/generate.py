# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generates the docs pages that must follow the code (run by scripts/docs; no Ansible needed).

- roles/<role>.md: every variable of each role from roles/*/meta/argument_specs.yml, with its type, default,
  choices and description, and the role's defaults/main.yml (whose comments document every variable).
- troubleshooting.md: the curated answers of docs/troubleshooting.yml, each checked against the error
  messages the code really raises (an answer whose message is gone fails the build), then every message of
  every ValidationError, ConflictError and KernelError in plugins/, by file.

    python docs/generate.py DEST_DIR
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
ERRORS = {
    "ValidationError": "bad input: nothing was changed",
    "ConflictError": "the host holds something that makes the request unsafe: nothing was changed",
    "KernelError": "an operation on the kernel failed part way: the result's actions say what was done",
    "StoreError": "a record file cannot be read or written: it was left as it was",
    "MissingDependencyError": "a library the module needs is missing on the managed host",
}


def main(dest: Path) -> None:
    (dest / "roles").mkdir(parents=True, exist_ok=True)
    roles = sorted(p.parent.parent.name for p in (REPO / "roles").glob("*/meta/argument_specs.yml"))
    for role in roles:
        (dest / "roles" / f"{role}.md").write_text(role_page(role))
    (dest / "roles" / "index.md").write_text("# Roles\n\n```{toctree}\n:maxdepth: 1\n\n" + "\n".join(roles) + "\n```\n")
    messages = collect_messages()
    (dest / "troubleshooting.md").write_text(troubleshooting_page(messages))


# ---------------------------------------------------------------- roles


def role_page(role: str) -> str:
    spec = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    out = [f"# Role `netplumb.container.{role}`", ""]
    for entry, data in spec.items():
        out += [f"## Entry point `{entry}`", "", data.get("short_description", ""), ""]
        for line in _lines(data.get("description")):
            out += [line, ""]
        out += ["| Variable | Type | Default | Description |", "| --- | --- | --- | --- |"]
        for name, opt in (data.get("options") or {}).items():
            out += _option_rows(name, opt)
        out.append("")
    defaults = REPO / "roles" / role / "defaults" / "main.yml"
    if defaults.exists():
        out += [
            "## defaults/main.yml",
            "",
            "Every variable with its default and what it means, as the role ships it:",
            "",
            "```yaml",
            defaults.read_text().rstrip(),
            "```",
            "",
        ]
    out += [
        f"The reference page, rendered by antsibull-docs: {{ref}}`netplumb.container.{role} role "
        f"<ansible_collections.netplumb.container.{role}_role>`.",
        "",
    ]
    return "\n".join(out)


def _lines(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _option_rows(name: str, opt: dict[str, Any], parent: str = "") -> list[str]:
    full = f"{parent}{name}"
    kind = opt.get("type", "str")
    if opt.get("elements"):
        kind += f" of {opt['elements']}"
    default = "(required)" if opt.get("required") else ("" if "default" not in opt else f"`{opt['default']!r}`")
    text = " ".join(_lines(opt.get("description")))
    if opt.get("choices"):
        text += " Choices: " + ", ".join(f"`{c}`" for c in opt["choices"]) + "."
    rows = [f"| `{full}` | {kind} | {_cell(default)} | {_cell(text)} |"]
    for sub, sub_opt in (opt.get("options") or {}).items():
        rows += _option_rows(sub, sub_opt, f"{full}[]." if opt.get("type") == "list" else f"{full}.")
    return rows


# ---------------------------------------------------------------- troubleshooting


def collect_messages() -> list[tuple[str, str, str]]:
    """(file, error class, message with {placeholders} shown as <...>) for every typed error the code makes."""
    out = []
    for path in sorted((REPO / "plugins").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):  # raised, or built and returned to be raised (StoreError, _explain)
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name not in ERRORS or not node.args:
                continue
            text = _template(node.args[0])
            if text:
                out.append((str(path.relative_to(REPO)), name, text))
    return out


def _template(node: ast.AST) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            else:
                parts.append("<" + _short(ast.unparse(value.value)) + ">")  # type: ignore[attr-defined]
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _template(node.left) + _template(node.right)
    return ""


def _short(expr: str) -> str:
    words = re.findall(r"[A-Za-z_]+", expr.split("(")[0].split("[")[-1].split(".")[-1]) or ["value"]
    return words[-1]


def _matches(pattern: str, message: str) -> bool:
    return all(piece in message for piece in pattern.split("..."))


def troubleshooting_page(messages: list[tuple[str, str, str]]) -> str:
    curated = yaml.safe_load((REPO / "docs" / "troubleshooting.yml").read_text())
    out = [
        "# Troubleshooting",
        "",
        "Every error of netplumb.container names the object, the operation and the cause. "
        "Errors of bad input and conflicts come before any change; the result's `actions` say what a run "
        "that failed part way had already done. `netplumb.container.network_info` shows what a host holds and "
        "lists drift with the command that fixes it (see {doc}`inspect`).",
        "",
        "## Common problems",
        "",
    ]
    for item in curated:
        found = [m for m in messages if _matches(item["message"], m[2])]
        if not found:
            raise SystemExit(
                f"docs/troubleshooting.yml: no error message of plugins/ matches {item['message']!r} any more; "
                "update the entry"
            )
        out += [f"### {item['title']}", "", "```text", found[0][2], "```", ""]
        out += [" ".join(item["answer"].split()), ""]
        if item.get("fix"):
            out += ["```" + item.get("fix_lang", "yaml"), item["fix"].rstrip(), "```", ""]
    out += [
        "## Every error message, by file",
        "",
        "Generated from the code at build time: `<name>` stands for a value the message fills in.",
        "",
    ]
    by_file: dict[str, list[tuple[str, str]]] = {}
    for path, kind, text in messages:
        if (kind, text) not in by_file.setdefault(path, []):
            by_file[path].append((kind, text))
    for path, items in by_file.items():
        out += [f"### `{path}`", ""]
        for kind, text in items:
            out.append(f"- **{kind}** ({ERRORS[kind]}): `{text.replace('`', chr(39))}`")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
