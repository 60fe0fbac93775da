"""Bounded everything: no input, however deep, long or odd, takes the stdio server down, and no
answer from the API, however large or endless, grows it without limit.

Each limit is followed by a valid request that must be answered: nesting (1,000 and 100,000
brackets, valid JSON-RPC with arguments 5,000 deep), a line over the reader's limit, `"id": null`;
upstream bodies over the size cap (declared, chunked, endless, binary), Retry-After values that
would disable the limiter for ever; stdin/stdout as pipe, regular file, /dev/null and tty.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import os
import pty
import select
import subprocess
import termios
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from dversum_mcp.api.client import ApiClient
from dversum_mcp.api.limiter import RateLimiter
from dversum_mcp.config import Secret, Settings
from dversum_mcp.server.handlers import ServerState, build_server
from dversum_mcp.tools.registry import Registry, Selection
from tests.dversum_mcp.test_http_transports import _serve
from tests.hardening.conftest import PYTHON, SUMMARY, Seeded, clean_env
from tests.hardening.rawstdio import INIT, RawStdio
from tests.hardening.test_upstream_faults import Planned, session, status

COUNTS: dict[str, list[int]] = {}
"""class -> [attacks, held]"""


def _count(kind: str, held: bool = True) -> None:
    entry = COUNTS.setdefault(kind, [0, 0])
    entry[0] += 1
    entry[1] += int(held)


def _deep_call(depth: int) -> bytes:
    return (
        b'{"jsonrpc":"2.0","id":"deep","method":"tools/call","params":{"name":"create_client","arguments":{"name":'
        + b"[" * depth
        + b"]" * depth
        + b"}}}"
    )


# (label, line, id the answer must carry)
NESTING: list[tuple[str, bytes, Any]] = [
    ("1000 brackets", b"[" * 1000, None),
    ("1000 closed brackets", b"[" * 1000 + b"]" * 1000, None),
    ("100000 brackets", b"[" * 100_000, None),
    ("100000 objects", b'{"a":' * 100_000, None),
    ("deep params, request", b'{"jsonrpc":"2.0","id":"dp","method":"ping","params":{"x":' + b"[" * 3000 + b"]" * 3000 + b"}}", "dp"),  # noqa: E501
    ("valid call, arguments 5000 deep", _deep_call(5000), "deep"),
    ("valid call, arguments 900 deep", _deep_call(900), "deep"),
    ("id null", b'{"jsonrpc":"2.0","id":null,"method":"ping"}', None),
    ("id null, tools/call", b'{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"list_clients"}}', None),  # noqa: E501
]  # fmt: skip


@pytest.fixture(scope="module")
def stdio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawStdio]:
    proc = RawStdio(
        tmp_path_factory.mktemp("bounds"),
        DVERSUM_API_TOKEN="dvk_test_bounds_0123456789",
        DVERSUM_BASE_URL="http://127.0.0.1:9/api/v1",
        DVERSUM_MAX_MESSAGE_BYTES=str(1024 * 1024),
    )
    proc.initialize()
    yield proc
    assert proc.close() == 0, proc.stderr_tail()
    assert "Traceback" not in proc.stderr_tail(), proc.stderr_tail()


@pytest.mark.parametrize(("label", "line", "ident"), NESTING, ids=[n[0] for n in NESTING])
def test_stdio_nesting_and_null_ids_are_answered(stdio: RawStdio, label: str, line: bytes, ident: Any) -> None:
    stdio.send(line)
    answer = stdio.receive(timeout=20)
    held = answer is not None and answer.get("id") == ident and ("error" in answer or answer["result"].get("isError"))
    _count("stdio nesting / id null", held)
    assert answer is not None, f"{label}: no answer; stderr: {stdio.stderr_tail()}"
    assert answer.get("id") == ident, (label, answer)
    if ident is None:
        assert answer["error"]["code"] in (-32700, -32600), (label, answer)
    else:
        assert "error" in answer or answer["result"]["isError"], (label, str(answer)[:300])
    stdio.ping(f"after {label}")


@pytest.mark.parametrize("size", [1024 * 1024 + 1, 3 * 1024 * 1024], ids=["just over", "three times"])
def test_stdio_line_over_the_reader_limit_is_answered(stdio: RawStdio, size: int) -> None:
    line = b'{"jsonrpc":"2.0","id":"long","method":"ping","params":{"x":"' + b"y" * size + b'"}}'
    stdio.send(line)
    answer = stdio.receive(timeout=30)
    _count("stdio line limit", answer is not None and "error" in answer)
    assert answer is not None and answer["error"]["code"] in (-32600, -32700), answer
    assert "DVERSUM_MAX_MESSAGE_BYTES" in answer["error"]["message"] or "limit" in answer["error"]["message"]
    stdio.ping("after a long line")
    stdio.send(b'{"jsonrpc":"2.0","id":"short","method":"ping","params":{"x":"' + b"y" * 1000 + b'"}}')
    assert stdio.response("short")["result"] == {}


# ---- stdin and stdout of every kind ----------------------------------------------------------
KINDS = ("pipe", "file", "devnull", "tty")
REQUESTS: list[dict[str, Any] | bytes] = [
    INIT,
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    b"not json",
    {"jsonrpc": "2.0", "id": "p", "method": "ping"},
    {"jsonrpc": "2.0", "id": "l", "method": "tools/list"},
]
REQUEST_BYTES = b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in REQUESTS)


def _pty(echo: bool = False) -> tuple[int, int]:
    master, slave = pty.openpty()
    attrs = termios.tcgetattr(slave)
    if not echo:
        attrs[3] &= ~termios.ECHO  # canonical input, no echo: what a terminal without a human shows
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    return master, slave


def _drain(fd: int, sink: list[bytes]) -> None:
    while True:
        try:
            ready, _, _ = select.select([fd], [], [], 30)
            chunk = os.read(fd, 65536) if ready else b""
        except OSError:  # EIO: the child closed its side
            return
        if not chunk:
            return
        sink.append(chunk)


def _combo(tmp: Path, stdin_kind: str, stdout_kind: str) -> tuple[int, bytes | None, str]:
    """Run `dversum-mcp` with stdin/stdout of the given kinds; (exit code, stdout bytes or None, stderr)."""
    tmp.mkdir()
    opened: list[Any] = []
    close_after_spawn: list[int] = []
    stdin: Any
    if stdin_kind == "pipe":
        stdin = subprocess.PIPE
    elif stdin_kind == "file":
        (tmp / "in.jsonl").write_bytes(REQUEST_BYTES)
        stdin = (tmp / "in.jsonl").open("rb")
        opened.append(stdin)
    elif stdin_kind == "devnull":
        stdin = subprocess.DEVNULL
    else:
        in_master, stdin = _pty()
        close_after_spawn.append(stdin)
    stdout: Any
    out_master = None
    if stdout_kind == "pipe":
        stdout = subprocess.PIPE
    elif stdout_kind == "file":
        stdout = (tmp / "out.jsonl").open("wb")
        opened.append(stdout)
    elif stdout_kind == "devnull":
        stdout = subprocess.DEVNULL
    else:
        out_master, stdout = _pty()
        close_after_spawn.append(stdout)
    stderr = (tmp / "err.log").open("wb")
    opened.append(stderr)
    env = clean_env(DVERSUM_API_TOKEN="dvk_test_combo_0123456789", DVERSUM_BASE_URL="http://127.0.0.1:9/api/v1")
    proc = subprocess.Popen(
        [PYTHON, "-m", "dversum_mcp.cli"], stdin=stdin, stdout=stdout, stderr=stderr, env=env, cwd=tmp
    )
    for fd in close_after_spawn:
        os.close(fd)
    sink: list[bytes] = []
    reader = None
    if stdout_kind == "pipe":
        assert proc.stdout is not None
        reader = threading.Thread(target=lambda: sink.append(proc.stdout.read()), daemon=True)  # type: ignore[union-attr]
    elif out_master is not None:
        reader = threading.Thread(target=_drain, args=(out_master, sink), daemon=True)
    if reader is not None:
        reader.start()
    try:
        if stdin_kind == "pipe":
            assert proc.stdin is not None
            proc.stdin.write(REQUEST_BYTES)
            proc.stdin.close()
        elif stdin_kind == "tty":
            for line in REQUEST_BYTES.splitlines(keepends=True):
                os.write(in_master, line)
            time.sleep(0.2)
            os.write(in_master, b"\x04")  # end of input on a terminal: ^D at the start of a line
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = -999
        proc.wait(timeout=10)
    finally:
        if reader is not None:
            reader.join(timeout=10)
        for handle in opened:
            handle.close()
        if stdin_kind == "tty":
            os.close(in_master)
        if out_master is not None:
            os.close(out_master)
    out: bytes | None = b"".join(sink) if stdout_kind in ("pipe", "tty") else None
    if stdout_kind == "file":
        out = (tmp / "out.jsonl").read_bytes()
    return code, out, (tmp / "err.log").read_text(errors="replace")


def test_stdio_every_kind_of_stdin_and_stdout(tmp_path: Path) -> None:
    combos = list(itertools.product(KINDS, KINDS))
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda c: (c, _combo(tmp_path / f"{c[0]}-{c[1]}", *c)), combos))
    failures = []
    for (stdin_kind, stdout_kind), (code, out, err) in runs:
        problems = []
        if code != 0:
            problems.append(f"exit {code}")
        if "Traceback" in err or "PermissionError" in err or "closed file" in err:
            problems.append("traceback: " + err[-600:])
        if out is not None and stdin_kind != "devnull":
            try:
                answers = [json.loads(line) for line in out.replace(b"\r\n", b"\n").splitlines() if line.strip()]
            except ValueError as exc:
                answers = [{"id": f"broken line: {exc}"}]
            ids = [a.get("id") for a in answers]
            if sorted(map(str, ids)) != sorted(map(str, ["init", None, "p", "l"])):
                problems.append(f"answers {ids}")
        if out is not None and stdin_kind == "devnull" and out.strip():
            problems.append(f"wrote {out[:100]!r} without input")
        _count("stdin/stdout kinds", not problems)
        if problems:
            failures.append(f"stdin {stdin_kind}, stdout {stdout_kind}: {'; '.join(problems)}")
    assert failures == [], "\n".join(failures)


# ---- upstream answers: size caps and Retry-After ---------------------------------------------
MIB = 1024 * 1024


class HugeApi:
    """An API whose answers are too large: declared, chunked, endless, compressed, binary."""

    def __init__(self) -> None:
        self.streamed = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                done = "startup" if message["type"] == "lifespan.startup" else "shutdown"
                await send({"type": f"lifespan.{done}.complete"})
                if done == "shutdown":
                    return
        while (await receive()).get("more_body"):
            pass
        path = scope["path"]
        json_type = (b"content-type", b"application/json")

        async def start(*headers: tuple[bytes, bytes], status: int = 200) -> None:
            await send({"type": "http.response.start", "status": status, "headers": [json_type, *headers]})

        if path.endswith("/clients"):  # declared: 20 MiB with a Content-Length
            body = b'{"clients": ["' + b"x" * (20 * MIB) + b'"], "total": 1}'
            await start((b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.body", "body": body})
        elif path.endswith("/projects") or path.endswith("/invoices"):  # chunked, endless (or as good as)
            await start()
            await send({"type": "http.response.body", "body": b'{"projects": ["', "more_body": True})
            chunk = b"y" * 65536
            gone = asyncio.Event()

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                gone.set()

            watcher = asyncio.ensure_future(watch())
            for _ in range(100_000):  # 6.5 GB: longer than any test runs
                if gone.is_set():
                    return
                self.streamed += len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await asyncio.sleep(0)
            watcher.cancel()
            await send({"type": "http.response.body", "body": b""})
        elif path.endswith("/tasks"):  # a gzip bomb: 64 KiB on the wire, 64 MiB decoded
            body = gzip.compress(b'{"tasks": ["' + b"0" * (64 * MIB) + b'"]}', compresslevel=9)
            await start((b"content-encoding", b"gzip"), (b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.body", "body": body})
        elif path.endswith("/pdf"):  # binary: 3 MiB (over the download cap of the test) or 1.5 MiB
            size = 3 * MIB if "big" in path else 3 * MIB // 2
            headers = [(b"content-type", b"application/pdf"), (b"content-length", str(size).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"%" * size})
        elif path.endswith("/users"):  # an error answer that is too large
            await start(status=500)
            await send({"type": "http.response.body", "body": b'{"message": "' + b"e" * (2 * MIB) + b'"}'})
        else:
            await start()
            await send({"type": "http.response.body", "body": b'{"id": "u1", "name": "Klein"}'})


SIZE_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("list_clients", {}, "response_too_large"),
    ("list_projects", {}, "response_too_large"),
    ("list_invoices", {"all_pages": True}, "response_too_large"),
    ("list_tasks", {}, "response_too_large"),
    ("download_invoice_pdf", {"invoice_id": "big"}, "response_too_large"),
    ("download_invoice_pdf", {"invoice_id": "fits"}, ""),  # over the JSON cap, under the download cap
    ("list_users", {}, "response_too_large"),
]


@pytest.mark.anyio
async def test_upstream_bodies_stop_at_the_size_cap() -> None:
    api = HugeApi()
    with _serve(api) as base:
        token = "dvk_test_bounds_0123456789"
        settings = Settings(token=Secret(token), base_url=f"{base}/api/v1", confirm=False, call_timeout_s=20)
        client = ApiClient(
            base_url=settings.base_url,
            token=token,
            max_retries=0,
            limiter=RateLimiter(10_000, 60),
            max_response_bytes=MIB,
            max_download_bytes=2 * MIB,
        )
        state = ServerState(settings, Registry(), client, Selection(toolsets=("all",)))
        async with client, Client(build_server(state), mode="legacy") as mcp:
            for name, args, expected in SIZE_CALLS:
                started = time.monotonic()
                result = await mcp.call_tool(name, args)
                data = result.structured_content or {}
                held = (data.get("error") == expected) if expected else not result.is_error
                _count("upstream size", held)
                assert held, (name, args, str(data)[:300])
                if expected:
                    assert "DVERSUM_MAX_" in data["message"] + data["hint"] and time.monotonic() - started < 10, data
                after = await mcp.call_tool("get_current_user", {})
                assert not after.is_error, after.content
    assert api.streamed < 50 * MIB, f"{api.streamed} bytes streamed before the client stopped"


RETRY_AFTERS = ["1e12", "inf", "Infinity", "1e309", "nan", "-5", "Fri, 31 Dec 9999 23:59:59 GMT", "  ", "soon"]


@pytest.mark.anyio
@pytest.mark.parametrize("value", RETRY_AFTERS)
async def test_retry_after_is_capped_and_the_limiter_recovers(seeded: Seeded, value: str) -> None:
    """One 429 with an absurd Retry-After: that call ends in time (an error naming a wait of at most
    an hour, or a success after a short one) and the next call goes through within a window."""
    plan = [Planned("GET", "/clients", status(429, b'{"error":"rate_limited"}', **{"Retry-After": value}))]
    async with session(seeded, plan, call_timeout_s=3, limiter=RateLimiter(10_000, 1.0)) as (client, _):
        started = time.monotonic()
        first = await client.call_tool("list_clients", {})
        first_s = time.monotonic() - started
        data = first.structured_content or {}
        assert first_s < 4 and (not first.is_error or data["error"] == "rate_limited"), (first_s, data)
        assert data.get("retry_after_s", 0) <= 3600, data
        started = time.monotonic()
        second = await client.call_tool("list_projects", {})
        second_s = time.monotonic() - started
    held = not second.is_error and second_s < 3
    _count("Retry-After", held)
    assert held, (value, second_s, second.structured_content)


def test_zz_report() -> None:
    SUMMARY["bounds"] = ", ".join(f"{kind}: {held}/{n} held" for kind, (n, held) in sorted(COUNTS.items()))
