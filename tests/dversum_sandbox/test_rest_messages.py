"""The sandbox is the REST API: its error messages speak of endpoints, never of the MCP server's tool names.

Reads every string literal in `src/dversum_sandbox` (docstrings aside) and looks for the name of
any tool in the endpoint table. Before this test, seven messages said "see list_clients", "stop it
with stop_timer" and the like.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _tool_names() -> set[str]:
    names: set[str] = set()
    for manifest in (ROOT / "tool_manifests").glob("*.toml"):
        names |= {tool["name"] for tool in tomllib.loads(manifest.read_text()).get("tool", [])}
    return names


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def test_no_sandbox_message_names_a_tool() -> None:
    names = _tool_names()
    assert {"list_clients", "send_invoice", "stop_timer"} <= names
    pattern = re.compile(r"\b(" + "|".join(sorted(names, key=len, reverse=True)) + r")\b")
    hits = []
    for path in sorted((ROOT / "src" / "dversum_sandbox").rglob("*.py")):
        tree = ast.parse(path.read_text())
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                match = pattern.search(node.value)
                if match:
                    hits.append(f"{path.relative_to(ROOT)}:{node.lineno}: {match.group(1)}")
    assert hits == []
