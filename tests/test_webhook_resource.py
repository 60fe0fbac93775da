"""`serve --webhook-port`: signed webhooks received beside the MCP server become a resource,
de-duplicated by Idempotency-Key, announced with list-changed and updated notifications."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters

from dversum_mcp.transports.webhook_inbox import sign
from tests.dversum_mcp.test_http_transports import _free_port

pytestmark = pytest.mark.anyio
URI = "dversum://webhooks/events"
SECRET = "whsec_resource_test_secret"


async def test_received_webhooks_are_a_resource(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVERSUM_")}
    env.update(
        DVERSUM_SANDBOX_DIR=str(tmp_path / "sandbox"), DVERSUM_WEBHOOK_PORT=str(port), DVERSUM_WEBHOOK_SECRET=SECRET
    )
    notes: list[str] = []

    async def on_message(message: Any) -> None:
        root = getattr(message, "root", message)
        if isinstance(root, types.ResourceListChangedNotification):
            notes.append("list_changed")
        if isinstance(root, types.ResourceUpdatedNotification):
            notes.append(f"updated {root.params.uri}")

    server = StdioServerParameters(command=sys.executable, args=["-m", "dversum_mcp.cli"], env=env, cwd=str(tmp_path))
    async with Client(server, mode="legacy", message_handler=on_message) as client:
        assert URI in {r.uri for r in (await client.list_resources()).resources}
        await client.subscribe_resource(URI)
        body = json.dumps({"id": "d1", "event": "invoice.paid", "data": {"id": "inv1"}}).encode()
        async with httpx2.AsyncClient(timeout=10) as http:
            for _ in range(50):  # the receiver starts beside the server
                try:
                    forged = await http.post(
                        f"http://127.0.0.1:{port}/hook",
                        content=body,
                        headers={"X-Dversum-Signature": "sha256=" + "0" * 64, "Content-Type": "application/json"},
                    )
                    break
                except httpx2.ConnectError:
                    await anyio.sleep(0.1)
            assert forged.status_code == 401
            headers = {
                "X-Dversum-Signature": sign(SECRET, body),
                "Idempotency-Key": "d1",
                "Content-Type": "application/json",
            }
            first = await http.post(f"http://127.0.0.1:{port}/hook", content=body, headers=headers)
            repeat = await http.post(f"http://127.0.0.1:{port}/hook", content=body, headers=headers)
        assert first.status_code == 200 and repeat.json().get("duplicate") is True
        with anyio.fail_after(10):
            while f"updated {URI}" not in notes or "list_changed" not in notes:
                await anyio.sleep(0.05)
        events = json.loads((await client.read_resource(URI)).contents[0].text)["events"]
        assert len(events) == 1
        assert events[0]["event"] == "invoice.paid" and events[0]["verified"] is True
