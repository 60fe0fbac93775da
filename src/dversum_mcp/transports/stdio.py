"""The stdio transport: JSON-RPC lines on a private duplicate of fd 0/1, straight into the SDK's loop.

The SDK's `stdio_server` puts a reader task and a writer task, each behind a memory stream,
between the pipe and the server, and reads and writes through a worker thread per line.
Here the server pulls each message itself: `receive()` reads a line from an asyncio pipe
and parses it once, `send()` serializes and writes it. No task hop and no thread hop per
message, which is most of what a call costs on top of its API request (see
`bench/bench_overhead.py`).

Every line the server cannot use is answered, as JSON-RPC asks: unparseable JSON gets a
parse error (id null), a request of the wrong shape an invalid-request error with its id,
so a client never waits for an answer that will not come. Nothing a line holds can end the
process: nesting deeper than any parser's recursion (`[[[…` 100,000 deep) gets an error with
the line's id when it has one, `"id": null` an invalid-request error, a line over the length
limit (`DVERSUM_MAX_MESSAGE_BYTES`) is skipped to its newline and answered. While serving,
fd 1 points at stderr and fd 0 at /dev/null, so a stray print can never corrupt the channel.
Each direction is chosen on its own: pipes, sockets and ttys go through asyncio; anything else
(a regular file, /dev/null, Windows) through a worker thread, with the same parsing and answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import stat
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

MAX_LINE_BYTES = 256 * 1024 * 1024  # an upload as base64 in one JSON-RPC line
_CHUNK = 1 << 16
_ID_SCAN_LIMIT = 16 * 1024 * 1024
_EOF_GRACE_S = 300.0
"""At end of input, how long requests already read may still take to be answered."""
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+')
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
            try:
                self._raw.write(data)
                self._raw.flush()
            except (OSError, ValueError):  # the reader went away: nothing left to tell
                log.debug("stdout is gone; an answer was dropped", exc_info=True)

    async def write(self, text: str) -> None:
        await anyio.to_thread.run_sync(self._write, text.encode("utf-8", "backslashreplace"))


class _PipeWire:
    """stdout as an asyncio pipe. `write` hands the whole line to the transport in one
    synchronous call, so lines from concurrent senders never interleave; `drain` only
    waits when the reader is behind."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, text: str) -> None:
        try:
            self._writer.write(text.encode("utf-8", "backslashreplace"))
            await self._writer.drain()
        except (OSError, RuntimeError):  # the reader went away: nothing left to tell
            log.debug("stdout is gone; an answer was dropped", exc_info=True)


async def _pipe_chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while True:
        try:
            chunk = await reader.read(_CHUNK)
        except OSError:  # a tty whose other side hung up (EIO) ends like EOF
            log.debug("stdin read failed; treated as end of input", exc_info=True)
            return
        if not chunk:
            return
        yield chunk


def _read_chunk(raw: IO[bytes]) -> bytes:
    try:
        return os.read(raw.fileno(), _CHUNK)
    except OSError:
        log.debug("stdin read failed; treated as end of input", exc_info=True)
        return b""


async def _thread_chunks(raw: IO[bytes]) -> AsyncIterator[bytes]:
    while chunk := await anyio.to_thread.run_sync(_read_chunk, raw):
        yield chunk


