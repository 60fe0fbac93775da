"""Serving the server over HTTP: SSE and Streamable HTTP on loopback (stdio is `dversum_mcp.transports.stdio`).

The HTTP transports bind 127.0.0.1 by default, validate Host and Origin against DNS rebinding
(the SDK's protection), limit request bodies, and can require a bearer token
(`DVERSUM_MCP_AUTH_TOKEN`, compared in constant time). Starlette and uvicorn are imported
only for the HTTP transports, so stdio starts without them.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from mcp.server.lowlevel import Server

__all__ = ["BearerGuard", "http_app", "security_settings", "serve_http", "serve_sse", "sse_app"]

MAX_BODY_BYTES = 4 * 1024 * 1024
log = logging.getLogger("dversum_mcp.transports.http")


def security_settings(host: str) -> Any:
    from mcp.server.transport_security import TransportSecuritySettings

    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    if host not in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::"):  # noqa: S104 - only names to allow
        hosts.append(f"{host}:*")
        origins += [f"http://{host}:*", f"https://{host}:*"]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


class BearerGuard:
    """ASGI middleware: every HTTP request must carry `Authorization: Bearer <token>`."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            auth = headers.get(b"authorization", b"")
            given = auth[7:].strip() if auth[:7].lower() == b"bearer " else b""
            if not hmac.compare_digest(given, self._token):
                body = json.dumps({"error": "unauthorized", "message": "Missing or wrong bearer token"}).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def http_app(
    server: Server[Any], *, host: str, stateless: bool = False, json_response: bool = False, auth_token: str = ""
) -> Any:
    """Streamable HTTP at /mcp. `json_response`: answer each POST with one JSON body instead of an
    SSE stream (simpler behind proxies, ~1.8× the stateless read throughput); progress and log
    notifications and mid-call requests to the client (elicitation, roots) are then not sent."""
    app = server.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=stateless,
        json_response=json_response,
        transport_security=security_settings(host),
        max_request_body_size=MAX_BODY_BYTES,
        host=host,
    )
    return BearerGuard(app, auth_token) if auth_token else app


def sse_app(server: Server[Any], *, host: str, auth_token: str = "") -> Any:
    from mcp.server.sse import SseServerTransport
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Mount, Route

    sse = SseServerTransport(
        "/messages/", security_settings=security_settings(host), max_request_body_size=MAX_BODY_BYTES
    )

    async def endpoint(request: Request) -> Response:
        try:
            async with sse.connect_sse(request.scope, request.receive, request._send) as (read, write):
                await server.run(read, write, server.create_initialization_options())
        except ValueError:  # refused (foreign Origin/Host): the SDK has already sent the 4xx answer
            log.info("SSE connection refused by transport security")
        return _AlreadySent()

    class _AlreadySent(Response):
        """The SSE transport answered on its own; nothing more to send."""

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            return None

    app = Starlette(
        routes=[Route("/sse", endpoint=endpoint, methods=["GET"]), Mount("/messages/", app=sse.handle_post_message)]
    )
    return BearerGuard(app, auth_token) if auth_token else app


async def _uvicorn(app: Any, host: str, port: int) -> None:
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_config=None, log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve()


async def serve_http(
    server: Server[Any],
    *,
    host: str,
    port: int,
    stateless: bool = False,
    json_response: bool = False,
    auth_token: str = "",
) -> None:
    app = http_app(server, host=host, stateless=stateless, json_response=json_response, auth_token=auth_token)
    await _uvicorn(app, host, port)


async def serve_sse(server: Server[Any], *, host: str, port: int, auth_token: str = "") -> None:
    await _uvicorn(sse_app(server, host=host, auth_token=auth_token), host, port)
