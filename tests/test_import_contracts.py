"""The layers hold: import-linter checks the contracts in pyproject.toml's [tool.importlinter]
(dversum_prosemirror imports no dversum_*; dversum_sandbox no dversum_mcp; only the CLI's
wiring modules import dversum_sandbox; cli -> server -> tools -> api; transports import none
of those), and an AST scan finds no dynamic import (`importlib`, `__import__`) that would hide
an import from that check. Each check is also run once on a copy that breaks it, so neither can
pass vacuously."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dversum_mcp", "dversum_prosemirror", "dversum_sandbox")
_LINT = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the tree at `root` (its pyproject.toml, its src/ first on the path)."""
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-c", _LINT, "--no-cache", "--no-logo"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _copy_tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    shutil.copytree(ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def test_import_contracts_are_kept() -> None:
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(_LEAKS)} kept, 0 broken" in done.stdout, done.stdout


# One leak per contract, each breaking only its own; all in one copy, so one lint run shows every contract fail.
_LEAKS = {
    "dversum_prosemirror imports no dversum_*": ("dversum_prosemirror/_leak.py", "import dversum_sandbox.db\n"),
    "dversum_sandbox imports no dversum_mcp": ("dversum_sandbox/_leak.py", "from dversum_mcp.config import Settings\n"),
    "only dversum_mcp.cli.backend and dversum_mcp.cli.sandbox import dversum_sandbox": (
        "dversum_mcp/server/_leak.py",
        "import dversum_sandbox.app\n",
    ),
    "dversum_mcp layers point one way: cli -> remote -> server -> tools -> api": (
        "dversum_mcp/api/_leak.py",
        "from dversum_mcp.tools import manifest\n",
    ),
    "dversum_mcp.transports imports none of cli, server, tools, api": (
        "dversum_mcp/transports/_leak.py",
        "from dversum_mcp.api import errors\n",
    ),
    "dversum_mcp.auth imports none of cli, remote, server, tools, api": (
        "dversum_mcp/auth/_leak.py",
        "from dversum_mcp.remote import app\n",
    ),
}


def test_each_contract_fails_when_broken(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    for module, source in _LEAKS.values():
        (root / "src" / module).write_text(source, encoding="utf-8")
    done = _lint_imports(root)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"0 kept, {len(_LEAKS)} broken" in done.stdout, done.stdout
    for contract, (module, _) in _LEAKS.items():
        assert f"{contract} BROKEN" in done.stdout, done.stdout
        leak = module.removesuffix(".py").replace("/", ".")
        assert f"- {leak} -> " in done.stdout or f"-   {leak} -> " in done.stdout, done.stdout


def _dynamic_imports(tree: ast.AST) -> list[int]:
    """Lines that call importlib.import_module / __import__ (or import import_module by name)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__"):
                lines.append(node.lineno)
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module == "importlib"
            and any(alias.name == "import_module" for alias in node.names)
        ):
            lines.append(node.lineno)
    return lines


def _scan(src: Path) -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((src / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            found += [f"{path.relative_to(src)}:{line}" for line in _dynamic_imports(tree)]
    return found


def test_no_dynamic_imports_of_project_code() -> None:
    assert _scan(ROOT / "src") == []


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("import importlib\n\nconvert = importlib.import_module('dversum_prosemirror')\n", 3),
        ("from importlib import import_module as load\n", 1),
        ("server = __import__('dversum_mcp.server')\n", 1),
    ],
)
def test_a_dynamic_import_is_found(tmp_path: Path, source: str, line: int) -> None:
    (tmp_path / "dversum_sandbox").mkdir()
    (tmp_path / "dversum_sandbox" / "_hidden.py").write_text(source, encoding="utf-8")
    assert _scan(tmp_path) == [f"dversum_sandbox/_hidden.py:{line}"]
