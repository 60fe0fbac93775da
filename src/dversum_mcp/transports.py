"""Serving the server: stdio (default), SSE and Streamable HTTP on loopback.

stdio answers every line it cannot use, as JSON-RPC asks: unparseable JSON gets a parse
error (id null), a request of the wrong shape an invalid-request error with its id, so a
client never waits for an answer that will not come; the wire is a private duplicate of
fd 1 while fd 1 itself points at stderr, so stray prints can never corrupt the channel.
HTTP transports bind 127.0.0.1 by default, validate Host and Origin against DNS rebinding
(the SDK's protection), limit request bodies, and can require a bearer token
(`DVERSUM_MCP_AUTH_TOKEN`, compared in constant time). Starlette and uvicorn are imported
only for the HTTP transports, so stdio starts without them.
"""

from __future__ import annotations

import asyncio
import hmac
import io
import json
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import IO, Any, cast

import anyio
from mcp.server.lowlevel import Server

__all__ = ["BearerGuard", "http_app", "security_settings", "serve_http", "serve_sse", "serve_stdio", "sse_app"]

MAX_BODY_BYTES = 4 * 1024 * 1024
_MAX_LINE_BYTES = 256 * 1024 * 1024  # an upload as base64 in one JSON-RPC line
log = logging.getLogger("dversum_mcp.transports")


class _Wire:
    """The stdout channel: one locked write per JSON-RPC line, shared by the SDK and our error replies."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._lock = threading.Lock()

    def _write(self, text: str) -> None:
        with self._lock:
            self._raw.write(text.encode("utf-8", "backslashreplace"))
            self._raw.flush()

    async def write(self, text: str) -> None:
        await anyio.to_thread.run_sync(self._write, text)

    async def flush(self) -> None:
        return None


def _rejection(line: str) -> str | None:
    """The JSON-RPC error line for an unusable input line, or None when the SDK may have it."""
    import mcp_types as types

    try:
        types.jsonrpc_message_adapter.validate_json(line, by_name=False)
    except Exception:  # noqa: S110 - judged below
        pass
    else:
        return None
    try:
        parsed = json.loads(line)
    except ValueError:
        code, message, ident = -32700, "Parse error: the line is not valid JSON", None
    else:
        ident = parsed.get("id") if isinstance(parsed, dict) else None
        if isinstance(ident, bool) or not isinstance(ident, str | int):
            ident = None
        if isinstance(parsed, dict) and "id" not in parsed and "method" in parsed:
            log.debug("dropped a malformed notification")
            return None  # notifications get no answer, not even an error
        code, message = -32600, "Invalid Request: not a JSON-RPC 2.0 message this server understands"
        request = isinstance(parsed, dict) and parsed.get("jsonrpc") == "2.0" and isinstance(parsed.get("method"), str)
        if request and ident is not None:
            code, message = -32602, "Invalid params for " + parsed["method"][:100] + " (or invalid Unicode in them)"
    return json.dumps({"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": message}}) + "\n"


class _CheckedLines:
    """stdin lines for the SDK; the ones it would silently drop are answered here instead."""

    def __init__(self, lines: Any, wire: _Wire) -> None:
        self._lines = lines
        self._wire = wire

    def __aiter__(self) -> AsyncIterator[str]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[str]:
        async for line in self._lines:
            if not line.strip():
                continue
            answer = _rejection(line)
            if answer is None:
                yield line
            else:
                log.info("answered an unusable stdin line with JSON-RPC error %s", answer[:80].strip())
                await self._wire.write(answer)


@contextmanager
def _claimed_stdio() -> Iterator[tuple[IO[bytes], IO[bytes]]]:
    """Private duplicates of fd 0/1 for the wire; fd 0 reads /dev/null and fd 1 writes to stderr meanwhile."""
    sys.stdout.flush()
    wire_in, wire_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    try:
        yield os.fdopen(wire_in, "rb", closefd=False), os.fdopen(wire_out, "wb", buffering=0, closefd=False)
    finally:
        os.dup2(wire_in, 0)
        os.dup2(wire_out, 1)


class _PipeWire(_Wire):
    """stdout as an asyncio pipe: writes go out from the event loop, no thread hop per message."""

    def __init__(self, raw: IO[bytes], writer: asyncio.StreamWriter) -> None:
        super().__init__(raw)
        self._writer = writer
        self._alock = anyio.Lock()

    async def write(self, text: str) -> None:
        async with self._alock:
            self._writer.write(text.encode("utf-8", "backslashreplace"))
            await self._writer.drain()


class _PipeLines:
    """stdin lines read by an asyncio pipe (any line length a message can have)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> AsyncIterator[str]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[str]:
        while line := await self._reader.readline():
            yield line.decode("utf-8", "replace")


async def _pipes(raw_in: IO[bytes], raw_out: IO[bytes]) -> tuple[Any, _Wire] | None:
    """Asyncio pipes on the wire descriptors, or None where they are not pipes/sockets/ttys
    (a regular file, Windows): then the SDK's thread-per-line path is used."""
    loop = asyncio.get_running_loop()
    try:
        reader = asyncio.StreamReader(limit=_MAX_LINE_BYTES, loop=loop)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader, loop=loop), raw_in)
        transport, protocol = await loop.connect_write_pipe(lambda: asyncio.streams.FlowControlMixin(loop), raw_out)
    except (ValueError, OSError, NotImplementedError):
        return None
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    return _PipeLines(reader), _PipeWire(raw_out, writer)


async def serve_stdio(server: Server[Any]) -> None:
    from mcp.server.stdio import stdio_server

    with _claimed_stdio() as (raw_in, raw_out):
        piped = await _pipes(raw_in, raw_out)
        if piped is not None:
            lines, wire = piped
        else:
            wire = _Wire(raw_out)
            lines = anyio.wrap_file(io.TextIOWrapper(raw_in, encoding="utf-8", errors="replace"))
        async with stdio_server(cast(Any, _CheckedLines(lines, wire)), cast(Any, wire)) as (read, write):
            await server.run(read, write, server.create_initialization_options())


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


def http_app(server: Server[Any], *, host: str, stateless: bool = False, auth_token: str = "") -> Any:
    app = server.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=stateless,
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
    server: Server[Any], *, host: str, port: int, stateless: bool = False, auth_token: str = ""
) -> None:
    await _uvicorn(http_app(server, host=host, stateless=stateless, auth_token=auth_token), host, port)


async def serve_sse(server: Server[Any], *, host: str, port: int, auth_token: str = "") -> None:
    await _uvicorn(sse_app(server, host=host, auth_token=auth_token), host, port)
