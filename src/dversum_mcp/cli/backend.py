"""Which API the server talks to: the real dVersum API (token set) or the embedded sandbox.

This is wiring, done once by the CLI: the server and the API layer only ever see an
`ApiClient` with some transport. Without a token, the sandbox app runs in-process behind
`httpx2.ASGITransport`; its package is imported only then (not when a token is set).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from dversum_mcp.api.client import ApiClient, RequestLog
from dversum_mcp.api.limiter import RateLimiter
from dversum_mcp.config import Settings

__all__ = ["SANDBOX_BASE_URL", "Backend", "open_backend"]

SANDBOX_BASE_URL = "http://sandbox.localhost/api/v1"


@dataclass
class Backend:
    client: ApiClient
    sandbox: bool


@asynccontextmanager
async def open_backend(
    settings: Settings, *, on_request: Callable[[RequestLog], None] | None = None
) -> AsyncIterator[Backend]:
    limiter = RateLimiter(settings.rate_limit, 60.0)
    if not settings.sandbox:
        client = ApiClient(
            base_url=settings.base_url,
            token=settings.token.reveal(),
            language=settings.language,
            timeout_s=settings.request_timeout_s,
            max_retries=settings.max_retries,
            limiter=limiter,
            on_request=on_request,
            max_response_bytes=settings.max_response_bytes,
            max_download_bytes=settings.max_download_bytes,
        )
        async with client:
            yield Backend(client, sandbox=False)
        return
    import httpx2

    from dversum_sandbox import SandboxSettings, create_app
    from dversum_sandbox.seed.workspace import ensure_seeded

    sandbox_settings = SandboxSettings.from_env()
    seeded = await ensure_seeded(sandbox_settings)
    app = create_app(sandbox_settings)
    client = ApiClient(
        base_url=SANDBOX_BASE_URL,
        token=seeded.token,
        transport=httpx2.ASGITransport(app=app),
        language=settings.language,
        timeout_s=settings.request_timeout_s,
        max_retries=settings.max_retries,
        limiter=limiter,
        on_request=on_request,
        max_response_bytes=settings.max_response_bytes,
        max_download_bytes=settings.max_download_bytes,
    )
    try:
        async with client:
            yield Backend(client, sandbox=True)
    finally:
        await app.aclose()
