"""The floor for cold start and per-call cost: the SDK's low-level `Server` with one tool, over stdio.

    python bench/floor_server.py [--asyncio-pipes]

Nothing else: no settings, no table, no API client. Whatever dversum-mcp spends above this is
ours; what this spends (Python start-up, the SDK and its imports, the handshake) is not.

`--asyncio-pipes` is a what-if for the transport: the SDK's `stdio_server` reads each line
and writes each answer through a worker thread (`anyio.wrap_file`); this variant hands it
asyncio pipe streams instead (POSIX pipes only), to show what that hop costs per call.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

ECHO = types.Tool(
    name="echo",
    description="Echo the text back.",
    input_schema={"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
)


async def list_tools(
    ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    return types.ListToolsResult(tools=[ECHO])


async def call_tool(ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams) -> types.CallToolResult:
    text = str((params.arguments or {}).get("text", ""))
    return types.CallToolResult(
        content=[types.TextContent(text=text)], structured_content={"text": text}, is_error=False
    )


class _PipeLines:
    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> _PipeLines:
        return self

    async def __anext__(self) -> str:
        line = await self._reader.readline()
        if not line:
            raise StopAsyncIteration
        return line.decode("utf-8", "replace")


class _PipeOut:
    def __init__(self, transport: asyncio.WriteTransport) -> None:
        self._transport = transport

    async def write(self, text: str) -> None:
        self._transport.write(text.encode("utf-8"))

    async def flush(self) -> None:
        return None


@asynccontextmanager
async def asyncio_pipes() -> AsyncIterator[tuple[Any, Any]]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    stdin = os.fdopen(os.dup(0), "rb", buffering=0)
    stdout = os.fdopen(os.dup(1), "wb", buffering=0)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
    transport, _ = await loop.connect_write_pipe(asyncio.Protocol, stdout)
    async with stdio_server(_PipeLines(reader), _PipeOut(transport)) as streams:  # type: ignore[arg-type]
        yield streams


async def main(pipes: bool = False) -> None:
    server: Server[Any] = Server(name="floor", version="1", on_list_tools=list_tools, on_call_tool=call_tool)
    async with asyncio_pipes() if pipes else stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main, "--asyncio-pipes" in sys.argv[1:])
