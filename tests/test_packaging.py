"""The built wheel works on its own: installed into a clean venv, it serves a stdio session
(what `uvx dversum-mcp` / `pipx run dversum-mcp` do), with the endpoint table inside it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(args, check=True, cwd=cwd, capture_output=True, timeout=600)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT))
    (built,) = out.glob("dversum_mcp-*.whl")
    return built


def test_wheel_contains_the_table_and_both_packages(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "dversum_mcp/tool_manifests/invoices.toml" in names
    assert "dversum_mcp/tool_manifests/_types.toml" in names
    assert "dversum_sandbox/app.py" in names and "dversum_mcp/py.typed" in names
    assert "dversum_prosemirror/__init__.py" in names and "dversum_sandbox/billing/invoices.py" in names
    assert "dversum_mcp/views/board.html" in names and "dversum_mcp/views/_app.js" in names  # MCP Apps views
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "dversum-mcp = dversum_mcp.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


async def test_clean_venv_serves_a_stdio_session(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", str(venv))
    _run(str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVERSUM_")}
    env["DVERSUM_SANDBOX_DIR"] = str(tmp_path / "sandbox")
    server = StdioServerParameters(command=str(venv / "bin" / "dversum-mcp"), args=[], env=env, cwd=str(tmp_path))
    async with Client(server, mode="legacy") as client:
        tools = (await client.list_tools()).tools
        assert 30 <= len(tools) <= 40
        me = await client.call_tool("get_current_user", {})
        assert not me.is_error and me.structured_content and me.structured_content["slug"] == "admin"
        clients = await client.call_tool("list_clients", {"search": "ATAS"})
        assert clients.structured_content and clients.structured_content["total"] >= 1
