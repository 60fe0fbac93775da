"""MCP-level fixtures: the real server, the real sandbox on real SQLite, the SDK's own client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client

from dversum_mcp.api.client import ApiClient
from dversum_mcp.api.limiter import RateLimiter
from dversum_mcp.config import Secret, Settings
from dversum_mcp.server.handlers import ServerState, build_server
from dversum_mcp.tools.registry import Registry, Selection
from dversum_sandbox import SandboxSettings, create_app
from dversum_sandbox.app import SandboxApp
from dversum_sandbox.resources import accounts

SANDBOX_URL = "http://sandbox.localhost/api/v1"


@pytest.fixture(scope="session")
def registry() -> Registry:
    return Registry()


@dataclass
class Harness:
    app: SandboxApp
    token: str
    org_id: str
    user_id: str
    requests: list[httpx2.Request]
    registry: Registry

    def api_client(
        self, wrap: Callable[[httpx2.AsyncBaseTransport], httpx2.AsyncBaseTransport] | None = None, **kwargs: Any
    ) -> ApiClient:
        """An API client on the in-process sandbox that records every request it sends."""

        class Recording(httpx2.AsyncBaseTransport):
            def __init__(self, inner: httpx2.AsyncBaseTransport, log: list[httpx2.Request]) -> None:
                self.inner = inner
                self.log = log

            async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
                self.log.append(request)
                return await self.inner.handle_async_request(request)

        inner: httpx2.AsyncBaseTransport = httpx2.ASGITransport(app=self.app)
        transport = Recording(wrap(inner) if wrap else inner, self.requests)
        kwargs.setdefault("limiter", RateLimiter(10_000, 60))
        return ApiClient(base_url=SANDBOX_URL, token=self.token, transport=transport, **kwargs)

    @asynccontextmanager
    async def mcp(
        self,
        settings: Settings | None = None,
        selection: Selection | None = None,
        mode: str = "legacy",
        wrap: Callable[[httpx2.AsyncBaseTransport], httpx2.AsyncBaseTransport] | None = None,
        **client_kw: Any,
    ) -> AsyncIterator[Client]:
        settings = settings or Settings(token=Secret(""))
        selection = selection or Selection(toolsets=("all",), sandbox=True)
        api = self.api_client(wrap)
        state = ServerState(
            settings=settings, registry=self.registry, client=api, selection=selection, dynamic=settings.dynamic
        )
        server = build_server(state)
        async with api, Client(server, mode=mode, **client_kw) as client:
            yield client


@pytest.fixture
def harness(tmp_path: Path, registry: Registry) -> Harness:
    app = create_app(SandboxSettings(data_dir=tmp_path / "sandbox", rate_limit=100_000, webhook_backoff_s=0.01))
    with app.db.transaction():
        org_id, user_id, token = accounts.create_workspace(
            app.db, "Muster GmbH", "Anna Admin", "anna@muster.de", "anna", "2026-01-01T00:00:00Z"
        )
        # the seller data §14 Abs. 4 UStG requires before an invoice can be sent
        address = {"street": "Musterstraße 1", "postal_code": "10115", "city": "Berlin", "vat_id": "DE111111111"}
        app.db.update("orgs", org_id, address)
    yield Harness(app, token, org_id, user_id, [], registry)  # type: ignore[misc]
    app.db.close()


def structured(result: Any) -> dict[str, Any]:
    assert result.structured_content is not None, result
    return dict(result.structured_content)


async def walk(client: Any, tool: str, args: dict[str, Any], key: str, limit: int = 200) -> list[dict[str, Any]]:
    """Every item of a list, following next_cursor (answers are cut to the result budget)."""
    items: list[dict[str, Any]] = []
    for _ in range(limit):
        data = structured(await client.call_tool(tool, args))
        items.extend(data[key])
        if "next_cursor" not in data:
            return items
        args = {k: v for k, v in args.items() if k not in ("page", "per_page", "all_pages")} | {
            "cursor": data["next_cursor"]
        }
    raise AssertionError(f"{tool}: no end after {limit} answers")
