"""The example client configurations parse, and the server they describe starts and lists its tools.

Each config is spawned the way a client would (command + args + env, over stdio, with the SDK's own
client) against the embedded sandbox. `uvx dversum-mcp` installs the published package, which a
checkout under test is not, so it runs as the checkout's own `dversum-mcp`; the checkout config's
placeholder path becomes this checkout's absolute path. Placeholder tokens are left out (sandbox).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from dversum_mcp.server.discovery import DYNAMIC_ONLY, META_TOOLS
from dversum_mcp.tools.registry import Registry, Selection

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).parents[1]
CONFIGS = sorted(ROOT.glob("*.example.json"))
PLACEHOLDER = "/absolute/path/to/dversum-mcp"


def _default_count(sandbox: bool) -> int:
    """Tools listed without flags: the table's default selection plus the discovery tools."""
    discovery = [name for name in META_TOOLS if name not in DYNAMIC_ONLY]
    return len(Registry().listed(Selection(sandbox=sandbox))) + len(discovery)


def _command(command: str, args: list[str]) -> tuple[str, list[str]]:
    if command == "uvx":
        assert args[:1] == ["dversum-mcp"], args
        return sys.executable, ["-m", "dversum_mcp.cli", *args[1:]]
    if command.startswith(PLACEHOLDER):
        local = ROOT / command.removeprefix(PLACEHOLDER + "/")
        installed = shutil.which("dversum-mcp", path=str(Path(sys.executable).parent))
        assert installed, "the checkout's .venv/bin/dversum-mcp is missing"
        return str(local if local.exists() else installed), args
    raise AssertionError(f"unexpected command {command!r}")


def test_there_are_example_configs() -> None:
    names = {p.name for p in CONFIGS}
    assert {"claude_desktop_config.example.json", "claude_desktop_config.checkout.example.json"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
async def test_example_config_starts_the_server(path: Path, tmp_path: Path) -> None:
    config = json.loads(path.read_text(encoding="utf-8"))
    (entry,) = config["mcpServers"].values()
    command, args = _command(entry["command"], list(entry.get("args", [])))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVERSUM_")}
    for key, value in entry.get("env", {}).items():
        if key == "DVERSUM_API_TOKEN":
            continue  # a placeholder: without it the server runs on the sandbox
        env[key] = str(tmp_path) if key == "DVERSUM_FILE_ROOTS" else value
    env["DVERSUM_SANDBOX_DIR"] = str(tmp_path / "sandbox")
    server = StdioServerParameters(command=command, args=args, env=env, cwd=str(tmp_path))
    with anyio.fail_after(120):
        async with Client(server, mode="legacy") as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
    assert len(names) == _default_count(sandbox=True)
    assert {"search_tools", "list_clients", "read_sandbox_outbox"} <= set(names)


def test_the_default_tool_count_is_the_same_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    from dversum_mcp.cli.main import main

    count, table = _default_count(sandbox=False), len(Registry().listed(Selection()))
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert f"**{count} tools listed by default**" in readme
    assert f"{table} from the table plus the {count - table} discovery tools" in readme
    assert f"{_default_count(sandbox=True)} on the sandbox" in readme
    assert f"| default | {count} |" in readme  # the token table
    assert main(["tools"]) == 0
    assert f"= {count} " in capsys.readouterr().out