async def _lines(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[str | None]:
    """Lines of at most `limit` bytes; a longer line is skipped to its newline and yields None."""
    buffer = bytearray()
    skipping = False
    async for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            if skipping or len(buffer) + end - start > limit:
                yield None
            else:
                buffer += chunk[start:end]
                yield buffer.decode("utf-8", "replace")
            buffer.clear()
            skipping = False
            start = end + 1
        if not skipping:
            if len(buffer) + len(chunk) - start > limit:
                buffer.clear()
                skipping = True
            else:
                buffer += chunk[start:]
    if skipping:
        yield None
    elif buffer:
        yield buffer.decode("utf-8", "replace")


def _error_line(ident: str | int | None, code: int, message: str) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": message}}) + "\n"


def _top_level_id(line: str) -> str | int | None:
    """The id of a JSON object too deep to parse, found by a flat scan (no recursion), or None."""
    depth, key, after_colon = 0, None, False
    for match in _TOKENS.finditer(line, 0, min(len(line), _ID_SCAN_LIMIT)):
        part = match.group()
        if part in ("{", "["):
            depth += 1
        elif part in ("}", "]"):
            depth -= 1
        elif depth == 1 and part == ":":
            after_colon = True
            continue
        elif depth == 1 and after_colon and key == "id":
            try:
                value = json.loads(part)
            except ValueError:
                return None
            return value if isinstance(value, str | int) and not isinstance(value, bool) else None
        elif depth == 1 and part.startswith('"'):
            key = part[1:-1]
        after_colon = False
        if depth <= 0:
            return None
    return None


def _rejection(line: str) -> str | None:
    """The JSON-RPC error line for a line that is not a valid message, or None for a
    malformed notification (which gets no answer, not even an error)."""
    try:
        parsed = json.loads(line)
    except RecursionError:
        return _error_line(_top_level_id(line), -32600, "Invalid Request: JSON nested deeper than this server parses")
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
    return _error_line(ident, code, message)


class _Owed:
    """Requests read but not yet answered: at end of input the server finishes them first, so
    `requests | dversum-mcp > answers` gets every answer (the loop would otherwise cancel them)."""

    def __init__(self) -> None:
        self._ids: set[str | int] = set()
        self._empty = anyio.Event()
        self._empty.set()

    def add(self, message: Any) -> None:
        if isinstance(message, types.JSONRPCRequest):
            self._ids.add(message.id)
            self._empty = anyio.Event() if self._empty.is_set() else self._empty
        elif isinstance(message, types.JSONRPCNotification) and message.method == "notifications/cancelled":
            self.done((message.params or {}).get("requestId"))

    def done(self, ident: Any) -> None:
        self._ids.discard(ident)
        if not self._ids:
            self._empty.set()

    async def settled(self) -> None:
        with anyio.move_on_after(_EOF_GRACE_S):
            await self._empty.wait()


class StdioReadStream:
    """The server's read stream: each `receive()` reads and parses the next usable line."""

    def __init__(
        self, lines: AsyncIterator[str | None], wire: _Wire, limit: int = MAX_LINE_BYTES, owed: _Owed | None = None
    ) -> None:
        self._lines = lines
        self._wire = wire
        self._closed = False
        self._limit = limit
        self._owed = owed

    async def _answer(self, answer: str | None) -> None:
        if answer is not None:
            log.info("answered an unusable stdin line with JSON-RPC error %s", answer[:80].strip())
            await self._wire.write(answer)

    async def receive(self) -> SessionMessage | Exception:
        if self._closed:
            raise anyio.ClosedResourceError
        async for line in self._lines:
            if line is None:
                await self._answer(
                    _error_line(
                        None,
                        -32600,
                        f"Invalid Request: the line is longer than the limit of {self._limit} bytes "
                        "(DVERSUM_MAX_MESSAGE_BYTES); it was skipped",
                    )
                )
                continue
            if not line.strip():
                continue
            try:
                message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
            except Exception:  # every invalid line is judged and answered below
                try:
                    answer = _rejection(line)
                except Exception:  # judging must not end the server either
                    log.exception("could not judge an unusable stdin line")
                    answer = _error_line(None, -32600, "Invalid Request")
                await self._answer(answer)
                continue
            if isinstance(message, types.JSONRPCNotification) and '"id"' in line and _has_id(line):
                await self._answer(
                    _error_line(None, -32600, "Invalid Request: id must be a string or a number, not null")
                )
                continue
            if self._owed is not None:
                self._owed.add(message)
            return SessionMessage(message)
        if self._owed is not None:
            await self._owed.settled()
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

    def __init__(self, wire: _Wire, owed: _Owed | None = None) -> None:
        self._wire = wire
        self._closed = False
        self._owed = owed

    async def send(self, item: SessionMessage, /) -> None:
        if self._closed:
            raise anyio.ClosedResourceError
        message = item.message
        await self._wire.write(message.model_dump_json(by_alias=True, exclude_unset=True) + "\n")
        if self._owed is not None and isinstance(message, types.JSONRPCResponse | types.JSONRPCError):
            self._owed.done(message.id)

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


def _has_id(line: str) -> bool:
    try:
        parsed = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return isinstance(parsed, dict) and "id" in parsed


def _pollable(raw: IO[bytes]) -> bool:
    """Pipes, sockets and ttys work with the event loop; regular files and /dev/null do not
    (epoll refuses them: the PermissionError a `nohup` or `docker run` without -i would show)."""
    try:
        mode = os.fstat(raw.fileno()).st_mode
        return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or (stat.S_ISCHR(mode) and os.isatty(raw.fileno()))
    except (OSError, ValueError):
        return False


async def _reader(raw_in: IO[bytes]) -> AsyncIterator[bytes]:
    if sys.platform != "win32" and _pollable(raw_in):
        loop = asyncio.get_running_loop()
        try:
            reader = asyncio.StreamReader(limit=_CHUNK, loop=loop)
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader, loop=loop), raw_in)
        except (ValueError, OSError, NotImplementedError):
            log.debug("stdin is not pollable after all; reading it in a thread", exc_info=True)
        else:
            return _pipe_chunks(reader)
    return _thread_chunks(raw_in)


async def _writer(raw_out: IO[bytes]) -> _Wire:
    if sys.platform != "win32" and _pollable(raw_out):
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.connect_write_pipe(lambda: asyncio.streams.FlowControlMixin(loop), raw_out)
        except (ValueError, OSError, NotImplementedError):
            log.debug("stdout is not pollable after all; writing it in a thread", exc_info=True)
        else:
            # drain() then waits until every byte is out: a tty takes a few KB at a time, and
            # what sits in the transport's buffer when input ends would otherwise be lost.
            transport.set_write_buffer_limits(high=0)
            return _PipeWire(asyncio.StreamWriter(transport, protocol, None, loop))
    return _ThreadWire(raw_out)


async def serve_stdio(server: Server[Any], *, max_line_bytes: int = MAX_LINE_BYTES) -> None:
    with _claimed_stdio() as (raw_in, raw_out):
        wire = await _writer(raw_out)
        lines = _lines(await _reader(raw_in), max_line_bytes)
        owed = _Owed()
        await server.run(
            StdioReadStream(lines, wire, max_line_bytes, owed),
            StdioWriteStream(wire, owed),
            server.create_initialization_options(),
        )
