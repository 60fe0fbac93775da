"""The multi-user server and the client's folders: its disk is not the user's, so `save_as` and
upload paths are refused whatever the client declares (files travel inline), and it does not start
with DVERSUM_FILE_ROOTS (one shared folder would mix its users' files)."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest

from tests.hardening.conftest import clean_env
from tests.remote.conftest import KEYS, SERVE, Stack, free_port, login
from tests.remote.test_multi_user import connect, data

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def access(stack: Stack) -> str:
    return login(stack.base, stack.token_a).access


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_local_file_arguments_are_refused_even_with_roots(
    stack: Stack, access: str, tmp_path: Path, mode: str
) -> None:
    asked: list[str] = []

    async def roots(context: Any) -> types.ListRootsResult:
        asked.append("roots")
        return types.ListRootsResult(roots=[types.Root(uri=tmp_path.as_uri())])

    async with connect(stack, access, mode=mode, list_roots_callback=roots) as client:
        content = base64.b64encode(b"nur inline").decode()
        up = data(await client.call_tool("upload_file", {"content_base64": content, "filename": f"{mode}.txt"}))
        inline = data(await client.call_tool("download_file", {"file_id": up["id"]}))
        assert inline["size"] == 10  # inline works
        for tool, args, field in (
            ("download_file", {"file_id": up["id"], "save_as": f"{tmp_path}/"}, "save_as"),
            ("upload_file", {"path": str(tmp_path / "x.txt")}, "path"),
        ):
            result = await client.call_tool(tool, args)
            payload = dict(result.structured_content or {})
            assert result.is_error and payload["error"] == "invalid_arguments" and payload["field"] == field, payload
            message = payload["message"]
            assert "cannot be used on this server" in message and "shared remote server" in message
    assert asked == [] and list(tmp_path.iterdir()) == []  # never asked for the folders, nothing written


def test_the_multi_user_server_refuses_file_roots(stack: Stack, tmp_path: Path) -> None:
    env = clean_env(
        DVERSUM_REDIS_URL=stack.redis_url,
        DVERSUM_MCP_PUBLIC_URL=stack.base,
        DVERSUM_MCP_SECRET_KEYS=KEYS,
        DVERSUM_BASE_URL=stack.api_url,
        DVERSUM_FILE_ROOTS=str(tmp_path),
    )
    run = subprocess.run(
        [*SERVE, "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert run.returncode == 2 and "unset DVERSUM_FILE_ROOTS" in run.stderr, run.stderr[-500:]
