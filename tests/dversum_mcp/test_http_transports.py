"""Streamable HTTP and SSE sessions on loopback with the SDK's own clients; transport security."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.sse import sse_client

from dversum_mcp.config import Secret, Settings
from dversum_mcp.server.handlers import ServerState, build_server
from dversum_mcp.tools.registry import Selection
from dversum_mcp.transports import http as transports
from tests.dversum_mcp.conftest import Harness

pytestmark = pytest.mark.anyio


INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _serve(app: Any) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _server(harness: Harness, selection: Selection | None = None) -> Any:
    state = ServerState(
        Settings(token=Secret("")),
        harness.registry,
        harness.api_client(),
        selection or Selection(sandbox=True),
    )
    return build_server(state)


async def test_streamable_http_session(harness: Harness) -> None:
    app = transports.http_app(_server(harness), host="127.0.0.1")
    with _serve(app) as base:
        async with Client(f"{base}/mcp", mode="legacy") as client:
            tools = await client.list_tools()
            assert 20 <= len(tools.tools) <= 40
            result = await client.call_tool("get_current_user", {})
            assert not result.is_error
            assert result.structured_content and result.structured_content["slug"] == "anna"


async def test_streamable_http_headers_narrow_the_selection(harness: Harness) -> None:
    app = transports.http_app(_server(harness, Selection(toolsets=("all",), sandbox=True)), host="127.0.0.1")
    with _serve(app) as base:
        http = httpx2.AsyncClient(headers={"X-Dversum-Toolsets": "invoices", "X-Dversum-Read-Only": "1"}, timeout=10)
        from mcp.client.streamable_http import streamable_http_client

        async with http, Client(streamable_http_client(f"{base}/mcp", http_client=http), mode="legacy") as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "list_invoices" in names and "create_invoice" not in names and "list_clients" not in names
            refused = await client.call_tool("create_client", {"name": "x"})
            assert refused.is_error


async def test_sse_session(harness: Harness) -> None:
    app = transports.sse_app(_server(harness), host="127.0.0.1")
    with _serve(app) as base:
        async with Client(sse_client(f"{base}/sse"), mode="legacy") as client:
            tools = await client.list_tools()
            assert any(t.name == "search_tools" for t in tools.tools)
            result = await client.call_tool("list_users", {})
            assert not result.is_error
            assert result.structured_content and result.structured_content["total"] == 1


async def test_foreign_origin_and_host_are_refused(harness: Harness) -> None:
    app = transports.http_app(_server(harness), host="127.0.0.1")
    with _serve(app) as base:
        async with httpx2.AsyncClient(timeout=10) as http:
            evil = await http.post(f"{base}/mcp", json=INIT, headers={**HEADERS, "Origin": "http://evil.example"})
            assert evil.status_code in (400, 403)
            rebound = await http.post(f"{base}/mcp", json=INIT, headers={**HEADERS, "Host": "evil.example"})
            assert rebound.status_code in (400, 403, 421)
            ok = await http.post(f"{base}/mcp", json=INIT, headers=HEADERS)
            assert ok.status_code == 200


async def test_bearer_guard_on_http(harness: Harness) -> None:
    app = transports.http_app(_server(harness), host="127.0.0.1", auth_token="s3cret-mcp-token")
    with _serve(app) as base:
        async with httpx2.AsyncClient(timeout=10) as http:
            denied = await http.post(f"{base}/mcp", json={})
            assert denied.status_code == 401
            wrong = await http.post(f"{base}/mcp", json={}, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
        authed = httpx2.AsyncClient(headers={"Authorization": "Bearer s3cret-mcp-token"}, timeout=10)
        from mcp.client.streamable_http import streamable_http_client

        async with authed, Client(streamable_http_client(f"{base}/mcp", http_client=authed), mode="legacy") as client:
            assert (await client.call_tool("get_current_user", {})).is_error is False


@pytest.mark.parametrize("json_response", [True, False], ids=["json", "sse"])
async def test_cli_stateless_answers(tmp_path: Any, json_response: bool) -> None:
    """`serve --transport http --stateless [--json-response]`: with the flag each POST is answered
    with one JSON body and progress has no stream to travel on; without it, an SSE stream carries
    progress before the result. The SDK's client works against both."""
    from tests.hardening.test_transport_security import serving

    flags = ("--stateless", "--json-response") if json_response else ("--stateless",)
    with serving(tmp_path, "http", *flags) as (port, _):
        base = f"http://127.0.0.1:{port}/mcp"
        async with httpx2.AsyncClient(timeout=30) as http:
            answer = await http.post(base, json=INIT, headers=HEADERS)
            assert answer.status_code == 200
            kind = "application/json" if json_response else "text/event-stream"
            assert answer.headers["content-type"].startswith(kind)
        async with Client(base, mode="legacy") as client:
            user = await client.call_tool("get_current_user", {})
            assert not user.is_error
            progress: list[float] = []

            async def on_progress(done: float, total: float | None, message: str | None) -> None:
                progress.append(done)

            week = await client.call_tool(
                "summarize_time",
                {"from": "2026-01-05T00:00:00Z", "to": "2026-01-12T00:00:00Z"},
                progress_callback=on_progress,
            )
            assert not week.is_error, week.content
            assert (progress == []) is json_response, progress
