"""The stdio transport: JSON-RPC lines on a private duplicate of fd 0/1, straight into the SDK's loop.

The SDK's `stdio_server` puts a reader task and a writer task, each behind a memory stream,
between the pipe and the server, and reads and writes through a worker thread per line.
Here the server pulls each message itself: `receive()` reads a line from an asyncio pipe
and parses it once, `send()` serializes and writes it. No task hop and no thread hop per
message, which is most of what a call costs on top of its API request (see
`bench/bench_overhead.py`).

Every line the server cannot use is answered, as JSON-RPC asks: unparseable JSON gets a
parse error (id null), a request of the wrong shape an invalid-request error with its id,
so a client never waits for an answer that will not come. While serving, fd 1 points at
stderr and fd 0 at /dev/null, so a stray print can never corrupt the channel. Where the
descriptors are not pipes, sockets or ttys (a regular file, Windows) lines go through a
worker thread instead, with the same parsing and answers.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import IO, Any, Protocol

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.shared.message import SessionMessage

__all__ = ["serve_stdio"]

_MAX_LINE_BYTES = 256 * 1024 * 1024  # an upload as base64 in one JSON-RPC line
log = logging.getLogger("dversum_mcp.transports.stdio")


class _Wire(Protocol):
    async def write(self, text: str) -> None: ...


class _ThreadWire:
    """stdout through a worker thread: one locked write per JSON-RPC line."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._lock = threading.Lock()

    def _write(self, data: bytes) -> None:
        with self._lock:
            self._raw.write(data)
            self._raw.flush()

    async def write(self, text: str) -> None:
        await anyio.to_thread.run_sync(self._write, text.encode("utf-8", "backslashreplace"))


class _PipeWire:
    """stdout as an asyncio pipe. `write` hands the whole line to the transport in one
    synchronous call, so lines from concurrent senders never interleave; `drain` only
    waits when the reader is behind."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, text: str) -> None:
        self._writer.write(text.encode("utf-8", "backslashreplace"))
        await self._writer.drain()


async def _pipe_lines(reader: asyncio.StreamReader) -> AsyncIterator[str]:
    while line := await reader.readline():
        yield line.decode("utf-8", "replace")


async def _thread_lines(raw: IO[bytes]) -> AsyncIterator[str]:
    async for line in anyio.wrap_file(io.TextIOWrapper(raw, encoding="utf-8", errors="replace")):
        yield line


def _rejection(line: str) -> str | None:
    """The JSON-RPC error line for a line that is not a valid message, or None for a
    malformed notification (which gets no answer, not even an error)."""
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
            return None
        code, message = -32600, "Invalid Request: not a JSON-RPC 2.0 message this server understands"
        request = isinstance(parsed, dict) and parsed.get("jsonrpc") == "2.0" and isinstance(parsed.get("method"), str)
        if request and ident is not None:
            code, message = -32602, "Invalid params for " + parsed["method"][:100] + " (or invalid Unicode in them)"
    return json.dumps({"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": message}}) + "\n"


class StdioReadStream:
    """The server's read stream: each `receive()` reads and parses the next usable line."""

    def __init__(self, lines: AsyncIterator[str], wire: _Wire) -> None:
        self._lines = lines
        self._wire = wire
        self._closed = False

    async def receive(self) -> SessionMessage | Exception:
        if self._closed:
            raise anyio.ClosedResourceError
        async for line in self._lines:
            if not line.strip():
                continue
            try:
                message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
            except Exception:  # every invalid line is judged and answered below
                answer = _rejection(line)
                if answer is not None:
                    log.info("answered an unusable stdin line with JSON-RPC error %s", answer[:80].strip())
                    await self._wire.write(answer)
                continue
            return SessionMessage(message)
        raise anyio.EndOfStream

    def __aiter__(self) -> StdioReadStream:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self._closed = True

    async def __aenter__(self) -> StdioReadStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class StdioWriteStream:
    """The server's write stream: each `send()` writes one JSON-RPC line."""

    def __init__(self, wire: _Wire) -> None:
        self._wire = wire
        self._closed = False

    async def send(self, item: SessionMessage, /) -> None:
        if self._closed:
            raise anyio.ClosedResourceError
        await self._wire.write(item.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n")

    async def aclose(self) -> None:
        self._closed = True

    async def __aenter__(self) -> StdioWriteStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


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


async def _pipes(raw_in: IO[bytes], raw_out: IO[bytes]) -> tuple[AsyncIterator[str], _Wire] | None:
    """Asyncio pipes on the wire descriptors, or None where they are not pipes/sockets/ttys."""
    loop = asyncio.get_running_loop()
    try:
        reader = asyncio.StreamReader(limit=_MAX_LINE_BYTES, loop=loop)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader, loop=loop), raw_in)
        transport, protocol = await loop.connect_write_pipe(lambda: asyncio.streams.FlowControlMixin(loop), raw_out)
    except (ValueError, OSError, NotImplementedError):
        return None
    return _pipe_lines(reader), _PipeWire(asyncio.StreamWriter(transport, protocol, None, loop))


async def serve_stdio(server: Server[Any]) -> None:
    with _claimed_stdio() as (raw_in, raw_out):
        piped = await _pipes(raw_in, raw_out)
        lines, wire = piped if piped is not None else (_thread_lines(raw_in), _ThreadWire(raw_out))
        await server.run(StdioReadStream(lines, wire), StdioWriteStream(wire), server.create_initialization_options())
