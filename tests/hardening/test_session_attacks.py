"""Per-session state: one client's enabled toolsets and subscriptions never reach another;
client-chosen session ids cannot grow the server's memory; `--stateless --dynamic` is refused."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from dversum_mcp.config import Secret, Settings
from dversum_mcp.server.handlers import ServerState, build_server
from dversum_mcp.tools.registry import Selection
from dversum_mcp.transports import http as transports
from tests.dversum_mcp.conftest import Harness
from tests.dversum_mcp.test_http_transports import _serve
from tests.hardening.attack_support import Tally, make_harness
from tests.hardening.conftest import PYTHON, clean_env

pytestmark = pytest.mark.anyio
TALLY = Tally("session state")


@pytest.fixture(name="harness")
def _harness(tmp_path: Path) -> Iterator[Harness]:
    harness = make_harness(tmp_path)
    yield harness
    harness.app.db.close()


def _state(harness: Harness, **kw: Any) -> ServerState:
    settings = Settings(token=Secret(""), dynamic=kw.pop("dynamic", False))
    return ServerState(
        settings, harness.registry, harness.api_client(), Selection(sandbox=True), dynamic=settings.dynamic, **kw
    )


async def _names(client: Client) -> set[str]:
    return {t.name for t in (await client.list_tools()).tools}


async def _isolated(a: Client, b: Client) -> bool:
    before = await _names(b)
    enabled = await a.call_tool("enable_toolset", {"toolset": "invoices"})
    assert not enabled.is_error, enabled.content
    return "list_invoices" not in before and (await _names(b)) == before


async def test_two_local_clients_keep_their_own_toolsets(harness: Harness) -> None:
    server = build_server(_state(harness, dynamic=True))
    async with Client(server, mode="legacy") as a, Client(server, mode="legacy") as b:
        held = await _isolated(a, b)
        assert "list_invoices" in await _names(a)
    assert TALLY.count(held), "client B saw the toolset client A enabled"


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_two_http_clients_keep_their_own_toolsets(harness: Harness, mode: str) -> None:
    app = transports.http_app(build_server(_state(harness, dynamic=True)), host="127.0.0.1")
    with _serve(app) as base:
        async with (
            Client(streamable_http_client(f"{base}/mcp"), mode=mode) as a,  # type: ignore[arg-type]
            Client(streamable_http_client(f"{base}/mcp"), mode=mode) as b,  # type: ignore[arg-type]
        ):
            held = await _isolated(a, b)
    assert TALLY.count(held), f"{mode}: client B saw the toolset client A enabled"


def _store_size(state: ServerState) -> int:
    store = getattr(state, "session_store", None)
    if store is not None:
        return len(store)
    return len(getattr(state, "subscriptions", {})) + len(getattr(state, "enabled", {}))


async def test_invented_session_ids_do_not_grow_memory(harness: Harness) -> None:
    """1,100 stateless requests, each with a new Mcp-Session-Id, subscribing and enabling."""
    kw = {"stateless": True} if "stateless" in ServerState.__dataclass_fields__ else {}
    state = _state(harness, **kw)
    app = transports.http_app(build_server(state), host="127.0.0.1", stateless=True, json_response=True)
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": "2025-06-18",
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "resources/subscribe", "params": {"uri": "dversum://pages/x"}}
    with _serve(app) as base:
        async with httpx2.AsyncClient(timeout=20) as http:

            async def flood(n: int) -> None:
                for _ in range(n):
                    answer = await http.post(
                        f"{base}/mcp", json=body, headers={**headers, "Mcp-Session-Id": uuid.uuid4().hex}
                    )
                    assert answer.status_code < 500

            async with anyio.create_task_group() as group:
                for _ in range(10):
                    group.start_soon(flood, 110)
    size = _store_size(state)
    held = size <= 1000
    assert TALLY.count(held), f"{size} per-session entries for invented session ids"


def test_session_store_is_bounded_and_expires() -> None:
    from dversum_mcp.server.sessions import SessionStore

    now = [0.0]
    store = SessionStore(max_sessions=50, idle_s=60, clock=lambda: now[0])
    for i in range(500):
        store.get(f"http:k{i}").enabled.add("invoices")
    assert len(store) == 50 and store.peek("http:k0") is None and store.peek("http:k499") is not None
    store.get("conn:stdio").enabled.add("pages")
    now[0] = 61.0
    assert [k for k, _ in store.items()] == ["conn:stdio"]  # HTTP sessions expire; the local one stays
    assert store.get(None).enabled == set() and len(store) == 1  # no session: nothing kept


def test_stateless_dynamic_is_refused(tmp_path: Path) -> None:
    env = clean_env(DVERSUM_SANDBOX_DIR=str(tmp_path / "sb"), HOME=str(tmp_path))
    command = [PYTHON, "-m", "dversum_mcp.cli", "serve", "--transport", "http", "--port", "0", "--stateless"]
    try:
        done = subprocess.run(
            [*command, "--dynamic"], env=env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )
        held = done.returncode == 2 and "--stateless" in done.stderr and "--dynamic" in done.stderr
    except subprocess.TimeoutExpired:
        held = False  # it served: every client would share one enabled-toolset set
    assert TALLY.count(held), "serve --stateless --dynamic started"
